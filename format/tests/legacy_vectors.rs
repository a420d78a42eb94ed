//! The legacy 0.11 vectors made by the original Python fusecry 0.11.2:
//! read in place from /work/shared/vectors/legacy (the shared set) and from
//! a small frozen copy in tests/fixtures/legacy (always present).

use fusecry_format::stream;
use fusecry_format::{Codec, Conf, Error, Password, Secret};
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::process::Command;

const SHARED: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/vectors/legacy");
const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/legacy");

fn manifest(dir: &Path) -> Value {
    let p = dir.join("manifest.json");
    serde_json::from_slice(&std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display())))
        .unwrap()
}

fn s<'a>(v: &'a Value, k: &str) -> &'a str {
    v[k].as_str()
        .unwrap_or_else(|| panic!("{k} missing in {v}"))
}

fn sha(b: &[u8]) -> String {
    hex::encode(Sha256::digest(b))
}

fn password(m: &Value) -> Secret {
    Secret::Password(Password::new(s(&m["auth"], "password")))
}

fn open(conf: &Path, secret: &Secret) -> Result<Codec, Error> {
    let bytes = std::fs::read(conf).unwrap_or_else(|e| panic!("{}: {e}", conf.display()));
    Conf::parse(&bytes).and_then(|c| c.open(secret))
}

fn entries(m: &Value) -> &Vec<Value> {
    m["entries"].as_array().expect("entries")
}

/// Checks a decrypted entry against the manifest.
fn check_plain(what: &str, e: &Value, out: &[u8]) {
    assert_eq!(
        out.len() as u64,
        e["size"].as_u64().unwrap(),
        "{what}: size"
    );
    assert_eq!(sha(out), s(e, "sha256"), "{what}: sha256");
}

/// single-c4096: every file with its own conf (or c16.conf).
fn single(dir: &Path) -> usize {
    let m = manifest(&dir.join("single-c4096"));
    let secret = password(&m);
    let mut n = 0;
    for e in entries(&m) {
        let d = dir.join("single-c4096");
        let codec = open(&d.join(s(e, "conf")), &secret).unwrap();
        assert_eq!(codec.chunk_size(), e["chunk_size"].as_u64().unwrap());
        let stored = std::fs::read(d.join(s(e, "enc"))).unwrap();
        assert_eq!(stored.len() as u64, e["enc_size"].as_u64().unwrap());
        let out = stream::decrypt_to_vec(&codec, &stored)
            .unwrap_or_else(|err| panic!("single {}: {err}", s(e, "enc")));
        check_plain(s(e, "enc"), e, &out);
        n += 1;
    }
    n
}

/// stream-c4096: every stream, including those the original's own
/// `stream decrypt` could not decrypt.
fn streams(dir: &Path) -> usize {
    let d = dir.join("stream-c4096");
    let m = manifest(&d);
    let secret = password(&m);
    let mut n = 0;
    for e in entries(&m) {
        let codec = open(&d.join(s(e, "conf")), &secret).unwrap();
        let stored = std::fs::read(d.join(s(e, "enc"))).unwrap();
        let out = stream::decrypt_to_vec(&codec, &stored)
            .unwrap_or_else(|err| panic!("stream {}: {err}", s(e, "enc")));
        check_plain(s(e, "enc"), e, &out);
        let r = stream::verify(&codec, &mut &stored[..], &|_| {}).unwrap();
        assert!(r.is_clean(), "stream {}: {r:?}", s(e, "enc"));
        n += 1;
    }
    n
}

/// names-c4096: decrypt every encrypted name; encrypt + decrypt round trip.
fn names(dir: &Path) -> usize {
    let d = dir.join("names-c4096");
    let m = manifest(&d);
    // names.conf has enc_path = false (`fusecry name encrypt` ignores it), so
    // build the codec from its keys with encrypted names on.
    let conf = Conf::parse(&std::fs::read(d.join(s(&m, "conf"))).unwrap()).unwrap();
    let Conf::Legacy(lc) = &conf else {
        panic!("names.conf is not a legacy conf")
    };
    let codec = Codec::legacy(lc.open(&password(&m)).unwrap(), lc.chunk_size, true);
    let mut rng = rand_chacha::ChaCha20Rng::from_seed([7; 32]);
    let mut n = 0;
    for e in m["names"].as_array().expect("names") {
        let (plain, enc) = (s(e, "plain"), s(e, "encrypted"));
        assert_eq!(codec.decrypt_name(None, enc).unwrap(), plain, "{enc}");
        let (again, sidecar) = codec.encrypt_name(None, plain, &mut rng).unwrap();
        assert!(sidecar.is_none());
        assert_eq!(again.len(), enc.len(), "{plain:?}: encoded length");
        assert_eq!(codec.decrypt_name(None, &again).unwrap(), plain);
        n += 1;
    }
    n
}

