//! The mount runner: conformance vectors played through a real mount. File
//! vectors are placed in a volume and read back (EIO where a failure class
//! is expected); name vectors are listed; symlink vectors are read with
//! readlink. Writers are checked byte for byte: a mount seeded with the
//! vector's seed (the test-only `FsOptions::seed`) writes the plaintext,
//! creates the name or the symlink, and the backing bytes must equal the
//! vector. Vectors a mount cannot express are listed.

mod common;

use fusecry_conformance::volume::{self, Kind, Node};
use fusecry_conformance::{load_all, read_file, vectors_dir, Area, Loaded};
use fusecry_fuse::{CryptFs, MountOptions};
use std::collections::BTreeMap;
use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::sync::Arc;

struct Mount {
    mnt: std::path::PathBuf,
    session: Option<fuser::BackgroundSession>,
}

impl Drop for Mount {
    fn drop(&mut self) {
        if let Some(s) = self.session.take() {
            if s.umount_and_join().is_err() {
                let _ = nix::mount::umount2(&self.mnt, nix::mount::MntFlags::MNT_DETACH);
            }
        }
    }
}

fn mount(l: &Loaded, cipher: &Path, mnt: &Path) -> Mount {
    mount_seeded(l, cipher, mnt, None)
}

/// A mount whose every random draw comes from `seed` (writer checks).
fn mount_seeded(l: &Loaded, cipher: &Path, mnt: &Path, seed: Option<u64>) -> Mount {
    let codec = l.open().unwrap();
    let mut o = MountOptions::default();
    o.fs.writeback = false;
    o.fs.seed = seed;
    let fs = Arc::new(CryptFs::new(codec, cipher, o.fs.clone()).unwrap());
    let session = fusecry_fuse::spawn(fs, mnt, &o).unwrap();
    for _ in 0..500 {
        if common::is_mounted(mnt) {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    Mount {
        mnt: mnt.to_path_buf(),
        session: Some(session),
    }
}

/// A fresh, empty backing directory.
fn fresh(p: &Path) -> &Path {
    let _ = fs::remove_dir_all(p);
    fs::create_dir_all(p).unwrap();
    p
}

fn play(l: &Loaded, tmp: &Path, writers: &mut usize) -> Result<Option<&'static str>, String> {
    let v = &l.v;
    let cipher = tmp.join("cipher");
    let mnt = tmp.join("mnt");
    let _ = fs::remove_dir_all(&cipher);
    fs::create_dir_all(&cipher).unwrap();
    fs::create_dir_all(&mnt).unwrap();
    let ok = v.expect == "success";
    match v.area {
        Area::Conf => Ok(Some(
            "conf vectors: a conf is opened before anything is mounted (the CLI runner plays them through `fusecry`)",
        )),
        Area::Stream => Ok(Some("streams: not files of a volume (the CLI runner plays them)")),
        Area::Volume => play_volume(l, tmp, writers),
        Area::File => {
            let stored = l.bytes(v.stored.as_ref().unwrap()).unwrap();
            let plain = l.bytes(v.plaintext.as_ref().unwrap()).unwrap();
            fs::write(cipher.join("data"), &stored).unwrap();
            let m = mount(l, &cipher, &mnt);
            match fs::read(mnt.join("data")) {
                Ok(got) if ok => {
                    if got != plain && !v.comment.contains("undetectable") {
                        return Err(format!("{}: the mount read other bytes", l.name));
                    }
                }
                Ok(_) => return Err(format!("{}: read succeeded, expected {}", l.name, v.expect)),
                Err(e) if !ok && e.raw_os_error() == Some(libc::EIO) => {}
                Err(e) => return Err(format!("{}: read failed: {e}", l.name)),
            }
            drop(m);
            if let (true, Some(ws)) = (ok && v.reproducible, v.writer_seed) {
                // The writer: a mount seeded as the vector's writer creates
                // the file (drawing its id) and writes the plaintext in one
                // write(2) (the kernel splits it at max_write, a multiple of
                // every chunk size, so each chunk is encrypted once).
                let cw = tmp.join("cipher-w");
                let cipher = fresh(&cw);
                let m = mount_seeded(l, cipher, &mnt, Some(ws));
                fs::write(m.mnt.join("data"), &plain).unwrap();
                drop(m);
                let back = fs::read(cipher.join("data")).unwrap();
                if back != stored {
                    let codec = l.open().unwrap();
                    let why = match read_file(&codec, &back) {
                        Ok(p) if p == plain => "other bytes (which decrypt right)",
                        Ok(_) => "other bytes, decrypting to another plaintext",
                        Err(_) => "bytes that do not decrypt",
                    };
                    return Err(format!("{}: written through the mount: {why}", l.name));
                }
                *writers += 1;
            }
            Ok(None)
        }
        Area::Name => {
            if let Some(iv) = &v.dir_iv {
                fs::write(cipher.join("fusecry.diriv"), hex::decode(iv).unwrap()).unwrap();
            }
            let disk = v.disk_name.as_ref().unwrap();
            fs::create_dir(cipher.join(disk)).unwrap();
            if let Some(side) = &v.sidecar {
                fs::write(cipher.join(sidecar_of(disk)), side).unwrap();
            }
            let m = mount(l, &cipher, &mnt);
            let names: Vec<String> = fs::read_dir(&m.mnt)
                .unwrap()
                .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect();
            let want: Vec<String> = if ok { vec![v.name.clone().unwrap()] } else { vec![] };
            if names != want {
                return Err(format!("{}: listed {names:?}, expected {want:?}", l.name));
            }
            drop(m);
            if v.reproducible {
                // The writer: mkdir under the vector's directory IV, with the
                // mount seeded so that a legacy name IV is the seed's first draw.
                let cw = tmp.join("cipher-w");
                let cipher = fresh(&cw);
                if let Some(iv) = &v.dir_iv {
                    fs::write(cipher.join("fusecry.diriv"), hex::decode(iv).unwrap()).unwrap();
                }
                let m = mount_seeded(l, cipher, &mnt, Some(v.seed));
                fs::create_dir(m.mnt.join(v.name.as_ref().unwrap())).unwrap();
                drop(m);
                if !cipher.join(disk).is_dir() {
                    return Err(format!("{}: mkdir through the mount did not make {disk}", l.name));
                }
                if let Some(side) = &v.sidecar {
                    let got = fs::read_to_string(cipher.join(fusecry_format::name::sidecar_name(disk)));
                    if got.as_ref().ok() != Some(side) {
                        return Err(format!("{}: the mount wrote the sidecar {got:?}", l.name));
                    }
                }
                *writers += 1;
            }
            Ok(None)
        }
        Area::Symlink => {
            // The link as the vector places it: its directory IV, its
            // on-disk name (and sidecar), its stored target (SPEC §11).
            let put_iv = |dir: &Path| {
                if let Some(iv) = &v.dir_iv {
                    fs::write(dir.join("fusecry.diriv"), hex::decode(iv).unwrap()).unwrap();
                }
            };
            put_iv(&cipher);
            let disk = v.disk_name.as_ref().unwrap();
            let link = v.name.as_ref().unwrap();
            if let Some(side) = &v.sidecar {
                fs::write(cipher.join(fusecry_format::name::sidecar_name(disk)), side).unwrap();
            }
            let stored = l.bytes(v.stored.as_ref().unwrap()).unwrap();
            std::os::unix::fs::symlink(std::ffi::OsStr::from_bytes(&stored), cipher.join(disk))
                .unwrap();
            let m = mount(l, &cipher, &mnt);
            match fs::read_link(m.mnt.join(link)) {
                Ok(t) if ok => {
                    let want = l.bytes(v.plaintext.as_ref().unwrap()).unwrap();
                    if t.as_os_str().as_encoded_bytes() != want {
                        return Err(format!("{}: readlink gave {t:?}", l.name));
                    }
                }
                Err(e) if !ok && e.raw_os_error() == Some(libc::EIO) => {}
                other => return Err(format!("{}: readlink: {other:?}, expected {}", l.name, v.expect)),
            }
            drop(m);
            if ok && v.reproducible {
                // The writer: symlink(2) through a mount seeded with the
                // vector's seed (the nonce is its first draw; the directory
                // IV exists, so naming the link draws nothing).
                let cw = tmp.join("cipher-w");
                let w = fresh(&cw);
                put_iv(w);
                let m = mount_seeded(l, w, &mnt, Some(v.seed));
                let target = l.bytes(v.plaintext.as_ref().unwrap()).unwrap();
                std::os::unix::fs::symlink(std::ffi::OsStr::from_bytes(&target), m.mnt.join(link)).unwrap();
                drop(m);
                let got = fs::read_link(w.join(disk)).unwrap();
                if got.as_os_str().as_bytes() != stored {
                    return Err(format!("{}: symlink through the mount stored {got:?}", l.name));
                }
                if let Some(side) = &v.sidecar {
                    let got = fs::read_to_string(w.join(fusecry_format::name::sidecar_name(disk)));
                    if got.as_ref().ok() != Some(side) {
                        return Err(format!("{}: the mount wrote the sidecar {got:?}", l.name));
                    }
                }
                *writers += 1;
            }
            Ok(None)
        }
    }
}

/// What a walk of the mount found at one path.
#[derive(Debug, PartialEq)]
enum Seen {
    Node(Node),
    /// The entry is listed but reading it (file) or readlink (symlink) gives EIO.
    Eio,
}

/// Every entry under `root` of a mounted volume, by plaintext path.
fn walk_mount(root: &Path, rel: &str, out: &mut BTreeMap<String, Seen>) {
    for e in fs::read_dir(root.join(rel)).unwrap() {
        let e = e.unwrap();
        let name = e.file_name().into_string().unwrap();
        let r = if rel.is_empty() {
            name
        } else {
            format!("{rel}/{name}")
        };
        let ft = e.file_type().unwrap();
        let seen = if ft.is_dir() {
            walk_mount(root, &r, out);
            Seen::Node(Node::Dir)
        } else if ft.is_symlink() {
            match fs::read_link(e.path()) {
                Ok(t) => Seen::Node(Node::Symlink(t.as_os_str().as_bytes().to_vec())),
                Err(e) if e.raw_os_error() == Some(libc::EIO) => Seen::Eio,
                Err(e) => panic!("readlink {r}: {e}"),
            }
        } else {
            match fs::read(e.path()) {
                Ok(c) => Seen::Node(Node::File(c)),
                Err(e) if e.raw_os_error() == Some(libc::EIO) => Seen::Eio,
                Err(e) => panic!("read {r}: {e}"),
            }
        };
        out.insert(r, seen);
    }
}

/// A volume vector through a mount: the tree (a copy) mounted and walked;
/// every entry but the damaged one reads as the manifest says, the damaged
/// one answers EIO (content) or is hidden (name). A reproducible volume is
/// then re-created through a mount seeded with its writer seed, entry by
/// entry in manifest order, and the ciphertext must equal the vector's tree.
fn play_volume(
    l: &Loaded,
    tmp: &Path,
    writers: &mut usize,
) -> Result<Option<&'static str>, String> {
    let v = &l.v;
    let cipher = tmp.join("volume");
    let mnt = tmp.join("mnt");
    let _ = fs::remove_dir_all(&cipher);
    let st = std::process::Command::new("cp")
        .args([
            "-a",
            l.tree().unwrap().to_str().unwrap(),
            cipher.to_str().unwrap(),
        ])
        .status()
        .unwrap();
    assert!(st.success());
    let m = mount(l, &cipher, &mnt);
    let mut seen = BTreeMap::new();
    walk_mount(&m.mnt, "", &mut seen);
    drop(m);
    let mut want: BTreeMap<String, Seen> = l
        .manifest()
        .unwrap()
        .into_iter()
        .map(|(k, n)| (k, Seen::Node(n)))
        .collect();
    if let Some(d) = &v.damaged {
        if v.expect == "BadName" {
            want.remove(d);
        } else {
            want.insert(d.clone(), Seen::Eio);
        }
    }
    if seen != want {
        let diff: Vec<_> = seen
            .keys()
            .chain(want.keys())
            .filter(|k| seen.get(*k) != want.get(*k))
            .collect();
        return Err(format!(
            "{}: the mount differs from the manifest at {diff:?}",
            l.name
        ));
    }
    if v.reproducible {
        let ws = v.writer_seed.unwrap();
        let cw = tmp.join("volume-w");
        let w = fresh(&cw);
        let tree = l.tree().unwrap();
        for f in ["fusecry.conf", "fusecry.diriv"] {
            if tree.join(f).exists() {
                fs::copy(tree.join(f), w.join(f)).unwrap();
            }
        }
        let m = mount_seeded(l, w, &mnt, Some(ws));
        for (path, kind, data) in l.plain_entries().unwrap() {
            let p = m.mnt.join(&path);
            match kind {
                Kind::Dir => fs::create_dir(&p).unwrap(),
                Kind::File => fs::write(&p, &data).unwrap(),
                Kind::Symlink => {
                    std::os::unix::fs::symlink(std::ffi::OsStr::from_bytes(&data), &p).unwrap()
                }
            }
        }
        drop(m);
        if volume::digest(w).unwrap() != volume::digest(&tree).unwrap() {
            return Err(format!(
                "{}: the tree written through the mount differs from the vector",
                l.name
            ));
        }
        *writers += 1;
    }
    Ok(None)
}

