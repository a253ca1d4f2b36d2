//! Repositories as a build uses them: URIs resolved, keys located, and
//! rendered as DEB822 `.sources` paragraphs.
//!
//! # The `host://` placeholder
//!
//! Descriptions in this repository never name a mirror host. A source path
//! `host://NAME` means "the repository NAME of the build host's own apt
//! configuration": the host's `apt-get indextargets` URIs are listed and the
//! one whose last path segment is NAME is taken (`host://debian` gives the
//! Debian mirror the host uses, `host://debian-security` its security
//! archive). When no segment matches, the first URI that is not a security
//! archive is taken. `--mirror URL` replaces the lookup for every `host://`
//! repository.
//!
//! # Snapshots
//!
//! `--snapshot [ALIAS=]URL` makes the build read a dated snapshot mirror
//! instead of the live repository: the layout of Debian's snapshot archive,
//! `BASE/archive/ARCHIVE/TIMESTAMP/` holding `dists/` and `pool/` as the
//! live repository does. With `ALIAS=` it replaces that repository; without,
//! every build repository not named otherwise, each taking its own archive
//! (the last segment of its live URI) at the same TIMESTAMP. The image
//! keeps the live URI in its sources: it is to get updates once it runs.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::description::UriScheme;
use crate::plan::PlanRepository;

/// A repository could not be turned into an apt source.
#[derive(Debug, thiserror::Error)]
pub enum RepositoryError {
    /// The URI scheme has no equivalent for the backend here.
    #[error(
        "repository {alias}: source path `{path}` ({scheme:?}) is not supported by the {backend} backend"
    )]
    UnsupportedScheme {
        /// Repository alias.
        alias: String,
        /// The path as written.
        path: String,
        /// Its scheme.
        scheme: UriScheme,
        /// `apt` or `rpm`.
        backend: &'static str,
    },
    /// The host's apt configuration could not be read.
    #[error("repository {alias}: resolving `{path}` from the build host's apt configuration: {reason} (give the mirror with --mirror URL)")]
    HostMirror {
        /// Repository alias.
        alias: String,
        /// The path as written.
        path: String,
        /// What went wrong.
        reason: String,
    },
    /// A signing key is not a local file.
    #[error("repository {alias}: signing key `{key}`: {reason}")]
    SigningKey {
        /// Repository alias.
        alias: String,
        /// The key URI.
        key: String,
        /// What went wrong.
        reason: String,
    },
    /// A `--snapshot` does not fit the description's repositories.
    #[error("--snapshot {snapshot}: {reason}")]
    Snapshot {
        /// The snapshot as given.
        snapshot: String,
        /// What does not fit.
        reason: String,
    },
}

/// What replaces the `host://` lookup.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MirrorOverride(pub Option<String>);

/// One apt repository, ready to write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AptRepository {
    /// Alias: the `.sources` file name and key name in the image.
    pub alias: String,
    /// The resolved URI (`http(s)://`, `ftp://` or `file:`).
    pub uri: String,
    /// Suite; `None` is a flat repository (`./`).
    pub suite: Option<String>,
    /// Components (default `main` for a suite).
    pub components: Vec<String>,
    /// Architectures to restrict to (empty: apt's default).
    pub architectures: Vec<String>,
    /// Signing keys on the build host.
    pub keys: Vec<PathBuf>,
    /// Used to build (not `imageonly`).
    pub for_build: bool,
    /// Configured inside the image (`imageinclude` or `imageonly`).
    pub in_image: bool,
    /// When the build reads a snapshot (`uri`): the live URI it stands
    /// for, which the image's sources keep.
    pub snapshot_of: Option<String>,
}

/// `--snapshot [ALIAS=]URL`: a dated snapshot mirror read instead of the
/// live repository (see the module docs).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Snapshot {
    /// The repository it replaces; `None`: every build repository.
    pub alias: Option<String>,
    /// The snapshot's URL.
    pub url: String,
}

