//! SPEC §7 "Chunk": `T || IV || AES-256-CBC(K_enc, IV, p0)` with
//! `T = HMAC-SHA256(K_mac, file_id || u64le(index) || IV || C)`.

use crate::error::{Error, Result};
use crate::header::FileId;
use crate::keys::Key32;
use crate::layout::CHUNK_OVERHEAD;
use crate::primitives::{
    cbc_decrypt_cut, cbc_encrypt_zero_padded, ceil16, hmac_sha256, hmac_sha256_verify,
};

/// Stored length of a chunk holding `plain_len` bytes.
pub fn stored_len(plain_len: usize) -> usize {
    CHUNK_OVERHEAD as usize + ceil16(plain_len as u64) as usize
}

/// Encrypts one chunk into `out`, which must be exactly `stored_len(plain.len())` bytes.
pub fn encrypt_into(
    enc: &Key32,
    mac: &Key32,
    file_id: &FileId,
    index: u64,
    iv: &[u8; 16],
    plain: &[u8],
    out: &mut [u8],
) {
    debug_assert_eq!(out.len(), stored_len(plain.len()));
    let (tag, rest) = out.split_at_mut(32);
    let (iv_out, c) = rest.split_at_mut(16);
    iv_out.copy_from_slice(iv);
    cbc_encrypt_zero_padded(enc.expose(), iv, plain, c);
    let t = hmac_sha256(mac.expose(), &[&file_id.0, &index.to_le_bytes(), iv_out, c]);
    tag.copy_from_slice(&t);
}

/// Verifies then decrypts one chunk into `out` (exactly `plain_len` bytes).
/// The tag is checked before any decryption; padding must be zero.
pub fn decrypt_into(
    enc: &Key32,
    mac: &Key32,
    file_id: &FileId,
    index: u64,
    stored: &[u8],
    out: &mut [u8],
) -> Result<()> {
    let plain_len = out.len();
    if stored.len() != stored_len(plain_len) {
        return Err(Error::ChunkTampered { index });
    }
    let (tag, rest) = stored.split_at(32);
    let (iv, c) = rest.split_at(16);
    if !hmac_sha256_verify(
        mac.expose(),
        &[&file_id.0, &index.to_le_bytes(), iv, c],
        tag,
    ) {
        return Err(Error::ChunkTampered { index });
    }
    let iv: &[u8; 16] = iv.try_into().expect("16 bytes");
    // Authenticated, so non-zero padding means a writer bug, not an attack;
    // refuse it all the same rather than guess.
    if !cbc_decrypt_cut(enc.expose(), iv, c, out) {
        out.fill(0);
        return Err(Error::ChunkTampered { index });
    }
    Ok(())
}
