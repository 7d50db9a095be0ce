//! `diff`: what changed in a container's writable layer against its image, read from
//! the overlay upper directory (whiteouts are deletions, opaque directories hide what
//! was below them), walked by descriptor like everything in [`crate::transfer`].

use crate::engine::Engine;
use crate::error::{Error, Result};
use crate::transfer::{PathKind, io_err, kind_of, list_dir, open_dir_path, reopen_dir, stat_at};
use nix::fcntl::{OFlag, OpenHow, ResolveFlag};
use nix::sys::stat::{Mode, SFlag};
use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;

/// One change of a container's filesystem against its image (`docker diff`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Change {
    /// Absolute path inside the container.
    pub path: String,
    /// What happened to it.
    pub kind: ChangeKind,
}

/// The kind of a [`Change`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum ChangeKind {
    /// Changed (`C`).
    Modified,
    /// Added (`A`).
    Added,
    /// Deleted (`D`).
    Deleted,
}

impl ChangeKind {
    /// Docker's letter: `C`, `A` or `D`.
    pub fn letter(self) -> char {
        match self {
            ChangeKind::Modified => 'C',
            ChangeKind::Added => 'A',
            ChangeKind::Deleted => 'D',
        }
    }
}

impl std::fmt::Display for Change {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.kind.letter(), self.path)
    }
}

impl Engine {
    /// `docker diff`: what changed in the container's writable layer against its
    /// image, sorted by path. Whiteouts are deletions.
    pub fn diff(&self, container: &str) -> Result<Vec<Change>> {
        let rec = self.record(container)?;
        if rec.berth.snapshot.is_empty() {
            return Err(Error::Invalid(format!(
                "container {} runs on a --rootfs directory: it has no image layers to compare with",
                rec.short_name()
            )));
        }
        let store = crate::images::store(self)?;
        let snaps = store.snapshots();
        let key = &rec.berth.snapshot;
        if !snaps.exists(key).map_err(crate::images::img_err)? {
            return Ok(Vec::new());
        }
        let upper = snaps.upper_dir(key).map_err(crate::images::img_err)?;
        let lowers: Vec<OwnedFd> = snaps
            .lower_dirs(key)
            .map_err(crate::images::img_err)?
            .iter()
            .map(|l| open_dir_path(l))
            .collect::<Result<_>>()?;
        let upper_fd = nix::fcntl::open(
            &upper,
            OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
            Mode::empty(),
        )
        .map_err(|e| io_err("open", &upper.display().to_string(), e))?;
        let mut out = Vec::new();
        diff_dir(upper_fd.as_fd(), b"", &lowers, &mut out)?;
        // mount points the runtime had to create (like Docker's init layer) are not
        // the container's changes
        let mut targets: Vec<String> = rec.mounts.iter().map(|m| m.destination.clone()).collect();
        targets.extend(
            [
                "/etc/hosts",
                "/etc/hostname",
                "/etc/resolv.conf",
                "/dev",
                "/proc",
                "/sys",
            ]
            .map(String::from),
        );
        out.retain(|c| !(c.kind == ChangeKind::Added && targets.contains(&c.path)));
        out.sort();
        Ok(out)
    }
}

/// Does `rel` exist in the merged lower layers (nearest first)? A whiteout in a nearer
/// layer hides it; symlinks are never followed.
fn in_lowers(lowers: &[OwnedFd], rel: &[u8]) -> bool {
    let path = OsStr::from_bytes(rel);
    for l in lowers {
        let how = OpenHow::new()
            .flags(OFlag::O_PATH | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC)
            .resolve(ResolveFlag::RESOLVE_NO_SYMLINKS | ResolveFlag::RESOLVE_BENEATH);
        if let Ok(fd) = nix::fcntl::openat2(l.as_fd(), path, how) {
            let Ok(st) = nix::sys::stat::fstat(&fd) else {
                continue;
            };
            let whiteout = kind_of(&st) == PathKind::Other
                && SFlag::from_bits_truncate(st.st_mode & SFlag::S_IFMT.bits()) == SFlag::S_IFCHR
                && st.st_rdev == 0;
            return !whiteout;
        }
        // a whiteout file of the old (aufs) form, `.wh.<name>`
        if let Some(pos) = rel.iter().rposition(|b| *b == b'/') {
            let mut wh = rel[..=pos].to_vec();
            wh.extend_from_slice(b".wh.");
            wh.extend_from_slice(&rel[pos + 1..]);
            let how = OpenHow::new()
                .flags(OFlag::O_PATH | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC)
                .resolve(ResolveFlag::RESOLVE_NO_SYMLINKS | ResolveFlag::RESOLVE_BENEATH);
            if nix::fcntl::openat2(l.as_fd(), OsStr::from_bytes(&wh), how).is_ok() {
                return false;
            }
        }
    }
    false
}

fn is_opaque(dir: &OwnedFd) -> bool {
    let mut buf = [0u8; 4];
    // SAFETY: fgetxattr on an fd we own into a buffer of the given size.
    let n = unsafe {
        libc::fgetxattr(
            dir.as_raw_fd(),
            c"trusted.overlay.opaque".as_ptr(),
            buf.as_mut_ptr().cast(),
            buf.len(),
        )
    };
    n == 1 && buf[0] == b'y'
}

/// Walk an upper directory by descriptor; `rel` is the path below the root.
fn diff_dir(
    dir: BorrowedFd<'_>,
    rel: &[u8],
    lowers: &[OwnedFd],
    out: &mut Vec<Change>,
) -> Result<()> {
    let owned = reopen_dir(dir, OsStr::new("."))?;
    for name in list_dir(&owned)? {
        let mut child = rel.to_vec();
        if !child.is_empty() {
            child.push(b'/');
        }
        child.extend_from_slice(name.as_bytes());
        let path = format!("/{}", String::from_utf8_lossy(&child));
        let st = stat_at(owned.as_fd(), &name)?;
        let fmt = SFlag::from_bits_truncate(st.st_mode & SFlag::S_IFMT.bits());
        if fmt == SFlag::S_IFCHR && st.st_rdev == 0 {
            out.push(Change {
                path,
                kind: ChangeKind::Deleted,
            });
            continue;
        }
        let existed = in_lowers(lowers, &child);
        out.push(Change {
            path,
            kind: if existed {
                ChangeKind::Modified
            } else {
                ChangeKind::Added
            },
        });
        if fmt == SFlag::S_IFDIR {
            let sub = reopen_dir(owned.as_fd(), &name)?;
            // an opaque directory hides all below it: what is in it now is all new
            if existed && is_opaque(&sub) {
                diff_dir(sub.as_fd(), &child, &[], out)?;
            } else {
                diff_dir(sub.as_fd(), &child, lowers, out)?;
            }
        }
    }
    Ok(())
}

/// A summary of changes by kind (for tests and tools).
pub fn count_changes(changes: &[Change]) -> BTreeMap<char, usize> {
    let mut m = BTreeMap::new();
    for c in changes {
        *m.entry(c.kind.letter()).or_insert(0) += 1;
    }
    m
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changes_print_like_docker() {
        let c = Change {
            path: "/etc/x".into(),
            kind: ChangeKind::Deleted,
        };
        assert_eq!(c.to_string(), "D /etc/x");
        assert_eq!(count_changes(&[c])[&'D'], 1);
    }
}
