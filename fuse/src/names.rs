//! SPEC §10 as the mount sees it: plaintext name ↔ on-disk name inside one
//! backing directory, the directory IV, long-name sidecars, and which
//! on-disk names are ours and never shown.

use crate::backing::{Dir, Res};
use crate::inode::Ino;
use crate::legacy_names::LegacyNames;
use fusecry_format::name::{self, DirIv, DiskName, CONF_NAME, DIRIV_NAME};
use fusecry_format::{Codec, Profile};
use fuser::Errno;
use rand_core::CryptoRngCore;
use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::OsStrExt;

/// What an on-disk entry is.
pub enum Decoded {
    /// Our metadata (conf, diriv, sidecar): hidden.
    Hidden,
    /// A user entry with its plaintext name.
    Name(OsString),
    /// An entry whose name does not decrypt: hidden and logged.
    Bad(String),
}

/// The directory IV of a backing directory, if the volume uses them.
/// Any failure is EIO: a directory of the volume always has one (the caller
/// logs it with the plaintext path).
pub fn read_diriv(codec: &Codec, dir: &Dir) -> Res<Option<DirIv>> {
    if !codec.uses_diriv() {
        return Ok(None);
    }
    let bytes = dir
        .read_small(OsStr::new(DIRIV_NAME))
        .map_err(|_| Errno::EIO)?;
    DirIv::from_bytes(&bytes).map(Some).map_err(|_| Errno::EIO)
}

/// Writes a fresh directory IV into a new backing directory and makes it
/// durable: its content (by `write_small`) and its entry, by syncing the
/// new directory. An `fsync` of the parent then makes the whole new
/// directory durable (README, durability).
pub fn write_diriv(codec: &Codec, dir: &Dir, rng: &mut impl CryptoRngCore) -> Res<Option<DirIv>> {
    if !codec.uses_diriv() {
        return Ok(None);
    }
    let iv = DirIv::random(rng);
    dir.write_small(OsStr::new(DIRIV_NAME), &iv.0, 0o444)?;
    dir.sync()?;
    Ok(Some(iv))
}

/// True for plaintext names the user may never create or see in this directory.
fn reserved_plain(codec: &Codec, is_root: bool, plain: &OsStr) -> bool {
    // With encrypted names a plaintext "fusecry.conf" encrypts to base32 and
    // cannot collide; with plain names it would be the conf itself.
    !codec.encrypted_names() && is_root && plain == CONF_NAME
}

/// The on-disk name a *new* entry `plain` gets, and the long-name sidecar
/// content to write beside it (fusecry/1 only).
pub fn encode_new(
    codec: &Codec,
    diriv: Option<&DirIv>,
    is_root: bool,
    plain: &OsStr,
    rng: &mut impl CryptoRngCore,
) -> Res<(OsString, Option<String>)> {
    if plain.len() > name::NAME_MAX {
        return Err(Errno::ENAMETOOLONG);
    }
    if reserved_plain(codec, is_root, plain) {
        return Err(Errno::EPERM);
    }
    if !codec.encrypted_names() {
        return Ok((plain.to_os_string(), None));
    }
    if codec.profile() == Profile::Legacy
        && plain.len() > fusecry_format::legacy::name::MAX_NAME_BYTES
    {
        // 0.11 had no long-name scheme: the encoding would not fit (quirk 18).
        return Err(Errno::ENAMETOOLONG);
    }
    let s = plain.to_str().ok_or(Errno::from_i32(libc::EILSEQ))?;
    let (disk, sidecar) = codec.encrypt_name(diriv, s, rng).map_err(|e| {
        tracing::warn!("cannot encrypt name: {e}");
        Errno::EINVAL
    })?;
    if codec.profile() == Profile::Legacy && disk.len() > name::NAME_MAX {
        // 0.11 had no long-name scheme: the backing fs refuses these.
        return Err(Errno::ENAMETOOLONG);
    }
    Ok((OsString::from(disk), sidecar))
}

