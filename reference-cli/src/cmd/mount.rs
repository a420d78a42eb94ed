//! `fusecry mount SRC MNT` and `fusecry umount MNT`.
//!
//! A background mount re-runs this binary as a daemon (`--foreground
//! --daemon`) with the password on its stdin, never in argv or the
//! environment, and waits until the mount appears or the daemon fails; the
//! daemon logs to a file. The parent opens the conf first, so a wrong
//! password or a missing key is reported on the terminal and never mounts.
//! A foreground mount given FUSECRY_PASSWORD becomes its daemon the same way,
//! through exec, so that its environment holds no password either.
//!
//! A volume is created only on the first mount of a missing or empty SRC
//! (`volume::create`); a non-empty SRC without its conf is refused.

use crate::cli::{MountArgs, TrustArgs};
use crate::confio;
use crate::exit::{fail, MISSING, OTHER};
use crate::volume;
use anyhow::{Context, Result};
use fusecry_format::name::CONF_NAME;
use fusecry_format::{Codec, Password, Secret, Trust};
use fusecry_fuse::{CryptFs, FsOptions, MountOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use zeroize::Zeroizing;

struct Opts {
    /// `-o ro` / `-o rw` (the last one given); `None` when neither was.
    read_only: Option<bool>,
    allow_other: bool,
    default_permissions: bool,
    writeback: bool,
    acl: bool,
    noxattr: bool,
    shared: bool,
    /// The kernel's generic mount flags asked for (nodev, nosuid, ...).
    flags: Vec<fusecry_fuse::MountOption>,
}

/// Options that mount(8), systemd or fstab keep for themselves, which the
/// mount.fuse3 helper may still pass on: accepted and ignored.
fn theirs(opt: &str) -> bool {
    matches!(
        opt,
        "auto"
            | "noauto"
            | "nofail"
            | "_netdev"
            | "defaults"
            | "user"
            | "users"
            | "nouser"
            | "owner"
            | "group"
    ) || opt.starts_with("x-")
        || opt.starts_with("comment=")
}

/// The kernel's generic mount flags: passed to the FUSE mount, or (for the
/// atime variants the kernel decides alone) accepted and ignored.
fn kernel_flag(opt: &str) -> Option<Option<fusecry_fuse::MountOption>> {
    use fusecry_fuse::MountOption as M;
    Some(Some(match opt {
        "dev" => M::Dev,
        "nodev" => M::NoDev,
        "suid" => M::Suid,
        "nosuid" => M::NoSuid,
        "exec" => M::Exec,
        "noexec" => M::NoExec,
        "atime" => M::Atime,
        "noatime" => M::NoAtime,
        "dirsync" => M::DirSync,
        "sync" => M::Sync,
        "async" => M::Async,
        "relatime" | "norelatime" | "strictatime" | "nostrictatime" | "lazytime" | "nolazytime"
        | "diratime" | "nodiratime" | "silent" | "loud" => return Some(None),
        _ => return None,
    }))
}

fn parse_opts(list: &[String]) -> Result<Opts> {
    let mut o = Opts {
        read_only: None,
        allow_other: false,
        default_permissions: false,
        writeback: true,
        acl: false,
        noxattr: false,
        shared: false,
        flags: Vec::new(),
    };
    for item in list.iter().map(|s| s.trim()).filter(|s| !s.is_empty()) {
        match item {
            "ro" => o.read_only = Some(true),
            "rw" => o.read_only = Some(false),
            "allow_other" => o.allow_other = true,
            "default_permissions" => o.default_permissions = true,
            "writeback" => o.writeback = true,
            "nowriteback" => o.writeback = false,
            "acl" => o.acl = true,
            "noacl" => o.acl = false,
            "noxattr" => o.noxattr = true,
            "xattr" => o.noxattr = false,
            "shared" => o.shared = true,
            other if theirs(other) => {}
            other if kernel_flag(other).is_some() => o.flags.extend(kernel_flag(other).flatten()),
            other => {
                return Err(fail(
                    crate::exit::USAGE,
                    format!("-o {other}: unknown mount option (ro, rw, allow_other, default_permissions, writeback, nowriteback, acl, noacl, noxattr, shared, the kernel's nodev/nosuid/noexec/noatime/sync/dirsync, and fstab's passfile=, extpass=, keyfile=, conf=, idle=)"),
                ))
            }
        }
    }
    Ok(o)
}

/// The default log file of a background mount.
fn default_log(mnt: &Path) -> PathBuf {
    let state = std::env::var_os("XDG_STATE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/state")))
        .unwrap_or_else(|| PathBuf::from("/tmp"));
    let name: String = mnt
        .to_string_lossy()
        .trim_start_matches('/')
        .replace('/', "_");
    state.join("fusecry").join(format!("{name}.log"))
}

