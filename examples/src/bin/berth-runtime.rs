//! berth-runtime: a runc-compatible OCI runtime CLI over `container-core`.
//!
//! podman (through conmon), containerd's runc shim and dockerd drive it exactly like
//! runc: `create`, `start`, `state`, `kill`, `delete`, `exec`, `run`, `ps`, `list`,
//! `pause`, `resume`, `update`, `features`, `spec`. Errors go to stderr and, with
//! `--log`, to the log file (JSON lines with `--log-format json`), worded like runc's so
//! the callers classify them.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, anyhow, bail};
use clap::{Args, Parser, Subcommand};
use container_core::{Container, CreateOptions, ExecOptions, Status, spec};
use nix::sys::signal::Signal;

#[derive(Parser)]
#[command(
    name = "berth-runtime",
    disable_version_flag = true,
    about = "runc-compatible OCI runtime over container-core"
)]
struct Cli {
    /// Directory for container state.
    #[arg(long, global = true, default_value = container_core::DEFAULT_RUNTIME_ROOT)]
    root: PathBuf,
    /// Log file for errors.
    #[arg(long, global = true)]
    log: Option<PathBuf>,
    /// Log format: text or json.
    #[arg(long = "log-format", global = true, default_value = "text")]
    log_format: String,
    /// Verbose logging.
    #[arg(long, global = true)]
    debug: bool,
    /// Use systemd for cgroups (not supported).
    #[arg(long = "systemd-cgroup", global = true)]
    systemd_cgroup: bool,
    /// Accepted for runc compatibility.
    #[arg(long, global = true, num_args = 0..=1, default_missing_value = "true")]
    rootless: Option<String>,
    /// Accepted for runc compatibility.
    #[arg(long, global = true)]
    criu: Option<String>,
    /// Print the version.
    #[arg(short = 'v', long = "version")]
    version: bool,
    #[command(subcommand)]
    cmd: Option<Cmd>,
}

#[derive(Args)]
struct CreateArgs {
    /// Bundle directory (holds config.json).
    #[arg(short, long, default_value = ".")]
    bundle: PathBuf,
    /// Unix socket to send the pty master to.
    #[arg(long = "console-socket")]
    console_socket: Option<PathBuf>,
    /// Write the init's pid here.
    #[arg(long = "pid-file")]
    pid_file: Option<PathBuf>,
    /// Pass fds 3..3+N to the container.
    #[arg(long = "preserve-fds", default_value_t = 0)]
    preserve_fds: u32,
    /// Do not use pivot_root.
    #[arg(long = "no-pivot")]
    no_pivot: bool,
    /// Accepted for runc compatibility.
    #[arg(long = "no-new-keyring")]
    no_new_keyring: bool,
    /// Container id.
    id: String,
}

#[derive(Subcommand)]
enum Cmd {
    /// Create a container (its process waits for `start`).
    Create(CreateArgs),
    /// Start a created container.
    Start { id: String },
    /// Print the container's state as JSON.
    State { id: String },
    /// Send a signal to the container.
    Kill {
        /// Signal every process of the container.
        #[arg(short, long)]
        all: bool,
        id: String,
        #[arg(default_value = "SIGTERM")]
        signal: String,
    },
    /// Delete a container.
    Delete {
        #[arg(short, long)]
        force: bool,
        id: String,
    },
    /// Create, start, wait and delete.
    Run {
        #[command(flatten)]
        create: CreateArgs,
        /// Return after start.
        #[arg(short, long)]
        detach: bool,
        /// Keep the container after it exits.
        #[arg(long)]
        keep: bool,
    },
    /// Run a process in a running container.
    Exec(ExecArgs),
    /// List the container's processes.
    Ps {
        #[arg(short, long, default_value = "table")]
        format: String,
        id: String,
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        ps_args: Vec<String>,
    },
    /// List containers.
    List {
        #[arg(short, long, default_value = "table")]
        format: String,
        #[arg(short, long)]
        quiet: bool,
    },
    /// Freeze a container.
    Pause { id: String },
    /// Thaw a container.
    Resume { id: String },
    /// Change resource limits (`--resources FILE`, `-` for stdin).
    Update {
        #[arg(short, long)]
        resources: Option<PathBuf>,
        id: String,
    },
    /// Print resource usage as runc's stats events (JSON, one per line).
    Events {
        /// Print one stats event and exit.
        #[arg(long)]
        stats: bool,
        /// Seconds between events when streaming.
        #[arg(long, default_value_t = 5)]
        interval: u64,
        id: String,
    },
    /// Print the features this runtime supports (JSON).
    Features,
    /// Write a default config.json.
    Spec {
        #[arg(short, long, default_value = ".")]
        bundle: PathBuf,
    },
}

