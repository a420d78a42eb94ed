//! CLI integration tests for the `fusecry` binary: exit codes, one-line
//! stderr messages, conf lookup, streams, keys, names, info, fsck, and the
//! legacy 0.11 vectors in shared/vectors/legacy.

mod common;
mod planted;

use sha2::{Digest, Sha256};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use common::CHEAP;

const LEGACY_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/vectors/legacy");

struct Out {
    code: i32,
    stdout: Vec<u8>,
    stderr: String,
}

impl Out {
    fn stdout_str(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }

    /// Asserts success.
    #[track_caller]
    fn ok(&self) -> &Self {
        assert_eq!(
            self.code, 0,
            "expected success, got {}; stderr: {}",
            self.code, self.stderr
        );
        self
    }

    /// Asserts exit `code` and a single stderr line "fusecry: ..." that mentions `names`.
    #[track_caller]
    fn fails(&self, code: i32, names: &str) -> &Self {
        assert_eq!(
            self.code, code,
            "expected exit {code}, got {}; stderr: {}",
            self.code, self.stderr
        );
        let lines: Vec<&str> = self.stderr.lines().collect();
        assert_eq!(lines.len(), 1, "stderr is not one line: {:?}", self.stderr);
        assert!(
            lines[0].starts_with("fusecry: "),
            "stderr does not start with 'fusecry: ': {:?}",
            self.stderr
        );
        assert!(
            lines[0].contains(names),
            "stderr does not name {names:?}: {:?}",
            self.stderr
        );
        self
    }
}

/// Runs fusecry with `args`, optional stdin bytes and optional FUSECRY_PASSWORD.
fn run_full(dir: &Path, args: &[&str], stdin: Option<&[u8]>, env_pw: Option<&str>) -> Out {
    let mut c = Command::new(env!("CARGO_BIN_EXE_fusecry"));
    c.args(args)
        .current_dir(dir)
        .env_remove("FUSECRY_PASSWORD")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if let Some(p) = env_pw {
        c.env("FUSECRY_PASSWORD", p);
    }
    c.stdin(if stdin.is_some() {
        Stdio::piped()
    } else {
        Stdio::null()
    });
    let mut child = c.spawn().expect("spawn fusecry");
    let writer = stdin.map(|data| {
        let mut si = child.stdin.take().unwrap();
        let data = data.to_vec();
        std::thread::spawn(move || {
            // The child may exit early (e.g. on an error); ignore EPIPE.
            let _ = si.write_all(&data);
        })
    });
    let o = child.wait_with_output().expect("wait fusecry");
    if let Some(w) = writer {
        w.join().unwrap();
    }
    Out {
        code: o.status.code().unwrap_or(-1),
        stdout: o.stdout,
        stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
    }
}

fn run(dir: &Path, args: &[&str]) -> Out {
    run_full(dir, args, None, None)
}

fn with_cheap<'a>(args: &[&'a str]) -> Vec<&'a str> {
    let mut v = args.to_vec();
    v.extend_from_slice(&CHEAP);
    v
}

fn tmp() -> tempfile::TempDir {
    tempfile::tempdir().unwrap()
}

/// Deterministic test data.
fn data(n: usize, seed: u8) -> Vec<u8> {
    let mut out = Vec::with_capacity(n + 32);
    let mut i = 0u64;
    while out.len() < n {
        let mut h = Sha256::new();
        h.update([seed]);
        h.update(i.to_le_bytes());
        out.extend_from_slice(&h.finalize());
        i += 1;
    }
    out.truncate(n);
    out
}

fn sha_hex(b: &[u8]) -> String {
    hex::encode(Sha256::digest(b))
}

fn write(p: &Path, b: &[u8]) {
    std::fs::write(p, b).unwrap();
}

fn read(p: &Path) -> Vec<u8> {
    std::fs::read(p).unwrap()
}

/// Writes password files "pw" (secret) and "bad" (wrong) into `d`.
fn pwfiles(d: &Path) {
    write(&d.join("pw"), b"secret\n");
    write(&d.join("bad"), b"wrong\n");
}

fn flip(p: &Path, off: usize) {
    let mut b = read(p);
    b[off] ^= 0x10;
    write(p, &b);
}

fn legacy_dir() -> Option<PathBuf> {
    let p = PathBuf::from(LEGACY_DIR);
    if p.join("README.md").is_file() {
        Some(p)
    } else {
        eprintln!("SKIPPED: shared vectors missing ({LEGACY_DIR})");
        None
    }
}

fn manifest(case: &Path) -> serde_json::Value {
    serde_json::from_slice(&read(&case.join("manifest.json"))).unwrap()
}

// ---------------------------------------------------------------- init

fn conf_json(p: &Path) -> serde_json::Value {
    serde_json::from_slice(&read(p)).unwrap()
}

#[test]
fn init_v1_names_and_legacy_and_twice() {
    let t = tmp();
    let d = t.path();
    pwfiles(d);
    // Names are encrypted by default; -n stays accepted (0.11 habits).
    for (dir, flag) in [("vol", None), ("vol-n", Some("-n"))] {
        let mut args = vec!["init", dir, "--password-file", "pw"];
        args.extend(flag);
        run(d, &with_cheap(&args)).ok();
        assert!(d.join(dir).join("fusecry.conf").is_file());
        assert_eq!(read(&d.join(dir).join("fusecry.diriv")).len(), 16);
        let conf = conf_json(&d.join(dir).join("fusecry.conf"));
        assert_eq!(conf["format"], "fusecry/1");
        assert_eq!(conf["encrypted_names"], true, "{dir}");
    }

    // --plain-names opts out: no diriv. It cannot be combined with -n.
    run(
        d,
        &with_cheap(&["init", "plain", "--plain-names", "--password-file", "pw"]),
    )
    .ok();
    assert_eq!(
        conf_json(&d.join("plain/fusecry.conf"))["encrypted_names"],
        false
    );
    assert!(!d.join("plain/fusecry.diriv").exists());
    let o = run(
        d,
        &with_cheap(&[
            "init",
            "both",
            "-n",
            "--plain-names",
            "--password-file",
            "pw",
        ]),
    );
    assert_eq!(o.code, 2, "{}", o.stderr);
    assert!(!d.join("both").exists());

    // Legacy: one line of JSON, version 0.11.x; plain names unless -n, as
    // 0.11 made them.
    run(
        d,
        &with_cheap(&["init", "leg", "--legacy", "--password-file", "pw"]),
    )
    .ok();
    let text = String::from_utf8(read(&d.join("leg/fusecry.conf"))).unwrap();
    assert_eq!(text.lines().count(), 1, "legacy conf is one line: {text}");
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert!(v["version"].as_str().unwrap().starts_with("0.11"));
    assert_eq!(v["enc_path"], false);
    assert!(!d.join("leg/fusecry.diriv").exists());
    run(
        d,
        &with_cheap(&["init", "leg-n", "--legacy", "-n", "--password-file", "pw"]),
    )
    .ok();
    assert_eq!(conf_json(&d.join("leg-n/fusecry.conf"))["enc_path"], true);
    assert!(!d.join("leg-n/fusecry.diriv").exists());

    // Init twice fails and leaves the conf alone.
    let before = read(&d.join("vol/fusecry.conf"));
    run(
        d,
        &with_cheap(&["init", "vol", "-n", "--password-file", "pw"]),
    )
    .fails(1, "fusecry.conf");
    assert_eq!(read(&d.join("vol/fusecry.conf")), before);
}

// ---------------------------------------------------------------- files

#[test]
fn encrypt_decrypt_round_trip_sizes() {
    let t = tmp();
    let d = t.path();
    pwfiles(d);
    for cs in ["16", "4096"] {
        let conf = format!("c{cs}.conf");
        for (i, n) in [0usize, 1, 4096, 4097, 300000].into_iter().enumerate() {
            let plain = data(n, i as u8);
            let inp = format!("in-{cs}-{n}");
            let enc = format!("enc-{cs}-{n}");
            let dec = format!("dec-{cs}-{n}");
            write(&d.join(&inp), &plain);
            run(
                d,
                &with_cheap(&[
                    "encrypt",
                    &inp,
                    &enc,
                    "-c",
                    &conf,
                    "--chunk-size",
                    cs,
                    "--password-file",
                    "pw",
                ]),
            )
            .ok();
            let stored = read(&d.join(&enc));
            let csn: usize = cs.parse().unwrap();
            let r = n % csn;
            let expect =
                60 + (n / csn) * (csn + 48) + if r > 0 { 48 + r.div_ceil(16) * 16 } else { 0 };
            assert_eq!(stored.len(), expect, "stored size cs={cs} n={n}");
            run(
                d,
                &["decrypt", &enc, &dec, "-c", &conf, "--password-file", "pw"],
            )
            .ok();
            assert_eq!(read(&d.join(&dec)), plain, "cs={cs} n={n}");
        }
        let c: serde_json::Value = serde_json::from_slice(&read(&d.join(&conf))).unwrap();
        assert_eq!(c["chunk_size"].as_u64().unwrap().to_string(), cs);
    }
}

