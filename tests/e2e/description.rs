//! Loading descriptions: KIWI XML, YAML and JSON into one model, includes,
//! schema upgrades, and one-line located errors for malformed input.

use std::fs;
use std::path::{Path, PathBuf};

use builder::description::{self, DescriptionError, MarkupFormat, PackageManager, UriScheme};
use builder::plan::{plan, PlanRequest};
use tempfile::TempDir;

/// A description directory with `files` (name, content) in a temp dir.
fn description_dir(files: &[(&str, &str)]) -> TempDir {
    let dir = tempfile::tempdir().unwrap();
    for (name, content) in files {
        let path = dir.path().join(name);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, content).unwrap();
    }
    dir
}

/// A small valid description, schema `version`, with `body` inside `<image>`.
fn xml(version: &str, body: &str) -> String {
    format!(
        r#"<?xml version="1.0" encoding="utf-8"?>
<image schemaversion="{version}" name="test-image">
  <description type="system">
    <author>Test</author>
    <contact>test@example.org</contact>
    <specification>test</specification>
  </description>
{body}
</image>
"#
    )
}

const PREFERENCES: &str = r#"  <preferences>
    <version>1.0.0</version>
    <packagemanager>apt</packagemanager>
    <type image="tbz"/>
  </preferences>"#;

/// The error `load` gives for `dir`.
fn load_error(dir: &Path) -> DescriptionError {
    match description::load(dir) {
        Ok(d) => panic!("{} loaded but should not: {:?}", dir.display(), d.name),
        Err(e) => e,
    }
}

/// Asserts a one-line message starting with `file:line:column: ` and containing `text`.
fn assert_located(message: &str, file: &Path, line: u32, column: u32, text: &str) {
    assert!(!message.contains('\n'), "not one line: {message}");
    let prefix = format!("{}:{line}:{column}: ", file.display());
    assert!(
        message.starts_with(&prefix),
        "expected prefix {prefix:?} in {message:?}"
    );
    assert!(message.contains(text), "expected {text:?} in {message:?}");
}

