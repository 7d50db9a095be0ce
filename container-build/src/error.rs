//! The builder's error type.

use std::path::PathBuf;

/// Result with a [`BuildError`].
pub type Result<T, E = BuildError> = std::result::Result<T, E>;

/// What went wrong in a build. Errors about a Dockerfile instruction name its line.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// The Dockerfile does not parse or an instruction is invalid.
    #[error("{file}:{line}: {message}")]
    Dockerfile {
        /// The Dockerfile.
        file: String,
        /// 1-based line (0: the file as a whole).
        line: usize,
        /// What is wrong.
        message: String,
    },
    /// A step failed; `source` says why.
    #[error("line {line}: {instruction}: {source}")]
    Step {
        /// 1-based line of the instruction.
        line: usize,
        /// The instruction as written (first line).
        instruction: String,
        /// The cause.
        source: Box<BuildError>,
    },
    /// A `RUN` command exited non-zero.
    #[error("the command {command:?} returned a non-zero code: {code}")]
    RunFailed {
        /// The command.
        command: String,
        /// Its exit code (128+signal when killed).
        code: i32,
    },
    /// A COPY/ADD source or a mount leaves the build context.
    #[error("forbidden path outside the build context: {0}")]
    OutsideContext(String),
    /// A COPY/ADD source does not exist (or is excluded by `.dockerignore`).
    #[error("{0}: not found in the build context or excluded by .dockerignore")]
    SourceNotFound(String),
    /// Something the Dockerfile asks for that this builder does not do.
    #[error("not supported: {0}")]
    Unsupported(String),
    /// Invalid instruction argument or build option.
    #[error("{0}")]
    Invalid(String),
    /// A stage or image named by `FROM`/`--from` is unknown.
    #[error("{0}")]
    NotFound(String),
    /// The image store failed.
    #[error("image store: {0}")]
    Image(#[from] container_image::Error),
    /// The container runtime failed.
    #[error("runtime: {0}")]
    Runtime(#[from] container_core::Error),
    /// A file system operation failed.
    #[error("{op} {}: {source}", path.display())]
    Io {
        /// The operation.
        op: &'static str,
        /// The path.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
}

impl BuildError {
    /// The line an error is about, when it is about one.
    pub fn line(&self) -> Option<usize> {
        match self {
            BuildError::Dockerfile { line, .. } | BuildError::Step { line, .. } => Some(*line),
            _ => None,
        }
    }

    pub(crate) fn at(self, line: usize, instruction: &str) -> BuildError {
        match self {
            e @ (BuildError::Step { .. } | BuildError::Dockerfile { .. }) => e,
            e => BuildError::Step {
                line,
                instruction: instruction.lines().next().unwrap_or_default().to_string(),
                source: Box::new(e),
            },
        }
    }
}

/// Attach a path and operation to an `io::Error`.
pub(crate) trait IoCtx<T> {
    fn ctx(self, op: &'static str, path: impl Into<PathBuf>) -> Result<T>;
}

impl<T> IoCtx<T> for std::io::Result<T> {
    fn ctx(self, op: &'static str, path: impl Into<PathBuf>) -> Result<T> {
        self.map_err(|source| BuildError::Io {
            op,
            path: path.into(),
            source,
        })
    }
}