#[test]
fn conf_lookup_rules() {
    let t = tmp();
    let d = t.path();
    pwfiles(d);
    write(&d.join("in"), b"hello lookup");
    // encrypt IN OUT creates OUT.fcry
    run(
        d,
        &with_cheap(&["encrypt", "in", "out", "--password-file", "pw"]),
    )
    .ok();
    assert!(d.join("out.fcry").is_file());
    assert!(!d.join("in.fcry").exists());
    // decrypt uses IN.fcry (IN = out here)
    run(d, &["decrypt", "out", "back", "--password-file", "pw"]).ok();
    assert_eq!(read(&d.join("back")), b"hello lookup");
    assert!(!d.join("back.fcry").exists());
    // decrypt can also find OUT.fcry
    std::fs::rename(d.join("out"), d.join("ciph")).unwrap();
    std::fs::rename(d.join("out.fcry"), d.join("plain2.fcry")).unwrap();
    run(d, &["decrypt", "ciph", "plain2", "--password-file", "pw"]).ok();
    assert_eq!(read(&d.join("plain2")), b"hello lookup");

    // decrypt with no conf: exit 3, no conf, no output.
    write(&d.join("lonely"), b"whatever");
    run(d, &["decrypt", "lonely", "lout", "--password-file", "pw"]).fails(3, "lonely");
    assert!(!d.join("lonely.fcry").exists());
    assert!(!d.join("lout.fcry").exists());
    assert!(!d.join("lout").exists());

    // -c CONF: explicit conf, created on encrypt, no OUT.fcry.
    run(
        d,
        &with_cheap(&[
            "encrypt",
            "in",
            "x.enc",
            "-c",
            "my.conf",
            "--password-file",
            "pw",
        ]),
    )
    .ok();
    assert!(d.join("my.conf").is_file());
    assert!(!d.join("x.enc.fcry").exists());
    // Without -c the decrypt has no conf.
    run(d, &["decrypt", "x.enc", "x.dec", "--password-file", "pw"]).fails(3, "x.enc");
    run(
        d,
        &[
            "decrypt",
            "x.enc",
            "x.dec",
            "-c",
            "my.conf",
            "--password-file",
            "pw",
        ],
    )
    .ok();
    assert_eq!(read(&d.join("x.dec")), b"hello lookup");
    // -c naming a missing conf on decrypt: exit 3, not created.
    run(
        d,
        &[
            "decrypt",
            "x.enc",
            "y.dec",
            "-c",
            "nope.conf",
            "--password-file",
            "pw",
        ],
    )
    .fails(3, "nope.conf");
    assert!(!d.join("nope.conf").exists());
    assert!(!d.join("y.dec").exists());
}

#[test]
fn missing_input_is_exit_3() {
    let t = tmp();
    let d = t.path();
    pwfiles(d);
    run(
        d,
        &with_cheap(&["encrypt", "ghost", "o", "--password-file", "pw"]),
    )
    .fails(3, "ghost");
    assert!(!d.join("o").exists());
    assert!(
        !d.join("o.fcry").exists(),
        "no conf created for a missing input"
    );
    run(d, &["decrypt", "ghost", "o", "--password-file", "pw"]).fails(3, "ghost");
    // Missing password file.
    write(&d.join("in"), b"x");
    run(
        d,
        &with_cheap(&["encrypt", "in", "o", "--password-file", "nopw"]),
    )
    .fails(3, "nopw");
}

// ---------------------------------------------------------------- streams

#[test]
fn stream_round_trip_empty_and_sizes() {
    let t = tmp();
    let d = t.path();
    pwfiles(d);
    for (i, n) in [0usize, 1, 4096, 4097, 300000].into_iter().enumerate() {
        let plain = data(n, 40 + i as u8);
        let enc = run_full(
            d,
            &with_cheap(&[
                "stream",
                "encrypt",
                "-c",
                "s.conf",
                "--chunk-size",
                "4096",
                "--password-file",
                "pw",
            ]),
            Some(&plain),
            None,
        );
        enc.ok();
        assert!(
            d.join("s.conf").is_file(),
            "stream encrypt creates the conf"
        );
        if n == 0 {
            assert_eq!(enc.stdout.len(), 60, "empty stream = header + trailer");
        }
        let dec = run_full(
            d,
            &["stream", "decrypt", "-c", "s.conf", "--password-file", "pw"],
            Some(&enc.stdout),
            None,
        );
        dec.ok();
        assert_eq!(dec.stdout, plain, "n={n}");
        // A stream decrypts as a file too.
        write(&d.join("st.enc"), &enc.stdout);
        run(
            d,
            &[
                "decrypt",
                "st.enc",
                "st.dec",
                "-c",
                "s.conf",
                "--password-file",
                "pw",
            ],
        )
        .ok();
        assert_eq!(read(&d.join("st.dec")), plain);
    }
}

#[test]
fn stream_truncated_is_exit_20_with_prefix_only() {
    let t = tmp();
    let d = t.path();
    pwfiles(d);
    let plain = data(20000, 7);
    let enc = run_full(
        d,
        &with_cheap(&[
            "stream",
            "encrypt",
            "-c",
            "s.conf",
            "--chunk-size",
            "4096",
            "--password-file",
            "pw",
        ]),
        Some(&plain),
        None,
    );
    enc.ok();
    let cut = &enc.stdout[..enc.stdout.len() - 10];
    let dec = run_full(
        d,
        &["stream", "decrypt", "-c", "s.conf", "--password-file", "pw"],
        Some(cut),
        None,
    );
    dec.fails(20, "<stdin>");
    assert!(dec.stdout.len() < plain.len());
    assert_eq!(
        &plain[..dec.stdout.len()],
        &dec.stdout[..],
        "stdout is a prefix"
    );

    // Tampered middle chunk: exit 20, only a prefix.
    let mut bad = enc.stdout.clone();
    let mid = bad.len() / 2;
    bad[mid] ^= 1;
    let dec = run_full(
        d,
        &["stream", "decrypt", "-c", "s.conf", "--password-file", "pw"],
        Some(&bad),
        None,
    );
    dec.fails(20, "<stdin>");
    assert!(dec.stdout.len() < plain.len());
    assert_eq!(&plain[..dec.stdout.len()], &dec.stdout[..]);

    // Empty input is not a valid stream.
    let dec = run_full(
        d,
        &["stream", "decrypt", "-c", "s.conf", "--password-file", "pw"],
        Some(b""),
        None,
    );
    dec.fails(20, "<stdin>");
    assert!(dec.stdout.is_empty());
}

#[test]
fn stream_legacy_round_trip() {
    let t = tmp();
    let d = t.path();
    pwfiles(d);
    for n in [0usize, 1, 4096, 5000] {
        let plain = data(n, 9);
        let enc = run_full(
            d,
            &with_cheap(&[
                "stream",
                "encrypt",
                "-c",
                "leg.conf",
                "--legacy",
                "--password-file",
                "pw",
            ]),
            Some(&plain),
            None,
        );
        enc.ok();
        let conf = read(&d.join("leg.conf"));
        assert!(conf.starts_with(b"{\"version\": \"0.11"), "legacy conf");
        let dec = run_full(
            d,
            &[
                "stream",
                "decrypt",
                "-c",
                "leg.conf",
                "--password-file",
                "pw",
            ],
            Some(&enc.stdout),
            None,
        );
        dec.ok();
        assert_eq!(dec.stdout, plain, "legacy stream n={n}");
    }
}

// ---------------------------------------------------------------- secrets

#[test]
fn wrong_password_and_password_sources() {
    let t = tmp();
    let d = t.path();
    pwfiles(d);
    write(&d.join("in"), &data(5000, 1));
    run(
        d,
        &with_cheap(&[
            "encrypt",
            "in",
            "enc",
            "-c",
            "c.conf",
            "--password-file",
            "pw",
        ]),
    )
    .ok();

    // Wrong password: 10, no output.
    run(
        d,
        &[
            "decrypt",
            "enc",
            "out",
            "-c",
            "c.conf",
            "--password-file",
            "bad",
        ],
    )
    .fails(10, "c.conf");
    assert!(!d.join("out").exists());
    // Pre-existing output untouched.
    write(&d.join("out"), b"keep me");
    run(d, &["decrypt", "enc", "out", "-c", "c.conf", "-p", "nope"]).fails(10, "c.conf");
    assert_eq!(read(&d.join("out")), b"keep me");
    // Wrong password on encrypt with an existing conf: 10, output untouched.
    run(d, &["encrypt", "in", "out", "-c", "c.conf", "-p", "nope"]).fails(10, "c.conf");
    assert_eq!(read(&d.join("out")), b"keep me");
    // No temp files left behind.
    let names: Vec<String> = std::fs::read_dir(d)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(names.iter().all(|n| !n.starts_with(".tmp")), "{names:?}");

    // No password source at all, stdin not a tty: 10 with a hint.
    let o = run(d, &["decrypt", "enc", "o2", "-c", "c.conf"]);
    assert_eq!(o.code, 10, "{}", o.stderr);
    assert!(o.stderr.starts_with("fusecry: ") && o.stderr.contains("--password-file"));
    assert!(!d.join("o2").exists());

    // Sources: --password-file, --extpass, FUSECRY_PASSWORD, -p.
    run(
        d,
        &[
            "decrypt",
            "enc",
            "a",
            "-c",
            "c.conf",
            "--password-file",
            "pw",
        ],
    )
    .ok();
    run(
        d,
        &[
            "decrypt",
            "enc",
            "b",
            "-c",
            "c.conf",
            "--extpass",
            "echo secret",
        ],
    )
    .ok();
    run_full(
        d,
        &["decrypt", "enc", "e", "-c", "c.conf"],
        None,
        Some("secret"),
    )
    .ok();
    run(d, &["decrypt", "enc", "p", "-c", "c.conf", "-p", "secret"]).ok();
    for f in ["a", "b", "e", "p"] {
        assert_eq!(read(&d.join(f)), read(&d.join("in")));
    }
    // Wrong via env and extpass.
    run_full(
        d,
        &["decrypt", "enc", "x", "-c", "c.conf"],
        None,
        Some("wrong"),
    )
    .fails(10, "c.conf");
    run(
        d,
        &[
            "decrypt",
            "enc",
            "x",
            "-c",
            "c.conf",
            "--extpass",
            "echo wrong",
        ],
    )
    .fails(10, "c.conf");
    // Failing extpass program: 1.
    run(
        d,
        &["decrypt", "enc", "x", "-c", "c.conf", "--extpass", "exit 3"],
    )
    .fails(1, "extpass");
    assert!(!d.join("x").exists());
    // FUSECRY_PASSWORD leaves the environment before any program starts:
    // --extpass (which takes precedence) does not inherit it.
    run_full(
        d,
        &[
            "decrypt",
            "enc",
            "y",
            "-c",
            "c.conf",
            "--extpass",
            "echo ${FUSECRY_PASSWORD:-secret}",
        ],
        None,
        Some("leaked"),
    )
    .ok();
    assert_eq!(read(&d.join("y")), read(&d.join("in")));
}

// ---------------------------------------------------------------- RSA

use planted::openssl;

