//! The resolved project in canonical long form (what `berth compose config` prints).

use serde::Serialize;
use std::collections::BTreeMap;
use std::time::Duration;

fn is_false(b: &bool) -> bool {
    !*b
}

/// Durations print the way Compose (Go) prints them: `1m30s`, `500ms`.
pub mod dur {
    use std::time::Duration;

    /// Format like Go's `time.Duration.String()`.
    pub fn format(d: Duration) -> String {
        let ns = d.as_nanos();
        if ns == 0 {
            return "0s".into();
        }
        if ns < 1_000 {
            return format!("{ns}ns");
        }
        if ns < 1_000_000 {
            return trim(format!("{}.{:03}", ns / 1000, ns % 1000)) + "µs";
        }
        if ns < 1_000_000_000 {
            return trim(format!("{}.{:06}", ns / 1_000_000, ns % 1_000_000)) + "ms";
        }
        let secs = ns / 1_000_000_000;
        let frac = ns % 1_000_000_000;
        let (h, m, s) = (secs / 3600, (secs / 60) % 60, secs % 60);
        let mut out = String::new();
        if h > 0 {
            out += &format!("{h}h");
        }
        if h > 0 || m > 0 {
            out += &format!("{m}m");
        }
        out + &trim(format!("{s}.{frac:09}")) + "s"
    }

    fn trim(s: String) -> String {
        let t = s.trim_end_matches('0').trim_end_matches('.');
        t.to_string()
    }

    /// Parse `1h2m3.5s`, `10ms`, `90` (seconds) into a duration.
    pub fn parse(s: &str) -> Option<Duration> {
        let s = s.trim();
        if s.is_empty() {
            return None;
        }
        if let Ok(n) = s.parse::<u64>() {
            return Some(Duration::from_secs(n));
        }
        let mut total: f64 = 0.0;
        let mut rest = s;
        while !rest.is_empty() {
            let num_end = rest
                .find(|c: char| !(c.is_ascii_digit() || c == '.'))
                .unwrap_or(rest.len());
            if num_end == 0 {
                return None;
            }
            let n: f64 = rest[..num_end].parse().ok()?;
            rest = &rest[num_end..];
            let unit_end = rest
                .find(|c: char| c.is_ascii_digit() || c == '.')
                .unwrap_or(rest.len());
            let mult = match &rest[..unit_end] {
                "h" => 3600e9,
                "m" => 60e9,
                "s" => 1e9,
                "ms" => 1e6,
                "us" | "µs" => 1e3,
                "ns" => 1.0,
                _ => return None,
            };
            rest = &rest[unit_end..];
            total += n * mult;
        }
        if !total.is_finite() || total > 1e19 {
            return None;
        }
        Some(Duration::from_nanos(total.round() as u64))
    }

    /// serde helper for `Option<Duration>`.
    pub fn ser<S: serde::Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
        match d {
            Some(d) => s.serialize_str(&format(*d)),
            None => s.serialize_none(),
        }
    }
}

/// A resolved compose project.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Project {
    /// Project name (`-p`, `COMPOSE_PROJECT_NAME`, top-level `name`, or the directory name).
    pub name: String,
    /// Enabled services, by name.
    pub services: BTreeMap<String, Service>,
    /// Networks (incl. the implicit `default` when a service uses it).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub networks: BTreeMap<String, Network>,
    /// Named volumes.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub volumes: BTreeMap<String, Volume>,
    /// Secrets (files mounted into services).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub secrets: BTreeMap<String, FileObject>,
    /// Configs (files mounted into services).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub configs: BTreeMap<String, FileObject>,
    /// Services left out because none of their profiles is active.
    #[serde(skip)]
    pub disabled_services: Vec<String>,
    /// The project directory (absolute).
    #[serde(skip)]
    pub working_dir: std::path::PathBuf,
}

/// `build:`.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Build {
    /// Context directory (absolute) or URL.
    pub context: String,
    /// Dockerfile path relative to the context.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dockerfile: Option<String>,
    /// Build arguments (`None`: from the environment).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub args: BTreeMap<String, Option<String>>,
    /// Target stage.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    /// Image labels.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, Option<String>>,
    /// Cache sources.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub cache_from: Vec<String>,
    /// Network during RUN.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub network: Option<String>,
    /// /dev/shm size in bytes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shm_size: Option<u64>,
    /// Extra /etc/hosts entries (`host:ip`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub extra_hosts: Vec<String>,
}

/// One published port (long syntax).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Port {
    /// `ingress` or `host`.
    pub mode: String,
    /// Host address to bind.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub host_ip: Option<String>,
    /// Container port.
    pub target: u16,
    /// Host port or range (`8080`, `8000-8010`); `None`: an ephemeral port.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub published: Option<String>,
    /// `tcp`, `udp` or `sctp`.
    pub protocol: String,
}

