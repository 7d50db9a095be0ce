//! The seam between the engine and the OCI runtime: start a container process from a
//! bundle (`config.json` + rootfs) so that it inherits the caller's fds 0/1/2 and is the
//! caller's child (the monitor reaps it), signal it, clean up after it.
//!
//! This implements the subset of the OCI runtime spec the engine generates: namespaces
//! (pid, mount, uts, ipc, and net new or joined by path), the rootfs by `pivot_root`
//! (read-only on request), proc/sysfs/tmpfs/devpts/mqueue/bind mounts, Docker's device
//! nodes, hostname, rlimits, user/groups, cwd, env and, through
//! `container_core::cgroups` when it is linked, the resource limits. It works on the
//! JSON form of the spec so it needs nothing but the kernel.

use crate::error::{Error, IoContext, Result};
use serde_json::Value;
use std::ffi::CString;
use std::io::Read;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::{Path, PathBuf};

/// A prepared mount (all strings made before the clone: the child does not allocate).
struct PMount {
    source: Option<CString>,
    target: CString,
    target_path: PathBuf,
    fstype: Option<CString>,
    flags: libc::c_ulong,
    data: Option<CString>,
    is_file: bool,
    readonly_remount: bool,
}

struct Prepared {
    rootfs: CString,
    mounts: Vec<PMount>,
    devices: Vec<(CString, CString)>,
    symlinks: Vec<(CString, CString)>,
    hostname: Option<CString>,
    netns: Option<CString>,
    readonly: bool,
    rlimits: Vec<(libc::c_int, libc::rlimit)>,
    uid: libc::uid_t,
    gid: libc::gid_t,
    groups: Vec<libc::gid_t>,
    cwd: CString,
    argv: Vec<CString>,
    envp: Vec<CString>,
    path_dirs: Vec<CString>,
    masked: Vec<CString>,
    no_new_privs: bool,
    clone_flags: libc::c_ulong,
    init: bool,
}

/// Spec annotation asking for berth's built-in init as pid 1 (`--init`).
pub const INIT_ANNOTATION: &str = "org.berth.init";

fn cstr(s: &str) -> Result<CString> {
    CString::new(s).map_err(|_| Error::Invalid(format!("NUL byte in {s:?}")))
}

fn rlimit_type(name: &str) -> Option<libc::c_int> {
    Some(match name {
        "RLIMIT_NOFILE" => libc::RLIMIT_NOFILE as libc::c_int,
        "RLIMIT_NPROC" => libc::RLIMIT_NPROC as libc::c_int,
        "RLIMIT_CORE" => libc::RLIMIT_CORE as libc::c_int,
        "RLIMIT_CPU" => libc::RLIMIT_CPU as libc::c_int,
        "RLIMIT_DATA" => libc::RLIMIT_DATA as libc::c_int,
        "RLIMIT_FSIZE" => libc::RLIMIT_FSIZE as libc::c_int,
        "RLIMIT_LOCKS" => libc::RLIMIT_LOCKS as libc::c_int,
        "RLIMIT_MEMLOCK" => libc::RLIMIT_MEMLOCK as libc::c_int,
        "RLIMIT_MSGQUEUE" => libc::RLIMIT_MSGQUEUE as libc::c_int,
        "RLIMIT_NICE" => libc::RLIMIT_NICE as libc::c_int,
        "RLIMIT_RSS" => libc::RLIMIT_RSS as libc::c_int,
        "RLIMIT_RTPRIO" => libc::RLIMIT_RTPRIO as libc::c_int,
        "RLIMIT_RTTIME" => libc::RLIMIT_RTTIME as libc::c_int,
        "RLIMIT_SIGPENDING" => libc::RLIMIT_SIGPENDING as libc::c_int,
        "RLIMIT_STACK" => libc::RLIMIT_STACK as libc::c_int,
        "RLIMIT_AS" => libc::RLIMIT_AS as libc::c_int,
        _ => return None,
    })
}

fn mount_flags(options: &[String]) -> (libc::c_ulong, Vec<String>, bool) {
    let mut flags: libc::c_ulong = 0;
    let mut data = Vec::new();
    let mut ro = false;
    for o in options {
        match o.as_str() {
            "ro" => {
                flags |= libc::MS_RDONLY;
                ro = true;
            }
            "rw" => {}
            "nosuid" => flags |= libc::MS_NOSUID,
            "nodev" => flags |= libc::MS_NODEV,
            "noexec" => flags |= libc::MS_NOEXEC,
            "relatime" => flags |= libc::MS_RELATIME,
            "strictatime" => flags |= libc::MS_STRICTATIME,
            "noatime" => flags |= libc::MS_NOATIME,
            "bind" => flags |= libc::MS_BIND,
            "rbind" => flags |= libc::MS_BIND | libc::MS_REC,
            "private" | "rprivate" | "shared" | "rshared" | "slave" | "rslave" => {}
            other => data.push(other.to_string()),
        }
    }
    (flags, data, ro)
}

