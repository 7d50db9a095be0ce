//! `berth`: a docker-like command line over the berth libraries.
//!
//! Thin by design: clap parsing and output formatting; the work happens in the crates.

mod compose;
mod dockerfile;

use clap::{Parser, Subcommand};
use std::path::PathBuf;

/// berth: containers, images, builds, networks and compose projects without a daemon.
#[derive(Parser)]
#[command(name = "berth", version, about)]
struct Cli {
    /// State root (images, containers, volumes, networks).
    #[arg(long, global = true, default_value = "/var/lib/berth", env = "BERTH_ROOT")]
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
}

fn main() {
    let cli = Cli::parse();
    let code = match cli.command {
        Command::Dockerfile(cmd) => dockerfile::run(cmd),
        Command::Compose(args) => compose::run(&cli.root, args),
    };
    std::process::exit(code);
}