/// Each directory of `tests/fixtures/description-errors` is a description
/// that loading refuses with exactly the line its `expected` file holds,
/// paths relative to the directory: `FILE:LINE:COLUMN: /xpath: message`.
#[test]
fn refused_descriptions_give_the_expected_located_error() {
    let cases = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/description-errors");
    let mut dirs: Vec<PathBuf> = fs::read_dir(&cases)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
        .collect();
    dirs.sort();
    assert!(
        dirs.len() >= 17,
        "{} cases in {}",
        dirs.len(),
        cases.display()
    );
    let wrong: Vec<String> = dirs
        .iter()
        .filter_map(|dir| {
            let expected = fs::read_to_string(dir.join("expected")).unwrap();
            let root = dir.display().to_string();
            let said = load_error(dir)
                .to_string()
                .replace(&format!("{root}/"), "")
                .replace(&root, ".");
            (said != expected.trim_end()).then(|| {
                format!(
                    "{}:\n  expected {}\n  got      {said}",
                    dir.display(),
                    expected.trim_end()
                )
            })
        })
        .collect();
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

fn config(dir: &TempDir) -> PathBuf {
    dir.path().join("config.xml")
}

#[test]
fn requires_unknown_profile() {
    let body = format!(
        "  <profiles>\n    <profile name=\"A\" description=\"a\">\n      <requires profile=\"B\"/>\n    </profile>\n  </profiles>\n{PREFERENCES}"
    );
    let dir = description_dir(&[("config.xml", &xml("8.5", &body))]);
    let d = description::load(dir.path()).unwrap();
    let request = PlanRequest {
        profiles: vec!["A".into()],
        ..PlanRequest::default()
    };
    let e = plan(&d, &request).unwrap_err();
    assert_located(
        &e.to_string(),
        &config(&dir),
        10,
        7,
        "/image/profiles/profile/requires: profile \"A\" requires unknown profile \"B\"",
    );
}

#[test]
fn unclosed_tag() {
    let body = format!("{PREFERENCES}\n  <packages type=\"image\">\n    <package name=\"vim\"/>\n");
    let dir = description_dir(&[("config.xml", &xml("8.5", &body))]);
    let e = load_error(dir.path());
    assert!(matches!(e, DescriptionError::Syntax { .. }), "{e:?}");
    assert_located(
        &e.to_string(),
        &config(&dir),
        16,
        1,
        "not well-formed XML: ill-formed document: expected `</packages>`, but `</image>` was found",
    );
}

/// `--` inside a comment is not XML (KIWI's lxml rejects such a file too).
#[test]
fn double_hyphen_in_a_comment() {
    let body = format!("  <!-- build with --mirror -->\n{PREFERENCES}");
    let dir = description_dir(&[("config.xml", &xml("8.5", &body))]);
    let e = load_error(dir.path());
    assert!(matches!(e, DescriptionError::Syntax { .. }), "{e:?}");
    let message = e.to_string();
    assert!(
        message.starts_with(&format!("{}:8:", config(&dir).display())),
        "{message}"
    );
    assert!(message.contains("not well-formed XML"), "{message}");
}

#[test]
fn never_closed_element_points_at_its_start() {
    let text = "<image schemaversion=\"8.5\" name=\"x\">\n  <packages type=\"image\">\n";
    let dir = description_dir(&[("config.xml", text)]);
    let e = load_error(dir.path());
    assert_eq!(
        e.to_string(),
        format!(
            "{}:2:3: not well-formed XML: element <packages> is never closed",
            config(&dir).display()
        )
    );
}

#[test]
fn schema_version_too_old() {
    let dir = description_dir(&[("config.xml", &xml("6.9", PREFERENCES))]);
    let e = load_error(dir.path());
    assert!(matches!(e, DescriptionError::SchemaTooOld { .. }), "{e:?}");
    assert_located(
        &e.to_string(),
        &config(&dir),
        2,
        8,
        "/image: schemaversion 6.9 is older than 7.4; expected 7.4 to 8.5",
    );
}

#[test]
fn missing_include() {
    let body = format!("{PREFERENCES}\n  <include from=\"this://./platforms/missing.xml\"/>");
    let dir = description_dir(&[("config.xml", &xml("8.5", &body))]);
    let e = load_error(dir.path());
    assert!(
        matches!(e, DescriptionError::IncludeNotFound { .. }),
        "{e:?}"
    );
    assert_located(
        &e.to_string(),
        &config(&dir),
        13,
        3,
        "/image/include: included file",
    );
    assert!(e.to_string().contains("missing.xml does not exist"), "{e}");
}

#[test]
fn include_loop() {
    let body = format!("{PREFERENCES}\n  <include from=\"this://a.xml\"/>");
    let dir = description_dir(&[
        ("config.xml", &xml("8.5", &body)),
        (
            "a.xml",
            "<image>\n  <include from=\"this://b.xml\"/>\n</image>\n",
        ),
        (
            "b.xml",
            "<image>\n\n  <include from=\"this://a.xml\"/>\n</image>\n",
        ),
    ]);
    let e = load_error(dir.path());
    assert!(matches!(e, DescriptionError::IncludeLoop { .. }), "{e:?}");
    let b = dir.path().join("b.xml");
    assert_located(&e.to_string(), &b, 3, 3, "/image/include: include loop: ");
    let a = dir.path().join("a.xml");
    assert!(
        e.to_string().ends_with(&format!(
            "{} -> {} -> {}",
            a.display(),
            b.display(),
            a.display()
        )),
        "{e}"
    );
}

#[test]
fn type_without_image() {
    let body = "  <preferences>\n    <version>1</version>\n    <type filesystem=\"ext4\"/>\n  </preferences>";
    let dir = description_dir(&[("config.xml", &xml("8.5", body))]);
    let e = load_error(dir.path());
    assert_eq!(
        e.to_string(),
        format!(
            "{}:10:5: /image/preferences/type: missing required attribute 'image'",
            config(&dir).display()
        )
    );
}

#[test]
fn two_primary_types() {
    let body = r#"  <preferences>
    <version>1</version>
    <type image="tbz" primary="true"/>
    <type image="oem" filesystem="xfs" primary="true"/>
  </preferences>"#;
    let dir = description_dir(&[("config.xml", &xml("8.5", body))]);
    let d = description::load(dir.path()).unwrap();
    let e = plan(&d, &PlanRequest::default()).unwrap_err();
    assert_located(
        &e.to_string(),
        &config(&dir),
        11,
        5,
        "/image/preferences/type: a second primary type \"oem\", the first is \"tbz\" at",
    );
    // --type settles it
    let request = PlanRequest {
        image_type: Some("oem".into()),
        ..PlanRequest::default()
    };
    assert_eq!(plan(&d, &request).unwrap().image_type.image, "oem");
}

#[test]
fn unknown_element() {
    let body = format!("{PREFERENCES}\n  <packges type=\"image\"/>");
    let dir = description_dir(&[("config.xml", &xml("8.5", &body))]);
    let e = load_error(dir.path());
    assert!(
        matches!(e, DescriptionError::UnknownElement { .. }),
        "{e:?}"
    );
    assert_located(
        &e.to_string(),
        &config(&dir),
        13,
        3,
        "/image: unknown element <packges>, expected \"packages\"? (one of: include, certificates,",
    );
}

#[test]
fn bad_attribute_value() {
    let body = PREFERENCES.replace(
        "<type image=\"tbz\"/>",
        "<type image=\"oem\" filesystem=\"ntfs\"/>",
    );
    let dir = description_dir(&[("config.xml", &xml("8.5", &body))]);
    let e = load_error(dir.path());
    assert!(matches!(e, DescriptionError::InvalidValue { .. }), "{e:?}");
    assert_located(
        &e.to_string(),
        &config(&dir),
        11,
        23,
        "/image/preferences/type: invalid attribute 'filesystem' \"ntfs\", expected one of: btrfs, ext2, ext3, ext4, squashfs, erofs, xfs",
    );
}

#[test]
fn bad_arch_request() {
    let dir = description_dir(&[("config.xml", &xml("8.5", PREFERENCES))]);
    let d = description::load(dir.path()).unwrap();
    let request = PlanRequest {
        arch: Some("amd-64".into()),
        ..PlanRequest::default()
    };
    let e = plan(&d, &request).unwrap_err();
    assert!(
        e.to_string()
            .starts_with("unknown architecture \"amd-64\", expected one of: x86_64, i586"),
        "{e}"
    );
}

#[test]
fn unknown_profile() {
    let body = format!(
        "  <profiles>\n    <profile name=\"Azure\" description=\"a\"/>\n  </profiles>\n{PREFERENCES}"
    );
    let dir = description_dir(&[("config.xml", &xml("8.5", &body))]);
    let d = description::load(dir.path()).unwrap();
    let request = PlanRequest {
        profiles: vec!["AWS".into()],
        arch: Some("x86_64".into()),
        ..PlanRequest::default()
    };
    let e = plan(&d, &request).unwrap_err();
    assert_eq!(
        e.to_string(),
        format!(
            "{}:2:1: /image: unknown profile \"AWS\" for x86_64, expected one of: Azure",
            config(&dir).display()
        )
    );
}

#[test]
fn missing_description_element() {
    let text = format!("<image schemaversion=\"8.5\" name=\"x\">\n{PREFERENCES}\n</image>\n");
    let dir = description_dir(&[("config.xml", &text)]);
    let e = load_error(dir.path());
    assert_eq!(
        e.to_string(),
        format!(
            "{}:1:1: /image: missing required element <description>",
            config(&dir).display()
        )
    );
}

/// What a repository writes into a .repo file or an apt source cannot
/// carry a line break (an XML character reference survives attribute
/// normalisation) or, for URIs, a space.
#[test]
fn repository_values_that_would_add_lines_to_repo_files() {
    for (attrs, source, what) in [
        ("", "http://mirror/os&#10;gpgcheck=0", "attribute 'path'"),
        ("", "http://mirror/a b", "attribute 'path'"),
        (
            " alias=\"x&#10;[evil]\"",
            "http://mirror/os",
            "attribute 'alias'",
        ),
        (
            " username=\"u&#13;\"",
            "http://mirror/os",
            "attribute 'username'",
        ),
    ] {
        let body = format!(
            "{PREFERENCES}\n  <repository type=\"rpm-md\"{attrs}>\n    <source path=\"{source}\"/>\n  </repository>"
        );
        let dir = description_dir(&[("config.xml", &xml("8.5", &body))]);
        let e = load_error(dir.path()).to_string();
        assert!(!e.contains('\n'), "not one line: {e}");
        assert!(
            e.starts_with(&format!("{}:", config(&dir).display())),
            "{e}"
        );
        assert!(e.contains(what), "{what}: {e}");
    }
    // A password is refused without being shown.
    let body = format!(
        "{PREFERENCES}\n  <repository type=\"rpm-md\" password=\"s3cret&#10;x\">\n    <source path=\"http://mirror/os\"/>\n  </repository>"
    );
    let dir = description_dir(&[("config.xml", &xml("8.5", &body))]);
    let e = load_error(dir.path()).to_string();
    assert!(e.contains("attribute 'password'"), "{e}");
    assert!(!e.contains("s3cret"), "{e}");
}

#[test]
fn no_description_in_directory() {
    let dir = description_dir(&[("notes.txt", "hello")]);
    let e = load_error(dir.path());
    assert!(matches!(e, DescriptionError::NotFound { .. }));
    assert!(
        e.to_string().contains(
            "no image description found (looked for config.xml, image/config.xml, *.kiwi"
        ),
        "{e}"
    );
}

const YAML: &str = r#"image:
  '@name': yaml-image
  '@schemaversion': '7.4'
  description:
    '@type': system
    author: Test
    contact: test@example.org
    specification: test
  preferences:
    version: 1.0.4
    packagemanager: dnf
    rpm-check-signatures: false
    type:
      '@image': oem
      '@filesystem': xfs
      '@primary': true
      size:
        '@unit': G
        '#text': 3
  repository:
  - '@alias': base
    '@type': rpm-md
    source:
      '@path': https://example.org/repo
      signing:
      - '@key': https://example.org/key1
      - '@key': https://example.org/key2
  packages:
  - '@type': image
    package:
    - '@name': vim
    - '@name': grub2-efi-x64
      '@arch': x86_64
  - '@type': bootstrap
    package:
      '@name': filesystem
"#;

#[test]
fn yaml_description_maps_like_kiwi() {
    let dir = description_dir(&[("config.yaml", YAML)]);
    let d = description::load(dir.path()).unwrap();
    assert_eq!(d.format, MarkupFormat::Yaml);
    assert_eq!(d.name, "yaml-image");
    assert_eq!(d.schema_version, "7.4");
    let prefs = &d.preferences[0];
    assert_eq!(prefs.version.as_deref(), Some("1.0.4"));
    assert_eq!(
        prefs.package_manager,
        Some(PackageManager::Dnf4),
        "dnf upgraded to dnf4"
    );
    assert_eq!(prefs.rpm_check_signatures, Some(false));
    let t = &prefs.types[0];
    assert!(t.primary);
    assert_eq!(t.size.as_ref().unwrap().mbytes, 3072);
    let repo = &d.repositories[0];
    assert_eq!(
        repo.signing_keys,
        ["https://example.org/key1", "https://example.org/key2"]
    );
    assert_eq!(repo.scheme, UriScheme::Https);
    assert_eq!(d.packages.len(), 2);
    assert_eq!(d.packages[0].packages[1].arch, ["x86_64"]);
    assert_eq!(d.packages[1].packages[0].name, "filesystem");
}

#[test]
fn yaml_in_a_kiwi_file_is_detected() {
    let dir = description_dir(&[("appliance.kiwi", YAML)]);
    let d = description::load(dir.path()).unwrap();
    assert_eq!(d.format, MarkupFormat::Yaml);
}

#[test]
fn json_description_maps_like_kiwi() {
    let json = r#"{"image": {
  "@name": "json-image",
  "@schemaversion": "8.5",
  "description": {"@type": "system", "author": "T", "contact": "t@example.org", "specification": "s"},
  "preferences": {"version": "2.0", "type": [{"@image": "tbz"}, {"@image": "oem", "@filesystem": "ext4", "@primary": "true"}]},
  "users": {"user": [{"@name": "root", "@password": "x", "@groups": "root,wheel:10"}]},
  "packages": {"@type": "image", "package": [{"@name": "a"}, {"@name": "b", "@arch": "aarch64"}]}
}}"#;
    let dir = description_dir(&[("config.json", json)]);
    let d = description::load(dir.path()).unwrap();
    assert_eq!(d.format, MarkupFormat::Json);
    assert_eq!(d.preferences[0].types.len(), 2);
    let p = plan(
        &d,
        &PlanRequest {
            arch: Some("x86_64".into()),
            ..PlanRequest::default()
        },
    )
    .unwrap();
    assert_eq!(p.image_type.image, "oem");
    assert_eq!(p.packages.image.packages, ["a"]);
    assert_eq!(p.groups[1].id, Some(10));
}

