//! Every call into the backing (ciphertext) directory lives here, so the
//! rest of the mount never touches the host filesystem directly and a
//! reader can audit exactly what we do to it.
//!
//! The backing directory belongs to whoever stores the ciphertext (SPEC §14),
//! who may swap any entry for a symlink, a FIFO or a socket at any moment.
//! So nothing here takes a path: the volume root is held open for the life of
//! the mount, every directory is reached from it with `openat2(RESOLVE_BENEATH
//! | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS)` (or one `openat(O_NOFOLLOW)`
//! per component where the kernel has no openat2), and every entry is then
//! named relative to its directory's descriptor by a `*at` call that does not
//! follow a symlink. Opens are `O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC` and check
//! the type with `fstat` before use; metadata files are read with a bound.
//! Something of the wrong type where the volume expects a directory, a
//! regular file, an IV or a sidecar is [`Errno::EIO`] for that entry: the
//! mount can never be led to read, write, create, delete or block outside
//! the volume.

use fuser::{Errno, FileType};
use rustix::fs::{AtFlags, Mode, OFlags, ResolveFlags, Stat};
use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::FileExt;
use std::path::{Component, Path};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// Result of a backing call, already mapped to the errno we answer with.
pub type Res<T> = Result<T, Errno>;

/// Maps an I/O error to its errno (EIO when the error carries none).
pub fn errno(e: io::Error) -> Errno {
    Errno::from_i32(e.raw_os_error().unwrap_or(libc::EIO))
}

fn rx(e: rustix::io::Errno) -> Errno {
    Errno::from_i32(e.raw_os_error())
}

/// Errors that mean "something of another type is where the volume expects
/// a directory": a symlink (ELOOP under RESOLVE_NO_SYMLINKS or O_NOFOLLOW),
/// a file (ENOTDIR), an escape attempt (EXDEV under RESOLVE_BENEATH). The
/// volume never makes these itself, so they are damage: EIO.
fn dir_errno(e: rustix::io::Errno) -> Errno {
    use rustix::io::Errno as E;
    match e {
        E::LOOP | E::NOTDIR | E::XDEV | E::MLINK => Errno::EIO,
        e => rx(e),
    }
}

/// Longest directory IV, sidecar or other metadata file we read: the
/// longest is the sidecar of a 4095-byte symlink target (SPEC §11.2, 6604
/// characters); a long name's is 434 (§10).
pub const SMALL_MAX: usize = 8192;

/// File metadata from `fstat`/`fstatat`, with the accessors the mount uses.
#[derive(Clone, Copy, Debug)]
pub struct Meta(Stat);

#[allow(missing_docs)]
impl Meta {
    /// The file type bits (`st_mode & S_IFMT`).
    pub fn fmt(&self) -> u32 {
        self.0.st_mode & libc::S_IFMT
    }
    pub fn is_dir(&self) -> bool {
        self.fmt() == libc::S_IFDIR
    }
    pub fn is_file(&self) -> bool {
        self.fmt() == libc::S_IFREG
    }
    pub fn is_symlink(&self) -> bool {
        self.fmt() == libc::S_IFLNK
    }
    /// The entry's type as FUSE reports it.
    pub fn kind(&self) -> FileType {
        match self.fmt() {
            libc::S_IFDIR => FileType::Directory,
            libc::S_IFLNK => FileType::Symlink,
            libc::S_IFIFO => FileType::NamedPipe,
            libc::S_IFSOCK => FileType::Socket,
            libc::S_IFCHR => FileType::CharDevice,
            libc::S_IFBLK => FileType::BlockDevice,
            _ => FileType::RegularFile,
        }
    }
    pub fn len(&self) -> u64 {
        self.0.st_size as u64
    }
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
    pub fn mode(&self) -> u32 {
        self.0.st_mode
    }
    pub fn uid(&self) -> u32 {
        self.0.st_uid
    }
    pub fn gid(&self) -> u32 {
        self.0.st_gid
    }
    pub fn nlink(&self) -> u64 {
        self.0.st_nlink
    }
    pub fn dev(&self) -> u64 {
        self.0.st_dev
    }
    pub fn ino(&self) -> u64 {
        self.0.st_ino
    }
    pub fn rdev(&self) -> u64 {
        self.0.st_rdev
    }
    pub fn blocks(&self) -> u64 {
        self.0.st_blocks as u64
    }
    pub fn atime(&self) -> (i64, i64) {
        (self.0.st_atime, self.0.st_atime_nsec as i64)
    }
    pub fn mtime(&self) -> (i64, i64) {
        (self.0.st_mtime, self.0.st_mtime_nsec as i64)
    }
    pub fn ctime(&self) -> (i64, i64) {
        (self.0.st_ctime, self.0.st_ctime_nsec as i64)
    }
}

