//! `cp` and `export`: moving files in and out of a container's filesystem.
//!
//! A container's filesystem is hostile: its processes may swap a directory for a
//! symlink to `/` while we copy (CVE-2018-15664). So nothing here resolves a container
//! path through the host's view. Every path is resolved with
//! `openat2(RESOLVE_IN_ROOT)` relative to a descriptor of the container's root
//! (`/proc/<pid>/root` while it runs, a private mount of its snapshot when it is
//! stopped), trees are walked by descriptor with `O_NOFOLLOW` at every step, and tars
//! copied in are applied by `container_image::layer::apply`, which resolves each parent
//! the same way and never follows the final component.

use crate::engine::Engine;
use crate::error::{Error, Result};
use crate::fsutil::{self, FileLock};
use crate::model::ContainerRecord;
use crate::state::process_alive;
use crate::tarwalk::TarWriter;
use nix::errno::Errno;
use nix::fcntl::{AtFlags, OFlag, OpenHow, ResolveFlag};
use nix::sys::stat::{FileStat, Mode, SFlag};
use std::ffi::{OsStr, OsString};
use std::io::{Read, Write};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};

/// What kind of file a path names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PathKind {
    /// A directory.
    Directory,
    /// A regular file.
    File,
    /// A symbolic link (not followed).
    Symlink,
    /// A device, fifo or socket.
    Other,
}

/// Options of [`Engine::copy_in`].
#[derive(Debug, Clone, Copy, Default)]
pub struct CopyInOptions {
    /// Keep the host files' uid/gid (`docker cp -a`); else everything is owned by root.
    pub archive: bool,
    /// Follow a symlink named as the source (`docker cp -L`): copy what it points to,
    /// under the link's name.
    pub follow_link: bool,
}

/// Options of [`Engine::copy_out`].
#[derive(Debug, Clone, Copy, Default)]
pub struct CopyOutOptions {
    /// Follow a symlink named as the source, inside the container's scope
    /// (`docker cp -L`): copy what it points to, under the link's name.
    pub follow_link: bool,
}

/// Most symlinks followed for one path, as Linux's `MAXSYMLINKS`.
const MAX_SYMLINKS: usize = 40;

/// The last component of a `cp` path (`a/b/` gives `b`).
pub fn last_component(path: &str) -> &str {
    let t = path.trim_end_matches('/');
    t.rsplit('/').next().unwrap_or(t)
}

pub(crate) fn sys(what: &'static str, e: Errno) -> Error {
    Error::Sys {
        what,
        source: std::io::Error::from_raw_os_error(e as i32),
    }
}

pub(crate) fn io_err(what: &'static str, path: &str, e: Errno) -> Error {
    Error::io(what, path, std::io::Error::from_raw_os_error(e as i32))
}

/// A descriptor of a container's root, with whatever was mounted to get it.
struct RootView {
    fd: OwnedFd,
    mount: Option<PathBuf>,
    _lock: Option<FileLock>,
}

impl Drop for RootView {
    fn drop(&mut self) {
        if let Some(m) = self.mount.take() {
            // the rootfs with any volumes bound over it: detach the whole tree
            let _ = nix::mount::umount2(&m, nix::mount::MntFlags::MNT_DETACH);
            let _ = std::fs::remove_dir(&m);
        }
    }
}

/// Which view of the filesystem an operation needs.
#[derive(Clone, Copy, PartialEq, Eq)]
enum View {
    /// What the container's processes see, volumes included (cp).
    Live,
    /// The container's own rootfs without volumes (export).
    RootfsOnly,
}

pub(crate) fn open_dir_path(p: &Path) -> Result<OwnedFd> {
    nix::fcntl::open(
        p,
        OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| Error::io("open", p, std::io::Error::from_raw_os_error(e as i32)))
}

fn is_running(rec: &ContainerRecord) -> bool {
    rec.state.running && rec.state.pid > 0
}

