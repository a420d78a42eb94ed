//! The one place the mount draws randomness (file ids, IVs, directory IVs,
//! name IVs in legacy, symlink and xattr nonces).
//!
//! Normally the operating system's CSPRNG. For conformance vectors a mount
//! can be started with a fixed seed (`FsOptions::seed`), which makes every
//! byte it writes reproducible; the CLI only accepts that through a
//! deliberately awkward, documented test switch, never by default.

use parking_lot::Mutex;
use rand_chacha::rand_core::{CryptoRng, RngCore, SeedableRng};
use rand_chacha::ChaCha20Rng;

/// The mount's randomness source.
pub struct FsRng {
    seeded: Option<Mutex<ChaCha20Rng>>,
}

impl FsRng {
    /// The OS CSPRNG, or a ChaCha20 stream from `seed` (tests only).
    pub fn new(seed: Option<u64>) -> FsRng {
        FsRng {
            seeded: seed.map(|s| Mutex::new(ChaCha20Rng::seed_from_u64(s))),
        }
    }

    /// A handle usable as `&mut impl CryptoRngCore`.
    pub fn handle(&self) -> RngHandle<'_> {
        RngHandle(self)
    }
}

/// Borrowed access to [`FsRng`].
pub struct RngHandle<'a>(&'a FsRng);

impl RngCore for RngHandle<'_> {
    fn next_u32(&mut self) -> u32 {
        let mut b = [0u8; 4];
        self.fill_bytes(&mut b);
        u32::from_le_bytes(b)
    }
    fn next_u64(&mut self) -> u64 {
        let mut b = [0u8; 8];
        self.fill_bytes(&mut b);
        u64::from_le_bytes(b)
    }
    fn fill_bytes(&mut self, dest: &mut [u8]) {
        match &self.0.seeded {
            Some(m) => m.lock().fill_bytes(dest),
            None => rand_core::OsRng.fill_bytes(dest),
        }
    }
    fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), rand_chacha::rand_core::Error> {
        self.fill_bytes(dest);
        Ok(())
    }
}

// Both sources are cryptographically secure (the seeded one is only
// predictable to whoever chose the seed).
impl CryptoRng for RngHandle<'_> {}
