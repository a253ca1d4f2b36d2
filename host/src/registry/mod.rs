//! OCI registries: where builder's `oci://` references are parsed, how a
//! registry client is made (TLS, plain HTTP only on loopback, credentials
//! from the user's container auth file), and the blocking calls over
//! `oci-client`'s async protocol that `builder push` and `builder pull`
//! ([`artifact`]) are made of.
//!
//! Why `oci-client` (the ORAS project's Rust client): the distribution
//! protocol (token auth, chunked uploads, digest checks on every blob
//! pulled, the referrers API and its tag-schema fallback) is a solved
//! problem, and this crate is the maintained implementation of it.

pub mod artifact;

use std::io::Read;
use std::path::{Path, PathBuf};

use anyhow::Context;
use futures_util::StreamExt;
use oci_client::client::{ClientConfig, ClientProtocol};
use oci_client::manifest::{OciDescriptor, OciImageManifest, OciManifest, OCI_IMAGE_MEDIA_TYPE};
use oci_client::secrets::RegistryAuth;
use oci_client::{Client, Reference};

/// A registry location as builder's commands take it:
/// `oci://HOST[:PORT]/REPOSITORY[:TAG]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OciLocation {
    /// `HOST[:PORT]`.
    pub registry: String,
    /// The repository path.
    pub repository: String,
    /// The tag, when one is given.
    pub tag: Option<String>,
}

impl std::str::FromStr for OciLocation {
    type Err = anyhow::Error;

    fn from_str(text: &str) -> anyhow::Result<Self> {
        let rest = text
            .strip_prefix("oci://")
            .with_context(|| format!("`{text}`: expected oci://HOST[:PORT]/REPOSITORY[:TAG]"))?;
        let (registry, path) = rest
            .split_once('/')
            .with_context(|| format!("`{text}`: no repository after the host"))?;
        anyhow::ensure!(!registry.is_empty(), "`{text}`: no registry host");
        // A tag follows the last `:` after the last `/`.
        let (repository, tag) = match path.rsplit_once(':') {
            Some((repo, tag)) if !tag.contains('/') => (repo, Some(tag.to_string())),
            _ => (path, None),
        };
        let valid_repo = !repository.is_empty()
            && repository.split('/').all(|part| {
                !part.is_empty()
                    && part
                        .chars()
                        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "._-".contains(c))
            });
        anyhow::ensure!(
            valid_repo,
            "`{text}`: `{repository}` is not a repository name (lowercase letters, digits, \
             `.`, `_`, `-`, parts joined by `/`)"
        );
        if let Some(tag) = &tag {
            let valid = tag.len() <= 128
                && tag
                    .chars()
                    .next()
                    .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_')
                && tag
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c));
            anyhow::ensure!(valid, "`{text}`: `{tag}` is not a tag");
        }
        Ok(OciLocation {
            registry: registry.to_string(),
            repository: repository.to_string(),
            tag,
        })
    }
}

impl std::fmt::Display for OciLocation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "oci://{}/{}", self.registry, self.repository)?;
        if let Some(tag) = &self.tag {
            write!(f, ":{tag}")?;
        }
        Ok(())
    }
}

impl OciLocation {
    /// The reference with `tag` (or this location's tag).
    fn reference(&self, tag: &str) -> Reference {
        Reference::with_tag(
            self.registry.clone(),
            self.repository.clone(),
            tag.to_string(),
        )
    }

    /// The reference of a manifest by its digest.
    fn by_digest(&self, digest: &str) -> Reference {
        Reference::with_digest(
            self.registry.clone(),
            self.repository.clone(),
            digest.to_string(),
        )
    }

    /// Whether the host is this machine (plain HTTP is allowed only there).
    fn is_loopback(&self) -> bool {
        let host = match self.registry.rsplit_once(':') {
            Some((host, port)) if port.chars().all(|c| c.is_ascii_digit()) => host,
            _ => self.registry.as_str(),
        };
        let host = host.trim_start_matches('[').trim_end_matches(']');
        host == "localhost"
            || host
                .parse::<std::net::IpAddr>()
                .is_ok_and(|ip| ip.is_loopback())
    }
}

/// The annotation that names a blob's file.
pub const TITLE: &str = "org.opencontainers.image.title";
/// The OCI 1.1 empty descriptor's media type and content: an artifact has
/// no image configuration.
const EMPTY_MEDIA_TYPE: &str = "application/vnd.oci.empty.v1+json";
const EMPTY: &[u8] = b"{}";

