//! The content store: immutable blobs addressed by digest, written through a resumable,
//! verifying writer (containerd's model).
//!
//! Layout under the store root: `content/blobs/<alg>/<hex>` (read-only files) and
//! `content/ingest/<id>/{ref,data,lock}` for writes in progress. A write is made durable
//! by fsync and published by an atomic rename; a crash leaves only ingest data, which
//! [`ContentStore::gc_ingest`] removes when no writer holds its lock.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use crate::digest::{Algorithm, Digest, Hasher};
use crate::error::{Error, IoContext, Result};

/// Blobs by digest under `<root>/content`.
#[derive(Debug, Clone)]
pub struct ContentStore {
    root: PathBuf,
}

impl ContentStore {
    /// Open (creating the directories) the content store under `root/content`.
    pub fn open(root: &Path) -> Result<ContentStore> {
        let root = root.join("content");
        for d in ["blobs/sha256", "blobs/sha512", "ingest"] {
            let p = root.join(d);
            fs::create_dir_all(&p).ctx("create directory", &p)?;
        }
        Ok(ContentStore { root })
    }

    /// Where the blob `digest` lives (whether or not it exists).
    pub fn blob_path(&self, digest: &Digest) -> PathBuf {
        self.root
            .join("blobs")
            .join(digest.algorithm().as_str())
            .join(digest.hex())
    }

    /// True when the blob is present.
    pub fn contains(&self, digest: &Digest) -> bool {
        self.blob_path(digest).is_file()
    }

    /// Size of a present blob.
    pub fn size(&self, digest: &Digest) -> Result<u64> {
        let p = self.blob_path(digest);
        match fs::metadata(&p) {
            Ok(m) => Ok(m.len()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Err(Error::NotFound {
                kind: "blob",
                name: digest.to_string(),
            }),
            Err(e) => Err(Error::io("stat", p, e)),
        }
    }

    /// Open a blob for reading.
    pub fn open_blob(&self, digest: &Digest) -> Result<File> {
        let p = self.blob_path(digest);
        match File::open(&p) {
            Ok(f) => Ok(f),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Err(Error::NotFound {
                kind: "blob",
                name: digest.to_string(),
            }),
            Err(e) => Err(Error::io("open", p, e)),
        }
    }

    /// Read a whole blob (for manifests and configs), verifying its digest.
    pub fn read_blob(&self, digest: &Digest) -> Result<Vec<u8>> {
        let mut data = Vec::new();
        let p = self.blob_path(digest);
        self.open_blob(digest)?
            .read_to_end(&mut data)
            .ctx("read", &p)?;
        let mut h = Hasher::new(digest.algorithm());
        h.update(&data);
        let got = h.finish();
        if &got != digest {
            return Err(Error::DigestMismatch {
                what: format!("blob {}", p.display()),
                expected: digest.to_string(),
                actual: got.to_string(),
            });
        }
        Ok(data)
    }

    /// Store `data` as a blob; returns its sha256 digest. Existing blobs are kept.
    pub fn write_blob(&self, data: &[u8]) -> Result<Digest> {
        let digest = Digest::sha256(data);
        if self.contains(&digest) {
            return Ok(digest);
        }
        let mut w = self.writer(&format!("write-{digest}"))?;
        w.truncate()?;
        w.write_all(data).ctx("write", w.data_path())?;
        w.commit(Some(&digest), Some(data.len() as u64))
    }

    /// Store everything `reader` yields as a blob (verifying `expected` if given).
    pub fn write_from(&self, reader: &mut dyn Read, expected: Option<&Digest>) -> Result<Digest> {
        if let Some(d) = expected
            && self.contains(d)
        {
            return Ok(d.clone());
        }
        let name = match expected {
            Some(d) => format!("copy-{d}"),
            None => format!("copy-{}-{}", std::process::id(), unique()),
        };
        let mut w = self.writer(&name)?;
        w.truncate()?;
        io::copy(reader, &mut w).ctx("write", w.data_path())?;
        w.commit(expected, None)
    }

    /// Open (or resume) the ingest named `reference`. Blocks while another writer,
    /// in this or another process, holds the same reference.
    pub fn writer(&self, reference: &str) -> Result<Writer> {
        let id = Digest::sha256(reference.as_bytes());
        let dir = self.root.join("ingest").join(&id.hex()[..32]);
        fs::create_dir_all(&dir).ctx("create directory", &dir)?;
        let lock_path = dir.join("lock");
        let lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .ctx("open", &lock_path)?;
        rustix::fs::flock(&lock, rustix::fs::FlockOperation::LockExclusive)
            .ctx("lock", &lock_path)?;
        // The directory may have been removed by GC between create_dir_all and flock.
        fs::create_dir_all(&dir).ctx("create directory", &dir)?;
        fs::write(dir.join("ref"), reference).ctx("write", dir.join("ref"))?;
        let data_path = dir.join("data");
        let mut file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .read(true)
            .write(true)
            .open(&data_path)
            .ctx("open", &data_path)?;
        // Resume: hash what is already there.
        let mut hasher = Hasher::new(Algorithm::Sha256);
        let mut buf = vec![0u8; 1 << 20];
        let mut offset = 0u64;
        loop {
            let n = file.read(&mut buf).ctx("read", &data_path)?;
            if n == 0 {
                break;
            }
            hasher.update(&buf[..n]);
            offset += n as u64;
        }
        file.seek(SeekFrom::Start(offset)).ctx("seek", &data_path)?;
        Ok(Writer {
            store: self.clone(),
            dir,
            data_path,
            file: io::BufWriter::with_capacity(1 << 20, file),
            hasher,
            offset,
            _lock: lock,
        })
    }

    /// Every blob present, with its size.
    pub fn list(&self) -> Result<Vec<(Digest, u64)>> {
        let mut out = Vec::new();
        for alg in ["sha256", "sha512"] {
            let dir = self.root.join("blobs").join(alg);
            for e in fs::read_dir(&dir).ctx("read directory", &dir)? {
                let e = e.ctx("read directory", &dir)?;
                let name = e.file_name();
                let Some(name) = name.to_str() else { continue };
                let Ok(d) = Digest::parse(&format!("{alg}:{name}")) else {
                    continue;
                };
                let len = e.metadata().map(|m| m.len()).unwrap_or(0);
                out.push((d, len));
            }
        }
        Ok(out)
    }

    /// Delete a blob (no error if it is absent).
    pub fn delete(&self, digest: &Digest) -> Result<()> {
        let p = self.blob_path(digest);
        match fs::remove_file(&p) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(Error::io("remove", p, e)),
        }
    }