fn prepare(spec: &Value, bundle: &Path, netns: Option<&Path>) -> Result<Prepared> {
    let root = spec["root"]["path"].as_str().unwrap_or("rootfs");
    let rootfs = if root.starts_with('/') {
        PathBuf::from(root)
    } else {
        bundle.join(root)
    };
    let process = &spec["process"];
    let strings = |v: &Value| -> Vec<String> {
        v.as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|s| s.as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default()
    };
    let args = strings(&process["args"]);
    if args.is_empty() {
        return Err(Error::Invalid("no command specified".into()));
    }
    let env = strings(&process["env"]);
    let path_var = env
        .iter()
        .find_map(|e| e.strip_prefix("PATH="))
        .unwrap_or("/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin")
        .to_string();
    let mut mounts = Vec::new();
    for m in spec["mounts"].as_array().into_iter().flatten() {
        let dest = m["destination"].as_str().unwrap_or_default();
        let kind = m["type"].as_str().unwrap_or("bind");
        if kind == "cgroup" {
            continue;
        }
        let options = strings(&m["options"]);
        let (mut flags, data, ro) = mount_flags(&options);
        let source = m["source"].as_str().unwrap_or(kind).to_string();
        let is_bind = flags & libc::MS_BIND != 0 || kind == "bind";
        if is_bind {
            flags |= libc::MS_BIND;
        }
        let is_file = is_bind && std::fs::metadata(&source).is_ok_and(|m| !m.is_dir());
        let target_path = rootfs.join(dest.trim_start_matches('/'));
        mounts.push(PMount {
            source: Some(cstr(&source)?),
            target: cstr(&target_path.to_string_lossy())?,
            target_path,
            fstype: if is_bind { None } else { Some(cstr(kind)?) },
            flags: if is_bind {
                flags & !libc::MS_RDONLY
            } else {
                flags
            },
            data: if data.is_empty() || is_bind {
                None
            } else {
                Some(cstr(&data.join(","))?)
            },
            is_file,
            readonly_remount: is_bind && ro,
        });
    }
    let mut devices = Vec::new();
    for d in ["null", "zero", "full", "random", "urandom", "tty"] {
        devices.push((
            cstr(&format!("/dev/{d}"))?,
            cstr(&rootfs.join("dev").join(d).to_string_lossy())?,
        ));
    }
    for d in spec["linux"]["devices"].as_array().into_iter().flatten() {
        if let Some(p) = d["path"].as_str() {
            devices.push((
                cstr(p)?,
                cstr(&rootfs.join(p.trim_start_matches('/')).to_string_lossy())?,
            ));
        }
    }
    let mut symlinks = Vec::new();
    for (from, to) in [
        ("/proc/self/fd", "dev/fd"),
        ("/proc/self/fd/0", "dev/stdin"),
        ("/proc/self/fd/1", "dev/stdout"),
        ("/proc/self/fd/2", "dev/stderr"),
        ("pts/ptmx", "dev/ptmx"),
    ] {
        symlinks.push((cstr(from)?, cstr(&rootfs.join(to).to_string_lossy())?));
    }
    let mut rlimits = Vec::new();
    for r in process["rlimits"].as_array().into_iter().flatten() {
        if let Some(t) = r["type"].as_str().and_then(rlimit_type) {
            rlimits.push((
                t,
                libc::rlimit {
                    rlim_cur: r["soft"].as_u64().unwrap_or(0),
                    rlim_max: r["hard"].as_u64().unwrap_or(0),
                },
            ));
        }
    }
    let mut clone_flags: libc::c_ulong = 0;
    let mut net_path = netns.map(|p| p.to_string_lossy().into_owned());
    for ns in spec["linux"]["namespaces"].as_array().into_iter().flatten() {
        let path = ns["path"].as_str().filter(|p| !p.is_empty());
        let flag = match ns["type"].as_str().unwrap_or_default() {
            "pid" => libc::CLONE_NEWPID,
            "mount" => libc::CLONE_NEWNS,
            "uts" => libc::CLONE_NEWUTS,
            "ipc" => libc::CLONE_NEWIPC,
            "network" => {
                if let Some(p) = path {
                    net_path = Some(p.to_string());
                    continue;
                }
                libc::CLONE_NEWNET
            }
            "cgroup" => libc::CLONE_NEWCGROUP,
            other => {
                return Err(Error::Invalid(format!(
                    "unsupported namespace type {other:?}"
                )));
            }
        };
        clone_flags |= flag as libc::c_ulong;
    }
    if net_path.is_some() {
        clone_flags &= !(libc::CLONE_NEWNET as libc::c_ulong);
    }
    let user = &process["user"];
    Ok(Prepared {
        rootfs: cstr(&rootfs.to_string_lossy())?,
        mounts,
        devices,
        symlinks,
        hostname: spec["hostname"].as_str().map(cstr).transpose()?,
        netns: net_path.as_deref().map(cstr).transpose()?,
        readonly: spec["root"]["readonly"].as_bool().unwrap_or(false),
        rlimits,
        uid: user["uid"].as_u64().unwrap_or(0) as libc::uid_t,
        gid: user["gid"].as_u64().unwrap_or(0) as libc::gid_t,
        groups: user["additionalGids"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|g| g.as_u64())
                    .map(|g| g as libc::gid_t)
                    .collect()
            })
            .unwrap_or_default(),
        cwd: cstr(process["cwd"].as_str().unwrap_or("/"))?,
        argv: args.iter().map(|a| cstr(a)).collect::<Result<_>>()?,
        envp: env.iter().map(|a| cstr(a)).collect::<Result<_>>()?,
        path_dirs: path_var
            .split(':')
            .filter(|d| !d.is_empty())
            .map(cstr)
            .collect::<Result<_>>()?,
        masked: strings(&spec["linux"]["maskedPaths"])
            .iter()
            .map(|p| cstr(p))
            .collect::<Result<_>>()?,
        no_new_privs: process["noNewPrivileges"].as_bool().unwrap_or(false),
        clone_flags,
        init: spec["annotations"][INIT_ANNOTATION].as_str() == Some("true"),
    })
}

