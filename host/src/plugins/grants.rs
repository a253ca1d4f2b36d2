//! Capabilities: the named permissions plugins declare and the host grants.

use std::collections::BTreeSet;
use std::fmt;
use std::str::FromStr;

/// A coarse permission, version-independent (each WIT version maps onto it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Capability {
    /// Walk, stat and read the image root tree.
    RootRead,
    /// Change the image root tree.
    RootWrite,
    /// Run commands inside the image root.
    RootExec,
    /// Create artifact files in the target directory.
    ArtifactWrite,
    /// Compress artifact streams.
    Compression,
    /// Make filesystem images.
    Filesystems,
    /// Write partition tables.
    Partitioning,
    /// Install boot loaders.
    Bootloader,
    /// Make ISO 9660 images.
    Iso,
    /// Reach the network.
    Network,
}

impl Capability {
    /// Every capability, in declaration order.
    pub const ALL: [Capability; 10] = [
        Capability::RootRead,
        Capability::RootWrite,
        Capability::RootExec,
        Capability::ArtifactWrite,
        Capability::Compression,
        Capability::Filesystems,
        Capability::Partitioning,
        Capability::Bootloader,
        Capability::Iso,
        Capability::Network,
    ];

    /// The name used in WIT, descriptions and on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Capability::RootRead => "root-read",
            Capability::RootWrite => "root-write",
            Capability::RootExec => "root-exec",
            Capability::ArtifactWrite => "artifact-write",
            Capability::Compression => "compression",
            Capability::Filesystems => "filesystems",
            Capability::Partitioning => "partitioning",
            Capability::Bootloader => "bootloader",
            Capability::Iso => "iso",
            Capability::Network => "network",
        }
    }
}

impl fmt::Display for Capability {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Capability {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Capability::ALL
            .into_iter()
            .find(|c| c.name() == s)
            .ok_or_else(|| {
                let names: Vec<_> = Capability::ALL.iter().map(|c| c.name()).collect();
                format!("unknown capability `{s}` (known: {})", names.join(", "))
            })
    }
}

/// A set of capabilities.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Grants(BTreeSet<Capability>);

impl Grants {
    /// Nothing granted.
    pub fn none() -> Self {
        Grants::default()
    }

    /// What `builder` grants an image-type plugin without being asked:
    /// reading the root and the toolbox families that only write artifacts
    /// (compression, filesystems, partitioning, bootloaders, ISO images).
    /// Anything more (changing the root, running commands in it, network)
    /// must be granted explicitly.
    pub fn image_type_defaults() -> Self {
        [
            Capability::RootRead,
            Capability::ArtifactWrite,
            Capability::Compression,
            Capability::Filesystems,
            Capability::Partitioning,
            Capability::Bootloader,
            Capability::Iso,
        ]
        .into_iter()
        .collect()
    }

    /// Whether `capability` is in the set.
    pub fn contains(&self, capability: Capability) -> bool {
        self.0.contains(&capability)
    }

    /// Add `capability`.
    pub fn insert(&mut self, capability: Capability) {
        self.0.insert(capability);
    }

    /// The capabilities in order.
    pub fn iter(&self) -> impl Iterator<Item = Capability> + '_ {
        self.0.iter().copied()
    }

    /// The first of `declared` this set lacks.
    pub fn first_missing<'a>(
        &self,
        declared: impl IntoIterator<Item = &'a Capability>,
    ) -> Option<Capability> {
        declared.into_iter().copied().find(|c| !self.contains(*c))
    }

    /// What a plugin may use: what it declared and was granted.
    pub fn effective(&self, declared: &[Capability]) -> Grants {
        declared
            .iter()
            .copied()
            .filter(|c| self.contains(*c))
            .collect()
    }
}

impl FromIterator<Capability> for Grants {
    fn from_iter<I: IntoIterator<Item = Capability>>(iter: I) -> Self {
        Grants(iter.into_iter().collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for c in Capability::ALL {
            assert_eq!(c.name().parse::<Capability>().unwrap(), c);
        }
        let err = "root".parse::<Capability>().unwrap_err();
        assert!(err.contains("unknown capability `root`"), "{err}");
    }

    #[test]
    fn effective_is_declared_and_granted() {
        let granted = Grants::image_type_defaults();
        let effective = granted.effective(&[Capability::RootRead, Capability::Network]);
        assert!(effective.contains(Capability::RootRead));
        assert!(!effective.contains(Capability::Network));
        assert!(!effective.contains(Capability::ArtifactWrite));
        assert_eq!(
            granted.first_missing(&[Capability::RootRead, Capability::RootExec]),
            Some(Capability::RootExec)
        );
    }
}