/// `fstat` of an open file or directory.
pub fn fstat(f: impl AsFd) -> Res<Meta> {
    crate::fault::check("fstat")?;
    rustix::fs::fstat(f).map(Meta).map_err(rx)
}

/// Whether openat2 answered ENOSYS once: then every later resolution goes
/// one component at a time.
static NO_OPENAT2: AtomicBool = AtomicBool::new(false);

/// Flags of every descriptor we hold on a directory: `O_PATH` needs no read
/// permission (a daemon of an ordinary user reaches a 0300 directory as a
/// path lookup would) and opens nothing.
fn dir_flags() -> OFlags {
    OFlags::PATH | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC
}

/// An open backing directory: an `O_PATH` descriptor that every call on its
/// entries is relative to. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Dir {
    fd: Arc<OwnedFd>,
}

impl AsFd for Dir {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

/// Checks that `name` is one component we may hand to a `*at` call: our
/// on-disk names are never empty and never hold a `/`. `.` names the
/// directory itself (the volume root as an entry).
fn one(name: &OsStr) -> Res<&OsStr> {
    if name.is_empty() || name.as_bytes().contains(&b'/') || name == ".." {
        return Err(Errno::EINVAL);
    }
    Ok(name)
}

impl Dir {
    /// The volume root: opened once, by the path the user gave (which may
    /// itself be a symlink: the user's own choice, not the storage's).
    pub fn open_root(path: &Path) -> io::Result<Dir> {
        let fd = rustix::fs::open(
            path,
            OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )?;
        Ok(Dir { fd: Arc::new(fd) })
    }

    /// The directory at `rel` (on-disk names, no `..`) beneath this one,
    /// never following a symlink on the way.
    pub fn open_dir(&self, rel: &Path) -> Res<Dir> {
        crate::fault::check("open_dir")?;
        let comps: Vec<&OsStr> = rel
            .components()
            .map(|c| match c {
                Component::Normal(n) => Ok(n),
                _ => Err(Errno::EINVAL),
            })
            .collect::<Res<_>>()?;
        if comps.is_empty() {
            return Ok(self.clone());
        }
        if !NO_OPENAT2.load(Ordering::Relaxed) {
            match self.open_beneath(&comps) {
                Err(e) if e == Errno::ENOSYS => NO_OPENAT2.store(true, Ordering::Relaxed),
                r => return r,
            }
        }
        let mut d = self.clone();
        for c in comps {
            d = d.child_dir(c)?;
        }
        Ok(d)
    }

    /// openat2 over as many components as fit in one call (PATH_MAX).
    fn open_beneath(&self, comps: &[&OsStr]) -> Res<Dir> {
        const ONE_CALL: usize = 4000;
        let resolve =
            ResolveFlags::BENEATH | ResolveFlags::NO_SYMLINKS | ResolveFlags::NO_MAGICLINKS;
        let mut d = self.clone();
        let mut rest = comps;
        while !rest.is_empty() {
            let mut path = Vec::new();
            let mut used = 0;
            for c in rest {
                if !path.is_empty() && path.len() + 1 + c.len() > ONE_CALL {
                    break;
                }
                if !path.is_empty() {
                    path.push(b'/');
                }
                path.extend_from_slice(c.as_bytes());
                used += 1;
            }
            let fd = rustix::fs::openat2(
                &d,
                OsStr::from_bytes(&path),
                dir_flags(),
                Mode::empty(),
                resolve,
            )
            .map_err(|e| match e {
                rustix::io::Errno::NOSYS => Errno::ENOSYS,
                e => dir_errno(e),
            })?;
            d = Dir { fd: Arc::new(fd) };
            rest = &rest[used..];
        }
        Ok(d)
    }

