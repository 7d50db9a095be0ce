//! The container side of creation and exec: everything that runs in the forked child,
//! from joining namespaces to `execve`.
//!
//! Process tree: the caller forks an *intermediate* process (glibc `fork`, safe in a
//! multi-threaded caller), which joins namespaces given by path and then `clone`s the
//! container's init with `CLONE_PARENT`: the init is a child of the caller (so the caller
//! can `waitpid` it) and pid 1 of its new pid namespace. The intermediate reports the
//! init's pid and exits. No binary is re-executed.

use std::convert::Infallible;
use std::ffi::CString;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::sched::CloneFlags;

use crate::caps::CapsPlan;
use crate::channel::{Channel, Msg};
use crate::error::{ChildError, ChildErrorKind};
use crate::hooks::HookSpec;
use crate::lsm::LsmPlan;
use crate::rootfs::RootfsPlan;
use crate::seccomp::Compiled;
use crate::sys;

/// The process part of the spec, ready for the child.
pub(crate) struct ProcessPlan {
    pub args: Vec<CString>,
    pub env: Vec<CString>,
    pub path_env: String,
    pub cwd: PathBuf,
    pub uid: u32,
    pub gid: u32,
    pub additional_gids: Vec<u32>,
    pub umask: Option<u32>,
    pub rlimits: Vec<(libc::__rlimit_resource_t, u64, u64)>,
    pub caps: Option<CapsPlan>,
    pub no_new_privileges: bool,
    pub seccomp: Option<Compiled>,
    pub lsm: LsmPlan,
    pub terminal: bool,
    pub console_size: Option<(u16, u16)>,
    pub stdio: [Option<OwnedFd>; 3],
    pub preserve_fds: i32,
    /// Stay as a reaping, signal-forwarding pid 1 and run the program in a child
    /// (`docker run --init`, tini's job).
    pub reaper: bool,
}

/// What the intermediate process does before cloning.
pub(crate) struct NsPlan {
    /// (fd, type) to setns into, user namespace first.
    pub join: Vec<(OwnedFd, CloneFlags)>,
    /// Flags for clone (new namespaces).
    pub clone_flags: CloneFlags,
    /// Unshare a cgroup namespace after joining the cgroup.
    pub new_cgroupns: bool,
    /// New time namespace with these offsets ("monotonic 1 0\n...").
    pub time_offsets: Option<String>,
    pub new_userns: bool,
    pub new_netns: bool,
}

/// Everything the container's init needs.
pub(crate) struct InitPlan {
    pub ns: NsPlan,
    /// None when joining an existing mount namespace.
    pub rootfs: Option<RootfsPlan>,
    pub hostname: Option<CString>,
    pub domainname: Option<CString>,
    pub process: ProcessPlan,
    /// O_PATH fd of exec.fifo.
    pub fifo: Option<OwnedFd>,
    /// The parent has prestart/createRuntime hooks to run.
    pub parent_hooks: bool,
    pub create_container_hooks: Vec<HookSpec>,
    pub start_container_hooks: Vec<HookSpec>,
    /// Handles for the init to join its cgroup itself (clone3 into the cgroup2 directory,
    /// `0` to each v1 `tasks`); None: the parent moves it (`cgroup.procs`).
    pub cgroup: Option<crate::cgroups::Attach>,
}

static HOOK_STATE: std::sync::OnceLock<String> = std::sync::OnceLock::new();

/// The OCI state JSON the parent sent with `Go` (for createContainer/startContainer hooks).
pub(crate) fn hook_state() -> String {
    HOOK_STATE.get().cloned().unwrap_or_default()
}

/// Run in the forked intermediate. Never returns.
pub(crate) fn intermediate(plan: &InitPlan, chan: &Channel, extra_keep: &[RawFd]) -> ! {
    let r = intermediate_inner(plan, chan, extra_keep);
    match r {
        Ok(Some(())) => {
            // We are the container's init.
            let err = match init(plan, chan) {
                Err(e) => e,
                Ok(never) => match never {},
            };
            report_and_exit(chan, err)
        }
        Ok(None) => exit(0),
        Err(e) => report_and_exit(chan, e),
    }
}