#[test]
fn public_key_create_and_private_key_open() {
    let t = tmp();
    let d = t.path();
    openssl(d, &["genrsa", "-out", "k.pem", "2048"]);
    openssl(d, &["rsa", "-in", "k.pem", "-pubout", "-out", "pub.pem"]);
    let plain = data(9000, 3);
    write(&d.join("in"), &plain);
    run(d, &["encrypt", "in", "enc", "--key", "pub.pem"]).ok();
    assert!(d.join("enc.fcry").is_file());
    let conf: serde_json::Value = serde_json::from_slice(&read(&d.join("enc.fcry"))).unwrap();
    assert_eq!(conf["slots"][0]["type"], "rsa");

    run(d, &["decrypt", "enc", "out", "--key", "pub.pem"]).fails(11, "enc.fcry");
    assert!(!d.join("out").exists());
    run(d, &["decrypt", "enc", "out", "--key", "k.pem"]).ok();
    assert_eq!(read(&d.join("out")), plain);
    // Encrypting again with the public key into the existing conf: 11.
    run(
        d,
        &[
            "encrypt", "in", "enc2", "-c", "enc.fcry", "--key", "pub.pem",
        ],
    )
    .fails(11, "enc.fcry");
    assert!(!d.join("enc2").exists());
    // A password does not open an RSA-only conf.
    run(d, &["decrypt", "enc", "out2", "-p", "x"]).fails(10, "enc.fcry");
    // Not a PEM key: names the key file.
    write(&d.join("junk.pem"), b"not a key\n");
    let o = run(d, &["decrypt", "enc", "out3", "--key", "junk.pem"]);
    o.fails(15, "junk.pem");
    // Missing key file: 3.
    run(d, &["decrypt", "enc", "out3", "--key", "nokey.pem"]).fails(3, "nokey.pem");
}

// ------------------------------------------------- vouching (SPEC §4.5)

fn write_conf(p: &Path, c: &fusecry_format::ConfV1) {
    write(p, &fusecry_format::Conf::V1(c.clone()).to_bytes());
}

/// `encrypt in out -c CONF --key k.pem` is refused (exit 1, one line naming
/// CONF and saying `why`) and writes no output.
#[track_caller]
fn encrypt_is_refused(d: &Path, conf: &str, why: &str) {
    let o = run(d, &["encrypt", "in", "out", "-c", conf, "--key", "k.pem"]);
    o.fails(1, conf);
    assert!(o.stderr.contains(why), "{}", o.stderr);
    assert!(
        !d.join("out").exists(),
        "a refused encrypt wrote its output"
    );
}

/// Anyone with the victim's public key builds a conf around a master key they
/// chose: their password slot plus an unsigned RSA slot for the victim. The
/// victim's private key opens it; nothing is written with it unless the
/// victim explicitly accepts it.
#[test]
fn rsa_conf_swap_is_refused_for_writing() {
    let t = tmp();
    let d = t.path();
    planted::victim_keys(d);
    pwfiles(d);
    let (c, _) = planted::rsa_conf_swap(d);
    write_conf(&d.join("planted.fcry"), &c);
    let before = read(&d.join("planted.fcry"));
    write(&d.join("in"), b"the victim's secret");

    encrypt_is_refused(d, "planted.fcry", "not vouched for");
    let o = run_full(
        d,
        &["stream", "encrypt", "-c", "planted.fcry", "--key", "k.pem"],
        Some(b"the victim's secret"),
        None,
    );
    o.fails(1, "planted.fcry");
    assert!(o.stdout.is_empty(), "a refused stream encrypt wrote output");
    // Slot changes would hand the planted key a slot of the victim's.
    run(
        d,
        &with_cheap(&[
            "key",
            "add",
            "planted.fcry",
            "--key",
            "k.pem",
            "--new-password-file",
            "pw",
        ]),
    )
    .fails(1, "planted.fcry");
    assert_eq!(read(&d.join("planted.fcry")), before, "the conf changed");

    // Reading is safe (every chunk is authenticated): what the attacker
    // wrote decrypts.
    write(&d.join("bait"), b"from the attacker");
    run(
        d,
        &[
            "encrypt",
            "bait",
            "bait.enc",
            "-c",
            "planted.fcry",
            "-p",
            planted::ATTACKER_PW,
        ],
    )
    .ok();
    run(
        d,
        &[
            "decrypt",
            "bait.enc",
            "bait.dec",
            "-c",
            "planted.fcry",
            "--key",
            "k.pem",
        ],
    )
    .ok();
    assert_eq!(read(&d.join("bait.dec")), b"from the attacker");

    // With explicit consent the victim writes, and the attacker reads it:
    // exactly what the refusal protects against.
    run(
        d,
        &[
            "encrypt",
            "in",
            "out",
            "-c",
            "planted.fcry",
            "--key",
            "k.pem",
            "--trust-unsigned-slot",
        ],
    )
    .ok();
    run(
        d,
        &[
            "decrypt",
            "out",
            "stolen",
            "-c",
            "planted.fcry",
            "-p",
            planted::ATTACKER_PW,
        ],
    )
    .ok();
    assert_eq!(read(&d.join("stolen")), b"the victim's secret");

    // The same swap made with the CLI and the public key alone.
    run(d, &["encrypt", "bait", "x.enc", "--key", "pub.pem"]).ok();
    run(
        d,
        &[
            "encrypt",
            "in",
            "y.enc",
            "-c",
            "x.enc.fcry",
            "--key",
            "k.pem",
        ],
    )
    .fails(1, "x.enc.fcry");
    assert!(!d.join("y.enc").exists());
}

/// A legacy 0.11 rsakey conf needs only the public key to make (textbook
/// RSA, a sample under the chosen key): read-only everywhere, consent or not.
#[test]
fn legacy_rsa_conf_planted_is_read_only() {
    let t = tmp();
    let d = t.path();
    planted::victim_keys(d);
    let (conf, keys) = planted::legacy_rsa_conf(d);
    write(&d.join("legacy.fcry"), &conf);
    // It opens: the attacker's stream decrypts with the victim's key.
    let codec = fusecry_format::Codec::legacy(keys, 4096, false);
    let bait = fusecry_format::stream::encrypt_to_vec(
        &codec,
        &fusecry_format::FileId([0; 16]),
        b"legacy bait",
        fusecry_format::stream::Target::Stream,
        &mut rand_core::OsRng,
    );
    let o = run_full(
        d,
        &["stream", "decrypt", "-c", "legacy.fcry", "--key", "k.pem"],
        Some(&bait),
        None,
    );
    o.ok();
    assert_eq!(o.stdout, b"legacy bait");

    write(&d.join("in"), b"the victim's secret");
    for consent in [&[][..], &["--trust-unsigned-slot"][..]] {
        let mut a = vec![
            "encrypt",
            "in",
            "out",
            "-c",
            "legacy.fcry",
            "--key",
            "k.pem",
        ];
        a.extend_from_slice(consent);
        let o = run(d, &a);
        o.fails(1, "legacy.fcry");
        assert!(o.stderr.contains("read-only"), "{}", o.stderr);
        assert!(!d.join("out").exists());
        let mut a = vec!["stream", "encrypt", "-c", "legacy.fcry", "--key", "k.pem"];
        a.extend_from_slice(consent);
        let o = run_full(d, &a, Some(b"the victim's secret"), None);
        o.fails(1, "legacy.fcry");
        assert!(o.stdout.is_empty());
    }
    run(d, &["key", "vouch", "legacy.fcry", "--key", "k.pem"]).fails(1, "legacy.fcry");
    write(&d.join("pw"), b"pw\n");
    run(
        d,
        &[
            "key",
            "add",
            "legacy.fcry",
            "--key",
            "k.pem",
            "--new-password-file",
            "pw",
        ],
    )
    .fails(1, "legacy.fcry");
    assert_eq!(read(&d.join("legacy.fcry")), conf);
    let o = run(d, &["info", "legacy.fcry"]);
    o.ok();
    assert!(o.stdout_str().contains("read-only"), "{}", o.stdout_str());
}

/// `encrypt IN OUT` never uses a conf it finds beside the data: not IN.fcry,
/// and not an existing OUT.fcry (refused, pointing at -c).
#[test]
fn encrypt_does_not_pick_up_a_conf_beside_the_data() {
    let t = tmp();
    let d = t.path();
    planted::victim_keys(d);
    pwfiles(d);
    let (c, _) = planted::rsa_conf_swap(d);
    write_conf(&d.join("in.fcry"), &c);
    write_conf(&d.join("taken.fcry"), &c);
    let planted_bytes = read(&d.join("in.fcry"));
    write(&d.join("in"), b"beside the data");

    run(d, &["encrypt", "in", "out", "--key", "k.pem"]).ok();
    assert!(d.join("out.fcry").is_file(), "encrypt created its own conf");
    assert_eq!(read(&d.join("in.fcry")), planted_bytes);
    // The attacker's conf does not decrypt it; the new conf does.
    run(
        d,
        &[
            "decrypt",
            "out",
            "x",
            "-c",
            "in.fcry",
            "-p",
            planted::ATTACKER_PW,
        ],
    )
    .fails(20, "out");
    run(d, &["decrypt", "out", "back", "--key", "k.pem"]).ok();
    assert_eq!(read(&d.join("back")), b"beside the data");

    // An existing OUT.fcry is not used without -c.
    let o = run(
        d,
        &with_cheap(&["encrypt", "in", "taken", "--password-file", "pw"]),
    );
    o.fails(1, "taken.fcry");
    assert!(o.stderr.contains("pass -c taken.fcry"), "{}", o.stderr);
    assert!(!d.join("taken").exists());
    assert_eq!(read(&d.join("taken.fcry")), planted_bytes);
    // Not even one this user made earlier: -c says which conf to trust.
    run(
        d,
        &with_cheap(&["encrypt", "in", "mine", "--password-file", "pw"]),
    )
    .ok();
    run(
        d,
        &with_cheap(&["encrypt", "in", "mine", "--password-file", "pw"]),
    )
    .fails(1, "mine.fcry");
    run(
        d,
        &[
            "encrypt",
            "in",
            "mine",
            "-c",
            "mine.fcry",
            "--password-file",
            "pw",
        ],
    )
    .ok();
}

fn info_json(d: &Path, conf: &str) -> serde_json::Value {
    let o = run(d, &["info", "--json", conf]);
    o.ok();
    serde_json::from_slice(&o.stdout).unwrap()
}

