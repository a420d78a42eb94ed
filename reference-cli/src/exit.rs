//! Documented exit codes (README "Exit codes"), one per failure class of SPEC §13.

use fusecry_format::Error;

/// Any other failure (I/O, bad argument value).
pub const OTHER: i32 = 1;
/// Bad usage (clap's own code for argument errors).
pub const USAGE: i32 = 2;
/// Input file or conf missing.
pub const MISSING: i32 = 3;
/// Wrong password or no matching key slot.
pub const WRONG_KEY: i32 = 10;
/// A public key was given where the private key is needed.
pub const PUBLIC_KEY_ONLY: i32 = 11;
/// Corrupt or edited conf.
pub const CONF_CORRUPT: i32 = 12;
/// Unknown format version or feature flag.
pub const UNSUPPORTED: i32 = 13;
/// Invalid chunk size.
pub const CHUNK_SIZE: i32 = 14;
/// The key file is not a usable RSA key (the conf is fine).
pub const BAD_KEY_FILE: i32 = 15;
/// Damaged data: tampered chunk, bad trailer, truncated file, bad header or name.
pub const INTEGRITY: i32 = 20;
/// fsck found damage.
pub const FSCK_DIRTY: i32 = 21;

/// The exit code of a format error.
pub fn for_error(e: &Error) -> i32 {
    match e {
        Error::WrongKey | Error::BadPassword(_) => WRONG_KEY,
        Error::PublicKeyOnly => PUBLIC_KEY_ONLY,
        Error::ConfCorrupt(_) => CONF_CORRUPT,
        Error::BadRsaKey(_) => BAD_KEY_FILE,
        Error::UnsupportedVersion(_) | Error::UnknownFeature(_) => UNSUPPORTED,
        Error::InvalidChunkSize(_) => CHUNK_SIZE,
        e if e.is_integrity() => INTEGRITY,
        Error::Io(e) if e.kind() == std::io::ErrorKind::NotFound => MISSING,
        _ => OTHER,
    }
}

/// A failure with its exit code, carried up to `main` through anyhow.
#[derive(Debug, thiserror::Error)]
#[error("{msg}")]
pub struct Failure {
    /// Exit code.
    pub code: i32,
    /// One-line message.
    pub msg: String,
}

/// Wraps a format error with the file it concerns: "FILE: problem".
pub fn at(path: &std::path::Path, e: Error) -> anyhow::Error {
    Failure {
        code: for_error(&e),
        msg: format!("{}: {e}", path.display()),
    }
    .into()
}

/// An I/O failure on `path`: exit 3 when the file is missing, 1 otherwise.
pub fn io(path: &std::path::Path, what: &str, e: std::io::Error) -> anyhow::Error {
    let code = if e.kind() == std::io::ErrorKind::NotFound {
        MISSING
    } else {
        OTHER
    };
    fail(code, format!("{}: {what}: {e}", path.display()))
}

/// A failure with an explicit code.
pub fn fail(code: i32, msg: impl Into<String>) -> anyhow::Error {
    Failure {
        code,
        msg: msg.into(),
    }
    .into()
}
