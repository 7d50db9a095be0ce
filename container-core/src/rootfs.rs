//! The container's root file system, set up inside its new mount namespace: mount
//! propagation, the spec's mounts (resolved inside the rootfs, see [`crate::safe_path`]),
//! `/dev`, `pivot_root`, masked and read-only paths, sysctls.
//!
//! Runs in the forked child; errors are [`ChildError`]s naming the mount and the call.

use std::ffi::{CStr, CString};
use std::os::fd::{AsFd, AsRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::mount::MsFlags;

use crate::error::ChildError;
use crate::mounts::{MountKind, MountSpec};
use crate::safe_path::{Create, create_in_root, open_in_root};
use crate::sys::{self, cpath, fd_path};

const PROC_SUPER_MAGIC: i64 = 0x9fa0;

/// A device node to create in `/dev`.
#[derive(Debug, Clone)]
pub(crate) struct DeviceNode {
    pub path: PathBuf,
    /// S_IFCHR, S_IFBLK or S_IFIFO.
    pub kind: libc::mode_t,
    pub major: u64,
    pub minor: u64,
    pub mode: libc::mode_t,
    pub uid: u32,
    pub gid: u32,
}

impl DeviceNode {
    pub(crate) fn char(path: &str, major: u64, minor: u64) -> Self {
        DeviceNode {
            path: PathBuf::from(path),
            kind: libc::S_IFCHR,
            major,
            minor,
            mode: 0o666,
            uid: 0,
            gid: 0,
        }
    }
}

/// Everything the rootfs setup needs, computed before the fork.
#[derive(Debug, Clone)]
pub(crate) struct RootfsPlan {
    pub rootfs: PathBuf,
    pub mounts: Vec<MountSpec>,
    /// The spec mounts `/dev`: create the default devices and symlinks.
    pub setup_dev: bool,
    pub devices: Vec<DeviceNode>,
    pub masked: Vec<PathBuf>,
    pub readonly: Vec<PathBuf>,
    /// (path under /proc/sys, value)
    pub sysctls: Vec<(PathBuf, String)>,
    pub readonly_root: bool,
    pub no_pivot: bool,
    /// Propagation for `/` before anything (default rslave).
    pub root_propagation: MsFlags,
    /// (name under the cgroup mount, host directory); name "" = the mount itself.
    pub cgroup_dirs: Vec<(String, PathBuf)>,
    /// Bind devices from the host instead of mknod (user namespace).
    pub bind_devices: bool,
}

fn fail(stage: &str, what: impl Into<String>) -> impl FnOnce(Errno) -> ChildError {
    let what = what.into();
    let stage = stage.to_string();
    move |e| ChildError::sys(&stage, what, e)
}

/// Steps before the hooks: propagation, rootfs bind, mounts, devices.
pub(crate) fn mount_all(plan: &RootfsPlan) -> Result<OwnedFd, ChildError> {
    let slash = CString::from(c"/");
    sys::mount(None, &slash, None, plan.root_propagation, None)
        .map_err(fail("mount", "set propagation of /"))?;
    let rootfs = cpath(&plan.rootfs).map_err(fail("mount", "rootfs path"))?;
    sys::mount(
        Some(&rootfs),
        &rootfs,
        None,
        MsFlags::MS_BIND | MsFlags::MS_REC,
        None,
    )
    .map_err(fail(
        "mount",
        format!("bind rootfs {}", plan.rootfs.display()),
    ))?;
    let root = sys::open(&rootfs, libc::O_PATH | libc::O_DIRECTORY, 0).map_err(fail(
        "mount",
        format!("open rootfs {}", plan.rootfs.display()),
    ))?;
    for m in &plan.mounts {
        mount_one(&root, m, plan)?;
    }
    if plan.setup_dev {
        let defaults = [
            DeviceNode::char("/dev/null", 1, 3),
            DeviceNode::char("/dev/zero", 1, 5),
            DeviceNode::char("/dev/full", 1, 7),
            DeviceNode::char("/dev/random", 1, 8),
            DeviceNode::char("/dev/urandom", 1, 9),
            DeviceNode::char("/dev/tty", 5, 0),
        ];
        for d in defaults.iter() {
            if !plan.devices.iter().any(|x| x.path == d.path) {
                create_device(&root, d, plan.bind_devices)?;
            }
        }
    }
    for d in &plan.devices {
        create_device(&root, d, plan.bind_devices)?;
    }
    if plan.setup_dev {
        let dev = open_in_root(
            root.as_fd(),
            Path::new("/dev"),
            libc::O_PATH | libc::O_DIRECTORY,
        )
        .map_err(fail("devices", "open /dev"))?;
        let links: [(&CStr, &CStr); 6] = [
            (c"/proc/self/fd", c"fd"),
            (c"/proc/self/fd/0", c"stdin"),
            (c"/proc/self/fd/1", c"stdout"),
            (c"/proc/self/fd/2", c"stderr"),
            (c"pts/ptmx", c"ptmx"),
            (c"/proc/kcore", c"core"),
        ];
        for (target, name) in links {
            // SAFETY: valid strings and fd.
            let r = unsafe { libc::symlinkat(target.as_ptr(), dev.as_raw_fd(), name.as_ptr()) };
            if r == -1 && Errno::last() != Errno::EEXIST {
                return Err(ChildError::sys(
                    "devices",
                    format!("symlink /dev/{}", name.to_string_lossy()),
                    Errno::last(),
                ));
            }
        }
    }
    Ok(root)
}

fn mount_one(root: &OwnedFd, m: &MountSpec, plan: &RootfsPlan) -> Result<(), ChildError> {
    let dest = &m.destination;
    let what = |op: &str| format!("{op} {}", dest.display());
    match &m.kind {
        MountKind::Bind { recursive } => {
            let src = m.source.as_deref().unwrap_or(Path::new(""));
            let meta = std::fs::metadata(src).map_err(|e| {
                ChildError::sys(
                    "mount",
                    format!("bind source {} for {}", src.display(), dest.display()),
                    Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO)),
                )
            })?;
            let create = if meta.is_dir() {
                Create::Dir
            } else {
                Create::File
            };
            let fd = create_in_root(root.as_fd(), dest, create)
                .map_err(fail("mount", what("create mount point")))?;
            let csrc = cpath(src).map_err(fail("mount", what("source")))?;
            let mut flags = MsFlags::MS_BIND;
            if *recursive {
                flags |= MsFlags::MS_REC;
            }
            sys::mount(Some(&csrc), &fd_path(fd.as_raw_fd()), None, flags, None).map_err(fail(
                "mount",
                format!("bind {} on {}", src.display(), dest.display()),
            ))?;
            let extra = m.flags & !MsFlags::MS_REMOUNT;
            if !extra.is_empty() {
                remount_bind(root, dest, extra)?;
            }
            set_propagation(root, dest, m.propagation)?;
        }
        MountKind::Fs(typ) => {
            let fd = create_in_root(root.as_fd(), dest, Create::Dir)
                .map_err(fail("mount", what("create mount point")))?;
            let ctyp = CString::new(typ.as_str())
                .map_err(|_| ChildError::sys("mount", what("type"), Errno::EINVAL))?;
            let src = m
                .source
                .as_deref()
                .map(cpath)
                .transpose()
                .map_err(fail("mount", what("source")))?
                .unwrap_or_else(|| ctyp.clone());
            let data = CString::new(m.data.as_str()).unwrap_or_default();
            let data = (!m.data.is_empty()).then_some(data.as_c_str());
            let target = fd_path(fd.as_raw_fd());
            match sys::mount(Some(&src), &target, Some(&ctyp), m.flags, data) {
                Ok(()) => {}
                // No new network namespace: sysfs cannot be mounted; bind the host's (runc does).
                Err(Errno::EPERM) if typ == "sysfs" || typ == "mqueue" => {
                    let host = if typ == "sysfs" {
                        c"/sys"
                    } else {
                        c"/dev/mqueue"
                    };
                    sys::mount(
                        Some(host),
                        &target,
                        None,
                        MsFlags::MS_BIND | MsFlags::MS_REC,
                        None,
                    )
                    .map_err(fail("mount", what(&format!("bind host {typ}"))))?;
                    let extra = m.flags
                        & (MsFlags::MS_RDONLY
                            | MsFlags::MS_NOSUID
                            | MsFlags::MS_NODEV
                            | MsFlags::MS_NOEXEC);
                    if !extra.is_empty() {
                        remount_bind(root, dest, extra)?;
                    }
                }
                Err(e) => {
                    return Err(ChildError::sys(
                        "mount",
                        format!("{typ} on {} (options {:?})", dest.display(), m.data),
                        e,
                    ));
                }
            }
            set_propagation(root, dest, m.propagation)?;
        }
        MountKind::Cgroup => {
            let fd = create_in_root(root.as_fd(), dest, Create::Dir)
                .map_err(fail("mount", what("create mount point")))?;
            let ro = m.flags.contains(MsFlags::MS_RDONLY);
            let base = m.flags & (MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC);
            let single = plan.cgroup_dirs.len() == 1 && plan.cgroup_dirs[0].0.is_empty();
            if single {
                let src = cpath(&plan.cgroup_dirs[0].1).map_err(fail("mount", what("cgroup")))?;
                sys::mount(
                    Some(&src),
                    &fd_path(fd.as_raw_fd()),
                    None,
                    MsFlags::MS_BIND | MsFlags::MS_REC,
                    None,
                )
                .map_err(fail("mount", what("bind cgroup")))?;
                remount_bind(
                    root,
                    dest,
                    base | if ro {
                        MsFlags::MS_RDONLY
                    } else {
                        MsFlags::empty()
                    },
                )?;
                return Ok(());
            }
            sys::mount(
                Some(c"tmpfs"),
                &fd_path(fd.as_raw_fd()),
                Some(c"tmpfs"),
                base,
                Some(c"mode=755"),
            )
            .map_err(fail("mount", what("tmpfs for cgroups")))?;
            for (name, dir) in &plan.cgroup_dirs {
                if name.is_empty() {
                    continue;
                }
                let sub = dest.join(name);
                let sfd = create_in_root(root.as_fd(), &sub, Create::Dir)
                    .map_err(fail("mount", format!("create {}", sub.display())))?;
                let src = cpath(dir).map_err(fail("mount", what("cgroup")))?;
                sys::mount(
                    Some(&src),
                    &fd_path(sfd.as_raw_fd()),
                    None,
                    MsFlags::MS_BIND | MsFlags::MS_REC,
                    None,
                )
                .map_err(fail(
                    "mount",
                    format!("bind cgroup {} on {}", dir.display(), sub.display()),
                ))?;
                remount_bind(
                    root,
                    &sub,
                    base | if ro {
                        MsFlags::MS_RDONLY
                    } else {
                        MsFlags::empty()
                    },
                )?;
            }
            if ro {
                let fd = open_in_root(root.as_fd(), dest, libc::O_PATH)
                    .map_err(fail("mount", what("reopen")))?;
                sys::mount(
                    None,
                    &fd_path(fd.as_raw_fd()),
                    None,
                    MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY | base,
                    Some(c"mode=755"),
                )
                .map_err(fail("mount", what("remount cgroup tmpfs read-only")))?;
            }
        }
    }
    Ok(())
}

