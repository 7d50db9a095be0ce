//! A handle API for test harnesses: run a throwaway container, wait for a log line,
//! find its published port, and have it stopped and removed when the handle drops.

use crate::engine::{Engine, RmOptions};
use crate::error::{Error, Result};
use crate::options::RunOptions;
use std::time::{Duration, Instant};

/// A running container owned by the caller; dropping it removes the container.
#[derive(Debug)]
pub struct ContainerHandle {
    engine: Engine,
    id: String,
    keep: bool,
}

impl Engine {
    /// Run `opts` detached and return a handle that removes the container when dropped.
    pub fn run(&self, opts: RunOptions) -> Result<ContainerHandle> {
        let mut opts = opts;
        opts.detach = true;
        let id = self.run_detached(&opts)?;
        Ok(ContainerHandle {
            engine: self.clone(),
            id,
            keep: false,
        })
    }
}

impl ContainerHandle {
    /// The container id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Wait until `needle` appears in the container's logs (stdout or stderr).
    pub fn wait_for_log(&self, needle: &str, timeout: Duration) -> Result<()> {
        let deadline = Instant::now() + timeout;
        loop {
            let mut out = Vec::new();
            let mut err = Vec::new();
            self.engine
                .logs(&self.id, &Default::default(), &mut out, &mut err)?;
            if String::from_utf8_lossy(&out).contains(needle)
                || String::from_utf8_lossy(&err).contains(needle)
            {
                return Ok(());
            }
            let rec = self.engine.record(&self.id)?;
            if !rec.state.running && rec.state.status != "restarting" {
                return Err(Error::Conflict(format!(
                    "container {} exited ({}) before logging {needle:?}",
                    rec.short_name(),
                    rec.state.exit_code
                )));
            }
            if Instant::now() >= deadline {
                return Err(Error::Timeout(timeout, format!("log line {needle:?}")));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The host port published for `container_port`/tcp.
    pub fn host_port(&self, container_port: u16) -> Result<u16> {
        let ports = self.engine.port(&self.id)?;
        ports
            .get(&format!("{container_port}/tcp"))
            .and_then(|b| b.first())
            .and_then(|b| b.host_port.parse().ok())
            .ok_or_else(|| Error::Invalid(format!("port {container_port}/tcp is not published")))
    }

    /// Block until the container exits; its exit code.
    pub fn wait(&self) -> Result<i32> {
        self.engine.wait(&self.id)
    }

    /// Do not remove the container on drop.
    pub fn keep(mut self) -> String {
        self.keep = true;
        self.id.clone()
    }
}

impl Drop for ContainerHandle {
    fn drop(&mut self) {
        if !self.keep {
            let _ = self.engine.rm(
                &self.id,
                RmOptions {
                    force: true,
                    volumes: true,
                },
            );
        }
    }
}
