//! The library runner: every vector in conformance/vectors against the
//! `format` crate (decoders for every vector, encoders byte for byte for the
//! reproducible ones), the checked-in schema, and regeneration.

use fusecry_conformance::{load_all, play, schema, vectors_dir, CLASSES};
use std::collections::BTreeSet;

#[test]
fn every_vector_passes_against_the_library() {
    let all = load_all(&vectors_dir()).unwrap();
    assert!(all.len() >= 250, "only {} vectors", all.len());
    let mut failed = Vec::new();
    let mut seen = BTreeSet::new();
    for l in &all {
        let got = play(l).unwrap_or_else(|e| format!("error: {e:#}"));
        if got != l.v.expect {
            failed.push(format!("{}: expected {}, got {got}", l.name, l.v.expect));
        }
        seen.insert(l.v.expect.clone());
        assert!(
            l.v.expect == "success" || CLASSES.contains(&l.v.expect.as_str()),
            "{}: unknown class {}",
            l.name,
            l.v.expect
        );
    }
    let reproducible = all.iter().filter(|l| l.v.reproducible).count();
    println!(
        "conformance (library): {} vectors, {reproducible} encoder checks, {} failed",
        all.len(),
        failed.len()
    );
    assert!(failed.is_empty(), "{failed:#?}");
    for c in CLASSES {
        assert!(seen.contains(*c), "no vector expects {c}");
    }
}

#[test]
fn checked_in_schema_is_current() {
    let want = serde_json::to_string_pretty(&schema()).unwrap() + "\n";
    let have = std::fs::read_to_string(vectors_dir().join("vector.schema.json")).unwrap();
    assert_eq!(
        have, want,
        "regenerate: cargo run -p fusecry-conformance -- generate --out conformance/vectors"
    );
}

#[test]
fn generation_is_deterministic_and_matches_the_repository() {
    let tmp = tempfile::tempdir().unwrap();
    let n = fusecry_conformance::generate::generate(tmp.path(), 20261128).unwrap();
    let mut names: Vec<_> = std::fs::read_dir(tmp.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    names.sort();
    let mut repo: Vec<_> = std::fs::read_dir(vectors_dir())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .filter(|n| n != "README.md")
        .collect();
    repo.sort();
    assert_eq!(names, repo, "the set of vector files differs");
    for f in &names {
        if tmp.path().join(f).is_dir() {
            // A volume vector's ciphertext tree.
            let a = fusecry_conformance::volume::digest(&tmp.path().join(f)).unwrap();
            let b = fusecry_conformance::volume::digest(&vectors_dir().join(f)).unwrap();
            assert!(a == b, "{f:?} differs from a fresh generation");
            continue;
        }
        let a = std::fs::read(tmp.path().join(f)).unwrap();
        let b = std::fs::read(vectors_dir().join(f)).unwrap();
        assert!(a == b, "{f:?} differs from a fresh generation");
    }
    println!("conformance: regenerated {n} vectors, identical to the repository");
}

#[test]
fn every_vector_validates_against_the_checked_in_schema() {
    let schema: serde_json::Value =
        serde_json::from_slice(&std::fs::read(vectors_dir().join("vector.schema.json")).unwrap())
            .unwrap();
    let validator = jsonschema::validator_for(&schema).expect("the schema is a valid JSON Schema");
    let mut n = 0;
    for e in std::fs::read_dir(vectors_dir()).unwrap() {
        let p = e.unwrap().path();
        let name = p.file_name().unwrap().to_string_lossy().into_owned();
        if !name.ends_with(".json") || name.ends_with(".schema.json") {
            continue;
        }
        let v: serde_json::Value = serde_json::from_slice(&std::fs::read(&p).unwrap()).unwrap();
        let errors: Vec<String> = validator.iter_errors(&v).map(|e| e.to_string()).collect();
        assert!(errors.is_empty(), "{name}: {errors:#?}");
        n += 1;
    }
    // The validator must reject what the schema forbids.
    let mut bad: serde_json::Value =
        serde_json::from_slice(&std::fs::read(vectors_dir().join("conf_v1_valid.json")).unwrap())
            .unwrap();
    bad["unexpected_field"] = 1.into();
    assert!(
        !validator.is_valid(&bad),
        "an unknown field passed the schema"
    );
    bad = serde_json::from_slice(&std::fs::read(vectors_dir().join("conf_v1_valid.json")).unwrap())
        .unwrap();
    bad["area"] = "nonsense".into();
    assert!(
        !validator.is_valid(&bad),
        "an unknown area passed the schema"
    );
    println!("conformance: {n} vectors validate against vector.schema.json");
    assert!(n >= 250);
}
