//! Package lists and SBOMs of a real dpkg root (this Debian build host's own
//! `/`, read-only), checked against dpkg itself and the official validators.

use std::path::Path;

use builder::rootfs::RootTree;
use builder::sbom::{write_outputs, OsRelease, SbomSubject};
use builder_tests::{dpkg_installed_kiwi_lines, validate_cyclonedx, validate_spdx};

fn host_sbom() -> (tempfile::TempDir, usize) {
    let root = RootTree::open(Path::new("/")).unwrap();
    let os = OsRelease::read(&root).unwrap();
    let subject = SbomSubject {
        name: "host",
        version: "1.0.0",
        arch: "x86_64",
        os: &os,
        created: 1_700_000_000,
    };
    let out = tempfile::tempdir().unwrap();
    let written = write_outputs(
        &root,
        out.path(),
        "host.x86_64-1.0.0",
        &subject,
        &Default::default(),
    )
    .unwrap()
    .expect("a dpkg root");
    assert_eq!(
        written.files,
        [
            "host.x86_64-1.0.0.packages",
            "host.x86_64-1.0.0.spdx.json",
            "host.x86_64-1.0.0.cdx.json"
        ]
    );
    (out, written.packages)
}

#[test]
fn packages_list_agrees_with_dpkg_in_kiwis_format() {
    let (out, count) = host_sbom();
    let ours = std::fs::read_to_string(out.path().join("host.x86_64-1.0.0.packages")).unwrap();
    let expected = dpkg_installed_kiwi_lines(Path::new("/var/lib/dpkg"));
    assert_eq!(ours.lines().collect::<Vec<_>>(), expected);
    assert_eq!(count, expected.len());
}

#[test]
fn spdx_document_passes_the_spdx_validator() {
    let (out, count) = host_sbom();
    let file = out.path().join("host.x86_64-1.0.0.spdx.json");
    let doc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
    assert_eq!(doc["spdxVersion"], "SPDX-2.3");
    assert_eq!(doc["packages"].as_array().unwrap().len(), count + 1);
    let dpkg = doc["packages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "dpkg")
        .unwrap();
    assert!(
        dpkg["licenseDeclared"]
            .as_str()
            .unwrap()
            .contains("GPL-2.0-or-later"),
        "{dpkg}"
    );
    if let Err(report) = validate_spdx(&file) {
        panic!("pyspdxtools rejected the document:\n{report}");
    }
}

#[test]
fn cyclonedx_bom_passes_the_strict_json_schema() {
    let (out, count) = host_sbom();
    let file = out.path().join("host.x86_64-1.0.0.cdx.json");
    let bom: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
    assert_eq!(bom["components"].as_array().unwrap().len(), count);
    if let Err(report) = validate_cyclonedx(&file) {
        panic!("CycloneDX 1.6 schema rejected the BOM:\n{report}");
    }
}

#[test]
fn sboms_are_reproducible() {
    let (a, _) = host_sbom();
    let (b, _) = host_sbom();
    for name in [
        "host.x86_64-1.0.0.spdx.json",
        "host.x86_64-1.0.0.cdx.json",
        "host.x86_64-1.0.0.packages",
    ] {
        assert_eq!(
            std::fs::read(a.path().join(name)).unwrap(),
            std::fs::read(b.path().join(name)).unwrap(),
            "{name}"
        );
    }
}
