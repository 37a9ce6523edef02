//! Injectable identity: every GUID the emulator invents comes from an `IdGen`.
//!
//! Entity ids and per-request ids (request-id, later skiptokens) are drawn from separate
//! streams so that an extra GET does not shift the ids of entities created afterwards.

use std::fmt;
use std::sync::Mutex;

use rand::{RngCore, SeedableRng};
use rand_chacha::ChaCha20Rng;
use uuid::Uuid;

pub trait IdGen: Send + Sync + 'static {
    fn next_id(&self) -> Uuid;

    /// Where a seeded stream stands, so a snapshot can continue it exactly; `None` for random.
    fn position(&self) -> Option<StreamPosition> {
        None
    }
}

/// A seeded id stream's seed, stream number and offset.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StreamPosition {
    pub seed: [u8; 32],
    pub stream: u64,
    /// In 32-bit words, as ChaCha counts (a string: it can exceed JSON's safe integers).
    #[serde(with = "u128_text")]
    pub word_pos: u128,
}

mod u128_text {
    use serde::{Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(v: &u128, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&v.to_string())
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<u128, D::Error> {
        String::deserialize(d)?
            .parse()
            .map_err(serde::de::Error::custom)
    }
}

/// The placeholder a deserialized tenant holds until its real stream is attached.
pub fn detached() -> std::sync::Arc<dyn IdGen> {
    std::sync::Arc::new(RandomIds)
}

/// Random v4 GUIDs (the default when no seed is given).
#[derive(Debug, Default)]
pub struct RandomIds;

impl IdGen for RandomIds {
    /// A per-thread ChaCha stream seeded once from the OS: `Uuid::new_v4` asks the kernel for
    /// every id (a `getrandom` syscall per request-id, ~5 % of a `$batch` in the profile).
    fn next_id(&self) -> Uuid {
        thread_local! {
            static RNG: std::cell::RefCell<ChaCha20Rng> = std::cell::RefCell::new({
                let seed = Uuid::new_v4().as_u128();
                let mut bytes = [0u8; 32];
                bytes[..16].copy_from_slice(&seed.to_le_bytes());
                bytes[16..].copy_from_slice(&Uuid::new_v4().as_u128().to_le_bytes());
                ChaCha20Rng::from_seed(bytes)
            });
        }
        let mut bytes = [0u8; 16];
        RNG.with(|rng| rng.borrow_mut().fill_bytes(&mut bytes));
        uuid::Builder::from_random_bytes(bytes).into_uuid()
    }
}

/// A reproducible sequence of v4-shaped GUIDs from a seed and a stream name.
pub struct SeededIds {
    rng: Mutex<ChaCha20Rng>,
}

impl SeededIds {
    pub fn new(seed: u64, stream: u64) -> Self {
        let mut rng = ChaCha20Rng::seed_from_u64(seed);
        rng.set_stream(stream);
        SeededIds {
            rng: Mutex::new(rng),
        }
    }

    /// Continues a stream exactly where `position` says it stood.
    pub fn at(position: StreamPosition) -> Self {
        let mut rng = ChaCha20Rng::from_seed(position.seed);
        rng.set_stream(position.stream);
        rng.set_word_pos(position.word_pos);
        SeededIds {
            rng: Mutex::new(rng),
        }
    }
}

impl fmt::Debug for SeededIds {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SeededIds").finish_non_exhaustive()
    }
}

impl IdGen for SeededIds {
    fn next_id(&self) -> Uuid {
        let mut bytes = [0u8; 16];
        self.rng
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .fill_bytes(&mut bytes);
        uuid::Builder::from_random_bytes(bytes).into_uuid()
    }

    fn position(&self) -> Option<StreamPosition> {
        let rng = self.rng.lock().unwrap_or_else(|p| p.into_inner());
        Some(StreamPosition {
            seed: rng.get_seed(),
            stream: rng.get_stream(),
            word_pos: rng.get_word_pos(),
        })
    }
}

/// How a tenant or the server makes ids; kept so a reset can restart the same sequence.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdSource {
    Random,
    Seeded(u64),
}

/// Stream numbers: one per purpose, so streams never interleave.
pub const ENTITY_STREAM: u64 = 1;
pub const REQUEST_STREAM: u64 = 2;
/// Ids of tenants created through the control API.
pub const TENANT_STREAM: u64 = 3;
/// Draws for probability fault schedules.
pub const FAULT_STREAM: u64 = 4;

impl IdSource {
    pub fn generator(self, stream: u64) -> Box<dyn IdGen> {
        match self {
            IdSource::Random => Box::new(RandomIds),
            IdSource::Seeded(seed) => Box::new(SeededIds::new(seed, stream)),
        }
    }

    pub fn seed(self) -> Option<u64> {
        match self {
            IdSource::Random => None,
            IdSource::Seeded(seed) => Some(seed),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seeded_streams_repeat_and_differ() {
        let a = SeededIds::new(7, ENTITY_STREAM);
        let b = SeededIds::new(7, ENTITY_STREAM);
        let c = SeededIds::new(7, REQUEST_STREAM);
        let first = a.next_id();
        assert_eq!(first, b.next_id());
        assert_ne!(first, c.next_id());
        assert_eq!(first.get_version_num(), 4);
        assert_ne!(first, a.next_id());
    }

    #[test]
    fn a_stream_continues_from_its_position() {
        let a = SeededIds::new(7, ENTITY_STREAM);
        a.next_id();
        let resumed = SeededIds::at(a.position().unwrap());
        assert_eq!(a.next_id(), resumed.next_id());
        assert_eq!(a.next_id(), resumed.next_id());
    }
}
