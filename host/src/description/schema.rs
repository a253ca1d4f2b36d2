//! Validation against KIWI's schema: element and attribute names, value types,
//! required and repeated elements. Unknown names are errors, as in KIWI.

use super::error::{shorten, DescriptionError};
use super::kiwi_schema::ELEMENTS;
use super::tree::Node;

/// How often a child element may appear.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Card {
    One,
    Optional,
    Many,
    OneOrMore,
}

/// The value type of an attribute or of an element's text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ValueType {
    Text,
    Bool,
    /// xsd:nonNegativeInteger
    Count,
    /// xsd:integer
    Int,
    Enum(&'static [&'static str]),
    Pattern(Pattern),
    EnumOr(&'static [&'static str], Pattern),
}

/// The named token patterns of the schema.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Pattern {
    SafePosixName,
    SafePosixShortName,
    Ecma119Achar128Text,
    LocaleName,
    MacAddressType,
    NumberType,
    BlocksType,
    VolumeSizeType,
    PartitionSizeType,
    VhdTagType,
    GroupsList,
    ArchName,
    PortnumType,
    GrubConsoleOutput,
    GrubConsoleInput,
    FsAttributes,
    PackageVersionType,
    SimpleUriType,
    OciFormatType,
    /// builder's extension of KIWI's `image=` list: the name of an image
    /// type a plugin serves (checked against the plugins when planning).
    PluginTypeName,
}

#[derive(Debug)]
pub(crate) struct AttrRule {
    pub name: &'static str,
    pub value: ValueType,
    pub required: bool,
}

#[derive(Debug)]
pub(crate) struct ElementRule {
    pub name: &'static str,
    pub text: Option<ValueType>,
    pub attributes: &'static [AttrRule],
    pub children: &'static [(&'static str, Card)],
}

/// The architecture names KIWI knows (the schema's `arch-name`).
pub const ARCH_NAMES: &[&str] = &[
    "x86_64", "i586", "i686", "ix86", "aarch64", "arm64", "amd64", "armv5el", "armv5tel",
    "armv6hl", "armv6l", "armv7hl", "armv7l", "ppc", "ppc64", "ppc64le", "s390", "s390x",
    "riscv64",
];

pub(crate) fn element_rule(name: &str) -> Option<&'static ElementRule> {
    ELEMENTS
        .binary_search_by(|e| e.name.cmp(name))
        .ok()
        .and_then(|i| ELEMENTS.get(i))
}

/// Validates the whole tree below `root` (an `<image>`, already upgraded to 8.5).
pub(crate) fn validate(root: &Node) -> Result<(), DescriptionError> {
    let rule = element_rule("image").ok_or_else(|| internal(root, "image"))?;
    validate_node(root, "/image", rule)
}

fn internal(node: &Node, name: &str) -> DescriptionError {
    DescriptionError::Invalid {
        location: node.location.clone(),
        path: format!("/{name}"),
        message: "internal error: schema table lacks this element".into(),
    }
}