/// An OCI 1.1 artifact: a manifest of `artifact_type` whose blobs are
/// `layers`, with an empty configuration.
#[derive(Debug, Clone, Default)]
pub struct Artifact {
    /// What it is (`artifactType`).
    pub artifact_type: String,
    /// Its blobs, uploaded before it.
    pub layers: Vec<OciDescriptor>,
    /// The manifest it refers to (a referrer's subject).
    pub subject: Option<OciDescriptor>,
    /// The manifest's annotations.
    pub annotations: std::collections::BTreeMap<String, String>,
}

/// A blob that is the file `name`.
pub fn titled(media_type: &str, digest: &str, size: u64, name: &str) -> OciDescriptor {
    OciDescriptor {
        media_type: media_type.to_string(),
        digest: digest.to_string(),
        size: size as i64,
        annotations: Some(std::collections::BTreeMap::from([(
            TITLE.to_string(),
            name.to_string(),
        )])),
        ..OciDescriptor::default()
    }
}

/// A blob's file name, when it has one.
pub fn title_of(layer: &OciDescriptor) -> Option<&str> {
    layer.annotations.as_ref()?.get(TITLE).map(String::as_str)
}

/// A connection to one registry: the client, its credentials and the
/// runtime its calls are driven on.
pub struct Registry {
    client: Client,
    auth: RegistryAuth,
    runtime: tokio::runtime::Runtime,
    location: OciLocation,
}

impl Registry {
    /// A client for `location`'s registry: HTTPS, or plain HTTP when
    /// `insecure` (refused unless the host is this machine's loopback).
    /// Credentials come from the container auth file
    /// ([`credentials_file`]), never from a description.
    pub fn connect(location: &OciLocation, insecure: bool) -> anyhow::Result<Registry> {
        anyhow::ensure!(
            !insecure || location.is_loopback(),
            "{location}: plain HTTP is allowed only for a registry on this machine \
             (localhost, 127.0.0.1, ::1); use TLS for `{}`",
            location.registry
        );
        let config = ClientConfig {
            protocol: if insecure {
                ClientProtocol::Http
            } else {
                ClientProtocol::Https
            },
            // Blobs are streamed in chunks; several at once would only
            // compete for the same link.
            max_concurrent_upload: 2,
            max_concurrent_download: 2,
            connect_timeout: Some(std::time::Duration::from_secs(10)),
            ..ClientConfig::default()
        };
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .context("starting the registry client")?;
        Ok(Registry {
            client: Client::new(config),
            auth: credentials(&location.registry)?,
            runtime,
            location: location.clone(),
        })
    }

    /// The location this registry was reached for.
    pub fn location(&self) -> &OciLocation {
        &self.location
    }

    /// Uploads the file at `path` as a blob (streamed in chunks; a blob the
    /// registry already has is not sent again). Returns its digest and size.
    pub fn push_file(&self, path: &Path) -> anyhow::Result<(String, u64)> {
        let image = self.location.reference("builder");
        let size = std::fs::metadata(path)
            .with_context(|| format!("reading {}", path.display()))?
            .len();
        if size <= SMALL_BLOB {
            let data =
                std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
            let digest = sha256_digest(&data);
            self.push_bytes_as(&image, data, &digest)?;
            return Ok((digest, size));
        }
        // The digest first: a blob the registry holds is not sent again.
        let digest = file_digest(path)?;
        if self.has_blob(&digest)? {
            return Ok((digest, size));
        }
        let file =
            std::fs::File::open(path).with_context(|| format!("reading {}", path.display()))?;
        let chunks = futures_util::stream::iter(FileChunks { file }).map(|chunk| {
            chunk.map_err(|e| {
                oci_client::errors::OciDistributionError::GenericError(Some(e.to_string()))
            })
        });
        let pushed = self
            .runtime
            .block_on(self.authorized(&image, oci_client::RegistryOperation::Push))
            .and_then(|()| {
                self.runtime
                    .block_on(self.client.push_blob_stream_chunked(&image, chunks))
                    .map_err(anyhow::Error::from)
            })
            .with_context(|| format!("{}: uploading {}", self.location, path.display()))?;
        anyhow::ensure!(
            pushed.blob_digest == digest,
            "{} changed while it was uploaded",
            path.display()
        );
        Ok((digest, size))
    }

