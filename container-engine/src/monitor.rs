//! The per-container monitor: a process the library forks (fork, `setsid`, fork again)
//! that outlives its caller. It creates and starts the container with
//! [`container_core::Container`] (so the container gets the runtime's namespaces,
//! cgroups, capabilities, seccomp filter, masked paths; the container's init is the
//! monitor's child), owns its stdio pipes or pty, writes the json-file log, runs its
//! healthcheck ([`crate::health`]), reaps it (it is a child subreaper and watches a
//! pidfd), records the exit, applies the restart policy, and finally deletes the runtime
//! state and releases the container's resources (and removes it for `--rm`).
//!
//! A foreground `run` passes its own stdin/stdout/stderr as attach fds; the monitor then
//! copies output to them too and reports the exit code over a status pipe. With `-t` the
//! container gets a pty; its master stays in the monitor, sized like the caller's
//! terminal, and [`crate::Engine::resize`] follows the caller's resizes.

use crate::engine::Engine;
use crate::error::{Error, Result};
use crate::logs::{LogWriter, Stream};
use crate::model::now_rfc3339;
use std::io::{BufRead, BufReader};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::time::{Duration, Instant};

/// The caller's fds a foreground run attaches to the container.
#[derive(Debug, Clone, Copy)]
pub struct AttachFds {
    /// Forward this to the container's stdin (`-i`).
    pub stdin: Option<RawFd>,
    /// Copy the container's stdout here.
    pub stdout: RawFd,
    /// Copy the container's stderr here.
    pub stderr: RawFd,
}

/// What the caller gets back from [`spawn`].
#[derive(Debug)]
pub struct Spawned {
    /// Pid of the monitor.
    pub monitor_pid: i32,
    /// Pid of the container's process 1.
    pub pid: i32,
    status: BufReader<std::fs::File>,
}

impl Spawned {
    /// Block until the monitor reports the final exit code (foreground runs).
    pub fn wait_exit(mut self) -> Result<i32> {
        let mut line = String::new();
        loop {
            line.clear();
            let n = self.status.read_line(&mut line).map_err(|e| Error::Sys {
                what: "read monitor status",
                source: e,
            })?;
            if n == 0 {
                return Err(Error::Runtime("monitor exited without reporting".into()));
            }
            if let Some(code) = line.trim().strip_prefix("E ") {
                return code
                    .parse()
                    .map_err(|_| Error::Runtime(format!("bad monitor status {line:?}")));
            }
        }
    }
}

fn pipe(flags: libc::c_int) -> Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0; 2];
    // SAFETY: pipe2 fills two fds that we then own.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), flags) } != 0 {
        return Err(Error::last_os("pipe"));
    }
    // SAFETY: fresh fds.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

fn write_all(fd: RawFd, mut data: &[u8]) {
    while !data.is_empty() {
        // SAFETY: write from a borrowed buffer.
        let n = unsafe { libc::write(fd, data.as_ptr().cast(), data.len()) };
        if n <= 0 {
            if n < 0 && std::io::Error::last_os_error().kind() == std::io::ErrorKind::Interrupted {
                continue;
            }
            return;
        }
        data = &data[n as usize..];
    }
}

/// Fork the monitor of container `id` and start the container in it. Returns once the
/// container runs (or failed to start, as an error).
pub fn spawn(engine: &Engine, id: &str, attach: Option<AttachFds>) -> Result<Spawned> {
    spawn_with(engine, id, attach, None)
}

/// What the starter already has in memory for the first run: the record and the spec it
/// just wrote. The monitor is a fork, so it gets them without reading and parsing the
/// record and `config.json` again (later runs, after a restart, read them from disk).
pub(crate) type Prepared = (crate::model::ContainerRecord, oci_spec::runtime::Spec);

