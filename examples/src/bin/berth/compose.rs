//! `berth compose`: define and run multi-container applications from compose files.
//!
//! Thin: clap parsing and printing; resolving lives in `container-compose`.

use std::path::{Path, PathBuf};

/// Output format of `berth compose config`.
#[derive(Clone, Copy, Debug, clap::ValueEnum)]
pub enum ConfigFormat {
    /// Canonical YAML.
    Yaml,
    /// JSON.
    Json,
}

/// Global flags of `berth compose` and its subcommand.
#[derive(clap::Args)]
pub struct ComposeArgs {
    /// Compose file(s); later files override earlier ones.
    #[arg(short = 'f', long = "file", global = true)]
    pub files: Vec<PathBuf>,
    /// Project name.
    #[arg(short = 'p', long = "project-name", global = true)]
    pub project_name: Option<String>,
    /// Environment file(s) used for interpolation (instead of `.env`).
    #[arg(long = "env-file", global = true)]
    pub env_files: Vec<PathBuf>,
    /// Enable services of this profile.
    #[arg(long = "profile", global = true)]
    pub profiles: Vec<String>,
    /// Project directory (default: the directory of the first file).
    #[arg(long = "project-directory", global = true)]
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
}

/// Run a `berth compose` subcommand; returns the exit code (15 for configuration errors).
pub fn run(_root: &Path, args: ComposeArgs) -> i32 {
    match args.command {
        ComposeCommand::Config { .. } => {
            eprintln!("berth compose: config is not available in this build");
            1
        }
    }
}