pub(crate) fn report_and_exit(chan: &Channel, e: ChildError) -> ! {
    let _ = chan.send(&Msg::Error(e), None);
    exit(1)
}

pub(crate) fn exit(code: i32) -> ! {
    // SAFETY: _exit skips atexit handlers and destructors of the copied parent state.
    unsafe { libc::_exit(code) }
}

/// Returns Some in the cloned init, None in the intermediate after reporting.
fn intermediate_inner(
    plan: &InitPlan,
    chan: &Channel,
    extra_keep: &[RawFd],
) -> Result<Option<()>, ChildError> {
    let mut keep: Vec<RawFd> = vec![chan.raw()];
    keep.extend(plan.ns.join.iter().map(|(fd, _)| fd.as_raw_fd()));
    keep.extend(plan.fifo.iter().map(|f| f.as_raw_fd()));
    keep.extend(plan.process.stdio.iter().flatten().map(|f| f.as_raw_fd()));
    keep.extend_from_slice(extra_keep);
    keep.extend(plan.cgroup.iter().flat_map(|a| a.fds()));
    // No fd of the caller beyond stdio and the preserved ones goes further.
    sys::close_all_except(3 + plan.process.preserve_fds, &mut keep);
    // SAFETY: prctl with constant arguments. Not dumpable: no one in the container can
    // open /proc/<pid>/exe of this (runtime) process (CVE-2019-5736).
    unsafe { libc::prctl(libc::PR_SET_DUMPABLE, 0, 0, 0, 0) };
    for (fd, typ) in &plan.ns.join {
        nix::sched::setns(fd, *typ)
            .map_err(|e| ChildError::sys("namespaces", format!("setns {typ:?}"), e))?;
    }
    if let Some(offsets) = &plan.ns.time_offsets {
        nix::sched::unshare(CloneFlags::from_bits_retain(libc::CLONE_NEWTIME))
            .map_err(|e| ChildError::sys("namespaces", "unshare time namespace", e))?;
        std::fs::write("/proc/self/timens_offsets", offsets).map_err(|e| {
            ChildError::sys(
                "namespaces",
                "write /proc/self/timens_offsets",
                Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO)),
            )
        })?;
    }
    // No exit signal: with CLONE_PARENT the kernel gives the child the caller's own exit
    // signal (SIGCHLD, from the caller's fork), and clone3 refuses CLONE_PARENT with a
    // non-zero exit signal (EINVAL), which would lose CLONE_INTO_CGROUP and leave the init
    // to move itself through cgroup.procs — an RCU grace period (10–20 ms) per create.
    let flags = plan.ns.clone_flags.bits() as libc::c_ulong | libc::CLONE_PARENT as libc::c_ulong;
    let pid = match &plan.cgroup {
        Some(a) => a.clone_child(flags).map(i64::from),
        // SAFETY: a fork-like clone (no new stack): this process is single-threaded (forked).
        None => sys::cvt_long(unsafe {
            libc::syscall(libc::SYS_clone, flags, 0usize, 0usize, 0usize, 0usize)
        }),
    }
    .map_err(|e| ChildError::sys("namespaces", format!("clone {:?}", plan.ns.clone_flags), e))?;
    if pid == 0 {
        return Ok(Some(()));
    }
    chan.send(&Msg::InitPid(pid as i32), None)
        .map_err(|e| ChildError::sys("sync", "send init pid", e))?;
    Ok(None)
}

