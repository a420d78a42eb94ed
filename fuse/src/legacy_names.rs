//! The name index of legacy 0.11 directories with encrypted names (SPEC §15
//! "Names"). Each such name carries a random IV, so the on-disk name of a
//! plaintext name cannot be computed: it is found by decrypting the
//! directory. Doing that on every lookup made lookups, creates and deletes
//! linear in the directory's size (5000 creates in one directory took 27 s);
//! the index decrypts a directory once and keeps plaintext → on-disk name.
//!
//! An index is used only while the backing directory's inode, mtime and
//! ctime are what they were when it was built or last updated by this mount,
//! and for at most [`RESCAN_AFTER`] after its last full scan, so a change
//! made behind the mount is seen within that time even if it landed in the
//! same clock tick as one of ours. Changes made through the mount update the
//! index in place (they would otherwise invalidate it on every create).
//! Memory: at most [`MAX_DIRS`] directories are indexed, the least recently
//! scanned one is dropped first.

use crate::backing::{Dir, Res};
use crate::inode::Ino;
use crate::names::{self, Decoded};
use fusecry_format::Codec;
use parking_lot::Mutex;
use std::collections::HashMap;
use std::ffi::{OsStr, OsString};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Longest time an index is trusted without a full scan.
pub const RESCAN_AFTER: Duration = Duration::from_secs(1);
/// Directories indexed at once.
pub const MAX_DIRS: usize = 32;

/// Identity and change times of a backing directory.
type Stamp = (u64, i64, i64, i64, i64);

fn stamp_of(dir: &Dir) -> Res<Stamp> {
    let m = dir.stat_self()?;
    let ((ms, mns), (cs, cns)) = (m.mtime(), m.ctime());
    Ok((m.ino(), ms, mns, cs, cns))
}

struct DirIndex {
    stamp: Stamp,
    scanned: Instant,
    /// Plaintext name → on-disk name.
    names: HashMap<OsString, OsString>,
}

/// Indexes of the directories looked up recently, by our inode number.
#[derive(Default)]
pub struct LegacyNames {
    dirs: Mutex<HashMap<Ino, DirIndex>>,
    scans: AtomicU64,
}

impl LegacyNames {
    /// The on-disk name of `plain` in directory `ino` (backing path `dir`).
    pub fn find(
        &self,
        codec: &Codec,
        ino: Ino,
        dir: &Dir,
        is_root: bool,
        plain: &OsStr,
    ) -> Res<Option<OsString>> {
        let now = stamp_of(dir)?;
        {
            let dirs = self.dirs.lock();
            if let Some(d) = dirs.get(&ino) {
                if d.stamp == now && d.scanned.elapsed() < RESCAN_AFTER {
                    return Ok(d.names.get(plain).cloned());
                }
            }
        }
        // Scanned without the lock: decrypting a large directory takes a
        // while, and other directories' lookups need not wait for it.
        let scanned = Instant::now();
        self.scans.fetch_add(1, Ordering::Relaxed);
        let mut names = HashMap::new();
        for (disk, _, _) in dir.list()? {
            if let Decoded::Name(n) = names::decode(codec, dir, None, is_root, &disk) {
                // Two entries with one plaintext name: the first listed wins,
                // as it did when every lookup scanned the directory.
                names.entry(n.name).or_insert(disk);
            }
        }
        let found = names.get(plain).cloned();
        let mut dirs = self.dirs.lock();
        if dirs.len() >= MAX_DIRS && !dirs.contains_key(&ino) {
            if let Some(oldest) = dirs.iter().min_by_key(|(_, d)| d.scanned).map(|(i, _)| *i) {
                dirs.remove(&oldest);
            }
        }
        dirs.insert(
            ino,
            DirIndex {
                stamp: now,
                scanned,
                names,
            },
        );
        Ok(found)
    }

    /// `plain` was created as `disk` in directory `ino` through the mount.
    pub fn added(&self, ino: Ino, dir: &Dir, plain: &OsStr, disk: &OsStr) {
        self.update(ino, dir, |names| {
            names.insert(plain.to_os_string(), disk.to_os_string());
        });
    }

    /// `plain` was removed from directory `ino` through the mount.
    pub fn removed(&self, ino: Ino, dir: &Dir, plain: &OsStr) {
        self.update(ino, dir, |names| {
            names.remove(plain);
        });
    }

