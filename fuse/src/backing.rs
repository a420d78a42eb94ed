//! Every call into the backing (ciphertext) directory lives here, so the
//! rest of the mount never touches the host filesystem directly and a
//! reader can audit exactly what we do to it.

use fuser::Errno;
use nix::fcntl::{renameat2, RenameFlags};
use nix::sys::stat::{mknod, utimensat, Mode, SFlag, UtimensatFlags};
use nix::sys::time::TimeSpec;
use std::ffi::{OsStr, OsString};
use std::fs::{self, File, Metadata, OpenOptions};
use std::io;
use std::os::unix::fs::{DirBuilderExt, FileExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// Result of a backing call, already mapped to the errno we answer with.
pub type Res<T> = Result<T, Errno>;

/// Maps an I/O error to its errno (EIO when the error carries none).
pub fn errno(e: io::Error) -> Errno {
    Errno::from_i32(e.raw_os_error().unwrap_or(libc::EIO))
}

fn nix_errno(e: nix::errno::Errno) -> Errno {
    Errno::from_i32(e as i32)
}

/// `lstat`.
pub fn lstat(p: &Path) -> Res<Metadata> {
    fs::symlink_metadata(p).map_err(errno)
}

/// Opens an existing file for reading, and writing unless `read_only`.
/// The mount reads what it rewrites, so a writable handle is always O_RDWR.
pub fn open_file(p: &Path, read_only: bool) -> Res<File> {
    OpenOptions::new()
        .read(true)
        .write(!read_only)
        .custom_flags(libc::O_NOFOLLOW)
        .open(p)
        .map_err(errno)
}

/// Creates a new file exclusively with `mode` (umask already applied).
pub fn create_file(p: &Path, mode: u32) -> Res<File> {
    OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .mode(mode)
        .custom_flags(libc::O_NOFOLLOW)
        .open(p)
        .map_err(errno)
}

/// Reads exactly as much as is there, up to `buf.len()`, at `off`.
pub fn read_at(f: &File, buf: &mut [u8], off: u64) -> Res<usize> {
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
    f.write_all_at(buf, off).map_err(errno)
}

/// Sets the stored length.
pub fn set_len(f: &File, len: u64) -> Res<()> {
    f.set_len(len).map_err(errno)
}

/// `fdatasync` / `fsync`.
pub fn sync(f: &File, data_only: bool) -> Res<()> {
    if data_only {
        f.sync_data()
    } else {
        f.sync_all()
    }
    .map_err(errno)
}

/// `fsync` of a directory.
pub fn sync_dir(p: &Path) -> Res<()> {
    File::open(p).and_then(|d| d.sync_all()).map_err(errno)
}

/// Asks the kernel to start reading `ranges` (offset, length) of regular
/// file `p` in the background (posix_fadvise WILLNEED), so that reads
/// issued next find their pages on the way. A hint: failures are ignored.
/// O_NONBLOCK, so that a file replaced by a FIFO meanwhile cannot block.
pub fn prefetch(p: &Path, ranges: &[(u64, u64)]) {
    use nix::fcntl::{posix_fadvise, PosixFadviseAdvice};
    use std::os::fd::AsRawFd;
    let Ok(f) = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
        .open(p)
    else {
        return;
    };
    for &(off, len) in ranges.iter().filter(|r| r.1 > 0) {
        let _ = posix_fadvise(
            f.as_raw_fd(),
            off as libc::off_t,
            len as libc::off_t,
            PosixFadviseAdvice::POSIX_FADV_WILLNEED,
        );
    }
}

/// Reads a whole small file (directory IVs, long-name sidecars).
pub fn read_small(p: &Path) -> Res<Vec<u8>> {
    fs::read(p).map_err(errno)
}

/// Writes a small metadata file exclusively and makes it durable.
pub fn write_small(p: &Path, bytes: &[u8], mode: u32) -> Res<()> {
    let f = create_file(p, mode)?;
    write_at(&f, bytes, 0)?;
    sync(&f, true)
}

/// Writes a small file, replacing any existing one.
pub fn write_small_replace(p: &Path, bytes: &[u8], mode: u32) -> Res<()> {
    let f = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(mode)
        .open(p)
        .map_err(errno)?;
    write_at(&f, bytes, 0)?;
    sync(&f, true)
}

/// The entries of a directory, as on-disk names with their `d_type`.
pub fn list_dir(p: &Path) -> Res<Vec<(OsString, Option<fs::FileType>, u64)>> {
    use std::os::unix::fs::DirEntryExt;
    let mut out = Vec::new();
    for e in fs::read_dir(p).map_err(errno)? {
        let e = e.map_err(errno)?;
        out.push((e.file_name(), e.file_type().ok(), e.ino()));
    }
    Ok(out)
}

/// `mkdir`.
pub fn mkdir(p: &Path, mode: u32) -> Res<()> {
    fs::DirBuilder::new().mode(mode).create(p).map_err(errno)
}

/// `unlink`.
pub fn unlink(p: &Path) -> Res<()> {
    fs::remove_file(p).map_err(errno)
}

/// `rmdir`.
pub fn rmdir(p: &Path) -> Res<()> {
    fs::remove_dir(p).map_err(errno)
}

/// `renameat2` with the caller's flags (NOREPLACE, EXCHANGE).
pub fn rename(from: &Path, to: &Path, flags: u32) -> Res<()> {
    if flags == 0 {
        return fs::rename(from, to).map_err(errno);
    }
    let f = RenameFlags::from_bits(flags).ok_or(Errno::EINVAL)?;
    renameat2(None, from, None, to, f).map_err(nix_errno)
}

/// `symlink` with an (already encoded) target.
pub fn symlink(target: &OsStr, link: &Path) -> Res<()> {
    std::os::unix::fs::symlink(target, link).map_err(errno)
}

/// `readlink`, as bytes.
pub fn readlink(p: &Path) -> Res<Vec<u8>> {
    use std::os::unix::ffi::OsStringExt;
    fs::read_link(p)
        .map(|t| t.into_os_string().into_vec())
        .map_err(errno)
}

/// `link`.
pub fn link(from: &Path, to: &Path) -> Res<()> {
    fs::hard_link(from, to).map_err(errno)
}

/// `mknod` for FIFOs, sockets and device nodes.
pub fn mknod_at(p: &Path, mode: u32, rdev: u64) -> Res<()> {
    let kind = SFlag::from_bits_truncate(mode & libc::S_IFMT);
    let perm = Mode::from_bits_truncate(mode & 0o7777);
    mknod(p, kind, perm, rdev).map_err(nix_errno)
}

/// `chmod` (never on symlinks: Linux has no lchmod).
pub fn chmod(p: &Path, mode: u32) -> Res<()> {
    fs::set_permissions(p, fs::Permissions::from_mode(mode & 0o7777)).map_err(errno)
}

/// `lchown`; `None` leaves that id unchanged.
pub fn lchown(p: &Path, uid: Option<u32>, gid: Option<u32>) -> Res<()> {
    std::os::unix::fs::lchown(p, uid, gid).map_err(errno)
}

/// `fchmod`.
pub fn fchmod(f: &File, mode: u32) -> Res<()> {
    f.set_permissions(fs::Permissions::from_mode(mode & 0o7777))
        .map_err(errno)
}

/// `fchown`; `None` leaves that id unchanged.
pub fn fchown(f: &File, uid: Option<u32>, gid: Option<u32>) -> Res<()> {
    std::os::unix::fs::fchown(f, uid, gid).map_err(errno)
}

/// `futimens`.
pub fn futimens(f: &File, atime: Time, mtime: Time) -> Res<()> {
    use std::os::fd::AsRawFd;
    nix::sys::stat::futimens(f.as_raw_fd(), &timespec(atime), &timespec(mtime)).map_err(nix_errno)
}

/// Time argument of [`utimens`].
#[derive(Clone, Copy, Debug)]
pub enum Time {
    /// Leave unchanged.
    Omit,
    /// The current time.
    Now,
    /// Seconds and nanoseconds since the epoch.
    At(i64, i64),
}

fn timespec(t: Time) -> TimeSpec {
    match t {
        Time::Omit => TimeSpec::UTIME_OMIT,
        Time::Now => TimeSpec::UTIME_NOW,
        Time::At(s, ns) => TimeSpec::new(s, ns),
    }
}

/// `utimensat(AT_SYMLINK_NOFOLLOW)`.
pub fn utimens(p: &Path, atime: Time, mtime: Time) -> Res<()> {
    utimensat(
        None,
        p,
        &timespec(atime),
        &timespec(mtime),
        UtimensatFlags::NoFollowSymlink,
    )
    .map_err(nix_errno)
}

/// `statvfs` of the backing filesystem.
pub fn statvfs(p: &Path) -> Res<nix::sys::statvfs::Statvfs> {
    nix::sys::statvfs::statvfs(p).map_err(nix_errno)
}

/// `lgetxattr`; `None` when the attribute does not exist.
pub fn get_xattr(p: &Path, name: &OsStr) -> Res<Option<Vec<u8>>> {
    xattr::get(p, name).map_err(errno)
}

/// `lsetxattr` honouring XATTR_CREATE / XATTR_REPLACE.
pub fn set_xattr(p: &Path, name: &OsStr, value: &[u8], flags: i32) -> Res<()> {
    if flags & (libc::XATTR_CREATE | libc::XATTR_REPLACE) != 0 {
        let exists = get_xattr(p, name)?.is_some();
        if flags & libc::XATTR_CREATE != 0 && exists {
            return Err(Errno::EEXIST);
        }
        if flags & libc::XATTR_REPLACE != 0 && !exists {
            return Err(Errno::from_i32(libc::ENODATA));
        }
    }
    xattr::set(p, name, value).map_err(errno)
}

/// `llistxattr`.
pub fn list_xattr(p: &Path) -> Res<Vec<OsString>> {
    Ok(xattr::list(p).map_err(errno)?.collect())
}

/// `lremovexattr`.
pub fn remove_xattr(p: &Path, name: &OsStr) -> Res<()> {
    xattr::remove(p, name).map_err(errno)
}

/// Longest backing path we hand to the kernel in one piece (PATH_MAX is 4096).
const PATH_SAFE: usize = 3072;

/// A backing path usable in path-based calls. Encrypted names are longer
/// than plaintext ones, so a plaintext path within PATH_MAX can map to a
/// longer backing path: those are reached through an `O_PATH` descriptor of
/// an ancestor directory, as `/proc/self/fd/N/rest`, which the descriptor
/// held here keeps valid.
#[derive(Debug)]
pub struct BPath {
    path: PathBuf,
    _anchor: Option<File>,
}

impl std::ops::Deref for BPath {
    type Target = Path;
    fn deref(&self) -> &Path {
        &self.path
    }
}

impl AsRef<Path> for BPath {
    fn as_ref(&self) -> &Path {
        &self.path
    }
}

fn open_dir_path(p: &Path) -> Res<File> {
    OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_PATH | libc::O_DIRECTORY | libc::O_NOFOLLOW)
        .open(p)
        .map_err(errno)
}

