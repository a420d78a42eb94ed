//! The filesystem itself: one plain method per FUSE operation, each taking
//! plaintext names and returning `Result<_, Errno>`. It knows nothing of the
//! FUSE wire protocol (that is `adapter.rs`) and reaches the backing
//! directory only through `backing.rs`.

use crate::backing::{self, BPath, Res, Time};
use crate::content::{self, ContentError, OpenFile, Source};
use crate::handle::{DirEntry, DirHandle, Handles};
use crate::inode::{Ino, InodeTable, Key, ROOT};
use crate::legacy_names::LegacyNames;
use crate::names::{self, Decoded};
use crate::rng::FsRng;
use fusecry_format::name::{DirIv, DIRIV_NAME};
use fusecry_format::{Codec, FileId};
use fuser::{Errno, FileAttr, FileType};
use parking_lot::Mutex;
use std::ffi::{OsStr, OsString};
use std::fs::Metadata;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Longest stored symlink target the backing filesystem takes.
const SYMLINK_MAX: usize = 4095;

/// statfs figures, blocks already scaled to plaintext.
#[allow(missing_docs)]
#[derive(Clone, Copy, Debug)]
pub struct StatFs {
    pub blocks: u64,
    pub bfree: u64,
    pub bavail: u64,
    pub files: u64,
    pub ffree: u64,
    pub bsize: u32,
    pub namelen: u32,
    pub frsize: u32,
}

/// Who is asking (for the owner of new entries).
#[derive(Clone, Copy, Debug)]
pub struct Caller {
    /// User id.
    pub uid: u32,
    /// Group id.
    pub gid: u32,
}

impl Caller {
    /// Whether writing or truncating leaves set-ID bits alone: the kernel's
    /// test is CAP_FSETID, which FUSE does not pass on; a caller with
    /// fsuid 0 holds it unless it dropped it on purpose.
    pub fn may_keep_privs(&self) -> bool {
        self.uid == 0
    }
}

/// Settings of one mount.
#[derive(Clone, Debug, Default)]
pub struct FsOptions {
    /// Refuse every change.
    pub read_only: bool,
    /// The kernel caches writes (FUSE writeback cache): O_APPEND offsets
    /// then come from the kernel.
    pub writeback: bool,
    /// Test-only: seed of the deterministic RNG (see `rng.rs`).
    pub seed: Option<u64>,
}

/// The mounted volume.
pub struct CryptFs {
    codec: Codec,
    root: PathBuf,
    root_dev: u64,
    inodes: Mutex<InodeTable>,
    handles: Handles,
    opts: FsOptions,
    rng: FsRng,
    as_root: bool,
    last_activity: AtomicU64,
    legacy_names: LegacyNames,
}

/// Directory entries whose size reads [`CryptFs::prefetch_sizes`] starts
/// together: about one readdirplus reply.
const PREFETCH_ENTRIES: usize = 32;

fn key(m: &Metadata) -> Key {
    (m.dev(), m.ino())
}

/// What must not change for a cached plaintext size to stay valid.
fn stamp(m: &Metadata) -> (u64, i64, i64) {
    (
        m.len(),
        m.mtime() * 1_000_000_000 + m.mtime_nsec(),
        m.ctime() * 1_000_000_000 + m.ctime_nsec(),
    )
}

fn kind_of(m: &Metadata) -> FileType {
    let t = m.file_type();
    if t.is_dir() {
        FileType::Directory
    } else if t.is_symlink() {
        FileType::Symlink
    } else if t.is_fifo() {
        FileType::NamedPipe
    } else if t.is_socket() {
        FileType::Socket
    } else if t.is_char_device() {
        FileType::CharDevice
    } else if t.is_block_device() {
        FileType::BlockDevice
    } else {
        FileType::RegularFile
    }
}

fn kind_from_std(t: Option<std::fs::FileType>) -> FileType {
    match t {
        Some(t) if t.is_dir() => FileType::Directory,
        Some(t) if t.is_symlink() => FileType::Symlink,
        Some(t) if t.is_fifo() => FileType::NamedPipe,
        Some(t) if t.is_socket() => FileType::Socket,
        Some(t) if t.is_char_device() => FileType::CharDevice,
        Some(t) if t.is_block_device() => FileType::BlockDevice,
        _ => FileType::RegularFile,
    }
}

fn systime(s: i64, ns: i64) -> SystemTime {
    if s >= 0 {
        UNIX_EPOCH + Duration::new(s as u64, ns as u32)
    } else {
        UNIX_EPOCH - Duration::from_secs(s.unsigned_abs()) + Duration::from_nanos(ns as u64)
    }
}

/// A time for `setattr`, from the FUSE request.
pub fn time_arg(t: Option<fuser::TimeOrNow>) -> Time {
    match t {
        None => Time::Omit,
        Some(fuser::TimeOrNow::Now) => Time::Now,
        Some(fuser::TimeOrNow::SpecificTime(st)) => match st.duration_since(UNIX_EPOCH) {
            Ok(d) => Time::At(d.as_secs() as i64, d.subsec_nanos() as i64),
            Err(e) => {
                let d = e.duration();
                let (mut s, mut ns) = (-(d.as_secs() as i64), -(d.subsec_nanos() as i64));
                if ns < 0 {
                    s -= 1;
                    ns += 1_000_000_000;
                }
                Time::At(s, ns)
            }
        },
    }
}

