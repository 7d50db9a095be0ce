//! Image metadata: manifests, indexes, configs (OCI and Docker schema 2), and [`Image`].

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::digest::{Digest, chain_ids};
use crate::error::{Error, Result};
use crate::reference::Reference;

/// OCI media types and their Docker schema 2 equivalents.
pub mod media {
    /// OCI image manifest.
    pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
    /// OCI image index.
    pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
    /// OCI image config.
    pub const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
    /// OCI uncompressed layer.
    pub const OCI_LAYER: &str = "application/vnd.oci.image.layer.v1.tar";
    /// OCI gzip layer.
    pub const OCI_LAYER_GZIP: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
    /// OCI zstd layer.
    pub const OCI_LAYER_ZSTD: &str = "application/vnd.oci.image.layer.v1.tar+zstd";
    /// Docker schema 2 manifest.
    pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
    /// Docker manifest list.
    pub const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
    /// Docker image config.
    pub const DOCKER_CONFIG: &str = "application/vnd.docker.container.image.v1+json";
    /// Docker gzip layer.
    pub const DOCKER_LAYER_GZIP: &str = "application/vnd.docker.image.rootfs.diff.tar.gzip";
    /// Docker uncompressed layer (docker-archive).
    pub const DOCKER_LAYER: &str = "application/vnd.docker.image.rootfs.diff.tar";

    /// True for an index or manifest list.
    pub fn is_index(mt: &str) -> bool {
        mt == OCI_INDEX || mt == DOCKER_LIST
    }
}

/// A content descriptor (media type, digest, size, …).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Descriptor {
    /// Media type of the referenced content.
    #[serde(rename = "mediaType", default)]
    pub media_type: String,
    /// Digest of the content.
    pub digest: Digest,
    /// Size in bytes.
    pub size: u64,
    /// Alternative URLs (foreign layers).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub urls: Option<Vec<String>>,
    /// Annotations.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<BTreeMap<String, String>>,
    /// Platform (in an index).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<Platform>,
}

impl Descriptor {
    /// A descriptor without urls, annotations or platform.
    pub fn new(media_type: &str, digest: Digest, size: u64) -> Descriptor {
        Descriptor {
            media_type: media_type.to_string(),
            digest,
            size,
            urls: None,
            annotations: None,
            platform: None,
        }
    }
}

/// A platform (os/architecture/variant).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Platform {
    /// CPU architecture (`amd64`, `arm64`, …).
    pub architecture: String,
    /// Operating system (`linux`).
    pub os: String,
    /// CPU variant (`v8`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
    /// OS version.
    #[serde(
        rename = "os.version",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub os_version: Option<String>,
}

impl Platform {
    /// The platform of this machine (linux and the Go name of the architecture).
    pub fn host() -> Platform {
        let arch = match std::env::consts::ARCH {
            "x86_64" => "amd64",
            "aarch64" => "arm64",
            "x86" => "386",
            "arm" => "arm",
            "powerpc64" => "ppc64le",
            "s390x" => "s390x",
            "riscv64" => "riscv64",
            other => other,
        };
        Platform {
            architecture: arch.to_string(),
            os: "linux".to_string(),
            variant: None,
            os_version: None,
        }
    }
}

impl std::fmt::Display for Platform {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.os, self.architecture)?;
        if let Some(v) = &self.variant {
            write!(f, "/{v}")?;
        }
        Ok(())
    }
}

/// An image manifest (OCI or Docker schema 2; they share the shape).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    /// Always 2.
    #[serde(rename = "schemaVersion")]
    pub schema_version: u32,
    /// Media type of the manifest itself.
    #[serde(rename = "mediaType", default, skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
    /// The config blob.
    pub config: Descriptor,
    /// The layers, base first.
    #[serde(default)]
    pub layers: Vec<Descriptor>,
    /// Annotations.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<BTreeMap<String, String>>,
}

/// An image index or Docker manifest list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Index {
    /// Always 2.
    #[serde(rename = "schemaVersion")]
    pub schema_version: u32,
    /// Media type of the index itself.
    #[serde(rename = "mediaType", default, skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
    /// The manifests.
    #[serde(default)]
    pub manifests: Vec<Descriptor>,
    /// Annotations.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<BTreeMap<String, String>>,
}