/// Remount the bind mount at `dest` with `flags` (read-only, nosuid, ...), keeping the
/// flags the kernel locks (in a user namespace a remount that drops them fails).
fn remount_bind(root: &OwnedFd, dest: &Path, flags: MsFlags) -> Result<(), ChildError> {
    let fd = open_in_root(root.as_fd(), dest, libc::O_PATH)
        .map_err(fail("mount", format!("reopen {}", dest.display())))?;
    let target = fd_path(fd.as_raw_fd());
    let base = MsFlags::MS_BIND | MsFlags::MS_REMOUNT;
    match sys::mount(None, &target, None, base | flags, None) {
        Ok(()) => Ok(()),
        Err(Errno::EPERM) => {
            let locked = sys::locked_flags(fd.as_raw_fd())
                .map_err(fail("mount", format!("statvfs {}", dest.display())))?;
            sys::mount(None, &target, None, base | flags | locked, None).map_err(fail(
                "mount",
                format!("remount {} with {flags:?}", dest.display()),
            ))
        }
        Err(e) => Err(ChildError::sys(
            "mount",
            format!("remount {} with {flags:?}", dest.display()),
            e,
        )),
    }
}

fn set_propagation(root: &OwnedFd, dest: &Path, prop: MsFlags) -> Result<(), ChildError> {
    if prop.is_empty() {
        return Ok(());
    }
    let fd = open_in_root(root.as_fd(), dest, libc::O_PATH)
        .map_err(fail("mount", format!("reopen {}", dest.display())))?;
    sys::mount(None, &fd_path(fd.as_raw_fd()), None, prop, None).map_err(fail(
        "mount",
        format!("set propagation {prop:?} of {}", dest.display()),
    ))
}

