//! SPEC §15 "Chunk" and "File": `T || IV || AES-256-CBC(K, IV, p0)` with
//! `T = HMAC-SHA256(M, IV || C)`, and an unauthenticated u64le size trailer.
//!
//! Nothing binds a chunk to its file or position: swaps and moves between
//! files are undetectable in this profile (quirk 14). We say so, and fix it
//! only in fusecry/1.

use super::LegacyKeys;
use crate::chunk::{encrypt_frames, ChunkJob};
use crate::error::{Error, Result};
use crate::primitives::{
    cbc_decrypt_cut, cbc_encrypt_zero_padded, ceil16, hmac_sha256, hmac_sha256_verify,
};

/// Legacy trailer: u64le(size), no tag.
pub const TRAILER_LEN: usize = 8;

/// Encrypts one chunk into `out` (exactly `48 + ceil16(plain.len())` bytes).
pub fn encrypt_into(keys: &LegacyKeys, iv: &[u8; 16], plain: &[u8], out: &mut [u8]) {
    debug_assert_eq!(out.len(), 48 + ceil16(plain.len() as u64) as usize);
    let (tag, rest) = out.split_at_mut(32);
    let (iv_out, c) = rest.split_at_mut(16);
    iv_out.copy_from_slice(iv);
    cbc_encrypt_zero_padded(keys.aes.expose(), iv, plain, c);
    tag.copy_from_slice(&hmac_sha256(keys.mac.expose(), &[iv_out, c]));
}

/// [`encrypt_into`] for several chunks, their CBC chains run side by side:
/// the same bytes. (The index is not bound in this profile.)
pub fn encrypt_many(keys: &LegacyKeys, jobs: &mut [ChunkJob<'_>]) {
    encrypt_frames(&keys.aes, jobs, |_, iv, c| {
        hmac_sha256(keys.mac.expose(), &[iv, c])
    });
}

/// Verifies then decrypts one chunk into `out` (the first `out.len()` plaintext bytes).
/// Padding is not checked: the original never did, and its window (quirk 13)
/// can leave bytes of a real chunk past the recorded size.
pub fn decrypt_into(keys: &LegacyKeys, index: u64, stored: &[u8], out: &mut [u8]) -> Result<()> {
    if stored.len() < 64 || !(stored.len() - 48).is_multiple_of(16) || stored.len() - 48 < out.len()
    {
        return Err(Error::ChunkTampered { index });
    }
    let (tag, rest) = stored.split_at(32);
    if !hmac_sha256_verify(keys.mac.expose(), &[rest], tag) {
        return Err(Error::ChunkTampered { index });
    }
    let (iv, c) = rest.split_at(16);
    let iv: &[u8; 16] = iv.try_into().expect("16 bytes");
    // Whatever was cut off is ignored (see above).
    let _ = cbc_decrypt_cut(keys.aes.expose(), iv, c, out);
    Ok(())
}

/// The legacy sample: one chunk of 976 random bytes; the key is right iff its tag verifies.
pub fn sample_ok(keys: &LegacyKeys, sample: &[u8]) -> bool {
    sample.len() > 32 && hmac_sha256_verify(keys.mac.expose(), &[&sample[32..]], &sample[..32])
}

/// Makes a sample from 976 random bytes and an IV.
pub fn make_sample(keys: &LegacyKeys, iv: &[u8; 16], random976: &[u8; 976]) -> Vec<u8> {
    let mut out = vec![0u8; 1024];
    encrypt_into(keys, iv, random976, &mut out);
    out
}