impl CryptFs {
    /// A filesystem over the backing directory `root`, opened with `codec`.
    pub fn new(codec: Codec, root: &Path, opts: FsOptions) -> std::io::Result<CryptFs> {
        let root = root.canonicalize()?;
        let meta = std::fs::metadata(&root)?;
        if !meta.is_dir() {
            return Err(std::io::Error::other(format!(
                "{}: not a directory",
                root.display()
            )));
        }
        if codec.uses_diriv() && !root.join(DIRIV_NAME).exists() {
            return Err(std::io::Error::other(format!(
                "{}: no {DIRIV_NAME}: not a directory of this volume",
                root.display()
            )));
        }
        Ok(CryptFs {
            rng: FsRng::new(opts.seed),
            codec,
            root_dev: meta.dev(),
            inodes: Mutex::new(InodeTable::new(key(&meta))),
            root,
            handles: Handles::default(),
            opts,
            as_root: nix::unistd::geteuid().is_root(),
            last_activity: AtomicU64::new(now_secs()),
            legacy_names: LegacyNames::default(),
        })
    }

    /// The volume's codec.
    pub fn codec(&self) -> &Codec {
        &self.codec
    }

    /// Records activity (for `--idle`).
    pub fn touch(&self) {
        self.last_activity.store(now_secs(), Ordering::Relaxed);
    }

    /// Seconds since the last request, and whether any handle is open.
    pub fn idle_for(&self) -> (u64, bool) {
        let last = self.last_activity.load(Ordering::Relaxed);
        (
            now_secs().saturating_sub(last),
            self.handles.open_count() > 0,
        )
    }

    /// Number of remembered inodes.
    pub fn inode_count(&self) -> usize {
        self.inodes.lock().len()
    }

    fn ro(&self) -> Res<()> {
        if self.opts.read_only {
            Err(Errno::EROFS)
        } else {
            Ok(())
        }
    }

    /// Backing path of `ino`.
    fn path(&self, ino: Ino) -> Res<BPath> {
        let rel = self.inodes.lock().rel_path(ino).ok_or(Errno::ENOENT)?;
        backing::resolve(&self.root, &rel)
    }

    /// Plaintext path of `ino`, for log lines.
    pub fn plain_path(&self, ino: Ino) -> String {
        self.inodes.lock().plain_path(ino)
    }

    /// Backing path, directory IV and "is the root" of directory `ino`.
    fn dir(&self, ino: Ino) -> Res<(BPath, Option<DirIv>, bool)> {
        let p = self.path(ino)?;
        if !self.codec.uses_diriv() {
            return Ok((p, None, ino == ROOT));
        }
        if let Some(iv) = self.inodes.lock().get(ino).and_then(|n| n.diriv) {
            return Ok((p, Some(iv), ino == ROOT));
        }
        let meta = backing::lstat(&p)?;
        if !meta.is_dir() {
            return Err(Errno::ENOTDIR);
        }
        let iv = names::read_diriv(&self.codec, &p).inspect_err(|_| {
            tracing::error!("{}: directory IV missing or damaged", self.plain_path(ino));
        })?;
        if let Some(n) = self.inodes.lock().get_mut(ino) {
            n.diriv = iv;
        }
        Ok((p, iv, ino == ROOT))
    }

    fn log_damage(&self, ino: Ino, e: ContentError) -> Errno {
        match e {
            ContentError::Io(e) => e,
            ContentError::Damaged { chunk, what } => {
                let path = self.plain_path(ino);
                match chunk {
                    Some(c) => tracing::error!("{path}: chunk {c}: {what}: answering EIO"),
                    None => tracing::error!("{path}: {what}: answering EIO"),
                }
                Errno::EIO
            }
        }
    }

    /// The size cached for node `ino`, if its backing file `m` has not changed since.
    fn cached_size(&self, ino: Ino, m: &Metadata) -> Option<u64> {
        let (s, size) = self.inodes.lock().get(ino)?.size_cache?;
        (s == stamp(m)).then_some(size)
    }

    /// Plaintext size of a regular file not held open, cached per node.
    fn file_size(&self, ino: Ino, p: &Path, m: &Metadata) -> u64 {
        if let Some(size) = self.cached_size(ino, m) {
            return size;
        }
        let stamp = stamp(m);
        // The stored length alone pins the size when no padding window is
        // possible (an empty file); otherwise the trailer says.
        if let Some(r) = self.codec.layout().plain_size_range(m.len()) {
            if r.start() == r.end() && self.codec.layout().stored_size(*r.start()) == m.len() {
                return *r.start();
            }
        }
        let size = match backing::open_file(p, true)
            .and_then(|f| content::stored_file_size(&self.codec, &f))
        {
            Ok((size, None)) => {
                if let Some(n) = self.inodes.lock().get_mut(ino) {
                    n.size_cache = Some((stamp, size));
                }
                size
            }
            Ok((size, Some(why))) => {
                tracing::warn!("{}: {why}", self.plain_path(ino));
                size
            }
            Err(_) => content::estimate_size(&self.codec, m.len()),
        };
        size
    }

    fn attr(&self, ino: Ino, p: &Path, m: &Metadata) -> FileAttr {
        let kind = kind_of(m);
        let size = match kind {
            FileType::RegularFile => match self.handles.open_file(ino) {
                Some(of) => of.size(),
                None => self.file_size(ino, p, m),
            },
            FileType::Symlink => backing::readlink(p)
                .ok()
                .and_then(|t| self.codec.decrypt_symlink(&t).ok())
                .map(|t| t.len() as u64)
                .unwrap_or(m.len()),
            _ => m.len(),
        };
        FileAttr {
            ino: fuser::INodeNo(ino),
            size,
            blocks: m.blocks(),
            atime: systime(m.atime(), m.atime_nsec()),
            mtime: systime(m.mtime(), m.mtime_nsec()),
            ctime: systime(m.ctime(), m.ctime_nsec()),
            crtime: systime(m.ctime(), m.ctime_nsec()),
            kind,
            perm: (m.mode() & 0o7777) as u16,
            nlink: m.nlink() as u32,
            uid: m.uid(),
            gid: m.gid(),
            rdev: m.rdev() as u32,
            blksize: self.codec.chunk_size().max(4096) as u32,
            flags: 0,
        }
    }

