//! SPEC §10 as the mount sees it: plaintext name ↔ on-disk name inside one
//! backing directory, the directory IV, long-name sidecars, and which
//! on-disk names are ours and never shown.

use crate::backing::{Dir, Res};
use crate::inode::Ino;
use crate::legacy_names::LegacyNames;
use fusecry_format::conflict::{self, Tool};
use fusecry_format::name::{self, DirIv, DiskName, CONF_NAME, DIRIV_NAME};
use fusecry_format::{Codec, Profile};
use fuser::Errno;
use rand_core::CryptoRngCore;
use std::collections::HashSet;
use std::ffi::{OsStr, OsString};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// What an on-disk entry is.
pub enum Decoded {
    /// Our metadata (conf, diriv, sidecar): hidden.
    Hidden,
    /// A user entry with its plaintext name.
    Name(Named),
    /// An entry whose name does not decrypt: hidden and logged.
    Bad(String),
}

/// A user entry as the mount shows it.
pub struct Named {
    /// Its plaintext name.
    pub name: OsString,
    /// The full encoded name its symlink target is bound to (SPEC §11;
    /// a conflict copy's is its base's, §10.1).
    pub encoded: String,
    /// For a sync tool's conflict copy (§10.1): the plaintext name of the
    /// entry it copies, and the tool.
    pub copy_of: Option<(String, Tool)>,
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
/// An existing conflict copy shown as `plain` is bound to its base's.
pub fn encoded(
    codec: &Codec,
    dir: &Dir,
    diriv: Option<&DirIv>,
    is_root: bool,
    plain: &OsStr,
) -> Res<String> {
    let (disk, sidecar) = encode_new(codec, diriv, is_root, plain, &mut rand_core::OsRng)?;
    if let Some((_, base)) = find_copy(codec, dir, diriv, plain, &disk) {
        return Ok(base);
    }
    Ok(sidecar.unwrap_or_else(|| disk.to_string_lossy().into_owned()))
}

/// The conflict copy (SPEC §10.1) shown as `plain`, when there is one and
/// no entry of that very name (`own`, its on-disk name) exists: its on-disk
/// name and the encoded name of its base. Only names carrying a sync tool's
/// marker get past the first line, and only a copy whose listing would show
/// it as `plain` is returned, so lookups and listings agree.
fn find_copy(
    codec: &Codec,
    dir: &Dir,
    diriv: Option<&DirIv>,
    plain: &OsStr,
    own: &OsStr,
) -> Option<(OsString, String)> {
    if !codec.uses_diriv() {
        return None;
    }
    let plain = plain.to_str()?;
    let candidates = conflict::split_shown(plain);
    if candidates.is_empty() || dir.stat(own).is_ok() {
        return None;
    }
    for (base, marker) in candidates {
        let Ok((bdisk, _)) = codec.encrypt_name(diriv, &base, &mut rand_core::OsRng) else {
            continue;
        };
        for disk in conflict::disk_names(&bdisk, marker) {
            if dir.stat(OsStr::new(&disk)).is_err() {
                continue;
            }
            let read = |side: &str| dir.read_small(OsStr::new(side)).ok();
            if let Ok(Some(e)) = codec.decode_entry(diriv, &disk, read) {
                if e.name == plain {
                    return Some((disk.into(), e.encoded));
                }
            }
        }
    }
    None
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
            let disk = OsString::from(disk);
            match find_copy(codec, dir, diriv, plain, &disk) {
                Some((copy, _)) => Ok(Some(copy)),
                None => Ok(Some(disk)),
            }
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

/// Decodes an on-disk entry name of directory `dir`. A conflict copy
/// (SPEC §10.1) whose shown name an entry of the directory has is hidden
/// (and logged), so that one name is one entry.
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
        return Decoded::Name(Named {
            name: disk.to_os_string(),
            encoded: String::new(),
            copy_of: None,
        });
    }
    let Some(d) = disk.to_str() else {
        return Decoded::Bad(format!("{:?} is not UTF-8", disk));
    };
    let read = |side: &str| dir.read_small(OsStr::new(side)).ok();
    let e = match codec.decode_entry(diriv, d, read) {
        Ok(None) => return Decoded::Hidden,
        Ok(Some(e)) => e,
        Err(e) => return Decoded::Bad(e.to_string()),
    };
    if e.copy_of.is_some() {
        let own = codec.encrypt_name(diriv, &e.name, &mut rand_core::OsRng);
        if own.is_ok_and(|(own, _)| dir.stat(OsStr::new(&own)).is_ok()) {
            return Decoded::Bad(format!(
                "a conflict copy shown as {:?}, which another entry is named",
                e.name
            ));
        }
    }
    Decoded::Name(Named {
        name: e.name.into(),
        encoded: e.encoded,
        copy_of: e.copy_of,
    })
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

/// The long-name sidecars of a directory listing that no entry needs any
/// more (SPEC §10 "orphans"): neither their long name nor a conflict copy of
/// it (§10.1) is listed. An entry's sidecar is not removed with the entry,
/// since a copy may still need it and only a listing tells; orphans go when
/// the directory is listed again ([`sweep_orphans`]) or removed.
pub fn orphan_sidecars<'a>(listing: impl IntoIterator<Item = &'a OsStr>) -> Vec<OsString> {
    let names: HashSet<&str> = listing.into_iter().filter_map(OsStr::to_str).collect();
    let copied: HashSet<String> = names
        .iter()
        .filter_map(|n| conflict::split_disk(n))
        .map(|c| c.base)
        .collect();
    names
        .iter()
        .filter(|n| n.starts_with(name::LONGNAME_PREFIX))
        .filter_map(|n| Some((n, n.strip_suffix(name::LONGNAME_SUFFIX)?)))
        .filter(|(_, base)| matches!(name::classify(base), DiskName::Long(_)))
        .filter(|(_, base)| !names.contains(base) && !copied.contains(*base))
        .map(|(n, _)| OsString::from(n))
        .collect()
}

