//! Name, long-name sidecar and symlink decoders of both profiles.
//!
//! Input: `sel || payload`; `sel % 4` picks the mode:
//!
//! * 0 (raw): `payload` as an on-disk name (classify, fusecry/1 and legacy
//!   `decrypt_name`, with and without encrypted names), as a symlink target,
//!   as a `fusecry.diriv`, and, split at the first `\n`, as a hashed long
//!   name and its sidecar (`check_sidecar`, then decrypting the sidecar).
//! * 1 (fusecry/1 names): `payload = op || pos[2] || val || diriv[16] || name`:
//!   the name is encrypted and must decode back (long names through their
//!   sidecar), then the disk name or sidecar is edited by one base32
//!   character and must be refused.
//! * 2 (legacy names): `payload = iv[16] || name`: round trip (legacy names
//!   carry no MAC, so an edit only has to not panic).
//! * 3 (symlinks): `payload = op || pos[2] || val || nonce seed[8] || target`:
//!   round trip, then an edited target, or the target under another
//!   directory or name (SPEC §11 binding), must be refused.
#![no_main]
use fusecry_format::name::{
    check_sidecar, classify, long_disk_name, sidecar_name, DirIv, DiskName, NAME_MAX,
};
use fusecry_format::Codec;
use fusecry_format_fuzz::{edit_b32, legacy, v1, Cursor, DetRng};
use libfuzzer_sys::fuzz_target;

fn raw(codecs: &[Codec], payload: &[u8]) {
    let diriv = DirIv([3; 16]);
    for c in codecs {
        let _ = c.decrypt_symlink(Some(&diriv), "LINK", payload);
    }
    let _ = DirIv::from_bytes(payload);
    let Ok(s) = std::str::from_utf8(payload) else {
        return;
    };
    let _ = classify(s);
    for c in codecs {
        if let Ok(n) = c.decrypt_name(Some(&diriv), s) {
            // Whatever decodes is a name the mount can show.
            assert!(!n.is_empty() && n.len() <= NAME_MAX && !n.contains(['/', '\0']));
            assert!(n != "." && n != "..");
        }
        let _ = c.decrypt_name(None, s);
    }
    if let Some((disk, side)) = s.split_once('\n') {
        if check_sidecar(disk, side).is_ok() {
            assert!(side.len() > NAME_MAX && long_disk_name(side) == disk);
            assert_eq!(classify(disk), DiskName::Long(disk));
        }
        let _ = codecs[0].decrypt_name(Some(&diriv), side);
    }
}

fn v1_names(c: &Codec, payload: &[u8]) {
    let mut cur = Cursor(payload);
    let (op, pos, val) = (cur.u8(), cur.u16(), cur.u8());
    let diriv = DirIv(cur.array());
    let name = String::from_utf8_lossy(cur.rest());
    let mut rng = DetRng(0);
    let Ok((disk, side)) = c.encrypt_name(Some(&diriv), &name, &mut rng) else {
        return;
    };
    assert!(disk.len() <= NAME_MAX, "disk name of {} bytes", disk.len());
    // What a directory reader does: classify, fetch the sidecar, check it, decrypt.
    let encoded = match (classify(&disk), &side) {
        (DiskName::Short(d), None) => d.to_string(),
        (DiskName::Long(d), Some(s)) => {
            check_sidecar(d, s).expect("own sidecar");
            assert_eq!(classify(&sidecar_name(d)), DiskName::Reserved);
            s.clone()
        }
        other => panic!("{disk:?} classified as {other:?} with sidecar {side:?}"),
    };
    assert_eq!(c.decrypt_name(Some(&diriv), &encoded).unwrap(), name);
    let mut other = diriv;
    other.0[0] ^= 1;
    assert!(
        c.decrypt_name(Some(&other), &encoded).is_err(),
        "wrong dir IV accepted"
    );
    if let Some(e) = edit_b32(&encoded, op, pos, val) {
        if let Ok(n) = c.decrypt_name(Some(&diriv), &e) {
            panic!("edited {e:?} decoded to {n:?}");
        }
        if side.is_some() {
            assert!(check_sidecar(&disk, &e).is_err(), "edited sidecar accepted");
        }
    }
}

fn legacy_names(c: &Codec, payload: &[u8]) {
    let mut cur = Cursor(payload);
    let seed = cur.u64();
    let name = String::from_utf8_lossy(cur.rest());
    let Ok((disk, side)) = c.encrypt_name(None, &name, &mut DetRng(seed)) else {
        return;
    };
    assert!(side.is_none() && disk.len() <= NAME_MAX);
    assert_eq!(c.decrypt_name(None, &disk).unwrap(), name);
    for op in 0..4 {
        if let Some(e) = edit_b32(&disk, op, seed as u16, (seed >> 16) as u8) {
            let _ = c.decrypt_name(None, &e);
        }
    }
}

fn symlinks(c: &Codec, payload: &[u8]) {
    let mut cur = Cursor(payload);
    let (op, pos, val) = (cur.u8(), cur.u16(), cur.u8());
    let mut rng = DetRng(cur.u64());
    let target = cur.rest();
    let diriv = DirIv([3; 16]);
    let stored = c
        .encrypt_symlink(Some(&diriv), "LINK", target, &mut rng)
        .unwrap();
    assert_eq!(
        c.decrypt_symlink(Some(&diriv), "LINK", &stored).unwrap(),
        target
    );
    assert!(c.decrypt_symlink(Some(&diriv), "LINC", &stored).is_err());
    assert!(c
        .decrypt_symlink(Some(&DirIv([4; 16])), "LINK", &stored)
        .is_err());
    let Ok(s) = String::from_utf8(stored) else {
        panic!("encrypted symlink target is not text")
    };
    if let Some(e) = edit_b32(&s, op, pos, val) {
        if let Ok(t) = c.decrypt_symlink(Some(&diriv), "LINK", e.as_bytes()) {
            panic!("edited target {e:?} decoded to {t:?}");
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&sel, payload)) = data.split_first() else {
        return;
    };
    let codecs = [
        v1(4096, true),
        v1(4096, false),
        legacy(4096, true),
        legacy(4096, false),
    ];
    match sel % 4 {
        0 => raw(&codecs, payload),
        1 => v1_names(&codecs[0], payload),
        2 => legacy_names(&codecs[2], payload),
        _ => symlinks(&codecs[0], payload),
    }
});
