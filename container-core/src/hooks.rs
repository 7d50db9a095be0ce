//! OCI hooks: programs run at points of the lifecycle with the container's state on stdin.
//!
//! `prestart`/`createRuntime`/`poststart`/`poststop` run in the runtime's namespaces;
//! `createContainer` and `startContainer` run from the container's init, in the
//! container's namespaces. A hook that exits non-zero or outlives its `timeout` fails
//! the step (except `poststart`/`poststop`, which are logged, as runc does).

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use oci_spec::runtime::Hook;

/// One hook, ready to run.
#[derive(Debug, Clone)]
pub(crate) struct HookSpec {
    pub kind: &'static str,
    pub path: PathBuf,
    pub args: Vec<String>,
    pub env: Vec<(String, String)>,
    pub timeout: Option<Duration>,
}

impl HookSpec {
    pub(crate) fn from_oci(kind: &'static str, h: &Hook) -> Self {
        HookSpec {
            kind,
            path: h.path().clone(),
            args: h.args().clone().unwrap_or_default(),
            env: h
                .env()
                .iter()
                .flatten()
                .filter_map(|e| {
                    e.split_once('=')
                        .map(|(k, v)| (k.to_string(), v.to_string()))
                })
                .collect(),
            timeout: h
                .timeout()
                .filter(|t| *t > 0)
                .map(|t| Duration::from_secs(t as u64)),
        }
    }

    /// Run with `state` (the OCI state JSON) on stdin.
    pub(crate) fn run_with(&self, state: &str) -> Result<(), String> {
        let mut cmd = Command::new(&self.path);
        if let Some(arg0) = self.args.first() {
            use std::os::unix::process::CommandExt;
            cmd.arg0(arg0);
            cmd.args(&self.args[1..]);
        }
        cmd.env_clear()
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::piped());
        let mut child = cmd
            .spawn()
            .map_err(|e| format!("start: {}", crate::error::describe_io(&e)))?;
        if let Some(mut stdin) = child.stdin.take() {
            // A hook that does not read its stdin is fine.
            let _ = stdin.write_all(state.as_bytes());
        }
        let deadline = self.timeout.map(|t| Instant::now() + t);
        let mut sleep = Duration::from_micros(200);
        loop {
            match child.try_wait() {
                Ok(Some(status)) if status.success() => return Ok(()),
                Ok(Some(status)) => return Err(format!("exited with {status}")),
                Ok(None) => {}
                Err(e) => return Err(format!("wait: {e}")),
            }
            if let Some(d) = deadline
                && Instant::now() >= d
            {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!(
                    "timed out after {:?}",
                    self.timeout.unwrap_or_default()
                ));
            }
            std::thread::sleep(sleep);
            sleep = (sleep * 2).min(Duration::from_millis(20));
        }
    }

    /// Run from the container's init (state from the Go message).
    pub(crate) fn run(&self) -> Result<(), String> {
        let state = crate::init::hook_state();
        self.run_with(&state)
    }
}

/// Run `hooks` in order; the first failure is returned as [`crate::Error::Hook`].
pub(crate) fn run_all(hooks: &[HookSpec], state: &str) -> crate::Result<()> {
    for h in hooks {
        h.run_with(state).map_err(|reason| crate::Error::Hook {
            kind: h.kind,
            path: h.path.clone(),
            reason,
        })?;
    }
    Ok(())
}

/// The hooks of one kind from the spec.
pub(crate) fn of_kind(spec: &oci_spec::runtime::Spec, kind: &'static str) -> Vec<HookSpec> {
    let Some(hooks) = spec.hooks() else {
        return Vec::new();
    };
    let list = match kind {
        "prestart" => hooks.prestart(),
        "createRuntime" => hooks.create_runtime(),
        "createContainer" => hooks.create_container(),
        "startContainer" => hooks.start_container(),
        "poststart" => hooks.poststart(),
        _ => hooks.poststop(),
    };
    list.iter()
        .flatten()
        .map(|h| HookSpec::from_oci(kind, h))
        .collect()
}
