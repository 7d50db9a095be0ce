//! Moving a new container process into its cgroup without the global lock.
//!
//! Writing another process's pid to `cgroup.procs` takes the kernel's
//! `cgroup_threadgroup_rwsem` for writing, which waits for an RCU grace period
//! (10–20 ms on a busy host) — the largest single cost of creating a container. Two ways
//! avoid it, and [`Attach`] uses both:
//!
//! * cgroup2: `clone3(CLONE_INTO_CGROUP)` starts the process in the target directory;
//!   nothing is migrated.
//! * cgroup v1: a single-threaded process writing `0` (itself) to a hierarchy's `tasks`
//!   file migrates one thread and skips the global lock.
//!
//! The parent opens the files (with its own credentials and mount namespace) before
//! forking; the child only calls `clone3` and `write(2)`.

use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

use nix::errno::Errno;

use super::{CgroupError, CgroupVersion, HierarchyPath};

/// Set in the cloned child when `CLONE_INTO_CGROUP` placed it in the cgroup2 directory.
static JOINED_V2: AtomicBool = AtomicBool::new(false);

/// Open handles on a cgroup's directories, for a child process to join it itself.
#[derive(Debug)]
pub struct Attach {
    v1_tasks: Vec<(PathBuf, OwnedFd)>,
    v2_dir: Option<OwnedFd>,
    v2_procs: Option<(PathBuf, OwnedFd)>,
}

fn open(path: &Path, flags: i32) -> Result<OwnedFd, CgroupError> {
    let c = crate::sys::cpath(path).map_err(|e| CgroupError::Read {
        path: path.to_path_buf(),
        source: std::io::Error::from_raw_os_error(e as i32),
    })?;
    crate::sys::open(&c, flags | libc::O_CLOEXEC, 0).map_err(|e| CgroupError::Read {
        path: path.to_path_buf(),
        source: std::io::Error::from_raw_os_error(e as i32),
    })
}

impl Attach {
    pub(crate) fn open(nodes: &[HierarchyPath]) -> Result<Attach, CgroupError> {
        let mut a = Attach {
            v1_tasks: Vec::new(),
            v2_dir: None,
            v2_procs: None,
        };
        for n in nodes {
            match n.version {
                CgroupVersion::V1 => {
                    let p = n.dir.join("tasks");
                    a.v1_tasks.push((p.clone(), open(&p, libc::O_WRONLY)?));
                }
                CgroupVersion::V2 => {
                    a.v2_dir = Some(open(&n.dir, libc::O_RDONLY | libc::O_DIRECTORY)?);
                    let p = n.dir.join("cgroup.procs");
                    a.v2_procs = Some((p.clone(), open(&p, libc::O_WRONLY)?));
                }
            }
        }
        Ok(a)
    }

    /// The fds a forked child must keep open.
    pub(crate) fn fds(&self) -> Vec<RawFd> {
        self.v1_tasks
            .iter()
            .map(|(_, f)| f.as_raw_fd())
            .chain(self.v2_dir.iter().map(|f| f.as_raw_fd()))
            .chain(self.v2_procs.iter().map(|(_, f)| f.as_raw_fd()))
            .collect()
    }

    /// A fork-like clone (`flags` as for `clone(2)`: namespace flags, `CLONE_PARENT`, exit
    /// signal in the low byte) that starts the child in the cgroup2 directory when the
    /// kernel supports `CLONE_INTO_CGROUP`; falls back to a plain clone otherwise (the
    /// child then joins with [`Attach::join_self`]). Returns 0 in the child.
    ///
    /// Call only in a single-threaded (forked) process.
    pub(crate) fn clone_child(&self, flags: libc::c_ulong) -> Result<i32, Errno> {
        if let Some(dir) = &self.v2_dir {
            #[repr(C)]
            struct CloneArgs {
                flags: u64,
                pidfd: u64,
                child_tid: u64,
                parent_tid: u64,
                exit_signal: u64,
                stack: u64,
                stack_size: u64,
                tls: u64,
                set_tid: u64,
                set_tid_size: u64,
                cgroup: u64,
            }
            const CLONE_INTO_CGROUP: u64 = 0x2_0000_0000;
            let args = CloneArgs {
                flags: (flags & !0xff) | CLONE_INTO_CGROUP,
                pidfd: 0,
                child_tid: 0,
                parent_tid: 0,
                exit_signal: flags & 0xff,
                stack: 0,
                stack_size: 0,
                tls: 0,
                set_tid: 0,
                set_tid_size: 0,
                cgroup: dir.as_raw_fd() as u64,
            };
            // SAFETY: a fork-like clone3 (no new stack) of a single-threaded process; the
            // argument struct outlives the call.
            let pid = unsafe {
                libc::syscall(
                    libc::SYS_clone3,
                    &args as *const CloneArgs,
                    std::mem::size_of::<CloneArgs>(),
                )
            };
            if pid == 0 {
                JOINED_V2.store(true, Ordering::Relaxed);
                return Ok(0);
            }
            if pid > 0 {
                return Ok(pid as i32);
            }
            // Older kernel, or a cgroup namespace that hides the target: plain clone.
        }
        // SAFETY: a fork-like clone (no new stack) of a single-threaded process.
        let pid = unsafe { libc::syscall(libc::SYS_clone, flags, 0usize, 0usize, 0usize, 0usize) };
        if pid < 0 {
            return Err(Errno::last());
        }
        if pid == 0 {
            JOINED_V2.store(false, Ordering::Relaxed);
        }
        Ok(pid as i32)
    }

    /// In the (single-threaded) child: move this process into every v1 hierarchy by
    /// writing `0` to `tasks`, and into the cgroup2 directory unless the clone already
    /// placed it there. Returns the file and errno of a failed write.
    pub(crate) fn join_self(&self) -> Result<(), (PathBuf, Errno)> {
        let w = |path: &Path, fd: &OwnedFd| -> Result<(), (PathBuf, Errno)> {
            // SAFETY: writing a static buffer to an open fd.
            let n = unsafe { libc::write(fd.as_raw_fd(), b"0".as_ptr().cast(), 1) };
            if n < 0 {
                return Err((path.to_path_buf(), Errno::last()));
            }
            Ok(())
        };
        for (p, fd) in &self.v1_tasks {
            w(p, fd)?;
        }
        if let Some((p, fd)) = &self.v2_procs
            && !JOINED_V2.load(Ordering::Relaxed)
        {
            w(p, fd)?;
        }
        Ok(())
    }
}