fn create_device(root: &OwnedFd, d: &DeviceNode, bind: bool) -> Result<(), ChildError> {
    let what = format!("device {}", d.path.display());
    if bind {
        let fd = create_in_root(root.as_fd(), &d.path, Create::File)
            .map_err(fail("devices", what.clone()))?;
        let src = cpath(&d.path).map_err(fail("devices", what.clone()))?;
        return sys::mount(
            Some(&src),
            &fd_path(fd.as_raw_fd()),
            None,
            MsFlags::MS_BIND,
            None,
        )
        .map_err(fail("devices", format!("bind host {}", d.path.display())));
    }
    let parent = d.path.parent().unwrap_or(Path::new("/dev"));
    let name = d
        .path
        .file_name()
        .map(|n| CString::new(n.as_bytes()).unwrap_or_default())
        .unwrap_or_default();
    if name.as_bytes().is_empty() {
        return Err(ChildError::sys("devices", what, Errno::EINVAL));
    }
    let pfd =
        create_in_root(root.as_fd(), parent, Create::Dir).map_err(fail("devices", what.clone()))?;
    // SAFETY: valid fd and name; an old entry (file or symlink) is replaced.
    unsafe { libc::unlinkat(pfd.as_raw_fd(), name.as_ptr(), 0) };
    let dev = libc::makedev(d.major as u32, d.minor as u32);
    // SAFETY: valid fd and name.
    sys::cvt(unsafe {
        libc::mknodat(
            pfd.as_raw_fd(),
            name.as_ptr(),
            d.kind | (d.mode & 0o7777),
            dev,
        )
    })
    .map_err(fail("devices", format!("mknod {}", d.path.display())))?;
    // SAFETY: mknod is subject to umask: set the mode exactly, then the owner.
    unsafe {
        libc::fchmodat(pfd.as_raw_fd(), name.as_ptr(), d.mode & 0o7777, 0);
        libc::fchownat(
            pfd.as_raw_fd(),
            name.as_ptr(),
            d.uid,
            d.gid,
            libc::AT_SYMLINK_NOFOLLOW,
        );
    }
    Ok(())
}

