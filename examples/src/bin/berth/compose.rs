//! `berth compose`: define and run multi-container applications from compose files.
//!
//! Thin: clap parsing and printing. Resolving lives in `container-compose`, running in
//! `container_engine::compose`.
//!
//! Exit codes: 15 for configuration errors (syntax, types, unknown keys, variables,
//! cycles, missing extends targets; see container-compose/COMPAT.md), 1 for any other
//! failure, and for `exec`/`run` the command's own exit code.

use container_engine::Engine;
use container_engine::compose::{
    ComposeRunner, DownOptions, ExecOptions, LogsOptions, RemoveImages, RunOptions, UpOptions,
};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Output format of `berth compose config`.
#[derive(Clone, Copy, Debug, clap::ValueEnum)]
pub enum ConfigFormat {
    /// Canonical YAML.
    Yaml,
    /// JSON.
    Json,
}

/// `--rmi` of `berth compose down`.
#[derive(Clone, Copy, Debug, clap::ValueEnum)]
pub enum Rmi {
    /// Images built for services without an `image:` key.
    Local,
    /// Every image used by a service.
    All,
}

/// Flags of `berth compose` (before the subcommand, as with `docker compose`) and its
/// subcommand.
#[derive(clap::Args)]
pub struct ComposeArgs {
    /// Compose file(s); later files override earlier ones.
    #[arg(short = 'f', long = "file")]
    pub files: Vec<PathBuf>,
    /// Project name.
    #[arg(short = 'p', long = "project-name")]
    pub project_name: Option<String>,
    /// Environment file(s) used for interpolation (instead of `.env`).
    #[arg(long = "env-file")]
    pub env_files: Vec<PathBuf>,
    /// Enable services of this profile.
    #[arg(long = "profile")]
    pub profiles: Vec<String>,
    /// Project directory (default: the directory of the first file).
    #[arg(long = "project-directory")]
    pub project_directory: Option<PathBuf>,
    /// What to do.
    #[command(subcommand)]
    pub command: ComposeCommand,
}