    /// Uploads `data` as a blob; returns its digest.
    pub fn push_bytes(&self, data: Vec<u8>) -> anyhow::Result<String> {
        let digest = sha256_digest(&data);
        self.push_bytes_as(&self.location.reference("builder"), data, &digest)?;
        Ok(digest)
    }

    fn push_bytes_as(&self, image: &Reference, data: Vec<u8>, digest: &str) -> anyhow::Result<()> {
        if self.has_blob(digest)? {
            return Ok(());
        }
        self.runtime
            .block_on(async {
                self.authorized(image, oci_client::RegistryOperation::Push)
                    .await?;
                self.client.push_blob(image, data, digest).await?;
                anyhow::Ok(())
            })
            .with_context(|| format!("{}: uploading blob {digest}", self.location))
    }

    /// Whether the registry holds the blob `digest`.
    pub fn has_blob(&self, digest: &str) -> anyhow::Result<bool> {
        let image = self.location.reference("builder");
        retrying(|| {
            self.runtime.block_on(async {
                self.authorized(&image, oci_client::RegistryOperation::Pull)
                    .await?;
                anyhow::Ok(self.client.blob_exists(&image, digest).await?)
            })
        })
        .with_context(|| format!("{}: looking up blob {digest}", self.location))
    }

    /// Downloads the blob of `descriptor` into `path`, through a
    /// temporary file beside it (named as the caches name what is being
    /// written, so a killed build's is swept) renamed into place once the
    /// digest checked out: a blob that does not match never lands.
    pub fn pull_to_file(&self, descriptor: &OciDescriptor, path: &Path) -> anyhow::Result<()> {
        let image = self.location.by_digest(&descriptor.digest);
        let dir = path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        let partial = crate::caches::incoming_file(dir)
            .with_context(|| format!("creating a file in {}", dir.display()))?;
        let result = self.runtime.block_on(async {
            self.authorized(&image, oci_client::RegistryOperation::Pull)
                .await?;
            let file = tokio::fs::File::from_std(partial.reopen()?);
            self.client.pull_blob(&image, descriptor, file).await?;
            anyhow::Ok(())
        });
        match result {
            Ok(()) => partial
                .persist(path)
                .map(drop)
                .map_err(|e| e.error)
                .with_context(|| format!("moving {} into place", path.display())),
            Err(e) => Err(e).with_context(|| {
                format!(
                    "{}: downloading {} into {}",
                    self.location,
                    descriptor.digest,
                    path.display()
                )
            }),
        }
    }

    /// Stores `manifest` under `tag`, or by digest alone when `tag` is
    /// `None`; returns the manifest's digest.
    pub fn push_manifest(
        &self,
        manifest: &OciManifest,
        tag: Option<&str>,
    ) -> anyhow::Result<String> {
        let body = serde_json::to_vec(manifest).context("writing the manifest")?;
        let digest = sha256_digest(&body);
        let image = match tag {
            Some(tag) => self.location.reference(tag),
            None => self.location.by_digest(&digest),
        };
        let content_type = match manifest {
            OciManifest::Image(_) => OCI_IMAGE_MEDIA_TYPE,
            OciManifest::ImageIndex(_) => oci_client::manifest::OCI_IMAGE_INDEX_MEDIA_TYPE,
        };
        retrying(|| {
            self.runtime.block_on(async {
                self.authorized(&image, oci_client::RegistryOperation::Push)
                    .await?;
                self.client
                    .push_manifest_raw(
                        &image,
                        body.clone(),
                        content_type.parse().expect("a valid header value"),
                    )
                    .await?;
                anyhow::Ok(())
            })
        })
        .with_context(|| format!("{}: storing manifest {digest}", self.location))?;
        Ok(digest)
    }

