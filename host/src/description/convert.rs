//! The validated element tree into the typed model.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use super::error::{shorten, DescriptionError, Origin};
use super::model::*;
use super::tree::Node;
use super::values;

type Result<T> = std::result::Result<T, DescriptionError>;

struct Ctx<'n> {
    node: &'n Node,
    path: String,
}

impl<'n> Ctx<'n> {
    fn root(node: &'n Node) -> Self {
        Ctx {
            node,
            path: format!("/{}", node.name),
        }
    }

    fn child(&self, node: &'n Node) -> Ctx<'n> {
        Ctx {
            node,
            path: format!("{}/{}", self.path, node.name),
        }
    }

    fn children(&self, name: &'n str) -> impl Iterator<Item = Ctx<'n>> + '_ {
        self.node.children_named(name).map(|n| self.child(n))
    }

    fn first(&self, name: &str) -> Option<Ctx<'n>> {
        self.node.child(name).map(|n| self.child(n))
    }

    fn origin(&self) -> Origin {
        Origin {
            location: self.node.location.clone(),
            path: self.path.clone(),
        }
    }

    fn attr(&self, name: &str) -> Option<String> {
        self.node.attr(name).map(|v| v.trim().to_string())
    }

    /// A required attribute (the schema check guarantees it; still no panic).
    fn required(&self, name: &str) -> Result<String> {
        self.attr(name)
            .ok_or_else(|| DescriptionError::MissingAttribute {
                location: self.node.location.clone(),
                path: self.path.clone(),
                name: name.to_string(),
            })
    }

    fn flag(&self, name: &str) -> Option<bool> {
        self.node.attr(name).map(parse_bool)
    }

    fn number(&self, name: &str) -> Result<Option<u64>> {
        let Some(attr) = self.node.attr_entry(name) else {
            return Ok(None);
        };
        let text = attr.value.trim();
        text.strip_prefix('+')
            .unwrap_or(text)
            .parse()
            .map(Some)
            .map_err(|_| DescriptionError::InvalidValue {
                location: attr.location.clone(),
                path: self.path.clone(),
                what: format!("attribute '{name}'"),
                value: shorten(text),
                expected: "a number below 2^64".into(),
            })
    }

    fn id(&self, name: &str) -> Result<Option<u32>> {
        let Some(attr) = self.node.attr_entry(name) else {
            return Ok(None);
        };
        parse_id(attr.value.trim())
            .map(Some)
            .ok_or_else(|| DescriptionError::InvalidValue {
                location: attr.location.clone(),
                path: self.path.clone(),
                what: format!("attribute '{name}'"),
                value: shorten(&attr.value),
                expected: "a number below 2^32".into(),
            })
    }

