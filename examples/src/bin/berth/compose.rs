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

/// Run a `berth compose` subcommand; returns the exit code (15 for configuration errors).
pub fn run(_root: &Path, args: ComposeArgs) -> i32 {
    let project = match load(&args) {
        Ok(p) => p,
        Err(code) => return code,
    };
    match args.command {
        ComposeCommand::Config {
            format,
            services,
            quiet,
        } => {
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
            0
        }
    }
}
