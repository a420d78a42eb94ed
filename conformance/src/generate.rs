//! The vector generator. Everything random comes from ChaCha20 streams
//! seeded from the run's seed and each vector's name, so a run with the same
//! seed writes identical files on every machine. Expected failure classes
//! are written here by hand from SPEC §7.5, §10–§13, and the generator
//! refuses to write a vector the reference library does not agree with.

use crate::{Area, Bytes, Loaded, Vector};
use anyhow::{bail, ensure, Result};
use fusecry_format::conf::ConfV1;
use fusecry_format::name::DirIv;
use fusecry_format::stream::{self, Target};
use fusecry_format::{Argon2Params, Codec, Conf, FileId, MasterKey, NewConf, Password, Secret};
use rand_chacha::ChaCha20Rng;
use rand_core::{RngCore, SeedableRng};
use sha2::{Digest, Sha256};
use std::path::Path;

/// Bytes up to this size are written inline as hex.
const INLINE_MAX: usize = 4096;
const PASSWORD: &str = "conformance password";
const V1: &str = "fusecry/1";
const LEGACY: &str = "legacy-0.11";
/// Cheap Argon2id parameters: vectors must open fast on any machine.
const ARGON2: Argon2Params = Argon2Params {
    m_cost_kib: 64,
    t_cost: 1,
    p_cost: 1,
};

/// A ChaCha20 stream for `name` under the run seed.
fn rng_for(seed: u64, name: &str) -> (u64, ChaCha20Rng) {
    let h = Sha256::digest(format!("{seed}/{name}").as_bytes());
    let s = u64::from_le_bytes(h[..8].try_into().expect("8"));
    (s, ChaCha20Rng::seed_from_u64(s))
}

struct Out<'a> {
    dir: &'a Path,
    count: usize,
}

impl Out<'_> {
    fn bytes(&self, name: &str, suffix: &str, b: &[u8]) -> Result<Bytes> {
        if b.len() <= INLINE_MAX {
            return Ok(Bytes::Hex {
                hex: hex::encode(b),
            });
        }
        let file = format!("{name}.{suffix}.bin");
        std::fs::write(self.dir.join(&file), b)?;
        Ok(Bytes::File {
            file,
            sha256: hex::encode(Sha256::digest(b)),
            len: b.len() as u64,
        })
    }

    /// Plaintext drawn first from the vector's seed: large ones are given by
    /// length and hash only.
    fn seeded(&self, name: &str, b: &[u8]) -> Result<Bytes> {
        if b.len() <= INLINE_MAX {
            return self.bytes(name, "plain", b);
        }
        Ok(Bytes::Seeded {
            chacha20_prefix: b.len() as u64,
            sha256: hex::encode(Sha256::digest(b)),
        })
    }

    /// Writes `v` after checking that the library reports what it expects.
    fn write(&mut self, name: &str, v: Vector) -> Result<()> {
        let json = serde_json::to_string_pretty(&v)? + "\n";
        std::fs::write(self.dir.join(format!("{name}.json")), json)?;
        let l = Loaded {
            name: name.to_string(),
            dir: self.dir.to_path_buf(),
            v,
        };
        let got = crate::play(&l)?;
        ensure!(
            got == l.v.expect,
            "{name}: the library reports {got}, the vector expects {}",
            l.v.expect
        );
        self.count += 1;
        Ok(())
    }
}

fn base(
    spec: &str,
    area: Area,
    profile: &str,
    expect: &str,
    comment: String,
    seed: u64,
    conf: &[u8],
) -> Vector {
    Vector {
        spec: spec.into(),
        area,
        profile: profile.into(),
        expect: expect.into(),
        comment,
        seed,
        conf: String::from_utf8(conf.to_vec()).expect("confs are JSON"),
        password: Some(PASSWORD.into()),
        key_pem: None,
        writer_seed: None,
        tree: None,
        entries: None,
        damaged: None,
        plaintext: None,
        stored: None,
        file_id: None,
        dir_iv: None,
        name: None,
        disk_name: None,
        sidecar: None,
        vouched: None,
        reproducible: true,
    }
}

/// A conf of `profile` with chunk size `cs`, made from its own seeded stream.
fn make_conf(seed: u64, profile: &str, cs: u64, names: bool) -> Result<(Vec<u8>, Codec)> {
    let (_, mut rng) = rng_for(seed, &format!("conf/{profile}/{cs}/{names}"));
    let pw = Password::new(PASSWORD);
    let (conf, codec) = if profile == V1 {
        Conf::create_v1(
            &NewConf {
                chunk_size: cs,
                encrypted_names: names,
                argon2: ARGON2,
            },
            &Secret::Password(pw),
            &mut rng,
        )?
    } else {
        Conf::create_legacy(&pw, cs, names, &mut rng)?
    };
    Ok((conf.to_bytes(), codec))
}

/// Writes every vector into `dir`; returns how many.
pub fn generate(dir: &Path, seed: u64) -> Result<usize> {
    std::fs::create_dir_all(dir)?;
    for e in std::fs::read_dir(dir)? {
        let p = e?.path();
        let n = p.file_name().unwrap().to_string_lossy().into_owned();
        if (n.ends_with(".json") && !n.ends_with(".schema.json")) || n.ends_with(".bin") {
            std::fs::remove_file(p)?;
        } else if n.ends_with(".tree") {
            std::fs::remove_dir_all(p)?;
        }
    }
    let mut out = Out { dir, count: 0 };
    files(&mut out, seed)?;
    tamper(&mut out, seed)?;
    streams(&mut out, seed)?;
    names(&mut out, seed)?;
    symlinks(&mut out, seed)?;
    confs(&mut out, seed)?;
    volumes(&mut out, seed)?;
    let schema = serde_json::to_string_pretty(&crate::schema())? + "\n";
    std::fs::write(dir.join("vector.schema.json"), schema)?;
    Ok(out.count)
}

fn tag(profile: &str) -> &'static str {
    if profile == V1 {
        "v1"
    } else {
        "legacy"
    }
}

