//! Every operation through a real mount, for both profiles, checked through
//! the mount and by decrypting the ciphertext with the format crate.

mod common;

use common::core::{files_and_content, pattern, tree_ops};
use common::{all_kinds, decrypt_file, Backing, Kind, Mounted};
use std::fs::{self, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

#[test]
fn files_and_content_every_profile() {
    for kind in all_kinds() {
        files_and_content(&Mounted::new(kind), kind);
    }
}

#[test]
fn tree_ops_every_profile() {
    for kind in all_kinds() {
        tree_ops(&Mounted::new(kind), kind, Backing::Local);
    }
}

#[test]
fn xattrs_are_encrypted_in_fusecry1() {
    let m = Mounted::new(Kind::V1 {
        cs: 4096,
        names: true,
    });
    fs::write(m.p("f"), b"x").unwrap();
    xattr::set(m.p("f"), "user.comment", b"secret value").unwrap();
    assert_eq!(
        xattr::get(m.p("f"), "user.comment").unwrap().unwrap(),
        b"secret value"
    );
    let names: Vec<_> = xattr::list(m.p("f")).unwrap().collect();
    assert_eq!(names, ["user.comment"]);
    // On disk: neither the name nor the value in the clear.
    let disk: Vec<_> = xattr::list(m.backing("f")).unwrap().collect();
    assert_eq!(disk.len(), 1);
    let d = disk[0].to_str().unwrap();
    assert!(d.starts_with("user.fcry.") && !d.contains("comment"));
    let v = xattr::get(m.backing("f"), d).unwrap().unwrap();
    assert!(!v.windows(6).any(|w| w == b"secret"));
    xattr::remove(m.p("f"), "user.comment").unwrap();
    assert!(xattr::get(m.p("f"), "user.comment").unwrap().is_none());
    // Other namespaces cannot be stored encrypted.
    assert!(xattr::set(m.p("f"), "trusted.x", b"v").is_err());
}

/// `-o noxattr`: every xattr call fails with EOPNOTSUPP (the kernel turns
/// the daemon's first ENOSYS into that and stops asking), nothing reaches
/// the backing entry, and everything else works; `-o acl` is refused with it.
#[test]
fn noxattr_mount_has_no_xattrs() {
    let mut opts = fusecry_fuse::MountOptions::default();
    opts.fs.noxattr = true;
    let m = Mounted::with(
        Kind::V1 {
            cs: 4096,
            names: true,
        },
        opts,
    );
    fs::write(m.p("f"), b"x").unwrap();
    for _ in 0..2 {
        let e = xattr::set(m.p("f"), "user.comment", b"v").unwrap_err();
        assert_eq!(e.raw_os_error(), Some(libc::EOPNOTSUPP));
        let e = xattr::get(m.p("f"), "user.comment").unwrap_err();
        assert_eq!(e.raw_os_error(), Some(libc::EOPNOTSUPP));
        let e = xattr::list(m.p("f")).map(drop).unwrap_err();
        assert_eq!(e.raw_os_error(), Some(libc::EOPNOTSUPP));
    }
    assert_eq!(xattr::list(m.backing("f")).unwrap().count(), 0);
    fs::write(m.p("f"), b"written again").unwrap();
    assert_eq!(m.decrypt_backing("f"), b"written again");
    let both = fusecry_fuse::FsOptions {
        noxattr: true,
        acl: true,
        ..Default::default()
    };
    let refused = fusecry_fuse::CryptFs::new(m.codec.clone(), &m.cipher, both);
    assert!(refused.is_err_and(|e| e.to_string().contains("exclude each other")));
}

#[test]
fn long_names_and_reserved_files() {
    let m = Mounted::new(Kind::V1 {
        cs: 4096,
        names: true,
    });
    let long = "é".repeat(127); // 254 bytes
    fs::write(m.p(&long), b"long").unwrap();
    assert_eq!(fs::read(m.p(&long)).unwrap(), b"long");
    let listed: Vec<String> = fs::read_dir(&m.mnt)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(listed, std::slice::from_ref(&long));
    let disk: Vec<String> = fs::read_dir(&m.cipher)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert!(disk
        .iter()
        .any(|d| d.starts_with("fusecry.longname.") && d.ends_with(".name")));
    fs::create_dir(m.p("sub")).unwrap();
    let long2 = "x".repeat(255);
    fs::rename(m.p(&long), m.p(&format!("sub/{long2}"))).unwrap();
    assert_eq!(fs::read(m.p(&format!("sub/{long2}"))).unwrap(), b"long");
    // The old sidecar is an orphan (SPEC §10): a listing removes it once it
    // is a minute old (younger, another writer may be about to use it).
    let sidecars = || -> Vec<PathBuf> {
        fs::read_dir(&m.cipher)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.to_string_lossy().ends_with(".name"))
            .collect()
    };
    assert_eq!(sidecars().len(), 1);
    fs::read_dir(&m.mnt).unwrap().for_each(drop);
    assert_eq!(sidecars().len(), 1, "a fresh orphan stays");
    let old = std::time::SystemTime::now() - std::time::Duration::from_secs(61);
    for p in sidecars() {
        fs::File::options()
            .write(true)
            .open(p)
            .unwrap()
            .set_modified(old)
            .unwrap();
    }
    fs::read_dir(&m.mnt).unwrap().for_each(drop);
    assert!(sidecars().is_empty(), "the listing removed the orphan");
    // A directory holding only an orphan is empty: rmdir removes it.
    fs::create_dir(m.p("gone")).unwrap();
    fs::write(m.p(&format!("gone/{long2}")), b"x").unwrap();
    fs::remove_file(m.p(&format!("gone/{long2}"))).unwrap();
    fs::remove_dir(m.p("gone")).unwrap();
    assert_eq!(
        fs::write(m.p(&"y".repeat(256)), b"")
            .unwrap_err()
            .raw_os_error(),
        Some(libc::ENAMETOOLONG)
    );
    // Conf and diriv are not reachable.
    assert!(!m.p("fusecry.conf").exists());
    assert!(!m.p("fusecry.diriv").exists());
}

