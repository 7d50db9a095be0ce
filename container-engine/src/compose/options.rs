//! What the runner takes (the options of each subcommand) and what it reports
//! ([`Event`]s, [`ContainerSummary`]s).

use crate::monitor::AttachFds;
use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

/// What happened to an object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Created.
    Created,
    /// Started.
    Started,
    /// Already running and up to date: left alone.
    Running,
    /// Stopped.
    Stopped,
    /// Restarted.
    Restarted,
    /// Removed.
    Removed,
    /// Renamed out of the way of its replacement (`start-first` updates).
    Renamed,
    /// Waiting for a `depends_on` condition or a healthcheck.
    Waiting,
    /// Healthy (a `depends_on` condition or a rolling update's check was met).
    Healthy,
    /// Pulled from a registry.
    Pulled,
    /// Built from a Dockerfile.
    Built,
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Action::Created => "created",
            Action::Started => "started",
            Action::Running => "running",
            Action::Stopped => "stopped",
            Action::Restarted => "restarted",
            Action::Removed => "removed",
            Action::Renamed => "renamed",
            Action::Waiting => "waiting",
            Action::Healthy => "healthy",
            Action::Pulled => "pulled",
            Action::Built => "built",
        })
    }
}

/// The kind of object an [`Event`] is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Object {
    /// A network.
    Network,
    /// A named volume.
    Volume,
    /// A container.
    Container,
    /// An image.
    Image,
}

impl fmt::Display for Object {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Object::Network => "Network",
            Object::Volume => "Volume",
            Object::Container => "Container",
            Object::Image => "Image",
        })
    }
}

/// Progress of a runner operation, in the order it happens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// `action` happened to the object `name` (`Container demo-web-1 started`).
    Object {
        /// What kind of object.
        object: Object,
        /// Its name.
        name: String,
        /// What happened.
        action: Action,
    },
    /// One line of a service's image build.
    BuildStep {
        /// The service being built.
        service: String,
        /// The builder's progress line.
        line: String,
    },
}

impl fmt::Display for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Event::Object {
                object,
                name,
                action,
            } => write!(f, "{object} {name} {action}"),
            Event::BuildStep { service, line } => write!(f, "{service} build: {line}"),
        }
    }
}

/// Options of [`ComposeRunner::up`](super::ComposeRunner::up).
#[derive(Debug, Clone)]
pub struct UpOptions {
    /// Only these services and their dependencies (empty: all).
    pub services: Vec<String>,
    /// Replica counts overriding the file (`--scale svc=N`).
    pub scale: BTreeMap<String, u64>,
    /// Build the images of services with `build:` even when they exist (`--build`).
    pub build: bool,
    /// Recreate every container even when its configuration did not change.
    pub force_recreate: bool,
    /// Never recreate: start existing containers as they are.
    pub no_recreate: bool,
    /// Remove containers of services no longer in the project.
    pub remove_orphans: bool,
    /// The longest wait for one `depends_on` condition or one replica's health.
    pub wait_timeout: Duration,
}

impl Default for UpOptions {
    fn default() -> Self {
        UpOptions {
            services: Vec::new(),
            scale: BTreeMap::new(),
            build: false,
            force_recreate: false,
            no_recreate: false,
            remove_orphans: false,
            wait_timeout: Duration::from_secs(120),
        }
    }
}

/// Which images [`ComposeRunner::down`](super::ComposeRunner::down) removes (`--rmi`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RemoveImages {
    /// Images built for services that have no `image:` of their own (`project-service`).
    Local,
    /// Every image a service uses.
    All,
}

/// Options of [`ComposeRunner::down`](super::ComposeRunner::down).
#[derive(Debug, Clone, Default)]
pub struct DownOptions {
    /// Also remove the project's named volumes (`-v`).
    pub volumes: bool,
    /// Also remove images (`--rmi local|all`).
    pub rmi: Option<RemoveImages>,
    /// Stop timeout (default: each container's `stop_grace_period`, else 10 s).
    pub timeout: Option<Duration>,
}

/// Options of [`ComposeRunner::logs`](super::ComposeRunner::logs).
#[derive(Debug, Clone)]
pub struct LogsOptions {
    /// Only these services (empty: all).
    pub services: Vec<String>,
    /// Keep printing new lines until every container stopped (`-f`).
    pub follow: bool,
    /// Only the last N lines of each container.
    pub tail: Option<usize>,
    /// Prefix lines with their time.
    pub timestamps: bool,
    /// Prefix lines with the container name (`name | line`).
    pub prefix: bool,
}

impl Default for LogsOptions {
    fn default() -> Self {
        LogsOptions {
            services: Vec::new(),
            follow: false,
            tail: None,
            timestamps: false,
            prefix: true,
        }
    }
}

/// Options of [`ComposeRunner::exec`](super::ComposeRunner::exec).
#[derive(Debug, Clone)]
pub struct ExecOptions {
    /// The service.
    pub service: String,
    /// Which replica (1-based, `--index`).
    pub index: u64,
    /// The command.
    pub command: Vec<String>,
    /// Extra `KEY=VALUE` environment.
    pub env: Vec<String>,
    /// User (default: the container's).
    pub user: Option<String>,
    /// Working directory (default: the container's).
    pub workdir: Option<String>,
}

/// Options of [`ComposeRunner::run`](super::ComposeRunner::run) (a one-off container of a service).
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// The service.
    pub service: String,
    /// Command instead of the service's.
    pub command: Option<Vec<String>>,
    /// Entrypoint instead of the service's.
    pub entrypoint: Option<Vec<String>>,
    /// Remove the container when it exits (`--rm`).
    pub rm: bool,
    /// Do not start the service's dependencies.
    pub no_deps: bool,
    /// Publish the service's ports (off by default, like Compose).
    pub service_ports: bool,
    /// Extra `KEY=VALUE` environment.
    pub env: Vec<String>,
    /// User.
    pub user: Option<String>,
    /// Working directory.
    pub workdir: Option<String>,
    /// Container name (default `project-service-run-<hex>`).
    pub name: Option<String>,
    /// Where the container's stdio goes (default: no stdin, the caller's stdout and
    /// stderr).
    pub attach: Option<AttachFds>,
    /// How long to wait for the dependencies' `depends_on` conditions.
    pub wait_timeout: Option<Duration>,
}

/// One container of the project as [`ComposeRunner::ps`](super::ComposeRunner::ps) lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerSummary {
    /// Container name.
    pub name: String,
    /// Container id.
    pub id: String,
    /// Service.
    pub service: String,
    /// Replica number (0: a one-off `run` container).
    pub number: u64,
    /// `created`, `running`, `exited`, …
    pub status: String,
    /// `starting`, `healthy` or `unhealthy` when it has a healthcheck.
    pub health: Option<String>,
    /// Exit code of its last run.
    pub exit_code: i32,
    /// Published ports (`0.0.0.0:8080->80/tcp`).
    pub ports: Vec<String>,
    /// Configuration hash it was created from.
    pub config_hash: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_read_like_compose() {
        let e = Event::Object {
            object: Object::Container,
            name: "demo-web-1".into(),
            action: Action::Started,
        };
        assert_eq!(e.to_string(), "Container demo-web-1 started");
    }
}
