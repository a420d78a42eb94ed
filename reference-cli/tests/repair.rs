//! `fusecry fsck` damage as plaintext byte ranges, and `fsck --repair`
//! (SPEC §7.7) on volumes of both profiles, damaged by hand the ways a
//! crash or failing storage damages them. The crash matrix on a real mount
//! is in crash.rs.

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::Output;

const CS: usize = 4096;
const FRAME: usize = CS + 48;

struct Vol {
    _t: tempfile::TempDir,
    d: PathBuf,
    /// fusecry/1 header length: 20; legacy: 0.
    hl: usize,
}

mod common;
use common::{fusecry_in as fusecry, CHEAP};

fn ok(o: &Output) -> String {
    assert!(
        o.status.success(),
        "exit {:?}\n{}\n{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// Deterministic data that differs from zeros everywhere that matters.
fn data(n: usize, seed: u8) -> Vec<u8> {
    (0..n)
        .map(|i| (i as u32).wrapping_mul(2654435761).to_le_bytes()[3] ^ seed | 1)
        .collect()
}

impl Vol {
    /// A volume with encrypted names, chunk size 4096, fusecry/1 or legacy.
    fn new(legacy: bool) -> Vol {
        let t = tempfile::tempdir().unwrap();
        let d = t.path().to_path_buf();
        fs::write(d.join("pw"), "secret\n").unwrap();
        let mut a = vec![
            "init",
            "vol",
            "-n",
            "--chunk-size",
            "4096",
            "--password-file",
            "pw",
        ];
        a.extend(CHEAP);
        if legacy {
            a.push("--legacy");
        }
        ok(&fusecry(&d, &a));
        Vol {
            _t: t,
            d,
            hl: if legacy { 0 } else { 20 },
        }
    }

    /// Stores `bytes` as root file `name`; returns its ciphertext path.
    fn add(&self, name: &str, bytes: &[u8]) -> PathBuf {
        let disk = ok(&fusecry(
            &self.d,
            &[
                "name",
                "encrypt",
                name,
                "-c",
                "vol",
                "--password-file",
                "pw",
            ],
        ));
        let disk = disk.trim_end();
        fs::write(self.d.join(name), bytes).unwrap();
        ok(&fusecry(
            &self.d,
            &[
                "encrypt",
                name,
                &format!("vol/{disk}"),
                "-c",
                "vol/fusecry.conf",
                "--password-file",
                "pw",
            ],
        ));
        self.d.join("vol").join(disk)
    }

    /// Plaintext of the stored file `p` (which must verify).
    fn plain(&self, p: &Path) -> Vec<u8> {
        let out = self.d.join("plain.out");
        let _ = fs::remove_file(&out);
        ok(&fusecry(
            &self.d,
            &[
                "decrypt",
                p.to_str().unwrap(),
                out.to_str().unwrap(),
                "-c",
                "vol/fusecry.conf",
                "--password-file",
                "pw",
            ],
        ));
        fs::read(out).unwrap()
    }

    fn fsck(&self, extra: &[&str]) -> Output {
        let mut a = vec!["fsck", "vol", "--password-file", "pw"];
        a.extend(extra);
        fusecry(&self.d, &a)
    }

    fn json(&self, extra: &[&str]) -> (Option<i32>, serde_json::Value) {
        let mut a = vec!["--json"];
        a.extend(extra);
        let o = self.fsck(&a);
        (o.status.code(), serde_json::from_slice(&o.stdout).unwrap())
    }

    /// Flips a ciphertext byte of chunk `i` of the stored file `p`.
    fn tear(&self, p: &Path, i: usize) {
        let mut b = fs::read(p).unwrap();
        b[self.hl + i * FRAME + 60] ^= 0x40;
        fs::write(p, b).unwrap();
    }
}

fn ranges(v: &serde_json::Value, key: &str) -> Vec<(u64, u64)> {
    v.as_array()
        .unwrap_or_else(|| panic!("{key} missing"))
        .iter()
        .map(|r| {
            (
                r["first_byte"].as_u64().unwrap(),
                r["last_byte"].as_u64().unwrap(),
            )
        })
        .collect()
}

#[test]
fn fsck_reports_byte_ranges_with_runs_merged() {
    let v = Vol::new(false);
    let p = v.add("f1", &data(40_000, 1));
    for i in [2, 3, 4, 7] {
        v.tear(&p, i);
    }
    let o = v.fsck(&[]);
    assert_eq!(o.status.code(), Some(21));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        out.contains("/f1: bytes 8192-20479 unreadable (chunks 2-4)"),
        "{out}"
    );
    assert!(
        out.contains("/f1: bytes 28672-32767 unreadable (chunk 7)"),
        "{out}"
    );
    let (code, j) = v.json(&[]);
    assert_eq!(code, Some(21));
    let d = &j["damaged"][0];
    assert_eq!(d["path"], "/f1");
    assert_eq!(d["chunks"], serde_json::json!([2, 3, 4, 7]));
    assert_eq!(
        ranges(&d["unreadable"], "unreadable"),
        [(8192, 20479), (28672, 32767)]
    );
    // A report only: nothing changed.
    assert_eq!(v.fsck(&[]).status.code(), Some(21));
}

/// Zero mode keeps every chunk that verifies, zeros the rest, leaves the
/// intact file alone (same inode) and lists a name that does not decrypt
/// without deleting it.
fn repair_zero(legacy: bool) {
    let v = Vol::new(legacy);
    let a = data(40_000, 1);
    let pa = v.add("f1", &a);
    let b = data(10_000, 2);
    let pb = v.add("intact", &b);
    let ino_b = fs::metadata(&pb).unwrap().ino();
    let pc = v.add("badname", &data(100, 3));
    let garbage = v.d.join("vol").join("A".repeat(32));
    fs::rename(&pc, &garbage).unwrap();
    v.tear(&pa, 1);
    v.tear(&pa, 5);
    v.tear(&pa, 6);
    let (code, j) = v.json(&["--repair"]);
    assert_eq!(code, Some(21), "the bad name stays: {j}");
    let dmg = j["damaged"].as_array().unwrap();
    assert_eq!(dmg.len(), 2, "{j}");
    let f1 = dmg.iter().find(|d| d["path"] == "/f1").expect("f1 listed");
    assert_eq!(f1["repaired"]["ok"], true, "{j}");
    assert_eq!(
        ranges(&f1["repaired"]["lost"], "lost"),
        [(4096, 8191), (20480, 28671)]
    );
    let bad = dmg.iter().find(|d| d["path"] != "/f1").unwrap();
    assert!(bad["repaired"].is_null(), "{j}");
    assert!(
        garbage.exists(),
        "a name that does not decrypt is never deleted"
    );
    // f1 reads again, zeros where it was torn.
    let mut want = a.clone();
    want[4096..8192].fill(0);
    want[20480..28672].fill(0);
    assert!(v.plain(&pa) == want, "repaired content");
    assert_eq!(
        fs::metadata(&pb).unwrap().ino(),
        ino_b,
        "intact file rewritten"
    );
    assert!(v.plain(&pb) == b);
    // Only the bad name is left; once it is gone, clean.
    fs::remove_file(&garbage).unwrap();
    ok(&v.fsck(&[]));
}

#[test]
fn repair_zero_v1() {
    repair_zero(false);
}

#[test]
fn repair_zero_legacy() {
    repair_zero(true);
}

#[test]
fn repair_truncate_cuts_before_the_first_damage() {
    for legacy in [false, true] {
        let v = Vol::new(legacy);
        let a = data(40_000, 4);
        let p = v.add("f1", &a);
        v.tear(&p, 3);
        v.tear(&p, 8);
        let (code, j) = v.json(&["--repair=truncate"]);
        assert_eq!(code, Some(0), "{j}");
        assert_eq!(
            ranges(&j["damaged"][0]["repaired"]["lost"], "lost"),
            [(12288, 39999)]
        );
        assert!(v.plain(&p) == a[..12288], "legacy={legacy}");
        ok(&v.fsck(&[]));
    }
}

/// A crash while a file grows leaves its trailer lost: the size comes from
/// the last chunk that verifies, full or not, and a torn tail is reported
/// as lost.
#[test]
fn repair_takes_the_size_from_the_last_chunk_that_verifies() {
    for legacy in [false, true] {
        let v = Vol::new(legacy);
        let tl = if legacy { 8 } else { 40 };
        // 10000 bytes: the last chunk holds 1808 bytes, a multiple of 16, so
        // its padded length is the exact size.
        let a = data(10_000, 5);
        let p = v.add("whole", &a);
        let b = fs::read(&p).unwrap();
        fs::write(&p, &b[..b.len() - tl]).unwrap();
        // Chunks 0 and 1 whole, chunk 2 torn, then garbage.
        let c = data(12_000, 6);
        let q = v.add("torn", &c);
        let b = fs::read(&q).unwrap();
        let mut t = b[..v.hl + 2 * FRAME + 100].to_vec();
        t.extend(vec![0x5a; 3000]);
        fs::write(&q, t).unwrap();
        let (code, j) = v.json(&["--repair"]);
        assert_eq!(code, Some(0), "legacy={legacy} {j}");
        let dmg = j["damaged"].as_array().unwrap();
        let whole = dmg.iter().find(|d| d["path"] == "/whole").unwrap();
        assert_eq!(whole["repaired"]["lost"], serde_json::json!([]), "{j}");
        let torn = dmg.iter().find(|d| d["path"] == "/torn").unwrap();
        let lost = ranges(&torn["repaired"]["lost"], "lost");
        assert_eq!(lost.len(), 1, "{j}");
        assert_eq!(lost[0].0, 8192, "{j}");
        assert!(v.plain(&p) == a, "legacy={legacy}");
        assert!(v.plain(&q) == c[..8192], "legacy={legacy}");
        ok(&v.fsck(&[]));
    }
}

#[test]
fn repair_of_a_clean_volume_changes_nothing() {
    let v = Vol::new(false);
    let p = v.add("f1", &data(9000, 7));
    let before = fs::metadata(&p).unwrap();
    let out = ok(&v.fsck(&["--repair"]));
    assert_eq!(out.lines().last(), Some("clean"), "{out}");
    let after = fs::metadata(&p).unwrap();
    assert_eq!(before.ino(), after.ino());
    assert_eq!(before.mtime_nsec(), after.mtime_nsec());
}

/// fsck walks the ciphertext through directory descriptors: a symlink
/// planted as a directory is not followed out of the volume.
#[test]
fn fsck_does_not_follow_a_symlink_out_of_the_volume() {
    let v = Vol::new(false);
    v.add("f1", &data(100, 8));
    let outside = v.d.join("outside");
    fs::create_dir(&outside).unwrap();
    fs::write(outside.join("victim"), "x").unwrap();
    let disk = ok(&fusecry(
        &v.d,
        &[
            "name",
            "encrypt",
            "dir",
            "-c",
            "vol",
            "--password-file",
            "pw",
        ],
    ));
    std::os::unix::fs::symlink(&outside, v.d.join("vol").join(disk.trim_end())).unwrap();
    let (_, j) = v.json(&["--repair"]);
    assert_eq!(j["files"], 1, "{j}");
    assert_eq!(fs::read(outside.join("victim")).unwrap(), b"x");
    assert_eq!(fs::read_dir(&outside).unwrap().count(), 1);
}

/// A mkdir interrupted before the directory IV was written leaves an empty
/// directory without one: repair gives it a new IV; a non-empty directory
/// without its IV is only listed.
#[test]
fn repair_gives_an_empty_directory_its_lost_iv() {
    let v = Vol::new(false);
    let disk = ok(&fusecry(
        &v.d,
        &["name", "encrypt", "d", "-c", "vol", "--password-file", "pw"],
    ));
    let dir = v.d.join("vol").join(disk.trim_end());
    fs::create_dir(&dir).unwrap();
    assert_eq!(v.fsck(&[]).status.code(), Some(21));
    let (code, j) = v.json(&["--repair"]);
    assert_eq!(code, Some(0), "{j}");
    assert_eq!(j["damaged"][0]["path"], "/d/", "{j}");
    assert!(dir.join("fusecry.diriv").is_file());
    ok(&v.fsck(&[]));
    fs::remove_file(dir.join("fusecry.diriv")).unwrap();
    fs::write(dir.join("AAAA"), "x").unwrap();
    let (code, j) = v.json(&["--repair"]);
    assert_eq!(code, Some(21), "{j}");
    assert!(!dir.join("fusecry.diriv").exists());
}

/// A fusecry/1 header with a damaged magic still holds the file id every
/// chunk is bound to: nothing is lost.
#[test]
fn repair_keeps_everything_behind_a_damaged_magic() {
    let v = Vol::new(false);
    let a = data(10_000, 9);
    let p = v.add("f1", &a);
    let mut b = fs::read(&p).unwrap();
    b[0] ^= 1;
    fs::write(&p, b).unwrap();
    let out = String::from_utf8_lossy(&v.fsck(&[]).stdout).into_owned();
    assert!(out.contains("header damaged"), "{out}");
    let (code, j) = v.json(&["--repair"]);
    assert_eq!(code, Some(0), "{j}");
    assert_eq!(j["damaged"][0]["repaired"]["lost"], serde_json::json!([]));
    assert!(v.plain(&p) == a);
}

/// SPEC §10.1: sync tools' conflict copies (one of each tool's patterns)
/// are readable entries, so fsck
/// lists them (with the entry each copies, and whether that is still
/// there) without calling the volume damaged; `name decrypt` shows them as
/// the mount does; a suffix that is no tool's marker is a bad name.
#[test]
fn fsck_lists_conflict_copies() {
    let v = Vol::new(false);
    let report = v.add("report.odt", &data(100, 1));
    let make = v.add("Makefile", &data(10, 2));
    let gone = v.add("gone.txt", &data(10, 3));
    let st = ".sync-conflict-20261204-101500-ABCDEFG";
    let db = " (conflicted copy 2026-12-04)";
    let copy = |of: &Path, marker: &str| {
        let name = format!("{}{marker}", of.file_name().unwrap().to_str().unwrap());
        fs::copy(of, of.with_file_name(&name)).unwrap();
        name
    };
    let (nc, oc, sf) = (
        " (conflicted copy 2026-12-04 101500)",
        "_conflict-20261204-101500",
        " (SFConflict jane@example.org 2026-12-04-10-15-00)",
    );
    let st_disk = copy(&report, st);
    copy(&make, db);
    copy(&gone, st);
    for m in [nc, oc, sf] {
        copy(&report, m);
    }
    fs::remove_file(&gone).unwrap();
    let (code, j) = v.json(&[]);
    assert_eq!(code, Some(0), "{j}");
    assert_eq!(j["files"], 8, "{j}");
    let mut listed: Vec<(String, String, bool, String)> = j["conflict_copies"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["path"].as_str().unwrap().to_string(),
                c["copy_of"].as_str().unwrap().to_string(),
                c["copy_of_exists"].as_bool().unwrap(),
                c["tool"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    listed.sort();
    let t =
        |a: &str, b: &str, e: bool, tool: &str| (a.to_string(), b.to_string(), e, tool.to_string());
    let mut want = vec![
        t(&format!("/Makefile{db}"), "/Makefile", true, "Dropbox"),
        t(&format!("/gone{st}.txt"), "/gone.txt", false, "Syncthing"),
        t(
            &format!("/report{nc}.odt"),
            "/report.odt",
            true,
            "Nextcloud",
        ),
        t(&format!("/report{sf}.odt"), "/report.odt", true, "Seafile"),
        t(
            &format!("/report{st}.odt"),
            "/report.odt",
            true,
            "Syncthing",
        ),
        t(&format!("/report{oc}.odt"), "/report.odt", true, "ownCloud"),
    ];
    want.sort();
    assert_eq!(listed, want);
    let out = ok(&v.fsck(&[]));
    assert!(
        out.contains(&format!(
            "CONFLICT COPY /gone{st}.txt: a Syncthing copy of /gone.txt (gone)"
        )),
        "{out}"
    );
    let shown = ok(&fusecry(
        &v.d,
        &[
            "name",
            "decrypt",
            &st_disk,
            "-c",
            "vol",
            "--password-file",
            "pw",
        ],
    ));
    assert_eq!(shown.trim_end(), format!("report{st}.odt"));
    assert!(j["conflict_copies"]
        .as_array()
        .unwrap()
        .iter()
        .all(|c| c["hidden"] == false));
    // An entry of the very name the Syncthing copy is shown under: the
    // mount shows that entry, so fsck says the copy is hidden.
    v.add(&format!("report{st}.odt"), &data(5, 4));
    let (code, j) = v.json(&[]);
    assert_eq!(code, Some(0), "{j}");
    let hidden: Vec<&str> = j["conflict_copies"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["hidden"] == true)
        .map(|c| c["path"].as_str().unwrap())
        .collect();
    assert_eq!(hidden, [format!("/report{st}.odt")], "{j}");
    let out = ok(&v.fsck(&[]));
    assert!(
        out.contains(&format!(
            "CONFLICT COPY /report{st}.odt: a Syncthing copy of /report.odt (still there); hidden by an entry of the same name"
        )),
        "{out}"
    );
    // Not a tool's marker: listed as damage, exit 21.
    fs::copy(&report, report.with_file_name(format!("{st_disk}.x"))).unwrap();
    let (code, j) = v.json(&[]);
    assert_eq!(code, Some(21), "{j}");
    assert_eq!(j["damaged"].as_array().unwrap().len(), 1, "{j}");
}
