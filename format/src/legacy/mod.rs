//! SPEC §15: the legacy 0.11 profile, byte-compatible with the original
//! Python fusecry 0.11.2 (see ../shared/vectors/legacy/README.md).

pub mod chunk;
pub mod conf;
pub mod name;
pub mod rsa;

pub use conf::{LegacyAuth, LegacyConf};

use crate::keys::Key32;
use crate::primitives::sha256;

/// The legacy keys: one AES key `K` and the HMAC key `M = SHA-256(K)` used for every file.
#[derive(Clone, Debug)]
pub struct LegacyKeys {
    /// K: AES-256-CBC key for chunks and names.
    pub aes: Key32,
    /// M = SHA-256(K): HMAC-SHA256 key for chunks and the sample.
    pub mac: Key32,
}

impl LegacyKeys {
    /// Derives M from K.
    pub fn new(aes: Key32) -> Self {
        let mac = Key32::from_bytes(sha256(aes.expose()));
        LegacyKeys { aes, mac }
    }
}