    /// A comma-separated attribute (profiles, arch).
    fn list(&self, name: &str) -> Vec<String> {
        self.node
            .attr(name)
            .map(|v| {
                v.split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The trimmed text of the first child `name`.
    fn text_of(&self, name: &str) -> Option<String> {
        self.node.child(name).map(|n| n.trimmed_text().to_string())
    }

    fn bool_of(&self, name: &str) -> Option<bool> {
        self.node.child(name).map(|n| parse_bool(&n.text))
    }

    fn options(&self) -> Options {
        Options(
            self.node
                .attrs
                .iter()
                .filter(|a| !(a.name == "xmlns" || a.name.starts_with("xmlns:")))
                .map(|a| (a.name.clone(), a.value.clone()))
                .collect(),
        )
    }

    /// The `name` attribute of an element whose name a tool gets as an
    /// argument of its own (a package, a collection, a user): refused when
    /// it starts with `-` or holds a control character.
    fn tool_name(&self, kind: &str) -> Result<String> {
        let name = self.attr("name").unwrap_or_default();
        if let Some(attr) = self.node.attr_entry("name") {
            check_tool_name(&attr.location, &self.path, "attribute 'name'", &name, kind)?;
        }
        Ok(name)
    }

    fn invalid(&self, message: impl Into<String>) -> DescriptionError {
        DescriptionError::Invalid {
            location: self.node.location.clone(),
            path: self.path.clone(),
            message: message.into(),
        }
    }
}

/// Refuses `value` (of attribute `what` at `location`) as the name of a
/// `kind` when a tool would read it as an option (it starts with `-`) or it
/// holds a control character.
fn check_tool_name(
    location: &super::error::Location,
    path: &str,
    what: &str,
    value: &str,
    kind: &str,
) -> Result<()> {
    if value.starts_with('-') || value.chars().any(char::is_control) {
        return Err(DescriptionError::InvalidValue {
            location: location.clone(),
            path: path.to_string(),
            what: what.to_string(),
            value: shorten(value),
            expected: format!(
                "{kind} that does not start with '-' (the tool would read it as an option) \
                 and holds no control characters"
            ),
        });
    }
    Ok(())
}

/// Refuses `value` (of `what` at `location`) when `check` does not accept it.
fn check_with(
    location: &super::error::Location,
    path: &str,
    what: &str,
    value: &str,
    check: fn(&str) -> std::result::Result<(), &'static str>,
) -> Result<()> {
    check(value).map_err(|expected| DescriptionError::InvalidValue {
        location: location.clone(),
        path: path.to_string(),
        what: what.to_string(),
        value: shorten(value),
        expected: expected.to_string(),
    })
}

/// Checks the text of child `name` of `parent` with `check`, if it is there.
fn check_text(
    parent: &Ctx<'_>,
    name: &str,
    check: fn(&str) -> std::result::Result<(), &'static str>,
) -> Result<()> {
    for child in parent.node.children_named(name) {
        check_with(
            child.text_or_element_location(),
            &format!("{}/{name}", parent.path),
            "content",
            child.trimmed_text(),
            check,
        )?;
    }
    Ok(())
}

fn parse_id(text: &str) -> Option<u32> {
    text.strip_prefix('+').unwrap_or(text).parse().ok()
}

/// Converts the validated `<image>` tree read from `file` (with what
/// reading, including and upgrading it found) into the model.
pub(crate) fn convert(
    root: &Node,
    file: &Path,
    dir: PathBuf,
    format: MarkupFormat,
    schema_version: String,
    upgrades: Vec<String>,
    included_files: Vec<PathBuf>,
) -> Result<Description> {
    let image = Ctx::root(root);
    let info = image
        .first("description")
        .map(|d| description_info(&d))
        .ok_or_else(|| DescriptionError::MissingElement {
            location: root.location.clone(),
            path: "/image".into(),
            name: "description".into(),
        })?;

    let mut preferences = Vec::new();
    for section in image.children("preferences") {
        preferences.push(preferences_section(&section)?);
    }

    let mut profiles: Vec<Profile> = Vec::new();
    let mut seen: HashMap<String, Origin> = HashMap::new();
    for section in image.children("profiles") {
        for profile in section.children("profile") {
            let parsed = profile_entry(&profile)?;
            if let Some(first) = seen.get(&parsed.name) {
                return Err(profile.invalid(format!(
                    "profile {:?} is declared twice (first at {})",
                    parsed.name, first.location
                )));
            }
            seen.insert(parsed.name.clone(), parsed.origin.clone());
            profiles.push(parsed);
        }
    }

    let mut users = Vec::new();
    for section in image.children("users") {
        let mut entries = Vec::new();
        for user in section.children("user") {
            entries.push(user_entry(&user)?);
        }
        users.push(UsersSection {
            profiles: section.list("profiles"),
            arch: section.list("arch"),
            users: entries,
            origin: section.origin(),
        });
    }

    let mut repositories = Vec::new();
    for repository in image.children("repository") {
        repositories.push(repository_entry(&repository)?);
    }

    let mut packages = Vec::new();
    for section in image.children("packages") {
        packages.push(packages_section(&section)?);
    }

    let drivers = image
        .children("drivers")
        .map(|d| DriversSection {
            profiles: d.list("profiles"),
            files: d.children("file").map(|f| file_entry(&f)).collect(),
        })
        .collect();
    let strip = image
        .children("strip")
        .map(|s| StripSection {
            kind: s.attr("type").unwrap_or_default(),
            profiles: s.list("profiles"),
            files: s.children("file").map(|f| file_entry(&f)).collect(),
        })
        .collect();
    let mut containers = Vec::new();
    for section in image.children("containers") {
        containers.push(ContainersSection {
            profiles: section.list("profiles"),
            arch: section.list("arch"),
            source: section.required("source")?,
            backend: section.required("backend")?,
            containers: section
                .children("container")
                .map(|c| Container {
                    name: c.attr("name").unwrap_or_default(),
                    path: c.attr("path"),
                    tag: c.attr("tag"),
                    fetch_only: c.flag("fetch_only"),
                    arch: c.list("arch"),
                })
                .collect(),
        });
    }
    let certificates = match image.first("certificates") {
        Some(c) => Some(CertificatesSection {
            profiles: c.list("profiles"),
            target_distribution: c.required("target_distribution")?,
            names: c
                .children("certificate")
                .filter_map(|n| n.attr("name"))
                .collect(),
        }),
        None => None,
    };

    let plugins = match root.child("extension") {
        Some(extension) => super::extension::plugin_refs(extension, root, &dir)?,
        None => Vec::new(),
    };
    Ok(Description {
        file: file.to_path_buf(),
        dir,
        format,
        schema_version,
        upgrades,
        included_files,
        origin: Origin {
            location: root.location.clone(),
            path: "/image".into(),
        },
        name: image.required("name")?,
        display_name: image.attr("displayname"),
        id: image.attr("id"),
        info,
        preferences,
        profiles,
        users,
        repositories,
        packages,
        drivers,
        strip,
        containers,
        certificates,
        extension: root.child("extension").map(raw),
        plugins,
    })
}

fn description_info(d: &Ctx<'_>) -> DescriptionInfo {
    DescriptionInfo {
        kind: d.attr("type").unwrap_or_default(),
        author: d.text_of("author").unwrap_or_default(),
        contact: d
            .node
            .children_named("contact")
            .map(|c| c.trimmed_text().to_string())
            .collect(),
        specification: d.text_of("specification").unwrap_or_default(),
        license: d.text_of("license"),
    }
}

fn preferences_section(p: &Ctx<'_>) -> Result<Preferences> {
    let package_manager = match p.first("packagemanager") {
        Some(pm) => Some(PackageManager::from_name(&pm.node.text).ok_or_else(|| {
            DescriptionError::InvalidValue {
                location: pm.node.text_or_element_location().clone(),
                path: pm.path.clone(),
                what: "content".into(),
                value: shorten(pm.node.trimmed_text()),
                expected: "a package manager".into(),
            }
        })?),
        None => None,
    };
    // both end up in files the image's shells source
    check_text(p, "keytable", values::keytable)?;
    check_text(p, "timezone", values::timezone)?;
    let mut types = Vec::new();
    for t in p.children("type") {
        types.push(image_type(&t)?);
    }
    Ok(Preferences {
        profiles: p.list("profiles"),
        arch: p.list("arch"),
        version: p.text_of("version"),
        package_manager,
        locale: p.text_of("locale"),
        keytable: p.text_of("keytable"),
        timezone: p.text_of("timezone"),
        release_version: p.text_of("release-version"),
        rpm_excludedocs: p.bool_of("rpm-excludedocs"),
        rpm_check_signatures: p.bool_of("rpm-check-signatures"),
        rpm_locale_filtering: p.bool_of("rpm-locale-filtering"),
        bootloader_theme: p.text_of("bootloader-theme"),
        bootsplash_theme: p.text_of("bootsplash-theme"),
        show_license: p
            .node
            .children_named("showlicense")
            .map(|n| n.trimmed_text().to_string())
            .collect(),
        types,
        origin: p.origin(),
    })
}

fn image_type(t: &Ctx<'_>) -> Result<ImageType> {
    let bootloader = match t.first("bootloader") {
        Some(b) => Some(Bootloader {
            name: b.required("name")?,
            timeout: b.number("timeout")?,
            output_console: b.attr("output_console"),
            input_console: b.attr("input_console"),
            attributes: b.options(),
            settings: b.node.child("bootloadersettings").map(raw),
            securelinux: b.node.children_named("securelinux").map(raw).collect(),
        }),
        None => None,
    };
    let size = match t.first("size") {
        Some(s) => {
            let text = s.node.trimmed_text();
            let value = text
                .strip_prefix('+')
                .unwrap_or(text)
                .parse()
                .map_err(|_| DescriptionError::InvalidValue {
                    location: s.node.text_or_element_location().clone(),
                    path: s.path.clone(),
                    what: "content".into(),
                    value: shorten(text),
                    expected: "a number below 2^64".into(),
                })?;
            Some(DiskSize::new(
                value,
                s.attr("unit"),
                s.flag("additive"),
                s.number("unpartitioned")?,
            ))
        }
        None => None,
    };
    let systemdisk = t.first("systemdisk").map(|d| SystemDisk {
        name: d.attr("name"),
        preferlvm: d.flag("preferlvm"),
        volumes: d.children("volume").map(|v| volume(&v)).collect(),
    });
    let mut vagrantconfig = Vec::new();
    for v in t.children("vagrantconfig") {
        vagrantconfig.push(VagrantConfig {
            provider: v.required("provider")?,
            virtualsize: v.number("virtualsize")?.unwrap_or(0),
            attributes: v.options(),
        });
    }
    let oemconfig = t.node.child("oemconfig").map(|o| {
        OemConfig(Options(
            o.children
                .iter()
                .map(|c| (c.name.clone(), c.trimmed_text().to_string()))
                .collect(),
        ))
    });
    Ok(ImageType {
        image: t.required("image")?,
        primary: t.flag("primary").unwrap_or(false),
        format: t.attr("format"),
        filesystem: t.attr("filesystem"),
        firmware: t.attr("firmware"),
        kernelcmdline: t.node.attr("kernelcmdline").map(str::to_string),
        bootpartition: t.flag("bootpartition"),
        bootpartsize: t.number("bootpartsize")?,
        efipartsize: t.number("efipartsize")?,
        devicepersistency: t.attr("devicepersistency"),
        editbootconfig: t.attr("editbootconfig"),
        editbootinstall: t.attr("editbootinstall"),
        attributes: t.options(),
        bootloader,
        containerconfig: t.first("containerconfig").map(|c| container_config(&c)),
        oemconfig,
        size,
        systemdisk,
        vagrantconfig,
        machine: t.node.child("machine").map(raw),
        partitions: t.node.child("partitions").map(raw),
        installmedia: t.node.child("installmedia").map(raw),
        initrd: t.node.children_named("initrd").map(raw).collect(),
        luksformat: t.node.child("luksformat").map(raw),
        elements: t.node.children.iter().map(raw).collect(),
        origin: t.origin(),
    })
}

fn volume(v: &Ctx<'_>) -> Volume {
    Volume {
        name: v.attr("name").unwrap_or_default(),
        arch: v.list("arch"),
        attributes: v.options(),
    }
}

fn container_config(c: &Ctx<'_>) -> ContainerConfig {
    let command = |name: &str| {
        c.first(name).map(|e| ContainerCommand {
            execute: e.attr("execute"),
            clear: e.flag("clear"),
            arguments: e
                .children("argument")
                .filter_map(|a| a.attr("name"))
                .collect(),
        })
    };
    let pairs = |outer: &str, inner: &str| {
        Options(
            c.node
                .children_named(outer)
                .flat_map(|o| o.children_named(inner))
                .filter_map(|e| {
                    Some((
                        e.attr("name")?.to_string(),
                        e.attr("value").unwrap_or("").to_string(),
                    ))
                })
                .collect(),
        )
    };
    ContainerConfig {
        name: c.attr("name").unwrap_or_default(),
        tag: c.attr("tag"),
        additional_names: c.list("additionalnames"),
        maintainer: c.attr("maintainer"),
        user: c.attr("user"),
        workingdir: c.attr("workingdir"),
        entrypoint: command("entrypoint"),
        subcommand: command("subcommand"),
        expose: c
            .node
            .children_named("expose")
            .flat_map(|e| e.children_named("port"))
            .filter_map(|p| p.attr("number").map(|n| n.trim().to_string()))
            .collect(),
        volumes: c
            .node
            .children_named("volumes")
            .flat_map(|e| e.children_named("volume"))
            .filter_map(|v| v.attr("name").map(str::to_string))
            .collect(),
        stopsignal: c.text_of("stopsignal"),
        environment: pairs("environment", "env"),
        labels: pairs("labels", "label"),
        history: c.first("history").map(|h| ContainerHistory {
            attributes: h.options(),
            comment: h.node.trimmed_text().to_string(),
        }),
    }
}

fn profile_entry(p: &Ctx<'_>) -> Result<Profile> {
    let name = p.required("name")?;
    if let Some(attr) = p.node.attr_entry("name") {
        check_with(
            &attr.location,
            &p.path,
            "attribute 'name'",
            &name,
            values::profile_name,
        )?;
    }
    let mut requires = Vec::new();
    for r in p.children("requires") {
        requires.push(ProfileRequirement {
            profile: r.required("profile")?,
            arch: r.list("arch"),
            origin: r.origin(),
        });
    }
    Ok(Profile {
        name,
        description: p.attr("description").unwrap_or_default(),
        import: p.flag("import").unwrap_or(false),
        arch: p.list("arch"),
        requires,
        origin: p.origin(),
    })
}

fn user_entry(u: &Ctx<'_>) -> Result<User> {
    let mut groups = Vec::new();
    if let Some(attr) = u.node.attr_entry("groups") {
        for item in attr
            .value
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
        {
            let (name, id) = match item.split_once(':') {
                Some((name, id)) => match parse_id(id) {
                    Some(id) if !name.is_empty() => (name, Some(id)),
                    _ => {
                        return Err(DescriptionError::InvalidValue {
                            location: attr.location.clone(),
                            path: u.path.clone(),
                            what: "attribute 'groups'".into(),
                            value: shorten(&attr.value),
                            expected: "comma-separated group[:gid] with a numeric gid".into(),
                        })
                    }
                },
                None => (item, None),
            };
            check_tool_name(
                &attr.location,
                &u.path,
                "attribute 'groups'",
                name,
                "a group name",
            )?;
            check_with(
                &attr.location,
                &u.path,
                "attribute 'groups'",
                name,
                values::account_name,
            )?;
            groups.push(GroupRef {
                name: name.to_string(),
                id,
            });
        }
    }
    u.required("name")?;
    let name = u.tool_name("a user name")?;
    if let Some(attr) = u.node.attr_entry("name") {
        check_with(
            &attr.location,
            &u.path,
            "attribute 'name'",
            &name,
            values::account_name,
        )?;
    }
    Ok(User {
        name,
        password: u.node.attr("password").unwrap_or("").to_string(),
        password_format: match u.attr("pwdformat").as_deref() {
            Some("plain") => Some(PasswordFormat::Plain),
            Some("encrypted") => Some(PasswordFormat::Encrypted),
            _ => None,
        },
        home: u.attr("home"),
        shell: u.attr("shell"),
        realname: u.attr("realname"),
        id: u.id("id")?,
        groups,
    })
}

fn repository_entry(r: &Ctx<'_>) -> Result<Repository> {
    let source = r
        .first("source")
        .ok_or_else(|| DescriptionError::MissingElement {
            location: r.node.location.clone(),
            path: r.path.clone(),
            name: "source".into(),
        })?;
    let path_attr =
        source
            .node
            .attr_entry("path")
            .ok_or_else(|| DescriptionError::MissingAttribute {
                location: source.node.location.clone(),
                path: source.path.clone(),
                name: "path".into(),
            })?;
    let path = path_attr.value.trim().to_string();
    // A URI goes on one line of a .repo file or an apt source: a line break
    // or space inside it would add lines or fields of the description's
    // choosing there.
    if path.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return Err(DescriptionError::InvalidValue {
            location: path_attr.location.clone(),
            path: source.path.clone(),
            what: "attribute 'path'".into(),
            value: shorten(&path),
            expected: "a URI without spaces or control characters (write a space as %20)".into(),
        });
    }
    // The same for what else of the repository lands in those files.
    for (node, name) in [
        (r.node, "alias"),
        (r.node, "username"),
        (r.node, "password"),
        (r.node, "customize"),
    ] {
        if let Some(attr) = node.attr_entry(name) {
            if attr.value.chars().any(char::is_control) {
                return Err(DescriptionError::InvalidValue {
                    location: attr.location.clone(),
                    path: r.path.clone(),
                    what: format!("attribute '{name}'"),
                    value: if name == "password" {
                        "(hidden)".into()
                    } else {
                        shorten(&attr.value)
                    },
                    expected: "a value without control characters (it is written into a \
                               repository file)"
                        .into(),
                });
            }
        }
    }
    for signing in source.children("signing") {
        if let Some(attr) = signing.node.attr_entry("key") {
            if attr
                .value
                .chars()
                .any(|c| c.is_control() || c.is_whitespace())
            {
                return Err(DescriptionError::InvalidValue {
                    location: attr.location.clone(),
                    path: signing.path.clone(),
                    what: "attribute 'key'".into(),
                    value: shorten(&attr.value),
                    expected: "a URI without spaces or control characters".into(),
                });
            }
        }
    }
    let Some((scheme, _)) = UriScheme::parse(&path) else {
        return Err(DescriptionError::InvalidValue {
            location: path_attr.location.clone(),
            path: source.path.clone(),
            what: "attribute 'path'".into(),
            value: shorten(&path),
            expected: "a URI (http, https, ftp, file, dir, this, obs, obsrepositories, host) \
                       or an absolute path"
                .into(),
        });
    };
    if r.node.attr("imageinclude").is_some() && r.node.attr("imageonly").is_some() {
        return Err(r.invalid("imageinclude and imageonly exclude each other"));
    }
    let priority = match r.node.attr_entry("priority") {
        Some(attr) => {
            let text = attr.value.trim();
            Some(
                text.strip_prefix('+')
                    .unwrap_or(text)
                    .parse::<i64>()
                    .map_err(|_| DescriptionError::InvalidValue {
                        location: attr.location.clone(),
                        path: r.path.clone(),
                        what: "attribute 'priority'".into(),
                        value: shorten(text),
                        expected: "an integer that fits 64 bits".into(),
                    })?,
            )
        }
        None => None,
    };
    if let Some(attr) = r
        .node
        .attr_entry("distribution")
        .filter(|a| !a.value.trim().is_empty())
    {
        // empty is no suite (a flat repository)
        check_with(
            &attr.location,
            &r.path,
            "attribute 'distribution'",
            attr.value.trim(),
            values::suite,
        )?;
    }
    if let Some(attr) = r.node.attr_entry("components") {
        for component in attr.value.split_whitespace() {
            check_with(
                &attr.location,
                &r.path,
                "attribute 'components'",
                component,
                values::suite,
            )?;
        }
    }
    let use_for_bootstrap = r
        .node
        .dropped
        .iter()
        .find(|a| a.name == "use_for_bootstrap")
        .is_some_and(|a| parse_bool(&a.value));
    Ok(Repository {
        kind: r.node.attr("type").and_then(RepositoryType::from_name),
        alias: r.attr("alias"),
        profiles: r.list("profiles"),
        arch: r.list("arch"),
        path,
        scheme,
        signing_keys: source
            .children("signing")
            .filter_map(|s| s.attr("key"))
            .collect(),
        source_type: r.attr("sourcetype"),
        components: r
            .node
            .attr("components")
            .map(|c| c.split_whitespace().map(str::to_string).collect())
            .unwrap_or_default(),
        distribution: r.attr("distribution"),
        imageinclude: r.flag("imageinclude").unwrap_or(false),
        imageonly: r.flag("imageonly").unwrap_or(false),
        repository_gpgcheck: r.flag("repository_gpgcheck"),
        package_gpgcheck: r.flag("package_gpgcheck"),
        customize: r.attr("customize"),
        priority,
        username: r.attr("username"),
        password: r.node.attr("password").map(str::to_string),
        architectures: r.list("architectures"),
        use_for_bootstrap,
        origin: r.origin(),
    })
}

fn named(c: &Ctx<'_>, kind: &str) -> Result<NamedItem> {
    Ok(NamedItem {
        name: c.tool_name(kind)?,
        arch: c.list("arch"),
    })
}

fn file_entry(f: &Ctx<'_>) -> FileEntry {
    FileEntry {
        name: f.attr("name").unwrap_or_default(),
        target: f.attr("target"),
        owner: f.attr("owner"),
        permissions: f.attr("permissions"),
        arch: f.list("arch"),
    }
}

fn packages_section(s: &Ctx<'_>) -> Result<PackagesSection> {
    let kind = PackagesKind::from_name(&s.required("type")?);
    let mut collection_modules = Vec::new();
    for m in s.children("collectionModule") {
        let enable = m.flag("enable").unwrap_or(false);
        if kind != PackagesKind::Bootstrap {
            return Err(
                m.invalid("collectionModule is only allowed in the bootstrap packages section")
            );
        }
        if !enable && m.node.attr("stream").is_some() {
            return Err(
                m.invalid("stream is not allowed when a module is disabled (enable=\"false\")")
            );
        }
        collection_modules.push(CollectionModule {
            name: m.attr("name").unwrap_or_default(),
            stream: m.attr("stream"),
            enable,
            arch: m.list("arch"),
        });
    }
    for archive in s.node.children_named("archive") {
        let path = format!("{}/archive", s.path);
        for (attribute, check) in [
            (
                "name",
                values::archive_name as fn(&str) -> std::result::Result<(), &'static str>,
            ),
            ("target_dir", values::target_dir),
        ] {
            if let Some(attr) = archive.attr_entry(attribute) {
                check_with(
                    &attr.location,
                    &path,
                    &format!("attribute '{attribute}'"),
                    attr.value.trim(),
                    check,
                )?;
            }
        }
    }
    Ok(PackagesSection {
        kind,
        profiles: s.list("profiles"),
        pattern_type: s.attr("patternType"),
        bootstrap_package: s.attr("bootstrap_package"),
        packages: s
            .children("package")
            .map(|p| {
                Ok(Package {
                    name: p.tool_name("a package name")?,
                    arch: p.list("arch"),
                    bootinclude: p.flag("bootinclude"),
                    bootdelete: p.flag("bootdelete"),
                })
            })
            .collect::<Result<_>>()?,
        archives: s
            .children("archive")
            .map(|a| Archive {
                name: a.attr("name").unwrap_or_default(),
                target_dir: a.attr("target_dir"),
                bootinclude: a.flag("bootinclude"),
            })
            .collect(),
        files: s.children("file").map(|f| file_entry(&f)).collect(),
        ignore: s
            .children("ignore")
            .map(|i| named(&i, "a package name"))
            .collect::<Result<_>>()?,
        collections: s
            .children("namedCollection")
            .map(|c| named(&c, "a collection name"))
            .collect::<Result<_>>()?,
        collection_modules,
        products: s
            .children("product")
            .map(|p| named(&p, "a product name"))
            .collect::<Result<_>>()?,
        origin: s.origin(),
    })
}

/// An element as written.
pub(crate) fn raw(node: &Node) -> RawElement {
    let text = node.trimmed_text();
    RawElement {
        name: node.name.clone(),
        attributes: Options(
            node.attrs
                .iter()
                .map(|a| (a.name.clone(), a.value.clone()))
                .collect(),
        ),
        text: (!text.is_empty()).then(|| text.to_string()),
        children: node.children.iter().map(raw).collect(),
    }
}
