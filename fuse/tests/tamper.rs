//! Tampering with a fusecry/1 volume under a live mount: the damaged reads
//! answer EIO, only those, and the log names the plaintext path and chunk.

mod common;

use common::logcap::{log, logged};
use common::{Kind, Mounted};
use std::fs::{self, OpenOptions};
use std::os::unix::fs::FileExt;

const CS: u64 = 4096;

/// A volume with `dir/victim` (4 chunks) and `dir/intact`; the mount is
/// remounted after the tampering so no cache hides it.
fn setup(tamper: impl FnOnce(&Mounted)) -> Mounted {
    let _ = log();
    let m = Mounted::new(Kind::V1 {
        cs: CS,
        names: true,
    });
    fs::create_dir(m.p("dir")).unwrap();
    let data: Vec<u8> = (0..4 * CS as usize).map(|i| (i % 251) as u8).collect();
    fs::write(m.p("dir/victim"), &data).unwrap();
    fs::write(m.p("dir/intact"), b"intact").unwrap();
    let mut o = fusecry_fuse::MountOptions::default();
    o.fs.writeback = false;
    let m = m.remount(o.clone());
    tamper(&m);
    m.remount(o)
}

fn chunk_reads(m: &Mounted) -> Vec<bool> {
    let f = fs::File::open(m.p("dir/victim")).unwrap();
    let mut buf = vec![0u8; CS as usize];
    (0..4)
        .map(|i| match f.read_at(&mut buf, i * CS) {
            Ok(n) => {
                assert_eq!(n, CS as usize);
                true
            }
            Err(e) => {
                assert_eq!(e.raw_os_error(), Some(libc::EIO));
                false
            }
        })
        .collect()
}

fn chunk_offset(i: u64) -> u64 {
    20 + i * (CS + 48)
}

#[test]
fn flipped_byte_fails_only_its_chunk() {
    let m = setup(|m| {
        let f = OpenOptions::new()
            .read(true)
            .write(true)
            .open(m.backing("dir/victim"))
            .unwrap();
        let off = chunk_offset(2) + 100;
        let mut b = [0u8; 1];
        f.read_exact_at(&mut b, off).unwrap();
        f.write_all_at(&[b[0] ^ 0x01], off).unwrap();
    });
    assert_eq!(chunk_reads(&m), [true, true, false, true]);
    assert!(fs::read(m.p("dir/victim")).is_err());
    assert_eq!(fs::read(m.p("dir/intact")).unwrap(), b"intact");
    assert!(logged().contains("/dir/victim: chunk 2"), "{}", logged());
}

#[test]
fn swapped_chunks_fail() {
    let m = setup(|m| {
        let p = m.backing("dir/victim");
        let mut d = fs::read(&p).unwrap();
        let (a, b) = (chunk_offset(0) as usize, chunk_offset(1) as usize);
        let frame = (CS + 48) as usize;
        let first = d[a..a + frame].to_vec();
        d.copy_within(b..b + frame, a);
        d[b..b + frame].copy_from_slice(&first);
        fs::write(&p, d).unwrap();
    });
    assert_eq!(chunk_reads(&m), [false, false, true, true]);
}

#[test]
fn truncated_backing_file_fails_reads_but_lists() {
    let m = setup(|m| {
        let p = m.backing("dir/victim");
        let f = OpenOptions::new().write(true).open(&p).unwrap();
        f.set_len(chunk_offset(2) + 10).unwrap();
    });
    // The size trailer is gone: the file is listed, every read is EIO, and
    // it cannot be written to (it would only bury the damage).
    assert!(fs::metadata(m.p("dir/victim")).is_ok());
    assert_eq!(
        fs::read(m.p("dir/victim")).unwrap_err().raw_os_error(),
        Some(libc::EIO)
    );
    // It cannot be opened for writing either (that would bury the damage)...
    assert_eq!(
        OpenOptions::new()
            .write(true)
            .open(m.p("dir/victim"))
            .unwrap_err()
            .raw_os_error(),
        Some(libc::EIO)
    );
    assert!(logged().contains("/dir/victim"));
    // ...nor replaced in place by open(O_TRUNC), which opens before it cuts...
    assert_eq!(
        fs::write(m.p("dir/victim"), b"new")
            .unwrap_err()
            .raw_os_error(),
        Some(libc::EIO)
    );
    // ...but truncate(2) to zero, which needs no open, starts it afresh.
    nix::unistd::truncate(&m.p("dir/victim"), 0).unwrap();
    assert_eq!(fs::read(m.p("dir/victim")).unwrap(), b"");
    fs::write(m.p("dir/victim"), b"new").unwrap();
    assert_eq!(fs::read(m.p("dir/victim")).unwrap(), b"new");
    assert_eq!(m.decrypt_backing("dir/victim"), b"new");
}

#[test]
fn edited_name_is_hidden_and_logged() {
    let m = setup(|m| {
        let p = m.backing("dir/intact");
        let name = p.file_name().unwrap().to_str().unwrap().to_string();
        let mut edited: Vec<u8> = name.into_bytes();
        edited[3] = if edited[3] == b'A' { b'B' } else { b'A' };
        fs::rename(&p, p.with_file_name(String::from_utf8(edited).unwrap())).unwrap();
    });
    let names: Vec<String> = fs::read_dir(m.p("dir"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(names, ["victim"]);
    assert!(logged().contains("/dir: hiding entry"), "{}", logged());
}

#[test]
fn moved_chunk_from_another_file_fails() {
    let m = setup(|m| {
        let victim = m.backing("dir/victim");
        let other_plain: Vec<u8> = vec![7u8; 4 * CS as usize];
        // Another file of the same volume, same size, its chunk 1 moved in.
        let mnt_other = m.p("dir/other");
        fs::write(&mnt_other, &other_plain).unwrap();
        let other = fs::read(m.backing("dir/other")).unwrap();
        let f = OpenOptions::new().write(true).open(victim).unwrap();
        let off = chunk_offset(1) as usize;
        f.write_all_at(&other[off..off + (CS + 48) as usize], off as u64)
            .unwrap();
    });
    assert_eq!(chunk_reads(&m), [true, false, true, true]);
}
