//! The container lifecycle: create, start, state, kill, wait, delete, exec, pause,
//! resume, update, stats.

use std::collections::HashMap;
use std::ffi::CString;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::sched::CloneFlags;
use nix::sys::signal::Signal;
use oci_spec::runtime::{LinuxNamespaceType, LinuxResources, PosixRlimitType, Process, Spec};

use crate::cgroups::{Cgroup, CgroupError, CgroupStats, FreezerState};
use crate::channel::{self, Channel, Msg};
use crate::error::{Error, Result};
use crate::hooks::{self, HookSpec};
use crate::init::{InitPlan, NsPlan, ProcessPlan};
use crate::mounts::MountSpec;
use crate::rootfs::{DeviceNode, RootfsPlan};
use crate::state::{EXEC_FIFO, State, StateFile, Status, validate_id};
use crate::sys;

/// Where runtime state lives unless told otherwise.
pub const DEFAULT_RUNTIME_ROOT: &str = "/run/berth";

/// How long `delete`/`start` wait for a process to react.
const PROCESS_TIMEOUT: Duration = Duration::from_secs(10);

/// Options of [`Container::create`] (stdio, console, pid file, preserved fds).
#[derive(Debug, Default)]
pub struct CreateOptions {
    stdio: [Option<OwnedFd>; 3],
    console_socket: Option<PathBuf>,
    return_console: bool,
    pid_file: Option<PathBuf>,
    preserve_fds: u32,
    no_pivot: bool,
    init: bool,
}

macro_rules! stdio_builders {
    ($t:ty) => {
        impl $t {
            /// The container process's stdin (default: the caller's fd 0).
            pub fn stdin(mut self, fd: OwnedFd) -> Self {
                self.stdio[0] = Some(fd);
                self
            }
            /// The container process's stdout (default: the caller's fd 1).
            pub fn stdout(mut self, fd: OwnedFd) -> Self {
                self.stdio[1] = Some(fd);
                self
            }
            /// The container process's stderr (default: the caller's fd 2).
            pub fn stderr(mut self, fd: OwnedFd) -> Self {
                self.stdio[2] = Some(fd);
                self
            }
            /// With `process.terminal`: send the pty master to this unix socket (runc's
            /// `--console-socket`).
            pub fn console_socket(mut self, path: impl Into<PathBuf>) -> Self {
                self.console_socket = Some(path.into());
                self
            }
            /// With `process.terminal`: keep the pty master; take it with `take_console`.
            pub fn return_console(mut self, yes: bool) -> Self {
                self.return_console = yes;
                self
            }
            /// Write the process's host pid to this file.
            pub fn pid_file(mut self, path: impl Into<PathBuf>) -> Self {
                self.pid_file = Some(path.into());
                self
            }
            /// Pass the caller's fds 3..3+n to the process.
            pub fn preserve_fds(mut self, n: u32) -> Self {
                self.preserve_fds = n;
                self
            }
        }
    };
}

stdio_builders!(CreateOptions);

impl CreateOptions {
    /// Use move-mount + chroot instead of pivot_root (rootfs on ramfs/initramfs).
    pub fn no_pivot(mut self, yes: bool) -> Self {
        self.no_pivot = yes;
        self
    }

    /// Keep a small init as pid 1 that reaps zombies and forwards signals, and run the
    /// program as its child (`docker run --init`, without a tini binary).
    pub fn init(mut self, yes: bool) -> Self {
        self.init = yes;
        self
    }
}

/// Options of [`Container::exec`].
#[derive(Debug, Default)]
pub struct ExecOptions {
    stdio: [Option<OwnedFd>; 3],
    console_socket: Option<PathBuf>,
    return_console: bool,
    pid_file: Option<PathBuf>,
    preserve_fds: u32,
}

stdio_builders!(ExecOptions);

/// A process started by [`Container::exec`]; a child of the calling process.
#[derive(Debug)]
pub struct ExecProcess {
    pid: i32,
    console: Option<OwnedFd>,
    status: Option<i32>,
}

impl ExecProcess {
    /// Host pid.
    pub fn pid(&self) -> i32 {
        self.pid
    }

    /// The pty master, when a terminal was asked for with `return_console`.
    pub fn take_console(&mut self) -> Option<OwnedFd> {
        self.console.take()
    }

    /// Wait for the process; exit code, or 128+signal.
    pub fn wait(&mut self) -> Result<i32> {
        if let Some(s) = self.status {
            return Ok(s);
        }
        let s = waitpid(self.pid)?;
        self.status = Some(s);
        Ok(s)
    }
}

/// A container under a runtime root.
#[derive(Debug)]
pub struct Container {
    dir: PathBuf,
    file: StateFile,
    is_child: bool,
    console: Option<OwnedFd>,
    exit: Option<i32>,
}

/// Undo a half-done create.
struct CreateGuard {
    dir: PathBuf,
    cgroup: Option<Cgroup>,
    pid: Option<i32>,
    armed: bool,
}

