//! Finding, reading, creating and atomically rewriting conf files.

use crate::cli::{CreateArgs, SecretArgs};
use crate::exit::{at, fail, OTHER};
use anyhow::Result;
use fusecry_format::conf::MAX_CONF_BYTES;
use fusecry_format::name::CONF_NAME;
use fusecry_format::{Argon2Params, Codec, Conf, Error, NewConf, Secret};
use rand_core::OsRng;
use std::io::Write;
use std::path::{Path, PathBuf};

/// A volume directory means DIR/fusecry.conf; anything else is the conf itself.
pub fn conf_path(p: &Path) -> PathBuf {
    if p.is_dir() {
        p.join(CONF_NAME)
    } else {
        p.to_path_buf()
    }
}

/// Reads and parses a conf; a missing file is exit 3. At most one byte more
/// than SPEC §5's limit is read, so a huge file is refused without loading it.
/// The conf lives with the ciphertext, where the storage holder may put a
/// FIFO or a device in its place: it is opened O_NONBLOCK (a FIFO cannot
/// block the open) and must be a regular file.
pub fn load(path: &Path) -> Result<Conf> {
    use std::io::Read;
    use std::os::unix::fs::OpenOptionsExt;
    let mut bytes = Vec::new();
    let f = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
        .open(path)
        .map_err(|e| crate::exit::io(path, "cannot read conf", e))?;
    let regular = f.metadata().map(|m| m.is_file()).unwrap_or(false);
    if !regular {
        return Err(fail(
            crate::exit::CONF_CORRUPT,
            format!("{}: not a regular file", path.display()),
        ));
    }
    f.take(MAX_CONF_BYTES as u64 + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| crate::exit::io(path, "cannot read conf", e))?;
    Conf::parse(&bytes).map_err(|e| at(path, e))
}

/// Opens a conf with the secret from the arguments.
pub fn open(path: &Path, secret: &SecretArgs) -> Result<(Conf, Codec)> {
    let conf = load(path)?;
    let s = crate::secret::for_open(secret)?;
    let codec = conf.open(&s).map_err(|e| at(path, e))?;
    Ok((conf, codec))
}

/// Writes `path` through a temporary file beside it, renamed into place
/// only when `body` succeeds: a failure never leaves a partial `path`.
pub fn replace_via_temp(
    path: &Path,
    body: impl FnOnce(&std::fs::File) -> Result<()>,
) -> Result<()> {
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let tmp = tempfile::NamedTempFile::new_in(dir)
        .map_err(|e| fail(OTHER, format!("{}: cannot write: {e}", path.display())))?;
    body(tmp.as_file())?;
    tmp.persist(path).map_err(|e| {
        fail(
            OTHER,
            format!("{}: cannot write: {}", path.display(), e.error),
        )
    })?;
    Ok(())
}

/// Rewrites a conf atomically (temporary file + fsync + rename).
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    replace_via_temp(path, |mut f| {
        f.write_all(bytes)?;
        f.sync_all()?;
        Ok(())
    })
}

/// Creates `path` with `bytes`, never replacing anything: a temporary file
/// beside it, fsynced, then renamed with RENAME_NOREPLACE (or linked, where
/// the filesystem lacks it). So the new file appears whole or not at all,
/// and a conf or directory IV that appeared meanwhile is left alone (exit 1,
/// "PATH: `what` already exists").
///
/// A filesystem with neither (an rclone mount: EINVAL for the rename flag,
/// EIO for link) gets the file created in place with O_EXCL | O_NOFOLLOW,
/// which keeps both guarantees that matter: nothing already there is
/// replaced or written through, and the bytes and the name are fsynced
/// before this returns. Only "whole or not at all" is weaker: a failed write
/// removes the file (ours, by O_EXCL), a crash mid-write can leave it short,
/// and a short conf or IV is refused on open, never taken for another.
pub fn write_new(path: &Path, bytes: &[u8], what: &str) -> Result<()> {
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let cannot = |e: std::io::Error| fail(OTHER, format!("{}: cannot write: {e}", path.display()));
    let exists = || fail(OTHER, format!("{}: {what} already exists", path.display()));
    let mut tmp = tempfile::NamedTempFile::new_in(dir).map_err(cannot)?;
    tmp.write_all(bytes).map_err(cannot)?;
    tmp.as_file().sync_all().map_err(cannot)?;
    match tmp.persist_noclobber(path) {
        Ok(_) => Ok(()),
        Err(e) if e.error.kind() == std::io::ErrorKind::AlreadyExists => Err(exists()),
        // The temporary file goes with `e`.
        Err(_) => write_new_in_place(path, dir, bytes).map_err(|e| {
            if e.kind() == std::io::ErrorKind::AlreadyExists {
                exists()
            } else {
                cannot(e)
            }
        }),
    }
}

/// [`write_new`] without rename or link: O_EXCL creation, write, fsync of
/// the file and of `dir`; on a failed write the file is removed.
fn write_new_in_place(path: &Path, dir: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW)
        .open(path)?;
    let written = f.write_all(bytes).and_then(|()| f.sync_all());
    if let Err(e) = written {
        drop(f);
        let _ = std::fs::remove_file(path);
        return Err(e);
    }
    std::fs::File::open(dir)?.sync_all()
}

/// The default chunk size: the block size of the filesystem holding `dir`,
/// kept within 4–16 KiB. Network filesystems report blocks of 64 KiB to
/// 1 MiB, and chunks that large cost 4 KiB random I/O a read-modify-write of
/// the whole chunk (benches/results/blocksize.md: 1 MiB chunks give 1/30 of
/// the random IOPS of 4 KiB ones).
pub fn default_chunk_size(dir: &Path) -> u64 {
    fs_block_size(dir).clamp(DEFAULT_CHUNK_MIN, DEFAULT_CHUNK_MAX)
}