#[test]
fn yaml_syntax_error() {
    let text = YAML.replace("    author: Test\n", "    author: [Test\n");
    let dir = description_dir(&[("config.yaml", &text)]);
    let e = load_error(dir.path());
    assert!(
        matches!(
            e,
            DescriptionError::Syntax {
                format: MarkupFormat::Yaml,
                ..
            }
        ),
        "{e:?}"
    );
    let message = e.to_string();
    assert!(
        message.starts_with(&format!("{}:", dir.path().join("config.yaml").display())),
        "{message}"
    );
    assert!(message.contains("not well-formed YAML"), "{message}");
    assert!(!message.contains('\n'));
}

#[test]
fn lookup_order_follows_kiwi() {
    let good = xml("8.5", PREFERENCES);
    let other = good.replace("test-image", "other-image");
    // config.xml wins over *.kiwi
    let dir = description_dir(&[("config.xml", &good), ("a.kiwi", &other)]);
    assert_eq!(description::load(dir.path()).unwrap().name, "test-image");
    // image/config.xml next; its directory is the description directory
    let dir = description_dir(&[("image/config.xml", &good), ("a.kiwi", &other)]);
    let d = description::load(dir.path()).unwrap();
    assert_eq!(d.name, "test-image");
    assert_eq!(d.dir, dir.path().join("image"));
    // then the first *.kiwi in sorted order
    let dir = description_dir(&[("b.kiwi", &good), ("a.kiwi", &other)]);
    assert_eq!(description::load(dir.path()).unwrap().name, "other-image");
}