    /// The subdirectory `name`: one component, not a symlink.
    pub fn child_dir(&self, name: &OsStr) -> Res<Dir> {
        crate::fault::check("child_dir")?;
        let fd =
            rustix::fs::openat(self, one(name)?, dir_flags(), Mode::empty()).map_err(dir_errno)?;
        Ok(Dir { fd: Arc::new(fd) })
    }

    /// `fstat` of the directory itself.
    pub fn stat_self(&self) -> Res<Meta> {
        crate::fault::check("stat_self")?;
        fstat(self)
    }

    /// `fstatat(AT_SYMLINK_NOFOLLOW)` of entry `name`.
    pub fn stat(&self, name: &OsStr) -> Res<Meta> {
        crate::fault::check("stat")?;
        rustix::fs::statat(self, one(name)?, AtFlags::SYMLINK_NOFOLLOW)
            .map(Meta)
            .map_err(rx)
    }

    /// Opens entry `name` with `flags` plus `O_NOFOLLOW | O_NONBLOCK |
    /// O_CLOEXEC | O_NOCTTY` (a FIFO planted in its place cannot block the
    /// open, a symlink is refused) and checks it is a regular file.
    fn open_regular(&self, name: &OsStr, flags: OFlags, mode: u32) -> Res<File> {
        crate::fault::check("open_regular")?;
        let flags = flags | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::CLOEXEC | OFlags::NOCTTY;
        let fd = rustix::fs::openat(self, one(name)?, flags, Mode::from_raw_mode(mode)).map_err(
            |e| match e {
                // O_NOFOLLOW on a symlink.
                rustix::io::Errno::LOOP => Errno::EIO,
                e => rx(e),
            },
        )?;
        if !fstat(&fd)?.is_file() {
            return Err(Errno::EIO);
        }
        Ok(File::from(fd))
    }

    /// Opens the existing regular file `name` for reading, and writing
    /// unless `read_only`. The mount reads what it rewrites, so a writable
    /// handle is always O_RDWR.
    pub fn open_file(&self, name: &OsStr, read_only: bool) -> Res<File> {
        let acc = if read_only {
            OFlags::RDONLY
        } else {
            OFlags::RDWR
        };
        self.open_regular(name, acc, 0)
    }

    /// Creates the new regular file `name` exclusively with `mode` (umask
    /// already applied): never truncates or reuses an existing entry.
    pub fn create_file(&self, name: &OsStr, mode: u32) -> Res<File> {
        self.open_regular(name, OFlags::RDWR | OFlags::CREATE | OFlags::EXCL, mode)
    }

    /// Reads the whole small metadata file `name` (a directory IV, a
    /// sidecar): EIO when it is not a regular file or longer than
    /// [`SMALL_MAX`].
    pub fn read_small(&self, name: &OsStr) -> Res<Vec<u8>> {
        crate::fault::check("read_small")?;
        let f = self.open_regular(name, OFlags::RDONLY, 0)?;
        if fstat(&f)?.len() > SMALL_MAX as u64 {
            return Err(Errno::EIO);
        }
        let mut buf = vec![0u8; SMALL_MAX + 1];
        let n = read_at(&f, &mut buf, 0)?;
        if n > SMALL_MAX {
            return Err(Errno::EIO);
        }
        buf.truncate(n);
        Ok(buf)
    }

    /// Writes the small metadata file `name` exclusively and makes it
    /// durable; one that could not be written whole (a full disk) is
    /// removed, so no partial sidecar or IV is left behind.
    pub fn write_small(&self, name: &OsStr, bytes: &[u8], mode: u32) -> Res<()> {
        crate::fault::check("write_small")?;
        let f = self.create_file(name, mode)?;
        let r = write_at(&f, bytes, 0).and_then(|_| sync(&f, true));
        if r.is_err() {
            let _ = self.unlink(name);
        }
        r
    }

