//! `Table<T>`: the one storage primitive every entity collection uses.
//!
//! Every row gets an insertion sequence number, and rows live in segments of `SEGMENT`
//! consecutive numbers, with a hash index from id to sequence number. A lookup by id is a hash
//! probe, a probe of a map with 64 times fewer entries than rows, and an array index — where a
//! `BTreeMap` of the rows themselves descended a tree whose nodes each held eleven whole rows
//! (that descent was ~7 % of a delivered assignment request on a grown store). Appends move no
//! other row, and insertion order is stable, so a skiptoken can resume from `range_after` even
//! when rows are created or deleted between pages.
//!
//! A removed row leaves a hole. A segment that empties is freed, and one that falls below a
//! quarter full is packed into a sorted list of the rows left, so holes never cost more than
//! about three rows' worth per live row, whatever the pattern of deletes.

use std::collections::{BTreeMap, HashMap};
use std::ops::Bound;

use uuid::Uuid;

pub trait Keyed {
    fn key(&self) -> Uuid;
}

#[derive(Debug, Clone)]
pub struct Table<T> {
    /// Segment number (sequence number / `SEGMENT`) to the rows it holds.
    segments: BTreeMap<u64, Segment<T>>,
    index: ShardedMap<Uuid, u64>,
    next_seq: u64,
    len: usize,
}

impl<T> Default for Table<T> {
    fn default() -> Self {
        Table {
            segments: BTreeMap::new(),
            index: ShardedMap::default(),
            next_seq: 0,
            len: 0,
        }
    }
}

/// Sequence numbers per segment: small enough that a sparse segment is cheap to pack, large
/// enough that the segment map stays 64 times smaller than the table.
const SEGMENT: u64 = 64;

#[derive(Debug, Clone)]
enum Segment<T> {
    /// Slot `i` holds sequence number `segment * SEGMENT + i`; the vector grows as rows are
    /// appended, so a table's last segment holds no empty tail.
    Dense { slots: Vec<Option<T>>, live: usize },
    /// Fewer than a quarter of the slots are live: `(slot, row)`, sorted by slot.
    Packed(Vec<(u8, T)>),
}

fn split(seq: u64) -> (u64, usize) {
    // The remainder is below SEGMENT (64), so it always fits.
    (seq / SEGMENT, (seq % SEGMENT) as usize)
}

impl<T> Segment<T> {
    fn live(&self) -> usize {
        match self {
            Segment::Dense { live, .. } => *live,
            Segment::Packed(rows) => rows.len(),
        }
    }

    fn get(&self, slot: usize) -> Option<&T> {
        match self {
            Segment::Dense { slots, .. } => slots.get(slot)?.as_ref(),
            Segment::Packed(rows) => rows
                .binary_search_by_key(&slot, |(s, _)| usize::from(*s))
                .ok()
                .map(|i| &rows[i].1),
        }
    }

    fn get_mut(&mut self, slot: usize) -> Option<&mut T> {
        match self {
            Segment::Dense { slots, .. } => slots.get_mut(slot)?.as_mut(),
            Segment::Packed(rows) => rows
                .binary_search_by_key(&slot, |(s, _)| usize::from(*s))
                .ok()
                .map(|i| &mut rows[i].1),
        }
    }

    /// Puts `row` in `slot`; true when the slot was empty.
    fn put(&mut self, slot: usize, row: T) -> bool {
        match self {
            Segment::Dense { slots, live } => {
                if slots.len() <= slot {
                    slots.resize_with(slot + 1, || None);
                }
                let added = slots[slot].replace(row).is_none();
                *live += usize::from(added);
                added
            }
            Segment::Packed(rows) => {
                match rows.binary_search_by_key(&slot, |(s, _)| usize::from(*s)) {
                    Ok(i) => {
                        rows[i].1 = row;
                        false
                    }
                    Err(i) => {
                        rows.insert(i, (slot as u8, row));
                        true
                    }
                }
            }
        }
    }

    fn take(&mut self, slot: usize) -> Option<T> {
        match self {
            Segment::Dense { slots, live } => {
                let row = slots.get_mut(slot)?.take()?;
                *live -= 1;
                if *live * 4 < SEGMENT as usize {
                    let kept = std::mem::take(slots);
                    *self = Segment::Packed(
                        kept.into_iter()
                            .enumerate()
                            .filter_map(|(i, r)| Some((i as u8, r?)))
                            .collect(),
                    );
                }
                Some(row)
            }
            Segment::Packed(rows) => {
                let i = rows
                    .binary_search_by_key(&slot, |(s, _)| usize::from(*s))
                    .ok()?;
                Some(rows.remove(i).1)
            }
        }
    }