/// [`spawn`] with the record and spec of the first run already in memory.
pub(crate) fn spawn_with(
    engine: &Engine,
    id: &str,
    attach: Option<AttachFds>,
    first: Option<Prepared>,
) -> Result<Spawned> {
    let (status_r, status_w) = pipe(libc::O_CLOEXEC)?;
    // SAFETY: the children only run monitor code and then _exit.
    let child = unsafe { libc::fork() };
    if child < 0 {
        return Err(Error::last_os("fork monitor"));
    }
    if child == 0 {
        drop(status_r);
        // SAFETY: setsid/fork/_exit in the intermediate child.
        unsafe {
            libc::setsid();
            let m = libc::fork();
            if m != 0 {
                libc::_exit(if m < 0 { 1 } else { 0 });
            }
        }
        let code = monitor_main(engine, id, status_w, attach, first);
        // SAFETY: leave without running the caller's atexit handlers or destructors.
        unsafe { libc::_exit(code) }
    }
    drop(status_w);
    // SAFETY: reap the intermediate child.
    unsafe { libc::waitpid(child, std::ptr::null_mut(), 0) };
    let mut status = BufReader::new(std::fs::File::from(status_r));
    let mut line = String::new();
    status.read_line(&mut line).map_err(|e| Error::Sys {
        what: "read monitor status",
        source: e,
    })?;
    let line = line.trim_end();
    if let Some(rest) = line.strip_prefix("S ") {
        let mut it = rest.split(' ');
        let pid = it.next().and_then(|p| p.parse().ok()).unwrap_or(0);
        let monitor_pid = it.next().and_then(|p| p.parse().ok()).unwrap_or(0);
        Ok(Spawned {
            monitor_pid,
            pid,
            status,
        })
    } else if let Some(msg) = line.strip_prefix("F ") {
        Err(Error::Runtime(msg.replace("\\n", "\n")))
    } else {
        Err(Error::Runtime(
            "container monitor died before starting the container".into(),
        ))
    }
}

/// Close every fd but `keep`.
fn close_fds_except(keep: &[RawFd]) {
    let fds: Vec<RawFd> = std::fs::read_dir("/proc/self/fd")
        .map(|d| {
            d.filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
                .collect()
        })
        .unwrap_or_default();
    for fd in fds {
        if fd > 2 && !keep.contains(&fd) {
            // SAFETY: closing fds this fresh process inherited and will never use.
            unsafe { libc::close(fd) };
        }
    }
}

fn dev_null_stdio() {
    // SAFETY: open /dev/null and dup it over 0/1/2.
    unsafe {
        let fd = libc::open(c"/dev/null".as_ptr(), libc::O_RDWR);
        if fd >= 0 {
            for t in 0..3 {
                libc::dup2(fd, t);
            }
            if fd > 2 {
                libc::close(fd);
            }
        }
    }
}

fn monitor_main(
    engine: &Engine,
    id: &str,
    status_w: OwnedFd,
    attach: Option<AttachFds>,
    first: Option<Prepared>,
) -> i32 {
    // SAFETY: process-wide settings of this fresh process.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigprocmask(libc::SIG_SETMASK, &set, std::ptr::null_mut());
        for s in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP, libc::SIGQUIT] {
            libc::signal(s, libc::SIG_DFL);
        }
        libc::signal(libc::SIGPIPE, libc::SIG_IGN);
        libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
        libc::prctl(libc::PR_SET_NAME, c"berth-monitor".as_ptr(), 0, 0, 0);
        libc::chdir(c"/".as_ptr());
    }
    // keep the attach fds above 2 before 0/1/2 become /dev/null
    // SAFETY: dup of inherited fds.
    let attach = attach.map(|a| unsafe {
        AttachFds {
            stdin: a.stdin.map(|fd| libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, 3)),
            stdout: libc::fcntl(a.stdout, libc::F_DUPFD_CLOEXEC, 3),
            stderr: libc::fcntl(a.stderr, libc::F_DUPFD_CLOEXEC, 3),
        }
    });
    let mut keep = vec![status_w.as_raw_fd()];
    if let Some(a) = attach {
        keep.extend([a.stdout, a.stderr]);
        keep.extend(a.stdin);
    }
    close_fds_except(&keep);
    dev_null_stdio();
    let status_fd = status_w.as_raw_fd();
    let mut m = Monitor {
        engine,
        id,
        status_fd,
        attach,
        started: false,
        last: None,
        first,
    };
    let code = m.run();
    write_all(status_fd, format!("E {code}\n").as_bytes());
    0
}