    /// The entries of the directory, as on-disk names with their `d_type`
    /// and inode number (`.` and `..` left out).
    pub fn list(&self) -> Res<Vec<(OsString, Option<FileType>, u64)>> {
        crate::fault::check("list")?;
        let mut out = Vec::new();
        for e in rustix::fs::Dir::new(self.open_readable()?).map_err(rx)? {
            let e = e.map_err(rx)?;
            let name = e.file_name().to_bytes();
            if name == b"." || name == b".." {
                continue;
            }
            use rustix::fs::FileType as T;
            let t = match e.file_type() {
                T::Directory => Some(FileType::Directory),
                T::RegularFile => Some(FileType::RegularFile),
                T::Symlink => Some(FileType::Symlink),
                T::Fifo => Some(FileType::NamedPipe),
                T::Socket => Some(FileType::Socket),
                T::CharacterDevice => Some(FileType::CharDevice),
                T::BlockDevice => Some(FileType::BlockDevice),
                _ => None,
            };
            out.push((OsStr::from_bytes(name).to_os_string(), t, e.ino()));
        }
        Ok(out)
    }

    /// `mkdirat`.
    pub fn mkdir(&self, name: &OsStr, mode: u32) -> Res<()> {
        crate::fault::check("mkdir")?;
        rustix::fs::mkdirat(self, one(name)?, Mode::from_raw_mode(mode)).map_err(rx)
    }

    /// `unlinkat` of a non-directory (a symlink is removed, never followed).
    pub fn unlink(&self, name: &OsStr) -> Res<()> {
        crate::fault::check("unlink")?;
        rustix::fs::unlinkat(self, one(name)?, AtFlags::empty()).map_err(rx)
    }

    /// `unlinkat(AT_REMOVEDIR)`.
    pub fn rmdir(&self, name: &OsStr) -> Res<()> {
        crate::fault::check("rmdir")?;
        rustix::fs::unlinkat(self, one(name)?, AtFlags::REMOVEDIR).map_err(rx)
    }

    /// `renameat2` with the caller's flags (NOREPLACE, EXCHANGE).
    ///
    /// A backing filesystem without renameat2 flags answers EINVAL to any
    /// flag: a FUSE one whose daemon lacks RENAME2 (an rclone mount), as
    /// the kernel turns the daemon's ENOSYS into EINVAL. NOREPLACE is then
    /// done as a check and a plain rename: the caller holds the volume's
    /// names lock, so nothing in this mount can create the target between
    /// the two (only a writer behind the mount could, as with any check on
    /// storage that others change). Where the flag works, this is never
    /// reached; EXCHANGE has no such fallback and answers EINVAL.
    pub fn rename(&self, name: &OsStr, to: &Dir, to_name: &OsStr, flags: u32) -> Res<()> {
        crate::fault::check("rename")?;
        let f = rustix::fs::RenameFlags::from_bits(flags).ok_or(Errno::EINVAL)?;
        let (name, to_name) = (one(name)?, one(to_name)?);
        match rustix::fs::renameat_with(self, name, to, to_name, f) {
            Err(rustix::io::Errno::INVAL) if f == rustix::fs::RenameFlags::NOREPLACE => {
                match rustix::fs::statat(to, to_name, AtFlags::SYMLINK_NOFOLLOW) {
                    Ok(_) => Err(Errno::EEXIST),
                    Err(rustix::io::Errno::NOENT) => {
                        rustix::fs::renameat(self, name, to, to_name).map_err(rx)
                    }
                    Err(e) => Err(rx(e)),
                }
            }
            r => r.map_err(rx),
        }
    }

    /// `symlinkat` with an (already encoded) target.
    pub fn symlink(&self, target: &[u8], name: &OsStr) -> Res<()> {
        crate::fault::check("symlink")?;
        rustix::fs::symlinkat(OsStr::from_bytes(target), self, one(name)?).map_err(rx)
    }