#[test]
fn conformance_vectors_through_the_mount() {
    let all = load_all(&vectors_dir()).unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let mut played = 0;
    let mut skipped: BTreeMap<&str, usize> = BTreeMap::new();
    let mut failed = Vec::new();
    let mut writers = 0;
    for l in &all {
        match play(l, tmp.path(), &mut writers) {
            Ok(None) => played += 1,
            Ok(Some(reason)) => *skipped.entry(reason).or_default() += 1,
            Err(e) => failed.push(e),
        }
    }
    println!(
        "conformance (mount): {} vectors, {played} played ({writers} writers byte for byte), {} failed; not expressible:",
        all.len(),
        failed.len()
    );
    for (reason, n) in &skipped {
        println!("  {n} × {reason}");
    }
    assert!(failed.is_empty(), "{failed:#?}");
    assert!(played >= 200);
    let want = all
        .iter()
        .filter(|l| {
            l.v.reproducible
                && matches!(
                    l.v.area,
                    Area::File | Area::Name | Area::Symlink | Area::Volume
                )
        })
        .count();
    assert_eq!(
        writers, want,
        "every reproducible file, name and symlink vector is a writer check"
    );
}

/// Where a name vector's sidecar lives: beside its hashed long name, or for
/// a conflict copy of one, beside the long name it copies (SPEC §10.1).
fn sidecar_of(disk: &str) -> String {
    let base =
        fusecry_format::conflict::split_disk(disk).map_or_else(|| disk.to_string(), |c| c.base);
    fusecry_format::name::sidecar_name(&base)
}
