//! The calls the tests make through the mount (each a closure that
//! `Attack` runs in its own thread under a timeout), and what each may
//! answer.

use std::fs::{self, OpenOptions};
use std::io::{self, Read, Write};
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStringExt;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

/// Owner given by the chown calls (the volume's entries belong to root).
const OWNER: u32 = 4242;
/// The time the utimes calls set.
const SET_TIME: i64 = 1_234_567_890;

/// What a call answered: its data (read, listing, link target) or its error.
pub type Res = io::Result<Vec<u8>>;
/// A call through the mount, run by `Attack` in its own thread.
pub type OpFn = Box<dyn FnOnce() -> Res + Send>;

/// Syscalls std and nix do not offer on a descriptor (`AT_EMPTY_PATH`),
/// and `statx` with `AT_STATX_FORCE_SYNC`, which makes the kernel ask the
/// daemon even while it caches the attributes.
pub mod sys {
    use std::ffi::CString;
    use std::io;
    use std::os::fd::RawFd;

    fn check(r: libc::c_int) -> io::Result<()> {
        if r < 0 {
            Err(io::Error::last_os_error())
        } else {
            Ok(())
        }
    }

    fn flags(name: &str) -> libc::c_int {
        let mut f = libc::AT_SYMLINK_NOFOLLOW;
        if name.is_empty() {
            f |= libc::AT_EMPTY_PATH;
        }
        f
    }

    /// `statx(fd, name)` without following a last symlink, forced to the
    /// daemon; `name` "" is `fd` itself. Returns the mode.
    pub fn stat_at(fd: RawFd, name: &str) -> io::Result<u32> {
        let c = CString::new(name).unwrap();
        // SAFETY: statx only writes into the zeroed buffer we own.
        let mut st: libc::statx = unsafe { std::mem::zeroed() };
        check(unsafe {
            libc::statx(
                fd,
                c.as_ptr(),
                flags(name) | libc::AT_STATX_FORCE_SYNC,
                libc::STATX_BASIC_STATS,
                &mut st,
            )
        })?;
        Ok(st.stx_mode as u32)
    }

    /// `readlinkat(fd, "")`: the target of the symlink `fd` holds.
    pub fn readlink_fd(fd: RawFd) -> io::Result<Vec<u8>> {
        let mut buf = vec![0u8; 8192];
        // SAFETY: the buffer is ours and its length is passed.
        let n = unsafe { libc::readlinkat(fd, c"".as_ptr(), buf.as_mut_ptr().cast(), buf.len()) };
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        buf.truncate(n as usize);
        Ok(buf)
    }

    /// SIGKILL to our own child `pid`, not yet reaped (its waiter is blocked).
    pub fn kill(pid: u32) {
        // SAFETY: a plain syscall; the pid is a child we spawned.
        unsafe { libc::kill(pid as libc::pid_t, libc::SIGKILL) };
    }

    /// `fchownat(fd, "", AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW)`.
    pub fn chown_fd(fd: RawFd, uid: u32, gid: u32) -> io::Result<()> {
        // SAFETY: plain syscall on a descriptor.
        check(unsafe { libc::fchownat(fd, c"".as_ptr(), uid, gid, flags("")) })
    }

    /// `utimensat(fd, "", AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW)`, both times `secs`.
    pub fn utimes_fd(fd: RawFd, secs: i64) -> io::Result<()> {
        let t = libc::timespec {
            tv_sec: secs,
            tv_nsec: 0,
        };
        let times = [t, t];
        // SAFETY: two timespecs, as utimensat expects.
        check(unsafe { libc::utimensat(fd, c"".as_ptr(), times.as_ptr(), flags("")) })
    }
}

pub fn boxed(f: impl FnOnce() -> Res + Send + 'static) -> OpFn {
    Box::new(f)
}

/// Opens with O_NONBLOCK: a planted FIFO that the mount shows as a FIFO
/// must not block the test's own open (the kernel opens those itself).
fn open_nb(p: &Path, write: bool) -> io::Result<fs::File> {
    OpenOptions::new()
        .read(!write)
        .write(write)
        .custom_flags(libc::O_NONBLOCK)
        .open(p)
}

pub fn read(p: PathBuf) -> OpFn {
    boxed(move || {
        let mut v = Vec::new();
        open_nb(&p, false)?.read_to_end(&mut v)?;
        Ok(v)
    })
}

pub fn write(p: PathBuf, data: &'static [u8]) -> OpFn {
    boxed(move || {
        let mut f = open_nb(&p, true)?;
        f.write_all(data)?;
        f.sync_all()?;
        Ok(Vec::new())
    })
}

