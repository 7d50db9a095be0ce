//! The [`Store`]: content, image names, snapshots, under one root directory.

use std::collections::{BTreeMap, HashSet};
use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::content::ContentStore;
use crate::digest::Digest;
use crate::error::{Error, IoContext, Result};
use crate::image::{
    Descriptor, Image, ImageConfig, Layer, Manifest, ManifestKind, Platform, media,
    parse_manifest_or_index,
};
use crate::layer::{ApplyOptions, WhiteoutMode};
use crate::reference::Reference;
use crate::snapshot::Snapshotter;

/// An image store rooted at a directory (see the crate docs for the layout).
///
/// Cheap to clone; every clone, and every other process opening the same root, sees
/// the same images. Metadata changes are serialized by a file lock on `<root>/lock`.
#[derive(Debug, Clone)]
pub struct Store {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    root: PathBuf,
    content: ContentStore,
}

/// A held store lock (released on drop).
pub struct StoreLock {
    _file: File,
}

/// One name in the image list.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ImageRecord {
    /// Manifest (or index) digest the name points at.
    pub digest: Digest,
    /// When the name was set (RFC 3339).
    pub created: String,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct ImageDb {
    images: BTreeMap<String, ImageRecord>,
}

/// A line of `docker images`.
#[derive(Debug, Clone)]
pub struct ImageSummary {
    /// The name.
    pub reference: Reference,
    /// Manifest digest.
    pub manifest_digest: Digest,
    /// Image id (config digest).
    pub id: Digest,
    /// Sum of the layer blob sizes.
    pub size: u64,
    /// The config's `created`.
    pub created: Option<String>,
}

/// Write `data` to `path` atomically (temp file, fsync, rename, fsync dir).
pub(crate) fn write_atomic(path: &Path, data: &[u8]) -> Result<()> {
    replace_file(path, data, true)
}

/// Replace `path` by `data` through a temp file and a rename (readers see the old or the
/// new content, never a mix); with `durable`, the file and its directory are fsynced too.
pub(crate) fn replace_file(path: &Path, data: &[u8], durable: bool) -> Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let tmp = dir.join(format!(
        ".{}.tmp-{}",
        path.file_name()
            .map(|n| n.to_string_lossy())
            .unwrap_or_default(),
        std::process::id()
    ));
    {
        let mut f = File::create(&tmp).ctx("create", &tmp)?;
        f.write_all(data).ctx("write", &tmp)?;
        if durable {
            f.sync_all().ctx("fsync", &tmp)?;
        }
    }
    fs::rename(&tmp, path).ctx("rename", path)?;
    if !durable {
        return Ok(());
    }
    File::open(dir)
        .and_then(|d| d.sync_all())
        .ctx("fsync", dir)?;
    Ok(())
}

impl Store {
    /// Open (creating it if needed) the store at `root`.
    pub fn open(root: impl AsRef<Path>) -> Result<Store> {
        let root = root.as_ref();
        fs::create_dir_all(root).ctx("create store root", root)?;
        let root = fs::canonicalize(root).ctx("resolve store root", root)?;
        let content = ContentStore::open(&root)?;
        for d in ["images", "snapshots"] {
            fs::create_dir_all(root.join(d)).ctx("create directory", root.join(d))?;
        }
        let store = Store {
            inner: Arc::new(Inner { root, content }),
        };
        // Validate the metadata now rather than on first use.
        store.load_images()?;
        Ok(store)
    }

    /// The root directory.
    pub fn root(&self) -> &Path {
        &self.inner.root
    }

    /// The content store.
    pub fn content(&self) -> &ContentStore {
        &self.inner.content
    }

    /// The snapshotter.
    pub fn snapshots(&self) -> Snapshotter {
        Snapshotter::new(self.clone())
    }