/// Write an error message to `fd` and exit: runs in the cloned child.
fn child_fail(fd: libc::c_int, what: &[u8]) -> ! {
    let errno = std::io::Error::last_os_error().raw_os_error().unwrap_or(0);
    // SAFETY: plain writes of borrowed buffers and _exit; no allocation.
    unsafe {
        libc::write(fd, what.as_ptr().cast(), what.len());
        let msg = libc::strerror(errno);
        if !msg.is_null() {
            libc::write(fd, b": ".as_ptr().cast(), 2);
            libc::write(fd, msg.cast(), libc::strlen(msg));
        }
        libc::_exit(127)
    }
}

fn mkdir_p(path: &Path) {
    let _ = std::fs::create_dir_all(path);
}

/// Body of the container's pid 1 before exec. Runs in the cloned child.
fn child_main(p: &Prepared, sync_r: libc::c_int, err_w: libc::c_int) -> ! {
    // SAFETY: system calls on prepared C strings; the child is a fresh copy of the caller.
    unsafe {
        let mut b = [0u8; 1];
        if libc::read(sync_r, b.as_mut_ptr().cast(), 1) != 1 {
            libc::_exit(127);
        }
        libc::close(sync_r);
        if let Some(ns) = &p.netns {
            let fd = libc::open(ns.as_ptr(), libc::O_RDONLY | libc::O_CLOEXEC);
            if fd < 0 || libc::setns(fd, libc::CLONE_NEWNET) != 0 {
                child_fail(err_w, b"join network namespace");
            }
            libc::close(fd);
        }
        let none = c"none".as_ptr();
        if libc::mount(
            none,
            c"/".as_ptr(),
            std::ptr::null(),
            libc::MS_REC | libc::MS_PRIVATE,
            std::ptr::null(),
        ) != 0
        {
            child_fail(err_w, b"make / private");
        }
        if libc::mount(
            p.rootfs.as_ptr(),
            p.rootfs.as_ptr(),
            std::ptr::null(),
            libc::MS_BIND | libc::MS_REC,
            std::ptr::null(),
        ) != 0
        {
            child_fail(err_w, b"bind rootfs");
        }
        for m in &p.mounts {
            if m.is_file {
                if let Some(dir) = m.target_path.parent() {
                    mkdir_p(dir);
                }
                if !m.target_path.exists() {
                    let _ = std::fs::File::create(&m.target_path);
                }
            } else {
                mkdir_p(&m.target_path);
            }
            let src = m.source.as_ref().map_or(std::ptr::null(), |s| s.as_ptr());
            let fst = m.fstype.as_ref().map_or(std::ptr::null(), |s| s.as_ptr());
            let data = m
                .data
                .as_ref()
                .map_or(std::ptr::null(), |s| s.as_ptr().cast());
            if libc::mount(src, m.target.as_ptr(), fst, m.flags, data) != 0 {
                // sysfs cannot be mounted in a netns we do not own: bind the host's instead.
                if m.fstype.as_deref().map(|f| f.to_bytes()) == Some(b"sysfs")
                    && libc::mount(
                        c"/sys".as_ptr(),
                        m.target.as_ptr(),
                        std::ptr::null(),
                        libc::MS_BIND | libc::MS_REC,
                        std::ptr::null(),
                    ) == 0
                {
                    libc::mount(
                        std::ptr::null(),
                        m.target.as_ptr(),
                        std::ptr::null(),
                        libc::MS_BIND | libc::MS_REMOUNT | libc::MS_RDONLY | libc::MS_REC,
                        std::ptr::null(),
                    );
                    continue;
                }
                child_fail(err_w, m.target.as_bytes());
            }
            if m.readonly_remount
                && libc::mount(
                    std::ptr::null(),
                    m.target.as_ptr(),
                    std::ptr::null(),
                    libc::MS_BIND | libc::MS_REMOUNT | libc::MS_RDONLY | (m.flags & libc::MS_REC),
                    std::ptr::null(),
                ) != 0
            {
                child_fail(err_w, b"remount read-only");
            }
        }
        for (host, target) in &p.devices {
            let t = target.as_ptr();
            let fd = libc::open(t, libc::O_CREAT | libc::O_WRONLY | libc::O_CLOEXEC, 0o644);
            if fd >= 0 {
                libc::close(fd);
            }
            if libc::mount(
                host.as_ptr(),
                t,
                std::ptr::null(),
                libc::MS_BIND,
                std::ptr::null(),
            ) != 0
            {
                child_fail(err_w, target.as_bytes());
            }
        }
        for (from, to) in &p.symlinks {
            libc::symlink(from.as_ptr(), to.as_ptr());
        }
        if libc::chdir(p.rootfs.as_ptr()) != 0 {
            child_fail(err_w, b"chdir rootfs");
        }
        let dot = c".".as_ptr();
        if libc::syscall(libc::SYS_pivot_root, dot, dot) != 0 {
            child_fail(err_w, b"pivot_root");
        }
        if libc::umount2(dot, libc::MNT_DETACH) != 0 {
            child_fail(err_w, b"detach old root");
        }
        libc::chdir(c"/".as_ptr());
        for m in &p.masked {
            // a directory gets an empty read-only tmpfs, a file /dev/null
            if libc::mount(
                c"/dev/null".as_ptr(),
                m.as_ptr(),
                std::ptr::null(),
                libc::MS_BIND,
                std::ptr::null(),
            ) != 0
            {
                libc::mount(
                    c"tmpfs".as_ptr(),
                    m.as_ptr(),
                    c"tmpfs".as_ptr(),
                    libc::MS_RDONLY,
                    std::ptr::null(),
                );
            }
        }
        if p.readonly
            && libc::mount(
                std::ptr::null(),
                c"/".as_ptr(),
                std::ptr::null(),
                libc::MS_BIND | libc::MS_REMOUNT | libc::MS_RDONLY,
                std::ptr::null(),
            ) != 0
        {
            child_fail(err_w, b"remount / read-only");
        }
        if let Some(h) = &p.hostname
            && libc::sethostname(h.as_ptr(), h.as_bytes().len()) != 0
        {
            child_fail(err_w, b"sethostname");
        }
        for (res, lim) in &p.rlimits {
            let mut cur = libc::rlimit {
                rlim_cur: 0,
                rlim_max: 0,
            };
            libc::getrlimit(*res as _, &mut cur);
            let lim = libc::rlimit {
                rlim_cur: lim.rlim_cur.min(cur.rlim_max),
                rlim_max: lim.rlim_max.min(cur.rlim_max),
            };
            if libc::setrlimit(*res as _, &lim) != 0 {
                child_fail(err_w, b"setrlimit");
            }
        }
        if libc::setgroups(p.groups.len(), p.groups.as_ptr()) != 0 {
            child_fail(err_w, b"setgroups");
        }
        if libc::setgid(p.gid) != 0 {
            child_fail(err_w, b"setgid");
        }
        if libc::setuid(p.uid) != 0 {
            child_fail(err_w, b"setuid");
        }
        if libc::chdir(p.cwd.as_ptr()) != 0 {
            child_fail(err_w, b"chdir to cwd");
        }
        if p.no_new_privs {
            libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
        }
        let mut argv: Vec<*const libc::c_char> = p.argv.iter().map(|a| a.as_ptr()).collect();
        argv.push(std::ptr::null());
        let mut envp: Vec<*const libc::c_char> = p.envp.iter().map(|a| a.as_ptr()).collect();
        envp.push(std::ptr::null());
        // default signal dispositions and mask for the new program
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigprocmask(libc::SIG_SETMASK, &set, std::ptr::null_mut());
        for s in 1..32 {
            if s != libc::SIGKILL && s != libc::SIGSTOP {
                libc::signal(s, libc::SIG_DFL);
            }
        }
        if p.init {
            run_init(err_w);
        }
        let prog = &p.argv[0];
        if prog.as_bytes().contains(&b'/') {
            libc::execve(prog.as_ptr(), argv.as_ptr(), envp.as_ptr());
        } else {
            let mut buf = [0u8; 4096];
            for dir in &p.path_dirs {
                let d = dir.as_bytes();
                let n = prog.as_bytes();
                if d.len() + n.len() + 2 > buf.len() {
                    continue;
                }
                buf[..d.len()].copy_from_slice(d);
                buf[d.len()] = b'/';
                buf[d.len() + 1..d.len() + 1 + n.len()].copy_from_slice(n);
                buf[d.len() + 1 + n.len()] = 0;
                libc::execve(buf.as_ptr().cast(), argv.as_ptr(), envp.as_ptr());
            }
            let msg = b"exec: \"";
            libc::write(err_w, msg.as_ptr().cast(), msg.len());
            libc::write(err_w, prog.as_ptr().cast(), prog.as_bytes().len());
            let msg = b"\": executable file not found in $PATH";
            libc::write(err_w, msg.as_ptr().cast(), msg.len());
            libc::_exit(127);
        }
        let msg = b"exec ";
        libc::write(err_w, msg.as_ptr().cast(), msg.len());
        child_fail(err_w, prog.as_bytes())
    }
}

