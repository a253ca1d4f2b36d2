//! Container image archives (feature `container`): a single-layer image
//! as an OCI image layout or a `docker save` archive, xz-compressed, with
//! the settings of KIWI's `<containerconfig>`. The `docker` and `oci` image
//! types wrap the image root this way, and the `oem` type a disk (KIWI's
//! `format="oci:qcow2"`).
//!
//! The layer is an uncompressed tar (`application/vnd.oci.image.layer.v1.tar`,
//! so its digest is its diff id), an artifact of the call whose size and
//! digest the host returns; [`write`] embeds it into the archive with
//! `append-artifact`. The archives:
//!
//! - `oci`: an OCI image layout in a tar: `oci-layout`, `index.json` (one
//!   manifest descriptor per tag, annotated with
//!   `org.opencontainers.image.ref.name`), and `blobs/sha256/` holding the
//!   image config, the manifest and the layer.
//! - `docker`: the `docker save` format: `manifest.json` (Config, RepoTags,
//!   Layers), the config as `<digest>.json`, the layer as
//!   `<digest>/layer.tar` (with the legacy `VERSION` and `json` beside it)
//!   and `repositories`.
//!
//! The same layer, settings and `SOURCE_DATE_EPOCH` give the same bytes:
//! entries sorted, outer timestamps fixed, JSON keys in a fixed order.

mod json;
mod settings;

use tar::{EntryType, Header};

use crate::archive::{io_error, padding, HostSink};
use crate::artifacts::{self, Compression};
use crate::{log, Artifact, BuildRequest, Error};
use json::{Json, Obj};
pub use settings::{ContainerConfig, Reference, Settings};

const MEDIA_OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
const MEDIA_OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
const MEDIA_OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
const MEDIA_OCI_LAYER: &str = "application/vnd.oci.image.layer.v1.tar";
const REF_NAME: &str = "org.opencontainers.image.ref.name";

/// The archive's format.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// `docker save`.
    Docker,
    /// OCI image layout.
    Oci,
}

impl Format {
    /// The format of KIWI's name (`docker`, `oci`).
    pub fn from_name(name: &str) -> Option<Format> {
        match name {
            "docker" => Some(Format::Docker),
            "oci" => Some(Format::Oci),
            _ => None,
        }
    }

    /// The artifact's file name extension.
    pub fn extension(self) -> &'static str {
        match self {
            Format::Docker => "docker.tar.xz",
            Format::Oci => "oci.tar.xz",
        }
    }
}

/// Writes the image of `layer` (an uncompressed tar artifact of this call,
/// named `layer_name`) as `format` with `settings`, as artifact
/// `request.artifact_name(format.extension())`, and removes the layer
/// artifact. `what` names the content in the image's history.
pub fn write(
    request: &BuildRequest,
    format: Format,
    settings: &Settings,
    layer_name: &str,
    layer: &Artifact,
    what: &str,
) -> Result<Artifact, Error> {
    // The layer leaves the target directory however this ends.
    let mut intermediate = Intermediate(Some(layer_name.to_string()));
    let created = request.source_date_epoch.unwrap_or_else(now);
    let platform = Platform::of(&request.image.arch);
    let layer_blob = Blob {
        digest: format!("sha256:{}", layer.sha256),
        size: layer.size,
    };
    let config = image_config(settings, &platform, created, &layer_blob, request);
    let config_bytes = config.to_bytes();
    let config_blob = Blob::of(&config_bytes);
    let entries = match format {
        Format::Oci => oci_entries(
            settings,
            &platform,
            config_bytes,
            &config_blob,
            &layer_blob,
            layer_name,
        ),
        Format::Docker => docker_entries(
            settings,
            &config,
            config_bytes,
            &config_blob,
            &layer_blob,
            layer_name,
        ),
    };
    let name = request.artifact_name(format.extension());
    let artifact = write_archive(&name, entries, created)?;
    intermediate.remove()?;
    log::info(&format!(
        "{name}: {} ({what}), config {}, layer {} ({} bytes)",
        settings.main.full(),
        config_blob.digest,
        layer_blob.digest,
        layer_blob.size
    ));
    Ok(artifact)
}

