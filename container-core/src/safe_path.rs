//! Paths resolved inside a root without escaping it.
//!
//! A container's rootfs is untrusted: it may hold symlinks such as `dev -> /host/dev` or
//! `proc -> /`. Every mount destination and device path is therefore opened with
//! `openat2(RESOLVE_IN_ROOT)` relative to an fd of the rootfs, so `..` and absolute
//! symlinks are clamped to the rootfs (CVE-2021-30465 and relatives), and the mount is
//! then made on `/proc/self/fd/<fd>` instead of on a path string that could be swapped.

use std::ffi::CString;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};

use nix::errno::Errno;

use crate::sys::cvt_long;

const RESOLVE_NO_MAGICLINKS: u64 = 0x02;
const RESOLVE_IN_ROOT: u64 = 0x10;

#[repr(C)]
struct OpenHow {
    flags: u64,
    mode: u64,
    resolve: u64,
}

/// What to create at the end of a path that does not exist.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Create {
    /// A directory (mode 0755).
    Dir,
    /// An empty regular file (mode 0644), e.g. a bind mount target for a file.
    File,
}

/// The normal components of `path` (`/a/./b/` -> `a/b`); `..` is kept for the kernel to
/// clamp at the root.
pub(crate) fn relative(path: &Path) -> PathBuf {
    path.components()
        .filter(|c| matches!(c, Component::Normal(_) | Component::ParentDir))
        .collect()
}

/// `openat2(root, path, flags, RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS)`.
pub(crate) fn open_in_root(
    root: BorrowedFd<'_>,
    path: &Path,
    flags: i32,
) -> Result<OwnedFd, Errno> {
    let rel = relative(path);
    let c = if rel.as_os_str().is_empty() {
        CString::from(c".")
    } else {
        CString::new(rel.as_os_str().as_bytes()).map_err(|_| Errno::EINVAL)?
    };
    let how = OpenHow {
        flags: (flags | libc::O_CLOEXEC) as u64,
        mode: 0,
        resolve: RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS,
    };
    loop {
        // SAFETY: valid pointers; openat2 returns a new fd or -1.
        let r = unsafe {
            libc::syscall(
                libc::SYS_openat2,
                root.as_raw_fd(),
                c.as_ptr(),
                &how as *const OpenHow,
                std::mem::size_of::<OpenHow>(),
            )
        };
        match cvt_long(r) {
            // SAFETY: a fresh fd.
            Ok(fd) => return Ok(unsafe { OwnedFd::from_raw_fd(fd as i32) }),
            Err(Errno::EAGAIN) | Err(Errno::EINTR) => continue,
            Err(e) => return Err(e),
        }
    }
}

/// Open `path` inside `root` as O_PATH, creating missing directories (and the last
/// component as `last`) on the way, all inside the root.
pub(crate) fn create_in_root(
    root: BorrowedFd<'_>,
    path: &Path,
    last: Create,
) -> Result<OwnedFd, Errno> {
    match open_in_root(root, path, libc::O_PATH) {
        Ok(fd) => return Ok(fd),
        Err(Errno::ENOENT) => {}
        Err(e) => return Err(e),
    }
    let rel = relative(path);
    let comps: Vec<_> = rel.components().collect();
    let mut prefix = PathBuf::new();
    let mut parent = open_in_root(root, Path::new("."), libc::O_PATH | libc::O_DIRECTORY)?;
    for (i, comp) in comps.iter().enumerate() {
        prefix.push(comp);
        let is_last = i + 1 == comps.len();
        let want_dir = !is_last || last == Create::Dir;
        let flags = libc::O_PATH | if want_dir { libc::O_DIRECTORY } else { 0 };
        match open_in_root(root, &prefix, flags) {
            Ok(fd) => {
                parent = fd;
                continue;
            }
            Err(Errno::ENOENT) => {}
            Err(e) => return Err(e),
        }
        let name = CString::new(comp.as_os_str().as_bytes()).map_err(|_| Errno::EINVAL)?;
        if name.as_bytes() == b".." {
            return Err(Errno::ENOENT);
        }
        if want_dir {
            // SAFETY: parent is an fd, name a C string.
            let r = unsafe { libc::mkdirat(parent.as_raw_fd(), name.as_ptr(), 0o755) };
            if r == -1 && Errno::last() != Errno::EEXIST {
                return Err(Errno::last());
            }
        } else {
            // SAFETY: as above; O_NOFOLLOW|O_EXCL so a symlink is never followed.
            let fd = unsafe {
                libc::openat(
                    parent.as_raw_fd(),
                    name.as_ptr(),
                    libc::O_CREAT
                        | libc::O_EXCL
                        | libc::O_WRONLY
                        | libc::O_NOFOLLOW
                        | libc::O_CLOEXEC,
                    0o644,
                )
            };
            if fd == -1 {
                if Errno::last() != Errno::EEXIST {
                    return Err(Errno::last());
                }
            } else {
                // SAFETY: fresh fd, closed right away.
                drop(unsafe { OwnedFd::from_raw_fd(fd) });
            }
        }
        parent = open_in_root(root, &prefix, flags)?;
    }
    Ok(parent)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsFd;

    #[test]
    fn symlinks_stay_inside() {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path().join("root");
        std::fs::create_dir_all(root.join("etc")).expect("mkdir");
        std::os::unix::fs::symlink("/", root.join("escape")).expect("symlink");
        std::os::unix::fs::symlink("../../../../", root.join("up")).expect("symlink");
        let rootfd = std::fs::File::open(&root).expect("open root");
        let fd = create_in_root(rootfd.as_fd(), Path::new("/escape/newdir"), Create::Dir)
            .expect("create");
        drop(fd);
        assert!(root.join("newdir").is_dir(), "created inside the root");
        assert!(!Path::new("/newdir").exists());
        create_in_root(rootfd.as_fd(), Path::new("/up/x/file"), Create::File).expect("create");
        assert!(root.join("x/file").is_file());
        let err = open_in_root(rootfd.as_fd(), Path::new("/missing"), libc::O_PATH);
        assert_eq!(err.err(), Some(Errno::ENOENT));
    }
}