fn validate_node(node: &Node, path: &str, rule: &ElementRule) -> Result<(), DescriptionError> {
    // attributes
    for attr in &node.attrs {
        if attr.name == "xmlns" || attr.name.starts_with("xmlns:") {
            continue;
        }
        if rule.name == "image" && attr.name == "schemaversion" {
            continue; // checked and rewritten by the upgrade step
        }
        let Some(attr_rule) = rule.attributes.iter().find(|a| a.name == attr.name) else {
            return Err(DescriptionError::UnknownAttribute {
                location: attr.location.clone(),
                path: path.to_string(),
                name: attr.name.clone(),
                expected: expected_names(
                    &attr.name,
                    rule.attributes.iter().map(|a| a.name),
                    &format!("<{}> attributes", rule.name),
                    "no attributes",
                ),
            });
        };
        if let Err(expected) = check_value(attr_rule.value, &attr.value) {
            return Err(DescriptionError::InvalidValue {
                location: attr.location.clone(),
                path: path.to_string(),
                what: format!("attribute '{}'", attr.name),
                value: shorten(&attr.value),
                expected,
            });
        }
    }
    for attr_rule in rule.attributes.iter().filter(|a| a.required) {
        if rule.name == "image" && attr_rule.name == "schemaversion" {
            continue;
        }
        if node.attr(attr_rule.name).is_none() {
            return Err(DescriptionError::MissingAttribute {
                location: node.location.clone(),
                path: path.to_string(),
                name: attr_rule.name.to_string(),
            });
        }
    }

    // text
    match rule.text {
        None => {
            if !node.text.trim().is_empty() {
                return Err(DescriptionError::UnexpectedText {
                    location: node.text_or_element_location().clone(),
                    path: path.to_string(),
                    element: node.name.clone(),
                    text: shorten(node.text.trim()),
                });
            }
        }
        Some(value_type) => {
            if let Err(expected) = check_value(value_type, &node.text) {
                return Err(DescriptionError::InvalidValue {
                    location: node.text_or_element_location().clone(),
                    path: path.to_string(),
                    what: "content".into(),
                    value: shorten(node.text.trim()),
                    expected,
                });
            }
        }
    }

    // extension: any namespaced content, validated by its own schema (not here)
    if rule.name == "extension" {
        return validate_extension(node, path);
    }

    // children
    let mut counts = vec![0usize; rule.children.len()];
    for (position, child) in node.children.iter().enumerate() {
        if position % 4096 == 4095 {
            crate::interrupt::check("checking the description")?;
        }
        let Some(index) = rule.children.iter().position(|(n, _)| *n == child.name) else {
            return Err(DescriptionError::UnknownElement {
                location: child.location.clone(),
                path: path.to_string(),
                name: child.name.clone(),
                expected: expected_names(
                    &child.name,
                    rule.children.iter().map(|(n, _)| *n),
                    &format!("children of <{}>", rule.name),
                    "no child elements",
                ),
            });
        };
        counts[index] += 1;
        let (name, card) = rule.children[index];
        if counts[index] > 1 && matches!(card, Card::One | Card::Optional) {
            return Err(DescriptionError::Repeated {
                location: child.location.clone(),
                path: path.to_string(),
                name: name.to_string(),
            });
        }
        let child_rule = element_rule(name).ok_or_else(|| internal(child, name))?;
        validate_node(child, &format!("{path}/{name}"), child_rule)?;
    }
    for (index, (name, card)) in rule.children.iter().enumerate() {
        if counts[index] == 0 && matches!(card, Card::One | Card::OneOrMore) {
            return Err(DescriptionError::MissingElement {
                location: node.location.clone(),
                path: path.to_string(),
                name: name.to_string(),
            });
        }
    }
    Ok(())
}

fn validate_extension(node: &Node, path: &str) -> Result<(), DescriptionError> {
    if node.children.is_empty() {
        return Err(DescriptionError::MissingElement {
            location: node.location.clone(),
            path: path.to_string(),
            name: "any namespaced element".into(),
        });
    }
    for child in &node.children {
        let namespaced =
            child.name.contains(':') || child.attr("xmlns").is_some_and(|ns| !ns.is_empty());
        if !namespaced {
            return Err(DescriptionError::Invalid {
                location: child.location.clone(),
                path: format!("{path}/{}", child.name),
                message: "extension elements must be in an XML namespace (xmlns)".into(),
            });
        }
    }
    Ok(())
}

/// "one of: a, b, c" for short lists; a suggestion and a count for long ones.
pub(crate) fn expected_names<'a>(
    found: &str,
    names: impl Iterator<Item = &'a str>,
    what: &str,
    none: &str,
) -> String {
    let names: Vec<&str> = names.collect();
    if names.is_empty() {
        return none.to_string();
    }
    let suggestion = closest(found, &names);
    if names.len() <= 16 {
        let list = names.join(", ");
        match suggestion {
            Some(s) => format!("{s:?}? (one of: {list})"),
            None => format!("one of: {list}"),
        }
    } else {
        match suggestion {
            Some(s) => format!("{s:?}? (one of {} {what})", names.len()),
            None => format!("one of {} {what} in KIWI's schema", names.len()),
        }
    }
}

/// The name among `names` nearest to `found` (a likely typo of it), if any is near.
pub fn closest<'a>(found: &str, names: &[&'a str]) -> Option<&'a str> {
    let found_lower = found.to_ascii_lowercase();
    names
        .iter()
        .map(|n| (edit_distance(&found_lower, &n.to_ascii_lowercase()), *n))
        .filter(|(d, n)| *d <= 2.max(n.len() / 4))
        .min_by_key(|(d, _)| *d)
        .map(|(_, n)| n)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.iter().enumerate() {
        let mut current = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != cb);
            let value = (previous[j] + cost)
                .min(previous[j + 1] + 1)
                .min(current[j] + 1);
            current.push(value);
        }
        previous = current;
    }
    previous[b.len()]
}

/// Checks `value` against `value_type`; the error is what was expected.
pub(crate) fn check_value(value_type: ValueType, value: &str) -> Result<(), String> {
    let token = value.trim();
    let ok = match value_type {
        ValueType::Text => true,
        ValueType::Bool => matches!(token, "true" | "false" | "1" | "0"),
        ValueType::Count => is_count(token),
        ValueType::Int => {
            let digits = token
                .strip_prefix('-')
                .or_else(|| token.strip_prefix('+'))
                .unwrap_or(token);
            all_digits(digits)
        }
        ValueType::Enum(values) => values.contains(&token),
        ValueType::Pattern(pattern) => pattern_matches(pattern, token),
        ValueType::EnumOr(values, pattern) => {
            values.contains(&token) || pattern_matches(pattern, token)
        }
    };
    if ok {
        Ok(())
    } else {
        Err(describe(value_type))
    }
}