/// `info` shows every slot with its type, RSA fingerprint and whether it
/// vouches; `key vouch` says what it vouches for, then signs.
#[test]
fn info_shows_whether_each_slot_is_vouched_for() {
    let t = tmp();
    let d = t.path();
    planted::victim_keys(d);
    pwfiles(d);
    run(d, &["init", "vol", "--key", "pub.pem"]).ok();
    let fp = {
        let k = planted::key(d, "pub.pem").rsa_public().unwrap();
        fusecry_format::slots::rsa_fingerprint(&k).unwrap()
    };
    let v = info_json(d, "vol");
    assert_eq!(v["slots"][0]["type"], "rsa");
    assert_eq!(v["slots"][0]["key_fingerprint"], fp.as_str());
    assert_eq!(v["slots"][0]["vouched"], false);
    let commitment = v["master_key_commitment"].as_str().unwrap().to_string();
    assert_eq!(commitment.len(), 64);
    let o = run(d, &["info", "vol"]);
    let text = o.stdout_str();
    assert!(
        text.contains(&fp) && text.contains("not vouched for (no signature)"),
        "{text}"
    );
    assert!(text.contains(&commitment), "{text}");

    // A public key cannot vouch; the private key does, saying for what.
    run(d, &["key", "vouch", "vol", "--key", "pub.pem"]).fails(11, "pub.pem");
    let o = run(d, &["key", "vouch", "vol", "--key", "k.pem"]);
    o.ok();
    assert!(
        o.stderr.contains(&commitment) && o.stderr.contains(&format!("key slot 0: rsa {fp}")),
        "{}",
        o.stderr
    );
    let v = info_json(d, "vol");
    assert_eq!(v["slots"][0]["vouched"], true);
    assert_eq!(v["master_key_commitment"], commitment.as_str());
    assert!(run(d, &["info", "vol"])
        .stdout_str()
        .contains("vouched for (signed by its key)"));
    // Vouching again changes nothing.
    let conf = read(&d.join("vol/fusecry.conf"));
    run(d, &["key", "vouch", "vol", "--key", "k.pem"]).ok();
    assert_eq!(read(&d.join("vol/fusecry.conf")), conf);

    // Now the key may change slots: a password slot, shown as vouching.
    run(
        d,
        &with_cheap(&[
            "key",
            "add",
            "vol",
            "--key",
            "k.pem",
            "--new-password-file",
            "pw",
        ]),
    )
    .ok();
    let v = info_json(d, "vol");
    assert_eq!(
        v["slots"][0]["vouched"], true,
        "adding a slot keeps the signature"
    );
    assert_eq!(v["slots"][1]["type"], "password");
    assert_eq!(v["slots"][1]["vouched"], true);
    assert!(v["slots"][1]["key_fingerprint"].is_null());
}

/// A slot signed by its key (made with the private key at hand, or vouched
/// for later) writes like a password slot.
#[test]
fn a_vouched_slot_still_opens_for_writing() {
    let t = tmp();
    let d = t.path();
    planted::victim_keys(d);
    write(&d.join("in"), &data(10000, 9));
    run(d, &["encrypt", "in", "a", "--key", "k.pem"]).ok();
    assert_eq!(info_json(d, "a.fcry")["slots"][0]["vouched"], true);
    run(d, &["encrypt", "in", "b", "-c", "a.fcry", "--key", "k.pem"]).ok();
    let o = run_full(
        d,
        &["stream", "encrypt", "-c", "a.fcry", "--key", "k.pem"],
        Some(&data(5000, 1)),
        None,
    );
    o.ok();
    write(&d.join("s.enc"), &o.stdout);
    run(
        d,
        &["decrypt", "b", "b.dec", "-c", "a.fcry", "--key", "k.pem"],
    )
    .ok();
    assert_eq!(read(&d.join("b.dec")), data(10000, 9));
    let o = run_full(
        d,
        &["stream", "decrypt", "-c", "a.fcry", "--key", "k.pem"],
        Some(&read(&d.join("s.enc"))),
        None,
    );
    o.ok();
    assert_eq!(o.stdout, data(5000, 1));
    // Made from the public key, then vouched for by its owner: writes too.
    run(d, &["encrypt", "in", "p", "--key", "pub.pem"]).ok();
    run(d, &["encrypt", "in", "q", "-c", "p.fcry", "--key", "k.pem"]).fails(1, "p.fcry");
    run(d, &["key", "vouch", "p.fcry", "--key", "k.pem"]).ok();
    run(d, &["encrypt", "in", "q", "-c", "p.fcry", "--key", "k.pem"]).ok();
    run(
        d,
        &["decrypt", "q", "q.dec", "-c", "p.fcry", "--key", "k.pem"],
    )
    .ok();
    assert_eq!(read(&d.join("q.dec")), data(10000, 9));
}

/// A genuine signature by the victim's key, but over another conf's
/// commitment (params_mac), does not vouch for the planted conf.
#[test]
fn a_signature_over_another_confs_commitment_is_rejected() {
    let t = tmp();
    let d = t.path();
    planted::victim_keys(d);
    write(&d.join("in"), b"x");
    run(d, &["encrypt", "in", "genuine", "--key", "k.pem"]).ok();
    let genuine = match fusecry_format::Conf::parse(&read(&d.join("genuine.fcry"))).unwrap() {
        fusecry_format::Conf::V1(c) => c,
        _ => unreachable!(),
    };
    let (mut c, _) = planted::rsa_conf_swap(d);
    let fusecry_format::Secret::RsaPrivate(victim) = planted::key(d, "k.pem") else {
        panic!("a private key")
    };
    let sig = match &c.slots[1] {
        fusecry_format::KeySlot::Rsa {
            key_fingerprint,
            public_key,
            wrapped_key,
            ..
        } => {
            let m = fusecry_format::vouch::message(
                &genuine.params_mac,
                key_fingerprint,
                public_key,
                wrapped_key,
            );
            fusecry_format::vouch::sign(&victim, &m, &mut rand_core::OsRng).unwrap()
        }
        _ => unreachable!(),
    };
    if let fusecry_format::KeySlot::Rsa { signature, .. } = &mut c.slots[1] {
        *signature = Some(sig);
    }
    write_conf(&d.join("planted.fcry"), &c);
    encrypt_is_refused(d, "planted.fcry", "signature does not verify");
    let v = info_json(d, "planted.fcry");
    assert_eq!(v["slots"][1]["vouched"], false);
    assert!(v["slots"][1]["vouch"]
        .as_str()
        .unwrap()
        .contains("does not verify"));
}

/// A key too short for a new slot is refused naming the key file (exit 15),
/// and nothing is left behind: no volume directory, conf or output.
#[test]
fn short_rsa_key_creates_nothing() {
    let t = tmp();
    let d = t.path();
    openssl(d, &["genrsa", "-out", "small.pem", "1024"]);
    run(d, &["init", "vol", "--key", "small.pem"]).fails(15, "small.pem");
    assert!(!d.join("vol").exists(), "init left a directory behind");
    std::fs::create_dir(d.join("mnt")).unwrap();
    run(d, &["mount", "vol", "mnt", "--key", "small.pem"]).fails(15, "small.pem");
    assert!(!d.join("vol").exists(), "mount left a directory behind");
    write(&d.join("in"), b"data");
    run(d, &["encrypt", "in", "out", "--key", "small.pem"]).fails(15, "small.pem");
    assert!(!d.join("out").exists() && !d.join("out.fcry").exists());
    // A mount point that is missing: the source is not created either.
    run(d, &["mount", "vol", "nomnt", "-p", "pw"]).fails(3, "nomnt");
    assert!(!d.join("vol").exists(), "mount left a directory behind");
}

// ---------------------------------------------------------------- never overwrite

/// Every path under `dir` with its type, mode, size, content or link target,
/// hashed: equal digests mean the tree was not touched.
fn tree_hash(dir: &Path) -> String {
    use std::os::unix::fs::MetadataExt;
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            out.push(p.clone());
            if std::fs::symlink_metadata(&p).unwrap().is_dir() {
                walk(&p, out);
            }
        }
    }
    let mut paths = vec![dir.to_path_buf()];
    walk(dir, &mut paths);
    paths.sort();
    let mut h = Sha256::new();
    for p in paths {
        let m = std::fs::symlink_metadata(&p).unwrap();
        h.update(p.to_string_lossy().as_bytes());
        h.update(m.mode().to_le_bytes());
        h.update(m.mtime().to_le_bytes());
        if m.is_file() {
            h.update(read(&p));
        } else if m.file_type().is_symlink() {
            h.update(std::fs::read_link(&p).unwrap().to_string_lossy().as_bytes());
        }
    }
    hex::encode(h.finalize())
}

/// A volume whose conf is missing (lost, or not synced yet) is never
/// overwritten by `init` or a first `mount`: they refuse it with exit 3 and
/// write nothing, and the volume opens once its conf is back.
#[test]
fn a_non_empty_directory_without_a_conf_is_refused() {
    let t = tmp();
    let d = t.path();
    pwfiles(d);
    let disks = build_volume(d);
    std::fs::create_dir(d.join("mnt")).unwrap();
    std::fs::rename(d.join("vol/fusecry.conf"), d.join("saved.conf")).unwrap();
    let before = tree_hash(&d.join("vol"));
    let o = run(d, &with_cheap(&["init", "vol", "--password-file", "pw"]));
    o.fails(3, "no fusecry.conf in vol, which is not empty");
    assert!(o.stderr.contains("restore the conf"), "{}", o.stderr);
    let o = run(
        d,
        &with_cheap(&["mount", "vol", "mnt", "--password-file", "pw"]),
    );
    o.fails(
        3,
        "no fusecry.conf in vol, which is not empty: pass --conf, or restore the conf",
    );
    assert_eq!(tree_hash(&d.join("vol")), before, "the volume changed");
    // Only a directory IV is enough to refuse (a volume with no files yet).
    std::fs::create_dir(d.join("ivonly")).unwrap();
    std::fs::copy(d.join("vol/fusecry.diriv"), d.join("ivonly/fusecry.diriv")).unwrap();
    run(d, &with_cheap(&["init", "ivonly", "--password-file", "pw"])).fails(3, "ivonly");
    assert_eq!(std::fs::read_dir(d.join("ivonly")).unwrap().count(), 1);
    // A conf name that is a dangling symlink is a conf: nothing is written
    // through it.
    std::fs::create_dir(d.join("link")).unwrap();
    std::os::unix::fs::symlink(d.join("victim"), d.join("link/fusecry.conf")).unwrap();
    run(d, &with_cheap(&["init", "link", "--password-file", "pw"]))
        .fails(1, "a conf already exists");
    assert!(!d.join("victim").exists());
    // The conf restored, every file decrypts as before.
    std::fs::rename(d.join("saved.conf"), d.join("vol/fusecry.conf")).unwrap();
    for (name, disk) in &disks {
        run(
            d,
            &[
                "decrypt",
                &format!("vol/{disk}"),
                &format!("{name}.out"),
                "-c",
                "vol/fusecry.conf",
                "--password-file",
                "pw",
            ],
        )
        .ok();
        assert_eq!(read(&d.join(format!("{name}.out"))), read(&d.join(name)));
    }
    run(d, &["fsck", "vol", "--password-file", "pw"]).ok();
    // An empty directory is fine.
    std::fs::create_dir(d.join("fresh")).unwrap();
    run(d, &with_cheap(&["init", "fresh", "--password-file", "pw"])).ok();
}