#[test]
fn upgrades_follow_kiwi_stylesheets() {
    let body = r#"  <preferences>
    <version>1</version>
    <packagemanager>dnf</packagemanager>
    <type image="docker" vga="0x318" btrfs_root_is_snapshot="true">
      <containerconfig name="c" additionaltags="a,b"/>
    </type>
    <type image="oem" filesystem="xfs">
      <bootloader name="grub2" console="gfxterm serial"/>
    </type>
  </preferences>
  <repository type="rpm-dir" use_for_bootstrap="true">
    <source path="/srv/repo"/>
  </repository>"#;
    let dir = description_dir(&[("config.xml", &xml("7.4", body))]);
    let d = description::load(dir.path()).unwrap();
    let docker = &d.preferences[0].types[0];
    assert_eq!(
        docker.containerconfig.as_ref().unwrap().additional_names,
        [":a", ":b"]
    );
    assert_eq!(
        docker.attributes.get("btrfs_root_is_snapper_snapshot"),
        Some("true")
    );
    assert_eq!(docker.attributes.get("vga"), None);
    let oem = &d.preferences[0].types[1];
    let bootloader = oem.bootloader.as_ref().unwrap();
    assert_eq!(bootloader.output_console.as_deref(), Some("gfxterm"));
    assert_eq!(bootloader.input_console.as_deref(), Some("serial"));
    assert_eq!(d.preferences[0].package_manager, Some(PackageManager::Dnf4));
    assert_eq!(d.repositories[0].kind, None);
    assert!(d.repositories[0].use_for_bootstrap);
    assert_eq!(d.repositories[0].scheme, UriScheme::Dir);
    assert_eq!(d.upgrades.len(), 7, "{:#?}", d.upgrades);

    // the same attributes in an 8.5 description are unknown, as in KIWI
    let dir = description_dir(&[("config.xml", &xml("8.5", body))]);
    let e = load_error(dir.path());
    assert!(e.to_string().contains("invalid content \"dnf\""), "{e}");
}