use rand_chacha::rand_core::SeedableRng;

fn untar(case_dir: &Path) -> tempfile::TempDir {
    let t = tempfile::tempdir().unwrap();
    let st = Command::new("tar")
        .arg("-xf")
        .arg(case_dir.join("volume.tar"))
        .arg("-C")
        .arg(t.path())
        .status()
        .expect("running tar");
    assert!(st.success(), "tar -xf {}", case_dir.display());
    t
}

fn last(p: &str) -> &str {
    p.rsplit('/').next().unwrap()
}

/// A whole volume: every file decrypts to its sha256; names and symlinks.
/// Returns the number of entries checked. `victims` get their own checks.
fn volume(
    root: &Path,
    case: &str,
    secret: &Secret,
    victim: &dyn Fn(&Codec, &Value, &[u8]),
) -> usize {
    let d = root.join(case);
    let m = manifest(&d);
    let t = untar(&d);
    let codec = open(&t.path().join(s(&m, "conf")), secret).unwrap();
    assert_eq!(
        codec.chunk_size(),
        m["chunk_size"].as_u64().unwrap(),
        "{case}"
    );
    let enc_names = m["encrypted_names"].as_bool().unwrap();
    assert_eq!(codec.encrypted_names(), enc_names, "{case}");
    let mut n = 0;
    for e in entries(&m) {
        let path = s(e, "path");
        let stored = t.path().join(s(e, "stored_path"));
        if enc_names {
            assert_eq!(
                codec.decrypt_name(None, last(s(e, "stored_path"))).unwrap(),
                last(path),
                "{case}: name of {path}"
            );
        } else {
            assert_eq!(last(s(e, "stored_path")), last(path));
        }
        match s(e, "type") {
            "file" => {
                let bytes = std::fs::read(&stored).unwrap();
                assert_eq!(
                    bytes.len() as u64,
                    e["stored_size"].as_u64().unwrap(),
                    "{case}: {path}"
                );
                if e.get("expect").is_some() {
                    victim(&codec, e, &bytes);
                } else {
                    let out = stream::decrypt_to_vec(&codec, &bytes)
                        .unwrap_or_else(|err| panic!("{case}: {path}: {err}"));
                    check_plain(&format!("{case}: {path}"), e, &out);
                }
            }
            "symlink" => {
                let target = std::fs::read_link(&stored).unwrap();
                assert_eq!(target.to_str().unwrap(), s(e, "target"), "{case}: {path}");
                // Legacy symlink targets are stored as-is.
                let dec = codec
                    .decrypt_symlink(None, "", target.to_str().unwrap().as_bytes())
                    .unwrap();
                assert_eq!(dec, s(e, "target").as_bytes());
            }
            "dir" => assert!(stored.is_dir(), "{case}: {path}"),
            other => panic!("{case}: unknown entry type {other}"),
        }
        n += 1;
    }
    n
}

fn no_victims(_: &Codec, e: &Value, _: &[u8]) {
    panic!("unexpected special entry {e}");
}

