//! Applying a layer tar onto a directory without ever writing outside it.
//!
//! Every parent directory is resolved with `openat2(RESOLVE_IN_ROOT)`, so `..`,
//! absolute symlinks and symlink chains are confined to the target as if it were `/`
//! (the kernel does this atomically, so a concurrent rename cannot race us out). The
//! final component is created with `*at` calls that never follow it (`O_NOFOLLOW`,
//! `AT_SYMLINK_NOFOLLOW`, `linkat` without `AT_SYMLINK_FOLLOW`). Entry names with `..`
//! and absolute names are rejected outright.

use std::collections::HashSet;
use std::ffi::OsStr;
use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use rustix::fs::{AtFlags, Mode, OFlags, ResolveFlags, Timestamps};

use super::{OVERLAY_OPAQUE_XATTR, WHITEOUT_OPAQUE, WHITEOUT_PREFIX, decompress};
use crate::digest::{Algorithm, Digest, HashingReader};
use crate::error::{Error, IoContext, Result};

/// How whiteouts are represented in the target.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum WhiteoutMode {
    /// The target is a whole rootfs: whiteouts delete, opaque markers empty the dir.
    #[default]
    Flat,
    /// The target is an overlayfs upper dir: whiteouts become 0:0 char devices and
    /// opaque markers the `trusted.overlay.opaque=y` xattr.
    Overlay,
}

/// Options of [`apply`].
#[derive(Debug, Clone, Default)]
pub struct ApplyOptions {
    /// Whiteout representation.
    pub whiteouts: WhiteoutMode,
    /// Lower layers, topmost first (overlay mode): hardlinks to files that only exist
    /// there are satisfied by copying the file up first.
    pub lowers: Vec<PathBuf>,
    /// The diffID the uncompressed tar must hash to.
    pub expected_diff_id: Option<Digest>,
    /// Do not chown (automatic when not root).
    pub no_chown: bool,
}

/// What [`apply`] did.
#[derive(Debug, Clone)]
pub struct ApplyStats {
    /// sha256 of the uncompressed tar.
    pub diff_id: Digest,
    /// Size of the uncompressed tar.
    pub tar_size: u64,
    /// Entries processed.
    pub entries: u64,
}