/// The intermediate layer artifact: removed when the build ends, whether or not it succeeded.
struct Intermediate(Option<String>);

impl Intermediate {
    fn remove(&mut self) -> Result<(), Error> {
        match self.0.take() {
            Some(name) => artifacts::remove(&name),
            None => Ok(()),
        }
    }
}

impl Drop for Intermediate {
    fn drop(&mut self) {
        if let Some(name) = self.0.take() {
            let _ = artifacts::remove(&name);
        }
    }
}

/// Seconds since the epoch now (no `SOURCE_DATE_EPOCH`).
fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// A content-addressed blob.
struct Blob {
    digest: String,
    size: u64,
}

impl Blob {
    /// A small blob, hashed here.
    fn of(bytes: &[u8]) -> Blob {
        Blob {
            digest: format!("sha256:{}", crate::sha256(bytes)),
            size: bytes.len() as u64,
        }
    }

    fn hex(&self) -> &str {
        self.digest.trim_start_matches("sha256:")
    }

    fn descriptor(&self, media_type: &str) -> Obj {
        Obj::new()
            .field("mediaType", Json::str(media_type))
            .field("digest", Json::str(&self.digest))
            .field("size", Json::Int(self.size as i64))
    }
}

/// The image's platform in the container world's words.
struct Platform {
    architecture: String,
    variant: Option<&'static str>,
}

impl Platform {
    fn of(arch: &str) -> Platform {
        let (architecture, variant) = match arch {
            "x86_64" | "amd64" => ("amd64", None),
            "aarch64" | "arm64" => ("arm64", None),
            "i386" | "i486" | "i586" | "i686" => ("386", None),
            "armv7l" | "armv7hl" | "armv7" => ("arm", Some("v7")),
            "armv6l" | "armv6hl" | "armv6" => ("arm", Some("v6")),
            "ppc64le" => ("ppc64le", None),
            "ppc64" => ("ppc64", None),
            "s390x" => ("s390x", None),
            "riscv64" => ("riscv64", None),
            "loongarch64" => ("loong64", None),
            other => (other, None),
        };
        Platform {
            architecture: architecture.to_string(),
            variant,
        }
    }
}

/// RFC 3339 UTC time of `seconds` since the epoch (`2023-11-14T22:13:20Z`).
fn rfc3339(seconds: i64) -> String {
    let days = seconds.div_euclid(86_400);
    let secs = seconds.rem_euclid(86_400);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    )
}

/// The image config (OCI image config; docker reads the same fields).
fn image_config(
    s: &Settings,
    platform: &Platform,
    created: i64,
    layer: &Blob,
    request: &BuildRequest,
) -> Json {
    let set = |items: &[String]| {
        Json::Obj(
            items
                .iter()
                .map(|i| (i.clone(), Obj::new().build()))
                .collect(),
        )
    };
    let nonempty = |items: &[String]| (!items.is_empty()).then(|| Json::strings(items));
    let run = Obj::new()
        .opt("User", s.user.as_deref().map(Json::str))
        .opt(
            "ExposedPorts",
            (!s.exposed_ports.is_empty()).then(|| set(&s.exposed_ports)),
        )
        .opt("Env", nonempty(&s.environment))
        .opt("Entrypoint", nonempty(&s.entrypoint))
        .opt("Cmd", nonempty(&s.cmd))
        .opt("Volumes", (!s.volumes.is_empty()).then(|| set(&s.volumes)))
        .opt("WorkingDir", s.workingdir.as_deref().map(Json::str))
        .opt(
            "Labels",
            (!s.labels.is_empty()).then(|| {
                Json::Obj(
                    s.labels
                        .iter()
                        .map(|(k, v)| (k.clone(), Json::str(v)))
                        .collect(),
                )
            }),
        )
        .opt("StopSignal", s.stopsignal.as_deref().map(Json::str));
    let created = Json::str(rfc3339(created));
    let author = s.maintainer.as_deref().map(Json::str);
    let history = Obj::new()
        .field("created", created.clone())
        .opt("author", author.clone())
        .field(
            "created_by",
            Json::str(format!(
                "builder {} {} (image {} {})",
                request.type_name,
                env!("CARGO_PKG_VERSION"),
                request.image.name,
                request.image.version
            )),
        )
        .build();
    Obj::new()
        .field("created", created)
        .opt("author", author)
        .field("architecture", Json::str(&platform.architecture))
        .opt("variant", platform.variant.map(Json::str))
        .field("os", Json::str("linux"))
        .field("config", run.build())
        .field(
            "rootfs",
            Obj::new()
                .field("type", Json::str("layers"))
                .field("diff_ids", Json::strings(&[&layer.digest]))
                .build(),
        )
        .field("history", Json::Arr(vec![history]))
        .build()
}