/// `--init`: fork; the child goes on to exec the command, this process stays pid 1,
/// reaps every zombie and forwards signals to the child (tini's job, without tini).
/// Returns only in the child.
fn run_init(err_w: libc::c_int) {
    // SAFETY: signal-mask and process calls; no allocation.
    unsafe {
        let mut all: libc::sigset_t = std::mem::zeroed();
        libc::sigfillset(&mut all);
        let mut old: libc::sigset_t = std::mem::zeroed();
        libc::sigprocmask(libc::SIG_SETMASK, &all, &mut old);
        let child = libc::fork();
        if child < 0 {
            child_fail(err_w, b"fork init child");
        }
        if child == 0 {
            libc::setsid();
            libc::sigprocmask(libc::SIG_SETMASK, &old, std::ptr::null_mut());
            return;
        }
        libc::close(err_w);
        libc::prctl(libc::PR_SET_NAME, c"berth-init".as_ptr(), 0, 0, 0);
        loop {
            let mut info: libc::siginfo_t = std::mem::zeroed();
            let sig = libc::sigwaitinfo(&all, &mut info);
            if sig < 0 {
                continue;
            }
            if sig != libc::SIGCHLD {
                libc::kill(child, sig);
                continue;
            }
            loop {
                let mut st = 0;
                let r = libc::waitpid(-1, &mut st, libc::WNOHANG);
                if r <= 0 {
                    break;
                }
                if r == child {
                    let code = if libc::WIFEXITED(st) {
                        libc::WEXITSTATUS(st)
                    } else {
                        128 + libc::WTERMSIG(st)
                    };
                    libc::_exit(code);
                }
            }
        }
    }
}

