//! The container settings (KIWI's `<containerconfig>`), checked: names and
//! tags as image references allow them, ports, environment names, labels
//! without characters that would break a reference or a consumer.

use std::collections::BTreeMap;

use crate::{Element, Error};

/// KIWI's `<containerconfig>` as the description writes it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ContainerConfig {
    /// Image name (`name`).
    pub name: String,
    /// Tag (`tag`).
    pub tag: Option<String>,
    /// Further `name:tag` references (`additionalnames`, comma-separated).
    pub additional_names: Vec<String>,
    /// Author (`maintainer`).
    pub maintainer: Option<String>,
    /// User the container runs as (`user`).
    pub user: Option<String>,
    /// Working directory (`workingdir`).
    pub workingdir: Option<String>,
    /// `<entrypoint execute=>` and its `<argument name=>`s.
    pub entrypoint: Vec<String>,
    /// `<subcommand execute=>` and its `<argument name=>`s.
    pub cmd: Vec<String>,
    /// `<expose><port number=>`.
    pub expose: Vec<String>,
    /// `<volumes><volume name=>`.
    pub volumes: Vec<String>,
    /// `<stopsignal>`.
    pub stopsignal: Option<String>,
    /// `<environment><env name= value=>`, in order.
    pub environment: Vec<(String, String)>,
    /// `<labels><label name= value=>`, in order.
    pub labels: Vec<(String, String)>,
}

impl ContainerConfig {
    /// Read the `<containerconfig>` element of the build request's settings.
    pub fn from_element(c: Element<'_>) -> ContainerConfig {
        let attr = |name: &str| c.attr(name).map(str::to_string);
        let command = |name: &'static str| -> Vec<String> {
            c.child(name)
                .map(|e| {
                    e.attr("execute")
                        .map(str::to_string)
                        .into_iter()
                        .chain(
                            e.children("argument")
                                .filter_map(|a| a.attr("name").map(str::to_string)),
                        )
                        .collect()
                })
                .unwrap_or_default()
        };
        let nested = |outer: &'static str, inner: &'static str| {
            c.children(outer).flat_map(move |o| o.children(inner))
        };
        let pairs = |outer: &'static str, inner: &'static str| -> Vec<(String, String)> {
            nested(outer, inner)
                .filter_map(|e| {
                    Some((
                        e.attr("name")?.to_string(),
                        e.attr("value").unwrap_or("").to_string(),
                    ))
                })
                .collect()
        };
        ContainerConfig {
            name: c.attr("name").unwrap_or_default().to_string(),
            tag: attr("tag"),
            additional_names: c
                .attr("additionalnames")
                .map(|l| {
                    l.split(',')
                        .map(str::trim)
                        .filter(|n| !n.is_empty())
                        .map(str::to_string)
                        .collect()
                })
                .unwrap_or_default(),
            maintainer: attr("maintainer"),
            user: attr("user"),
            workingdir: attr("workingdir"),
            entrypoint: command("entrypoint"),
            cmd: command("subcommand"),
            expose: nested("expose", "port")
                .filter_map(|p| p.attr("number").map(|n| n.trim().to_string()))
                .collect(),
            volumes: nested("volumes", "volume")
                .filter_map(|v| v.attr("name").map(str::to_string))
                .collect(),
            stopsignal: c.child("stopsignal").map(|e| e.text().to_string()),
            environment: pairs("environment", "env"),
            labels: pairs("labels", "label"),
        }
    }
}

/// KIWI's container name when the description names none.
pub const DEFAULT_NAME: &str = "kiwi-container";
/// KIWI's tag when the description gives none.
pub const DEFAULT_TAG: &str = "latest";

/// A `name:tag` reference.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Reference {
    pub name: String,
    pub tag: String,
}

impl Reference {
    pub fn full(&self) -> String {
        format!("{}:{}", self.name, self.tag)
    }
}

