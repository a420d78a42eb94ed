//! The filesystem itself: one plain method per FUSE operation, each taking
//! plaintext names and returning `Result<_, Errno>`. It knows nothing of the
//! FUSE wire protocol (that is `adapter.rs`) and reaches the backing
//! directory only through `backing.rs`.

use crate::backing::{self, Dir, Meta, Res, Time};
use crate::content::{self, ContentError, OpenFile, Source};
use crate::handle::{DirEntry, DirHandle, Handles};
use crate::inode::{Ino, InodeTable, Key, ROOT};
use crate::legacy_names::LegacyNames;
use crate::names::{self, Decoded, OpenDir};
use crate::rng::FsRng;
use fusecry_format::name::{DirIv, DIRIV_NAME};
use fusecry_format::xattr::Owner;
use fusecry_format::{Codec, FileId};
use fuser::{Errno, FileAttr, FileType};
use parking_lot::Mutex;
use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

mod acls;
mod failure;
mod links;
mod namelock;

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
    /// Process id (for its supplementary groups; 0 when unknown).
    pub pid: u32,
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
    /// POSIX ACLs (`-o acl`, `acl.rs`): stored encrypted, enforced by the
    /// kernel. Needs encrypted xattrs (fusecry/1 with encrypted names).
    pub acl: bool,
    /// No extended attributes (`-o noxattr`, as gocryptfs `-noxattr`):
    /// every xattr call answers ENOSYS, which the kernel remembers for the
    /// mount (callers then get EOPNOTSUPP), so it stops asking. Before each
    /// write and chown of a file it otherwise asks for `security.capability`:
    /// two requests per file written (README, benchmarks).
    pub noxattr: bool,
    /// Other writers share the ciphertext directory (`-o shared`): the
    /// kernel caches no entries or attributes (60 s otherwise) and gets no
    /// writeback cache (under which it trusts its own sizes and pages, and
    /// would read another writer's file cut to the old size); released
    /// files leave no cached size.
    pub shared: bool,
}

