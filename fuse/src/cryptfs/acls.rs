//! `-o acl`: what the mount does around a POSIX ACL that a local
//! filesystem's fs/posix_acl.c does (the rules themselves are `acl.rs`):
//! a new entry takes its mode and ACLs from its directory's default ACL
//! instead of the umask, setting an access ACL sets the permission bits,
//! and chmod rewrites the access ACL. The ACLs are stored as encrypted
//! xattr values (SPEC §11.1), bound to their file or directory.

use super::{Caller, CryptFs};
use crate::acl::{self, Acl, ACCESS, DEFAULT};
use crate::backing::{Dir, Res};
use crate::inode::Ino;
use fusecry_format::xattr::Owner;
use fuser::Errno;
use std::ffi::OsStr;

/// What a new entry gets: its mode, and under a default ACL the ACLs to
/// store on it.
pub(super) struct NewEntry {
    pub mode: u32,
    access: Option<Acl>,
    default: Option<Acl>,
}

impl NewEntry {
    /// Whether there is anything to store besides the mode.
    pub fn has_acls(&self) -> bool {
        self.access.is_some() || self.default.is_some()
    }
}

impl CryptFs {
    /// The ACL `name` of `ino`, `None` when it has none. Stored bytes
    /// verified, so an unparsable value is damage: EIO.
    fn acl_of(&self, ino: Ino, name: &str) -> Res<Option<Acl>> {
        match self.getxattr(ino, OsStr::new(name)) {
            Ok(b) => Acl::parse(&b).map(Some).ok_or(Errno::EIO),
            Err(e) if e.code() == libc::ENODATA => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// The mode and ACLs of a new entry of `parent` asking for `mode`
    /// (type, set-ID and permission bits) with the caller's `umask`: under
    /// a default ACL, `posix_acl_create`; otherwise the umask cuts it.
    pub(super) fn new_entry(&self, parent: Ino, mode: u32, umask: u32) -> Res<NewEntry> {
        let default = match self.opts.acl {
            true => self.acl_of(parent, DEFAULT)?,
            false => None,
        };
        let Some(default) = default else {
            return Ok(NewEntry {
                mode: mode & !(umask & 0o777),
                access: None,
                default: None,
            });
        };
        let (mut mode, mut access) = default.create(mode);
        let is_dir = mode & libc::S_IFMT == libc::S_IFDIR;
        if !is_dir && mode & libc::S_IFMT != libc::S_IFREG {
            // FIFOs, sockets and devices hold no attributes (SPEC §11.1).
            // Their group bits would otherwise show the mask and give the
            // owning group more than its entry: they take what the group
            // really has, and named users and groups get nothing.
            if let Some(a) = access.take() {
                mode = (mode & !0o070) | a.group_effective() << 3;
            }
        }
        Ok(NewEntry {
            mode,
            access,
            default: is_dir.then_some(default),
        })
    }

    /// Stores the ACLs of `new` on the new backing entry `disk` of `dir`,
    /// bound to `owner` (its file id or directory IV).
    pub(super) fn store_acls(
        &self,
        dir: &Dir,
        disk: &OsStr,
        owner: Owner<'_>,
        new: &NewEntry,
    ) -> Res<()> {
        for (name, acl) in [(ACCESS, &new.access), (DEFAULT, &new.default)] {
            if let Some(acl) = acl {
                let stored = self.codec.encrypt_xattr_value(
                    owner,
                    name,
                    &acl.to_bytes(),
                    &mut self.rng.handle(),
                );
                dir.set_xattr(disk, &self.xattr_name(OsStr::new(name))?, &stored, 0)?;
            }
        }
        Ok(())
    }

    /// setxattr of an ACL. An access ACL sets the permission bits it
    /// implies, and one that says no more than they do is not stored (as
    /// `posix_acl_update_mode`); setting it clears set-group-ID for a caller
    /// outside the file's group (the kernel's FUSE_SETXATTR_ACL_KILL_SGID,
    /// which fuser does not pass). `Ok(false)` for other names.
    pub(super) fn set_acl(
        &self,
        ino: Ino,
        name: &str,
        value: &[u8],
        flags: i32,
        who: Caller,
    ) -> Res<bool> {
        if !acl::is_acl(name) {
            return Ok(false);
        }
        let parsed = Acl::parse(value).ok_or(Errno::EINVAL)?;
        if name == DEFAULT {
            return self.store_xattr(ino, name, value, flags).map(|_| true);
        }
        let (dir, entry, m) = self.checked(ino)?;
        let mut mode = (m.mode() & 0o7000) | parsed.mode_bits();
        if m.mode() & libc::S_ISGID != 0
            && !who.may_keep_privs()
            && !crate::privs::in_group(&who, m.gid())
        {
            mode &= !libc::S_ISGID;
        }
        if parsed.is_minimal() {
            match self.removexattr(ino, OsStr::new(ACCESS)) {
                Err(e) if e.code() != libc::ENODATA => return Err(e),
                _ => {}
            }
        } else {
            self.store_xattr(ino, name, value, flags)?;
        }
        dir.chmod(&entry, mode)?;
        Ok(true)
    }

    /// After a chmod of `ino` to `mode`: its access ACL, if it has one,
    /// takes the new owner, mask and other bits (`posix_acl_chmod`).
    pub(super) fn chmod_acl(&self, ino: Ino, mode: u32) -> Res<()> {
        if !self.opts.acl {
            return Ok(());
        }
        if let Some(mut a) = self.acl_of(ino, ACCESS)? {
            a.chmod(mode);
            self.store_xattr(ino, ACCESS, &a.to_bytes(), 0)?;
        }
        Ok(())
    }
}
