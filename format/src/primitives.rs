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

/// AES-256-CBC without padding from `plain` into `out` (same length, a
/// multiple of 16): one pass instead of a copy and an in-place pass.
pub fn cbc_encrypt_b2b(key: &[u8; 32], iv: &[u8; 16], plain: &[u8], out: &mut [u8]) {
    Aes256CbcEnc::new(key.into(), iv.into())
        .encrypt_padded_b2b_mut::<NoPadding>(plain, out)
        .expect("caller gives whole blocks and an output of the same length");
}

/// AES-256-CBC decryption without padding from `c` into `out` (same length,
/// a multiple of 16).
pub fn cbc_decrypt_b2b(key: &[u8; 32], iv: &[u8; 16], c: &[u8], out: &mut [u8]) {
    Aes256CbcDec::new(key.into(), iv.into())
        .decrypt_padded_b2b_mut::<NoPadding>(c, out)
        .expect("caller gives whole blocks and an output of the same length");
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
