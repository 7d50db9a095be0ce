//! Image archives: OCI image layout (directory or tar), docker-archive (`docker save`
//! / `docker load`, legacy and OCI-inside forms), and `docker import` of a rootfs tar.
//!
//! Archives are unpacked with this crate's own safe [`apply`](crate::layer::apply()), so
//! a hostile archive cannot write outside its temporary directory either.

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::{BufReader, Read, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::digest::{Algorithm, Digest, HashingReader};
use crate::error::{Error, IoContext, Result};
use crate::image::{
    Descriptor, HistoryItem, Image, ImageConfig, Index, Layer, ManifestKind, media,
    parse_manifest_or_index,
};
use crate::layer::{ApplyOptions, Compression, decompress};
use crate::reference::Reference;
use crate::store::Store;

/// Annotation naming a manifest's tag in an OCI layout's `index.json`.
pub const REF_NAME: &str = "org.opencontainers.image.ref.name";
/// containerd's annotation with the full image name.
pub const IMAGE_NAME: &str = "io.containerd.image.name";

/// One entry of a docker-archive's `manifest.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DockerArchiveEntry {
    /// Path of the config JSON in the archive.
    #[serde(rename = "Config")]
    pub config: String,
    /// Names.
    #[serde(rename = "RepoTags", default)]
    pub repo_tags: Option<Vec<String>>,
    /// Paths of the layer tars, base first.
    #[serde(rename = "Layers")]
    pub layers: Vec<String>,
}

fn bad(path: &Path, reason: impl Into<String>) -> Error {
    Error::InvalidArchive {
        path: path.to_path_buf(),
        reason: reason.into(),
    }
}

/// Safely extract a tar into a fresh temporary directory under the store.
fn extract_tar(store: &Store, archive: &Path) -> Result<tempfile::TempDir> {
    let tmp_root = store.root().join("tmp");
    fs::create_dir_all(&tmp_root).ctx("create directory", &tmp_root)?;
    let dir = tempfile::Builder::new()
        .prefix("archive-")
        .tempdir_in(&tmp_root)
        .ctx("create temporary directory", &tmp_root)?;
    let f = File::open(archive).ctx("open archive", archive)?;
    crate::layer::apply(
        BufReader::new(f),
        dir.path(),
        &ApplyOptions {
            no_chown: true,
            ..Default::default()
        },
    )
    .map_err(|e| bad(archive, e.to_string()))?;
    Ok(dir)
}

/// Tar a directory (sorted, deterministic) to `out`.
fn tar_dir(dir: &Path, out: &Path) -> Result<()> {
    let f = File::create(out).ctx("create", out)?;
    let mut b = tar::Builder::new(std::io::BufWriter::new(f));
    b.follow_symlinks(false);
    let mut entries: Vec<PathBuf> = walkdir::WalkDir::new(dir)
        .min_depth(1)
        .sort_by_file_name()
        .into_iter()
        .filter_map(|e| e.ok())
        .map(|e| e.path().to_path_buf())
        .collect();
    entries.sort();
    for p in entries {
        let rel = p.strip_prefix(dir).map_err(|_| bad(dir, "walk"))?;
        b.append_path_with_name(&p, rel).ctx("write archive", out)?;
    }
    let mut w = b.into_inner().ctx("write archive", out)?;
    w.flush().ctx("write archive", out)?;
    w.get_ref().sync_all().ctx("fsync", out)?;
    Ok(())
}

fn copy_blob_to(store: &Store, d: &Digest, blobs: &Path) -> Result<()> {
    let dir = blobs.join(d.algorithm().as_str());
    fs::create_dir_all(&dir).ctx("create directory", &dir)?;
    let dst = dir.join(d.hex());
    if !dst.exists() {
        fs::copy(store.content().blob_path(d), &dst).ctx("copy blob", &dst)?;
    }
    Ok(())
}

fn import_blob(store: &Store, layout: &Path, d: &Digest) -> Result<()> {
    if store.content().contains(d) {
        return Ok(());
    }
    let p = layout
        .join("blobs")
        .join(d.algorithm().as_str())
        .join(d.hex());
    let mut f = File::open(&p).map_err(|e| bad(layout, format!("blob {d}: {e}")))?;
    store.content().write_from(&mut f, Some(d))?;
    Ok(())
}