const DEFAULT_CHUNK_MIN: u64 = 4096;
const DEFAULT_CHUNK_MAX: u64 = 16384;

/// The block size of the filesystem holding `dir`.
fn fs_block_size(dir: &Path) -> u64 {
    let probe = if dir.as_os_str().is_empty() {
        Path::new(".")
    } else {
        dir
    };
    nix::sys::statvfs::statvfs(probe)
        .map(|s| s.block_size())
        .ok()
        .filter(|&b| fusecry_format::layout::chunk_size_valid(b))
        .unwrap_or(4096)
}

/// Argon2id parameters from the arguments, refused here (exit 2, naming the
/// options) when SPEC §4.1 would refuse the slot they make.
pub fn argon2(c: &CreateArgs) -> Result<Argon2Params> {
    let p = Argon2Params {
        m_cost_kib: c.argon2_memory,
        t_cost: c.argon2_iterations,
        p_cost: c.argon2_lanes,
    };
    p.validate().map_err(|e| {
        let why = match e {
            Error::ConfCorrupt(m) => m,
            e => e.to_string(),
        };
        fail(
            crate::exit::USAGE,
            format!("--argon2-memory/--argon2-iterations/--argon2-lanes: {why}"),
        )
    })?;
    Ok(p)
}

/// Whether a new conf encrypts names: fusecry/1 does unless --plain-names;
/// a legacy conf keeps 0.11's default, plain unless -n.
pub fn encrypted_names(c: &CreateArgs) -> bool {
    if c.legacy {
        c.encrypt_names
    } else {
        !c.plain_names
    }
}

/// Runs `f` for a volume in `dir`, creating `dir` first when it is missing.
/// A directory made here is removed again (when still empty) if `f` fails,
/// so a refused key or a mistyped password confirmation leaves nothing behind.
pub fn in_volume_dir<T>(dir: &Path, f: impl FnOnce() -> Result<T>) -> Result<T> {
    let made = !dir.exists();
    if made {
        std::fs::create_dir_all(dir)
            .map_err(|e| crate::exit::io(dir, "cannot create volume directory", e))?;
    }
    let r = f();
    if r.is_err() && made {
        let _ = std::fs::remove_dir(dir);
    }
    r
}

/// Creates a new conf at `path` (which must not exist). `backing` is the
/// directory whose block size is the default chunk size.
pub fn create(
    path: &Path,
    backing: &Path,
    c: &CreateArgs,
    s: &SecretArgs,
) -> Result<(Conf, Codec)> {
    // Checked first too, so that nobody is asked for a new password in vain.
    if path.symlink_metadata().is_ok() {
        return Err(fail(
            OTHER,
            format!("{}: a conf already exists", path.display()),
        ));
    }
    let chunk_size = c.chunk_size.unwrap_or_else(|| default_chunk_size(backing));
    if !fusecry_format::layout::chunk_size_valid(chunk_size) {
        return Err(at(path, Error::InvalidChunkSize(chunk_size)));
    }
    let argon2 = argon2(c)?;
    let secret = crate::secret::for_create(s)?;
    let names = encrypted_names(c);
    let (conf, codec) = if c.legacy {
        match &secret {
            Secret::Password(p) => Conf::create_legacy(p, chunk_size, names, &mut OsRng),
            _ => {
                return Err(fail(
                    OTHER,
                    "--legacy volumes can only be created with a password (0.11's RSA mode is read-only here)",
                ))
            }
        }
    } else {
        let opts = NewConf {
            chunk_size,
            encrypted_names: names,
            argon2,
        };
        Conf::create_v1(&opts, &secret, &mut OsRng)
    }
    .map_err(|e| at(path, e))?;
    write_new(path, &conf.to_bytes(), "a conf")?;
    Ok((conf, codec))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `write_new` never replaces nor writes through anything already there.
    #[test]
    fn write_new_is_exclusive() {
        let t = tempfile::tempdir().unwrap();
        let p = t.path().join("fusecry.conf");
        write_new(&p, b"first", "a conf").unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"first");
        let e = write_new(&p, b"second", "a conf").unwrap_err();
        assert!(e.to_string().ends_with("a conf already exists"), "{e}");
        assert_eq!(std::fs::read(&p).unwrap(), b"first");
        let link = t.path().join("link");
        let victim = t.path().join("victim");
        std::os::unix::fs::symlink(&victim, &link).unwrap();
        write_new(&link, b"x", "a directory IV").unwrap_err();
        assert!(!victim.exists());
        // Nothing but the two names is left behind (no temporary file).
        assert_eq!(std::fs::read_dir(t.path()).unwrap().count(), 2);
    }

    /// The in-place fallback (filesystems without rename flags or links)
    /// is exclusive too: it never replaces nor writes through a symlink.
    #[test]
    fn write_new_in_place_is_exclusive() {
        let t = tempfile::tempdir().unwrap();
        let p = t.path().join("fusecry.conf");
        write_new_in_place(&p, t.path(), b"first").unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"first");
        let e = write_new_in_place(&p, t.path(), b"second").unwrap_err();
        assert_eq!(e.kind(), std::io::ErrorKind::AlreadyExists);
        assert_eq!(std::fs::read(&p).unwrap(), b"first");
        let link = t.path().join("link");
        let victim = t.path().join("victim");
        std::os::unix::fs::symlink(&victim, &link).unwrap();
        write_new_in_place(&link, t.path(), b"x").unwrap_err();
        assert!(!victim.exists());
    }
}
