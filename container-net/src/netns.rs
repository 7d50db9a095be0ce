//! Network namespace handles: open, create, enter on a thread, spawn commands inside.

use crate::error::{Error, Result, io};
use std::fs::File;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Where named namespaces live, as with `ip netns add`.
pub const NETNS_RUN_DIR: &str = "/run/netns";

/// A network namespace, held open by a file descriptor.
///
/// Cloning is cheap (the descriptor is shared). A namespace stays alive while any
/// descriptor, bind mount or process refers to it.
#[derive(Debug, Clone)]
pub struct Netns {
    file: Arc<File>,
    path: PathBuf,
}

impl Netns {
    /// The network namespace of the calling thread.
    pub fn current() -> Result<Netns> {
        Self::from_path(Path::new("/proc/thread-self/ns/net"))
    }

    /// Open the namespace at `path` (`/proc/<pid>/ns/net`, `/run/netns/<name>`, a bind mount).
    pub fn from_path(path: &Path) -> Result<Netns> {
        let file = File::open(path).map_err(io(format!("open netns {}", path.display())))?;
        Ok(Netns {
            file: Arc::new(file),
            path: path.to_path_buf(),
        })
    }

    /// The network namespace of process `pid`.
    pub fn from_pid(pid: i32) -> Result<Netns> {
        Self::from_path(&PathBuf::from(format!("/proc/{pid}/ns/net")))
    }

    /// Create a fresh namespace held only by the returned descriptor.
    pub fn unnamed() -> Result<Netns> {
        std::thread::scope(|s| {
            s.spawn(|| -> Result<Netns> {
                // SAFETY: unshare only affects this short-lived thread.
                if unsafe { libc::unshare(libc::CLONE_NEWNET) } != 0 {
                    return Err(io("unshare(CLONE_NEWNET)")(std::io::Error::last_os_error()));
                }
                let ns = Self::current()?;
                Ok(Netns {
                    path: PathBuf::from(format!("/proc/self/fd/{}", ns.file.as_raw_fd())),
                    ..ns
                })
            })
            .join()
            .unwrap_or_else(|_| Err(io("netns thread")(std::io::Error::other("panicked"))))
        })
    }

    /// Create a namespace and bind-mount it at `/run/netns/<name>`, like `ip netns add`.
    pub fn create_named(name: &str) -> Result<Netns> {
        check_name(name)?;
        let dir = Path::new(NETNS_RUN_DIR);
        std::fs::create_dir_all(dir).map_err(io(format!("create {NETNS_RUN_DIR}")))?;
        let target = dir.join(name);
        std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&target)
            .map_err(io(format!("create {}", target.display())))?;
        let fresh = match Self::unnamed() {
            Ok(ns) => ns,
            Err(e) => {
                let _ = std::fs::remove_file(&target);
                return Err(e);
            }
        };
        let source = format!("/proc/self/fd/{}", fresh.file.as_raw_fd());
        if let Err(e) = nix::mount::mount(
            Some(source.as_str()),
            &target,
            None::<&str>,
            nix::mount::MsFlags::MS_BIND,
            None::<&str>,
        ) {
            let _ = std::fs::remove_file(&target);
            return Err(io(format!("bind-mount netns at {}", target.display()))(
                e.into(),
            ));
        }
        Ok(Netns {
            file: fresh.file,
            path: target,
        })
    }

    /// Unmount and remove `/run/netns/<name>`. The namespace dies when nothing else holds it.
    pub fn delete_named(name: &str) -> Result<()> {
        check_name(name)?;
        let target = Path::new(NETNS_RUN_DIR).join(name);
        match nix::mount::umount2(&target, nix::mount::MntFlags::MNT_DETACH) {
            Ok(()) | Err(nix::errno::Errno::EINVAL) | Err(nix::errno::Errno::ENOENT) => {}
            Err(e) => return Err(io(format!("unmount {}", target.display()))(e.into())),
        }
        match std::fs::remove_file(&target) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(io(format!("remove {}", target.display()))(e)),
        }
    }

    /// The path this handle was opened from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The namespace's inode number, which identifies it.
    pub fn inode(&self) -> Result<u64> {
        use std::os::unix::fs::MetadataExt;
        Ok(self.file.metadata().map_err(io("stat netns"))?.ino())
    }

    /// Run `f` on a new thread that has entered this namespace.
    ///
    /// The calling thread's namespace never changes. Threads `f` spawns inherit the namespace.
    pub fn run<T: Send>(&self, f: impl FnOnce() -> Result<T> + Send) -> Result<T> {
        std::thread::scope(|s| {
            s.spawn(|| {
                self.enter_this_thread()?;
                f()
            })
            .join()
            .unwrap_or_else(|_| Err(io("netns thread")(std::io::Error::other("panicked"))))
        })
    }

    /// Move the calling thread into this namespace (`setns`). Prefer [`Netns::run`]; this
    /// is for threads dedicated to the namespace, such as a port proxy's.
    pub fn enter_this_thread(&self) -> Result<()> {
        // SAFETY: setns on a valid namespace fd affects only the calling thread.
        if unsafe { libc::setns(self.file.as_raw_fd(), libc::CLONE_NEWNET) } != 0 {
            return Err(io(format!("setns {}", self.path.display()))(
                std::io::Error::last_os_error(),
            ));
        }
        Ok(())
    }

    /// Make `cmd` start its child inside this namespace.
    pub fn command<'a>(&self, cmd: &'a mut std::process::Command) -> &'a mut std::process::Command {
        use std::os::unix::process::CommandExt;
        let fd = self.file.as_raw_fd();
        let keep = self.file.clone();
        // SAFETY: only setns, async-signal-safe, runs between fork and exec.
        unsafe {
            cmd.pre_exec(move || {
                let _ = &keep;
                if libc::setns(fd, libc::CLONE_NEWNET) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            })
        }
    }
}

impl AsFd for Netns {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.file.as_fd()
    }
}

impl AsRawFd for Netns {
    fn as_raw_fd(&self) -> i32 {
        self.file.as_raw_fd()
    }
}

fn check_name(name: &str) -> Result<()> {
    if name.is_empty() || name.len() > 64 || name.contains('/') || name.starts_with('.') {
        return Err(Error::Invalid {
            what: "namespace name",
            input: name.to_string(),
            reason: "must be 1-64 characters, no '/', not starting with '.'".into(),
        });
    }
    Ok(())
}

/// Write a sysctl under `/proc/sys` in the calling thread's network namespace.
///
/// `key` uses dots (`net.ipv4.ip_forward`); interface names in it may contain dots only
/// as written by the caller through [`sysctl_path`].
pub(crate) fn write_sysctl(path: &str, value: &str) -> Result<()> {
    let full = format!("/proc/sys/{path}");
    std::fs::write(&full, value).map_err(io(format!("write {value} to {full}")))
}

/// `/proc/sys` relative path of a per-interface IPv4 setting.
pub(crate) fn sysctl_path(iface: &str, setting: &str) -> String {
    format!("net/ipv4/conf/{iface}/{setting}")
}
