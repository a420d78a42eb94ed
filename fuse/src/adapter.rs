//! The thin layer between fuser and [`CryptFs`]: each handler unpacks its
//! arguments, calls one `CryptFs` method and turns the `Result` into a reply.
//! With `--debug` every call is logged (operation, inode, offsets, sizes and
//! names; never file content, keys or passwords).

use crate::cryptfs::{time_arg, Caller, CryptFs, FsOptions};
use fuser::{
    AccessFlags, Errno, FileHandle, Filesystem, FopenFlags, Generation, INodeNo, InitFlags,
    KernelConfig, LockOwner, OpenFlags, RenameFlags, ReplyAttr, ReplyCreate, ReplyData,
    ReplyDirectory, ReplyEmpty, ReplyEntry, ReplyOpen, ReplyStatfs, ReplyWrite, ReplyXattr,
    Request, TimeOrNow, WriteFlags,
};
use std::ffi::OsStr;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

/// How long the kernel may cache entries and attributes where only this
/// mount changes the volume: every change then passes through the kernel,
/// which updates or drops what it cached; what it cannot see (atime moved
/// by backing reads) may show this much late. securefs caches 30 s.
pub const TTL_ALONE: Duration = Duration::from_secs(60);
/// ... and where other writers share the ciphertext directory (`-o shared`):
/// none, so that every open looks the file up again and takes the size the
/// other writer left (close-to-open; the kernel refreshes no attributes at
/// open on its own). gocryptfs `-sharedstorage` does the same.
pub const TTL_SHARED: Duration = Duration::ZERO;
/// Largest read and write the kernel sends us in one request.
pub const MAX_IO: u32 = 1 << 20;

/// fuser's view of the filesystem.
pub struct Adapter {
    fs: Arc<CryptFs>,
    writeback: bool,
    acl: bool,
    /// Entry and attribute cache time.
    ttl: Duration,
}

impl Adapter {
    /// Wraps `fs`, asking the kernel for what `opts` say (writeback cache,
    /// POSIX ACLs, caching for a volume of its own or a shared one).
    pub fn new(fs: Arc<CryptFs>, opts: &FsOptions) -> Adapter {
        Adapter {
            fs,
            writeback: opts.writeback && !opts.shared,
            acl: opts.acl,
            ttl: if opts.shared { TTL_SHARED } else { TTL_ALONE },
        }
    }
}

fn caller(req: &Request) -> Caller {
    Caller {
        uid: req.uid(),
        gid: req.gid(),
        pid: req.pid(),
    }
}

macro_rules! trace_op {
    ($($arg:tt)*) => { tracing::debug!($($arg)*) };
}

fn xattr_reply(reply: ReplyXattr, size: u32, data: Result<Vec<u8>, Errno>) {
    match data {
        Ok(v) if size == 0 => reply.size(v.len() as u32),
        Ok(v) if v.len() > size as usize => reply.error(Errno::ERANGE),
        Ok(v) => reply.data(&v),
        Err(e) => reply.error(e),
    }
}