/// Human words for a value type.
pub(crate) fn describe(value_type: ValueType) -> String {
    match value_type {
        ValueType::Text => "text".into(),
        ValueType::Bool => "true or false".into(),
        ValueType::Count => "a non-negative integer".into(),
        ValueType::Int => "an integer".into(),
        ValueType::Enum(values) => format!("one of: {}", values.join(", ")),
        ValueType::Pattern(p) => describe_pattern(p),
        ValueType::EnumOr(values, p) => {
            format!("one of: {}, or {}", values.join(", "), describe_pattern(p))
        }
    }
}

fn describe_pattern(pattern: Pattern) -> String {
    use Pattern::*;
    match pattern {
        SafePosixName => "letters, digits, '_', '-' or '.'".into(),
        SafePosixShortName => "1 to 32 letters, digits, '_', '-' or '.'".into(),
        Ecma119Achar128Text => "1 to 128 ISO 9660 a-characters".into(),
        LocaleName => "C, POSIX or a comma-separated list like en_US,de_DE".into(),
        MacAddressType => "a MAC address like 00:11:22:33:44:55".into(),
        NumberType => "a number".into(),
        BlocksType => "a number or 'all'".into(),
        VolumeSizeType => "a size like 500, 500M, 2G or 'all'".into(),
        PartitionSizeType => "a size like 500, 500M or 2G".into(),
        VhdTagType => "a GUID like 12345678-abcd-abcd-abcd-123456789abc".into(),
        GroupsList => "a comma-separated list of group[:gid]".into(),
        ArchName => format!("a comma-separated list of: {}", ARCH_NAMES.join(", ")),
        PortnumType => "a port number, optionally with /tcp or /udp".into(),
        GrubConsoleOutput => {
            "space-separated grub output consoles (none, console, gfxterm, serial, vga_text, \
             mda_text, morse, spkmodem)"
                .into()
        }
        GrubConsoleInput => {
            "space-separated grub input consoles (none, console, serial, at_keyboard, usb_keyboard)"
                .into()
        }
        FsAttributes => "a comma-separated list of no-copy-on-write, synchronous-updates".into(),
        PackageVersionType => "a four-part version like 1.0.0.0".into(),
        SimpleUriType => "a file:, http:, https: or ftp: URI".into(),
        OciFormatType => {
            "oci:FORMAT or docker:FORMAT (gce, ova, qcow2, vmdk, vdi, vhd, vhdx, vhd-fixed, raw)"
                .into()
        }
        PluginTypeName => "the name of an image type a plugin serves ([a-z][a-z0-9-]*)".into(),
    }
}

fn all_digits(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())
}

fn is_count(s: &str) -> bool {
    all_digits(s.strip_prefix('+').unwrap_or(s))
}

fn comma_list(s: &str, item: impl Fn(&str) -> bool) -> bool {
    !s.is_empty() && s.split(',').all(item)
}

fn safe_posix_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.')
}

fn size_with_unit(s: &str) -> bool {
    let digits = s
        .strip_suffix('M')
        .or_else(|| s.strip_suffix('G'))
        .unwrap_or(s);
    all_digits(digits)
}

