//! Schema versions: accept 7.4 to 8.5 and apply KIWI's upgrade steps
//! (`kiwi/xsl/convert*.xsl`) to the parts of the tree they change.

use super::error::DescriptionError;
use super::tree::Node;

/// The schema version the model follows.
pub const CURRENT_SCHEMA: &str = "8.5";
/// The oldest schema version KIWI (10 and later) still upgrades.
pub const OLDEST_SCHEMA: &str = "7.4";

/// Checks `schemaversion` on the `<image>` root (the caller has checked the
/// root's name) and upgrades the tree to 8.5 in place. Returns the version as
/// written and notes on what the upgrade changed.
pub(crate) fn upgrade(root: &mut Node) -> Result<(String, Vec<String>), DescriptionError> {
    let Some(attr) = root.attr_entry("schemaversion") else {
        return Err(DescriptionError::MissingAttribute {
            location: root.location.clone(),
            path: "/image".into(),
            name: "schemaversion".into(),
        });
    };
    let written = attr.value.clone();
    let location = attr.location.clone();
    let version = parse_version(&written).ok_or_else(|| DescriptionError::SchemaUnsupported {
        location: location.clone(),
        found: written.clone(),
    })?;
    if version < 7.4 {
        return Err(DescriptionError::SchemaTooOld {
            location,
            found: written.trim().to_string(),
        });
    }
    if version > 8.5 {
        return Err(DescriptionError::SchemaUnsupported {
            location,
            found: written,
        });
    }

    let mut notes = Vec::new();
    // Each step applies when the description is at or below its source version.
    if version <= 7.4 {
        rename_additional_tags(root, &mut notes);
    }
    if version <= 7.5 {
        dnf_is_dnf4(root, &mut notes);
    }
    if version <= 8.0 {
        drop_rpm_dir_type(root, &mut notes);
    }
    if version <= 8.1 {
        drop_use_for_bootstrap(root, &mut notes);
    }
    if version <= 8.2 {
        rename_btrfs_snapshot(root, &mut notes);
    }
    if version <= 8.3 {
        split_bootloader_console(root, &mut notes);
    }
    if version <= 8.4 {
        drop_vga(root, &mut notes);
    }
    if let Some(attr) = root.attrs.iter_mut().find(|a| a.name == "schemaversion") {
        attr.value = CURRENT_SCHEMA.to_string();
    }
    Ok((written.trim().to_string(), notes))
}

/// The version as the number KIWI's stylesheets compare (`@schemaversion >= 7.4`
/// is a numeric test in XSLT, so "7.40" is 7.4). Only `digits[.digits]` is accepted.
fn parse_version(text: &str) -> Option<f64> {
    let text = text.trim();
    let (major, minor) = text.split_once('.').unwrap_or((text, "0"));
    let digits = |s: &str| !s.is_empty() && s.len() <= 9 && s.bytes().all(|b| b.is_ascii_digit());
    if !digits(major) || !digits(minor) {
        return None;
    }
    format!("{major}.{minor}").parse().ok()
}

fn each_named(root: &mut Node, name: &str, f: &mut dyn FnMut(&mut Node)) {
    root.walk_mut(&mut |node: &mut Node| {
        if node.name == name {
            f(node);
        }
    });
}

fn rename_additional_tags(root: &mut Node, notes: &mut Vec<String>) {
    each_named(root, "containerconfig", &mut |node| {
        if let Some(mut attr) = node.remove_attr("additionaltags") {
            let names = format!(":{}", attr.value.replace(',', ",:"));
            notes.push(format!(
                "containerconfig: additionaltags={:?} became additionalnames={names:?} (7.4 -> 7.5)",
                attr.value
            ));
            attr.name = "additionalnames".into();
            attr.value = names;
            node.attrs.push(attr);
        }
    });
}

fn dnf_is_dnf4(root: &mut Node, notes: &mut Vec<String>) {
    each_named(root, "packagemanager", &mut |node| {
        if node.text.trim() == "dnf" {
            node.text = "dnf4".into();
            notes.push("packagemanager dnf became dnf4 (7.5 -> 7.6)".into());
        }
    });
}

fn drop_rpm_dir_type(root: &mut Node, notes: &mut Vec<String>) {
    each_named(root, "repository", &mut |node| {
        if node.attr("type") == Some("rpm-dir") {
            if let Some(attr) = node.remove_attr("type") {
                notes.push("repository type rpm-dir removed (8.0 -> 8.1)".into());
                node.dropped.push(attr);
            }
        }
    });
}

fn drop_use_for_bootstrap(root: &mut Node, notes: &mut Vec<String>) {
    each_named(root, "repository", &mut |node| {
        if let Some(attr) = node.remove_attr("use_for_bootstrap") {
            notes.push(format!(
                "repository {}: use_for_bootstrap dropped (8.1 -> 8.2), kept as a hint",
                node.attr("alias").unwrap_or("(no alias)")
            ));
            node.dropped.push(attr);
        }
    });
}

fn rename_btrfs_snapshot(root: &mut Node, notes: &mut Vec<String>) {
    each_named(root, "type", &mut |node| {
        if let Some(attr) = node
            .attrs
            .iter_mut()
            .find(|a| a.name == "btrfs_root_is_snapshot")
        {
            attr.name = "btrfs_root_is_snapper_snapshot".into();
            notes.push(
                "type: btrfs_root_is_snapshot became btrfs_root_is_snapper_snapshot (8.2 -> 8.3)"
                    .into(),
            );
        }
    });
}

fn split_bootloader_console(root: &mut Node, notes: &mut Vec<String>) {
    each_named(root, "bootloader", &mut |node| {
        let Some(index) = node.attrs.iter().position(|a| a.name == "console") else {
            return;
        };
        let console = node.attrs.remove(index);
        let (output, input) = match console.value.split_once(' ') {
            Some((output, input)) => (output.to_string(), Some(input.to_string())),
            None => (console.value.clone(), None),
        };
        let mut output_attr = console.clone();
        output_attr.name = "output_console".into();
        output_attr.value = output;
        node.attrs.insert(index, output_attr);
        if let Some(input) = input {
            let mut input_attr = console.clone();
            input_attr.name = "input_console".into();
            input_attr.value = input;
            node.attrs.insert(index + 1, input_attr);
        }
        notes.push(format!(
            "bootloader: console={:?} became output_console/input_console (8.3 -> 8.4)",
            console.value
        ));
    });
}

fn drop_vga(root: &mut Node, notes: &mut Vec<String>) {
    each_named(root, "type", &mut |node| {
        if let Some(attr) = node.remove_attr("vga") {
            notes.push("type: vga dropped (8.4 -> 8.5)".into());
            node.dropped.push(attr);
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions() {
        assert_eq!(parse_version("7.4"), Some(7.4));
        assert_eq!(parse_version(" 8.5 "), Some(8.5));
        assert_eq!(parse_version("7.40"), Some(7.4));
        assert_eq!(parse_version("8"), Some(8.0));
        assert_eq!(parse_version("abc"), None);
        assert_eq!(parse_version("7.a"), None);
        assert_eq!(parse_version(""), None);
    }
}