/// `migrate` writes a volume with encrypted names unless --plain-names, which
/// a volume whose names were encrypted refuses; its target must be missing
/// or empty.
#[test]
fn migrate_encrypts_names_by_default() {
    let t = tmp();
    let d = t.path();
    pwfiles(d);
    run(
        d,
        &with_cheap(&["init", "leg", "--legacy", "--password-file", "pw"]),
    )
    .ok();
    write(&d.join("in"), b"migrated content");
    run(
        d,
        &[
            "encrypt",
            "in",
            "leg/file.txt",
            "-c",
            "leg/fusecry.conf",
            "--password-file",
            "pw",
        ],
    )
    .ok();
    let migrate = |to: &str, extra: &[&str]| {
        let mut args = vec![
            "migrate",
            "leg",
            to,
            "--password-file",
            "pw",
            "--new-password-file",
            "pw",
        ];
        args.extend_from_slice(extra);
        run(d, &with_cheap(&args))
    };
    migrate("enc", &[]).ok();
    assert_eq!(
        conf_json(&d.join("enc/fusecry.conf"))["encrypted_names"],
        true
    );
    assert!(d.join("enc/fusecry.diriv").is_file());
    assert!(!d.join("enc/file.txt").exists());
    migrate("plain", &["--plain-names"]).ok();
    assert_eq!(
        conf_json(&d.join("plain/fusecry.conf"))["encrypted_names"],
        false
    );
    assert!(d.join("plain/file.txt").is_file());
    // Encrypted names stay encrypted.
    let o = run(
        d,
        &with_cheap(&[
            "migrate",
            "enc",
            "back",
            "--plain-names",
            "--password-file",
            "pw",
            "--new-password-file",
            "pw",
        ]),
    );
    o.fails(2, "--plain-names");
    assert!(!d.join("back").exists());
    // A non-empty target is left alone.
    let before = tree_hash(&d.join("plain"));
    migrate("plain", &[]).fails(1, "not an empty directory");
    assert_eq!(tree_hash(&d.join("plain")), before);
}

// ---------------------------------------------------------------- bounded unlock

/// A conf in `d` whose one slot is edited by `f`, as JSON.
fn edited_conf(d: &Path, name: &str, f: impl Fn(&mut serde_json::Value)) {
    let mut v = conf_json(&d.join("vol/fusecry.conf"));
    f(&mut v);
    write(&d.join(name), &serde_json::to_vec_pretty(&v).unwrap());
}

/// SPEC §4.1, §5, §15.1: a conf asking for more than the caps is refused
/// with ConfCorrupt (exit 12) naming it, before any derivation. The old
/// limits allowed slots of 4 GiB × 100 passes (hours), any number of slots
/// and 2³² − 1 PBKDF2 iterations (20 minutes).
#[test]
fn a_conf_asking_too_much_is_refused() {
    let t = tmp();
    let d = t.path();
    pwfiles(d);
    run(d, &with_cheap(&["init", "vol", "--password-file", "pw"])).ok();
    let slot = conf_json(&d.join("vol/fusecry.conf"))["slots"][0].clone();
    edited_conf(d, "greedy.conf", |v| {
        let mut s = slot.clone();
        s["m_cost_kib"] = 4194304.into();
        s["t_cost"] = 100.into();
        v["slots"].as_array_mut().unwrap().push(s);
    });
    edited_conf(d, "wide.conf", |v| {
        v["slots"] = serde_json::Value::Array(vec![slot.clone(); 33]);
    });
    edited_conf(d, "full.conf", |v| {
        v["slots"] = serde_json::Value::Array(vec![slot.clone(); 32]);
    });
    run(
        d,
        &with_cheap(&["init", "leg", "--legacy", "--password-file", "pw"]),
    )
    .ok();
    let mut lv = conf_json(&d.join("leg/fusecry.conf"));
    lv["kdf_iters"] = u32::MAX.into();
    write(&d.join("slow.conf"), &serde_json::to_vec(&lv).unwrap());
    for (conf, says) in [
        ("greedy.conf", "key slot 1: argon2id cost over the limit"),
        ("wide.conf", "33 key slots"),
        ("slow.conf", "\"kdf_iters\" is 4294967295"),
    ] {
        let start = std::time::Instant::now();
        let o = run_full(
            d,
            &["stream", "decrypt", "-c", conf, "--password-file", "pw"],
            Some(b""),
            None,
        );
        o.fails(12, conf);
        assert!(o.stderr.contains(says), "{conf}: {}", o.stderr);
        println!("{conf}: refused in {:?}", start.elapsed());
        run(d, &["info", conf]).fails(12, says);
    }
    // 32 slots open (the empty input is then a truncated stream); a 33rd
    // is not added.
    run_full(
        d,
        &[
            "stream",
            "decrypt",
            "-c",
            "full.conf",
            "--password-file",
            "pw",
        ],
        Some(b""),
        None,
    )
    .fails(20, "<stdin>: truncated");
    let before = read(&d.join("full.conf"));
    run(
        d,
        &with_cheap(&[
            "key",
            "add",
            "full.conf",
            "--password-file",
            "pw",
            "--new-password-file",
            "bad",
        ]),
    )
    .fails(1, "holds 32 key slots");
    assert_eq!(read(&d.join("full.conf")), before);
    // A new slot over the cap is refused as a usage error, before anything
    // is created.
    run(
        d,
        &[
            "init",
            "big",
            "--argon2-memory",
            "2097152",
            "--argon2-iterations",
            "1",
            "--password-file",
            "pw",
        ],
    )
    .fails(2, "--argon2-memory");
    assert!(!d.join("big").exists());
}

// ---------------------------------------------------------------- damage

#[test]
fn conf_and_data_damage_exit_codes() {
    let t = tmp();
    let d = t.path();
    pwfiles(d);
    let plain = data(10000, 5);
    write(&d.join("in"), &plain);
    run(
        d,
        &with_cheap(&[
            "encrypt",
            "in",
            "enc",
            "-c",
            "c.conf",
            "--chunk-size",
            "4096",
            "--password-file",
            "pw",
        ]),
    )
    .ok();
    let conf_text = String::from_utf8(read(&d.join("c.conf"))).unwrap();

    // Not JSON: 12.
    write(&d.join("bad.conf"), b"this is not json");
    run(
        d,
        &[
            "decrypt",
            "enc",
            "o",
            "-c",
            "bad.conf",
            "--password-file",
            "pw",
        ],
    )
    .fails(12, "bad.conf");
    // Edited parameter: 12 (params_mac).
    assert!(conf_text.contains("\"chunk_size\": 4096"));
    write(
        &d.join("edit.conf"),
        conf_text
            .replace("\"chunk_size\": 4096", "\"chunk_size\": 8192")
            .as_bytes(),
    );
    run(
        d,
        &[
            "decrypt",
            "enc",
            "o",
            "-c",
            "edit.conf",
            "--password-file",
            "pw",
        ],
    )
    .fails(12, "edit.conf");
    // Unknown format: 13.
    write(
        &d.join("v9.conf"),
        conf_text
            .replace("\"fusecry/1\"", "\"fusecry/9\"")
            .as_bytes(),
    );
    run(
        d,
        &[
            "decrypt",
            "enc",
            "o",
            "-c",
            "v9.conf",
            "--password-file",
            "pw",
        ],
    )
    .fails(13, "v9.conf");
    // Unknown feature: 13.
    assert!(conf_text.contains("\"features\": []"));
    write(
        &d.join("feat.conf"),
        conf_text
            .replace("\"features\": []", "\"features\": [\"x\"]")
            .as_bytes(),
    );
    run(
        d,
        &[
            "decrypt",
            "enc",
            "o",
            "-c",
            "feat.conf",
            "--password-file",
            "pw",
        ],
    )
    .fails(13, "feat.conf");
    assert!(!d.join("o").exists());

    // Bad chunk size: 14, nothing created.
    run(
        d,
        &with_cheap(&[
            "encrypt",
            "in",
            "e2",
            "-c",
            "n.conf",
            "--chunk-size",
            "100",
            "--password-file",
            "pw",
        ]),
    )
    .fails(14, "n.conf");
    assert!(!d.join("n.conf").exists());
    assert!(!d.join("e2").exists());
    run(
        d,
        &with_cheap(&[
            "init",
            "vbad",
            "--chunk-size",
            "100",
            "--password-file",
            "pw",
        ]),
    )
    .fails(14, "fusecry.conf");
    assert!(!d.join("vbad/fusecry.conf").exists());

    // Tampered chunk: 20, no output.
    let enc = read(&d.join("enc"));
    let mut bad = enc.clone();
    let mid = bad.len() / 2;
    bad[mid] ^= 0x01;
    write(&d.join("tampered"), &bad);
    run(
        d,
        &[
            "decrypt",
            "tampered",
            "o",
            "-c",
            "c.conf",
            "--password-file",
            "pw",
        ],
    )
    .fails(20, "tampered");
    assert!(!d.join("o").exists());
    // Truncated: 20, no output.
    write(&d.join("trunc"), &enc[..enc.len() - 10]);
    run(
        d,
        &[
            "decrypt",
            "trunc",
            "o",
            "-c",
            "c.conf",
            "--password-file",
            "pw",
        ],
    )
    .fails(20, "trunc");
    assert!(!d.join("o").exists());
    // Zero-byte file: 20.
    write(&d.join("zero"), b"");
    run(
        d,
        &[
            "decrypt",
            "zero",
            "o",
            "-c",
            "c.conf",
            "--password-file",
            "pw",
        ],
    )
    .fails(20, "zero");
    // Bad magic: 20.
    let mut bm = enc.clone();
    bm[0] = b'X';
    write(&d.join("magic"), &bm);
    run(
        d,
        &[
            "decrypt",
            "magic",
            "o",
            "-c",
            "c.conf",
            "--password-file",
            "pw",
        ],
    )
    .fails(20, "magic");
    assert!(!d.join("o").exists());
    // The original still decrypts.
    run(
        d,
        &[
            "decrypt",
            "enc",
            "o",
            "-c",
            "c.conf",
            "--password-file",
            "pw",
        ],
    )
    .ok();
    assert_eq!(read(&d.join("o")), plain);
}

