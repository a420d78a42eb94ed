//! The failure classes of SPEC.md §13, one variant each, so a parse bug can
//! never pass as a MAC failure.

use thiserror::Error;

/// Every way reading or writing the format can fail.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum Error {
    /// No key slot opened with the password or key given (SPEC §4).
    #[error("wrong password or no matching key slot")]
    WrongKey,
    /// A public key was given where the master key must be unwrapped (SPEC §4).
    #[error("a public key cannot decrypt: the private key is needed")]
    PublicKeyOnly,
    /// The conf cannot be parsed, a field is invalid, or its parameters were edited (SPEC §5).
    #[error("corrupt conf: {0}")]
    ConfCorrupt(String),
    /// The conf names a format version or cipher this build does not implement.
    #[error("unsupported format version: {0}")]
    UnsupportedVersion(String),
    /// The conf names a feature flag this build does not know.
    #[error("unknown feature flag: {0}")]
    UnknownFeature(String),
    /// The chunk size breaks SPEC §6.
    #[error("invalid chunk size {0}: must be a multiple of 16 between 16 and 1048576")]
    InvalidChunkSize(u64),
    /// The file header is missing or its magic is wrong (SPEC §7).
    #[error("bad file header: {0}")]
    BadHeader(&'static str),
    /// A chunk's tag did not verify, or its padding was not zero (SPEC §7).
    #[error("chunk {index} failed authentication")]
    ChunkTampered {
        /// Zero-based chunk index.
        index: u64,
    },
    /// The stored length does not match the authenticated size (SPEC §7).
    #[error("truncated or extended file: {stored} bytes stored, {expected} expected")]
    Truncated {
        /// Length found.
        stored: u64,
        /// Length the layout requires (0 when unknown).
        expected: u64,
    },
    /// The size trailer failed authentication (SPEC §7).
    #[error("size trailer failed authentication")]
    BadTrailer,
    /// An encrypted name does not decode or authenticate (SPEC §10).
    #[error("bad encrypted name: {0}")]
    BadName(String),
    /// An encrypted symlink target does not decode or authenticate (SPEC §11).
    #[error("bad encrypted symlink target")]
    BadSymlink,
    /// A plaintext name that cannot be stored (too long, reserved, contains '/').
    #[error("name not allowed: {0}")]
    NameNotAllowed(String),
    /// A password that the profile cannot encode (legacy: latin-1 only), or an empty one.
    #[error("unusable password: {0}")]
    BadPassword(&'static str),
    /// An RSA key could not be parsed or used.
    #[error("bad RSA key: {0}")]
    BadRsaKey(String),
    /// Reading or writing a stream failed.
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

impl Error {
    /// The failure class name used by SPEC.md §13 and the conformance vectors.
    pub fn class(&self) -> &'static str {
        match self {
            Error::WrongKey => "WrongKey",
            Error::PublicKeyOnly => "PublicKeyOnly",
            Error::ConfCorrupt(_) => "ConfCorrupt",
            Error::UnsupportedVersion(_) => "UnsupportedVersion",
            Error::UnknownFeature(_) => "UnknownFeature",
            Error::InvalidChunkSize(_) => "InvalidChunkSize",
            Error::BadHeader(_) => "BadHeader",
            Error::ChunkTampered { .. } => "ChunkTampered",
            Error::Truncated { .. } => "Truncated",
            Error::BadTrailer => "BadTrailer",
            Error::BadName(_) => "BadName",
            Error::BadSymlink => "BadSymlink",
            Error::NameNotAllowed(_) => "NameNotAllowed",
            Error::BadPassword(_) => "BadPassword",
            Error::BadRsaKey(_) => "BadRsaKey",
            Error::Io(_) => "Io",
        }
    }

    /// True for the classes that mean "the data was damaged or tampered with".
    pub fn is_integrity(&self) -> bool {
        matches!(
            self,
            Error::BadHeader(_)
                | Error::ChunkTampered { .. }
                | Error::Truncated { .. }
                | Error::BadTrailer
                | Error::BadName(_)
                | Error::BadSymlink
        )
    }
}

/// Result alias for this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