/// Whole files at every chunk size, at the chunk boundaries.
fn files(out: &mut Out<'_>, seed: u64) -> Result<()> {
    for profile in [V1, LEGACY] {
        for cs in [16u64, 32, 64, 128, 512, 1024, 4096, 16384, 65536, 1 << 20] {
            let (conf, codec) = make_conf(seed, profile, cs, false)?;
            let sizes: Vec<u64> = if cs == 1 << 20 {
                vec![0, 1, cs + 1]
            } else {
                vec![0, 1, cs - 1, cs, cs + 1, 2 * cs - 1, 2 * cs + 1, 3 * cs]
            };
            for size in sizes {
                let name = format!("file_{}_c{cs}_s{size}", tag(profile));
                let (s, mut rng) = rng_for(seed, &name);
                let mut plain = vec![0u8; size as usize];
                rng.fill_bytes(&mut plain);
                let (ws, mut wrng) = rng_for(seed, &format!("{name}/writer"));
                let id = FileId::random(&mut wrng);
                let stored = stream::encrypt_to_vec(&codec, &id, &plain, Target::File, &mut wrng);
                let mut v = base(
                    if profile == V1 { "#layout" } else { "#legacy-file" },
                    Area::File,
                    profile,
                    "success",
                    format!("a {size}-byte file, chunk size {cs}: plaintext from the seed; file id, then one IV per chunk from the writer seed"),
                    s,
                    &conf,
                );
                v.writer_seed = Some(ws);
                v.plaintext = Some(out.seeded(&name, &plain)?);
                v.stored = Some(out.bytes(&name, "stored", &stored)?);
                v.file_id = (profile == V1).then(|| hex::encode(id.0));
                out.write(&name, v)?;
            }
        }
    }
    Ok(())
}

/// Edited files: every field of SPEC §7 and every chunk rearrangement.
fn tamper(out: &mut Out<'_>, seed: u64) -> Result<()> {
    let cs = 64u64;
    for profile in [V1, LEGACY] {
        let (conf, codec) = make_conf(seed, profile, cs, false)?;
        let l = *codec.layout();
        let (s, mut rng) = rng_for(seed, &format!("tamper/{profile}"));
        let size = 3 * cs + 10;
        let mut plain = vec![0u8; size as usize];
        rng.fill_bytes(&mut plain);
        let id = FileId::random(&mut rng);
        let good = stream::encrypt_to_vec(&codec, &id, &plain, Target::File, &mut rng);
        let other_id = FileId::random(&mut rng);
        let other = stream::encrypt_to_vec(&codec, &other_id, &plain, Target::File, &mut rng);
        let h = l.header_len as usize;
        let f = l.frame_len() as usize;
        let c = |i: usize| h + i * f;
        let n = good.len();
        let flip = |at: usize| {
            let mut b = good.clone();
            b[at] ^= 0x01;
            b
        };
        let swap = {
            let mut b = good.clone();
            b[c(0)..c(1)].copy_from_slice(&good[c(1)..c(2)]);
            b[c(1)..c(2)].copy_from_slice(&good[c(0)..c(1)]);
            b
        };
        let dup = {
            let mut b = good.clone();
            b[c(1)..c(2)].copy_from_slice(&good[c(0)..c(1)]);
            b
        };
        let drop1 = [&good[..c(1)], &good[c(2)..]].concat();
        let extra = [&good[..c(2)], &good[c(1)..c(2)], &good[c(2)..]].concat();
        let moved = {
            let mut b = good.clone();
            b[c(1)..c(2)].copy_from_slice(&other[c(1)..c(2)]);
            b
        };
        let legacy = profile == LEGACY;
        let integrity = |v1: &'static str, lg: &'static str| if legacy { lg } else { v1 };
        let mut cases: Vec<(&str, Vec<u8>, &str, &str)> = vec![
            ("chunk1_tag", flip(c(1) + 3), "ChunkTampered", "one bit of chunk 1's tag"),
            ("chunk1_iv", flip(c(1) + 32 + 5), "ChunkTampered", "one bit of chunk 1's IV"),
            ("chunk1_ciphertext", flip(c(1) + 48 + 7), "ChunkTampered", "one bit of chunk 1's ciphertext"),
            ("last_chunk_ciphertext", flip(c(3) + 48), "ChunkTampered", "one bit of the last (partial) chunk"),
            ("chunks_swapped", swap, integrity("ChunkTampered", "success"), "chunks 0 and 1 exchanged (undetectable in legacy 0.11: the swapped plaintext reads back)"),
            ("chunk_duplicated", dup, integrity("ChunkTampered", "success"), "chunk 0 copied over chunk 1 (undetectable in legacy 0.11)"),
            ("chunk_dropped", drop1, "Truncated", "chunk 1 removed: the stored length no longer matches the size"),
            ("chunk_extra", extra, "Truncated", "chunk 1 inserted twice"),
            ("chunk_from_other_file", moved, integrity("ChunkTampered", "success"), "chunk 1 replaced by chunk 1 of another file of the same volume (undetectable in legacy 0.11)"),
            ("cut_one_byte", good[..n - 1].to_vec(), integrity("BadTrailer", "Truncated"), "the last byte removed"),
            ("extended_one_byte", [&good[..], &[0u8][..]].concat(), integrity("BadTrailer", "Truncated"), "one byte appended"),
            ("trailer_size_edited", flip(n - l.trailer_len as usize + 1), integrity("BadTrailer", "Truncated"), "the size in the trailer changed by 256"),
        ];
        if !legacy {
            cases.extend([
                ("header_magic", flip(0), "BadHeader", "one bit of the magic"),
                (
                    "header_file_id",
                    flip(4),
                    "BadTrailer",
                    "one bit of the file id: the trailer tag (checked first) fails",
                ),
                (
                    "trailer_tag",
                    flip(n - 1),
                    "BadTrailer",
                    "one bit of the trailer tag",
                ),
                (
                    "empty",
                    Vec::new(),
                    "Truncated",
                    "a 0-byte stored file is not an empty file",
                ),
                (
                    "header_only",
                    good[..20].to_vec(),
                    "Truncated",
                    "header without chunks or trailer",
                ),
            ]);
            // Non-zero padding under a valid tag: the padding rule, not the MAC, catches it.
            let mut p16 = plain[3 * cs as usize..].to_vec();
            p16.resize(16, 0xaa);
            let mut iv = [0u8; 16];
            rng.fill_bytes(&mut iv);
            let last = codec.encrypt_chunk(&id, 3, &iv, &p16);
            let mut b = good.clone();
            b[c(3)..c(3) + last.len()].copy_from_slice(&last);
            cases.push((
                "padding_nonzero",
                b,
                "ChunkTampered",
                "the last chunk's padding is not zero (its tag is valid)",
            ));
        }
        for (cond, bytes, expect, comment) in cases {
            let name = format!("tamper_{}_{cond}", tag(profile));
            let mut v = base(
                if profile == V1 {
                    "#reading"
                } else {
                    "#legacy-file"
                },
                Area::File,
                profile,
                expect,
                comment.to_string(),
                s,
                &conf,
            );
            v.reproducible = false;
            v.plaintext = Some(out.bytes(&name, "plain", &plain)?);
            v.stored = Some(out.bytes(&name, "stored", &bytes)?);
            v.file_id = (!legacy).then(|| hex::encode(id.0));
            out.write(&name, v)?;
        }
    }
    Ok(())
}