    /// Registers the entry `disk` (plaintext `plain`) of `parent` and returns its attributes.
    fn entry(&self, parent: Ino, dir: &Path, disk: &OsStr, plain: &OsStr) -> Res<FileAttr> {
        let p = dir.join(disk);
        let m = backing::lstat(&p)?;
        let ino = self.inodes.lock().remember(parent, disk, plain, key(&m));
        Ok(self.attr(ino, &p, &m))
    }

    /// New entries belong to the caller (when we can chown, i.e. as root),
    /// with the group of a set-group-ID parent directory.
    fn own(&self, p: &Path, dir: &Path, who: Caller) -> Res<()> {
        if !self.as_root {
            return Ok(());
        }
        let d = backing::lstat(dir)?;
        let sgid = d.mode() & libc::S_ISGID != 0;
        // We created it as root: it already has uid 0 and either the
        // directory's group (set-group-ID) or ours.
        if who.uid == 0 && (sgid || who.gid == nix::unistd::getegid().as_raw()) {
            return Ok(());
        }
        let gid = if sgid { d.gid() } else { who.gid };
        backing::lchown(p, Some(who.uid), Some(gid))
    }

    // ---- FUSE operations ----

    /// lookup
    pub fn lookup(&self, parent: Ino, name: &OsStr) -> Res<FileAttr> {
        let (dir, iv, is_root) = self.dir(parent)?;
        let disk = self
            .find_name(parent, &dir, iv.as_ref(), is_root, name)?
            .ok_or(Errno::ENOENT)?;
        self.entry(parent, &dir, &disk, name)
    }

    /// forget
    pub fn forget(&self, ino: Ino, n: u64) {
        self.inodes.lock().forget(ino, n);
    }

    /// getattr
    pub fn getattr(&self, ino: Ino, fh: Option<u64>) -> Res<FileAttr> {
        if let Some(h) = fh.and_then(|fh| self.handles.file(fh)) {
            let m = h.file.file.metadata().map_err(backing::errno)?;
            let mut a = self.attr_of_open(ino, &m);
            a.size = h.file.size();
            return Ok(a);
        }
        match self.path(ino) {
            Ok(p) => {
                let m = backing::lstat(&p)?;
                Ok(self.attr(ino, &p, &m))
            }
            // An unlinked file that is still open.
            Err(e) => match self.handles.open_file(ino) {
                Some(of) => {
                    let m = of.file.metadata().map_err(backing::errno)?;
                    let mut a = self.attr_of_open(ino, &m);
                    a.size = of.size();
                    Ok(a)
                }
                None => Err(e),
            },
        }
    }

    fn attr_of_open(&self, ino: Ino, m: &Metadata) -> FileAttr {
        // The size is replaced by the caller from the open state.
        self.attr(ino, Path::new("/nonexistent"), m)
    }

    /// setattr
    #[allow(clippy::too_many_arguments)]
    pub fn setattr(
        &self,
        ino: Ino,
        mode: Option<u32>,
        uid: Option<u32>,
        gid: Option<u32>,
        size: Option<u64>,
        atime: Time,
        mtime: Time,
        fh: Option<u64>,
        who: Caller,
    ) -> Res<FileAttr> {
        self.ro()?;
        let p = self.path(ino);
        if let Some(size) = size {
            let of = match fh.and_then(|fh| self.handles.file(fh)) {
                Some(h) => h.file,
                None => match self.handles.open_file(ino) {
                    Some(of) => of,
                    None => {
                        let p = p.as_ref().map_err(|e| *e)?;
                        let m = backing::lstat(p)?;
                        if m.is_dir() {
                            return Err(Errno::EISDIR);
                        }
                        if !m.is_file() {
                            return Err(Errno::EINVAL);
                        }
                        Arc::new(OpenFile::load(&self.codec, backing::open_file(p, false)?)?)
                    }
                },
            };
            of.truncate(&self.codec, size, &mut self.rng.handle())
                .map_err(|e| self.log_damage(ino, e))?;
            if !who.may_keep_privs() {
                self.kill_privs(&of.file)?;
            }
        }
        let p = match p {
            Ok(p) => p,
            // An unlinked file that is still open: change it through its descriptor.
            Err(e) => {
                let of = fh
                    .and_then(|fh| self.handles.file(fh))
                    .map(|h| h.file)
                    .or_else(|| self.handles.open_file(ino))
                    .ok_or(e)?;
                if let Some(mode) = mode {
                    backing::fchmod(&of.file, mode)?;
                }
                if uid.is_some() || gid.is_some() {
                    backing::fchown(&of.file, uid, gid)?;
                }
                if !matches!((atime, mtime), (Time::Omit, Time::Omit)) {
                    backing::futimens(&of.file, atime, mtime)?;
                }
                return self.getattr(ino, None);
            }
        };
        if let Some(mode) = mode {
            if !backing::lstat(&p)?.file_type().is_symlink() {
                backing::chmod(&p, mode)?;
            }
        }
        if uid.is_some() || gid.is_some() {
            // The backing chown clears set-user-ID and set-group-ID (and a
            // capability) as the kernel would; FUSE_HANDLE_KILLPRIV_V2 leaves
            // that to us.
            backing::lchown(&p, uid, gid)?;
        }
        if !matches!((atime, mtime), (Time::Omit, Time::Omit)) {
            backing::utimens(&p, atime, mtime)?;
        }
        let m = backing::lstat(&p)?;
        if size.is_none() {
            // Only metadata changed: a cached size stays valid under the new stamp.
            if let Some(n) = self.inodes.lock().get_mut(ino) {
                if let Some((old, sz)) = n.size_cache {
                    if old.0 == m.len() {
                        n.size_cache = Some((stamp(&m), sz));
                    }
                }
            }
        }
        Ok(self.attr(ino, &p, &m))
    }