/// True when `mnt` is a mount point in this mount namespace.
pub fn is_mounted(mnt: &Path) -> bool {
    let Ok(canon) = mnt.canonicalize() else {
        return false;
    };
    let want = canon
        .to_string_lossy()
        .replace('\\', "\\134")
        .replace(' ', "\\040")
        .replace('\t', "\\011")
        .replace('\n', "\\012");
    std::fs::read_to_string("/proc/self/mountinfo")
        .map(|s| {
            s.lines()
                .any(|l| l.split(' ').nth(4) == Some(want.as_str()))
        })
        .unwrap_or(false)
}

fn secret_from_stdin() -> Result<Secret> {
    let mut s = Zeroizing::new(String::new());
    std::io::stdin().read_to_string(&mut s)?;
    let end = s.find(['\n', '\r']).unwrap_or(s.len());
    Ok(Secret::Password(Password::new(&s[..end])))
}

/// Whether to mount read-only, given what the opener vouches for (SPEC
/// §4.5): a vouched opener mounts as asked (read-write by default); an
/// unvouched RSA slot mounts read-only only when asked (`-o ro`), or
/// read-write with --trust-unsigned-slot; a legacy 0.11 RSA volume is
/// mounted read-only, and refused if read-write was asked for.
fn read_only_for(
    conf: &Path,
    trust: &Trust,
    asked: Option<bool>,
    consent: TrustArgs,
) -> Result<bool> {
    match (trust, asked) {
        (_, Some(true)) => Ok(true),
        (Trust::LegacyRsa, None) => {
            eprintln!(
                "{}: legacy 0.11 RSA volume: mounting read-only",
                conf.display()
            );
            Ok(true)
        }
        (t, _) => {
            crate::trust::require_write(conf, t, consent)?;
            Ok(false)
        }
    }
}

/// Whether to tell systemd the mount is ready: asked for, or a service
/// manager waits for it (sd_notify(3): NOTIFY_SOCKET set).
fn notifying(a: &MountArgs) -> bool {
    a.notify || std::env::var_os("NOTIFY_SOCKET").is_some()
}

/// sd_notify READY=1 (with the daemon's pid when it is another process),
/// then NOTIFY_SOCKET leaves the environment: nothing started later sends
/// on it.
fn notify_ready(a: &MountArgs, daemon: Option<u32>) {
    if !notifying(a) {
        return;
    }
    if std::env::var_os("NOTIFY_SOCKET").is_none() {
        eprintln!("fusecry: --notify: NOTIFY_SOCKET is not set, nothing to tell");
        return;
    }
    use sd_notify::NotifyState;
    let mut states = vec![NotifyState::Ready];
    if let Some(pid) = daemon {
        states.push(NotifyState::MainPid(pid));
    }
    if let Err(e) = sd_notify::notify(true, &states) {
        eprintln!("fusecry: --notify: cannot tell the service manager: {e}");
    }
}