// ---------------------------------------------------------------- names

#[test]
fn name_round_trip_in_volume() {
    let t = tmp();
    let d = t.path();
    pwfiles(d);
    run(
        d,
        &with_cheap(&["init", "vol", "-n", "--password-file", "pw"]),
    )
    .ok();
    let long = "l".repeat(150) + &"é".repeat(25); // 200 bytes
    assert_eq!(long.len(), 200);
    for name in [
        "a",
        "hello world.txt",
        "日本語.txt",
        ".hidden",
        long.as_str(),
    ] {
        let e = run(
            d,
            &[
                "name",
                "encrypt",
                name,
                "-c",
                "vol",
                "--password-file",
                "pw",
            ],
        );
        e.ok();
        let disk = e.stdout_str().trim_end().to_string();
        assert!(!disk.is_empty());
        // Deterministic.
        let e2 = run(
            d,
            &[
                "name",
                "encrypt",
                name,
                "-c",
                "vol",
                "--password-file",
                "pw",
            ],
        );
        assert_eq!(e2.stdout_str().trim_end(), disk);
        if name.len() == 200 {
            assert!(disk.starts_with("fusecry.longname."), "{disk}");
            // Decrypt without the sidecar fails, naming the sidecar.
            run(
                d,
                &[
                    "name",
                    "decrypt",
                    &disk,
                    "-c",
                    "vol",
                    "--password-file",
                    "pw",
                ],
            )
            .fails(3, ".name");
            // "long name: the sidecar X.name holds ENCODED"
            let line = e
                .stderr
                .lines()
                .find(|l| l.contains("sidecar"))
                .expect(&e.stderr);
            let words: Vec<&str> = line.split_whitespace().collect();
            let sidecar = words[words.iter().position(|w| *w == "sidecar").unwrap() + 1];
            let encoded = *words.last().unwrap();
            assert_eq!(sidecar, format!("{disk}.name"));
            write(&d.join("vol").join(sidecar), encoded.as_bytes());
        } else {
            assert!(!disk.starts_with("fusecry."));
            assert!(disk
                .bytes()
                .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit()));
        }
        let dd = run(
            d,
            &[
                "name",
                "decrypt",
                &disk,
                "-c",
                "vol",
                "--password-file",
                "pw",
            ],
        );
        dd.ok();
        assert_eq!(dd.stdout_str().trim_end_matches('\n'), name);
    }
    // A garbage base32 name: 20.
    let junk = "A".repeat(52);
    run(
        d,
        &[
            "name",
            "decrypt",
            &junk,
            "-c",
            "vol",
            "--password-file",
            "pw",
        ],
    )
    .fails(20, &junk);
    // A different directory IV gives a different name.
    std::fs::create_dir(d.join("vol/sub")).unwrap();
    write(&d.join("vol/sub/fusecry.diriv"), &[7u8; 16]);
    let a = run(
        d,
        &["name", "encrypt", "x", "-c", "vol", "--password-file", "pw"],
    );
    let b = run(
        d,
        &[
            "name",
            "encrypt",
            "x",
            "-c",
            "vol",
            "--dir",
            "vol/sub",
            "--password-file",
            "pw",
        ],
    );
    a.ok();
    b.ok();
    assert_ne!(a.stdout, b.stdout);
    // A directory without diriv: 3.
    std::fs::create_dir(d.join("vol/nodiriv")).unwrap();
    run(
        d,
        &[
            "name",
            "encrypt",
            "x",
            "-c",
            "vol",
            "--dir",
            "vol/nodiriv",
            "--password-file",
            "pw",
        ],
    )
    .fails(3, "fusecry.diriv");
}

#[test]
fn legacy_names_vectors() {
    let Some(root) = legacy_dir() else { return };
    let case = root.join("names-c4096");
    let m = manifest(&case);
    let pw = m["auth"]["password"].as_str().unwrap();
    let names = m["names"].as_array().unwrap();
    let mut n = 0;
    for v in names {
        let enc = v["encrypted"].as_str().unwrap();
        let o = run(
            &case,
            &["name", "decrypt", enc, "-c", "names.conf", "-p", pw],
        );
        o.ok();
        assert_eq!(
            o.stdout_str().trim_end_matches('\n'),
            v["plain"].as_str().unwrap(),
            "legacy name {enc}"
        );
        n += 1;
    }
    assert!(n >= 17);
    // Encrypt (random IV) then decrypt round trip with the same conf.
    for plain in ["a", "über café.txt", &"x".repeat(128)] {
        let e = run(
            &case,
            &["name", "encrypt", plain, "-c", "names.conf", "-p", pw],
        );
        e.ok();
        let disk = e.stdout_str().trim_end().to_string();
        assert_ne!(disk, plain);
        let d = run(
            &case,
            &["name", "decrypt", &disk, "-c", "names.conf", "-p", pw],
        );
        d.ok();
        assert_eq!(d.stdout_str().trim_end_matches('\n'), plain);
    }
    // 129 bytes is over the legacy limit; a wrong password is 10.
    let o = run(
        &case,
        &[
            "name",
            "encrypt",
            &"x".repeat(129),
            "-c",
            "names.conf",
            "-p",
            pw,
        ],
    );
    o.fails(1, "at most 128 bytes");
    let enc = names[0]["encrypted"].as_str().unwrap();
    run(
        &case,
        &["name", "decrypt", enc, "-c", "names.conf", "-p", "wrong"],
    )
    .fails(10, "names.conf");
    eprintln!("legacy names: {n} cases ran");
}

// ---------------------------------------------------------------- info

#[test]
fn info_text_json_legacy_schema() {
    let t = tmp();
    let d = t.path();
    pwfiles(d);
    run(
        d,
        &with_cheap(&[
            "init",
            "vol",
            "-n",
            "--chunk-size",
            "1024",
            "--password-file",
            "pw",
        ]),
    )
    .ok();
    let o = run(d, &["info", "vol"]);
    o.ok();
    let s = o.stdout_str();
    assert!(s.contains("fusecry/1"), "{s}");
    assert!(s.contains("1024"), "{s}");
    assert!(s.contains("encrypted"), "{s}");
    assert!(!s.contains("legacy"), "{s}");
    // info on the conf file itself works too.
    run(d, &["info", "vol/fusecry.conf"]).ok();

    let o = run(d, &["info", "--json", "vol"]);
    o.ok();
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["profile"], "fusecry/1");
    assert_eq!(v["chunk_size"], 1024);
    assert_eq!(v["encrypted_names"], true);
    assert_eq!(v["slots"].as_array().unwrap().len(), 1);
    assert_eq!(v["warnings"], serde_json::json!([]));
    assert!(!s.contains("warning"), "{s}");

    // A plain-names volume is shown with a warning.
    run(
        d,
        &with_cheap(&["init", "pn", "--plain-names", "--password-file", "pw"]),
    )
    .ok();
    let o = run(d, &["info", "pn"]);
    o.ok();
    let s = o.stdout_str();
    assert!(s.contains("names:           plain"), "{s}");
    assert!(s.contains("warning: plain names"), "{s}");
    assert!(!s.contains("legacy"), "{s}");
    let v: serde_json::Value =
        serde_json::from_slice(&run(d, &["info", "--json", "pn"]).stdout).unwrap();
    let w = v["warnings"].as_array().unwrap();
    assert_eq!(w.len(), 1, "{v}");
    assert!(w[0].as_str().unwrap().contains("plain names"), "{v}");

    run(
        d,
        &with_cheap(&["init", "leg", "--legacy", "--password-file", "pw"]),
    )
    .ok();
    let o = run(d, &["info", "leg"]);
    o.ok();
    let s = o.stdout_str();
    assert!(s.contains("warning: legacy 0.11"), "{s}");
    assert!(s.contains("plain"), "{s}");
    let o = run(d, &["info", "--json", "leg"]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["encrypted_names"], false);
    let w: Vec<&str> = v["warnings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w.as_str().unwrap())
        .collect();
    assert_eq!(w.len(), 2, "{v}");
    assert!(
        w[0].contains("legacy") && w[1].contains("plain names"),
        "{v}"
    );
    assert!(v["profile"].as_str().unwrap().contains("legacy"));

    let o = run(d, &["info", "--schema"]);
    o.ok();
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert!(v["properties"]["chunk_size"].is_object(), "{v}");

    // Missing conf: 3; corrupt: 12.
    run(d, &["info", "nowhere"]).fails(3, "nowhere");
    write(&d.join("junk.conf"), b"{");
    run(d, &["info", "junk.conf"]).fails(12, "junk.conf");
}

// ---------------------------------------------------------------- fsck

/// Creates the fusecry/1 -n volume "vol" (chunk 4096) in `d`.
fn init_volume(d: &Path) {
    run(
        d,
        &with_cheap(&[
            "init",
            "vol",
            "-n",
            "--chunk-size",
            "4096",
            "--password-file",
            "pw",
        ]),
    )
    .ok();
}

