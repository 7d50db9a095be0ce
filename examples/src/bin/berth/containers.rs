//! Container commands: run, create, start, stop, kill, rm, ps, inspect, logs, exec, …

use crate::output;
use crate::runargs::RunArgs;
use clap::{Args, Subcommand};
use container_engine::{AttachFds, Engine, Error, RmOptions};
use serde_json::{Value, json};
use std::path::Path;
use std::time::Duration;

/// Print an error like Docker and return its exit code.
pub fn fail(e: &Error, code: i32) -> i32 {
    eprintln!("Error response from daemon: {e}");
    code
}

/// Open the engine, run `f`, map errors to exit code 1.
pub fn with_engine(root: &Path, f: impl FnOnce(&Engine) -> container_engine::Result<i32>) -> i32 {
    match Engine::open(root).and_then(|e| f(&e)) {
        Ok(c) => c,
        Err(e) => fail(&e, 1),
    }
}

/// Apply `f` to each named container, printing the name; 1 if any failed.
pub fn each(
    root: &Path,
    names: &[String],
    f: impl Fn(&Engine, &str) -> container_engine::Result<()>,
) -> i32 {
    let engine = match Engine::open(root) {
        Ok(e) => e,
        Err(e) => return fail(&e, 125),
    };
    let mut code = 0;
    for n in names {
        match f(&engine, n) {
            Ok(()) => println!("{n}"),
            Err(e) => {
                eprintln!("Error response from daemon: {e}");
                code = 1;
            }
        }
    }
    code
}

/// Container names.
#[derive(Args)]
pub struct Names {
    /// Containers.
    #[arg(required = true)]
    pub containers: Vec<String>,
}

/// `start` flags.
#[derive(Args)]
pub struct StartArgs {
    /// Attach stdout/stderr and wait.
    #[arg(short = 'a', long)]
    pub attach: bool,
    /// Attach stdin.
    #[arg(short = 'i', long)]
    pub interactive: bool,
    /// Containers.
    #[arg(required = true)]
    pub containers: Vec<String>,
}

/// `stop`/`restart` flags.
#[derive(Args)]
pub struct StopArgs {
    /// Seconds to wait before killing.
    #[arg(short = 't', long = "time", alias = "timeout")]
    pub time: Option<u64>,
    /// Signal to send.
    #[arg(short = 's', long)]
    pub signal: Option<String>,
    /// Containers.
    #[arg(required = true)]
    pub containers: Vec<String>,
}

/// `kill` flags.
#[derive(Args)]
pub struct KillArgs {
    /// Signal.
    #[arg(short = 's', long, default_value = "KILL")]
    pub signal: String,
    /// Containers.
    #[arg(required = true)]
    pub containers: Vec<String>,
}

/// `rm` flags.
#[derive(Args)]
pub struct RmArgs {
    /// Kill running containers first.
    #[arg(short = 'f', long)]
    pub force: bool,
    /// Remove anonymous volumes too.
    #[arg(short = 'v', long)]
    pub volumes: bool,
    /// Containers.
    #[arg(required = true)]
    pub containers: Vec<String>,
}

/// `ps` flags.
#[derive(Args)]
pub struct PsArgs {
    /// All containers (default: running).
    #[arg(short = 'a', long)]
    pub all: bool,
    /// Only ids.
    #[arg(short = 'q', long)]
    pub quiet: bool,
    /// Don't truncate.
    #[arg(long = "no-trunc")]
    pub no_trunc: bool,
    /// Filters (name=, id=, status=, label=, ancestor=, exited=).
    #[arg(short = 'f', long)]
    pub filter: Vec<String>,
    /// Go template.
    #[arg(long)]
    pub format: Option<String>,
    /// Latest created only.
    #[arg(short = 'l', long)]
    pub latest: bool,
}

/// `inspect` flags.
#[derive(Args)]
pub struct InspectArgs {
    /// Go template.
    #[arg(short = 'f', long)]
    pub format: Option<String>,
    /// Object type (container, image, volume, network).
    #[arg(long = "type")]
    pub kind: Option<String>,
    /// Names or ids.
    #[arg(required = true)]
    pub names: Vec<String>,
}