impl std::str::FromStr for Snapshot {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let (alias, url) = match text.split_once('=') {
            Some((alias, url)) if !alias.is_empty() && !alias.contains([':', '/']) => {
                (Some(alias.to_string()), url)
            }
            _ => (None, text),
        };
        if !["http://", "https://", "file:/"]
            .iter()
            .any(|scheme| url.starts_with(scheme))
        {
            return Err(format!(
                "`{url}` is not an http://, https:// or file:/ URL (give [ALIAS=]URL)"
            ));
        }
        Ok(Snapshot {
            alias,
            url: url.to_string(),
        })
    }
}

impl std::fmt::Display for Snapshot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.alias {
            Some(alias) => write!(f, "{alias}={}", self.url),
            None => f.write_str(&self.url),
        }
    }
}

/// `BASE/archive/` and `TIMESTAMP` of a URL in the snapshot archive's
/// layout `BASE/archive/ARCHIVE/TIMESTAMP`.
fn snapshot_layout(url: &str) -> Option<(&str, &str)> {
    let trimmed = url.trim_end_matches('/');
    let (rest, timestamp) = trimmed.rsplit_once('/')?;
    let (base, _archive) = rest.rsplit_once('/')?;
    base.ends_with("/archive")
        .then_some((base, timestamp))
        .filter(|(_, t)| !t.is_empty())
}

/// Points the build repositories `snapshots` name at their snapshots (see
/// the module docs); the image keeps the live URIs.
pub fn apply_snapshots(
    repositories: &mut [AptRepository],
    snapshots: &[Snapshot],
) -> Result<(), RepositoryError> {
    let error = |snapshot: &Snapshot, reason: String| RepositoryError::Snapshot {
        snapshot: snapshot.to_string(),
        reason,
    };
    let build_aliases = |repositories: &[AptRepository]| {
        repositories
            .iter()
            .filter(|r| r.for_build)
            .map(|r| r.alias.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    };
    let mut named = Vec::new();
    for snapshot in snapshots {
        let Some(alias) = &snapshot.alias else {
            continue;
        };
        let Some(repo) = repositories
            .iter_mut()
            .find(|r| r.for_build && &r.alias == alias)
        else {
            let known = build_aliases(repositories);
            return Err(error(
                snapshot,
                format!("no build repository is named `{alias}` (the description's are: {known})"),
            ));
        };
        repo.snapshot_of = Some(std::mem::replace(&mut repo.uri, snapshot.url.clone()));
        named.push(alias.clone());
    }
    let every: Vec<&Snapshot> = snapshots.iter().filter(|s| s.alias.is_none()).collect();
    match every.as_slice() {
        [] => return Ok(()),
        [_] => {}
        [_, second, ..] => {
            return Err(error(
                second,
                "only one --snapshot may go without an ALIAS=".into(),
            ))
        }
    }
    let snapshot = every[0];
    let rest: Vec<&mut AptRepository> = repositories
        .iter_mut()
        .filter(|r| r.for_build && !named.contains(&r.alias))
        .collect();
    let layout = snapshot_layout(&snapshot.url);
    if rest.len() > 1 && layout.is_none() {
        let aliases: Vec<&str> = rest.iter().map(|r| r.alias.as_str()).collect();
        return Err(error(
            snapshot,
            format!(
                "the description builds from several repositories ({}): give a URL of \
                 the layout BASE/archive/ARCHIVE/TIMESTAMP, or --snapshot ALIAS=URL for each",
                aliases.join(", ")
            ),
        ));
    }
    for repo in rest {
        let url = match layout {
            Some((base, timestamp)) => {
                let archive = repo
                    .uri
                    .trim_end_matches('/')
                    .rsplit('/')
                    .next()
                    .unwrap_or_default()
                    .to_string();
                format!("{base}/{archive}/{timestamp}/")
            }
            None => snapshot.url.clone(),
        };
        repo.snapshot_of = Some(std::mem::replace(&mut repo.uri, url));
    }
    Ok(())
}

/// One file of a repository: read for `file://`, else downloaded with the
/// build host's apt (`apt-helper download-file`), whose proxy and TLS
/// settings then apply.
pub fn fetch(step: &str, url: &str) -> anyhow::Result<Vec<u8>> {
    use anyhow::Context as _;
    if let Some(path) = url.strip_prefix("file://") {
        return std::fs::read(path).with_context(|| format!("{step}: reading {path}"));
    }
    let dir = crate::rootfs::command::temp_dir()
        .with_context(|| format!("{step}: a temporary directory"))?;
    let target = dir.path().join("file");
    let mut cmd = Command::new("/usr/lib/apt/apt-helper");
    cmd.args([
        "-o",
        "APT::Sandbox::User=root",
        "-o",
        "Acquire::Retries=2",
        "download-file",
    ])
    .arg(url)
    .arg(&target);
    crate::rootfs::command::run(step, &mut cmd)?;
    std::fs::read(&target).with_context(|| format!("{step}: reading {}", target.display()))
}

/// The repository URIs the build host's apt uses (`apt-get indextargets`),
/// without duplicates, in the host's order.
pub fn host_mirrors() -> Result<Vec<String>, String> {
    let output = Command::new("apt-get")
        .args([
            "indextargets",
            "--format",
            "$(REPO_URI)",
            "Created-By: Packages",
        ])
        .output()
        .map_err(|e| format!("running apt-get indextargets: {e}"))?;
    if !output.status.success() {
        return Err(format!(
            "apt-get indextargets failed: {}",
            String::from_utf8_lossy(&output.stderr).trim()
        ));
    }
    let mut uris: Vec<String> = Vec::new();
    for line in String::from_utf8_lossy(&output.stdout).lines() {
        let uri = line.trim();
        if !uri.is_empty() && !uris.iter().any(|u| u == uri) {
            uris.push(uri.to_string());
        }
    }
    Ok(uris)
}

/// The URI among `uris` that `host://name` means (see the module docs).
pub fn pick_host_mirror<'u>(name: &str, uris: &'u [String]) -> Option<&'u str> {
    let last_segment = |uri: &str| {
        uri.trim_end_matches('/')
            .rsplit('/')
            .next()
            .unwrap_or_default()
            .to_string()
    };
    let name = name.trim_matches('/');
    uris.iter()
        .find(|u| last_segment(u) == name)
        .or_else(|| {
            if name.contains("security") {
                uris.iter().find(|u| last_segment(u).contains("security"))
            } else {
                uris.iter().find(|u| !last_segment(u).contains("security"))
            }
        })
        .map(String::as_str)
}

