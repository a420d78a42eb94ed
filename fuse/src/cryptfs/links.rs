//! SPEC §11 as the mount sees it. With encrypted names a stored symlink
//! target is bound to the parent's directory IV and to the link's own
//! encoded name, so it reads only where it was written: a target copied from
//! another symlink, or placed under another name, answers EIO. Reading and
//! writing targets pass that binding; a symlink that changes its
//! (directory, name) in a rename is written anew for its destination, and a
//! link(2) of a symlink makes a new symlink with the same target.
//!
//! A stored target too long for a symlink is kept out of line (SPEC §11.2):
//! its sidecar is written before the symlink and removed after it, wherever
//! a symlink is made, replaced or removed.

use super::{Caller, CryptFs, SYMLINK_MAX};
use crate::backing::{Dir, Meta, Res, Time};
use crate::inode::{Ino, Key};
use crate::names;
use fusecry_format::long_target::{self, Placement};
use fusecry_format::name::{tmp_name, DirIv};
use fuser::{Errno, FileAttr};
use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::OsStrExt;

/// One side of a rename: the entry `plain` of directory `parent` (backing
/// directory `dir`, on-disk name `disk`) and, if it exists, its metadata.
pub(super) struct Side<'a> {
    pub parent: Ino,
    pub plain: &'a OsStr,
    pub dir: &'a Dir,
    pub disk: &'a OsStr,
    pub meta: Option<&'a Meta>,
}

impl Side<'_> {
    fn is_symlink(&self) -> bool {
        self.meta.is_some_and(|m| m.is_symlink())
    }

    /// Backing identity of the entry now at this side's name.
    fn key(&self) -> Option<Key> {
        self.dir.stat(self.disk).ok().map(|m| (m.dev(), m.ino()))
    }
}

impl CryptFs {
    /// What the target of a symlink named `plain` in directory `parent` is
    /// bound to: the directory IV and the full encoded name. Nothing (and no
    /// lookup) for volumes that store targets as they are.
    fn link_binding(&self, parent: Ino, plain: &OsStr) -> Res<(Option<DirIv>, String)> {
        if !self.codec.binds_symlinks() {
            return Ok((None, String::new()));
        }
        let d = self.dir(parent)?;
        let encoded = names::encoded(&self.codec, &d.dir, d.iv.as_ref(), d.is_root, plain)?;
        Ok((d.iv, encoded))
    }

    /// What the symlink named `plain` in `parent` is to hold for `target`:
    /// its stored form, or for a long one a marker, once the sidecar holding
    /// the stored form is written (SPEC §11.2).
    pub(super) fn store_target(&self, parent: Ino, plain: &OsStr, target: &[u8]) -> Res<Vec<u8>> {
        let (iv, encoded) = self.link_binding(parent, plain)?;
        let stored = self
            .codec
            .encrypt_symlink(iv.as_ref(), &encoded, target, &mut self.rng.handle())
            .map_err(|e| {
                tracing::error!(
                    "{}: cannot encrypt a symlink target: {e}",
                    self.plain_path(parent)
                );
                Errno::EIO
            })?;
        match self.codec.place_symlink(stored) {
            Placement::Inline(s) if s.len() > SYMLINK_MAX => Err(Errno::ENAMETOOLONG),
            Placement::Inline(s) => Ok(s),
            Placement::OutOfLine { marker, stored } => {
                self.dir(parent)?
                    .dir
                    .write_small(OsStr::new(&marker), &stored, 0o444)?;
                Ok(marker.into_bytes())
            }
        }
    }

    /// The long-target sidecar of the symlink `disk` in `dir`, if it has one.
    pub(super) fn target_sidecar(&self, dir: &Dir, disk: &OsStr) -> Option<OsString> {
        if !self.codec.binds_symlinks() {
            return None;
        }
        let link = dir.readlink(disk).ok()?;
        long_target::sidecar_of(&link).map(OsString::from)
    }

    /// Removes the long-target sidecar `side` of a symlink that is gone.
    pub(super) fn drop_target(dir: &Dir, side: Option<OsString>) {
        if let Some(s) = side {
            let _ = dir.unlink(&s);
        }
    }

