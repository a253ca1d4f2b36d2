//! CycloneDX 1.6 JSON BOMs of an image's installed packages.

use serde_json::{json, Value};

use super::{purl, rfc3339, InstalledPackage, SbomSubject};
use crate::toolbox::stable_uuid;

/// The CycloneDX BOM for `packages` installed in `subject`.
pub fn bom(subject: &SbomSubject<'_>, packages: &[InstalledPackage]) -> Value {
    let purls: Vec<String> = packages.iter().map(|p| purl(subject.os, p)).collect();
    let mut parts = vec!["cyclonedx", subject.name, subject.version, subject.arch];
    parts.extend(purls.iter().map(String::as_str));
    let components: Vec<Value> = packages
        .iter()
        .zip(&purls)
        .map(|(p, purl)| {
            let mut c = json!({
                "type": "library",
                "bom-ref": purl,
                "name": p.name,
                "version": p.version,
                "purl": purl,
            });
            if let Some(summary) = &p.summary {
                c["description"] = json!(summary);
            }
            if let Some(supplier) = &p.supplier {
                c["publisher"] = json!(supplier);
            }
            if let Some(license) = &p.license {
                c["licenses"] = json!([{ "expression": license }]);
            }
            if let Some(sha) = &p.sha256 {
                c["hashes"] = json!([{ "alg": "SHA-256", "content": sha }]);
            }
            if let Some(homepage) = p.homepage.as_deref().filter(|h| h.starts_with("http")) {
                c["externalReferences"] = json!([{ "type": "website", "url": homepage }]);
            }
            c
        })
        .collect();
    json!({
        "bomFormat": "CycloneDX",
        "specVersion": "1.6",
        "serialNumber": format!("urn:uuid:{}", stable_uuid(&parts)),
        "version": 1,
        "metadata": {
            "timestamp": rfc3339(subject.created),
            "tools": {
                "components": [{
                    "type": "application",
                    "name": "builder",
                    "version": env!("CARGO_PKG_VERSION"),
                }],
            },
            "component": {
                "type": "operating-system",
                "bom-ref": "image",
                "name": subject.name,
                "version": subject.version,
                "description": format!(
                    "{} image for {}",
                    subject.os.pretty_name.as_deref().unwrap_or(&subject.os.id),
                    subject.arch
                ),
            },
        },
        "components": components,
        "dependencies": [{ "ref": "image", "dependsOn": purls }],
    })
}