/// The container's init: set up, report Created, wait for start, exec.
fn init(plan: &InitPlan, chan: &Channel) -> Result<Infallible, ChildError> {
    if let Some(a) = &plan.cgroup {
        a.join_self()
            .map_err(|(p, e)| ChildError::sys("cgroup", format!("join {}", p.display()), e))?;
    }
    set_stdio(&plan.process)?;
    match chan.recv() {
        Ok((Msg::Go(state), _)) => {
            let _ = HOOK_STATE.set(state);
        }
        Ok((m, _)) => {
            return Err(ChildError::other(
                "sync",
                format!("unexpected message {m:?}"),
                ChildErrorKind::Protocol,
            ));
        }
        Err(e) => return Err(ChildError::sys("sync", "wait for go", e)),
    }
    if plan.ns.new_userns {
        // The parent has written the id maps: become the container's root.
        // SAFETY: plain syscalls.
        unsafe {
            sys::cvt(libc::setresgid(0, 0, 0))
                .map_err(|e| ChildError::sys("user namespace", "setresgid 0", e))?;
            sys::cvt(libc::setresuid(0, 0, 0))
                .map_err(|e| ChildError::sys("user namespace", "setresuid 0", e))?;
        }
    }
    if plan.ns.new_cgroupns {
        nix::sched::unshare(CloneFlags::CLONE_NEWCGROUP)
            .map_err(|e| ChildError::sys("namespaces", "unshare cgroup namespace", e))?;
    }
    if plan.ns.new_netns {
        loopback_up().map_err(|e| ChildError::sys("network", "bring up lo", e))?;
    }
    if let Some(h) = &plan.hostname {
        // SAFETY: valid string.
        sys::cvt(unsafe { libc::sethostname(h.as_ptr(), h.as_bytes().len()) })
            .map_err(|e| ChildError::sys("hostname", format!("sethostname {h:?}"), e))?;
    }
    if let Some(d) = &plan.domainname {
        // SAFETY: valid string.
        sys::cvt(unsafe { libc::setdomainname(d.as_ptr(), d.as_bytes().len()) })
            .map_err(|e| ChildError::sys("hostname", format!("setdomainname {d:?}"), e))?;
    }
    if let Some(rootfs) = &plan.rootfs {
        let _root = crate::rootfs::mount_all(rootfs)?;
        if plan.parent_hooks {
            chan.send(&Msg::RunHooks, None)
                .map_err(|e| ChildError::sys("sync", "request hooks", e))?;
            chan.expect("sync", |m| matches!(m, Msg::HooksDone))?;
        }
        for h in &plan.create_container_hooks {
            h.run()
                .map_err(|e| ChildError::other("createContainer hook", e, ChildErrorKind::Hook))?;
        }
        crate::rootfs::enter(rootfs)?;
        crate::rootfs::finish(rootfs)?;
    } else if plan.parent_hooks {
        chan.send(&Msg::RunHooks, None)
            .map_err(|e| ChildError::sys("sync", "request hooks", e))?;
        chan.expect("sync", |m| matches!(m, Msg::HooksDone))?;
    }
    let prepared = prepare_process(
        &plan.process,
        chan,
        plan.rootfs.as_ref().is_some_and(|r| r.setup_dev),
    )?;
    chan.send(&Msg::Created, None)
        .map_err(|e| ChildError::sys("sync", "report created", e))?;
    if let Some(fifo) = &plan.fifo {
        // Blocks until `start` opens the fifo for reading.
        let path = sys::fd_path(fifo.as_raw_fd());
        let w = sys::open(&path, libc::O_WRONLY, 0)
            .map_err(|e| ChildError::sys("start", "open exec.fifo", e))?;
        sys::write_all(w.as_raw_fd(), b"0")
            .map_err(|e| ChildError::sys("start", "write exec.fifo", e))?;
    }
    for h in &plan.start_container_hooks {
        if let Err(e) = h.run() {
            fatal(&format!("startContainer hook: {e}"), 1);
        }
    }
    exec(&plan.process, prepared)
}