fn shared_volumes(root: &Path) -> usize {
    let mut n = 0;
    for case in ["pw-c4096", "pw-c16", "pw-c65536", "pw-c4096-names"] {
        let m = manifest(&root.join(case));
        n += volume(root, case, &password(&m), &no_victims);
    }

    // RSA: the private key opens; another key is WrongKey; the public key alone is PublicKeyOnly.
    let d = root.join("rsa-tool-c4096");
    let pem = |f: &str| Secret::from_pem(&std::fs::read_to_string(d.join(f)).unwrap()).unwrap();
    n += volume(root, "rsa-tool-c4096", &pem("key.pem"), &no_victims);
    let t = untar(&d);
    let conf = t.path().join("volume/fusecry.conf");
    assert!(matches!(
        open(&conf, &pem("wrong-key.pem")),
        Err(Error::WrongKey)
    ));
    assert!(matches!(
        open(&conf, &pem("key.pub.pem")),
        Err(Error::PublicKeyOnly)
    ));
    assert!(matches!(
        open(&conf, &Secret::Password(Password::new("x"))),
        Err(Error::WrongKey)
    ));
    n += 3;

    // Wrong password: the volume and the single file.
    let wp = manifest(&root.join("wrong-password"));
    let wrong = Secret::Password(Password::new(s(&wp, "wrong_password")));
    let t = untar(&root.join("pw-c4096"));
    assert!(matches!(
        open(&t.path().join("volume/fusecry.conf"), &wrong),
        Err(Error::WrongKey)
    ));
    let single = root.join("single-c4096/size-17.enc.fcry");
    assert!(matches!(open(&single, &wrong), Err(Error::WrongKey)));
    // The right password plus a space is wrong too.
    let m = manifest(&root.join("pw-c4096"));
    let plus_space = Secret::Password(Password::new(format!("{} ", s(&m["auth"], "password"))));
    assert!(matches!(
        open(&t.path().join("volume/fusecry.conf"), &plus_space),
        Err(Error::WrongKey)
    ));
    n += 3;

    // A flipped ciphertext bit in chunk 1 of the victim.
    let m = manifest(&root.join("tamper-bitflip"));
    assert_eq!(m["tamper"]["chunk_index"], 1);
    let victims = std::cell::Cell::new(0);
    n += volume(root, "tamper-bitflip", &password(&m), &|codec, e, bytes| {
        victims.set(victims.get() + 1);
        assert_eq!(s(e, "expect"), "integrity_error");
        match stream::decrypt_to_vec(codec, bytes) {
            Err(Error::ChunkTampered { index: 1 }) => {}
            other => panic!("bitflip victim: expected ChunkTampered {{ index: 1 }}, got {other:?}"),
        }
        // Only the verified prefix (chunk 0) is ever written.
        let mut out = Vec::new();
        assert!(stream::decrypt(codec, &mut &bytes[..], &mut out, &|_| {}).is_err());
        assert!(out.len() <= 4096);
        assert_eq!(
            sha(&out),
            s(&e["valid_prefix_sha256"], &out.len().to_string())
        );
        let r = stream::verify(codec, &mut &bytes[..], &|_| {}).unwrap();
        assert_eq!(r.bad_chunks, vec![1]);
        assert_eq!(r.size, e["size"].as_u64());
        assert!(r.error.is_none(), "{:?}", r.error);
    });

    // Two chunks swapped: undetectable in legacy; decrypts to the swapped plaintext.
    let m = manifest(&root.join("tamper-swap"));
    n += volume(root, "tamper-swap", &password(&m), &|codec, e, bytes| {
        victims.set(victims.get() + 1);
        assert_eq!(s(e, "expect"), "ok");
        let out = stream::decrypt_to_vec(codec, bytes)
            .expect("legacy cannot detect a chunk swap; it must decrypt");
        check_plain("swap victim", e, &out);
        assert_ne!(sha(&out), s(e, "plaintext_before_tamper_sha256"));
        assert!(stream::verify(codec, &mut &bytes[..], &|_| {})
            .unwrap()
            .is_clean());
    });
    assert_eq!(victims.get(), 2, "both tamper victims were checked");
    n
}

fn run_set(dir: &Path) -> usize {
    single(dir) + streams(dir) + names(dir)
}

#[test]
fn legacy_vectors() {
    let fixtures = run_set(Path::new(FIXTURES));
    assert!(fixtures >= 20, "only {fixtures} fixture cases");
    // FUSECRY_LEGACY_VECTORS overrides the shared directory (to test this path).
    let shared_dir = std::env::var_os("FUSECRY_LEGACY_VECTORS")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(SHARED));
    let shared = if shared_dir.join("single-c4096/manifest.json").is_file() {
        run_set(&shared_dir) + shared_volumes(&shared_dir)
    } else {
        eprintln!(
            "\n!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!\n\
             !!! legacy vectors: {} is MISSING: only the frozen fixtures ran !!!\n\
             !!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!\n",
            shared_dir.display()
        );
        0
    };
    println!("legacy vectors: {shared} cases ran from shared, {fixtures} from fixtures");
    eprintln!("legacy vectors: {shared} cases ran from shared, {fixtures} from fixtures");
}