fn pipe_cloexec() -> Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0; 2];
    // SAFETY: pipe2 fills two fds we then own.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(Error::last_os("pipe"));
    }
    // SAFETY: fresh fds from pipe2.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

/// Create and start the container of `bundle` (its `config.json`); the process inherits
/// this process's fds 0/1/2 and is its child. `cgroup` is created (with the spec's
/// resources) and the process put in it before it execs. Returns its host pid.
pub fn create_start(id: &str, bundle: &Path, netns: Option<&Path>) -> Result<i32> {
    let cfg = bundle.join("config.json");
    let spec: Value = crate::fsutil::read_json(&cfg)?;
    let prepared = prepare(&spec, bundle, netns)?;
    let cgroup = cgroups::create(id, &spec["linux"]["resources"])?;
    let (sync_r, sync_w) = pipe_cloexec()?;
    let (err_r, err_w) = pipe_cloexec()?;
    let flags = prepared.clone_flags | libc::SIGCHLD as libc::c_ulong;
    // SAFETY: clone without CLONE_VM and with no stack behaves like fork; the child only
    // runs child_main, which ends in exec or _exit.
    let pid = unsafe { libc::syscall(libc::SYS_clone, flags, 0usize, 0usize, 0usize, 0usize) };
    if pid < 0 {
        let e = Error::last_os("clone container process");
        cgroups::remove(&cgroup);
        return Err(e);
    }
    if pid == 0 {
        drop(sync_w);
        drop(err_r);
        child_main(&prepared, sync_r.as_raw_fd(), err_w.as_raw_fd());
    }
    let pid = pid as i32;
    drop(sync_r);
    drop(err_w);
    let fail = |e: Error| {
        // SAFETY: our own child.
        unsafe {
            libc::kill(pid, libc::SIGKILL);
            libc::waitpid(pid, std::ptr::null_mut(), 0);
        }
        cgroups::remove(&cgroup);
        e
    };
    if let Err(e) = cgroups::add(&cgroup, pid) {
        return Err(fail(e));
    }
    // SAFETY: write one byte to our pipe.
    if unsafe { libc::write(sync_w.as_raw_fd(), b"1".as_ptr().cast(), 1) } != 1 {
        return Err(fail(Error::last_os("start container")));
    }
    drop(sync_w);
    let mut msg = String::new();
    let mut f = std::fs::File::from(err_r);
    let _ = f.read_to_string(&mut msg);
    if !msg.is_empty() {
        // SAFETY: reap our own child.
        unsafe { libc::waitpid(pid, std::ptr::null_mut(), 0) };
        cgroups::remove(&cgroup);
        return Err(Error::Runtime(format!(
            "runc create failed: unable to start container process: {msg}"
        )));
    }
    Ok(pid)
}

