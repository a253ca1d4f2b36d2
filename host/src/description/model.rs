//! The typed description model: one shape for KIWI XML, YAML and JSON input,
//! following KIWI's schema 8.5 (older versions are upgraded on load).

use std::fmt;
use std::path::PathBuf;

use serde::ser::{SerializeMap, Serializer};
use serde::Serialize;

pub use super::extension::{Located, PluginKind, PluginRef, PLUGINS_NAMESPACE};
use super::position::Origin;

/// The markup a description file is written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum MarkupFormat {
    /// KIWI XML.
    Xml,
    /// YAML with KIWI's `'@attr'` / `'#text'` mapping.
    Yaml,
    /// JSON with the same mapping.
    Json,
}

impl fmt::Display for MarkupFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            MarkupFormat::Xml => "XML",
            MarkupFormat::Yaml => "YAML",
            MarkupFormat::Json => "JSON",
        })
    }
}

/// Attributes (or simple child elements) as an ordered name → value list.
/// Serialises as a JSON object in document order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Options(pub Vec<(String, String)>);

impl Options {
    /// The value of `name`, if set.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// The value of `name` read as an xsd:boolean.
    pub fn get_bool(&self, name: &str) -> Option<bool> {
        self.get(name).map(parse_bool)
    }

    /// Name/value pairs in document order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(n, v)| (n.as_str(), v.as_str()))
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// No entries.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl Serialize for Options {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.0.len()))?;
        for (name, value) in &self.0 {
            map.serialize_entry(name, value)?;
        }
        map.end()
    }
}

/// xsd:boolean: "true"/"1" are true.
pub(crate) fn parse_bool(value: &str) -> bool {
    matches!(value.trim(), "true" | "1")
}

/// A loaded description: everything the KIWI file (and its includes) says.
#[derive(Debug, Clone)]
pub struct Description {
    /// The description file that was read.
    pub file: PathBuf,
    /// The directory KIWI calls the description directory: the file's parent.
    /// Overlays (`root/`), scripts and `this://` paths are relative to it.
    pub dir: PathBuf,
    /// What the file was written in.
    pub format: MarkupFormat,
    /// `schemaversion` as written (the model itself follows 8.5).
    pub schema_version: String,
    /// What the upgrade to 8.5 changed, one note per change.
    pub upgrades: Vec<String>,
    /// Files pulled in by `<include>`, in reading order.
    pub included_files: Vec<PathBuf>,
    /// Where the `<image>` element is.
    pub origin: Origin,
    /// `image name`.
    pub name: String,
    /// `image displayname`.
    pub display_name: Option<String>,
    /// `image id`.
    pub id: Option<String>,
    /// `<description>`.
    pub info: DescriptionInfo,
    /// Every `<preferences>` section in document order.
    pub preferences: Vec<Preferences>,
    /// Every `<profile>` of every `<profiles>` section.
    pub profiles: Vec<Profile>,
    /// Every `<users>` section.
    pub users: Vec<UsersSection>,
    /// Every `<repository>`.
    pub repositories: Vec<Repository>,
    /// Every `<packages>` section.
    pub packages: Vec<PackagesSection>,
    /// Every `<drivers>` section.
    pub drivers: Vec<DriversSection>,
    /// Every `<strip>` section.
    pub strip: Vec<StripSection>,
    /// Every `<containers>` section.
    pub containers: Vec<ContainersSection>,
    /// `<certificates>`.
    pub certificates: Option<CertificatesSection>,
    /// `<extension>`: namespaced content for extensions, kept as is.
    pub extension: Option<RawElement>,
    /// The plugins named in `<extension>` (builder's namespace), in order.
    pub plugins: Vec<PluginRef>,
}

/// `<description type=...>`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DescriptionInfo {
    /// `boot` or `system`.
    pub kind: String,
    /// `<author>`.
    pub author: String,
    /// `<contact>` (one or more).
    pub contact: Vec<String>,
    /// `<specification>`.
    pub specification: String,
    /// `<license>`.
    pub license: Option<String>,
}