impl Filesystem for Adapter {
    fn init(&mut self, _req: &Request, config: &mut KernelConfig) -> std::io::Result<()> {
        let _ = config.set_max_write(MAX_IO);
        let _ = config.set_max_readahead(MAX_IO);
        let _ = config.set_max_background(64);
        // Always READDIRPLUS: a listing carries every entry's attributes, so
        // `ls -l`, `find -ls` and `tar` need no lookup round trip per entry
        // (the kernel's AUTO mode falls back to lookups after the first batch).
        // Not ATOMIC_O_TRUNC: with it the daemon truncates on OPEN, before
        // the kernel checks for ETXTBSY, so open(O_RDONLY|O_TRUNC) of a
        // running executable would cut it (and crash the process) and then
        // fail. Without it the kernel checks first and truncates by SETATTR.
        let mut want = InitFlags::FUSE_PARALLEL_DIROPS
            | InitFlags::FUSE_ASYNC_READ
            | InitFlags::FUSE_DO_READDIRPLUS
            // We clear set-ID bits on write, truncate and chown ourselves
            // (cryptfs `kill_privs`), so the kernel marks inodes S_NOSEC
            // (no security.capability lookup before every write after the
            // first) and no longer refreshes attributes before every chown.
            | InitFlags::FUSE_HANDLE_KILLPRIV_V2;
        if self.writeback {
            want |= InitFlags::FUSE_WRITEBACK_CACHE;
        }
        if self.acl {
            // The kernel then enforces the ACLs we return and no longer
            // cuts new modes by the umask (DONT_MASK): a directory's default
            // ACL replaces it, which only we can see (cryptfs `acls.rs`).
            let acl = InitFlags::FUSE_POSIX_ACL | InitFlags::FUSE_DONT_MASK;
            if !config.capabilities().contains(acl) {
                return Err(std::io::Error::other(
                    "-o acl: the kernel's FUSE has no POSIX ACL support",
                ));
            }
            want |= acl;
        }
        let _ = config.add_capabilities(want & config.capabilities());
        tracing::info!(
            "mounted (writeback cache: {}, ACLs: {}, attributes cached {} s)",
            self.writeback,
            self.acl,
            self.ttl.as_secs()
        );
        Ok(())
    }

    fn destroy(&mut self) {
        tracing::info!("unmounted");
    }

    fn lookup(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEntry) {
        trace_op!("lookup parent={} name={name:?}", parent.0);
        self.fs.touch();
        match self.fs.lookup(parent.0, name) {
            Ok(a) => reply.entry(&self.ttl, &a, Generation(0)),
            Err(e) => reply.error(self.fs.failed(parent.0, Some(name), "lookup", e)),
        }
    }

    fn forget(&self, _req: &Request, ino: INodeNo, nlookup: u64) {
        trace_op!("forget ino={} n={nlookup}", ino.0);
        self.fs.forget(ino.0, nlookup);
    }

    fn getattr(&self, _req: &Request, ino: INodeNo, fh: Option<FileHandle>, reply: ReplyAttr) {
        trace_op!("getattr ino={}", ino.0);
        self.fs.touch();
        match self.fs.getattr(ino.0, fh.map(|f| f.0)) {
            Ok(a) => reply.attr(&self.ttl, &a),
            Err(e) => reply.error(self.fs.failed(ino.0, None, "getattr", e)),
        }
    }

    fn setattr(
        &self,
        req: &Request,
        ino: INodeNo,
        mode: Option<u32>,
        uid: Option<u32>,
        gid: Option<u32>,
        size: Option<u64>,
        atime: Option<TimeOrNow>,
        mtime: Option<TimeOrNow>,
        _ctime: Option<SystemTime>,
        fh: Option<FileHandle>,
        _crtime: Option<SystemTime>,
        _chgtime: Option<SystemTime>,
        _bkuptime: Option<SystemTime>,
        _flags: Option<fuser::BsdFileFlags>,
        reply: ReplyAttr,
    ) {
        trace_op!(
            "setattr ino={} mode={mode:?} uid={uid:?} gid={gid:?} size={size:?}",
            ino.0
        );
        self.fs.touch();
        let r = self.fs.setattr(
            ino.0,
            mode,
            uid,
            gid,
            size,
            time_arg(atime),
            time_arg(mtime),
            fh.map(|f| f.0),
            caller(req),
        );
        match r {
            Ok(a) => reply.attr(&self.ttl, &a),
            Err(e) => reply.error(self.fs.failed(ino.0, None, "setattr", e)),
        }
    }

    fn readlink(&self, _req: &Request, ino: INodeNo, reply: ReplyData) {
        trace_op!("readlink ino={}", ino.0);
        self.fs.touch();
        match self.fs.readlink(ino.0) {
            Ok(t) => reply.data(&t),
            Err(e) => reply.error(self.fs.failed(ino.0, None, "readlink", e)),
        }
    }

    fn mknod(
        &self,
        req: &Request,
        parent: INodeNo,
        name: &OsStr,
        mode: u32,
        umask: u32,
        rdev: u32,
        reply: ReplyEntry,
    ) {
        trace_op!("mknod parent={} name={name:?} mode={mode:o}", parent.0);
        self.fs.touch();
        match self
            .fs
            .mknod(parent.0, name, mode, umask, rdev, caller(req))
        {
            Ok(a) => reply.entry(&self.ttl, &a, Generation(0)),
            Err(e) => reply.error(self.fs.failed(parent.0, Some(name), "mknod", e)),
        }
    }