    /// Whether the repository has a manifest tagged `tag`.
    pub fn has_tag(&self, tag: &str) -> anyhow::Result<bool> {
        use oci_client::errors::{OciDistributionError as E, OciErrorCode};
        let image = self.location.reference(tag);
        let found = self.runtime.block_on(async {
            self.authorized(&image, oci_client::RegistryOperation::Pull)
                .await?;
            anyhow::Ok(self.client.fetch_manifest_digest(&image, &self.auth).await)
        })?;
        match found {
            Ok(_) => Ok(true),
            Err(E::ImageManifestNotFoundError(_)) | Err(E::ServerError { code: 404, .. }) => {
                Ok(false)
            }
            Err(E::RegistryError { envelope, .. })
                if envelope.errors.iter().all(|e| {
                    matches!(
                        e.code,
                        OciErrorCode::ManifestUnknown | OciErrorCode::NameUnknown
                    )
                }) =>
            {
                Ok(false)
            }
            Err(e) => Err(e).with_context(|| format!("{}: looking up `{tag}`", self.location)),
        }
    }

    /// Stores `artifact` (its empty configuration too) under `tag`, or by
    /// digest alone when `tag` is `None`; returns the manifest's
    /// descriptor.
    pub fn push_artifact(
        &self,
        artifact: Artifact,
        tag: Option<&str>,
    ) -> anyhow::Result<OciDescriptor> {
        let empty = self.push_bytes(EMPTY.to_vec())?;
        let manifest = OciImageManifest {
            schema_version: 2,
            media_type: Some(OCI_IMAGE_MEDIA_TYPE.to_string()),
            config: OciDescriptor {
                media_type: EMPTY_MEDIA_TYPE.to_string(),
                digest: empty,
                size: EMPTY.len() as i64,
                ..OciDescriptor::default()
            },
            layers: artifact.layers,
            subject: artifact.subject,
            artifact_type: Some(artifact.artifact_type),
            annotations: (!artifact.annotations.is_empty()).then_some(artifact.annotations),
        };
        let size = serde_json::to_vec(&manifest)?.len() as i64;
        let digest = self.push_manifest(&OciManifest::Image(manifest), tag)?;
        Ok(OciDescriptor {
            media_type: OCI_IMAGE_MEDIA_TYPE.to_string(),
            digest,
            size,
            ..OciDescriptor::default()
        })
    }

    /// The image manifest `tag` (or digest) names, and its digest.
    pub fn pull_manifest(&self, tag: &str) -> anyhow::Result<(OciImageManifest, String)> {
        let image = if tag.starts_with("sha256:") {
            self.location.by_digest(tag)
        } else {
            self.location.reference(tag)
        };
        self.runtime
            .block_on(async {
                self.authorized(&image, oci_client::RegistryOperation::Pull)
                    .await?;
                anyhow::Ok(self.client.pull_image_manifest(&image, &self.auth).await?)
            })
            .with_context(|| format!("{}: reading the manifest of `{tag}`", self.location))
    }

    /// The manifests that name `digest` as their subject (the referrers
    /// API, or its tag schema where the registry lacks it).
    pub fn referrers(&self, digest: &str) -> anyhow::Result<oci_client::manifest::OciImageIndex> {
        let image = self.location.by_digest(digest);
        retrying(|| {
            self.runtime.block_on(async {
                self.authorized(&image, oci_client::RegistryOperation::Pull)
                    .await?;
                anyhow::Ok(self.client.pull_referrers(&image, None).await?)
            })
        })
        .with_context(|| format!("{}: listing the referrers of {digest}", self.location))
    }

    async fn authorized(
        &self,
        image: &Reference,
        operation: oci_client::RegistryOperation,
    ) -> anyhow::Result<()> {
        // Anonymous registries need no token; others answer 401 with a
        // challenge, which `auth` follows.
        if matches!(self.auth, RegistryAuth::Anonymous) {
            self.client
                .store_auth_if_needed(image.resolve_registry(), &self.auth)
                .await;
            return Ok(());
        }
        self.client.auth(image, &self.auth, operation).await?;
        Ok(())
    }
}

/// How often a registry call is made while the registry's answer is one
/// that passes, and the first pause between two tries (doubled each time:
/// 0.2 + 0.4 + 0.8 + 1.6 s at most).
const ATTEMPTS: u32 = 5;
const FIRST_PAUSE: std::time::Duration = std::time::Duration::from_millis(200);

/// `call`, made again after a pause while it fails with an answer that
/// passes ([`passes`]); the last failure otherwise.
fn retrying<T>(mut call: impl FnMut() -> anyhow::Result<T>) -> anyhow::Result<T> {
    let mut pause = FIRST_PAUSE;
    for _ in 1..ATTEMPTS {
        match call() {
            Err(e) if passes(&e) => {
                tracing::debug!("registry: {e:#}; asking again in {pause:?}");
                std::thread::sleep(pause);
                pause *= 2;
            }
            done => return done,
        }
    }
    call()
}

