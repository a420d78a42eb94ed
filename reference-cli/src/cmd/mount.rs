//! `fusecry mount SRC MNT` and `fusecry umount MNT`.
//!
//! A background mount re-runs this binary as a daemon (`--foreground
//! --daemon`) with the password on its stdin, never in argv or the
//! environment, and waits until the mount appears or the daemon fails; the
//! daemon logs to a file. The parent opens the conf first, so a wrong
//! password or a missing key is reported on the terminal and never mounts.

use crate::cli::MountArgs;
use crate::confio;
use crate::exit::{fail, MISSING, OTHER};
use anyhow::{Context, Result};
use fusecry_format::name::{DirIv, CONF_NAME, DIRIV_NAME};
use fusecry_format::{Codec, Password, Secret};
use fusecry_fuse::{CryptFs, FsOptions, MountOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use zeroize::Zeroizing;

struct Opts {
    read_only: bool,
    allow_other: bool,
    default_permissions: bool,
    writeback: bool,
}

fn parse_opts(list: &[String]) -> Result<Opts> {
    let mut o = Opts {
        read_only: false,
        allow_other: false,
        default_permissions: false,
        writeback: true,
    };
    for item in list.iter().map(|s| s.trim()).filter(|s| !s.is_empty()) {
        match item {
            "ro" => o.read_only = true,
            "rw" => o.read_only = false,
            "allow_other" => o.allow_other = true,
            "default_permissions" => o.default_permissions = true,
            "writeback" => o.writeback = true,
            "nowriteback" => o.writeback = false,
            other => {
                return Err(fail(
                    crate::exit::USAGE,
                    format!("-o {other}: unknown mount option (ro, rw, allow_other, default_permissions, writeback, nowriteback)"),
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

pub fn run(a: MountArgs) -> Result<()> {
    let opts = parse_opts(&a.options)?;
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
        // First mount creates the volume, as 0.11 does.
        let (conf, codec) = confio::in_volume_dir(&a.source, || {
            confio::create(&conf_path, &a.source, &a.create, &a.secret)
        })?;
        if codec.uses_diriv() {
            std::fs::write(
                a.source.join(DIRIV_NAME),
                DirIv::random(&mut rand_core::OsRng).0,
            )?;
        }
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
        let codec = conf
            .open(&secret)
            .map_err(|e| crate::exit::at(&conf_path, e))?;
        let pw = match secret {
            Secret::Password(p) => Some(p),
            _ => None,
        };
        (codec, pw)
    };
    if a.foreground {
        return serve(&a, &opts, codec);
    }
    daemonize(&a, &conf_path, password, codec)
}

/// Starts the daemon and waits for the mount to appear.
fn daemonize(
    a: &MountArgs,
    conf_path: &Path,
    password: Option<Password>,
    codec: Codec,
) -> Result<()> {
    let log = a.log.clone().unwrap_or_else(|| default_log(&a.mountpoint));
    if let Some(d) = log.parent() {
        std::fs::create_dir_all(d)
            .map_err(|e| crate::exit::io(d, "cannot create log directory", e))?;
    }
    let abs = |p: &Path| p.canonicalize().unwrap_or_else(|_| p.to_path_buf());
    let mut cmd = Command::new(std::env::current_exe()?);
    cmd.arg("mount")
        .arg(abs(&a.source))
        .arg(abs(&a.mountpoint))
        .arg("--conf")
        .arg(abs(conf_path))
        .args(["--foreground", "--daemon"])
        .arg("--log")
        .arg(&log)
        .arg("--threads")
        .arg(a.threads.to_string());
    if !a.options.is_empty() {
        cmd.arg("-o").arg(a.options.join(","));
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
    let pw = match (&a.secret.key, password) {
        (Some(k), _) => {
            cmd.arg("--key").arg(abs(k));
            None
        }
        (None, Some(p)) => Some(p),
        (None, None) => {
            // Just created: open it the same way the user just did.
            match crate::secret::for_open(&a.secret)? {
                Secret::Password(p) => Some(p),
                _ => None,
            }
        }
    };
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
            let mut line = Zeroizing::new(p.expose().to_string());
            line.push('\n');
            stdin.write_all(line.as_bytes())?;
        }
    }
    let start = Instant::now();
    loop {
        if is_mounted(&a.mountpoint) {
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
    let fs_opts = FsOptions {
        read_only: o.read_only,
        writeback: o.writeback && !o.read_only,
        seed: a.test_seed.seed,
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