pub fn create(p: PathBuf, data: &'static [u8]) -> OpFn {
    boxed(move || {
        let mut f = OpenOptions::new().write(true).create_new(true).open(&p)?;
        f.write_all(data)?;
        f.sync_all()?;
        Ok(Vec::new())
    })
}

/// `open(O_CREAT | O_TRUNC)`, as a shell's `>` does.
pub fn create_or_truncate(p: PathBuf, data: &'static [u8]) -> OpFn {
    boxed(move || {
        let mut f = fs::File::create(&p)?;
        f.write_all(data)?;
        f.sync_all()?;
        Ok(Vec::new())
    })
}

pub fn mkdir(p: PathBuf) -> OpFn {
    boxed(move || fs::create_dir(&p).map(|_| Vec::new()))
}

pub fn rename(from: PathBuf, to: PathBuf) -> OpFn {
    boxed(move || fs::rename(&from, &to).map(|_| Vec::new()))
}

pub fn unlink(p: PathBuf) -> OpFn {
    boxed(move || fs::remove_file(&p).map(|_| Vec::new()))
}

/// The names in directory `p`, sorted, one per line.
pub fn readdir(p: PathBuf) -> OpFn {
    boxed(move || {
        let mut names = Vec::new();
        for e in fs::read_dir(&p)? {
            names.push(e?.file_name().to_string_lossy().into_owned());
        }
        names.sort();
        Ok(names.join("\n").into_bytes())
    })
}

/// `lstat` by path: a lookup of each component the kernel does not know.
pub fn lookup(p: PathBuf) -> OpFn {
    boxed(move || fs::symlink_metadata(&p).map(|_| Vec::new()))
}

pub fn readlink(p: PathBuf) -> OpFn {
    boxed(move || fs::read_link(&p).map(|t| t.into_os_string().into_vec()))
}

pub fn chmod(p: PathBuf, mode: u32) -> OpFn {
    boxed(move || fs::set_permissions(&p, fs::Permissions::from_mode(mode)).map(|_| Vec::new()))
}

pub fn chown(p: PathBuf) -> OpFn {
    boxed(move || std::os::unix::fs::chown(&p, Some(OWNER), Some(OWNER)).map(|_| Vec::new()))
}

pub fn utimes(p: PathBuf) -> OpFn {
    boxed(move || {
        let t = nix::sys::time::TimeSpec::new(SET_TIME, 0);
        nix::sys::stat::utimensat(
            None,
            &p,
            &t,
            &t,
            nix::sys::stat::UtimensatFlags::FollowSymlink,
        )?;
        Ok(Vec::new())
    })
}

pub fn truncate(p: PathBuf) -> OpFn {
    boxed(move || {
        nix::unistd::truncate(&p, 1)?;
        Ok(Vec::new())
    })
}

pub fn getxattr(p: PathBuf) -> OpFn {
    boxed(move || xattr::get_deref(&p, "user.t").map(|v| v.unwrap_or_default()))
}

pub fn setxattr(p: PathBuf) -> OpFn {
    boxed(move || xattr::set_deref(&p, "user.hostile", b"planted").map(|_| Vec::new()))
}

pub fn listxattr(p: PathBuf) -> OpFn {
    boxed(move || {
        let names: Vec<String> = xattr::list_deref(&p)?
            .map(|n| n.to_string_lossy().into_owned())
            .collect();
        Ok(names.join("\n").into_bytes())
    })
}

pub fn stat_fd(fd: RawFd, name: &'static str) -> OpFn {
    boxed(move || sys::stat_at(fd, name).map(|_| Vec::new()))
}

pub fn readlink_fd(fd: RawFd) -> OpFn {
    boxed(move || sys::readlink_fd(fd))
}

pub fn chown_fd(fd: RawFd) -> OpFn {
    boxed(move || sys::chown_fd(fd, OWNER, OWNER).map(|_| Vec::new()))
}

pub fn utimes_fd(fd: RawFd) -> OpFn {
    boxed(move || sys::utimes_fd(fd, SET_TIME).map(|_| Vec::new()))
}

/// The path that reaches the inode `fd` holds without looking its name up.
pub fn via(fd: &OwnedFd) -> PathBuf {
    PathBuf::from(format!("/proc/self/fd/{}", fd.as_raw_fd()))
}

/// An `O_PATH` descriptor on `p` (not following a last symlink): the
/// entry as the kernel knows it now, kept across the swap.
pub fn pin(p: &Path) -> OwnedFd {
    OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_PATH | libc::O_NOFOLLOW)
        .open(p)
        .unwrap_or_else(|e| panic!("pin {}: {e}", p.display()))
        .into()
}