/// What goes into the outer tar at a path.
enum Content {
    Dir,
    Bytes(Vec<u8>),
    /// A finished artifact of this call, `size` bytes.
    Artifact {
        name: String,
        size: u64,
    },
}

fn oci_entries(
    s: &Settings,
    platform: &Platform,
    config_bytes: Vec<u8>,
    config: &Blob,
    layer: &Blob,
    layer_name: &str,
) -> Vec<(String, Content)> {
    let manifest = Obj::new()
        .field("schemaVersion", Json::Int(2))
        .field("mediaType", Json::str(MEDIA_OCI_MANIFEST))
        .field("config", config.descriptor(MEDIA_OCI_CONFIG).build())
        .field(
            "layers",
            Json::Arr(vec![layer.descriptor(MEDIA_OCI_LAYER).build()]),
        )
        .build()
        .to_bytes();
    let manifest_blob = Blob::of(&manifest);
    // One descriptor per tag: `oci-archive:FILE:TAG` finds the image by any of them.
    let mut tags: Vec<&str> = Vec::new();
    for reference in s.references() {
        if !tags.contains(&reference.tag.as_str()) {
            tags.push(&reference.tag);
        }
    }
    let platform_json = Obj::new()
        .field("architecture", Json::str(&platform.architecture))
        .field("os", Json::str("linux"))
        .opt("variant", platform.variant.map(Json::str))
        .build();
    let descriptors = tags
        .iter()
        .map(|tag| {
            manifest_blob
                .descriptor(MEDIA_OCI_MANIFEST)
                .field(
                    "annotations",
                    Obj::new().field(REF_NAME, Json::str(*tag)).build(),
                )
                .field("platform", platform_json.clone())
                .build()
        })
        .collect();
    let index = Obj::new()
        .field("schemaVersion", Json::Int(2))
        .field("mediaType", Json::str(MEDIA_OCI_INDEX))
        .field("manifests", Json::Arr(descriptors))
        .build()
        .to_bytes();
    let blob = |b: &Blob| format!("blobs/sha256/{}", b.hex());
    vec![
        (
            "oci-layout".into(),
            Content::Bytes(
                Obj::new()
                    .field("imageLayoutVersion", Json::str("1.0.0"))
                    .build()
                    .to_bytes(),
            ),
        ),
        ("index.json".into(), Content::Bytes(index)),
        ("blobs/".into(), Content::Dir),
        ("blobs/sha256/".into(), Content::Dir),
        (blob(config), Content::Bytes(config_bytes)),
        (blob(&manifest_blob), Content::Bytes(manifest)),
        (
            blob(layer),
            Content::Artifact {
                name: layer_name.to_string(),
                size: layer.size,
            },
        ),
    ]
}