fn pattern_matches(pattern: Pattern, s: &str) -> bool {
    use Pattern::*;
    match pattern {
        SafePosixName => !s.is_empty() && s.chars().all(safe_posix_char),
        SafePosixShortName => {
            (1..=32).contains(&s.chars().count()) && s.chars().all(safe_posix_char)
        }
        Ecma119Achar128Text => {
            (1..=128).contains(&s.chars().count())
                && s.chars().all(|c| {
                    c.is_ascii_alphanumeric()
                        || ('!'..='/').contains(&c)
                        || (':'..='?').contains(&c)
                        || c == '_'
                        || c == ' '
                })
        }
        LocaleName => {
            let mut parts = s.split(',');
            let first_ok = match parts.next() {
                Some("C") | Some("POSIX") => true,
                Some(first) => locale_item(first),
                None => false,
            };
            first_ok && parts.all(locale_item)
        }
        MacAddressType => {
            let parts: Vec<&str> = s.split(':').collect();
            parts.len() == 6
                && parts
                    .iter()
                    .all(|p| p.len() == 2 && p.chars().all(|c| c.is_ascii_hexdigit()))
        }
        NumberType => all_digits(s),
        BlocksType => s.is_empty() || s == "all" || all_digits(s),
        VolumeSizeType => s == "all" || size_with_unit(s),
        PartitionSizeType => size_with_unit(s),
        VhdTagType => {
            let parts: Vec<&str> = s.split('-').collect();
            let lengths = [8, 4, 4, 4, 12];
            parts.len() == 5
                && parts.iter().zip(lengths).all(|(p, n)| {
                    p.len() == n
                        && p.chars()
                            .all(|c| c.is_ascii_digit() || ('a'..='f').contains(&c))
                })
        }
        GroupsList => comma_list(s, |g| {
            !g.is_empty() && g.chars().all(|c| safe_posix_char(c) || c == ':')
        }),
        ArchName => comma_list(s, |a| ARCH_NAMES.contains(&a)),
        PortnumType => {
            let number = s
                .strip_suffix("/udp")
                .or_else(|| s.strip_suffix("/tcp"))
                .unwrap_or(s);
            all_digits(number)
        }
        GrubConsoleOutput => console_list(
            s,
            &[
                "none", "console", "gfxterm", "serial", "vga_text", "mda_text", "morse", "spkmodem",
            ],
        ),
        GrubConsoleInput => console_list(
            s,
            &["none", "console", "serial", "at_keyboard", "usb_keyboard"],
        ),
        FsAttributes => comma_list(s, |a| {
            matches!(a, "no-copy-on-write" | "synchronous-updates")
        }),
        PackageVersionType => {
            let parts: Vec<&str> = s.split('.').collect();
            parts.len() == 4
                && parts.iter().all(|p| {
                    all_digits(p)
                        && (p.len() == 1 || !p.starts_with('0'))
                        && p.len() <= 5
                        && p.parse::<u32>().is_ok_and(|n| n <= 65535)
                })
        }
        SimpleUriType => ["file:", "https:", "http:", "ftp:"]
            .iter()
            .any(|p| s.starts_with(p)),
        PluginTypeName => {
            s.starts_with(|c: char| c.is_ascii_lowercase())
                && s.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        }
        OciFormatType => match s.split_once(':') {
            Some((kind, format)) => {
                matches!(kind, "oci" | "docker")
                    && matches!(
                        format,
                        "gce"
                            | "ova"
                            | "qcow2"
                            | "vmdk"
                            | "vdi"
                            | "vhd"
                            | "vhdx"
                            | "vhd-fixed"
                            | "raw"
                    )
            }
            None => false,
        },
    }
}

fn locale_item(s: &str) -> bool {
    match s.split_once('_') {
        Some((lang, country)) => {
            (2..=3).contains(&lang.len())
                && lang.chars().all(|c| c.is_ascii_lowercase())
                && country.len() == 2
                && country.chars().all(|c| c.is_ascii_uppercase())
        }
        None => false,
    }
}

/// First word from `first`, later words from `first` minus "none".
fn console_list(s: &str, first: &[&str]) -> bool {
    let mut words = s.split(' ');
    match words.next() {
        Some(w) if first.contains(&w) => words.all(|w| w != "none" && first.contains(&w)),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_is_sorted_and_complete() {
        assert!(ELEMENTS.windows(2).all(|w| w[0].name < w[1].name));
        for element in ELEMENTS {
            for (child, _) in element.children {
                assert!(
                    element_rule(child).is_some(),
                    "{} -> {}",
                    element.name,
                    child
                );
            }
        }
    }

    #[test]
    fn patterns() {
        assert!(pattern_matches(Pattern::ArchName, "x86_64,aarch64"));
        assert!(!pattern_matches(Pattern::ArchName, "x86-64"));
        assert!(!pattern_matches(Pattern::ArchName, "x86_64,"));
        assert!(pattern_matches(Pattern::LocaleName, "en_US,de_DE"));
        assert!(pattern_matches(Pattern::LocaleName, "POSIX"));
        assert!(!pattern_matches(Pattern::LocaleName, "en_US.UTF-8"));
        assert!(pattern_matches(
            Pattern::GrubConsoleOutput,
            "serial gfxterm"
        ));
        assert!(!pattern_matches(Pattern::GrubConsoleOutput, "serial none"));
        assert!(pattern_matches(Pattern::PackageVersionType, "1.0.65535.0"));
        assert!(!pattern_matches(Pattern::PackageVersionType, "1.0.65536.0"));
        assert!(pattern_matches(Pattern::VolumeSizeType, "20G"));
        assert!(pattern_matches(Pattern::OciFormatType, "oci:qcow2"));
        assert!(check_value(ValueType::Bool, " true ").is_ok());
        assert!(check_value(ValueType::Bool, "yes").is_err());
        assert!(check_value(ValueType::Count, "+12").is_ok());
        assert!(check_value(ValueType::Int, "-3").is_ok());
    }

    #[test]
    fn suggestions() {
        let s = expected_names(
            "filesytem",
            ["image", "filesystem"].into_iter(),
            "x",
            "none",
        );
        assert!(s.starts_with("\"filesystem\"?"), "{s}");
    }
}
