//! The table of issue 14: each kind of backing entry replaced by each kind
//! of plant, in volumes with plain and with encrypted names.

use crate::attack::{long_name, Attack, Plant};
use crate::calls::*;
use crate::sentinel::copy_tree;
use fusecry_format::name::{CONF_NAME, DIRIV_NAME};
use std::fs;
use std::path::PathBuf;

/// Which backing entry is replaced.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Entry {
    /// The backing directory of `d`.
    Dir,
    /// The backing file of `d/f`.
    File,
    /// `d`'s `fusecry.diriv` (encrypted names only).
    DirIv,
    /// The sidecar of `d/<150 l's>` (encrypted names only).
    Sidecar,
    /// `fusecry.conf`, replaced while mounted.
    Conf,
    /// The backing symlink of `d/link` (target "f").
    Symlink,
}

/// `entry` replaced by `what` in a volume with plain or encrypted names:
/// the calls on it answer EIO (or, where the plant is of the type the
/// volume expects there, whatever they answer), nothing outside the volume
/// is touched, no call hangs, every other entry works, and the daemon
/// unmounts.
pub fn replaced(entry: Entry, what: Plant, names: bool) {
    let a = Attack::new(names);
    a.populate();
    let m = a.m();
    let victim = match entry {
        Entry::Dir => m.backing("d"),
        Entry::File => m.backing("d/f"),
        Entry::DirIv => m.backing("d").join(DIRIV_NAME),
        Entry::Sidecar => a.sidecar(&format!("d/{}", long_name())),
        Entry::Conf => m.cipher.join(CONF_NAME),
        Entry::Symlink => m.backing("d/link"),
    };
    assert!(
        fs::symlink_metadata(&victim).is_ok(),
        "{}",
        victim.display()
    );
    if entry == Entry::Dir && what == Plant::SymlinkToDir {
        copy_tree(&m.backing("d"), &a.outside.join("dir"));
    }
    match entry {
        Entry::Dir => dir_replaced(a, victim, what),
        Entry::File => file_replaced(a, victim, what),
        Entry::DirIv => diriv_replaced(a, victim, what),
        Entry::Sidecar => sidecar_replaced(a, victim, what),
        Entry::Conf => conf_replaced(a, victim, what),
        Entry::Symlink => symlink_replaced(a, victim, what),
    }
}

/// `d` swapped under the mount (pinned). A symlink to `outside/dir` points
/// at a copy of `d`'s backing directory, so a daemon that follows it finds
/// every name it looks for there.
fn dir_replaced(mut a: Attack, victim: PathBuf, what: Plant) {
    let dfd = a.raw_pin("d");
    let d = a.pin("d");
    a.seal();
    a.plant(&victim, what);
    // A directory where a directory was: the right type, nothing to refuse.
    let x = || match what {
        Plant::Directory => Expect::Any,
        _ => Expect::Eio,
    };
    a.op("lookup d/f", x(), stat_fd(dfd, "f"));
    a.op("create d/new", x(), create(d.join("new"), b"secret\n"));
    a.op("mkdir d/newdir", x(), mkdir(d.join("newdir")));
    a.op("write d/f", x(), write(d.join("f"), b"overwritten\n"));
    a.op("read d/f", x(), read(d.join("f")));
    a.op("rename d/r to d/r2", x(), rename(d.join("r"), d.join("r2")));
    a.op("unlink d/u", x(), unlink(d.join("u")));
    a.op("getxattr d/f", x(), getxattr(d.join("f")));
    a.op("setxattr d/f", x(), setxattr(d.join("f")));
    a.op("listxattr d/f", x(), listxattr(d.join("f")));
    a.op("truncate d/f", x(), truncate(d.join("f")));
    a.op("chown d/f", x(), chown(d.join("f")));
    a.op("chmod d/f", x(), chmod(d.join("f"), 0o600));
    a.op("utimes d/f", x(), utimes(d.join("f")));
    a.op("getxattr d", x(), getxattr(d.clone()));
    a.op("setxattr d", x(), setxattr(d.clone()));
    a.op("listxattr d", x(), listxattr(d.clone()));
    a.op("readdir d", x(), readdir(d.clone()));
    a.op("chown d", x(), chown(d.clone()));
    a.op("chmod d", x(), chmod(d.clone(), 0o750));
    a.op("utimes d", x(), utimes(d.clone()));
    a.op("stat d", x(), stat_fd(dfd, ""));
    a.controls(false);
    a.finish();
}

