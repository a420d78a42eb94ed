//! `fusecry mount` / `umount` as a user runs them: background daemon with a
//! log file, first-mount creation, wrong password, read-only, idle unmount,
//! SIGTERM, and a SIGKILL in the middle of a write followed by fsck.
//! Every mount is undone by a drop guard.

mod common;
mod planted;

use common::{is_mounted, wait_for, Env, BIN, CHEAP};

use std::fs;
use std::io::Write;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// Runs fusecry without a password in the environment, under the limit.
fn fusecry(args: &[&str]) -> Output {
    common::fusecry_in(Path::new("/"), args)
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

impl Env {
    fn mount(&self, extra: &[&str]) -> Output {
        let mut args = vec![
            "mount",
            s(&self.cipher),
            s(&self.mnt),
            "--password-file",
            s(&self.pw),
            "--log",
            s(&self.log),
        ];
        args.extend_from_slice(extra);
        args.extend_from_slice(&CHEAP);
        fusecry(&args)
    }

    fn mounted(&self, extra: &[&str]) {
        let o = self.mount(extra);
        assert!(
            o.status.success(),
            "mount failed: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        assert!(is_mounted(&self.mnt));
    }

    fn umount(&self) {
        let o = fusecry(&["umount", s(&self.mnt)]);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        wait_for("unmount", || !is_mounted(&self.mnt));
    }

    /// A foreground daemon as a child process.
    fn foreground(&self, extra: &[&str]) -> Child {
        let mut child = Command::new(BIN)
            .args([
                "mount",
                s(&self.cipher),
                s(&self.mnt),
                "-f",
                "--password-file",
                s(&self.pw),
            ])
            .args(extra)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(fs::File::create(&self.log).unwrap())
            .spawn()
            .unwrap();
        let start = Instant::now();
        while !is_mounted(&self.mnt) {
            let exited = child.try_wait().unwrap();
            assert!(
                exited.is_none() && start.elapsed() < Duration::from_secs(60),
                "foreground mount did not appear (daemon {exited:?}); log:\n{}",
                fs::read_to_string(&self.log).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        child
    }
}

#[test]
fn first_mount_creates_then_remount_reads_back() {
    let e = Env::new("mount password");
    // Names are encrypted without being asked for.
    e.mounted(&["--chunk-size", "4096"]);
    let conf: serde_json::Value =
        serde_json::from_slice(&fs::read(e.cipher.join("fusecry.conf")).unwrap()).unwrap();
    assert_eq!(conf["encrypted_names"], true);
    assert!(e.cipher.join("fusecry.diriv").is_file());
    fs::create_dir(e.mnt.join("docs")).unwrap();
    fs::write(e.mnt.join("docs/note.txt"), b"remember me").unwrap();
    e.umount();
    // Nothing in the clear on disk.
    for entry in walk(&e.cipher) {
        let n = entry.file_name().unwrap().to_string_lossy().into_owned();
        assert!(!n.contains("docs") && !n.contains("note"), "{n}");
    }
    e.mounted(&[]);
    assert_eq!(
        fs::read(e.mnt.join("docs/note.txt")).unwrap(),
        b"remember me"
    );
    let log = fs::read_to_string(&e.log).unwrap();
    assert!(log.contains("serving"), "log: {log}");
    e.umount();
    // fsck agrees with what was written.
    let o = fusecry(&["fsck", s(&e.cipher), "--password-file", s(&e.pw)]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}

#[test]
fn plain_names_only_when_asked_for() {
    let e = Env::new("mount password");
    e.mounted(&["--plain-names"]);
    fs::write(e.mnt.join("visible.txt"), b"x").unwrap();
    e.umount();
    assert!(e.cipher.join("visible.txt").is_file());
    assert!(!e.cipher.join("fusecry.diriv").exists());
    let o = fusecry(&["info", s(&e.cipher)]);
    assert!(String::from_utf8_lossy(&o.stdout).contains("warning: plain names"));
}

/// The attack "missing conf on a non-empty volume": the conf of a volume
/// was lost or is not synced yet. A mount must not create a new volume over
/// the tree (a new root IV would hide every entry for good): it is refused
/// (exit 3) with the tree byte-identical, and once the conf is back, or
/// given with --conf, every entry is there.
#[test]
fn missing_conf_on_a_non_empty_volume_is_refused() {
    let e = Env::new("mount password");
    e.mounted(&[]);
    fs::create_dir_all(e.mnt.join("docs/deep")).unwrap();
    fs::write(e.mnt.join("docs/deep/a.txt"), b"alpha").unwrap();
    fs::write(e.mnt.join("top.bin"), vec![9u8; 10_000]).unwrap();
    std::os::unix::fs::symlink("docs/deep/a.txt", e.mnt.join("link")).unwrap();
    e.umount();
    let saved = e.tmp.path().join("saved.conf");
    fs::rename(e.cipher.join("fusecry.conf"), &saved).unwrap();
    let before = tree_digest(&e.cipher);
    let o = e.mount(&[]);
    assert_eq!(o.status.code(), Some(3));
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(
        err.trim_end(),
        format!(
            "fusecry: no fusecry.conf in {}, which is not empty: pass --conf, or restore the conf",
            e.cipher.display()
        )
    );
    assert!(!is_mounted(&e.mnt));
    assert_eq!(tree_digest(&e.cipher), before, "the volume was written to");
    let check = || {
        assert_eq!(fs::read(e.mnt.join("docs/deep/a.txt")).unwrap(), b"alpha");
        assert_eq!(fs::read(e.mnt.join("top.bin")).unwrap(), vec![9u8; 10_000]);
        assert_eq!(fs::read(e.mnt.join("link")).unwrap(), b"alpha");
        let mut top: Vec<String> = fs::read_dir(&e.mnt)
            .unwrap()
            .map(|d| d.unwrap().file_name().into_string().unwrap())
            .collect();
        top.sort();
        assert_eq!(top, ["docs", "link", "top.bin"]);
    };
    // --conf, as the message says.
    e.mounted(&["--conf", s(&saved)]);
    check();
    e.umount();
    fs::rename(&saved, e.cipher.join("fusecry.conf")).unwrap();
    e.mounted(&[]);
    check();
    e.umount();
}

/// Finds the daemon serving `mnt` (its command line has --daemon and `mnt`).
fn daemon_pid(mnt: &Path) -> u32 {
    let want = mnt.canonicalize().unwrap();
    let pids: Vec<u32> = fs::read_dir("/proc")
        .unwrap()
        .filter_map(|d| d.unwrap().file_name().to_str()?.parse().ok())
        .filter(|pid| {
            let args = fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
            let args: Vec<&[u8]> = args.split(|&b| b == 0).collect();
            args.contains(&&b"--daemon"[..]) && args.contains(&want.as_os_str().as_encoded_bytes())
        })
        .collect();
    assert_eq!(pids.len(), 1, "daemons of {}: {pids:?}", mnt.display());
    pids[0]
}

/// Asserts that neither the environment nor the command line of `pid`
/// holds `secret`.
fn holds_no_secret(pid: u32, secret: &str) {
    for what in ["environ", "cmdline"] {
        let b = fs::read(format!("/proc/{pid}/{what}")).unwrap();
        assert!(!b.is_empty(), "/proc/{pid}/{what} is empty");
        assert!(
            !b.windows(secret.len()).any(|w| w == secret.as_bytes()),
            "/proc/{pid}/{what} holds the password"
        );
    }
    let env = fs::read(format!("/proc/{pid}/environ")).unwrap();
    assert!(
        !env.split(|&b| b == 0)
            .any(|v| v.starts_with(b"FUSECRY_PASSWORD=")),
        "FUSECRY_PASSWORD is in the daemon's environment"
    );
}

/// A password given as FUSECRY_PASSWORD reaches the daemon on a pipe: its
/// environment and command line hold none, in the background and with -f
/// (where the process that was started becomes the daemon).
#[test]
fn the_daemon_environment_holds_no_password() {
    let e = Env::new("mount password");
    let secret = "env-only password 7d1f";
    let with_env = |extra: &[&str]| {
        let mut c = Command::new(BIN);
        c.args(["mount", s(&e.cipher), s(&e.mnt), "--log", s(&e.log)])
            .args(extra)
            .args(CHEAP)
            .env("FUSECRY_PASSWORD", secret)
            .stdin(Stdio::null());
        c
    };
    let o = with_env(&[]).output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(is_mounted(&e.mnt));
    fs::write(e.mnt.join("f"), b"written").unwrap();
    holds_no_secret(daemon_pid(&e.mnt), secret);
    e.umount();

    let mut child = with_env(&["-f"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_for("the foreground mount", || is_mounted(&e.mnt));
    // -f serves in the process that was started.
    holds_no_secret(child.id(), secret);
    assert_eq!(fs::read(e.mnt.join("f")).unwrap(), b"written");
    e.umount();
    assert!(child.wait().unwrap().success());
    // The password really was that one.
    fs::write(&e.pw, format!("{secret}\n")).unwrap();
    e.mounted(&[]);
    e.umount();
}

fn walk(d: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in fs::read_dir(d).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(walk(&p));
        }
        out.push(p);
    }
    out
}

#[test]
fn wrong_password_or_missing_key_never_mounts() {
    let e = Env::new("mount password");
    e.mounted(&[]);
    e.umount();
    fs::write(&e.pw, "not the password\n").unwrap();
    let o = e.mount(&[]);
    assert_eq!(o.status.code(), Some(10));
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains("fusecry.conf") && err.contains("wrong password"),
        "{err}"
    );
    assert!(!is_mounted(&e.mnt));
    let o = fusecry(&[
        "mount",
        s(&e.cipher),
        s(&e.mnt),
        "--key",
        s(&e.tmp.path().join("missing.pem")),
    ]);
    assert_eq!(o.status.code(), Some(3));
    assert!(!is_mounted(&e.mnt));
    // Unknown options are refused before anything happens.
    let o = e.mount(&["-o", "bogus"]);
    assert_eq!(o.status.code(), Some(2));
}

#[test]
fn read_only_and_debug_logging() {
    let e = Env::new("mount password");
    e.mounted(&[]);
    fs::write(e.mnt.join("f"), b"secret content 12345").unwrap();
    e.umount();
    e.mounted(&["-o", "ro", "-d"]);
    assert_eq!(fs::read(e.mnt.join("f")).unwrap(), b"secret content 12345");
    assert_eq!(
        fs::write(e.mnt.join("g"), b"x").unwrap_err().raw_os_error(),
        Some(libc::EROFS)
    );
    e.umount();
    let log = fs::read_to_string(&e.log).unwrap();
    assert!(
        log.contains("read ino="),
        "debug log lacks FUSE calls: {log}"
    );
    assert!(
        !log.contains("secret content"),
        "the log holds file content"
    );
    assert!(
        !log.contains("mount password"),
        "the log holds the password"
    );
}

/// A volume on a read-only filesystem (here a read-only bind mount of it)
/// mounts read-only, and says so.
#[test]
fn read_only_backing_directory_mounts_read_only() {
    use nix::mount::{mount, umount2, MntFlags, MsFlags};
    let mut e = Env::new("mount password");
    e.mounted(&[]);
    fs::write(e.mnt.join("f"), b"kept").unwrap();
    e.umount();
    let ro = e.tmp.path().join("cipher-ro");
    fs::create_dir(&ro).unwrap();
    mount(
        Some(&e.cipher),
        &ro,
        None::<&str>,
        MsFlags::MS_BIND,
        None::<&str>,
    )
    .unwrap();
    let flags = MsFlags::MS_BIND | MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY;
    mount(None::<&str>, &ro, None::<&str>, flags, None::<&str>).unwrap();
    let rw = std::mem::replace(&mut e.cipher, ro.clone());
    let o = e.mount(&[]);
    e.cipher = rw;
    let said = String::from_utf8_lossy(&o.stderr).into_owned();
    let shown = o.status.success().then(|| {
        let r = (
            fs::read(e.mnt.join("f")).ok(),
            fs::write(e.mnt.join("g"), b"x").map_err(|e| e.raw_os_error()),
        );
        e.umount();
        r
    });
    umount2(&ro, MntFlags::MNT_DETACH).unwrap();
    assert!(o.status.success(), "mount failed: {said}");
    assert!(said.contains("read-only: mounting read-only"), "{said}");
    let (read, write) = shown.unwrap();
    assert_eq!(read.as_deref(), Some(&b"kept"[..]));
    assert_eq!(write, Err(Some(libc::EROFS)));
}

#[test]
fn idle_timeout_unmounts() {
    let e = Env::new("mount password");
    e.mounted(&["--idle", "1s"]);
    fs::write(e.mnt.join("f"), b"x").unwrap();
    wait_for("idle unmount", || !is_mounted(&e.mnt));
    assert!(fs::read_to_string(&e.log).unwrap().contains("idle"));
}

#[test]
fn sigterm_unmounts_cleanly() {
    let e = Env::new("mount password");
    e.mounted(&[]);
    e.umount();
    let mut child = e.foreground(&[]);
    fs::write(e.mnt.join("f"), vec![5u8; 100_000]).unwrap();
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    let status = child.wait().unwrap();
    assert!(status.success(), "daemon exit: {status}");
    assert!(!is_mounted(&e.mnt));
    e.mounted(&[]);
    assert_eq!(fs::read(e.mnt.join("f")).unwrap(), vec![5u8; 100_000]);
}

#[test]
fn umount_of_something_not_mounted_fails() {
    let e = Env::new("mount password");
    let o = fusecry(&["umount", s(&e.mnt)]);
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("not mounted"));
}

#[test]
fn sigkill_mid_write_leaves_other_files_intact_and_fsck_names_the_torn_file() {
    let e = Env::new("mount password");
    e.mounted(&["--chunk-size", "4096"]);
    e.umount();
    // No writeback cache: every write goes straight to the daemon.
    let mut child = e.foreground(&["-o", "nowriteback"]);
    for i in 0..5 {
        let mut f = fs::File::create(e.mnt.join(format!("safe{i}"))).unwrap();
        f.write_all(&vec![i as u8; 50_000]).unwrap();
        f.sync_all().unwrap();
    }
    let victim = e.mnt.join("victim");
    let writer = std::thread::spawn(move || {
        let f = fs::OpenOptions::new()
            .create(true)
            .truncate(true)
            .write(true)
            .open(&victim)
            .unwrap();
        let block = vec![0xabu8; 1 << 20];
        let mut off = 0u64;
        // Until the daemon dies under us.
        while f.write_all_at(&block, off).is_ok() {
            off += block.len() as u64;
            if off > (2 << 30) {
                break;
            }
        }
    });
    std::thread::sleep(Duration::from_millis(300));
    child.kill().unwrap();
    child.wait().unwrap();
    let _ = nix::mount::umount2(&e.mnt, nix::mount::MntFlags::MNT_DETACH);
    writer.join().unwrap();
    wait_for("dead mount gone", || !is_mounted(&e.mnt));
    // Power loss in the middle of rewriting a chunk leaves its first bytes
    // new and the rest old: simulate that on chunk 3 of safe0, whose new
    // bytes come from another encryption (safe1's chunk 3).
    let (safe0, safe1) = {
        let mut files: Vec<(u64, PathBuf)> = walk(&e.cipher)
            .into_iter()
            .filter(|p| p.is_file() && fs::metadata(p).unwrap().len() > 40_000)
            .map(|p| (fs::metadata(&p).unwrap().len(), p))
            .filter(|(l, _)| *l == 20 + 12 * 4144 + 48 + 848 + 40)
            .collect();
        files.sort();
        (files[0].1.clone(), files[1].1.clone())
    };
    let chunk3 = 20 + 3 * 4144;
    let donor = fs::read(&safe1).unwrap();
    let f = fs::OpenOptions::new().write(true).open(&safe0).unwrap();
    f.write_all_at(&donor[chunk3..chunk3 + 2000], chunk3 as u64)
        .unwrap();
    drop(f);
    let o = fusecry(&["fsck", s(&e.cipher), "--password-file", s(&e.pw), "--json"]);
    let report: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let damaged: Vec<String> = report["damaged"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["path"].as_str().unwrap().to_string())
        .collect();
    // The torn chunk, exactly; and the file being written when the daemon
    // died may be damaged (or whole, if the kill fell between two writes).
    let torn: Vec<&serde_json::Value> = report["damaged"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| !d["path"].as_str().unwrap().ends_with("victim"))
        .collect();
    assert_eq!(torn.len(), 1, "damaged: {damaged:?}");
    assert_eq!(torn[0]["chunks"], serde_json::json!([3]), "{:?}", torn[0]);
    assert_eq!(o.status.code(), Some(21));
    e.mounted(&[]);
    let mut intact = 0;
    for i in 0..5 {
        match fs::read(e.mnt.join(format!("safe{i}"))) {
            Ok(d) => {
                assert_eq!(d, vec![i as u8; 50_000]);
                intact += 1;
            }
            Err(err) => assert_eq!(err.raw_os_error(), Some(libc::EIO)),
        }
    }
    assert_eq!(intact, 4);
    println!("after SIGKILL mid-write, fsck reported: {damaged:?}");
}

/// `fusecry mount SRC MNT --key k.pem EXTRA...` (background, logged to the Env's log).
fn mount_with_key(e: &Env, extra: &[&str]) -> Output {
    let key = e.tmp.path().join("k.pem");
    let mut args = vec![
        "mount",
        s(&e.cipher),
        s(&e.mnt),
        "--key",
        s(&key),
        "--log",
        s(&e.log),
    ];
    args.extend_from_slice(extra);
    fusecry(&args)
}

/// A refused mount: exit 1, one stderr line naming the conf and `why`, and
/// nothing mounted.
fn assert_refused(e: &Env, o: &Output, why: &str) {
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("fusecry.conf") && err.contains(why), "{err}");
    assert!(!is_mounted(&e.mnt));
}

/// A legacy 0.11 RSA conf planted with the victim's public key: the mount is
/// read-only, and a read-write mount asked for explicitly is refused.
#[test]
fn legacy_rsa_conf_planted_mounts_read_only() {
    use fusecry_format::stream::{encrypt_to_vec, Target};
    let e = Env::new("mount password");
    planted::victim_keys(e.tmp.path());
    fs::create_dir(&e.cipher).unwrap();
    let (conf, keys) = planted::legacy_rsa_conf(e.tmp.path());
    fs::write(e.cipher.join("fusecry.conf"), &conf).unwrap();
    let codec = fusecry_format::Codec::legacy(keys, 4096, false);
    let bait = encrypt_to_vec(
        &codec,
        &fusecry_format::FileId([0; 16]),
        b"legacy bait",
        Target::File,
        &mut rand_core::OsRng,
    );
    fs::write(e.cipher.join("bait"), &bait).unwrap();
    let before = tree_digest(&e.cipher);

    for extra in [
        &["-o", "rw"][..],
        &["-o", "rw", "--trust-unsigned-slot"][..],
    ] {
        assert_refused(&e, &mount_with_key(&e, extra), "read-only");
    }
    let o = mount_with_key(&e, &[]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(String::from_utf8_lossy(&o.stderr).contains("read-only"));
    assert_eq!(fs::read(e.mnt.join("bait")).unwrap(), b"legacy bait");
    for r in [
        fs::write(e.mnt.join("new"), b"the victim's secret"),
        fs::write(e.mnt.join("bait"), b"overwritten"),
        fs::create_dir(e.mnt.join("d")),
    ] {
        assert_eq!(r.unwrap_err().raw_os_error(), Some(libc::EROFS));
    }
    e.umount();
    assert_eq!(
        tree_digest(&e.cipher),
        before,
        "a read-only mount changed the volume"
    );
}

/// A fusecry/1 conf planted with the victim's public key (the attacker's
/// password slot and an unsigned RSA slot): no read-write mount without
/// consent; `-o ro` mounts it read-only.
#[test]
fn rsa_conf_swap_refuses_a_read_write_mount() {
    use fusecry_format::name::{DirIv, CONF_NAME, DIRIV_NAME};
    let e = Env::new("mount password");
    planted::victim_keys(e.tmp.path());
    fs::create_dir(&e.cipher).unwrap();
    let (c, _) = planted::rsa_conf_swap(e.tmp.path());
    fs::write(
        e.cipher.join(CONF_NAME),
        fusecry_format::Conf::V1(c).to_bytes(),
    )
    .unwrap();
    fs::write(
        e.cipher.join(DIRIV_NAME),
        DirIv::random(&mut rand_core::OsRng).0,
    )
    .unwrap();
    let before = tree_digest(&e.cipher);
    for extra in [&[][..], &["-o", "rw"][..]] {
        assert_refused(&e, &mount_with_key(&e, extra), "not vouched for");
    }
    let o = mount_with_key(&e, &["-o", "ro"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(
        fs::write(e.mnt.join("f"), b"x").unwrap_err().raw_os_error(),
        Some(libc::EROFS)
    );
    e.umount();
    assert_eq!(tree_digest(&e.cipher), before);
    // With explicit consent the mount is read-write.
    let o = mount_with_key(&e, &["--trust-unsigned-slot"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    fs::write(e.mnt.join("f"), b"written with consent").unwrap();
    e.umount();
    assert_ne!(tree_digest(&e.cipher), before);
}

#[test]
fn subdirectory_mount_with_conf() {
    let e = Env::new("mount password");
    e.mounted(&["-n"]);
    fs::create_dir_all(e.mnt.join("projects/alpha")).unwrap();
    fs::write(e.mnt.join("projects/alpha/plan.txt"), b"plan").unwrap();
    e.umount();
    // The backing directory of "projects" is the only non-reserved dir in the root.
    let sub = fs::read_dir(&e.cipher)
        .unwrap()
        .map(|d| d.unwrap().path())
        .find(|p| p.is_dir())
        .unwrap();
    let o = fusecry(&[
        "mount",
        s(&sub),
        s(&e.mnt),
        "--conf",
        s(&e.cipher.join("fusecry.conf")),
        "--password-file",
        s(&e.pw),
        "--log",
        s(&e.log),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(fs::read(e.mnt.join("alpha/plan.txt")).unwrap(), b"plan");
    e.umount();
}

const SHARED_LEGACY: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/vectors/legacy");
const FIXTURE_LEGACY: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../fuse/tests/fixtures/legacy");

fn tree_digest(dir: &Path) -> Vec<(PathBuf, u64, Vec<u8>)> {
    let mut v: Vec<(PathBuf, u64, Vec<u8>)> = walk(dir)
        .into_iter()
        .map(|p| {
            let m = fs::symlink_metadata(&p).unwrap();
            let content = if m.is_file() {
                fs::read(&p).unwrap()
            } else if m.file_type().is_symlink() {
                fs::read_link(&p)
                    .unwrap()
                    .into_os_string()
                    .into_encoded_bytes()
            } else {
                Vec::new()
            };
            (p, m.mtime() as u64 ^ (m.mode() as u64) << 40, content)
        })
        .collect();
    v.sort();
    v
}

use std::os::unix::fs::MetadataExt;

/// Every legacy volume made by the original tool migrates to fusecry/1; the
/// new volume, mounted, passes check_legacy.py --strict against the old
/// manifest (names, content, symlinks), and the old volume is unchanged.
#[test]
fn migrate_every_legacy_volume() {
    let mut cases: Vec<PathBuf> = Vec::new();
    for root in [SHARED_LEGACY, FIXTURE_LEGACY] {
        if let Ok(d) = fs::read_dir(root) {
            for e in d {
                let p = e.unwrap().path();
                if p.join("volume.tar").is_file() && p.join("manifest.json").is_file() {
                    cases.push(p);
                }
            }
        }
    }
    cases.sort();
    let checker = [SHARED_LEGACY, FIXTURE_LEGACY]
        .iter()
        .map(|r| Path::new(r).join("check_legacy.py"))
        .find(|p| p.is_file())
        .unwrap();
    let mut migrated = 0;
    for case in &cases {
        let man: serde_json::Value =
            serde_json::from_slice(&fs::read(case.join("manifest.json")).unwrap()).unwrap();
        let e = Env::new("mount password");
        Command::new("tar")
            .arg("-xf")
            .arg(case.join("volume.tar"))
            .arg("-C")
            .arg(e.tmp.path())
            .status()
            .unwrap();
        let old = e.tmp.path().join("volume");
        let before = tree_digest(&old);
        let mut args: Vec<String> = vec!["migrate".into(), s(&old).into(), s(&e.cipher).into()];
        match man["auth"]["type"].as_str().unwrap() {
            "password" => {
                let pw = e.tmp.path().join("oldpw");
                fs::write(&pw, man["auth"]["password"].as_str().unwrap()).unwrap();
                args.extend(["--password-file".into(), s(&pw).into()]);
            }
            _ => args.extend([
                "--key".into(),
                s(&case.join(man["auth"]["private_key_file"].as_str().unwrap())).into(),
            ]),
        }
        args.extend(["--new-password-file".into(), s(&e.pw).into()]);
        args.extend(CHEAP.iter().map(|a| a.to_string()));
        let argv: Vec<&str> = args.iter().map(String::as_str).collect();
        let o = fusecry(&argv);
        assert_eq!(
            before,
            tree_digest(&old),
            "{}: the old volume changed",
            case.display()
        );
        if man["tamper"]["kind"] == "ciphertext_bitflip" {
            assert_eq!(
                o.status.code(),
                Some(20),
                "{}: damage must stop the migration",
                case.display()
            );
            continue;
        }
        assert!(
            o.status.success(),
            "{}: {}",
            case.display(),
            String::from_utf8_lossy(&o.stderr)
        );
        e.mounted(&[]);
        let out = Command::new("python3")
            .arg(&checker)
            .arg(case.join("manifest.json"))
            .arg(&e.mnt)
            .arg("--strict")
            .output()
            .unwrap();
        let swapped = man["tamper"]["kind"] == "chunk_swap";
        // A chunk swap is invisible in legacy 0.11: the copy carries the
        // swapped content, which the checker reports; everything else passes.
        assert!(
            out.status.success() || swapped,
            "{}: {}",
            case.display(),
            String::from_utf8_lossy(&out.stdout)
        );
        e.umount();
        migrated += 1;
    }
    println!(
        "migrate: {migrated} legacy volumes migrated and checked, {} cases",
        cases.len()
    );
    assert!(migrated >= 2);
}

/// Restores /dev/fuse's mode, and unmounts lazily, when the user test ends.
struct UserGuard {
    mode: u32,
    mnt: PathBuf,
}

impl Drop for UserGuard {
    fn drop(&mut self) {
        use std::os::unix::fs::PermissionsExt;
        if is_mounted(&self.mnt) {
            let _ = nix::mount::umount2(&self.mnt, nix::mount::MntFlags::MNT_DETACH);
        }
        let _ = fs::set_permissions("/dev/fuse", fs::Permissions::from_mode(self.mode));
    }
}

#[test]
fn a_normal_user_mounts_and_umounts() {
    use std::os::unix::fs::PermissionsExt;
    // The test runs as root (as CI does) and plays a normal user: a system
    // account, /dev/fuse opened to everyone as desktop distributions ship it
    // (this container has it 0600; the mode is restored afterwards), and the
    // setuid fusermount3 from fuse3 doing the mount and the unmount.
    assert!(
        nix::unistd::Uid::effective().is_root(),
        "the mount tests run as root"
    );
    let user = "fusecry-test";
    if Command::new("id").arg(user).output().unwrap().status.code() != Some(0) {
        let st = Command::new("useradd")
            .args([
                "--system",
                "--no-create-home",
                "--shell",
                "/usr/sbin/nologin",
                user,
            ])
            .status()
            .unwrap();
        assert!(st.success(), "useradd {user}");
    }
    let mode = fs::metadata("/dev/fuse").unwrap().permissions().mode() & 0o7777;
    let t = tempfile::tempdir().unwrap();
    let d = t.path();
    let (cipher, mnt, pw, bin) = (
        d.join("cipher"),
        d.join("mnt"),
        d.join("pw"),
        d.join("fusecry"),
    );
    let _guard = UserGuard {
        mode,
        mnt: mnt.clone(),
    };
    fs::set_permissions("/dev/fuse", fs::Permissions::from_mode(0o666)).unwrap();
    fs::create_dir(&mnt).unwrap();
    fs::write(&pw, "user password\n").unwrap();
    // The test binary's directory may be closed to others: run a copy.
    fs::copy(BIN, &bin).unwrap();
    fs::set_permissions(d, fs::Permissions::from_mode(0o755)).unwrap();
    let st = Command::new("chown")
        .args(["-R", user, s(d)])
        .status()
        .unwrap();
    assert!(st.success());
    let as_user = |args: &[&str]| {
        Command::new("runuser")
            .args(["-u", user, "--", s(&bin)])
            .args(args)
            .env_remove("FUSECRY_PASSWORD")
            .stdin(Stdio::null())
            .output()
            .unwrap()
    };
    let log = d.join("mount.log");
    let mut args = vec![
        "mount",
        s(&cipher),
        s(&mnt),
        "--password-file",
        s(&pw),
        "-n",
        "--log",
        s(&log),
    ];
    args.extend_from_slice(&CHEAP);
    let o = as_user(&args);
    assert!(
        o.status.success(),
        "user mount: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    wait_for("the user's mount", || is_mounted(&mnt));
    let line = fs::read_to_string("/proc/self/mountinfo")
        .unwrap()
        .lines()
        .find(|l| l.split(' ').nth(4) == Some(s(&mnt.canonicalize().unwrap())))
        .unwrap()
        .to_string();
    let uid = Command::new("id").args(["-u", user]).output().unwrap();
    let uid = String::from_utf8_lossy(&uid.stdout).trim().to_string();
    assert!(
        line.contains(&format!("user_id={uid}")),
        "not the user's mount: {line}"
    );
    let o = Command::new("runuser")
        .args(["-u", user, "--", "sh", "-c"])
        .arg(format!("echo from-user > {0}/f && cat {0}/f", s(&mnt)))
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&o.stdout), "from-user\n");
    let o = as_user(&["umount", s(&mnt)]);
    assert!(
        o.status.success(),
        "user umount: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    wait_for("the user's unmount", || !is_mounted(&mnt));
    // The file is in the ciphertext, under an encrypted name.
    let names: Vec<String> = fs::read_dir(&cipher)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        !names.contains(&"f".to_string()) && names.len() == 3,
        "{names:?}"
    );
}
