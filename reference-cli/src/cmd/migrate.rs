//! `fusecry migrate OLD NEW`: copy a volume (typically legacy 0.11) into a
//! new fusecry/1 volume: names, directories, files, symlinks, FIFOs,
//! permissions, owners (as root) and timestamps. Every file is decrypted,
//! re-encrypted and then read back and compared (SHA-256) before the next
//! one; OLD is only ever read. NEW must be missing or an empty directory.

use crate::cli::{MigrateArgs, SecretArgs};
use crate::confio;
use crate::exit::{at, fail, OTHER};
use crate::progress::Progress;
use crate::volume;
use anyhow::Result;
use fusecry_format::long_target::Placement;
use fusecry_format::name::{DirIv, CONF_NAME, DIRIV_NAME};
use fusecry_format::stream::{self, Target};
use fusecry_format::{Codec, FileId};
use fusecry_fuse::backing::Dir;
use fusecry_fuse::names::{self, Decoded};
use rand_core::OsRng;
use sha2::{Digest, Sha256};
use std::ffi::OsStr;
use std::fs::{self, File};
use std::io::{BufReader, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::Path;

/// Counts for the summary line.
#[derive(Default)]
struct Stats {
    files: u64,
    dirs: u64,
    symlinks: u64,
    other: u64,
    bytes: u64,
}

/// A writer that hashes what passes through it.
struct Hashing<W: Write> {
    inner: W,
    hash: Sha256,
    n: u64,
}

impl<W: Write> Write for Hashing<W> {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        let k = self.inner.write(b)?;
        self.hash.update(&b[..k]);
        self.n += k as u64;
        Ok(k)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

struct Migration<'a> {
    old: &'a Codec,
    new: &'a Codec,
    as_root: bool,
    stats: Stats,
    progress: Progress,
}

pub fn run(a: MigrateArgs) -> Result<()> {
    if a.create.legacy {
        return Err(fail(
            crate::exit::USAGE,
            "migrate writes fusecry/1 volumes: --legacy makes no sense here",
        ));
    }
    let old_conf = match &a.conf {
        Some(c) => confio::conf_path(c),
        None => a.old.join(CONF_NAME),
    };
    let (conf, old) = confio::open(&old_conf, &a.secret)?;
    let mut create = a.create.clone();
    create.chunk_size = create.chunk_size.or(Some(conf.chunk_size()));
    if conf.encrypted_names() && create.plain_names {
        return Err(fail(
            crate::exit::USAGE,
            format!(
                "{}: its names are encrypted; --plain-names would store them in the clear",
                old_conf.display()
            ),
        ));
    }
    let new_secret = SecretArgs {
        password_file: a.new_password_file.clone(),
        key: a.new_key.clone(),
        ..SecretArgs::default()
    };
    let not_empty = || {
        fail(
            OTHER,
            format!(
                "{}: target exists and is not an empty directory",
                a.new.display()
            ),
        )
    };
    // Checked here too: volume::create lets a directory holding a conf
    // through to "a conf already exists", but for migrate any entry is in
    // the way, and the message says so.
    if a.new.symlink_metadata().is_ok() && !volume::is_empty(&a.new)? {
        return Err(not_empty());
    }
    let (_, new) = volume::create(&a.new, &create, &new_secret, not_empty)?;
    let mut m = Migration {
        old: &old,
        new: &new,
        as_root: nix::unistd::geteuid().is_root(),
        stats: Stats::default(),
        progress: Progress::items("migrating"),
    };
    m.dir(&a.old, &a.new, "", true)?;
    // The root keeps the old root's permissions and times too.
    copy_meta(&fs::symlink_metadata(&a.old)?, &a.new, m.as_root)?;
    m.progress.finish();
    let s = &m.stats;
    eprintln!(
        "migrated {} to {} (fusecry/1): {} files ({} bytes, each read back and verified), {} directories, {} symlinks, {} other",
        a.old.display(),
        a.new.display(),
        s.files,
        s.bytes,
        s.dirs,
        s.symlinks,
        s.other
    );
    Ok(())
}

impl Migration<'_> {
    fn dir(&mut self, old_dir: &Path, new_dir: &Path, plain: &str, is_root: bool) -> Result<()> {
        let old_fd = Dir::open_root(old_dir)?;
        let new_fd = Dir::open_root(new_dir)?;
        let old_iv = names::read_diriv(self.old, &old_fd).map_err(|_| {
            fail(
                20,
                format!("{}: directory IV missing or damaged", old_dir.display()),
            )
        })?;
        let new_iv = names::read_diriv(self.new, &new_fd).map_err(|_| {
            fail(
                OTHER,
                format!("{}: cannot read new directory IV", new_dir.display()),
            )
        })?;
        let mut entries: Vec<_> = fs::read_dir(old_dir)?
            .map(|e| e.map(|e| e.file_name()))
            .collect::<std::io::Result<_>>()?;
        entries.sort();
        for disk in entries {
            let n = match names::decode(self.old, &old_fd, old_iv.as_ref(), is_root, &disk) {
                Decoded::Hidden => continue,
                Decoded::Bad(why) => {
                    return Err(fail(
                        20,
                        format!("{}: entry {:?} in {plain}/: {why}", old_dir.display(), disk),
                    ))
                }
                Decoded::Name(n) => n,
            };
            let (name, old_encoded) = (n.name, n.encoded);
            let shown = format!("{plain}/{}", name.to_string_lossy());
            let src = old_dir.join(&disk);
            let (new_disk, sidecar) =
                names::encode_new(self.new, new_iv.as_ref(), false, &name, &mut OsRng)
                    .map_err(|e| fail(OTHER, format!("{shown}: cannot encode name: {e:?}")))?;
            // What a symlink target is bound to in the new volume (SPEC §11).
            let new_encoded = sidecar
                .clone()
                .unwrap_or_else(|| new_disk.to_string_lossy().into_owned());
            if let Some(s) = sidecar {
                names::write_sidecar(&new_fd, &new_disk, &s)
                    .map_err(|e| fail(OTHER, format!("{shown}: {e:?}")))?;
            }
            let dst = new_dir.join(&new_disk);
            let meta = fs::symlink_metadata(&src)?;
            let t = meta.file_type();
            if t.is_dir() {
                fs::create_dir(&dst)?;
                fs::set_permissions(&dst, fs::Permissions::from_mode(0o700))?;
                if self.new.uses_diriv() {
                    let iv = DirIv::random(&mut OsRng);
                    confio::write_new(&dst.join(DIRIV_NAME), &iv.0, "a directory IV")?;
                }
                self.dir(&src, &dst, &shown, false)?;
                self.stats.dirs += 1;
            } else if t.is_symlink() {
                let stored = fs::read_link(&src)?;
                // SPEC §11.2: long targets are read from, and written to,
                // their sidecar beside the link.
                let read = |side: &str| fs::read(old_dir.join(side));
                let link = stored.as_os_str().as_bytes();
                let target = self
                    .old
                    .read_symlink(old_iv.as_ref(), &old_encoded, link, read)
                    .map_err(|e| at(&src, e))?;
                let enc = self
                    .new
                    .encrypt_symlink(new_iv.as_ref(), &new_encoded, &target, &mut OsRng)
                    .map_err(|e| at(&dst, e))?;
                let placed = self.new.place_symlink(enc);
                if let Placement::OutOfLine { marker, stored } = &placed {
                    confio::write_new(&new_dir.join(marker), stored, "a long symlink target")?;
                }
                std::os::unix::fs::symlink(OsStr::from_bytes(placed.link()), &dst)?;
                self.stats.symlinks += 1;
            } else if t.is_file() {
                self.file(&src, &dst, &shown)?;
                self.stats.files += 1;
            } else if t.is_fifo() || t.is_socket() || t.is_char_device() || t.is_block_device() {
                nix::sys::stat::mknod(
                    &dst,
                    nix::sys::stat::SFlag::from_bits_truncate(meta.mode() & libc::S_IFMT),
                    nix::sys::stat::Mode::from_bits_truncate(meta.mode() & 0o7777),
                    meta.rdev(),
                )
                .map_err(|e| fail(OTHER, format!("{shown}: mknod: {e}")))?;
                self.stats.other += 1;
            }
            copy_meta(&meta, &dst, self.as_root)?;
            self.progress.set(self.stats.files + self.stats.dirs);
        }
        Ok(())
    }

    /// Decrypts `src`, encrypts it into `dst`, then reads `dst` back and
    /// compares the SHA-256 of both plaintexts.
    fn file(&mut self, src: &Path, dst: &Path, shown: &str) -> Result<()> {
        let (reader, writer) = std::io::pipe()?;
        let old = self.old;
        let new = self.new;
        let mut out = File::create(dst)?;
        let (copied, written) = std::thread::scope(|s| {
            let dec = s.spawn(move || -> Result<(u64, [u8; 32])> {
                let mut input = BufReader::new(File::open(src)?);
                let mut w = Hashing {
                    inner: writer,
                    hash: Sha256::new(),
                    n: 0,
                };
                stream::decrypt(old, &mut input, &mut w, &|_| {}).map_err(|e| at(src, e))?;
                Ok((w.n, w.hash.finalize().into()))
            });
            let mut input = reader;
            let id = FileId::random(&mut OsRng);
            let enc = stream::encrypt(
                new,
                &id,
                &mut input,
                &mut out,
                Target::File,
                &mut OsRng,
                &|_| {},
            );
            (dec.join().expect("decrypt thread"), enc)
        });
        let (n, want) = copied?;
        written.map_err(|e| at(dst, e))?;
        let mut back = Hashing {
            inner: std::io::sink(),
            hash: Sha256::new(),
            n: 0,
        };
        stream::decrypt(
            self.new,
            &mut BufReader::new(File::open(dst)?),
            &mut back,
            &|_| {},
        )
        .map_err(|e| at(dst, e))?;
        let got: [u8; 32] = back.hash.finalize().into();
        if got != want || back.n != n {
            return Err(fail(
                20,
                format!("{shown}: the copy does not read back as the original"),
            ));
        }
        self.stats.bytes += n;
        Ok(())
    }
}

/// Permissions, owner (as root) and timestamps of `m` onto `dst`.
fn copy_meta(m: &fs::Metadata, dst: &Path, as_root: bool) -> Result<()> {
    if as_root {
        std::os::unix::fs::lchown(dst, Some(m.uid()), Some(m.gid()))?;
    }
    if !m.file_type().is_symlink() {
        fs::set_permissions(dst, fs::Permissions::from_mode(m.mode() & 0o7777))?;
    }
    let ts = |s: i64, ns: i64| nix::sys::time::TimeSpec::new(s, ns);
    nix::sys::stat::utimensat(
        None,
        dst,
        &ts(m.atime(), m.atime_nsec()),
        &ts(m.mtime(), m.mtime_nsec()),
        nix::sys::stat::UtimensatFlags::NoFollowSymlink,
    )
    .map_err(|e| fail(OTHER, format!("{}: utimensat: {e}", dst.display())))?;
    Ok(())
}