impl Store {
    /// Import every image of an OCI image layout directory. An entry's name comes from
    /// `io.containerd.image.name`, or `org.opencontainers.image.ref.name` (a full
    /// reference, or a tag put on `repository` — default `localhost/oci-import`).
    pub fn import_oci_layout(&self, dir: &Path, repository: Option<&str>) -> Result<Vec<Image>> {
        let layout_file = dir.join("oci-layout");
        let lf = fs::read(&layout_file).map_err(|e| bad(dir, format!("oci-layout: {e}")))?;
        let v: Value =
            serde_json::from_slice(&lf).map_err(|e| bad(dir, format!("oci-layout: {e}")))?;
        if v.get("imageLayoutVersion")
            .and_then(Value::as_str)
            .is_none()
        {
            return Err(bad(dir, "oci-layout has no imageLayoutVersion"));
        }
        let idx_data =
            fs::read(dir.join("index.json")).map_err(|e| bad(dir, format!("index.json: {e}")))?;
        let index: Index =
            serde_json::from_slice(&idx_data).map_err(|e| bad(dir, format!("index.json: {e}")))?;
        let mut out = Vec::new();
        for desc in &index.manifests {
            self.import_tree(dir, &desc.digest, 0)?;
            let ann = desc.annotations.clone().unwrap_or_default();
            let name = match (ann.get(IMAGE_NAME), ann.get(REF_NAME)) {
                (Some(n), _) => Some(Reference::parse(n)?),
                (None, Some(r)) if r.contains('/') || r.contains(':') => Some(Reference::parse(r)?),
                (None, Some(tag)) => Some(Reference::parse(&format!(
                    "{}:{tag}",
                    repository.unwrap_or("localhost/oci-import")
                ))?),
                (None, None) => repository.map(Reference::parse).transpose()?,
            };
            if let Some(n) = &name {
                self.set_tag(n, &desc.digest)?;
            }
            out.push(self.load_image(name, &desc.digest)?);
        }
        Ok(out)
    }

    fn import_tree(&self, layout: &Path, d: &Digest, depth: u32) -> Result<()> {
        if depth > 3 {
            return Err(bad(layout, "indexes nested too deep"));
        }
        import_blob(self, layout, d)?;
        let data = self.content().read_blob(d)?;
        match parse_manifest_or_index(&data, &format!("manifest {d}"))? {
            ManifestKind::Index(i) => {
                for m in &i.manifests {
                    // Other platforms' manifests may be absent (skopeo copies one).
                    let p = layout
                        .join("blobs")
                        .join(m.digest.algorithm().as_str())
                        .join(m.digest.hex());
                    if p.exists() || self.content().contains(&m.digest) {
                        self.import_tree(layout, &m.digest, depth + 1)?;
                    }
                }
            }
            ManifestKind::Manifest(m) => {
                import_blob(self, layout, &m.config.digest)?;
                for l in &m.layers {
                    import_blob(self, layout, &l.digest)?;
                }
            }
        }
        Ok(())
    }

    /// Import an OCI layout packed as a tar.
    pub fn import_oci_archive(
        &self,
        archive: &Path,
        repository: Option<&str>,
    ) -> Result<Vec<Image>> {
        let dir = extract_tar(self, archive)?;
        self.import_oci_layout(dir.path(), repository)
    }