    /// Live rows as `(slot, row)`, in slot order.
    fn rows(&self) -> impl Iterator<Item = (usize, &T)> {
        // One iterator type for both shapes: the shape not in use contributes an empty slice.
        let (dense, packed): (&[Option<T>], &[(u8, T)]) = match self {
            Segment::Dense { slots, .. } => (slots, &[]),
            Segment::Packed(rows) => (&[], rows),
        };
        dense
            .iter()
            .enumerate()
            .filter_map(|(i, r)| Some((i, r.as_ref()?)))
            .chain(packed.iter().map(|(i, r)| (usize::from(*i), r)))
    }
}

/// A hash map split into shards by key, so growing it rehashes one shard (1/64 of the keys) at
/// a time: a million-row table never stalls a create for the milliseconds a whole rehash takes
/// (docs/BENCHMARK.md, "Measured before the emulator": POST tail latency comes from map growth).
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
            let (segment, slot) = split(*seq);
            if let Some(existing) = self
                .segments
                .get_mut(&segment)
                .and_then(|s| s.get_mut(slot))
            {
                *existing = row;
                return;
            }
        }
        let seq = self.next_seq;
        self.next_seq += 1;
        self.index.insert(key, seq);
        self.place(seq, row);
    }

    fn place(&mut self, seq: u64, row: T) {
        let (segment, slot) = split(seq);
        let added = self
            .segments
            .entry(segment)
            .or_insert_with(|| Segment::Dense {
                slots: Vec::new(),
                live: 0,
            })
            .put(slot, row);
        self.len += usize::from(added);
    }

    pub fn get(&self, id: &Uuid) -> Option<&T> {
        self.get_by_seq(*self.index.get(id)?)
    }

    pub fn get_mut(&mut self, id: &Uuid) -> Option<&mut T> {
        let (segment, slot) = split(*self.index.get(id)?);
        self.segments.get_mut(&segment)?.get_mut(slot)
    }

    pub fn contains(&self, id: &Uuid) -> bool {
        self.index.contains_key(id)
    }

    pub fn remove(&mut self, id: &Uuid) -> Option<T> {
        let (segment, slot) = split(self.index.remove(id)?);
        let rows = self.segments.get_mut(&segment)?;
        let row = rows.take(slot)?;
        if rows.live() == 0 {
            self.segments.remove(&segment);
        }
        self.len -= 1;
        Some(row)
    }

    /// The row's position in insertion order (stable for its lifetime).
    pub fn seq_of(&self, id: &Uuid) -> Option<u64> {
        self.index.get(id).copied()
    }
}