/// The package managers KIWI drives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum PackageManager {
    /// Alpine apk.
    Apk,
    /// Debian/Ubuntu apt.
    Apt,
    /// SUSE zypper.
    Zypper,
    /// dnf 4 (`dnf` in schemas before 7.6).
    Dnf4,
    /// dnf 5.
    Dnf5,
    /// microdnf.
    Microdnf,
    /// Arch pacman.
    Pacman,
}

impl PackageManager {
    /// KIWI's default when no preferences section names one.
    pub const DEFAULT: PackageManager = PackageManager::Dnf4;

    /// From the schema's name.
    pub fn from_name(name: &str) -> Option<Self> {
        Some(match name.trim() {
            "apk" => PackageManager::Apk,
            "apt" => PackageManager::Apt,
            "zypper" => PackageManager::Zypper,
            "dnf4" => PackageManager::Dnf4,
            "dnf5" => PackageManager::Dnf5,
            "microdnf" => PackageManager::Microdnf,
            "pacman" => PackageManager::Pacman,
            _ => return None,
        })
    }

    /// The schema's name.
    pub fn as_str(self) -> &'static str {
        match self {
            PackageManager::Apk => "apk",
            PackageManager::Apt => "apt",
            PackageManager::Zypper => "zypper",
            PackageManager::Dnf4 => "dnf4",
            PackageManager::Dnf5 => "dnf5",
            PackageManager::Microdnf => "microdnf",
            PackageManager::Pacman => "pacman",
        }
    }

    /// The package that provides this manager inside the image (KIWI adds it
    /// to the bootstrap set when image packages are installed in a chroot).
    pub fn package_name(self) -> &'static str {
        match self {
            PackageManager::Dnf4 => "dnf",
            PackageManager::Apk => "apk-tools",
            other => other.as_str(),
        }
    }
}