fn streams(out: &mut Out<'_>, seed: u64) -> Result<()> {
    let cs = 64u64;
    for profile in [V1, LEGACY] {
        let (conf, codec) = make_conf(seed, profile, cs, false)?;
        for (cond, size) in [
            ("empty", 0u64),
            ("one_byte", 1),
            ("chunk_aligned", 2 * cs),
            ("long", 5 * cs + 3),
        ] {
            let name = format!("stream_{}_{cond}", tag(profile));
            let (s, mut rng) = rng_for(seed, &name);
            let mut plain = vec![0u8; size as usize];
            rng.fill_bytes(&mut plain);
            let (ws, mut wrng) = rng_for(seed, &format!("{name}/writer"));
            let id = FileId::random(&mut wrng);
            let stored = stream::encrypt_to_vec(&codec, &id, &plain, Target::Stream, &mut wrng);
            let mut v = base(
                if profile == V1 {
                    "#stream"
                } else {
                    "#legacy-stream"
                },
                Area::Stream,
                profile,
                "success",
                format!("a {size}-byte stream"),
                s,
                &conf,
            );
            v.writer_seed = Some(ws);
            v.plaintext = Some(out.bytes(&name, "plain", &plain)?);
            v.file_id = (profile == V1).then(|| hex::encode(id.0));
            v.stored = Some(out.bytes(&name, "stored", &stored)?);
            out.write(&name, v.clone())?;
            if size == 5 * cs + 3 {
                let n = stored.len();
                for (cond, bytes, expect) in [
                    (
                        "truncated_mid_chunk",
                        stored[..n / 2].to_vec(),
                        if profile == V1 {
                            "BadTrailer"
                        } else {
                            "Truncated"
                        },
                    ),
                    (
                        "truncated_at_chunk",
                        stored[..(l_off(&codec, 3) as usize)].to_vec(),
                        if profile == V1 {
                            "BadTrailer"
                        } else {
                            "Truncated"
                        },
                    ),
                    (
                        "extended",
                        [&stored[..], &stored[..16]].concat(),
                        if profile == V1 {
                            "BadTrailer"
                        } else {
                            "Truncated"
                        },
                    ),
                ] {
                    let name = format!("stream_{}_{cond}", tag(profile));
                    let mut t = v.clone();
                    t.expect = expect.into();
                    t.reproducible = false;
                    t.comment = format!("the {}-byte stream, {}", size, cond.replace('_', " "));
                    t.stored = Some(out.bytes(&name, "stored", &bytes)?);
                    t.plaintext = Some(out.bytes(&name, "plain", &plain)?);
                    out.write(&name, t)?;
                }
            }
        }
    }
    Ok(())
}

fn l_off(codec: &Codec, i: u64) -> u64 {
    codec.layout().chunk_offset(i)
}

fn names(out: &mut Out<'_>, seed: u64) -> Result<()> {
    let (conf, codec) = make_conf(seed, V1, 4096, true)?;
    let mut list: Vec<(String, String)> = Vec::new();
    for len in [
        1usize, 2, 3, 4, 5, 6, 7, 8, 9, 10, 15, 16, 17, 31, 32, 33, 64, 100, 127, 128, 143, 144,
        150, 175, 176, 200, 254, 255,
    ] {
        let n: String = (0..len).map(|i| (b'a' + (i % 26) as u8) as char).collect();
        list.push((format!("ascii_{len}"), n));
    }
    list.push(("unicode_short".into(), "日本語.txt".into()));
    list.push(("unicode_emoji".into(), "🦀 crab ✓".into()));
    list.push(("unicode_255".into(), format!("{}a", "é".repeat(127))));
    list.push(("dot_leading".into(), ".hidden".into()));
    list.push(("spaces".into(), "a name with spaces".into()));
    for (cond, plain) in &list {
        let name = format!("name_v1_{cond}");
        let (s, mut rng) = rng_for(seed, &name);
        let iv = DirIv::random(&mut rng);
        let (disk, sidecar) = codec.encrypt_name(Some(&iv), plain, &mut rng)?;
        let mut v = base(
            "#name",
            Area::Name,
            V1,
            "success",
            format!(
                "a {}-byte name{}",
                plain.len(),
                if sidecar.is_some() {
                    " (long: hashed, with a sidecar)"
                } else {
                    ""
                }
            ),
            s,
            &conf,
        );
        v.dir_iv = Some(hex::encode(iv.0));
        v.name = Some(plain.clone());
        v.disk_name = Some(disk.clone());
        v.sidecar = sidecar.clone();
        out.write(&name, v.clone())?;
        if cond == "ascii_10" || cond == "unicode_255" {
            // The same name under another directory IV, and an edited name.
            let mut w = v.clone();
            let mut other = iv.0;
            other[0] ^= 1;
            w.dir_iv = Some(hex::encode(other));
            w.expect = "BadName".into();
            w.reproducible = false;
            w.comment = "the on-disk name decrypted with another directory's IV".into();
            out.write(&format!("name_v1_{cond}_wrong_dir_iv"), w)?;
            let mut t = v.clone();
            let target = t.sidecar.clone().unwrap_or_else(|| disk.clone());
            let mut chars: Vec<char> = target.chars().collect();
            chars[2] = if chars[2] == 'A' { 'B' } else { 'A' };
            let edited: String = chars.into_iter().collect();
            if t.sidecar.is_some() {
                t.sidecar = Some(edited);
            } else {
                t.disk_name = Some(edited);
            }
            t.expect = "BadName".into();
            t.reproducible = false;
            t.comment = "one character of the encoded name changed".into();
            out.write(&format!("name_v1_{cond}_tampered"), t)?;
        }
    }
    // A sidecar holding a short encoding (one that fits in a name): refused,
    // or the entry would be listed under a name no lookup finds.
    {
        let name = "name_v1_long_sidecar_holds_short";
        let (s, mut rng) = rng_for(seed, name);
        let iv = DirIv::random(&mut rng);
        let (short, none) = codec.encrypt_name(Some(&iv), "short.txt", &mut rng)?;
        ensure!(none.is_none(), "a short name has no sidecar");
        let mut v = base(
            "#name",
            Area::Name,
            V1,
            "BadName",
            "a hashed long name whose sidecar holds the encoding of a short name (with the right hash)".into(),
            s,
            &conf,
        );
        v.dir_iv = Some(hex::encode(iv.0));
        v.name = Some("short.txt".into());
        v.disk_name = Some(fusecry_format::name::long_disk_name(&short));
        v.sidecar = Some(short);
        v.reproducible = false;
        out.write(name, v)?;
    }
    conflict_copies(out, seed, &conf, &codec)?;
    let (lconf, lcodec) = make_conf(seed, LEGACY, 4096, true)?;
    for (cond, plain) in list
        .iter()
        .filter(|(c, p)| p.len() <= 120 && !c.starts_with("unicode_255"))
    {
        let name = format!("name_legacy_{cond}");
        let (s, mut rng) = rng_for(seed, &name);
        let (disk, _) = lcodec.encrypt_name(None, plain, &mut rng)?;
        let mut v = base(
            "#legacy-names",
            Area::Name,
            LEGACY,
            "success",
            format!(
                "a {}-byte name, 0.11 style: 16 IV bytes drawn from the seed",
                plain.len()
            ),
            s,
            &lconf,
        );
        v.name = Some(plain.clone());
        v.disk_name = Some(disk);
        out.write(&name, v)?;
    }
    Ok(())
}

