//! The crate's error type.
//!
//! Every variant names what failed and where: the spec field, the file, the mount, the
//! system call. Failures inside the container's init process come back over the sync
//! socket as a [`ChildError`] and are wrapped in [`Error::Child`].

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// Result with [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Errors of container-core.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The spec is invalid or asks for something this runtime cannot do.
    #[error("invalid spec: {field}: {reason}")]
    Spec {
        /// The spec field, e.g. `linux.namespaces[2].type`.
        field: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A file operation failed.
    #[error("{op} {}: {}", path.display(), crate::error::describe_io(cause))]
    Io {
        /// What was being done (`open`, `read state`, ...).
        op: &'static str,
        /// The file.
        path: PathBuf,
        /// The cause.
        cause: std::io::Error,
    },
    /// A system call in the runtime (not the container) failed.
    #[error("{op}: {}", crate::error::errno_text(*errno))]
    Sys {
        /// The call and its subject, e.g. `fork`, `setns /proc/1/ns/net`.
        op: String,
        /// errno.
        errno: nix::errno::Errno,
    },
    /// The container's init (or an exec'd process) failed before running the user's program.
    #[error("{0}")]
    Child(ChildError),
    /// No container of that id under the runtime root.
    #[error("container {id:?} does not exist: no such file or directory")]
    NotFound {
        /// Container id.
        id: String,
    },
    /// A container of that id exists already.
    #[error("container {id:?} already exists")]
    Exists {
        /// Container id.
        id: String,
    },
    /// The id is not usable as a directory name.
    #[error("invalid container id {id:?}: {reason}")]
    InvalidId {
        /// The id given.
        id: String,
        /// Why it is refused.
        reason: &'static str,
    },
    /// The operation is not allowed in the container's current status.
    #[error("container {id:?} is {status}: cannot {op}")]
    InvalidState {
        /// Container id.
        id: String,
        /// Its status.
        status: String,
        /// The refused operation.
        op: &'static str,
    },
    /// An OCI hook failed.
    #[error("{kind} hook {}: {reason}", path.display())]
    Hook {
        /// `prestart`, `createRuntime`, `poststart`, ...
        kind: &'static str,
        /// The hook's path.
        path: PathBuf,
        /// What happened.
        reason: String,
    },
    /// The process's exit status cannot be known (it is not a child of this process).
    #[error(
        "container {id:?}: process {pid} is not a child of this process; its exit status is unknown"
    )]
    ExitStatusUnavailable {
        /// Container id.
        id: String,
        /// The process.
        pid: i32,
    },
    /// A timeout expired.
    #[error("timed out: {what}")]
    Timeout {
        /// What was waited for.
        what: String,
    },
    /// state.json could not be parsed.
    #[error("corrupt state file {}: {reason}", path.display())]
    CorruptState {
        /// The file.
        path: PathBuf,
        /// Parser message.
        reason: String,
    },
    /// A cgroup operation failed.
    #[error(transparent)]
    Cgroup(#[from] crate::cgroups::CgroupError),
    /// The seccomp profile is invalid.
    #[error(transparent)]
    Seccomp(#[from] crate::seccomp::SeccompError),
    /// The capability sets are invalid.
    #[error(transparent)]
    Caps(#[from] crate::caps::CapsError),
    /// An LSM label/profile cannot be applied on this host.
    #[error(transparent)]
    Lsm(#[from] crate::lsm::LsmError),
}

/// Which kind of failure happened in the child; lets callers (and podman, through the
/// message words) tell "not found" from "permission denied".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ChildErrorKind {
    /// A system call failed (see `errno`).
    Syscall,
    /// The program to run was not found on `$PATH` (or at its path).
    ExecutableNotFound,
    /// The program exists but cannot be executed.
    NotExecutable,
    /// A hook run inside the container failed.
    Hook,
    /// A protocol error on the sync socket.
    Protocol,
}

/// A failure inside the container's init, sent to the parent over the sync socket.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[error("{stage}: {what}{}", errno_suffix(*errno))]
pub struct ChildError {
    /// The setup stage (`mount`, `pivot_root`, `exec`, `capabilities` ...).
    pub stage: String,
    /// What was being done, with the paths involved.
    pub what: String,
    /// errno, 0 when not a system call failure.
    pub errno: i32,
    /// The kind of failure.
    pub kind: ChildErrorKind,
}

impl ChildError {
    /// A failed system call.
    pub fn sys(stage: &str, what: impl Into<String>, errno: nix::errno::Errno) -> Self {
        ChildError {
            stage: stage.to_string(),
            what: what.into(),
            errno: errno as i32,
            kind: ChildErrorKind::Syscall,
        }
    }

    /// Another failure.
    pub fn other(stage: &str, what: impl Into<String>, kind: ChildErrorKind) -> Self {
        ChildError {
            stage: stage.to_string(),
            what: what.into(),
            errno: 0,
            kind,
        }
    }

    /// The errno, if any.
    pub fn errno(&self) -> Option<nix::errno::Errno> {
        (self.errno != 0).then(|| nix::errno::Errno::from_raw(self.errno))
    }
}

fn errno_suffix(errno: i32) -> String {
    if errno == 0 {
        String::new()
    } else {
        format!(": {}", errno_text(nix::errno::Errno::from_raw(errno)))
    }
}

/// errno as the lower-case text runc prints ("no such file or directory"): podman
/// classifies runtime failures by these words.
pub(crate) fn errno_text(errno: nix::errno::Errno) -> String {
    errno.desc().to_lowercase()
}

pub(crate) fn describe_io(e: &std::io::Error) -> String {
    match e.raw_os_error() {
        Some(n) => errno_text(nix::errno::Errno::from_raw(n)),
        None => e.to_string(),
    }
}

impl Error {
    pub(crate) fn io(op: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            op,
            path: path.into(),
            cause: source,
        }
    }

    pub(crate) fn sys(op: impl Into<String>, errno: nix::errno::Errno) -> Self {
        Error::Sys {
            op: op.into(),
            errno,
        }
    }

    pub(crate) fn spec(field: impl Into<String>, reason: impl Into<String>) -> Self {
        Error::Spec {
            field: field.into(),
            reason: reason.into(),
        }
    }
}
