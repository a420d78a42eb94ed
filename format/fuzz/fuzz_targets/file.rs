//! Header, chunk, trailer, layout and stream decoders of both profiles.
//!
//! Input: `sel || payload`. `sel` bits 0..3 pick the chunk size (16..128),
//! bit 3 the profile of the build modes, bits 4..6 the mode:
//!
//! * modes 0, 1 (raw): `payload` is a stored file/stream under the fixed keys
//!   of both profiles. The in-order stream decoder (`stream::decrypt`),
//!   `stream::verify`, both again with blocks of 1–3 frames
//!   (`stream::decode_in_blocks`, so block boundaries are crossed), and the
//!   random-access reader (SPEC §7.5, through `decode_header`,
//!   `decode_trailer` and `decrypt_chunk`) must agree;
//!   single-chunk and trailer decoders run on the raw bytes; the layout
//!   arithmetic is checked on numbers taken from the payload.
//! * modes 2, 3 (build): `payload = nops || ops[nops * 5] || seed[8] || plain`.
//!   `plain` is encrypted (as a file in mode 2, as a stream in mode 3) with
//!   randomness from `seed`, must decode back, then `ops` edit the stored bytes
//!   (flip, cut, extend, swap, duplicate or drop chunks). The decoders must
//!   still agree, and in fusecry/1 any edit must be refused.
#![no_main]
use fusecry_format::stream::{self, Target};
use fusecry_format::{header, Codec, FileId, Profile};
use fusecry_format_fuzz::{legacy, read_file, v1, Cursor, DetRng};
use libfuzzer_sys::fuzz_target;

/// Both decodings succeed with the same bytes, or both fail.
fn same_outcome(
    what: &str,
    a: &fusecry_format::Result<Vec<u8>>,
    b: &fusecry_format::Result<Vec<u8>>,
) {
    match (a, b) {
        (Ok(x), Ok(y)) => assert!(x == y, "{what}: the plaintexts differ"),
        (Err(_), Err(_)) => {}
        _ => panic!(
            "{what}: {:?} against {:?}",
            a.as_ref().map(|x| x.len()),
            b.as_ref().map(|x| x.len())
        ),
    }
}

/// Decodes `stored` four ways and checks that they agree; returns the plaintext.
fn decode_all(codec: &Codec, stored: &[u8]) -> Option<Vec<u8>> {
    let s = stream::decrypt_to_vec(codec, stored);
    let v = stream::verify(codec, &mut &stored[..], &|_| {}).expect("a slice reader cannot fail");
    let r = read_file(codec, stored);
    let p = codec.profile();
    assert_eq!(
        s.is_ok(),
        v.is_clean(),
        "{p:?}: stream decrypt {:?} but verify {v:?}",
        s.as_ref().map(|x| x.len())
    );
    same_outcome(&format!("{p:?}: stream / random access"), &s, &r);
    if let Ok(a) = &s {
        assert_eq!(v.size, Some(a.len() as u64), "{p:?}: verify size");
    }
    // The same decoder with blocks of 1 to 3 frames, so that small inputs
    // cross block boundaries (the public functions use 4 MiB blocks).
    let frames = 1 + stored.len() % 3;
    let (sb, vb) = stream::decode_in_blocks(codec, stored, frames);
    same_outcome(&format!("{p:?}: 4 MiB / {frames}-frame blocks"), &s, &sb);
    assert_eq!(vb.is_clean(), v.is_clean(), "{p:?}: {frames}-frame verify");
    assert_eq!(
        vb.bad_chunks, v.bad_chunks,
        "{p:?}: {frames}-frame verify chunks"
    );
    s.ok()
}

/// The stored frames: `(start, end)` of each chunk between header and trailer.
fn frames(codec: &Codec, len: usize) -> Vec<(usize, usize)> {
    let l = codec.layout();
    let (hl, tl, fl) = (
        l.header_len as usize,
        l.trailer_len as usize,
        l.frame_len() as usize,
    );
    let end = len.saturating_sub(tl);
    let mut out = vec![];
    let mut at = hl;
    while at < end {
        out.push((at, (at + fl).min(end)));
        at += fl;
    }
    out
}

fn apply(codec: &Codec, m: &mut Vec<u8>, op: [u8; 5]) {
    let a = u16::from_le_bytes([op[1], op[2]]) as usize;
    let b = u16::from_le_bytes([op[3], op[4]]) as usize;
    let fr = frames(codec, m.len());
    match op[0] % 6 {
        0 if !m.is_empty() => {
            let i = a % m.len();
            m[i] ^= (b as u8) | 1;
        }
        1 => m.truncate(a % (m.len() + 1)),
        2 => m.extend(std::iter::repeat_n(a as u8, 1 + b % 64)),
        3 if !fr.is_empty() => {
            let (i, j) = (fr[a % fr.len()], fr[b % fr.len()]);
            let (x, y) = (m[i.0..i.1].to_vec(), m[j.0..j.1].to_vec());
            if i.0 < j.0 {
                m.splice(j.0..j.1, x);
                m.splice(i.0..i.1, y);
            } else if j.0 < i.0 {
                m.splice(i.0..i.1, y);
                m.splice(j.0..j.1, x);
            }
        }
        4 if !fr.is_empty() => {
            let (s, e) = fr[a % fr.len()];
            let x = m[s..e].to_vec();
            m.splice(s..s, x);
        }
        5 if !fr.is_empty() => {
            let (s, e) = fr[a % fr.len()];
            m.drain(s..e);
        }
        _ => {}
    }
}