#[test]
fn conf_is_hidden_and_protected_with_plain_names() {
    for kind in [
        Kind::V1 {
            cs: 4096,
            names: false,
        },
        Kind::Legacy {
            cs: 4096,
            names: false,
        },
    ] {
        let m = Mounted::new(kind);
        assert!(!m.p("fusecry.conf").exists());
        assert!(fs::write(m.p("fusecry.conf"), b"evil").is_err());
        fs::write(m.p("other"), b"x").unwrap();
        assert!(fs::rename(m.p("other"), m.p("fusecry.conf")).is_err());
        assert!(fs::remove_file(m.p("fusecry.conf")).is_err());
        // The conf on disk is untouched.
        let c = fs::read(m.cipher.join("fusecry.conf")).unwrap();
        assert!(fusecry_format::Conf::parse(&c).is_ok());
        // Not hidden below the root.
        fs::create_dir(m.p("d")).unwrap();
        fs::write(m.p("d/fusecry.conf"), b"ok").unwrap();
        assert_eq!(fs::read(m.p("d/fusecry.conf")).unwrap(), b"ok");
    }
}

#[test]
fn subdirectory_mount_both_profiles() {
    for kind in [
        Kind::V1 {
            cs: 4096,
            names: true,
        },
        Kind::Legacy {
            cs: 4096,
            names: true,
        },
    ] {
        let mut m = Mounted::new(kind);
        fs::create_dir_all(m.p("sub/inner")).unwrap();
        fs::write(m.p("sub/inner/f"), b"in sub").unwrap();
        let sub_backing = m.backing("sub");
        m.unmount();
        let mnt2 = m.tmp.path().join("mnt2");
        fs::create_dir(&mnt2).unwrap();
        let tmp = tempfile::tempdir().unwrap();
        let sub = common::Mounted::mount_existing(
            tmp,
            sub_backing,
            mnt2.clone(),
            m.codec.clone(),
            fusecry_fuse::MountOptions::default(),
        );
        assert_eq!(
            fs::read(mnt2.join("inner/f")).unwrap(),
            b"in sub",
            "{kind:?}"
        );
        fs::write(mnt2.join("new"), b"new").unwrap();
        assert_eq!(fs::read(mnt2.join("new")).unwrap(), b"new");
        drop(sub);
    }
}

