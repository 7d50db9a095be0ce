//! The cgroup error type: every variant names the field, the file or the value involved.

use std::path::PathBuf;

/// A cgroup operation failed.
#[derive(Debug, thiserror::Error)]
pub enum CgroupError {
    /// No directory of that cgroup exists in any hierarchy.
    #[error("cgroup {path} not found: no such file or directory")]
    NotFound {
        /// The cgroup path (e.g. `/berth/<id>`).
        path: String,
    },
    /// A spec value is out of range or malformed; nothing was written.
    #[error("invalid cgroup value: {field} = {value:?}: {reason}")]
    InvalidValue {
        /// The spec field, e.g. `linux.resources.cpu.cpus`.
        field: String,
        /// The value given.
        value: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The spec asks for something this host's cgroups cannot do.
    #[error("unsupported cgroup setting: {field}: {reason}")]
    Unsupported {
        /// The spec field.
        field: String,
        /// Why it cannot be applied here.
        reason: String,
    },
    /// Writing a cgroup file failed (the kernel refused the value, or the file is missing).
    #[error("write {value:?} to {}: {}", path.display(), crate::error::describe_io(source))]
    Write {
        /// The file.
        path: PathBuf,
        /// The value written.
        value: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// Reading a cgroup file failed.
    #[error("read {}: {}", path.display(), crate::error::describe_io(source))]
    Read {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// A cgroup file held something that could not be parsed.
    #[error("parse {}: unexpected content {content:?}", path.display())]
    Parse {
        /// The file.
        path: PathBuf,
        /// What was found.
        content: String,
    },
    /// Creating or removing a cgroup directory failed.
    #[error("{op} cgroup directory {}: {}", path.display(), crate::error::describe_io(source))]
    Dir {
        /// `create` or `remove`.
        op: &'static str,
        /// The directory.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The cgroup still holds processes after the removal deadline.
    #[error("cgroup directory {} still busy after {waited_ms} ms (processes left: {pids:?})", path.display())]
    Busy {
        /// The directory.
        path: PathBuf,
        /// How long removal was retried.
        waited_ms: u64,
        /// Processes still in it when giving up.
        pids: Vec<i32>,
    },
    /// Freezing did not complete in time.
    #[error("freezing {} timed out (state {state})", path.display())]
    FreezeTimeout {
        /// The freezer file polled.
        path: PathBuf,
        /// The last state seen.
        state: String,
    },
    /// The cgroup mounts of this host could not be understood.
    #[error("cgroup layout: {reason}")]
    Layout {
        /// What is wrong.
        reason: String,
    },
    /// A `bpf(2)` call of the cgroup v2 device filter failed (see the `ebpf` module).
    #[error("{op}{}: {}{}", if path.as_os_str().is_empty() { String::new() } else { format!(" on {}", path.display()) }, crate::error::errno_text(*errno), if log.is_empty() { String::new() } else { format!(" (verifier: {log})") })]
    Bpf {
        /// The bpf command or step, e.g. `BPF_PROG_LOAD`, `BPF_PROG_ATTACH`.
        op: &'static str,
        /// The cgroup2 directory (empty when none is involved).
        path: PathBuf,
        /// errno.
        errno: nix::errno::Errno,
        /// The end of the verifier log, for a program the kernel refused to load.
        log: String,
    },
    /// Sending a signal to a process of the cgroup failed.
    #[error("kill {pid} with {signal}: {}", crate::error::errno_text(*errno))]
    Kill {
        /// The process.
        pid: i32,
        /// The signal.
        signal: nix::sys::signal::Signal,
        /// errno.
        errno: nix::errno::Errno,
    },
}

impl CgroupError {
    pub(crate) fn invalid(
        field: impl Into<String>,
        value: impl ToString,
        reason: impl Into<String>,
    ) -> Self {
        CgroupError::InvalidValue {
            field: field.into(),
            value: value.to_string(),
            reason: reason.into(),
        }
    }

    pub(crate) fn unsupported(field: impl Into<String>, reason: impl Into<String>) -> Self {
        CgroupError::Unsupported {
            field: field.into(),
            reason: reason.into(),
        }
    }
}
