//! The sentinel tree outside the volume, recorded before an attack and
//! compared after it: content, modes, owners, times, xattrs and listings,
//! and atimes aged first so that a read shows (relatime moves an atime
//! older than a day).

use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::ffi::{CStr, OsString};
use std::fs::{self, OpenOptions};
use std::io::{self, Read};
use std::os::fd::IntoRawFd;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// The content of `outside/secret.txt`.
const SECRET: &[u8] = b"outside secret: never to be read or changed\n";
/// The aged atime (2001).
const OLD: i64 = 1_000_000_000;

/// What must not change about one path outside the volume.
#[derive(Clone, Debug, PartialEq)]
struct Node {
    kind: &'static str,
    mode: u32,
    owner: (u32, u32),
    size: u64,
    mtime: (i64, i64),
    ctime: (i64, i64),
    sha256: Option<String>,
    target: Option<PathBuf>,
    xattrs: Vec<(OsString, Option<Vec<u8>>)>,
    listing: Option<Vec<OsString>>,
}

/// A tree as recorded: what must not change, and the atimes apart.
#[derive(Clone, Debug, Default)]
pub struct Snapshot {
    nodes: BTreeMap<PathBuf, Node>,
    atimes: BTreeMap<PathBuf, (i64, i64)>,
}

/// Lists a directory without touching its atime (O_NOATIME; we are root).
fn list_noatime(p: &Path) -> io::Result<Vec<OsString>> {
    let f = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_DIRECTORY | libc::O_NOATIME | libc::O_NOFOLLOW)
        .open(p)?;
    let fd = f.into_raw_fd();
    // SAFETY: fdopendir takes over `fd`, closedir releases both; readdir64
    // entries are read before the next call.
    unsafe {
        let dir = libc::fdopendir(fd);
        if dir.is_null() {
            let e = io::Error::last_os_error();
            libc::close(fd);
            return Err(e);
        }
        let mut out = Vec::new();
        loop {
            let ent = libc::readdir64(dir);
            if ent.is_null() {
                break;
            }
            let name = CStr::from_ptr((*ent).d_name.as_ptr()).to_bytes();
            if name != b"." && name != b".." {
                out.push(OsString::from(std::ffi::OsStr::from_bytes(name)));
            }
        }
        libc::closedir(dir);
        out.sort();
        Ok(out)
    }
}

fn node(p: &Path, m: &fs::Metadata) -> Node {
    let t = m.file_type();
    let kind = if t.is_dir() {
        "directory"
    } else if t.is_symlink() {
        "symlink"
    } else if t.is_fifo() {
        "fifo"
    } else if t.is_socket() {
        "socket"
    } else if t.is_file() {
        "file"
    } else {
        "other"
    };
    let sha256 = t.is_file().then(|| {
        let mut v = Vec::new();
        OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NOATIME | libc::O_NOFOLLOW | libc::O_NONBLOCK)
            .open(p)
            .and_then(|mut f| f.read_to_end(&mut v))
            .unwrap();
        hex::encode(Sha256::digest(&v))
    });
    let xattrs = match xattr::list(p) {
        Ok(l) => {
            let mut v: Vec<_> = l
                .map(|n| (n.clone(), xattr::get(p, &n).ok().flatten()))
                .collect();
            v.sort();
            v
        }
        Err(_) => Vec::new(),
    };
    Node {
        kind,
        mode: m.mode(),
        owner: (m.uid(), m.gid()),
        size: m.len(),
        mtime: (m.mtime(), m.mtime_nsec()),
        ctime: (m.ctime(), m.ctime_nsec()),
        sha256,
        target: t.is_symlink().then(|| fs::read_link(p).unwrap()),
        xattrs,
        listing: t.is_dir().then(|| list_noatime(p).unwrap()),
    }
}

/// Everything under `root` but the paths in `skip` (the volume and the
/// mount point), without changing any atime.
pub fn snapshot(root: &Path, skip: &[PathBuf]) -> Snapshot {
    fn walk(root: &Path, p: &Path, skip: &[PathBuf], s: &mut Snapshot) {
        let m = fs::symlink_metadata(p).unwrap();
        let rel = p.strip_prefix(root).unwrap().to_path_buf();
        s.atimes.insert(rel.clone(), (m.atime(), m.atime_nsec()));
        let n = node(p, &m);
        if let Some(l) = &n.listing {
            for c in l {
                let cp = p.join(c);
                if !skip.contains(&cp) {
                    walk(root, &cp, skip, s);
                }
            }
        }
        s.nodes.insert(rel, n);
    }
    let mut s = Snapshot::default();
    walk(root, root, skip, &mut s);
    s
}

