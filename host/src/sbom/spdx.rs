//! SPDX 2.3 JSON documents of an image's installed packages.

use serde_json::{json, Value};

use super::{purl, rfc3339, InstalledPackage, SbomSubject};
use crate::toolbox::stable_uuid;

/// The SPDX 2.3 document for `packages` installed in `subject`.
pub fn document(subject: &SbomSubject<'_>, packages: &[InstalledPackage]) -> Value {
    let identity: Vec<String> = packages
        .iter()
        .map(|p| format!("{} {} {}", p.name, p.version, p.arch))
        .collect();
    let mut parts = vec![subject.name, subject.version, subject.arch];
    parts.extend(identity.iter().map(String::as_str));
    let uuid = stable_uuid(&parts);
    let doc_name = format!("{}-{}", subject.name, subject.version);

    let mut spdx_packages = vec![json!({
        "SPDXID": "SPDXRef-Image",
        "name": subject.name,
        "versionInfo": subject.version,
        "downloadLocation": "NOASSERTION",
        "filesAnalyzed": false,
        "primaryPackagePurpose": "OPERATING-SYSTEM",
        "licenseConcluded": "NOASSERTION",
        "licenseDeclared": "NOASSERTION",
        "copyrightText": "NOASSERTION",
        "comment": format!("{} image for {}", subject.os.pretty_name.as_deref().unwrap_or(&subject.os.id), subject.arch),
    })];
    let mut relationships = vec![json!({
        "spdxElementId": "SPDXRef-DOCUMENT",
        "relationshipType": "DESCRIBES",
        "relatedSpdxElement": "SPDXRef-Image",
    })];
    let mut license_refs: Vec<String> = Vec::new();
    for (index, p) in packages.iter().enumerate() {
        let id = format!("SPDXRef-Package-{index}-{}", spdx_id_part(&p.name));
        let mut package = json!({
            "SPDXID": id,
            "name": p.name,
            "versionInfo": p.version,
            "downloadLocation": "NOASSERTION",
            "filesAnalyzed": false,
            "licenseConcluded": "NOASSERTION",
            "licenseDeclared": p.license.as_deref().unwrap_or("NOASSERTION"),
            "copyrightText": "NOASSERTION",
            "supplier": p.supplier.as_deref().map(supplier).unwrap_or_else(|| "NOASSERTION".into()),
            "externalRefs": [{
                "referenceCategory": "PACKAGE-MANAGER",
                "referenceType": "purl",
                "referenceLocator": purl(subject.os, p),
            }],
        });
        if let Some(summary) = &p.summary {
            package["summary"] = json!(summary);
        }
        if let Some(homepage) = p.homepage.as_deref().filter(|h| h.starts_with("http")) {
            package["homepage"] = json!(homepage);
        }
        if let Some(source) = &p.source {
            package["sourceInfo"] = json!(format!("built from source package {source}"));
        }
        if let Some(sha) = &p.sha256 {
            package["checksums"] = json!([{ "algorithm": "SHA256", "checksumValue": sha }]);
        }
        for token in p
            .license
            .as_deref()
            .unwrap_or("")
            .split(|c: char| c.is_whitespace() || c == '(' || c == ')')
        {
            if token.starts_with("LicenseRef-") && !license_refs.iter().any(|r| r == token) {
                license_refs.push(token.to_string());
            }
        }
        spdx_packages.push(package);
        relationships.push(json!({
            "spdxElementId": "SPDXRef-Image",
            "relationshipType": "CONTAINS",
            "relatedSpdxElement": id,
        }));
    }
    let extracted: Vec<Value> = license_refs
        .iter()
        .map(|r| {
            let name = r.trim_start_matches("LicenseRef-");
            json!({
                "licenseId": r,
                "name": name,
                "extractedText": format!("The license named \"{name}\" in the packages' Debian copyright files (/usr/share/doc/*/copyright in the image)."),
            })
        })
        .collect();
    json!({
        "spdxVersion": "SPDX-2.3",
        "dataLicense": "CC0-1.0",
        "SPDXID": "SPDXRef-DOCUMENT",
        "name": doc_name,
        "documentNamespace": format!("https://spdx.org/spdxdocs/{doc_name}-{uuid}"),
        "creationInfo": {
            "created": rfc3339(subject.created),
            "creators": [format!("Tool: builder-{}", env!("CARGO_PKG_VERSION"))],
        },
        "packages": spdx_packages,
        "relationships": relationships,
        "hasExtractedLicensingInfos": extracted,
    })
}

/// SPDX element ids allow letters, digits, `.` and `-`.
fn spdx_id_part(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' || c == '-' {
                c
            } else {
                '-'
            }
        })
        .collect()
}

/// `Name <mail>` (a Debian Maintainer field) as an SPDX supplier.
fn supplier(maintainer: &str) -> String {
    let cleaned = maintainer.replace('<', "(").replace('>', ")");
    format!("Organization: {cleaned}")
}