/// `logs` flags.
#[derive(Args)]
pub struct LogsArgs {
    /// Follow.
    #[arg(short = 'f', long)]
    pub follow: bool,
    /// Lines from the end (number or "all").
    #[arg(short = 'n', long, default_value = "all")]
    pub tail: String,
    /// Since (RFC 3339, Unix time or duration).
    #[arg(long)]
    pub since: Option<String>,
    /// Until.
    #[arg(long)]
    pub until: Option<String>,
    /// Timestamps.
    #[arg(short = 't', long)]
    pub timestamps: bool,
    /// Container.
    pub container: String,
}

/// `exec` flags.
#[derive(Args)]
pub struct ExecArgs {
    /// Detached.
    #[arg(short = 'd', long)]
    pub detach: bool,
    /// Keep stdin open.
    #[arg(short = 'i', long)]
    pub interactive: bool,
    /// Allocate a pseudo-TTY.
    #[arg(short = 't', long)]
    pub tty: bool,
    /// User.
    #[arg(short = 'u', long)]
    pub user: Option<String>,
    /// Working directory.
    #[arg(short = 'w', long)]
    pub workdir: Option<String>,
    /// Environment.
    #[arg(short = 'e', long = "env")]
    pub env: Vec<String>,
    /// Container.
    pub container: String,
    /// Command.
    #[arg(trailing_var_arg = true, allow_hyphen_values = true, required = true)]
    pub command: Vec<String>,
}

/// `container …` subcommands.
#[derive(Subcommand)]
pub enum ContainerCommand {
    /// List containers.
    Ls(PsArgs),
    /// Remove all stopped containers.
    Prune {
        /// No prompt.
        #[arg(short, long)]
        force: bool,
    },
    /// Inspect containers.
    Inspect(InspectArgs),
}

fn bad_input(e: &Error) -> i32 {
    eprintln!("berth: {e}.\nSee 'berth run --help'.");
    125
}

/// `create`.
pub fn create(root: &Path, args: RunArgs) -> i32 {
    let engine = match Engine::open(root) {
        Ok(e) => e,
        Err(e) => return bad_input(&e),
    };
    match engine.create(&args.to_options()) {
        Ok(id) => {
            println!("{id}");
            0
        }
        Err(e) => bad_input(&e),
    }
}

/// `run`.
pub fn run(root: &Path, args: RunArgs) -> i32 {
    let engine = match Engine::open(root) {
        Ok(e) => e,
        Err(e) => return bad_input(&e),
    };
    let opts = args.to_options();
    if args.detach {
        return match engine.run_detached(&opts) {
            Ok(id) => {
                println!("{id}");
                0
            }
            Err(e) => run_error(&e),
        };
    }
    // foreground: forward the usual signals and terminal resizes to the container
    let target = Forward::new();
    let mask = block_signals();
    let t2 = target.clone();
    let root2 = root.to_path_buf();
    std::thread::spawn(move || forward_signals(mask, t2, &root2));
    let attach = AttachFds {
        stdin: args.interactive.then_some(0),
        stdout: 1,
        stderr: 2,
    };
    // a terminal's input goes to the container's pty as typed (^C included)
    let _raw = (args.tty && args.interactive)
        .then(|| RawMode::enter(0))
        .flatten();
    let engine2 = engine.clone();
    let code = match engine.run_attached(&opts, attach, |id, p| {
        target.set(id, p, args.tty);
        if args.tty && !args.interactive {
            resize_from(&engine2, id, 1);
        }
    }) {
        Ok(r) => r.exit_code,
        Err(e) => run_error(&e),
    };
    drop(_raw);
    code
}

/// Where the signal thread forwards to: the container's pid, and its id for resizes.
#[derive(Clone)]
struct Forward(std::sync::Arc<std::sync::Mutex<Option<(String, i32, bool)>>>);

impl Forward {
    fn new() -> Forward {
        Forward(std::sync::Arc::new(std::sync::Mutex::new(None)))
    }
    fn set(&self, id: &str, pid: i32, tty: bool) {
        if let Ok(mut g) = self.0.lock() {
            *g = Some((id.to_string(), pid, tty));
        }
    }
    fn get(&self) -> Option<(String, i32, bool)> {
        self.0.lock().ok().and_then(|g| g.clone())
    }
}