impl fmt::Display for PackageManager {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One `<preferences>` section.
#[derive(Debug, Clone)]
pub struct Preferences {
    /// `profiles` attribute: the section applies only to these profiles.
    pub profiles: Vec<String>,
    /// `arch` attribute: the section applies only on these architectures.
    pub arch: Vec<String>,
    /// `<version>`.
    pub version: Option<String>,
    /// `<packagemanager>`.
    pub package_manager: Option<PackageManager>,
    /// `<locale>`.
    pub locale: Option<String>,
    /// `<keytable>`.
    pub keytable: Option<String>,
    /// `<timezone>`.
    pub timezone: Option<String>,
    /// `<release-version>`.
    pub release_version: Option<String>,
    /// `<rpm-excludedocs>`.
    pub rpm_excludedocs: Option<bool>,
    /// `<rpm-check-signatures>`.
    pub rpm_check_signatures: Option<bool>,
    /// `<rpm-locale-filtering>`.
    pub rpm_locale_filtering: Option<bool>,
    /// `<bootloader-theme>`.
    pub bootloader_theme: Option<String>,
    /// `<bootsplash-theme>`.
    pub bootsplash_theme: Option<String>,
    /// `<showlicense>` entries.
    pub show_license: Vec<String>,
    /// `<type>` entries.
    pub types: Vec<ImageType>,
    /// Where the section is.
    pub origin: Origin,
}

/// One `<type>`: an image type with every attribute it sets.
#[derive(Debug, Clone, Serialize)]
pub struct ImageType {
    /// `image` (oem, iso, docker, tbz, ...): the image-type plugin's name.
    pub image: String,
    /// `primary`.
    pub primary: bool,
    /// `format` (qcow2, vhd-fixed, vagrant, ...).
    pub format: Option<String>,
    /// `filesystem`.
    pub filesystem: Option<String>,
    /// `firmware`.
    pub firmware: Option<String>,
    /// `kernelcmdline`.
    pub kernelcmdline: Option<String>,
    /// `bootpartition`.
    pub bootpartition: Option<bool>,
    /// `bootpartsize` in MB.
    pub bootpartsize: Option<u64>,
    /// `efipartsize` in MB.
    pub efipartsize: Option<u64>,
    /// `devicepersistency`.
    pub devicepersistency: Option<String>,
    /// `editbootconfig`: script run on the host after the boot config is written.
    pub editbootconfig: Option<String>,
    /// `editbootinstall`: script run on the host after the boot loader is installed.
    pub editbootinstall: Option<String>,
    /// Every attribute, in document order, typed ones included: what the
    /// image-type plugin receives as options.
    pub attributes: Options,
    /// `<bootloader>`.
    pub bootloader: Option<Bootloader>,
    /// `<containerconfig>`.
    pub containerconfig: Option<ContainerConfig>,
    /// `<oemconfig>`.
    pub oemconfig: Option<OemConfig>,
    /// `<size>`.
    pub size: Option<DiskSize>,
    /// `<systemdisk>`.
    pub systemdisk: Option<SystemDisk>,
    /// `<vagrantconfig>` entries.
    pub vagrantconfig: Vec<VagrantConfig>,
    /// `<machine>` (VM settings), as written.
    pub machine: Option<RawElement>,
    /// `<partitions>`, as written.
    pub partitions: Option<RawElement>,
    /// `<installmedia>`, as written.
    pub installmedia: Option<RawElement>,
    /// `<initrd>` entries, as written.
    pub initrd: Vec<RawElement>,
    /// `<luksformat>`, as written.
    pub luksformat: Option<RawElement>,
    /// Every child element, as written: what image-type plugins of
    /// contract 0.2.0 receive as settings.
    #[serde(skip)]
    pub elements: Vec<RawElement>,
    /// Where the type is.
    #[serde(skip)]
    pub origin: Origin,
}

impl ImageType {
    /// What the image-type plugin receives as options: the type's
    /// attributes, then those of `<bootloader>` as `bootloader.<name>`
    /// (its `name` too), then `<oemconfig>`'s children by name
    /// (`oem-resize`), each in document order.
    pub fn plugin_options(&self) -> Vec<(String, String)> {
        let mut options = self.attributes.0.clone();
        if let Some(bootloader) = &self.bootloader {
            options.extend(
                bootloader
                    .attributes
                    .iter()
                    .map(|(name, value)| (format!("bootloader.{name}"), value.to_string())),
            );
        }
        if let Some(oem) = &self.oemconfig {
            options.extend(oem.0 .0.iter().cloned());
        }
        options
    }
}

/// `<bootloader>`.
#[derive(Debug, Clone, Serialize)]
pub struct Bootloader {
    /// `name`: grub2, systemd_boot, zipl, custom, ...
    pub name: String,
    /// `timeout` in seconds.
    pub timeout: Option<u64>,
    /// `output_console` (`console` before schema 8.4).
    pub output_console: Option<String>,
    /// `input_console`.
    pub input_console: Option<String>,
    /// Every attribute in document order.
    pub attributes: Options,
    /// `<bootloadersettings>`, as written.
    pub settings: Option<RawElement>,
    /// `<securelinux>` entries, as written.
    pub securelinux: Vec<RawElement>,
}

/// `<oemconfig>`: its `oem-*` children as name → text, in document order.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct OemConfig(pub Options);

impl OemConfig {
    /// `<oem-resize>`.
    pub fn resize(&self) -> Option<bool> {
        self.0.get_bool("oem-resize")
    }
    /// `<oem-swap>`.
    pub fn swap(&self) -> Option<bool> {
        self.0.get_bool("oem-swap")
    }
    /// `<oem-systemsize>` in MB.
    pub fn systemsize(&self) -> Option<u64> {
        self.0
            .get("oem-systemsize")
            .and_then(|v| v.trim().parse().ok())
    }
}

/// `<size>` of a disk image.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DiskSize {
    /// The number as written.
    pub value: u64,
    /// `unit`: M or G (none means M).
    pub unit: Option<String>,
    /// `additive`: add to the computed minimum instead of replacing it.
    pub additive: Option<bool>,
    /// `unpartitioned` space at the end, in `unit`.
    pub unpartitioned: Option<u64>,
    /// The size in MiB the way KIWI computes it (unpartitioned space not included).
    pub mbytes: u64,
}

