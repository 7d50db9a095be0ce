//! Container state on disk: `<runtime root>/<id>/state.json` (+ `exec.fifo` while the
//! container is created but not started), so any process can find and control a
//! container it did not create.

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// Name of the state file in a container's state directory.
pub const STATE_FILE: &str = "state.json";
/// Name of the fifo the init waits on until `start`.
pub const EXEC_FIFO: &str = "exec.fifo";

/// Lifecycle status (OCI runtime spec, plus `paused` as runc reports it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Being created.
    Creating,
    /// Created, waiting for `start`.
    Created,
    /// The user's program runs.
    Running,
    /// Frozen by `pause`.
    Paused,
    /// The process has exited.
    Stopped,
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Status::Creating => "creating",
            Status::Created => "created",
            Status::Running => "running",
            Status::Paused => "paused",
            Status::Stopped => "stopped",
        })
    }
}

/// The OCI state of a container, in runc's JSON shape (`runc state`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct State {
    /// OCI spec version.
    pub oci_version: String,
    /// Container id.
    pub id: String,
    /// Init pid (host pid namespace); 0 when stopped.
    pub pid: i32,
    /// Status.
    pub status: Status,
    /// Bundle directory.
    pub bundle: PathBuf,
    /// Root file system.
    pub rootfs: PathBuf,
    /// Creation time, RFC 3339.
    pub created: String,
    /// Owner (always empty: no rootless owner tracking).
    pub owner: String,
    /// Annotations of the spec.
    #[serde(default, skip_serializing_if = "HashMap::is_empty")]
    pub annotations: HashMap<String, String>,
}

impl State {
    /// The OCI state object (`ociVersion, id, status, pid, bundle, annotations`) that
    /// hooks receive on stdin.
    pub fn to_hook_json(&self) -> String {
        serde_json::json!({
            "ociVersion": self.oci_version,
            "id": self.id,
            "status": self.status,
            "pid": self.pid,
            "bundle": self.bundle,
            "annotations": self.annotations,
        })
        .to_string()
    }
}

/// What is persisted.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct StateFile {
    pub id: String,
    pub pid: i32,
    /// Start time of the init (clock ticks since boot): guards against pid reuse.
    pub start_time: u64,
    pub bundle: PathBuf,
    pub rootfs: PathBuf,
    pub created: String,
    pub cgroup_path: String,
    /// The init has a pid namespace of its own (kill the init = kill all).
    pub own_pidns: bool,
    pub spec: oci_spec::runtime::Spec,
}

impl StateFile {
    pub(crate) fn write(&self, dir: &Path) -> Result<()> {
        let path = dir.join(STATE_FILE);
        let tmp = dir.join(".state.json.tmp");
        let data = serde_json::to_vec(self).map_err(|e| Error::CorruptState {
            path: path.clone(),
            reason: e.to_string(),
        })?;
        let mut f = std::fs::File::create(&tmp).map_err(|e| Error::io("write", &tmp, e))?;
        f.write_all(&data)
            .map_err(|e| Error::io("write", &tmp, e))?;
        std::fs::rename(&tmp, &path).map_err(|e| Error::io("rename", &path, e))?;
        Ok(())
    }

    pub(crate) fn read(dir: &Path, id: &str) -> Result<StateFile> {
        let path = dir.join(STATE_FILE);
        let data = match std::fs::read(&path) {
            Ok(d) => d,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(Error::NotFound { id: id.to_string() });
            }
            Err(e) => return Err(Error::io("read", &path, e)),
        };
        serde_json::from_slice(&data).map_err(|e| Error::CorruptState {
            path,
            reason: e.to_string(),
        })
    }
}

/// Refuse ids that are not a plain file name.
pub(crate) fn validate_id(id: &str) -> Result<()> {
    let bad = |reason| {
        Err(Error::InvalidId {
            id: id.to_string(),
            reason,
        })
    };
    if id.is_empty() {
        return bad("empty");
    }
    if id.len() > 1024 {
        return bad("too long");
    }
    if id == "." || id == ".." {
        return bad("is a relative path component");
    }
    if !id
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"._-+@:".contains(&b))
    {
        return bad("only letters, digits and ._-+@: are allowed");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids() {
        assert!(validate_id("abc-1_2.3").is_ok());
        assert!(validate_id("../x").is_err());
        assert!(validate_id("a/b").is_err());
        assert!(validate_id("").is_err());
    }
}