/// Become the process the spec describes, up to (not including) execve. Shared by
/// create and exec. Returns the resolved program path.
pub(crate) fn prepare_process(
    p: &ProcessPlan,
    chan: &Channel,
    dev_console: bool,
) -> Result<Prepared, ChildError> {
    if p.terminal {
        setup_terminal(p, chan, dev_console)?;
    } else {
        // SAFETY: plain syscalls; setsid fails harmlessly if already a session leader. A
        // caller that hands a pty slave as stdin gets it as the controlling terminal.
        unsafe {
            libc::setsid();
            if libc::isatty(0) == 1 {
                libc::ioctl(0, libc::TIOCSCTTY, 0);
            }
        }
    }
    for &(res, soft, hard) in &p.rlimits {
        let lim = libc::rlimit {
            rlim_cur: soft,
            rlim_max: hard,
        };
        // SAFETY: valid struct.
        sys::cvt(unsafe { libc::setrlimit(res, &lim) })
            .map_err(|e| ChildError::sys("rlimits", format!("setrlimit {res} {soft}:{hard}"), e))?;
    }
    let cwd =
        sys::cpath(&p.cwd).map_err(|e| ChildError::sys("cwd", p.cwd.display().to_string(), e))?;
    // SAFETY: valid string. chdir after pivot_root: the cwd is inside the container
    // (CVE-2024-21626).
    let cwd_early = sys::cvt(unsafe { libc::chdir(cwd.as_ptr()) });
    if let Err(e) = cwd_early
        && e != Errno::EACCES
    {
        return Err(ChildError::sys(
            "cwd",
            format!("chdir {}", p.cwd.display()),
            e,
        ));
    }
    let program = resolve_program(p)?;
    if let Some(caps) = &p.caps {
        caps.drop_bounding().map_err(|e| {
            ChildError::other("capabilities", e.to_string(), ChildErrorKind::Syscall)
        })?;
        crate::caps::keep_caps_on_setuid().map_err(|e| {
            ChildError::other("capabilities", e.to_string(), ChildErrorKind::Syscall)
        })?;
    }
    let mut seccomp_loaded = false;
    if let Some(s) = &p.seccomp
        && (!p.no_new_privileges || s.needs_notify())
    {
        // Without no_new_privs the filter must go in while CAP_SYS_ADMIN is still held
        // (runc does the same); the profile then covers the rest of the setup.
        load_seccomp(s, chan)?;
        seccomp_loaded = true;
    }
    // SAFETY: valid slice pointer and length.
    let r = unsafe { libc::setgroups(p.additional_gids.len(), p.additional_gids.as_ptr()) };
    if r == -1 && !(Errno::last() == Errno::EPERM && p.additional_gids.is_empty()) {
        return Err(ChildError::sys(
            "user",
            format!("setgroups {:?}", p.additional_gids),
            Errno::last(),
        ));
    }
    // SAFETY: plain syscalls.
    unsafe {
        sys::cvt(libc::setresgid(p.gid, p.gid, p.gid))
            .map_err(|e| ChildError::sys("user", format!("setgid {}", p.gid), e))?;
        sys::cvt(libc::setresuid(p.uid, p.uid, p.uid))
            .map_err(|e| ChildError::sys("user", format!("setuid {}", p.uid), e))?;
    }
    if cwd_early.is_err() {
        // SAFETY: valid string.
        sys::cvt(unsafe { libc::chdir(cwd.as_ptr()) })
            .map_err(|e| ChildError::sys("cwd", format!("chdir {}", p.cwd.display()), e))?;
    }
    if let Some(caps) = &p.caps {
        crate::caps::clear_keep_caps().map_err(|e| {
            ChildError::other("capabilities", e.to_string(), ChildErrorKind::Syscall)
        })?;
        caps.apply_final().map_err(|e| {
            ChildError::other("capabilities", e.to_string(), ChildErrorKind::Syscall)
        })?;
    }
    if let Some(mask) = p.umask {
        // SAFETY: plain syscall.
        unsafe { libc::umask(mask as libc::mode_t) };
    }
    if p.no_new_privileges {
        crate::caps::set_no_new_privs().map_err(|e| {
            ChildError::other("noNewPrivileges", e.to_string(), ChildErrorKind::Syscall)
        })?;
    }
    p.lsm
        .apply()
        .map_err(|e| ChildError::other("lsm", e.to_string(), ChildErrorKind::Syscall))?;
    Ok(Prepared {
        program,
        seccomp_loaded,
    })
}

