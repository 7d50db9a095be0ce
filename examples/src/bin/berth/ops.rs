//! `cp`, `diff`, `export`, `pull`, `push`, `save`, `load`: moving files and images.

use clap::Args;
use container_engine::distribution::RegistryAuth;
use container_engine::transfer::{
    CopyInOptions, CopyOutOptions, last_component, split_container_path,
};
use container_engine::{Engine, Error};
use container_image::registry::{BlobStatus, Progress};
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::collections::BTreeMap;
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// Open the engine and run `f`; any error is berth's own: exit 125.
pub fn with_engine125(
    root: &Path,
    f: impl FnOnce(&Engine) -> container_engine::Result<i32>,
) -> i32 {
    match Engine::open(root).and_then(|e| f(&e)) {
        Ok(c) => c,
        Err(e) => crate::containers::fail(&e, 125),
    }
}

/// `cp` arguments.
#[derive(Args)]
pub struct CpArgs {
    /// Archive mode: keep uid/gid of the files copied in.
    #[arg(short = 'a', long)]
    pub archive: bool,
    /// Always follow a symlink named as SRC_PATH.
    #[arg(short = 'L', long = "follow-link")]
    pub follow_link: bool,
    /// Suppress progress output (there is none).
    #[arg(short = 'q', long)]
    pub quiet: bool,
    /// `CONTAINER:SRC_PATH`, a host path, or `-` (a tar on stdin).
    pub src: String,
    /// `CONTAINER:DEST_PATH`, a host path, or `-` (a tar on stdout).
    pub dest: String,
}

/// `berth cp`.
pub fn cp(root: &Path, a: CpArgs) -> i32 {
    with_engine125(root, |e| {
        match (split_container_path(&a.src), split_container_path(&a.dest)) {
            (Some(_), Some(_)) => Err(Error::Invalid(
                "copying between containers is not supported".into(),
            )),
            (None, None) => Err(Error::Invalid(
                "must specify at least one container source".into(),
            )),
            (Some((c, p)), None) => {
                if a.dest == "-" {
                    let followed = if a.follow_link && !p.ends_with('/') && !p.ends_with("/.") {
                        Some(e.follow_symlinks(c, p)?)
                    } else {
                        None
                    };
                    let mut out = std::io::stdout().lock();
                    match &followed {
                        Some(r) => e.copy_from(c, r, Some(last_component(p)), &mut out)?,
                        None => e.copy_from(c, p, None, &mut out)?,
                    }
                    out.flush().map_err(|er| Error::Sys {
                        what: "write",
                        source: er,
                    })?;
                } else {
                    e.copy_out(
                        c,
                        p,
                        Path::new(&a.dest),
                        CopyOutOptions {
                            follow_link: a.follow_link,
                        },
                    )?;
                }
                Ok(0)
            }
            (None, Some((c, p))) => {
                if a.src == "-" {
                    if e.path_kind(c, p)?.is_none() {
                        return Err(Error::NoSuchPath {
                            path: p.into(),
                            container: c.into(),
                        });
                    }
                    e.copy_to(c, p, &mut std::io::stdin().lock())?;
                } else {
                    e.copy_in(
                        c,
                        Path::new(&a.src),
                        p,
                        CopyInOptions {
                            archive: a.archive,
                            follow_link: a.follow_link,
                        },
                    )?;
                }
                Ok(0)
            }
        }
    })
}

/// `berth diff`.
pub fn diff(root: &Path, container: &str) -> i32 {
    with_engine125(root, |e| {
        let mut out = std::io::stdout().lock();
        for c in e.diff(container)? {
            let _ = writeln!(out, "{c}");
        }
        Ok(0)
    })
}

/// `berth export`.
pub fn export(root: &Path, container: &str, output: Option<&Path>) -> i32 {
    with_engine125(root, |e| {
        match output {
            Some(p) => {
                if std::io::stdout().is_terminal() && p == Path::new("-") {
                    return Err(Error::Invalid(
                        "cowardly refusing to save to a terminal. Use the -o flag or redirect"
                            .into(),
                    ));
                }
                let tmp = p.with_extension("berth-partial");
                let mut f =
                    std::fs::File::create(&tmp).map_err(|er| Error::io("create", &tmp, er))?;
                let r = e.export(container, &mut f).and_then(|()| {
                    f.sync_all().map_err(|er| Error::io("fsync", &tmp, er))?;
                    std::fs::rename(&tmp, p).map_err(|er| Error::io("rename", p, er))
                });
                if r.is_err() {
                    let _ = std::fs::remove_file(&tmp);
                }
                r?;
            }
            None => {
                if std::io::stdout().is_terminal() {
                    return Err(Error::Invalid(
                        "cowardly refusing to save to a terminal. Use the -o flag or redirect"
                            .into(),
                    ));
                }
                let mut out = std::io::stdout().lock();
                e.export(container, &mut out)?;
            }
        }
        Ok(0)
    })
}