impl Engine {
    /// A root descriptor for `rec`; for a stopped container its rootfs is mounted
    /// privately (under the container's lock, so it cannot start meanwhile).
    fn root_view(&self, rec: &ContainerRecord, view: View) -> Result<RootView> {
        if is_running(rec) && (view == View::Live || rec.berth.snapshot.is_empty()) {
            let fd = open_dir_path(Path::new(&format!("/proc/{}/root", rec.state.pid)))?;
            if !process_alive(rec.state.pid, rec.berth.pid_start) {
                return Err(Error::Conflict(format!(
                    "container {} stopped during the copy",
                    rec.id
                )));
            }
            return Ok(RootView {
                fd,
                mount: None,
                _lock: None,
            });
        }
        let dir = self.containers.dir_of(&rec.id);
        let rootfs_link = dir.join("rootfs-path");
        if rootfs_link.exists() {
            let p = std::fs::read_to_string(&rootfs_link)
                .map_err(|e| Error::io("read", &rootfs_link, e))?;
            return Ok(RootView {
                fd: open_dir_path(Path::new(&p))?,
                mount: None,
                _lock: None,
            });
        }
        let tmp = dir.join(format!(".view-{}", hex::encode(fsutil::random_bytes(6)?)));
        std::fs::create_dir_all(&tmp).map_err(|e| Error::io("create", &tmp, e))?;
        let lock;
        if is_running(rec) {
            // a read-only overlay of the live upper dir over the image layers
            lock = None;
            let store = crate::images::store(self)?;
            let snaps = store.snapshots();
            let key = &rec.berth.snapshot;
            let upper = snaps.upper_dir(key).map_err(crate::images::img_err)?;
            let lowers = snaps.lower_dirs(key).map_err(crate::images::img_err)?;
            let m = if lowers.is_empty() {
                container_image::Mount {
                    kind: "bind".into(),
                    source: upper.display().to_string(),
                    options: vec!["rbind".into(), "ro".into()],
                }
            } else {
                let mut dirs = vec![upper.display().to_string()];
                dirs.extend(lowers.iter().map(|l| l.display().to_string()));
                container_image::Mount {
                    kind: "overlay".into(),
                    source: "overlay".into(),
                    options: vec!["ro".into(), format!("lowerdir={}", dirs.join(":"))],
                }
            };
            if let Err(e) = m.mount(&tmp) {
                let _ = std::fs::remove_dir(&tmp);
                return Err(crate::images::img_err(e));
            }
        } else {
            let l = self.containers.lock(&rec.id)?;
            let fresh = self.containers.load(&rec.id)?;
            if is_running(&fresh) {
                drop(l);
                let _ = std::fs::remove_dir(&tmp);
                return self.root_view(&fresh, view);
            }
            if let Err(e) = crate::images::mount_rootfs(self, &fresh, &tmp) {
                let _ = std::fs::remove_dir(&tmp);
                return Err(e);
            }
            if view == View::Live
                && let Err(e) = mount_volumes(&fresh, &tmp)
            {
                let _ = container_image::unmount(&tmp);
                let _ = std::fs::remove_dir(&tmp);
                return Err(e);
            }
            lock = Some(l);
        }
        let fd = match open_dir_path(&tmp) {
            Ok(fd) => fd,
            Err(e) => {
                let _ = container_image::unmount(&tmp);
                let _ = std::fs::remove_dir(&tmp);
                return Err(e);
            }
        };
        Ok(RootView {
            fd,
            mount: Some(tmp),
            _lock: lock,
        })
    }