    /// readlink
    pub fn readlink(&self, ino: Ino) -> Res<Vec<u8>> {
        let p = self.path(ino)?;
        let stored = backing::readlink(&p)?;
        self.codec.decrypt_symlink(&stored).map_err(|e| {
            tracing::error!(
                "{}: symlink target: {e}: answering EIO",
                self.plain_path(ino)
            );
            Errno::EIO
        })
    }

    /// The on-disk name of the existing entry `name` of directory `parent`.
    fn find_name(
        &self,
        parent: Ino,
        dir: &Path,
        iv: Option<&DirIv>,
        is_root: bool,
        name: &OsStr,
    ) -> Res<Option<OsString>> {
        let legacy = (&self.legacy_names, parent);
        names::find_existing(&self.codec, dir, iv, is_root, name, legacy)
    }

    /// Picks the on-disk name of a new entry and writes its sidecar.
    fn new_name(&self, parent: Ino, name: &OsStr) -> Res<(BPath, OsString)> {
        self.ro()?;
        let (dir, iv, is_root) = self.dir(parent)?;
        if self.codec.profile() == fusecry_format::Profile::Legacy && self.codec.encrypted_names() {
            // Legacy names are randomized: an existing entry is only found by name.
            if self
                .find_name(parent, &dir, iv.as_ref(), is_root, name)?
                .is_some()
            {
                return Err(Errno::EEXIST);
            }
        }
        let (disk, sidecar) = names::encode_new(
            &self.codec,
            iv.as_ref(),
            is_root,
            name,
            &mut self.rng.handle(),
        )?;
        if let Some(s) = sidecar {
            if backing::lstat(&dir.join(&disk)).is_ok() {
                return Err(Errno::EEXIST);
            }
            names::write_sidecar(&dir, &disk, &s)?;
        }
        Ok((dir, disk))
    }

    /// An empty regular file: header and trailer of size 0 (SPEC §7.4).
    fn empty_file_bytes(&self) -> (FileId, Vec<u8>) {
        let id = FileId::random(&mut self.rng.handle());
        let mut b = self.codec.encode_header(&id);
        if self.codec.layout().stored_size(0) > 0 {
            b.extend(self.codec.encode_trailer(&id, 0));
        }
        (id, b)
    }

    /// create
    pub fn create(
        &self,
        parent: Ino,
        name: &OsStr,
        mode: u32,
        flags: i32,
        who: Caller,
    ) -> Res<(FileAttr, u64)> {
        let (dir, disk) = self.new_name(parent, name)?;
        let p = dir.join(&disk);
        let f = backing::create_file(&p, mode & 0o7777).inspect_err(|_| {
            names::remove_sidecar_if_unused(&dir, &disk);
        })?;
        let (id, bytes) = self.empty_file_bytes();
        let res = backing::write_at(&f, &bytes, 0).and_then(|_| self.own(&p, &dir, who));
        if let Err(e) = res {
            let _ = backing::unlink(&p);
            names::remove_sidecar_if_unused(&dir, &disk);
            return Err(e);
        }
        self.legacy_names.added(parent, &dir, name, &disk);
        let m = backing::lstat(&p)?;
        let ino = self.inodes.lock().remember(parent, &disk, name, key(&m));
        let (fh, _) = self
            .handles
            .add_file(ino, flags & libc::O_APPEND != 0, || {
                Ok::<_, Errno>(OpenFile::new(f, content::FileState::new(id, 0, None)))
            })?;
        Ok((self.attr(ino, &p, &m), fh))
    }

    /// mknod (regular files, FIFOs, sockets, device nodes)
    pub fn mknod(
        &self,
        parent: Ino,
        name: &OsStr,
        mode: u32,
        rdev: u32,
        who: Caller,
    ) -> Res<FileAttr> {
        if mode & libc::S_IFMT == libc::S_IFREG || mode & libc::S_IFMT == 0 {
            let (attr, fh) = self.create(parent, name, mode, 0, who)?;
            self.handles.release_file(fh);
            return Ok(attr);
        }
        let (dir, disk) = self.new_name(parent, name)?;
        let p = dir.join(&disk);
        backing::mknod_at(&p, mode, rdev as u64).inspect_err(|_| {
            names::remove_sidecar_if_unused(&dir, &disk);
        })?;
        self.legacy_names.added(parent, &dir, name, &disk);
        self.own(&p, &dir, who)?;
        self.entry(parent, &dir, &disk, name)
    }

    /// mkdir
    pub fn mkdir(&self, parent: Ino, name: &OsStr, mode: u32, who: Caller) -> Res<FileAttr> {
        let (dir, disk) = self.new_name(parent, name)?;
        let p = dir.join(&disk);
        // Made private first so the directory IV can be written even when
        // the requested mode forbids writing, then given its real mode.
        backing::mkdir(&p, 0o700).inspect_err(|_| {
            names::remove_sidecar_if_unused(&dir, &disk);
        })?;
        let sgid = backing::lstat(&dir)?.mode() & libc::S_ISGID;
        let done = names::write_diriv(&self.codec, &p, &mut self.rng.handle())
            .and_then(|_| backing::chmod(&p, (mode & 0o7777) | sgid))
            .and_then(|_| self.own(&p, &dir, who));
        if let Err(e) = done {
            let _ = backing::unlink(&p.join(DIRIV_NAME));
            let _ = backing::rmdir(&p);
            names::remove_sidecar_if_unused(&dir, &disk);
            return Err(e);
        }
        self.legacy_names.added(parent, &dir, name, &disk);
        self.entry(parent, &dir, &disk, name)
    }