struct Monitor<'a> {
    engine: &'a Engine,
    id: &'a str,
    status_fd: RawFd,
    attach: Option<AttachFds>,
    started: bool,
    /// The record as the last run left it (saves loading it again).
    last: Option<crate::model::ContainerRecord>,
    /// Record and spec for the first run, from the starter.
    first: Option<Prepared>,
}

impl Monitor<'_> {
    fn fail_start(&self, e: &Error) {
        let msg = match e {
            Error::Runtime(m) => m.clone(),
            other => other.to_string(),
        }
        .replace('\n', "\\n");
        write_all(self.status_fd, format!("F {msg}\n").as_bytes());
    }

    /// The monitor's whole life; returns the final exit code.
    fn run(&mut self) -> i32 {
        let store = &self.engine.containers;
        let loaded = match &self.first {
            Some((r, _)) => Ok((r.host_config.log_config.clone(), r.log_path.clone())),
            None => store
                .load(self.id)
                .map(|r| (r.host_config.log_config, r.log_path)),
        };
        let (log_config, log_path) = match loaded {
            Ok(c) => c,
            Err(e) => {
                self.fail_start(&e);
                return 125;
            }
        };
        let mut log = match log_config.kind.as_str() {
            "none" => None,
            _ => match LogWriter::with_options(std::path::Path::new(&log_path), &log_config.config)
            {
                Ok(l) => Some(l),
                Err(e) => {
                    let _ = self.engine.release(self.id);
                    self.fail_start(&e);
                    return 125;
                }
            },
        };
        let mut delay: Option<Duration> = None;
        let mut stdin_open = self.attach.and_then(|a| a.stdin).is_some();
        let code = loop {
            let started_at = Instant::now();
            let run = self.run_once(&mut log, &mut stdin_open);
            let code = match run {
                Ok(code) => code,
                Err(e) => {
                    if !self.started {
                        // record the failure and release first; the caller may remove the
                        // container as soon as it reads the failure
                        let _ = store.update(self.id, |r| {
                            r.state.status = if r.state.started_at.is_empty() {
                                "created".into()
                            } else {
                                "exited".into()
                            };
                            r.state.error = e.to_string();
                            r.state.exit_code = 127;
                            r.berth.monitor_pid = 0;
                        });
                        let _ = self.engine.release(self.id);
                        self.fail_start(&e);
                        return 125;
                    }
                    let _ = store.update(self.id, |r| r.state.error = e.to_string());
                    127
                }
            };
            // the record as run_once left it (else as it is now)
            let rec = match self.last.take().map_or_else(|| store.load(self.id), Ok) {
                Ok(r) => r,
                Err(_) => break code,
            };
            if crate::restart::should_restart(
                &rec.host_config.restart_policy,
                code,
                rec.restart_count,
                rec.berth.manually_stopped,
            ) {
                let d = crate::restart::backoff(delay, started_at.elapsed());
                delay = Some(d);
                let _ = store.update(self.id, |r| {
                    r.state.status = "restarting".into();
                    r.state.restarting = true;
                    r.restart_count += 1;
                });
                std::thread::sleep(d);
                // a stop during the back-off wins
                match store.load(self.id) {
                    Ok(r) if !r.berth.manually_stopped => continue,
                    _ => break code,
                }
            }
            break code;
        };
        if let Some(l) = log.as_mut() {
            let _ = l.flush_partial();
        }
        // Release the network and rootfs while the record still names this monitor:
        // `stop` waits for the monitor, so a `start` right after it never races this
        // teardown (which would remove the netns or rootfs the new run just made).
        let released = self.engine.release(self.id).is_ok();
        let rec = store.update(self.id, |r| {
            r.state.status = "exited".into();
            r.state.running = false;
            r.state.restarting = false;
            r.state.paused = false;
            r.state.pid = 0;
            r.berth.monitor_pid = 0;
            r.berth.monitor_start = 0;
        });
        // (`rm -f` clears AutoRemove under the lock when it removes the container itself)
        if let Ok(r) = rec
            && r.host_config.auto_remove
        {
            let _ = if released {
                self.engine.remove_released(&r)
            } else {
                self.engine.remove_files(self.id)
            };
        }
        code
    }

    /// Start the container once, pump its output until it exits; returns its exit code.
    fn run_once(&mut self, log: &mut Option<LogWriter>, stdin_open: &mut bool) -> Result<i32> {
        let store = &self.engine.containers;
        let bundle = store.dir_of(self.id).join("bundle");
        let (rec, spec) = match self.first.take() {
            Some(p) => p,
            None => (
                store.load(self.id)?,
                container_core::spec::load_bundle(&bundle).map_err(core_error)?,
            ),
        };
        let rt = self.engine.runtime_root.clone();
        // whatever a run whose monitor died left behind goes first
        if let Ok(old) = container_core::Container::load(self.id, &rt) {
            let _ = old.delete(true);
        }
        let tty = spec
            .process()
            .as_ref()
            .and_then(|p| p.terminal())
            .unwrap_or(false);
        let mut opts = container_core::CreateOptions::default().init(rec.host_config.init);
        let mut pipes_out: Vec<(OwnedFd, u8)> = Vec::new();
        let mut stdin_w = None;
        if tty {
            opts = opts.return_console(true);
        } else {
            let (out_r, out_w) = pipe(libc::O_CLOEXEC)?;
            let (err_r, err_w) = pipe(libc::O_CLOEXEC)?;
            let stdin_r = if rec.berth.interactive {
                let (r, w) = pipe(libc::O_CLOEXEC)?;
                stdin_w = Some(w);
                r
            } else {
                dev_null()?
            };
            opts = opts.stdin(stdin_r).stdout(out_w).stderr(err_w);
            pipes_out.push((out_r, 1));
            pipes_out.push((err_r, 2));
        }
        let mut ctr = container_core::Container::create(self.id, &bundle, &spec, &rt, opts)
            .map_err(core_error)?;
        let console = ctr.take_console();
        if let (Some(m), Some(a)) = (&console, self.attach.and_then(|a| a.stdin)) {
            copy_winsize(a, m.as_raw_fd());
        }
        if let Err(e) = ctr.start() {
            let _ = ctr.delete(true);
            return Err(core_error(e));
        }
        let pid = ctr.pid();
        let pid_start = crate::state::process_start_time(pid).unwrap_or(0);
        // SAFETY: getpid has no preconditions.
        let me = unsafe { libc::getpid() };
        let my_start = crate::state::process_start_time(me).unwrap_or(0);
        let has_health = rec
            .config
            .healthcheck
            .as_ref()
            .is_some_and(crate::health::enabled);
        store.update(self.id, |r| {
            r.state.status = "running".into();
            r.state.running = true;
            r.state.restarting = false;
            r.state.paused = false;
            r.state.pid = pid;
            r.state.started_at = now_rfc3339();
            r.state.error.clear();
            r.state.health = has_health.then(crate::health::starting);
            r.berth.pid_start = pid_start;
            r.berth.monitor_pid = me;
            r.berth.monitor_start = my_start;
        })?;
        if !self.started {
            self.started = true;
            write_all(self.status_fd, format!("S {pid} {me}\n").as_bytes());
        }
        // what only the start needed (the spec with its seccomp profile) goes before
        // the monitor settles down to wait; a detached container's monitor may wait for
        // months, so it also gives back what it holds of its starter's memory (a
        // foreground run's monitor lives as long as its caller: it keeps its pages and
        // spares the exit path the page faults)
        drop(spec);
        if self.attach.is_none() {
            release_memory();
        }
        // SAFETY: pidfd_open of our own child.
        let pidfd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) } as RawFd;
        let pidfd = if pidfd >= 0 {
            // SAFETY: fresh fd.
            Some(unsafe { OwnedFd::from_raw_fd(pidfd) })
        } else {
            None
        };
        // (fd, kind): 0 the caller's stdin, 1 stdout (or the pty), 2 stderr
        let mut fds: Vec<(RawFd, u8)> =
            pipes_out.iter().map(|(f, k)| (f.as_raw_fd(), *k)).collect();
        if let Some(m) = &console {
            fds.push((m.as_raw_fd(), 1));
        }
        let attach_in = if *stdin_open {
            self.attach.and_then(|a| a.stdin)
        } else {
            None
        };
        if let Some(fd) = attach_in {
            fds.push((fd, 0));
        }
        let mut health = rec
            .config
            .healthcheck
            .clone()
            .filter(crate::health::enabled)
            .map(|h| crate::health::Runner::new(h, Instant::now()));
        let mut exit: Option<i32> = None;
        let mut buf = vec![0u8; 64 * 1024];
        let mut drain_deadline: Option<Instant> = None;
        loop {
            let mut pfds: Vec<libc::pollfd> = fds
                .iter()
                .map(|(fd, _)| libc::pollfd {
                    fd: *fd,
                    events: libc::POLLIN,
                    revents: 0,
                })
                .collect();
            if exit.is_none()
                && let Some(p) = &pidfd
            {
                pfds.push(libc::pollfd {
                    fd: p.as_raw_fd(),
                    events: libc::POLLIN,
                    revents: 0,
                });
            }
            let health_fd = health.as_ref().and_then(|h| h.output_fd());
            if exit.is_none()
                && let Some(fd) = health_fd
            {
                pfds.push(libc::pollfd {
                    fd,
                    events: libc::POLLIN,
                    revents: 0,
                });
            }
            // with a pidfd the exit wakes the poll: no periodic wakeup while idle (a
            // long one still reaps any orphan the subreaper adopted); without one, or with
            // healthcheck probes to reap (a probe's background child may hold its output
            // pipe open), look every second as well
            let mut timeout: i32 = match (exit.is_some(), pidfd.is_some() && health.is_none()) {
                (true, _) => 50,
                (false, true) => 30_000,
                (false, false) => 1000,
            };
            if exit.is_none()
                && let Some(h) = &health
            {
                timeout = timeout.min(h.next_wakeup_ms(Instant::now()));
            }
            // SAFETY: poll on a vector of pollfds we own.
            let n = unsafe { libc::poll(pfds.as_mut_ptr(), pfds.len() as libc::nfds_t, timeout) };
            if n < 0 && std::io::Error::last_os_error().kind() != std::io::ErrorKind::Interrupted {
                return Err(Error::last_os("poll"));
            }
            let mut closed = Vec::new();
            for (i, (fd, kind)) in fds.iter().enumerate() {
                let re = pfds[i].revents;
                if re == 0 {
                    continue;
                }
                // SAFETY: read into our buffer.
                let r = unsafe { libc::read(*fd, buf.as_mut_ptr().cast(), buf.len()) };
                if r <= 0 {
                    if r < 0
                        && matches!(
                            std::io::Error::last_os_error().raw_os_error(),
                            Some(libc::EINTR) | Some(libc::EAGAIN)
                        )
                    {
                        continue;
                    }
                    closed.push(i);
                    if *kind == 0 {
                        stdin_w = None; // EOF of the caller's stdin closes the container's
                        *stdin_open = false;
                    }
                    continue;
                }
                let data = &buf[..r as usize];
                match kind {
                    0 => {
                        if let Some(w) = &stdin_w {
                            write_all(w.as_raw_fd(), data);
                        } else if let Some(m) = &console {
                            write_all(m.as_raw_fd(), data);
                        }
                    }
                    1 | 2 => {
                        let stream = if *kind == 1 {
                            Stream::Stdout
                        } else {
                            Stream::Stderr
                        };
                        if let Some(l) = log.as_mut() {
                            let _ = l.write(stream, data);
                        }
                        if let Some(a) = self.attach {
                            write_all(if *kind == 1 { a.stdout } else { a.stderr }, data);
                        }
                    }
                    _ => {}
                }
            }
            for i in closed.into_iter().rev() {
                fds.remove(i);
            }
            if let Some(h) = health.as_mut() {
                if let Some(fd) = health_fd {
                    let i = fds.len() + usize::from(exit.is_none() && pidfd.is_some());
                    if pfds.get(i).is_some_and(|p| p.revents != 0 && p.fd == fd) {
                        h.read_output();
                    }
                }
                if exit.is_none() {
                    h.tick(self.engine, self.id, Instant::now());
                }
            }
            // reap: the container, a healthcheck probe, any orphan adopted by us
            loop {
                let mut st = 0;
                // SAFETY: waitpid on any child.
                let r = unsafe { libc::waitpid(-1, &mut st, libc::WNOHANG) };
                if r <= 0 {
                    break;
                }
                let code = if libc::WIFEXITED(st) {
                    libc::WEXITSTATUS(st)
                } else if libc::WIFSIGNALED(st) {
                    128 + libc::WTERMSIG(st)
                } else {
                    255
                };
                if r == pid {
                    exit = Some(code);
                } else if let Some(h) = health.as_mut() {
                    h.reaped(self.engine, self.id, r, code);
                }
            }
            if pidfd.is_none() && exit.is_none() && crate::state::process_start_time(pid).is_none()
            {
                exit = Some(255);
            }
            if exit.is_some() {
                let outputs_open = fds.iter().any(|(_, k)| *k != 0);
                let deadline =
                    *drain_deadline.get_or_insert_with(|| Instant::now() + Duration::from_secs(2));
                if !outputs_open || Instant::now() >= deadline {
                    break;
                }
            }
        }
        if let Some(h) = health.as_mut() {
            h.abandon();
        }
        drop(stdin_w);
        drop(console);
        let code = exit.unwrap_or(255);
        // the cgroup's OOM kills only count under a limit of its own: skip the ~30 cgroup
        // file reads of `stats` otherwise
        let oom = rec.host_config.memory > 0
            && ctr
                .stats()
                .ok()
                .and_then(|s| s.memory)
                .is_some_and(|m| m.oom_kills > 0);
        if let Err(e) = ctr.delete(true) {
            tracing::warn!(id = self.id, error = %e, "delete container");
        }
        self.last = Some(store.update(self.id, |r| {
            r.state.status = "exited".into();
            r.state.running = false;
            r.state.pid = 0;
            r.state.exit_code = code;
            r.state.oom_killed = oom;
            r.state.finished_at = now_rfc3339();
        })?);
        Ok(code)
    }
}