    /// Take the store's exclusive lock (blocks while another process holds it).
    pub fn lock(&self) -> Result<StoreLock> {
        let p = self.inner.root.join("lock");
        let f = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&p)
            .ctx("open", &p)?;
        rustix::fs::flock(&f, rustix::fs::FlockOperation::LockExclusive).ctx("lock", &p)?;
        Ok(StoreLock { _file: f })
    }

    fn images_db(&self) -> PathBuf {
        self.inner.root.join("images").join("db.json")
    }

    fn load_images(&self) -> Result<ImageDb> {
        let p = self.images_db();
        match fs::read(&p) {
            Ok(d) => {
                serde_json::from_slice(&d).map_err(|e| Error::json(p.display().to_string(), e))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(ImageDb::default()),
            Err(e) => Err(Error::io("read", p, e)),
        }
    }

    fn save_images(&self, db: &ImageDb) -> Result<()> {
        let data = serde_json::to_vec_pretty(db).map_err(|e| Error::json("image db", e))?;
        write_atomic(&self.images_db(), &data)
    }

    /// Point `reference` at the manifest (or index) `digest`.
    pub fn set_tag(&self, reference: &Reference, digest: &Digest) -> Result<()> {
        let _l = self.lock()?;
        let mut db = self.load_images()?;
        db.images.insert(
            reference.to_string(),
            ImageRecord {
                digest: digest.clone(),
                created: chrono::Utc::now().to_rfc3339(),
            },
        );
        self.save_images(&db)
    }

    /// Every name and what it points at.
    pub fn names(&self) -> Result<BTreeMap<String, ImageRecord>> {
        Ok(self.load_images()?.images)
    }

    /// Resolve a name, a digest reference, an image id (`sha256:…`) or an id prefix
    /// (≥ 4 hex digits) to (reference, manifest-or-index digest).
    fn resolve(&self, name: &str) -> Result<(Option<Reference>, Digest)> {
        let db = self.load_images()?;
        let hexish = name.strip_prefix("sha256:").unwrap_or(name);
        if hexish.len() >= 4 && hexish.bytes().all(|b| b.is_ascii_hexdigit()) && !name.contains('/')
        {
            // An id: match config digests, then manifest digests.
            for (r, rec) in &db.images {
                if let Ok(img) = self.load_image(None, &rec.digest)
                    && (img.config_digest.hex().starts_with(hexish)
                        || rec.digest.hex().starts_with(hexish))
                {
                    return Ok((Reference::parse(r).ok(), rec.digest.clone()));
                }
            }
        }
        let r = Reference::parse(name)?;
        if let Some(d) = r.digest()
            && self.content().contains(d)
        {
            return Ok((Some(r.clone()), d.clone()));
        }
        match db.images.get(&r.to_string()) {
            Some(rec) => Ok((Some(r), rec.digest.clone())),
            None => Err(Error::NotFound {
                kind: "image",
                name: name.to_string(),
            }),
        }
    }

    /// The image `name` refers to (a name, `name@digest`, or an image id).
    pub fn image(&self, name: &str) -> Result<Image> {
        let (r, d) = self.resolve(name)?;
        self.load_image(r, &d)
    }

    /// Load the image whose manifest (or index, resolved for this host) is `digest`.
    pub fn load_image(&self, reference: Option<Reference>, digest: &Digest) -> Result<Image> {
        let data = self.content().read_blob(digest)?;
        let (manifest_digest, manifest) =
            match parse_manifest_or_index(&data, &format!("manifest {digest}"))? {
                ManifestKind::Manifest(m) => (digest.clone(), m),
                ManifestKind::Index(i) => {
                    let p = Platform::host();
                    let d = i.select(&p).ok_or_else(|| Error::NoMatchingPlatform {
                        platform: p.to_string(),
                        reference: digest.to_string(),
                    })?;
                    let data = self.content().read_blob(&d.digest)?;
                    match parse_manifest_or_index(&data, &format!("manifest {}", d.digest))? {
                        ManifestKind::Manifest(m) => (d.digest.clone(), m),
                        ManifestKind::Index(_) => {
                            return Err(Error::Unsupported {
                                what: "nested index",
                                value: d.digest.to_string(),
                            });
                        }
                    }
                }
            };
        let config_data = self.content().read_blob(&manifest.config.digest)?;
        let config = ImageConfig::from_json(&config_data)?;
        let diff_ids = config.diff_ids()?;
        if diff_ids.len() != manifest.layers.len() {
            return Err(Error::json(
                format!("image {manifest_digest}"),
                format!(
                    "{} layers but {} diff_ids in the config",
                    manifest.layers.len(),
                    diff_ids.len()
                ),
            ));
        }
        let layers = manifest
            .layers
            .iter()
            .zip(diff_ids)
            .map(|(l, diff_id)| Layer {
                digest: l.digest.clone(),
                size: l.size,
                media_type: l.media_type.clone(),
                diff_id,
            })
            .collect();
        Ok(Image {
            reference,
            manifest_digest,
            config_digest: manifest.config.digest.clone(),
            manifest,
            config,
            layers,
        })
    }

    /// Every named image.
    pub fn list_images(&self) -> Result<Vec<ImageSummary>> {
        let mut out = Vec::new();
        for (name, rec) in self.load_images()?.images {
            let Ok(r) = Reference::parse(&name) else {
                continue;
            };
            let Ok(img) = self.load_image(Some(r.clone()), &rec.digest) else {
                continue;
            };
            out.push(ImageSummary {
                reference: r,
                manifest_digest: img.manifest_digest.clone(),
                id: img.config_digest.clone(),
                size: img.size(),
                created: img.config.created(),
            });
        }
        Ok(out)
    }

    /// Give the image `source` the additional name `target`.
    pub fn tag(&self, source: &str, target: &str) -> Result<()> {
        let (_, d) = self.resolve(source)?;
        let t = Reference::parse(target)?;
        self.set_tag(&t, &d)
    }

    /// Remove the name `reference` (the content goes at the next [`gc`](Self::gc)).
    pub fn remove(&self, reference: &str) -> Result<()> {
        let _l = self.lock()?;
        let mut db = self.load_images()?;
        let key = match Reference::parse(reference) {
            Ok(r) if db.images.contains_key(&r.to_string()) => r.to_string(),
            _ => {
                drop(_l);
                let (r, _) = self.resolve(reference)?;
                let _l2 = self.lock()?;
                let mut db = self.load_images()?;
                let key = r.map(|r| r.to_string()).unwrap_or_default();
                if db.images.remove(&key).is_none() {
                    return Err(Error::NotFound {
                        kind: "image",
                        name: reference.to_string(),
                    });
                }
                return self.save_images(&db);
            }
        };
        db.images.remove(&key);
        self.save_images(&db)
    }

    /// Store `config` and a manifest over `layers` (blobs already in the store), and
    /// name it `reference` if given. `rootfs.diff_ids` is set from the layers.
    pub fn write_image(
        &self,
        config: &ImageConfig,
        layers: &[Layer],
        reference: Option<&str>,
    ) -> Result<Image> {
        for l in layers {
            if !self.content().contains(&l.digest) {
                return Err(Error::NotFound {
                    kind: "layer blob",
                    name: l.digest.to_string(),
                });
            }
        }
        let mut config = config.clone();
        config.set_diff_ids(&layers.iter().map(|l| l.diff_id.clone()).collect::<Vec<_>>());
        let config_json = config.to_json();
        let config_digest = self.content().write_blob(&config_json)?;
        let manifest = Manifest {
            schema_version: 2,
            media_type: Some(media::OCI_MANIFEST.into()),
            config: Descriptor::new(
                media::OCI_CONFIG,
                config_digest.clone(),
                config_json.len() as u64,
            ),
            layers: layers
                .iter()
                .map(|l| Descriptor::new(&l.media_type, l.digest.clone(), l.size))
                .collect(),
            annotations: None,
        };
        let manifest_json =
            serde_json::to_vec(&manifest).map_err(|e| Error::json("manifest", e))?;
        let manifest_digest = self.content().write_blob(&manifest_json)?;
        let reference = match reference {
            Some(r) => {
                let r = Reference::parse(r)?;
                self.set_tag(&r, &manifest_digest)?;
                Some(r)
            }
            None => None,
        };
        Ok(Image {
            reference,
            manifest_digest,
            manifest,
            config_digest,
            config,
            layers: layers.to_vec(),
        })
    }

    /// Unpack `image`'s layers into committed snapshots (one per chain id), unless
    /// they already are; returns the top chain id.
    pub fn unpack(&self, image: &Image) -> Result<Option<Digest>> {
        let snaps = self.snapshots();
        let chain = image.chain_ids();
        let mut parent: Option<Digest> = None;
        for (layer, chain_id) in image.layers.iter().zip(&chain) {
            let name = chain_id.to_string();
            if snaps.exists(&name)? {
                parent = Some(chain_id.clone());
                continue;
            }
            let key = format!(
                "extract-{}-{}-{}",
                std::process::id(),
                chrono::Utc::now().timestamp_nanos_opt().unwrap_or(0),
                chain_id.short()
            );
            snaps.prepare(&key, parent.as_ref())?;
            let result = (|| -> Result<()> {
                let upper = snaps.upper_dir(&key)?;
                let lowers = snaps.lower_dirs(&key)?;
                let blob = self.content().open_blob(&layer.digest)?;
                crate::layer::apply(
                    std::io::BufReader::new(blob),
                    &upper,
                    &ApplyOptions {
                        whiteouts: WhiteoutMode::Overlay,
                        lowers,
                        expected_diff_id: Some(layer.diff_id.clone()),
                        no_chown: false,
                    },
                )?;
                Ok(())
            })();
            if let Err(e) = result {
                let _ = snaps.remove(&key);
                return Err(e);
            }
            match snaps.commit(&key, &name) {
                Ok(()) => {}
                Err(Error::AlreadyExists { .. }) => {
                    // Another process unpacked the same layer meanwhile.
                    snaps.remove(&key)?;
                }
                Err(e) => {
                    let _ = snaps.remove(&key);
                    return Err(e);
                }
            }
            parent = Some(chain_id.clone());
        }
        Ok(parent)
    }

    /// Apply `image`'s layers, in order, onto the plain directory `dir` (whiteouts
    /// delete), giving a flat rootfs.
    pub fn unpack_to(&self, image: &Image, dir: &Path) -> Result<()> {
        fs::create_dir_all(dir).ctx("create directory", dir)?;
        for layer in &image.layers {
            let blob = self.content().open_blob(&layer.digest)?;
            crate::layer::apply(
                std::io::BufReader::new(blob),
                dir,
                &ApplyOptions {
                    expected_diff_id: Some(layer.diff_id.clone()),
                    ..Default::default()
                },
            )?;
        }
        Ok(())
    }

    /// Digests reachable from the named images (manifests, indexes, configs, layers).
    pub(crate) fn reachable(&self) -> Result<(HashSet<Digest>, HashSet<Digest>)> {
        let mut blobs = HashSet::new();
        let mut chains = HashSet::new();
        for rec in self.load_images()?.images.values() {
            self.mark(&rec.digest, &mut blobs, &mut chains, 0)?;
        }
        Ok((blobs, chains))
    }

    fn mark(
        &self,
        d: &Digest,
        blobs: &mut HashSet<Digest>,
        chains: &mut HashSet<Digest>,
        depth: u32,
    ) -> Result<()> {
        if depth > 4 || !blobs.insert(d.clone()) {
            return Ok(());
        }
        let Ok(data) = self.content().read_blob(d) else {
            return Ok(());
        };
        match parse_manifest_or_index(&data, "manifest") {
            Ok(ManifestKind::Index(i)) => {
                for m in &i.manifests {
                    self.mark(&m.digest, blobs, chains, depth + 1)?;
                }
            }
            Ok(ManifestKind::Manifest(m)) => {
                blobs.insert(m.config.digest.clone());
                for l in &m.layers {
                    blobs.insert(l.digest.clone());
                }
                if let Ok(img) = self.load_image(None, d) {
                    chains.extend(img.chain_ids());
                }
            }
            Err(_) => {}
        }
        Ok(())
    }
}