/// Whether `error` is an answer that passes when asked again: a server
/// error (5xx), or a manifest refused for a blob the registry does not know.
///
/// Every blob is uploaded or found before a manifest naming it is sent, so
/// both are the registry catching up with another machine pushing the same
/// blobs at the same moment. Measured with Distribution's registry on a
/// filesystem, four `builder push` of one build at once, 15 times: 6 of
/// the 60 pushes failed, with `MANIFEST_BLOB_UNKNOWN` (beside
/// `DIGEST_INVALID`) for a blob all four had uploaded, or with a 500
/// (its log: "invalid checksum digest format") on looking up a blob or a
/// referrers tag; asked again, each call went through.
fn passes(error: &anyhow::Error) -> bool {
    use oci_client::errors::{OciDistributionError as E, OciErrorCode};
    match error.downcast_ref::<E>() {
        Some(E::RegistryError { envelope, .. }) => envelope.errors.iter().any(|e| {
            matches!(
                e.code,
                OciErrorCode::ManifestBlobUnknown | OciErrorCode::BlobUnknown
            )
        }),
        Some(E::ServerError { code, message, .. }) => {
            *code >= 500
                || (*code == 400
                    && (message.contains("MANIFEST_BLOB_UNKNOWN")
                        || message.contains("\"BLOB_UNKNOWN\"")))
        }
        Some(E::RequestError(e)) => e.status().is_some_and(|s| s.is_server_error()),
        _ => false,
    }
}

/// Blobs up to this size are read whole; larger ones are streamed.
const SMALL_BLOB: u64 = 16 << 20;
/// The chunk a large blob is uploaded in.
const CHUNK: usize = 8 << 20;

/// A file read in [`CHUNK`]s.
struct FileChunks {
    file: std::fs::File,
}

impl Iterator for FileChunks {
    type Item = std::io::Result<bytes::Bytes>;

    fn next(&mut self) -> Option<Self::Item> {
        let mut buf = vec![0u8; CHUNK];
        let mut filled = 0;
        while filled < CHUNK {
            match self.file.read(&mut buf[filled..]) {
                Ok(0) => break,
                Ok(n) => filled += n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Some(Err(e)),
            }
        }
        if filled == 0 {
            return None;
        }
        buf.truncate(filled);
        Some(Ok(bytes::Bytes::from(buf)))
    }
}

/// `sha256:<hex>` of `data`.
pub fn sha256_digest(data: &[u8]) -> String {
    format!("sha256:{}", crate::toolbox::sha256_hex(data))
}

/// `sha256:<hex>` of the file at `path`.
pub fn file_digest(path: &Path) -> anyhow::Result<String> {
    let hex = crate::provenance::file_sha256(path)
        .with_context(|| format!("reading {}", path.display()))?;
    Ok(format!("sha256:{hex}"))
}

/// The container auth file: `REGISTRY_AUTH_FILE`, else
/// `$DOCKER_CONFIG/config.json`, else `~/.docker/config.json`.
pub fn credentials_file() -> Option<PathBuf> {
    if let Some(file) = std::env::var_os("REGISTRY_AUTH_FILE").filter(|f| !f.is_empty()) {
        return Some(PathBuf::from(file));
    }
    if let Some(dir) = std::env::var_os("DOCKER_CONFIG").filter(|d| !d.is_empty()) {
        return Some(PathBuf::from(dir).join("config.json"));
    }
    std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".docker/config.json"))
}

/// The credentials the auth file holds for `registry` (its `auths` entry,
/// keyed by `HOST[:PORT]`, with or without a scheme), else anonymous.
fn credentials(registry: &str) -> anyhow::Result<RegistryAuth> {
    let Some(file) = credentials_file() else {
        return Ok(RegistryAuth::Anonymous);
    };
    let text = match std::fs::read_to_string(&file) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(RegistryAuth::Anonymous),
        Err(e) => return Err(e).with_context(|| format!("reading {}", file.display())),
    };
    credentials_in(&text, registry).with_context(|| format!("{}", file.display()))
}