/// `berth compose ...` subcommands.
#[derive(clap::Subcommand)]
pub enum ComposeCommand {
    /// Print the resolved, normalized model.
    Config {
        /// Output format.
        #[arg(long, value_enum, default_value = "yaml")]
        format: ConfigFormat,
        /// Print only the service names.
        #[arg(long)]
        services: bool,
        /// Only validate; print nothing.
        #[arg(short, long)]
        quiet: bool,
    },
    /// Build or pull images, create networks and volumes, then start the services in
    /// dependency order; changed services are recreated, unchanged ones left alone.
    Up {
        /// Detached (the only mode: containers always run in the background; follow
        /// them with `logs -f`).
        #[arg(short, long)]
        detach: bool,
        /// Build images of services with `build:` before starting.
        #[arg(long)]
        build: bool,
        /// Recreate containers even if their configuration did not change.
        #[arg(long = "force-recreate", conflicts_with = "no_recreate")]
        force_recreate: bool,
        /// Never recreate existing containers.
        #[arg(long = "no-recreate")]
        no_recreate: bool,
        /// Remove containers of services not in the file any more.
        #[arg(long = "remove-orphans")]
        remove_orphans: bool,
        /// Replicas of a service (`svc=N`).
        #[arg(long = "scale")]
        scale: Vec<String>,
        /// Wait up to this many seconds for each `depends_on` condition.
        #[arg(long, default_value = "120")]
        wait_timeout: u64,
        /// Only these services (and their dependencies).
        services: Vec<String>,
    },
    /// Stop and remove the project's containers and networks (and volumes with -v).
    Down {
        /// Also remove the named volumes of the project.
        #[arg(short, long)]
        volumes: bool,
        /// Also remove images: `local` (built ones without an `image:`) or `all`.
        #[arg(long, value_enum)]
        rmi: Option<Rmi>,
        /// Stop timeout in seconds.
        #[arg(short, long)]
        timeout: Option<u64>,
    },
    /// List the project's containers.
    Ps {
        /// Only print container ids.
        #[arg(short, long)]
        quiet: bool,
        /// Only these services.
        services: Vec<String>,
    },
    /// Print the logs of the project's containers.
    Logs {
        /// Follow new lines until the containers stop.
        #[arg(short, long)]
        follow: bool,
        /// Only the last N lines of each container.
        #[arg(long = "tail", alias = "n")]
        tail: Option<String>,
        /// Show timestamps.
        #[arg(short, long)]
        timestamps: bool,
        /// Do not prefix lines with the container name.
        #[arg(long = "no-log-prefix")]
        no_log_prefix: bool,
        /// Only these services.
        services: Vec<String>,
    },
    /// Build the images of services with `build:`.
    Build {
        /// Only these services.
        services: Vec<String>,
    },
    /// Pull the images of services.
    Pull {
        /// Report failed pulls and go on.
        #[arg(long = "ignore-pull-failures")]
        ignore_pull_failures: bool,
        /// Only these services.
        services: Vec<String>,
    },
    /// Stop the project's containers.
    Stop {
        /// Seconds to wait before killing.
        #[arg(short, long)]
        timeout: Option<u64>,
        /// Only these services.
        services: Vec<String>,
    },
    /// Start the project's existing containers.
    Start {
        /// Only these services.
        services: Vec<String>,
    },
    /// Restart the project's containers.
    Restart {
        /// Seconds to wait before killing.
        #[arg(short, long)]
        timeout: Option<u64>,
        /// Only these services.
        services: Vec<String>,
    },
    /// Run a command in a running service container.
    Exec {
        /// Replica number.
        #[arg(long, default_value = "1")]
        index: u64,
        /// Set environment variables (`KEY=VALUE`).
        #[arg(short = 'e', long = "env")]
        env: Vec<String>,
        /// Run as this user.
        #[arg(short = 'u', long)]
        user: Option<String>,
        /// Working directory.
        #[arg(short = 'w', long)]
        workdir: Option<String>,
        /// No pseudo-terminal (the only mode).
        #[arg(short = 'T')]
        no_tty: bool,
        /// The service.
        service: String,
        /// The command and its arguments.
        #[arg(required = true, trailing_var_arg = true, allow_hyphen_values = true)]
        command: Vec<String>,
    },
    /// Run a one-off command in a new container of a service.
    Run {
        /// Remove the container when it exits.
        #[arg(long)]
        rm: bool,
        /// Do not start the dependencies.
        #[arg(long = "no-deps")]
        no_deps: bool,
        /// Publish the service's ports.
        #[arg(long = "service-ports")]
        service_ports: bool,
        /// Set environment variables (`KEY=VALUE`).
        #[arg(short = 'e', long = "env")]
        env: Vec<String>,
        /// Run as this user.
        #[arg(short = 'u', long)]
        user: Option<String>,
        /// Working directory.
        #[arg(short = 'w', long)]
        workdir: Option<String>,
        /// Container name.
        #[arg(long)]
        name: Option<String>,
        /// Override the entrypoint.
        #[arg(long)]
        entrypoint: Option<String>,
        /// Keep stdin open (forward the caller's stdin).
        #[arg(short = 'i', long)]
        interactive: bool,
        /// No pseudo-terminal (the only mode).
        #[arg(short = 'T')]
        no_tty: bool,
        /// The service.
        service: String,
        /// The command and its arguments (default: the service's).
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        command: Vec<String>,
    },
}

/// Exit code for configuration errors (documented in container-compose/COMPAT.md).
pub const EXIT_CONFIG: i32 = container_compose::EXIT_CONFIG_ERROR;

fn load_options(args: &ComposeArgs) -> container_compose::LoadOptions {
    let mut o = container_compose::LoadOptions::from_process_env();
    o.files = args.files.clone();
    o.project_name = args.project_name.clone();
    o.env_files = args.env_files.clone();
    o.profiles = args.profiles.clone();
    o.project_directory = args.project_directory.clone();
    o
}

/// Load the project or print the error (file, line, key) and return the exit code.
fn load(args: &ComposeArgs) -> Result<container_compose::Project, i32> {
    container_compose::load(&load_options(args)).map_err(|e| {
        eprintln!("berth compose: {e}");
        if e.kind == container_compose::ErrorKind::Io {
            1
        } else {
            EXIT_CONFIG
        }
    })
}