    /// What `path` names inside the container (`None`: nothing there). A final symlink
    /// is reported as such, not followed.
    pub fn path_kind(&self, container: &str, path: &str) -> Result<Option<PathKind>> {
        let rec = self.record(container)?;
        let root = self.root_view(&rec, View::Live)?;
        match resolve(root.fd.as_fd(), path, container) {
            Ok((parent, name)) => Ok(Some(kind_of(&stat_at(parent.as_fd(), &name)?))),
            Err(Error::NoSuchPath { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// `docker cp -L`: `path` with the symlinks at its end followed (each resolved in
    /// the container's scope, so a link cannot point outside its root; at most 40), as
    /// a path in the container. A path that names no symlink comes back unchanged.
    pub fn follow_symlinks(&self, container: &str, path: &str) -> Result<String> {
        let rec = self.record(container)?;
        let root = self.root_view(&rec, View::Live)?;
        let mut cur = path.to_string();
        for _ in 0..MAX_SYMLINKS {
            let (parent, base) = resolve(root.fd.as_fd(), &cur, container)?;
            if kind_of(&stat_at(parent.as_fd(), &base)?) != PathKind::Symlink {
                return Ok(cur);
            }
            let target = nix::fcntl::readlinkat(parent.as_fd(), base.as_os_str())
                .map_err(|e| sys("read a symlink in the container", e))?;
            let target = target.to_string_lossy();
            cur = if target.starts_with('/') {
                target.into_owned()
            } else {
                let trimmed = cur.trim_end_matches('/');
                match trimmed.rsplit_once('/') {
                    Some((dir, _)) => format!("{dir}/{target}"),
                    None => target.into_owned(),
                }
            };
        }
        Err(Error::Invalid(format!(
            "too many levels of symbolic links in {path} of container {container}"
        )))
    }

    /// Write `path` of the container as a tar to `out`, its top entry named `name`
    /// (default: the path's last component; `.` when the path ends in `/.`, so only the
    /// content is written). A final symlink is copied as a symlink.
    pub fn copy_from(
        &self,
        container: &str,
        path: &str,
        name: Option<&str>,
        out: &mut dyn Write,
    ) -> Result<()> {
        let rec = self.record(container)?;
        let root = self.root_view(&rec, View::Live)?;
        let (parent, base) = resolve(root.fd.as_fd(), path, container)?;
        let arc = match name {
            Some(n) => PathBuf::from(n),
            None if path.ends_with("/.") => PathBuf::from("."),
            None => match base.as_bytes() {
                b"." | b".." => PathBuf::from("."),
                _ => PathBuf::from(&base),
            },
        };
        let mut w = TarWriter::new(out, None);
        w.append(parent.as_fd(), &base, &arc)?;
        w.finish()
    }

    /// Extract the tar in `input` into the directory `dir` of the container (it must
    /// exist). Entries cannot leave `dir`: `..`, absolute names and symlinks are
    /// confined to it by `openat2(RESOLVE_IN_ROOT)`.
    pub fn copy_to(&self, container: &str, dir: &str, input: &mut dyn Read) -> Result<()> {
        let rec = self.record(container)?;
        let root = self.root_view(&rec, View::Live)?;
        let target = open_in_root(
            root.fd.as_fd(),
            dir,
            OFlag::O_PATH | OFlag::O_DIRECTORY,
            container,
        )
        .map_err(|e| match e {
            Error::Sys { source, .. } if source.raw_os_error() == Some(libc::ENOTDIR) => {
                Error::Invalid(format!("extraction point {dir} is not a directory"))
            }
            e => e,
        })?;
        let via = PathBuf::from(format!("/proc/self/fd/{}", target.as_raw_fd()));
        container_image::layer::apply(input, &via, &Default::default())
            .map(|_| ())
            .map_err(crate::images::img_err)
    }

    /// `docker cp CONTAINER:src dest`: copy a file or tree out of the container to the
    /// host, with Docker's rules (into `dest` when it is a directory, else as `dest`;
    /// `src/.` copies the content of a directory).
    pub fn copy_out(
        &self,
        container: &str,
        src: &str,
        dest: &Path,
        opts: CopyOutOptions,
    ) -> Result<()> {
        let (resolved, link_name) =
            if opts.follow_link && !src.ends_with('/') && !src.ends_with("/.") {
                let r = self.follow_symlinks(container, src)?;
                (r, Some(last_component(src).to_string()))
            } else {
                (src.to_string(), None)
            };
        let src = resolved.as_str();
        let kind = self
            .path_kind(container, src)?
            .ok_or_else(|| Error::NoSuchPath {
                path: src.into(),
                container: container.into(),
            })?;
        let src_is_dir = kind == PathKind::Directory;
        let contents = src.ends_with("/.");
        let dest_meta = std::fs::metadata(dest).ok();
        let (into, name): (PathBuf, Option<String>) = match &dest_meta {
            Some(m) if m.is_dir() && !contents => (dest.to_path_buf(), None),
            Some(m) if !m.is_dir() && (src_is_dir || contents) => {
                return Err(Error::Invalid(format!(
                    "cannot copy directory {src} to file {}",
                    dest.display()
                )));
            }
            _ => {
                let parent = match dest.parent() {
                    Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
                    _ => PathBuf::from("."),
                };
                if !parent.is_dir() {
                    return Err(Error::io(
                        "copy to",
                        dest,
                        std::io::Error::from(std::io::ErrorKind::NotFound),
                    ));
                }
                let file = dest.file_name().ok_or_else(|| {
                    Error::Invalid(format!("invalid destination {}", dest.display()))
                })?;
                (parent, Some(file.to_string_lossy().into_owned()))
            }
        };
        let name = name.or(link_name);
        if dest.to_string_lossy().ends_with('/') && dest_meta.is_none() {
            return Err(Error::Invalid(format!(
                "destination directory {} does not exist",
                dest.display()
            )));
        }
        let (reader, mut writer) = std::io::pipe().map_err(|e| Error::Sys {
            what: "pipe",
            source: e,
        })?;
        std::thread::scope(|s| {
            let producer = s.spawn(move || {
                let r = self.copy_from(container, src, name.as_deref(), &mut writer);
                drop(writer);
                r
            });
            let mut a = tar::Archive::new(reader);
            a.set_preserve_permissions(true);
            a.set_preserve_mtime(true);
            a.set_overwrite(true);
            let unpacked = a
                .unpack(&into)
                .map_err(|e| Error::io("extract to", &into, e));
            drop(a);
            let produced = producer
                .join()
                .unwrap_or_else(|_| Err(Error::Invalid("copy thread panicked".into())));
            produced.and(unpacked)
        })
    }

    /// `docker cp src CONTAINER:dest`: copy a host file or tree into the container,
    /// with Docker's rules (into `dest` when it is a directory, else as `dest`, whose
    /// parent must exist). Symlinks inside the container are resolved in its scope.
    pub fn copy_in(
        &self,
        container: &str,
        src: &Path,
        dest: &str,
        opts: CopyInOptions,
    ) -> Result<()> {
        let contents = src.to_string_lossy().ends_with("/.");
        // what is walked: the link's target with -L (named as the link below)
        let walked = if opts.follow_link && !contents {
            std::fs::canonicalize(src).map_err(|e| Error::io("copy", src, e))?
        } else {
            src.to_path_buf()
        };
        let src_meta = std::fs::symlink_metadata(&walked).map_err(|e| Error::io("copy", src, e))?;
        let dest_kind = self.path_kind(container, dest)?;
        let dest_is_dir = match dest_kind {
            Some(PathKind::Directory) => true,
            Some(PathKind::Symlink) => {
                self.path_kind(container, &format!("{}/.", dest.trim_end_matches('/')))?
                    == Some(PathKind::Directory)
            }
            _ => false,
        };
        let (into, name) = if dest_is_dir && !contents {
            let base = src
                .file_name()
                .map(|n| n.to_os_string())
                .unwrap_or_else(|| OsString::from("."));
            (dest.to_string(), base)
        } else {
            if dest_kind.is_some() && !dest_is_dir && (src_meta.is_dir() || contents) {
                return Err(Error::Invalid(format!(
                    "cannot copy directory {} to file {dest}",
                    src.display()
                )));
            }
            if dest.ends_with('/') && dest_kind.is_none() {
                return Err(Error::NoSuchPath {
                    path: dest.into(),
                    container: container.into(),
                });
            }
            let trimmed = dest.trim_end_matches('/');
            let (parent, base) = match trimmed.rsplit_once('/') {
                Some(("", b)) => ("/".to_string(), b),
                Some((p, b)) => (p.to_string(), b),
                None => (".".to_string(), trimmed),
            };
            if base.is_empty() || base == "." || base == ".." {
                return Err(Error::Invalid(format!("invalid destination {dest}")));
            }
            if self.path_kind(container, &parent)?.is_none() {
                return Err(Error::NoSuchPath {
                    path: parent,
                    container: container.into(),
                });
            }
            (parent, OsString::from(base))
        };
        let owner = if opts.archive { None } else { Some((0, 0)) };
        let (mut reader, mut writer) = std::io::pipe().map_err(|e| Error::Sys {
            what: "pipe",
            source: e,
        })?;
        let src_dir = if contents {
            walked.clone()
        } else {
            walked
                .parent()
                .filter(|p| !p.as_os_str().is_empty())
                .map(Path::to_path_buf)
                .unwrap_or_else(|| PathBuf::from("."))
        };
        let src_name = if contents {
            OsString::from(".")
        } else {
            walked
                .file_name()
                .map(|n| n.to_os_string())
                .unwrap_or_else(|| OsString::from("."))
        };
        let arc = PathBuf::from(&name);
        std::thread::scope(|s| {
            let producer = s.spawn(move || {
                let r = (|| {
                    let dirfd = open_dir_path(&src_dir)?;
                    let mut w = TarWriter::new(&mut writer, owner);
                    w.append(dirfd.as_fd(), &src_name, &arc)?;
                    w.finish()
                })();
                drop(writer);
                r
            });
            let applied = self.copy_to(container, &into, &mut reader);
            drop(reader);
            let produced = producer
                .join()
                .unwrap_or_else(|_| Err(Error::Invalid("copy thread panicked".into())));
            produced.and(applied)
        })
    }

    /// `docker export`: the container's filesystem (its image plus its changes, without
    /// volumes) as a tar.
    pub fn export(&self, container: &str, out: &mut dyn Write) -> Result<()> {
        let rec = self.record(container)?;
        let root = self.root_view(&rec, View::RootfsOnly)?;
        let mut w = TarWriter::new(out, None);
        let dir = reopen_dir(root.fd.as_fd(), OsStr::new("."))?;
        for name in list_dir(&dir)? {
            let arc = PathBuf::from(&name);
            w.append(dir.as_fd(), &name, &arc)?;
        }
        w.finish()
    }
}

/// Bind the volumes and bind mounts of a stopped container over its mounted rootfs at
/// `tmp`, so `cp` reaches what the container would see there. Each mount point is
/// resolved inside the rootfs with `openat2(RESOLVE_IN_ROOT)` and mounted on through
/// its descriptor, so a symlink in the rootfs cannot redirect a mount onto the host.
/// Missing mount points are made, as the runtime would make them at start.
fn mount_volumes(rec: &ContainerRecord, tmp: &Path) -> Result<()> {
    let root = open_dir_path(tmp)?;
    let mut mounts: Vec<_> = rec
        .mounts
        .iter()
        .filter(|m| matches!(m.kind.as_str(), "volume" | "bind") && !m.source.is_empty())
        .collect();
    // parents before children
    mounts.sort_by_key(|m| m.destination.matches('/').count());
    for m in mounts {
        let how = OpenHow::new()
            .flags(OFlag::O_PATH | OFlag::O_CLOEXEC)
            .resolve(ResolveFlag::RESOLVE_IN_ROOT | ResolveFlag::RESOLVE_NO_MAGICLINKS);
        let rel = m.destination.trim_start_matches('/');
        let rel = if rel.is_empty() { "." } else { rel };
        let target = match nix::fcntl::openat2(root.as_fd(), rel, how) {
            Ok(fd) => fd,
            Err(Errno::ENOENT) => {
                // make the mount point as the runtime would at start, confined like a layer
                let is_dir = std::fs::metadata(&m.source)
                    .map(|md| md.is_dir())
                    .unwrap_or(true);
                let mut b = tar::Builder::new(Vec::new());
                let mut h = tar::Header::new_gnu();
                h.set_entry_type(if is_dir {
                    tar::EntryType::Directory
                } else {
                    tar::EntryType::Regular
                });
                h.set_mode(0o755);
                h.set_size(0);
                let made = b
                    .append_data(&mut h, rel, std::io::empty())
                    .and_then(|()| b.into_inner())
                    .map_err(|e| Error::Sys {
                        what: "make a mount point",
                        source: e,
                    })?;
                let via = PathBuf::from(format!("/proc/self/fd/{}", root.as_raw_fd()));
                container_image::layer::apply(made.as_slice(), &via, &Default::default())
                    .map_err(crate::images::img_err)?;
                nix::fcntl::openat2(root.as_fd(), rel, how)
                    .map_err(|e| io_err("resolve mount point", &m.destination, e))?
            }
            Err(e) => return Err(io_err("resolve mount point", &m.destination, e)),
        };
        let via = format!("/proc/self/fd/{}", target.as_raw_fd());
        nix::mount::mount(
            Some(m.source.as_str()),
            via.as_str(),
            None::<&str>,
            nix::mount::MsFlags::MS_BIND | nix::mount::MsFlags::MS_REC,
            None::<&str>,
        )
        .map_err(|e| io_err("bind mount for cp", &m.destination, e))?;
        if !m.rw {
            nix::mount::mount(
                None::<&str>,
                via.as_str(),
                None::<&str>,
                nix::mount::MsFlags::MS_BIND
                    | nix::mount::MsFlags::MS_REMOUNT
                    | nix::mount::MsFlags::MS_RDONLY,
                None::<&str>,
            )
            .map_err(|e| io_err("remount read-only for cp", &m.destination, e))?;
        }
    }
    Ok(())
}

/// Open `path` inside the root `root`, every component (the last one too) resolved as
/// if `root` were `/`.
fn open_in_root(
    root: BorrowedFd<'_>,
    path: &str,
    flags: OFlag,
    container: &str,
) -> Result<OwnedFd> {
    let rel = path.trim_start_matches('/');
    let rel = if rel.is_empty() { "." } else { rel };
    let how = OpenHow::new()
        .flags(flags | OFlag::O_CLOEXEC)
        .resolve(ResolveFlag::RESOLVE_IN_ROOT | ResolveFlag::RESOLVE_NO_MAGICLINKS);
    nix::fcntl::openat2(root, rel, how).map_err(|e| match e {
        Errno::ENOENT => Error::NoSuchPath {
            path: path.into(),
            container: container.into(),
        },
        e => sys("resolve a path in the container", e),
    })
}

/// Resolve `path` to (its parent directory, its last component); the parent resolved
/// in the root, the last component not followed. A path ending in `/.`, `/` or naming
/// the root resolves the directory itself, as (`dir`, `.`).
fn resolve(root: BorrowedFd<'_>, path: &str, container: &str) -> Result<(OwnedFd, OsString)> {
    let trimmed = path.trim_end_matches('/');
    let follow_last = path.ends_with('/') || path.ends_with("/.") || trimmed.is_empty();
    let (parent, base) = match trimmed.rsplit_once('/') {
        Some((p, b)) => (if p.is_empty() { "/" } else { p }, b),
        None => (".", trimmed),
    };
    if follow_last || base.is_empty() || base == "." || base == ".." {
        let dir = open_in_root(root, path, OFlag::O_PATH | OFlag::O_DIRECTORY, container).map_err(
            |e| match e {
                Error::Sys { source, .. } if source.raw_os_error() == Some(libc::ENOTDIR) => {
                    Error::NoSuchPath {
                        path: path.into(),
                        container: container.into(),
                    }
                }
                e => e,
            },
        )?;
        return Ok((dir, OsString::from(".")));
    }
    let dir =
        open_in_root(root, parent, OFlag::O_PATH | OFlag::O_DIRECTORY, container).map_err(|e| {
            match e {
                Error::Sys { source, .. } if source.raw_os_error() == Some(libc::ENOTDIR) => {
                    Error::NoSuchPath {
                        path: path.into(),
                        container: container.into(),
                    }
                }
                Error::NoSuchPath { .. } => Error::NoSuchPath {
                    path: path.into(),
                    container: container.into(),
                },
                e => e,
            }
        })?;
    match nix::sys::stat::fstatat(&dir, base, AtFlags::AT_SYMLINK_NOFOLLOW) {
        Ok(_) => Ok((dir, OsString::from(base))),
        Err(Errno::ENOENT) => Err(Error::NoSuchPath {
            path: path.into(),
            container: container.into(),
        }),
        Err(e) => Err(sys("stat a path in the container", e)),
    }
}

pub(crate) fn stat_at(dir: BorrowedFd<'_>, name: &OsStr) -> Result<FileStat> {
    nix::sys::stat::fstatat(dir, name, AtFlags::AT_SYMLINK_NOFOLLOW)
        .map_err(|e| sys("stat in the container", e))
}

pub(crate) fn kind_of(st: &FileStat) -> PathKind {
    match SFlag::from_bits_truncate(st.st_mode & SFlag::S_IFMT.bits()) {
        SFlag::S_IFDIR => PathKind::Directory,
        SFlag::S_IFREG => PathKind::File,
        SFlag::S_IFLNK => PathKind::Symlink,
        _ => PathKind::Other,
    }
}

/// Open the directory `name` of `dir` for reading, refusing a symlink in its place.
pub(crate) fn reopen_dir(dir: BorrowedFd<'_>, name: &OsStr) -> Result<OwnedFd> {
    nix::fcntl::openat(
        dir,
        name,
        OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| sys("open a directory in the container", e))
}

/// The names in a directory (without `.` and `..`), sorted.
pub(crate) fn list_dir(dir: &OwnedFd) -> Result<Vec<OsString>> {
    let dup = dir.try_clone().map_err(|e| Error::Sys {
        what: "dup",
        source: e,
    })?;
    let mut d = nix::dir::Dir::from_fd(dup).map_err(|e| sys("read a directory", e))?;
    let mut names = Vec::new();
    for e in d.iter() {
        let e = e.map_err(|e| sys("read a directory", e))?;
        let n = e.file_name().to_bytes();
        if n != b"." && n != b".." {
            names.push(OsString::from_vec(n.to_vec()));
        }
    }
    names.sort();
    Ok(names)
}

/// Parse `CONTAINER:path` (a `cp` operand); `None` for a host path. A path that starts
/// with `/` or `.` is always a host path, like Docker.
pub fn split_container_path(arg: &str) -> Option<(&str, &str)> {
    if arg.starts_with('/') || arg.starts_with('.') {
        return None;
    }
    let (c, p) = arg.split_once(':')?;
    if c.is_empty() || c.contains('/') {
        return None;
    }
    Some((c, p))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cp_operands() {
        assert_eq!(split_container_path("web:/etc"), Some(("web", "/etc")));
        assert_eq!(split_container_path("./web:/etc"), None);
        assert_eq!(split_container_path("/tmp/a:b"), None);
        assert_eq!(split_container_path("file"), None);
        assert_eq!(split_container_path(":x"), None);
    }

    #[test]
    fn tar_of_a_tree_by_descriptor_keeps_symlinks_and_hardlinks() {
        let dir = tempfile::tempdir().expect("tempdir");
        let t = dir.path().join("t");
        std::fs::create_dir_all(t.join("sub")).expect("mkdir");
        std::fs::write(t.join("sub/f"), b"data").expect("write");
        std::fs::hard_link(t.join("sub/f"), t.join("h")).expect("link");
        std::os::unix::fs::symlink("/etc/passwd", t.join("l")).expect("symlink");
        let fd = open_dir_path(dir.path()).expect("open");
        let mut out = Vec::new();
        let mut w = TarWriter::new(&mut out, Some((0, 0)));
        w.append(fd.as_fd(), OsStr::new("t"), Path::new("x"))
            .expect("append");
        w.finish().expect("finish");
        let mut a = tar::Archive::new(out.as_slice());
        let mut seen = std::collections::BTreeMap::new();
        for e in a.entries().expect("entries") {
            let e = e.expect("entry");
            let p = e.path().expect("path").display().to_string();
            seen.insert(p, (e.header().entry_type(), e.header().uid().expect("uid")));
        }
        assert_eq!(seen["x/l"].0, tar::EntryType::Symlink);
        // names are walked in order: `h` first, so `sub/f` is the hard link to it
        assert_eq!(seen["x/h"].0, tar::EntryType::Regular);
        assert_eq!(seen["x/sub/f"].0, tar::EntryType::Link);
        assert_eq!(seen["x"].0, tar::EntryType::Directory, "{seen:?}");
        assert!(seen.values().all(|(_, uid)| *uid == 0));
    }

    #[test]
    fn resolve_stays_in_root() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir_all(dir.path().join("a")).expect("mkdir");
        std::os::unix::fs::symlink("/", dir.path().join("a/up")).expect("symlink");
        std::os::unix::fs::symlink("../../../..", dir.path().join("dots")).expect("symlink");
        let root = open_dir_path(dir.path()).expect("open");
        // /a/up/a resolves to the root's own a, not the host's /a
        let (p, n) = resolve(root.as_fd(), "/a/up/a", "c").expect("resolve");
        assert_eq!(n, "a");
        let st = nix::sys::stat::fstat(&p).expect("stat");
        let rst = nix::sys::stat::fstat(&root).expect("stat");
        assert_eq!(st.st_ino, rst.st_ino, "the parent is the root itself");
        let (p, _) = resolve(root.as_fd(), "/dots/", "c").expect("resolve");
        assert_eq!(nix::sys::stat::fstat(&p).expect("stat").st_ino, rst.st_ino);
        assert!(matches!(
            resolve(root.as_fd(), "/a/up/etc/passwd", "c"),
            Err(Error::NoSuchPath { .. })
        ));
    }
}