fn raw(cs: u64, stored: &[u8]) {
    for codec in [&v1(cs, true), &legacy(cs, true)] {
        decode_all(codec, stored);
        let l = codec.layout();
        let id = FileId(
            stored
                .get(..16)
                .and_then(|x| x.try_into().ok())
                .unwrap_or([2; 16]),
        );
        for pl in [
            stored.len().saturating_sub(48),
            stored.len().saturating_sub(63),
            cs as usize,
        ] {
            let _ = codec.decrypt_chunk(&id, 3, stored, pl);
        }
        let tl = (l.trailer_len as usize).min(stored.len());
        let _ = codec.decode_trailer(&id, stored.len() as u64, &stored[stored.len() - tl..]);
        let _ = codec.decode_trailer(&id, stored.len() as u64, stored);
        let _ = codec.decode_header(stored);
        layout(codec, stored);
    }
    let _ = header::decode(stored);
}

/// SPEC §9: `stored_size(s) == stored` iff `s` is in `plain_size_range(stored)`.
fn layout(codec: &Codec, data: &[u8]) {
    let l = codec.layout();
    let mut c = Cursor(data);
    let stored = c.u64() >> 8; // up to 2^56: far past any real file, short of saturation
    let size = c.u64() >> 8;
    let legacy = codec.profile() == Profile::Legacy;
    match l.plain_size_range(l.stored_size(size)) {
        Some(r) if r.contains(&size) => {}
        r => panic!("plain_size_range(stored_size({size})) = {r:?}"),
    }
    if let Some(r) = l.plain_size_range(stored) {
        // Legacy quirk 12: 8 stored bytes are the empty stream, stored_size(0) = 0.
        if legacy && stored == 8 {
            assert_eq!(r, 0..=0);
        } else {
            for s in [*r.start(), *r.end()] {
                assert_eq!(l.stored_size(s), stored, "{r:?} holds {s}");
            }
            if *r.start() > 0 {
                assert_ne!(l.stored_size(r.start() - 1), stored, "{r:?} not maximal");
            }
            assert_ne!(l.stored_size(r.end() + 1), stored, "{r:?} not maximal");
        }
    } else {
        // No size fits: then neither do the sizes near its naive inverse.
        let body = stored.saturating_sub(l.header_len + l.trailer_len);
        let guess = body / l.frame_len() * l.chunk_size + body % l.frame_len();
        for s in guess.saturating_sub(64)..guess + 64 {
            assert_ne!(
                l.stored_size(s),
                stored,
                "plain_size_range({stored}) is None"
            );
        }
    }
    let (off, len) = (c.u64() >> 8, c.u64() >> 50); // split allocates a piece per chunk
    let mut pos = off;
    for (i, within, n) in l.split(off, len) {
        assert!(n > 0 && i * l.chunk_size + within == pos && within + n <= l.chunk_size);
        pos += n;
    }
    assert_eq!(pos, off + len);
}

fn build(codec: &Codec, target: Target, payload: &[u8]) {
    let mut c = Cursor(payload);
    let nops = c.u8() % 5;
    let ops: Vec<[u8; 5]> = (0..nops).map(|_| c.array()).collect();
    let mut rng = DetRng(c.u64());
    let plain = c.rest();
    let plain = &plain[..plain.len().min(4096)];
    let id = FileId::random(&mut rng);
    let stored = stream::encrypt_to_vec(codec, &id, plain, target, &mut rng);
    let l = codec.layout();
    let want_len = match (codec.profile(), target, plain.len()) {
        (Profile::Legacy, Target::Stream, 0) => 8,
        _ => l.stored_size(plain.len() as u64),
    };
    assert_eq!(stored.len() as u64, want_len, "stored length");
    assert_eq!(
        decode_all(codec, &stored).as_deref(),
        Some(plain),
        "round trip"
    );
    let mut m = stored.clone();
    for op in ops {
        apply(codec, &mut m, op);
    }
    let out = decode_all(codec, &m);
    if m == stored {
        assert_eq!(out.as_deref(), Some(plain));
    } else if codec.profile() == Profile::V1 {
        assert!(out.is_none(), "fusecry/1 accepted an edited file");
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&sel, payload)) = data.split_first() else {
        return;
    };
    let cs = 16 * (1 + (sel & 7) as u64);
    let codec = if sel & 8 == 0 {
        v1(cs, true)
    } else {
        legacy(cs, true)
    };
    match (sel >> 4) & 3 {
        0 | 1 => raw(cs, payload),
        2 => build(&codec, Target::File, payload),
        _ => build(&codec, Target::Stream, payload),
    }
});
