//! The one place the CLI draws randomness (file ids, IVs, name IVs).
//!
//! Always the operating system's CSPRNG, except under the hidden test switch
//! `--insecure-test-seed N` together with `FUSECRY_INSECURE_TEST_SEED=yes`:
//! then every draw comes from `ChaCha20Rng::seed_from_u64(N)`, the way the
//! conformance vectors are made, so a runner can compare what the CLI writes
//! with a vector byte for byte. Conf creation and key slots always use the OS.

use crate::cli::TestSeed;
use crate::exit::fail;
use anyhow::Result;
use rand_chacha::ChaCha20Rng;
use rand_core::{CryptoRng, OsRng, RngCore, SeedableRng};

/// Environment switch that must be set for `--insecure-test-seed`.
pub const TEST_SEED_ENV: &str = "FUSECRY_INSECURE_TEST_SEED";

/// Checks that a test seed, if given, is allowed, and returns it.
pub fn allowed(t: TestSeed) -> Result<Option<u64>> {
    if t.seed.is_some() && std::env::var(TEST_SEED_ENV).as_deref() != Ok("yes") {
        return Err(fail(
            crate::exit::USAGE,
            format!("--insecure-test-seed makes the ciphertext predictable and is for tests only; set {TEST_SEED_ENV}=yes to use it"),
        ));
    }
    Ok(t.seed)
}

/// The CLI's randomness source.
pub enum CliRng {
    Os,
    Seeded(Box<ChaCha20Rng>),
}

impl CliRng {
    /// The OS CSPRNG, or the seeded stream when the test switch is allowed.
    pub fn new(t: TestSeed) -> Result<CliRng> {
        Ok(match allowed(t)? {
            Some(s) => CliRng::Seeded(Box::new(ChaCha20Rng::seed_from_u64(s))),
            None => CliRng::Os,
        })
    }
}

impl RngCore for CliRng {
    fn next_u32(&mut self) -> u32 {
        match self {
            CliRng::Os => OsRng.next_u32(),
            CliRng::Seeded(r) => r.next_u32(),
        }
    }
    fn next_u64(&mut self) -> u64 {
        match self {
            CliRng::Os => OsRng.next_u64(),
            CliRng::Seeded(r) => r.next_u64(),
        }
    }
    fn fill_bytes(&mut self, dest: &mut [u8]) {
        match self {
            CliRng::Os => OsRng.fill_bytes(dest),
            CliRng::Seeded(r) => r.fill_bytes(dest),
        }
    }
    fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), rand_core::Error> {
        self.fill_bytes(dest);
        Ok(())
    }
}

// Both sources are cryptographically secure (the seeded one is only
// predictable to whoever chose the seed, which is the point of the switch).
impl CryptoRng for CliRng {}