#[test]
fn read_only_mount_refuses_changes() {
    let m = Mounted::new(Kind::V1 {
        cs: 4096,
        names: true,
    });
    fs::write(m.p("f"), b"data").unwrap();
    let mut opts = fusecry_fuse::MountOptions::default();
    opts.fs.read_only = true;
    opts.fs.writeback = false;
    let m = m.remount(opts);
    assert_eq!(fs::read(m.p("f")).unwrap(), b"data");
    assert_eq!(
        fs::write(m.p("g"), b"x").unwrap_err().raw_os_error(),
        Some(libc::EROFS)
    );
    assert!(OpenOptions::new().write(true).open(m.p("f")).is_err());
}

#[test]
fn unlinked_open_file_stays_usable() {
    let m = Mounted::new(Kind::V1 {
        cs: 4096,
        names: true,
    });
    let mut f = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o644)
        .open(m.p("tmp"))
        .unwrap();
    f.write_all(b"still here").unwrap();
    fs::remove_file(m.p("tmp")).unwrap();
    let mut s = String::new();
    f.seek(SeekFrom::Start(0)).unwrap();
    f.read_to_string(&mut s).unwrap();
    assert_eq!(s, "still here");
    assert_eq!(f.metadata().unwrap().len(), 10);
}

#[test]
fn empty_file_ciphertext_is_header_and_trailer() {
    let m = Mounted::new(Kind::V1 {
        cs: 4096,
        names: true,
    });
    fs::write(m.p("empty"), b"").unwrap();
    let stored = fs::read(m.backing("empty")).unwrap();
    assert_eq!(stored.len(), 60);
    assert!(decrypt_file(&m.codec, &stored).is_empty());
}

#[test]
fn legacy_encrypted_names_longer_than_128_bytes_are_enametoolong() {
    // 0.11 has no long-name scheme: a 129-byte name encodes to more than
    // 255 characters (SPEC §15.4, quirk 18). Up to 128 bytes works.
    let m = Mounted::new(Kind::Legacy {
        cs: 4096,
        names: true,
    });
    let ok = "a".repeat(128);
    fs::write(m.p(&ok), b"x").unwrap();
    assert_eq!(fs::read(m.p(&ok)).unwrap(), b"x");
    for n in [129usize, 200, 255] {
        let long = "b".repeat(n);
        for err in [
            fs::write(m.p(&long), b"").unwrap_err(),
            fs::create_dir(m.p(&long)).unwrap_err(),
            fs::rename(m.p(&ok), m.p(&long)).unwrap_err(),
        ] {
            assert_eq!(
                err.raw_os_error(),
                Some(libc::ENAMETOOLONG),
                "{n} bytes: {err}"
            );
        }
    }
}

/// Runs `sh -c script` as uid/gid 65534 (nobody), which has no CAP_FSETID.
fn as_nobody(script: &str) -> std::process::ExitStatus {
    use std::os::unix::process::CommandExt;
    std::process::Command::new("sh")
        .arg("-c")
        .arg(script)
        .uid(65534)
        .gid(65534)
        .status()
        .unwrap()
}

fn mode_of(p: &Path) -> u32 {
    fs::metadata(p).unwrap().mode() & 0o7777
}