/// What [`exec`] runs.
#[derive(Debug, Clone, Default)]
pub struct ExecSpec {
    /// Program and arguments.
    pub args: Vec<String>,
    /// `KEY=value`.
    pub env: Vec<String>,
    /// Working directory inside the container.
    pub cwd: String,
    /// User.
    pub uid: u32,
    /// Group.
    pub gid: u32,
    /// Supplementary groups.
    pub groups: Vec<u32>,
}

/// Run a process in the namespaces and cgroup of the container whose pid 1 is
/// `target_pid`, inheriting the caller's fds 0/1/2. Returns the pid of a child of the
/// caller whose exit status is the process's.
pub fn exec(id: &str, target_pid: i32, spec: &ExecSpec) -> Result<i32> {
    if spec.args.is_empty() {
        return Err(Error::Invalid("no command specified".into()));
    }
    let mut ns_fds = Vec::new();
    for ns in ["ipc", "uts", "net", "pid", "mnt"] {
        let p = format!("/proc/{target_pid}/ns/{ns}");
        let f = std::fs::File::open(&p).ctx("open namespace", Path::new(&p))?;
        ns_fds.push(OwnedFd::from(f));
    }
    let argv: Vec<CString> = spec.args.iter().map(|a| cstr(a)).collect::<Result<_>>()?;
    let envp: Vec<CString> = spec.env.iter().map(|a| cstr(a)).collect::<Result<_>>()?;
    let cwd = cstr(if spec.cwd.is_empty() { "/" } else { &spec.cwd })?;
    let path_var = spec
        .env
        .iter()
        .find_map(|e| e.strip_prefix("PATH="))
        .unwrap_or("/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
    let dirs: Vec<CString> = path_var
        .split(':')
        .filter(|d| !d.is_empty())
        .map(cstr)
        .collect::<Result<_>>()?;
    let procs: Vec<CString> = {
        let rel = cgroups::path(id);
        let rel = rel.trim_start_matches('/').to_string();
        cgroups_procs_files(&rel)
            .iter()
            .map(|p| cstr(&p.to_string_lossy()))
            .collect::<Result<_>>()?
    };
    let (err_r, err_w) = pipe_cloexec()?;
    // SAFETY: fork; the child only makes system calls on prepared data, then execs or exits.
    let child = unsafe { libc::fork() };
    if child < 0 {
        return Err(Error::last_os("fork exec process"));
    }
    if child == 0 {
        drop(err_r);
        let ew = err_w.as_raw_fd();
        // SAFETY: in the child.
        unsafe {
            let me = b"0";
            for f in &procs {
                let fd = libc::open(f.as_ptr(), libc::O_WRONLY | libc::O_CLOEXEC);
                if fd >= 0 {
                    libc::write(fd, me.as_ptr().cast(), 1);
                    libc::close(fd);
                }
            }
            for fd in &ns_fds {
                if libc::setns(fd.as_raw_fd(), 0) != 0 {
                    child_fail(ew, b"setns");
                }
            }
            // entering the pid namespace takes effect for children: fork once more
            let g = libc::fork();
            if g < 0 {
                child_fail(ew, b"fork");
            }
            if g > 0 {
                libc::close(ew);
                let mut all: libc::sigset_t = std::mem::zeroed();
                libc::sigfillset(&mut all);
                libc::sigdelset(&mut all, libc::SIGCHLD);
                libc::sigprocmask(libc::SIG_SETMASK, &all, std::ptr::null_mut());
                let mut st = 0;
                while libc::waitpid(g, &mut st, 0) < 0 {}
                libc::_exit(if libc::WIFEXITED(st) {
                    libc::WEXITSTATUS(st)
                } else {
                    128 + libc::WTERMSIG(st)
                });
            }
            if libc::setgroups(spec.groups.len(), spec.groups.as_ptr()) != 0
                || libc::setgid(spec.gid) != 0
                || libc::setuid(spec.uid) != 0
            {
                child_fail(ew, b"set user");
            }
            if libc::chdir(cwd.as_ptr()) != 0 {
                child_fail(ew, b"chdir to cwd");
            }
            let mut set: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut set);
            libc::sigprocmask(libc::SIG_SETMASK, &set, std::ptr::null_mut());
            let mut a: Vec<*const libc::c_char> = argv.iter().map(|x| x.as_ptr()).collect();
            a.push(std::ptr::null());
            let mut e: Vec<*const libc::c_char> = envp.iter().map(|x| x.as_ptr()).collect();
            e.push(std::ptr::null());
            let prog = &argv[0];
            if prog.as_bytes().contains(&b'/') {
                libc::execve(prog.as_ptr(), a.as_ptr(), e.as_ptr());
                child_fail(ew, b"exec");
            }
            let mut buf = [0u8; 4096];
            for d in &dirs {
                let (d, n) = (d.as_bytes(), prog.as_bytes());
                if d.len() + n.len() + 2 > buf.len() {
                    continue;
                }
                buf[..d.len()].copy_from_slice(d);
                buf[d.len()] = b'/';
                buf[d.len() + 1..d.len() + 1 + n.len()].copy_from_slice(n);
                buf[d.len() + 1 + n.len()] = 0;
                libc::execve(buf.as_ptr().cast(), a.as_ptr(), e.as_ptr());
            }
            let msg = b"executable file not found in $PATH";
            libc::write(ew, msg.as_ptr().cast(), msg.len());
            libc::_exit(127);
        }
    }
    drop(err_w);
    let mut msg = String::new();
    let _ = std::fs::File::from(err_r).read_to_string(&mut msg);
    if !msg.is_empty() {
        // SAFETY: reap our child.
        unsafe { libc::waitpid(child, std::ptr::null_mut(), 0) };
        return Err(Error::Runtime(format!(
            "exec failed: unable to start container process: exec: \"{}\": {msg}",
            spec.args[0]
        )));
    }
    Ok(child)
}