impl Drop for CreateGuard {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        if let Some(pid) = self.pid {
            // SAFETY: killing our own child.
            unsafe { libc::kill(pid, libc::SIGKILL) };
            let _ = waitpid(pid);
        }
        if let Some(cg) = &self.cgroup {
            let _ = cg.delete();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn ns_flag(t: LinuxNamespaceType) -> CloneFlags {
    CloneFlags::from_bits_retain(t as i32)
}

fn rlimit_resource(t: PosixRlimitType) -> libc::__rlimit_resource_t {
    use PosixRlimitType::*;
    match t {
        RlimitCpu => libc::RLIMIT_CPU,
        RlimitFsize => libc::RLIMIT_FSIZE,
        RlimitData => libc::RLIMIT_DATA,
        RlimitStack => libc::RLIMIT_STACK,
        RlimitCore => libc::RLIMIT_CORE,
        RlimitRss => libc::RLIMIT_RSS,
        RlimitNproc => libc::RLIMIT_NPROC,
        RlimitNofile => libc::RLIMIT_NOFILE,
        RlimitMemlock => libc::RLIMIT_MEMLOCK,
        RlimitAs => libc::RLIMIT_AS,
        RlimitLocks => libc::RLIMIT_LOCKS,
        RlimitSigpending => libc::RLIMIT_SIGPENDING,
        RlimitMsgqueue => libc::RLIMIT_MSGQUEUE,
        RlimitNice => libc::RLIMIT_NICE,
        RlimitRtprio => libc::RLIMIT_RTPRIO,
        RlimitRttime => libc::RLIMIT_RTTIME,
    }
}

/// Build the process part of a plan (create and exec).
fn process_plan(
    process: &Process,
    seccomp: Option<&oci_spec::runtime::LinuxSeccomp>,
    stdio: [Option<OwnedFd>; 3],
    preserve_fds: u32,
    runtime_root: &Path,
) -> Result<ProcessPlan> {
    let cstrings = |field: &str, v: &[String]| -> Result<Vec<CString>> {
        v.iter()
            .map(|s| {
                CString::new(s.as_str()).map_err(|_| Error::spec(field, "contains a NUL byte"))
            })
            .collect()
    };
    let args = cstrings(
        "process.args",
        process.args().as_deref().unwrap_or_default(),
    )?;
    if args.is_empty() {
        return Err(Error::spec("process.args", "must name a program"));
    }
    let env_list = process.env().clone().unwrap_or_default();
    let env = cstrings("process.env", &env_list)?;
    let path_env = env_list
        .iter()
        .rev()
        .find_map(|e| e.strip_prefix("PATH="))
        .unwrap_or("/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin")
        .to_string();
    let mut rlimits = Vec::new();
    for r in process.rlimits().iter().flatten() {
        let res = rlimit_resource(r.typ());
        let mut cur = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: valid out pointer.
        unsafe { libc::getrlimit(res, &mut cur) };
        // Never above the current hard limit: without CAP_SYS_RESOURCE that fails.
        let hard = r.hard().min(cur.rlim_max);
        let soft = r.soft().min(hard);
        if hard < r.hard() {
            tracing::warn!(
                ?res,
                wanted = r.hard(),
                hard,
                "rlimit clamped to the current hard limit"
            );
        }
        rlimits.push((res, soft, hard));
    }
    let caps = process
        .capabilities()
        .as_ref()
        .map(crate::caps::CapsPlan::new)
        .transpose()?;
    // runc-compatible: overlapping rules (podman's profile has some) -> the first wins.
    // Cached on disk under the runtime root: libseccomp needs ~15 ms per profile.
    let options = crate::seccomp::CompileOptions::runc_compatible();
    let seccomp = seccomp
        .map(|s| crate::seccomp::compile_cached(s, &options, &runtime_root.join(".seccomp-cache")))
        .transpose()?;
    if let Some(c) = &seccomp
        && !c.shadowed().is_empty()
    {
        tracing::debug!(shadowed = ?c.shadowed(), "seccomp rules shadowed by earlier ones");
    }
    let lsm = crate::lsm::LsmPlan::new(
        process.apparmor_profile().as_deref(),
        process.selinux_label().as_deref(),
    )?;
    Ok(ProcessPlan {
        args,
        env,
        path_env,
        cwd: process.cwd().clone(),
        uid: process.user().uid(),
        gid: process.user().gid(),
        additional_gids: process.user().additional_gids().clone().unwrap_or_default(),
        umask: process.user().umask(),
        rlimits,
        caps,
        no_new_privileges: process.no_new_privileges().unwrap_or(false),
        seccomp,
        lsm,
        terminal: process.terminal().unwrap_or(false),
        console_size: process
            .console_size()
            .map(|b| (b.height() as u16, b.width() as u16)),
        stdio,
        preserve_fds: preserve_fds as i32,
        reaper: false,
    })
}

fn devices_of(spec: &Spec) -> Vec<DeviceNode> {
    let mut out = Vec::new();
    for d in spec
        .linux()
        .as_ref()
        .and_then(|l| l.devices().as_ref())
        .into_iter()
        .flatten()
    {
        use oci_spec::runtime::LinuxDeviceType as T;
        let kind = match d.typ() {
            T::B => libc::S_IFBLK,
            T::P => libc::S_IFIFO,
            _ => libc::S_IFCHR,
        };
        out.push(DeviceNode {
            path: d.path().clone(),
            kind,
            major: d.major() as u64,
            minor: d.minor() as u64,
            mode: d.file_mode().unwrap_or(0o666),
            uid: d.uid().unwrap_or(0),
            gid: d.gid().unwrap_or(0),
        });
    }
    out
}

fn propagation(s: Option<&str>) -> Result<nix::mount::MsFlags> {
    use nix::mount::MsFlags as F;
    Ok(match s.unwrap_or("") {
        "" | "rslave" => F::MS_SLAVE | F::MS_REC,
        "slave" => F::MS_SLAVE,
        "private" => F::MS_PRIVATE,
        "rprivate" => F::MS_PRIVATE | F::MS_REC,
        // shared needs the mounts to exist first; the container starts as a slave and
        // gets its propagation after pivot_root.
        "shared" | "rshared" => F::MS_SLAVE | F::MS_REC,
        "unbindable" => F::MS_UNBINDABLE,
        "runbindable" => F::MS_UNBINDABLE | F::MS_REC,
        other => {
            return Err(Error::spec(
                "linux.rootfsPropagation",
                format!("unknown {other:?}"),
            ));
        }
    })
}

fn write_pid_file(path: &Path, pid: i32) -> Result<()> {
    let tmp = path.with_extension("berth-tmp");
    std::fs::write(&tmp, pid.to_string()).map_err(|e| Error::io("write pid file", &tmp, e))?;
    std::fs::rename(&tmp, path).map_err(|e| Error::io("write pid file", path, e))
}

/// waitpid for a child; exit code or 128+signal.
fn waitpid(pid: i32) -> Result<i32> {
    loop {
        let mut status = 0;
        // SAFETY: valid out pointer.
        let r = unsafe { libc::waitpid(pid, &mut status, 0) };
        if r == -1 {
            let e = Errno::last();
            if e == Errno::EINTR {
                continue;
            }
            return Err(Error::sys(format!("waitpid {pid}"), e));
        }
        if libc::WIFEXITED(status) {
            return Ok(libc::WEXITSTATUS(status));
        }
        if libc::WIFSIGNALED(status) {
            return Ok(128 + libc::WTERMSIG(status));
        }
    }
}

fn fork() -> Result<i32> {
    // SAFETY: the child only runs the setup code, which avoids locks other than malloc's
    // (which glibc's fork makes safe) and ends in execve or _exit.
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        return Err(Error::sys("fork", Errno::last()));
    }
    Ok(pid)
}

/// Run the intermediate/child side and exchange messages until `Created`.
struct Handshake {
    init_pid: i32,
    console: Option<OwnedFd>,
}

impl Container {
    /// Create a container: namespaces, cgroup, rootfs, process set up; the process waits
    /// for [`Container::start`]. The init is a child of the calling process.
    pub fn create(
        id: &str,
        bundle: &Path,
        spec: &Spec,
        runtime_root: &Path,
        opts: CreateOptions,
    ) -> Result<Container> {
        validate_id(id)?;
        crate::spec::validate(spec, bundle)?;
        let bundle = std::fs::canonicalize(bundle).map_err(|e| Error::io("bundle", bundle, e))?;
        let rootfs_rel = crate::spec::rootfs_path(spec, &bundle)?;
        let rootfs =
            std::fs::canonicalize(&rootfs_rel).map_err(|e| Error::io("rootfs", &rootfs_rel, e))?;
        let linux = spec
            .linux()
            .as_ref()
            .ok_or_else(|| Error::spec("linux", "missing"))?;
        let process = spec
            .process()
            .as_ref()
            .ok_or_else(|| Error::spec("process", "missing"))?;
        check_console(process, &opts.console_socket, opts.return_console)?;
        let mut process_plan_v = process_plan(
            process,
            linux.seccomp().as_ref(),
            opts.stdio,
            opts.preserve_fds,
            runtime_root,
        )?;
        process_plan_v.reaper = opts.init;
        let mounts = spec
            .mounts()
            .iter()
            .flatten()
            .enumerate()
            .map(|(i, m)| {
                MountSpec::from_oci(m).map_err(|r| Error::spec(format!("mounts[{i}]"), r))
            })
            .collect::<Result<Vec<_>>>()?;

        // Namespaces.
        let mut join = Vec::new();
        let mut clone_flags = CloneFlags::empty();
        let mut new = std::collections::HashSet::new();
        for ns in linux.namespaces().iter().flatten() {
            match ns.path() {
                Some(p) => {
                    let fd = sys::open(
                        &sys::cpath(p).map_err(|e| Error::sys("namespace path", e))?,
                        libc::O_RDONLY,
                        0,
                    )
                    .map_err(|e| {
                        Error::sys(format!("open namespace {} {}", ns.typ(), p.display()), e)
                    })?;
                    join.push((ns.typ(), fd));
                }
                None => {
                    new.insert(ns.typ());
                    if !matches!(
                        ns.typ(),
                        LinuxNamespaceType::Cgroup | LinuxNamespaceType::Time
                    ) {
                        clone_flags |= ns_flag(ns.typ());
                    }
                }
            }
        }
        // Join the user namespace first: it owns the others.
        join.sort_by_key(|(t, _)| *t != LinuxNamespaceType::User);
        let join: Vec<(OwnedFd, CloneFlags)> =
            join.into_iter().map(|(t, fd)| (fd, ns_flag(t))).collect();
        let new_userns = new.contains(&LinuxNamespaceType::User);
        let joins_mnt = linux
            .namespaces()
            .iter()
            .flatten()
            .any(|n| n.typ() == LinuxNamespaceType::Mount && n.path().is_some());
        let time_offsets = if new.contains(&LinuxNamespaceType::Time) {
            let mut s = String::new();
            for (clock, off) in linux.time_offsets().iter().flatten() {
                s.push_str(&format!(
                    "{clock} {} {}\n",
                    off.secs().unwrap_or(0),
                    off.nanosecs().unwrap_or(0)
                ));
            }
            Some(s)
        } else {
            None
        };

        // State directory.
        std::fs::create_dir_all(runtime_root)
            .map_err(|e| Error::io("create runtime root", runtime_root, e))?;
        let dir = runtime_root.join(id);
        match std::fs::create_dir(&dir) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                return Err(Error::Exists { id: id.to_string() });
            }
            Err(e) => return Err(Error::io("create state directory", &dir, e)),
        }
        {
            use std::os::unix::fs::PermissionsExt;
            let _ = std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o711));
        }
        let mut guard = CreateGuard {
            dir: dir.clone(),
            cgroup: None,
            pid: None,
            armed: true,
        };

        // cgroup.
        let cgroup_path = crate::cgroups::path_for(linux.cgroups_path().as_deref(), id)?;
        let resources = linux.resources().clone().map(|mut r| {
            if let Some(rules) = r.devices().as_ref().filter(|d| !d.is_empty()) {
                let devs = linux.devices().clone().unwrap_or_default();
                r.set_devices(Some(crate::cgroups::devices::with_default_allows(
                    rules, &devs,
                )));
            }
            r
        });
        let cgroup = Cgroup::create(&cgroup_path, resources.as_ref())?;
        let cgroup_dirs: Vec<(String, PathBuf)> = cgroup
            .paths()
            .into_iter()
            .map(|h| (h.mount_name, h.dir))
            .collect();
        // The init joins the cgroup itself (no global migration lock), unless it enters a
        // cgroup or user namespace by path, where the parent moves it.
        let self_join = !join
            .iter()
            .any(|(_, t)| t.intersects(CloneFlags::CLONE_NEWCGROUP | CloneFlags::CLONE_NEWUSER));
        let attach = if self_join {
            Some(cgroup.attach()?)
        } else {
            None
        };
        guard.cgroup = Some(cgroup);

        // exec.fifo
        let fifo_path = dir.join(EXEC_FIFO);
        let cfifo = sys::cpath(&fifo_path).map_err(|e| Error::sys("exec.fifo path", e))?;
        // SAFETY: valid string.
        sys::cvt(unsafe { libc::mkfifo(cfifo.as_ptr(), 0o622) })
            .map_err(|e| Error::sys(format!("mkfifo {}", fifo_path.display()), e))?;
        // SAFETY: valid string; mkfifo honours the umask, so set the mode exactly.
        unsafe { libc::chmod(cfifo.as_ptr(), 0o622) };
        let fifo = sys::open(&cfifo, libc::O_PATH, 0)
            .map_err(|e| Error::sys(format!("open {}", fifo_path.display()), e))?;

        let has_dev_mount = mounts.iter().any(|m| m.destination == Path::new("/dev"));
        let rootfs_plan = (!joins_mnt).then(|| -> Result<RootfsPlan> {
            Ok(RootfsPlan {
                rootfs: rootfs.clone(),
                mounts,
                setup_dev: has_dev_mount,
                devices: devices_of(spec),
                masked: linux
                    .masked_paths()
                    .iter()
                    .flatten()
                    .map(PathBuf::from)
                    .collect(),
                readonly: linux
                    .readonly_paths()
                    .iter()
                    .flatten()
                    .map(PathBuf::from)
                    .collect(),
                sysctls: linux
                    .sysctl()
                    .iter()
                    .flatten()
                    .map(|(k, v)| {
                        (
                            PathBuf::from("/proc/sys").join(k.replace('.', "/")),
                            v.clone(),
                        )
                    })
                    .collect(),
                readonly_root: spec
                    .root()
                    .as_ref()
                    .and_then(|r| r.readonly())
                    .unwrap_or(false),
                no_pivot: opts.no_pivot,
                root_propagation: propagation(linux.rootfs_propagation().as_deref())?,
                cgroup_dirs,
                bind_devices: new_userns,
            })
        });
        let rootfs_plan = rootfs_plan.transpose()?;
        let cstr = |field: &str, s: &Option<String>| -> Result<Option<CString>> {
            s.as_ref()
                .map(|h| {
                    CString::new(h.as_str()).map_err(|_| Error::spec(field, "contains a NUL byte"))
                })
                .transpose()
        };
        let uts = new.contains(&LinuxNamespaceType::Uts)
            || join.iter().any(|(_, t)| *t == CloneFlags::CLONE_NEWUTS);
        let parent_hooks: Vec<HookSpec> = hooks::of_kind(spec, "prestart")
            .into_iter()
            .chain(hooks::of_kind(spec, "createRuntime"))
            .collect();
        let plan = InitPlan {
            ns: NsPlan {
                join,
                clone_flags,
                new_cgroupns: new.contains(&LinuxNamespaceType::Cgroup),
                time_offsets,
                new_userns,
                new_netns: new.contains(&LinuxNamespaceType::Network),
            },
            rootfs: rootfs_plan,
            hostname: if uts {
                cstr("hostname", spec.hostname())?
            } else {
                None
            },
            domainname: if uts {
                cstr("domainname", spec.domainname())?
            } else {
                None
            },
            process: process_plan_v,
            fifo: Some(fifo),
            parent_hooks: !parent_hooks.is_empty(),
            create_container_hooks: hooks::of_kind(spec, "createContainer"),
            start_container_hooks: hooks::of_kind(spec, "startContainer"),
            cgroup: attach,
        };

        let mut file = StateFile {
            id: id.to_string(),
            pid: 0,
            start_time: 0,
            bundle: bundle.clone(),
            rootfs,
            created: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, true),
            cgroup_path,
            own_pidns: new.contains(&LinuxNamespaceType::Pid),
            spec: spec.clone(),
        };
        let uid_maps = linux.uid_mappings().clone().unwrap_or_default();
        let gid_maps = linux.gid_mappings().clone().unwrap_or_default();
        let oom = process.oom_score_adj();
        let hs = spawn(
            &plan,
            &mut guard,
            |pid, guard| {
                if let Some(cg) = &guard.cgroup
                    && !self_join
                {
                    cg.add_pid(pid)?;
                }
                if new_userns {
                    write_id_map(pid, "uid_map", &uid_maps)?;
                    write_id_map(pid, "gid_map", &gid_maps)?;
                }
                if let Some(adj) = oom {
                    let p = format!("/proc/{pid}/oom_score_adj");
                    std::fs::write(&p, adj.to_string()).map_err(|e| Error::io("write", p, e))?;
                }
                Ok(())
            },
            &mut file,
            &parent_hooks,
            &opts.console_socket,
            opts.return_console,
        )?;
        file.pid = hs.init_pid;
        file.start_time = sys::proc_stat(hs.init_pid).map(|s| s.0).unwrap_or(0);
        file.write(&dir)?;
        if let Some(p) = &opts.pid_file {
            write_pid_file(p, hs.init_pid)?;
        }
        guard.armed = false;
        Ok(Container {
            dir,
            file,
            is_child: true,
            console: hs.console,
            exit: None,
        })
    }

    /// Open a container another process (or this one) created.
    pub fn load(id: &str, runtime_root: &Path) -> Result<Container> {
        validate_id(id)?;
        let dir = runtime_root.join(id);
        let file = StateFile::read(&dir, id)?;
        // SAFETY: getpid cannot fail.
        let me = unsafe { libc::getpid() };
        let is_child = sys::proc_stat(file.pid)
            .is_some_and(|(start, _, ppid)| start == file.start_time && ppid == me);
        Ok(Container {
            dir,
            file,
            is_child,
            console: None,
            exit: None,
        })
    }

    /// States of all containers under `runtime_root` (sorted by id).
    pub fn list(runtime_root: &Path) -> Result<Vec<State>> {
        let mut out = Vec::new();
        let rd = match std::fs::read_dir(runtime_root) {
            Ok(rd) => rd,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
            Err(e) => return Err(Error::io("list", runtime_root, e)),
        };
        for entry in rd.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.starts_with('.') {
                continue;
            }
            if let Ok(c) = Container::load(&name, runtime_root) {
                out.push(c.state()?);
            }
        }
        out.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(out)
    }

    /// Container id.
    pub fn id(&self) -> &str {
        &self.file.id
    }

    /// Host pid of the container's init.
    pub fn pid(&self) -> i32 {
        self.file.pid
    }

    /// Bundle directory.
    pub fn bundle(&self) -> &Path {
        &self.file.bundle
    }

    /// The spec the container was created from.
    pub fn spec(&self) -> &Spec {
        &self.file.spec
    }

    /// The cgroup path (e.g. `/berth/<id>`).
    pub fn cgroup_path(&self) -> &str {
        &self.file.cgroup_path
    }

    /// The pty master when created with a terminal and `return_console(true)`.
    pub fn take_console(&mut self) -> Option<OwnedFd> {
        self.console.take()
    }

    fn alive(&self) -> bool {
        if self.exit.is_some() {
            return false;
        }
        matches!(sys::proc_stat(self.file.pid), Some((start, st, _)) if start == self.file.start_time && st != 'Z' && st != 'X')
    }

    fn cgroup(&self) -> Result<Cgroup> {
        Ok(Cgroup::open(&self.file.cgroup_path)?)
    }

    /// The current status.
    pub fn status(&self) -> Status {
        if !self.alive() {
            return Status::Stopped;
        }
        if self.dir.join(EXEC_FIFO).exists() {
            return Status::Created;
        }
        if let Ok(cg) = Cgroup::open(&self.file.cgroup_path)
            && matches!(cg.freezer_state(), Ok(FreezerState::Frozen))
        {
            return Status::Paused;
        }
        Status::Running
    }

    /// The OCI state.
    pub fn state(&self) -> Result<State> {
        let status = self.status();
        Ok(State {
            oci_version: crate::spec::OCI_VERSION.to_string(),
            id: self.file.id.clone(),
            pid: if status == Status::Stopped {
                0
            } else {
                self.file.pid
            },
            status,
            bundle: self.file.bundle.clone(),
            rootfs: self.file.rootfs.clone(),
            created: self.file.created.clone(),
            owner: String::new(),
            annotations: self.file.spec.annotations().clone().unwrap_or_default(),
        })
    }

    fn require(&self, op: &'static str, ok: &[Status]) -> Result<Status> {
        let s = self.status();
        if ok.contains(&s) {
            Ok(s)
        } else {
            Err(Error::InvalidState {
                id: self.file.id.clone(),
                status: s.to_string(),
                op,
            })
        }
    }

    /// Let the created container run its program (from any process).
    pub fn start(&mut self) -> Result<()> {
        self.require("start", &[Status::Created])?;
        let fifo = self.dir.join(EXEC_FIFO);
        let cfifo = sys::cpath(&fifo).map_err(|e| Error::sys("exec.fifo", e))?;
        let fd = sys::open(&cfifo, libc::O_RDONLY | libc::O_NONBLOCK, 0)
            .map_err(|e| Error::sys(format!("open {}", fifo.display()), e))?;
        let deadline = Instant::now() + PROCESS_TIMEOUT;
        // Wake up as soon as the init writes (poll), not on a sleep schedule. The init
        // may not have opened its end yet (it reports Created first): read then sees
        // EOF and poll waits for the data. EOF with POLLHUP means a writer came and went
        // without writing (the init died): check liveness without spinning.
        let mut hung_up = false;
        loop {
            let mut b = [0u8; 1];
            // SAFETY: valid buffer.
            let n = unsafe { libc::read(fd.as_raw_fd(), b.as_mut_ptr().cast(), 1) };
            if n == 1 {
                break;
            }
            if n < 0 && !matches!(Errno::last(), Errno::EAGAIN | Errno::EINTR) {
                return Err(Error::sys(
                    format!("read {}", fifo.display()),
                    Errno::last(),
                ));
            }
            if !self.alive() {
                return Err(Error::InvalidState {
                    id: self.file.id.clone(),
                    status: "stopped".into(),
                    op: "start",
                });
            }
            let now = Instant::now();
            if now > deadline {
                return Err(Error::Timeout {
                    what: format!("container {} to take the start signal", self.file.id),
                });
            }
            if n == 0 && hung_up {
                std::thread::sleep(Duration::from_millis(1));
                hung_up = false;
                continue;
            }
            // Bounded slices: liveness is re-checked at least every 50 ms.
            let slice = (deadline - now).min(Duration::from_millis(50));
            let mut pfd = libc::pollfd {
                fd: fd.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            };
            // SAFETY: one valid pollfd.
            let r = unsafe { libc::poll(&mut pfd, 1, slice.as_millis().max(1) as libc::c_int) };
            hung_up = r > 0 && pfd.revents & libc::POLLHUP != 0 && pfd.revents & libc::POLLIN == 0;
        }
        drop(fd);
        let _ = std::fs::remove_file(&fifo);
        let state = self.hook_state(Status::Running);
        for h in hooks::of_kind(&self.file.spec, "poststart") {
            if let Err(reason) = h.run_with(&state) {
                tracing::warn!(path = %h.path.display(), %reason, "poststart hook failed");
            }
        }
        Ok(())
    }

    fn hook_state(&self, status: Status) -> String {
        State {
            oci_version: crate::spec::OCI_VERSION.to_string(),
            id: self.file.id.clone(),
            pid: self.file.pid,
            status,
            bundle: self.file.bundle.clone(),
            rootfs: self.file.rootfs.clone(),
            created: self.file.created.clone(),
            owner: String::new(),
            annotations: self.file.spec.annotations().clone().unwrap_or_default(),
        }
        .to_hook_json()
    }

    /// Send `signal` to the container's init.
    pub fn kill(&self, signal: Signal) -> Result<()> {
        self.require("kill", &[Status::Created, Status::Running, Status::Paused])?;
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(self.file.pid), signal)
            .map_err(|e| Error::sys(format!("kill {} {signal}", self.file.pid), e))
    }

    /// Send `signal` to every process of the container (through its cgroup).
    pub fn kill_all(&self, signal: Signal) -> Result<()> {
        self.require("kill", &[Status::Created, Status::Running, Status::Paused])?;
        self.cgroup()?.kill_all(signal)?;
        Ok(())
    }

    /// Wait for the init to exit: exit code, or 128+signal. When the init is not a child
    /// of this process, waits for it to go and returns [`Error::ExitStatusUnavailable`].
    pub fn wait(&mut self) -> Result<i32> {
        if let Some(s) = self.exit {
            return Ok(s);
        }
        if self.is_child {
            let s = waitpid(self.file.pid)?;
            self.exit = Some(s);
            return Ok(s);
        }
        while self.alive() {
            std::thread::sleep(Duration::from_millis(5));
        }
        Err(Error::ExitStatusUnavailable {
            id: self.file.id.clone(),
            pid: self.file.pid,
        })
    }

    /// Remove the container. Refuses a live container unless `force`, which kills it.
    pub fn delete(mut self, force: bool) -> Result<()> {
        let status = self.status();
        match status {
            Status::Running | Status::Paused if !force => {
                return Err(Error::InvalidState {
                    id: self.file.id.clone(),
                    status: status.to_string(),
                    op: "delete",
                });
            }
            Status::Stopped => {}
            _ => {
                let pid = nix::unistd::Pid::from_raw(self.file.pid);
                if self.file.own_pidns {
                    let _ = nix::sys::signal::kill(pid, Signal::SIGKILL);
                } else if let Ok(cg) = self.cgroup() {
                    let _ = cg.kill_all(Signal::SIGKILL);
                }
                if status == Status::Paused
                    && let Ok(cg) = self.cgroup()
                {
                    let _ = cg.thaw();
                }
            }
        }
        if self.is_child && self.exit.is_none() {
            if let Ok(s) = waitpid(self.file.pid) {
                self.exit = Some(s);
            }
        } else {
            let deadline = Instant::now() + PROCESS_TIMEOUT;
            while self.alive() {
                if Instant::now() > deadline {
                    return Err(Error::Timeout {
                        what: format!("container {} to exit", self.file.id),
                    });
                }
                std::thread::sleep(Duration::from_millis(1));
            }
        }
        match Cgroup::open(&self.file.cgroup_path) {
            Ok(cg) => {
                // Processes of a shared pid namespace may linger: kill them all.
                if !self.file.own_pidns {
                    let _ = cg.kill_all(Signal::SIGKILL);
                }
                cg.delete()?;
            }
            Err(CgroupError::NotFound { .. }) => {}
            Err(e) => return Err(e.into()),
        }
        let state = self.hook_state(Status::Stopped);
        for h in hooks::of_kind(&self.file.spec, "poststop") {
            if let Err(reason) = h.run_with(&state) {
                tracing::warn!(path = %h.path.display(), %reason, "poststop hook failed");
            }
        }
        std::fs::remove_dir_all(&self.dir)
            .map_err(|e| Error::io("remove state directory", &self.dir, e))?;
        Ok(())
    }

    /// Freeze every process of the container.
    pub fn pause(&self) -> Result<()> {
        self.require("pause", &[Status::Running])?;
        Ok(self.cgroup()?.freeze()?)
    }

    /// Thaw a paused container.
    pub fn resume(&self) -> Result<()> {
        self.require("resume", &[Status::Paused])?;
        Ok(self.cgroup()?.thaw()?)
    }

    /// Change the container's resource limits.
    pub fn update(&self, resources: &LinuxResources) -> Result<()> {
        self.require(
            "update",
            &[Status::Created, Status::Running, Status::Paused],
        )?;
        Ok(self.cgroup()?.apply(resources)?)
    }

    /// Resource usage read from the cgroup.
    pub fn stats(&self) -> Result<CgroupStats> {
        Ok(self.cgroup()?.stats()?)
    }

    /// Host pids of every process in the container.
    pub fn pids(&self) -> Result<Vec<i32>> {
        match Cgroup::open(&self.file.cgroup_path) {
            Ok(cg) => Ok(cg.pids()?),
            Err(CgroupError::NotFound { .. }) => Ok(Vec::new()),
            Err(e) => Err(e.into()),
        }
    }

    /// Run another process in the running container (its namespaces, cgroup, and the
    /// container's seccomp profile; `process` gives args, env, cwd, user, caps).
    pub fn exec(&self, process: &Process, opts: ExecOptions) -> Result<ExecProcess> {
        self.require("exec", &[Status::Running])?;
        crate::spec::validate_static(&{
            let mut s = self.file.spec.clone();
            s.set_process(Some(process.clone()));
            s
        })?;
        let linux = self.file.spec.linux().as_ref();
        check_console(process, &opts.console_socket, opts.return_console)?;
        let pplan = process_plan(
            process,
            linux.and_then(|l| l.seccomp().as_ref()),
            opts.stdio,
            opts.preserve_fds,
            self.dir.parent().unwrap_or(Path::new(DEFAULT_RUNTIME_ROOT)),
        )?;
        let mut join = Vec::new();
        for (name, flag) in [
            ("user", CloneFlags::CLONE_NEWUSER),
            ("ipc", CloneFlags::CLONE_NEWIPC),
            ("uts", CloneFlags::CLONE_NEWUTS),
            ("net", CloneFlags::CLONE_NEWNET),
            ("pid", CloneFlags::CLONE_NEWPID),
            ("cgroup", CloneFlags::CLONE_NEWCGROUP),
            ("time", CloneFlags::from_bits_retain(libc::CLONE_NEWTIME)),
            ("mnt", CloneFlags::CLONE_NEWNS),
        ] {
            let theirs = format!("/proc/{}/ns/{name}", self.file.pid);
            let mine = format!("/proc/self/ns/{name}");
            let (Ok(a), Ok(b)) = (std::fs::metadata(&theirs), std::fs::metadata(&mine)) else {
                continue;
            };
            use std::os::unix::fs::MetadataExt;
            if a.ino() == b.ino() && a.dev() == b.dev() {
                continue;
            }
            let c = CString::new(theirs.clone()).unwrap_or_default();
            let fd = sys::open(&c, libc::O_RDONLY, 0)
                .map_err(|e| Error::sys(format!("open {theirs}"), e))?;
            join.push((fd, flag));
        }
        let plan = InitPlan {
            ns: NsPlan {
                join,
                clone_flags: CloneFlags::empty(),
                new_cgroupns: false,
                time_offsets: None,
                new_userns: false,
                new_netns: false,
            },
            rootfs: None,
            hostname: None,
            domainname: None,
            process: pplan,
            fifo: None,
            parent_hooks: false,
            create_container_hooks: Vec::new(),
            start_container_hooks: Vec::new(),
            cgroup: None,
        };
        let mut guard = CreateGuard {
            dir: PathBuf::new(),
            cgroup: None,
            pid: None,
            armed: true,
        };
        let cgroup_path = self.file.cgroup_path.clone();
        let mut file = self.file.clone();
        let hs = spawn(
            &plan,
            &mut guard,
            |pid, _| {
                if let Ok(cg) = Cgroup::open(&cgroup_path) {
                    cg.add_pid(pid)?;
                }
                Ok(())
            },
            &mut file,
            &[],
            &opts.console_socket,
            opts.return_console,
        );
        // Never remove the container's directory on an exec failure.
        guard.dir = PathBuf::from("/nonexistent-berth-exec-guard");
        let hs = hs?;
        guard.armed = false;
        if let Some(p) = &opts.pid_file {
            write_pid_file(p, hs.init_pid)?;
        }
        Ok(ExecProcess {
            pid: hs.init_pid,
            console: hs.console,
            status: None,
        })
    }
}