fn fail(e: impl std::fmt::Display) -> i32 {
    eprintln!("berth compose: {e}");
    1
}

fn report(r: container_engine::Result<()>) -> i32 {
    match r {
        Ok(()) => 0,
        Err(e) => fail(e),
    }
}

fn secs(t: Option<u64>) -> Option<Duration> {
    t.map(Duration::from_secs)
}

fn scale_map(scale: &[String]) -> Result<BTreeMap<String, u64>, String> {
    scale
        .iter()
        .map(|s| {
            let (k, v) = s
                .split_once('=')
                .ok_or_else(|| format!("--scale {s}: expected SERVICE=N"))?;
            let n = v
                .parse::<u64>()
                .map_err(|_| format!("--scale {s}: N must be a number"))?;
            Ok((k.to_string(), n))
        })
        .collect()
}

/// Run a `berth compose` subcommand; returns the exit code (15 for configuration errors).
pub fn run(root: &Path, args: ComposeArgs) -> i32 {
    let project = match load(&args) {
        Ok(p) => p,
        Err(code) => return code,
    };
    if let ComposeCommand::Config {
        format,
        services,
        quiet,
    } = args.command
    {
        if quiet {
            return 0;
        }
        if services {
            for s in project.services.keys() {
                println!("{s}");
            }
            return 0;
        }
        match format {
            ConfigFormat::Yaml => print!("{}", container_compose::to_yaml(&project)),
            ConfigFormat::Json => println!("{}", container_compose::to_json(&project)),
        }
        return 0;
    }
    let engine = match Engine::open(root) {
        Ok(e) => e,
        Err(e) => return fail(e),
    };
    // Progress goes to stderr, as Compose does, so stdout carries only command output.
    let runner = engine.compose(&project).on_event(|e| eprintln!("{e}"));
    command(&runner, args.command)
}

fn command(runner: &ComposeRunner<'_>, cmd: ComposeCommand) -> i32 {
    match cmd {
        ComposeCommand::Config { .. } => 0,
        ComposeCommand::Up {
            detach: _,
            build,
            force_recreate,
            no_recreate,
            remove_orphans,
            scale,
            wait_timeout,
            services,
        } => {
            let scale = match scale_map(&scale) {
                Ok(s) => s,
                Err(e) => return fail(e),
            };
            report(runner.up(&UpOptions {
                services,
                scale,
                build,
                force_recreate,
                no_recreate,
                remove_orphans,
                wait_timeout: Duration::from_secs(wait_timeout),
            }))
        }
        ComposeCommand::Down {
            volumes,
            rmi,
            timeout,
        } => report(runner.down(&DownOptions {
            volumes,
            rmi: rmi.map(|r| match r {
                Rmi::Local => RemoveImages::Local,
                Rmi::All => RemoveImages::All,
            }),
            timeout: secs(timeout),
        })),
        ComposeCommand::Ps { quiet, services } => match runner.ps(&services) {
            Ok(list) if quiet => {
                for c in list {
                    println!("{}", c.id);
                }
                0
            }
            Ok(list) => {
                println!("{:<30} {:<16} {:<24} PORTS", "NAME", "SERVICE", "STATUS");
                for c in list {
                    let status = match (&c.health, c.status.as_str()) {
                        (_, "exited") => format!("exited ({})", c.exit_code),
                        (Some(h), s) => format!("{s} ({h})"),
                        (None, s) => s.to_string(),
                    };
                    println!(
                        "{:<30} {:<16} {:<24} {}",
                        c.name,
                        c.service,
                        status,
                        c.ports.join(", ")
                    );
                }
                0
            }
            Err(e) => fail(e),
        },
        ComposeCommand::Logs {
            follow,
            tail,
            timestamps,
            no_log_prefix,
            services,
        } => {
            let tail = match tail.as_deref() {
                None | Some("all") => None,
                Some(n) => match n.parse() {
                    Ok(n) => Some(n),
                    Err(_) => return fail(format!("--tail {n}: not a number")),
                },
            };
            let opts = LogsOptions {
                services,
                follow,
                tail,
                timestamps,
                prefix: !no_log_prefix,
            };
            report(runner.logs(&opts, &mut std::io::stdout(), &mut std::io::stderr()))
        }
        ComposeCommand::Build { services } => report(runner.build(&services).map(|_| ())),
        ComposeCommand::Pull {
            ignore_pull_failures,
            services,
        } => match runner.pull(&services, ignore_pull_failures) {
            Ok(failures) => {
                for (svc, e) in failures {
                    eprintln!("berth compose: pull {svc}: {e}");
                }
                0
            }
            Err(e) => fail(e),
        },
        ComposeCommand::Stop { timeout, services } => report(runner.stop(&services, secs(timeout))),
        ComposeCommand::Start { services } => report(runner.start(&services)),
        ComposeCommand::Restart { timeout, services } => {
            report(runner.restart(&services, secs(timeout)))
        }
        ComposeCommand::Exec {
            index,
            env,
            user,
            workdir,
            no_tty: _,
            service,
            command,
        } => match runner.exec(&ExecOptions {
            service,
            index,
            command,
            env,
            user,
            workdir,
        }) {
            Ok(code) => code,
            Err(e) => fail(e),
        },
        ComposeCommand::Run {
            rm,
            no_deps,
            service_ports,
            env,
            user,
            workdir,
            name,
            entrypoint,
            interactive,
            no_tty: _,
            service,
            command,
        } => {
            let attach = container_engine::AttachFds {
                stdin: interactive.then_some(0),
                stdout: 1,
                stderr: 2,
            };
            let entrypoint = match entrypoint.as_deref().map(shell_words) {
                Some(Err(e)) => return fail(format!("--entrypoint: {e}")),
                Some(Ok(w)) => Some(w),
                None => None,
            };
            match runner.run(&RunOptions {
                service,
                command: (!command.is_empty()).then_some(command),
                entrypoint,
                rm,
                no_deps,
                service_ports,
                env,
                user,
                workdir,
                name,
                attach: Some(attach),
                wait_timeout: None,
            }) {
                Ok(code) => code,
                Err(e) => fail(e),
            }
        }
    }
}