/// The terminal on `fd` in raw mode until dropped.
pub struct RawMode {
    fd: i32,
    saved: libc::termios,
}

impl RawMode {
    /// Raw mode on `fd` when it is a terminal.
    pub fn enter(fd: i32) -> Option<RawMode> {
        // SAFETY: termios calls with valid out/in pointers on an fd we were given.
        unsafe {
            if libc::isatty(fd) != 1 {
                return None;
            }
            let mut t: libc::termios = std::mem::zeroed();
            if libc::tcgetattr(fd, &mut t) != 0 {
                return None;
            }
            let saved = t;
            libc::cfmakeraw(&mut t);
            libc::tcsetattr(fd, libc::TCSANOW, &t);
            Some(RawMode { fd, saved })
        }
    }
}

impl Drop for RawMode {
    fn drop(&mut self) {
        // SAFETY: restore the settings read in `enter`.
        unsafe { libc::tcsetattr(self.fd, libc::TCSANOW, &self.saved) };
    }
}

/// The window size of the terminal on `fd`, if it is one.
fn winsize(fd: i32) -> Option<(u16, u16)> {
    // SAFETY: ioctl with a valid out pointer.
    unsafe {
        let mut ws: libc::winsize = std::mem::zeroed();
        (libc::ioctl(fd, libc::TIOCGWINSZ, &mut ws) == 0 && ws.ws_row > 0)
            .then_some((ws.ws_row, ws.ws_col))
    }
}

fn resize_from(engine: &Engine, id: &str, fd: i32) {
    if let Some((rows, cols)) = winsize(fd).or_else(|| winsize(if fd == 0 { 1 } else { 0 })) {
        let _ = engine.resize(id, rows, cols);
    }
}

fn run_error(e: &Error) -> i32 {
    let msg = e.to_string();
    eprintln!("berth: Error response from daemon: {msg}.");
    let lower = msg.to_lowercase();
    if !matches!(e, Error::Runtime(_)) {
        125
    } else if lower.contains("executable file not found")
        || lower.contains("no such file or directory")
    {
        127
    } else if lower.contains("permission denied") {
        126
    } else {
        125
    }
}

fn block_signals() -> libc::sigset_t {
    block(&[
        libc::SIGINT,
        libc::SIGTERM,
        libc::SIGHUP,
        libc::SIGQUIT,
        libc::SIGUSR1,
        libc::SIGUSR2,
        libc::SIGWINCH,
    ])
}

fn block(sigs: &[i32]) -> libc::sigset_t {
    // SAFETY: building and applying a signal mask.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        for s in sigs {
            libc::sigaddset(&mut set, *s);
        }
        libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
        set
    }
}

fn forward_signals(set: libc::sigset_t, target: Forward, root: &Path) {
    let engine = Engine::open(root).ok();
    loop {
        let mut sig = 0;
        // SAFETY: sigwait on a mask blocked in every thread.
        if unsafe { libc::sigwait(&set, &mut sig) } != 0 {
            continue;
        }
        let Some((id, p, tty)) = target.get() else {
            continue;
        };
        if sig == libc::SIGWINCH {
            if tty && let Some(e) = &engine {
                resize_from(e, &id, 0);
            }
            continue;
        }
        if p > 0 {
            // SAFETY: kill has no memory preconditions.
            unsafe { libc::kill(p, sig) };
        }
    }
}

/// `start`.
pub fn start(root: &Path, a: StartArgs) -> i32 {
    let engine = match Engine::open(root) {
        Ok(e) => e,
        Err(e) => return fail(&e, 125),
    };
    if a.attach && a.containers.len() == 1 {
        let attach = AttachFds {
            stdin: a.interactive.then_some(0),
            stdout: 1,
            stderr: 2,
        };
        return match engine.start_attached(&a.containers[0], attach) {
            Ok(s) => s.wait_exit().unwrap_or(125),
            Err(e) => fail(&e, 1),
        };
    }
    each(root, &a.containers, |e, n| e.start(n).map(|_| ()))
}

