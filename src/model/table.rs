//! `Table<T>`: the one storage primitive every entity collection uses.
//!
//! Rows live in a `BTreeMap` keyed by an insertion sequence number, with a hash index from id to
//! sequence. That gives O(1)-ish lookup by id, O(log n) insert/remove without shifting, and a
//! stable insertion order that a skiptoken can resume from (`range_from`) even when rows are
//! created or deleted between pages.

use std::collections::{BTreeMap, HashMap};
use std::ops::Bound;

use uuid::Uuid;

pub trait Keyed {
    fn key(&self) -> Uuid;
}

#[derive(Debug, Clone)]
pub struct Table<T> {
    rows: BTreeMap<u64, T>,
    index: ShardedMap<Uuid, u64>,
    next_seq: u64,
}

impl<T> Default for Table<T> {
    fn default() -> Self {
        Table {
            rows: BTreeMap::new(),
            index: ShardedMap::default(),
            next_seq: 0,
        }
    }
}

/// A hash map split into shards by key, so growing it rehashes one shard (1/64 of the keys) at
/// a time: a million-row table never stalls a create for the milliseconds a whole rehash takes
/// (performance-anchors.md, "POST tail latency comes from map growth").
#[derive(Debug, Clone)]
pub struct ShardedMap<K, V> {
    shards: Vec<Shard<K, V>>,
}

type Shard<K, V> = HashMap<K, V, foldhash::fast::RandomState>;

const SHARDS: usize = 64;

impl<K, V> Default for ShardedMap<K, V> {
    fn default() -> Self {
        ShardedMap {
            shards: (0..SHARDS).map(|_| Shard::default()).collect(),
        }
    }
}

/// Keys pick their shard from their own bytes (ids are random or sequence-like in their last
/// byte, so both spread).
pub trait ShardKey {
    fn shard(&self) -> usize;
}

impl ShardKey for Uuid {
    fn shard(&self) -> usize {
        usize::from(self.as_bytes()[15]) % SHARDS
    }
}

impl ShardKey for (Uuid, Uuid) {
    fn shard(&self) -> usize {
        usize::from(self.0.as_bytes()[15] ^ self.1.as_bytes()[15]) % SHARDS
    }
}

impl<K: ShardKey + Eq + std::hash::Hash, V> ShardedMap<K, V> {
    fn shard(&self, key: &K) -> &Shard<K, V> {
        &self.shards[key.shard()]
    }

    fn shard_mut(&mut self, key: &K) -> &mut Shard<K, V> {
        &mut self.shards[key.shard()]
    }

    pub fn get(&self, key: &K) -> Option<&V> {
        self.shard(key).get(key)
    }

    pub fn get_mut(&mut self, key: &K) -> Option<&mut V> {
        self.shard_mut(key).get_mut(key)
    }

    pub fn insert(&mut self, key: K, value: V) -> Option<V> {
        self.shard_mut(&key).insert(key, value)
    }

    pub fn remove(&mut self, key: &K) -> Option<V> {
        self.shard_mut(key).remove(key)
    }

    pub fn contains_key(&self, key: &K) -> bool {
        self.shard(key).contains_key(key)
    }

    pub fn entry(&mut self, key: K) -> std::collections::hash_map::Entry<'_, K, V> {
        self.shard_mut(&key).entry(key)
    }
}

impl<T: Keyed> Table<T> {
    /// Inserts a new row (or replaces the row with the same id, keeping its position).
    pub fn insert(&mut self, row: T) {
        let key = row.key();
        if let Some(seq) = self.index.get(&key) {
            self.rows.insert(*seq, row);
            return;
        }
        let seq = self.next_seq;
        self.next_seq += 1;
        self.index.insert(key, seq);
        self.rows.insert(seq, row);
    }

    pub fn get(&self, id: &Uuid) -> Option<&T> {
        self.index.get(id).and_then(|seq| self.rows.get(seq))
    }

    pub fn get_mut(&mut self, id: &Uuid) -> Option<&mut T> {
        match self.index.get(id) {
            Some(seq) => self.rows.get_mut(seq),
            None => None,
        }
    }

    pub fn contains(&self, id: &Uuid) -> bool {
        self.index.contains_key(id)
    }