/// Result of [`prepare_process`].
pub(crate) struct Prepared {
    program: CString,
    seccomp_loaded: bool,
}

fn load_seccomp(s: &Compiled, chan: &Channel) -> Result<(), ChildError> {
    match s.load() {
        Ok(Some(fd)) => chan
            .send(&Msg::SeccompFd, Some(fd.as_raw_fd()))
            .map_err(|e| ChildError::sys("seccomp", "send listener fd", e)),
        Ok(None) => Ok(()),
        Err(e) => Err(ChildError::other(
            "seccomp",
            e.to_string(),
            ChildErrorKind::Syscall,
        )),
    }
}

/// Close (CLOEXEC) everything but stdio and the preserved fds, load seccomp if not yet,
/// execve. On failure prints to stderr and exits 126/127 (the parent is gone by now).
pub(crate) fn exec(p: &ProcessPlan, prepared: Prepared) -> Result<Infallible, ChildError> {
    if let Err(e) = sys::cloexec_from(3 + p.preserve_fds) {
        fatal(&format!("close_range: {}", crate::error::errno_text(e)), 1);
    }
    for fd in 3..3 + p.preserve_fds {
        let _ = sys::clear_cloexec(fd);
    }
    if let Some(s) = &p.seccomp
        && !prepared.seccomp_loaded
        && let Err(e) = s.load()
    {
        fatal(&format!("seccomp: {e}"), 1);
    }
    let mut argv: Vec<*const libc::c_char> = p.args.iter().map(|a| a.as_ptr()).collect();
    argv.push(std::ptr::null());
    let mut envp: Vec<*const libc::c_char> = p.env.iter().map(|a| a.as_ptr()).collect();
    envp.push(std::ptr::null());
    if p.reaper {
        reap_and_forward();
    }
    // SAFETY: NULL-terminated arrays of valid C strings.
    unsafe { libc::execve(prepared.program.as_ptr(), argv.as_ptr(), envp.as_ptr()) };
    let e = Errno::last();
    let code = if e == Errno::ENOENT { 127 } else { 126 };
    fatal(
        &format!(
            "exec {:?}: {}",
            prepared.program,
            crate::error::errno_text(e)
        ),
        code,
    )
}

/// `--init`: fork; the child returns and execs the program, this process stays pid 1,
/// reaps every zombie and forwards signals to the child; it exits with the child's
/// status. Everything (namespaces, caps, seccomp) is already in place, so the program
/// gets the same confinement. Returns only in the child.
fn reap_and_forward() {
    // SAFETY: signal-mask and process calls on local data; no allocation.
    unsafe {
        let mut all: libc::sigset_t = std::mem::zeroed();
        libc::sigfillset(&mut all);
        let mut old: libc::sigset_t = std::mem::zeroed();
        libc::sigprocmask(libc::SIG_SETMASK, &all, &mut old);
        let child = libc::fork();
        if child < 0 {
            fatal(
                &format!("init: fork: {}", crate::error::errno_text(Errno::last())),
                1,
            );
        }
        if child == 0 {
            // Its own process group, in the foreground of the terminal if there is one.
            libc::setpgid(0, 0);
            if libc::isatty(0) == 1 {
                libc::signal(libc::SIGTTOU, libc::SIG_IGN);
                libc::tcsetpgrp(0, libc::getpid());
                libc::signal(libc::SIGTTOU, libc::SIG_DFL);
            }
            libc::sigprocmask(libc::SIG_SETMASK, &old, std::ptr::null_mut());
            return;
        }
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
                    exit(if libc::WIFEXITED(st) {
                        libc::WEXITSTATUS(st)
                    } else {
                        128 + libc::WTERMSIG(st)
                    });
                }
            }
        }
    }
}