impl Index {
    /// Pick the manifest for `platform` (exact os/arch, variant when given).
    pub fn select(&self, platform: &Platform) -> Option<&Descriptor> {
        let candidates = self.manifests.iter().filter(|d| {
            d.platform
                .as_ref()
                .is_some_and(|p| p.os == platform.os && p.architecture == platform.architecture)
        });
        let mut first = None;
        for d in candidates {
            let variant = d.platform.as_ref().and_then(|p| p.variant.as_ref());
            if platform.variant.is_none() || variant == platform.variant.as_ref() {
                return Some(d);
            }
            first.get_or_insert(d);
        }
        first
    }
}

/// What a manifest-ish document is, judged from its JSON.
#[allow(clippy::large_enum_variant)]
pub enum ManifestKind {
    /// An image manifest.
    Manifest(Manifest),
    /// An index / manifest list.
    Index(Index),
}

/// Parse a manifest or index, whichever `data` is.
pub fn parse_manifest_or_index(data: &[u8], what: &str) -> Result<ManifestKind> {
    let v: Value = serde_json::from_slice(data).map_err(|e| Error::json(what, e))?;
    let mt = v.get("mediaType").and_then(Value::as_str).unwrap_or("");
    if media::is_index(mt) || (v.get("manifests").is_some() && v.get("layers").is_none()) {
        let i: Index = serde_json::from_value(v).map_err(|e| Error::json(what, e))?;
        return Ok(ManifestKind::Index(i));
    }
    if v.get("schemaVersion").and_then(Value::as_u64) == Some(1) {
        return Err(Error::Unsupported {
            what: "manifest schema",
            value: "Docker schema 1".to_string(),
        });
    }
    let m: Manifest = serde_json::from_value(v).map_err(|e| Error::json(what, e))?;
    Ok(ManifestKind::Manifest(m))
}

/// An image config, kept as the exact JSON it came as so that fields oci-spec does not
/// model (Docker's `Healthcheck`, `OnBuild`, `Shell`, `ArgsEscaped`, anything unknown)
/// survive a round trip; typed accessors read and write through the raw JSON.
#[derive(Debug, Clone, PartialEq)]
pub struct ImageConfig {
    raw: Value,
}

impl Default for ImageConfig {
    fn default() -> Self {
        let p = Platform::host();
        ImageConfig {
            raw: serde_json::json!({
                "architecture": p.architecture,
                "os": p.os,
                "config": {},
                "rootfs": {"type": "layers", "diff_ids": []},
                "history": [],
            }),
        }
    }
}

impl ImageConfig {
    /// Parse a config blob.
    pub fn from_json(data: &[u8]) -> Result<ImageConfig> {
        let raw: Value =
            serde_json::from_slice(data).map_err(|e| Error::json("image config", e))?;
        if !raw.is_object() {
            return Err(Error::json("image config", "not a JSON object"));
        }
        Ok(ImageConfig { raw })
    }

    /// Wrap a JSON value.
    pub fn from_value(raw: Value) -> Result<ImageConfig> {
        if !raw.is_object() {
            return Err(Error::json("image config", "not a JSON object"));
        }
        Ok(ImageConfig { raw })
    }

    /// The JSON as stored.
    pub fn raw(&self) -> &Value {
        &self.raw
    }

    /// Mutable JSON (for changes the accessors do not cover).
    pub fn raw_mut(&mut self) -> &mut Value {
        &mut self.raw
    }