/// `d/f` swapped under the mount (pinned); its directory `d` still works.
fn file_replaced(mut a: Attack, victim: PathBuf, what: Plant) {
    let ffd = a.raw_pin("d/f");
    let f = a.pin("d/f");
    let d = a.pin("d");
    a.seal();
    a.plant(&victim, what);
    a.op("read d/f", Expect::Eio, read(f.clone()));
    a.op("write d/f", Expect::Eio, write(f.clone(), b"overwritten\n"));
    a.op("truncate d/f", Expect::Eio, truncate(f.clone()));
    a.op("getxattr d/f", Expect::Eio, getxattr(f.clone()));
    a.op("setxattr d/f", Expect::Eio, setxattr(f.clone()));
    a.op("listxattr d/f", Expect::Eio, listxattr(f.clone()));
    a.op("chown d/f", Expect::Eio, chown(f.clone()));
    a.op("chmod d/f", Expect::Eio, chmod(f.clone(), 0o600));
    a.op("utimes d/f", Expect::Eio, utimes(f.clone()));
    a.op("stat d/f", Expect::Eio, stat_fd(ffd, ""));
    its_dir_still_works(a, d, "f");
}

/// `d/link` swapped under the mount (pinned). Symlinks have no mode and no
/// user xattrs: readlink, chown, utimes and stat are what applies. A
/// symlink planted for a symlink is the right type: with plain names its
/// target is stored as it is (SPEC §11) and read back so; with encrypted
/// names it does not decrypt (BadSymlink, EIO).
fn symlink_replaced(mut a: Attack, victim: PathBuf, what: Plant) {
    let lfd = a.raw_pin("d/link");
    let d = a.pin("d");
    a.seal();
    a.plant(&victim, what);
    let same = matches!(what, Plant::SymlinkToFile | Plant::SymlinkToDir);
    let x = || if same { Expect::Any } else { Expect::Eio };
    let target = if same && !a.names {
        Expect::Any
    } else {
        Expect::Eio
    };
    a.op("readlink d/link", target, readlink_fd(lfd));
    a.op("chown d/link", x(), chown_fd(lfd));
    a.op("utimes d/link", x(), utimes_fd(lfd));
    a.op("stat d/link", x(), stat_fd(lfd, ""));
    its_dir_still_works(a, d, "link");
}

/// The directory `d` (reached through `d`) of attacked entry `name` lists
/// and takes a new file; renaming and removing the planted thing itself
/// follows nothing, so any answer will do; then the controls.
fn its_dir_still_works(mut a: Attack, d: PathBuf, name: &str) {
    a.check("readdir d", names(&["ctl", "r"], &[]), readdir(d.clone()));
    a.create_and_read_back(d.join("new"), "d/new");
    let moved = format!("{name}2");
    a.op(
        &format!("rename d/{name} to d/{moved}"),
        Expect::Any,
        rename(d.join(name), d.join(&moved)),
    );
    a.op(
        &format!("unlink d/{moved}"),
        Expect::Any,
        unlink(d.join(&moved)),
    );
    a.controls(true);
    a.finish();
}