    /// Remove ingest data no writer holds (left by a crash or an abandoned write).
    /// Returns the bytes freed.
    pub fn gc_ingest(&self) -> Result<u64> {
        let dir = self.root.join("ingest");
        let mut freed = 0;
        for e in fs::read_dir(&dir).ctx("read directory", &dir)? {
            let e = e.ctx("read directory", &dir)?;
            let path = e.path();
            let lock_path = path.join("lock");
            let lock = match OpenOptions::new().write(true).open(&lock_path) {
                Ok(l) => Some(l),
                Err(e) if e.kind() == io::ErrorKind::NotFound => None,
                Err(e) => return Err(Error::io("open", lock_path, e)),
            };
            if let Some(l) = &lock {
                let op = rustix::fs::FlockOperation::NonBlockingLockExclusive;
                if rustix::fs::flock(l, op).is_err() {
                    continue; // a live writer
                }
            }
            freed += fs::metadata(path.join("data"))
                .map(|m| m.len())
                .unwrap_or(0);
            fs::remove_dir_all(&path).ctx("remove", &path)?;
        }
        Ok(freed)
    }

    /// Bytes in ingest (partial downloads).
    pub fn ingest_size(&self) -> u64 {
        walkdir::WalkDir::new(self.root.join("ingest"))
            .into_iter()
            .filter_map(|e| e.ok())
            .filter_map(|e| e.metadata().ok())
            .filter(|m| m.is_file())
            .map(|m| m.len())
            .sum()
    }
}

fn unique() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0);
    t ^ (N.fetch_add(1, Ordering::Relaxed) << 48)
}

