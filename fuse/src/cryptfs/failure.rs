//! Failing storage, as the log shows it: a request that fails because a
//! backing call failed (EIO, ENOSPC, EDQUOT, EROFS, EACCES, EPERM from the
//! host) is answered with that errno, and logged once with the plaintext
//! path, so that whoever reads the log knows which file was hit. Answers
//! that are the filesystem's ordinary outcomes (ENOENT, EEXIST, ENOTEMPTY,
//! ...) are not logged.

use super::CryptFs;
use crate::inode::Ino;
use fuser::Errno;
use std::ffi::OsStr;

/// Errnos that mean the backing store failed, not that the request was wrong.
fn storage_failure(e: Errno) -> bool {
    [
        libc::EIO,
        libc::ENOSPC,
        libc::EDQUOT,
        libc::EROFS,
        libc::EACCES,
        libc::EPERM,
        libc::ENXIO,
        libc::ESTALE,
    ]
    .iter()
    .any(|&n| e == Errno::from_i32(n))
}

impl CryptFs {
    /// Logs request `op` on `ino` (entry `name` in it, for requests on a
    /// directory entry) failing with `e` when `e` is a storage failure,
    /// and returns `e`. A read-only mount's own EROFS is not a failure;
    /// nor is a caller's EACCES or EPERM when the daemon checks
    /// permissions itself, which the log cannot tell apart: those are
    /// logged at debug level only.
    pub fn failed(&self, ino: Ino, name: Option<&OsStr>, op: &str, e: Errno) -> Errno {
        if !storage_failure(e) || (self.opts.read_only && e == Errno::EROFS) {
            return e;
        }
        let mut path = self.plain_path(ino);
        if let Some(n) = name {
            if !path.ends_with('/') {
                path.push('/');
            }
            path.push_str(&n.to_string_lossy());
        }
        if e == Errno::EACCES || e == Errno::EPERM {
            tracing::debug!("{path}: {op}: {e:?}");
        } else {
            tracing::warn!("{path}: {op}: {e:?}");
        }
        e
    }
}