/// `stop` / `restart`.
pub fn stop(root: &Path, a: StopArgs, restart: bool) -> i32 {
    let t = a.time.map(Duration::from_secs);
    each(root, &a.containers, |e, n| {
        if let Some(s) = &a.signal {
            let _ = e.kill(n, s);
        }
        if restart {
            e.restart(n, t).map(|_| ())
        } else {
            e.stop(n, t).map(|_| ())
        }
    })
}

/// `kill`.
pub fn kill(root: &Path, a: KillArgs) -> i32 {
    each(root, &a.containers, |e, n| e.kill(n, &a.signal).map(|_| ()))
}

/// `rm`.
pub fn rm(root: &Path, a: RmArgs) -> i32 {
    let o = RmOptions {
        force: a.force,
        volumes: a.volumes,
    };
    each(root, &a.containers, |e, n| e.rm(n, o).map(|_| ()))
}

/// `wait`.
pub fn wait(root: &Path, a: Names) -> i32 {
    let engine = match Engine::open(root) {
        Ok(e) => e,
        Err(e) => return fail(&e, 125),
    };
    let mut code = 0;
    for n in &a.containers {
        match engine.wait(n) {
            Ok(c) => println!("{c}"),
            Err(e) => code = fail(&e, 1),
        }
    }
    code
}

fn truncate_cmd(rec: &container_engine::model::ContainerRecord, no_trunc: bool) -> String {
    let mut s = rec.path.clone();
    for a in &rec.args {
        s.push(' ');
        s.push_str(a);
    }
    if !no_trunc && s.chars().count() > 20 {
        s = s.chars().take(19).collect::<String>() + "…";
    }
    format!("\"{s}\"")
}

fn ports_text(rec: &container_engine::model::ContainerRecord) -> String {
    let mut out = Vec::new();
    for (port, b) in &rec.network_settings.ports {
        match b {
            Some(bs) if rec.state.running => {
                for b in bs {
                    out.push(format!("{}:{}->{port}", b.host_ip, b.host_port));
                }
            }
            _ => {}
        }
    }
    out.join(", ")
}

fn ps_row(rec: &container_engine::model::ContainerRecord, no_trunc: bool) -> Value {
    let now = chrono::Utc::now();
    json!({
        "ID": if no_trunc { rec.id.clone() } else { rec.id[..12].to_string() },
        "Image": rec.config.image,
        "Command": truncate_cmd(rec, no_trunc),
        "CreatedAt": rec.created,
        "RunningFor": output::ago(&rec.created),
        "Status": rec.status_text(now),
        "State": rec.state.status,
        "Ports": ports_text(rec),
        "Names": rec.short_name(),
        "Labels": rec.config.labels.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(","),
        "Mounts": rec.mounts.iter().map(|m| if m.name.is_empty() { m.source.clone() } else { m.name.clone() }).collect::<Vec<_>>().join(","),
        "Networks": rec.network_settings.networks.keys().cloned().collect::<Vec<_>>().join(","),
    })
}

fn matches_filter(rec: &container_engine::model::ContainerRecord, f: &str) -> Result<bool, String> {
    let (k, v) = f
        .split_once('=')
        .ok_or_else(|| format!("bad format of filter (expected name=value): {f}"))?;
    Ok(match k {
        "name" => rec.short_name().contains(v),
        "id" => rec.id.starts_with(v),
        "status" => rec.state.status == v,
        "label" => match v.split_once('=') {
            Some((lk, lv)) => rec.config.labels.get(lk).is_some_and(|x| x == lv),
            None => rec.config.labels.contains_key(v),
        },
        "ancestor" => rec.config.image == v || rec.image.contains(v),
        "exited" => rec.state.status == "exited" && rec.state.exit_code.to_string() == v,
        "network" => rec.network_settings.networks.contains_key(v),
        "volume" => rec.mounts.iter().any(|m| m.name == v || m.destination == v),
        _ => return Err(format!("invalid filter '{k}'")),
    })
}

