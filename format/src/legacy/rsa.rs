//! SPEC §15 "RSA": the original wraps K with textbook RSA (no padding).
//! We only ever unwrap (read existing volumes), through the rsa crate's
//! hazmat primitive, and pad the result to 32 bytes (the original pads to
//! 16, quirk 28, which loses keys that start with a zero byte).

use crate::error::{Error, Result};
use crate::keys::Key32;
use rsa::hazmat::rsa_decrypt_and_check;
use rsa::{BigUint, RsaPrivateKey};

/// `K = I2OSP(OS2IP(enc_key)^d mod n, 32)`.
pub fn unwrap(key: &RsaPrivateKey, enc_key: &[u8]) -> Result<Key32> {
    let c = BigUint::from_bytes_be(enc_key);
    let m =
        rsa_decrypt_and_check(key, Some(&mut rand_core::OsRng), &c).map_err(|_| Error::WrongKey)?;
    let bytes = m.to_bytes_be();
    if bytes.len() > 32 {
        // Not a 32-byte AES key under this modulus: the wrong private key.
        return Err(Error::WrongKey);
    }
    let mut k = [0u8; 32];
    k[32 - bytes.len()..].copy_from_slice(&bytes);
    Ok(Key32::from_bytes(k))
}