fn cgroups_procs_files(rel: &str) -> Vec<PathBuf> {
    let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    mountinfo
        .lines()
        .filter_map(|line| {
            let (left, right) = line.split_once(" - ")?;
            let fstype = right.split(' ').next()?;
            if fstype != "cgroup" && fstype != "cgroup2" {
                return None;
            }
            let mp = left.split(' ').nth(4)?;
            let f = Path::new(mp).join(rel).join("cgroup.procs");
            f.exists().then_some(f)
        })
        .collect()
}

/// Wait for a child started by [`exec`]; its exit code.
pub fn wait_child(pid: i32) -> i32 {
    let mut st = 0;
    // SAFETY: waitpid on our child.
    while unsafe { libc::waitpid(pid, &mut st, 0) } < 0 {
        if std::io::Error::last_os_error().kind() != std::io::ErrorKind::Interrupted {
            return 255;
        }
    }
    if libc::WIFEXITED(st) {
        libc::WEXITSTATUS(st)
    } else {
        128 + libc::WTERMSIG(st)
    }
}

/// Release what the runtime made for container `id` after its process was reaped.
pub fn delete(id: &str) {
    cgroups::remove(&cgroups::path(id));
}

/// Send `sig` to the container's pid 1.
pub fn kill(pid: i32, sig: i32) -> Result<()> {
    // SAFETY: kill has no memory preconditions.
    if unsafe { libc::kill(pid, sig) } != 0 {
        return Err(Error::last_os("kill container"));
    }
    Ok(())
}

/// cgroup handling: through container-core's cgroups module when linked, else the v1/v2
/// files written directly.
pub mod cgroups {
    use super::*;

    /// The cgroup path of container `id`.
    pub fn path(id: &str) -> String {
        format!("/berth/{id}")
    }

    fn hierarchies() -> Vec<(PathBuf, bool)> {
        // (mount point, is_v2)
        let mut out = Vec::new();
        let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
        for line in mountinfo.lines() {
            let Some((left, right)) = line.split_once(" - ") else {
                continue;
            };
            let mp = left.split(' ').nth(4).unwrap_or_default();
            let fstype = right.split(' ').next().unwrap_or_default();
            if fstype == "cgroup2" {
                out.push((PathBuf::from(mp), true));
            } else if fstype == "cgroup" {
                out.push((PathBuf::from(mp), false));
            }
        }
        out
    }

    fn write(dir: &Path, file: &str, value: &str) -> Result<()> {
        let p = dir.join(file);
        if !p.exists() {
            return Ok(());
        }
        std::fs::write(&p, value).ctx("write cgroup file", &p)
    }

