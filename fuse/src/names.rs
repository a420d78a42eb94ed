//! SPEC §10 as the mount sees it: plaintext name ↔ on-disk name inside one
//! backing directory, the directory IV, long-name sidecars, and which
//! on-disk names are ours and never shown.

use crate::backing::{self, Res};
use crate::inode::Ino;
use crate::legacy_names::LegacyNames;
use fusecry_format::name::{self, DirIv, DiskName, CONF_NAME, DIRIV_NAME};
use fusecry_format::{Codec, Profile};
use fuser::Errno;
use rand_core::CryptoRngCore;
use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

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
pub fn read_diriv(codec: &Codec, dir: &Path) -> Res<Option<DirIv>> {
    if !codec.uses_diriv() {
        return Ok(None);
    }
    let bytes = backing::read_small(&dir.join(DIRIV_NAME)).map_err(|e| {
        tracing::error!("{}: cannot read {DIRIV_NAME}: {e:?}", dir.display());
        Errno::EIO
    })?;
    DirIv::from_bytes(&bytes).map(Some).map_err(|e| {
        tracing::error!("{}: {e}", dir.display());
        Errno::EIO
    })
}

/// Writes a fresh directory IV into a new backing directory.
pub fn write_diriv(codec: &Codec, dir: &Path, rng: &mut impl CryptoRngCore) -> Res<()> {
    if codec.uses_diriv() {
        let iv = DirIv::random(rng);
        backing::write_small(&dir.join(DIRIV_NAME), &iv.0, 0o444)?;
    }
    Ok(())
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

/// The on-disk name of an *existing* entry `plain`, or `None` when it
/// cannot exist. fusecry/1 names are deterministic (one computation, O(1));
/// legacy 0.11 names carry a random IV, so they are looked up in the
/// directory's index (`legacy`: the index and the directory's inode).
pub fn find_existing(
    codec: &Codec,
    dir: &Path,
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
            let (disk, _) = codec
                .encrypt_name(diriv, s, &mut no_rng)
                .map_err(|_| Errno::EINVAL)?;
            Ok(Some(OsString::from(disk)))
        }
        // Randomized names: found through the directory's decrypted index.
        Profile::Legacy => legacy.0.find(codec, legacy.1, dir, is_root, plain),
    }
}

/// Decodes an on-disk entry name of directory `dir`.
pub fn decode(
    codec: &Codec,
    dir: &Path,
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
            let side = dir.join(name::sidecar_name(l));
            match backing::read_small(&side).map(String::from_utf8) {
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

/// Writes the sidecar of a long name (before the entry itself appears).
pub fn write_sidecar(dir: &Path, disk: &OsStr, content: &str) -> Res<()> {
    let side = dir.join(name::sidecar_name(&disk.to_string_lossy()));
    backing::write_small_replace(&side, content.as_bytes(), 0o444)
}

/// Removes the sidecar of `disk` if it is a long name (after the entry is gone).
pub fn remove_sidecar(dir: &Path, disk: &OsStr) {
    if let Some(d) = disk.to_str() {
        if matches!(name::classify(d), DiskName::Long(_)) {
            let _ = backing::unlink(&dir.join(name::sidecar_name(d)));
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
pub fn remove_sidecar_if_unused(dir: &Path, disk: &OsStr) {
    if is_long(disk) && backing::lstat(&dir.join(disk)).is_err() {
        remove_sidecar(dir, disk);
    }
}