/// SPEC §10.1: on-disk names a sync tool gave its copy of an entry, the
/// plaintext name a reader shows, and markers a reader must refuse.
fn conflict_copies(out: &mut Out<'_>, seed: u64, conf: &[u8], codec: &Codec) -> Result<()> {
    let long = format!("{}.txt", "l".repeat(200));
    let cases: [(&str, &str, &str, &str); 9] = [
        (
            "syncthing",
            "report.odt",
            ".sync-conflict-20261204-101500-ABCDEFG",
            "success",
        ),
        (
            "dropbox",
            "report.odt",
            " (conflicted copy 2026-12-04)",
            "success",
        ),
        (
            "dropbox_device",
            "Makefile",
            " (Jane's laptop's conflicted copy 2026-12-04 (2))",
            "success",
        ),
        (
            "nextcloud",
            ".bashrc",
            " (conflicted copy 2026-12-04 101500)",
            "success",
        ),
        (
            "owncloud",
            "a.tar.gz",
            "_conflict-20261204-101500",
            "success",
        ),
        (
            "seafile",
            "report.odt",
            " (SFConflict jane@example.org 2026-12-04-10-15-00)",
            "success",
        ),
        (
            "copy_of_copy",
            "report.odt",
            ".sync-conflict-20261204-101500-ABCDEFG_conflict-20261205-090000",
            "success",
        ),
        (
            "long_syncthing",
            &long,
            ".sync-conflict-20261204-101500-ABCDEFG",
            "success",
        ),
        ("unknown_marker", "report.odt", ".conflict", "BadName"),
    ];
    for (cond, plain, marker, expect) in cases {
        let name = format!("name_v1_conflict_{cond}");
        let (s, mut rng) = rng_for(seed, &name);
        let iv = DirIv::random(&mut rng);
        let (disk, sidecar) = codec.encrypt_name(Some(&iv), plain, &mut rng)?;
        let disks = fusecry_format::conflict::disk_names(&disk, marker);
        let shown = fusecry_format::conflict::shown(plain, marker);
        for (i, d) in disks.iter().enumerate() {
            let mut v = base(
                "#conflict",
                Area::Name,
                V1,
                expect,
                match (expect, i) {
                    ("success", 0) => {
                        format!("a copy of {plain:?} with a sync tool's marker: shown as {shown:?}")
                    }
                    ("success", _) => {
                        format!("a copy of the long name {plain:?}, the marker after its hash")
                    }
                    _ => "an encoded name followed by text that is no sync tool's marker".into(),
                },
                s,
                conf,
            );
            v.dir_iv = Some(hex::encode(iv.0));
            v.name = Some(shown.clone());
            v.disk_name = Some(d.clone());
            v.sidecar = sidecar.clone();
            v.reproducible = false;
            let suffix = if i == 0 { "" } else { "_appended" };
            out.write(&format!("{name}{suffix}"), v)?;
        }
    }
    // The marker is the tool's; the base must still be an authentic name.
    let name = "name_v1_conflict_tampered_base";
    let (s, mut rng) = rng_for(seed, name);
    let iv = DirIv::random(&mut rng);
    let (disk, _) = codec.encrypt_name(Some(&iv), "report.odt", &mut rng)?;
    let mut chars: Vec<char> = disk.chars().collect();
    chars[2] = if chars[2] == 'A' { 'B' } else { 'A' };
    let edited: String = chars.into_iter().collect();
    let mut v = base(
        "#conflict",
        Area::Name,
        V1,
        "BadName",
        "a Syncthing copy of an encoded name with one character changed".into(),
        s,
        conf,
    );
    v.dir_iv = Some(hex::encode(iv.0));
    v.name = Some("report.sync-conflict-20261204-101500-ABCDEFG.odt".into());
    v.disk_name = Some(format!("{edited}.sync-conflict-20261204-101500-ABCDEFG"));
    v.reproducible = false;
    out.write(name, v)
}

/// A copy of symlink vector `v` that a reader must refuse (`BadSymlink`).
fn damaged(
    out: &mut Out<'_>,
    v: &Vector,
    cond: &str,
    comment: &str,
    edit: impl FnOnce(&mut Vector),
) -> Result<()> {
    let mut t = v.clone();
    edit(&mut t);
    t.expect = "BadSymlink".into();
    t.reproducible = false;
    t.comment = comment.into();
    out.write(&format!("symlink_v1_{cond}"), t)
}

