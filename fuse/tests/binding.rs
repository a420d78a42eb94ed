//! What fusecry/1 binds, attacked through a real mount: whoever controls the
//! ciphertext directory moves a symlink target (SPEC §11) or an xattr value
//! (§11.1) to another entry, or poisons file ids through an empty file's
//! image (§7.1); each attack must end in EIO, never in a value read as
//! genuine. Each test is named after its attack. The mount is remounted
//! after every change behind its back, so no cache hides it.

mod common;

use common::{Kind, Mounted};
use fusecry_fuse::MountOptions;
use std::fs::{self, OpenOptions};
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::Path;

const CS: u64 = 4096;
const V1: Kind = Kind::V1 {
    cs: CS,
    names: true,
};

fn opts() -> MountOptions {
    let mut o = MountOptions::default();
    o.fs.writeback = false;
    o
}

fn eio<T: std::fmt::Debug>(r: std::io::Result<T>) -> bool {
    matches!(&r, Err(e) if e.raw_os_error() == Some(libc::EIO))
}

/// Replaces the backing entry at `at` by a symlink whose stored target is
/// `stored` (bytes copied from another symlink).
fn plant_symlink(at: &Path, stored: &Path) {
    if fs::symlink_metadata(at).unwrap().is_dir() {
        fs::remove_dir_all(at).unwrap();
    } else {
        fs::remove_file(at).unwrap();
    }
    std::os::unix::fs::symlink(stored, at).unwrap();
}

/// Behind the mount, the stored target of symlink `from` replaces the entry
/// `to`; returns the volume mounted afresh.
fn transplant(m: Mounted, from: &str, to: &str) -> Mounted {
    let m = m.remount(opts());
    let stored = fs::read_link(m.backing(from)).unwrap();
    plant_symlink(&m.backing(to), &stored);
    m.remount(opts())
}

#[test]
fn symlink_target_transplanted_from_another_symlink_answers_eio() {
    let m = Mounted::with(V1, opts());
    std::os::unix::fs::symlink("/somewhere/outside", m.p("evil")).unwrap();
    std::os::unix::fs::symlink("docs/readme", m.p("good")).unwrap();
    let m = transplant(m, "evil", "good");
    assert!(eio(fs::read_link(m.p("good"))));
    assert_eq!(
        fs::read_link(m.p("evil")).unwrap(),
        Path::new("/somewhere/outside")
    );
}

#[test]
fn symlink_target_transplanted_onto_a_directory_name_answers_eio() {
    // The attack: a directory entry replaced by a copy of another
    // symlink's stored target, so that writes below it would leave the
    // volume. The planted link does not verify: nothing is written.
    let outside = tempfile::tempdir().unwrap();
    let m = Mounted::with(V1, opts());
    fs::create_dir(m.p("dir")).unwrap();
    fs::write(m.p("dir/file"), b"inside").unwrap();
    let target = outside.path().to_str().unwrap().to_string();
    std::os::unix::fs::symlink(&target, m.p("link")).unwrap();
    let m = transplant(m, "link", "dir");
    assert!(eio(fs::read_link(m.p("dir"))));
    assert!(eio(fs::write(m.p("dir/secret"), b"plaintext")));
    assert_eq!(fs::read_dir(outside.path()).unwrap().count(), 0);
    assert_eq!(fs::read_link(m.p("link")).unwrap(), Path::new(&target));
}

#[test]
fn symlink_target_moved_to_another_directory_answers_eio() {
    let m = Mounted::with(V1, opts());
    fs::create_dir(m.p("a")).unwrap();
    fs::create_dir(m.p("b")).unwrap();
    std::os::unix::fs::symlink("../x", m.p("a/ln")).unwrap();
    std::os::unix::fs::symlink("../y", m.p("b/ln")).unwrap();
    // The stored target of a/ln copied onto b/ln: same plaintext name,
    // another directory (another IV, another encoded name).
    let m = transplant(m, "a/ln", "b/ln");
    assert!(eio(fs::read_link(m.p("b/ln"))));
    assert_eq!(fs::read_link(m.p("a/ln")).unwrap(), Path::new("../x"));
}