/// Registry flags of `pull` and `push`.
#[derive(Args)]
pub struct RegistryArgs {
    /// Plain HTTP to this registry (loopback registries always use it).
    #[arg(long = "insecure")]
    pub insecure: bool,
    /// Trust the CA certificates (`*.crt`) in this directory (podman's flag; by default
    /// `/etc/docker/certs.d/HOST[:PORT]/` and `/etc/containers/certs.d/HOST[:PORT]/`).
    #[arg(long = "cert-dir")]
    pub cert_dir: Option<PathBuf>,
    /// Suppress progress output.
    #[arg(short = 'q', long)]
    pub quiet: bool,
    /// Image reference.
    pub reference: String,
}

fn short_digest(d: &str) -> &str {
    let h = d.strip_prefix("sha256:").unwrap_or(d);
    &h[..h.len().min(12)]
}

/// Progress bars per blob (drawn when stderr is a terminal) plus Docker's status
/// lines on stdout.
struct Bars {
    multi: MultiProgress,
    bars: Mutex<BTreeMap<String, ProgressBar>>,
    quiet: bool,
    verb: &'static str,
}

impl Bars {
    fn new(quiet: bool, verb: &'static str) -> Bars {
        let target = if quiet || !std::io::stderr().is_terminal() {
            ProgressDrawTarget::hidden()
        } else {
            ProgressDrawTarget::stderr()
        };
        Bars {
            multi: MultiProgress::with_draw_target(target),
            bars: Mutex::new(BTreeMap::new()),
            quiet,
            verb,
        }
    }

    fn report(&self, p: &Progress) {
        let key = p.digest.to_string();
        let Ok(mut bars) = self.bars.lock() else {
            return;
        };
        let bar = bars.entry(key.clone()).or_insert_with(|| {
            let b = self.multi.add(ProgressBar::new(p.total));
            if let Ok(style) =
                ProgressStyle::with_template("{prefix}: {msg:>16} [{bar:30}] {bytes}/{total_bytes}")
            {
                b.set_style(style.progress_chars("=> "));
            }
            b.set_prefix(short_digest(&key).to_string());
            b
        });
        let line = match p.status {
            BlobStatus::Transferring => {
                bar.set_message(self.verb);
                bar.set_position(p.current);
                None
            }
            BlobStatus::Resumed(n) => {
                bar.set_message("Resuming");
                bar.set_position(n);
                None
            }
            BlobStatus::Exists => Some(if self.verb == "Pushing" {
                "Layer already exists"
            } else {
                "Already exists"
            }),
            BlobStatus::Mounted => Some("Mounted from another repository"),
            BlobStatus::Done => Some(if self.verb == "Pushing" {
                "Pushed"
            } else {
                "Pull complete"
            }),
        };
        if let Some(l) = line {
            bar.set_position(p.total);
            bar.finish_with_message(l);
            if !self.quiet {
                let _ = self
                    .multi
                    .suspend(|| writeln!(std::io::stdout(), "{}: {l}", short_digest(&key)));
            }
        }
    }
}

fn runtime() -> container_engine::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Error::Sys {
            what: "start an async runtime",
            source: e,
        })
}

/// `berth pull`.
pub fn pull(root: &Path, a: RegistryArgs) -> i32 {
    with_engine125(root, |e| {
        let auth = RegistryAuth {
            insecure: a.insecure,
            cert_dir: a.cert_dir.clone(),
            ..Default::default()
        };
        let bars = Bars::new(a.quiet, "Downloading");
        let report = |p: &Progress| bars.report(p);
        if !a.quiet {
            let r = container_image::Reference::parse(&a.reference)
                .map_err(|er| Error::Invalid(format!("invalid reference format: {er}")))?;
            println!(
                "{}: Pulling from {}",
                r.tag().unwrap_or("latest"),
                r.repository()
            );
        }
        let pulled = runtime()?.block_on(e.pull(&a.reference, &auth, Some(&report)))?;
        if !a.quiet {
            println!("Digest: {}", pulled.digest);
            println!("Status: Downloaded newer image for {}", a.reference);
        }
        println!("{}", pulled.reference);
        Ok(0)
    })
}

