//! Whole-volume vectors (SPEC §9–§11 together): a small ciphertext tree
//! with every entry type a git checkout can hold (directories, regular files
//! of 0, 1 and several chunks, long and unicode names, relative, absolute and
//! dangling symlinks), its manifest, the reference writer that builds it, and
//! a reader that walks it with the `format` library.
//!
//! The writer draws in the order a mount does when the manifest's entries
//! are created one after another (SPEC §9): a directory draws its name
//! (legacy name IV), then its directory IV; a file its name, then its file
//! id, then one IV per chunk; a symlink its name, then its nonce (the target
//! is bound to the name, SPEC §11). So a mount
//! seeded with the vector's `writer_seed`, given the root's directory IV,
//! must write the same tree byte for byte.

use crate::Bytes;
use anyhow::{Context, Result};
use fusecry_format::long_target::Placement;
use fusecry_format::name::{self, classify, DirIv, DiskName, CONF_NAME, DIRIV_NAME};
use fusecry_format::stream::{self, Target};
use fusecry_format::{Codec, FileId};
use rand_core::CryptoRngCore;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

/// What an entry is.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, JsonSchema, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// A directory.
    Dir,
    /// A regular file.
    File,
    /// A symbolic link.
    Symlink,
}

/// One entry of a volume vector's manifest, parents before children.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Entry {
    /// Plaintext path, `/`-separated, relative to the volume root.
    pub path: String,
    /// The path in the ciphertext tree.
    pub disk_path: String,
    /// Entry type.
    pub kind: Kind,
    /// File content.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content: Option<Bytes>,
    /// Symlink target (plaintext).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
}