    /// The existing entry `name` of `parent`: directory path, on-disk name, metadata.
    fn existing(&self, parent: Ino, name: &OsStr) -> Res<(BPath, OsString, Metadata)> {
        let (dir, iv, is_root) = self.dir(parent)?;
        let disk = self
            .find_name(parent, &dir, iv.as_ref(), is_root, name)?
            .ok_or(Errno::ENOENT)?;
        let m = backing::lstat(&dir.join(&disk))?;
        Ok((dir, disk, m))
    }

    /// Returns our inode number of the entry, if it had one.
    fn gone(&self, parent: Ino, disk: &OsStr, m: &Metadata) -> Option<Ino> {
        let mut t = self.inodes.lock();
        let last = m.is_dir() || m.nlink() <= 1;
        let ino = t.find_child(parent, disk, key(m)).or_else(|| {
            // A name the kernel never looked up: only the last link matters.
            t.ino_of(key(m)).filter(|_| last)
        })?;
        t.unlinked(ino, parent, disk, last);
        Some(ino)
    }

    /// unlink
    pub fn unlink(&self, parent: Ino, name: &OsStr) -> Res<()> {
        self.ro()?;
        let (dir, disk, m) = self.existing(parent, name)?;
        if m.is_dir() {
            return Err(Errno::EISDIR);
        }
        backing::unlink(&dir.join(&disk))?;
        self.legacy_names.removed(parent, &dir, name);
        names::remove_sidecar(&dir, &disk);
        self.gone(parent, &disk, &m);
        Ok(())
    }

    /// rmdir
    pub fn rmdir(&self, parent: Ino, name: &OsStr) -> Res<()> {
        self.ro()?;
        let (dir, disk, m) = self.existing(parent, name)?;
        if !m.is_dir() {
            return Err(Errno::ENOTDIR);
        }
        let p = dir.join(&disk);
        if self.codec.uses_diriv() {
            let entries = backing::list_dir(&p)?;
            if entries.iter().any(|(n, _, _)| n != DIRIV_NAME) {
                return Err(Errno::ENOTEMPTY);
            }
            let iv_path = p.join(DIRIV_NAME);
            let saved = backing::read_small(&iv_path).ok();
            let _ = backing::unlink(&iv_path);
            if let Err(e) = backing::rmdir(&p) {
                // Someone created an entry meanwhile: put the IV back.
                if let Some(b) = saved {
                    let _ = backing::write_small(&iv_path, &b, 0o444);
                }
                return Err(e);
            }
        } else {
            backing::rmdir(&p)?;
        }
        self.legacy_names.removed(parent, &dir, name);
        names::remove_sidecar(&dir, &disk);
        if let Some(ino) = self.gone(parent, &disk, &m) {
            // The removed directory's own index goes with it, not at eviction.
            self.legacy_names.forget(ino);
        }
        Ok(())
    }

    /// symlink
    pub fn symlink(&self, parent: Ino, name: &OsStr, target: &OsStr, who: Caller) -> Res<FileAttr> {
        let stored = self
            .codec
            .encrypt_symlink(target.as_bytes(), &mut self.rng.handle());
        if stored.len() > SYMLINK_MAX {
            return Err(Errno::ENAMETOOLONG);
        }
        let (dir, disk) = self.new_name(parent, name)?;
        let p = dir.join(&disk);
        backing::symlink(OsStr::from_bytes(&stored), &p).inspect_err(|_| {
            names::remove_sidecar_if_unused(&dir, &disk);
        })?;
        self.legacy_names.added(parent, &dir, name, &disk);
        self.own(&p, &dir, who)?;
        self.entry(parent, &dir, &disk, name)
    }

    /// rename (flags: RENAME_NOREPLACE, RENAME_EXCHANGE)
    pub fn rename(
        &self,
        parent: Ino,
        name: &OsStr,
        newparent: Ino,
        newname: &OsStr,
        flags: u32,
    ) -> Res<()> {
        self.ro()?;
        let (odir, odisk, om) = self.existing(parent, name)?;
        let (ndir, niv, nroot) = self.dir(newparent)?;
        let existing = self.find_name(newparent, &ndir, niv.as_ref(), nroot, newname)?;
        let (ndisk, sidecar) = match existing
            .clone()
            .filter(|d| backing::lstat(&ndir.join(d)).is_ok())
        {
            Some(d) => (d, None),
            None => names::encode_new(
                &self.codec,
                niv.as_ref(),
                nroot,
                newname,
                &mut self.rng.handle(),
            )?,
        };
        let from = odir.join(&odisk);
        let to = ndir.join(&ndisk);
        if from == to {
            return Ok(());
        }
        let target = backing::lstat(&to).ok();
        if flags & libc::RENAME_EXCHANGE != 0 && target.is_none() {
            return Err(Errno::ENOENT);
        }
        if let Some(s) = &sidecar {
            names::write_sidecar(&ndir, &ndisk, s)?;
        }
        if let Some(t) = &target {
            if flags & libc::RENAME_EXCHANGE == 0 && t.is_dir() && self.codec.uses_diriv() {
                // The kernel sees an empty directory; the backing one holds its IV.
                if !om.is_dir() {
                    return Err(Errno::EISDIR);
                }
                let entries = backing::list_dir(&to)?;
                if entries.iter().any(|(n, _, _)| n != DIRIV_NAME) {
                    return Err(Errno::ENOTEMPTY);
                }
                backing::unlink(&to.join(DIRIV_NAME))?;
            }
        }
        if let Err(e) = backing::rename(&from, &to, flags) {
            if sidecar.is_some() {
                names::remove_sidecar(&ndir, &ndisk);
            }
            return Err(e);
        }
        if flags & libc::RENAME_EXCHANGE != 0 {
            self.legacy_names.forget(parent);
            self.legacy_names.forget(newparent);
        } else {
            self.legacy_names.removed(parent, &odir, name);
            self.legacy_names.added(newparent, &ndir, newname, &ndisk);
        }
        let mut t = self.inodes.lock();
        let moving = t.find_child(parent, &odisk, key(&om));
        if flags & libc::RENAME_EXCHANGE != 0 {
            let other = target
                .as_ref()
                .and_then(|tm| t.find_child(newparent, &ndisk, key(tm)));
            if let Some(i) = moving {
                t.moved(i, (parent, &odisk), (newparent, &ndisk), newname);
            }
            if let Some(i) = other {
                t.moved(i, (newparent, &ndisk), (parent, &odisk), name);
            }
        } else {
            if let Some(tm) = &target {
                if let Some(i) = t.find_child(newparent, &ndisk, key(tm)) {
                    if Some(i) != moving {
                        t.unlinked(i, newparent, &ndisk, tm.is_dir() || tm.nlink() <= 1);
                    }
                }
            }
            if let Some(i) = moving {
                t.moved(i, (parent, &odisk), (newparent, &ndisk), newname);
            }
            drop(t);
            names::remove_sidecar(&odir, &odisk);
        }
        Ok(())
    }

