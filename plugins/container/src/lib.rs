//! builder image types `docker` and `oci` (KIWI's container images): the
//! whole root as a single-layer container image, with the settings of the
//! type's `<containerconfig>` (name, tag, additional names, maintainer, user,
//! working directory, entrypoint, command, exposed ports, volumes, stop
//! signal, environment, labels).
//!
//! The layer is an uncompressed tar of the root
//! (`application/vnd.oci.image.layer.v1.tar`, so its digest is its diff id),
//! written first as an intermediate artifact whose size and digest the host
//! returns, then embedded into the final archive with `append-artifact` and
//! removed. The final archives, xz-compressed:
//!
//! - `oci`: `<name>.<arch>-<version>.oci.tar.xz`, an OCI image layout in a tar:
//!   `oci-layout`, `index.json` (one manifest descriptor per tag, annotated
//!   with `org.opencontainers.image.ref.name`), and `blobs/sha256/` holding the
//!   image config, the manifest and the layer.
//! - `docker`: `<name>.<arch>-<version>.docker.tar.xz`, the `docker save`
//!   format: `manifest.json` (Config, RepoTags, Layers), the config as
//!   `<digest>.json`, the layer as `<digest>/layer.tar` (with the legacy
//!   `VERSION` and `json` beside it) and `repositories`.
//!
//! The same tree and `SOURCE_DATE_EPOCH` give the same bytes: entries sorted,
//! outer timestamps fixed, JSON keys in a fixed order, no blanks.

mod layer;

use builder_sdk::container::{self, ContainerConfig, Format, Settings};
use builder_sdk::prelude::*;

struct Container;

impl ImageType for Container {
    const NAME: &'static str = "container";
    const SUMMARY: &'static str =
        "Container images of the root: docker (docker save archive) and oci (OCI image layout)";

    fn types() -> Vec<String> {
        vec!["docker".to_string(), "oci".to_string()]
    }

    fn capabilities() -> Vec<Capability> {
        vec![
            Capability::RootRead,
            Capability::ArtifactWrite,
            Capability::Compression,
        ]
    }

    fn build(root: &RootTree, request: BuildRequest) -> Result<Vec<Artifact>, Error> {
        let format = Format::from_name(&request.type_name).ok_or_else(|| {
            Error::other(format!(
                "type `{}` is not a container format this plugin makes",
                request.type_name
            ))
        })?;
        let config = request
            .settings()
            .element("containerconfig")
            .map(ContainerConfig::from_element);
        let settings = Settings::new(config.as_ref())?;
        let layer_name = request.artifact_name(&format!("{}.layer.tar", request.type_name));
        let layer = layer::write(root, &layer_name, request.source_date_epoch)?;
        let artifact =
            container::write(&request, format, &settings, &layer_name, &layer, "the root")?;
        Ok(vec![artifact])
    }
}

builder_sdk::export_image_type!(Container);