/// `d`'s directory IV replaced while unmounted, then mounted afresh: every
/// name in `d` needs it, so every call in `d` answers EIO; `d` itself (named
/// with the root's IV) is still there.
fn diriv_replaced(mut a: Attack, victim: PathBuf, what: Plant) {
    a.plant_unmounted(&victim, what);
    let p = |s: &str| a.m().p(s);
    let ops: Vec<(&str, OpFn)> = vec![
        ("lookup d/f", lookup(p("d/f"))),
        ("read d/f", read(p("d/f"))),
        ("write d/f", write(p("d/f"), b"overwritten\n")),
        ("create d/new", create(p("d/new"), b"secret\n")),
        ("mkdir d/newdir", mkdir(p("d/newdir"))),
        ("rename d/r to d/r2", rename(p("d/r"), p("d/r2"))),
        ("unlink d/u", unlink(p("d/u"))),
        ("getxattr d/f", getxattr(p("d/f"))),
        ("setxattr d/f", setxattr(p("d/f"))),
        ("listxattr d/f", listxattr(p("d/f"))),
        ("chmod d/f", chmod(p("d/f"), 0o600)),
        ("readdir d", readdir(p("d"))),
    ];
    for (label, f) in ops {
        a.op(label, Expect::Eio, f);
    }
    a.op("stat d", Expect::Any, lookup(a.p("d")));
    a.controls(false);
    a.finish();
}

/// The sidecar of `d/<long>` replaced while unmounted, then mounted afresh:
/// SPEC §10 makes a long name whose sidecar is missing, unreadable or
/// wrong `BadName` (EIO, §13), never listed; `d`'s other entries stay.
fn sidecar_replaced(mut a: Attack, victim: PathBuf, what: Plant) {
    a.plant_unmounted(&victim, what);
    let long = format!("d/{}", long_name());
    let l = a.p(&long);
    // The listing first: it is what reads the sidecar, and the calls
    // after it may move or remove the planted one.
    a.op(
        "readdir d",
        names(&["ctl", "f", "link"], &[&long_name()]),
        readdir(a.p("d")),
    );
    let ops: Vec<(&str, OpFn)> = vec![
        ("lookup d/<long>", lookup(l.clone())),
        ("read d/<long>", read(l.clone())),
        ("write d/<long>", write(l.clone(), b"overwritten\n")),
        ("truncate d/<long>", truncate(l.clone())),
        ("getxattr d/<long>", getxattr(l.clone())),
        ("setxattr d/<long>", setxattr(l.clone())),
        ("listxattr d/<long>", listxattr(l.clone())),
        ("chmod d/<long>", chmod(l.clone(), 0o600)),
        ("create d/<long> exclusively", create(l.clone(), b"again\n")),
        ("unlink d/<long>", unlink(l.clone())),
        (
            "rename d/<long> to d/<long>2",
            rename(l.clone(), a.p(&format!("{long}2"))),
        ),
    ];
    for (label, f) in ops {
        a.op(label, Expect::Eio, f);
    }
    a.create_and_read_back(a.p("d/new"), "d/new");
    a.controls(true);
    a.finish();
}

/// `fusecry.conf` replaced while mounted: the mount read it once, at mount
/// time, and never touches it again; it stays hidden and reserved.
fn conf_replaced(mut a: Attack, victim: PathBuf, what: Plant) {
    a.seal();
    a.plant(&victim, what);
    let mnt = a.m().mnt.clone();
    a.op(
        "readdir /",
        names(&["ctl", "d", "other"], &[CONF_NAME]),
        readdir(mnt.clone()),
    );
    a.op(
        "lookup /fusecry.conf",
        Expect::Errno(libc::ENOENT),
        lookup(a.p(CONF_NAME)),
    );
    // With plain names the name is reserved (SPEC §10); encrypted, it is
    // an ordinary name stored under its encoding.
    let create_conf = if a.names {
        Expect::Ok
    } else {
        Expect::Errno(libc::EPERM)
    };
    a.op(
        "create /fusecry.conf",
        create_conf,
        create(a.p(CONF_NAME), b"not a conf\n"),
    );
    a.op(
        "statfs",
        Expect::Ok,
        boxed(move || {
            nix::sys::statvfs::statvfs(&mnt)?;
            Ok(Vec::new())
        }),
    );
    a.controls(true);
    a.finish();
}
