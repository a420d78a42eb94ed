//! SPEC §7 "Trailer": `u64le(size) || HMAC-SHA256(K_trl, file_id || u64le(size))`.

use crate::error::{Error, Result};
use crate::header::FileId;
use crate::keys::Key32;
use crate::primitives::{hmac_sha256, hmac_sha256_verify};

/// Trailer length.
pub const TRAILER_LEN: usize = 40;

/// Encodes the trailer of a file of `size` plaintext bytes.
pub fn encode(key: &Key32, file_id: &FileId, size: u64) -> [u8; TRAILER_LEN] {
    let mut t = [0u8; TRAILER_LEN];
    t[..8].copy_from_slice(&size.to_le_bytes());
    t[8..].copy_from_slice(&hmac_sha256(
        key.expose(),
        &[&file_id.0, &size.to_le_bytes()],
    ));
    t
}

/// Verifies a trailer and returns the authenticated size.
pub fn decode(key: &Key32, file_id: &FileId, bytes: &[u8]) -> Result<u64> {
    if bytes.len() != TRAILER_LEN {
        return Err(Error::BadTrailer);
    }
    let size_le = &bytes[..8];
    if !hmac_sha256_verify(key.expose(), &[&file_id.0, size_le], &bytes[8..]) {
        return Err(Error::BadTrailer);
    }
    Ok(u64::from_le_bytes(size_le.try_into().expect("8 bytes")))
}