#[derive(Args)]
struct ExecArgs {
    /// process.json with the process to run.
    #[arg(short, long)]
    process: Option<PathBuf>,
    #[arg(short, long)]
    detach: bool,
    #[arg(long = "pid-file")]
    pid_file: Option<PathBuf>,
    #[arg(long = "console-socket")]
    console_socket: Option<PathBuf>,
    #[arg(short, long)]
    tty: bool,
    #[arg(long)]
    cwd: Option<PathBuf>,
    #[arg(short, long)]
    env: Vec<String>,
    /// uid[:gid]
    #[arg(short, long)]
    user: Option<String>,
    #[arg(long = "preserve-fds", default_value_t = 0)]
    preserve_fds: u32,
    #[arg(long = "no-new-privs")]
    no_new_privs: bool,
    #[arg(long = "process-label")]
    process_label: Option<String>,
    #[arg(long = "apparmor")]
    apparmor: Option<String>,
    #[arg(long = "cap", short = 'c')]
    cap: Vec<String>,
    id: String,
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    args: Vec<String>,
}

/// Set in the environment of the re-executed runtime (see [`reexec_read_only`]).
const REEXEC_ENV: &str = "_BERTH_RUNTIME_RO_EXE";

/// CVE-2019-5736: a container must not be able to open the runtime's binary for writing
/// through `/proc/<pid>/exe` of a runtime process that is (or is about to be) in its
/// namespaces. Before creating or entering a container, re-execute ourselves through a
/// read-only bind mount of our own binary that is detached right away: `/proc/<pid>/exe`
/// then names a file on a read-only mount that nothing else can reach, and any write
/// through it fails with EROFS. Cheaper than copying the binary into a sealed memfd.
/// Does nothing (and the caller continues unprotected) when not root.
fn reexec_read_only() {
    use std::ffi::CString;
    use std::os::unix::ffi::OsStrExt;
    if std::env::var_os(REEXEC_ENV).is_some() {
        return;
    }
    let wanted = std::env::args()
        .skip(1)
        .any(|a| matches!(a.as_str(), "create" | "run" | "exec"));
    if !wanted {
        return;
    }
    let dir = if Path::new("/run").is_dir() {
        PathBuf::from("/run")
    } else {
        std::env::temp_dir()
    };
    let tmp = dir.join(format!(".berth-runtime-exe.{}", std::process::id()));
    if std::fs::write(&tmp, b"").is_err() {
        return;
    }
    let Ok(ctmp) = CString::new(tmp.as_os_str().as_bytes()) else {
        return;
    };
    let bind = nix::mount::mount(
        Some("/proc/self/exe"),
        tmp.as_path(),
        None::<&str>,
        nix::mount::MsFlags::MS_BIND,
        None::<&str>,
    )
    .and_then(|_| {
        nix::mount::mount(
            None::<&str>,
            tmp.as_path(),
            None::<&str>,
            nix::mount::MsFlags::MS_BIND
                | nix::mount::MsFlags::MS_REMOUNT
                | nix::mount::MsFlags::MS_RDONLY,
            None::<&str>,
        )
    });
    // SAFETY: open of a C string; the fd is used for execveat only.
    let fd = if bind.is_ok() {
        unsafe { libc::open(ctmp.as_ptr(), libc::O_PATH | libc::O_CLOEXEC) }
    } else {
        -1
    };
    let _ = nix::mount::umount2(tmp.as_path(), nix::mount::MntFlags::MNT_DETACH);
    let _ = std::fs::remove_file(&tmp);
    if fd < 0 {
        return;
    }
    let args: Vec<CString> = std::env::args_os()
        .filter_map(|a| CString::new(a.as_bytes()).ok())
        .collect();
    let mut env: Vec<CString> = std::env::vars_os()
        .filter_map(|(k, v)| {
            let mut kv = k.as_bytes().to_vec();
            kv.push(b'=');
            kv.extend_from_slice(v.as_bytes());
            CString::new(kv).ok()
        })
        .collect();
    env.push(CString::new(format!("{REEXEC_ENV}=1")).unwrap_or_default());
    let mut argv: Vec<*const libc::c_char> = args.iter().map(|a| a.as_ptr()).collect();
    argv.push(std::ptr::null());
    let mut envp: Vec<*const libc::c_char> = env.iter().map(|a| a.as_ptr()).collect();
    envp.push(std::ptr::null());
    // SAFETY: NULL-terminated arrays of valid C strings; on failure we just go on.
    unsafe {
        libc::syscall(
            libc::SYS_execveat,
            fd,
            c"".as_ptr(),
            argv.as_ptr(),
            envp.as_ptr(),
            libc::AT_EMPTY_PATH,
        );
        libc::close(fd);
    }
}