    fn mkdir(
        &self,
        req: &Request,
        parent: INodeNo,
        name: &OsStr,
        mode: u32,
        umask: u32,
        reply: ReplyEntry,
    ) {
        trace_op!("mkdir parent={} name={name:?} mode={mode:o}", parent.0);
        self.fs.touch();
        match self.fs.mkdir(parent.0, name, mode, umask, caller(req)) {
            Ok(a) => reply.entry(&self.ttl, &a, Generation(0)),
            Err(e) => reply.error(self.fs.failed(parent.0, Some(name), "mkdir", e)),
        }
    }

    fn unlink(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEmpty) {
        trace_op!("unlink parent={} name={name:?}", parent.0);
        self.fs.touch();
        match self.fs.unlink(parent.0, name) {
            Ok(()) => reply.ok(),
            Err(e) => reply.error(self.fs.failed(parent.0, Some(name), "unlink", e)),
        }
    }

    fn rmdir(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEmpty) {
        trace_op!("rmdir parent={} name={name:?}", parent.0);
        self.fs.touch();
        match self.fs.rmdir(parent.0, name) {
            Ok(()) => reply.ok(),
            Err(e) => reply.error(self.fs.failed(parent.0, Some(name), "rmdir", e)),
        }
    }

    fn symlink(
        &self,
        req: &Request,
        parent: INodeNo,
        link_name: &OsStr,
        target: &Path,
        reply: ReplyEntry,
    ) {
        trace_op!("symlink parent={} name={link_name:?}", parent.0);
        self.fs.touch();
        match self
            .fs
            .symlink(parent.0, link_name, target.as_os_str(), caller(req))
        {
            Ok(a) => reply.entry(&self.ttl, &a, Generation(0)),
            Err(e) => reply.error(self.fs.failed(parent.0, None, "symlink", e)),
        }
    }

    fn rename(
        &self,
        _req: &Request,
        parent: INodeNo,
        name: &OsStr,
        newparent: INodeNo,
        newname: &OsStr,
        flags: RenameFlags,
        reply: ReplyEmpty,
    ) {
        trace_op!(
            "rename {}/{name:?} -> {}/{newname:?} flags={flags:?}",
            parent.0,
            newparent.0
        );
        self.fs.touch();
        match self
            .fs
            .rename(parent.0, name, newparent.0, newname, flags.bits())
        {
            Ok(()) => reply.ok(),
            Err(e) => reply.error(self.fs.failed(parent.0, Some(name), "rename", e)),
        }
    }

    fn link(
        &self,
        _req: &Request,
        ino: INodeNo,
        newparent: INodeNo,
        newname: &OsStr,
        reply: ReplyEntry,
    ) {
        trace_op!("link ino={} -> {}/{newname:?}", ino.0, newparent.0);
        self.fs.touch();
        match self.fs.link(ino.0, newparent.0, newname) {
            Ok(a) => reply.entry(&self.ttl, &a, Generation(0)),
            Err(e) => reply.error(self.fs.failed(ino.0, None, "link", e)),
        }
    }

    fn open(&self, _req: &Request, ino: INodeNo, flags: OpenFlags, reply: ReplyOpen) {
        trace_op!("open ino={} flags={:#x}", ino.0, flags.0);
        self.fs.touch();
        match self.fs.open(ino.0, flags.0) {
            Ok(fh) => reply.opened(FileHandle(fh), FopenFlags::empty()),
            Err(e) => reply.error(self.fs.failed(ino.0, None, "open", e)),
        }
    }

