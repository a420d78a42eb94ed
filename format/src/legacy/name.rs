//! SPEC §15 "Names": `base32(IV || AES-256-CBC(K, IV, zero-padded UTF-8))`
//! with `=` removed. No MAC: a wrong key or an edit decodes to garbage that
//! is then rejected as not UTF-8 or not a valid name, when we are lucky.

use super::LegacyKeys;
use crate::error::{Error, Result};
use crate::primitives::{cbc_decrypt, cbc_encrypt, ceil16};
use data_encoding::BASE32;

/// Longest plaintext name whose encoding fits in 255 bytes (quirk 18).
pub const MAX_NAME_BYTES: usize = 128;

/// Encodes a name with a caller-chosen IV.
pub fn encrypt(keys: &LegacyKeys, iv: &[u8; 16], name: &str) -> Result<String> {
    crate::name::check_plain(name)?;
    if name.len() > MAX_NAME_BYTES {
        return Err(Error::NameNotAllowed(format!(
            "legacy encrypted names hold at most {MAX_NAME_BYTES} bytes, this one has {}",
            name.len()
        )));
    }
    let mut buf = iv.to_vec();
    let mut c = name.as_bytes().to_vec();
    c.resize(ceil16(c.len() as u64) as usize, 0);
    cbc_encrypt(keys.aes.expose(), iv, &mut c);
    buf.extend_from_slice(&c);
    Ok(BASE32.encode(&buf).trim_end_matches('=').to_string())
}

/// Decodes a name: re-pad to a multiple of 8, base32-decode, decrypt, strip NULs.
pub fn decrypt(keys: &LegacyKeys, encoded: &str) -> Result<String> {
    let bad = || Error::BadName(format!("{encoded:?} is not a legacy encrypted name"));
    let mut s = encoded.to_string();
    while !s.len().is_multiple_of(8) {
        s.push('=');
    }
    let raw = BASE32.decode(s.as_bytes()).map_err(|_| bad())?;
    if raw.len() < 32 || raw.len() % 16 != 0 {
        return Err(bad());
    }
    let (iv, c) = raw.split_at(16);
    let mut c = c.to_vec();
    cbc_decrypt(keys.aes.expose(), iv.try_into().expect("16"), &mut c);
    while c.last() == Some(&0) {
        c.pop();
    }
    let name = String::from_utf8(c).map_err(|_| bad())?;
    crate::name::check_plain(&name).map_err(|_| bad())?;
    Ok(name)
}