/// Symlink targets (SPEC §11): each bound to a directory IV (from its own
/// stream, so that the nonce is the vector seed's first draw, as it is for a
/// mount making the link in an existing directory) and to the link's
/// encoded name; then the target moved to another name or directory,
/// edited, or bound to a long name's hashed form instead of its sidecar.
fn symlinks(out: &mut Out<'_>, seed: u64) -> Result<()> {
    let (conf, codec) = make_conf(seed, V1, 4096, true)?;
    let long_target = "x/".repeat(1000);
    let long_name = "l".repeat(200);
    for (cond, link, target) in [
        ("short", "link", "a"),
        ("relative", "link", "../dir/file.txt"),
        ("absolute", "link", "/etc/hostname"),
        ("unicode", "リンク", "目标/ファイル"),
        ("long_2000", "link", long_target.as_str()),
        ("long_name", long_name.as_str(), "../dir/file.txt"),
    ] {
        let name = format!("symlink_v1_{cond}");
        let (s, mut rng) = rng_for(seed, &name);
        let iv = DirIv::random(&mut rng_for(seed, &format!("{name}/dir")).1);
        let (disk, sidecar) = codec.encrypt_name(Some(&iv), link, &mut rng)?;
        let encoded = sidecar.clone().unwrap_or_else(|| disk.clone());
        let stored = codec.encrypt_symlink(Some(&iv), &encoded, target.as_bytes(), &mut rng)?;
        let mut v = base(
            "#symlink",
            Area::Symlink,
            V1,
            "success",
            format!(
                "a {}-byte target of a link with a {}-byte name{}: bound to the directory IV and the encoded name; a 16-byte nonce drawn from the seed",
                target.len(),
                link.len(),
                if sidecar.is_some() { " (long: bound to the sidecar's encoding)" } else { "" }
            ),
            s,
            &conf,
        );
        v.dir_iv = Some(hex::encode(iv.0));
        v.name = Some(link.to_string());
        v.disk_name = Some(disk.clone());
        v.sidecar = sidecar.clone();
        v.plaintext = Some(out.bytes(&name, "plain", target.as_bytes())?);
        v.stored = Some(out.bytes(&name, "stored", &stored)?);
        out.write(&name, v.clone())?;
        if cond == "relative" {
            let mut b = stored.clone();
            b[40] = if b[40] == b'A' { b'B' } else { b'A' };
            let b = out.bytes("symlink_v1_tampered", "stored", &b)?;
            damaged(
                out,
                &v,
                "tampered",
                "one character of the stored target changed",
                |t| t.stored = Some(b),
            )?;
            let (other, _) = codec.encrypt_name(Some(&iv), "other", &mut rng)?;
            damaged(
                out,
                &v,
                "moved_to_another_name",
                "the stored target of \"link\" found under the name \"other\" of the same directory (copied onto another symlink, or renamed behind the mount)",
                |t| {
                    t.name = Some("other".into());
                    t.disk_name = Some(other);
                },
            )?;
            let mut o = iv.0;
            o[0] ^= 1;
            let oiv = DirIv(o);
            let (there, _) = codec.encrypt_name(Some(&oiv), link, &mut rng)?;
            damaged(
                out,
                &v,
                "moved_to_another_directory",
                "the stored target of \"link\" found under the same name in another directory",
                |t| {
                    t.dir_iv = Some(hex::encode(oiv.0));
                    t.disk_name = Some(there);
                },
            )?;
        }
        if cond == "long_name" {
            let hashed = codec.encrypt_symlink(Some(&iv), &disk, target.as_bytes(), &mut rng)?;
            let b = out.bytes(
                "symlink_v1_long_name_bound_to_hashed_name",
                "stored",
                &hashed,
            )?;
            damaged(
                out,
                &v,
                "long_name_bound_to_hashed_name",
                "a long-named link whose target was bound to the hashed disk name instead of the full encoding in the sidecar",
                |t| t.stored = Some(b),
            )?;
        }
    }
    // Plain names: the target is stored as it is, bound to nothing.
    let (conf, codec) = make_conf(seed, V1, 4096, false)?;
    let name = "symlink_v1_plain_names";
    let (s, mut rng) = rng_for(seed, name);
    let target = "../dir/file.txt";
    let stored = codec.encrypt_symlink(None, "link", target.as_bytes(), &mut rng)?;
    ensure!(
        stored == target.as_bytes(),
        "plain names store targets as they are"
    );
    let mut v = base(
        "#symlink",
        Area::Symlink,
        V1,
        "success",
        "a target in a volume with plain names: stored as it is".into(),
        s,
        &conf,
    );
    v.name = Some("link".into());
    v.disk_name = Some("link".into());
    v.plaintext = Some(out.bytes(name, "plain", target.as_bytes())?);
    v.stored = Some(out.bytes(name, "stored", &stored)?);
    out.write(name, v)
}

/// The conf vectors that open but whose secret does not vouch for the conf
/// (SPEC §4.5); every other conf vector that opens does.
const UNVOUCHED: &[&str] = &[
    "conf_v1_rsa_unvouched",
    "conf_v1_rsa_signature_other_conf",
    "conf_legacy_rsa_valid",
];

fn vouched(name: &str, expect: &str) -> Option<bool> {
    (expect == "success").then(|| !UNVOUCHED.contains(&name))
}

