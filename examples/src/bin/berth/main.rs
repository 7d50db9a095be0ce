//! `berth`: a docker-like command line over the berth libraries.
//!
//! Thin by design: clap parsing and output formatting; the work happens in the crates.
//! Exit codes follow Docker: 125 when berth itself fails, otherwise the container's.

mod compose;
mod containers;
mod dockerfile;
mod objects;
mod ops;
mod output;
mod runargs;

use clap::{Parser, Subcommand};
use std::path::PathBuf;

/// berth: containers, images, builds, networks and compose projects without a daemon.
#[derive(Parser)]
#[command(name = "berth", version, about, disable_help_flag = false)]
struct Cli {
    /// State root (images, containers, volumes, networks).
    #[arg(
        long,
        global = true,
        default_value = "/var/lib/berth",
        env = "BERTH_ROOT"
    )]
    root: PathBuf,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Dockerfile tools (parse and print like BuildKit's parser).
    #[command(subcommand)]
    Dockerfile(dockerfile::DockerfileCommand),
    /// Define and run multi-container applications (compose files).
    Compose(compose::ComposeArgs),
    /// Create and run a new container from an image.
    #[command(disable_help_flag = true)]
    Run(runargs::RunArgs),
    /// Create a new container.
    #[command(disable_help_flag = true)]
    Create(runargs::RunArgs),
    /// Start stopped containers.
    Start(containers::StartArgs),
    /// Stop running containers.
    Stop(containers::StopArgs),
    /// Restart containers.
    Restart(containers::StopArgs),
    /// Kill running containers.
    Kill(containers::KillArgs),
    /// Pause all processes within containers.
    Pause(containers::Names),
    /// Unpause containers.
    Unpause(containers::Names),
    /// Remove containers.
    Rm(containers::RmArgs),
    /// Rename a container.
    Rename {
        /// Container.
        container: String,
        /// New name.
        new_name: String,
    },
    /// Block until containers stop, then print their exit codes.
    Wait(containers::Names),
    /// List containers.
    Ps(containers::PsArgs),
    /// Return low-level information on objects.
    Inspect(containers::InspectArgs),
    /// Fetch the logs of a container.
    Logs(containers::LogsArgs),
    /// Execute a command in a running container.
    Exec(containers::ExecArgs),
    /// Display the running processes of a container.
    Top {
        /// Container.
        container: String,
    },
    /// Display resource usage of running containers (from their cgroups).
    Stats {
        /// Print once (the only mode).
        #[arg(long = "no-stream")]
        no_stream: bool,
        /// Containers (default: all running).
        containers: Vec<String>,
    },
    /// List port mappings of a container.
    Port {
        /// Container.
        container: String,
        /// `port[/proto]`.
        port: Option<String>,
    },
    /// Manage containers.
    #[command(subcommand)]
    Container(containers::ContainerCommand),
    /// List images.
    Images(objects::ImagesArgs),
    /// Manage images.
    #[command(subcommand)]
    Image(objects::ImageCommand),
    /// Create a tag TARGET that refers to SOURCE.
    Tag {
        /// Source image.
        source: String,
        /// New reference.
        target: String,
    },
    /// Remove images.
    Rmi {
        /// Images.
        #[arg(required = true)]
        images: Vec<String>,
        /// Ignored (compatibility).
        #[arg(short, long)]
        force: bool,
    },
    /// Show the history of an image.
    History {
        /// Image.
        image: String,
        /// Don't truncate.
        #[arg(long = "no-trunc")]
        no_trunc: bool,
    },
    /// Build an image from a Dockerfile.
    Build(BuildCli),
    /// Create a new image from a container's changes.
    Commit {
        /// Dockerfile instructions to apply (CMD, ENV, …).
        #[arg(short = 'c', long = "change")]
        change: Vec<String>,
        /// Commit message.
        #[arg(short = 'm', long)]
        message: Option<String>,
        /// Author.
        #[arg(short = 'a', long)]
        author: Option<String>,
        /// Container.
        container: String,
        /// Repository[:tag].
        reference: Option<String>,
    },
    /// Manage volumes.
    #[command(subcommand)]
    Volume(objects::VolumeCommand),
    /// Manage networks.
    #[command(subcommand)]
    Network(objects::NetworkCommand),
    /// Manage berth.
    #[command(subcommand)]
    System(objects::SystemCommand),
    /// Copy files/folders between a container and the local filesystem.
    Cp(ops::CpArgs),
    /// Inspect changes to files or directories on a container's filesystem.
    Diff {
        /// Container.
        container: String,
    },
    /// Export a container's filesystem as a tar archive.
    Export {
        /// Write to a file instead of stdout.
        #[arg(short, long)]
        output: Option<PathBuf>,
        /// Container.
        container: String,
    },
    /// Download an image from a registry.
    Pull(ops::RegistryArgs),
    /// Upload an image to a registry.
    Push(ops::RegistryArgs),
    /// Log in to a registry (credentials kept in the Docker config).
    Login(ops::LoginArgs),
    /// Log out from a registry.
    Logout {
        /// Registry (default: Docker Hub).
        server: Option<String>,
    },
    /// Save images to a tar archive (docker-archive; stdout by default).
    Save {
        /// Write to a file instead of stdout.
        #[arg(short, long)]
        output: Option<PathBuf>,
        /// Images.
        #[arg(required = true)]
        images: Vec<String>,
    },
    /// Import the contents from a tarball to create a filesystem image.
    Import {
        /// Tarball (`-` for stdin).
        file: PathBuf,
        /// Repository[:tag].
        reference: String,
    },
    /// Load images from a tar archive (docker-archive; stdin by default).
    Load {
        /// Read from a file instead of stdin.
        #[arg(short, long)]
        input: Option<PathBuf>,
        /// Suppress the load output.
        #[arg(short, long)]
        quiet: bool,
    },
}