    /// Create the cgroup of `id` in every hierarchy and apply `resources` (OCI JSON).
    pub fn create(id: &str, resources: &Value) -> Result<String> {
        let path = path(id);
        let rel = path.trim_start_matches('/');
        for (mp, v2) in hierarchies() {
            let dir = mp.join(rel);
            std::fs::create_dir_all(&dir).ctx("create cgroup", &dir)?;
            let r = resources;
            let res = (|| -> Result<()> {
                if v2 {
                    if let Some(m) = r["memory"]["limit"].as_i64().filter(|m| *m > 0) {
                        write(&dir, "memory.max", &m.to_string())?;
                    }
                    if let Some(p) = r["pids"]["limit"].as_i64().filter(|p| *p > 0) {
                        write(&dir, "pids.max", &p.to_string())?;
                    }
                    if let Some(q) = r["cpu"]["quota"].as_i64().filter(|q| *q > 0) {
                        let period = r["cpu"]["period"].as_u64().unwrap_or(100_000);
                        write(&dir, "cpu.max", &format!("{q} {period}"))?;
                    }
                    return Ok(());
                }
                let ctrl = mp
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default();
                let has = |c: &str| ctrl.split(',').any(|x| x == c);
                if has("memory") {
                    if let Some(m) = r["memory"]["limit"].as_i64().filter(|m| *m > 0) {
                        write(&dir, "memory.limit_in_bytes", &m.to_string())?;
                    }
                    if let Some(s) = r["memory"]["swap"].as_i64().filter(|m| *m > 0) {
                        let _ = write(&dir, "memory.memsw.limit_in_bytes", &s.to_string());
                    }
                    if let Some(m) = r["memory"]["reservation"].as_i64().filter(|m| *m > 0) {
                        write(&dir, "memory.soft_limit_in_bytes", &m.to_string())?;
                    }
                    if let Some(s) = r["memory"]["swappiness"].as_u64() {
                        let _ = write(&dir, "memory.swappiness", &s.to_string());
                    }
                    if r["memory"]["disableOOMKiller"].as_bool() == Some(true) {
                        write(&dir, "memory.oom_control", "1")?;
                    }
                }
                if has("pids")
                    && let Some(p) = r["pids"]["limit"].as_i64().filter(|p| *p > 0)
                {
                    write(&dir, "pids.max", &p.to_string())?;
                }
                if has("cpu") {
                    if let Some(p) = r["cpu"]["period"].as_u64() {
                        write(&dir, "cpu.cfs_period_us", &p.to_string())?;
                    }
                    if let Some(q) = r["cpu"]["quota"].as_i64().filter(|q| *q > 0) {
                        write(&dir, "cpu.cfs_quota_us", &q.to_string())?;
                    }
                    if let Some(s) = r["cpu"]["shares"].as_u64().filter(|s| *s > 0) {
                        write(&dir, "cpu.shares", &s.to_string())?;
                    }
                }
                if has("cpuset") {
                    // a v1 cpuset cgroup takes no task until cpus and mems are set: inherit
                    let mut d = mp.clone();
                    for part in rel.split('/') {
                        d = d.join(part);
                        for f in ["cpuset.cpus", "cpuset.mems"] {
                            let cur = std::fs::read_to_string(d.join(f)).unwrap_or_default();
                            if cur.trim().is_empty() {
                                let parent = d.parent().map(|p| p.join(f)).unwrap_or_default();
                                let v = std::fs::read_to_string(parent).unwrap_or_default();
                                write(&d, f, v.trim())?;
                            }
                        }
                    }
                    if let Some(c) = r["cpu"]["cpus"].as_str().filter(|c| !c.is_empty()) {
                        write(&dir, "cpuset.cpus", c)?;
                    }
                }
                Ok(())
            })();
            if let Err(e) = res {
                remove(&path);
                return Err(e);
            }
        }
        Ok(path)
    }

    /// Put `pid` in the cgroup at `path` in every hierarchy.
    pub fn add(path: &str, pid: i32) -> Result<()> {
        let rel = path.trim_start_matches('/');
        for (mp, _) in hierarchies() {
            let f = mp.join(rel).join("cgroup.procs");
            std::fs::write(&f, pid.to_string()).ctx("join cgroup", &f)?;
        }
        Ok(())
    }

    /// Directory of the cgroup in the hierarchy holding `controller` (v1) or the v2 one.
    pub fn dir(path: &str, controller: &str) -> Option<PathBuf> {
        let rel = path.trim_start_matches('/');
        let hs = hierarchies();
        hs.iter()
            .find(|(mp, v2)| {
                !v2 && mp
                    .file_name()
                    .is_some_and(|n| n.to_string_lossy().split(',').any(|c| c == controller))
            })
            .or_else(|| {
                hs.iter()
                    .find(|(mp, v2)| *v2 && mp.join(rel).join(format!("{controller}.max")).exists())
            })
            .map(|(mp, _)| mp.join(rel))
    }

    /// Pids in the cgroup.
    pub fn pids(path: &str) -> Vec<i32> {
        let Some(d) = dir(path, "pids").or_else(|| dir(path, "memory")) else {
            return Vec::new();
        };
        std::fs::read_to_string(d.join("cgroup.procs"))
            .unwrap_or_default()
            .lines()
            .filter_map(|l| l.trim().parse().ok())
            .collect()
    }

    /// Freeze (true) or thaw the cgroup.
    pub fn freeze(path: &str, frozen: bool) -> Result<()> {
        if let Some(d) = dir(path, "freezer") {
            let f = d.join("freezer.state");
            return std::fs::write(&f, if frozen { "FROZEN" } else { "THAWED" })
                .ctx("write freezer", &f);
        }
        let rel = path.trim_start_matches('/');
        for (mp, v2) in hierarchies() {
            let f = mp.join(rel).join("cgroup.freeze");
            if v2 && f.exists() {
                return std::fs::write(&f, if frozen { "1" } else { "0" }).ctx("write freezer", &f);
            }
        }
        Err(Error::Runtime("no freezer cgroup".into()))
    }

    /// Remove the cgroup from every hierarchy (retrying while the kernel releases it).
    pub fn remove(path: &str) {
        let rel = path.trim_start_matches('/');
        for (mp, _) in hierarchies() {
            let dir = mp.join(rel);
            for _ in 0..50 {
                match std::fs::remove_dir(&dir) {
                    Ok(()) => break,
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => break,
                    Err(_) => std::thread::sleep(std::time::Duration::from_millis(4)),
                }
            }
        }
    }
}
