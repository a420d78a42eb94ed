//! Sync-tool conflict copies (SPEC §10.1) through a real mount: copies made
//! the way Syncthing, Dropbox, Nextcloud, ownCloud and Seafile name them
//! (their marker after the on-disk name, or around a long name's hash) are
//! listed under the plaintext name with the marker kept, read, renamed and
//! deleted; a long name's sidecar outlives its entry while a copy needs it
//! (and then goes with a listing, as every orphan sidecar does);
//! anything else with a suffix stays hidden. Copies are planted behind an
//! unmounted volume, as a sync tool writes them, then the volume is mounted.

mod common;

use common::{Kind, Mounted};
use fusecry_fuse::MountOptions;
use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};

const V1: Kind = Kind::V1 {
    cs: 4096,
    names: true,
};
const ST: &str = ".sync-conflict-20261204-101500-ABCDEFG";
const DB: &str = " (Jane's laptop's conflicted copy 2026-12-04)";
const NC: &str = " (conflicted copy 2026-12-04 101500)";
const OC: &str = "_conflict-20261204-101500";
const SF: &str = " (SFConflict jane@example.org 2026-12-04-10-15-00)";

fn long() -> String {
    format!("{}.txt", "l".repeat(200))
}

fn listing(dir: &Path) -> BTreeSet<String> {
    fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect()
}

fn name_of(p: &Path) -> String {
    p.file_name().unwrap().to_str().unwrap().to_string()
}

/// Plants, beside backing entry `of`, a copy named `marker` added as a
/// sync tool adds it (`before_hash`: inside a long name, before `.HASH`),
/// holding the backing entry `from` (another version, as the other device
/// wrote it). Returns the copy's backing path.
fn plant(of: &Path, from: &Path, marker: &str, before_hash: bool) -> PathBuf {
    let disk = name_of(of);
    let name = match disk.strip_prefix("fusecry.longname.") {
        Some(hash) if before_hash => format!("fusecry.longname{marker}.{hash}"),
        _ => format!("{disk}{marker}"),
    };
    let at = of.with_file_name(name);
    let m = fs::symlink_metadata(from).unwrap();
    if m.is_symlink() {
        std::os::unix::fs::symlink(fs::read_link(from).unwrap(), &at).unwrap();
    } else {
        fs::copy(from, &at).unwrap();
    }
    at
}