pub fn run(a: MountArgs) -> Result<()> {
    let mut opts = parse_opts(&a.options)?;
    crate::rng::allowed(a.test_seed)?;
    // A missing source is created only for a first mount (below), and only
    // once the mount point checks passed.
    if !a.source.is_dir() && (a.conf.is_some() || a.daemon || a.source.exists()) {
        let why = if a.source.exists() {
            "not a directory"
        } else {
            "no such directory"
        };
        return Err(fail(MISSING, format!("{}: {why}", a.source.display())));
    }
    if !a.mountpoint.is_dir() {
        return Err(fail(
            MISSING,
            format!("{}: mount point is not a directory", a.mountpoint.display()),
        ));
    }
    if is_mounted(&a.mountpoint) {
        return Err(fail(
            OTHER,
            format!("{}: already a mount point", a.mountpoint.display()),
        ));
    }
    let conf_path = match &a.conf {
        Some(c) => confio::conf_path(c),
        None => a.source.join(CONF_NAME),
    };
    let (codec, password) = if !conf_path.exists() && a.conf.is_none() && !a.daemon {
        // The first mount of a missing or empty directory creates the volume,
        // as 0.11 does; a tree without its conf is never written over.
        let (conf, codec) = volume::create(&a.source, &a.create, &a.secret, || {
            fail(
                MISSING,
                format!(
                    "no fusecry.conf in {}, which is not empty: pass --conf, or restore the conf",
                    a.source.display()
                ),
            )
        })?;
        eprintln!(
            "created {} volume in {}",
            conf.profile_name(),
            a.source.display()
        );
        // The daemon needs the password again: ask the source once more
        // only if it was a prompt (re-reading files and extpass is fine).
        (codec, None)
    } else {
        let conf = confio::load(&conf_path)?;
        let secret = if a.daemon && a.secret.key.is_none() {
            secret_from_stdin()?
        } else {
            crate::secret::for_open(&a.secret)?
        };
        let (codec, trust) = conf
            .open_trusted(&secret)
            .map_err(|e| crate::exit::at(&conf_path, e))?;
        opts.read_only = Some(read_only_for(&conf_path, &trust, opts.read_only, a.trust)?);
        let pw = match secret {
            Secret::Password(p) => Some(p),
            _ => None,
        };
        (codec, pw)
    };
    if opts.read_only != Some(true) && !backing_writable(&a.source) {
        eprintln!(
            "{}: the backing directory is read-only: mounting read-only",
            a.source.display()
        );
        opts.read_only = Some(true);
    }
    if a.foreground {
        if !a.daemon && crate::secret::env_password_was_set() {
            drop(codec);
            return reexec_as_daemon(&a, &opts, &conf_path, password);
        }
        return serve(&a, &opts, codec);
    }
    daemonize(&a, &opts, &conf_path, password, codec)
}

/// Whether the daemon could write the backing directory: not on a
/// read-only filesystem (EROFS even for root), and permitted. A mount that
/// could not would answer every change with an error of the backing store.
fn backing_writable(src: &Path) -> bool {
    nix::unistd::access(src, nix::unistd::AccessFlags::W_OK).is_ok()
}

/// The daemon's command line: this binary, `mount --foreground --daemon`,
/// absolute paths and the options that matter to serving. No secret: a
/// password goes to its stdin, a key by the path of its file.
fn daemon_command(a: &MountArgs, o: &Opts, conf_path: &Path) -> Result<Command> {
    let abs = |p: &Path| p.canonicalize().unwrap_or_else(|_| p.to_path_buf());
    let mut cmd = Command::new(std::env::current_exe()?);
    // Already gone from this process's environment (secret::take_env_password);
    // said again here, where it matters.
    cmd.env_remove(crate::secret::ENV_PASSWORD);
    // Readiness is this process's to tell (notify_ready), not the daemon's.
    cmd.env_remove("NOTIFY_SOCKET");
    cmd.arg("mount")
        .arg(abs(&a.source))
        .arg(abs(&a.mountpoint))
        .arg("--conf")
        .arg(abs(conf_path))
        .args(["--foreground", "--daemon"])
        .arg("--threads")
        .arg(a.threads.to_string());
    let mut options = a.options.clone();
    if o.read_only == Some(true) {
        // Decided here (a legacy RSA volume is read-only); the daemon checks again.
        options.push("ro".into());
    }
    if !options.is_empty() {
        cmd.arg("-o").arg(options.join(","));
    }
    if a.trust.trust_unsigned_slot {
        cmd.arg("--trust-unsigned-slot");
    }
    if let Some(i) = a.idle {
        cmd.arg("--idle").arg(format!("{}s", i.as_secs()));
    }
    if a.debug {
        cmd.arg("--debug");
    }
    if let Some(s) = a.test_seed.seed {
        cmd.arg("--insecure-test-seed").arg(s.to_string());
    }
    if let Some(k) = &a.secret.key {
        cmd.arg("--key").arg(abs(k));
    }
    Ok(cmd)
}

