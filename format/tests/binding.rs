//! SPEC §11 and §11.1: what a stored symlink target and a stored xattr value
//! are bound to. A target reads only under the directory IV and the encoded
//! name it was written for; a value only under its attribute name and its
//! file (file id) or directory (directory IV). Each test is named after the
//! attack it stops.

use fusecry_format::name::{self, DirIv};
use fusecry_format::xattr::Owner;
use fusecry_format::{Codec, FileId, MasterKey};
use quickcheck::{QuickCheck, TestResult};
use rand_chacha::rand_core::{RngCore, SeedableRng};
use rand_chacha::ChaCha20Rng;

fn codec(names: bool) -> Codec {
    Codec::v1(&MasterKey::from_bytes([0x42; 32]), 4096, names)
}

fn qc() -> QuickCheck {
    QuickCheck::new().tests(200)
}

/// A valid plaintext name from arbitrary input (1 to 255 bytes).
fn plain(s: &str, salt: u8) -> String {
    let mut n: String = s.chars().filter(|c| *c != '/' && *c != '\0').collect();
    n.push(char::from(b'a' + salt % 26));
    while n.len() > 255 {
        n.pop();
    }
    n
}

/// The full encoded name of `plain` in a directory (the sidecar content of
/// a long name).
fn encoded(c: &Codec, iv: &DirIv, plain: &str) -> String {
    let (disk, side) = c
        .encrypt_name(Some(iv), plain, &mut rand_chacha::rand_core::OsRng)
        .unwrap();
    side.unwrap_or(disk)
}

#[test]
fn symlink_target_moved_to_another_name_or_directory_fails() {
    fn prop(seed: u64, target: Vec<u8>, a: String, b: String) -> TestResult {
        let c = codec(true);
        let mut rng = ChaCha20Rng::seed_from_u64(seed);
        let (iv, other_iv) = (DirIv::random(&mut rng), DirIv::random(&mut rng));
        let (a, b) = (plain(&a, 0), plain(&b, 1));
        if a == b || iv == other_iv {
            return TestResult::discard();
        }
        let at = encoded(&c, &iv, &a);
        let stored = c
            .encrypt_symlink(Some(&iv), &at, &target, &mut rng)
            .unwrap();
        let ok = c.decrypt_symlink(Some(&iv), &at, &stored).unwrap() == target;
        // Under another name of the same directory (a rename done behind
        // the mount, or one symlink's target copied onto another).
        let renamed = c.decrypt_symlink(Some(&iv), &encoded(&c, &iv, &b), &stored);
        // The same name in another directory.
        let moved = c.decrypt_symlink(Some(&other_iv), &encoded(&c, &other_iv, &a), &stored);
        // Without a directory IV nothing is bound, so nothing reads.
        let no_iv = c.decrypt_symlink(None, &at, &stored);
        TestResult::from_bool(ok && renamed.is_err() && moved.is_err() && no_iv.is_err())
    }
    qc().quickcheck(prop as fn(u64, Vec<u8>, String, String) -> TestResult);
}

#[test]
fn symlink_target_copied_from_another_symlink_fails() {
    let c = codec(true);
    let mut rng = ChaCha20Rng::seed_from_u64(1);
    let iv = DirIv::random(&mut rng);
    let (a, b) = (encoded(&c, &iv, "a"), encoded(&c, &iv, "b"));
    let ta = c
        .encrypt_symlink(Some(&iv), &a, b"/outside/the/volume", &mut rng)
        .unwrap();
    let tb = c
        .encrypt_symlink(Some(&iv), &b, b"docs/readme", &mut rng)
        .unwrap();
    assert_eq!(
        c.decrypt_symlink(Some(&iv), &b, &tb).unwrap(),
        b"docs/readme"
    );
    // a's stored target placed on b: refused, not read as a's target.
    let err = c.decrypt_symlink(Some(&iv), &b, &ta).unwrap_err();
    assert_eq!(err.class(), "BadSymlink");
    // Nor under the name of a directory of the same parent.
    let d = encoded(&c, &iv, "dir");
    assert!(c.decrypt_symlink(Some(&iv), &d, &ta).is_err());
}