    /// Write the images `names` as an OCI image layout directory; each manifest gets
    /// its tag as `org.opencontainers.image.ref.name` and its full name as
    /// `io.containerd.image.name`.
    pub fn export_oci_layout(&self, names: &[&str], dir: &Path) -> Result<()> {
        fs::create_dir_all(dir.join("blobs")).ctx("create directory", dir)?;
        fs::write(dir.join("oci-layout"), br#"{"imageLayoutVersion":"1.0.0"}"#)
            .ctx("write", dir.join("oci-layout"))?;
        let blobs = dir.join("blobs");
        let mut manifests = Vec::new();
        for name in names {
            let img = self.image(name)?;
            copy_blob_to(self, &img.manifest_digest, &blobs)?;
            copy_blob_to(self, &img.config_digest, &blobs)?;
            for l in &img.layers {
                copy_blob_to(self, &l.digest, &blobs)?;
            }
            let mt = img
                .manifest
                .media_type
                .clone()
                .unwrap_or_else(|| media::OCI_MANIFEST.to_string());
            let size = self.content().size(&img.manifest_digest)?;
            let mut d = Descriptor::new(&mt, img.manifest_digest.clone(), size);
            if let Some(r) = &img.reference {
                let mut ann = BTreeMap::new();
                if let Some(t) = r.tag() {
                    ann.insert(REF_NAME.to_string(), t.to_string());
                }
                ann.insert(IMAGE_NAME.to_string(), r.to_string());
                d.annotations = Some(ann);
            }
            manifests.push(d);
        }
        let index = Index {
            schema_version: 2,
            media_type: Some(media::OCI_INDEX.into()),
            manifests,
            annotations: None,
        };
        let data = serde_json::to_vec(&index).map_err(|e| Error::json("index.json", e))?;
        crate::store::write_atomic(&dir.join("index.json"), &data)
    }

    /// [`export_oci_layout`](Self::export_oci_layout) packed as a tar.
    pub fn export_oci_archive(&self, names: &[&str], archive: &Path) -> Result<()> {
        let tmp = self.tmp_dir("oci-export-")?;
        self.export_oci_layout(names, tmp.path())?;
        tar_dir(tmp.path(), archive)
    }

    fn tmp_dir(&self, prefix: &str) -> Result<tempfile::TempDir> {
        let tmp_root = self.root().join("tmp");
        fs::create_dir_all(&tmp_root).ctx("create directory", &tmp_root)?;
        tempfile::Builder::new()
            .prefix(prefix)
            .tempdir_in(&tmp_root)
            .ctx("create temporary directory", &tmp_root)
    }

    /// Load a `docker save` archive (legacy `manifest.json` form, which the OCI-inside
    /// form of Docker ≥ 25 also carries).
    pub fn load_docker_archive(&self, archive: &Path) -> Result<Vec<Image>> {
        let dir = extract_tar(self, archive)?;
        let root = dir.path();
        let mf = fs::read(root.join("manifest.json"))
            .map_err(|e| bad(archive, format!("manifest.json: {e}")))?;
        let entries: Vec<DockerArchiveEntry> =
            serde_json::from_slice(&mf).map_err(|e| bad(archive, format!("manifest.json: {e}")))?;
        let mut out = Vec::new();
        for entry in entries {
            let config_path = safe_join(root, &entry.config, archive)?;
            let config_bytes = fs::read(&config_path).ctx("read config", &config_path)?;
            let config = ImageConfig::from_json(&config_bytes)?;
            let diff_ids = config.diff_ids()?;
            if diff_ids.len() != entry.layers.len() {
                return Err(bad(
                    archive,
                    format!(
                        "{} layers but {} diff_ids",
                        entry.layers.len(),
                        diff_ids.len()
                    ),
                ));
            }
            let mut layers = Vec::new();
            for (rel, diff_id) in entry.layers.iter().zip(&diff_ids) {
                let p = safe_join(root, rel, archive)?;
                layers.push(self.import_layer_file(&p, diff_id)?);
            }
            let names: Vec<String> = entry.repo_tags.clone().unwrap_or_default();
            let img = self.write_image_raw(&config_bytes, &layers, media::DOCKER_MANIFEST)?;
            for n in &names {
                self.set_tag(&Reference::parse(n)?, &img.manifest_digest)?;
            }
            let reference = names.first().map(|n| Reference::parse(n)).transpose()?;
            out.push(Image { reference, ..img });
        }
        Ok(out)
    }

    /// Store a layer tar from a file (any compression), checking its diffID.
    fn import_layer_file(&self, p: &Path, diff_id: &Digest) -> Result<Layer> {
        let mut head = [0u8; 4];
        let n = File::open(p)
            .and_then(|mut f| f.read(&mut head))
            .ctx("read layer", p)?;
        let compression = crate::layer::detect(&head[..n]);
        let f = File::open(p).ctx("open layer", p)?;
        let (got, _) = HashingReader::new(
            decompress(BufReader::new(f)).ctx("decompress layer", p)?,
            Algorithm::Sha256,
        )
        .finish()
        .ctx("read layer", p)?;
        if &got != diff_id {
            return Err(Error::DigestMismatch {
                what: format!("layer {}", p.display()),
                expected: diff_id.to_string(),
                actual: got.to_string(),
            });
        }
        let mut f = File::open(p).ctx("open layer", p)?;
        let digest = self.content().write_from(&mut f, None)?;
        let media_type = match compression {
            Compression::None => media::DOCKER_LAYER,
            Compression::Gzip => media::DOCKER_LAYER_GZIP,
            Compression::Zstd => media::OCI_LAYER_ZSTD,
        };
        Ok(Layer {
            size: self.content().size(&digest)?,
            digest,
            media_type: media_type.to_string(),
            diff_id: diff_id.clone(),
        })
    }

    /// Store a config exactly as given (its digest is the image id) and a manifest.
    pub fn write_image_raw(
        &self,
        config_bytes: &[u8],
        layers: &[Layer],
        manifest_media_type: &str,
    ) -> Result<Image> {
        let config = ImageConfig::from_json(config_bytes)?;
        let diff_ids = config.diff_ids()?;
        let want: Vec<Digest> = layers.iter().map(|l| l.diff_id.clone()).collect();
        if diff_ids != want {
            return Err(Error::json(
                "image config",
                "rootfs.diff_ids do not match the layers",
            ));
        }
        let config_digest = self.content().write_blob(config_bytes)?;
        let docker = manifest_media_type == media::DOCKER_MANIFEST;
        let manifest = crate::image::Manifest {
            schema_version: 2,
            media_type: Some(manifest_media_type.to_string()),
            config: Descriptor::new(
                if docker {
                    media::DOCKER_CONFIG
                } else {
                    media::OCI_CONFIG
                },
                config_digest.clone(),
                config_bytes.len() as u64,
            ),
            layers: layers
                .iter()
                .map(|l| Descriptor::new(&l.media_type, l.digest.clone(), l.size))
                .collect(),
            annotations: None,
        };
        let data = serde_json::to_vec(&manifest).map_err(|e| Error::json("manifest", e))?;
        let manifest_digest = self.content().write_blob(&data)?;
        Ok(Image {
            reference: None,
            manifest_digest,
            manifest,
            config_digest,
            config,
            layers: layers.to_vec(),
        })
    }

    /// Write the images `names` as a docker-archive (`docker save` format: uncompressed
    /// `<id>/layer.tar`, `<config-hex>.json`, `manifest.json`, `repositories`).
    pub fn save_docker_archive(&self, names: &[&str], archive: &Path) -> Result<()> {
        let tmp = self.tmp_dir("docker-save-")?;
        let root = tmp.path();
        let mut manifest = Vec::new();
        let mut repositories: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
        for name in names {
            let img = self.image(name)?;
            let config_name = format!("{}.json", img.config_digest.hex());
            fs::write(
                root.join(&config_name),
                self.content().read_blob(&img.config_digest)?,
            )
            .ctx("write", root.join(&config_name))?;
            let mut layer_paths = Vec::new();
            for (l, chain) in img.layers.iter().zip(img.chain_ids()) {
                let id = chain.hex().to_string();
                let ldir = root.join(&id);
                fs::create_dir_all(&ldir).ctx("create directory", &ldir)?;
                let lpath = ldir.join("layer.tar");
                if !lpath.exists() {
                    let blob = self.content().open_blob(&l.digest)?;
                    let mut r = HashingReader::new(
                        decompress(BufReader::new(blob)).ctx("decompress", &lpath)?,
                        Algorithm::Sha256,
                    );
                    let mut w = File::create(&lpath).ctx("create", &lpath)?;
                    std::io::copy(&mut r, &mut w).ctx("write layer", &lpath)?;
                    let (d, _) = r.finish().ctx("read layer", &lpath)?;
                    if d != l.diff_id {
                        return Err(Error::DigestMismatch {
                            what: format!("layer {}", l.digest),
                            expected: l.diff_id.to_string(),
                            actual: d.to_string(),
                        });
                    }
                    fs::write(ldir.join("VERSION"), "1.0").ctx("write", &ldir)?;
                }
                layer_paths.push(format!("{id}/layer.tar"));
            }
            let tags: Vec<String> = img
                .reference
                .iter()
                .filter(|r| r.tag().is_some())
                .map(|r| r.familiar())
                .collect();
            if let (Some(r), Some(top)) = (&img.reference, layer_paths.last())
                && let Some(t) = r.tag()
            {
                let repo = r.familiar();
                let repo = repo
                    .rsplit_once(':')
                    .map(|(a, _)| a.to_string())
                    .unwrap_or(repo);
                repositories.entry(repo).or_default().insert(
                    t.to_string(),
                    top.trim_end_matches("/layer.tar").to_string(),
                );
            }
            manifest.push(DockerArchiveEntry {
                config: config_name,
                repo_tags: Some(tags),
                layers: layer_paths,
            });
        }
        fs::write(
            root.join("manifest.json"),
            serde_json::to_vec(&manifest).map_err(|e| Error::json("manifest.json", e))?,
        )
        .ctx("write", root.join("manifest.json"))?;
        fs::write(
            root.join("repositories"),
            serde_json::to_vec(&repositories).map_err(|e| Error::json("repositories", e))?,
        )
        .ctx("write", root.join("repositories"))?;
        tar_dir(root, archive)
    }

    /// `docker import`: make a one-layer image of a rootfs tar (any compression) and
    /// name it `reference`. `changes` are set in the config's `config` section
    /// (e.g. `("Cmd", json!(["/bin/sh"]))`).
    pub fn import_rootfs_tar(
        &self,
        reader: impl Read,
        reference: &str,
        changes: &[(&str, Value)],
    ) -> Result<Image> {
        Reference::parse(reference)?;
        let mut hashing = HashingReader::new(
            decompress(reader).map_err(|e| Error::layer("", format!("decompress: {e}")))?,
            Algorithm::Sha256,
        );
        let name = format!(
            "import-{}-{}",
            std::process::id(),
            chrono::Utc::now().timestamp_nanos_opt().unwrap_or(0)
        );
        let mut w = self.content().writer(&name)?;
        w.truncate()?;
        {
            let mut gz = flate2::write::GzEncoder::new(&mut w, flate2::Compression::new(6));
            std::io::copy(&mut hashing, &mut gz)
                .map_err(|e| Error::layer("", format!("read rootfs tar: {e}")))?;
            gz.finish().ctx("compress", PathBuf::from(&name))?;
        }
        let size = w.offset();
        let digest = w.commit(None, None)?;
        let (diff_id, _) = hashing
            .finish()
            .map_err(|e| Error::layer("", e.to_string()))?;
        let layer = Layer {
            digest,
            size,
            media_type: media::OCI_LAYER_GZIP.into(),
            diff_id,
        };
        let mut config = ImageConfig::default();
        let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        config.raw_mut()["created"] = now.clone().into();
        for (k, v) in changes {
            config.set(k, Some(v.clone()));
        }
        config.push_history(HistoryItem {
            created: Some(now),
            created_by: Some("berth import".into()),
            comment: Some("Imported from tarball".into()),
            ..Default::default()
        });
        self.write_image(&config, &[layer], Some(reference))
    }
}

/// `root/rel` with `rel` required to stay inside `root`.
fn safe_join(root: &Path, rel: &str, archive: &Path) -> Result<PathBuf> {
    let p = Path::new(rel);
    if p.is_absolute()
        || p.components()
            .any(|c| matches!(c, std::path::Component::ParentDir))
    {
        return Err(bad(archive, format!("path {rel:?} leaves the archive")));
    }
    Ok(root.join(p))
}