/// The plan's repositories as apt sources. `host://` paths are resolved with
/// `mirror` or the host's apt configuration (read once, only when needed).
pub fn resolve(
    repositories: &[PlanRepository],
    mirror: &MirrorOverride,
) -> Result<Vec<AptRepository>, RepositoryError> {
    let mut host_uris: Option<Result<Vec<String>, String>> = None;
    let mut out = Vec::new();
    for (index, r) in repositories.iter().enumerate() {
        let alias = alias(r, index);
        let rest = UriScheme::parse(&r.uri).map(|(_, rest)| rest).unwrap_or("");
        let uri = match r.scheme {
            UriScheme::Http | UriScheme::Https | UriScheme::Ftp => r.uri.clone(),
            UriScheme::Dir | UriScheme::File => format!("file:/{}", rest.trim_start_matches('/')),
            UriScheme::Host => match &mirror.0 {
                Some(url) => url.clone(),
                None => {
                    let uris = host_uris.get_or_insert_with(host_mirrors);
                    let error = |reason: String| RepositoryError::HostMirror {
                        alias: alias.clone(),
                        path: r.path.clone(),
                        reason,
                    };
                    let uris = uris.as_ref().map_err(|e| error(e.clone()))?;
                    pick_host_mirror(rest, uris)
                        .ok_or_else(|| error(format!("no match among {uris:?}")))?
                        .to_string()
                }
            },
            scheme => {
                return Err(RepositoryError::UnsupportedScheme {
                    alias,
                    path: r.path.clone(),
                    scheme,
                    backend: "apt",
                })
            }
        };
        for (set, what) in [
            (r.priority.is_some(), "priority (apt pinning)"),
            (r.username.is_some() || r.password.is_some(), "credentials"),
            (
                r.repository_gpgcheck == Some(false),
                "repository_gpgcheck=\"false\"",
            ),
            (r.customize.is_some(), "customize script"),
        ] {
            if set {
                tracing::warn!(repository = %alias, "{what} is not supported by the apt backend yet and is ignored");
            }
        }
        let keys = signing_keys(&alias, &r.signing_keys)?;
        let suite = r.distribution.clone().filter(|d| !d.trim().is_empty());
        let components = if r.components.is_empty() && suite.is_some() {
            vec!["main".to_string()]
        } else {
            r.components.clone()
        };
        out.push(AptRepository {
            alias,
            uri,
            suite,
            components,
            architectures: r.architectures.clone(),
            keys,
            for_build: !r.imageonly,
            in_image: r.imageinclude || r.imageonly,
            snapshot_of: None,
        });
    }
    Ok(out)
}

