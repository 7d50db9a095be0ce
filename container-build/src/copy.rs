//! Copying files into a mounted root file system for `COPY`/`ADD`: owners, modes,
//! symlinks kept as links, excludes, and local tar archives unpacked by `ADD`.

use crate::context::{PatternMatcher, rel_str, resolve_scoped};
use crate::error::{BuildError, IoCtx, Result};
use std::io::Read;
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// How copied entries are owned and moded.
#[derive(Debug, Clone, Default)]
pub struct CopyAttrs {
    /// Owner for every copied entry (`None`: keep the source's).
    pub owner: Option<(u32, u32)>,
    /// Mode for every copied entry (`--chmod`).
    pub mode: Option<u32>,
    /// `--exclude` patterns, matched relative to the source.
    pub exclude: PatternMatcher,
}

fn lchown(p: &Path, uid: u32, gid: u32) -> Result<()> {
    std::os::unix::fs::lchown(p, Some(uid), Some(gid)).ctx("chown", p)
}

/// Create the directory `abs` inside `root` (an absolute path of the image), each
/// missing parent with mode 0755 owned by `owner` (root by default).
pub fn mkdir_all(root: &Path, abs: &str, owner: Option<(u32, u32)>) -> Result<PathBuf> {
    let mut cur = String::new();
    for c in abs.split('/').filter(|c| !c.is_empty()) {
        cur.push('/');
        cur.push_str(c);
        let p = resolve_scoped(root, &cur, true);
        match p.symlink_metadata() {
            Ok(m) if m.is_dir() => {}
            Ok(_) => {
                std::fs::remove_file(&p).ctx("replace", &p)?;
                make_dir(&p, owner)?;
            }
            Err(_) => make_dir(&p, owner)?,
        }
    }
    Ok(resolve_scoped(root, abs, true))
}

fn make_dir(p: &Path, owner: Option<(u32, u32)>) -> Result<()> {
    std::fs::create_dir(p).ctx("create directory", p)?;
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o755)).ctx("chmod", p)?;
    let (u, g) = owner.unwrap_or((0, 0));
    lchown(p, u, g)
}

/// Copy the file system entry `src` to `dst` (a host path inside the rootfs), recursively.
/// `rel` is `src`'s path relative to the copy's source root, for excludes.
pub fn copy_entry(src: &Path, dst: &Path, rel: &str, attrs: &CopyAttrs) -> Result<()> {
    if !rel.is_empty() && attrs.exclude.matches(rel) {
        return Ok(());
    }
    let m = src.symlink_metadata().ctx("stat", src)?;
    let ft = m.file_type();
    if let Ok(existing) = dst.symlink_metadata()
        && !(existing.is_dir() && ft.is_dir())
    {
        if existing.is_dir() {
            std::fs::remove_dir_all(dst).ctx("replace", dst)?;
        } else {
            std::fs::remove_file(dst).ctx("replace", dst)?;
        }
    }
    let (uid, gid) = attrs.owner.unwrap_or((m.uid(), m.gid()));
    if ft.is_dir() {
        if dst.symlink_metadata().is_err() {
            std::fs::create_dir(dst).ctx("create directory", dst)?;
        }
        let mut names: Vec<_> = std::fs::read_dir(src)
            .ctx("read directory", src)?
            .filter_map(|e| e.ok().map(|e| e.file_name()))
            .collect();
        names.sort();
        for n in names {
            let child_rel = if rel.is_empty() {
                n.to_string_lossy().into_owned()
            } else {
                format!("{rel}/{}", n.to_string_lossy())
            };
            copy_entry(&src.join(&n), &dst.join(&n), &child_rel, attrs)?;
        }
        let mode = attrs.mode.unwrap_or(m.permissions().mode() & 0o7777);
        lchown(dst, uid, gid)?;
        std::fs::set_permissions(dst, std::fs::Permissions::from_mode(mode)).ctx("chmod", dst)?;
    } else if ft.is_symlink() {
        let t = std::fs::read_link(src).ctx("read link", src)?;
        std::os::unix::fs::symlink(&t, dst).ctx("symlink", dst)?;
        lchown(dst, uid, gid)?;
    } else if ft.is_file() {
        std::fs::copy(src, dst).ctx("copy", src)?;
        let mode = attrs.mode.unwrap_or(m.permissions().mode() & 0o7777);
        lchown(dst, uid, gid)?;
        std::fs::set_permissions(dst, std::fs::Permissions::from_mode(mode)).ctx("chmod", dst)?;
    } else if ft.is_fifo() {
        nix::unistd::mkfifo(dst, nix::sys::stat::Mode::from_bits_truncate(m.mode())).map_err(
            |e| BuildError::Io {
                op: "mkfifo",
                path: dst.to_path_buf(),
                source: e.into(),
            },
        )?;
        lchown(dst, uid, gid)?;
    } else {
        // Sockets and device nodes are not copied (Docker skips sockets too).
        return Ok(());
    }
    let mtime = filetime::FileTime::from_last_modification_time(&m);
    filetime::set_symlink_file_times(dst, mtime, mtime).ctx("set times", dst)?;
    Ok(())
}

/// True when the file at `p` is a tar archive (plain, gzip or zstd) that `ADD` unpacks.
pub fn is_archive(p: &Path) -> bool {
    let Ok(f) = std::fs::File::open(p) else {
        return false;
    };
    let mut head = Vec::with_capacity(512);
    let Ok(reader) = container_image::layer::decompress(std::io::BufReader::new(f)) else {
        return false;
    };
    if reader.take(512).read_to_end(&mut head).is_err() || head.len() < 512 {
        return false;
    }
    &head[257..262] == b"ustar" || tar_checksum_ok(&head)
}

fn tar_checksum_ok(h: &[u8]) -> bool {
    let field = String::from_utf8_lossy(&h[148..156]);
    let Ok(want) = u32::from_str_radix(field.trim_matches(|c: char| c == '\0' || c == ' '), 8)
    else {
        return false;
    };
    let sum: u32 = h
        .iter()
        .enumerate()
        .map(|(i, b)| {
            if (148..156).contains(&i) {
                32
            } else {
                u32::from(*b)
            }
        })
        .sum();
    sum == want
}

/// Unpack the archive `src` into the directory `dst` (inside a mounted rootfs).
pub fn extract_archive(src: &Path, dst: &Path) -> Result<()> {
    let f = std::fs::File::open(src).ctx("open", src)?;
    container_image::layer::apply(
        std::io::BufReader::new(f),
        dst,
        &container_image::layer::ApplyOptions::default(),
    )?;
    Ok(())
}

/// Where a source goes: `dest` as given (absolute in the image), whether it names a
/// directory, and the source's base name.
pub fn target_path(root: &Path, dest: &str, dest_is_dir: bool, base: &str) -> (String, PathBuf) {
    let abs = if dest_is_dir {
        format!("{}/{base}", dest.trim_end_matches('/'))
    } else {
        dest.to_string()
    };
    let host = resolve_scoped(root, &abs, false);
    (abs, host)
}

/// `rel`'s base name.
pub fn base_name(rel: &str) -> String {
    rel.rsplit('/').next().unwrap_or(rel).to_string()
}

/// Relative path of `p` below `root`.
pub fn rel(root: &Path, p: &Path) -> String {
    rel_str(root, p)
}