fn docker_entries(
    s: &Settings,
    config: &Json,
    config_bytes: Vec<u8>,
    config_blob: &Blob,
    layer: &Blob,
    layer_name: &str,
) -> Vec<(String, Content)> {
    let layer_id = layer.hex().to_string();
    let config_file = format!("{}.json", config_blob.hex());
    let layer_file = format!("{layer_id}/layer.tar");
    let repo_tags: Vec<String> = s.references().iter().map(|r| r.full()).collect();
    let manifest = Json::Arr(vec![Obj::new()
        .field("Config", Json::str(&config_file))
        .field("RepoTags", Json::strings(&repo_tags))
        .field("Layers", Json::strings(&[&layer_file]))
        .build()]);
    // `repositories`: name → tag → the top layer's id.
    let mut repositories: std::collections::BTreeMap<&str, Vec<(String, Json)>> =
        Default::default();
    for r in s.references() {
        repositories
            .entry(r.name.as_str())
            .or_default()
            .push((r.tag.clone(), Json::str(&layer_id)));
    }
    let repositories = Json::Obj(
        repositories
            .into_iter()
            .map(|(name, mut tags)| {
                tags.sort_by(|a, b| a.0.cmp(&b.0));
                (name.to_string(), Json::Obj(tags))
            })
            .collect(),
    );
    // The legacy per-layer `json` of the v1 format, for old loaders.
    let field = |key: &str| match config {
        Json::Obj(fields) => fields
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.clone()),
        _ => None,
    };
    let legacy = Obj::new()
        .field("id", Json::str(&layer_id))
        .opt("created", field("created"))
        .opt("author", field("author"))
        .opt("architecture", field("architecture"))
        .opt("variant", field("variant"))
        .opt("os", field("os"))
        .opt("config", field("config"))
        .build();
    vec![
        (format!("{layer_id}/"), Content::Dir),
        (
            format!("{layer_id}/VERSION"),
            Content::Bytes(b"1.0".to_vec()),
        ),
        (
            format!("{layer_id}/json"),
            Content::Bytes(legacy.to_bytes()),
        ),
        (
            layer_file,
            Content::Artifact {
                name: layer_name.to_string(),
                size: layer.size,
            },
        ),
        (config_file, Content::Bytes(config_bytes)),
        ("manifest.json".into(), Content::Bytes(manifest.to_bytes())),
        (
            "repositories".into(),
            Content::Bytes(repositories.to_bytes()),
        ),
    ]
}

/// Write `entries`, sorted by path, as the xz-compressed tar `name`: owned by
/// root, files 0644 and directories 0755, every timestamp `mtime`.
fn write_archive(
    name: &str,
    mut entries: Vec<(String, Content)>,
    mtime: i64,
) -> Result<Artifact, Error> {
    entries.sort_by(|a, b| a.0.cmp(&b.0));
    let writer = artifacts::create(name, Compression::Xz)?;
    let mut archive = tar::Builder::new(HostSink::new(writer));
    let fail = |e: std::io::Error| io_error(name, e);
    for (path, content) in &entries {
        let mut header = Header::new_ustar();
        header.set_path(path).map_err(fail)?;
        header.set_uid(0);
        header.set_gid(0);
        header.set_mtime(mtime.max(0) as u64);
        match content {
            Content::Dir => {
                header.set_entry_type(EntryType::Directory);
                header.set_mode(0o755);
                header.set_size(0);
                header.set_cksum();
                archive.append(&header, std::io::empty()).map_err(fail)?;
            }
            Content::Bytes(bytes) => {
                header.set_entry_type(EntryType::Regular);
                header.set_mode(0o644);
                header.set_size(bytes.len() as u64);
                header.set_cksum();
                archive.append(&header, bytes.as_slice()).map_err(fail)?;
            }
            Content::Artifact {
                name: artifact,
                size,
            } => {
                header.set_entry_type(EntryType::Regular);
                header.set_mode(0o644);
                header.set_size(*size);
                header.set_cksum();
                // The header; the layer's bytes follow from the host.
                archive.append(&header, std::io::empty()).map_err(fail)?;
                let sink = archive.get_mut();
                let appended = sink.append_artifact(artifact)?;
                if appended != *size {
                    return Err(Error::other(format!(
                        "{artifact}: {appended} bytes appended, {size} expected (it changed)"
                    )));
                }
                std::io::Write::write_all(sink, padding(*size)).map_err(fail)?;
            }
        }
    }
    archive.finish().map_err(fail)?;
    let sink = archive.into_inner().map_err(fail)?;
    sink.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_dates() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(1_700_000_000), "2023-11-14T22:13:20Z");
        assert_eq!(rfc3339(951_825_600), "2000-02-29T12:00:00Z");
        assert_eq!(rfc3339(4_102_444_799), "2099-12-31T23:59:59Z");
    }
}