    /// Removes the symlink `disk` of `dir` and its long-target sidecar.
    fn unlink_symlink(&self, dir: &Dir, disk: &OsStr) {
        let side = self.target_sidecar(dir, disk);
        if dir.unlink(disk).is_ok() {
            Self::drop_target(dir, side);
        }
    }

    /// The size `lstat` shows for a symlink whose link is `len` bytes: the
    /// target's length, from the stored length (SPEC §11) or, for a long
    /// target, from its sidecar's (§11.2).
    pub(super) fn symlink_size(&self, dir: &Dir, disk: &OsStr, len: u64) -> u64 {
        if self.codec.binds_symlinks() && len == long_target::MARKER_LEN as u64 {
            if let Some(side) = self.target_sidecar(dir, disk) {
                if let Ok(m) = dir.stat(&side) {
                    return self.codec.symlink_target_len(m.len());
                }
            }
        }
        self.codec.symlink_target_len(len)
    }

    /// Verifies and decrypts `stored`, the target of the symlink named
    /// `plain` in `parent` (`shown`: its plaintext path, for the log).
    fn open_target(&self, parent: Ino, plain: &OsStr, stored: &[u8], shown: &str) -> Res<Vec<u8>> {
        let (iv, encoded) = self.link_binding(parent, plain)?;
        let read = |side: &str| -> std::io::Result<Vec<u8>> {
            let d = self
                .dir(parent)
                .map_err(|e| std::io::Error::from_raw_os_error(e.code()))?;
            d.dir
                .read_small(OsStr::new(side))
                .map_err(|e| std::io::Error::from_raw_os_error(e.code()))
        };
        self.codec
            .read_symlink(iv.as_ref(), &encoded, stored, read)
            .map_err(|e| {
                tracing::error!("{shown}: symlink target: {e}: answering EIO");
                Errno::EIO
            })
    }

    /// readlink: the target, checked against the link's directory and name.
    pub(super) fn read_target(&self, ino: Ino) -> Res<Vec<u8>> {
        let (dir, name, _) = self.checked(ino)?;
        let stored = dir.readlink(&name)?;
        let (parent, plain) = {
            let t = self.inodes.lock();
            let l = t
                .get(ino)
                .and_then(|n| n.links.first())
                .ok_or(Errno::ENOENT)?;
            (l.parent, l.plain_name.clone())
        };
        self.open_target(parent, &plain, &stored, &self.plain_path(ino))
    }

    /// link(2) of a symlink in a volume that binds targets: the target is
    /// bound to one name, so the new name gets a new symlink with the same
    /// target and owner (SPEC §11: not a hard link; the two are independent
    /// afterwards and each has a link count of 1).
    pub(super) fn link_symlink(
        &self,
        ino: Ino,
        m: &Meta,
        newparent: Ino,
        newname: &OsStr,
    ) -> Res<FileAttr> {
        let target = self.read_target(ino)?;
        let owner = Caller {
            uid: m.uid(),
            gid: m.gid(),
            pid: 0,
        };
        self.symlink(newparent, newname, OsStr::from_bytes(&target), owner)
    }

    /// Whether a rename of `a` (metadata `om`) onto `b` (`target`, if it
    /// exists) moves a symlink to another (directory, name).
    pub(super) fn rename_rebinds(&self, om: &Meta, target: Option<&Meta>, flags: u32) -> bool {
        self.codec.binds_symlinks()
            && (om.is_symlink()
                || (flags & libc::RENAME_EXCHANGE != 0 && target.is_some_and(|t| t.is_symlink())))
    }