/// Removes the orphan sidecars `orphans` of `dir` (from [`orphan_sidecars`])
/// that are regular files at least `min_age` old and whose long name is
/// still absent. The age spares a sidecar another writer of a shared
/// directory has just written for a name it is about to create (it writes
/// the sidecar first); this mount's own creates are excluded by the caller
/// (the kernel holds the directory locked during READDIR and RMDIR).
pub fn sweep_orphans(dir: &Dir, orphans: &[OsString], min_age: Duration) {
    let now = SystemTime::now();
    for side in orphans {
        let Some(base) = side
            .to_str()
            .and_then(|s| s.strip_suffix(name::LONGNAME_SUFFIX))
        else {
            continue;
        };
        if !dir
            .stat(OsStr::new(base))
            .is_err_and(|e| e == Errno::ENOENT)
        {
            continue;
        }
        let Ok(m) = dir.stat(side) else {
            continue;
        };
        let (secs, nanos) = m.mtime();
        let written =
            UNIX_EPOCH + Duration::new(secs.max(0) as u64, nanos.clamp(0, 999_999_999) as u32);
        if m.is_file() && now.duration_since(written).is_ok_and(|age| age >= min_age) {
            let _ = dir.unlink(side);
        }
    }
}

/// How old an orphan sidecar must be before a listing removes it (see
/// [`sweep_orphans`]): far longer than any writer takes between writing a
/// sidecar and creating its entry.
pub const ORPHAN_AGE: Duration = Duration::from_secs(60);

/// Checks that backing directory `dir` is empty as the mount shows it (its
/// IV and orphan sidecars only), and removes the orphans: the caller is
/// about to remove the directory (rmdir, rename over it).
pub fn clear_for_removal(dir: &Dir) -> Res<()> {
    let entries = dir.list()?;
    let orphans = orphan_sidecars(entries.iter().map(|(n, _, _)| n.as_os_str()));
    if entries
        .iter()
        .any(|(n, _, _)| n != DIRIV_NAME && !orphans.contains(n))
    {
        return Err(Errno::ENOTEMPTY);
    }
    sweep_orphans(dir, &orphans, Duration::ZERO);
    Ok(())
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
}