/// Checked settings, ready to be written into an image config.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The main reference.
    pub main: Reference,
    /// Further references, without duplicates, in the order given.
    pub additional: Vec<Reference>,
    pub maintainer: Option<String>,
    pub user: Option<String>,
    pub workingdir: Option<String>,
    pub entrypoint: Vec<String>,
    pub cmd: Vec<String>,
    /// `port/protocol`, sorted.
    pub exposed_ports: Vec<String>,
    /// Sorted.
    pub volumes: Vec<String>,
    pub stopsignal: Option<String>,
    /// `K=V`, in order; a later value of a name replaces the earlier one in place.
    pub environment: Vec<String>,
    /// Sorted by key; the last value of a key wins.
    pub labels: BTreeMap<String, String>,
}

fn invalid(name: &str, reason: String) -> Error {
    Error::invalid_option(name, reason)
}

fn has_control(s: &str) -> bool {
    s.chars().any(char::is_control)
}

/// Text that must be one line of printable characters.
fn plain(option: &str, what: &str, value: &str) -> Result<(), Error> {
    if has_control(value) {
        return Err(invalid(
            option,
            format!("{what} {value:?} has control characters"),
        ));
    }
    Ok(())
}

/// `[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}`: a tag as image references allow it.
pub fn valid_tag(tag: &str) -> bool {
    let bytes = tag.as_bytes();
    !bytes.is_empty()
        && bytes.len() <= 128
        && (bytes[0].is_ascii_alphanumeric() || bytes[0] == b'_')
        && bytes[1..]
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
}

/// A repository name as the distribution reference grammar has it: an
/// optional registry host (`registry.example.com:5000/`), then lower-case
/// path components separated by `/`, each alphanumeric runs joined by `.`,
/// `_`, `__` or dashes; 255 characters at most.
pub fn valid_name(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("it is empty".into());
    }
    if name.len() > 255 {
        return Err("it is longer than 255 characters".into());
    }
    let mut components: Vec<&str> = name.split('/').collect();
    let first = components[0];
    let is_domain = components.len() > 1
        && (first.contains('.')
            || first.contains(':')
            || first == "localhost"
            || first.chars().any(|c| c.is_ascii_uppercase()));
    if is_domain {
        valid_domain(first)?;
        components.remove(0);
    }
    for component in components {
        valid_path_component(component)?;
    }
    Ok(())
}

fn valid_domain(domain: &str) -> Result<(), String> {
    let (host, port) = match domain.rsplit_once(':') {
        Some((host, port)) => (host, Some(port)),
        None => (domain, None),
    };
    if let Some(port) = port {
        if port.is_empty() || port.len() > 5 || !port.bytes().all(|b| b.is_ascii_digit()) {
            return Err(format!("registry port `{port}` is not a number"));
        }
    }
    for label in host.split('.') {
        let b = label.as_bytes();
        let ok = !b.is_empty()
            && b[0].is_ascii_alphanumeric()
            && b[b.len() - 1].is_ascii_alphanumeric()
            && b.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'-');
        if !ok {
            return Err(format!("registry host `{host}` is not a host name"));
        }
    }
    Ok(())
}

fn valid_path_component(component: &str) -> Result<(), String> {
    let bad = || {
        format!(
            "`{component}` is not a name component: lower-case letters and digits, \
             joined by `.`, `_`, `__` or dashes"
        )
    };
    let b = component.as_bytes();
    let alnum = |c: u8| c.is_ascii_lowercase() || c.is_ascii_digit();
    if b.is_empty() || !alnum(b[0]) || !alnum(b[b.len() - 1]) {
        return Err(bad());
    }
    let mut i = 0;
    while i < b.len() {
        if alnum(b[i]) {
            i += 1;
            continue;
        }
        // A separator: `.`, `_`, `__` or one or more `-`, between alphanumerics.
        let start = i;
        while i < b.len() && !alnum(b[i]) {
            i += 1;
        }
        let sep = &component[start..i];
        let ok = matches!(sep, "." | "_" | "__") || sep.bytes().all(|c| c == b'-');
        if !ok {
            return Err(bad());
        }
    }
    Ok(())
}