/// pivot_root into the rootfs (or move + chroot with `no_pivot`), detaching the old root.
pub(crate) fn enter(plan: &RootfsPlan) -> Result<(), ChildError> {
    let rootfs = cpath(&plan.rootfs).map_err(fail("pivot_root", "rootfs path"))?;
    if plan.no_pivot {
        // SAFETY: plain syscalls on valid strings.
        unsafe {
            sys::cvt(libc::chdir(rootfs.as_ptr())).map_err(fail("chroot", "chdir rootfs"))?;
        }
        sys::mount(Some(c"."), c"/", None, MsFlags::MS_MOVE, None)
            .map_err(fail("chroot", "move rootfs to /"))?;
        // SAFETY: as above.
        unsafe {
            sys::cvt(libc::chroot(c".".as_ptr())).map_err(fail("chroot", "chroot ."))?;
            sys::cvt(libc::chdir(c"/".as_ptr())).map_err(fail("chroot", "chdir /"))?;
        }
        return Ok(());
    }
    let old = sys::open(c"/", libc::O_DIRECTORY | libc::O_RDONLY, 0)
        .map_err(fail("pivot_root", "open /"))?;
    let new = sys::open(&rootfs, libc::O_DIRECTORY | libc::O_RDONLY, 0)
        .map_err(fail("pivot_root", "open rootfs"))?;
    // SAFETY: plain syscalls on valid fds and strings.
    unsafe {
        sys::cvt(libc::fchdir(new.as_raw_fd())).map_err(fail("pivot_root", "fchdir rootfs"))?;
        sys::cvt_long(libc::syscall(
            libc::SYS_pivot_root,
            c".".as_ptr(),
            c".".as_ptr(),
        ))
        .map_err(fail(
            "pivot_root",
            format!("pivot_root {}", plan.rootfs.display()),
        ))?;
        sys::cvt(libc::fchdir(old.as_raw_fd())).map_err(fail("pivot_root", "fchdir old root"))?;
    }
    sys::mount(None, c".", None, MsFlags::MS_SLAVE | MsFlags::MS_REC, None)
        .map_err(fail("pivot_root", "make old root rslave"))?;
    // SAFETY: as above.
    unsafe {
        sys::cvt(libc::umount2(c".".as_ptr(), libc::MNT_DETACH))
            .map_err(fail("pivot_root", "detach old root"))?;
        sys::cvt(libc::chdir(c"/".as_ptr())).map_err(fail("pivot_root", "chdir /"))?;
    }
    Ok(())
}

