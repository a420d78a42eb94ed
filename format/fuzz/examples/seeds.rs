//! Writes the seed corpora of the fuzz targets: valid inputs under the
//! targets' fixed keys, and the confs and names of the conformance vectors.
//!
//! `cargo run --release --example seeds [-- OUT]` in format/fuzz (OUT
//! defaults to `seeds`; one directory per target).
use fusecry_format::conf::{Conf, ConfV1, NewConf};
use fusecry_format::legacy::LegacyConf;
use fusecry_format::name::DirIv;
use fusecry_format::stream::{self, Target};
use fusecry_format::xattr::Owner;
use fusecry_format::{Argon2Params, FileId, MasterKey, Password, Secret};
use fusecry_format_fuzz::{legacy, v1, DetRng};
use std::path::{Path, PathBuf};

struct Out(PathBuf);

impl Out {
    fn put(&self, target: &str, name: &str, bytes: &[u8]) {
        let d = self.0.join(target);
        std::fs::create_dir_all(&d).unwrap();
        std::fs::write(d.join(name), bytes).unwrap();
    }
}

fn vectors() -> Vec<(String, serde_json::Value)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../conformance/vectors");
    let mut v: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .filter(|p| !p.ends_with("vector.schema.json"))
        .map(|p| {
            let j = serde_json::from_slice(&std::fs::read(&p).unwrap()).unwrap();
            (p.file_stem().unwrap().to_string_lossy().into_owned(), j)
        })
        .collect();
    v.sort_by(|a, b| a.0.cmp(&b.0));
    v
}