/// Split `name:tag` (the colon after the last `/`, so a registry port is not a
/// tag); an empty part means the main one (`:tag`, `name`).
fn parse_reference(text: &str, main: &Reference) -> Result<Reference, String> {
    let slash = text.rfind('/').map(|i| i + 1).unwrap_or(0);
    let (name, tag) = match text[slash..].rfind(':') {
        Some(i) => (&text[..slash + i], &text[slash + i + 1..]),
        None => (text, ""),
    };
    let name = if name.is_empty() {
        main.name.as_str()
    } else {
        name
    };
    let tag = if tag.is_empty() {
        main.tag.as_str()
    } else {
        tag
    };
    valid_name(name).map_err(|why| format!("name `{name}`: {why}"))?;
    if !valid_tag(tag) {
        return Err(format!(
            "tag `{tag}` does not match [A-Za-z0-9_][A-Za-z0-9_.-]{{0,127}}"
        ));
    }
    Ok(Reference {
        name: name.to_string(),
        tag: tag.to_string(),
    })
}

/// `80` → `80/tcp`; `53/udp` stays.
fn port(text: &str) -> Result<String, String> {
    let (number, protocol) = match text.split_once('/') {
        Some((n, p)) => (n, p.to_ascii_lowercase()),
        None => (text, "tcp".to_string()),
    };
    let value: u32 = number
        .parse()
        .ok()
        .filter(|_| number.bytes().all(|b| b.is_ascii_digit()))
        .ok_or_else(|| format!("port `{text}` is not a number"))?;
    if !(1..=65535).contains(&value) {
        return Err(format!("port `{text}` is not between 1 and 65535"));
    }
    if !matches!(protocol.as_str(), "tcp" | "udp" | "sctp") {
        return Err(format!("port `{text}`: protocol is not tcp, udp or sctp"));
    }
    Ok(format!("{value}/{protocol}"))
}

impl Settings {
    /// Check `config` (none: KIWI's defaults) and put it in order.
    pub fn new(config: Option<&ContainerConfig>) -> Result<Settings, Error> {
        let empty = ContainerConfig::default();
        let c = config.unwrap_or(&empty);

        let name = match c.name.trim() {
            "" => DEFAULT_NAME,
            name => name,
        };
        valid_name(name).map_err(|why| {
            invalid(
                "name",
                format!("<containerconfig> name `{name}` is not a valid image name: {why}"),
            )
        })?;
        let tag = c.tag.as_deref().map(str::trim).unwrap_or(DEFAULT_TAG);
        if !valid_tag(tag) {
            return Err(invalid(
                "tag",
                format!(
                    "<containerconfig> tag {tag:?} does not match [A-Za-z0-9_][A-Za-z0-9_.-]{{0,127}}"
                ),
            ));
        }
        let main = Reference {
            name: name.to_string(),
            tag: tag.to_string(),
        };
        let mut additional: Vec<Reference> = Vec::new();
        for text in &c.additional_names {
            let text = text.trim();
            if text.is_empty() {
                continue;
            }
            let reference = parse_reference(text, &main).map_err(|why| {
                invalid(
                    "additionalnames",
                    format!("`{text}` is not a valid reference: {why}"),
                )
            })?;
            if reference != main && !additional.contains(&reference) {
                additional.push(reference);
            }
        }

        for (option, value) in [
            ("maintainer", &c.maintainer),
            ("user", &c.user),
            ("workingdir", &c.workingdir),
        ] {
            if let Some(value) = value {
                plain(option, option, value)?;
            }
        }
        if let Some(dir) = &c.workingdir {
            if !dir.is_empty() && !dir.starts_with('/') {
                return Err(invalid(
                    "workingdir",
                    format!("`{dir}` is not an absolute path"),
                ));
            }
        }
        for (option, args) in [("entrypoint", &c.entrypoint), ("subcommand", &c.cmd)] {
            for arg in args.iter() {
                if arg.contains('\0') {
                    return Err(invalid(option, format!("argument {arg:?} has a NUL byte")));
                }
            }
        }

        let mut exposed_ports = Vec::new();
        for text in &c.expose {
            let p = port(text.trim()).map_err(|why| invalid("expose", why))?;
            if !exposed_ports.contains(&p) {
                exposed_ports.push(p);
            }
        }
        exposed_ports.sort();

        let mut volumes = Vec::new();
        for volume in &c.volumes {
            plain("volumes", "volume", volume)?;
            if volume.is_empty() {
                return Err(invalid("volumes", "a volume has no name".into()));
            }
            if !volumes.contains(volume) {
                volumes.push(volume.clone());
            }
        }
        volumes.sort();

        let stopsignal = match c.stopsignal.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(signal) => {
                let ok = signal.len() <= 32
                    && signal
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-'));
                if !ok {
                    return Err(invalid(
                        "stopsignal",
                        format!("`{signal}` is not a signal name or number"),
                    ));
                }
                Some(signal.to_string())
            }
        };

