//! `berth dockerfile`: look at a Dockerfile the way BuildKit's parser sees it.

use std::path::PathBuf;

/// Output format of `berth dockerfile parse`.
#[derive(Clone, Copy, Debug, clap::ValueEnum)]
pub enum Format {
    /// One JSON object per instruction, one per line.
    Json,
    /// A JSON array of the records, indented.
    JsonPretty,
}

/// `berth dockerfile ...` subcommands.
#[derive(clap::Subcommand)]
pub enum DockerfileCommand {
    /// Parse FILE and print one record per instruction (fields of BuildKit's parser).
    Parse {
        /// Output format.
        #[arg(long, value_enum, default_value = "json")]
        format: Format,
        /// The Dockerfile ("-" reads standard input).
        file: PathBuf,
    },
}

/// Run a `berth dockerfile` subcommand; returns the exit code.
pub fn run(cmd: DockerfileCommand) -> i32 {
    match cmd {
        DockerfileCommand::Parse { format, file } => parse(format, &file),
    }
}

fn parse(format: Format, file: &std::path::Path) -> i32 {
    let text = if file.as_os_str() == "-" {
        let mut s = Vec::new();
        if let Err(e) = std::io::Read::read_to_end(&mut std::io::stdin(), &mut s) {
            eprintln!("berth: reading standard input: {e}");
            return 1;
        }
        s
    } else {
        match std::fs::read(file) {
            Ok(s) => s,
            Err(e) => {
                eprintln!("berth: reading {}: {e}", file.display());
                return 1;
            }
        }
    };
    let text = String::from_utf8_lossy(&text);
    let records = match container_build::parser::records(&text) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("berth: {}: {e}", file.display());
            return 1;
        }
    };
    let out = match format {
        Format::Json => {
            let mut out = String::new();
            for r in &records {
                match serde_json::to_string(r) {
                    Ok(s) => {
                        out.push_str(&s);
                        out.push('\n');
                    }
                    Err(e) => {
                        eprintln!("berth: {e}");
                        return 1;
                    }
                }
            }
            out
        }
        Format::JsonPretty => match serde_json::to_string_pretty(&records) {
            Ok(s) => s + "\n",
            Err(e) => {
                eprintln!("berth: {e}");
                return 1;
            }
        },
    };
    print!("{out}");
    0
}
