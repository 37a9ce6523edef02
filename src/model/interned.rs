//! Serde for the model's `&'static str` fields (statuses and kinds drawn from fixed sets), so a
//! tenant snapshot can be read back: each distinct value is leaked once and reused, and a
//! snapshot with implausibly many distinct values is refused rather than growing memory.

use std::collections::HashSet;
use std::sync::{Mutex, OnceLock};

use serde::{Deserialize, Deserializer, Serializer};

/// `&'static str` under another name: serde borrows any field spelled `&str` from the input,
/// which a snapshot read from a request body cannot outlive.
pub type StaticStr = &'static str;

/// Far more than the model's fixed vocabularies; only a hostile snapshot gets near it.
const MAX_DISTINCT: usize = 4096;

/// The `'static` copy of `text`, or `None` once the pool is full.
pub fn intern(text: &str) -> Option<&'static str> {
    static POOL: OnceLock<Mutex<HashSet<&'static str>>> = OnceLock::new();
    let mut pool = POOL
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    if let Some(found) = pool.get(text) {
        return Some(found);
    }
    if pool.len() >= MAX_DISTINCT {
        return None;
    }
    let leaked: &'static str = Box::leak(text.to_string().into_boxed_str());
    pool.insert(leaked);
    Some(leaked)
}

pub fn serialize<S: Serializer>(value: &&'static str, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(value)
}

pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<&'static str, D::Error> {
    let text = String::deserialize(d)?;
    intern(&text).ok_or_else(|| serde::de::Error::custom("too many distinct status values"))
}

/// The same for `HashMap<Uuid, &'static str>`, written with sorted keys.
pub mod map {
    use std::collections::{BTreeMap, HashMap};

    use serde::{Deserialize, Deserializer, Serialize, Serializer};
    use uuid::Uuid;

    pub fn serialize<S: Serializer>(
        value: &HashMap<Uuid, &'static str>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        value.iter().collect::<BTreeMap<_, _>>().serialize(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<HashMap<Uuid, &'static str>, D::Error> {
        BTreeMap::<Uuid, String>::deserialize(d)?
            .into_iter()
            .map(|(k, v)| {
                super::intern(&v)
                    .map(|v| (k, v))
                    .ok_or_else(|| serde::de::Error::custom("too many distinct status values"))
            })
            .collect()
    }
}