        let mut environment: Vec<String> = Vec::new();
        let mut env_names: Vec<&str> = Vec::new();
        for (key, value) in &c.environment {
            if key.is_empty() || key.contains('=') || has_control(key) || key.contains(' ') {
                return Err(invalid(
                    "environment",
                    format!(
                        "{key:?} is not a variable name (empty, `=`, blanks or control characters)"
                    ),
                ));
            }
            if value.contains('\0') {
                return Err(invalid(
                    "environment",
                    format!("the value of `{key}` has a NUL byte"),
                ));
            }
            let entry = format!("{key}={value}");
            match env_names.iter().position(|k| *k == key.as_str()) {
                Some(i) => environment[i] = entry,
                None => {
                    env_names.push(key);
                    environment.push(entry);
                }
            }
        }

        let mut labels = BTreeMap::new();
        for (key, value) in &c.labels {
            if key.is_empty() || has_control(key) || key.chars().any(char::is_whitespace) {
                return Err(invalid(
                    "labels",
                    format!("label name {key:?} is empty or has blanks or control characters"),
                ));
            }
            if value
                .chars()
                .any(|c| c.is_control() && c != '\n' && c != '\t')
            {
                return Err(invalid(
                    "labels",
                    format!("the value of label `{key}` has control characters"),
                ));
            }
            labels.insert(key.clone(), value.clone());
        }

        Ok(Settings {
            main,
            additional,
            maintainer: c.maintainer.clone().filter(|m| !m.is_empty()),
            user: c.user.clone().filter(|u| !u.is_empty()),
            workingdir: c.workingdir.clone().filter(|w| !w.is_empty()),
            entrypoint: c.entrypoint.clone(),
            cmd: c.cmd.clone(),
            exposed_ports,
            volumes,
            stopsignal,
            environment,
            labels,
        })
    }

    /// Every reference: the main one, then the additional ones.
    pub fn references(&self) -> Vec<&Reference> {
        std::iter::once(&self.main)
            .chain(&self.additional)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_and_names() {
        assert!(valid_tag("latest"));
        assert!(valid_tag("1.0.0-rc_1"));
        assert!(valid_tag("_x"));
        assert!(!valid_tag(""));
        assert!(!valid_tag("-x"));
        assert!(!valid_tag(".x"));
        assert!(!valid_tag("a b"));
        assert!(!valid_tag("a\"b"));
        assert!(!valid_tag(&"a".repeat(129)));
        assert!(valid_tag(&"a".repeat(128)));
        for ok in [
            "golden",
            "opensuse/leap",
            "registry.example.com:5000/team/golden-image",
            "localhost/a__b",
            "a.b_c--d",
        ] {
            assert!(valid_name(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "Golden",
            "a//b",
            "-a",
            "a-",
            "a..b",
            "a___b",
            "x/ y",
            "a\"b",
            "reg:port/x",
        ] {
            assert!(valid_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn additional_names_take_the_main_parts_they_lack() {
        let main = Reference {
            name: "golden".into(),
            tag: "1.0".into(),
        };
        let r = |t: &str| parse_reference(t, &main).map(|r| r.full());
        assert_eq!(r(":stable").unwrap(), "golden:stable");
        assert_eq!(r("other").unwrap(), "other:1.0");
        assert_eq!(
            r("reg.example.com:5000/x/y:z").unwrap(),
            "reg.example.com:5000/x/y:z"
        );
        assert_eq!(
            r("reg.example.com:5000/x").unwrap(),
            "reg.example.com:5000/x:1.0"
        );
        assert!(r("x:bad tag").is_err());
    }

    #[test]
    fn ports() {
        assert_eq!(port("80").unwrap(), "80/tcp");
        assert_eq!(port("53/udp").unwrap(), "53/udp");
        assert!(port("0").is_err());
        assert!(port("http").is_err());
        assert!(port("80/xyz").is_err());
        assert!(port("+80").is_err());
    }
}