/// The stored value of xattr `name` of backing entry `p`.
fn stored_xattr(m: &Mounted, p: &Path, name: &str) -> (String, Vec<u8>) {
    let disk = m.codec.encrypt_xattr_name(name).unwrap();
    let v = xattr::get(p, &disk).unwrap().expect("stored");
    (disk, v)
}

#[test]
fn xattr_value_moved_to_another_file_or_directory_answers_eio() {
    let m = Mounted::with(V1, opts());
    fs::write(m.p("f"), b"one").unwrap();
    fs::write(m.p("g"), b"two").unwrap();
    fs::create_dir(m.p("d")).unwrap();
    for (p, v) in [("f", "of f"), ("g", "of g"), ("d", "of d")] {
        xattr::set(m.p(p), "user.label", v.as_bytes()).unwrap();
    }
    let m = m.remount(opts());
    let (disk, of_f) = stored_xattr(&m, &m.backing("f"), "user.label");
    let (_, of_d) = stored_xattr(&m, &m.backing("d"), "user.label");
    xattr::set(m.backing("g"), &disk, &of_f).unwrap();
    xattr::set(m.backing("d"), &disk, &of_f).unwrap();
    xattr::set(m.backing("f"), &disk, &of_d).unwrap();
    let m = m.remount(opts());
    for p in ["f", "g", "d"] {
        assert!(eio(xattr::get(m.p(p), "user.label")), "{p}");
    }
    // Listing still works; the damaged values can be replaced.
    assert_eq!(xattr::list(m.p("g")).unwrap().count(), 1);
    xattr::set(m.p("g"), "user.label", b"again").unwrap();
    assert_eq!(
        xattr::get(m.p("g"), "user.label").unwrap().unwrap(),
        b"again"
    );
}

#[test]
fn xattr_value_moved_to_another_name_answers_eio() {
    let m = Mounted::with(V1, opts());
    fs::create_dir(m.p("d")).unwrap();
    for p in ["d", "f"] {
        if p == "f" {
            fs::write(m.p(p), b"x").unwrap();
        }
        xattr::set(m.p(p), "user.public", b"anyone may see this").unwrap();
        xattr::set(m.p(p), "user.secret", b"s3cret").unwrap();
    }
    let m = m.remount(opts());
    for p in ["d", "f"] {
        let (_, secret) = stored_xattr(&m, &m.backing(p), "user.secret");
        let (public, _) = stored_xattr(&m, &m.backing(p), "user.public");
        xattr::set(m.backing(p), &public, &secret).unwrap();
    }
    let m = m.remount(opts());
    for p in ["d", "f"] {
        assert!(eio(xattr::get(m.p(p), "user.public")), "{p}");
        assert_eq!(
            xattr::get(m.p(p), "user.secret").unwrap().unwrap(),
            b"s3cret"
        );
    }
}

fn file_id(m: &Mounted, rel: &str) -> Vec<u8> {
    fs::read(m.backing(rel)).unwrap()[4..20].to_vec()
}

fn chunk_offset(i: u64) -> u64 {
    20 + i * (CS + 48)
}