/// The repository's alias, or `repository-N` (1-based) when it has none.
pub fn alias(repository: &PlanRepository, index: usize) -> String {
    repository
        .alias
        .clone()
        .filter(|a| !a.trim().is_empty())
        .unwrap_or_else(|| format!("repository-{}", index + 1))
}

/// The signing keys of repository `alias` as files of the build host
/// (`file:///path` URIs or plain absolute paths).
pub fn signing_keys(alias: &str, keys: &[String]) -> Result<Vec<PathBuf>, RepositoryError> {
    keys.iter()
        .map(|key| {
            let path = key
                .strip_prefix("file://")
                .or_else(|| key.strip_prefix("file:"))
                .unwrap_or(key);
            let error = |reason: &str| RepositoryError::SigningKey {
                alias: alias.to_string(),
                key: key.clone(),
                reason: reason.into(),
            };
            if !path.starts_with('/') {
                return Err(error("only local files (file:///path) are supported"));
            }
            if !Path::new(path).is_file() {
                return Err(error("no such file on the build host"));
            }
            Ok(PathBuf::from(path))
        })
        .collect()
}

impl AptRepository {
    /// Where key `index` of this repository lives in the image.
    pub fn key_path_in_image(&self, index: usize) -> String {
        let armored = std::fs::read(&self.keys[index])
            .map(|b| b.starts_with(b"-----BEGIN"))
            .unwrap_or(false);
        let ext = if armored { "asc" } else { "gpg" };
        if index == 0 {
            format!("/etc/apt/keyrings/{}.{ext}", self.alias)
        } else {
            format!("/etc/apt/keyrings/{}-{index}.{ext}", self.alias)
        }
    }

    /// The URI the image's own sources keep: the live one when the build
    /// reads a snapshot.
    pub fn image_uri(&self) -> &str {
        self.snapshot_of.as_deref().unwrap_or(&self.uri)
    }

    /// The DEB822 paragraph for `/etc/apt/sources.list.d/<alias>.sources`,
    /// as the build reads it or (`image`) as the image keeps it.
    pub fn deb822(&self, image: bool) -> String {
        let uri = if image { self.image_uri() } else { &self.uri };
        let mut text = format!("Types: deb\nURIs: {uri}\n");
        match &self.suite {
            Some(suite) => {
                text += &format!("Suites: {suite}\n");
                text += &format!("Components: {}\n", self.components.join(" "));
            }
            None => text += "Suites: ./\n",
        }
        if !self.architectures.is_empty() {
            text += &format!("Architectures: {}\n", self.architectures.join(" "));
        }
        if !self.keys.is_empty() {
            let keys: Vec<String> = (0..self.keys.len())
                .map(|i| self.key_path_in_image(i))
                .collect();
            text += &format!("Signed-By: {}\n", keys.join(" "));
        }
        text
    }