fn credentials_in(text: &str, registry: &str) -> anyhow::Result<RegistryAuth> {
    use base64::Engine;
    let config: serde_json::Value =
        serde_json::from_str(text).context("not a container auth file (JSON)")?;
    let Some(auths) = config.get("auths").and_then(|a| a.as_object()) else {
        return Ok(RegistryAuth::Anonymous);
    };
    let entry = auths.iter().find(|(key, _)| {
        let key = key
            .trim_start_matches("https://")
            .trim_start_matches("http://");
        key.split('/').next() == Some(registry)
    });
    let Some((key, entry)) = entry else {
        return Ok(RegistryAuth::Anonymous);
    };
    let Some(encoded) = entry.get("auth").and_then(|a| a.as_str()) else {
        return Ok(RegistryAuth::Anonymous);
    };
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()
        .and_then(|d| String::from_utf8(d).ok())
        .with_context(|| format!("the `auth` of `{key}` is not base64 of USER:PASSWORD"))?;
    let (user, password) = decoded
        .split_once(':')
        .with_context(|| format!("the `auth` of `{key}` is not USER:PASSWORD"))?;
    Ok(RegistryAuth::Basic(user.to_string(), password.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_that_pass_when_asked_again_are_told_apart() {
        // The answer Distribution's registry gave a concurrent push.
        let message = r#"{"errors":[{"code":"DIGEST_INVALID","message":"provided digest did not match uploaded content"},{"code":"MANIFEST_BLOB_UNKNOWN","message":"blob unknown to registry","detail":"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"}]}"#;
        let server = |code, message: &str| {
            anyhow::Error::from(oci_client::errors::OciDistributionError::ServerError {
                code,
                url: "http://127.0.0.1:5000/v2/a/manifests/sha256:0".into(),
                message: message.into(),
            })
        };
        assert!(passes(&server(400, message)));
        assert!(!passes(&server(
            400,
            r#"{"errors":[{"code":"MANIFEST_INVALID","message":"manifest invalid"}]}"#
        )));
        assert!(!passes(&server(401, message)));
        assert!(passes(&server(
            500,
            r#"{"errors":[{"code":"UNKNOWN","message":"unknown error","detail":{}}]}"#
        )));
        assert!(!passes(&anyhow::anyhow!("MANIFEST_BLOB_UNKNOWN")));
    }

    #[test]
    fn locations_parse_with_and_without_a_tag_and_a_port() {
        let l: OciLocation = "oci://127.0.0.1:5000/team/golden:v1".parse().unwrap();
        assert_eq!(l.registry, "127.0.0.1:5000");
        assert_eq!(l.repository, "team/golden");
        assert_eq!(l.tag.as_deref(), Some("v1"));
        assert!(l.is_loopback());
        assert_eq!(l.to_string(), "oci://127.0.0.1:5000/team/golden:v1");
        let l: OciLocation = "oci://registry.example/golden".parse().unwrap();
        assert_eq!(l.tag, None);
        assert!(!l.is_loopback());
        assert!("oci://[::1]:5000/a"
            .parse::<OciLocation>()
            .unwrap()
            .is_loopback());
        for bad in [
            "docker://h/r:t",
            "oci://h",
            "oci://h/",
            "oci://h/Upper",
            "oci://h/r:-bad",
            "oci://h//r",
        ] {
            assert!(bad.parse::<OciLocation>().is_err(), "{bad}");
        }
    }

    #[test]
    fn plain_http_is_refused_for_a_remote_host() {
        let l: OciLocation = "oci://registry.example/golden:v1".parse().unwrap();
        let err = Registry::connect(&l, true).err().unwrap().to_string();
        assert!(err.contains("plain HTTP is allowed only"), "{err}");
    }

    #[test]
    fn credentials_come_from_the_auths_entry_of_the_registry() {
        let text = r#"{"auths": {
            "https://other.example": {"auth": "b3RoZXI6eA=="},
            "127.0.0.1:5000": {"auth": "YnVpbGRlcjpzM2NyZXQ="}
        }}"#;
        match credentials_in(text, "127.0.0.1:5000").unwrap() {
            RegistryAuth::Basic(user, password) => {
                assert_eq!((user.as_str(), password.as_str()), ("builder", "s3cret"))
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            credentials_in(text, "elsewhere:1").unwrap(),
            RegistryAuth::Anonymous
        ));
        let bad = r#"{"auths": {"h:1": {"auth": "!!"}}}"#;
        assert!(credentials_in(bad, "h:1").is_err());
    }
}