/// Encrypts `bytes` as the root file `name` of "vol"; returns its disk name.
fn add_file(d: &Path, name: &str, bytes: &[u8]) -> String {
    let e = run(
        d,
        &[
            "name",
            "encrypt",
            name,
            "-c",
            "vol",
            "--password-file",
            "pw",
        ],
    );
    e.ok();
    let disk = e.stdout_str().trim_end().to_string();
    write(&d.join(name), bytes);
    run(
        d,
        &[
            "encrypt",
            name,
            &format!("vol/{disk}"),
            "-c",
            "vol/fusecry.conf",
            "--password-file",
            "pw",
        ],
    )
    .ok();
    disk
}

/// Builds a fusecry/1 -n volume with files a.txt, b.bin (10000 bytes, chunk 4096).
fn build_volume(d: &Path) -> Vec<(String, String)> {
    init_volume(d);
    [("a.txt", 100usize), ("b.bin", 10000), ("empty", 0)]
        .iter()
        .map(|&(name, n)| (name.to_string(), add_file(d, name, &data(n, n as u8))))
        .collect()
}

#[test]
fn fsck_built_volume() {
    let t = tmp();
    let d = t.path();
    pwfiles(d);
    let files = build_volume(d);
    let o = run(d, &["fsck", "vol", "--password-file", "pw"]);
    o.ok();
    assert!(
        o.stdout_str().lines().last() == Some("clean"),
        "{}",
        o.stdout_str()
    );
    assert!(
        o.stdout_str().contains("checked 3 files"),
        "{}",
        o.stdout_str()
    );
    let o = run(d, &["fsck", "vol", "--json", "--password-file", "pw"]);
    o.ok();
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["clean"], true);
    assert_eq!(v["files"], 3);

    // Wrong password: 10.
    run(d, &["fsck", "vol", "--password-file", "bad"]).fails(10, "fusecry.conf");

    // Flip a ciphertext byte of chunk 1 of b.bin.
    let b_disk = &files.iter().find(|(n, _)| n == "b.bin").unwrap().1;
    flip(&d.join("vol").join(b_disk), 20 + (4096 + 48) + 48 + 5);
    let o = run(d, &["fsck", "vol", "--password-file", "pw"]);
    o.fails(21, "vol");
    assert!(
        o.stdout_str().contains("DAMAGED /b.bin"),
        "{}",
        o.stdout_str()
    );
    let o = run(d, &["fsck", "vol", "--json", "--password-file", "pw"]);
    o.fails(21, "1 damaged");
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["clean"], false);
    let dmg = v["damaged"].as_array().unwrap();
    assert_eq!(dmg.len(), 1, "{v}");
    assert_eq!(dmg[0]["path"], "/b.bin");
    assert_eq!(dmg[0]["chunks"], serde_json::json!([1]));

    // Rename a.txt to a garbage base32 name: reported as a bad name.
    let a_disk = &files.iter().find(|(n, _)| n == "a.txt").unwrap().1;
    let garbage = "A".repeat(a_disk.len());
    std::fs::rename(d.join("vol").join(a_disk), d.join("vol").join(&garbage)).unwrap();
    let o = run(d, &["fsck", "vol", "--json", "--password-file", "pw"]);
    o.fails(21, "2 damaged");
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let dmg = v["damaged"].as_array().unwrap();
    assert_eq!(dmg.len(), 2, "{v}");
    let bad_name = dmg
        .iter()
        .find(|x| x["path"].as_str().unwrap().contains(&garbage))
        .unwrap_or_else(|| panic!("bad name not reported: {v}"));
    assert!(
        bad_name["problem"]
            .as_str()
            .unwrap()
            .to_lowercase()
            .contains("name"),
        "{v}"
    );

    // Not a volume: 3.
    run(d, &["fsck", "nowhere", "--password-file", "pw"]).fails(3, "nowhere");
}

/// SPEC §10: a `fusecry.tmp.*` entry is a symlink a rename wrote anew and did
/// not get to put in place (an interrupted rename): reported as damage,
/// and the volume is clean once it is deleted.
#[test]
fn fsck_reports_a_leftover_of_an_interrupted_rename() {
    let t = tmp();
    let d = t.path();
    pwfiles(d);
    build_volume(d);
    let tmp_name = format!("fusecry.tmp.{}", "A".repeat(26));
    std::os::unix::fs::symlink("ANYTARGET", d.join("vol").join(&tmp_name)).unwrap();
    let o = run(d, &["fsck", "vol", "--json", "--password-file", "pw"]);
    o.fails(21, "1 damaged");
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let dmg = v["damaged"].as_array().unwrap();
    assert_eq!(dmg.len(), 1, "{v}");
    assert!(dmg[0]["path"].as_str().unwrap().contains(&tmp_name), "{v}");
    assert!(
        dmg[0]["problem"]
            .as_str()
            .unwrap()
            .contains("interrupted rename"),
        "{v}"
    );
    std::fs::remove_file(d.join("vol").join(&tmp_name)).unwrap();
    run(d, &["fsck", "vol", "--password-file", "pw"]).ok();
}

