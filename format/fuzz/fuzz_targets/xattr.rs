//! Extended-attribute name and value decoders (SPEC §11.1).
//!
//! Input: `sel || payload`; `sel % 3` picks the mode:
//!
//! * 0 (raw): `payload` as an on-disk xattr name and as a stored value, for
//!   fusecry/1 with and without encrypted names and legacy (pass-through).
//! * 1 (names): `payload = op || pos[2] || val || name`: an encrypted name
//!   must fit 255 bytes and decode back; a name edited by one base32
//!   character must be refused (or not be ours).
//! * 2 (values): `payload = op || pos[2] || val || seed[8] || value`: round
//!   trip, then a flipped, cut or extended value, or the value under another
//!   name or file (SPEC §11.1 binding), must be refused.
#![no_main]
use fusecry_format::xattr::{Owner, ACL_NAMES, DISK_PREFIX, NAME_MAX};
use fusecry_format::{Codec, FileId};
use fusecry_format_fuzz::{edit_b32, legacy, v1, Cursor, DetRng};
use libfuzzer_sys::fuzz_target;

fn raw(codecs: &[Codec], payload: &[u8]) {
    let id = FileId([5; 16]);
    for c in codecs {
        match c.decrypt_xattr_value(Owner::File(&id), "user.a", payload) {
            Ok(v) if !c.encrypts_xattrs() => assert_eq!(v, payload),
            _ => {}
        }
    }
    let Ok(s) = std::str::from_utf8(payload) else {
        return;
    };
    for c in codecs {
        match c.decrypt_xattr_name(s) {
            None => assert!(c.encrypts_xattrs() && !s.starts_with(DISK_PREFIX)),
            Some(Ok(n)) if !c.encrypts_xattrs() => assert_eq!(n, s),
            Some(_) => {}
        }
    }
}

fn names(c: &Codec, payload: &[u8]) {
    let mut cur = Cursor(payload);
    let (op, pos, val) = (cur.u8(), cur.u16(), cur.u8());
    let name = String::from_utf8_lossy(cur.rest());
    let Ok(disk) = c.encrypt_xattr_name(&name) else {
        assert!(
            !name.starts_with("user.") || name.len() > NAME_MAX,
            "refused {name:?}"
        );
        return;
    };
    assert!(
        disk.starts_with(DISK_PREFIX) && disk.len() <= 255,
        "{disk:?}"
    );
    // Stored only in the user namespace, or as one of the two POSIX ACLs.
    assert!(
        !c.encrypts_xattrs() || name.starts_with("user.") || ACL_NAMES.contains(&&*name),
        "accepted {name:?}"
    );
    assert_eq!(
        c.encrypt_xattr_name(&name).unwrap(),
        disk,
        "not deterministic"
    );
    assert_eq!(c.decrypt_xattr_name(&disk).unwrap().unwrap(), name);
    let enc = &disk[DISK_PREFIX.len()..];
    if let Some(e) = edit_b32(enc, op, pos, val) {
        if let Some(Ok(n)) = c.decrypt_xattr_name(&format!("{DISK_PREFIX}{e}")) {
            panic!("edited xattr name {e:?} decoded to {n:?}");
        }
    }
}

fn values(c: &Codec, payload: &[u8]) {
    let mut cur = Cursor(payload);
    let (op, pos, val) = (cur.u8(), cur.u16() as usize, cur.u8());
    let mut rng = DetRng(cur.u64());
    let value = cur.rest();
    let (id, other) = (FileId([5; 16]), FileId([6; 16]));
    let f = Owner::File(&id);
    let stored = c.encrypt_xattr_value(f, "user.a", value, &mut rng);
    assert_eq!(stored.len(), value.len() + 32);
    assert_eq!(c.decrypt_xattr_value(f, "user.a", &stored).unwrap(), value);
    assert!(c.decrypt_xattr_value(f, "user.b", &stored).is_err());
    assert!(c
        .decrypt_xattr_value(Owner::File(&other), "user.a", &stored)
        .is_err());
    let mut m = stored.clone();
    match op % 3 {
        0 => m[pos % stored.len()] ^= val | 1,
        1 => m.truncate(pos % stored.len()),
        _ => m.push(val),
    }
    assert!(
        c.decrypt_xattr_value(f, "user.a", &m).is_err(),
        "edited xattr value accepted"
    );
}

fuzz_target!(|data: &[u8]| {
    let Some((&sel, payload)) = data.split_first() else {
        return;
    };
    let codecs = [v1(4096, true), v1(4096, false), legacy(4096, true)];
    match sel % 3 {
        0 => raw(&codecs, payload),
        1 => names(&codecs[0], payload),
        _ => values(&codecs[0], payload),
    }
});