fn fatal(msg: &str, code: i32) -> ! {
    let line = format!("berth: {msg}\n");
    let _ = sys::write_all(2, line.as_bytes());
    exit(code)
}

/// Find args[0] the way execvp would, in the container; podman recognises the words.
fn resolve_program(p: &ProcessPlan) -> Result<CString, ChildError> {
    use std::os::unix::ffi::OsStrExt;
    use std::os::unix::fs::PermissionsExt;
    let arg0 = p
        .args
        .first()
        .map(|a| a.to_string_lossy().into_owned())
        .unwrap_or_default();
    let check = |path: &Path| -> Result<(), Errno> {
        let m = std::fs::metadata(path)
            .map_err(|e| Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO)))?;
        if m.is_dir() {
            return Err(Errno::EACCES);
        }
        if m.permissions().mode() & 0o111 == 0 {
            return Err(Errno::EACCES);
        }
        Ok(())
    };
    if arg0.contains('/') {
        return match check(Path::new(&arg0)) {
            Ok(()) => CString::new(arg0.as_bytes())
                .map_err(|_| ChildError::sys("exec", arg0.clone(), Errno::EINVAL)),
            Err(Errno::EACCES) => Err(ChildError {
                stage: "exec".into(),
                what: format!("exec: {arg0:?}"),
                errno: libc::EACCES,
                kind: ChildErrorKind::NotExecutable,
            }),
            Err(e) => Err(ChildError {
                stage: "exec".into(),
                what: format!("exec: {arg0:?}"),
                errno: e as i32,
                kind: if e == Errno::ENOENT {
                    ChildErrorKind::ExecutableNotFound
                } else {
                    ChildErrorKind::Syscall
                },
            }),
        };
    }
    let mut denied = false;
    for dir in p.path_env.split(':') {
        let dir = if dir.is_empty() { "." } else { dir };
        let candidate = Path::new(dir).join(&arg0);
        match check(&candidate) {
            Ok(()) => {
                return CString::new(candidate.as_os_str().as_bytes())
                    .map_err(|_| ChildError::sys("exec", arg0.clone(), Errno::EINVAL));
            }
            Err(Errno::EACCES) => denied = true,
            Err(_) => {}
        }
    }
    if denied {
        return Err(ChildError {
            stage: "exec".into(),
            what: format!("exec: {arg0:?}"),
            errno: libc::EACCES,
            kind: ChildErrorKind::NotExecutable,
        });
    }
    Err(ChildError::other(
        "exec",
        format!("exec: {arg0:?}: executable file not found in $PATH"),
        ChildErrorKind::ExecutableNotFound,
    ))
}

/// dup the caller-given stdio fds onto 0, 1, 2.
pub(crate) fn set_stdio(p: &ProcessPlan) -> Result<(), ChildError> {
    // First move them out of 0..2 so a dup2 cannot clobber another.
    let mut moved: [Option<OwnedFd>; 3] = [None, None, None];
    for (i, fd) in p.stdio.iter().enumerate() {
        if let Some(fd) = fd {
            moved[i] = Some(
                sys::dup_above(fd.as_raw_fd(), 3)
                    .map_err(|e| ChildError::sys("stdio", "dup", e))?,
            );
        }
    }
    for (i, fd) in moved.iter().enumerate() {
        if let Some(fd) = fd {
            sys::dup2(fd.as_raw_fd(), i as RawFd)
                .map_err(|e| ChildError::sys("stdio", format!("dup2 to {i}"), e))?;
        }
    }
    Ok(())
}

