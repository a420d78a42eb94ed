//! Two mounts of one ciphertext directory with `-o shared` (two machines
//! on one sync folder, simulated on one): a seeded workload alternates
//! between them and is compared with a model. Close-to-open: a file
//! written and closed on one side reads back exactly on the other when
//! opened after that; names made or removed on one side show on the other
//! once the kernel's 1 s entry cache has passed. Replay with
//! FUSECRY_SHARED_SEED=N.

mod common;

use common::{Kind, Mounted};
use fusecry_fuse::MountOptions;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::collections::BTreeMap;
use std::fs;
use std::path::Path;
use std::time::Duration;

/// Past the entry and attribute cache of a shared mount (1 s).
const PAST_CACHE: Duration = Duration::from_millis(1100);

fn shared() -> MountOptions {
    let mut o = MountOptions::default();
    o.fs.shared = true;
    o
}

/// The names in `dir` (a mount's view), sorted.
fn listing(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    v.sort();
    v
}

#[test]
fn two_shared_mounts_see_each_others_changes() {
    let seed = common::outcome::seed("FUSECRY_SHARED_SEED");
    println!("shared mounts seed {seed}");
    let a = Mounted::with(
        Kind::V1 {
            cs: 4096,
            names: true,
        },
        shared(),
    );
    let btmp = tempfile::tempdir().unwrap();
    let bmnt = btmp.path().join("mnt");
    fs::create_dir(&bmnt).unwrap();
    let b = Mounted::mount_existing(btmp, a.cipher.clone(), bmnt, a.codec.clone(), shared());
    let mnts = [a.mnt.clone(), b.mnt.clone()];
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    // name -> content; "d" holds the directories made.
    let mut model: BTreeMap<String, Vec<u8>> = BTreeMap::new();
    let long = "long-name-".repeat(20);
    let names = ["f1", "f2", "f3", long.as_str()];
    let mut checked = 0;
    for step in 0..40 {
        let (w, r) = if rng.gen_bool(0.5) { (0, 1) } else { (1, 0) };
        let name = names[rng.gen_range(0..names.len())].to_string();
        let ctx = format!("seed {seed} step {step}");
        match rng.gen_range(0..10) {
            // Write and close on one side, open and read on the other.
            0..=5 => {
                let len = rng.gen_range(0..20_000);
                let data: Vec<u8> = (0..len).map(|_| rng.gen()).collect();
                fs::write(mnts[w].join(&name), &data).unwrap();
                model.insert(name.clone(), data);
                let got = fs::read(mnts[r].join(&name)).unwrap();
                assert!(
                    got == model[&name],
                    "{ctx}: {name} written on {w}, read on {r}: {} bytes, want {}",
                    got.len(),
                    model[&name].len()
                );
                checked += 1;
            }
            // Renames and deletes: seen on the other side past its cache.
            6 | 7 if model.contains_key(&name) => {
                let to = names[rng.gen_range(0..names.len())].to_string();
                fs::rename(mnts[w].join(&name), mnts[w].join(&to)).unwrap();
                let v = model.remove(&name).unwrap();
                model.insert(to, v);
                std::thread::sleep(PAST_CACHE);
                assert_eq!(
                    listing(&mnts[r]),
                    model.keys().cloned().collect::<Vec<_>>(),
                    "{ctx}: rename {name}"
                );
                checked += 1;
            }
            8 if model.contains_key(&name) => {
                fs::remove_file(mnts[w].join(&name)).unwrap();
                model.remove(&name);
                std::thread::sleep(PAST_CACHE);
                assert!(
                    !mnts[r].join(&name).exists(),
                    "{ctx}: {name} deleted on {w}"
                );
                checked += 1;
            }
            _ => {
                let d = format!("dir{step}");
                fs::create_dir(mnts[w].join(&d)).unwrap();
                model.insert(d.clone(), Vec::new());
                std::thread::sleep(PAST_CACHE);
                assert!(mnts[r].join(&d).is_dir(), "{ctx}: mkdir {d} on {w}");
                fs::remove_dir(mnts[r].join(&d)).unwrap();
                model.remove(&d);
                checked += 1;
            }
        }
    }
    // Both sides, past the cache, list and read exactly the model.
    std::thread::sleep(PAST_CACHE);
    for m in &mnts {
        assert_eq!(listing(m), model.keys().cloned().collect::<Vec<_>>());
        for (n, v) in &model {
            assert!(fs::read(m.join(n)).unwrap() == *v, "{n} on {}", m.display());
        }
    }
    assert!(checked >= 30, "only {checked} checks ran");
}