/// Give back the memory an idle monitor does not need. The monitor is a fork of whatever
/// program started the container, so it holds that program's touched pages: return the
/// free heap to the kernel (`malloc_trim`), drop the stack below the current frame
/// (dead frames of the caller), and drop this process's mappings of the program's code
/// and read-only data pages (`MADV_DONTNEED` on private read-only file mappings that hold
/// no private copy, so nothing is lost: the pages stay in the page cache, shared with
/// every other process of that program, and fault back in when the monitor runs that
/// code again, e.g. when the container exits).
fn release_memory() {
    // SAFETY: malloc_trim only returns free memory of the allocator to the kernel.
    #[cfg(target_env = "gnu")]
    unsafe {
        libc::malloc_trim(0);
    }
    let Ok(smaps) = std::fs::read_to_string("/proc/self/smaps") else {
        return;
    };
    let here = 0u8;
    let sp = std::ptr::addr_of!(here) as usize;
    // SAFETY: sysconf has no preconditions.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) }.max(4096) as usize;
    // (start, end, drop it) of the mapping being read
    let mut current: Option<(usize, usize, bool)> = None;
    let mut anon_kb = 0u64;
    let flush = |m: Option<(usize, usize, bool)>, anon_kb: u64| {
        if let Some((start, end, true)) = m
            && anon_kb == 0
        {
            // SAFETY: a read-only, private file mapping with no private (anonymous)
            // pages: MADV_DONTNEED only drops page-table entries that refault from the
            // file.
            unsafe {
                libc::madvise(start as *mut libc::c_void, end - start, libc::MADV_DONTNEED);
            }
        }
    };
    for line in smaps.lines() {
        let mut f = line.split_ascii_whitespace();
        let (Some(first), Some(second)) = (f.next(), f.next()) else {
            continue;
        };
        if let Some((a, b)) = first.split_once('-')
            && let (Ok(start), Ok(end)) =
                (usize::from_str_radix(a, 16), usize::from_str_radix(b, 16))
        {
            flush(current.take(), anon_kb);
            anon_kb = 0;
            let perms = second.as_bytes();
            let inode = f.nth(2).unwrap_or("0");
            let path = f.next().unwrap_or("");
            if path == "[stack]" && (start..end).contains(&sp) {
                // the stack below this frame, with a margin for the madvise call itself
                let low = (sp.saturating_sub(16 * 1024)) & !(page - 1);
                if low > start {
                    // SAFETY: the part of the stack below the live frames holds only
                    // dead frames; a later call simply faults in a zero page.
                    unsafe {
                        libc::madvise(start as *mut libc::c_void, low - start, libc::MADV_DONTNEED)
                    };
                }
                continue;
            }
            let droppable = perms.len() == 4
                && perms[0] == b'r'
                && perms[1] == b'-'
                && perms[3] == b'p'
                && inode != "0"
                && path.starts_with('/');
            current = Some((start, end, droppable));
        } else if first == "Anonymous:" {
            anon_kb = second.parse().unwrap_or(1);
        }
    }
    flush(current.take(), anon_kb);
}