#[test]
fn every_type_attribute_is_kept_in_order() {
    let body = r#"  <preferences>
    <version>1</version>
    <type image="oem" filesystem="ext4" kernelcmdline="console=ttyS0" firmware="uefi" format="qcow2" bootpartition="true" bootpartsize="512" spare_part="200M" mediacheck="false">
      <oemconfig><oem-swap>true</oem-swap><oem-systemsize>2048</oem-systemsize></oemconfig>
      <systemdisk name="vg"><volume name="home" size="1G"/></systemdisk>
    </type>
  </preferences>"#;
    let dir = description_dir(&[("config.xml", &xml("8.5", body))]);
    let d = description::load(dir.path()).unwrap();
    let t = &d.preferences[0].types[0];
    let names: Vec<&str> = t.attributes.iter().map(|(n, _)| n).collect();
    assert_eq!(
        names,
        [
            "image",
            "filesystem",
            "kernelcmdline",
            "firmware",
            "format",
            "bootpartition",
            "bootpartsize",
            "spare_part",
            "mediacheck"
        ]
    );
    assert_eq!(t.bootpartsize, Some(512));
    assert_eq!(t.oemconfig.as_ref().unwrap().systemsize(), Some(2048));
    assert_eq!(t.oemconfig.as_ref().unwrap().swap(), Some(true));
    let disk = t.systemdisk.as_ref().unwrap();
    assert_eq!(disk.volumes[0].attributes.get("size"), Some("1G"));
}