impl DiskSize {
    /// A size from its attributes, with `mbytes` computed.
    pub fn new(
        value: u64,
        unit: Option<String>,
        additive: Option<bool>,
        unpartitioned: Option<u64>,
    ) -> Self {
        let partitioned = value.saturating_sub(unpartitioned.unwrap_or(0));
        let mbytes = if unit.as_deref() == Some("G") {
            partitioned.saturating_mul(1024)
        } else {
            partitioned
        };
        DiskSize {
            value,
            unit,
            additive,
            unpartitioned,
            mbytes,
        }
    }
}

/// `<systemdisk>`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SystemDisk {
    /// `name`: the volume group name.
    pub name: Option<String>,
    /// `preferlvm`.
    pub preferlvm: Option<bool>,
    /// `<volume>` entries.
    pub volumes: Vec<Volume>,
}

/// `<volume>`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Volume {
    /// `name`.
    pub name: String,
    /// `arch` restriction.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub arch: Vec<String>,
    /// Every attribute in document order.
    pub attributes: Options,
}

/// `<containerconfig>`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ContainerConfig {
    /// `name`.
    pub name: String,
    /// `tag`.
    pub tag: Option<String>,
    /// `additionalnames` split at commas.
    pub additional_names: Vec<String>,
    /// `maintainer`.
    pub maintainer: Option<String>,
    /// `user`.
    pub user: Option<String>,
    /// `workingdir`.
    pub workingdir: Option<String>,
    /// `<entrypoint>`.
    pub entrypoint: Option<ContainerCommand>,
    /// `<subcommand>`.
    pub subcommand: Option<ContainerCommand>,
    /// `<expose>` ports.
    pub expose: Vec<String>,
    /// `<volumes>` names.
    pub volumes: Vec<String>,
    /// `<stopsignal>`.
    pub stopsignal: Option<String>,
    /// `<environment>` variables.
    pub environment: Options,
    /// `<labels>`.
    pub labels: Options,
    /// `<history>` attributes and comment.
    pub history: Option<ContainerHistory>,
}

/// `<entrypoint>` or `<subcommand>`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ContainerCommand {
    /// `execute`.
    pub execute: Option<String>,
    /// `clear`: reset the inherited command.
    pub clear: Option<bool>,
    /// `<argument name=...>` entries.
    pub arguments: Vec<String>,
}

/// `<history>`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ContainerHistory {
    /// Attributes (created_by, author, ...).
    pub attributes: Options,
    /// The comment text.
    pub comment: String,
}

/// `<vagrantconfig>`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VagrantConfig {
    /// `provider`: libvirt or virtualbox.
    pub provider: String,
    /// `virtualsize` in GB.
    pub virtualsize: u64,
    /// Every attribute in document order.
    pub attributes: Options,
}

/// An element kept as written (for parts no typed code reads yet).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RawElement {
    /// Element name.
    pub name: String,
    /// Attributes in document order.
    pub attributes: Options,
    /// Text, when there is any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    /// Child elements.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub children: Vec<RawElement>,
}

/// One `<profile>`.
#[derive(Debug, Clone)]
pub struct Profile {
    /// `name`.
    pub name: String,
    /// `description`.
    pub description: String,
    /// `import`: selected when no profile is requested.
    pub import: bool,
    /// `arch`: the profile exists only on these architectures.
    pub arch: Vec<String>,
    /// `<requires profile=...>` entries.
    pub requires: Vec<ProfileRequirement>,
    /// Where the profile is.
    pub origin: Origin,
}