    /// link
    pub fn link(&self, ino: Ino, newparent: Ino, newname: &OsStr) -> Res<FileAttr> {
        let from = self.path(ino)?;
        let (dir, disk) = self.new_name(newparent, newname)?;
        backing::link(&from, &dir.join(&disk)).inspect_err(|_| {
            names::remove_sidecar_if_unused(&dir, &disk);
        })?;
        self.legacy_names.added(newparent, &dir, newname, &disk);
        self.entry(newparent, &dir, &disk, newname)
    }

    /// open. O_TRUNC never arrives here (no FUSE_ATOMIC_O_TRUNC): the
    /// kernel truncates with a SETATTR after this open succeeds.
    pub fn open(&self, ino: Ino, flags: i32) -> Res<u64> {
        if flags & libc::O_ACCMODE != libc::O_RDONLY {
            self.ro()?;
        }
        let p = self.path(ino);
        let (fh, of) = self
            .handles
            .add_file(ino, flags & libc::O_APPEND != 0, || {
                let f = backing::open_file(&p?, self.opts.read_only)?;
                OpenFile::load(&self.codec, f)
            })?;
        if let Some(why) = of.damage() {
            // A file whose header or size does not verify cannot be read at
            // all; failing the open keeps it from passing as an empty file,
            // and keeps a write from burying the damage. truncate(2) to zero
            // (a SETATTR, no open) starts it afresh.
            self.handles.release_file(fh);
            return Err(self.log_damage(
                ino,
                ContentError::Damaged {
                    chunk: None,
                    what: why,
                },
            ));
        }
        Ok(fh)
    }

    /// read: the verified plaintext is handed to `f`.
    pub fn read(&self, ino: Ino, fh: u64, off: u64, size: u32, f: impl FnOnce(&[u8])) -> Res<()> {
        let h = self.handles.file(fh).ok_or(Errno::EBADF)?;
        h.file
            .read_with(&self.codec, off, size as u64, f)
            .map_err(|e| self.log_damage(ino, e))
    }

    /// write; `kill_privs` is the kernel's FUSE_WRITE_KILL_SUIDGID (a
    /// caller without CAP_FSETID writes to a set-ID file).
    pub fn write(&self, ino: Ino, fh: u64, off: u64, data: &[u8], kill_privs: bool) -> Res<u32> {
        self.ro()?;
        let h = self.handles.file(fh).ok_or(Errno::EBADF)?;
        if kill_privs {
            self.kill_privs(&h.file.file)?;
        }
        let mut rng = self.rng.handle();
        let r = if h.append && !self.opts.writeback {
            h.file
                .write(&self.codec, None, Source::Bytes(data), &mut rng)
                .map(|_| ())
        } else {
            h.file
                .write(&self.codec, Some(off), Source::Bytes(data), &mut rng)
                .map(|_| ())
        };
        r.map_err(|e| self.log_damage(ino, e))?;
        Ok(data.len() as u32)
    }

    /// fsync: the file's chunks and trailer are on disk when this returns.
    pub fn fsync(&self, fh: u64, datasync: bool) -> Res<()> {
        let h = self.handles.file(fh).ok_or(Errno::EBADF)?;
        backing::sync(&h.file.file, datasync)
    }

    /// release
    pub fn release(&self, fh: u64) {
        if let Some((ino, of)) = self.handles.release_file(fh) {
            // Keep the verified size: the next stat needs no trailer read.
            if of.damage().is_none() {
                if let Ok(m) = of.file.metadata() {
                    if let Some(n) = self.inodes.lock().get_mut(ino) {
                        n.size_cache = Some((stamp(&m), of.size()));
                    }
                }
            }
        }
    }

    /// fallocate: mode 0 grows the file with encrypted zeros; KEEP_SIZE
    /// within the file is a no-op (every byte is already allocated); other
    /// modes (punching holes, collapsing ranges) cannot be honoured.
    pub fn fallocate(&self, ino: Ino, fh: u64, off: u64, len: u64, mode: i32) -> Res<()> {
        self.ro()?;
        let h = self.handles.file(fh).ok_or(Errno::EBADF)?;
        let end = off.checked_add(len).ok_or(Errno::EFBIG)?;
        let size = h.file.size();
        match mode {
            0 if end > size => h
                .file
                .grow_to(&self.codec, end, &mut self.rng.handle())
                .map_err(|e| self.log_damage(ino, e)),
            0 => Ok(()),
            libc::FALLOC_FL_KEEP_SIZE if end <= size => Ok(()),
            _ => Err(Errno::EOPNOTSUPP),
        }
    }

