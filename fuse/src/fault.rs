//! Test-only fault injection at the backing layer's one choke point: every
//! backing call (`backing.rs`) asks [`check`] first, and a test may make the
//! Nth call from now fail with an errno of its choice, to show that failing
//! storage turns into that errno for one request: no panic, no hang, the
//! other files still served.
//!
//! Always compiled, so the mount under test is the one users run; unarmed,
//! the cost is one relaxed atomic load per backing call. The state is one
//! global of the process: tests that arm it run in a test binary of their own.

use fuser::Errno;
use std::sync::atomic::{AtomicI32, AtomicU64, Ordering};

/// An armable fault: the Nth call of [`Faults::check`] from arming fails.
pub struct Faults {
    /// Calls left before the armed fault fires (0: unarmed).
    countdown: AtomicU64,
    /// The errno the armed fault answers with.
    errno: AtomicI32,
    /// Faults fired so far.
    fired: AtomicU64,
}

impl Faults {
    const fn new() -> Faults {
        Faults {
            countdown: AtomicU64::new(0),
            errno: AtomicI32::new(libc::EIO),
            fired: AtomicU64::new(0),
        }
    }

    fn fail_nth(&self, n: u64, errno: i32) {
        self.errno.store(errno, Ordering::SeqCst);
        self.countdown.store(n.max(1), Ordering::SeqCst);
    }

    fn check(&self, call: &str) -> Result<(), Errno> {
        if self.countdown.load(Ordering::Relaxed) == 0 {
            return Ok(());
        }
        let fire = self
            .countdown
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok_and(|before| before == 1);
        if !fire {
            return Ok(());
        }
        self.fired.fetch_add(1, Ordering::SeqCst);
        let e = self.errno.load(Ordering::SeqCst);
        tracing::warn!("fault injection: backing call {call} fails with errno {e}");
        Err(Errno::from_i32(e))
    }
}

/// The process's one fault, which the backing layer checks.
static FAULT: Faults = Faults::new();

/// Makes the `n`th backing call from now (`n` ≥ 1) fail with `errno`,
/// once; replaces a fault armed before.
pub fn fail_nth(n: u64, errno: i32) {
    FAULT.fail_nth(n, errno)
}

/// Disarms a fault that has not fired yet.
pub fn disarm() {
    FAULT.countdown.store(0, Ordering::SeqCst);
}

/// Number of faults fired so far.
pub fn fired() -> u64 {
    FAULT.fired.load(Ordering::SeqCst)
}

/// Called by every backing call before it reaches the host: `Err` when the
/// armed fault fires on this call.
pub(crate) fn check(call: &str) -> Result<(), Errno> {
    FAULT.check(call)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fires_once_on_the_nth_call() {
        // A fault of its own: the global one is the other tests' backing calls'.
        let f = Faults::new();
        assert!(f.check("a").is_ok());
        f.fail_nth(3, libc::ENOSPC);
        assert!(f.check("a").is_ok());
        assert!(f.check("b").is_ok());
        assert_eq!(f.check("c").unwrap_err(), Errno::ENOSPC);
        assert!(f.check("d").is_ok());
        assert_eq!(f.fired.load(Ordering::SeqCst), 1);
        f.fail_nth(2, libc::EIO);
        f.countdown.store(0, Ordering::SeqCst);
        assert!(f.check("e").is_ok() && f.check("f").is_ok());
        assert_eq!(f.fired.load(Ordering::SeqCst), 1);
    }
}
