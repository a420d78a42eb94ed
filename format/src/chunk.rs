//! SPEC §7 "Chunk": `T || IV || AES-256-CBC(K_enc, IV, p0)` with
//! `T = HMAC-SHA256(K_mac, file_id || u64le(index) || IV || C)`.

use crate::error::{Error, Result};
use crate::header::FileId;
use crate::keys::Key32;
use crate::layout::CHUNK_OVERHEAD;
use crate::primitives::{
    cbc_decrypt_cut, cbc_encrypt_zero_padded, cbc_encrypt_zero_padded_many, ceil16, hmac_sha256,
    hmac_sha256_verify, CbcJob,
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
    if crate::CEILING {
        return ceiling_frame(iv, plain, out);
    }
    let (tag, rest) = out.split_at_mut(32);
    let (iv_out, c) = rest.split_at_mut(16);
    iv_out.copy_from_slice(iv);
    cbc_encrypt_zero_padded(enc.expose(), iv, plain, c);
    let t = hmac_sha256(mac.expose(), &[&file_id.0, &index.to_le_bytes(), iv_out, c]);
    tag.copy_from_slice(&t);
}

/// Chunks worth giving [`encrypt_many`] at once: fewer leave AES-NI idle.
pub use crate::primitives::CBC_LANES as LANES;

/// One chunk for [`encrypt_many`] and `Codec::encrypt_chunks`.
pub struct ChunkJob<'a> {
    /// The chunk's index in its file.
    pub index: u64,
    /// Its IV.
    pub iv: [u8; 16],
    /// Its plaintext.
    pub plain: &'a [u8],
    /// Exactly `stored_len(plain.len())` bytes for the stored chunk.
    pub out: &'a mut [u8],
}

/// [`encrypt_into`] for several chunks of one file, their CBC chains run
/// side by side (see [`cbc_encrypt_zero_padded_many`]): the same bytes.
pub fn encrypt_many(enc: &Key32, mac: &Key32, file_id: &FileId, jobs: &mut [ChunkJob<'_>]) {
    encrypt_frames(enc, jobs, |index, iv, c| {
        hmac_sha256(mac.expose(), &[&file_id.0, &index.to_le_bytes(), iv, c])
    });
}

/// The frame `tag || IV || C` that both profiles share: writes each job's
/// IV, encrypts all jobs side by side under `enc`, then fills each tag with
/// `tag(index, iv, c)`.
pub(crate) fn encrypt_frames(
    enc: &Key32,
    jobs: &mut [ChunkJob<'_>],
    tag: impl Fn(u64, &[u8], &[u8]) -> [u8; 32],
) {
    if crate::CEILING {
        for j in jobs.iter_mut() {
            ceiling_frame(&j.iv, j.plain, j.out);
        }
        return;
    }
    let mut cbc: Vec<CbcJob<'_>> = Vec::with_capacity(jobs.len());
    let mut heads: Vec<(u64, &mut [u8])> = Vec::with_capacity(jobs.len());
    for j in jobs.iter_mut() {
        debug_assert_eq!(j.out.len(), stored_len(j.plain.len()));
        let (head, c) = j.out.split_at_mut(48);
        head[32..].copy_from_slice(&j.iv);
        heads.push((j.index, head));
        cbc.push(CbcJob {
            iv: j.iv,
            plain: j.plain,
            out: c,
        });
    }
    cbc_encrypt_zero_padded_many(enc.expose(), &mut cbc);
    for ((index, head), c) in heads.into_iter().zip(cbc) {
        let (t, iv) = head.split_at_mut(32);
        t.copy_from_slice(&tag(index, iv, c.out));
    }
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
    if crate::CEILING {
        out.copy_from_slice(&c[..plain_len]);
        return Ok(());
    }
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

/// The bench-only `ceiling` build's frame (`crate::CEILING`): the same
/// bytes in the same places, copied instead of encrypted, with a zero tag.
fn ceiling_frame(iv: &[u8; 16], plain: &[u8], out: &mut [u8]) {
    out[..32].fill(0);
    out[32..48].copy_from_slice(iv);
    let (c, pad) = out[48..].split_at_mut(plain.len());
    c.copy_from_slice(plain);
    pad.fill(0);
}