/// A write in progress; resumable (reopen with the same reference) until committed.
pub struct Writer {
    store: ContentStore,
    dir: PathBuf,
    data_path: PathBuf,
    file: io::BufWriter<File>,
    hasher: Hasher,
    offset: u64,
    _lock: File,
}

impl Writer {
    /// Bytes written so far (including those of an earlier, interrupted write).
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// Path of the data file (for error messages).
    pub fn data_path(&self) -> &Path {
        &self.data_path
    }

    /// Throw away what was written and start again.
    pub fn truncate(&mut self) -> Result<()> {
        self.file.flush().ctx("write", &self.data_path)?;
        let f = self.file.get_mut();
        f.set_len(0).ctx("truncate", &self.data_path)?;
        f.seek(SeekFrom::Start(0)).ctx("seek", &self.data_path)?;
        self.hasher = Hasher::new(Algorithm::Sha256);
        self.offset = 0;
        Ok(())
    }

    /// Make the data durable, check size and digest, and publish it as a blob.
    pub fn commit(mut self, expected: Option<&Digest>, size: Option<u64>) -> Result<Digest> {
        self.file.flush().ctx("write", &self.data_path)?;
        let hasher = match expected.map(|d| d.algorithm()) {
            Some(Algorithm::Sha512) => {
                // Rare: recompute with the announced algorithm.
                let mut h = Hasher::new(Algorithm::Sha512);
                let mut f = File::open(&self.data_path).ctx("open", &self.data_path)?;
                let mut buf = vec![0u8; 1 << 20];
                loop {
                    let n = f.read(&mut buf).ctx("read", &self.data_path)?;
                    if n == 0 {
                        break;
                    }
                    h.update(&buf[..n]);
                }
                h
            }
            _ => self.hasher.clone(),
        };
        let digest = hasher.finish();
        if let Some(s) = size
            && s != self.offset
        {
            let e = Error::SizeMismatch {
                what: format!(
                    "blob {}",
                    expected.map(|d| d.to_string()).unwrap_or_default()
                ),
                expected: s,
                actual: self.offset,
            };
            self.truncate()?;
            return Err(e);
        }
        if let Some(want) = expected
            && want != &digest
        {
            let e = Error::DigestMismatch {
                what: "blob".to_string(),
                expected: want.to_string(),
                actual: digest.to_string(),
            };
            self.truncate()?;
            return Err(e);
        }
        let target = self.store.blob_path(&digest);
        let file = self.file.get_ref();
        if !target.exists() {
            file.sync_all().ctx("fsync", &self.data_path)?;
            fs::set_permissions(&self.data_path, fs::Permissions::from_mode(0o444))
                .ctx("chmod", &self.data_path)?;
            fs::rename(&self.data_path, &target).ctx("rename", &target)?;
            if let Some(parent) = target.parent() {
                File::open(parent)
                    .and_then(|d| d.sync_all())
                    .ctx("fsync", parent)?;
            }
        }
        fs::remove_dir_all(&self.dir).ctx("remove", &self.dir)?;
        Ok(digest)
    }
}

impl Write for Writer {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.file.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.offset += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.file.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn write_read_resume() {
        let dir = tempfile::tempdir().expect("tempdir");
        let cs = ContentStore::open(dir.path()).expect("open");
        let d = cs.write_blob(b"hello").expect("write");
        assert_eq!(cs.read_blob(&d).expect("read"), b"hello");
        assert_eq!(cs.write_blob(b"hello").expect("again"), d);
        // resume
        let want = Digest::sha256(b"abcdef");
        {
            let mut w = cs.writer("resume").expect("writer");
            w.write_all(b"abc").expect("write");
            w.flush().expect("flush");
        }
        let mut w = cs.writer("resume").expect("writer");
        assert_eq!(w.offset(), 3);
        w.write_all(b"def").expect("write");
        assert_eq!(w.commit(Some(&want), Some(6)).expect("commit"), want);
        // mismatch
        let mut w = cs.writer("bad").expect("writer");
        w.write_all(b"xyz").expect("write");
        assert!(matches!(
            w.commit(Some(&want), None),
            Err(Error::DigestMismatch { .. })
        ));
        assert_eq!(cs.gc_ingest().expect("gc"), 0);
        assert_eq!(cs.list().expect("list").len(), 2);
    }
}