/// Split an `--entrypoint` string into words (single and double quotes, backslash).
fn shell_words(s: &str) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut in_word = false;
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        match c {
            '\'' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(x) => cur.push(x),
                        None => return Err("unterminated single quote".into()),
                    }
                }
            }
            '"' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') => match chars.next() {
                            Some(x) => cur.push(x),
                            None => return Err("trailing backslash".into()),
                        },
                        Some(x) => cur.push(x),
                        None => return Err("unterminated double quote".into()),
                    }
                }
            }
            '\\' => {
                in_word = true;
                match chars.next() {
                    Some(x) => cur.push(x),
                    None => return Err("trailing backslash".into()),
                }
            }
            c if c.is_whitespace() => {
                if in_word {
                    out.push(std::mem::take(&mut cur));
                    in_word = false;
                }
            }
            c => {
                in_word = true;
                cur.push(c);
            }
        }
    }
    if in_word {
        out.push(cur);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::{CommandFactory, Parser};

    #[derive(Parser)]
    struct Wrapper {
        #[command(flatten)]
        args: ComposeArgs,
    }

    #[test]
    fn flags_are_consistent() {
        Wrapper::command().debug_assert();
        let w = Wrapper::parse_from(["compose", "-f", "a.yaml", "logs", "-f", "web"]);
        assert_eq!(w.args.files, [PathBuf::from("a.yaml")]);
        assert!(matches!(
            w.args.command,
            ComposeCommand::Logs { follow: true, .. }
        ));
        let w = Wrapper::parse_from(["compose", "run", "--rm", "job", "sh", "-c", "exit 4"]);
        match w.args.command {
            ComposeCommand::Run { rm, command, .. } => {
                assert!(rm);
                assert_eq!(command, ["sh", "-c", "exit 4"]);
            }
            _ => panic!("not run"),
        }
    }

    #[test]
    fn entrypoint_words() {
        assert_eq!(
            shell_words(r#"/bin/sh -c 'echo "a b"' x\ y"#).expect("words"),
            ["/bin/sh", "-c", "echo \"a b\"", "x y"]
        );
        assert!(shell_words("'open").is_err());
    }
}