/// `<requires>` inside a profile.
#[derive(Debug, Clone)]
pub struct ProfileRequirement {
    /// The required profile.
    pub profile: String,
    /// `arch`: required only on these architectures.
    pub arch: Vec<String>,
    /// Where the requirement is.
    pub origin: Origin,
}

/// One `<users>` section.
#[derive(Debug, Clone)]
pub struct UsersSection {
    /// `profiles` restriction.
    pub profiles: Vec<String>,
    /// `arch` restriction.
    pub arch: Vec<String>,
    /// `<user>` entries.
    pub users: Vec<User>,
    /// Where the section is.
    pub origin: Origin,
}

/// How a user's password is given.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum PasswordFormat {
    /// A crypt(3) hash (KIWI's default).
    Encrypted,
    /// Clear text, hashed at build time.
    Plain,
}

/// `<user>`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct User {
    /// `name`.
    pub name: String,
    /// `password` (may be empty: no password).
    pub password: String,
    /// `pwdformat` (none means encrypted).
    pub password_format: Option<PasswordFormat>,
    /// `home`.
    pub home: Option<String>,
    /// `shell`.
    pub shell: Option<String>,
    /// `realname`.
    pub realname: Option<String>,
    /// `id`: the uid.
    pub id: Option<u32>,
    /// `groups`: the first is the login group.
    pub groups: Vec<GroupRef>,
}

/// A group named in `groups="name[:gid],..."`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct GroupRef {
    /// Group name.
    pub name: String,
    /// Group id, when given.
    pub id: Option<u32>,
}

/// Repository types of the schema.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum RepositoryType {
    /// `apk`.
    Apk,
    /// `apt-deb`.
    AptDeb,
    /// `apt-rpm`.
    AptRpm,
    /// `deb-dir`.
    DebDir,
    /// `mirrors`.
    Mirrors,
    /// `rpm-md`.
    RpmMd,
}

impl RepositoryType {
    /// From the schema's name.
    pub fn from_name(name: &str) -> Option<Self> {
        Some(match name.trim() {
            "apk" => RepositoryType::Apk,
            "apt-deb" => RepositoryType::AptDeb,
            "apt-rpm" => RepositoryType::AptRpm,
            "deb-dir" => RepositoryType::DebDir,
            "mirrors" => RepositoryType::Mirrors,
            "rpm-md" => RepositoryType::RpmMd,
            _ => return None,
        })
    }

    /// The schema's name.
    pub fn as_str(self) -> &'static str {
        match self {
            RepositoryType::Apk => "apk",
            RepositoryType::AptDeb => "apt-deb",
            RepositoryType::AptRpm => "apt-rpm",
            RepositoryType::DebDir => "deb-dir",
            RepositoryType::Mirrors => "mirrors",
            RepositoryType::RpmMd => "rpm-md",
        }
    }
}

/// The scheme of a repository `source path`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum UriScheme {
    /// `http://`
    Http,
    /// `https://`
    Https,
    /// `ftp://`
    Ftp,
    /// `file://` (local directory).
    File,
    /// `dir://` (local directory); a plain absolute path means this too.
    Dir,
    /// `this://`: relative to the description directory.
    This,
    /// `obs://project/repository` on the Open Build Service.
    Obs,
    /// `obsrepositories:/`: the build service's own repositories.
    Obsrepositories,
    /// `host://NAME`: a repository of the build host's own package manager
    /// configuration (`host://debian`: the Debian mirror the host's apt
    /// uses), resolved at build time; `--mirror` overrides it.
    Host,
}

impl UriScheme {
    /// Splits `path` into its scheme and the rest; a plain absolute path is `dir`.
    pub fn parse(path: &str) -> Option<(UriScheme, &str)> {
        let path = path.trim();
        if path.starts_with('/') {
            return Some((UriScheme::Dir, path));
        }
        let (scheme, rest) = path.split_once(':')?;
        let scheme = match scheme.to_ascii_lowercase().as_str() {
            "http" => UriScheme::Http,
            "https" => UriScheme::Https,
            "ftp" => UriScheme::Ftp,
            "file" => UriScheme::File,
            "dir" => UriScheme::Dir,
            "this" => UriScheme::This,
            "obs" => UriScheme::Obs,
            "obsrepositories" => UriScheme::Obsrepositories,
            "host" => UriScheme::Host,
            _ => return None,
        };
        Some((scheme, rest.strip_prefix("//").unwrap_or(rest)))
    }

