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

/// SPEC §4.1: the most memory one password slot may ask for, in KiB (1 GiB).
pub const ARGON2_MAX_M_COST_KIB: u32 = 1024 * 1024;
/// SPEC §4.1: the most work one password slot may ask for, as
/// `m_cost_kib × t_cost` (4 GiB of memory passes: 1 GiB × 4, 256 MiB × 16).
/// Argon2id's work is proportional to this product (lanes only spread it
/// over cores): about 2.2 s on two cores of the benchmark VM with 4 lanes,
/// 3.9 s with one. The default slot (64 MiB × 3) is 1/21 of it.
pub const ARGON2_MAX_COST: u64 = 4 * 1024 * 1024;
/// SPEC §4.1: the largest `t_cost`.
pub const ARGON2_MAX_T_COST: u32 = 100;
/// SPEC §4.1: the largest `p_cost`.
pub const ARGON2_MAX_P_COST: u32 = 64;

impl Argon2Params {
    /// Refuses parameters outside SPEC §4.1's ranges and caps, before any
    /// derivation, so an edited conf can neither make us allocate more than
    /// 1 GiB nor keep one unlock busy for more than a few seconds.
    pub fn validate(&self) -> Result<()> {
        let ranges = (1..=ARGON2_MAX_P_COST).contains(&self.p_cost)
            && (1..=ARGON2_MAX_T_COST).contains(&self.t_cost)
            && self.m_cost_kib >= 8 * self.p_cost;
        if !ranges {
            return Err(Error::ConfCorrupt(format!(
                "argon2id parameters out of range (m={} KiB, t={}, p={}; SPEC §4.1: t 1..={ARGON2_MAX_T_COST}, p 1..={ARGON2_MAX_P_COST}, m >= 8 p)",
                self.m_cost_kib, self.t_cost, self.p_cost
            )));
        }
        let cost = u64::from(self.m_cost_kib) * u64::from(self.t_cost);
        if self.m_cost_kib > ARGON2_MAX_M_COST_KIB || cost > ARGON2_MAX_COST {
            return Err(Error::ConfCorrupt(format!(
                "argon2id cost over the limit (m={} KiB, t={}: SPEC §4.1 allows m <= {ARGON2_MAX_M_COST_KIB} KiB and m × t <= {ARGON2_MAX_COST})",
                self.m_cost_kib, self.t_cost
            )));
        }
        Ok(())
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

/// SPEC §15.1: the largest legacy `kdf_iters` read. The original draws its
/// count from [60000, 80000] (every legacy vector lies in 60244–79947); this
/// cap is 125 times that maximum and costs about 3 s on the benchmark VM
/// (3.6 s while it was busy), where 2³² − 1 iterations would take 20 minutes.
pub const LEGACY_MAX_ITERATIONS: u32 = 10_000_000;

/// Refuses a legacy iteration count outside 1 ..= [`LEGACY_MAX_ITERATIONS`].
pub fn check_legacy_iterations(iterations: u32) -> Result<()> {
    if (1..=LEGACY_MAX_ITERATIONS).contains(&iterations) {
        Ok(())
    } else {
        Err(Error::ConfCorrupt(format!(
            "\"kdf_iters\" is {iterations}: SPEC §15.1 reads 1 to {LEGACY_MAX_ITERATIONS} (0.11 writes 60000 to 80000)"
        )))
    }
}

/// Legacy 0.11: PBKDF2-HMAC-SHA1, 32 bytes out. The count is checked first,
/// so no caller can run an unbounded derivation.
pub fn pbkdf2_sha1(password: &[u8], salt: &[u8], iterations: u32) -> Result<Zeroizing<[u8; 32]>> {
    check_legacy_iterations(iterations)?;
    let mut out = Zeroizing::new([0u8; 32]);
    pbkdf2::pbkdf2_hmac::<sha1::Sha1>(password, salt, iterations, out.as_mut());
    Ok(out)
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