fn main() {
    let cli = Cli::parse();
    let root = cli.root.clone();
    let code = match cli.command {
        Command::Dockerfile(cmd) => dockerfile::run(cmd),
        Command::Compose(args) => compose::run(&cli.root, args),
        Command::Run(args) => containers::run(&root, args),
        Command::Create(args) => containers::create(&root, args),
        Command::Start(a) => containers::start(&root, a),
        Command::Stop(a) => containers::stop(&root, a, false),
        Command::Restart(a) => containers::stop(&root, a, true),
        Command::Kill(a) => containers::kill(&root, a),
        Command::Pause(a) => containers::each(&root, &a.containers, |e, n| e.pause(n).map(|_| ())),
        Command::Unpause(a) => {
            containers::each(&root, &a.containers, |e, n| e.unpause(n).map(|_| ()))
        }
        Command::Rm(a) => containers::rm(&root, a),
        Command::Rename {
            container,
            new_name,
        } => containers::with_engine(&root, |e| e.rename(&container, &new_name).map(|_| 0)),
        Command::Wait(a) => containers::wait(&root, a),
        Command::Ps(a) => containers::ps(&root, a),
        Command::Inspect(a) => containers::inspect(&root, a),
        Command::Logs(a) => containers::logs(&root, a),
        Command::Exec(a) => containers::exec(&root, a),
        Command::Stats { containers, .. } => containers::stats(&root, &containers),
        Command::Top { container } => containers::top(&root, &container),
        Command::Port { container, port } => containers::port(&root, &container, port.as_deref()),
        Command::Container(c) => containers::container_command(&root, c),
        Command::Images(a) => objects::images(&root, a),
        Command::Image(c) => objects::image_command(&root, c),
        Command::Tag { source, target } => objects::tag(&root, &source, &target),
        Command::Rmi { images, .. } => objects::rmi(&root, &images),
        Command::History { image, no_trunc } => objects::history(&root, &image, no_trunc),
        Command::Build(args) => containers::with_engine(&root, |e| {
            let quiet = args.quiet;
            let opts = build_options(args)?;
            let mut progress = |ev: &container_build::BuildEvent| {
                if !quiet && let Some(l) = ev.to_line() {
                    println!("{l}");
                }
            };
            let out = e.build(&opts, &mut progress)?;
            if quiet {
                println!("{}", out.image.id());
            }
            Ok(0)
        }),
        Command::Commit {
            change,
            message,
            author,
            container,
            reference,
        } => containers::with_engine(&root, |e| {
            let id = e.commit(
                &container,
                &container_engine::commit::CommitOptions {
                    reference,
                    changes: change,
                    comment: message,
                    author,
                },
            )?;
            println!("{id}");
            Ok(0)
        }),
        Command::Volume(c) => objects::volume_command(&root, c),
        Command::Network(c) => objects::network_command(&root, c),
        Command::System(c) => objects::system_command(&root, c),
        Command::Cp(a) => ops::cp(&root, a),
        Command::Diff { container } => ops::diff(&root, &container),
        Command::Export { output, container } => ops::export(&root, &container, output.as_deref()),
        Command::Pull(a) => ops::pull(&root, a),
        Command::Push(a) => ops::push(&root, a),
        Command::Login(a) => ops::login(a),
        Command::Logout { server } => ops::logout(server.as_deref()),
        Command::Save { output, images } => ops::save(&root, output.as_deref(), &images),
        Command::Load { input, quiet } => ops::load(&root, input.as_deref(), quiet),
        Command::Import { file, reference } => {
            objects::image_command(&root, objects::ImageCommand::Import { file, reference })
        }
    };
    std::process::exit(code);
}