    /// opendir: lists and decodes the directory once.
    pub fn opendir(&self, ino: Ino) -> Res<u64> {
        let (dir, iv, is_root) = self.dir(ino)?;
        let mut entries = Vec::new();
        for (disk, t, bino) in backing::list_dir(&dir)? {
            match names::decode(&self.codec, &dir, iv.as_ref(), is_root, &disk) {
                Decoded::Hidden => {}
                Decoded::Bad(why) => {
                    tracing::warn!("{}: hiding entry {:?}: {why}", self.plain_path(ino), disk)
                }
                Decoded::Name(name) => entries.push(DirEntry {
                    name,
                    disk_name: disk,
                    kind: kind_from_std(t),
                    backing_ino: bino,
                }),
            }
        }
        Ok(self.handles.add_dir(DirHandle { ino, entries }))
    }

    /// readdir: entries from `offset` on as (ino, next offset, kind, name).
    pub fn readdir(
        &self,
        ino: Ino,
        fh: u64,
        offset: u64,
    ) -> Res<Vec<(u64, u64, FileType, OsString)>> {
        let d = self.handles.dir(fh).ok_or(Errno::EBADF)?;
        let t = self.inodes.lock();
        let parent = t.get(ino).map(|n| n.parent()).unwrap_or(ROOT);
        let mut out = Vec::new();
        let all: [(u64, &str); 2] = [(ino, "."), (parent, "..")];
        for (i, (n, name)) in all.into_iter().enumerate() {
            if (i as u64) >= offset {
                out.push((n, i as u64 + 1, FileType::Directory, OsString::from(name)));
            }
        }
        for (i, e) in d
            .entries
            .iter()
            .enumerate()
            .skip(offset.saturating_sub(2) as usize)
        {
            let known = t.ino_of((self.root_dev, e.backing_ino));
            out.push((
                known.unwrap_or(e.backing_ino),
                i as u64 + 3,
                e.kind,
                e.name.clone(),
            ));
        }
        Ok(out)
    }

    /// readdirplus: like readdir with each entry's attributes; every entry
    /// passed to `add` counts as a lookup unless `add` reports the reply full
    /// (then that entry is forgotten again and listing stops).
    pub fn readdirplus(
        &self,
        ino: Ino,
        fh: u64,
        offset: u64,
        mut add: impl FnMut(u64, u64, &OsStr, &FileAttr) -> bool,
    ) -> Res<()> {
        let d = self.handles.dir(fh).ok_or(Errno::EBADF)?;
        let (dir, _, _) = self.dir(ino)?;
        if offset == 0 {
            let a = self.getattr(ino, None)?;
            if add(ino, 1, OsStr::new("."), &a) {
                return Ok(());
            }
        }
        if offset <= 1 {
            let parent = self
                .inodes
                .lock()
                .get(ino)
                .map(|n| n.parent())
                .unwrap_or(ROOT);
            let a = self
                .getattr(parent, None)
                .or_else(|_| self.getattr(ino, None))?;
            if add(parent, 2, OsStr::new(".."), &a) {
                return Ok(());
            }
        }
        let rest: Vec<(usize, &DirEntry)> = d
            .entries
            .iter()
            .enumerate()
            .skip(offset.saturating_sub(2) as usize)
            .collect();
        for group in rest.chunks(PREFETCH_ENTRIES) {
            // Gone since opendir: skipped, as readdir of a live directory may.
            let stats: Vec<Option<(PathBuf, Metadata)>> = group
                .iter()
                .map(|(_, e)| {
                    let p = dir.join(&e.disk_name);
                    backing::lstat(&p).ok().map(|m| (p, m))
                })
                .collect();
            self.prefetch_sizes(ino, group, &stats);
            for ((i, e), st) in group.iter().zip(stats) {
                let Some((p, m)) = st else { continue };
                let child = self
                    .inodes
                    .lock()
                    .remember(ino, &e.disk_name, &e.name, key(&m));
                let a = self.attr(child, &p, &m);
                if add(child, *i as u64 + 3, &e.name, &a) {
                    self.forget(child, 1);
                    return Ok(());
                }
            }
        }
        Ok(())
    }

    /// A file's plaintext size is in its trailer (SPEC §9), so listing a
    /// cold directory reads every file's header and trailer, one disk
    /// round trip after another. This starts those reads for a group of
    /// entries at once (posix_fadvise WILLNEED), so they overlap; entries
    /// whose size is cached are skipped. Tmpfs ignores the hint.
    fn prefetch_sizes(
        &self,
        dir_ino: Ino,
        group: &[(usize, &DirEntry)],
        stats: &[Option<(PathBuf, Metadata)>],
    ) {
        let l = *self.codec.layout();
        for ((_, e), st) in group.iter().zip(stats) {
            let Some((p, m)) = st else { continue };
            if !m.is_file() {
                continue;
            }
            let known = self.inodes.lock().find_child(dir_ino, &e.disk_name, key(m));
            if known.and_then(|c| self.cached_size(c, m)).is_none() {
                let tl = l.trailer_len.min(m.len());
                backing::prefetch(p, &[(0, l.header_len), (m.len() - tl, tl)]);
            }
        }
    }

    /// releasedir
    pub fn releasedir(&self, fh: u64) {
        self.handles.release_dir(fh);
    }

    /// fsyncdir
    pub fn fsyncdir(&self, ino: Ino) -> Res<()> {
        backing::sync_dir(&self.path(ino)?)
    }

    /// statfs: blocks scaled to what fits as plaintext.
    pub fn statfs(&self) -> Res<StatFs> {
        let s = backing::statvfs(&self.root)?;
        let cs = self.codec.chunk_size();
        let scale = |b: u64| (b as u128 * cs as u128 / (cs + 48) as u128) as u64;
        Ok(StatFs {
            blocks: scale(s.blocks()),
            bfree: scale(s.blocks_free()),
            bavail: scale(s.blocks_available()),
            files: s.files(),
            ffree: s.files_free(),
            bsize: s.block_size() as u32,
            namelen: 255,
            frsize: s.fragment_size() as u32,
        })
    }