#[test]
fn file_id_poisoning_through_a_copied_empty_image_is_detected() {
    // 2017 gocryptfs audit, finding 2.2: an empty file's image copied over
    // another empty file gives both the same id; if the mount kept it when
    // they are first written, chunks could be spliced between the two.
    let m = Mounted::with(V1, opts());
    fs::write(m.p("a"), b"").unwrap();
    fs::write(m.p("b"), b"").unwrap();
    let m = m.remount(opts());
    assert_ne!(file_id(&m, "a"), file_id(&m, "b"));
    fs::copy(m.backing("a"), m.backing("b")).unwrap();
    let poisoned = file_id(&m, "a");
    assert_eq!(file_id(&m, "b"), poisoned);
    let m = m.remount(opts());
    let data = |seed: u8| -> Vec<u8> { (0..4 * CS as usize).map(|i| (i as u8) ^ seed).collect() };
    fs::write(m.p("a"), data(1)).unwrap();
    fs::write(m.p("b"), data(2)).unwrap();
    let m = m.remount(opts());
    let (ia, ib) = (file_id(&m, "a"), file_id(&m, "b"));
    assert!(
        ia != ib && ia != poisoned && ib != poisoned,
        "written under the copied id"
    );
    // Splice chunk 1 of a into b.
    let frame = (CS + 48) as usize;
    let a = fs::read(m.backing("a")).unwrap();
    let off = chunk_offset(1) as usize;
    OpenOptions::new()
        .write(true)
        .open(m.backing("b"))
        .unwrap()
        .write_all_at(&a[off..off + frame], off as u64)
        .unwrap();
    let m = m.remount(opts());
    let f = fs::File::open(m.p("b")).unwrap();
    let mut buf = vec![0u8; CS as usize];
    assert!(eio(f.read_at(&mut buf, CS)));
    f.read_exact_at(&mut buf, 0).unwrap();
    assert_eq!(buf, data(2)[..CS as usize]);
    assert_eq!(fs::read(m.p("a")).unwrap(), data(1));
}

#[test]
fn files_written_empty_then_filled_get_fresh_ids_and_keep_their_xattrs() {
    let m = Mounted::with(V1, opts());
    fs::write(m.p("f"), b"").unwrap();
    xattr::set(m.p("f"), "user.tag", b"kept").unwrap();
    let m = m.remount(opts());
    let empty_id = file_id(&m, "f");
    // First data into a file whose id was read from storage: a fresh id,
    // and the xattr value follows it.
    fs::write(m.p("f"), b"data").unwrap();
    let filled_id = file_id(&m, "f");
    assert_ne!(filled_id, empty_id);
    assert_eq!(xattr::get(m.p("f"), "user.tag").unwrap().unwrap(), b"kept");
    // Truncated to 0: another fresh id, the value still follows.
    nix::unistd::truncate(&m.p("f"), 0).unwrap();
    let truncated_id = file_id(&m, "f");
    assert!(truncated_id != filled_id && truncated_id != empty_id);
    assert_eq!(fs::read(m.backing("f")).unwrap().len(), 60);
    assert_eq!(xattr::get(m.p("f"), "user.tag").unwrap().unwrap(), b"kept");
    let m = m.remount(opts());
    assert_eq!(xattr::get(m.p("f"), "user.tag").unwrap().unwrap(), b"kept");
    assert_eq!(fs::read(m.p("f")).unwrap(), b"");
    assert_eq!(m.decrypt_backing("f"), b"");
}

/// No `fusecry.tmp.*` is left anywhere in the backing tree.
fn no_leftovers(dir: &Path) {
    for e in fs::read_dir(dir).unwrap() {
        let e = e.unwrap();
        let n = e.file_name().into_string().unwrap();
        assert!(!n.starts_with("fusecry.tmp."), "{n} left in {dir:?}");
        if e.file_type().unwrap().is_dir() {
            no_leftovers(&e.path());
        }
    }
}

fn target(m: &Mounted, rel: &str) -> String {
    fs::read_link(m.p(rel))
        .unwrap_or_else(|e| panic!("readlink {rel}: {e}"))
        .into_os_string()
        .into_string()
        .unwrap()
}

