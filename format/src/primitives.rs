//! SPEC §2: thin, named wrappers over the RustCrypto primitives. Nothing here
//! implements a primitive; it only fixes the parameters the spec uses.

use aes::cipher::{block_padding::NoPadding, BlockDecryptMut, BlockEncryptMut, KeyIvInit};
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

type Aes256CbcEnc = cbc::Encryptor<aes::Aes256Enc>;
type Aes256CbcDec = cbc::Decryptor<aes::Aes256Dec>;
/// HMAC-SHA256 as used for every tag.
pub type HmacSha256 = Hmac<Sha256>;

/// AES-256-CBC without padding, in place. `buf.len()` must be a multiple of 16.
pub fn cbc_encrypt(key: &[u8; 32], iv: &[u8; 16], buf: &mut [u8]) {
    let len = buf.len();
    Aes256CbcEnc::new(key.into(), iv.into())
        .encrypt_padded_mut::<NoPadding>(buf, len)
        .expect("caller pads to the block size");
}

/// AES-256-CBC decryption without padding, in place. `buf.len()` must be a multiple of 16.
pub fn cbc_decrypt(key: &[u8; 32], iv: &[u8; 16], buf: &mut [u8]) {
    Aes256CbcDec::new(key.into(), iv.into())
        .decrypt_padded_mut::<NoPadding>(buf)
        .expect("caller checks the block size");
}

/// AES-256-CBC of `plain` zero-padded to the block size, into `out`
/// (`out.len()` = `plain.len()` rounded up to 16). Whole blocks go from
/// `plain` to `out` in one pass, with no copy first.
pub fn cbc_encrypt_zero_padded(key: &[u8; 32], iv: &[u8; 16], plain: &[u8], out: &mut [u8]) {
    if plain.len() == out.len() {
        Aes256CbcEnc::new(key.into(), iv.into())
            .encrypt_padded_b2b_mut::<NoPadding>(plain, out)
            .expect("whole blocks and an output of the same length");
        return;
    }
    out[..plain.len()].copy_from_slice(plain);
    out[plain.len()..].fill(0);
    cbc_encrypt(key, iv, out);
}

/// AES-256-CBC decryption of `c` (whole blocks) cut to its first
/// `out.len()` bytes. Returns whether the bytes cut off were all zero.
pub fn cbc_decrypt_cut(key: &[u8; 32], iv: &[u8; 16], c: &[u8], out: &mut [u8]) -> bool {
    if c.len() == out.len() {
        Aes256CbcDec::new(key.into(), iv.into())
            .decrypt_padded_b2b_mut::<NoPadding>(c, out)
            .expect("whole blocks and an output of the same length");
        return true;
    }
    let mut buf = c.to_vec();
    cbc_decrypt(key, iv, &mut buf);
    out.copy_from_slice(&buf[..out.len()]);
    buf[out.len()..].iter().all(|&b| b == 0)
}

/// HMAC-SHA256 over the concatenation of `parts`.
pub fn hmac_sha256(key: &[u8], parts: &[&[u8]]) -> [u8; 32] {
    let mut mac = <HmacSha256 as Mac>::new_from_slice(key).expect("HMAC takes any key length");
    for p in parts {
        mac.update(p);
    }
    mac.finalize().into_bytes().into()
}

/// Constant-time check of an HMAC-SHA256 tag over `parts` (the crate's own verifier).
pub fn hmac_sha256_verify(key: &[u8], parts: &[&[u8]], tag: &[u8]) -> bool {
    let mut mac = <HmacSha256 as Mac>::new_from_slice(key).expect("HMAC takes any key length");
    for p in parts {
        mac.update(p);
    }
    mac.verify_slice(tag).is_ok()
}

/// SHA-256.
pub fn sha256(data: &[u8]) -> [u8; 32] {
    Sha256::digest(data).into()
}

/// Length-prefixed bytes, `LP(x) = u32le(len(x)) || x` (SPEC §1).
pub fn lp(out: &mut Vec<u8>, x: &[u8]) {
    out.extend_from_slice(&(x.len() as u32).to_le_bytes());
    out.extend_from_slice(x);
}

/// Round up to a multiple of the AES block size.
pub const fn ceil16(n: u64) -> u64 {
    n.div_ceil(16) * 16
}