/// A terminal needs somewhere to send the pty master: refuse before any side effect.
fn check_console(process: &Process, socket: &Option<PathBuf>, keep: bool) -> Result<()> {
    if process.terminal().unwrap_or(false) && socket.is_none() && !keep {
        return Err(Error::spec(
            "process.terminal",
            "a terminal needs a console socket (--console-socket)",
        ));
    }
    Ok(())
}

fn write_id_map(pid: i32, file: &str, maps: &[oci_spec::runtime::LinuxIdMapping]) -> Result<()> {
    if maps.is_empty() {
        return Ok(());
    }
    let mut s = String::new();
    for m in maps {
        s.push_str(&format!(
            "{} {} {}\n",
            m.container_id(),
            m.host_id(),
            m.size()
        ));
    }
    let p = format!("/proc/{pid}/{file}");
    std::fs::write(&p, s).map_err(|e| Error::io("write", p, e))
}

/// Fork the intermediate, get the init's pid, run `setup` on it, then drive the
/// handshake to `Created`.
fn spawn(
    plan: &InitPlan,
    guard: &mut CreateGuard,
    setup: impl FnOnce(i32, &CreateGuard) -> Result<()>,
    file: &mut StateFile,
    parent_hooks: &[HookSpec],
    console_socket: &Option<PathBuf>,
    return_console: bool,
) -> Result<Handshake> {
    let (parent, child) = channel::pair().map_err(|e| Error::sys("socketpair", e))?;
    let pid = fork()?;
    if pid == 0 {
        drop(parent);
        crate::init::intermediate(plan, &child, &[]);
    }
    drop(child);
    let first = parent.recv();
    let _ = waitpid(pid);
    let init_pid = match first {
        Ok((Msg::InitPid(p), _)) => p,
        Ok((Msg::Error(e), _)) => return Err(Error::Child(e)),
        Ok((m, _)) => return Err(Error::sys(format!("sync: unexpected {m:?}"), Errno::EPROTO)),
        Err(e) => return Err(Error::sys("sync: read init pid", e)),
    };
    guard.pid = Some(init_pid);
    setup(init_pid, guard)?;
    file.pid = init_pid;
    let state = State {
        oci_version: crate::spec::OCI_VERSION.to_string(),
        id: file.id.clone(),
        pid: init_pid,
        status: Status::Creating,
        bundle: file.bundle.clone(),
        rootfs: file.rootfs.clone(),
        created: file.created.clone(),
        owner: String::new(),
        annotations: file.spec.annotations().clone().unwrap_or_default(),
    };
    let state_json = state.to_hook_json();
    send(&parent, &Msg::Go(state_json.clone()))?;
    let mut console = None;
    loop {
        match parent.recv() {
            Ok((Msg::RunHooks, _)) => {
                hooks::run_all(parent_hooks, &state_json)?;
                send(&parent, &Msg::HooksDone)?;
            }
            Ok((Msg::Console, Some(fd))) => {
                if let Some(sock) = console_socket {
                    channel::send_fd_to_socket(sock, fd.as_raw_fd(), b"/dev/ptmx")
                        .map_err(|e| Error::io("send console to", sock, e))?;
                } else if return_console {
                    console = Some(fd);
                } else {
                    return Err(Error::spec(
                        "process.terminal",
                        "a terminal needs a console socket (--console-socket)",
                    ));
                }
            }
            Ok((Msg::SeccompFd, Some(fd))) => {
                send_seccomp_fd(file, init_pid, &state, fd.as_raw_fd())?;
            }
            Ok((Msg::Created, _)) => break,
            Ok((Msg::Error(e), _)) => return Err(Error::Child(e)),
            Ok((m, _)) => return Err(Error::sys(format!("sync: unexpected {m:?}"), Errno::EPROTO)),
            Err(Errno::EPIPE) => {
                return Err(Error::sys(
                    "sync: the container process died during setup",
                    Errno::EPIPE,
                ));
            }
            Err(e) => return Err(Error::sys("sync: read", e)),
        }
    }
    Ok(Handshake { init_pid, console })
}

