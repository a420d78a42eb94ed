//! Shared by the mount tests: a real mount of a fresh volume in a temp dir,
//! unmounted by a drop guard even when the test panics.
#![allow(dead_code)]

pub mod core;
pub mod logcap;
pub mod outcome;
pub mod rclone;

use fusecry_format::name::{DirIv, CONF_NAME, DIRIV_NAME};
use fusecry_format::{Argon2Params, Codec, Conf, NewConf, Password, Secret};
use fusecry_fuse::{CryptFs, MountOptions};
use rand_chacha::rand_core::SeedableRng;
use std::path::{Path, PathBuf};
use std::sync::Arc;

pub const PASSWORD: &str = "mount test password";

/// Which kind of volume.
#[derive(Clone, Copy, Debug)]
pub enum Kind {
    V1 { cs: u64, names: bool },
    Legacy { cs: u64, names: bool },
}

pub fn all_kinds() -> Vec<Kind> {
    vec![
        Kind::V1 {
            cs: 4096,
            names: true,
        },
        Kind::V1 {
            cs: 16,
            names: false,
        },
        Kind::Legacy {
            cs: 4096,
            names: true,
        },
        Kind::Legacy {
            cs: 64,
            names: false,
        },
    ]
}

/// Creates a volume in `dir`; returns its codec.
pub fn create_volume(dir: &Path, kind: Kind) -> Codec {
    let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(7);
    let pw = Password::new(PASSWORD);
    let (conf, codec) = match kind {
        Kind::V1 { cs, names } => Conf::create_v1(
            &NewConf {
                chunk_size: cs,
                encrypted_names: names,
                argon2: Argon2Params {
                    m_cost_kib: 64,
                    t_cost: 1,
                    p_cost: 1,
                },
            },
            &Secret::Password(pw),
            &mut rng,
        )
        .unwrap(),
        Kind::Legacy { cs, names } => Conf::create_legacy(&pw, cs, names, &mut rng).unwrap(),
    };
    std::fs::write(dir.join(CONF_NAME), conf.to_bytes()).unwrap();
    if codec.uses_diriv() {
        std::fs::write(dir.join(DIRIV_NAME), DirIv::random(&mut rng).0).unwrap();
    }
    codec
}

/// What holds the ciphertext directory, and so what the mount can store.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backing {
    /// A local filesystem (tmpfs, ext4): everything.
    Local,
    /// An rclone mount of a WebDAV remote (`rclone.rs`): regular files and
    /// directories only. Modes and owners are rclone's fixed ones (chmod and
    /// chown succeed and change nothing), and RENAME_EXCHANGE is refused.
    Rclone,
}

impl Backing {
    /// What the mount answers for a symlink, hard link, FIFO or xattr the
    /// backing cannot store: `None` where it can. rclone 1.60 answers EIO
    /// for each, and the mount passes that on.
    pub fn lacks_special_files(self) -> Option<i32> {
        match self {
            Backing::Local => None,
            Backing::Rclone => Some(libc::EIO),
        }
    }
}

/// A mounted volume; unmounts on drop.
pub struct Mounted {
    pub tmp: tempfile::TempDir,
    pub cipher: PathBuf,
    pub mnt: PathBuf,
    pub codec: Codec,
    pub fs: Arc<CryptFs>,
    session: Option<fuser::BackgroundSession>,
}

impl Mounted {
    pub fn new(kind: Kind) -> Mounted {
        Self::with(kind, MountOptions::default())
    }

    /// Mounted with `allow_other`, for tests that act as other users.
    pub fn shared(kind: Kind) -> Mounted {
        Self::with(
            kind,
            MountOptions {
                allow_other: true,
                ..Default::default()
            },
        )
    }

    pub fn with(kind: Kind, opts: MountOptions) -> Mounted {
        Self::with_cipher_in(kind, opts, None)
    }

    /// A new volume whose ciphertext directory is a fresh directory in
    /// `parent` (an rclone mount, say), or in the temp dir when `None`. The
    /// mount point is always in the (local) temp dir.
    pub fn with_cipher_in(kind: Kind, opts: MountOptions, parent: Option<&Path>) -> Mounted {
        let tmp = tempfile::tempdir().unwrap();
        let cipher = match parent {
            None => tmp.path().join("cipher"),
            Some(p) => tempfile::Builder::new()
                .prefix("cipher")
                .tempdir_in(p)
                .unwrap()
                .keep(),
        };
        let mnt = tmp.path().join("mnt");
        std::fs::create_dir_all(&cipher).unwrap();
        std::fs::create_dir_all(&mnt).unwrap();
        let codec = create_volume(&cipher, kind);
        Self::mount_existing(tmp, cipher, mnt, codec, opts)
    }