    /// The start of the names apt gives this repository's files in
    /// `/var/lib/apt/lists` (apt's `URItoFileName`: no scheme or
    /// credentials, some characters %-quoted, `/` as `_`).
    pub fn list_file_prefix(&self) -> String {
        let uri = format!("{}/", self.uri.trim_end_matches('/'));
        let rest = match uri.split_once("://") {
            Some((_, rest)) => rest,
            None => uri.strip_prefix("file:").unwrap_or(&uri),
        };
        let rest = match rest.split_once('/') {
            Some((authority, path)) => {
                let host = authority.rsplit('@').next().unwrap_or(authority);
                format!("{host}/{path}")
            }
            None => rest.to_string(),
        };
        let mut out = String::new();
        for byte in rest.bytes() {
            match byte {
                b'/' => out.push('_'),
                b'\\' | b'|' | b'{' | b'}' | b'[' | b']' | b'<' | b'>' | b'"' | b'^' | b'~'
                | b'_' | b'=' | b'!' | b'@' | b'#' | b'$' | b'%' | b'&' | b'*' => {
                    out.push_str(&format!("%{byte:02x}"))
                }
                0..=0x20 | 0x7f..=0xff => out.push_str(&format!("%{byte:02x}")),
                other => out.push(other as char),
            }
        }
        out
    }