/// `root`/`rel` as a [`BPath`].
pub fn resolve(root: &Path, rel: &Path) -> Res<BPath> {
    let full = root.join(rel);
    if full.as_os_str().len() < PATH_SAFE {
        return Ok(BPath {
            path: full,
            _anchor: None,
        });
    }
    let comps: Vec<&OsStr> = rel.iter().collect();
    let mut anchor: Option<File> = None;
    let mut start = 0;
    loop {
        // Take as many components as fit; the last group is the result.
        let base_len = match &anchor {
            None => root.as_os_str().len(),
            Some(_) => 32,
        };
        let mut len = base_len;
        let mut end = start;
        while end < comps.len() && len + 1 + comps[end].len() < PATH_SAFE {
            len += 1 + comps[end].len();
            end += 1;
        }
        if end == start {
            return Err(Errno::ENAMETOOLONG);
        }
        let mut p = match &anchor {
            None => root.to_path_buf(),
            Some(f) => PathBuf::from(format!("/proc/self/fd/{}", fd_of(f))),
        };
        for c in &comps[start..end] {
            p.push(c);
        }
        if end == comps.len() {
            return Ok(BPath {
                path: p,
                _anchor: anchor,
            });
        }
        anchor = Some(open_dir_path(&p)?);
        start = end;
    }
}

fn fd_of(f: &File) -> i32 {
    use std::os::fd::AsRawFd;
    f.as_raw_fd()
}
