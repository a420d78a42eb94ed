//! File and directory handles. Every handle on one inode shares a single
//! [`OpenFile`], so its lock serializes read-modify-write across handles and
//! the header and size are read once per open, not per request.

use crate::content::OpenFile;
use crate::inode::Ino;
use parking_lot::Mutex;
use std::collections::HashMap;
use std::ffi::OsString;
use std::sync::Arc;

/// An open file handle.
#[derive(Debug, Clone)]
pub struct FileHandle {
    /// Its inode.
    pub ino: Ino,
    /// The shared open file.
    pub file: Arc<OpenFile>,
    /// Opened with O_APPEND.
    pub append: bool,
}

/// One directory entry of an open directory, as listed at opendir.
#[derive(Debug, Clone)]
pub struct DirEntry {
    /// Plaintext name.
    pub name: OsString,
    /// On-disk name.
    pub disk_name: OsString,
    /// Entry type.
    pub kind: fuser::FileType,
    /// Backing inode number (for `d_ino` of entries the kernel has not looked up).
    pub backing_ino: u64,
}

/// An open directory: its entries, listed once so offsets stay stable.
#[derive(Debug)]
pub struct DirHandle {
    /// The directory.
    pub ino: Ino,
    /// Entries after "." and "..".
    pub entries: Vec<DirEntry>,
    /// Long-name sidecars no entry needed when it was listed, removed at
    /// the first READDIR (SPEC §10 orphans).
    pub orphans: Mutex<Vec<OsString>>,
}

#[derive(Default, Debug)]
struct Inner {
    next: u64,
    files: HashMap<u64, FileHandle>,
    dirs: HashMap<u64, Arc<DirHandle>>,
    /// Open files by inode, with the number of handles on each.
    open: HashMap<Ino, (Arc<OpenFile>, usize)>,
}

/// All handles of the mount.
#[derive(Default, Debug)]
pub struct Handles {
    inner: Mutex<Inner>,
}

impl Handles {
    /// The open file of `ino`, if some handle has it open.
    pub fn open_file(&self, ino: Ino) -> Option<Arc<OpenFile>> {
        self.inner.lock().open.get(&ino).map(|(f, _)| f.clone())
    }

    /// Adds a handle on `ino`, reusing its open file or calling `open` once.
    pub fn add_file<E>(
        &self,
        ino: Ino,
        append: bool,
        open: impl FnOnce() -> Result<OpenFile, E>,
    ) -> Result<(u64, Arc<OpenFile>), E> {
        let mut g = self.inner.lock();
        let file = match g.open.get_mut(&ino) {
            Some((f, n)) => {
                *n += 1;
                f.clone()
            }
            None => {
                // Opening under the table lock keeps two racing opens of one
                // inode from caching two different states of the same file.
                let f = Arc::new(open()?);
                g.open.insert(ino, (f.clone(), 1));
                f
            }
        };
        g.next += 1;
        let fh = g.next;
        g.files.insert(
            fh,
            FileHandle {
                ino,
                file: file.clone(),
                append,
            },
        );
        Ok((fh, file))
    }

    /// The file handle `fh`.
    pub fn file(&self, fh: u64) -> Option<FileHandle> {
        self.inner.lock().files.get(&fh).cloned()
    }

    /// Drops file handle `fh`; the open file goes with its last handle and
    /// is returned then (its size can outlive it in the inode's cache).
    pub fn release_file(&self, fh: u64) -> Option<(Ino, Arc<OpenFile>)> {
        let mut g = self.inner.lock();
        let h = g.files.remove(&fh)?;
        let (_, n) = g.open.get_mut(&h.ino)?;
        *n -= 1;
        if *n == 0 {
            return g.open.remove(&h.ino).map(|(f, _)| (h.ino, f));
        }
        None
    }

    /// Adds a directory handle.
    pub fn add_dir(&self, d: DirHandle) -> u64 {
        let mut g = self.inner.lock();
        g.next += 1;
        let fh = g.next;
        g.dirs.insert(fh, Arc::new(d));
        fh
    }

    /// The directory handle `fh`.
    pub fn dir(&self, fh: u64) -> Option<Arc<DirHandle>> {
        self.inner.lock().dirs.get(&fh).cloned()
    }

    /// Drops directory handle `fh`.
    pub fn release_dir(&self, fh: u64) {
        self.inner.lock().dirs.remove(&fh);
    }

    /// Number of open file handles (idle unmount waits for none).
    pub fn open_count(&self) -> usize {
        let g = self.inner.lock();
        g.files.len() + g.dirs.len()
    }
}