/// `berth push`.
pub fn push(root: &Path, a: RegistryArgs) -> i32 {
    with_engine125(root, |e| {
        let auth = RegistryAuth {
            insecure: a.insecure,
            cert_dir: a.cert_dir.clone(),
            ..Default::default()
        };
        let r = container_image::Reference::parse(&a.reference)
            .map_err(|er| Error::Invalid(format!("invalid reference format: {er}")))?;
        if !a.quiet {
            println!(
                "The push refers to repository [{}/{}]",
                r.registry(),
                r.repository()
            );
        }
        let bars = Bars::new(a.quiet, "Pushing");
        let report = |p: &Progress| bars.report(p);
        let (digest, size) = runtime()?.block_on(e.push(&a.reference, &auth, Some(&report)))?;
        println!(
            "{}: digest: {digest} size: {size}",
            r.tag().unwrap_or("latest")
        );
        Ok(0)
    })
}

/// `login` arguments.
#[derive(Args)]
pub struct LoginArgs {
    /// Username.
    #[arg(short = 'u', long)]
    pub username: Option<String>,
    /// Password (visible to other users of this machine: prefer --password-stdin).
    #[arg(short = 'p', long)]
    pub password: Option<String>,
    /// Take the password from stdin.
    #[arg(long = "password-stdin")]
    pub password_stdin: bool,
    /// Plain HTTP to this registry (loopback registries always use it).
    #[arg(long = "insecure")]
    pub insecure: bool,
    /// Trust the CA certificates (`*.crt`) in this directory (as `pull --cert-dir`).
    #[arg(long = "cert-dir")]
    pub cert_dir: Option<PathBuf>,
    /// Registry (default: Docker Hub).
    pub server: Option<String>,
}

/// A usage error of `login`/`logout`: Docker prints `Error: ...` and exits 1.
fn usage(msg: &str) -> i32 {
    eprintln!("Error: {msg}");
    1
}

/// Read a line from the terminal on stdin, without echo when `secret`.
fn prompt(label: &str, secret: bool) -> std::io::Result<String> {
    use std::io::BufRead;
    eprint!("{label}");
    std::io::stderr().flush()?;
    let stdin = std::io::stdin();
    let fd = libc::STDIN_FILENO;
    // SAFETY: termios is plain data; tcgetattr fills it for a terminal fd.
    let mut saved: libc::termios = unsafe { std::mem::zeroed() };
    // SAFETY: valid fd and pointer.
    let echo_off = secret && unsafe { libc::tcgetattr(fd, &mut saved) } == 0;
    if echo_off {
        let mut quiet = saved;
        quiet.c_lflag &= !libc::ECHO;
        // SAFETY: valid fd and termios.
        unsafe { libc::tcsetattr(fd, libc::TCSANOW, &quiet) };
    }
    let mut line = String::new();
    let read = stdin.lock().read_line(&mut line);
    if echo_off {
        // SAFETY: restores what tcgetattr returned.
        unsafe { libc::tcsetattr(fd, libc::TCSANOW, &saved) };
        eprintln!();
    }
    read?;
    Ok(line.trim_end_matches(['\n', '\r']).to_string())
}

/// `berth login`: check the credentials against the registry (`GET /v2/`), then keep
/// them in the Docker config like `docker login`. Exit 1 on failure, as Docker.
pub fn login(a: LoginArgs) -> i32 {
    if a.password.is_some() && a.password_stdin {
        return usage("--password and --password-stdin are mutually exclusive");
    }
    if a.password_stdin && a.username.is_none() {
        return usage("Must provide --username with --password-stdin");
    }
    let (registry, key) = match container_engine::distribution::registry_key(a.server.as_deref()) {
        Ok(k) => k,
        Err(e) => return crate::containers::fail(&e, 1),
    };
    let config = match container_engine::distribution::docker_config_path() {
        Ok(p) => p,
        Err(e) => return crate::containers::fail(&e, 1),
    };
    let tty = std::io::stdin().is_terminal();
    let stored = container_engine::distribution::stored_credentials(&config, &registry);
    let (user, password, reuse) = match (a.username, a.password, a.password_stdin) {
        (Some(u), Some(p), _) => {
            eprintln!("WARNING! Using --password via the CLI is insecure. Use --password-stdin.");
            (u, p, false)
        }
        (Some(u), None, true) => {
            let mut p = String::new();
            if let Err(e) = std::io::Read::read_to_string(&mut std::io::stdin(), &mut p) {
                return usage(&format!("reading the password from stdin: {e}"));
            }
            (u, p.trim_end_matches(['\n', '\r']).to_string(), false)
        }
        (None, None, false) if stored.is_some() => {
            let (u, p) = stored.unwrap_or_default();
            println!("Authenticating with existing credentials...");
            (u, p, true)
        }
        (u, p, _) => {
            if !tty {
                return usage("Cannot perform an interactive login from a non TTY device");
            }
            let u = match u {
                Some(u) => u,
                None => match prompt("Username: ", false) {
                    Ok(u) => u,
                    Err(e) => return usage(&format!("reading the username: {e}")),
                },
            };
            let p = match p {
                Some(p) => p,
                None => match prompt("Password: ", true) {
                    Ok(p) => p,
                    Err(e) => return usage(&format!("reading the password: {e}")),
                },
            };
            (u, p, false)
        }
    };
    if user.is_empty() {
        return usage("Username is required");
    }
    if password.is_empty() {
        return usage("Password is required");
    }
    let checked = runtime().and_then(|rt| {
        rt.block_on(container_engine::distribution::verify_login(
            &registry,
            &user,
            &password,
            &RegistryAuth {
                insecure: a.insecure,
                cert_dir: a.cert_dir.clone(),
                ..Default::default()
            },
        ))
    });
    if let Err(e) = checked {
        return crate::containers::fail(&e, 1);
    }
    if !reuse {
        if let Err(e) =
            container_engine::distribution::store_credentials(&config, &key, &user, &password)
        {
            return crate::containers::fail(&e, 1);
        }
        eprintln!(
            "WARNING! Your password will be stored unencrypted in {}.",
            config.display()
        );
    }
    println!("Login Succeeded");
    0
}