#[test]
fn conflict_copies_are_listed_read_renamed_and_deleted() {
    let _log = common::logcap::log();
    let m = Mounted::new(V1);
    let long = long();
    fs::create_dir(m.p("docs")).unwrap();
    for (rel, content) in [
        ("report.odt", "mine"),
        ("theirs.odt", "theirs"),
        ("Makefile", "all:"),
        (".bashrc", "set -o vi"),
        ("a.tar.gz", "tarball"),
        ("docs/notes.txt", "notes"),
        (long.as_str(), "long mine"),
        ("long-theirs", "long theirs"),
    ] {
        fs::write(m.p(rel), content).unwrap();
    }
    std::os::unix::fs::symlink("report.odt", m.p("link")).unwrap();
    let b = |rel: &str| m.backing(rel);
    let planted = [
        plant(&b("report.odt"), &b("theirs.odt"), ST, false),
        plant(&b("Makefile"), &b("Makefile"), DB, false),
        plant(&b(".bashrc"), &b(".bashrc"), NC, false),
        plant(&b("a.tar.gz"), &b("a.tar.gz"), OC, false),
        plant(&b("docs/notes.txt"), &b("docs/notes.txt"), SF, false),
        plant(&b(&long), &b("long-theirs"), ST, true),
        plant(&b(&long), &b(&long), SF, false),
        plant(&b("link"), &b("link"), ST, false),
        // A copy of a copy.
        plant(
            &b("report.odt"),
            &b("report.odt"),
            &format!("{ST}{OC}"),
            false,
        ),
    ];
    // Not copies: an unknown marker, and a known one on a changed base.
    let cipher = m.cipher.clone();
    let report = b("report.odt");
    fs::copy(
        &report,
        report.with_file_name(format!("{}.conflict", name_of(&report))),
    )
    .unwrap();
    let mut forged = name_of(&report).into_bytes();
    forged[3] = if forged[3] == b'A' { b'B' } else { b'A' };
    let forged = format!("{}{ST}", String::from_utf8(forged).unwrap());
    fs::copy(&report, cipher.join(&forged)).unwrap();
    let sidecar = PathBuf::from(format!("{}.name", b(&long).display()));
    let m = m.remount(MountOptions::default());

    let stem = "l".repeat(200);
    let want: BTreeSet<String> = [
        "report.odt".to_string(),
        "theirs.odt".into(),
        "Makefile".into(),
        ".bashrc".into(),
        "a.tar.gz".into(),
        "docs".into(),
        long.clone(),
        "long-theirs".into(),
        "link".into(),
        format!("report{ST}.odt"),
        format!("Makefile{DB}"),
        format!(".bashrc{NC}"),
        format!("a.tar{OC}.gz"),
        format!("{stem}{ST}.txt"),
        format!("{stem}{SF}.txt"),
        format!("link{ST}"),
        format!("report{ST}{OC}.odt"),
    ]
    .into();
    assert_eq!(listing(&m.mnt), want);
    assert_eq!(
        listing(&m.p("docs")),
        BTreeSet::from(["notes.txt".to_string(), format!("notes{SF}.txt")])
    );
    for (rel, content) in [
        (format!("report{ST}.odt"), "theirs"),
        (format!("report{ST}{OC}.odt"), "mine"),
        (format!("Makefile{DB}"), "all:"),
        (format!(".bashrc{NC}"), "set -o vi"),
        (format!("a.tar{OC}.gz"), "tarball"),
        (format!("docs/notes{SF}.txt"), "notes"),
        (format!("{stem}{ST}.txt"), "long theirs"),
        (format!("{stem}{SF}.txt"), "long mine"),
        // Through the symlink copy, whose target is bound to its base.
        (format!("link{ST}"), "mine"),
    ] {
        assert_eq!(fs::read_to_string(m.p(&rel)).unwrap(), content, "{rel}");
    }
    assert_eq!(
        fs::read_link(m.p(&format!("link{ST}"))).unwrap(),
        Path::new("report.odt")
    );
    // A copy is written to like any file, and stays where it is.
    fs::write(m.p(&format!("Makefile{DB}")), "all: merged").unwrap();
    assert_eq!(
        common::decrypt_file(&m.codec, &fs::read(&planted[1]).unwrap()),
        b"all: merged"
    );

    // Renamed: the copy becomes an ordinary entry; the symlink copy is
    // written anew for its new name.
    fs::rename(m.p(&format!("report{ST}.odt")), m.p("report-theirs.odt")).unwrap();
    fs::rename(m.p(&format!("link{ST}")), m.p("docs/link2")).unwrap();
    assert!(!planted[0].exists() && fs::symlink_metadata(&planted[7]).is_err());
    assert_eq!(
        fs::read_to_string(m.p("report-theirs.odt")).unwrap(),
        "theirs"
    );
    assert_eq!(
        fs::read_link(m.p("docs/link2")).unwrap(),
        Path::new("report.odt")
    );
    assert_eq!(m.decrypt_backing("report-theirs.odt"), b"theirs");
    // Over a copy: the copy's name now holds the renamed entry.
    fs::rename(m.p("theirs.odt"), m.p(&format!("report{ST}{OC}.odt"))).unwrap();
    assert_eq!(
        fs::read_to_string(m.p(&format!("report{ST}{OC}.odt"))).unwrap(),
        "theirs"
    );
    // A copy of a long name keeps the long name's sidecar while it needs it.
    fs::remove_file(m.p(&long)).unwrap();
    assert!(sidecar.exists(), "the copies still need the sidecar");
    assert_eq!(
        fs::read_to_string(m.p(&format!("{stem}{ST}.txt"))).unwrap(),
        "long theirs"
    );
    fs::remove_file(m.p(&format!("{stem}{ST}.txt"))).unwrap();
    assert!(sidecar.exists(), "one copy still needs the sidecar");
    fs::remove_file(m.p(&format!("{stem}{SF}.txt"))).unwrap();
    // No entry needs it now: an orphan, which a listing removes once it is
    // a minute old.
    fs::read_dir(&m.mnt).unwrap().for_each(drop);
    assert!(sidecar.exists(), "a fresh orphan stays");
    let old = std::time::SystemTime::now() - std::time::Duration::from_secs(61);
    fs::File::options()
        .write(true)
        .open(&sidecar)
        .unwrap()
        .set_modified(old)
        .unwrap();
    fs::read_dir(&m.mnt).unwrap().for_each(drop);
    assert!(!sidecar.exists(), "the listing removed the orphan");
    // Deleted like any entry.
    for rel in [
        format!("Makefile{DB}"),
        format!(".bashrc{NC}"),
        format!("a.tar{OC}.gz"),
        format!("docs/notes{SF}.txt"),
    ] {
        fs::remove_file(m.p(&rel)).unwrap();
    }
    let m = m.remount(MountOptions::default());
    let want: BTreeSet<String> = [
        "report.odt",
        "report-theirs.odt",
        "Makefile",
        ".bashrc",
        "a.tar.gz",
        "docs",
        "long-theirs",
        "link",
    ]
    .iter()
    .map(|s| s.to_string())
    .chain([format!("report{ST}{OC}.odt")])
    .collect();
    assert_eq!(listing(&m.mnt), want);
    assert_eq!(fs::read_to_string(m.p("report.odt")).unwrap(), "mine");
    let left: Vec<String> = listing(&m.cipher)
        .into_iter()
        .filter(|n| n.starts_with("fusecry.longname"))
        .collect();
    assert!(left.is_empty(), "left behind: {left:?}");
    // The unknown marker and the forged base are hidden and logged.
    let log = common::logcap::logged();
    assert!(log.contains(&forged), "{log}");
    assert!(log.contains(".conflict"), "{log}");
}

