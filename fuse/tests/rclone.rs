//! The core mount tests with the ciphertext directory on an rclone mount
//! (`rclone serve webdav` of a local directory on 127.0.0.1, mounted back
//! with `rclone mount`; common/rclone.rs): the operations test, the seeded
//! model test and fsx, the same bodies as ops.rs, model.rs and tools.rs
//! (common/core.rs). rclone holds regular files and directories only: what
//! it lacks (symlinks, hard links, FIFOs, xattrs, RENAME_EXCHANGE, modes and
//! owners) is asserted to answer rclone's errno and leave nothing behind
//! (`Backing::Rclone`). `writes` runs everything, `minimal` and `full` the
//! operations and model tests, `off` is shown to fail cleanly; README
//! "Remote storage" says why. rclone is installed by ./test.sh; a missing
//! rclone fails, never skips. reference-cli/tests/rclone.rs creates a
//! volume there with the `fusecry` binary.

mod common;

use common::core::{files_and_content, fsx_run, run_model, tool, tree_ops};
use common::rclone::Rclone;
use common::{all_kinds, Backing, Kind, Mounted};
use std::fs::{self, OpenOptions};
use std::io::Write;
use std::time::Instant;

const V1: Kind = Kind::V1 {
    cs: 4096,
    names: true,
};

/// A new volume whose ciphertext is in the rclone mount.
fn volume(rc: &Rclone, kind: Kind) -> Mounted {
    Mounted::with_cipher_in(kind, Default::default(), Some(&rc.mnt))
}

/// `writes`, rclone's advice for applications that write: every profile
/// through the operations test.
#[test]
fn operations_with_cache_mode_writes() {
    let t = Instant::now();
    let rc = Rclone::start("writes");
    for kind in all_kinds() {
        files_and_content(&volume(&rc, kind), kind);
        tree_ops(&volume(&rc, kind), kind, Backing::Rclone);
    }
    println!("rclone writes: operations {:.1?}", t.elapsed());
}

/// The seeded model test (1000 operations) on a fusecry/1 and a legacy
/// volume.
#[test]
fn model_with_cache_mode_writes() {
    let t = Instant::now();
    let rc = Rclone::start("writes");
    let seed = common::outcome::seed("FUSECRY_MODEL_SEED");
    println!("rclone writes: model test seed {seed}");
    for kind in [
        V1,
        Kind::Legacy {
            cs: 4096,
            names: true,
        },
    ] {
        run_model(&volume(&rc, kind), kind, seed, 1000, Backing::Rclone);
    }
    println!("rclone writes: model {:.1?}", t.elapsed());
}

/// fsx at 4 KiB chunks: 3 runs of 3000 operations (locally: 10 runs of
/// 10,000 per chunk size).
#[test]
fn fsx_with_cache_mode_writes() {
    let t = Instant::now();
    let rc = Rclone::start("writes");
    fsx_run(&volume(&rc, V1), &tool("fsx"), 4096, 9000, 3);
    println!("rclone writes: fsx {:.1?}", t.elapsed());
}

/// `minimal` and `full` cache what fusecry needs too: it opens backing
/// files read-write, which `minimal` already caches.
#[test]
fn operations_and_model_with_cache_modes_minimal_and_full() {
    for mode in ["minimal", "full"] {
        let t = Instant::now();
        let rc = Rclone::start(mode);
        files_and_content(&volume(&rc, V1), V1);
        tree_ops(&volume(&rc, V1), V1, Backing::Rclone);
        let seed = common::outcome::seed("FUSECRY_MODEL_SEED");
        run_model(&volume(&rc, V1), V1, seed, 500, Backing::Rclone);
        println!("rclone {mode}: {:.1?} (model seed {seed})", t.elapsed());
    }
}

/// `off`: without its cache rclone cannot read and write one handle or
/// write out of order, which every chunk write needs, so writes fail
/// (cleanly, with an errno) and what was written cannot be read back.
#[test]
fn cache_mode_off_fails_cleanly() {
    let rc = Rclone::start("off");
    let m = volume(&rc, V1);
    let r = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .open(m.p("f"))
        .and_then(|mut f| {
            f.write_all(&[7u8; 10_000])?;
            f.sync_all()
        });
    let read = fs::read(m.p("f"));
    let log = rc.mount_log();
    // rclone: "can't seek in file without --vfs-cache-mode >= writes"
    // (ESPIPE at the flush) and "Can't read and write to file without
    // --vfs-cache-mode >= minimal" (EPERM). Under load the read sometimes
    // reaches what the failed write left first, whose header does not
    // verify (EIO). Never bytes.
    assert_eq!(
        r.map_err(|e| e.raw_os_error()),
        Err(Some(libc::ESPIPE)),
        "{log}"
    );
    let read = read.map_err(|e| e.raw_os_error());
    assert!(
        matches!(read, Err(Some(libc::EPERM | libc::EIO))),
        "{read:?}\n{log}"
    );
    assert!(log.contains("without --vfs-cache-mode"), "{log}");
}
