//! A Docker-like container engine without a daemon.
//!
//! `container-engine` turns images into named containers with volumes, networks, published
//! ports, logs, restart policies, healthchecks and exec, the way `docker run` does, but as
//! a library: there is no daemon and no helper binary. Every container's state lives on
//! disk under the engine root (default `/var/lib/berth`), so any process that opens the
//! same root sees and controls the same containers; file locks serialise concurrent users.
//!
//! A started container gets a **monitor**: a process the library forks (twice, with
//! `setsid`, so it is adopted away from the caller) that owns the container's stdio,
//! writes its json-file logs, runs its healthcheck, reaps it, records its exit and
//! applies its restart policy. The monitor creates the container with
//! `container_core::Container`, so every container gets the runtime's isolation (Docker's
//! capabilities, seccomp profile and masked paths unless the run options say otherwise).
//! The program that started the container may exit; the container and its monitor go on.
//!
//! Hand-written parts and why: the Go-template subset of `--format` ([`template`]),
//! because no crate renders Go templates over JSON with Go's printing rules; the json-file
//! log reader/writer ([`logs`]), because it is Docker's own format; the monitor, because
//! it must be fork-safe code with no runtime behind it.
//!
//! ```
//! use container_engine::template;
//! let doc = serde_json::json!({"State": {"Status": "running"}});
//! assert_eq!(template::render("{{.State.Status}}", &doc).unwrap(), "running");
//! ```

pub mod changes;
pub mod commit;
pub mod compose;
pub mod distribution;
pub mod engine;
pub mod error;
pub mod fsutil;
pub mod handle;
pub mod health;
pub mod images;
pub mod logs;
pub mod model;
pub mod monitor;
pub mod netops;
pub mod network;
pub mod options;
pub mod restart;
pub mod spec;
pub mod state;
pub mod tarwalk;
pub mod template;
pub mod transfer;
pub mod volumes;

pub use engine::{ContainerStats, Engine, ExecConfig, RmOptions, RunResult, wait_child};
pub use error::{Error, Result};
pub use handle::ContainerHandle;
pub use monitor::AttachFds;
pub use options::RunOptions;