    /// Remote (downloaded) rather than local.
    pub fn is_remote(self) -> bool {
        matches!(
            self,
            UriScheme::Http | UriScheme::Https | UriScheme::Ftp | UriScheme::Obs | UriScheme::Host
        )
    }
}

/// `<repository>`.
#[derive(Debug, Clone)]
pub struct Repository {
    /// `type`; none means the package manager's native type.
    pub kind: Option<RepositoryType>,
    /// `alias`.
    pub alias: Option<String>,
    /// `profiles` restriction.
    pub profiles: Vec<String>,
    /// `arch` restriction.
    pub arch: Vec<String>,
    /// `<source path>`, as written.
    pub path: String,
    /// The scheme of `path`.
    pub scheme: UriScheme,
    /// `<signing key>` URIs.
    pub signing_keys: Vec<String>,
    /// `sourcetype`: baseurl, metalink or mirrorlist.
    pub source_type: Option<String>,
    /// `components` (apt), split at blanks.
    pub components: Vec<String>,
    /// `distribution` (apt suite).
    pub distribution: Option<String>,
    /// `imageinclude`: also configure the repository inside the image.
    pub imageinclude: bool,
    /// `imageonly`: only configure it inside the image, do not build from it.
    pub imageonly: bool,
    /// `repository_gpgcheck`.
    pub repository_gpgcheck: Option<bool>,
    /// `package_gpgcheck`.
    pub package_gpgcheck: Option<bool>,
    /// `customize`: script that adjusts the repository file.
    pub customize: Option<String>,
    /// `priority`.
    pub priority: Option<i64>,
    /// `username`.
    pub username: Option<String>,
    /// `password`.
    pub password: Option<String>,
    /// `architectures` (apt).
    pub architectures: Vec<String>,
    /// `use_for_bootstrap` as written in schemas before 8.2 (KIWI drops it
    /// on upgrade; kept as a hint for the bootstrap stage).
    pub use_for_bootstrap: bool,
    /// Where the repository is.
    pub origin: Origin,
}

/// The `type` of a `<packages>` section.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum PackagesKind {
    /// Installed into the empty root by the host's package manager.
    Bootstrap,
    /// Installed inside the image root.
    Image,
    /// Removed with rpm -e --nodeps style force.
    Delete,
    /// Uninstalled with their dependencies, cleanly.
    Uninstall,
    /// Packages whose files count as system files (ignore lists only).
    Systemfiles,
    /// Installed only when this image type is built (oem, iso, docker, ...).
    ForImageType(String),
}

impl PackagesKind {
    /// From the schema's name.
    pub fn from_name(name: &str) -> Self {
        match name.trim() {
            "bootstrap" => PackagesKind::Bootstrap,
            "image" => PackagesKind::Image,
            "delete" => PackagesKind::Delete,
            "uninstall" => PackagesKind::Uninstall,
            "systemfiles" => PackagesKind::Systemfiles,
            other => PackagesKind::ForImageType(other.to_string()),
        }
    }

    /// The schema's name.
    pub fn as_str(&self) -> &str {
        match self {
            PackagesKind::Bootstrap => "bootstrap",
            PackagesKind::Image => "image",
            PackagesKind::Delete => "delete",
            PackagesKind::Uninstall => "uninstall",
            PackagesKind::Systemfiles => "systemfiles",
            PackagesKind::ForImageType(t) => t,
        }
    }
}