/// A plaintext entry to write: path, and what it is.
pub enum Plain<'a> {
    /// A directory.
    Dir(&'a str),
    /// A file and its content.
    File(&'a str, Vec<u8>),
    /// A symlink and its target.
    Symlink(&'a str, &'a str),
}

/// Splits `a/b/c` into (`a/b`, `c`).
fn split(path: &str) -> (&str, &str) {
    path.rsplit_once('/').unwrap_or(("", path))
}

/// Builds the ciphertext tree of `entries` under `root` (which holds the
/// conf and, with directory IVs, the root's `fusecry.diriv` already) and
/// returns the disk path of each entry, in order.
pub fn write_tree(
    codec: &Codec,
    root: &Path,
    entries: &[Plain<'_>],
    rng: &mut impl CryptoRngCore,
) -> Result<Vec<String>> {
    let mut disk_of: BTreeMap<String, String> = BTreeMap::from([(String::new(), String::new())]);
    let mut out = Vec::new();
    for e in entries {
        let path = match e {
            Plain::Dir(p) | Plain::File(p, _) | Plain::Symlink(p, _) => *p,
        };
        let (parent, leaf) = split(path);
        let pdisk = disk_of.get(parent).context("parent before child")?.clone();
        let pdir = root.join(&pdisk);
        let iv = read_iv(codec, &pdir)?;
        let (disk, sidecar) = codec.encrypt_name(iv.as_ref(), leaf, rng)?;
        let encoded = sidecar.as_deref().unwrap_or(&disk);
        // SPEC §11: the target is bound to the directory IV and the name.
        let target = match e {
            Plain::Symlink(_, t) => {
                Some(codec.encrypt_symlink(iv.as_ref(), encoded, t.as_bytes(), rng)?)
            }
            _ => None,
        };
        if let Some(s) = sidecar {
            std::fs::write(pdir.join(name::sidecar_name(&disk)), s)?;
        }
        let full = pdir.join(&disk);
        match e {
            Plain::Dir(_) => {
                std::fs::create_dir(&full)?;
                if codec.uses_diriv() {
                    std::fs::write(full.join(DIRIV_NAME), DirIv::random(rng).0)?;
                }
            }
            Plain::File(_, content) => {
                let id = FileId::random(rng);
                let stored = stream::encrypt_to_vec(codec, &id, content, Target::File, rng);
                std::fs::write(&full, stored)?;
            }
            Plain::Symlink(..) => {
                // SPEC §11.2: a long stored target goes to its sidecar first.
                let placed = codec.place_symlink(target.expect("symlink"));
                if let Placement::OutOfLine { marker, stored } = &placed {
                    std::fs::write(pdir.join(marker), stored)?;
                }
                std::os::unix::fs::symlink(std::ffi::OsStr::from_bytes(placed.link()), &full)?;
            }
        }
        let d = if pdisk.is_empty() {
            disk
        } else {
            format!("{pdisk}/{disk}")
        };
        disk_of.insert(path.to_string(), d.clone());
        out.push(d);
    }
    Ok(out)
}

fn read_iv(codec: &Codec, dir: &Path) -> Result<Option<DirIv>> {
    if !codec.uses_diriv() {
        return Ok(None);
    }
    let p = dir.join(DIRIV_NAME);
    let b = std::fs::read(&p).with_context(|| p.display().to_string())?;
    Ok(Some(DirIv::from_bytes(&b)?))
}

/// An entry as a reader finds it.
#[derive(Debug, PartialEq, Eq)]
pub enum Node {
    /// A directory.
    Dir,
    /// A file's plaintext.
    File(Vec<u8>),
    /// A symlink's plaintext target.
    Symlink(Vec<u8>),
}

/// What a reader found in a tree: the entries that read, and every damaged
/// one with its failure class (keyed by plaintext path, or by the parent's
/// plaintext path and the on-disk name when the name itself is damaged).
#[derive(Debug, Default)]
pub struct Walk {
    /// Readable entries by plaintext path.
    pub nodes: BTreeMap<String, Node>,
    /// Damaged entries and their SPEC §13 class.
    pub damage: Vec<(String, String)>,
}

/// Walks a ciphertext tree with the library (SPEC §9–§11): hidden files
/// skipped, names decrypted (long names through their sidecars), files read
/// as random-access readers do, symlink targets decrypted.
pub fn read_tree(codec: &Codec, root: &Path) -> Result<Walk> {
    let mut w = Walk::default();
    walk(codec, root, "", true, &mut w)?;
    Ok(w)
}

fn walk(codec: &Codec, dir: &Path, prefix: &str, is_root: bool, w: &mut Walk) -> Result<()> {
    let iv = match read_iv(codec, dir) {
        Ok(iv) => iv,
        Err(_) => {
            w.damage.push((prefix.to_string(), "BadName".into()));
            return Ok(());
        }
    };
    let mut names: Vec<_> = std::fs::read_dir(dir)?
        .map(|e| e.map(|e| e.file_name()))
        .collect::<std::io::Result<_>>()?;
    names.sort();
    for os in names {
        let class = |e: fusecry_format::Error| e.class().to_string();
        let Some(disk) = os.to_str() else {
            w.damage
                .push((format!("{prefix}/{os:?}"), "BadName".into()));
            continue;
        };
        if is_root && disk == CONF_NAME {
            continue;
        }
        // The encoded name of the entry: legacy 0.11 names have no directory
        // IVs and no long names (every entry but the root's conf is one);
        // fusecry/1 names skip reserved entries and read long names'
        // sidecars.
        let encoded = if !codec.encrypted_names() || !codec.uses_diriv() {
            Ok(disk.to_string())
        } else {
            match classify(disk) {
                DiskName::Reserved => continue,
                DiskName::Short(s) => Ok(s.to_string()),
                DiskName::Long(d) => {
                    let side = std::fs::read_to_string(dir.join(name::sidecar_name(d)))
                        .unwrap_or_default();
                    name::check_sidecar(d, &side).map(|()| side)
                }
            }
        };
        let encoded = match encoded {
            Ok(e) => e,
            Err(e) => {
                w.damage.push((format!("{prefix}/{disk}"), class(e)));
                continue;
            }
        };
        let plain = if codec.encrypted_names() {
            codec.decrypt_name(iv.as_ref(), &encoded)
        } else {
            Ok(encoded.clone())
        };
        let plain = match plain {
            Ok(p) => p,
            Err(e) => {
                w.damage.push((format!("{prefix}/{disk}"), class(e)));
                continue;
            }
        };
        let path = if prefix.is_empty() {
            plain
        } else {
            format!("{prefix}/{plain}")
        };
        let full = dir.join(disk);
        let ft = std::fs::symlink_metadata(&full)?.file_type();
        if ft.is_dir() {
            w.nodes.insert(path.clone(), Node::Dir);
            walk(codec, &full, &path, false, w)?;
        } else if ft.is_symlink() {
            let t = std::fs::read_link(&full)?;
            let read = |side: &str| std::fs::read(dir.join(side));
            match codec.read_symlink(iv.as_ref(), &encoded, t.as_os_str().as_bytes(), read) {
                Ok(t) => {
                    w.nodes.insert(path, Node::Symlink(t));
                }
                Err(e) => w.damage.push((path, class(e))),
            }
        } else {
            match crate::read_file(codec, &std::fs::read(&full)?) {
                Ok(c) => {
                    w.nodes.insert(path, Node::File(c));
                }
                Err(e) => w.damage.push((path, class(e))),
            }
        }
    }
    Ok(())
}

/// A canonical listing of a ciphertext tree, for byte-for-byte comparison:
/// every path with its type and the SHA-256 of its bytes (files) or target
/// (symlinks), sorted.
pub fn digest(root: &Path) -> Result<Vec<String>> {
    use sha2::{Digest, Sha256};
    fn go(root: &Path, rel: &str, out: &mut Vec<String>) -> Result<()> {
        for e in std::fs::read_dir(root.join(rel))? {
            let e = e?;
            let name = e.file_name().to_string_lossy().into_owned();
            let r = if rel.is_empty() {
                name
            } else {
                format!("{rel}/{name}")
            };
            let ft = e.file_type()?;
            if ft.is_dir() {
                out.push(format!("{r}/ dir"));
                go(root, &r, out)?;
            } else if ft.is_symlink() {
                let t = std::fs::read_link(e.path())?;
                let h = hex::encode(Sha256::digest(t.as_os_str().as_bytes()));
                out.push(format!("{r} symlink {h}"));
            } else {
                let h = hex::encode(Sha256::digest(std::fs::read(e.path())?));
                out.push(format!("{r} file {h}"));
            }
        }
        Ok(())
    }
    let mut out = Vec::new();
    go(root, "", &mut out)?;
    out.sort();
    Ok(out)
}