/// `ps`.
pub fn ps(root: &Path, a: PsArgs) -> i32 {
    let engine = match Engine::open(root) {
        Ok(e) => e,
        Err(e) => return fail(&e, 1),
    };
    let recs = match engine.ps(a.all
        || a.latest
        || a.filter
            .iter()
            .any(|f| f.starts_with("status=") || f.starts_with("exited=")))
    {
        Ok(r) => r,
        Err(e) => return fail(&e, 1),
    };
    let mut sel = Vec::new();
    for r in recs {
        let mut ok = true;
        for f in &a.filter {
            match matches_filter(&r, f) {
                Ok(m) => ok &= m,
                Err(msg) => {
                    eprintln!("Error response from daemon: {msg}");
                    return 1;
                }
            }
        }
        if ok {
            sel.push(r);
        }
    }
    if a.latest {
        sel.truncate(1);
    }
    if a.quiet {
        for r in &sel {
            println!("{}", if a.no_trunc { &r.id[..] } else { &r.id[..12] });
        }
        return 0;
    }
    let rows: Vec<Value> = sel.iter().map(|r| ps_row(r, a.no_trunc)).collect();
    if let Some(f) = &a.format {
        return match output::print_formatted(f, &rows) {
            Ok(()) => 0,
            Err(e) => {
                eprintln!("template parsing error: {e}");
                1
            }
        };
    }
    let table: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            [
                "ID",
                "Image",
                "Command",
                "RunningFor",
                "Status",
                "Ports",
                "Names",
            ]
            .iter()
            .map(|k| r[*k].as_str().unwrap_or_default().to_string())
            .collect()
        })
        .collect();
    output::print_table(
        &[
            "CONTAINER ID",
            "IMAGE",
            "COMMAND",
            "CREATED",
            "STATUS",
            "PORTS",
            "NAMES",
        ],
        &table,
    );
    0
}

/// `inspect` (containers first, then images, volumes, networks).
pub fn inspect(root: &Path, a: InspectArgs) -> i32 {
    let engine = match Engine::open(root) {
        Ok(e) => e,
        Err(e) => return fail(&e, 1),
    };
    let mut docs = Vec::new();
    let mut code = 0;
    for n in &a.names {
        let kind = a.kind.as_deref();
        let found = match kind {
            None | Some("container") => engine.inspect(n).ok(),
            _ => None,
        }
        .or_else(|| match kind {
            None | Some("image") => crate::objects::inspect_image(&engine, n),
            _ => None,
        })
        .or_else(|| match kind {
            None | Some("volume") => container_engine::volumes::Volumes::open(engine.root())
                .and_then(|v| v.inspect(n))
                .ok()
                .and_then(|v| serde_json::to_value(v).ok()),
            _ => None,
        })
        .or_else(|| match kind {
            None | Some("network") => crate::objects::inspect_network(&engine, n),
            _ => None,
        });
        match found {
            Some(d) => docs.push(d),
            None => {
                eprintln!("Error: No such object: {n}");
                code = 1;
            }
        }
    }
    match &a.format {
        Some(f) => {
            if let Err(e) = output::print_formatted(f, &docs) {
                eprintln!("template parsing error: {e}");
                return 1;
            }
        }
        None => println!(
            "{}",
            serde_json::to_string_pretty(&Value::Array(docs)).unwrap_or_default()
        ),
    }
    code
}

/// `logs`.
pub fn logs(root: &Path, a: LogsArgs) -> i32 {
    let engine = match Engine::open(root) {
        Ok(e) => e,
        Err(e) => return fail(&e, 1),
    };
    let parse = |s: &Option<String>| -> Result<Option<chrono::DateTime<chrono::Utc>>, Error> {
        s.as_deref()
            .map(container_engine::logs::parse_time)
            .transpose()
    };
    let opts = (|| -> Result<container_engine::logs::LogsOptions, Error> {
        Ok(container_engine::logs::LogsOptions {
            follow: a.follow,
            tail: if a.tail == "all" {
                None
            } else {
                Some(
                    a.tail
                        .parse()
                        .map_err(|_| Error::Invalid(format!("invalid tail {}", a.tail)))?,
                )
            },
            since: parse(&a.since)?,
            until: parse(&a.until)?,
            timestamps: a.timestamps,
        })
    })();
    let opts = match opts {
        Ok(o) => o,
        Err(e) => return fail(&e, 1),
    };
    let mut out = std::io::stdout();
    let mut err = std::io::stderr();
    match engine.logs(&a.container, &opts, &mut out, &mut err) {
        Ok(()) => 0,
        Err(e) => fail(&e, 1),
    }
}