/// A mount (long syntax of `volumes:`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Mount {
    /// `volume`, `bind`, `tmpfs`, `npipe`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Volume name or absolute host path (`None`: anonymous volume / tmpfs).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// Path in the container.
    pub target: String,
    /// Read-only.
    #[serde(skip_serializing_if = "is_false")]
    pub read_only: bool,
    /// Bind propagation (`rprivate`, ...).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub propagation: Option<String>,
    /// Create the host path of a bind when missing.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub create_host_path: Option<bool>,
    /// SELinux relabel (`z`/`Z`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub selinux: Option<String>,
    /// Do not copy image content into a new volume.
    #[serde(skip_serializing_if = "is_false")]
    pub nocopy: bool,
    /// tmpfs size in bytes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tmpfs_size: Option<u64>,
    /// tmpfs mode.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tmpfs_mode: Option<u32>,
    /// Consistency (macOS; kept for round trips).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub consistency: Option<String>,
}

/// A service's attachment to a network.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct ServiceNetwork {
    /// Extra DNS names on that network.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub aliases: Vec<String>,
    /// Static IPv4 address.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ipv4_address: Option<String>,
    /// Static IPv6 address.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ipv6_address: Option<String>,
    /// Connection order priority.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub priority: Option<i64>,
}

/// A `depends_on` entry.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Dependency {
    /// `service_started`, `service_healthy` or `service_completed_successfully`.
    pub condition: String,
    /// Restart this service when the dependency is updated.
    #[serde(skip_serializing_if = "is_false")]
    pub restart: bool,
    /// Fail when the dependency is missing (default true).
    pub required: bool,
}

/// `healthcheck:`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Healthcheck {
    /// `["CMD", ...]`, `["CMD-SHELL", "..."]` or `["NONE"]`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub test: Vec<String>,
    /// Between checks.
    #[serde(skip_serializing_if = "Option::is_none", serialize_with = "dur::ser")]
    pub interval: Option<Duration>,
    /// Per check.
    #[serde(skip_serializing_if = "Option::is_none", serialize_with = "dur::ser")]
    pub timeout: Option<Duration>,
    /// Grace period at start.
    #[serde(skip_serializing_if = "Option::is_none", serialize_with = "dur::ser")]
    pub start_period: Option<Duration>,
    /// Interval during the start period.
    #[serde(skip_serializing_if = "Option::is_none", serialize_with = "dur::ser")]
    pub start_interval: Option<Duration>,
    /// Failures before unhealthy.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retries: Option<u64>,
    /// Disabled.
    #[serde(skip_serializing_if = "is_false")]
    pub disable: bool,
}

/// Resource numbers of `deploy.resources.limits/reservations`.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Resources {
    /// CPUs (fractional).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cpus: Option<f64>,
    /// Memory in bytes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub memory: Option<u64>,
    /// Max pids.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pids: Option<i64>,
}

/// `deploy.resources`.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct DeployResources {
    /// Limits.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub limits: Option<Resources>,
    /// Reservations.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reservations: Option<Resources>,
}

/// `deploy.restart_policy`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct RestartPolicy {
    /// `none`, `on-failure`, `any`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub condition: Option<String>,
    /// Between attempts.
    #[serde(skip_serializing_if = "Option::is_none", serialize_with = "dur::ser")]
    pub delay: Option<Duration>,
    /// Attempts.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_attempts: Option<u64>,
    /// Window to decide success.
    #[serde(skip_serializing_if = "Option::is_none", serialize_with = "dur::ser")]
    pub window: Option<Duration>,
}

/// `deploy.update_config` / `rollback_config`.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct UpdateConfig {
    /// Replicas at a time.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parallelism: Option<u64>,
    /// Between groups.
    #[serde(skip_serializing_if = "Option::is_none", serialize_with = "dur::ser")]
    pub delay: Option<Duration>,
    /// `continue`, `rollback`, `pause`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failure_action: Option<String>,
    /// Watch time after an update.
    #[serde(skip_serializing_if = "Option::is_none", serialize_with = "dur::ser")]
    pub monitor: Option<Duration>,
    /// Tolerated failure ratio.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_failure_ratio: Option<f64>,
    /// `stop-first` or `start-first`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub order: Option<String>,
}

/// `deploy:`.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Deploy {
    /// `replicated` or `global`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mode: Option<String>,
    /// Replica count.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub replicas: Option<u64>,
    /// Resource limits and reservations.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resources: Option<DeployResources>,
    /// Restart policy.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub restart_policy: Option<RestartPolicy>,
    /// Rolling update.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub update_config: Option<UpdateConfig>,
    /// Rollback.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rollback_config: Option<UpdateConfig>,
    /// Service labels.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, Option<String>>,
    /// Placement (kept as given; swarm only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub placement: Option<serde_json::Value>,
    /// `vip` or `dnsrr`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub endpoint_mode: Option<String>,
}

