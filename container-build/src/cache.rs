//! The layer cache: a step's key is the hash of its parent's key, the instruction, the
//! build arguments in scope and, for `COPY`/`ADD`, its sources' contents and metadata;
//! the value is the image state after the step (config and layers). Entries live in
//! `<store root>/build-cache/keys/`; a hit whose layer blobs the store no longer holds is
//! a miss.

use crate::error::{IoCtx, Result};
use container_image::{Layer, Store};
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};
use std::path::PathBuf;

/// The image state a step produced.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CacheEntry {
    /// The config JSON after the step.
    pub config: serde_json::Value,
    /// The layers after the step.
    pub layers: Vec<Layer>,
    /// The layer this step made, if any.
    pub layer: Option<Layer>,
}

/// The cache of one store.
#[derive(Debug, Clone)]
pub struct Cache {
    dir: PathBuf,
}

/// A key from its parts.
pub fn key(parts: &[&str]) -> String {
    let mut h = Sha256::new();
    for p in parts {
        h.update((p.len() as u64).to_le_bytes());
        h.update(p.as_bytes());
    }
    hex::encode(h.finalize())
}

impl Cache {
    /// The cache of `store`.
    pub fn new(store: &Store) -> Cache {
        Cache {
            dir: store.root().join("build-cache").join("keys"),
        }
    }

    /// Where cache mounts (`RUN --mount=type=cache`) live.
    pub fn mounts_dir(store: &Store) -> PathBuf {
        store.root().join("build-cache").join("mounts")
    }

    /// The entry of `key`, when present and its blobs are still in `store`.
    pub fn get(&self, store: &Store, key: &str) -> Option<CacheEntry> {
        let data = std::fs::read(self.dir.join(format!("{key}.json"))).ok()?;
        let e: CacheEntry = serde_json::from_slice(&data).ok()?;
        e.layers
            .iter()
            .all(|l| store.content().contains(&l.digest))
            .then_some(e)
    }

    /// Record `entry` under `key` (atomically).
    pub fn put(&self, key: &str, entry: &CacheEntry) -> Result<()> {
        std::fs::create_dir_all(&self.dir).ctx("create", &self.dir)?;
        let data = serde_json::to_vec(entry).unwrap_or_default();
        let tmp = self.dir.join(format!(".{key}.{}.tmp", std::process::id()));
        std::fs::write(&tmp, &data).ctx("write", &tmp)?;
        let dst = self.dir.join(format!("{key}.json"));
        std::fs::rename(&tmp, &dst).ctx("rename", &dst)
    }

    /// Forget every entry.
    pub fn clear(&self) -> Result<()> {
        match std::fs::remove_dir_all(&self.dir) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(e).ctx("remove", &self.dir),
        }
    }
}