#[test]
fn symlink_of_a_long_name_is_bound_to_the_sidecar_not_the_hashed_name() {
    let c = codec(true);
    let mut rng = ChaCha20Rng::seed_from_u64(2);
    let iv = DirIv::random(&mut rng);
    let long = "l".repeat(200);
    let (disk, side) = c.encrypt_name(Some(&iv), &long, &mut rng).unwrap();
    let side = side.expect("a 200-byte name is long");
    assert!(disk.starts_with(name::LONGNAME_PREFIX));
    let stored = c
        .encrypt_symlink(Some(&iv), &side, b"target", &mut rng)
        .unwrap();
    assert_eq!(
        c.decrypt_symlink(Some(&iv), &side, &stored).unwrap(),
        b"target"
    );
    assert!(c.decrypt_symlink(Some(&iv), &disk, &stored).is_err());
}

#[test]
fn plain_names_store_targets_as_they_are() {
    let c = codec(false);
    let mut rng = ChaCha20Rng::seed_from_u64(3);
    let t = c.encrypt_symlink(None, "x", b"../t", &mut rng).unwrap();
    assert_eq!(t, b"../t");
    assert_eq!(c.decrypt_symlink(None, "y", &t).unwrap(), b"../t");
    assert_eq!(c.symlink_target_len(4), 4);
}

#[test]
fn symlink_size_follows_from_the_stored_length() {
    let c = codec(true);
    let mut rng = ChaCha20Rng::seed_from_u64(4);
    let iv = DirIv::random(&mut rng);
    for n in [0usize, 1, 2, 5, 16, 100, 2527] {
        let t = vec![b'x'; n];
        let s = c.encrypt_symlink(Some(&iv), "N", &t, &mut rng).unwrap();
        assert_eq!(c.symlink_target_len(s.len() as u64), n as u64, "{n}");
    }
}

#[test]
fn xattr_value_moved_between_names_files_or_directories_fails() {
    fn prop(seed: u64, value: Vec<u8>, a: String, b: String) -> TestResult {
        let c = codec(true);
        let mut rng = ChaCha20Rng::seed_from_u64(seed);
        let (a, b) = (format!("user.{a}"), format!("user.{b}"));
        if a == b {
            return TestResult::discard();
        }
        let mut id = [0u8; 16];
        rng.fill_bytes(&mut id);
        let (f, g) = (FileId(id), FileId::random(&mut rng));
        let (d, e) = (DirIv(id), DirIv::random(&mut rng));
        let stored = c.encrypt_xattr_value(Owner::File(&f), &a, &value, &mut rng);
        let ok = c.decrypt_xattr_value(Owner::File(&f), &a, &stored).unwrap() == value;
        let moved = [
            (Owner::File(&f), &b),
            (Owner::File(&g), &a),
            (Owner::Dir(&d), &a),
            (Owner::Dir(&e), &a),
        ]
        .iter()
        .all(|(o, n)| c.decrypt_xattr_value(*o, n, &stored).is_err());
        let ds = c.encrypt_xattr_value(Owner::Dir(&e), &a, &value, &mut rng);
        let dir_ok = c.decrypt_xattr_value(Owner::Dir(&e), &a, &ds).unwrap() == value
            && c.decrypt_xattr_value(Owner::Dir(&d), &a, &ds).is_err()
            && c.decrypt_xattr_value(Owner::File(&g), &a, &ds).is_err();
        TestResult::from_bool(ok && moved && dir_ok)
    }
    qc().quickcheck(prop as fn(u64, Vec<u8>, String, String) -> TestResult);
}

#[test]
fn plain_names_store_xattr_values_as_they_are() {
    let c = codec(false);
    let id = FileId([1; 16]);
    let v = c.encrypt_xattr_value(
        Owner::File(&id),
        "user.a",
        b"v",
        &mut rand_chacha::rand_core::OsRng,
    );
    assert_eq!(v, b"v");
    assert_eq!(
        c.decrypt_xattr_value(Owner::Dir(&DirIv([2; 16])), "user.b", &v)
            .unwrap(),
        b"v"
    );
}