    /// The one-line form mmdebstrap takes (keys come from `--keyring`).
    pub fn one_line(&self) -> String {
        let mut line = String::from("deb ");
        if !self.architectures.is_empty() {
            line += &format!("[arch={}] ", self.architectures.join(","));
        }
        line += &self.uri;
        match &self.suite {
            Some(suite) => line += &format!(" {suite} {}", self.components.join(" ")),
            None => line += " ./",
        }
        line
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn uris() -> Vec<String> {
        vec![
            "http://mirror.invalid/debian-security/".into(),
            "http://mirror.invalid/debian/".into(),
        ]
    }

    #[test]
    fn host_scheme_parses() {
        assert_eq!(
            UriScheme::parse("host://debian"),
            Some((UriScheme::Host, "debian"))
        );
        assert!(UriScheme::Host.is_remote());
    }

    #[test]
    fn host_names_pick_by_last_segment() {
        let uris = uris();
        assert_eq!(
            pick_host_mirror("debian", &uris),
            Some("http://mirror.invalid/debian/")
        );
        assert_eq!(
            pick_host_mirror("debian-security", &uris),
            Some("http://mirror.invalid/debian-security/")
        );
        assert_eq!(
            pick_host_mirror("other", &uris),
            Some("http://mirror.invalid/debian/")
        );
    }

    #[test]
    fn mirror_override_replaces_host_lookup() {
        let repo = PlanRepository {
            alias: None,
            kind: Some("apt-deb".into()),
            path: "host://debian".into(),
            uri: "host://debian".into(),
            scheme: UriScheme::Host,
            source_type: None,
            signing_keys: vec![],
            distribution: Some("bookworm".into()),
            components: vec![],
            architectures: vec![],
            priority: None,
            imageinclude: false,
            imageonly: false,
            use_for_bootstrap: false,
            repository_gpgcheck: None,
            package_gpgcheck: None,
            customize: None,
            username: None,
            password: None,
        };
        let mirror = MirrorOverride(Some("http://mirror.invalid/debian".into()));
        let resolved = resolve(&[repo], &mirror).unwrap();
        assert_eq!(resolved[0].uri, "http://mirror.invalid/debian");
        assert_eq!(resolved[0].alias, "repository-1");
        assert_eq!(resolved[0].components, ["main"]);
        assert!(resolved[0].for_build && !resolved[0].in_image);
    }

    #[test]
    fn deb822_paragraph() {
        let repo = AptRepository {
            alias: "debian".into(),
            uri: "http://mirror.invalid/debian/".into(),
            suite: Some("bookworm".into()),
            components: vec!["main".into(), "contrib".into()],
            architectures: vec![],
            keys: vec![],
            for_build: true,
            in_image: true,
            snapshot_of: None,
        };
        assert_eq!(
            repo.deb822(false),
            "Types: deb\nURIs: http://mirror.invalid/debian/\nSuites: bookworm\nComponents: main contrib\n"
        );
        assert_eq!(
            repo.one_line(),
            "deb http://mirror.invalid/debian/ bookworm main contrib"
        );
    }

    fn repo(alias: &str, uri: &str) -> AptRepository {
        AptRepository {
            alias: alias.into(),
            uri: uri.into(),
            suite: Some("bookworm".into()),
            components: vec!["main".into()],
            architectures: vec![],
            keys: vec![],
            for_build: true,
            in_image: true,
            snapshot_of: None,
        }
    }

    #[test]
    fn list_file_names_follow_apts_quoting() {
        let r = repo("a", "http://user:pw@mirror.invalid:8080/debian_x/~y/");
        assert_eq!(r.list_file_prefix(), "mirror.invalid:8080_debian%5fx_%7ey_");
        let r = repo("a", "file:/srv/repo");
        assert_eq!(r.list_file_prefix(), "_srv_repo_");
    }

    #[test]
    fn snapshots_parse_with_and_without_an_alias() {
        let plain: Snapshot = "http://snap.invalid/archive/debian/20261201T000000Z"
            .parse()
            .unwrap();
        assert_eq!(plain.alias, None);
        let named: Snapshot = "local=http://snap.invalid/x?a=b".parse().unwrap();
        assert_eq!(named.alias.as_deref(), Some("local"));
        assert_eq!(named.url, "http://snap.invalid/x?a=b");
        assert_eq!(named.to_string(), "local=http://snap.invalid/x?a=b");
        assert!("snap.invalid/archive".parse::<Snapshot>().is_err());
    }

    #[test]
    fn one_snapshot_maps_each_archive_onto_the_same_timestamp() {
        let mut repos = vec![
            repo("debian", "http://mirror.invalid/debian/"),
            repo("security", "http://mirror.invalid/debian-security"),
            repo("own", "http://own.invalid/apt"),
        ];
        let snapshots: Vec<Snapshot> = vec![
            "own=http://own.invalid/snapshots/42".parse().unwrap(),
            "http://snap.invalid/archive/debian/20261201T000000Z/"
                .parse()
                .unwrap(),
        ];
        apply_snapshots(&mut repos, &snapshots).unwrap();
        assert_eq!(
            repos[0].uri,
            "http://snap.invalid/archive/debian/20261201T000000Z/"
        );
        assert_eq!(
            repos[1].uri,
            "http://snap.invalid/archive/debian-security/20261201T000000Z/"
        );
        assert_eq!(repos[2].uri, "http://own.invalid/snapshots/42");
        // The image keeps the live repositories.
        assert_eq!(
            repos[1].image_uri(),
            "http://mirror.invalid/debian-security"
        );
        assert!(repos[1]
            .deb822(true)
            .contains("URIs: http://mirror.invalid/debian-security\n"));
        assert!(repos[1].deb822(false).contains("20261201T000000Z"));
    }

    #[test]
    fn snapshots_that_do_not_fit_are_refused_with_the_aliases() {
        let mut repos = vec![
            repo("debian", "http://mirror.invalid/debian"),
            repo("own", "http://own.invalid/apt"),
        ];
        let flat: Snapshot = "http://snap.invalid/2026-12-01".parse().unwrap();
        let e = apply_snapshots(&mut repos, &[flat])
            .unwrap_err()
            .to_string();
        assert!(e.contains("several repositories (debian, own)"), "{e}");
        let unknown: Snapshot = "nope=http://snap.invalid/x".parse().unwrap();
        let e = apply_snapshots(&mut repos, &[unknown])
            .unwrap_err()
            .to_string();
        assert!(e.contains("no build repository is named `nope`"), "{e}");
        assert!(e.contains("debian, own"), "{e}");
        // One repository: any URL.
        let mut one = vec![repo("debian", "http://mirror.invalid/debian")];
        let flat: Snapshot = "http://snap.invalid/2026-12-01".parse().unwrap();
        apply_snapshots(&mut one, &[flat]).unwrap();
        assert_eq!(one[0].uri, "http://snap.invalid/2026-12-01");
    }
}