/// `exec`.
pub fn exec(root: &Path, a: ExecArgs) -> i32 {
    let engine = match Engine::open(root) {
        Ok(e) => e,
        Err(e) => return fail(&e, 125),
    };
    if !a.interactive {
        // like docker without -i: the process gets no stdin
        if let Ok(f) = std::fs::File::open("/dev/null") {
            use std::os::fd::AsRawFd;
            // SAFETY: dup2 of an fd we own over stdin.
            unsafe { libc::dup2(f.as_raw_fd(), 0) };
        }
    }
    let cfg = container_engine::ExecConfig {
        args: a.command.clone(),
        env: a.env.clone(),
        user: a.user.clone(),
        workdir: a.workdir.clone(),
        tty: a.tty && !a.detach,
    };
    let mask = cfg.tty.then(|| block(&[libc::SIGWINCH]));
    match engine.exec_with(&a.container, &cfg, None) {
        Ok(mut p) => {
            if a.detach {
                0
            } else if let Some(master) = p.take_console() {
                exec_tty(master, a.interactive, mask);
                p.wait().unwrap_or(255)
            } else {
                p.wait().unwrap_or(255)
            }
        }
        Err(e) => {
            let msg = e.to_string();
            eprintln!("Error response from daemon: {msg}");
            if msg.contains("executable file not found") {
                127
            } else if msg.contains("not running") || msg.contains("No such") {
                1
            } else {
                126
            }
        }
    }
}

/// Copy between this terminal and the exec's pty until the process closes it; resize
/// the pty with the terminal.
fn exec_tty(master: std::os::fd::OwnedFd, interactive: bool, winch: Option<libc::sigset_t>) {
    use std::os::fd::AsRawFd;
    let m = master.as_raw_fd();
    let copy_size = |from: i32| {
        if let Some((rows, cols)) = winsize(from) {
            let ws = libc::winsize {
                ws_row: rows,
                ws_col: cols,
                ws_xpixel: 0,
                ws_ypixel: 0,
            };
            // SAFETY: ioctl with a valid winsize on the pty master we hold.
            unsafe { libc::ioctl(m, libc::TIOCSWINSZ, &ws) };
        }
    };
    copy_size(0);
    if let Some(set) = winch {
        let m2 = master.try_clone().ok();
        std::thread::spawn(move || {
            let Some(m2) = m2 else { return };
            loop {
                let mut sig = 0;
                // SAFETY: sigwait on a mask blocked in every thread.
                if unsafe { libc::sigwait(&set, &mut sig) } != 0 {
                    continue;
                }
                if let Some((rows, cols)) = winsize(0).or_else(|| winsize(1)) {
                    let ws = libc::winsize {
                        ws_row: rows,
                        ws_col: cols,
                        ws_xpixel: 0,
                        ws_ypixel: 0,
                    };
                    // SAFETY: as above.
                    unsafe { libc::ioctl(m2.as_raw_fd(), libc::TIOCSWINSZ, &ws) };
                }
            }
        });
    }
    let _raw = interactive.then(|| RawMode::enter(0)).flatten();
    if interactive && let Ok(w) = master.try_clone() {
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            loop {
                // SAFETY: read into a local buffer.
                let n = unsafe { libc::read(0, buf.as_mut_ptr().cast(), buf.len()) };
                if n <= 0 {
                    break;
                }
                let mut off = 0;
                while off < n as usize {
                    // SAFETY: write from a local buffer to the pty master.
                    let k = unsafe {
                        libc::write(w.as_raw_fd(), buf[off..].as_ptr().cast(), n as usize - off)
                    };
                    if k <= 0 {
                        return;
                    }
                    off += k as usize;
                }
            }
        });
    }
    let mut buf = [0u8; 4096];
    loop {
        // SAFETY: read into a local buffer from the pty master.
        let n = unsafe { libc::read(m, buf.as_mut_ptr().cast(), buf.len()) };
        if n < 0 && std::io::Error::last_os_error().kind() == std::io::ErrorKind::Interrupted {
            continue;
        }
        if n <= 0 {
            break; // EIO once every slave fd is closed
        }
        use std::io::Write;
        let mut out = std::io::stdout().lock();
        let _ = out.write_all(&buf[..n as usize]);
        let _ = out.flush();
    }
}

