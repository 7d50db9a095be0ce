//! The crate's error type.

use std::path::PathBuf;

/// Result with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong while storing, unpacking or moving images.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A system call or file operation failed on `path`.
    #[error("{op} {path}: {source}")]
    Io {
        /// What was being done.
        op: &'static str,
        /// The file or directory concerned.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// An image reference could not be parsed.
    #[error("invalid reference {input:?}: {reason}")]
    InvalidReference {
        /// The text given.
        input: String,
        /// Why it is invalid.
        reason: String,
    },
    /// A digest string is malformed or uses an unknown algorithm.
    #[error("invalid digest {input:?}: {reason}")]
    InvalidDigest {
        /// The text given.
        input: String,
        /// Why it is invalid.
        reason: String,
    },
    /// Content did not hash to the digest it was announced with.
    #[error("digest mismatch for {what}: expected {expected}, got {actual}")]
    DigestMismatch {
        /// What was checked (blob, layer diffID, …).
        what: String,
        /// The announced digest.
        expected: String,
        /// The digest of what was actually read.
        actual: String,
    },
    /// Content had a different size than announced.
    #[error("size mismatch for {what}: expected {expected} bytes, got {actual}")]
    SizeMismatch {
        /// What was checked.
        what: String,
        /// The announced size.
        expected: u64,
        /// The size actually read.
        actual: u64,
    },
    /// A blob, image, snapshot or file that was asked for does not exist.
    #[error("{kind} not found: {name}")]
    NotFound {
        /// What kind of object (image, blob, snapshot, …).
        kind: &'static str,
        /// Its name or digest.
        name: String,
    },
    /// An object already exists where a new one was to be created.
    #[error("{kind} already exists: {name}")]
    AlreadyExists {
        /// What kind of object.
        kind: &'static str,
        /// Its name.
        name: String,
    },
    /// A JSON document (manifest, config, index, metadata) is invalid.
    #[error("invalid {what}: {reason}")]
    InvalidJson {
        /// Which document.
        what: String,
        /// The parser's message.
        reason: String,
    },
    /// A layer tar is malformed or hostile; nothing was written outside the target.
    #[error("invalid layer entry {entry:?}: {reason}")]
    InvalidLayer {
        /// The entry's path inside the tar (empty when the tar itself is broken).
        entry: String,
        /// Why it was rejected.
        reason: String,
    },
    /// An archive (OCI layout, docker-archive) is malformed.
    #[error("invalid archive {path}: {reason}")]
    InvalidArchive {
        /// The archive or directory.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// A manifest or index uses a media type this crate cannot handle.
    #[error("unsupported {what}: {value}")]
    Unsupported {
        /// What is unsupported.
        what: &'static str,
        /// The offending value.
        value: String,
    },
    /// A multi-platform index has no entry for the wanted platform.
    #[error("no manifest for platform {platform} in {reference}")]
    NoMatchingPlatform {
        /// The platform wanted (os/arch[/variant]).
        platform: String,
        /// The image.
        reference: String,
    },
    /// A snapshot is in the wrong state for the operation.
    #[error("snapshot {key}: {reason}")]
    Snapshot {
        /// The snapshot's key.
        key: String,
        /// What is wrong.
        reason: String,
    },
    /// An ELF file could not be read when importing host binaries.
    #[error("host binary {path}: {reason}")]
    HostBinary {
        /// The executable or library.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// An object is still in use (e.g. a snapshot with children).
    #[error("{kind} {name} is in use: {reason}")]
    InUse {
        /// What kind of object.
        kind: &'static str,
        /// Its name.
        name: String,
        /// By what.
        reason: String,
    },
    /// A registry request failed.
    #[error("registry {url}: {reason}")]
    Registry {
        /// The URL requested.
        url: String,
        /// Status and message.
        reason: String,
    },
    /// Authentication against a registry failed.
    #[error("registry authentication for {registry} failed: {reason}")]
    Auth {
        /// The registry host.
        registry: String,
        /// Why.
        reason: String,
    },
}

impl Error {
    /// Build an [`Error::Io`].
    pub fn io(op: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            op,
            path: path.into(),
            source,
        }
    }

    /// Build an [`Error::InvalidLayer`].
    pub fn layer(entry: impl Into<String>, reason: impl Into<String>) -> Self {
        Error::InvalidLayer {
            entry: entry.into(),
            reason: reason.into(),
        }
    }

    /// Build an [`Error::InvalidJson`].
    pub fn json(what: impl Into<String>, err: impl std::fmt::Display) -> Self {
        Error::InvalidJson {
            what: what.into(),
            reason: err.to_string(),
        }
    }
}

/// Attach an operation and path to an `io::Result`.
pub(crate) trait IoContext<T> {
    fn ctx(self, op: &'static str, path: impl Into<PathBuf>) -> Result<T>;
}

impl<T> IoContext<T> for std::io::Result<T> {
    fn ctx(self, op: &'static str, path: impl Into<PathBuf>) -> Result<T> {
        self.map_err(|e| Error::io(op, path, e))
    }
}

impl<T> IoContext<T> for rustix::io::Result<T> {
    fn ctx(self, op: &'static str, path: impl Into<PathBuf>) -> Result<T> {
        self.map_err(|e| Error::io(op, path, e.into()))
    }
}