    pub fn mount_existing(
        tmp: tempfile::TempDir,
        cipher: PathBuf,
        mnt: PathBuf,
        codec: Codec,
        opts: MountOptions,
    ) -> Mounted {
        let fs = Arc::new(CryptFs::new(codec.clone(), &cipher, opts.fs.clone()).unwrap());
        let session = fusecry_fuse::spawn(fs.clone(), &mnt, &opts).expect("mount");
        wait_mounted(&mnt);
        Mounted {
            tmp,
            cipher,
            mnt,
            codec,
            fs,
            session: Some(session),
        }
    }

    pub fn p(&self, rel: &str) -> PathBuf {
        self.mnt.join(rel)
    }

    /// Unmounts now (the drop guard then has nothing to do).
    pub fn unmount(&mut self) {
        if let Some(s) = self.session.take() {
            s.umount_and_join().unwrap();
        }
    }

    /// Unmounts, giving the daemon `limit` to finish. If it does not (a
    /// request stuck in the daemon, a process still using the mount), the
    /// mount is detached lazily so nothing stays mounted, the daemon's
    /// threads are left to end on their own, and the error says what
    /// happened. For tests where the daemon may hang: `unmount` would wait.
    pub fn unmount_within(&mut self, limit: std::time::Duration) -> Result<(), String> {
        let Some(s) = self.session.take() else {
            return Ok(());
        };
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let _ = tx.send(s.umount_and_join());
        });
        let err = match rx.recv_timeout(limit) {
            Ok(Ok(())) => return Ok(()),
            Ok(Err(e)) => format!("unmount failed: {e}"),
            Err(_) => format!("the daemon did not stop within {limit:?}"),
        };
        let _ = nix::mount::umount2(&self.mnt, nix::mount::MntFlags::MNT_DETACH);
        Err(err)
    }

    /// Unmounts and mounts the same volume again (cold caches).
    pub fn remount(mut self, opts: MountOptions) -> Mounted {
        self.unmount();
        let tmp = std::mem::replace(&mut self.tmp, tempfile::tempdir().unwrap());
        Self::mount_existing(
            tmp,
            self.cipher.clone(),
            self.mnt.clone(),
            self.codec.clone(),
            opts,
        )
    }

    /// The backing path of plaintext path `rel` (decoding names as the mount does).
    pub fn backing(&self, rel: &str) -> PathBuf {
        let mut dir = self.cipher.clone();
        for comp in Path::new(rel).iter() {
            let iv = self
                .codec
                .uses_diriv()
                .then(|| DirIv::from_bytes(&std::fs::read(dir.join(DIRIV_NAME)).unwrap()).unwrap());
            let want = comp.to_str().unwrap();
            let mut found = None;
            for e in std::fs::read_dir(&dir).unwrap() {
                let disk = e.unwrap().file_name().into_string().unwrap();
                if disk == CONF_NAME {
                    continue;
                }
                let read = |side: &str| std::fs::read(dir.join(side)).ok();
                let e = self.codec.decode_entry(iv.as_ref(), &disk, read);
                if e.ok().flatten().is_some_and(|e| e.name == want) {
                    found = Some(disk);
                }
            }
            dir = dir.join(found.unwrap_or_else(|| panic!("{rel}: {want} not in the ciphertext")));
        }
        dir
    }

    /// Decrypts the backing file of `rel` with the format crate (not the mount).
    pub fn decrypt_backing(&self, rel: &str) -> Vec<u8> {
        decrypt_file(&self.codec, &std::fs::read(self.backing(rel)).unwrap())
    }
}

impl Drop for Mounted {
    fn drop(&mut self) {
        if let Some(s) = self.session.take() {
            if s.umount_and_join().is_err() {
                let _ = nix::mount::umount2(&self.mnt, nix::mount::MntFlags::MNT_DETACH);
            }
        }
    }
}

/// Decrypts a whole stored file, verifying everything.
pub fn decrypt_file(codec: &Codec, stored: &[u8]) -> Vec<u8> {
    let l = *codec.layout();
    let id = codec
        .decode_header(&stored[..l.header_len as usize])
        .unwrap();
    let tl = (l.trailer_len as usize).min(stored.len());
    let size = codec
        .decode_trailer(&id, stored.len() as u64, &stored[stored.len() - tl..])
        .unwrap();
    let mut out = Vec::new();
    for i in 0..l.chunk_count(size) {
        let pl = l.chunk_plain_len(i, size);
        let off = l.chunk_offset(i) as usize;
        let sl = l.chunk_stored_len(pl) as usize;
        out.extend(
            codec
                .decrypt_chunk(&id, i, &stored[off..off + sl], pl as usize)
                .unwrap(),
        );
    }
    out
}

pub fn is_mounted(mnt: &Path) -> bool {
    let canon = mnt.canonicalize().unwrap();
    std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap()
        .lines()
        .any(|l| l.split(' ').nth(4) == Some(canon.to_str().unwrap()))
}

fn wait_mounted(mnt: &Path) {
    for _ in 0..500 {
        if is_mounted(mnt) {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    panic!("{} did not get mounted", mnt.display());
}