fn send(chan: &Channel, msg: &Msg) -> Result<()> {
    chan.send(msg, None)
        .map_err(|e| Error::sys("sync: write", e))
}

fn send_seccomp_fd(file: &StateFile, pid: i32, state: &State, fd: RawFd) -> Result<()> {
    let seccomp = file
        .spec
        .linux()
        .as_ref()
        .and_then(|l| l.seccomp().as_ref());
    let Some(path) = seccomp.and_then(|s| s.listener_path().as_ref()) else {
        return Err(Error::spec(
            "linux.seccomp.listenerPath",
            "SCMP_ACT_NOTIFY needs a listener path",
        ));
    };
    let metadata = seccomp
        .and_then(|s| s.listener_metadata().clone())
        .unwrap_or_default();
    let payload = serde_json::json!({
        "ociVersion": crate::spec::OCI_VERSION,
        "fds": ["seccompFd"],
        "pid": pid,
        "metadata": metadata,
        "state": serde_json::from_str::<serde_json::Value>(&state.to_hook_json()).unwrap_or_default(),
    })
    .to_string();
    channel::send_fd_to_socket(path, fd, payload.as_bytes())
        .map_err(|e| Error::io("send seccomp fd to", path, e))
}

#[allow(dead_code)]
fn _assert_send() {
    fn is_send<T: Send>() {}
    is_send::<Container>();
    let _: HashMap<(), ()> = HashMap::new();
}