    fn xattr_name(&self, name: &OsStr) -> Res<OsString> {
        if !self.codec.encrypts_xattrs() {
            return Ok(name.to_os_string());
        }
        let s = name.to_str().ok_or(Errno::EOPNOTSUPP)?;
        self.codec
            .encrypt_xattr_name(s)
            .map(OsString::from)
            .map_err(|_| {
                if s.starts_with(fusecry_format::xattr::PLAIN_NAMESPACE) {
                    Errno::ERANGE
                } else {
                    Errno::EOPNOTSUPP
                }
            })
    }

    /// Clears set-user-ID, and set-group-ID where the group may execute:
    /// what the kernel does to a file written or truncated by a caller
    /// without CAP_FSETID, ours to do under FUSE_HANDLE_KILLPRIV_V2 (which
    /// spares a getxattr round trip on every write after a file's first and
    /// a getattr on every chown).
    /// `security.capability` needs nothing here: with encrypted xattrs only
    /// the user namespace can be stored, and a plain one goes with the
    /// backing write or chown, as on any local filesystem.
    fn kill_privs(&self, f: &std::fs::File) -> Res<()> {
        let mode = f.metadata().map_err(backing::errno)?.mode() & 0o7777;
        let mut keep = mode & !libc::S_ISUID;
        if mode & libc::S_IXGRP != 0 {
            keep &= !libc::S_ISGID;
        }
        if keep != mode {
            backing::fchmod(f, keep)?;
        }
        Ok(())
    }

    /// getxattr
    pub fn getxattr(&self, ino: Ino, name: &OsStr) -> Res<Vec<u8>> {
        // The name first: the kernel asks for security.capability before
        // writes and chowns, which encrypted xattrs cannot hold, and that
        // answer needs no path.
        let disk = self.xattr_name(name)?;
        let p = self.path(ino)?;
        let v = backing::get_xattr(&p, &disk)?.ok_or(Errno::from_i32(libc::ENODATA))?;
        self.codec.decrypt_xattr_value(&v).map_err(|e| {
            tracing::error!("{}: xattr {:?}: {e}", self.plain_path(ino), name);
            Errno::EIO
        })
    }

    /// setxattr
    pub fn setxattr(&self, ino: Ino, name: &OsStr, value: &[u8], flags: i32) -> Res<()> {
        self.ro()?;
        let p = self.path(ino)?;
        let disk = self.xattr_name(name)?;
        let v = self
            .codec
            .encrypt_xattr_value(value, &mut self.rng.handle());
        backing::set_xattr(&p, &disk, &v, flags)
    }

    /// listxattr: NUL-terminated plaintext names.
    pub fn listxattr(&self, ino: Ino) -> Res<Vec<u8>> {
        let p = self.path(ino)?;
        let mut out = Vec::new();
        for disk in backing::list_xattr(&p)? {
            let Some(d) = disk.to_str() else { continue };
            match self.codec.decrypt_xattr_name(d) {
                Some(Ok(n)) => {
                    out.extend_from_slice(n.as_bytes());
                    out.push(0);
                }
                Some(Err(e)) => tracing::warn!("{}: hiding xattr: {e}", self.plain_path(ino)),
                None => {}
            }
        }
        Ok(out)
    }

    /// removexattr
    pub fn removexattr(&self, ino: Ino, name: &OsStr) -> Res<()> {
        self.ro()?;
        let p = self.path(ino)?;
        backing::remove_xattr(&p, &self.xattr_name(name)?)
    }

    /// access. With default_permissions the kernel checks permissions
    /// itself and never asks; without it (a mount only root can reach, see
    /// `lib.rs`) this applies the mode bits as the kernel would: root may do
    /// anything but execute a file that no one may execute; anyone else
    /// gets the owner, group or other bits.
    pub fn access(&self, ino: Ino, mask: i32, who: Caller) -> Res<()> {
        let m = backing::lstat(&self.path(ino)?)?;
        let want = (mask & 0o7) as u32;
        let mode = m.mode();
        let ok = if who.uid == 0 {
            want & 0o1 == 0 || m.is_dir() || mode & 0o111 != 0
        } else {
            let bits = if who.uid == m.uid() {
                mode >> 6
            } else if who.gid == m.gid() {
                mode >> 3
            } else {
                mode
            };
            bits & want == want
        };
        if ok {
            Ok(())
        } else {
            Err(Errno::EACCES)
        }
    }
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inode::ROOT;
    use fusecry_format::keys::Key32;
    use fusecry_format::legacy::LegacyKeys;

    /// rmdir drops the removed directory's name index at once (it used to
    /// stay until evicted by newer ones), and the parent's index follows.
    #[test]
    fn rmdir_drops_the_legacy_name_index_of_the_directory() {
        let t = tempfile::tempdir().unwrap();
        let codec = Codec::legacy(LegacyKeys::new(Key32::from_bytes([7; 32])), 64, true);
        let fs = CryptFs::new(codec, t.path(), FsOptions::default()).unwrap();
        let who = Caller { uid: 0, gid: 0 };
        let d = fs.mkdir(ROOT, OsStr::new("d"), 0o755, who).unwrap().ino.0;
        // A lookup in d indexes it.
        assert_eq!(
            fs.lookup(d, OsStr::new("nothing")).unwrap_err(),
            Errno::ENOENT
        );
        assert!(fs.legacy_names.indexed(d));
        fs.rmdir(ROOT, OsStr::new("d")).unwrap();
        assert!(
            !fs.legacy_names.indexed(d),
            "index of the removed directory kept"
        );
        assert_eq!(fs.lookup(ROOT, OsStr::new("d")).unwrap_err(), Errno::ENOENT);
        assert_eq!(std::fs::read_dir(t.path()).unwrap().count(), 0);
    }
}