    /// Directory `ino` changed in a way not worth tracking: drop its index.
    pub fn forget(&self, ino: Ino) {
        self.dirs.lock().remove(&ino);
    }

    /// Applies a change made through the mount and takes the directory's
    /// new stamp, so the change does not invalidate the index.
    fn update(&self, ino: Ino, dir: &Dir, f: impl FnOnce(&mut HashMap<OsString, OsString>)) {
        let mut dirs = self.dirs.lock();
        if let Some(d) = dirs.get_mut(&ino) {
            match stamp_of(dir) {
                Ok(s) => {
                    f(&mut d.names);
                    d.stamp = s;
                }
                Err(_) => {
                    dirs.remove(&ino);
                }
            }
        }
    }

    /// Whether directory `ino` has an index (for tests).
    #[cfg(test)]
    pub fn indexed(&self, ino: Ino) -> bool {
        self.dirs.lock().contains_key(&ino)
    }

    /// Full directory scans so far (for tests).
    pub fn scans(&self) -> u64 {
        self.scans.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use fusecry_format::keys::Key32;
    use fusecry_format::legacy::LegacyKeys;
    use rand_core::OsRng;

    /// Longer than a coarse kernel clock tick (10 ms at HZ=100).
    const TICK: Duration = Duration::from_millis(25);

    fn codec() -> Codec {
        Codec::legacy(LegacyKeys::new(Key32::from_bytes([7; 32])), 64, true)
    }

    /// Creates `plain` in `dir` behind the index's back; returns its disk name.
    fn make(codec: &Codec, dir: &std::path::Path, plain: &str) -> OsString {
        let (disk, _) = codec.encrypt_name(None, plain, &mut OsRng).unwrap();
        std::fs::write(dir.join(&disk), b"").unwrap();
        disk.into()
    }

    #[test]
    fn scans_once_follows_our_changes_and_sees_others() {
        let c = codec();
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        let d = Dir::open_root(dir).unwrap();
        let a = make(&c, dir, "a");
        let idx = LegacyNames::default();
        let find = |n: &str| idx.find(&c, 5, &d, false, OsStr::new(n)).unwrap();
        assert_eq!(find("a"), Some(a.clone()));
        assert_eq!(find("b"), None);
        assert_eq!(idx.scans(), 1, "a hit and a miss from one scan");

        // Through the mount: the index is updated, not rebuilt.
        let b = make(&c, dir, "b");
        idx.added(5, &d, OsStr::new("b"), &b);
        assert_eq!(find("b"), Some(b.clone()));
        std::fs::remove_file(dir.join(&a)).unwrap();
        idx.removed(5, &d, OsStr::new("a"));
        assert_eq!(find("a"), None);
        assert_eq!(idx.scans(), 1);

        // Behind the mount: the directory's times change, so it is rescanned.
        // (The pause puts the change in a later clock tick than our last
        // stamp; within one tick only RESCAN_AFTER catches it, tested below.)
        std::thread::sleep(TICK);
        let x = make(&c, dir, "x");
        assert_eq!(find("x"), Some(x));
        assert_eq!(idx.scans(), 2);

        // Nothing changed, but the last scan is too old to be trusted alone.
        std::thread::sleep(RESCAN_AFTER + Duration::from_millis(50));
        assert_eq!(find("b"), Some(b));
        assert_eq!(idx.scans(), 3);

        // Two entries decrypting to one name: the first listed wins, always
        // the same one.
        std::thread::sleep(TICK);
        let dup = make(&c, dir, "x");
        let first = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .find(|n| c.decrypt_name(None, n.to_str().unwrap()).ok().as_deref() == Some("x"))
            .unwrap();
        assert_eq!(find("x"), Some(first));
        drop(dup);
    }

    #[test]
    fn keeps_at_most_max_dirs() {
        let c = codec();
        let tmp = tempfile::tempdir().unwrap();
        let idx = LegacyNames::default();
        let d = Dir::open_root(tmp.path()).unwrap();
        for i in 0..(MAX_DIRS as u64 + 5) {
            idx.find(&c, i + 2, &d, false, OsStr::new("n")).unwrap();
        }
        assert_eq!(idx.dirs.lock().len(), MAX_DIRS);
        // The most recent ones are kept.
        assert!(idx.dirs.lock().contains_key(&(MAX_DIRS as u64 + 6)));
    }
}