/// FUSE_HANDLE_KILLPRIV_V2 leaves clearing set-ID bits to us: a write or
/// truncate by a caller without CAP_FSETID clears set-user-ID (and
/// set-group-ID when the group may execute), root's does not, and a chown
/// clears both whoever does it. Checked through the mount and on the
/// backing file.
#[test]
fn writes_truncates_and_chowns_clear_set_id_bits_as_the_kernel_does() {
    let m = Mounted::shared(Kind::V1 {
        cs: 4096,
        names: true,
    });
    // nobody must reach the mount point.
    fs::set_permissions(m.tmp.path(), fs::Permissions::from_mode(0o755)).unwrap();
    let f = m.p("setid");
    let setid = |mode: u32| {
        fs::set_permissions(&f, fs::Permissions::from_mode(mode)).unwrap();
        assert_eq!(mode_of(&f), mode);
    };
    fs::write(&f, b"0123456789").unwrap();
    std::os::unix::fs::chown(&f, Some(65534), Some(65534)).unwrap();

    // Root writes and truncates: the bits stay.
    setid(0o6775);
    OpenOptions::new()
        .append(true)
        .open(&f)
        .unwrap()
        .write_all(b"root")
        .unwrap();
    OpenOptions::new()
        .write(true)
        .open(&f)
        .unwrap()
        .set_len(4)
        .unwrap();
    assert_eq!(mode_of(&f), 0o6775);

    // nobody writes: both go (the group may execute).
    let q = f.display();
    assert!(as_nobody(&format!("printf x >> '{q}'")).success());
    assert_eq!(mode_of(&f), 0o775);
    assert_eq!(mode_of(&m.backing("setid")), 0o775);
    assert_eq!(fs::read(&f).unwrap(), b"0123x");

    // Without group execute, set-group-ID stays (it marks mandatory locking).
    setid(0o6664);
    assert!(as_nobody(&format!("printf y >> '{q}'")).success());
    assert_eq!(mode_of(&f), 0o2664);

    // nobody truncates, by truncate(2) and by open(O_TRUNC).
    setid(0o6775);
    assert!(as_nobody(&format!("truncate -s 2 '{q}'")).success());
    assert_eq!(mode_of(&f), 0o775);
    setid(0o6775);
    assert!(as_nobody(&format!(": > '{q}'")).success());
    assert_eq!(mode_of(&f), 0o775);
    assert_eq!(fs::read(&f).unwrap(), b"");

    // chown clears them even for root.
    setid(0o6775);
    std::os::unix::fs::chown(&f, Some(0), Some(0)).unwrap();
    assert_eq!(mode_of(&f), 0o775);
    assert_eq!(mode_of(&m.backing("setid")), 0o775);
    assert_eq!(
        decrypt_file(&m.codec, &fs::read(m.backing("setid")).unwrap()),
        b""
    );
}

fn mount_has_default_permissions(mnt: &Path) -> bool {
    let mounts = fs::read_to_string("/proc/self/mounts").unwrap();
    let line = mounts
        .lines()
        .find(|l| l.split(' ').nth(1) == Some(mnt.to_str().unwrap()))
        .expect("mount listed");
    line.split(' ')
        .nth(3)
        .unwrap()
        .split(',')
        .any(|o| o == "default_permissions")
}

/// A root mount only root can reach leaves permission checks to us (one
/// round trip less per create, mkdir and unlink): root reads and writes
/// whatever the modes say, but cannot execute a file no one may execute,
/// and access(2) answers the same. With allow_other, or when asked, the
/// kernel checks.
#[test]
fn root_only_mount_checks_permissions_as_the_kernel_would() {
    use nix::unistd::{access, AccessFlags};
    let m = Mounted::new(Kind::V1 {
        cs: 4096,
        names: true,
    });
    assert!(!mount_has_default_permissions(&m.mnt));
    let f = m.p("locked");
    fs::write(&f, b"secret").unwrap();
    fs::set_permissions(&f, fs::Permissions::from_mode(0o000)).unwrap();
    assert_eq!(fs::read(&f).unwrap(), b"secret");
    fs::write(&f, b"changed").unwrap();
    access(&f, AccessFlags::R_OK | AccessFlags::W_OK).unwrap();
    assert_eq!(
        access(&f, AccessFlags::X_OK),
        Err(nix::errno::Errno::EACCES)
    );
    assert_eq!(
        std::process::Command::new(&f)
            .status()
            .unwrap_err()
            .raw_os_error(),
        Some(libc::EACCES)
    );
    fs::set_permissions(&f, fs::Permissions::from_mode(0o001)).unwrap();
    access(&f, AccessFlags::X_OK).unwrap();
    fs::create_dir(m.p("d")).unwrap();
    fs::set_permissions(m.p("d"), fs::Permissions::from_mode(0o000)).unwrap();
    access(&m.p("d"), AccessFlags::X_OK).unwrap();
    fs::write(m.p("d/inside"), b"ok").unwrap();

    let shared = fusecry_fuse::MountOptions {
        allow_other: true,
        ..Default::default()
    };
    let m = m.remount(shared);
    assert!(mount_has_default_permissions(&m.mnt));
    let asked = fusecry_fuse::MountOptions {
        default_permissions: true,
        ..Default::default()
    };
    let m = m.remount(asked);
    assert!(mount_has_default_permissions(&m.mnt));
    assert_eq!(fs::read(m.p("d/inside")).unwrap(), b"ok");
}

