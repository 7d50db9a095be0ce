//! Turning a directory of changes back into a layer tar (the inverse of
//! [`layer::apply`](crate::layer::apply())).
//!
//! The output is deterministic: entries sorted by path, PAX headers for long names
//! and xattrs, numeric owners only (no user/group names), no atime/ctime, mtimes
//! optionally clamped to `SOURCE_DATE_EPOCH`, gzip with a zero header timestamp. Two
//! runs over the same tree give the same diffID and blob digest.

use std::collections::{BTreeMap, HashMap};
use std::fs::{self, File};
use std::io::{self, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

use crate::digest::HashingWriter;
use crate::error::{Error, IoContext, Result};
use crate::image::Layer;
use crate::layer::{Compression, OVERLAY_OPAQUE_XATTR, WHITEOUT_OPAQUE, WHITEOUT_PREFIX};
use crate::store::Store;

/// Options of [`create_layer`].
#[derive(Debug, Clone)]
pub struct DiffOptions {
    /// Clamp mtimes to this Unix time (reproducible builds); `None` reads the
    /// `SOURCE_DATE_EPOCH` environment variable.
    pub source_date_epoch: Option<i64>,
    /// Blob compression.
    pub compression: Compression,
}

impl Default for DiffOptions {
    fn default() -> Self {
        DiffOptions {
            source_date_epoch: None,
            compression: Compression::Gzip,
        }
    }
}

impl DiffOptions {
    fn epoch(&self) -> Option<i64> {
        self.source_date_epoch.or_else(|| {
            std::env::var("SOURCE_DATE_EPOCH")
                .ok()
                .and_then(|v| v.trim().parse().ok())
        })
    }
}

enum Change {
    Add(PathBuf),
    Delete,
    Opaque,
}

/// Make a layer from an overlayfs upper directory (whiteout char devices become
/// `.wh.` files, the opaque xattr `.wh..wh..opq`), store it, and describe it.
pub fn create_layer(store: &Store, upper: &Path, opts: &DiffOptions) -> Result<Layer> {
    let mut changes: BTreeMap<Vec<u8>, Change> = BTreeMap::new();
    for e in walkdir::WalkDir::new(upper)
        .min_depth(1)
        .follow_links(false)
    {
        let e = e.map_err(|e| Error::io("walk", upper, e.into()))?;
        let rel = rel_bytes(upper, e.path())?;
        let meta = e.path().symlink_metadata().ctx("stat", e.path())?;
        if meta.file_type().is_char_device() && meta.rdev() == 0 {
            changes.insert(rel, Change::Delete);
            continue;
        }
        if meta.is_dir()
            && xattr::get(e.path(), OVERLAY_OPAQUE_XATTR)
                .ok()
                .flatten()
                .is_some_and(|v| v == b"y")
        {
            let mut marker = rel.clone();
            marker.push(b'/');
            marker.extend_from_slice(WHITEOUT_OPAQUE.as_bytes());
            changes.insert(marker, Change::Opaque);
        }
        changes.insert(rel, Change::Add(e.path().to_path_buf()));
    }
    write_layer(store, changes, opts)
}

/// Make a layer of the differences from `lower` to `upper` (two full trees).
pub fn create_layer_between(
    store: &Store,
    lower: &Path,
    upper: &Path,
    opts: &DiffOptions,
) -> Result<Layer> {
    let mut changes: BTreeMap<Vec<u8>, Change> = BTreeMap::new();
    for e in walkdir::WalkDir::new(upper)
        .min_depth(1)
        .follow_links(false)
    {
        let e = e.map_err(|e| Error::io("walk", upper, e.into()))?;
        let rel = rel_bytes(upper, e.path())?;
        let meta = e.path().symlink_metadata().ctx("stat", e.path())?;
        let lpath = lower.join(std::ffi::OsStr::from_bytes(&rel));
        let changed = match lpath.symlink_metadata() {
            Err(_) => true,
            Ok(lm) => differs(&meta, &lm, e.path(), &lpath)?,
        };
        if changed {
            // Parents first, so the tar recreates the directories.
            let mut prefix = Vec::new();
            for c in rel.split(|b| *b == b'/') {
                if !prefix.is_empty() {
                    let p = upper.join(std::ffi::OsStr::from_bytes(&prefix));
                    changes.entry(prefix.clone()).or_insert(Change::Add(p));
                    prefix.push(b'/');
                }
                prefix.extend_from_slice(c);
            }
            changes.insert(rel, Change::Add(e.path().to_path_buf()));
        }
    }
    let mut it = walkdir::WalkDir::new(lower)
        .min_depth(1)
        .follow_links(false)
        .into_iter();
    while let Some(e) = it.next() {
        let e = e.map_err(|e| Error::io("walk", lower, e.into()))?;
        let rel = rel_bytes(lower, e.path())?;
        if upper
            .join(std::ffi::OsStr::from_bytes(&rel))
            .symlink_metadata()
            .is_err()
        {
            changes.insert(rel, Change::Delete);
            if e.file_type().is_dir() {
                it.skip_current_dir();
            }
        }
    }
    write_layer(store, changes, opts)
}

fn differs(a: &fs::Metadata, b: &fs::Metadata, ap: &Path, bp: &Path) -> Result<bool> {
    if a.file_type() != b.file_type()
        || a.mode() != b.mode()
        || a.uid() != b.uid()
        || a.gid() != b.gid()
    {
        return Ok(true);
    }
    if a.is_dir() {
        return Ok(false);
    }
    if a.file_type().is_symlink() {
        return Ok(fs::read_link(ap).ctx("readlink", ap)? != fs::read_link(bp).ctx("readlink", bp)?);
    }
    if a.file_type().is_char_device() || a.file_type().is_block_device() {
        return Ok(a.rdev() != b.rdev());
    }
    if a.size() != b.size() {
        return Ok(true);
    }
    if a.mtime() == b.mtime() && a.mtime_nsec() == b.mtime_nsec() {
        return Ok(false);
    }
    Ok(fs::read(ap).ctx("read", ap)? != fs::read(bp).ctx("read", bp)?)
}

fn rel_bytes(root: &Path, p: &Path) -> Result<Vec<u8>> {
    let rel = p
        .strip_prefix(root)
        .map_err(|_| Error::io("walk", p, io::ErrorKind::InvalidInput.into()))?;
    Ok(rel.as_os_str().as_bytes().to_vec())
}

fn write_layer(
    store: &Store,
    changes: BTreeMap<Vec<u8>, Change>,
    opts: &DiffOptions,
) -> Result<Layer> {
    let name = format!(
        "diff-{}-{}",
        std::process::id(),
        chrono::Utc::now().timestamp_nanos_opt().unwrap_or(0)
    );
    let mut blob = store.content().writer(&name)?;
    blob.truncate()?;
    let epoch = opts.epoch();
    let (diff_id, tar_size) = match opts.compression {
        Compression::Gzip => {
            let gz = flate2::write::GzEncoder::new(&mut blob, flate2::Compression::new(6));
            let (d, s, gz) = write_tar(HashingWriter::new(gz), &changes, epoch)?;
            gz.finish()
                .map_err(|e| Error::io("compress layer", &name, e))?;
            (d, s)
        }
        Compression::Zstd => {
            let z = zstd::stream::write::Encoder::new(&mut blob, 3)
                .map_err(|e| Error::io("compress layer", &name, e))?;
            let (d, s, z) = write_tar(HashingWriter::new(z), &changes, epoch)?;
            z.finish()
                .map_err(|e| Error::io("compress layer", &name, e))?;
            (d, s)
        }
        Compression::None => {
            let (d, s, _) = write_tar(HashingWriter::new(&mut blob), &changes, epoch)?;
            (d, s)
        }
    };
    let _ = tar_size;
    let size = blob.offset();
    let digest = blob.commit(None, None)?;
    Ok(Layer {
        digest,
        size,
        media_type: opts.compression.oci_media_type().to_string(),
        diff_id,
    })
}

fn write_tar<W: Write>(
    out: HashingWriter<W>,
    changes: &BTreeMap<Vec<u8>, Change>,
    epoch: Option<i64>,
) -> Result<(crate::Digest, u64, W)> {
    let mut b = tar::Builder::new(out);
    let mut inodes: HashMap<(u64, u64), Vec<u8>> = HashMap::new();
    for (rel, change) in changes {
        match change {
            Change::Delete | Change::Opaque => {
                let path = match change {
                    Change::Delete => {
                        let (dir, base) = match rel.iter().rposition(|c| *c == b'/') {
                            Some(i) => (&rel[..=i], &rel[i + 1..]),
                            None => (&b""[..], &rel[..]),
                        };
                        let mut p = dir.to_vec();
                        p.extend_from_slice(WHITEOUT_PREFIX.as_bytes());
                        p.extend_from_slice(base);
                        p
                    }
                    _ => rel.clone(),
                };
                let mut h = tar::Header::new_ustar();
                h.set_entry_type(tar::EntryType::Regular);
                h.set_size(0);
                h.set_mode(0o644);
                h.set_mtime(epoch.unwrap_or(0).max(0) as u64);
                append(&mut b, h, &path, None, &[], io::empty())?;
            }
            Change::Add(full) => {
                let meta = full.symlink_metadata().ctx("stat", full)?;
                let ft = meta.file_type();
                let mut h = tar::Header::new_ustar();
                h.set_mode(meta.mode() & 0o7777);
                h.set_uid(meta.uid() as u64);
                h.set_gid(meta.gid() as u64);
                let mtime = match epoch {
                    Some(e) => meta.mtime().min(e),
                    None => meta.mtime(),
                };
                h.set_mtime(mtime.max(0) as u64);
                h.set_size(0);
                let xattrs = read_xattrs(full);
                if ft.is_dir() {
                    h.set_entry_type(tar::EntryType::Directory);
                    let mut p = rel.clone();
                    p.push(b'/');
                    append(&mut b, h, &p, None, &xattrs, io::empty())?;
                } else if ft.is_symlink() {
                    h.set_entry_type(tar::EntryType::Symlink);
                    let target = fs::read_link(full).ctx("readlink", full)?;
                    append(
                        &mut b,
                        h,
                        rel,
                        Some(target.as_os_str().as_bytes()),
                        &xattrs,
                        io::empty(),
                    )?;
                } else if ft.is_file() {
                    let key = (meta.dev(), meta.ino());
                    if meta.nlink() > 1 {
                        if let Some(first) = inodes.get(&key) {
                            h.set_entry_type(tar::EntryType::Link);
                            append(&mut b, h, rel, Some(first), &[], io::empty())?;
                            continue;
                        }
                        inodes.insert(key, rel.clone());
                    }
                    h.set_entry_type(tar::EntryType::Regular);
                    h.set_size(meta.len());
                    let f = File::open(full).ctx("open", full)?;
                    append(&mut b, h, rel, None, &xattrs, f.take_exact(meta.len()))?;
                } else if ft.is_char_device() || ft.is_block_device() || ft.is_fifo() {
                    h.set_entry_type(if ft.is_char_device() {
                        tar::EntryType::Char
                    } else if ft.is_block_device() {
                        tar::EntryType::Block
                    } else {
                        tar::EntryType::Fifo
                    });
                    let rdev = meta.rdev();
                    h.set_device_major(rustix::fs::major(rdev))
                        .map_err(|e| Error::io("tar header", full, e))?;
                    h.set_device_minor(rustix::fs::minor(rdev))
                        .map_err(|e| Error::io("tar header", full, e))?;
                    append(&mut b, h, rel, None, &xattrs, io::empty())?;
                }
                // Sockets are not carried in layers.
            }
        }
    }
    let out = b
        .into_inner()
        .map_err(|e| Error::io("finish layer tar", "layer", e))?;
    let (d, s, w) = out.finish();
    Ok((d, s, w))
}

trait TakeExact: io::Read + Sized {
    fn take_exact(self, n: u64) -> ExactReader<Self> {
        ExactReader {
            inner: self.take(n),
            want: n,
            got: 0,
        }
    }
}
impl<R: io::Read> TakeExact for R {}

/// Reads exactly `want` bytes: a file that shrank while being archived is an error,
/// rather than a tar whose header lies.
struct ExactReader<R> {
    inner: io::Take<R>,
    want: u64,
    got: u64,
}

impl<R: io::Read> io::Read for ExactReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.got += n as u64;
        if n == 0 && !buf.is_empty() && self.got < self.want {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "file shrank while archiving",
            ));
        }
        Ok(n)
    }
}