/// `<package>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Package {
    /// `name`.
    pub name: String,
    /// `arch` restriction.
    pub arch: Vec<String>,
    /// `bootinclude`: also into the boot image.
    pub bootinclude: Option<bool>,
    /// `bootdelete`: removed from the boot image.
    pub bootdelete: Option<bool>,
}

/// A name with an optional arch restriction (`namedCollection`, `product`, `ignore`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NamedItem {
    /// `name`.
    pub name: String,
    /// `arch` restriction.
    pub arch: Vec<String>,
}

/// `<archive>`: a tarball unpacked into the root.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Archive {
    /// `name`: the file, relative to the description directory.
    pub name: String,
    /// `target_dir` inside the root (default `/`).
    pub target_dir: Option<String>,
    /// `bootinclude`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bootinclude: Option<bool>,
}

/// `<file>` (in packages, drivers and strip sections).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FileEntry {
    /// `name`.
    pub name: String,
    /// `target`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    /// `owner`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
    /// `permissions`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub permissions: Option<String>,
    /// `arch` restriction.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub arch: Vec<String>,
}

/// `<collectionModule>` (dnf modules, bootstrap only).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CollectionModule {
    /// `name`.
    pub name: String,
    /// `stream`.
    pub stream: Option<String>,
    /// `enable`.
    pub enable: bool,
    /// `arch` restriction.
    pub arch: Vec<String>,
}

/// One `<packages>` section.
#[derive(Debug, Clone)]
pub struct PackagesSection {
    /// `type`.
    pub kind: PackagesKind,
    /// `profiles` restriction.
    pub profiles: Vec<String>,
    /// `patternType`: onlyRequired or plusRecommended.
    pub pattern_type: Option<String>,
    /// `bootstrap_package`.
    pub bootstrap_package: Option<String>,
    /// `<package>` entries.
    pub packages: Vec<Package>,
    /// `<archive>` entries.
    pub archives: Vec<Archive>,
    /// `<file>` entries.
    pub files: Vec<FileEntry>,
    /// `<ignore>` entries.
    pub ignore: Vec<NamedItem>,
    /// `<namedCollection>` entries (patterns, groups).
    pub collections: Vec<NamedItem>,
    /// `<collectionModule>` entries.
    pub collection_modules: Vec<CollectionModule>,
    /// `<product>` entries.
    pub products: Vec<NamedItem>,
    /// Where the section is.
    pub origin: Origin,
}

/// `<drivers>`.
#[derive(Debug, Clone)]
pub struct DriversSection {
    /// `profiles` restriction.
    pub profiles: Vec<String>,
    /// `<file>` entries: driver names.
    pub files: Vec<FileEntry>,
}

/// `<strip>`.
#[derive(Debug, Clone)]
pub struct StripSection {
    /// `type`: delete, tools or libs.
    pub kind: String,
    /// `profiles` restriction.
    pub profiles: Vec<String>,
    /// `<file>` entries.
    pub files: Vec<FileEntry>,
}

/// `<containers>`: container images fetched into the root.
#[derive(Debug, Clone)]
pub struct ContainersSection {
    /// `profiles` restriction.
    pub profiles: Vec<String>,
    /// `arch` restriction.
    pub arch: Vec<String>,
    /// `source`: registry.
    pub source: String,
    /// `backend`: podman, docker or container-snap.
    pub backend: String,
    /// `<container>` entries.
    pub containers: Vec<Container>,
}

/// `<container>`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Container {
    /// `name`.
    pub name: String,
    /// `path` in the registry.
    pub path: Option<String>,
    /// `tag`.
    pub tag: Option<String>,
    /// `fetch_only`.
    pub fetch_only: Option<bool>,
    /// `arch` restriction.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub arch: Vec<String>,
}

/// `<certificates>`.
#[derive(Debug, Clone)]
pub struct CertificatesSection {
    /// `profiles` restriction.
    pub profiles: Vec<String>,
    /// `target_distribution`: suse, redhat, debian or archlinux.
    pub target_distribution: String,
    /// `<certificate name=...>` entries.
    pub names: Vec<String>,
}