/// The mounted volume.
pub struct CryptFs {
    codec: Codec,
    /// The volume root, held open: every backing call starts from it.
    root: Dir,
    root_dev: u64,
    inodes: Mutex<InodeTable>,
    /// Orders name changes against lookups (`namelock.rs`). Without it a
    /// lookup may stat an entry, an unlink or rename then change it and
    /// update the inode table, and the lookup then record what it saw: the
    /// table keeps a name that leads elsewhere, and its node answers for
    /// whatever is put there next, as the wrong file or as EIO; a getattr
    /// between a rename's backing change and its table update finds the
    /// entry that replaced its file; a lookup finds a directory that mkdir
    /// has not given its IV yet, or that rmdir has taken it from. Lookups,
    /// `checked` and `dir` hold it shared; unlink, rmdir, rename and mkdir
    /// exclusively, from their backing change to their table update.
    names: namelock::NameLock,
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

fn key(m: &Meta) -> Key {
    (m.dev(), m.ino())
}

/// What must not change for a cached plaintext size to stay valid.
fn stamp(m: &Meta) -> (u64, i64, i64) {
    let ((ms, mns), (cs, cns)) = (m.mtime(), m.ctime());
    (m.len(), ms * 1_000_000_000 + mns, cs * 1_000_000_000 + cns)
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
    pub fn new(codec: Codec, root_path: &Path, mut opts: FsOptions) -> std::io::Result<CryptFs> {
        opts.writeback &= !opts.shared;
        let root = Dir::open_root(root_path)
            .map_err(|e| std::io::Error::new(e.kind(), format!("{}: {e}", root_path.display())))?;
        let meta = root
            .stat_self()
            .map_err(|e| std::io::Error::other(format!("{}: {e:?}", root_path.display())))?;
        if opts.acl && opts.noxattr {
            return Err(std::io::Error::other(format!(
                "{}: -o acl and -o noxattr exclude each other (ACLs are stored as xattrs)",
                root_path.display()
            )));
        }
        if opts.acl && !codec.encrypts_xattrs() {
            return Err(std::io::Error::other(format!(
                "{}: -o acl needs a fusecry/1 volume with encrypted names (its ACLs are stored as encrypted xattrs)",
                root_path.display()
            )));
        }
        if codec.uses_diriv() && !root.stat(OsStr::new(DIRIV_NAME)).is_ok_and(|m| m.is_file()) {
            return Err(std::io::Error::other(format!(
                "{}: no {DIRIV_NAME}: not a directory of this volume",
                root_path.display()
            )));
        }
        let mut inodes = InodeTable::new(key(&meta));
        if backing::fs_type(root_path).as_deref() == Some("fuse.rclone") {
            tracing::warn!(
                "{}: on an rclone mount: needs --vfs-cache-mode writes (or minimal, \
                 full), and has no symlinks, hard links, special files, xattrs, \
                 modes or owners (README \"Remote storage: rclone\")",
                root_path.display()
            );
            inodes = inodes.with_names_as_identity();
        }
        Ok(CryptFs {
            rng: FsRng::new(opts.seed),
            codec,
            root_dev: meta.dev(),
            inodes: Mutex::new(inodes),
            names: namelock::NameLock::default(),
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

    /// The backing directory `rel` on the way to `ino`: EIO, logged with
    /// `ino`'s plaintext path, when something that is not a directory
    /// stands where one should (a symlink, a file, a FIFO put there behind
    /// the mount).
    fn open_rel(&self, ino: Ino, rel: &Path) -> Res<Dir> {
        self.root.open_dir(rel).inspect_err(|e| {
            if *e == Errno::EIO {
                tracing::error!(
                    "{}: a backing directory on its path is not a directory: answering EIO",
                    self.plain_path(ino)
                );
            }
        })
    }

    /// The backing entry of `ino`: its parent directory and its on-disk
    /// name (`.` in the root for the root itself).
    fn at(&self, ino: Ino) -> Res<(Dir, OsString)> {
        let rel = self.inodes.lock().rel_path(ino).ok_or(Errno::ENOENT)?;
        match (rel.parent(), rel.file_name()) {
            (Some(parent), Some(name)) => Ok((self.open_rel(ino, parent)?, name.to_os_string())),
            _ => Ok((self.root.clone(), OsString::from("."))),
        }
    }

    /// The backing entry of `ino` with its metadata, checked to be of the
    /// type the kernel knows the inode as: anything else was put at its
    /// name behind the mount (a FIFO, a symlink, a directory where a file
    /// was) and is EIO, so no call on the inode reaches it.
    fn checked(&self, ino: Ino) -> Res<(Dir, OsString, Meta)> {
        // Not between a rename's backing change and its table update, where
        // the name still leads to `ino` in the table but to the entry that
        // replaced it on disk (see `names`).
        let _names = self.names.shared();
        let (dir, name) = self.at(ino)?;
        let m = dir.stat(&name)?;
        let fmt = self.inodes.lock().get(ino).map_or(0, |n| n.fmt);
        if fmt != 0 && m.fmt() != fmt {
            return Err(self.wrong_type(ino, "the backing entry"));
        }
        Ok((dir, name, m))
    }

    /// Records a lookup of entry `disk` (plaintext `plain`, metadata `m`)
    /// of `parent` and returns its inode number.
    fn remember(&self, parent: Ino, disk: &OsStr, plain: &OsStr, m: &Meta) -> Ino {
        let mut t = self.inodes.lock();
        let ino = t.remember(parent, disk, plain, key(m));
        if let Some(n) = t.get_mut(ino) {
            n.fmt = m.fmt();
            if m.is_file() && n.kernel_mtime.is_none() {
                n.kernel_mtime = Some(m.mtime());
            }
        }
        ino
    }

    /// Sets times with `set` (which returns the metadata after) and records
    /// the mtime the kernel now holds, under the table lock so that no
    /// write puts an older one back in between.
    fn set_times(&self, ino: Ino, set: impl FnOnce() -> Res<Meta>) -> Res<Meta> {
        let mut t = self.inodes.lock();
        let m = set()?;
        if let Some(n) = t.get_mut(ino).filter(|_| m.is_file()) {
            n.kernel_mtime = Some(m.mtime());
        }
        Ok(m)
    }

    /// With the writeback cache, puts back on backing file `f` of `ino` the
    /// mtime the kernel shows after a data write changed it: the kernel
    /// keeps its own mtime for a regular file, and sends it by setattr
    /// (which `set_times` stores) when it changed, so what a remount shows
    /// equals what the mount showed.
    fn keep_kernel_mtime(&self, ino: Ino, f: &std::fs::File) -> Res<()> {
        if !self.opts.writeback {
            return Ok(());
        }
        let t = self.inodes.lock();
        match t.get(ino).and_then(|n| n.kernel_mtime) {
            Some((s, ns)) => backing::futimens(f, Time::Omit, Time::At(s, ns)),
            None => Ok(()),
        }
    }

    /// Stats entry `disk` (plaintext `plain`) of `parent` and records it,
    /// under the shared [`CryptFs::names`] lock (see there).
    fn remember_at(&self, parent: Ino, dir: &Dir, disk: &OsStr, plain: &OsStr) -> Res<(Ino, Meta)> {
        let _names = self.names.shared();
        let m = dir.stat(disk)?;
        Ok((self.remember(parent, disk, plain, &m), m))
    }

    /// Logs that the backing entry of `ino` (or `what` in it) is of a type
    /// the volume never makes; the answer is EIO.
    fn wrong_type(&self, ino: Ino, what: &str) -> Errno {
        tracing::error!(
            "{}: {what} is not what the volume stores there (replaced behind the mount?): answering EIO",
            self.plain_path(ino)
        );
        Errno::EIO
    }

    /// Plaintext path of `ino`, for log lines.
    pub fn plain_path(&self, ino: Ino) -> String {
        self.inodes.lock().plain_path(ino)
    }

    /// Directory `ino`, opened with its IV.
    /// The IV of directory `ino`: cached on its node, else read from the
    /// directory `open` gives (called only then) and cached.
    fn iv_of(&self, ino: Ino, open: impl FnOnce() -> Res<Dir>) -> Res<Option<DirIv>> {
        if let Some(iv) = self.inodes.lock().get(ino).and_then(|n| n.diriv) {
            return Ok(Some(iv));
        }
        let iv = names::read_diriv(&self.codec, &open()?).inspect_err(|_| {
            tracing::error!("{}: directory IV missing or damaged", self.plain_path(ino));
        })?;
        if let Some(n) = self.inodes.lock().get_mut(ino) {
            n.diriv = iv;
        }
        Ok(iv)
    }

    fn dir(&self, ino: Ino) -> Res<OpenDir> {
        let _names = self.names.shared();
        let rel = self.inodes.lock().rel_path(ino).ok_or(Errno::ENOENT)?;
        let dir = self.open_rel(ino, &rel)?;
        let iv = self.iv_of(ino, || Ok(dir.clone()))?;
        Ok(OpenDir {
            ino,
            dir,
            iv,
            is_root: ino == ROOT,
        })
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
    fn cached_size(&self, ino: Ino, m: &Meta) -> Option<u64> {
        let (s, size) = self.inodes.lock().get(ino)?.size_cache?;
        (s == stamp(m)).then_some(size)
    }

    /// Plaintext size of a regular file not held open, cached per node.
    fn file_size(&self, ino: Ino, dir: &Dir, name: &OsStr, m: &Meta) -> u64 {
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
        let size = match dir
            .open_file(name, true)
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
            Err(_) => fusecry_format::file::estimate_size(self.codec.layout(), m.len()),
        };
        size
    }

    /// Attributes of entry `name` of `dir` (node `ino`, metadata `m`).
    fn attr(&self, ino: Ino, dir: &Dir, name: &OsStr, m: &Meta) -> FileAttr {
        let size = match m.kind() {
            FileType::RegularFile => match self.handles.open_file(ino) {
                Some(of) => of.size(),
                None => self.file_size(ino, dir, name, m),
            },
            // The target's length follows from the stored one (SPEC §11):
            // no read, and no binding to look up, for a listing.
            FileType::Symlink => self.symlink_size(dir, name, m.len()),
            _ => m.len(),
        };
        self.attr_sized(ino, m, size)
    }

    /// Attributes from metadata `m` with the plaintext size `size`.
    fn attr_sized(&self, ino: Ino, m: &Meta, size: u64) -> FileAttr {
        let t = |(s, ns): (i64, i64)| systime(s, ns);
        FileAttr {
            ino: fuser::INodeNo(ino),
            size,
            blocks: m.blocks(),
            atime: t(m.atime()),
            mtime: t(m.mtime()),
            ctime: t(m.ctime()),
            crtime: t(m.ctime()),
            kind: m.kind(),
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
    fn entry(&self, parent: Ino, dir: &Dir, disk: &OsStr, plain: &OsStr) -> Res<FileAttr> {
        let (ino, m) = self.remember_at(parent, dir, disk, plain)?;
        Ok(self.attr(ino, dir, disk, &m))
    }

    /// New entries belong to the caller (when we can chown, i.e. as root),
    /// with the group of a set-group-ID parent directory.
    fn own(&self, dir: &Dir, name: &OsStr, who: Caller) -> Res<()> {
        if !self.as_root {
            return Ok(());
        }
        let d = dir.stat_self()?;
        let sgid = d.mode() & libc::S_ISGID != 0;
        // We created it as root: it already has uid 0 and either the
        // directory's group (set-group-ID) or ours.
        if who.uid == 0 && (sgid || who.gid == nix::unistd::getegid().as_raw()) {
            return Ok(());
        }
        let gid = if sgid { d.gid() } else { who.gid };
        dir.chown(name, Some(who.uid), Some(gid))
    }

    // ---- FUSE operations ----

    /// lookup
    pub fn lookup(&self, parent: Ino, name: &OsStr) -> Res<FileAttr> {
        let d = self.dir(parent)?;
        let disk = self.find_name(&d, name)?.ok_or(Errno::ENOENT)?;
        self.entry(parent, &d.dir, &disk, name)
    }

    /// forget
    pub fn forget(&self, ino: Ino, n: u64) {
        self.inodes.lock().forget(ino, n);
    }

    /// getattr
    pub fn getattr(&self, ino: Ino, fh: Option<u64>) -> Res<FileAttr> {
        if let Some(h) = fh.and_then(|fh| self.handles.file(fh)) {
            let m = backing::fstat(&h.file.file)?;
            return Ok(self.attr_sized(ino, &m, h.file.size()));
        }
        match self.checked(ino) {
            Ok((dir, name, m)) => Ok(self.attr(ino, &dir, &name, &m)),
            // An unlinked file that is still open.
            Err(e) => match self.handles.open_file(ino) {
                Some(of) => {
                    let m = backing::fstat(&of.file)?;
                    Ok(self.attr_sized(ino, &m, of.size()))
                }
                None => Err(e),
            },
        }
    }

    /// setattr. The size changes last, and once it has changed the request
    /// succeeds: an error would leave the kernel with the old size (for
    /// good under the writeback cache, which trusts its own) while the file
    /// has the new one. Explicit times go after it, or the truncate's
    /// backing write would move the mtime just set.
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
        let p = self.checked(ino);
        let set_times = !matches!((atime, mtime), (Time::Omit, Time::Omit));
        let times_after =
            size.is_some() && [atime, mtime].iter().any(|t| matches!(t, Time::At(..)));
        let (dir, name, m) = match p {
            Ok((dir, name, m)) => {
                self.set_meta(ino, (&dir, &name), mode, uid, gid)?;
                if set_times && !times_after {
                    self.set_times(ino, || {
                        dir.utimens(&name, atime, mtime)?;
                        dir.stat(&name)
                    })?;
                }
                let resized = match size {
                    Some(size) => Some(self.resize(ino, fh, size, &who, || {
                        if m.is_dir() {
                            return Err(Errno::EISDIR);
                        }
                        if !m.is_file() {
                            return Err(Errno::EINVAL);
                        }
                        OpenFile::load(&self.codec, dir.open_file(&name, false)?)
                    })?),
                    None => None,
                };
                if set_times && times_after {
                    self.set_times(ino, || {
                        dir.utimens(&name, atime, mtime)?;
                        dir.stat(&name)
                    })?;
                }
                let m = match (dir.stat(&name), resized) {
                    (Ok(m), _) => m,
                    // Resized already: the attributes come from the file.
                    (Err(_), Some(of)) => backing::fstat(&of.file)?,
                    (Err(e), None) => return Err(e),
                };
                (dir, name, m)
            }
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
                if set_times && !times_after {
                    self.set_times(ino, || {
                        backing::futimens(&of.file, atime, mtime)?;
                        backing::fstat(&of.file)
                    })?;
                }
                if let Some(size) = size {
                    self.resize(ino, fh, size, &who, || Err(e))?;
                }
                if set_times && times_after {
                    self.set_times(ino, || {
                        backing::futimens(&of.file, atime, mtime)?;
                        backing::fstat(&of.file)
                    })?;
                }
                return self.getattr(ino, None);
            }
        };
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
        Ok(self.attr(ino, &dir, &name, &m))
    }

    /// Mode and owner changes of setattr on backing entry `at` of `ino`.
    fn set_meta(
        &self,
        ino: Ino,
        at: (&Dir, &OsStr),
        mode: Option<u32>,
        uid: Option<u32>,
        gid: Option<u32>,
    ) -> Res<()> {
        let (dir, name) = at;
        if let Some(mode) = mode {
            dir.chmod(name, mode)?;
            self.chmod_acl(ino, mode)?;
        }
        if uid.is_some() || gid.is_some() {
            // The backing chown clears set-user-ID and set-group-ID (and a
            // capability) as the kernel would; FUSE_HANDLE_KILLPRIV_V2 leaves
            // that to us.
            dir.chown(name, uid, gid)?;
        }
        Ok(())
    }

    /// The size change of setattr: through the handle `fh` if given, else
    /// through the inode's shared open file (`load` opens it), so that a
    /// change of its id (SPEC §7.1) cannot race its xattrs (§11.1). Returns
    /// the open file.
    fn resize(
        &self,
        ino: Ino,
        fh: Option<u64>,
        size: u64,
        who: &Caller,
        load: impl FnOnce() -> Res<OpenFile>,
    ) -> Res<std::sync::Arc<OpenFile>> {
        let (of, held) = match fh.and_then(|fh| self.handles.file(fh)) {
            Some(h) => (h.file, None),
            None => {
                let (fh, of) = self.handles.add_file(ino, false, load)?;
                (of, Some(fh))
            }
        };
        let done = of.truncate(&self.codec, size, &mut self.rng.handle());
        if let Some(fh) = held {
            self.handles.release_file(fh);
        }
        done.map_err(|e| self.log_damage(ino, e))?;
        if !who.may_keep_privs() {
            self.kill_privs(&of.file, who)?;
        }
        Ok(of)
    }

    /// readlink
    pub fn readlink(&self, ino: Ino) -> Res<Vec<u8>> {
        self.read_target(ino)
    }

    /// The on-disk name of the existing entry `name` of directory `parent`.
    fn find_name(&self, d: &OpenDir, name: &OsStr) -> Res<Option<OsString>> {
        d.find(&self.codec, &self.legacy_names, name)
            .inspect_err(|e| {
                if *e == Errno::EIO {
                    tracing::error!(
                        "{}/{}: its backing entry or long-name sidecar is not what the volume stored: answering EIO",
                        self.plain_path(d.ino).trim_end_matches('/'),
                        name.to_string_lossy()
                    );
                }
            })
    }

    /// Picks the on-disk name of a new entry and writes its sidecar.
    fn new_name(&self, parent: Ino, name: &OsStr) -> Res<(OpenDir, OsString)> {
        self.ro()?;
        let d = self.dir(parent)?;
        if self.codec.profile() == fusecry_format::Profile::Legacy && self.codec.encrypted_names() {
            // Legacy names are randomized: an existing entry is only found by name.
            if self.find_name(&d, name)?.is_some() {
                return Err(Errno::EEXIST);
            }
        }
        let (disk, sidecar) = d.encode_new(&self.codec, name, &mut self.rng.handle())?;
        if let Some(s) = sidecar {
            if d.dir.stat(&disk).is_ok() {
                return Err(Errno::EEXIST);
            }
            d.write_sidecar(&disk, &s)?;
        }
        Ok((d, disk))
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

    /// create: `mode` as the caller asked, cut by its `umask` or by the
    /// directory's default ACL (`acls.rs`).
    pub fn create(
        &self,
        parent: Ino,
        name: &OsStr,
        mode: u32,
        umask: u32,
        flags: i32,
        who: Caller,
    ) -> Res<(FileAttr, u64)> {
        let new = self.new_entry(parent, mode, umask)?;
        let mode = new.mode;
        let (d, disk) = self.new_name(parent, name)?;
        let f = d.dir.create_file(&disk, mode & 0o7777)?;
        let (id, bytes) = self.empty_file_bytes();
        let res = backing::write_at(&f, &bytes, 0)
            .and_then(|_| self.own(&d.dir, &disk, who))
            .and_then(|_| self.store_acls(&d.dir, &disk, Owner::File(&id), &new));
        if let Err(e) = res {
            let _ = d.dir.unlink(&disk);
            return Err(e);
        }
        self.legacy_names.added(parent, &d.dir, name, &disk);
        let mut m = backing::fstat(&f)?;
        if m.mode() & 0o7777 != mode & 0o7777 {
            // The daemon's umask cut the mode, or the chown to the caller
            // cleared set-ID bits: the caller's mode (its umask already
            // applied) is what a local filesystem gives.
            backing::fchmod(&f, mode & 0o7777)?;
            m = backing::fstat(&f)?;
        }
        let ino = self.remember(parent, &disk, name, &m);
        let (fh, _) = self
            .handles
            .add_file(ino, flags & libc::O_APPEND != 0, || {
                Ok::<_, Errno>(OpenFile::new(f, content::FileState::new(id, 0, None)))
            })?;
        Ok((self.attr_sized(ino, &m, 0), fh))
    }

    /// mknod (regular files, FIFOs, sockets, device nodes)
    pub fn mknod(
        &self,
        parent: Ino,
        name: &OsStr,
        mode: u32,
        umask: u32,
        rdev: u32,
        who: Caller,
    ) -> Res<FileAttr> {
        if mode & libc::S_IFMT == libc::S_IFREG || mode & libc::S_IFMT == 0 {
            let (attr, fh) = self.create(parent, name, mode, umask, 0, who)?;
            self.handles.release_file(fh);
            return Ok(attr);
        }
        let mode = self.new_entry(parent, mode, umask)?.mode;
        let (d, disk) = self.new_name(parent, name)?;
        d.dir.mknod(&disk, mode, rdev as u64).inspect_err(|&e| {
            // rclone's mount (1.60) makes a FIFO or socket as an empty
            // regular file, then the kernel refuses the wrong type (EIO):
            // left there, it would list as a file with a bad header. The
            // kernel holds the parent locked for this mknod and the name
            // was free (else EEXIST), so an empty regular file there now is
            // what the failed call left. On other filesystems a failed
            // mknodat leaves nothing and this finds nothing.
            if e != Errno::EEXIST && d.dir.stat(&disk).is_ok_and(|m| m.is_file() && m.is_empty()) {
                let _ = d.dir.unlink(&disk);
            }
        })?;
        self.legacy_names.added(parent, &d.dir, name, &disk);
        self.own(&d.dir, &disk, who)?;
        // After the chown, which clears set-ID bits, and past the daemon's
        // umask, as in `create`.
        d.dir.chmod(&disk, mode & 0o7777)?;
        self.entry(parent, &d.dir, &disk, name)
    }

    /// mkdir
    pub fn mkdir(
        &self,
        parent: Ino,
        name: &OsStr,
        mode: u32,
        umask: u32,
        who: Caller,
    ) -> Res<FileAttr> {
        let new = self.new_entry(parent, libc::S_IFDIR | (mode & 0o7777), umask)?;
        let mode = new.mode;
        let (d, disk) = self.new_name(parent, name)?;
        // Made private first so the directory IV can be written even when
        // the requested mode forbids writing, then given its real mode.
        // Before the mkdir: a failure after it must go through the cleanup
        // below, or a directory without its IV stays behind.
        let sgid = d.dir.stat_self()?.mode() & libc::S_ISGID;
        // No lookup sees the directory before it has its IV.
        let names = self.names.exclusive();
        d.dir.mkdir(&disk, 0o700)?;
        let child = d.dir.child_dir(&disk);
        let done = child
            .as_ref()
            .map_err(|e| *e)
            .and_then(|c| names::write_diriv(&self.codec, c, &mut self.rng.handle()))
            .and_then(|iv| match (iv, new.has_acls()) {
                (Some(iv), true) => self.store_acls(&d.dir, &disk, Owner::Dir(&iv), &new),
                _ => Ok(()),
            })
            .and_then(|_| d.dir.chmod(&disk, (mode & 0o7777) | sgid))
            .and_then(|_| self.own(&d.dir, &disk, who));
        if let Err(e) = done {
            if let Ok(c) = &child {
                let _ = c.unlink(OsStr::new(DIRIV_NAME));
            }
            let _ = d.dir.rmdir(&disk);
            return Err(e);
        }
        drop(names);
        self.legacy_names.added(parent, &d.dir, name, &disk);
        self.entry(parent, &d.dir, &disk, name)
    }

    /// The existing entry `name` of `parent`: directory path, on-disk name, metadata.
    fn existing(&self, parent: Ino, name: &OsStr) -> Res<(OpenDir, OsString, Meta)> {
        let d = self.dir(parent)?;
        let disk = self.find_name(&d, name)?.ok_or(Errno::ENOENT)?;
        let m = d.dir.stat(&disk)?;
        Ok((d, disk, m))
    }

    /// Returns our inode number of the entry, if it had one.
    fn gone(&self, parent: Ino, disk: &OsStr, m: &Meta) -> Option<Ino> {
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
        let (d, disk, m) = self.existing(parent, name)?;
        if m.is_dir() {
            return Err(Errno::EISDIR);
        }
        let _names = self.names.exclusive();
        let side = m
            .is_symlink()
            .then(|| self.target_sidecar(&d.dir, &disk))
            .flatten();
        d.dir.unlink(&disk)?;
        Self::drop_target(&d.dir, side);
        self.legacy_names.removed(parent, &d.dir, name);
        self.gone(parent, &disk, &m);
        Ok(())
    }

    /// rmdir
    pub fn rmdir(&self, parent: Ino, name: &OsStr) -> Res<()> {
        self.ro()?;
        let (d, disk, m) = self.existing(parent, name)?;
        if !m.is_dir() {
            return Err(Errno::ENOTDIR);
        }
        let names = self.names.exclusive();
        if self.codec.uses_diriv() {
            let child = d.dir.child_dir(&disk)?;
            names::clear_for_removal(&child)?;
            let iv = OsStr::new(DIRIV_NAME);
            // Kept to be put back if the rmdir fails: without it the
            // directory would lose its IV, and every name in it.
            let saved = child.read_small(iv).ok();
            if saved.is_none() && child.stat(iv).is_ok() {
                return Err(Errno::EIO);
            }
            let _ = child.unlink(iv);
            if let Err(e) = d.dir.rmdir(&disk) {
                // Someone created an entry meanwhile: put the IV back.
                if let Some(b) = saved {
                    let _ = child.write_small(iv, &b, 0o444);
                }
                return Err(e);
            }
        } else {
            d.dir.rmdir(&disk)?;
        }
        self.legacy_names.removed(parent, &d.dir, name);
        if let Some(ino) = self.gone(parent, &disk, &m) {
            // The removed directory's own index goes with it, not at eviction.
            self.legacy_names.forget(ino);
        }
        drop(names);
        Ok(())
    }

    /// symlink
    pub fn symlink(&self, parent: Ino, name: &OsStr, target: &OsStr, who: Caller) -> Res<FileAttr> {
        self.ro()?;
        let stored = self.store_target(parent, name, target.as_bytes())?;
        let (d, disk) = self.new_name(parent, name)?;
        d.dir.symlink(&stored, &disk).inspect_err(|_| {
            let side = fusecry_format::long_target::sidecar_of(&stored);
            Self::drop_target(&d.dir, side.map(OsString::from));
        })?;
        self.legacy_names.added(parent, &d.dir, name, &disk);
        self.own(&d.dir, &disk, who)?;
        self.entry(parent, &d.dir, &disk, name)
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
        // From the first look at the two names (a target directory loses
        // its IV before the rename) to the table update.
        let names = self.names.exclusive();
        let (od, odisk, om) = self.existing(parent, name)?;
        let nd = self.dir(newparent)?;
        let existing = self.find_name(&nd, newname)?;
        let (ndisk, sidecar) = match existing.clone().filter(|d| nd.dir.stat(d).is_ok()) {
            Some(d) => (d, None),
            None => nd.encode_new(&self.codec, newname, &mut self.rng.handle())?,
        };
        if parent == newparent && odisk == ndisk {
            return Ok(());
        }
        let target = nd.dir.stat(&ndisk).ok();
        if flags & libc::RENAME_EXCHANGE != 0 && target.is_none() {
            return Err(Errno::ENOENT);
        }
        // Long-target sidecars of the symlinks this rename may replace.
        let side_a = om
            .is_symlink()
            .then(|| self.target_sidecar(&od.dir, &odisk))
            .flatten();
        let side_b = target
            .as_ref()
            .filter(|t| t.is_symlink())
            .and_then(|_| self.target_sidecar(&nd.dir, &ndisk));
        if let Some(s) = &sidecar {
            nd.write_sidecar(&ndisk, s)?;
        }
        let mut replaced_iv = None;
        if let Some(t) = &target {
            if flags & libc::RENAME_EXCHANGE == 0 && t.is_dir() && self.codec.uses_diriv() {
                // The kernel sees an empty directory; the backing one holds its IV.
                if !om.is_dir() {
                    return Err(Errno::EISDIR);
                }
                let child = nd.dir.child_dir(&ndisk)?;
                names::clear_for_removal(&child)?;
                let iv = OsStr::new(DIRIV_NAME);
                // Put back if the rename fails, or the directory loses its names.
                replaced_iv = Some((child.clone(), child.read_small(iv)?));
                child.unlink(iv)?;
            }
        }
        let rebinds = self.rename_rebinds(&om, target.as_ref(), flags);
        let renamed = if rebinds {
            // A symlink's target is bound to its directory and name (SPEC §11).
            let a = links::Side {
                parent,
                plain: name,
                dir: &od.dir,
                disk: &odisk,
                meta: Some(&om),
            };
            let b = links::Side {
                parent: newparent,
                plain: newname,
                dir: &nd.dir,
                disk: &ndisk,
                meta: target.as_ref(),
            };
            self.rename_rebinding(&a, &b, flags)
        } else {
            od.dir
                .rename(&odisk, &nd.dir, &ndisk, flags)
                .map(|()| (None, None))
        };
        let (to_key, from_key) = match renamed {
            Ok(k) => k,
            Err(e) => {
                if let Some((child, b)) = replaced_iv {
                    let _ = child.write_small(OsStr::new(DIRIV_NAME), &b, 0o444);
                }
                return Err(e);
            }
        };
        // A symlink written anew leaves its old form, and a replaced
        // destination goes; an exchange as-is keeps both (SPEC §11.2).
        if rebinds {
            Self::drop_target(&od.dir, side_a);
        }
        if rebinds || flags & libc::RENAME_EXCHANGE == 0 {
            Self::drop_target(&nd.dir, side_b);
        }
        if flags & libc::RENAME_EXCHANGE != 0 {
            self.legacy_names.forget(parent);
            self.legacy_names.forget(newparent);
        } else {
            self.legacy_names.removed(parent, &od.dir, name);
            self.legacy_names.added(newparent, &nd.dir, newname, &ndisk);
        }
        let mut t = self.inodes.lock();
        let moving = t.find_child(parent, &odisk, key(&om));
        if flags & libc::RENAME_EXCHANGE != 0 {
            let other = target
                .as_ref()
                .and_then(|tm| t.find_child(newparent, &ndisk, key(tm)));
            if let Some(i) = moving {
                t.moved(i, (parent, &odisk), (newparent, &ndisk), newname);
                if let Some(k) = to_key {
                    t.rekeyed(i, k);
                }
            }
            if let Some(i) = other {
                t.moved(i, (newparent, &ndisk), (parent, &odisk), name);
                if let Some(k) = from_key {
                    t.rekeyed(i, k);
                }
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
                if let Some(k) = to_key {
                    t.rekeyed(i, k);
                }
            }
            drop(t);
        }
        drop(names);
        Ok(())
    }

    /// link (of a symlink where targets are bound to names: a new symlink)
    pub fn link(&self, ino: Ino, newparent: Ino, newname: &OsStr) -> Res<FileAttr> {
        let (fdir, fname, m) = self.checked(ino)?;
        if self.codec.binds_symlinks() && m.is_symlink() {
            return self.link_symlink(ino, &m, newparent, newname);
        }
        let (d, disk) = self.new_name(newparent, newname)?;
        fdir.link(&fname, &d.dir, &disk)?;
        self.legacy_names.added(newparent, &d.dir, newname, &disk);
        self.entry(newparent, &d.dir, &disk, newname)
    }

    /// open. O_TRUNC never arrives here (no FUSE_ATOMIC_O_TRUNC): the
    /// kernel truncates with a SETATTR after this open succeeds.
    pub fn open(&self, ino: Ino, flags: i32) -> Res<u64> {
        if flags & libc::O_ACCMODE != libc::O_RDONLY {
            self.ro()?;
        }
        let (fh, of) = self
            .handles
            .add_file(ino, flags & libc::O_APPEND != 0, || {
                let (dir, name, _) = self.checked(ino)?;
                let f = dir
                    .open_file(&name, self.opts.read_only)
                    .map_err(|e| match e {
                        Errno::EIO => self.wrong_type(ino, "the backing file"),
                        e => e,
                    })?;
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

    /// write; `kill_privs` is the writer when the kernel sent
    /// FUSE_WRITE_KILL_SUIDGID (a caller without CAP_FSETID writes to a
    /// set-ID file).
    pub fn write(
        &self,
        ino: Ino,
        fh: u64,
        off: u64,
        data: &[u8],
        kill_privs: Option<Caller>,
    ) -> Res<u32> {
        self.ro()?;
        let h = self.handles.file(fh).ok_or(Errno::EBADF)?;
        // As a local filesystem: nothing at or past the largest size, and a
        // write that crosses it is cut short there (SPEC §7.4).
        let max = self.codec.layout().max_size();
        if off >= max {
            return Err(Errno::EFBIG);
        }
        let data = &data[..data.len().min((max - off).try_into().unwrap_or(usize::MAX))];
        if let Some(who) = kill_privs {
            self.kill_privs(&h.file.file, &who)?;
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
        self.keep_kernel_mtime(ino, &h.file.file)?;
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
            // Not where another writer may have changed the file while it
            // was open (the size known here would then be cached under the
            // other writer's stamp), nor when the stored length says so.
            if of.damage().is_none() && !self.opts.shared {
                if let Ok(m) = backing::fstat(&of.file) {
                    if self.codec.layout().stored_size(of.size()) == m.len() {
                        if let Some(n) = self.inodes.lock().get_mut(ino) {
                            n.size_cache = Some((stamp(&m), of.size()));
                        }
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
        crate::space::check_size(self.codec.layout(), end)?;
        let size = h.file.size();
        match mode {
            0 if end > size => {
                h.file
                    .grow_to(&self.codec, end, &mut self.rng.handle())
                    .map_err(|e| self.log_damage(ino, e))?;
                self.keep_kernel_mtime(ino, &h.file.file)
            }
            0 => Ok(()),
            libc::FALLOC_FL_KEEP_SIZE if end <= size => Ok(()),
            _ => Err(Errno::EOPNOTSUPP),
        }
    }

    /// opendir: lists and decodes the directory once.
    pub fn opendir(&self, ino: Ino) -> Res<u64> {
        let d = self.dir(ino)?;
        let mut entries = Vec::new();
        let listing = d.dir.list()?;
        // Swept at the first READDIR, which the kernel does not run
        // alongside a create in this directory (names::sweep_orphans).
        let orphans = if d.iv.is_some() && self.ro().is_ok() {
            names::orphan_sidecars(listing.iter().map(|(n, _, _)| n.as_os_str()))
        } else {
            Vec::new()
        };
        for (disk, t, bino) in listing {
            match d.decode(&self.codec, &disk) {
                Decoded::Hidden => {}
                // Unlinked (with its sidecar) since the listing: not damage.
                Decoded::Bad(_) if d.dir.stat(&disk).is_err_and(|e| e == Errno::ENOENT) => {}
                Decoded::Bad(why) => {
                    tracing::warn!("{}: hiding entry {:?}: {why}", self.plain_path(ino), disk)
                }
                Decoded::Name(n) => entries.push(DirEntry {
                    name: n.name,
                    disk_name: disk,
                    kind: t.unwrap_or(FileType::RegularFile),
                    backing_ino: bino,
                }),
            }
        }
        Ok(self.handles.add_dir(DirHandle {
            ino,
            entries,
            orphans: parking_lot::Mutex::new(orphans),
        }))
    }

    /// Removes the orphan sidecars `opendir` found, at the first READDIR of
    /// the handle: the kernel runs no create in the directory meanwhile.
    fn sweep_orphans(&self, ino: Ino, d: &DirHandle) {
        let orphans = std::mem::take(&mut *d.orphans.lock());
        if !orphans.is_empty() {
            if let Ok(dir) = self.dir(ino) {
                names::sweep_orphans(&dir.dir, &orphans, names::ORPHAN_AGE);
            }
        }
    }

    /// readdir: entries from `offset` on as (ino, next offset, kind, name).
    pub fn readdir(
        &self,
        ino: Ino,
        fh: u64,
        offset: u64,
    ) -> Res<Vec<(u64, u64, FileType, OsString)>> {
        let d = self.handles.dir(fh).ok_or(Errno::EBADF)?;
        self.sweep_orphans(ino, &d);
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
        self.sweep_orphans(ino, &d);
        let dir = self.dir(ino)?.dir;
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
            // Stat and record under the names lock (see `names`), but not
            // the attributes: they take the handle table's lock, which an
            // open holds while it resolves its name.
            let seen: Vec<(usize, &DirEntry, Ino, Meta)> = {
                let _names = self.names.shared();
                group
                    .iter()
                    .filter_map(|&(i, e)| {
                        let m = dir.stat(&e.disk_name).ok()?;
                        Some((i, e, self.remember(ino, &e.disk_name, &e.name, &m), m))
                    })
                    .collect()
            };
            let stats: Vec<Option<Meta>> = seen.iter().map(|s| Some(s.3)).collect();
            let kept: Vec<(usize, &DirEntry)> = seen.iter().map(|s| (s.0, s.1)).collect();
            self.prefetch_sizes(ino, &dir, &kept, &stats);
            for (k, (i, e, child, m)) in seen.iter().enumerate() {
                let a = self.attr(*child, &dir, &e.disk_name, m);
                if add(*child, *i as u64 + 3, &e.name, &a) {
                    // Not passed on: these lookups were never counted.
                    for s in &seen[k..] {
                        self.forget(s.2, 1);
                    }
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
        dir: &Dir,
        group: &[(usize, &DirEntry)],
        stats: &[Option<Meta>],
    ) {
        let l = *self.codec.layout();
        for ((_, e), st) in group.iter().zip(stats) {
            let Some(m) = st else { continue };
            if !m.is_file() {
                continue;
            }
            let known = self.inodes.lock().find_child(dir_ino, &e.disk_name, key(m));
            if known.and_then(|c| self.cached_size(c, m)).is_none() {
                let tl = l.trailer_len.min(m.len());
                dir.prefetch(&e.disk_name, &[(0, l.header_len), (m.len() - tl, tl)]);
            }
        }
    }

    /// releasedir
    pub fn releasedir(&self, fh: u64) {
        self.handles.release_dir(fh);
    }

    /// fsyncdir
    pub fn fsyncdir(&self, ino: Ino) -> Res<()> {
        let rel = self.inodes.lock().rel_path(ino).ok_or(Errno::ENOENT)?;
        self.open_rel(ino, &rel)?.sync()
    }

    /// statfs: blocks scaled to what fits as plaintext.
    pub fn statfs(&self) -> Res<StatFs> {
        let s = self.root.statvfs()?;
        let cs = self.codec.chunk_size();
        let scale = |b: u64| (b as u128 * cs as u128 / (cs + 48) as u128) as u64;
        Ok(StatFs {
            blocks: scale(s.f_blocks),
            bfree: scale(s.f_bfree),
            bavail: scale(s.f_bavail),
            files: s.f_files,
            ffree: s.f_ffree,
            bsize: s.f_bsize as u32,
            namelen: 255,
            frsize: s.f_frsize as u32,
        })
    }

    fn xattr_name(&self, name: &OsStr) -> Res<OsString> {
        if !self.opts.acl && name.to_str().is_some_and(crate::acl::is_acl) {
            // Without -o acl the kernel would not enforce them.
            return Err(Errno::EOPNOTSUPP);
        }
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

    /// Clears the set-ID bits a write or truncate by `who` (without
    /// CAP_FSETID) clears (`privs.rs`), ours to do under
    /// FUSE_HANDLE_KILLPRIV_V2 (which spares a getxattr round trip on every
    /// write after a file's first and a getattr on every chown).
    /// `security.capability` needs nothing here: with encrypted xattrs only
    /// the user namespace can be stored, and a plain one goes with the
    /// backing write or chown, as on any local filesystem.
    fn kill_privs(&self, f: &std::fs::File, who: &Caller) -> Res<()> {
        let m = backing::fstat(f)?;
        let keep = crate::privs::after_write(m.mode(), m.gid(), who);
        if keep != m.mode() & 0o7777 {
            backing::fchmod(f, keep)?;
        }
        Ok(())
    }

    /// Runs `f` with what the xattr values of `ino` (backing entry `at`) are
    /// bound to (SPEC §11.1): a directory's IV, or a regular file's id,
    /// which cannot change while `f` runs. Other entries hold no user.*
    /// attributes on Linux: `other`.
    fn with_xattr_owner<R>(
        &self,
        ino: Ino,
        at: (&Dir, &OsStr, &Meta),
        other: Errno,
        f: impl FnOnce(Owner<'_>) -> Res<R>,
    ) -> Res<R> {
        let (dir, name, m) = at;
        if m.is_dir() {
            // The entry was just checked: its own IV needs no second walk
            // from the root, and none at all when cached.
            let iv = self.iv_of(ino, || dir.child_dir(name))?;
            return f(Owner::Dir(&iv.ok_or(Errno::EIO)?));
        }
        if !m.is_file() {
            return Err(other);
        }
        let (fh, of) = self.handles.add_file(ino, false, || {
            OpenFile::load(&self.codec, dir.open_file(name, self.opts.read_only)?)
        })?;
        let res = of.with_id(|id| f(Owner::File(id)));
        self.handles.release_file(fh);
        res.map_err(|e| self.log_damage(ino, e))?
    }

    /// ENOSYS for every xattr call under `-o noxattr` (see FsOptions).
    fn xattrs_on(&self) -> Res<()> {
        if self.opts.noxattr {
            Err(Errno::ENOSYS)
        } else {
            Ok(())
        }
    }

    /// getxattr
    pub fn getxattr(&self, ino: Ino, name: &OsStr) -> Res<Vec<u8>> {
        self.xattrs_on()?;
        // The name first: the kernel asks for security.capability before
        // writes and chowns, which encrypted xattrs cannot hold, and that
        // answer needs no path.
        let disk = self.xattr_name(name)?;
        let (dir, entry, m) = self.checked(ino)?;
        let get = || {
            dir.get_xattr(&entry, &disk)?
                .ok_or(Errno::from_i32(libc::ENODATA))
        };
        if !self.codec.encrypts_xattrs() {
            return get();
        }
        let plain = name.to_str().ok_or(Errno::EOPNOTSUPP)?;
        let other = Errno::from_i32(libc::ENODATA);
        self.with_xattr_owner(ino, (&dir, &entry, &m), other, |owner| {
            self.codec
                .decrypt_xattr_value(owner, plain, &get()?)
                .map_err(|e| {
                    tracing::error!(
                        "{}: xattr {plain:?}: {e}: answering EIO",
                        self.plain_path(ino)
                    );
                    Errno::EIO
                })
        })
    }

    /// setxattr (an ACL through `acls.rs`)
    pub fn setxattr(
        &self,
        ino: Ino,
        name: &OsStr,
        value: &[u8],
        flags: i32,
        who: Caller,
    ) -> Res<()> {
        self.xattrs_on()?;
        self.ro()?;
        let disk = self.xattr_name(name)?;
        if !self.codec.encrypts_xattrs() {
            let (dir, entry, _) = self.checked(ino)?;
            return dir.set_xattr(&entry, &disk, value, flags);
        }
        let plain = name.to_str().ok_or(Errno::EOPNOTSUPP)?;
        if self.set_acl(ino, plain, value, flags, who)? {
            return Ok(());
        }
        self.store_xattr(ino, plain, value, flags)
    }

    /// Stores `value` as attribute `plain` of `ino`, encrypted and bound
    /// to its owner (SPEC §11.1).
    fn store_xattr(&self, ino: Ino, plain: &str, value: &[u8], flags: i32) -> Res<()> {
        let (dir, entry, m) = self.checked(ino)?;
        let disk = self.xattr_name(OsStr::new(plain))?;
        self.with_xattr_owner(ino, (&dir, &entry, &m), Errno::EPERM, |owner| {
            let v = self
                .codec
                .encrypt_xattr_value(owner, plain, value, &mut self.rng.handle());
            dir.set_xattr(&entry, &disk, &v, flags)
        })
    }

    /// listxattr: NUL-terminated plaintext names.
    pub fn listxattr(&self, ino: Ino) -> Res<Vec<u8>> {
        self.xattrs_on()?;
        let (dir, entry, _) = self.checked(ino)?;
        let mut out = Vec::new();
        for disk in dir.list_xattr(&entry)? {
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
        self.xattrs_on()?;
        self.ro()?;
        let (dir, entry, _) = self.checked(ino)?;
        dir.remove_xattr(&entry, &self.xattr_name(name)?)
    }

    /// access. With default_permissions the kernel checks permissions
    /// itself and never asks; without it (a mount only root can reach, see
    /// `lib.rs`) this applies the mode bits as the kernel would: root may do
    /// anything but execute a file that no one may execute; anyone else
    /// gets the owner, group or other bits.
    pub fn access(&self, ino: Ino, mask: i32, who: Caller) -> Res<()> {
        let (_, _, m) = self.checked(ino)?;
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
        let who = Caller {
            uid: 0,
            gid: 0,
            pid: 0,
        };
        let d = fs
            .mkdir(ROOT, OsStr::new("d"), 0o755, 0, who)
            .unwrap()
            .ino
            .0;
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