/// Apply the layer in `reader` (tar, tar+gzip or tar+zstd) onto `target`.
///
/// Two threads share the work: this one decompresses and hashes the stream (so the
/// diffID covers every byte, including what follows the tar's end marker), a scoped
/// worker parses the tar and makes the files. On two or more cores that overlaps
/// inflate + sha256 with the file system calls, as `tar -xz` does with its gzip child.
pub fn apply(reader: impl Read, target: &Path, opts: &ApplyOptions) -> Result<ApplyStats> {
    let root = rustix::fs::open(
        target,
        OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .ctx("open layer target", target)?;
    let plain = decompress(reader).map_err(|e| Error::layer("", format!("decompress: {e}")))?;
    let mut hashing = HashingReader::new(plain, Algorithm::Sha256);
    let chown = !opts.no_chown && rustix::process::geteuid().is_root();
    let ctx = Applier {
        root: root.as_fd(),
        target,
        opts,
        chown,
        created: HashSet::new(),
        dir_times: Vec::new(),
        cache: None,
        buf: vec![0u8; 256 * 1024],
    };
    let (tx, rx) = std::sync::mpsc::sync_channel::<io::Result<Vec<u8>>>(PIPELINE_DEPTH);
    let (worker, read_result) = std::thread::scope(|scope| {
        let handle = scope.spawn(move || apply_entries(ctx, ChannelReader::new(rx)));
        // Feed the worker until the stream ends, a read fails or the worker stops
        // listening: then it either failed (its error wins) or reached the tar's end
        // marker, and `hashing.finish()` below reads the rest for the diffID.
        let read_result = loop {
            let mut chunk = vec![0u8; PIPELINE_CHUNK];
            let n = match read_full(&mut hashing, &mut chunk) {
                Ok(n) => n,
                Err(e) => {
                    let _ = tx.send(Err(io::Error::new(e.kind(), e.to_string())));
                    break Err(e);
                }
            };
            if n == 0 {
                break Ok(());
            }
            chunk.truncate(n);
            if tx.send(Ok(chunk)).is_err() {
                break Ok(());
            }
        };
        drop(tx);
        let worker = handle
            .join()
            .unwrap_or_else(|_| Err(Error::layer("", "layer worker thread panicked")));
        (worker, read_result)
    });
    let (mut ctx, entries) = worker?;
    read_result.map_err(|e| Error::layer("", format!("read tar trailer: {e}")))?;
    let (diff_id, tar_size) = hashing
        .finish()
        .map_err(|e| Error::layer("", format!("read tar trailer: {e}")))?;
    if let Some(want) = &opts.expected_diff_id
        && want != &diff_id
    {
        return Err(Error::DigestMismatch {
            what: format!("layer diffID applied to {}", target.display()),
            expected: want.to_string(),
            actual: diff_id.to_string(),
        });
    }
    ctx.finish_dirs()?;
    Ok(ApplyStats {
        diff_id,
        tar_size,
        entries,
    })
}

/// Bytes per chunk handed from the decompressing thread to the tar worker.
const PIPELINE_CHUNK: usize = 256 * 1024;
/// Chunks in flight between the two (bounds memory to about 2 MiB).
const PIPELINE_DEPTH: usize = 8;

/// Read until `buf` is full or the stream ends.
fn read_full(r: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match r.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

/// The worker's side of the pipeline: a `Read` over the chunks sent to it.
struct ChannelReader {
    rx: std::sync::mpsc::Receiver<io::Result<Vec<u8>>>,
    chunk: Vec<u8>,
    pos: usize,
}

impl ChannelReader {
    fn new(rx: std::sync::mpsc::Receiver<io::Result<Vec<u8>>>) -> Self {
        ChannelReader {
            rx,
            chunk: Vec::new(),
            pos: 0,
        }
    }
}

impl Read for ChannelReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.pos == self.chunk.len() {
            match self.rx.recv() {
                Ok(Ok(c)) => {
                    self.chunk = c;
                    self.pos = 0;
                }
                Ok(Err(e)) => return Err(e),
                Err(_) => return Ok(0), // the stream ended
            }
        }
        let n = buf.len().min(self.chunk.len() - self.pos);
        buf[..n].copy_from_slice(&self.chunk[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

/// Parse the tar and apply each entry (the worker thread).
fn apply_entries<'a>(mut ctx: Applier<'a>, reader: ChannelReader) -> Result<(Applier<'a>, u64)> {
    let mut entries = 0u64;
    let mut archive = tar::Archive::new(reader);
    let iter = archive
        .entries()
        .map_err(|e| Error::layer("", format!("read tar: {e}")))?;
    for entry in iter {
        let mut entry = entry.map_err(|e| Error::layer("", format!("read tar: {e}")))?;
        entries += 1;
        ctx.entry(&mut entry)?;
    }
    Ok((ctx, entries))
}

struct Applier<'a> {
    root: BorrowedFd<'a>,
    target: &'a Path,
    opts: &'a ApplyOptions,
    chown: bool,
    /// Paths this layer created (kept by an opaque marker that comes after them).
    created: HashSet<Vec<u8>>,
    dir_times: Vec<(Vec<u8>, i64)>,
    /// Last parent directory opened: (relative path, fd).
    cache: Option<(Vec<u8>, OwnedFd)>,
    buf: Vec<u8>,
}

/// Split a tar path into clean components; `..` is an error.
fn components(raw: &[u8]) -> std::result::Result<Vec<&[u8]>, String> {
    if raw.first() == Some(&b'/') {
        return Err("absolute path".to_string());
    }
    let mut out = Vec::new();
    for c in raw.split(|b| *b == b'/') {
        match c {
            b"" | b"." => {}
            b".." => return Err("path contains '..'".to_string()),
            c => out.push(c),
        }
    }
    Ok(out)
}

fn join(comps: &[&[u8]]) -> Vec<u8> {
    comps.join(&b'/')
}

fn name_str(raw: &[u8]) -> String {
    String::from_utf8_lossy(raw).into_owned()
}

fn is_not_found(e: &rustix::io::Errno) -> bool {
    *e == rustix::io::Errno::NOENT
}

impl<'a> Applier<'a> {
    fn err(&self, entry: &[u8], what: &str, e: impl std::fmt::Display) -> Error {
        Error::layer(name_str(entry), format!("{what}: {e}"))
    }

    /// Open a directory of the target by relative path, confined to the root.
    fn open_in_root(&self, rel: &[u8]) -> rustix::io::Result<OwnedFd> {
        let path: &OsStr = if rel.is_empty() {
            OsStr::new(".")
        } else {
            OsStr::from_bytes(rel)
        };
        rustix::fs::openat2(
            self.root,
            path,
            OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
            ResolveFlags::IN_ROOT | ResolveFlags::NO_MAGICLINKS,
        )
    }

    /// The parent directory of an entry, created (0755) if missing.
    fn parent(&mut self, entry: &[u8], comps: &[&[u8]]) -> Result<BorrowedFd<'_>> {
        let rel = join(comps);
        let hit = matches!(&self.cache, Some((p, _)) if *p == rel);
        if !hit {
            let fd = match self.open_in_root(&rel) {
                Ok(fd) => fd,
                Err(e) if is_not_found(&e) => self.make_dirs(entry, comps)?,
                Err(e) => return Err(self.err(entry, "open parent directory", e)),
            };
            self.cache = Some((rel, fd));
        }
        match &self.cache {
            Some((_, fd)) => Ok(fd.as_fd()),
            None => Err(self.err(entry, "open parent directory", "lost")),
        }
    }

    fn make_dirs(&self, entry: &[u8], comps: &[&[u8]]) -> Result<OwnedFd> {
        let mut fd = self
            .open_in_root(b"")
            .map_err(|e| self.err(entry, "open root", e))?;
        for i in 0..comps.len() {
            let rel = join(&comps[..=i]);
            match self.open_in_root(&rel) {
                Ok(next) => fd = next,
                Err(e) if is_not_found(&e) => {
                    match rustix::fs::mkdirat(&fd, comps[i], Mode::from_raw_mode(0o755)) {
                        Ok(()) => {}
                        Err(e) if e == rustix::io::Errno::EXIST => {}
                        Err(e) => return Err(self.err(entry, "create parent directory", e)),
                    }
                    fd = self.open_in_root(&rel).map_err(|e| {
                        self.err(
                            entry,
                            &format!(
                                "parent {:?} is a symlink leading nowhere inside the root",
                                name_str(&rel)
                            ),
                            e,
                        )
                    })?;
                }
                Err(e) => return Err(self.err(entry, "open parent directory", e)),
            }
        }
        Ok(fd)
    }

    fn entry<R: Read>(&mut self, entry: &mut tar::Entry<'_, R>) -> Result<()> {
        let raw_path = entry.path_bytes().into_owned();
        let comps = components(&raw_path).map_err(|r| Error::layer(name_str(&raw_path), r))?;
        let kind = entry.header().entry_type();
        if matches!(kind, tar::EntryType::XGlobalHeader) {
            return Ok(());
        }
        let Some((name, parents)) = comps.split_last() else {
            return Ok(()); // the root itself: keep the target's own metadata
        };
        let name: &[u8] = name;
        let rel = join(&comps);
        if let Some(hidden) = name.strip_prefix(WHITEOUT_PREFIX.as_bytes()) {
            return self.whiteout(&raw_path, parents, name, hidden);
        }
        let header = entry.header();
        let mode = header.mode().map_err(|e| self.err(&raw_path, "mode", e))? & 0o7777;
        // Some writers leave numeric fields blank; tar and Go read that as 0.
        let uid = header.uid().unwrap_or(0);
        let gid = header.gid().unwrap_or(0);
        let mtime = header.mtime().unwrap_or(0) as i64;
        let size = entry.size();
        let xattrs = xattrs(entry, &raw_path)?;
        let link = entry.link_name_bytes().map(|l| l.into_owned());
        let dev = (
            entry.header().device_major().ok().flatten().unwrap_or(0),
            entry.header().device_minor().ok().flatten().unwrap_or(0),
        );
        let (uid, gid) = (
            u32::try_from(uid).map_err(|_| self.err(&raw_path, "uid", "out of range"))?,
            u32::try_from(gid).map_err(|_| self.err(&raw_path, "gid", "out of range"))?,
        );
        let parents_owned: Vec<Vec<u8>> = parents.iter().map(|p| p.to_vec()).collect();
        let parents: Vec<&[u8]> = parents_owned.iter().map(|p| p.as_slice()).collect();
        match kind {
            tar::EntryType::Directory => {
                let existing_dir = {
                    let parent = self.parent(&raw_path, &parents)?;
                    match rustix::fs::statat(parent, name, AtFlags::SYMLINK_NOFOLLOW) {
                        Ok(st) => {
                            let is_dir = rustix::fs::FileType::from_raw_mode(st.st_mode)
                                == rustix::fs::FileType::Directory;
                            Some(is_dir)
                        }
                        Err(e) if is_not_found(&e) => None,
                        Err(e) => return Err(self.err(&raw_path, "stat", e)),
                    }
                };
                if existing_dir == Some(false) {
                    self.remove_existing(&raw_path, &parents, name)?;
                }
                if existing_dir != Some(true) {
                    let parent = self.parent(&raw_path, &parents)?;
                    rustix::fs::mkdirat(parent, name, Mode::from_raw_mode(0o700))
                        .map_err(|e| self.err(&raw_path, "mkdir", e))?;
                }
                let parent = self.parent(&raw_path, &parents)?;
                let fd = rustix::fs::openat(
                    parent,
                    name,
                    OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                    Mode::empty(),
                )
                .map_err(|e| self.err(&raw_path, "open directory", e))?;
                self.set_meta_fd(&raw_path, &fd, uid, gid, mode, &xattrs)?;
                self.dir_times.push((rel.clone(), mtime));
                self.cache = None;
            }
            tar::EntryType::Regular | tar::EntryType::Continuous => {
                self.remove_existing(&raw_path, &parents, name)?;
                let parent = self.parent(&raw_path, &parents)?;
                let fd = rustix::fs::openat(
                    parent,
                    name,
                    OFlags::WRONLY
                        | OFlags::CREATE
                        | OFlags::EXCL
                        | OFlags::NOFOLLOW
                        | OFlags::CLOEXEC,
                    Mode::from_raw_mode(0o600),
                )
                .map_err(|e| self.err(&raw_path, "create file", e))?;
                let mut file = File::from(fd);
                let mut copied = 0u64;
                loop {
                    let n = entry
                        .read(&mut self.buf)
                        .map_err(|e| self.err(&raw_path, "read content", e))?;
                    if n == 0 {
                        break;
                    }
                    file.write_all(&self.buf[..n])
                        .map_err(|e| self.err(&raw_path, "write content", e))?;
                    copied += n as u64;
                }
                if copied != size {
                    return Err(self.err(
                        &raw_path,
                        "truncated",
                        format!("header says {size} bytes, archive holds {copied}"),
                    ));
                }
                self.set_meta_fd(&raw_path, &file, uid, gid, mode, &xattrs)?;
                rustix::fs::futimens(&file, &times(mtime))
                    .map_err(|e| self.err(&raw_path, "set mtime", e))?;
            }
            tar::EntryType::Symlink => {
                let target = link.ok_or_else(|| self.err(&raw_path, "symlink", "no target"))?;
                self.remove_existing(&raw_path, &parents, name)?;
                let parent = self.parent(&raw_path, &parents)?;
                rustix::fs::symlinkat(OsStr::from_bytes(&target), parent, name)
                    .map_err(|e| self.err(&raw_path, "symlink", e))?;
                self.set_meta_at(&raw_path, &parents, name, uid, gid, None, &xattrs, mtime)?;
            }
            tar::EntryType::Link => {
                let target = link.ok_or_else(|| self.err(&raw_path, "hardlink", "no target"))?;
                self.hardlink(&raw_path, &parents, name, &target)?;
            }
            tar::EntryType::Char | tar::EntryType::Block | tar::EntryType::Fifo => {
                self.remove_existing(&raw_path, &parents, name)?;
                let ft = match kind {
                    tar::EntryType::Char => rustix::fs::FileType::CharacterDevice,
                    tar::EntryType::Block => rustix::fs::FileType::BlockDevice,
                    _ => rustix::fs::FileType::Fifo,
                };
                let parent = self.parent(&raw_path, &parents)?;
                rustix::fs::mknodat(
                    parent,
                    name,
                    ft,
                    Mode::from_raw_mode(mode),
                    rustix::fs::makedev(dev.0, dev.1),
                )
                .map_err(|e| self.err(&raw_path, "mknod", e))?;
                self.set_meta_at(
                    &raw_path,
                    &parents,
                    name,
                    uid,
                    gid,
                    Some(mode),
                    &xattrs,
                    mtime,
                )?;
            }
            tar::EntryType::GNUSparse => {
                return Err(self.err(&raw_path, "unsupported", "GNU sparse entries"));
            }
            other => {
                return Err(self.err(&raw_path, "unsupported entry type", format!("{other:?}")));
            }
        }
        self.created.insert(rel);
        Ok(())
    }

    fn whiteout(
        &mut self,
        raw: &[u8],
        parents: &[&[u8]],
        name: &[u8],
        hidden: &[u8],
    ) -> Result<()> {
        let parents_owned: Vec<Vec<u8>> = parents.iter().map(|p| p.to_vec()).collect();
        let parents: Vec<&[u8]> = parents_owned.iter().map(|p| p.as_slice()).collect();
        if name == WHITEOUT_OPAQUE.as_bytes() {
            match self.opts.whiteouts {
                WhiteoutMode::Overlay => {
                    let dir_rel = join(&parents);
                    let parent = self.parent(raw, &parents)?;
                    let fd = rustix::fs::openat(
                        parent,
                        ".",
                        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
                        Mode::empty(),
                    )
                    .map_err(|e| self.err(raw, "open directory", e))?;
                    rustix::fs::fsetxattr(
                        &fd,
                        OVERLAY_OPAQUE_XATTR,
                        b"y",
                        rustix::fs::XattrFlags::empty(),
                    )
                    .map_err(|e| self.err(raw, "set opaque xattr", e))?;
                    let _ = dir_rel;
                }
                WhiteoutMode::Flat => {
                    let dir_rel = join(&parents);
                    let parent = self.parent(raw, &parents)?;
                    let fd = rustix::fs::openat(
                        parent,
                        ".",
                        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
                        Mode::empty(),
                    )
                    .map_err(|e| self.err(raw, "open directory", e))?;
                    let mut victims = Vec::new();
                    let dir = rustix::fs::Dir::read_from(&fd)
                        .map_err(|e| self.err(raw, "read directory", e))?;
                    for ent in dir {
                        let ent = ent.map_err(|e| self.err(raw, "read directory", e))?;
                        let n = ent.file_name().to_bytes();
                        if n == b"." || n == b".." {
                            continue;
                        }
                        let mut child = dir_rel.clone();
                        if !child.is_empty() {
                            child.push(b'/');
                        }
                        child.extend_from_slice(n);
                        if !self.created.contains(&child) {
                            victims.push(n.to_vec());
                        }
                    }
                    for v in victims {
                        remove_all_at(&fd, &v).map_err(|e| self.err(raw, "opaque: remove", e))?;
                    }
                    self.cache = None;
                }
            }
            return Ok(());
        }
        if hidden.is_empty() || hidden == b"." || hidden == b".." || hidden.contains(&b'/') {
            return Err(self.err(raw, "whiteout", "invalid name"));
        }
        match self.opts.whiteouts {
            WhiteoutMode::Flat => {
                let parent = match self.open_in_root(&join(&parents)) {
                    Ok(fd) => fd,
                    Err(e) if is_not_found(&e) => return Ok(()),
                    Err(e) => return Err(self.err(raw, "open parent directory", e)),
                };
                match remove_all_at(&parent, hidden) {
                    Ok(()) => {}
                    Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                    Err(e) => return Err(self.err(raw, "whiteout: remove", e)),
                }
                self.cache = None;
            }
            WhiteoutMode::Overlay => {
                self.remove_existing(raw, &parents, hidden)?;
                let parent = self.parent(raw, &parents)?;
                rustix::fs::mknodat(
                    parent,
                    hidden,
                    rustix::fs::FileType::CharacterDevice,
                    Mode::empty(),
                    rustix::fs::makedev(0, 0),
                )
                .map_err(|e| self.err(raw, "create whiteout device", e))?;
            }
        }
        Ok(())
    }

    fn hardlink(
        &mut self,
        raw: &[u8],
        parents: &[&[u8]],
        name: &[u8],
        target: &[u8],
    ) -> Result<()> {
        let tcomps = components(target).map_err(|r| self.err(raw, "hardlink target", r))?;
        let Some((tname, tparents)) = tcomps.split_last() else {
            return Err(self.err(raw, "hardlink", "target is the root"));
        };
        let tparent = match self.open_in_root(&join(tparents)) {
            Ok(fd) => Some(fd),
            Err(e) if is_not_found(&e) => None,
            Err(e) => return Err(self.err(raw, "hardlink target directory", e)),
        };
        let exists = tparent
            .as_ref()
            .is_some_and(|fd| rustix::fs::statat(fd, *tname, AtFlags::SYMLINK_NOFOLLOW).is_ok());
        let tparent = if exists {
            tparent
        } else if self.copy_up(raw, tparents, tname)? {
            self.open_in_root(&join(tparents)).ok()
        } else {
            None
        };
        let Some(tparent) = tparent else {
            return Err(self.err(
                raw,
                "hardlink",
                format!(
                    "target {:?} is not in this layer or below",
                    name_str(target)
                ),
            ));
        };
        self.remove_existing(raw, parents, name)?;
        let parent = self.parent(raw, parents)?;
        rustix::fs::linkat(&tparent, *tname, parent, name, AtFlags::empty())
            .map_err(|e| self.err(raw, "hardlink", e))?;
        Ok(())
    }

    /// Copy a file that exists only in a lower layer into the target (overlay mode).
    fn copy_up(&mut self, raw: &[u8], parents: &[&[u8]], name: &[u8]) -> Result<bool> {
        let mut rel = join(parents);
        if !rel.is_empty() {
            rel.push(b'/');
        }
        rel.extend_from_slice(name);
        for lower in &self.opts.lowers {
            let lroot = match rustix::fs::open(
                lower,
                OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
                Mode::empty(),
            ) {
                Ok(fd) => fd,
                Err(_) => continue,
            };
            let src = match rustix::fs::openat2(
                &lroot,
                OsStr::from_bytes(&rel),
                OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                Mode::empty(),
                ResolveFlags::IN_ROOT | ResolveFlags::NO_MAGICLINKS,
            ) {
                Ok(fd) => fd,
                Err(_) => continue,
            };
            let st = rustix::fs::fstat(&src).map_err(|e| self.err(raw, "stat lower", e))?;
            if rustix::fs::FileType::from_raw_mode(st.st_mode) != rustix::fs::FileType::RegularFile
            {
                return Ok(false);
            }
            let parent = self.parent(raw, parents)?;
            let dst = rustix::fs::openat(
                parent,
                name,
                OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                Mode::from_raw_mode(0o600),
            )
            .map_err(|e| self.err(raw, "copy up", e))?;
            let mut src = File::from(src);
            let mut dst = File::from(dst);
            io::copy(&mut src, &mut dst).map_err(|e| self.err(raw, "copy up", e))?;
            if self.chown {
                rustix::fs::fchown(
                    &dst,
                    Some(rustix::fs::Uid::from_raw(st.st_uid)),
                    Some(rustix::fs::Gid::from_raw(st.st_gid)),
                )
                .map_err(|e| self.err(raw, "copy up chown", e))?;
            }
            rustix::fs::fchmod(&dst, Mode::from_raw_mode(st.st_mode & 0o7777))
                .map_err(|e| self.err(raw, "copy up chmod", e))?;
            rustix::fs::futimens(&dst, &times(st.st_mtime))
                .map_err(|e| self.err(raw, "copy up mtime", e))?;
            return Ok(true);
        }
        Ok(false)
    }

    /// Remove whatever exists at parent/name (a directory with its contents).
    fn remove_existing(&mut self, raw: &[u8], parents: &[&[u8]], name: &[u8]) -> Result<()> {
        let parent = self.parent(raw, parents)?;
        match rustix::fs::statat(parent, name, AtFlags::SYMLINK_NOFOLLOW) {
            Ok(st) => {
                let is_dir = rustix::fs::FileType::from_raw_mode(st.st_mode)
                    == rustix::fs::FileType::Directory;
                let parent = self.parent(raw, parents)?;
                if is_dir {
                    let dup = rustix::io::fcntl_dupfd_cloexec(parent, 0)
                        .map_err(|e| self.err(raw, "dup", e))?;
                    self.cache = None;
                    remove_all_at(&dup, name).map_err(|e| self.err(raw, "replace directory", e))?;
                } else {
                    rustix::fs::unlinkat(parent, name, AtFlags::empty())
                        .map_err(|e| self.err(raw, "replace", e))?;
                }
                Ok(())
            }
            Err(e) if is_not_found(&e) => Ok(()),
            Err(e) => Err(self.err(raw, "stat", e)),
        }
    }

    fn set_meta_fd(
        &self,
        raw: &[u8],
        fd: impl AsFd,
        uid: u32,
        gid: u32,
        mode: u32,
        xattrs: &[(Vec<u8>, Vec<u8>)],
    ) -> Result<()> {
        if self.chown {
            rustix::fs::fchown(
                &fd,
                Some(rustix::fs::Uid::from_raw(uid)),
                Some(rustix::fs::Gid::from_raw(gid)),
            )
            .map_err(|e| self.err(raw, "chown", e))?;
        }
        rustix::fs::fchmod(&fd, Mode::from_raw_mode(mode))
            .map_err(|e| self.err(raw, "chmod", e))?;
        for (k, v) in xattrs {
            rustix::fs::fsetxattr(
                &fd,
                OsStr::from_bytes(k),
                v,
                rustix::fs::XattrFlags::empty(),
            )
            .map_err(|e| self.err(raw, &format!("set xattr {}", name_str(k)), e))?;
        }
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    fn set_meta_at(
        &mut self,
        raw: &[u8],
        parents: &[&[u8]],
        name: &[u8],
        uid: u32,
        gid: u32,
        mode: Option<u32>,
        xattrs: &[(Vec<u8>, Vec<u8>)],
        mtime: i64,
    ) -> Result<()> {
        let chown = self.chown;
        let parent = self.parent(raw, parents)?;
        if chown {
            rustix::fs::chownat(
                parent,
                name,
                Some(rustix::fs::Uid::from_raw(uid)),
                Some(rustix::fs::Gid::from_raw(gid)),
                AtFlags::SYMLINK_NOFOLLOW,
            )
            .map_err(|e| Error::layer(name_str(raw), format!("chown: {e}")))?;
        }
        if let Some(m) = mode {
            // Devices and fifos: chmod follows nothing here (not a symlink).
            rustix::fs::chmodat(parent, name, Mode::from_raw_mode(m), AtFlags::empty())
                .map_err(|e| Error::layer(name_str(raw), format!("chmod: {e}")))?;
        }
        if !xattrs.is_empty() {
            let path = PathBuf::from(format!("/proc/self/fd/{}", raw_fd(parent)))
                .join(OsStr::from_bytes(name));
            for (k, v) in xattrs {
                rustix::fs::lsetxattr(
                    &path,
                    OsStr::from_bytes(k),
                    v,
                    rustix::fs::XattrFlags::empty(),
                )
                .map_err(|e| Error::layer(name_str(raw), format!("set xattr: {e}")))?;
            }
        }
        rustix::fs::utimensat(parent, name, &times(mtime), AtFlags::SYMLINK_NOFOLLOW)
            .map_err(|e| Error::layer(name_str(raw), format!("set mtime: {e}")))?;
        Ok(())
    }

    /// Directory mtimes last: creating children changes them.
    fn finish_dirs(&mut self) -> Result<()> {
        let dirs = std::mem::take(&mut self.dir_times);
        for (rel, mtime) in dirs.iter().rev() {
            let fd = match self.open_in_root(rel) {
                Ok(fd) => fd,
                Err(e) if is_not_found(&e) => continue, // removed later in the layer
                Err(e) => return Err(self.err(rel, "open directory", e)),
            };
            let fd = rustix::fs::openat(
                &fd,
                ".",
                OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
                Mode::empty(),
            )
            .map_err(|e| self.err(rel, "open directory", e))?;
            rustix::fs::futimens(&fd, &times(*mtime)).map_err(|e| self.err(rel, "set mtime", e))?;
        }
        let _ = self.target;
        Ok(())
    }
}

fn raw_fd(fd: BorrowedFd<'_>) -> i32 {
    use std::os::fd::AsRawFd;
    fd.as_raw_fd()
}

fn times(mtime: i64) -> Timestamps {
    let t = rustix::fs::Timespec {
        tv_sec: mtime,
        tv_nsec: 0,
    };
    Timestamps {
        last_access: t,
        last_modification: t,
    }
}

/// PAX `SCHILY.xattr.*` records of an entry.
fn xattrs<R: Read>(entry: &mut tar::Entry<'_, R>, raw: &[u8]) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
    let mut out = Vec::new();
    let Some(exts) = entry
        .pax_extensions()
        .map_err(|e| Error::layer(name_str(raw), format!("pax header: {e}")))?
    else {
        return Ok(out);
    };
    for ext in exts {
        let ext = ext.map_err(|e| Error::layer(name_str(raw), format!("pax header: {e}")))?;
        if let Some(name) = ext.key_bytes().strip_prefix(b"SCHILY.xattr.") {
            out.push((name.to_vec(), ext.value_bytes().to_vec()));
        }
    }
    Ok(out)
}

/// Remove `name` under `dir` (recursively, never following symlinks).
pub(crate) fn remove_all_at(dir: impl AsFd, name: &[u8]) -> io::Result<()> {
    let dir = dir.as_fd();
    let st = rustix::fs::statat(dir, name, AtFlags::SYMLINK_NOFOLLOW)?;
    if rustix::fs::FileType::from_raw_mode(st.st_mode) == rustix::fs::FileType::Directory {
        let fd = rustix::fs::openat(
            dir,
            name,
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::empty(),
        )?;
        let mut names = Vec::new();
        for ent in rustix::fs::Dir::read_from(&fd)? {
            let ent = ent?;
            let n = ent.file_name().to_bytes();
            if n != b"." && n != b".." {
                names.push(n.to_vec());
            }
        }
        for n in names {
            remove_all_at(&fd, &n)?;
        }
        rustix::fs::unlinkat(dir, name, AtFlags::REMOVEDIR)?;
    } else {
        rustix::fs::unlinkat(dir, name, AtFlags::empty())?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tar_with(f: impl FnOnce(&mut tar::Builder<Vec<u8>>)) -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        f(&mut b);
        b.into_inner().expect("finish tar")
    }

    fn file(b: &mut tar::Builder<Vec<u8>>, path: &str, data: &[u8]) {
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_entry_type(tar::EntryType::Regular);
        b.append_data(&mut h, path, data).expect("append");
    }

    fn raw_entry(b: &mut tar::Builder<Vec<u8>>, kind: tar::EntryType, path: &[u8], link: &[u8]) {
        let mut h = tar::Header::new_old();
        h.as_old_mut().name[..path.len()].copy_from_slice(path);
        h.as_old_mut().linkname[..link.len()].copy_from_slice(link);
        h.set_entry_type(kind);
        h.set_mode(0o644);
        h.set_size(0);
        h.set_cksum();
        b.append(&h, io::empty()).expect("append");
    }

    #[test]
    fn simple_and_whiteouts() {
        let dir = tempfile::tempdir().expect("tempdir");
        let l1 = tar_with(|b| {
            file(b, "a/b.txt", b"hello");
            file(b, "a/c.txt", b"c");
            file(b, "d/e", b"e");
        });
        let stats = apply(&l1[..], dir.path(), &ApplyOptions::default()).expect("apply");
        assert_eq!(stats.diff_id, Digest::sha256(&l1));
        assert_eq!(
            std::fs::read(dir.path().join("a/b.txt")).expect("read"),
            b"hello"
        );
        let l2 = tar_with(|b| {
            file(b, "a/.wh.b.txt", b"");
            file(b, "d/.wh..wh..opq", b"");
            file(b, "d/new", b"n");
        });
        apply(&l2[..], dir.path(), &ApplyOptions::default()).expect("apply 2");
        assert!(!dir.path().join("a/b.txt").exists());
        assert!(dir.path().join("a/c.txt").exists());
        assert!(!dir.path().join("d/e").exists());
        assert!(dir.path().join("d/new").exists());
    }

    #[test]
    fn hostile() {
        let outside = tempfile::tempdir().expect("tempdir");
        let dir = tempfile::tempdir().expect("tempdir");
        let target = dir.path().join("root");
        std::fs::create_dir(&target).expect("mkdir");
        let o = outside.path().to_string_lossy().into_owned();
        let dotdot = tar_with(|b| raw_entry(b, tar::EntryType::Regular, b"../escape", b""));
        let e = apply(&dotdot[..], &target, &ApplyOptions::default()).expect_err("dotdot");
        assert!(e.to_string().contains(".."), "{e}");
        // symlink to outside, then write through it: resolved inside the root, where
        // it leads nowhere, so rejected.
        let through = tar_with(|b| {
            raw_entry(b, tar::EntryType::Symlink, b"link", o.as_bytes());
            file(b, "link/pwned", b"x");
        });
        let e = apply(&through[..], &target, &ApplyOptions::default()).expect_err("through");
        assert!(e.to_string().contains("symlink"), "{e}");
        assert!(!outside.path().join("pwned").exists());
        // a symlink to "/" is the root itself: confined.
        let to_root = tar_with(|b| {
            raw_entry(b, tar::EntryType::Symlink, b"up", b"../../../..");
            file(b, "up/inside", b"x");
        });
        apply(&to_root[..], &target, &ApplyOptions::default()).expect("confined");
        assert!(target.join("inside").exists());
        // hardlink to a host file.
        let hl = tar_with(|b| raw_entry(b, tar::EntryType::Link, b"shadow", b"etc/shadow"));
        let e = apply(&hl[..], &target, &ApplyOptions::default()).expect_err("hardlink");
        assert!(e.to_string().contains("not in this layer"), "{e}");
        // truncated
        let mut t = tar_with(|b| file(b, "big", &[7u8; 4096]));
        t.truncate(1024);
        assert!(apply(&t[..], &target, &ApplyOptions::default()).is_err());
        assert_eq!(std::fs::read_dir(outside.path()).expect("ls").count(), 0);
    }

    #[test]
    fn gzip_and_digest_check() {
        let dir = tempfile::tempdir().expect("tempdir");
        let l = tar_with(|b| file(b, "x", b"y"));
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(&l).expect("gz");
        let gz = gz.finish().expect("gz");
        let opts = ApplyOptions {
            expected_diff_id: Some(Digest::sha256(b"nope")),
            ..Default::default()
        };
        assert!(matches!(
            apply(&gz[..], dir.path(), &opts),
            Err(Error::DigestMismatch { .. })
        ));
        let opts = ApplyOptions {
            expected_diff_id: Some(Digest::sha256(&l)),
            ..Default::default()
        };
        apply(&gz[..], dir.path(), &opts).expect("ok");
        let e = apply(&gz[..gz.len() / 2], dir.path(), &opts).expect_err("truncated gzip");
        assert!(matches!(e, Error::InvalidLayer { .. }), "{e}");
    }
}