fn confs(out: &mut Out<'_>, seed: u64) -> Result<()> {
    let (conf, _) = make_conf(seed, V1, 4096, true)?;
    let parsed: serde_json::Value = serde_json::from_slice(&conf)?;
    let mut add = |name: &str,
                   conf: &[u8],
                   pw: Option<&str>,
                   expect: &str,
                   comment: &str,
                   key: Option<String>|
     -> Result<()> {
        let spec = if name.starts_with("conf_v1_rsa") {
            "#vouch"
        } else {
            "#conf"
        };
        let mut v = base(spec, Area::Conf, V1, expect, comment.into(), seed, conf);
        v.password = pw.map(str::to_string);
        v.key_pem = key;
        v.vouched = vouched(name, expect);
        v.reproducible = false;
        out.write(name, v)
    };
    add(
        "conf_v1_valid",
        &conf,
        Some(PASSWORD),
        "success",
        "a fusecry/1 conf with one Argon2id password slot",
        None,
    )?;
    add(
        "conf_v1_wrong_password",
        &conf,
        Some("not the password"),
        "WrongKey",
        "the wrong password",
        None,
    )?;
    let edit = |f: &dyn Fn(&mut serde_json::Value)| -> Vec<u8> {
        let mut v = parsed.clone();
        f(&mut v);
        serde_json::to_vec_pretty(&v).expect("json")
    };
    add(
        "conf_v1_edited_chunk_size",
        &edit(&|v| v["chunk_size"] = 8192.into()),
        Some(PASSWORD),
        "ConfCorrupt",
        "chunk_size changed from 4096 to 8192: params_mac fails",
        None,
    )?;
    add(
        "conf_v1_edited_encrypted_names",
        &edit(&|v| v["encrypted_names"] = false.into()),
        Some(PASSWORD),
        "ConfCorrupt",
        "encrypted_names flipped: params_mac fails",
        None,
    )?;
    add(
        "conf_v1_edited_params_mac",
        &edit(&|v| v["params_mac"] = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=".into()),
        Some(PASSWORD),
        "ConfCorrupt",
        "params_mac replaced",
        None,
    )?;
    add(
        "conf_v1_unknown_version",
        &edit(&|v| v["format"] = "fusecry/2".into()),
        Some(PASSWORD),
        "UnsupportedVersion",
        "format fusecry/2",
        None,
    )?;
    add(
        "conf_v1_unknown_feature",
        &edit(&|v| v["features"] = serde_json::json!(["compression"])),
        Some(PASSWORD),
        "UnknownFeature",
        "a feature flag this version does not know",
        None,
    )?;
    add(
        "conf_v1_unknown_cipher",
        &edit(&|v| v["content_cipher"] = "AES-256-GCM".into()),
        Some(PASSWORD),
        "UnsupportedVersion",
        "a content cipher this version does not implement",
        None,
    )?;
    add(
        "conf_v1_invalid_chunk_size",
        &edit(&|v| v["chunk_size"] = 17.into()),
        Some(PASSWORD),
        "InvalidChunkSize",
        "chunk_size 17 is not a multiple of 16",
        None,
    )?;
    add(
        "conf_v1_not_json",
        b"{ this is not json",
        Some(PASSWORD),
        "ConfCorrupt",
        "not JSON at all",
        None,
    )?;
    // The unlock caps (SPEC §4, §4.1): refused before any derivation. A
    // reader without them would run the edited slot and report WrongKey.
    let slot_costing = |m: u32, t: u32| {
        edit(&|v| {
            v["slots"][0]["m_cost_kib"] = m.into();
            v["slots"][0]["t_cost"] = t.into();
        })
    };
    add(
        "conf_v1_argon2_memory_over_cap",
        &slot_costing(2 * 1024 * 1024, 1),
        Some(PASSWORD),
        "ConfCorrupt",
        "a password slot asking for 2 GiB of Argon2id memory: over the 1 GiB cap",
        None,
    )?;
    add(
        "conf_v1_argon2_cost_over_cap",
        &slot_costing(1024 * 1024, 5),
        Some(PASSWORD),
        "ConfCorrupt",
        "a password slot asking for 1 GiB × 5 passes: over the cap m_cost_kib × t_cost <= 4194304",
        None,
    )?;
    let slots_n = |n: usize| {
        edit(&|v| {
            let slot = v["slots"][0].clone();
            v["slots"] = serde_json::Value::Array(vec![slot; n]);
        })
    };
    add(
        "conf_v1_32_slots",
        &slots_n(32),
        Some(PASSWORD),
        "success",
        "32 copies of the password slot: the most a conf may hold",
        None,
    )?;
    add(
        "conf_v1_33_slots",
        &slots_n(33),
        Some(PASSWORD),
        "ConfCorrupt",
        "33 copies of the password slot: over the 32-slot cap, although the first would open",
        None,
    )?;
    // RSA slots: a 2048-bit key from the seeded stream. The conf made with
    // the private key at hand carries its slot's signature (SPEC §4.5).
    let (_, mut rng) = rng_for(seed, "conf/rsa");
    let key = crate::rsa_keys::generate(&mut rng, 2048)?;
    let pem_priv = crate::rsa_keys::private_pem(&key)?;
    let pem_pub = crate::rsa_keys::public_pem(&key)?;
    let rsa_opts = NewConf {
        chunk_size: 4096,
        encrypted_names: true,
        argon2: ARGON2,
    };
    let mut mk = [0u8; 32];
    rng.fill_bytes(&mut mk);
    let rsa_conf = ConfV1::create_with_master(
        &MasterKey::from_bytes(mk),
        &rsa_opts,
        &Secret::from_pem(&pem_priv)?,
        &mut rng,
    )?;
    let vouched_mac = rsa_conf.params_mac.clone();
    let rsa_bytes = Conf::V1(rsa_conf).to_bytes();
    add(
        "conf_v1_rsa_valid",
        &rsa_bytes,
        None,
        "success",
        "one RSA-OAEP-SHA256 slot signed by its key (RSASSA-PSS), opened with its private key: vouched for",
        Some(pem_priv.clone()),
    )?;
    // The same key, the conf made from the public key alone: no signature.
    let (_, mut rng) = rng_for(seed, "conf/rsa-unvouched");
    let mut mk = [0u8; 32];
    rng.fill_bytes(&mut mk);
    let mut unvouched = ConfV1::create_with_master(
        &MasterKey::from_bytes(mk),
        &rsa_opts,
        &Secret::from_pem(&pem_pub)?,
        &mut rng,
    )?;
    add(
        "conf_v1_rsa_unvouched",
        &Conf::V1(unvouched.clone()).to_bytes(),
        None,
        "success",
        "an RSA slot made from the public key alone (no signature): it opens for reading, but does not vouch for the conf",
        Some(pem_priv.clone()),
    )?;
    // A genuine signature by the slot's key, over another conf's params_mac.
    if let fusecry_format::KeySlot::Rsa {
        key_fingerprint,
        public_key,
        wrapped_key,
        signature,
    } = &mut unvouched.slots[0]
    {
        let m =
            fusecry_format::vouch::message(&vouched_mac, key_fingerprint, public_key, wrapped_key);
        *signature = Some(fusecry_format::vouch::sign(&key, &m, &mut rng)?);
    }
    add(
        "conf_v1_rsa_signature_other_conf",
        &Conf::V1(unvouched).to_bytes(),
        None,
        "success",
        "the RSA slot's signature is by its key but over the params_mac of conf_v1_rsa_valid: not vouched for",
        Some(pem_priv.clone()),
    )?;
    add(
        "conf_v1_rsa_public_only",
        &rsa_bytes,
        None,
        "PublicKeyOnly",
        "only the public key is given",
        Some(pem_pub),
    )?;
    let (_, mut rng2) = rng_for(seed, "conf/rsa-other");
    let other = crate::rsa_keys::generate(&mut rng2, 2048)?;
    add(
        "conf_v1_rsa_wrong_key",
        &rsa_bytes,
        None,
        "WrongKey",
        "another RSA private key",
        Some(crate::rsa_keys::private_pem(&other)?),
    )?;
    add(
        "conf_v1_rsa_with_password",
        &rsa_bytes,
        Some(PASSWORD),
        "WrongKey",
        "a password for a conf that has only an RSA slot",
        None,
    )?;
    let mut bad_fp: serde_json::Value = serde_json::from_slice(&rsa_bytes)?;
    let fp = bad_fp["slots"][0]["key_fingerprint"]
        .as_str()
        .expect("an rsa slot")
        .to_uppercase()
        .replace("SHA256:", "sha256:");
    bad_fp["slots"][0]["key_fingerprint"] = fp.into();
    add(
        "conf_v1_rsa_bad_fingerprint",
        &serde_json::to_vec_pretty(&bad_fp)?,
        None,
        "ConfCorrupt",
        "the slot's key fingerprint in upper-case hex: not the SPEC §5 form",
        Some(pem_priv.clone()),
    )?;
    let mut other_pk: ConfV1 = serde_json::from_slice(&rsa_bytes)?;
    if let fusecry_format::KeySlot::Rsa { public_key, .. } = &mut other_pk.slots[0] {
        *public_key = fusecry_format::slots::spki_der(&other.to_public_key())?;
    }
    add(
        "conf_v1_rsa_public_key_mismatch",
        &Conf::V1(other_pk).to_bytes(),
        None,
        "ConfCorrupt",
        "the slot's public_key is another key's: key_fingerprint is not its fingerprint",
        Some(pem_priv.clone()),
    )?;
    // Legacy RSA: the conf and key the original 0.11.2 wrote (the frozen
    // fixture; we never create legacy RSA volumes).
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/legacy-0.11-rsa");
    let rsa_conf = tar_member(&fixture.join("volume.tar"), "volume/fusecry.conf")?;
    let rsa_key = std::fs::read_to_string(fixture.join("key.pem"))?;
    let rsa_pub = match Secret::from_pem(&rsa_key)? {
        Secret::RsaPrivate(k) => crate::rsa_keys::public_pem(&k)?,
        _ => bail!("the fixture key is not a private key"),
    };
    let (lconf, _) = make_conf(seed, LEGACY, 4096, true)?;
    // Legacy confs: a password, or for the RSA conf a key (or a password).
    let mut ladd = |name: &str,
                    conf: &[u8],
                    pw: Option<&str>,
                    key: Option<String>,
                    expect: &str,
                    comment: &str|
     -> Result<()> {
        let mut v = base(
            "#legacy-conf",
            Area::Conf,
            LEGACY,
            expect,
            comment.into(),
            seed,
            conf,
        );
        v.password = pw.map(str::to_string);
        v.key_pem = key;
        v.vouched = vouched(name, expect);
        v.reproducible = false;
        out.write(name, v)
    };
    ladd(
        "conf_legacy_valid",
        &lconf,
        Some(PASSWORD),
        None,
        "success",
        "a 0.11 password conf (PBKDF2-HMAC-SHA1, sample check)",
    )?;
    ladd(
        "conf_legacy_wrong_password",
        &lconf,
        Some("not the password"),
        None,
        "WrongKey",
        "the wrong password: the sample check fails",
    )?;
    let mut lv: serde_json::Value = serde_json::from_slice(&lconf)?;
    lv["chunk_size"] = 17.into();
    ladd(
        "conf_legacy_invalid_chunk_size",
        &serde_json::to_vec(&lv)?,
        Some(PASSWORD),
        None,
        "InvalidChunkSize",
        "chunk_size 17",
    )?;
    ladd(
        "conf_legacy_not_json",
        b"[1, 2",
        Some(PASSWORD),
        None,
        "ConfCorrupt",
        "not JSON",
    )?;
    let mut lv: serde_json::Value = serde_json::from_slice(&lconf)?;
    lv["version"] = "0.12.0".into();
    ladd(
        "conf_legacy_unknown_version",
        &serde_json::to_vec(&lv)?,
        Some(PASSWORD),
        None,
        "UnsupportedVersion",
        "version 0.12.0: only 0.11.x is read",
    )?;
    let mut lv: serde_json::Value = serde_json::from_slice(&lconf)?;
    lv["kdf_iters"] = 10_000_001.into();
    ladd(
        "conf_legacy_kdf_iters_over_cap",
        &serde_json::to_vec(&lv)?,
        Some(PASSWORD),
        None,
        "ConfCorrupt",
        "kdf_iters 10000001: over the cap of 10000000 (0.11 writes 60000 to 80000)",
    )?;
    ladd(
        "conf_legacy_rsa_valid",
        &rsa_conf,
        None,
        Some(rsa_key.clone()),
        "success",
        "a 0.11 rsakey conf written by the original tool, opened with its private key (textbook RSA unwrap)",
    )?;
    ladd(
        "conf_legacy_rsa_public_only",
        &rsa_conf,
        None,
        Some(rsa_pub),
        "PublicKeyOnly",
        "the 0.11 rsakey conf with only the public key",
    )?;
    ladd(
        "conf_legacy_rsa_wrong_key",
        &rsa_conf,
        None,
        Some(crate::rsa_keys::private_pem(&other)?),
        "WrongKey",
        "the 0.11 rsakey conf with another RSA private key",
    )?;
    ladd(
        "conf_legacy_rsa_with_password",
        &rsa_conf,
        Some(PASSWORD),
        None,
        "WrongKey",
        "a password for a 0.11 rsakey conf",
    )?;
    if out.count == 0 {
        bail!("no vectors");
    }
    Ok(())
}

/// Whole volumes: a small tree with every entry type, for each profile with
/// and without encrypted names, and damaged copies.
fn volumes(out: &mut Out<'_>, seed: u64) -> Result<()> {
    use crate::volume::{self, Entry, Kind, Plain};
    use fusecry_format::name::{CONF_NAME, DIRIV_NAME};
    let cs = 64u64;
    for (profile, names) in [(V1, true), (V1, false), (LEGACY, true), (LEGACY, false)] {
        let name = format!(
            "volume_{}_{}",
            tag(profile),
            if names {
                "encrypted_names"
            } else {
                "plain_names"
            }
        );
        let (conf, codec) = make_conf(seed, profile, cs, names)?;
        let (s, mut rng) = rng_for(seed, &name);
        let (ws, mut wrng) = rng_for(seed, &format!("{name}/writer"));
        // The root's directory IV, then every file's content, from `seed`.
        let root_iv = DirIv::random(&mut rng);
        let mut content = |n: usize| {
            let mut b = vec![0u8; n];
            rng.fill_bytes(&mut b);
            b
        };
        // 0.11 had no long names: its encrypted names stay under 255 bytes.
        let long = if profile == V1 {
            "l".repeat(200)
        } else {
            "l".repeat(100)
        };
        // 3000 bytes: 5084 stored characters, more than a symlink holds.
        let long_target = "../far/".repeat(428) + "last";
        let mut plain = vec![
            Plain::Dir("docs"),
            Plain::File("docs/readme.txt", content(100)),
            Plain::Dir("docs/nested"),
            Plain::File("docs/nested/deep.bin", content(3 * cs as usize + 5)),
            Plain::File("empty", Vec::new()),
            Plain::File("one", content(1)),
            Plain::File("chunk", content(cs as usize)),
            Plain::File("日本語 ファイル.txt", content(20)),
            Plain::File(&long, content(7)),
            Plain::Symlink("link-relative", "docs/readme.txt"),
            Plain::Symlink("docs/link-absolute", "/etc/hostname"),
            Plain::Symlink("dangling", "nowhere/at/all"),
            // SPEC §11.2: encrypted, too long for a symlink: out of line.
            Plain::Symlink("docs/link-long", &long_target),
        ];
        if codec.uses_diriv() {
            // A git checkout keeps no empty directory, so only volumes whose
            // directories hold an IV file get one: elsewhere a fresh clone
            // would lack the directory its manifest lists.
            plain.insert(2, Plain::Dir("emptydir"));
        }
        let dir = out.dir.join(format!("{name}.tree"));
        std::fs::create_dir(&dir)?;
        std::fs::write(dir.join(CONF_NAME), &conf)?;
        if codec.uses_diriv() {
            std::fs::write(dir.join(DIRIV_NAME), root_iv.0)?;
        }
        let disks = volume::write_tree(&codec, &dir, &plain, &mut wrng)?;
        let mut entries = Vec::new();
        for (p, disk) in plain.iter().zip(disks) {
            entries.push(match p {
                Plain::Dir(path) => Entry {
                    path: path.to_string(),
                    disk_path: disk,
                    kind: Kind::Dir,
                    content: None,
                    target: None,
                },
                Plain::File(path, c) => Entry {
                    path: path.to_string(),
                    disk_path: disk,
                    kind: Kind::File,
                    content: Some(out.bytes(&name, "content", c)?),
                    target: None,
                },
                Plain::Symlink(path, t) => Entry {
                    path: path.to_string(),
                    disk_path: disk,
                    kind: Kind::Symlink,
                    content: None,
                    target: Some(t.to_string()),
                },
            });
        }
        let mut v = base(
            "#volume",
            Area::Volume,
            profile,
            "success",
            format!(
                "a volume with {} entries, {} names, chunk size {cs}: the root's directory IV and the file contents from the seed; the writer seed is drawn in manifest order (directory: name, directory IV; file: name, file id, IVs; symlink: name, nonce)",
                entries.len(),
                if names { "encrypted" } else { "plain" }
            ),
            s,
            &conf,
        );
        v.writer_seed = Some(ws);
        v.tree = Some(format!("{name}.tree"));
        v.entries = Some(entries.clone());
        out.write(&name, v.clone())?;
        if !names {
            continue;
        }
        // Damaged copies: one entry each, the rest must still read.
        let disk_of = |p: &str| {
            entries
                .iter()
                .find(|e| e.path == p)
                .map(|e| e.disk_path.clone())
                .expect("entry")
        };
        let mut damages: Vec<(&str, &str, String, &str)> = vec![
            (
                "chunk_tampered",
                "docs/nested/deep.bin",
                disk_of("docs/nested/deep.bin"),
                "ChunkTampered",
            ),
            (
                "file_truncated",
                "docs/readme.txt",
                disk_of("docs/readme.txt"),
                if profile == V1 {
                    "BadTrailer"
                } else {
                    "Truncated"
                },
            ),
        ];
        if profile == V1 {
            damages.push(("name_tampered", "one", disk_of("one"), "BadName"));
            damages.push(("sidecar_tampered", &long, disk_of(&long), "BadName"));
            damages.push((
                "symlink_tampered",
                "link-relative",
                disk_of("link-relative"),
                "BadSymlink",
            ));
            damages.push((
                "symlink_transplanted",
                "link-relative",
                disk_of("link-relative"),
                "BadSymlink",
            ));
        }
        for (cond, path, disk, expect) in damages {
            let tname = format!("{name}_{cond}");
            let tdir = out.dir.join(format!("{tname}.tree"));
            copy_tree(&dir, &tdir)?;
            let full = tdir.join(&disk);
            match cond {
                "chunk_tampered" => {
                    let mut b = std::fs::read(&full)?;
                    let at = codec.layout().chunk_offset(1) as usize + 40;
                    b[at] ^= 0x01;
                    std::fs::write(&full, b)?;
                }
                "file_truncated" => {
                    let b = std::fs::read(&full)?;
                    std::fs::write(&full, &b[..b.len() - 1])?;
                }
                "name_tampered" => {
                    let mut chars: Vec<char> = disk.chars().collect();
                    chars[3] = if chars[3] == 'A' { 'B' } else { 'A' };
                    let edited: String = chars.into_iter().collect();
                    std::fs::rename(&full, tdir.join(edited))?;
                }
                "sidecar_tampered" => {
                    let side = tdir.join(fusecry_format::name::sidecar_name(&disk));
                    let mut chars: Vec<char> = std::fs::read_to_string(&side)?.chars().collect();
                    chars[5] = if chars[5] == 'A' { 'B' } else { 'A' };
                    std::fs::write(&side, chars.into_iter().collect::<String>())?;
                }
                "symlink_tampered" => {
                    let t = std::fs::read_link(&full)?.to_string_lossy().into_owned();
                    let mut chars: Vec<char> = t.chars().collect();
                    chars[30] = if chars[30] == 'A' { 'B' } else { 'A' };
                    std::fs::remove_file(&full)?;
                    std::os::unix::fs::symlink(chars.into_iter().collect::<String>(), &full)?;
                }
                "symlink_transplanted" => {
                    // Another link's stored target (pointing elsewhere),
                    // copied over this one: SPEC §11 binds it to its name.
                    let other = std::fs::read_link(tdir.join(disk_of("dangling")))?;
                    std::fs::remove_file(&full)?;
                    std::os::unix::fs::symlink(other, &full)?;
                }
                _ => unreachable!(),
            }
            let mut t = v.clone();
            t.expect = expect.into();
            t.reproducible = false;
            t.damaged = Some(path.to_string());
            t.tree = Some(format!("{tname}.tree"));
            t.comment = format!(
                "the volume with {path} damaged ({}): that entry fails, every other entry reads",
                cond.replace('_', " ")
            );
            out.write(&tname, t)?;
        }
    }
    Ok(())
}

/// Copies a ciphertext tree (files, directories, symlinks).
fn copy_tree(from: &Path, to: &Path) -> Result<()> {
    std::fs::create_dir(to)?;
    for e in std::fs::read_dir(from)? {
        let e = e?;
        let (src, dst) = (e.path(), to.join(e.file_name()));
        let ft = e.file_type()?;
        if ft.is_dir() {
            copy_tree(&src, &dst)?;
        } else if ft.is_symlink() {
            std::os::unix::fs::symlink(std::fs::read_link(&src)?, &dst)?;
        } else {
            std::fs::copy(&src, &dst)?;
        }
    }
    Ok(())
}

/// One member of an uncompressed tar archive.
fn tar_member(archive: &Path, member: &str) -> Result<Vec<u8>> {
    use std::io::Read;
    let mut a = tar::Archive::new(std::fs::File::open(archive)?);
    for e in a.entries()? {
        let mut e = e?;
        if e.path()?.to_str() == Some(member) {
            let mut b = Vec::new();
            e.read_to_end(&mut b)?;
            return Ok(b);
        }
    }
    bail!("{}: no {member}", archive.display())
}