    /// rename(2) when a symlink changes its (directory, name): `a` goes to
    /// `b`, and with RENAME_EXCHANGE `b` to `a`. Each symlink that moves is
    /// written anew, bound to its destination, under a temporary reserved
    /// name in the destination directory (SPEC §10 `fusecry.tmp.*`), then
    /// renamed over the destination, so that a name never lacks an entry
    /// and never shows a half-written one; only then does the source go.
    /// Returns the new backing identities of the symlinks now at `b` and at
    /// `a` (those written anew).
    pub(super) fn rename_rebinding(
        &self,
        a: &Side<'_>,
        b: &Side<'_>,
        flags: u32,
    ) -> Res<(Option<Key>, Option<Key>)> {
        let exchange = flags & libc::RENAME_EXCHANGE != 0;
        let to_b = if a.is_symlink() {
            Some(self.stage_symlink(a, b)?)
        } else {
            None
        };
        let to_a = if exchange && b.is_symlink() {
            match self.stage_symlink(b, a) {
                Ok(t) => Some(t),
                Err(e) => {
                    if let Some(t) = &to_b {
                        self.unlink_symlink(b.dir, t);
                    }
                    return Err(e);
                }
            }
        } else {
            None
        };
        let done = match (&to_b, &to_a) {
            // A plain rename: the new link replaces the destination, then
            // the old one goes.
            (Some(tb), None) if !exchange => b
                .dir
                .rename(tb, b.dir, b.disk, flags)
                .and_then(|()| a.dir.unlink(a.disk)),
            // Two symlinks exchanged: each name gets its new link in one step.
            (Some(tb), Some(ta)) => b
                .dir
                .rename(tb, b.dir, b.disk, 0)
                .and_then(|()| a.dir.rename(ta, a.dir, a.disk, 0)),
            // A symlink exchanged with another kind of entry: the kernel
            // swaps the two, then the new link replaces the old one, which
            // meanwhile sits, unreadable, under the other name.
            (Some(t), None) | (None, Some(t)) => {
                let over = if to_b.is_some() { b } else { a };
                a.dir
                    .rename(a.disk, b.dir, b.disk, flags)
                    .and_then(|()| over.dir.rename(t, over.dir, over.disk, 0))
            }
            (None, None) => unreachable!("only called when a symlink moves"),
        };
        if let Err(e) = done {
            if let Some(t) = &to_b {
                self.unlink_symlink(b.dir, t);
            }
            if let Some(t) = &to_a {
                self.unlink_symlink(a.dir, t);
            }
            return Err(e);
        }
        Ok((
            to_b.as_ref().and_then(|_| b.key()),
            to_a.as_ref().and_then(|_| a.key()),
        ))
    }

    /// Writes the target of symlink `from`, re-encrypted for `to`, as a new
    /// symlink under a fresh temporary name in `to`'s directory, with
    /// `from`'s owner and times; returns its name in `to.dir`.
    fn stage_symlink(&self, from: &Side<'_>, to: &Side<'_>) -> Res<OsString> {
        let m = from.meta.ok_or(Errno::ENOENT)?;
        let stored = from.dir.readlink(from.disk)?;
        let shown = format!(
            "{}/{}",
            self.plain_path(from.parent),
            from.plain.to_string_lossy()
        );
        let target = self.open_target(from.parent, from.plain, &stored, &shown)?;
        let fresh = self.store_target(to.parent, to.plain, &target)?;
        let mut tries = 0;
        let tmp = loop {
            let mut r = [0u8; 16];
            rand_core::RngCore::fill_bytes(&mut self.rng.handle(), &mut r);
            let tmp = OsString::from(tmp_name(&r));
            match to.dir.symlink(&fresh, &tmp) {
                Ok(()) => break tmp,
                Err(Errno::EEXIST) if tries < 3 => tries += 1,
                Err(e) => {
                    Self::drop_target(to.dir, long_target::sidecar_of(&fresh).map(OsString::from));
                    return Err(e);
                }
            }
        };
        let keep = || -> Res<()> {
            if self.as_root {
                to.dir.chown(&tmp, Some(m.uid()), Some(m.gid()))?;
            }
            let ((a, ans), (mt, mns)) = (m.atime(), m.mtime());
            to.dir.utimens(&tmp, Time::At(a, ans), Time::At(mt, mns))
        };
        if let Err(e) = keep() {
            self.unlink_symlink(to.dir, &tmp);
            return Err(e);
        }
        Ok(tmp)
    }
}