/// `top`.
pub fn top(root: &Path, name: &str) -> i32 {
    with_engine(root, |e| {
        let pids = e.top(name)?;
        let mut rows = Vec::new();
        for pid in pids {
            let stat = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
            let uid = stat
                .lines()
                .find_map(|l| l.strip_prefix("Uid:"))
                .and_then(|l| l.split_whitespace().next())
                .unwrap_or("?")
                .to_string();
            let ppid = stat
                .lines()
                .find_map(|l| l.strip_prefix("PPid:"))
                .map(|l| l.trim().to_string())
                .unwrap_or_default();
            let cmd = std::fs::read(format!("/proc/{pid}/cmdline"))
                .map(|b| {
                    b.split(|c| *c == 0)
                        .filter(|s| !s.is_empty())
                        .map(|s| String::from_utf8_lossy(s).into_owned())
                        .collect::<Vec<_>>()
                        .join(" ")
                })
                .unwrap_or_default();
            rows.push(vec![
                if uid == "0" { "root".into() } else { uid },
                pid.to_string(),
                ppid,
                cmd,
            ]);
        }
        output::print_table(&["UID", "PID", "PPID", "CMD"], &rows);
        Ok(0)
    })
}

/// `port`.
pub fn port(root: &Path, name: &str, filter: Option<&str>) -> i32 {
    with_engine(root, |e| {
        let ports = e.port(name)?;
        for (p, bs) in ports {
            if let Some(f) = filter {
                let f = if f.contains('/') {
                    f.to_string()
                } else {
                    format!("{f}/tcp")
                };
                if p != f {
                    continue;
                }
                for b in bs {
                    println!("{}:{}", b.host_ip, b.host_port);
                }
                continue;
            }
            for b in bs {
                println!("{p} -> {}:{}", b.host_ip, b.host_port);
            }
        }
        Ok(0)
    })
}

/// `container …`.
pub fn container_command(root: &Path, c: ContainerCommand) -> i32 {
    match c {
        ContainerCommand::Ls(a) => ps(root, a),
        ContainerCommand::Inspect(a) => inspect(root, a),
        ContainerCommand::Prune { .. } => with_engine(root, |e| {
            let ids = e.prune_containers()?;
            println!("Deleted Containers:");
            for i in &ids {
                println!("{i}");
            }
            println!("\nTotal reclaimed space: 0B");
            Ok(0)
        }),
    }
}

/// `stats --no-stream`.
pub fn stats(root: &Path, names: &[String]) -> i32 {
    with_engine(root, |e| {
        let names: Vec<String> = if names.is_empty() {
            e.ps(false)?.into_iter().map(|r| r.id).collect()
        } else {
            names.to_vec()
        };
        let mut rows = Vec::new();
        for n in names {
            let s = e.stats(&n)?;
            let mem = if s.memory_limit > 0 {
                format!(
                    "{} / {}",
                    output::human_size(s.memory_usage),
                    output::human_size(s.memory_limit)
                )
            } else {
                output::human_size(s.memory_usage)
            };
            rows.push(vec![
                s.id[..12].to_string(),
                s.name,
                format!("{:.3}s", s.cpu_ns as f64 / 1e9),
                mem,
                s.pids.to_string(),
            ]);
        }
        output::print_table(
            &[
                "CONTAINER ID",
                "NAME",
                "CPU TIME",
                "MEM USAGE / LIMIT",
                "PIDS",
            ],
            &rows,
        );
        Ok(0)
    })
}