#[test]
fn renamed_exchanged_and_linked_symlinks_keep_their_targets() {
    let m = Mounted::with(V1, opts());
    fs::create_dir(m.p("d")).unwrap();
    fs::write(m.p("f"), b"file").unwrap();
    for (l, t) in [("s1", "t1"), ("s2", "t2"), ("x", "tx"), ("y", "ty")] {
        std::os::unix::fs::symlink(t, m.p(l)).unwrap();
    }
    let owner = fs::symlink_metadata(m.p("s1")).unwrap().uid();
    // Across directories, then over an existing symlink.
    fs::rename(m.p("s1"), m.p("d/moved")).unwrap();
    assert_eq!(target(&m, "d/moved"), "t1");
    assert!(fs::symlink_metadata(m.p("s1")).is_err());
    assert_eq!(fs::symlink_metadata(m.p("d/moved")).unwrap().uid(), owner);
    fs::rename(m.p("s2"), m.p("d/moved")).unwrap();
    assert_eq!(target(&m, "d/moved"), "t2");
    // To a long name (bound to the sidecar's encoding), and back.
    let long = "l".repeat(200);
    fs::rename(m.p("d/moved"), m.p(&long)).unwrap();
    assert_eq!(target(&m, &long), "t2");
    fs::rename(m.p(&long), m.p("d/moved")).unwrap();
    use nix::fcntl::RenameFlags;
    let rename2 = |a: &str, b: &str, f| nix::fcntl::renameat2(None, &m.p(a), None, &m.p(b), f);
    // RENAME_NOREPLACE onto an existing entry.
    let r = rename2("x", "y", RenameFlags::RENAME_NOREPLACE);
    assert_eq!(r, Err(nix::errno::Errno::EEXIST));
    assert_eq!(target(&m, "x"), "tx");
    let exchange = |a: &str, b: &str| rename2(a, b, RenameFlags::RENAME_EXCHANGE).unwrap();
    // Two symlinks exchanged, then a symlink exchanged with a file and
    // with a directory.
    exchange("x", "y");
    assert_eq!(
        (target(&m, "x"), target(&m, "y")),
        ("ty".into(), "tx".into())
    );
    exchange("x", "f");
    assert_eq!(target(&m, "f"), "ty");
    assert_eq!(fs::read(m.p("x")).unwrap(), b"file");
    exchange("d", "y");
    assert_eq!(target(&m, "d"), "tx");
    assert_eq!(target(&m, "y/moved"), "t2");
    // link(2) of a symlink: a new symlink with the same target.
    fs::hard_link(m.p("f"), m.p("f-link")).unwrap();
    assert_eq!(target(&m, "f-link"), "ty");
    assert_eq!(fs::symlink_metadata(m.p("f")).unwrap().nlink(), 1);
    fs::remove_file(m.p("f")).unwrap();
    assert_eq!(target(&m, "f-link"), "ty");
    no_leftovers(&m.cipher);
    // Cold caches: every target still verifies where it now is.
    let m = m.remount(opts());
    let mut names: Vec<String> = fs::read_dir(&m.mnt)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    assert_eq!(names, ["d", "f-link", "x", "y"]);
    assert_eq!(target(&m, "d"), "tx");
    assert_eq!(target(&m, "f-link"), "ty");
    assert_eq!(target(&m, "y/moved"), "t2");
    assert_eq!(fs::read(m.p("x")).unwrap(), b"file");
}

#[test]
fn renames_of_symlinks_with_plain_names_move_them_as_they_are() {
    let m = Mounted::with(
        Kind::V1 {
            cs: 16,
            names: false,
        },
        opts(),
    );
    std::os::unix::fs::symlink("t", m.p("a")).unwrap();
    let ino = fs::symlink_metadata(m.backing("a")).unwrap().ino();
    fs::rename(m.p("a"), m.p("b")).unwrap();
    assert_eq!(target(&m, "b"), "t");
    assert_eq!(fs::read_link(m.backing("b")).unwrap(), Path::new("t"));
    assert_eq!(fs::symlink_metadata(m.backing("b")).unwrap().ino(), ino);
    fs::hard_link(m.p("b"), m.p("c")).unwrap();
    assert_eq!(fs::symlink_metadata(m.p("c")).unwrap().nlink(), 2);
}