/// The full encoded name of entry `plain` (for a long name, the sidecar
/// content, not the hashed disk name): with the directory IV, what a
/// fusecry/1 symlink target is bound to (SPEC §11). Only for volumes that
/// bind targets (`Codec::binds_symlinks`), whose names are deterministic.
pub fn encoded(codec: &Codec, diriv: Option<&DirIv>, is_root: bool, plain: &OsStr) -> Res<String> {
    let (disk, sidecar) = encode_new(codec, diriv, is_root, plain, &mut rand_core::OsRng)?;
    Ok(sidecar.unwrap_or_else(|| disk.to_string_lossy().into_owned()))
}

/// The on-disk name of an *existing* entry `plain`, or `None` when it
/// cannot exist. fusecry/1 names are deterministic (one computation, O(1));
/// legacy 0.11 names carry a random IV, so they are looked up in the
/// directory's index (`legacy`: the index and the directory's inode).
pub fn find_existing(
    codec: &Codec,
    dir: &Dir,
    diriv: Option<&DirIv>,
    is_root: bool,
    plain: &OsStr,
    legacy: (&LegacyNames, Ino),
) -> Res<Option<OsString>> {
    if plain.len() > name::NAME_MAX {
        return Err(Errno::ENAMETOOLONG);
    }
    if reserved_plain(codec, is_root, plain) {
        return Ok(None);
    }
    if !codec.encrypted_names() {
        return Ok(Some(plain.to_os_string()));
    }
    let Some(s) = plain.to_str() else {
        return Ok(None);
    };
    match codec.profile() {
        Profile::V1 => {
            let mut no_rng = rand_core::OsRng;
            let (disk, long) = codec
                .encrypt_name(diriv, s, &mut no_rng)
                .map_err(|_| Errno::EINVAL)?;
            if let Some(encoded) = long {
                check_long(dir, &disk, &encoded)?;
            }
            Ok(Some(OsString::from(disk)))
        }
        // Randomized names: found through the directory's decrypted index.
        Profile::Legacy => legacy.0.find(codec, legacy.1, dir, is_root, plain),
    }
}

/// An existing long-named entry is only the name its sidecar holds (SPEC
/// §10). The hashed disk name alone would let a lookup reach an entry whose
/// sidecar was removed, swapped for a FIFO or a symlink, or edited: those
/// are EIO (the caller logs the plaintext path), as the listing hides them.
fn check_long(dir: &Dir, disk: &str, encoded: &str) -> Res<()> {
    match dir.stat(OsStr::new(disk)) {
        Err(e) if e == Errno::ENOENT => return Ok(()),
        Err(e) => return Err(e),
        Ok(_) => {}
    }
    match dir.read_small(OsStr::new(&name::sidecar_name(disk))) {
        Ok(b) if b == encoded.as_bytes() => Ok(()),
        _ => Err(Errno::EIO),
    }
}

/// Decodes an on-disk entry name of directory `dir`.
pub fn decode(
    codec: &Codec,
    dir: &Dir,
    diriv: Option<&DirIv>,
    is_root: bool,
    disk: &OsStr,
) -> Decoded {
    if is_root && disk == CONF_NAME {
        return Decoded::Hidden;
    }
    if !codec.encrypted_names() {
        return Decoded::Name(disk.to_os_string());
    }
    let Some(d) = disk.to_str() else {
        return Decoded::Bad(format!("{:?} is not UTF-8", disk));
    };
    if codec.profile() == Profile::Legacy {
        return match codec.decrypt_name(None, d) {
            Ok(n) => Decoded::Name(n.into()),
            Err(e) => Decoded::Bad(e.to_string()),
        };
    }
    let encoded = match name::classify(d) {
        DiskName::Reserved => return Decoded::Hidden,
        DiskName::Short(s) => s.to_string(),
        DiskName::Long(l) => {
            let side = name::sidecar_name(l);
            match dir.read_small(OsStr::new(&side)).map(String::from_utf8) {
                Ok(Ok(c)) if name::check_sidecar(l, &c).is_ok() => c,
                _ => return Decoded::Bad(format!("{l}: missing or wrong sidecar")),
            }
        }
    };
    match codec.decrypt_name(diriv, &encoded) {
        Ok(n) => Decoded::Name(n.into()),
        Err(e) => Decoded::Bad(e.to_string()),
    }
}