    /// Serialize (canonical enough: serde_json keeps insertion order).
    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec(&self.raw).unwrap_or_default()
    }

    /// The typed OCI view (drops Docker-only fields; use [`raw`](Self::raw) for those).
    pub fn typed(&self) -> Result<oci_spec::image::ImageConfiguration> {
        serde_json::from_value(self.raw.clone()).map_err(|e| Error::json("image config", e))
    }

    fn section(&self) -> Option<&serde_json::Map<String, Value>> {
        self.raw.get("config").and_then(Value::as_object)
    }

    fn section_mut(&mut self) -> &mut serde_json::Map<String, Value> {
        let obj = self
            .raw
            .as_object_mut()
            .expect("ImageConfig is always an object");
        let entry = obj
            .entry("config")
            .or_insert_with(|| Value::Object(Default::default()));
        if !entry.is_object() {
            *entry = Value::Object(Default::default());
        }
        entry.as_object_mut().expect("just made an object")
    }

    fn strings(&self, key: &str) -> Option<Vec<String>> {
        let v = self.section()?.get(key)?.as_array()?;
        Some(
            v.iter()
                .filter_map(|s| s.as_str().map(String::from))
                .collect(),
        )
    }

    fn string(&self, key: &str) -> Option<String> {
        self.section()?
            .get(key)?
            .as_str()
            .filter(|s| !s.is_empty())
            .map(String::from)
    }

    /// Set (or, with `None`, remove) a key of the `config` section.
    pub fn set(&mut self, key: &str, value: Option<Value>) {
        let s = self.section_mut();
        match value {
            Some(v) => {
                s.insert(key.to_string(), v);
            }
            None => {
                s.remove(key);
            }
        }
    }

    /// `Cmd`.
    pub fn cmd(&self) -> Option<Vec<String>> {
        self.strings("Cmd")
    }
    /// `Entrypoint`.
    pub fn entrypoint(&self) -> Option<Vec<String>> {
        self.strings("Entrypoint")
    }
    /// `Env` (`KEY=value`).
    pub fn env(&self) -> Vec<String> {
        self.strings("Env").unwrap_or_default()
    }
    /// `WorkingDir`.
    pub fn working_dir(&self) -> Option<String> {
        self.string("WorkingDir")
    }
    /// `User`.
    pub fn user(&self) -> Option<String> {
        self.string("User")
    }
    /// `StopSignal`.
    pub fn stop_signal(&self) -> Option<String> {
        self.string("StopSignal")
    }
    /// `Shell` (Docker only).
    pub fn shell(&self) -> Option<Vec<String>> {
        self.strings("Shell")
    }
    /// `OnBuild` (Docker only).
    pub fn on_build(&self) -> Option<Vec<String>> {
        self.strings("OnBuild")
    }
    /// `Healthcheck` (Docker only), as JSON.
    pub fn healthcheck(&self) -> Option<&Value> {
        self.section()?.get("Healthcheck").filter(|v| !v.is_null())
    }
    /// `ExposedPorts` keys (`80/tcp`).
    pub fn exposed_ports(&self) -> Vec<String> {
        self.keys("ExposedPorts")
    }
    /// `Volumes` keys.
    pub fn volumes(&self) -> Vec<String> {
        self.keys("Volumes")
    }
    /// `Labels`.
    pub fn labels(&self) -> BTreeMap<String, String> {
        self.section()
            .and_then(|s| s.get("Labels"))
            .and_then(Value::as_object)
            .map(|m| {
                m.iter()
                    .filter_map(|(k, v)| v.as_str().map(|v| (k.clone(), v.to_string())))
                    .collect()
            })
            .unwrap_or_default()
    }

    fn keys(&self, key: &str) -> Vec<String> {
        self.section()
            .and_then(|s| s.get(key))
            .and_then(Value::as_object)
            .map(|m| m.keys().cloned().collect())
            .unwrap_or_default()
    }

    /// `rootfs.diff_ids`.
    pub fn diff_ids(&self) -> Result<Vec<Digest>> {
        let Some(ids) = self.raw.pointer("/rootfs/diff_ids") else {
            return Ok(Vec::new());
        };
        serde_json::from_value(ids.clone()).map_err(|e| Error::json("image config rootfs", e))
    }

    /// Replace `rootfs` with these diff ids.
    pub fn set_diff_ids(&mut self, ids: &[Digest]) {
        if let Some(obj) = self.raw.as_object_mut() {
            obj.insert(
                "rootfs".to_string(),
                serde_json::json!({"type": "layers", "diff_ids": ids}),
            );
        }
    }

    /// `history`.
    pub fn history(&self) -> Vec<HistoryItem> {
        self.raw
            .get("history")
            .and_then(|h| serde_json::from_value(h.clone()).ok())
            .unwrap_or_default()
    }

    /// Append a history item.
    pub fn push_history(&mut self, item: HistoryItem) {
        if let Some(obj) = self.raw.as_object_mut() {
            let h = obj
                .entry("history")
                .or_insert_with(|| Value::Array(Vec::new()));
            if let (Some(arr), Ok(v)) = (h.as_array_mut(), serde_json::to_value(item)) {
                arr.push(v);
            }
        }
    }

    /// `created` (RFC 3339).
    pub fn created(&self) -> Option<String> {
        self.raw
            .get("created")
            .and_then(Value::as_str)
            .map(String::from)
    }

    /// `architecture`.
    pub fn architecture(&self) -> Option<String> {
        self.raw
            .get("architecture")
            .and_then(Value::as_str)
            .map(String::from)
    }
}