/// Runs fusecry with `args` and extra environment, killed after `secs`
/// seconds (a panic naming the command: a hang is a failure, not a wait).
fn run_bounded(dir: &Path, args: &[&str], env: &[(&str, &str)], secs: u64) -> Out {
    let mut c = Command::new(env!("CARGO_BIN_EXE_fusecry"));
    c.args(args)
        .current_dir(dir)
        .env_remove("FUSECRY_PASSWORD")
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = c.spawn().expect("spawn fusecry");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(secs);
    while child.try_wait().unwrap().is_none() {
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("fusecry {args:?} with {env:?} did not finish within {secs} s");
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let o = child.wait_with_output().unwrap();
    Out {
        code: o.status.code().unwrap_or(-1),
        stdout: o.stdout,
        stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
    }
}

/// Issue 15 item 0: fsck verified files in a rayon loop whose per-file
/// pipelines waited on channels for work queued on the same pool, and never
/// returned on a volume with two files of 300 KB or more. Every command that
/// runs parallel work over many files finishes with 1, 2 and 4 workers on a
/// volume of many files of varied sizes, larger than one batch among them.
#[test]
fn parallel_commands_finish_with_1_2_4_workers() {
    let t = tmp();
    let d = t.path();
    pwfiles(d);
    init_volume(d);
    let sizes = [
        0usize,
        1,
        4095,
        4096,
        100_000,
        300_000,
        300_001,
        1_000_000,
        4 << 20,
        (4 << 20) + 1,
        9_000_000,
        20_000_000,
    ];
    let disks: Vec<String> = sizes
        .iter()
        .enumerate()
        .map(|(i, &n)| add_file(d, &format!("f{i}"), &data(n, i as u8)))
        .collect();
    // One damaged large file: fsck must still finish and name it.
    flip(&d.join("vol").join(&disks[9]), 20 + 3 * (4096 + 48) + 60);
    for threads in ["1", "2", "4"] {
        let env = [("RAYON_NUM_THREADS", threads)];
        let o = run_bounded(
            d,
            &["fsck", "vol", "--json", "--password-file", "pw"],
            &env,
            120,
        );
        assert_eq!(o.code, 21, "threads {threads}: {}", o.stderr);
        let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        assert_eq!(v["files"], sizes.len(), "threads {threads}: {v}");
        let dmg = v["damaged"].as_array().unwrap();
        assert_eq!(dmg.len(), 1, "threads {threads}: {v}");
        assert_eq!(dmg[0]["path"], "/f9");
        assert_eq!(dmg[0]["chunks"], serde_json::json!([3]));

        // migrate reads every file back; it stops at the damaged one (exit
        // 20), so it copies a clean copy of the volume.
        let clean = format!("clean{threads}");
        let new = format!("new{threads}");
        std::fs::create_dir(d.join(&clean)).unwrap();
        for e in std::fs::read_dir(d.join("vol")).unwrap() {
            let e = e.unwrap();
            std::fs::copy(e.path(), d.join(&clean).join(e.file_name())).unwrap();
        }
        std::fs::remove_file(d.join(&clean).join(&disks[9])).unwrap();
        let mut args = vec![
            "migrate",
            &clean,
            &new,
            "--password-file",
            "pw",
            "--new-password-file",
            "pw",
        ];
        args.extend_from_slice(&CHEAP);
        let o = run_bounded(d, &args, &env, 180);
        o.ok();
        let o = run_bounded(d, &["fsck", &new, "--password-file", "pw"], &env, 120);
        o.ok();
        assert!(
            o.stdout_str()
                .contains(&format!("checked {} files", sizes.len() - 1)),
            "threads {threads}: {}",
            o.stdout_str()
        );
        let mut args = vec![
            "key",
            "add",
            &new,
            "--password-file",
            "pw",
            "--new-password-file",
            "bad",
        ];
        args.extend_from_slice(&CHEAP);
        run_bounded(d, &args, &env, 60).ok();
        run_bounded(d, &["fsck", &new, "--password-file", "bad"], &env, 120).ok();
    }
}

/// The storage holder swaps the conf for a FIFO (nobody writes to it) or
/// a device: every command that reads it fails at once with one line
/// naming the conf, instead of blocking on the open.
#[test]
fn conf_replaced_by_a_fifo_or_device_is_refused_without_blocking() {
    let t = tmp();
    let d = t.path();
    pwfiles(d);
    init_volume(d);
    let conf = d.join("vol/fusecry.conf");
    std::fs::remove_file(&conf).unwrap();
    nix::unistd::mkfifo(&conf, nix::sys::stat::Mode::S_IRWXU).unwrap();
    for args in [
        &["info", "vol"][..],
        &["fsck", "vol", "--password-file", "pw"],
        &[
            "stream",
            "decrypt",
            "-c",
            "vol/fusecry.conf",
            "--password-file",
            "pw",
        ],
    ] {
        let o = run_bounded(d, args, &[], 30);
        o.fails(12, "fusecry.conf");
        assert!(o.stderr.contains("not a regular file"), "{}", o.stderr);
    }
    std::fs::remove_file(&conf).unwrap();
    std::os::unix::fs::symlink("/dev/zero", &conf).unwrap();
    run_bounded(d, &["info", "vol"], &[], 30).fails(12, "fusecry.conf");
}

fn extract(case: &Path, into: &Path) {
    let st = Command::new("tar")
        .arg("-xf")
        .arg(case.join("volume.tar"))
        .arg("-C")
        .arg(into)
        .status()
        .unwrap();
    assert!(st.success());
}

#[test]
fn fsck_legacy_volumes() {
    let Some(root) = legacy_dir() else { return };
    let t = tmp();
    // Clean.
    let case = root.join("pw-c4096");
    let pw = manifest(&case)["auth"]["password"]
        .as_str()
        .unwrap()
        .to_string();
    let into = t.path().join("pw");
    std::fs::create_dir(&into).unwrap();
    extract(&case, &into);
    let o = run(&into, &["fsck", "volume", "-p", &pw]);
    o.ok();
    assert_eq!(
        o.stdout_str().lines().last(),
        Some("clean"),
        "{}",
        o.stdout_str()
    );
    // Tampered.
    let case = root.join("tamper-bitflip");
    let m = manifest(&case);
    let pw = m["auth"]["password"].as_str().unwrap().to_string();
    let into = t.path().join("tb");
    std::fs::create_dir(&into).unwrap();
    extract(&case, &into);
    let o = run(&into, &["fsck", "volume", "--json", "-p", &pw]);
    o.fails(21, "volume");
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let dmg = v["damaged"].as_array().unwrap();
    assert_eq!(dmg.len(), 1, "{v}");
    assert!(
        dmg[0]["path"].as_str().unwrap().ends_with("victim.bin"),
        "{v}"
    );
    assert_eq!(dmg[0]["chunks"], serde_json::json!([1]), "{v}");
    let o = run(&into, &["fsck", "volume", "-p", &pw]);
    assert_eq!(o.code, 21);
    assert!(o.stdout_str().contains("victim.bin"));
}

// ---------------------------------------------------------------- keys

#[test]
fn passwd_and_key_slots() {
    let t = tmp();
    let d = t.path();
    pwfiles(d);
    write(&d.join("new"), b"new password\n");
    write(&d.join("third"), b"third\n");
    run(d, &with_cheap(&["init", "vol", "--password-file", "pw"])).ok();
    let plain = data(7000, 11);
    write(&d.join("in"), &plain);
    run(
        d,
        &[
            "encrypt",
            "in",
            "vol/f",
            "-c",
            "vol/fusecry.conf",
            "--password-file",
            "pw",
        ],
    )
    .ok();
    let stored = read(&d.join("vol/f"));

    // passwd with a wrong old password: 10, conf untouched.
    let conf_before = read(&d.join("vol/fusecry.conf"));
    run(
        d,
        &with_cheap(&[
            "passwd",
            "vol",
            "--password-file",
            "bad",
            "--new-password-file",
            "new",
        ]),
    )
    .fails(10, "fusecry.conf");
    assert_eq!(read(&d.join("vol/fusecry.conf")), conf_before);

    run(
        d,
        &with_cheap(&[
            "passwd",
            "vol",
            "--password-file",
            "pw",
            "--new-password-file",
            "new",
        ]),
    )
    .ok();
    let dec = |pwf: &str, out: &str| {
        run(
            d,
            &[
                "decrypt",
                "vol/f",
                out,
                "-c",
                "vol/fusecry.conf",
                "--password-file",
                pwf,
            ],
        )
    };
    dec("pw", "o1").fails(10, "fusecry.conf");
    dec("new", "o2").ok();
    assert_eq!(read(&d.join("o2")), plain);
    assert_eq!(read(&d.join("vol/f")), stored, "data untouched");

    // key add: both open.
    run(
        d,
        &with_cheap(&[
            "key",
            "add",
            "vol",
            "--password-file",
            "new",
            "--new-password-file",
            "third",
        ]),
    )
    .ok();
    let c: serde_json::Value = serde_json::from_slice(&read(&d.join("vol/fusecry.conf"))).unwrap();
    assert_eq!(c["slots"].as_array().unwrap().len(), 2);
    dec("new", "o3").ok();
    dec("third", "o4").ok();
    assert_eq!(read(&d.join("o4")), plain);

    // key remove --slot 0: only the second works.
    run(
        d,
        &[
            "key",
            "remove",
            "vol",
            "--slot",
            "0",
            "--password-file",
            "third",
        ],
    )
    .ok();
    dec("new", "o5").fails(10, "fusecry.conf");
    dec("third", "o6").ok();
    assert_eq!(read(&d.join("o6")), plain);
    // Out of range slot: 1.
    run(
        d,
        &[
            "key",
            "remove",
            "vol",
            "--slot",
            "5",
            "--password-file",
            "third",
        ],
    )
    .fails(1, "slot 5");
    // Removing the last slot fails.
    run(
        d,
        &[
            "key",
            "remove",
            "vol",
            "--slot",
            "0",
            "--password-file",
            "third",
        ],
    )
    .fails(1, "last key slot");
    dec("third", "o7").ok();
    // The conf stays valid for info.
    run(d, &["info", "vol"]).ok();

    // Legacy volumes cannot change their password.
    run(
        d,
        &with_cheap(&["init", "leg", "--legacy", "--password-file", "pw"]),
    )
    .ok();
    run(
        d,
        &with_cheap(&[
            "passwd",
            "leg",
            "--password-file",
            "pw",
            "--new-password-file",
            "new",
        ]),
    )
    .fails(1, "legacy");
}

// ---------------------------------------------------------------- misc

#[test]
fn completions_and_usage() {
    let t = tmp();
    let o = run(t.path(), &["completions", "bash"]);
    o.ok();
    assert!(o.stdout_str().contains("fusecry"));
    let o = run(t.path(), &["man"]);
    o.ok();
    assert!(o.stdout_str().contains("fusecry"));
    // Usage errors are exit 2 (clap).
    assert_eq!(run(t.path(), &["frobnicate"]).code, 2);
    assert_eq!(run(t.path(), &["encrypt", "onlyone"]).code, 2);
}

// ---------------------------------------------------------------- legacy vectors

#[test]
fn legacy_single_and_stream_vectors() {
    let Some(root) = legacy_dir() else { return };
    let t = tmp();
    let mut ran = 0;
    for case_name in ["single-c4096", "stream-c4096"] {
        let case = root.join(case_name);
        let m = manifest(&case);
        let pw = m["auth"]["password"].as_str().unwrap();
        for e in m["entries"].as_array().unwrap() {
            let enc = e["enc"].as_str().unwrap();
            let conf = e["conf"].as_str().unwrap();
            let sha = e["sha256"].as_str().unwrap();
            let out = t.path().join(format!("{case_name}-{enc}.dec"));
            let out_s = out.to_str().unwrap();
            run(&case, &["decrypt", enc, out_s, "-c", conf, "-p", pw]).ok();
            assert_eq!(sha_hex(&read(&out)), sha, "{case_name}/{enc}");
            ran += 1;
            if case_name == "stream-c4096" {
                let o = run_full(
                    &case,
                    &["stream", "decrypt", "-c", conf, "-p", pw],
                    Some(&read(&case.join(enc))),
                    None,
                );
                o.ok();
                assert_eq!(sha_hex(&o.stdout), sha, "stream decrypt {enc}");
                ran += 1;
            }
        }
        // Wrong password on a legacy conf: 10.
        let e = &m["entries"][1];
        let out = t.path().join("wrong.dec");
        run(
            &case,
            &[
                "decrypt",
                e["enc"].as_str().unwrap(),
                out.to_str().unwrap(),
                "-c",
                e["conf"].as_str().unwrap(),
                "-p",
                "not the password",
            ],
        )
        .fails(10, e["conf"].as_str().unwrap());
        assert!(!out.exists());
    }
    assert!(ran >= 15 + 16, "ran {ran}");
    eprintln!("legacy single/stream vectors: {ran} cases ran");
}

#[test]
fn test_seed_switch_is_refused_without_its_environment_and_hidden() {
    let t = tmp();
    let d = t.path();
    pwfiles(d);
    write(&d.join("in"), b"hello");
    let enc = with_cheap(&[
        "encrypt",
        "in",
        "out",
        "-c",
        "vol.conf",
        "--password-file",
        "pw",
        "--insecure-test-seed",
        "7",
    ]);
    for args in [
        enc.clone(),
        vec![
            "stream",
            "encrypt",
            "-c",
            "s.conf",
            "--password-file",
            "pw",
            "--insecure-test-seed",
            "7",
        ],
        vec![
            "name",
            "encrypt",
            "x",
            "-c",
            "s.conf",
            "--password-file",
            "pw",
            "--insecure-test-seed",
            "7",
        ],
        vec![
            "mount",
            "src",
            "mnt",
            "--password-file",
            "pw",
            "--insecure-test-seed",
            "7",
        ],
    ] {
        run_full(d, &args, Some(b""), None).fails(2, "FUSECRY_INSECURE_TEST_SEED=yes");
    }
    for f in ["out", "src", "vol.conf", "s.conf"] {
        assert!(!d.join(f).exists(), "a refused command left {f}");
    }
    for cmd in ["encrypt", "mount"] {
        let help = run(d, &[cmd, "--help"]);
        assert!(
            !help.stdout_str().contains("insecure"),
            "{cmd} --help shows the test switch"
        );
    }
    // With the environment set, the same seed gives the same bytes twice,
    // and an unseeded run gives other bytes.
    let seeded = |out: &str| {
        let mut c = Command::new(env!("CARGO_BIN_EXE_fusecry"));
        let mut a = enc.clone();
        a[2] = out;
        let st = c
            .args(&a)
            .current_dir(d)
            .env("FUSECRY_INSECURE_TEST_SEED", "yes")
            .stderr(Stdio::null())
            .status()
            .unwrap();
        assert!(st.success());
        read(&d.join(out))
    };
    let (a, b) = (seeded("a"), seeded("b"));
    assert_eq!(a, b);
    run(
        d,
        &[
            "encrypt",
            "in",
            "c",
            "-c",
            "vol.conf",
            "--password-file",
            "pw",
        ],
    )
    .ok();
    assert_ne!(a, read(&d.join("c")));
}
