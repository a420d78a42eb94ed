//! The CLI runner: conformance vectors played through the `fusecry` binary
//! (decrypt, stream decrypt, stream encrypt, name decrypt as subprocesses),
//! comparing output bytes and exit codes. Vectors the CLI cannot express are
//! listed with the reason.

use fusecry_conformance::{exit_code, load_all, vectors_dir, Area, Loaded};
use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};

const BIN: &str = env!("CARGO_BIN_EXE_fusecry");

fn run(args: &[&str], stdin: &[u8]) -> Output {
    let mut c = Command::new(BIN)
        .args(args)
        .env_remove("FUSECRY_PASSWORD")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut i = c.stdin.take().unwrap();
    let data = stdin.to_vec();
    let t = std::thread::spawn(move || {
        let _ = i.write_all(&data);
    });
    let o = c.wait_with_output().unwrap();
    t.join().unwrap();
    o
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// Plays one vector; `Ok(None)` when played, `Ok(Some(reason))` when the CLI cannot express it.
fn play(l: &Loaded, dir: &Path) -> Result<Option<&'static str>, String> {
    let v = &l.v;
    let conf = dir.join("vector.conf");
    fs::write(&conf, &v.conf).unwrap();
    let mut secret: Vec<String> = Vec::new();
    if let Some(p) = &v.password {
        let pw = dir.join("pw");
        fs::write(&pw, p).unwrap();
        secret.extend(["--password-file".into(), s(&pw).into()]);
    } else if let Some(k) = &v.key_pem {
        let key = dir.join("key.pem");
        fs::write(&key, k).unwrap();
        secret.extend(["--key".into(), s(&key).into()]);
    }
    let want = exit_code(&v.expect);
    let check = |o: &Output, what: &str| -> Result<(), String> {
        if o.status.code() != Some(want) {
            return Err(format!(
                "{}: {what} exited {:?}, expected {want} ({}): {}",
                l.name,
                o.status.code(),
                v.expect,
                String::from_utf8_lossy(&o.stderr)
            ));
        }
        Ok(())
    };
    let args = |base: &[&str]| -> Vec<String> {
        base.iter()
            .map(|a| a.to_string())
            .chain(secret.iter().cloned())
            .collect()
    };
    let call = |a: Vec<String>, stdin: &[u8]| {
        let r: Vec<&str> = a.iter().map(String::as_str).collect();
        run(&r, stdin)
    };
    match v.area {
        Area::Conf => {
            // Opening the conf is the first thing `stream encrypt` does.
            let o = call(args(&["stream", "encrypt", "-c", s(&conf)]), b"x");
            check(&o, "stream encrypt")?;
        }
        Area::File => {
            let input = dir.join("in.enc");
            let output = dir.join("out.bin");
            let _ = fs::remove_file(&output);
            fs::write(&input, l.bytes(v.stored.as_ref().unwrap()).unwrap()).unwrap();
            let o = call(
                args(&["decrypt", s(&input), s(&output), "-c", s(&conf)]),
                b"",
            );
            check(&o, "decrypt")?;
            if want == 0 {
                let got = fs::read(&output).unwrap();
                let plain = l.bytes(v.plaintext.as_ref().unwrap()).unwrap();
                if got != plain && !v.comment.contains("undetectable") {
                    return Err(format!("{}: decrypt wrote other bytes", l.name));
                }
            } else if output.exists() {
                return Err(format!("{}: a failed decrypt left its output", l.name));
            }
        }
        Area::Stream => {
            let stored = l.bytes(v.stored.as_ref().unwrap()).unwrap();
            let o = call(args(&["stream", "decrypt", "-c", s(&conf)]), &stored);
            check(&o, "stream decrypt")?;
            if want == 0 && o.stdout != l.bytes(v.plaintext.as_ref().unwrap()).unwrap() {
                return Err(format!("{}: stream decrypt wrote other bytes", l.name));
            }
        }
        Area::Name => {
            if v.sidecar.is_some() {
                return Ok(Some(
                    "long names: `fusecry name decrypt` takes the full encoding; the hashed name and sidecar are checked by the library and mount runners",
                ));
            }
            let d = dir.join("namedir");
            let _ = fs::create_dir(&d);
            let mut a = args(&[
                "name",
                "decrypt",
                v.disk_name.as_ref().unwrap(),
                "-c",
                s(&conf),
            ]);
            if let Some(iv) = &v.dir_iv {
                fs::write(d.join("fusecry.diriv"), hex::decode(iv).unwrap()).unwrap();
                a.extend(["--dir".into(), s(&d).into()]);
            }
            let o = call(a, b"");
            check(&o, "name decrypt")?;
            if want == 0 {
                let out = String::from_utf8_lossy(&o.stdout);
                if out.trim_end_matches('\n') != v.name.as_deref().unwrap() {
                    return Err(format!("{}: name decrypt printed {out:?}", l.name));
                }
            }
        }
        Area::Symlink => {
            return Ok(Some(
                "symlink targets: the CLI has no symlink command (the mount runner plays them)",
            ))
        }
    }
    Ok(None)
}

#[test]
fn conformance_vectors_through_the_cli() {
    let all = load_all(&vectors_dir()).unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let mut played = 0;
    let mut skipped: BTreeMap<&str, usize> = BTreeMap::new();
    let mut failed = Vec::new();
    for l in &all {
        match play(l, tmp.path()) {
            Ok(None) => played += 1,
            Ok(Some(reason)) => *skipped.entry(reason).or_default() += 1,
            Err(e) => failed.push(e),
        }
    }
    println!(
        "conformance (CLI): {} vectors, {played} played, {} failed; not expressible:",
        all.len(),
        failed.len()
    );
    for (reason, n) in &skipped {
        println!("  {n} × {reason}");
    }
    println!("  and the writer direction of every reproducible vector: the CLI draws from the OS RNG (the library and mount runners check writers)");
    assert!(failed.is_empty(), "{failed:#?}");
    assert!(played >= 200);
}