/// The password the daemon reads on its stdin (none for a key).
fn daemon_password(a: &MountArgs, password: Option<Password>) -> Result<Option<Password>> {
    Ok(match (&a.secret.key, password) {
        (Some(_), _) => None,
        (None, Some(p)) => Some(p),
        (None, None) => {
            // Just created: open it the same way the user just did.
            match crate::secret::for_open(&a.secret)? {
                Secret::Password(p) => Some(p),
                _ => None,
            }
        }
    })
}

/// The password as the daemon reads it: one line.
fn password_line(p: &Password) -> Zeroizing<String> {
    let mut line = Zeroizing::new(String::with_capacity(p.expose().len() + 1));
    line.push_str(p.expose());
    line.push('\n');
    line
}

/// A foreground mount whose password came with FUSECRY_PASSWORD: the
/// variable is out of the environment, but this process's initial
/// environment block, which /proc/PID/environ shows for its whole life,
/// still holds it. So the process replaces itself (same pid, terminal and
/// signals) with the daemon command, under an environment without it, and
/// the password waits on a socket that becomes the daemon's stdin.
fn reexec_as_daemon(
    a: &MountArgs,
    o: &Opts,
    conf_path: &Path,
    password: Option<Password>,
) -> Result<()> {
    use std::os::unix::net::UnixStream;
    use std::os::unix::process::CommandExt;
    let mut cmd = daemon_command(a, o, conf_path)?;
    if notifying(a) {
        // The same process after the exec: it tells systemd itself.
        if let Some(s) = std::env::var_os("NOTIFY_SOCKET") {
            cmd.env("NOTIFY_SOCKET", s);
        }
        cmd.arg("--notify");
    }
    let (reader, mut writer) = UnixStream::pair()?;
    if let Some(p) = daemon_password(a, password)? {
        // Never blocks: nobody reads before the exec. A password larger
        // than the socket buffer (over 200 KiB) is refused instead.
        writer.set_nonblocking(true)?;
        writer
            .write_all(password_line(&p).as_bytes())
            .map_err(|e| {
                fail(
                    OTHER,
                    format!("cannot hand the password to the mount daemon: {e}"),
                )
            })?;
    }
    drop(writer);
    let e = cmd.stdin(std::os::fd::OwnedFd::from(reader)).exec();
    Err(fail(OTHER, format!("cannot start the mount daemon: {e}")))
}

