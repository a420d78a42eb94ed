//! SPEC §4 (password slots) and §15 (legacy): password-based key derivation.

use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

/// Argon2id cost parameters, stored in each password slot.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Argon2Params {
    /// Memory in KiB.
    pub m_cost_kib: u32,
    /// Iterations.
    pub t_cost: u32,
    /// Lanes.
    pub p_cost: u32,
}

impl Default for Argon2Params {
    /// 64 MiB, 3 passes, 4 lanes: the lanes run in parallel on the rayon
    /// pool (the `argon2` crate's `parallel` feature, same bytes), about
    /// 0.14 s on two cores of the benchmark VM (0.21 s one lane at a time).
    fn default() -> Self {
        Argon2Params {
            m_cost_kib: 65536,
            t_cost: 3,
            p_cost: 4,
        }
    }
}

impl Argon2Params {
    /// Refuses parameters outside SPEC §4's ranges, so an edited conf cannot make
    /// us allocate 4 TiB or spin forever.
    pub fn validate(&self) -> Result<()> {
        let ok = (1..=64).contains(&self.p_cost)
            && (1..=100).contains(&self.t_cost)
            && self.m_cost_kib >= 8 * self.p_cost
            && self.m_cost_kib <= 4 * 1024 * 1024;
        if ok {
            Ok(())
        } else {
            Err(Error::ConfCorrupt(format!(
                "argon2id parameters out of range (m={} KiB, t={}, p={})",
                self.m_cost_kib, self.t_cost, self.p_cost
            )))
        }
    }
}

/// Argon2id v0x13 over the UTF-8 password, 64 bytes out (an AES-SIV key).
pub fn argon2id(
    password: &[u8],
    salt: &[u8],
    params: &Argon2Params,
) -> Result<Zeroizing<[u8; 64]>> {
    params.validate()?;
    let p = argon2::Params::new(params.m_cost_kib, params.t_cost, params.p_cost, Some(64))
        .map_err(|e| Error::ConfCorrupt(format!("argon2id parameters: {e}")))?;
    let a = argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, p);
    let mut out = Zeroizing::new([0u8; 64]);
    a.hash_password_into(password, salt, out.as_mut())
        .map_err(|e| Error::ConfCorrupt(format!("argon2id: {e}")))?;
    Ok(out)
}

/// Legacy 0.11: PBKDF2-HMAC-SHA1, 32 bytes out.
pub fn pbkdf2_sha1(password: &[u8], salt: &[u8], iterations: u32) -> Zeroizing<[u8; 32]> {
    let mut out = Zeroizing::new([0u8; 32]);
    pbkdf2::pbkdf2_hmac::<sha1::Sha1>(password, salt, iterations, out.as_mut());
    out
}

/// Legacy 0.11 encodes passwords as latin-1: every char must be ≤ U+00FF.
pub fn latin1(password: &str) -> Result<Zeroizing<Vec<u8>>> {
    let mut out = Zeroizing::new(Vec::with_capacity(password.len()));
    for c in password.chars() {
        let v = c as u32;
        if v > 0xff {
            return Err(Error::BadPassword(
                "legacy 0.11 passwords must be latin-1 (no character above U+00FF)",
            ));
        }
        out.push(v as u8);
    }
    Ok(out)
}
