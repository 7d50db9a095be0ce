//! Writing a tree as a tar by walking file descriptors: every step opens the next name
//! relative to its directory with `O_NOFOLLOW`, so a container that swaps a directory for
//! a symlink mid-copy cannot make the walk leave its root (used by `cp` and `export`).

use crate::error::{Error, Result};
use crate::transfer::{PathKind, kind_of, list_dir, reopen_dir, stat_at, sys};
use nix::fcntl::OFlag;
use nix::sys::stat::{FileStat, Mode, SFlag};
use std::collections::HashMap;
use std::ffi::OsStr;
use std::io::{Read, Write};
use std::os::fd::{AsFd, BorrowedFd};
use std::path::{Path, PathBuf};

/// A reader that fails instead of ending early, so a file that shrinks while it is
/// copied cannot leave a short (corrupt) tar entry.
struct Exact<R> {
    inner: R,
    left: u64,
}

impl<R: Read> Read for Exact<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.left == 0 {
            return Ok(0);
        }
        let max = buf.len().min(self.left.min(usize::MAX as u64) as usize);
        let n = self.inner.read(&mut buf[..max])?;
        if n == 0 {
            return Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "file shrank while it was copied",
            ));
        }
        self.left -= n as u64;
        Ok(n)
    }
}

/// Writes a tree as a tar by walking descriptors (never a path through a symlink).
pub(crate) struct TarWriter<W: Write> {
    b: tar::Builder<W>,
    owner: Option<(u32, u32)>,
    links: HashMap<(u64, u64), PathBuf>,
}

impl<W: Write> TarWriter<W> {
    pub(crate) fn new(out: W, owner: Option<(u32, u32)>) -> Self {
        TarWriter {
            b: tar::Builder::new(out),
            owner,
            links: HashMap::new(),
        }
    }

    pub(crate) fn finish(mut self) -> Result<()> {
        self.b.finish().map_err(|e| Error::Sys {
            what: "write tar",
            source: e,
        })
    }

    fn header(&self, st: &FileStat, kind: tar::EntryType) -> tar::Header {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(kind);
        h.set_mode(st.st_mode & 0o7777);
        let (uid, gid) = self.owner.unwrap_or((st.st_uid, st.st_gid));
        h.set_uid(uid.into());
        h.set_gid(gid.into());
        h.set_mtime(st.st_mtime.max(0) as u64);
        h.set_size(0);
        h
    }

    /// Append the file `name` of `dir` (and, for a directory, everything below it)
    /// under the archive name `arc`.
    pub(crate) fn append(&mut self, dir: BorrowedFd<'_>, name: &OsStr, arc: &Path) -> Result<()> {
        let st = stat_at(dir, name)?;
        let w = |e: std::io::Error| Error::Sys {
            what: "write tar",
            source: e,
        };
        match kind_of(&st) {
            PathKind::Directory => {
                let sub = reopen_dir(dir, name)?;
                let again = nix::sys::stat::fstat(&sub).map_err(|e| sys("stat", e))?;
                if again.st_ino != st.st_ino || again.st_dev != st.st_dev {
                    return Err(Error::Conflict(format!(
                        "{} changed while it was copied",
                        arc.display()
                    )));
                }
                let mut h = self.header(&again, tar::EntryType::Directory);
                self.b
                    .append_data(&mut h, arc, std::io::empty())
                    .map_err(w)?;
                for child in list_dir(&sub)? {
                    let carc = if arc == Path::new(".") {
                        PathBuf::from(&child)
                    } else {
                        arc.join(&child)
                    };
                    self.append(sub.as_fd(), &child, &carc)?;
                }
            }
            PathKind::File => {
                let key = (st.st_dev, st.st_ino);
                if st.st_nlink > 1 {
                    if let Some(first) = self.links.get(&key).cloned() {
                        let mut h = self.header(&st, tar::EntryType::Link);
                        return self.b.append_link(&mut h, arc, &first).map_err(w);
                    }
                    self.links.insert(key, arc.to_path_buf());
                }
                let fd = nix::fcntl::openat(
                    dir,
                    name,
                    OFlag::O_RDONLY | OFlag::O_NOFOLLOW | OFlag::O_NONBLOCK | OFlag::O_CLOEXEC,
                    Mode::empty(),
                )
                .map_err(|e| sys("open a file in the container", e))?;
                let st = nix::sys::stat::fstat(&fd).map_err(|e| sys("stat", e))?;
                if kind_of(&st) != PathKind::File {
                    return Err(Error::Conflict(format!(
                        "{} changed while it was copied",
                        arc.display()
                    )));
                }
                let mut h = self.header(&st, tar::EntryType::Regular);
                h.set_size(st.st_size as u64);
                let reader = Exact {
                    inner: std::fs::File::from(fd),
                    left: st.st_size as u64,
                };
                self.b.append_data(&mut h, arc, reader).map_err(w)?;
            }
            PathKind::Symlink => {
                let target = nix::fcntl::readlinkat(dir, name).map_err(|e| sys("readlink", e))?;
                let mut h = self.header(&st, tar::EntryType::Symlink);
                self.b
                    .append_link(&mut h, arc, Path::new(&target))
                    .map_err(w)?;
            }
            PathKind::Other => {
                let fmt = SFlag::from_bits_truncate(st.st_mode & SFlag::S_IFMT.bits());
                let kind = match fmt {
                    SFlag::S_IFCHR => tar::EntryType::Char,
                    SFlag::S_IFBLK => tar::EntryType::Block,
                    SFlag::S_IFIFO => tar::EntryType::Fifo,
                    _ => return Ok(()), // sockets are not archived (like tar)
                };
                let mut h = self.header(&st, kind);
                let dev = st.st_rdev;
                h.set_device_major(nix::sys::stat::major(dev) as u32)
                    .map_err(w)?;
                h.set_device_minor(nix::sys::stat::minor(dev) as u32)
                    .map_err(w)?;
                self.b
                    .append_data(&mut h, arc, std::io::empty())
                    .map_err(w)?;
            }
        }
        Ok(())
    }
}