fn main() {
    let out = Out(std::env::args().nth(1).unwrap_or("seeds".into()).into());
    let vecs = vectors();
    let mut rng = DetRng(20261128);

    // conf: every conformance conf, plus confs cheap enough to open fully.
    for (name, v) in &vecs {
        if name.starts_with("conf_") {
            out.put("conf", name, v["conf"].as_str().unwrap().as_bytes());
        }
    }
    let pw = Password::new("fuzz");
    let argon2 = Argon2Params {
        m_cost_kib: 64,
        t_cost: 1,
        p_cost: 1,
    };
    let opts = NewConf {
        chunk_size: 64,
        encrypted_names: true,
        argon2,
    };
    let mut c = ConfV1::create_with_master(
        &MasterKey::from_bytes([9; 32]),
        &opts,
        &Secret::Password(pw.clone()),
        &mut rng,
    )
    .unwrap();
    out.put("conf", "v1_fuzz_password", &Conf::V1(c.clone()).to_bytes());
    let slot = serde_json::to_vec_pretty(&c.slots[0]).unwrap();
    out.put("conf", "slot_password", &slot);
    c.add_slot(
        &MasterKey::from_bytes([9; 32]),
        &Secret::Password(Password::new("conformance password")),
        argon2,
        &mut rng,
    )
    .unwrap();
    out.put("conf", "v1_two_slots", &Conf::V1(c).to_bytes());
    let (lc, _) =
        LegacyConf::create_password_with(&pw, 64, true, [5; 32], 100, [6; 16], &[7; 976]).unwrap();
    out.put(
        "conf",
        "legacy_fuzz_password_100_iters",
        &Conf::Legacy(lc).to_bytes(),
    );

    // file: raw stored files under the fixed keys, and build-mode inputs.
    for (ci, cs) in [(0u8, 16u64), (3, 64), (7, 128)] {
        for size in [0usize, 1, cs as usize, 2 * cs as usize + 5] {
            let plain: Vec<u8> = (0..size).map(|i| i as u8).collect();
            for (pi, codec) in [v1(cs, true), legacy(cs, true)].iter().enumerate() {
                let id = FileId::random(&mut rng);
                let t = if size == 0 {
                    Target::Stream
                } else {
                    Target::File
                };
                let stored = stream::encrypt_to_vec(codec, &id, &plain, t, &mut rng);
                let mut raw = vec![ci];
                raw.extend(&stored);
                out.put("file", &format!("raw_p{pi}_c{cs}_s{size}"), &raw);
                for (mode, ops) in [(2u8, vec![]), (3, vec![3u8, 1, 0, 0, 0])] {
                    let mut b = vec![ci | (pi as u8) << 3 | mode << 4];
                    b.push((ops.len() / 5) as u8);
                    b.extend(&ops);
                    b.extend(0x1234u64.to_le_bytes());
                    b.extend(&plain);
                    out.put("file", &format!("build{mode}_p{pi}_c{cs}_s{size}"), &b);
                }
            }
        }
    }

    // names: raw disk names (conformance and our own), and each mode.
    for (name, v) in &vecs {
        if name.starts_with("name_") {
            let mut b = vec![0u8];
            b.extend(v["disk_name"].as_str().unwrap().as_bytes());
            if let Some(s) = v["sidecar"].as_str() {
                b.push(b'\n');
                b.extend(s.as_bytes());
            }
            out.put("names", name, &b);
        }
    }
    let (v1c, lc) = (v1(4096, true), legacy(4096, true));
    let diriv = DirIv([3; 16]);
    let (x200, e127) = ("x".repeat(200), "é".repeat(127));
    let samples = ["a", "hello.txt", "ünïcödé ✓", x200.as_str(), e127.as_str()];
    for (i, n) in samples.iter().enumerate() {
        let (d, s) = v1c.encrypt_name(Some(&diriv), n, &mut rng).unwrap();
        let raw = match s {
            Some(s) => format!("{d}\n{s}"),
            None => d,
        };
        out.put(
            "names",
            &format!("raw_v1_{i}"),
            &[&[0u8][..], raw.as_bytes()].concat(),
        );
        if let Ok((d, _)) = lc.encrypt_name(None, n, &mut rng) {
            out.put(
                "names",
                &format!("raw_legacy_{i}"),
                &[&[0u8][..], d.as_bytes()].concat(),
            );
        }
        let t = v1c
            .encrypt_symlink(Some(&DirIv([3; 16])), "LINK", n.as_bytes(), &mut rng)
            .unwrap();
        out.put(
            "names",
            &format!("raw_symlink_{i}"),
            &[&[0u8][..], &t[..]].concat(),
        );
        let head = [0u8, 7, 0, 9];
        out.put(
            "names",
            &format!("v1_{i}"),
            &[&[1u8][..], &head, &[3; 16], n.as_bytes()].concat(),
        );
        out.put(
            "names",
            &format!("legacy_{i}"),
            &[&[2u8][..], &[1; 8], n.as_bytes()].concat(),
        );
        out.put(
            "names",
            &format!("symlink_{i}"),
            &[&[3u8][..], &head, &[1; 8], n.as_bytes()].concat(),
        );
    }

    // xattr
    let long = format!("user.{}", "y".repeat(132));
    for (i, n) in ["user.comment", "user.xdg.origin.url", long.as_str()]
        .iter()
        .enumerate()
    {
        let d = v1c.encrypt_xattr_name(n).unwrap();
        out.put(
            "xattr",
            &format!("raw_name_{i}"),
            &[&[0u8][..], d.as_bytes()].concat(),
        );
        let id = FileId([5; 16]);
        let val = v1c.encrypt_xattr_value(Owner::File(&id), "user.a", n.as_bytes(), &mut rng);
        out.put(
            "xattr",
            &format!("raw_value_{i}"),
            &[&[0u8][..], &val[..]].concat(),
        );
        out.put(
            "xattr",
            &format!("name_{i}"),
            &[&[1u8, 0, 5, 0, 3][..], n.as_bytes()].concat(),
        );
        out.put(
            "xattr",
            &format!("value_{i}"),
            &[&[2u8, 0, 5, 0, 3][..], &[1; 8], n.as_bytes()].concat(),
        );
    }
}