fn setup_terminal(p: &ProcessPlan, chan: &Channel, dev_console: bool) -> Result<(), ChildError> {
    let err = |what: &str| {
        let what = what.to_string();
        move |e| ChildError::sys("terminal", what, e)
    };
    let master =
        sys::open(c"/dev/ptmx", libc::O_RDWR | libc::O_NOCTTY, 0).map_err(err("open /dev/ptmx"))?;
    let mut unlock: libc::c_int = 0;
    // SAFETY: ioctls on the pty master with valid out pointers.
    sys::cvt(unsafe { libc::ioctl(master.as_raw_fd(), libc::TIOCSPTLCK, &mut unlock) })
        .map_err(err("unlockpt"))?;
    let mut n: libc::c_uint = 0;
    // SAFETY: as above.
    sys::cvt(unsafe { libc::ioctl(master.as_raw_fd(), libc::TIOCGPTN, &mut n) })
        .map_err(err("ptsname"))?;
    let slave_path = format!("/dev/pts/{n}");
    let cslave = CString::new(slave_path.clone()).unwrap_or_default();
    let slave = sys::open(&cslave, libc::O_RDWR | libc::O_NOCTTY, 0)
        .map_err(err(&format!("open {slave_path}")))?;
    if let Some((rows, cols)) = p.console_size {
        let ws = libc::winsize {
            ws_row: rows,
            ws_col: cols,
            ws_xpixel: 0,
            ws_ypixel: 0,
        };
        // SAFETY: valid struct.
        unsafe { libc::ioctl(slave.as_raw_fd(), libc::TIOCSWINSZ, &ws) };
    }
    if dev_console {
        let root = sys::open(c"/", libc::O_PATH | libc::O_DIRECTORY, 0).map_err(err("open /"))?;
        use std::os::fd::AsFd;
        let console = crate::safe_path::create_in_root(
            root.as_fd(),
            Path::new("/dev/console"),
            crate::safe_path::Create::File,
        )
        .map_err(err("create /dev/console"))?;
        sys::mount(
            Some(&cslave),
            &sys::fd_path(console.as_raw_fd()),
            None,
            nix::mount::MsFlags::MS_BIND,
            None,
        )
        .map_err(err("bind /dev/console"))?;
    }
    chan.send(&Msg::Console, Some(master.as_raw_fd()))
        .map_err(err("send console master"))?;
    drop(master);
    // SAFETY: plain syscalls on valid fds.
    unsafe {
        libc::setsid();
        sys::cvt(libc::ioctl(slave.as_raw_fd(), libc::TIOCSCTTY, 0)).map_err(err("TIOCSCTTY"))?;
    }
    for i in 0..3 {
        sys::dup2(slave.as_raw_fd(), i).map_err(err("dup2 pty"))?;
    }
    Ok(())
}

fn loopback_up() -> Result<(), Errno> {
    // SAFETY: a datagram socket just for the ioctl.
    let s =
        sys::cvt(unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) })?;
    // SAFETY: fresh fd.
    let s = unsafe { <OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(s) };
    // SAFETY: zeroed ifreq is valid.
    let mut ifr: libc::ifreq = unsafe { std::mem::zeroed() };
    for (i, b) in b"lo".iter().enumerate() {
        ifr.ifr_name[i] = *b as libc::c_char;
    }
    // SAFETY: valid ifreq.
    sys::cvt(unsafe { libc::ioctl(s.as_raw_fd(), libc::SIOCGIFFLAGS, &mut ifr) })?;
    // SAFETY: union field written by the kernel above.
    unsafe { ifr.ifr_ifru.ifru_flags |= libc::IFF_UP as libc::c_short };
    // SAFETY: valid ifreq.
    sys::cvt(unsafe { libc::ioctl(s.as_raw_fd(), libc::SIOCSIFFLAGS, &ifr) })?;
    Ok(())
}