/// A container-core error as the engine reports a failed start (Docker's wording, so the
/// CLI maps "executable file not found" / "no such file" to 127, "permission denied" to
/// 126).
pub(crate) fn core_error(e: container_core::Error) -> Error {
    use container_core::ChildErrorKind as K;
    match &e {
        container_core::Error::Child(c)
            if c.kind == K::ExecutableNotFound
                && !c.to_string().to_lowercase().contains("no such file")
                && !c.to_string().contains("not found") =>
        {
            Error::Runtime(format!(
                "failed to create task for container: unable to start container process: {c}: executable file not found in $PATH"
            ))
        }
        container_core::Error::Child(c) => Error::Runtime(format!(
            "failed to create task for container: unable to start container process: {c}"
        )),
        _ => Error::Runtime(format!("container runtime: {e}")),
    }
}

fn dev_null() -> Result<OwnedFd> {
    let f = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/null")
        .map_err(|e| Error::Sys {
            what: "open /dev/null",
            source: e,
        })?;
    Ok(OwnedFd::from(f))
}

/// Give the pty `to` the window size of the terminal `from` (when it is one).
pub(crate) fn copy_winsize(from: RawFd, to: RawFd) {
    // SAFETY: ioctls with a valid winsize out/in pointer.
    unsafe {
        let mut ws: libc::winsize = std::mem::zeroed();
        if libc::ioctl(from, libc::TIOCGWINSZ, &mut ws) == 0 && ws.ws_row > 0 {
            libc::ioctl(to, libc::TIOCSWINSZ, &ws);
        }
    }
}