/// Reads that need no id.
impl<T> Table<T> {
    pub fn get_by_seq(&self, seq: u64) -> Option<&T> {
        let (segment, slot) = split(seq);
        self.segments.get(&segment)?.get(slot)
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Rows in insertion order.
    pub fn iter(&self) -> impl Iterator<Item = &T> {
        self.range_after(None).map(|(_, row)| row)
    }

    /// Rows with their sequence numbers, starting after `after` (exclusive), in order.
    pub fn range_after(&self, after: Option<u64>) -> impl Iterator<Item = (u64, &T)> {
        let first = after.map_or(0, |seq| split(seq).0);
        self.segments
            .range((Bound::Included(first), Bound::Unbounded))
            .flat_map(|(segment, rows)| {
                rows.rows()
                    .map(move |(slot, row)| (segment * SEGMENT + slot as u64, row))
            })
            .skip_while(move |(seq, _)| after.is_some_and(|after| *seq <= after))
    }
}

/// Snapshots keep each row's sequence number, so insertion order — and skiptokens issued before
/// the snapshot — survive a round trip; the id index is rebuilt on the way in.
impl<T: serde::Serialize> serde::Serialize for Table<T> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut out = s.serialize_struct("Table", 2)?;
        out.serialize_field("nextSeq", &self.next_seq)?;
        out.serialize_field("rows", &self.range_after(None).collect::<Vec<_>>())?;
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
            if seq >= raw.next_seq || table.get_by_seq(seq).is_some() {
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
            table.place(seq, row);
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

    /// Deletes that leave segments full, sparse (packed) and empty, checked against a plain
    /// list of what should be left.
    #[test]
    fn holes_packing_and_freeing_keep_order_lookup_and_resumption() {
        let ids: Vec<Uuid> = (1..=300u128).map(Uuid::from_u128).collect();
        let mut t = Table::default();
        for id in &ids {
            t.insert(Row(*id, "x"));
        }
        // Segment 0 keeps every 8th row (packed), segment 1 keeps all, segment 2 none (freed),
        // the rest keep every other row (still dense).
        let keep = |n: usize| match n / 64 {
            0 => n % 8 == 0,
            1 => true,
            2 => false,
            _ => n % 2 == 0,
        };
        for (n, id) in ids.iter().enumerate() {
            if !keep(n) {
                assert!(t.remove(id).is_some());
            }
        }
        let expected: Vec<(u64, Uuid)> = (0..ids.len())
            .filter(|n| keep(*n))
            .map(|n| (n as u64, ids[n]))
            .collect();
        let got: Vec<(u64, Uuid)> = t.range_after(None).map(|(s, r)| (s, r.0)).collect();
        assert_eq!(got, expected);
        assert_eq!(t.len(), expected.len());
        assert!(!t.segments.contains_key(&2));
        assert!(matches!(t.segments.get(&0), Some(Segment::Packed(rows)) if rows.len() == 8));
        for (n, id) in ids.iter().enumerate() {
            assert_eq!(t.get(id).is_some(), keep(n), "row {n}");
            assert_eq!(t.contains(id), keep(n));
        }
        // Resuming after any sequence number, live or deleted, gives exactly what follows it.
        for after in [0u64, 7, 8, 63, 64, 130, 150, 199, 298, 299, 500] {
            let resumed: Vec<u64> = t.range_after(Some(after)).map(|(s, _)| s).collect();
            let want: Vec<u64> = expected
                .iter()
                .map(|(s, _)| *s)
                .filter(|s| *s > after)
                .collect();
            assert_eq!(resumed, want, "after {after}");
        }
        // A replacement in a packed segment stays in place; a new row goes to the end.
        t.insert(Row(ids[8], "replaced"));
        assert_eq!(t.get(&ids[8]).map(|r| r.1), Some("replaced"));
        assert_eq!(t.seq_of(&ids[8]), Some(8));
        t.insert(Row(ids[1], "back"));
        assert_eq!(t.seq_of(&ids[1]), Some(300));
        assert_eq!(t.iter().last().map(|r| r.0), Some(ids[1]));
        // Emptying the table frees every segment.
        for id in &ids {
            t.remove(id);
        }
        assert!(t.is_empty() && t.segments.is_empty());
        assert_eq!(t.iter().count(), 0);
    }

    #[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
    struct Named(Uuid, String);
    impl Keyed for Named {
        fn key(&self) -> Uuid {
            self.0
        }
    }

    #[test]
    fn a_snapshot_round_trip_keeps_sequence_numbers_and_holes() {
        let mut t = Table::default();
        for n in 1..=200u128 {
            t.insert(Named(Uuid::from_u128(n), n.to_string()));
        }
        for n in (1..=200u128).filter(|n| n % 3 != 0) {
            t.remove(&Uuid::from_u128(n));
        }
        let json = serde_json::to_string(&t).unwrap();
        let back: Table<Named> = serde_json::from_str(&json).unwrap();
        assert_eq!(serde_json::to_string(&back).unwrap(), json);
        assert_eq!(back.len(), t.len());
        assert_eq!(
            back.seq_of(&Uuid::from_u128(150)),
            t.seq_of(&Uuid::from_u128(150))
        );
        let mut grown = back.clone();
        grown.insert(Named(Uuid::from_u128(999), "new".into()));
        assert_eq!(grown.seq_of(&Uuid::from_u128(999)), Some(200));
        // Rows out of order, a repeated sequence number and one past nextSeq are refused.
        let shuffled = r#"{"nextSeq":5,"rows":[[3,["00000000-0000-0000-0000-000000000003","c"]],[0,["00000000-0000-0000-0000-000000000001","a"]]]}"#;
        let t: Table<Named> = serde_json::from_str(shuffled).unwrap();
        assert_eq!(
            t.iter().map(|r| r.1.as_str()).collect::<Vec<_>>(),
            ["a", "c"]
        );
        let repeated = r#"{"nextSeq":5,"rows":[[3,["00000000-0000-0000-0000-000000000003","c"]],[3,["00000000-0000-0000-0000-000000000001","a"]]]}"#;
        assert!(serde_json::from_str::<Table<Named>>(repeated).is_err());
        let beyond = r#"{"nextSeq":2,"rows":[[3,["00000000-0000-0000-0000-000000000003","c"]]]}"#;
        assert!(serde_json::from_str::<Table<Named>>(beyond).is_err());
    }
}