/// cgroup statistics in the JSON shape of runc's `events --stats` (libcontainer's
/// `types.Stats`).
fn runc_stats(s: &container_core::cgroups::CgroupStats) -> serde_json::Value {
    use serde_json::json;
    let mut v = json!({});
    if let Some(c) = &s.cpu {
        v["cpu"] = json!({
            "usage": {"total": c.usage_total, "percpu": c.per_cpu,
                      "kernel": c.usage_system, "user": c.usage_user},
            "throttling": {"periods": c.periods, "throttledPeriods": c.throttled_periods,
                           "throttledTime": c.throttled_time},
        });
    }
    if let Some(m) = &s.memory {
        v["memory"] = json!({
            "usage": {"limit": m.limit, "usage": m.usage, "max": m.max_usage, "failcnt": m.failcnt},
            "swap": {"usage": m.swap_usage.unwrap_or(0)},
            "raw": m.stat,
        });
    }
    if let Some(p) = &s.pids {
        v["pids"] = json!({"current": p.current, "limit": p.limit.unwrap_or(0)});
    }
    if let Some(b) = &s.blkio {
        let mut bytes = Vec::new();
        let mut ios = Vec::new();
        for d in &b.devices {
            for (op, b, n) in [
                ("Read", d.read_bytes, d.read_ios),
                ("Write", d.write_bytes, d.write_ios),
            ] {
                bytes.push(json!({"major": d.major, "minor": d.minor, "op": op, "value": b}));
                ios.push(json!({"major": d.major, "minor": d.minor, "op": op, "value": n}));
            }
        }
        v["blkio"] = json!({"ioServiceBytesRecursive": bytes, "ioServicedRecursive": ios});
    }
    if !s.hugetlb.is_empty() {
        v["hugetlb"] = s
            .hugetlb
            .iter()
            .map(|(k, h)| {
                (
                    k.clone(),
                    json!({"usage": h.usage, "max": h.max_usage, "failcnt": h.failcnt}),
                )
            })
            .collect::<serde_json::Map<_, _>>()
            .into();
    }
    v
}

fn main() {
    reexec_read_only();
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            std::process::exit(if e.use_stderr() { 1 } else { 0 });
        }
    };
    if cli.version {
        println!("berth-runtime version {}", env!("CARGO_PKG_VERSION"));
        println!("spec: {}", spec::OCI_VERSION);
        return;
    }
    let code = match run(&cli) {
        Ok(code) => code,
        Err(e) => {
            let msg = format!("{e:#}");
            report(&cli, &msg);
            1
        }
    };
    std::process::exit(code);
}

fn report(cli: &Cli, msg: &str) {
    eprintln!("berth-runtime: {msg}");
    if let Some(log) = &cli.log
        && let Ok(mut f) = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
    {
        let line = if cli.log_format == "json" {
            serde_json::json!({"level": "error", "msg": msg, "time": chrono::Utc::now().to_rfc3339()}).to_string()
        } else {
            format!(
                "time=\"{}\" level=error msg=\"{msg}\"",
                chrono::Utc::now().to_rfc3339()
            )
        };
        let _ = writeln!(f, "{line}");
    }
}

fn parse_signal(s: &str) -> Result<Signal> {
    if let Ok(n) = s.parse::<i32>() {
        return Signal::try_from(n).map_err(|_| anyhow!("invalid signal {s:?}"));
    }
    let up = s.to_ascii_uppercase();
    let name = if up.starts_with("SIG") {
        up
    } else {
        format!("SIG{up}")
    };
    name.parse::<Signal>()
        .map_err(|_| anyhow!("invalid signal {s:?}"))
}

fn create_opts(a: &CreateArgs) -> CreateOptions {
    let mut o = CreateOptions::default()
        .preserve_fds(a.preserve_fds)
        .no_pivot(a.no_pivot);
    if let Some(s) = &a.console_socket {
        o = o.console_socket(s);
    }
    if let Some(p) = &a.pid_file {
        o = o.pid_file(abs(p));
    }
    o
}

