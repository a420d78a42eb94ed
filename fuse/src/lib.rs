//! The fusecry mount: a FUSE filesystem (on the `fuser` crate) that shows the
//! plaintext view of a fusecry volume, for both profiles (fusecry/1 and
//! legacy 0.11), as SPEC.md describes the bytes.
//!
//! `adapter` maps fuser's handlers onto `CryptFs`, whose methods own the
//! semantics; `inode` and `handle` hold the tables, `content` the chunked
//! file I/O, `names` the name codec per directory (with `legacy_names`, the
//! decrypted-name index of legacy directories), `xattrs` the binding of
//! xattr values to their file, `acl` the POSIX ACL rules (`-o acl`), `space` the size limit and the reservation
//! of backing space before a grow, and `backing` every call into the
//! ciphertext directory.

pub mod acl;
pub mod adapter;
pub mod backing;
pub mod content;
pub mod cryptfs;
pub mod fault;
pub mod handle;
pub mod inode;
pub mod legacy_names;
pub mod names;
pub mod privs;
pub mod rng;
pub mod space;
pub mod xattrs;

pub use cryptfs::{CryptFs, FsOptions};
/// The kernel's generic mount flags, as fuser names them (`MountOptions::flags`).
pub use fuser::MountOption;

use fuser::{Config, Session, SessionACL};
use std::path::Path;
use std::sync::Arc;

/// How to mount.
#[derive(Clone, Debug)]
pub struct MountOptions {
    /// Filesystem behaviour (read-only, writeback cache, test seed).
    pub fs: FsOptions,
    /// Let other users use the mount (`-o allow_other`).
    pub allow_other: bool,
    /// Threads reading requests from the kernel (one /dev/fuse clone each).
    pub threads: usize,
    /// The source shown in the mount table.
    pub fsname: String,
    /// Have the kernel check permissions (`-o default_permissions`) even on
    /// a mount only root can use, where it is otherwise left off.
    pub default_permissions: bool,
    /// The kernel's generic mount flags (nodev, nosuid, noexec, noatime...).
    pub flags: Vec<MountOption>,
}

impl Default for MountOptions {
    fn default() -> Self {
        MountOptions {
            fs: FsOptions {
                writeback: true,
                ..FsOptions::default()
            },
            allow_other: false,
            threads: 4,
            fsname: "fusecry".into(),
            default_permissions: false,
            flags: Vec::new(),
        }
    }
}

fn config(opts: &MountOptions) -> Config {
    let mut c = Config::default();
    c.mount_options = vec![
        MountOption::FSName(opts.fsname.clone()),
        MountOption::Subtype("fusecry".into()),
        if opts.fs.read_only {
            MountOption::RO
        } else {
            MountOption::RW
        },
    ];
    c.mount_options.extend(opts.flags.iter().cloned());
    if kernel_checks_permissions(opts) {
        c.mount_options.push(MountOption::DefaultPermissions);
    }
    c.acl = if opts.allow_other {
        SessionACL::All
    } else {
        SessionACL::Owner
    };
    c.n_threads = Some(opts.threads.max(1));
    c.clone_fd = true;
    c
}

/// Whether the kernel checks permissions against the modes and owners we
/// report, as for any local filesystem. It must wherever a caller may lack
/// rights: other users (`allow_other`), or a mount owner who is not root.
/// A root mount without `allow_other` is reachable only by processes whose
/// user and group ids are all 0, which pass every check but execute (the
/// kernel still refuses to execute a file no one may execute, and `access`
/// answers as the kernel would); there the checks cost a getattr round trip
/// on the parent after every create, mkdir and unlink, about a tenth of an
/// untar. gocryptfs makes the same choice.
pub fn kernel_checks_permissions(opts: &MountOptions) -> bool {
    opts.default_permissions || opts.allow_other || !nix::unistd::geteuid().is_root()
}

/// Mounts `fs` at `mountpoint`; the session serves requests when run.
pub fn session(
    fs: Arc<CryptFs>,
    mountpoint: &Path,
    opts: &MountOptions,
) -> std::io::Result<Session<adapter::Adapter>> {
    let a = adapter::Adapter::new(fs, &opts.fs);
    Session::new(a, mountpoint, &config(opts))
}

/// Mounts and serves in background threads; dropping the returned session unmounts.
pub fn spawn(
    fs: Arc<CryptFs>,
    mountpoint: &Path,
    opts: &MountOptions,
) -> std::io::Result<fuser::BackgroundSession> {
    session(fs, mountpoint, opts)?.spawn()
}