/// One entry of a config's `history`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HistoryItem {
    /// When (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created: Option<String>,
    /// The command that made it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_by: Option<String>,
    /// Author.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub author: Option<String>,
    /// Comment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    /// True when this step made no layer.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub empty_layer: bool,
}

/// A layer of an image: its blob and the digest of its uncompressed tar.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Layer {
    /// Digest of the blob as stored (compressed).
    pub digest: Digest,
    /// Size of the blob.
    pub size: u64,
    /// Media type of the blob.
    pub media_type: String,
    /// Digest of the uncompressed tar (the config's diff id).
    pub diff_id: Digest,
}

/// An image in the store: manifest, config and layers.
#[derive(Debug, Clone)]
pub struct Image {
    /// The name it was looked up by (None for images found by digest only).
    pub reference: Option<Reference>,
    /// Digest of the manifest.
    pub manifest_digest: Digest,
    /// The manifest.
    pub manifest: Manifest,
    /// Digest of the config blob (Docker's image id).
    pub config_digest: Digest,
    /// The config.
    pub config: ImageConfig,
    /// The layers, base first.
    pub layers: Vec<Layer>,
}

impl Image {
    /// Docker's image id: the config digest.
    pub fn id(&self) -> &Digest {
        &self.config_digest
    }

    /// The diff ids of the layers.
    pub fn diff_ids(&self) -> Vec<Digest> {
        self.layers.iter().map(|l| l.diff_id.clone()).collect()
    }

    /// The chain ids of the layers (a snapshot per chain id).
    pub fn chain_ids(&self) -> Vec<Digest> {
        chain_ids(&self.diff_ids())
    }

    /// The top chain id: the parent for a container's snapshot (None: no layers).
    pub fn chain_id(&self) -> Option<Digest> {
        self.chain_ids().pop()
    }

    /// Total size of the layer blobs.
    pub fn size(&self) -> u64 {
        self.layers.iter().map(|l| l.size).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_fields_round_trip() {
        let j = br#"{"architecture":"amd64","os":"linux","config":{"Cmd":["sh"],"Healthcheck":{"Test":["CMD","true"],"Interval":1000},"OnBuild":["RUN x"],"Shell":["/bin/bash","-c"],"ArgsEscaped":true,"X-Unknown":1},"rootfs":{"type":"layers","diff_ids":[]},"extra":{"a":1}}"#;
        let c = ImageConfig::from_json(j).expect("parse");
        let again = ImageConfig::from_json(&c.to_json()).expect("reparse");
        assert_eq!(c, again);
        assert_eq!(again.shell().expect("shell"), vec!["/bin/bash", "-c"]);
        assert_eq!(again.on_build().expect("onbuild"), vec!["RUN x"]);
        assert!(again.healthcheck().is_some());
        assert_eq!(again.raw()["extra"]["a"], 1);
        assert_eq!(again.typed().expect("typed").os().to_string(), "linux");
    }

    #[test]
    fn index_select() {
        let d = Digest::sha256(b"x");
        let mk = |arch: &str, variant: Option<&str>| Descriptor {
            platform: Some(Platform {
                architecture: arch.into(),
                os: "linux".into(),
                variant: variant.map(String::from),
                os_version: None,
            }),
            ..Descriptor::new(media::OCI_MANIFEST, d.clone(), 1)
        };
        let i = Index {
            schema_version: 2,
            media_type: None,
            manifests: vec![mk("arm64", Some("v8")), mk("amd64", None)],
            annotations: None,
        };
        let p = Platform {
            architecture: "amd64".into(),
            os: "linux".into(),
            variant: None,
            os_version: None,
        };
        assert_eq!(
            i.select(&p)
                .and_then(|d| d.platform.as_ref())
                .map(|p| p.architecture.as_str()),
            Some("amd64")
        );
    }
}