/// Line and column (in characters, 1-based) where `needle` first starts in `text`.
fn position_of(text: &str, needle: &str) -> (u32, u32) {
    let offset = text
        .find(needle)
        .unwrap_or_else(|| panic!("{needle:?} not in {text}"));
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().unwrap().chars().count() + 1;
    (line as u32, column as u32)
}

/// Values that become paths, shell text or tool arguments are refused at
/// load, each at the attribute or text that holds it.
#[test]
fn values_that_reach_paths_shells_and_tools_are_refused_where_they_are() {
    let preferences = |extra: &str| {
        format!(
            "  <preferences>\n    <version>1.0.0</version>\n    <packagemanager>apt</packagemanager>\n\
             {extra}    <type image=\"tbz\"/>\n  </preferences>"
        )
    };
    let profile = |name: &str| {
        format!(
            "  <profiles>\n    <profile name=\"{name}\" description=\"p\"/>\n  </profiles>\n{}",
            preferences("")
        )
    };
    let repository = |attributes: &str| {
        format!(
            "{}\n  <repository type=\"apt-deb\" {attributes}>\n    <source path=\"this://repo\"/>\n  </repository>",
            preferences("")
        )
    };
    let users = |user: &str| format!("{}\n  <users>\n    {user}\n  </users>", preferences(""));
    // (body, where the error points, what it says)
    let cases: Vec<(String, &str, &str)> = vec![
        (profile(".."), "name=\"..\"", "/image/profiles/profile: invalid attribute 'name' \"..\", expected a profile name"),
        (profile("."), "name=\".\"", "expected a profile name"),
        (profile("a/b"), "name=\"a/b\"", "expected a profile name"),
        (profile("../../etc"), "name=\"../../etc\"", "expected a profile name"),
        (
            preferences("    <keytable>de$(touch /tmp/x)</keytable>\n"),
            "de$(touch",
            "/image/preferences/keytable: invalid content \"de$(touch /tmp/x)\", expected a keymap name",
        ),
        (preferences("    <keytable>us\"; reboot; \"</keytable>\n"), "us\"", "expected a keymap name"),
        (
            preferences("    <timezone>../../etc/shadow</timezone>\n"),
            "../../etc/shadow",
            "/image/preferences/timezone: invalid content \"../../etc/shadow\", expected a zone name",
        ),
        (
            repository("distribution=\"-oAPT::Get::AllowUnauthenticated=1\" components=\"main\""),
            "distribution=",
            "/image/repository: invalid attribute 'distribution' \"-oAPT::Get::AllowUnauthenticated=1\", expected a suite or component name",
        ),
        (repository("distribution=\"../../../x\""), "distribution=", "expected a suite or component name"),
        (repository("distribution=\"bookworm main\""), "distribution=", "expected a suite or component name"),
        (
            repository("distribution=\"bookworm\" components=\"main ../../x\""),
            "components=",
            "/image/repository: invalid attribute 'components' \"../../x\", expected a suite or component name",
        ),
        (
            users("<user name=\"Admin\" password=\"\"/>"),
            "name=\"Admin\"",
            "/image/users/user: invalid attribute 'name' \"Admin\", expected a name as useradd takes it",
        ),
        (users("<user name=\"1st\" password=\"\"/>"), "name=\"1st\"", "expected a name as useradd takes it"),
        (
            users("<user name=\"admin\" groups=\"wheel,Staff\" password=\"\"/>"),
            "groups=",
            "/image/users/user: invalid attribute 'groups' \"Staff\", expected a name as useradd takes it",
        ),
    ];
    for (body, at, text) in cases {
        let document = xml("8.5", &body);
        let dir = description_dir(&[("config.xml", &document)]);
        let e = load_error(dir.path());
        let (line, column) = position_of(&document, at);
        assert_located(&e.to_string(), &config(&dir), line, column, text);
    }

    // what real descriptions hold still loads
    let fine = format!(
        "  <profiles>\n    <profile name=\"Vagrant-libvirt\" description=\"p\"/>\n  </profiles>\n{}\n\
         \x20 <repository type=\"apt-deb\" distribution=\"focal-security\" components=\"main restricted universe\">\n\
         \x20   <source path=\"this://repo\"/>\n  </repository>\n\
         \x20 <users>\n    <user name=\"vagrant\" groups=\"vagrant,users,_apt\" password=\"\"/>\n  </users>",
        preferences("    <keytable>de-latin1-nodeadkeys</keytable>\n    <timezone>America/Port-au-Prince</timezone>\n")
    );
    let dir = description_dir(&[("config.xml", &xml("8.5", &fine))]);
    let d = description::load(dir.path()).unwrap();
    assert_eq!(
        d.preferences[0].keytable.as_deref(),
        Some("de-latin1-nodeadkeys")
    );
    assert_eq!(
        d.repositories[0].distribution.as_deref(),
        Some("focal-security")
    );
}

