//! Operations over a whole store: history, garbage collection, disk usage.

use std::collections::HashSet;
use std::os::unix::fs::MetadataExt;

use crate::error::Result;
use crate::snapshot::Kind;
use crate::store::Store;

/// A row of `docker history`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoryEntry {
    /// IMAGE: the image id for the top row, `<missing>` below (as Docker prints).
    pub image: String,
    /// CREATED (RFC 3339).
    pub created: Option<String>,
    /// CREATED BY.
    pub created_by: String,
    /// SIZE: the layer blob's size, 0 for steps without a layer.
    pub size: u64,
    /// COMMENT.
    pub comment: String,
}

/// What [`Store::gc`] removed.
#[derive(Debug, Clone, Default)]
pub struct GcReport {
    /// Blobs deleted.
    pub blobs_removed: usize,
    /// Bytes of blobs deleted.
    pub bytes_freed: u64,
    /// Bytes of partial ingest data deleted.
    pub ingest_freed: u64,
    /// Snapshots removed.
    pub snapshots_removed: usize,
}

/// Disk usage, shared layers counted once.
#[derive(Debug, Clone, Default)]
pub struct DiskUsage {
    /// Named images.
    pub images: usize,
    /// Bytes of all blobs.
    pub content_bytes: u64,
    /// Bytes of blobs no image references.
    pub reclaimable_bytes: u64,
    /// Bytes of unpacked snapshots (hardlinked files counted once).
    pub snapshot_bytes: u64,
    /// Snapshots.
    pub snapshots: usize,
    /// Bytes in partial downloads.
    pub ingest_bytes: u64,
}

impl Store {
    /// Docker-style history of an image, newest step first.
    pub fn history(&self, name: &str) -> Result<Vec<HistoryEntry>> {
        let img = self.image(name)?;
        let mut layers = img.layers.iter();
        let mut rows = Vec::new();
        for h in img.config.history() {
            let size = if h.empty_layer {
                0
            } else {
                layers.next().map(|l| l.size).unwrap_or(0)
            };
            rows.push(HistoryEntry {
                image: "<missing>".into(),
                created: h.created.clone(),
                created_by: h.created_by.clone().unwrap_or_default(),
                size,
                comment: h.comment.clone().unwrap_or_default(),
            });
        }
        // Layers the history does not mention (images built without history).
        for l in layers {
            rows.push(HistoryEntry {
                image: "<missing>".into(),
                created: None,
                created_by: String::new(),
                size: l.size,
                comment: String::new(),
            });
        }
        rows.reverse();
        if let Some(top) = rows.first_mut() {
            top.image = img.id().to_string();
        }
        Ok(rows)
    }

    /// Remove blobs no named image reaches, partial ingest data no writer holds,
    /// committed snapshots no image uses, and leftovers of crashed unpacks.
    /// Active snapshots (containers, builds) and their parents are kept.
    pub fn gc(&self) -> Result<GcReport> {
        let mut report = GcReport {
            ingest_freed: self.content().gc_ingest()?,
            ..Default::default()
        };
        let (blobs, chains) = self.reachable()?;
        {
            let _l = self.lock()?;
            for (d, size) in self.content().list()? {
                if !blobs.contains(&d) {
                    self.content().delete(&d)?;
                    report.blobs_removed += 1;
                    report.bytes_freed += size;
                }
            }
        }
        let chains: HashSet<String> = chains.iter().map(|c| c.to_string()).collect();
        report.snapshots_removed = self.snapshots().prune(|key, info| match info.kind {
            Kind::Committed => chains.contains(key),
            _ => match extract_owner(key) {
                Some(pid) => process_alive(pid),
                None => true,
            },
        })?;
        let tmp = self.root().join("tmp");
        if let Ok(rd) = std::fs::read_dir(&tmp) {
            for e in rd.flatten() {
                let _ = std::fs::remove_dir_all(e.path());
            }
        }
        Ok(report)
    }

    /// How much space the store takes.
    pub fn disk_usage(&self) -> Result<DiskUsage> {
        let (reachable, _) = self.reachable()?;
        let mut du = DiskUsage {
            images: self.names()?.len(),
            ingest_bytes: self.content().ingest_size(),
            ..Default::default()
        };
        for (d, size) in self.content().list()? {
            du.content_bytes += size;
            if !reachable.contains(&d) {
                du.reclaimable_bytes += size;
            }
        }
        let snaps = self.snapshots();
        du.snapshots = snaps.list()?.len();
        let mut seen = HashSet::new();
        for e in walkdir::WalkDir::new(snaps.dir()).into_iter().flatten() {
            if let Ok(m) = e.metadata() {
                if m.is_file() && m.nlink() > 1 && !seen.insert((m.dev(), m.ino())) {
                    continue;
                }
                du.snapshot_bytes += m.blocks() * 512;
            }
        }
        Ok(du)
    }
}

/// The pid in an unpack's temporary key (`extract-<pid>-…`).
fn extract_owner(key: &str) -> Option<i32> {
    key.strip_prefix("extract-")?
        .split('-')
        .next()?
        .parse()
        .ok()
}

fn process_alive(pid: i32) -> bool {
    std::path::Path::new(&format!("/proc/{pid}")).exists()
}
