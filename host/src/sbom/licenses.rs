//! Debian license short names (DEP-5) to SPDX license expressions.

/// Debian short names whose SPDX identifier differs or needs a suffix.
const DEBIAN_TO_SPDX: &[(&str, &str)] = &[
    ("gpl-1", "GPL-1.0-only"),
    ("gpl-1+", "GPL-1.0-or-later"),
    ("gpl-2", "GPL-2.0-only"),
    ("gpl-2+", "GPL-2.0-or-later"),
    ("gpl-3", "GPL-3.0-only"),
    ("gpl-3+", "GPL-3.0-or-later"),
    ("gpl", "GPL-1.0-or-later"),
    ("lgpl-2", "LGPL-2.0-only"),
    ("lgpl-2+", "LGPL-2.0-or-later"),
    ("lgpl-2.1", "LGPL-2.1-only"),
    ("lgpl-2.1+", "LGPL-2.1-or-later"),
    ("lgpl-3", "LGPL-3.0-only"),
    ("lgpl-3+", "LGPL-3.0-or-later"),
    ("agpl-3", "AGPL-3.0-only"),
    ("agpl-3+", "AGPL-3.0-or-later"),
    ("gfdl-1.2", "GFDL-1.2-only"),
    ("gfdl-1.2+", "GFDL-1.2-or-later"),
    ("gfdl-1.3", "GFDL-1.3-only"),
    ("gfdl-1.3+", "GFDL-1.3-or-later"),
    ("apache-2.0", "Apache-2.0"),
    ("apache-2", "Apache-2.0"),
    ("expat", "MIT"),
    ("mit", "MIT"),
    ("bsd-2-clause", "BSD-2-Clause"),
    ("bsd-3-clause", "BSD-3-Clause"),
    ("bsd-4-clause", "BSD-4-Clause"),
    ("isc", "ISC"),
    ("zlib", "Zlib"),
    ("mpl-1.1", "MPL-1.1"),
    ("mpl-2.0", "MPL-2.0"),
    ("artistic", "Artistic-1.0-Perl"),
    ("artistic-2.0", "Artistic-2.0"),
    ("psf-2", "PSF-2.0"),
    ("python", "Python-2.0"),
    ("cc0-1.0", "CC0-1.0"),
    ("cc0", "CC0-1.0"),
    ("curl", "curl"),
    ("openssl", "OpenSSL"),
    ("ssleay", "SSLeay-standalone"),
    ("unicode-dfs-2016", "Unicode-DFS-2016"),
    ("x11", "X11"),
    ("bzip2-1.0.6", "bzip2-1.0.6"),
    ("sleepycat", "Sleepycat"),
    ("0bsd", "0BSD"),
    ("wtfpl", "WTFPL"),
];

/// The SPDX expression for one Debian short name, or a `LicenseRef-` for a
/// name SPDX does not know.
pub fn spdx_id(short: &str) -> String {
    let key = short.trim().to_ascii_lowercase();
    if let Some((_, id)) = DEBIAN_TO_SPDX.iter().find(|(d, _)| *d == key) {
        return id.to_string();
    }
    let sanitized: String = short
        .trim()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' || c == '-' {
                c
            } else {
                '-'
            }
        })
        .collect();
    format!("LicenseRef-{sanitized}")
}

/// One DEP-5 `License:` short line (`GPL-2+ or Artistic`, `LGPL-2.1+ with
/// exception`) as an SPDX expression.
pub fn expression(license_line: &str) -> String {
    let alternatives: Vec<String> = split_words(license_line, "or")
        .into_iter()
        .map(|alt| {
            let all: Vec<String> = split_words(&alt, "and")
                .into_iter()
                .map(|term| {
                    // `X with Y exception`: keep X; the exception has no SPDX id here.
                    let base = split_words(&term, "with")
                        .into_iter()
                        .next()
                        .unwrap_or(term);
                    let base = base.trim().trim_matches(',').to_string();
                    spdx_id(&base)
                })
                .collect();
            if all.len() > 1 {
                format!("({})", all.join(" AND "))
            } else {
                all.join("")
            }
        })
        .collect();
    if alternatives.len() > 1 {
        format!("({})", alternatives.join(" OR "))
    } else {
        alternatives.join("")
    }
}

fn split_words(text: &str, word: &str) -> Vec<String> {
    let mut parts = vec![String::new()];
    for token in text.split_whitespace() {
        if token.eq_ignore_ascii_case(word) {
            parts.push(String::new());
        } else {
            let last = parts.last_mut().expect("never empty");
            if !last.is_empty() {
                last.push(' ');
            }
            last.push_str(token);
        }
    }
    parts.into_iter().filter(|p| !p.is_empty()).collect()
}

/// The combined SPDX expression of a machine-readable (DEP-5) copyright
/// file: every distinct `License:` of its paragraphs, joined with AND. None
/// for free-form copyright files.
pub fn from_dep5(copyright: &str) -> Option<String> {
    if !copyright.trim_start().starts_with("Format:") {
        return None;
    }
    let mut found: Vec<String> = Vec::new();
    for line in copyright.lines() {
        let Some(value) = line.strip_prefix("License:") else {
            continue;
        };
        let value = value.trim();
        if value.is_empty() {
            continue;
        }
        let expr = expression(value);
        if !found.contains(&expr) {
            found.push(expr);
        }
    }
    match found.len() {
        0 => None,
        1 => found.pop(),
        _ => Some(found.join(" AND ")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debian_names_become_spdx_expressions() {
        assert_eq!(expression("GPL-2+"), "GPL-2.0-or-later");
        assert_eq!(
            expression("GPL-2+ or Artistic"),
            "(GPL-2.0-or-later OR Artistic-1.0-Perl)"
        );
        assert_eq!(
            expression("LGPL-2.1+ with OpenSSL exception"),
            "LGPL-2.1-or-later"
        );
        assert_eq!(expression("public-domain"), "LicenseRef-public-domain");
        let dep5 = "Format: https://example/dep5\n\nFiles: *\nLicense: GPL-2+\n\nFiles: x\nLicense: Expat\n text\n\nLicense: GPL-2+\n";
        assert_eq!(from_dep5(dep5).as_deref(), Some("GPL-2.0-or-later AND MIT"));
        assert_eq!(from_dep5("This package was debianized by ..."), None);
    }
}