/// A running executable cannot be opened for writing or truncated, and a
/// refused O_TRUNC leaves it whole: with FUSE_ATOMIC_O_TRUNC the daemon
/// would cut the file on OPEN, before the kernel's ETXTBSY check, so
/// open(O_RDONLY|O_TRUNC) both failed and destroyed the program (pjdfstest
/// open::etxtbsy caught it when the cut program crashed before the check).
#[test]
fn a_running_program_is_never_truncated() {
    let v1 = Kind::V1 {
        cs: 4096,
        names: true,
    };
    let legacy = Kind::Legacy {
        cs: 4096,
        names: false,
    };
    // Root-only and allow_other mounts (with and without default_permissions).
    for (kind, shared) in [(v1, false), (v1, true), (legacy, false)] {
        let m = if shared {
            Mounted::shared(kind)
        } else {
            Mounted::new(kind)
        };
        let program = fs::read("/bin/sleep").unwrap();
        let exe = m.p("sleep-copy");
        fs::write(&exe, &program).unwrap();
        fs::set_permissions(&exe, fs::Permissions::from_mode(0o755)).unwrap();
        let mut child = std::process::Command::new(&exe).arg("30").spawn().unwrap();
        // Kills the program even when an assertion fails.
        struct Kill<'a>(&'a mut std::process::Child);
        impl Drop for Kill<'_> {
            fn drop(&mut self) {
                let _ = self.0.kill();
                let _ = self.0.wait();
            }
        }
        let child = Kill(&mut child);
        for (what, flags) in [
            ("O_WRONLY", libc::O_WRONLY),
            ("O_RDWR", libc::O_RDWR),
            ("O_RDONLY|O_TRUNC", libc::O_RDONLY | libc::O_TRUNC),
            ("O_WRONLY|O_TRUNC", libc::O_WRONLY | libc::O_TRUNC),
        ] {
            let err = OpenOptions::new()
                .read(flags & libc::O_ACCMODE != libc::O_WRONLY)
                .write(flags & libc::O_ACCMODE != libc::O_RDONLY)
                .custom_flags(flags & libc::O_TRUNC)
                .open(&exe)
                .map(|_| ())
                .unwrap_err();
            assert_eq!(err.raw_os_error(), Some(libc::ETXTBSY), "{kind:?} {what}");
        }
        assert_eq!(
            nix::unistd::truncate(&exe, 0),
            Err(nix::errno::Errno::ETXTBSY),
            "{kind:?} truncate(2)"
        );
        // The program is whole, through the mount and in the ciphertext,
        // and still running.
        for (whose, bytes) in [
            ("mount", fs::read(&exe).unwrap()),
            ("ciphertext", m.decrypt_backing("sleep-copy")),
        ] {
            assert!(
                bytes == program,
                "{kind:?}: the {whose} holds {} bytes, not the program's {}",
                bytes.len(),
                program.len()
            );
        }
        assert_eq!(
            child.0.try_wait().unwrap(),
            None,
            "{kind:?}: the program died"
        );
        drop(child);
        // Once it has ended the file is an ordinary one again.
        fs::write(&exe, b"replaced").unwrap();
        assert_eq!(m.decrypt_backing("sleep-copy"), b"replaced");
    }
}