/// `<include>` reads only files inside the description directory: host
/// files named by `file://` or an absolute path, `this://` climbing out,
/// and symlinks (real or stored as files) leading out are refused where the
/// include is, before anything outside is read; includes inside keep
/// working, and a wider include root lets shared files in.
#[test]
fn includes_are_confined_to_the_description_directory() {
    let top = tempfile::tempdir().unwrap();
    let desc = top.path().join("desc");
    let part = "<image>\n  <users><user name=\"inside\" password=\"\"/></users>\n</image>\n";
    let outside = "<image>\n  <users><user name=\"outside\" password=\"\"/></users>\n</image>\n";
    fs::create_dir_all(desc.join("sub")).unwrap();
    fs::create_dir_all(top.path().join("shared")).unwrap();
    fs::write(desc.join("part.xml"), part).unwrap();
    fs::write(top.path().join("outside.xml"), outside).unwrap();
    fs::write(top.path().join("shared/x.xml"), outside).unwrap();
    std::os::unix::fs::symlink("../outside.xml", desc.join("link.xml")).unwrap();
    std::os::unix::fs::symlink("../shared", desc.join("shared")).unwrap();
    // how git stores a symlink in a checkout without symlinks
    fs::write(desc.join("platforms"), "../shared").unwrap();
    let outside_file = top.path().join("outside.xml");

    let load_with = |from: &str, root: Option<&Path>| {
        let body = format!("{PREFERENCES}\n  <include from=\"{from}\"/>");
        fs::write(desc.join("config.xml"), xml("8.5", &body)).unwrap();
        description::load_within(&desc, root).map_err(Box::new)
    };
    let refused = [
        "file:///etc/shadow".to_string(),
        "/etc/shadow".to_string(),
        format!("file://{}", outside_file.display()),
        outside_file.display().to_string(),
        "this://../outside.xml".to_string(),
        "this://../../../../../../etc/shadow".to_string(),
        "this://sub/../../outside.xml".to_string(),
        "../outside.xml".to_string(),
        "this://link.xml".to_string(),
        "this://shared/x.xml".to_string(),
        "this://platforms/x.xml".to_string(),
    ];
    for from in &refused {
        let e = load_with(from, None).expect_err(from);
        assert!(
            matches!(*e, DescriptionError::IncludeOutside { .. }),
            "{from}: {e:?}"
        );
        assert_located(
            &e.to_string(),
            &desc.join("config.xml"),
            13,
            3,
            "/image/include: included file ",
        );
        assert!(e.to_string().contains(&format!("(from={from:?})")), "{e}");
    }
    // a file that does not exist outside is refused the same way: the
    // answer does not tell what exists there
    let e = load_with("file:///nonexistent/x.xml", None).unwrap_err();
    assert!(
        matches!(*e, DescriptionError::IncludeOutside { .. }),
        "{e:?}"
    );

    // inside, however it is written
    let inside = [
        "this://part.xml".to_string(),
        "this://./sub/../part.xml".to_string(),
        "part.xml".to_string(),
        format!("file://{}", desc.join("part.xml").display()),
    ];
    for from in &inside {
        let d = load_with(from, None).unwrap_or_else(|e| panic!("{from}: {e}"));
        assert_eq!(d.users[0].users[0].name, "inside", "{from}");
    }

    // with the parent as the include root, shared files come in
    for from in [
        "this://shared/x.xml",
        "this://platforms/x.xml",
        "this://link.xml",
    ] {
        let d = load_with(from, Some(top.path())).unwrap_or_else(|e| panic!("{from}: {e}"));
        assert_eq!(d.users[0].users[0].name, "outside", "{from}");
    }
    // but not beyond it
    let e = load_with("file:///etc/shadow", Some(top.path())).unwrap_err();
    assert!(
        matches!(*e, DescriptionError::IncludeOutside { .. }),
        "{e:?}"
    );
}