fn abs(p: &Path) -> PathBuf {
    if p.is_absolute() {
        p.to_path_buf()
    } else {
        std::env::current_dir()
            .map(|d| d.join(p))
            .unwrap_or_else(|_| p.to_path_buf())
    }
}

fn run(cli: &Cli) -> Result<i32> {
    if cli.debug {
        let _ = tracing_subscriber::fmt()
            .with_writer(std::io::stderr)
            .with_env_filter("debug")
            .try_init();
    }
    let Some(cmd) = &cli.cmd else {
        bail!("no command given; see --help");
    };
    let root = &cli.root;
    let needs_cgroups = matches!(cmd, Cmd::Create(_) | Cmd::Run { .. });
    if cli.systemd_cgroup && needs_cgroups {
        bail!("--systemd-cgroup is not supported by berth-runtime: configure the cgroupfs driver");
    }
    match cmd {
        Cmd::Create(a) => {
            let bundle = abs(&a.bundle);
            let spec = spec::load_bundle(&bundle)?;
            Container::create(&a.id, &bundle, &spec, root, create_opts(a))?;
            Ok(0)
        }
        Cmd::Start { id } => {
            Container::load(id, root)?.start()?;
            Ok(0)
        }
        Cmd::State { id } => {
            let st = Container::load(id, root)?.state()?;
            println!("{}", serde_json::to_string_pretty(&st)?);
            Ok(0)
        }
        Cmd::Kill { all, id, signal } => {
            let c = Container::load(id, root)?;
            let sig = parse_signal(signal)?;
            if *all {
                c.kill_all(sig)?
            } else {
                c.kill(sig)?
            }
            Ok(0)
        }
        Cmd::Delete { force, id } => {
            match Container::load(id, root) {
                Ok(c) => c.delete(*force)?,
                Err(container_core::Error::NotFound { .. }) if *force => {}
                Err(e) => return Err(e.into()),
            }
            Ok(0)
        }
        Cmd::Run {
            create,
            detach,
            keep,
        } => {
            let bundle = abs(&create.bundle);
            let spec = spec::load_bundle(&bundle)?;
            let mut c = Container::create(&create.id, &bundle, &spec, root, create_opts(create))?;
            if let Err(e) = c.start() {
                let _ = Container::load(&create.id, root).map(|c| c.delete(true));
                return Err(e.into());
            }
            if *detach {
                return Ok(0);
            }
            let code = c.wait()?;
            if !keep {
                c.delete(true)?;
            }
            Ok(code)
        }
        Cmd::Exec(a) => exec(a, root),
        Cmd::Ps { format, id, .. } => {
            let c = Container::load(id, root)?;
            let pids = c.pids()?;
            if format == "json" {
                println!("{}", serde_json::to_string(&pids)?);
            } else {
                println!("PID");
                for p in pids {
                    println!("{p}");
                }
            }
            Ok(0)
        }
        Cmd::List { format, quiet } => {
            let list = Container::list(root)?;
            if format == "json" {
                println!("{}", serde_json::to_string(&list)?);
            } else if *quiet {
                for s in list {
                    println!("{}", s.id);
                }
            } else {
                println!(
                    "{:<24} {:<8} {:<10} {:<40} {:<32} OWNER",
                    "ID", "PID", "STATUS", "BUNDLE", "CREATED"
                );
                for s in list {
                    println!(
                        "{:<24} {:<8} {:<10} {:<40} {:<32} root",
                        s.id,
                        s.pid,
                        s.status,
                        s.bundle.display(),
                        s.created
                    );
                }
            }
            Ok(0)
        }
        Cmd::Pause { id } => {
            Container::load(id, root)?.pause()?;
            Ok(0)
        }
        Cmd::Resume { id } => {
            Container::load(id, root)?.resume()?;
            Ok(0)
        }
        Cmd::Update { resources, id } => {
            let c = Container::load(id, root)?;
            let data = match resources.as_deref() {
                None => bail!("update needs --resources FILE (or - for stdin)"),
                Some(p) if p == Path::new("-") => {
                    let mut s = Vec::new();
                    std::io::Read::read_to_end(&mut std::io::stdin(), &mut s)?;
                    s
                }
                Some(p) => std::fs::read(p).with_context(|| format!("read {}", p.display()))?,
            };
            let r: oci_spec::runtime::LinuxResources =
                serde_json::from_slice(&data).context("parse resources JSON")?;
            c.update(&r)?;
            Ok(0)
        }
        Cmd::Events {
            stats,
            interval,
            id,
        } => {
            let c = Container::load(id, root)?;
            loop {
                let event = serde_json::json!({
                    "type": "stats",
                    "id": id,
                    "data": runc_stats(&c.stats()?),
                });
                println!("{event}");
                std::io::stdout().flush()?;
                if *stats {
                    return Ok(0);
                }
                std::thread::sleep(std::time::Duration::from_secs((*interval).max(1)));
                if c.status() == Status::Stopped {
                    return Ok(0);
                }
            }
        }
        Cmd::Features => {
            println!("{}", serde_json::to_string_pretty(&features())?);
            Ok(0)
        }
        Cmd::Spec { bundle, .. } => {
            let path = bundle.join("config.json");
            if path.exists() {
                bail!("File {} exists. Remove it first", path.display());
            }
            let mut s = spec::default_spec();
            // runc's default is an interactive shell with a terminal; keep berth's
            // plain `sh` without one so `run` works without a console socket.
            s.set_hostname(Some("berth".into()));
            std::fs::write(&path, serde_json::to_string_pretty(&s)?)
                .with_context(|| format!("write {}", path.display()))?;
            Ok(0)
        }
    }
}

