//! Every vector's `spec` field names an anchor (`<a id="...">`) that SPEC.md
//! has, so a reader of a vector always finds the text it checks.

use fusecry_conformance::{load_all, vectors_dir};
use std::collections::BTreeSet;

/// The anchors SPEC.md defines.
fn spec_anchors() -> BTreeSet<String> {
    let spec = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../SPEC.md");
    let text = std::fs::read_to_string(&spec).unwrap();
    text.split("<a id=\"")
        .skip(1)
        .map(|rest| rest.split('"').next().unwrap().to_string())
        .collect()
}

#[test]
fn every_vector_cites_an_anchor_that_spec_md_has() {
    let anchors = spec_anchors();
    assert!(
        anchors.contains("symlink") && anchors.len() >= 20,
        "{anchors:?}"
    );
    let all = load_all(&vectors_dir()).unwrap();
    let mut missing = Vec::new();
    for l in &all {
        match l.v.spec.strip_prefix('#') {
            Some(a) if anchors.contains(a) => {}
            _ => missing.push(format!("{}: {}", l.name, l.v.spec)),
        }
    }
    println!(
        "conformance: {} vectors cite {} SPEC.md anchors",
        all.len(),
        all.iter().map(|l| &l.v.spec).collect::<BTreeSet<_>>().len()
    );
    assert!(
        missing.is_empty(),
        "{} vectors cite anchors SPEC.md does not have:\n{}",
        missing.len(),
        missing.join("\n")
    );
}