/// Starts the daemon and waits for the mount to appear.
fn daemonize(
    a: &MountArgs,
    o: &Opts,
    conf_path: &Path,
    password: Option<Password>,
    codec: Codec,
) -> Result<()> {
    let log = a.log.clone().unwrap_or_else(|| default_log(&a.mountpoint));
    if let Some(d) = log.parent() {
        std::fs::create_dir_all(d)
            .map_err(|e| crate::exit::io(d, "cannot create log directory", e))?;
    }
    let mut cmd = daemon_command(a, o, conf_path)?;
    cmd.arg("--log").arg(&log);
    let pw = daemon_password(a, password)?;
    drop(codec);
    let logf = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log)
        .map_err(|e| crate::exit::io(&log, "cannot open log", e))?;
    use std::os::unix::process::CommandExt;
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(logf.try_clone()?)
        .stderr(logf)
        // Its own process group: a ^C in this terminal does not reach it.
        .process_group(0)
        .spawn()
        .context("starting the mount daemon")?;
    {
        let mut stdin = child.stdin.take().expect("piped");
        if let Some(p) = &pw {
            stdin.write_all(password_line(p).as_bytes())?;
        }
    }
    let start = Instant::now();
    loop {
        if is_mounted(&a.mountpoint) {
            notify_ready(a, Some(child.id()));
            eprintln!(
                "mounted {} at {} (log: {})",
                a.source.display(),
                a.mountpoint.display(),
                log.display()
            );
            return Ok(());
        }
        if let Some(status) = child.try_wait()? {
            let tail = std::fs::read_to_string(&log).unwrap_or_default();
            let last = tail.lines().last().unwrap_or("").to_string();
            return Err(fail(
                status.code().unwrap_or(OTHER),
                format!("mount failed: {last} (log: {})", log.display()),
            ));
        }
        if start.elapsed() > Duration::from_secs(60) {
            let _ = child.kill();
            return Err(fail(OTHER, "the mount did not appear within 60 s"));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn init_logging(a: &MountArgs) -> Result<()> {
    use tracing_subscriber::filter::{LevelFilter, Targets};
    use tracing_subscriber::prelude::*;
    let ours = if a.debug {
        LevelFilter::DEBUG
    } else {
        LevelFilter::INFO
    };
    // fuser's own debug lines can show request payloads: keep it at warn.
    let filter = Targets::new()
        .with_default(ours)
        .with_target("fuser", LevelFilter::WARN);
    let fmt = tracing_subscriber::fmt::layer()
        .with_ansi(false)
        .with_writer(std::io::stderr);
    let _ = tracing_subscriber::registry()
        .with(fmt)
        .with(filter)
        .try_init();
    Ok(())
}

fn lazy_unmount(mnt: &Path) {
    if nix::unistd::geteuid().is_root() {
        let _ = nix::mount::umount2(mnt, nix::mount::MntFlags::MNT_DETACH);
    } else {
        let _ = Command::new("fusermount3").arg("-uz").arg(mnt).status();
    }
}

/// The lock a daemon holds on its mount point for its whole life. fuser
/// unmounts the mount point by path when a session ends, so a daemon still
/// exiting could unmount a newer mount at the same place: a new daemon
/// waits for the old one's lock, and `umount` waits for it to be released.
fn mount_lock(mnt: &Path) -> Result<std::fs::File> {
    let dir = std::env::temp_dir().join(format!("fusecry-{}", nix::unistd::geteuid()));
    std::fs::create_dir_all(&dir)?;
    let canon = mnt.canonicalize()?;
    let name: String = canon
        .to_string_lossy()
        .trim_start_matches('/')
        .replace('/', "_");
    Ok(std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(dir.join(format!("{name}.lock")))?)
}

/// Takes the mount point's lock, waiting up to `limit`.
fn lock_mount_point(
    mnt: &Path,
    limit: Duration,
) -> Result<Option<nix::fcntl::Flock<std::fs::File>>> {
    use nix::fcntl::{Flock, FlockArg};
    let mut f = mount_lock(mnt)?;
    let start = Instant::now();
    loop {
        match Flock::lock(f, FlockArg::LockExclusiveNonblock) {
            Ok(l) => return Ok(Some(l)),
            Err((back, _)) if start.elapsed() < limit => {
                f = back;
                std::thread::sleep(Duration::from_millis(10));
            }
            Err(_) => return Ok(None),
        }
    }
}

/// Serves the mount in this process until it is unmounted.
fn serve(a: &MountArgs, o: &Opts, codec: Codec) -> Result<()> {
    init_logging(a)?;
    // Held until this process exits (after fuser's own unmount on drop).
    let _lock = lock_mount_point(&a.mountpoint, Duration::from_secs(30))?.ok_or_else(|| {
        fail(
            OTHER,
            format!(
                "{}: another fusecry daemon is still using this mount point",
                a.mountpoint.display()
            ),
        )
    })?;
    let read_only = o.read_only.unwrap_or(false);
    let fs_opts = FsOptions {
        read_only,
        // Shared: the kernel must not trust its own sizes and pages (close-to-open).
        writeback: o.writeback && !read_only && !o.shared,
        seed: a.test_seed.seed,
        acl: o.acl,
        noxattr: o.noxattr,
        shared: o.shared,
    };
    let fs = Arc::new(
        CryptFs::new(codec, &a.source, fs_opts.clone())
            .map_err(|e| fail(OTHER, format!("{}: {e}", a.source.display())))?,
    );
    let mopts = MountOptions {
        fs: fs_opts,
        allow_other: o.allow_other,
        default_permissions: o.default_permissions,
        threads: a.threads,
        fsname: a.source.canonicalize()?.to_string_lossy().into_owned(),
        flags: o.flags.clone(),
    };
    let mut session = fusecry_fuse::session(fs.clone(), &a.mountpoint, &mopts).map_err(|e| {
        fail(
            OTHER,
            format!("{}: cannot mount: {e}", a.mountpoint.display()),
        )
    })?;
    tracing::info!(
        "serving {} at {} ({} threads)",
        a.source.display(),
        a.mountpoint.display(),
        a.threads
    );
    // A background daemon does not notify: its parent does, once it sees
    // the mount. One exec'd in place of a -f mount is told to (--notify).
    if !a.daemon || a.notify {
        notify_ready(a, None);
    }
    let unmounter = Arc::new(Mutex::new(session.unmount_callable()));
    let mnt = a.mountpoint.canonicalize()?;
    {
        let unmounter = unmounter.clone();
        let mnt = mnt.clone();
        let mut signals = signal_hook::iterator::Signals::new([
            signal_hook::consts::SIGINT,
            signal_hook::consts::SIGTERM,
            signal_hook::consts::SIGHUP,
        ])?;
        std::thread::spawn(move || {
            if let Some(sig) = signals.forever().next() {
                tracing::info!("signal {sig}: unmounting");
                if let Err(e) = unmounter.lock().expect("unmounter").unmount() {
                    tracing::warn!("unmount failed ({e}); detaching lazily");
                    lazy_unmount(&mnt);
                }
            }
        });
    }
    if let Some(idle) = a.idle {
        let fs = fs.clone();
        let unmounter = unmounter.clone();
        std::thread::spawn(move || loop {
            std::thread::sleep(
                (idle / 4).clamp(Duration::from_millis(200), Duration::from_secs(5)),
            );
            let (secs, busy) = fs.idle_for();
            if !busy && secs >= idle.as_secs() {
                tracing::info!("idle for {secs} s: unmounting");
                if unmounter.lock().expect("unmounter").unmount().is_ok() {
                    return;
                }
            }
        });
    }
    session
        .run()
        .map_err(|e| fail(OTHER, format!("{}: {e}", a.mountpoint.display())))?;
    tracing::info!("{} unmounted", a.mountpoint.display());
    Ok(())
}

/// `fusecry umount MNT`.
pub fn umount(a: crate::cli::UmountArgs) -> Result<()> {
    if !is_mounted(&a.mountpoint) {
        return Err(fail(
            OTHER,
            format!("{}: not mounted", a.mountpoint.display()),
        ));
    }
    if nix::unistd::geteuid().is_root() {
        nix::mount::umount(&a.mountpoint).map_err(|e| {
            fail(
                OTHER,
                format!("{}: cannot unmount: {}", a.mountpoint.display(), e.desc()),
            )
        })?;
    } else {
        let ok = ["fusermount3", "fusermount"].iter().any(|bin| {
            Command::new(bin)
                .arg("-u")
                .arg(&a.mountpoint)
                .status()
                .map(|s| s.success())
                .unwrap_or(false)
        });
        if !ok {
            return Err(fail(
                OTHER,
                format!("{}: fusermount3 -u failed", a.mountpoint.display()),
            ));
        }
    }
    // Return once the daemon has exited: everything is flushed then, and a
    // new mount at the same place cannot be hit by its cleanup.
    let _ = lock_mount_point(&a.mountpoint, Duration::from_secs(10));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(list: &[&str]) -> Result<Opts> {
        parse_opts(&list.iter().map(|s| s.to_string()).collect::<Vec<_>>())
    }

    #[test]
    fn mount_options_map_to_their_settings() {
        let o = opts(&["ro", "allow_other", "acl", "shared", "nowriteback"]).unwrap();
        assert_eq!(o.read_only, Some(true));
        assert!(o.allow_other && o.acl && o.shared && !o.writeback);
        let o = opts(&["acl", "noacl", "ro", "rw", " "]).unwrap();
        assert!(!o.acl && !o.shared && o.writeback);
        assert_eq!(o.read_only, Some(false));
        let o = opts(&[
            "nofail",
            "_netdev",
            "x-systemd.automount",
            "noauto",
            "nosuid",
            "nodev",
            "relatime",
        ])
        .unwrap();
        assert_eq!(
            o.flags,
            [
                fusecry_fuse::MountOption::NoSuid,
                fusecry_fuse::MountOption::NoDev
            ]
        );
        let e = opts(&["sharde"]).err().unwrap().to_string();
        assert!(e.contains("-o sharde: unknown mount option"), "{e}");
    }
}