/// Sets every atime under `root` (but `skip`) far in the past, so that the
/// next read of it moves the atime forward under relatime.
pub fn age_atimes(root: &Path, skip: &[PathBuf]) {
    let m = fs::symlink_metadata(root).unwrap();
    if m.is_dir() {
        for c in list_noatime(root).unwrap() {
            let cp = root.join(c);
            if !skip.contains(&cp) {
                age_atimes(&cp, skip);
            }
        }
    }
    if !m.file_type().is_symlink() {
        nix::sys::stat::utimensat(
            None,
            root,
            &nix::sys::time::TimeSpec::new(OLD, 0),
            &nix::sys::time::TimeSpec::UTIME_OMIT,
            nix::sys::stat::UtimensatFlags::NoFollowSymlink,
        )
        .unwrap();
    }
}

/// Whether reads move atimes on this filesystem (not mounted noatime).
fn atime_measurable() -> bool {
    static M: OnceLock<bool> = OnceLock::new();
    *M.get_or_init(|| {
        let t = tempfile::tempdir().unwrap();
        let p = t.path().join("probe");
        fs::write(&p, b"probe").unwrap();
        age_atimes(&p, &[]);
        fs::read(&p).unwrap();
        let yes = fs::metadata(&p).unwrap().atime() != OLD;
        if !yes {
            eprintln!("atimes do not move on this filesystem: reads outside are not checked");
        }
        yes
    })
}

/// What differs between two snapshots, one line per path.
pub fn changes(before: &Snapshot, after: &Snapshot) -> Vec<String> {
    let mut out = Vec::new();
    for (p, b) in &before.nodes {
        let Some(a) = after.nodes.get(p) else {
            out.push(format!("outside: {} deleted", p.display()));
            continue;
        };
        let mut what = Vec::new();
        if a.kind != b.kind {
            what.push(format!("{} became a {}", b.kind, a.kind));
        }
        if a.sha256 != b.sha256 || a.size != b.size {
            what.push("content".into());
        }
        if a.mode != b.mode {
            what.push(format!("mode {:o} -> {:o}", b.mode, a.mode));
        }
        if a.owner != b.owner {
            what.push(format!("owner {:?} -> {:?}", b.owner, a.owner));
        }
        if a.mtime != b.mtime {
            what.push("mtime".into());
        }
        if a.target != b.target {
            what.push("symlink target".into());
        }
        if a.xattrs != b.xattrs {
            what.push("xattrs".into());
        }
        if let (Some(lb), Some(la)) = (&b.listing, &a.listing) {
            let added: Vec<_> = la.iter().filter(|n| !lb.contains(n)).collect();
            let gone: Vec<_> = lb.iter().filter(|n| !la.contains(n)).collect();
            if !added.is_empty() {
                what.push(format!("created in it: {added:?}"));
            }
            if !gone.is_empty() {
                what.push(format!("deleted from it: {gone:?}"));
            }
        }
        if what.is_empty() && a.ctime != b.ctime {
            what.push("ctime (metadata changed)".into());
        }
        if !what.is_empty() {
            out.push(format!(
                "outside: {} changed: {}",
                p.display(),
                what.join(", ")
            ));
        }
        if atime_measurable() && b.kind != "symlink" && after.atimes.get(p) != before.atimes.get(p)
        {
            out.push(format!("outside: {} was read (atime moved)", p.display()));
        }
    }
    for (p, a) in &after.nodes {
        if !before.nodes.contains_key(p) {
            out.push(format!("outside: {} created ({})", p.display(), a.kind));
        }
    }
    out
}

/// The tree outside the volume: `outside/secret.txt` (the target of the
/// planted symlinks to a file), `outside/dir/` (of those to a directory),
/// a FIFO, a deeper file, and xattrs.
pub fn build_outside(tmp: &Path) -> PathBuf {
    let o = tmp.join("outside");
    fs::create_dir(&o).unwrap();
    fs::write(o.join("secret.txt"), SECRET).unwrap();
    xattr::set(o.join("secret.txt"), "user.sentinel", b"file").unwrap();
    fs::create_dir(o.join("dir")).unwrap();
    fs::write(o.join("dir/keep.txt"), b"keep\n").unwrap();
    xattr::set(o.join("dir"), "user.sentinel", b"dir").unwrap();
    nix::unistd::mkfifo(
        &o.join("fifo"),
        nix::sys::stat::Mode::from_bits_truncate(0o644),
    )
    .unwrap();
    fs::create_dir(o.join("sub")).unwrap();
    fs::write(o.join("sub/deep.txt"), b"deep\n").unwrap();
    o
}

/// Copies backing directory `from` into `to` as it is (names, IV,
/// sidecars): what an attacker points a planted symlink at, so that a
/// daemon that follows it finds everything it expects, outside the volume.
pub fn copy_tree(from: &Path, to: &Path) {
    for e in fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let (src, dst) = (e.path(), to.join(e.file_name()));
        let t = e.file_type().unwrap();
        if t.is_dir() {
            fs::create_dir(&dst).unwrap();
            copy_tree(&src, &dst);
        } else if t.is_symlink() {
            std::os::unix::fs::symlink(fs::read_link(&src).unwrap(), &dst).unwrap();
        } else {
            fs::copy(&src, &dst).unwrap();
        }
    }
}