fn exec(a: &ExecArgs, root: &Path) -> Result<i32> {
    let c = Container::load(&a.id, root)?;
    let mut process = match &a.process {
        Some(p) => {
            let data = std::fs::read(p).with_context(|| format!("read {}", p.display()))?;
            serde_json::from_slice::<oci_spec::runtime::Process>(&data)
                .with_context(|| format!("parse {}", p.display()))?
        }
        None => {
            if a.args.is_empty() {
                bail!("exec needs --process FILE or a command");
            }
            let mut p = c.spec().process().clone().unwrap_or_default();
            p.set_args(Some(a.args.clone()));
            p.set_terminal(Some(a.tty));
            let mut env = p.env().clone().unwrap_or_default();
            env.extend(a.env.iter().cloned());
            p.set_env(Some(env));
            if let Some(cwd) = &a.cwd {
                p.set_cwd(cwd.clone());
            }
            if let Some(u) = &a.user {
                let (uid, gid) = u.split_once(':').unwrap_or((u.as_str(), "0"));
                let mut user = p.user().clone();
                user.set_uid(uid.parse().context("--user uid")?);
                user.set_gid(gid.parse().context("--user gid")?);
                p.set_user(user);
            }
            if a.no_new_privs {
                p.set_no_new_privileges(Some(true));
            }
            p
        }
    };
    if a.tty {
        process.set_terminal(Some(true));
    }
    let mut o = ExecOptions::default().preserve_fds(a.preserve_fds);
    if let Some(s) = &a.console_socket {
        o = o.console_socket(s);
    }
    if let Some(p) = &a.pid_file {
        o = o.pid_file(abs(p));
    }
    if c.status() != Status::Running {
        bail!("container {} is not running", a.id);
    }
    let mut proc = c.exec(&process, o)?;
    if a.detach {
        return Ok(0);
    }
    Ok(proc.wait()?)
}

fn features() -> serde_json::Value {
    serde_json::json!({
        "ociVersionMin": "1.0.0",
        "ociVersionMax": spec::OCI_VERSION,
        "hooks": ["prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop"],
        "mountOptions": ["async", "atime", "bind", "defaults", "dev", "diratime", "dirsync", "exec", "mand", "noatime",
            "nodev", "nodiratime", "noexec", "nomand", "norelatime", "nostrictatime", "nosuid", "private", "rbind",
            "relatime", "remount", "ro", "rprivate", "rshared", "rslave", "runbindable", "rw", "shared", "slave",
            "strictatime", "suid", "sync", "unbindable"],
        "linux": {
            "namespaces": ["cgroup", "ipc", "mount", "network", "pid", "time", "user", "uts"],
            "capabilities": container_core::caps::docker_default().iter().map(|c| format!("CAP_{c}")).collect::<Vec<_>>(),
            "cgroup": {"v1": true, "v2": true, "systemd": false, "systemdUser": false},
            "seccomp": {"enabled": true, "actions": ["SCMP_ACT_ALLOW", "SCMP_ACT_ERRNO", "SCMP_ACT_KILL", "SCMP_ACT_KILL_PROCESS",
                "SCMP_ACT_KILL_THREAD", "SCMP_ACT_LOG", "SCMP_ACT_NOTIFY", "SCMP_ACT_TRACE", "SCMP_ACT_TRAP"]},
            "apparmor": {"enabled": container_core::lsm::apparmor_enabled()},
            "selinux": {"enabled": container_core::lsm::selinux_enabled()}
        }
    })
}