/// Legacy 0.11 encrypted names are found through a per-directory index
/// (`legacy_names`): changes through the mount keep it exact, and changes
/// made behind the mount (on a `-o shared` mount, whose kernel caches no
/// names) are seen once the index's 1 s rescan bound has passed.
#[test]
fn legacy_encrypted_names_follow_changes_through_and_behind_the_mount() {
    // Changes behind the mount: another writer, so `-o shared` (the kernel
    // caches no names).
    let mut o = fusecry_fuse::MountOptions::default();
    o.fs.shared = true;
    let m = Mounted::with(
        Kind::Legacy {
            cs: 4096,
            names: true,
        },
        o,
    );
    fs::create_dir(m.p("d")).unwrap();
    for i in 0..300 {
        fs::write(m.p(&format!("d/f{i}")), format!("{i}")).unwrap();
    }
    for i in (0..300).step_by(3) {
        fs::rename(m.p(&format!("d/f{i}")), m.p(&format!("d/r{i}"))).unwrap();
    }
    for i in (1..300).step_by(3) {
        fs::remove_file(m.p(&format!("d/f{i}"))).unwrap();
    }
    fs::hard_link(m.p("d/f2"), m.p("d/h2")).unwrap();
    let mut want: Vec<String> = (0..300)
        .filter_map(|i| match i % 3 {
            0 => Some(format!("r{i}")),
            2 => Some(format!("f{i}")),
            _ => None,
        })
        .chain(["h2".to_string()])
        .collect();
    want.sort();
    let mut listed: Vec<String> = fs::read_dir(m.p("d"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    listed.sort();
    assert_eq!(listed, want);
    // Past the kernel's entry cache, every name is looked up by the daemon.
    std::thread::sleep(std::time::Duration::from_millis(1100));
    for n in &want {
        let i: usize = n[1..].parse().unwrap();
        assert_eq!(
            fs::read_to_string(m.p(&format!("d/{n}"))).unwrap(),
            i.to_string()
        );
    }
    for i in (1..300).step_by(3) {
        assert!(
            fs::metadata(m.p(&format!("d/f{i}"))).is_err(),
            "f{i} is gone"
        );
        assert!(fs::metadata(m.p(&format!("d/r{}", i + 1))).is_err());
    }

    // Behind the mount: a copy of r0's ciphertext under a new encrypted
    // name appears, and f2's name disappears (legacy chunks are not bound
    // to their file, so the copy reads back).
    let dir = m.backing("d");
    let (outside, _) = m
        .codec
        .encrypt_name(None, "outside", &mut rand_core::OsRng)
        .unwrap();
    fs::copy(m.backing("d/r0"), dir.join(&outside)).unwrap();
    fs::remove_file(m.backing("d/f2")).unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        let seen = fs::read_to_string(m.p("d/outside")).ok();
        let gone = fs::metadata(m.p("d/f2")).is_err();
        if seen.as_deref() == Some("0") && gone {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "changes behind the mount not seen after 5 s: outside {seen:?}, f2 gone {gone}"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert_eq!(fs::read_to_string(m.p("d/h2")).unwrap(), "2");
}

/// A long listing on a fresh mount (no sizes cached) reports every file's
/// size from its trailer, across several of readdirplus's prefetch groups,
/// with a FIFO, a symlink and a directory among the files (the size
/// prefetch opens regular files only; a FIFO opened for reading would block).
#[test]
fn a_cold_long_listing_reports_every_size() {
    for kind in all_kinds() {
        let m = Mounted::new(kind);
        fs::create_dir(m.p("d")).unwrap();
        let mut want: Vec<(String, u64)> = Vec::new();
        for i in 0..100usize {
            let n = [0, 1, 15, 16, 17, 63, 64, 65, 4095, 4096, 4097, 10_000][i % 12] + i / 12;
            let name = format!("f{i:03}");
            fs::write(m.p(&format!("d/{name}")), pattern(n, i as u8)).unwrap();
            want.push((name, n as u64));
        }
        nix::unistd::mkfifo(
            &m.p("d/fifo"),
            nix::sys::stat::Mode::from_bits_truncate(0o644),
        )
        .unwrap();
        std::os::unix::fs::symlink("f001", m.p("d/link")).unwrap();
        fs::create_dir(m.p("d/sub")).unwrap();
        // Fresh daemon: nothing cached; the page cache dropped where allowed.
        let m = m.remount(Default::default());
        let _ = fs::write("/proc/sys/vm/drop_caches", "3");
        let mut got: Vec<(String, u64)> = Vec::new();
        let mut others = Vec::new();
        for e in fs::read_dir(m.p("d")).unwrap() {
            let e = e.unwrap();
            let name = e.file_name().into_string().unwrap();
            let md = e.metadata().unwrap();
            if md.is_file() {
                got.push((name, md.len()));
            } else {
                others.push(name);
            }
        }
        got.sort();
        others.sort();
        assert_eq!(got, want, "{kind:?}");
        assert_eq!(others, ["fifo", "link", "sub"], "{kind:?}");
    }
}