/// A shell whose working directory is `cwd` from now on (as a user's shell
/// sitting in a directory of the mount), running `script` once it reads a
/// line. It has started when this returns: a shell looks at its working
/// directory as it starts, and that must happen before the attack.
pub fn shell(cwd: &Path, script: &str) -> Child {
    let mut c = Command::new("sh")
        .arg("-c")
        .arg(format!("echo ready && read go && {{ {script} ; }}"))
        .current_dir(cwd)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut ready = [0u8; 6];
    c.stdout.as_mut().unwrap().read_exact(&mut ready).unwrap();
    assert_eq!(&ready, b"ready\n");
    c
}

/// Lets a [`shell`] go; its failure comes back as the errno its message names.
pub fn shell_go(mut child: Child) -> OpFn {
    boxed(move || {
        child.stdin.take().unwrap().write_all(b"go\n")?;
        let out = child.wait_with_output()?;
        if out.status.success() {
            return Ok(out.stdout);
        }
        let err = String::from_utf8_lossy(&out.stderr).into_owned();
        for (msg, errno) in [
            ("Input/output error", libc::EIO),
            ("No such file or directory", libc::ENOENT),
            ("Not a directory", libc::ENOTDIR),
            ("Too many levels of symbolic links", libc::ELOOP),
            ("File exists", libc::EEXIST),
        ] {
            if err.contains(msg) {
                return Err(io::Error::from_raw_os_error(errno));
            }
        }
        Err(io::Error::other(format!("shell failed: {}", err.trim())))
    })
}

// ---- what a call should answer ----

/// A verdict on an answer: `Err` says what is wrong with it.
pub type Judge = Box<dyn Fn(&Res) -> Result<(), String>>;

pub enum Expect {
    /// EIO: the entry is wrong.
    Eio,
    /// Success.
    Ok,
    /// Success with exactly these bytes.
    Data(Vec<u8>),
    /// This errno.
    Errno(i32),
    /// Success or one of these errnos.
    OkOr(Vec<i32>),
    /// Anything, as long as it answers (no hang) and touches nothing outside.
    Any,
    /// A listing (see [`readdir`]) with these names and without those.
    Names(Vec<String>, Vec<String>),
    /// Decided by the closure.
    Custom(Judge),
}

pub fn names(has: &[&str], lacks: &[&str]) -> Expect {
    let v = |s: &[&str]| s.iter().map(|s| s.to_string()).collect();
    Expect::Names(v(has), v(lacks))
}

pub fn show(r: &Res) -> String {
    match r {
        Ok(v) if v.is_empty() => "Ok".into(),
        Ok(v) => format!("Ok {:?}", String::from_utf8_lossy(v)),
        Err(e) => match e.raw_os_error() {
            Some(n) => format!("{:?} ({e})", nix::errno::Errno::from_raw(n)),
            None => e.to_string(),
        },
    }
}

/// `None` if `r` is what `expect` allows, else why not.
pub fn verdict(expect: &Expect, r: &Res) -> Option<String> {
    let errno = |n: i32| matches!(r, Err(e) if e.raw_os_error() == Some(n));
    let ok = match expect {
        Expect::Eio => errno(libc::EIO),
        Expect::Ok => r.is_ok(),
        Expect::Data(d) => matches!(r, Ok(v) if v == d),
        Expect::Errno(n) => errno(*n),
        Expect::OkOr(ns) => r.is_ok() || ns.iter().any(|n| errno(*n)),
        Expect::Any => true,
        Expect::Names(has, lacks) => match r {
            Ok(v) => {
                let s = String::from_utf8_lossy(v);
                let got: Vec<&str> = s.split('\n').collect();
                has.iter().all(|n| got.contains(&n.as_str()))
                    && !lacks.iter().any(|n| got.contains(&n.as_str()))
            }
            Err(_) => false,
        },
        Expect::Custom(f) => return f(r).err().map(|why| format!("{why}: {}", show(r))),
    };
    if ok {
        return None;
    }
    let want = match expect {
        Expect::Eio => "EIO".to_string(),
        Expect::Ok => "success".into(),
        Expect::Data(d) => format!("{:?}", String::from_utf8_lossy(d)),
        Expect::Errno(n) => format!("{:?}", nix::errno::Errno::from_raw(*n)),
        Expect::OkOr(ns) => format!(
            "success or {:?}",
            ns.iter()
                .map(|n| nix::errno::Errno::from_raw(*n))
                .collect::<Vec<_>>()
        ),
        Expect::Names(has, lacks) => format!("a listing with {has:?} and without {lacks:?}"),
        Expect::Any | Expect::Custom(_) => unreachable!(),
    };
    Some(format!("answered {}, expected {want}", show(r)))
}