/// `berth logout`: forget the registry's credentials in the Docker config.
pub fn logout(server: Option<&str>) -> i32 {
    let (registry, key) = match container_engine::distribution::registry_key(server) {
        Ok(k) => k,
        Err(e) => return crate::containers::fail(&e, 1),
    };
    let shown = if registry == container_image::reference::DEFAULT_REGISTRY {
        key.as_str()
    } else {
        registry.as_str()
    };
    let removed = container_engine::distribution::docker_config_path()
        .and_then(|p| container_engine::distribution::remove_credentials(&p, &key));
    match removed {
        Ok(true) => {
            println!("Removing login credentials for {shown}");
            0
        }
        Ok(false) => {
            println!("Not logged in to {shown}");
            0
        }
        Err(e) => crate::containers::fail(&e, 1),
    }
}

/// `berth save`: images to a docker-archive tar (a file, or stdout).
pub fn save(root: &Path, output: Option<&Path>, images: &[String]) -> i32 {
    with_engine125(root, |e| {
        let store = container_engine::images::store(e)?;
        for i in images {
            container_engine::images::find(&store, i)?;
        }
        let names: Vec<&str> = images.iter().map(String::as_str).collect();
        let img = |er: container_image::Error| Error::Image(er.to_string());
        match output {
            Some(p) => store.save_docker_archive(&names, p).map_err(img)?,
            None => {
                if std::io::stdout().is_terminal() {
                    return Err(Error::Invalid(
                        "cowardly refusing to save to a terminal. Use the -o flag or redirect"
                            .into(),
                    ));
                }
                let tmp = TempFile::new(e.root(), "save")?;
                store.save_docker_archive(&names, &tmp.0).map_err(img)?;
                let mut f =
                    std::fs::File::open(&tmp.0).map_err(|er| Error::io("open", &tmp.0, er))?;
                std::io::copy(&mut f, &mut std::io::stdout().lock()).map_err(|er| Error::Sys {
                    what: "write",
                    source: er,
                })?;
            }
        }
        Ok(0)
    })
}

/// `berth load`: images from a docker-archive tar (a file, or stdin).
pub fn load(root: &Path, input: Option<&Path>, quiet: bool) -> i32 {
    with_engine125(root, |e| {
        let store = container_engine::images::store(e)?;
        let img = |er: container_image::Error| Error::Image(er.to_string());
        let (_tmp, file): (Option<TempFile>, PathBuf) = match input {
            Some(p) => (None, p.to_path_buf()),
            None => {
                let tmp = TempFile::new(e.root(), "load")?;
                let mut f =
                    std::fs::File::create(&tmp.0).map_err(|er| Error::io("create", &tmp.0, er))?;
                std::io::copy(&mut std::io::stdin().lock(), &mut f)
                    .map_err(|er| Error::io("read stdin into", &tmp.0, er))?;
                let file = tmp.0.clone();
                (Some(tmp), file)
            }
        };
        for i in store.load_docker_archive(&file).map_err(img)? {
            if quiet {
                continue;
            }
            match &i.reference {
                Some(r) => println!("Loaded image: {}", r.familiar()),
                None => println!("Loaded image ID: {}", i.id()),
            }
        }
        Ok(0)
    })
}

/// A file under the engine root removed when dropped (stdin/stdout archives).
struct TempFile(PathBuf);

impl TempFile {
    fn new(root: &Path, what: &str) -> container_engine::Result<TempFile> {
        let id = container_engine::fsutil::new_id()?;
        Ok(TempFile(root.join(format!(".{what}-{}.tar", &id[..16]))))
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}