    /// `readlinkat`, as bytes (the kernel bounds it by PATH_MAX).
    pub fn readlink(&self, name: &OsStr) -> Res<Vec<u8>> {
        crate::fault::check("readlink")?;
        rustix::fs::readlinkat(self, one(name)?, Vec::new())
            .map(|t| t.into_bytes())
            .map_err(rx)
    }

    /// `linkat` without AT_SYMLINK_FOLLOW: a symlink is linked, not its target.
    pub fn link(&self, name: &OsStr, to: &Dir, to_name: &OsStr) -> Res<()> {
        crate::fault::check("link")?;
        rustix::fs::linkat(self, one(name)?, to, one(to_name)?, AtFlags::empty()).map_err(rx)
    }

    /// `mknodat` for FIFOs, sockets and device nodes.
    pub fn mknod(&self, name: &OsStr, mode: u32, rdev: u64) -> Res<()> {
        crate::fault::check("mknod")?;
        let kind = rustix::fs::FileType::from_raw_mode(mode);
        rustix::fs::mknodat(
            self,
            one(name)?,
            kind,
            Mode::from_raw_mode(mode & 0o7777),
            rdev,
        )
        .map_err(rx)
    }

    /// An `O_PATH` descriptor of entry `name` itself (a symlink is not
    /// followed): it pins the inode for a call that has no `*at` form
    /// that leaves symlinks alone.
    fn pin(&self, name: &OsStr) -> Res<OwnedFd> {
        crate::fault::check("pin")?;
        rustix::fs::openat(
            self,
            one(name)?,
            OFlags::PATH | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(rx)
    }

    /// `chmod` of entry `name`, never through a symlink: Linux has no
    /// lchmod, and fchmodat ignores AT_SYMLINK_NOFOLLOW before fchmodat2,
    /// so the entry is pinned with O_PATH, checked, and changed through its
    /// /proc/self/fd link, which names that inode and nothing else. A
    /// symlink's mode means nothing on Linux: it is left alone.
    pub fn chmod(&self, name: &OsStr, mode: u32) -> Res<()> {
        crate::fault::check("chmod")?;
        let fd = self.pin(name)?;
        if fstat(&fd)?.is_symlink() {
            return Ok(());
        }
        let link = format!("/proc/self/fd/{}", std::os::fd::AsRawFd::as_raw_fd(&fd));
        rustix::fs::chmod(link.as_str(), Mode::from_raw_mode(mode & 0o7777)).map_err(rx)
    }

    /// `fchownat(AT_SYMLINK_NOFOLLOW)`; `None` leaves that id unchanged.
    pub fn chown(&self, name: &OsStr, uid: Option<u32>, gid: Option<u32>) -> Res<()> {
        crate::fault::check("chown")?;
        // SAFETY-free: rustix takes the ids by value; -1 ("unchanged") is `None`.
        let uid = uid.map(rustix::fs::Uid::from_raw);
        let gid = gid.map(rustix::fs::Gid::from_raw);
        rustix::fs::chownat(self, one(name)?, uid, gid, AtFlags::SYMLINK_NOFOLLOW).map_err(rx)
    }

    /// `utimensat(AT_SYMLINK_NOFOLLOW)`.
    pub fn utimens(&self, name: &OsStr, atime: Time, mtime: Time) -> Res<()> {
        crate::fault::check("utimens")?;
        let ts = rustix::fs::Timestamps {
            last_access: timespec(atime),
            last_modification: timespec(mtime),
        };
        rustix::fs::utimensat(self, one(name)?, &ts, AtFlags::SYMLINK_NOFOLLOW).map_err(rx)
    }

    /// The /proc/self/fd path of entry `name` for the `l*xattr` calls,
    /// which have no `*at` form: the magic link is this directory's
    /// descriptor, and the one component after it is not followed.
    fn xattr_path(&self, name: &OsStr) -> Res<std::path::PathBuf> {
        let fd = std::os::fd::AsRawFd::as_raw_fd(&self.fd.as_fd());
        Ok(Path::new(&format!("/proc/self/fd/{fd}")).join(one(name)?))
    }

    /// `lgetxattr`; `None` when the attribute does not exist.
    pub fn get_xattr(&self, name: &OsStr, attr: &OsStr) -> Res<Option<Vec<u8>>> {
        crate::fault::check("get_xattr")?;
        xattr::get(self.xattr_path(name)?, attr).map_err(errno)
    }

    /// `lsetxattr` honouring XATTR_CREATE / XATTR_REPLACE.
    pub fn set_xattr(&self, name: &OsStr, attr: &OsStr, value: &[u8], flags: i32) -> Res<()> {
        crate::fault::check("set_xattr")?;
        let p = self.xattr_path(name)?;
        if flags & (libc::XATTR_CREATE | libc::XATTR_REPLACE) != 0 {
            let exists = xattr::get(&p, attr).map_err(errno)?.is_some();
            if flags & libc::XATTR_CREATE != 0 && exists {
                return Err(Errno::EEXIST);
            }
            if flags & libc::XATTR_REPLACE != 0 && !exists {
                return Err(Errno::from_i32(libc::ENODATA));
            }
        }
        xattr::set(&p, attr, value).map_err(errno)
    }

    /// `llistxattr`.
    pub fn list_xattr(&self, name: &OsStr) -> Res<Vec<OsString>> {
        crate::fault::check("list_xattr")?;
        Ok(xattr::list(self.xattr_path(name)?)
            .map_err(errno)?
            .collect())
    }

    /// `lremovexattr`.
    pub fn remove_xattr(&self, name: &OsStr, attr: &OsStr) -> Res<()> {
        crate::fault::check("remove_xattr")?;
        xattr::remove(self.xattr_path(name)?, attr).map_err(errno)
    }

    /// Asks the kernel to start reading `ranges` (offset, length) of the
    /// regular file `name` in the background (posix_fadvise WILLNEED), so
    /// that reads issued next find their pages on the way. A hint: failures
    /// are ignored.
    pub fn prefetch(&self, name: &OsStr, ranges: &[(u64, u64)]) {
        let Ok(f) = self.open_regular(name, OFlags::RDONLY, 0) else {
            return;
        };
        for &(off, len) in ranges.iter().filter(|r| r.1 > 0) {
            let _ = rustix::fs::fadvise(
                &f,
                off,
                std::num::NonZeroU64::new(len),
                rustix::fs::Advice::WillNeed,
            );
        }
    }

    /// `fsync` of the directory itself (its entries are durable after it).
    pub fn sync(&self) -> Res<()> {
        crate::fault::check("sync")?;
        rustix::fs::fsync(self.open_readable()?).map_err(rx)
    }

    /// The directory itself opened for reading: an `O_PATH` descriptor can
    /// neither list nor fsync.
    fn open_readable(&self) -> Res<OwnedFd> {
        rustix::fs::openat(
            self,
            ".",
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(rx)
    }

    /// `fstatvfs` of the backing filesystem.
    pub fn statvfs(&self) -> Res<rustix::fs::StatVfs> {
        crate::fault::check("statvfs")?;
        rustix::fs::fstatvfs(self).map_err(rx)
    }
}

/// Reads exactly as much as is there, up to `buf.len()`, at `off`.
pub fn read_at(f: &File, buf: &mut [u8], off: u64) -> Res<usize> {
    crate::fault::check("read_at")?;
    let mut done = 0;
    while done < buf.len() {
        match f.read_at(&mut buf[done..], off + done as u64) {
            Ok(0) => break,
            Ok(n) => done += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(errno(e)),
        }
    }
    Ok(done)
}

/// Writes all of `buf` at `off`.
pub fn write_at(f: &File, buf: &[u8], off: u64) -> Res<()> {
    crate::fault::check("write_at")?;
    f.write_all_at(buf, off).map_err(errno)
}

/// Sets the stored length.
pub fn set_len(f: &File, len: u64) -> Res<()> {
    crate::fault::check("set_len")?;
    f.set_len(len).map_err(errno)
}

/// `fdatasync` / `fsync`.
pub fn sync(f: &File, data_only: bool) -> Res<()> {
    crate::fault::check("sync")?;
    if data_only {
        f.sync_data()
    } else {
        f.sync_all()
    }
    .map_err(errno)
}

/// `fchmod`.
pub fn fchmod(f: &File, mode: u32) -> Res<()> {
    crate::fault::check("fchmod")?;
    rustix::fs::fchmod(f, Mode::from_raw_mode(mode & 0o7777)).map_err(rx)
}

/// `fchown`; `None` leaves that id unchanged.
pub fn fchown(f: &File, uid: Option<u32>, gid: Option<u32>) -> Res<()> {
    crate::fault::check("fchown")?;
    std::os::unix::fs::fchown(f, uid, gid).map_err(errno)
}

/// `futimens`.
pub fn futimens(f: &File, atime: Time, mtime: Time) -> Res<()> {
    crate::fault::check("futimens")?;
    let ts = rustix::fs::Timestamps {
        last_access: timespec(atime),
        last_modification: timespec(mtime),
    };
    rustix::fs::futimens(f, &ts).map_err(rx)
}

/// `fgetxattr` on an open file; `None` when the attribute does not exist.
pub fn fget_xattr(f: &File, name: &OsStr) -> Res<Option<Vec<u8>>> {
    crate::fault::check("fget_xattr")?;
    use xattr::FileExt;
    f.get_xattr(name).map_err(errno)
}

/// `fsetxattr` on an open file.
pub fn fset_xattr(f: &File, name: &OsStr, value: &[u8]) -> Res<()> {
    crate::fault::check("fset_xattr")?;
    use xattr::FileExt;
    f.set_xattr(name, value).map_err(errno)
}

/// `flistxattr` on an open file.
pub fn flist_xattr(f: &File) -> Res<Vec<OsString>> {
    crate::fault::check("flist_xattr")?;
    use xattr::FileExt;
    Ok(f.list_xattr().map_err(errno)?.collect())
}

/// Time argument of [`Dir::utimens`].
#[derive(Clone, Copy, Debug)]
pub enum Time {
    /// Leave unchanged.
    Omit,
    /// The current time.
    Now,
    /// Seconds and nanoseconds since the epoch.
    At(i64, i64),
}

fn timespec(t: Time) -> rustix::fs::Timespec {
    match t {
        Time::Omit => rustix::fs::Timespec {
            tv_sec: 0,
            tv_nsec: libc::UTIME_OMIT,
        },
        Time::Now => rustix::fs::Timespec {
            tv_sec: 0,
            tv_nsec: libc::UTIME_NOW,
        },
        Time::At(s, ns) => rustix::fs::Timespec {
            tv_sec: s,
            tv_nsec: ns,
        },
    }
}

/// The filesystem type (`/proc/self/mountinfo`'s fstype, e.g. `ext4`,
/// `fuse.rclone`) of the mount holding `path`, if it can be told.
pub fn fs_type(path: &Path) -> Option<String> {
    let path = std::fs::canonicalize(path).ok()?;
    let info = std::fs::read_to_string("/proc/self/mountinfo").ok()?;
    // "36 35 98:0 /root /mnt opts - fstype source superopts": the mount
    // point is field 5 (spaces escaped as \040), the type follows " - ".
    info.lines()
        .filter_map(|line| {
            let (left, right) = line.split_once(" - ")?;
            let point = unescape_mountinfo(left.split(' ').nth(4)?);
            let fstype = right.split(' ').next()?;
            path.starts_with(&point)
                .then(|| (point.as_os_str().len(), fstype.to_string()))
        })
        .max_by_key(|(len, _)| *len)
        .map(|(_, t)| t)
}

/// Undoes mountinfo's octal escapes (`\040` for a space).
fn unescape_mountinfo(s: &str) -> std::path::PathBuf {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let oct = b
            .get(i + 1..i + 4)
            .filter(|o| b[i] == b'\\' && o.iter().all(|c| (b'0'..=b'7').contains(c)));
        match oct {
            Some(o) => {
                out.push(
                    o.iter()
                        .fold(0u8, |a, c| a.wrapping_mul(8).wrapping_add(c - b'0')),
                );
                i += 4;
            }
            None => {
                out.push(b[i]);
                i += 1;
            }
        }
    }
    std::path::PathBuf::from(OsStr::from_bytes(&out))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    #[test]
    fn fs_type_reads_mountinfo() {
        assert_eq!(fs_type(Path::new("/proc/self")).as_deref(), Some("proc"));
        assert_eq!(
            unescape_mountinfo("/mnt/a\\040b"),
            std::path::PathBuf::from("/mnt/a b")
        );
    }

    #[test]
    fn never_leaves_the_root_or_follows_a_symlink() {
        let t = tempfile::tempdir().unwrap();
        let vol = t.path().join("vol");
        let out = t.path().join("outside");
        std::fs::create_dir_all(vol.join("d/e")).unwrap();
        std::fs::create_dir(&out).unwrap();
        std::fs::write(out.join("secret"), b"x").unwrap();
        symlink(&out, vol.join("link")).unwrap();
        symlink(out.join("secret"), vol.join("d/f")).unwrap();
        nix::unistd::mkfifo(&vol.join("d/fifo"), nix::sys::stat::Mode::S_IRWXU).unwrap();
        let root = Dir::open_root(&vol).unwrap();
        assert!(root.open_dir(Path::new("d/e")).is_ok());
        for rel in ["link", "link/x", "d/f", "d/fifo"] {
            assert_eq!(
                root.open_dir(Path::new(rel)).unwrap_err(),
                Errno::EIO,
                "{rel}"
            );
        }
        assert_eq!(
            root.open_dir(Path::new("d/../..")).unwrap_err(),
            Errno::EINVAL
        );
        let d = root.open_dir(Path::new("d")).unwrap();
        // Symlink and FIFO where a file is expected: EIO, no block, no follow.
        for n in ["f", "fifo"] {
            assert_eq!(d.open_file(OsStr::new(n), false).unwrap_err(), Errno::EIO);
            assert_eq!(d.read_small(OsStr::new(n)).unwrap_err(), Errno::EIO);
        }
        assert_eq!(
            d.create_file(OsStr::new("f"), 0o600).unwrap_err(),
            Errno::EEXIST
        );
        d.chmod(OsStr::new("f"), 0o777).unwrap();
        assert!(d.stat(OsStr::new("f")).unwrap().is_symlink());
        d.unlink(OsStr::new("f")).unwrap();
        assert_eq!(std::fs::read(out.join("secret")).unwrap(), b"x");
        use std::os::unix::fs::PermissionsExt;
        let m = std::fs::metadata(out.join("secret")).unwrap();
        assert_ne!(m.permissions().mode() & 0o777, 0o777);
        std::fs::write(vol.join("big"), vec![0u8; SMALL_MAX + 1]).unwrap();
        assert_eq!(root.read_small(OsStr::new("big")).unwrap_err(), Errno::EIO);
        assert_eq!(root.stat(OsStr::new("a/b")).unwrap_err(), Errno::EINVAL);
    }

    #[test]
    fn resolves_paths_longer_than_path_max_one_call_at_a_time() {
        let t = tempfile::tempdir().unwrap();
        let root = Dir::open_root(t.path()).unwrap();
        let name = "n".repeat(250);
        let mut rel = std::path::PathBuf::new();
        let mut d = root.clone();
        for _ in 0..24 {
            d.mkdir(OsStr::new(&name), 0o700).unwrap();
            d = d.child_dir(OsStr::new(&name)).unwrap();
            rel.push(&name);
        }
        d.write_small(OsStr::new("iv"), b"0123", 0o444).unwrap();
        assert!(rel.as_os_str().len() > 4096);
        let deep = root.open_dir(&rel).unwrap();
        assert_eq!(deep.read_small(OsStr::new("iv")).unwrap(), b"0123");
    }
}