/// Writes the sidecar of a long name (before the entry itself appears),
/// exclusively. A sidecar already there while its entry is not is left
/// over (a crash between the two) or planted: it is removed (unlinkat
/// removes a symlink itself, never its target) and written anew.
pub fn write_sidecar(dir: &Dir, disk: &OsStr, content: &str) -> Res<()> {
    let side = OsString::from(name::sidecar_name(&disk.to_string_lossy()));
    match dir.write_small(&side, content.as_bytes(), 0o444) {
        Err(e) if e == Errno::EEXIST => {
            if dir.stat(disk).is_ok() {
                return Err(Errno::EEXIST);
            }
            let m = dir.stat(&side)?;
            if m.is_dir() {
                return Err(Errno::EIO);
            }
            dir.unlink(&side)?;
            dir.write_small(&side, content.as_bytes(), 0o444)
        }
        r => r,
    }
}

/// Removes the sidecar of `disk` if it is a long name (after the entry is gone).
pub fn remove_sidecar(dir: &Dir, disk: &OsStr) {
    if let Some(d) = disk.to_str() {
        if matches!(name::classify(d), DiskName::Long(_)) {
            let _ = dir.unlink(OsStr::new(&name::sidecar_name(d)));
        }
    }
}

/// True if `disk` is a long name whose sidecar is needed.
pub fn is_long(disk: &OsStr) -> bool {
    disk.as_bytes()
        .starts_with(name::LONGNAME_PREFIX.as_bytes())
}

/// Removes the sidecar written for a new long-named entry that then failed
/// to appear (the entry must not exist, or its sidecar is still needed).
pub fn remove_sidecar_if_unused(dir: &Dir, disk: &OsStr) {
    if is_long(disk) && dir.stat(disk).is_err() {
        remove_sidecar(dir, disk);
    }
}

/// One backing directory of the volume as the mount works in it: its
/// descriptor, its IV (fusecry/1 with encrypted names), whether it is the
/// root, and our inode number of it (the key of its legacy name index).
/// Every name of SPEC §10 inside it is found, made and removed here.
pub struct OpenDir {
    /// Our inode number of the directory.
    pub ino: Ino,
    /// Its backing descriptor.
    pub dir: Dir,
    /// Its directory IV, when the volume has them.
    pub iv: Option<DirIv>,
    /// Whether it is the volume root (where the conf lives).
    pub is_root: bool,
}

impl OpenDir {
    /// The on-disk name of the existing entry `plain` (see [`find_existing`]).
    pub fn find(
        &self,
        codec: &Codec,
        legacy: &LegacyNames,
        plain: &OsStr,
    ) -> Res<Option<OsString>> {
        find_existing(
            codec,
            &self.dir,
            self.iv.as_ref(),
            self.is_root,
            plain,
            (legacy, self.ino),
        )
    }

    /// The on-disk name and sidecar content of a new entry `plain`.
    pub fn encode_new(
        &self,
        codec: &Codec,
        plain: &OsStr,
        rng: &mut impl CryptoRngCore,
    ) -> Res<(OsString, Option<String>)> {
        encode_new(codec, self.iv.as_ref(), self.is_root, plain, rng)
    }

    /// Decodes the on-disk entry name `disk`.
    pub fn decode(&self, codec: &Codec, disk: &OsStr) -> Decoded {
        decode(codec, &self.dir, self.iv.as_ref(), self.is_root, disk)
    }

    /// Writes the sidecar of the long name `disk` (see [`write_sidecar`]).
    pub fn write_sidecar(&self, disk: &OsStr, content: &str) -> Res<()> {
        write_sidecar(&self.dir, disk, content)
    }

    /// Removes the sidecar of `disk`, if a long name, after its entry went.
    pub fn remove_sidecar(&self, disk: &OsStr) {
        remove_sidecar(&self.dir, disk)
    }

    /// Removes the sidecar of a new entry `disk` that failed to appear.
    pub fn remove_sidecar_if_unused(&self, disk: &OsStr) {
        remove_sidecar_if_unused(&self.dir, disk)
    }
}