fn read_xattrs(p: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    if let Ok(names) = xattr::list(p) {
        for n in names {
            let name = n.to_string_lossy().into_owned();
            if name.starts_with("trusted.overlay.") {
                continue;
            }
            if let Ok(Some(v)) = xattr::get(p, &n) {
                out.push((name, v));
            }
        }
    }
    out.sort();
    out
}

fn append<W: Write>(
    b: &mut tar::Builder<W>,
    mut h: tar::Header,
    path: &[u8],
    link: Option<&[u8]>,
    xattrs: &[(String, Vec<u8>)],
    data: impl io::Read,
) -> Result<()> {
    let shown = String::from_utf8_lossy(path).into_owned();
    let mut pax: Vec<(String, Vec<u8>)> = Vec::new();
    if h.set_path(std::ffi::OsStr::from_bytes(path)).is_err() {
        pax.push(("path".into(), path.to_vec()));
        let short: Vec<u8> = path.iter().copied().take(99).collect();
        h.as_old_mut().name = [0; 100];
        h.as_old_mut().name[..short.len()].copy_from_slice(&short);
    }
    if let Some(l) = link
        && h.set_link_name(std::ffi::OsStr::from_bytes(l)).is_err()
    {
        pax.push(("linkpath".into(), l.to_vec()));
        let short: Vec<u8> = l.iter().copied().take(99).collect();
        h.as_old_mut().linkname = [0; 100];
        h.as_old_mut().linkname[..short.len()].copy_from_slice(&short);
    }
    for (k, v) in xattrs {
        pax.push((format!("SCHILY.xattr.{k}"), v.clone()));
    }
    if !pax.is_empty() {
        b.append_pax_extensions(pax.iter().map(|(k, v)| (k.as_str(), v.as_slice())))
            .map_err(|e| Error::io("write layer tar", &shown, e))?;
    }
    h.set_cksum();
    b.append(&h, data)
        .map_err(|e| Error::io("write layer tar", &shown, e))
}