#[test]
fn a_name_of_its_own_wins_over_a_copy_shown_under_it() {
    let _log = common::logcap::log();
    let m = Mounted::new(V1);
    fs::write(m.p("report.odt"), "mine").unwrap();
    let shown = format!("report{ST}.odt");
    // The user's own file of that name, and a copy that would be shown so.
    fs::write(m.p(&shown), "a file of that name").unwrap();
    plant(
        &m.backing("report.odt"),
        &m.backing("report.odt"),
        ST,
        false,
    );
    // A new name with a marker, with no copy behind it, is an ordinary one.
    fs::write(m.p(&format!("x{DB}.txt")), "ordinary").unwrap();
    let m = m.remount(MountOptions::default());
    let names = listing(&m.mnt);
    assert_eq!(
        names,
        BTreeSet::from([
            "report.odt".to_string(),
            shown.clone(),
            format!("x{DB}.txt")
        ])
    );
    assert_eq!(
        fs::read_to_string(m.p(&shown)).unwrap(),
        "a file of that name"
    );
    assert_eq!(
        fs::read_to_string(m.p(&format!("x{DB}.txt"))).unwrap(),
        "ordinary"
    );
    assert!(common::logcap::logged().contains("which another entry is named"));
    // Once the user's file goes, the copy is shown under the name.
    fs::remove_file(m.p(&shown)).unwrap();
    let m = m.remount(MountOptions::default());
    assert_eq!(fs::read_to_string(m.p(&shown)).unwrap(), "mine");
}

#[test]
fn plain_names_are_shown_as_the_tool_wrote_them_and_have_no_sidecars() {
    let m = Mounted::new(Kind::V1 {
        cs: 4096,
        names: false,
    });
    fs::write(m.p("fusecry.longname.x"), "x").unwrap();
    fs::write(m.p("fusecry.longname.x.name"), "the user's own file").unwrap();
    fs::copy(
        m.cipher.join("fusecry.longname.x"),
        m.cipher.join(format!("report{ST}.odt")),
    )
    .unwrap();
    fs::remove_file(m.p("fusecry.longname.x")).unwrap();
    assert_eq!(
        fs::read_to_string(m.p("fusecry.longname.x.name")).unwrap(),
        "the user's own file"
    );
    let m = m.remount(MountOptions::default());
    assert_eq!(
        fs::read_to_string(m.p(&format!("report{ST}.odt"))).unwrap(),
        "x"
    );
}
