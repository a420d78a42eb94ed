//! The lock that orders name changes against lookups (see `CryptFs::names`).
//! The kernel revalidates cached names without locking their directory, so
//! a lookup, a getattr or a path walk to a directory may run while an
//! unlink, rmdir, rename or mkdir is between its backing change and its
//! inode-table update (or, for mkdir, before the new directory has its IV).
//! Those hold this lock exclusively for that span, and the readers hold it
//! shared while they resolve a name and record what they saw.
//!
//! A thread holding it exclusively may resolve names itself (a rename that
//! writes a symlink anew reads its directory's IV): its shared requests
//! are then granted without locking, as it already excludes every writer.

use parking_lot::{RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::cell::Cell;

thread_local! {
    /// Whether this thread holds a [`NameLock`] exclusively.
    static EXCLUSIVE: Cell<bool> = const { Cell::new(false) };
}

/// See the module documentation.
#[derive(Default)]
pub(super) struct NameLock(RwLock<()>);

/// An exclusive hold of a [`NameLock`].
pub(super) struct Exclusive<'a>(#[allow(dead_code)] RwLockWriteGuard<'a, ()>);

impl Drop for Exclusive<'_> {
    fn drop(&mut self) {
        EXCLUSIVE.with(|e| e.set(false));
    }
}

impl NameLock {
    /// Held shared until dropped; `None` (nothing to hold) when this
    /// thread holds the lock exclusively.
    pub(super) fn shared(&self) -> Option<RwLockReadGuard<'_, ()>> {
        if EXCLUSIVE.with(|e| e.get()) {
            return None;
        }
        Some(self.0.read())
    }

    /// Held exclusively until dropped.
    pub(super) fn exclusive(&self) -> Exclusive<'_> {
        let g = self.0.write();
        EXCLUSIVE.with(|e| e.set(true));
        Exclusive(g)
    }
}