    pub fn remove(&mut self, id: &Uuid) -> Option<T> {
        let seq = self.index.remove(id)?;
        self.rows.remove(&seq)
    }

    /// The row's position in insertion order (stable for its lifetime).
    pub fn seq_of(&self, id: &Uuid) -> Option<u64> {
        self.index.get(id).copied()
    }

    pub fn get_by_seq(&self, seq: u64) -> Option<&T> {
        self.rows.get(&seq)
    }

    pub fn len(&self) -> usize {
        self.rows.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// Rows in insertion order.
    pub fn iter(&self) -> impl Iterator<Item = &T> {
        self.rows.values()
    }

    /// Rows with their sequence numbers, starting after `after` (exclusive), in order.
    pub fn range_after(&self, after: Option<u64>) -> impl Iterator<Item = (u64, &T)> {
        let lower = match after {
            Some(seq) => Bound::Excluded(seq),
            None => Bound::Unbounded,
        };
        self.rows
            .range((lower, Bound::Unbounded))
            .map(|(seq, row)| (*seq, row))
    }
}

/// Snapshots keep each row's sequence number, so insertion order — and skiptokens issued before
/// the snapshot — survive a round trip; the id index is rebuilt on the way in.
impl<T: serde::Serialize> serde::Serialize for Table<T> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut out = s.serialize_struct("Table", 2)?;
        out.serialize_field("nextSeq", &self.next_seq)?;
        out.serialize_field("rows", &self.rows.iter().collect::<Vec<_>>())?;
        out.end()
    }
}

impl<'de, T: serde::Deserialize<'de> + Keyed> serde::Deserialize<'de> for Table<T> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(serde::Deserialize)]
        #[serde(rename_all = "camelCase", deny_unknown_fields)]
        struct Raw<T> {
            next_seq: u64,
            rows: Vec<(u64, T)>,
        }
        let raw = Raw::<T>::deserialize(d)?;
        let mut table = Table::default();
        for (seq, row) in raw.rows {
            if seq >= raw.next_seq || table.rows.contains_key(&seq) {
                return Err(serde::de::Error::custom(format!(
                    "row sequence {seq} is repeated or not below nextSeq"
                )));
            }
            if table.index.insert(row.key(), seq).is_some() {
                return Err(serde::de::Error::custom(format!(
                    "id {} appears twice",
                    row.key()
                )));
            }
            table.rows.insert(seq, row);
        }
        table.next_seq = raw.next_seq;
        Ok(table)
    }
}

/// Written as `[key, value]` pairs sorted by key, so the same map always gives the same bytes
/// (and tuple keys need no string form).
impl<K: serde::Serialize + Ord, V: serde::Serialize> serde::Serialize for ShardedMap<K, V> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut pairs: Vec<(&K, &V)> = self.shards.iter().flat_map(|m| m.iter()).collect();
        pairs.sort_by(|a, b| a.0.cmp(b.0));
        pairs.serialize(s)
    }
}

impl<'de, K, V> serde::Deserialize<'de> for ShardedMap<K, V>
where
    K: serde::Deserialize<'de> + ShardKey + Eq + std::hash::Hash,
    V: serde::Deserialize<'de>,
{
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let mut map = ShardedMap::default();
        for (k, v) in Vec::<(K, V)>::deserialize(d)? {
            map.insert(k, v);
        }
        Ok(map)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Clone, PartialEq)]
    struct Row(Uuid, &'static str);
    impl Keyed for Row {
        fn key(&self) -> Uuid {
            self.0
        }
    }

    #[test]
    fn keeps_insertion_order_across_removals_and_replacements() {
        let ids: Vec<Uuid> = (1..=4u128).map(Uuid::from_u128).collect();
        let mut t = Table::default();
        for (i, id) in ids.iter().enumerate() {
            t.insert(Row(*id, ["a", "b", "c", "d"][i]));
        }
        t.remove(&ids[1]);
        t.insert(Row(ids[0], "A"));
        let names: Vec<_> = t.iter().map(|r| r.1).collect();
        assert_eq!(names, ["A", "c", "d"]);
        let after_first: Vec<_> = t.range_after(Some(0)).map(|(_, r)| r.1).collect();
        assert_eq!(after_first, ["c", "d"]);
        assert_eq!(t.len(), 3);
        assert!(t.get(&ids[1]).is_none());
    }
}