/// A ulimit.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Ulimit {
    /// Soft limit.
    pub soft: i64,
    /// Hard limit.
    pub hard: i64,
}

/// `logging:`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Logging {
    /// Driver.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub driver: Option<String>,
    /// Driver options.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub options: BTreeMap<String, Option<String>>,
}

/// A secret or config mounted into a service.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct FileRef {
    /// Top-level secret/config name.
    pub source: String,
    /// Path in the container (default `/run/secrets/<source>` or `/<source>`).
    pub target: String,
    /// Owner uid.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub uid: Option<String>,
    /// Owner gid.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gid: Option<String>,
    /// File mode.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mode: Option<u32>,
}

/// A service in canonical long form.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
#[allow(missing_docs)] // field names are the compose keys
pub struct Service {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub build: Option<Build>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub command: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub entrypoint: Option<Vec<String>>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub environment: BTreeMap<String, Option<String>>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub ports: Vec<Port>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub expose: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub volumes: Vec<Mount>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub volumes_from: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tmpfs: Vec<String>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub networks: BTreeMap<String, ServiceNetwork>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub network_mode: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub links: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub external_links: Vec<String>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub depends_on: BTreeMap<String, Dependency>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub healthcheck: Option<Healthcheck>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub restart: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deploy: Option<Deploy>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub working_dir: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hostname: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub domainname: Option<String>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, Option<String>>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub cap_add: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub cap_drop: Vec<String>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub ulimits: BTreeMap<String, Ulimit>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub init: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stop_signal: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", serialize_with = "dur::ser")]
    pub stop_grace_period: Option<Duration>,
    #[serde(skip_serializing_if = "is_false")]
    pub read_only: bool,
    #[serde(skip_serializing_if = "is_false")]
    pub privileged: bool,
    #[serde(skip_serializing_if = "is_false")]
    pub stdin_open: bool,
    #[serde(skip_serializing_if = "is_false")]
    pub tty: bool,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub devices: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub extra_hosts: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub dns: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub dns_search: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub logging: Option<Logging>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub container_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scale: Option<u64>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub profiles: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub secrets: Vec<FileRef>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub configs: Vec<FileRef>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub sysctls: BTreeMap<String, Option<String>>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub security_opt: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shm_size: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mem_limit: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cpus: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pid: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ipc: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub platform: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pull_policy: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub group_add: Vec<String>,
}

impl Service {
    /// Number of replicas to run (`deploy.replicas`, else `scale`, else 1).
    pub fn replicas(&self) -> u64 {
        self.deploy
            .as_ref()
            .and_then(|d| d.replicas)
            .or(self.scale)
            .unwrap_or(1)
    }
}

/// A top-level network.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Network {
    /// Real name (default `project_key`).
    pub name: String,
    /// `bridge`, `macvlan`, `overlay`, ...
    #[serde(skip_serializing_if = "Option::is_none")]
    pub driver: Option<String>,
    /// Driver options.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub driver_opts: BTreeMap<String, Option<String>>,
    /// IPAM.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ipam: Option<Ipam>,
    /// No outside connectivity.
    #[serde(skip_serializing_if = "is_false")]
    pub internal: bool,
    /// Created outside compose.
    #[serde(skip_serializing_if = "is_false")]
    pub external: bool,
    /// Attachable (swarm).
    #[serde(skip_serializing_if = "is_false")]
    pub attachable: bool,
    /// IPv6.
    #[serde(skip_serializing_if = "is_false")]
    pub enable_ipv6: bool,
    /// Labels.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, Option<String>>,
}

/// IPAM of a network.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Ipam {
    /// IPAM driver.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub driver: Option<String>,
    /// Pools.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub config: Vec<IpamPool>,
    /// Options.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub options: BTreeMap<String, Option<String>>,
}

/// One IPAM pool.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct IpamPool {
    /// Subnet CIDR.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subnet: Option<String>,
    /// Range for dynamic addresses.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ip_range: Option<String>,
    /// Gateway.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gateway: Option<String>,
    /// Reserved addresses.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub aux_addresses: BTreeMap<String, Option<String>>,
}

/// A top-level named volume.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Volume {
    /// Real name (default `project_key`).
    pub name: String,
    /// Driver.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub driver: Option<String>,
    /// Driver options.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub driver_opts: BTreeMap<String, Option<String>>,
    /// Created outside compose.
    #[serde(skip_serializing_if = "is_false")]
    pub external: bool,
    /// Labels.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, Option<String>>,
}

/// A top-level secret or config.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct FileObject {
    /// Real name.
    pub name: String,
    /// Absolute path of the file.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    /// Take the content from this environment variable.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub environment: Option<String>,
    /// Inline content (configs).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub content: Option<String>,
    /// Created outside compose.
    #[serde(skip_serializing_if = "is_false")]
    pub external: bool,
}