    fn read(
        &self,
        _req: &Request,
        ino: INodeNo,
        fh: FileHandle,
        offset: u64,
        size: u32,
        _flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        reply: ReplyData,
    ) {
        trace_op!("read ino={} off={offset} size={size}", ino.0);
        self.fs.touch();
        // The reply is sent from inside the read, straight from its buffer.
        let mut reply = Some(reply);
        let r = self.fs.read(ino.0, fh.0, offset, size, |d| {
            if let Some(r) = reply.take() {
                r.data(d)
            }
        });
        if let (Err(e), Some(r)) = (r, reply.take()) {
            r.error(e);
        }
    }

    fn write(
        &self,
        req: &Request,
        ino: INodeNo,
        fh: FileHandle,
        offset: u64,
        data: &[u8],
        write_flags: WriteFlags,
        _flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        reply: ReplyWrite,
    ) {
        trace_op!("write ino={} off={offset} len={}", ino.0, data.len());
        self.fs.touch();
        let kill = write_flags
            .contains(WriteFlags::FUSE_WRITE_KILL_SUIDGID)
            .then(|| caller(req));
        match self.fs.write(ino.0, fh.0, offset, data, kill) {
            Ok(n) => reply.written(n),
            Err(e) => reply.error(self.fs.failed(ino.0, None, "write", e)),
        }
    }

    fn flush(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        _lock_owner: LockOwner,
        reply: ReplyEmpty,
    ) {
        // Writes go to the backing file as they arrive: nothing is buffered
        // here, so there is nothing to flush. ENOSYS tells the kernel so
        // once (it then stops sending FLUSH, a round trip saved on every
        // close); close(2) still writes the kernel's dirty pages back first
        // and still returns their errors.
        trace_op!("flush ino={}", ino.0);
        reply.error(Errno::ENOSYS);
    }

    fn release(
        &self,
        _req: &Request,
        ino: INodeNo,
        fh: FileHandle,
        _flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        _flush: bool,
        reply: ReplyEmpty,
    ) {
        trace_op!("release ino={}", ino.0);
        self.fs.release(fh.0);
        reply.ok();
    }

    fn fsync(
        &self,
        _req: &Request,
        ino: INodeNo,
        fh: FileHandle,
        datasync: bool,
        reply: ReplyEmpty,
    ) {
        trace_op!("fsync ino={} datasync={datasync}", ino.0);
        match self.fs.fsync(fh.0, datasync) {
            Ok(()) => reply.ok(),
            Err(e) => reply.error(self.fs.failed(ino.0, None, "fsync", e)),
        }
    }

    fn opendir(&self, _req: &Request, ino: INodeNo, _flags: OpenFlags, reply: ReplyOpen) {
        trace_op!("opendir ino={}", ino.0);
        self.fs.touch();
        match self.fs.opendir(ino.0) {
            Ok(fh) => reply.opened(FileHandle(fh), FopenFlags::empty()),
            Err(e) => reply.error(self.fs.failed(ino.0, None, "opendir", e)),
        }
    }

    fn readdir(
        &self,
        _req: &Request,
        ino: INodeNo,
        fh: FileHandle,
        offset: u64,
        mut reply: ReplyDirectory,
    ) {
        trace_op!("readdir ino={} off={offset}", ino.0);
        match self.fs.readdir(ino.0, fh.0, offset) {
            Ok(entries) => {
                for (i, next, kind, name) in entries {
                    if reply.add(INodeNo(i), next, kind, &name) {
                        break;
                    }
                }
                reply.ok();
            }
            Err(e) => reply.error(self.fs.failed(ino.0, None, "readdir", e)),
        }
    }

    fn readdirplus(
        &self,
        _req: &Request,
        ino: INodeNo,
        fh: FileHandle,
        offset: u64,
        mut reply: fuser::ReplyDirectoryPlus,
    ) {
        trace_op!("readdirplus ino={} off={offset}", ino.0);
        let r = self
            .fs
            .readdirplus(ino.0, fh.0, offset, |i, next, name, attr| {
                reply.add(INodeNo(i), next, name, &self.ttl, attr, Generation(0))
            });
        match r {
            Ok(()) => reply.ok(),
            Err(e) => reply.error(self.fs.failed(ino.0, None, "readdirplus", e)),
        }
    }