/// `berth build`'s flags, with docker's names.
#[derive(clap::Args)]
struct BuildCli {
    /// Name and tag (repeatable).
    #[arg(short = 't', long = "tag")]
    tag: Vec<String>,
    /// Dockerfile (default CONTEXT/Dockerfile).
    #[arg(short = 'f', long = "file")]
    file: Option<PathBuf>,
    /// Build-time variable NAME=value (NAME alone takes it from the environment).
    #[arg(long = "build-arg")]
    build_arg: Vec<String>,
    /// Stage to build.
    #[arg(long)]
    target: Option<String>,
    /// Image label KEY=value.
    #[arg(long)]
    label: Vec<String>,
    /// Run every step, ignoring the layer cache.
    #[arg(long = "no-cache")]
    no_cache: bool,
    /// Secret for RUN --mount=type=secret: id=NAME,src=FILE.
    #[arg(long)]
    secret: Vec<String>,
    /// SSH agent socket for RUN --mount=type=ssh: `ID=SOCKET`, or `ID` (e.g. `default`)
    /// for `$SSH_AUTH_SOCK`.
    #[arg(long)]
    ssh: Vec<String>,
    /// Only print the image id.
    #[arg(short = 'q', long)]
    quiet: bool,
    /// Build context directory.
    context: PathBuf,
}

/// `berth build` flags to builder options.
fn build_options(a: BuildCli) -> container_engine::Result<container_build::BuildOptions> {
    let mut opts = container_build::BuildOptions {
        context: a.context,
        dockerfile: a.file,
        tags: a.tag,
        target: a.target,
        no_cache: a.no_cache,
        ..Default::default()
    };
    for arg in &a.build_arg {
        match arg.split_once('=') {
            Some((k, v)) => opts.build_args.insert(k.to_string(), v.to_string()),
            None => match std::env::var(arg) {
                Ok(v) => opts.build_args.insert(arg.clone(), v),
                Err(_) => continue,
            },
        };
    }
    for l in &a.label {
        let (k, v) = l.split_once('=').unwrap_or((l, ""));
        opts.labels.insert(k.to_string(), v.to_string());
    }
    for s in &a.secret {
        let mut id = None;
        let mut src = None;
        for kv in s.split(',') {
            match kv.split_once('=') {
                Some(("id", v)) => id = Some(v.to_string()),
                Some(("src" | "source", v)) => src = Some(PathBuf::from(v)),
                _ => return Err(bad_secret(s)),
            }
        }
        match (id, src) {
            (Some(i), Some(p)) => opts.secrets.insert(i, p),
            _ => return Err(bad_secret(s)),
        };
    }
    for s in &a.ssh {
        let (id, sock) = match s.split_once('=') {
            Some((id, path)) if !id.is_empty() && !path.is_empty() => {
                (id.to_string(), PathBuf::from(path))
            }
            None if !s.is_empty() => match std::env::var_os("SSH_AUTH_SOCK") {
                Some(sock) => (s.clone(), PathBuf::from(sock)),
                None => {
                    return Err(container_engine::Error::Invalid(format!(
                        "--ssh {s:?}: SSH_AUTH_SOCK is not set; give the agent socket as {s}=PATH"
                    )));
                }
            },
            _ => {
                return Err(container_engine::Error::Invalid(format!(
                    "--ssh {s:?}: expected ID=SOCKET or ID"
                )));
            }
        };
        opts.ssh.insert(id, sock);
    }
    Ok(opts)
}

fn bad_secret(s: &str) -> container_engine::Error {
    container_engine::Error::Invalid(format!("--secret {s:?}: expected id=NAME,src=FILE"))
}
