//! SPEC §2: thin, named wrappers over the RustCrypto primitives. Nothing here
//! implements a primitive; it only fixes the parameters the spec uses.

use aes::cipher::{
    block_padding::NoPadding, BlockDecryptMut, BlockEncryptMut, InnerIvInit, KeyInit, KeyIvInit,
};
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
    let cbc = Aes256CbcEnc::new(key.into(), iv.into());
    if plain.len() == out.len() {
        encrypt_b2b(cbc, plain, out);
    } else {
        out_padded(cbc, plain, out);
    }
}

/// How many CBC chains [`cbc_encrypt_zero_padded_many`] runs side by side.
/// Four is where the gain levels off (criterion: two give 1.5×, four 1.9×,
/// eight 2.0× one chain's speed on one core).
pub const CBC_LANES: usize = 4;

/// One message for [`cbc_encrypt_zero_padded_many`]: as for
/// [`cbc_encrypt_zero_padded`], `out.len()` is `plain.len()` rounded up to 16.
pub struct CbcJob<'a> {
    /// This message's IV.
    pub iv: [u8; 16],
    /// The plaintext.
    pub plain: &'a [u8],
    /// Where its ciphertext goes.
    pub out: &'a mut [u8],
}

/// [`cbc_encrypt_zero_padded`] of several independent messages under one
/// key: the same bytes as encrypting each alone.
///
/// Why: CBC encryption is a chain in which every block waits for the AES
/// of the one before, so a single message runs at AES-NI's latency while
/// its pipeline sits mostly idle. Here each message still goes through its
/// own `cbc::Encryptor`; the encryptors of up to [`CBC_LANES`] messages are
/// only handed one block each in turn, so the CPU finds independent AES
/// work to overlap. Nothing here touches the chaining itself.
pub fn cbc_encrypt_zero_padded_many(key: &[u8; 32], jobs: &mut [CbcJob<'_>]) {
    // One key expansion for all messages; each encryptor starts from a copy.
    let cipher = aes::Aes256Enc::new(key.into());
    for group in jobs.chunks_mut(CBC_LANES) {
        let mut lanes = Vec::with_capacity(CBC_LANES);
        for j in group.iter_mut() {
            let cbc = Aes256CbcEnc::inner_iv_init(cipher.clone(), (&j.iv).into());
            if j.plain.len() == j.out.len() {
                lanes.push((cbc, j.plain, &mut *j.out));
            } else {
                // Only a file's last chunk is padded: it goes alone.
                out_padded(cbc, j.plain, j.out);
            }
        }
        if let [(cbc, plain, out)] = &mut lanes[..] {
            encrypt_b2b(cbc.clone(), plain, out);
            continue;
        }
        let longest = lanes.iter().map(|l| l.1.len()).max().unwrap_or(0);
        for at in (0..longest).step_by(16) {
            for (cbc, plain, out) in lanes.iter_mut() {
                if at < plain.len() {
                    cbc.encrypt_block_b2b_mut(
                        plain[at..at + 16].into(),
                        (&mut out[at..at + 16]).into(),
                    );
                }
            }
        }
    }
}

/// Whole blocks from `plain` to `out` in one pass, with no copy first.
fn encrypt_b2b(cbc: Aes256CbcEnc, plain: &[u8], out: &mut [u8]) {
    cbc.encrypt_padded_b2b_mut::<NoPadding>(plain, out)
        .expect("whole blocks and an output of the same length");
}

/// `plain` zero-padded into `out`, then encrypted there.
fn out_padded(cbc: Aes256CbcEnc, plain: &[u8], out: &mut [u8]) {
    out[..plain.len()].copy_from_slice(plain);
    out[plain.len()..].fill(0);
    let len = out.len();
    cbc.encrypt_padded_mut::<NoPadding>(out, len)
        .expect("caller pads to the block size");
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