    fn releasedir(
        &self,
        _req: &Request,
        ino: INodeNo,
        fh: FileHandle,
        _flags: OpenFlags,
        reply: ReplyEmpty,
    ) {
        trace_op!("releasedir ino={}", ino.0);
        self.fs.releasedir(fh.0);
        reply.ok();
    }

    fn fsyncdir(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        _datasync: bool,
        reply: ReplyEmpty,
    ) {
        trace_op!("fsyncdir ino={}", ino.0);
        match self.fs.fsyncdir(ino.0) {
            Ok(()) => reply.ok(),
            Err(e) => reply.error(self.fs.failed(ino.0, None, "fsyncdir", e)),
        }
    }

    fn statfs(&self, _req: &Request, _ino: INodeNo, reply: ReplyStatfs) {
        trace_op!("statfs");
        match self.fs.statfs() {
            Ok(s) => reply.statfs(
                s.blocks, s.bfree, s.bavail, s.files, s.ffree, s.bsize, s.namelen, s.frsize,
            ),
            Err(e) => reply.error(e),
        }
    }

    fn setxattr(
        &self,
        req: &Request,
        ino: INodeNo,
        name: &OsStr,
        value: &[u8],
        flags: i32,
        _position: u32,
        reply: ReplyEmpty,
    ) {
        trace_op!("setxattr ino={} name={name:?} len={}", ino.0, value.len());
        self.fs.touch();
        match self.fs.setxattr(ino.0, name, value, flags, caller(req)) {
            Ok(()) => reply.ok(),
            Err(e) => reply.error(self.fs.failed(ino.0, None, "setxattr", e)),
        }
    }

    fn getxattr(&self, _req: &Request, ino: INodeNo, name: &OsStr, size: u32, reply: ReplyXattr) {
        trace_op!("getxattr ino={} name={name:?}", ino.0);
        xattr_reply(reply, size, self.fs.getxattr(ino.0, name));
    }

    fn listxattr(&self, _req: &Request, ino: INodeNo, size: u32, reply: ReplyXattr) {
        trace_op!("listxattr ino={}", ino.0);
        xattr_reply(reply, size, self.fs.listxattr(ino.0));
    }

    fn removexattr(&self, _req: &Request, ino: INodeNo, name: &OsStr, reply: ReplyEmpty) {
        trace_op!("removexattr ino={} name={name:?}", ino.0);
        match self.fs.removexattr(ino.0, name) {
            Ok(()) => reply.ok(),
            Err(e) => reply.error(self.fs.failed(ino.0, None, "removexattr", e)),
        }
    }

    fn access(&self, req: &Request, ino: INodeNo, mask: AccessFlags, reply: ReplyEmpty) {
        trace_op!("access ino={} mask={:o}", ino.0, mask.bits());
        match self.fs.access(ino.0, mask.bits(), caller(req)) {
            Ok(()) => reply.ok(),
            Err(e) => reply.error(self.fs.failed(ino.0, None, "access", e)),
        }
    }

    fn create(
        &self,
        req: &Request,
        parent: INodeNo,
        name: &OsStr,
        mode: u32,
        umask: u32,
        flags: i32,
        reply: ReplyCreate,
    ) {
        trace_op!("create parent={} name={name:?} mode={mode:o}", parent.0);
        self.fs.touch();
        match self
            .fs
            .create(parent.0, name, mode, umask, flags, caller(req))
        {
            Ok((a, fh)) => reply.created(
                &self.ttl,
                &a,
                Generation(0),
                FileHandle(fh),
                FopenFlags::empty(),
            ),
            Err(e) => reply.error(self.fs.failed(parent.0, Some(name), "create", e)),
        }
    }

    fn fallocate(
        &self,
        _req: &Request,
        ino: INodeNo,
        fh: FileHandle,
        offset: u64,
        length: u64,
        mode: i32,
        reply: ReplyEmpty,
    ) {
        trace_op!(
            "fallocate ino={} off={offset} len={length} mode={mode}",
            ino.0
        );
        self.fs.touch();
        match self.fs.fallocate(ino.0, fh.0, offset, length, mode) {
            Ok(()) => reply.ok(),
            Err(e) => reply.error(self.fs.failed(ino.0, None, "fallocate", e)),
        }
    }
}
