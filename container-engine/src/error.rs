//! The engine's error type: one variant per thing a caller may want to match.

use std::path::PathBuf;

/// Result alias of the engine.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Errors of the engine. Messages follow Docker's wording where Docker has one, so a
/// user who knows `docker` recognises them.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// No container with this name or id (prefix).
    #[error("No such container: {0}")]
    NoSuchContainer(String),
    /// No image with this reference.
    #[error("Unable to find image '{0}' locally")]
    NoSuchImage(String),
    /// No volume with this name.
    #[error("get {0}: no such volume")]
    NoSuchVolume(String),
    /// No network with this name.
    #[error("network {0} not found")]
    NoSuchNetwork(String),
    /// No such path inside a container (`cp`).
    #[error("Could not find the file {path} in container {container}")]
    NoSuchPath {
        /// The path, as the caller gave it.
        path: String,
        /// The container, as the caller named it.
        container: String,
    },
    /// An id prefix matches more than one container.
    #[error("multiple IDs found with provided prefix: {0}")]
    Ambiguous(String),
    /// A name is already taken.
    #[error(
        "Conflict. The container name \"/{name}\" is already in use by container \"{id}\". You have to remove (or rename) that container to be able to reuse that name."
    )]
    NameConflict {
        /// The requested name.
        name: String,
        /// The container holding it.
        id: String,
    },
    /// The operation needs the container in another state.
    #[error("{0}")]
    Conflict(String),
    /// A volume is in use by a container.
    #[error("remove {name}: volume is in use - [{ids}]")]
    VolumeInUse {
        /// The volume.
        name: String,
        /// The containers using it.
        ids: String,
    },
    /// Bad user input: a flag value, a name, a spec.
    #[error("invalid argument: {0}")]
    Invalid(String),
    /// A Go template that cannot be parsed or executed.
    #[error("template: {0}")]
    Template(String),
    /// A file system or system call failed.
    #[error("{what} {}: {source}", path.display())]
    Io {
        /// What was being done.
        what: &'static str,
        /// On which path.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// A system call failed outside of any path.
    #[error("{what}: {source}")]
    Sys {
        /// What was being done.
        what: &'static str,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// A state file could not be parsed.
    #[error("corrupt state file {}: {source}", path.display())]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: serde_json::Error,
    },
    /// The runtime (container-core) failed.
    #[error("OCI runtime error: {0}")]
    Runtime(String),
    /// The image store (container-image) failed.
    #[error("image: {0}")]
    Image(String),
    /// The network layer (container-net) failed.
    #[error("network: {0}")]
    Network(String),
    /// The builder (container-build) failed.
    #[error("build: {0}")]
    Build(String),
    /// A registry refused the credentials (`login`, `pull`, `push`).
    #[error("{0}")]
    Auth(String),
    /// A wait timed out.
    #[error("timed out after {0:?} waiting for {1}")]
    Timeout(std::time::Duration, String),
}

impl Error {
    /// Wrap an I/O error with what was done on which path.
    pub fn io(what: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            what,
            path: path.into(),
            source,
        }
    }

    /// Wrap the last OS error of a system call.
    pub fn last_os(what: &'static str) -> Self {
        Error::Sys {
            what,
            source: std::io::Error::last_os_error(),
        }
    }
}

/// Attach a path and an action to an `io::Result`.
pub(crate) trait IoContext<T> {
    /// Map the error into [`Error::Io`].
    fn ctx(self, what: &'static str, path: &std::path::Path) -> Result<T>;
}

impl<T> IoContext<T> for std::io::Result<T> {
    fn ctx(self, what: &'static str, path: &std::path::Path) -> Result<T> {
        self.map_err(|e| Error::io(what, path, e))
    }
}