/// After entering the rootfs: sysctls, masked paths, read-only paths, read-only root.
pub(crate) fn finish(plan: &RootfsPlan) -> Result<(), ChildError> {
    let root =
        sys::open(c"/", libc::O_PATH | libc::O_DIRECTORY, 0).map_err(fail("rootfs", "open /"))?;
    for (path, value) in &plan.sysctls {
        let fd = open_in_root(root.as_fd(), path, libc::O_WRONLY)
            .map_err(fail("sysctl", format!("open {}", path.display())))?;
        // Only the real procfs: never a file the rootfs put there.
        if sys::fs_magic(&fd).map_err(fail("sysctl", format!("statfs {}", path.display())))?
            != PROC_SUPER_MAGIC
        {
            return Err(ChildError::sys(
                "sysctl",
                format!("{} is not on procfs", path.display()),
                Errno::EXDEV,
            ));
        }
        sys::write_all(fd.as_raw_fd(), value.as_bytes()).map_err(fail(
            "sysctl",
            format!("write {:?} to {}", value, path.display()),
        ))?;
    }
    if !plan.masked.is_empty() {
        mask_paths(&root, &plan.masked)?;
    }
    for p in &plan.readonly {
        let fd = match open_in_root(root.as_fd(), p, libc::O_PATH) {
            Ok(fd) => fd,
            Err(Errno::ENOENT) => continue,
            Err(e) => {
                return Err(ChildError::sys(
                    "readonly paths",
                    format!("open {}", p.display()),
                    e,
                ));
            }
        };
        let path = fd_path(fd.as_raw_fd());
        sys::mount(
            Some(&path),
            &path,
            None,
            MsFlags::MS_BIND | MsFlags::MS_REC,
            None,
        )
        .map_err(fail("readonly paths", format!("bind {}", p.display())))?;
        remount_bind(&root, p, MsFlags::MS_RDONLY)?;
    }
    if plan.readonly_root {
        let flags = MsFlags::MS_BIND | MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY;
        if let Err(e) = sys::mount(None, c"/", None, flags, None) {
            let locked = if e == Errno::EPERM {
                sys::locked_flags(root.as_raw_fd()).map_err(fail("rootfs", "statvfs /"))?
            } else {
                return Err(ChildError::sys("rootfs", "remount / read-only", e));
            };
            sys::mount(None, c"/", None, flags | locked, None)
                .map_err(fail("rootfs", "remount / read-only"))?;
        }
    }
    Ok(())
}

fn mask_paths(root: &OwnedFd, masked: &[PathBuf]) -> Result<(), ChildError> {
    // CVE-2025-31133: the /dev/null used to mask must be the real null device.
    let null = open_in_root(root.as_fd(), Path::new("/dev/null"), libc::O_PATH);
    let null = match null {
        Ok(fd) => {
            let st = fstat(fd.as_raw_fd()).map_err(fail("masked paths", "stat /dev/null"))?;
            if st.st_mode & libc::S_IFMT != libc::S_IFCHR || st.st_rdev != libc::makedev(1, 3) {
                return Err(ChildError::sys(
                    "masked paths",
                    "/dev/null is not the null device",
                    Errno::EPERM,
                ));
            }
            Some(fd)
        }
        Err(_) => None,
    };
    for p in masked {
        let fd = match open_in_root(root.as_fd(), p, libc::O_PATH) {
            Ok(fd) => fd,
            Err(Errno::ENOENT) => continue,
            Err(e) => {
                return Err(ChildError::sys(
                    "masked paths",
                    format!("open {}", p.display()),
                    e,
                ));
            }
        };
        let st =
            fstat(fd.as_raw_fd()).map_err(fail("masked paths", format!("stat {}", p.display())))?;
        let target = fd_path(fd.as_raw_fd());
        if st.st_mode & libc::S_IFMT == libc::S_IFDIR {
            sys::mount(
                Some(c"tmpfs"),
                &target,
                Some(c"tmpfs"),
                MsFlags::MS_RDONLY,
                None,
            )
            .map_err(fail("masked paths", format!("tmpfs on {}", p.display())))?;
        } else {
            let Some(null) = &null else {
                return Err(ChildError::sys(
                    "masked paths",
                    format!("mask {}: no /dev/null", p.display()),
                    Errno::ENOENT,
                ));
            };
            sys::mount(
                Some(&fd_path(null.as_raw_fd())),
                &target,
                None,
                MsFlags::MS_BIND,
                None,
            )
            .map_err(fail(
                "masked paths",
                format!("bind /dev/null on {}", p.display()),
            ))?;
        }
    }
    Ok(())
}

pub(crate) fn fstat(fd: RawFd) -> Result<libc::stat, Errno> {
    // SAFETY: zeroed stat is a valid out buffer.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: valid buffer.
    sys::cvt(unsafe { libc::fstat(fd, &mut st) })?;
    Ok(st)
}
