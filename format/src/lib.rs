//! The fusecry on-disk format, as written in SPEC.md: the conf and its key
//! slots, the key hierarchy, the chunk codec, file layout arithmetic, names,
//! symlink targets and streams, for both profiles (fusecry/1 and legacy 0.11).
//!
//! Randomness enters through `&mut impl CryptoRngCore` (the lowest functions
//! take IV, file id and salt bytes so tests and vectors can fix them).
//! Chunk crypto runs on the rayon pool when a batch is large enough
//! ([`batch`], the one place that decides).
//!
//! No I/O policy lives here, with one marked exception: functions take
//! bytes, or a [`file::Storage`] for random access (the caller decides
//! locking, caching and system calls), and open nothing themselves. The
//! exception is [`stream::pipeline`], which drives the stream codec from a
//! reader to a writer on threads of its own (read-ahead, channels, buffer
//! counts) for the CLI; everything else in [`stream`] is the plain codec.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod batch;
pub mod chunk;
pub mod codec;
pub mod conf;
pub mod conflict;
pub mod error;
pub mod file;
pub mod header;
pub mod kdf;
pub mod keys;
pub mod layout;
pub mod legacy;
pub mod long_target;
pub mod name;
pub mod primitives;
pub mod slots;
pub mod stream;
pub mod trailer;
pub mod vouch;
pub mod xattr;

pub use codec::{Codec, Profile};
pub use conf::{Conf, ConfV1, NewConf};
pub use error::{Error, Result};
pub use header::FileId;
pub use kdf::Argon2Params;
pub use keys::{MasterKey, Password};
pub use layout::Layout;
pub use slots::{KeySlot, Secret};
pub use vouch::{Trust, Vouch};

/// True only in the benchmark build with the `ceiling` feature, whose
/// chunks are copied instead of encrypted and never verified: what the
/// mount costs without its chunk crypto, measured beside the real build
/// (benches/README.md). Never enabled by any Cargo.toml of the workspace
/// (features unify: it would reach every test); the CLI refuses to run
/// such a build unless `FUSECRY_CEILING=insecure`.
pub const CEILING: bool = cfg!(feature = "ceiling");

/// Standard base64 (with padding) for byte fields of the conf.
pub(crate) mod serde_b64 {
    use base64::engine::general_purpose::STANDARD;
    use base64::Engine;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(v: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&STANDARD.encode(v))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let s = String::deserialize(d)?;
        STANDARD.decode(s).map_err(serde::de::Error::custom)
    }
}

/// An optional base64 conf field: absent means `None`; when present it must
/// be a base64 string (`null` is refused like any other wrong type).
pub(crate) mod serde_b64_opt {
    use serde::{Deserializer, Serializer};

    pub fn serialize<S: Serializer>(v: &Option<Vec<u8>>, s: S) -> Result<S::Ok, S::Error> {
        match v {
            Some(b) => super::serde_b64::serialize(b, s),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Vec<u8>>, D::Error> {
        super::serde_b64::deserialize(d).map(Some)
    }
}

#[cfg(test)]
mod tests {
    /// The `ceiling` feature reaches a build only when asked for on the
    /// command line; a test build with it would test nothing.
    #[test]
    #[allow(clippy::assertions_on_constants)] // constant per build: that is the check
    fn test_builds_encrypt() {
        assert!(
            !crate::CEILING,
            "built with the bench-only `ceiling` feature"
        );
    }
}
