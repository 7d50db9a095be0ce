//! The container record kept on disk, shaped like `docker inspect`'s JSON so that
//! `inspect` prints it as is and `--format '{{.State.Status}}'` finds Docker's paths.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// One container: what `docker inspect` shows, plus berth's own bookkeeping under `Berth`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct ContainerRecord {
    /// Full 64-hex-digit id.
    pub id: String,
    /// Creation time (RFC 3339).
    pub created: String,
    /// Executable of the main process.
    pub path: String,
    /// Its arguments.
    pub args: Vec<String>,
    /// Run state.
    pub state: ContainerState,
    /// Image id (`sha256:…`).
    pub image: String,
    /// Path of the generated `/etc/resolv.conf`.
    pub resolv_conf_path: String,
    /// Path of the generated `/etc/hostname`.
    pub hostname_path: String,
    /// Path of the generated `/etc/hosts`.
    pub hosts_path: String,
    /// Path of the json-file log.
    pub log_path: String,
    /// `/name`.
    pub name: String,
    /// Restarts done by the restart policy since the last manual start.
    pub restart_count: u64,
    /// Storage driver.
    pub driver: String,
    /// `linux`.
    pub platform: String,
    /// Host-side settings.
    pub host_config: HostConfig,
    /// Mounts as resolved at create time.
    pub mounts: Vec<MountPoint>,
    /// Image-side settings.
    pub config: ContainerConfig,
    /// Network attachments.
    pub network_settings: NetworkSettings,
    /// berth's own fields (not in Docker's output).
    pub berth: BerthMeta,
}

/// `State` of `docker inspect`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase", default)]
pub struct ContainerState {
    /// created, running, paused, restarting, removing, exited, dead.
    pub status: String,
    /// Is the process alive.
    pub running: bool,
    /// Frozen.
    pub paused: bool,
    /// Waiting to be restarted by its policy.
    pub restarting: bool,
    /// Killed by the OOM killer.
    #[serde(rename = "OOMKilled")]
    pub oom_killed: bool,
    /// Failed to be removed.
    pub dead: bool,
    /// Host pid of the container's process 1 (0 when not running).
    pub pid: i32,
    /// Last exit code.
    pub exit_code: i32,
    /// Last error.
    pub error: String,
    /// Last start time.
    pub started_at: String,
    /// Last exit time.
    pub finished_at: String,
    /// Health, when the container has a healthcheck.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub health: Option<Health>,
}

/// `State.Health`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase", default)]
pub struct Health {
    /// starting, healthy, unhealthy.
    pub status: String,
    /// Consecutive failures.
    pub failing_streak: u32,
    /// The last few probes.
    pub log: Vec<HealthLog>,
}

/// One healthcheck probe.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase", default)]
pub struct HealthLog {
    /// Probe start.
    pub start: String,
    /// Probe end.
    pub end: String,
    /// Its exit code.
    pub exit_code: i32,
    /// Its output (truncated).
    pub output: String,
}

/// `Config` of `docker inspect` (the image-side settings, merged with the run flags).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase", default)]
pub struct ContainerConfig {
    /// Hostname.
    pub hostname: String,
    /// Domain name.
    pub domainname: String,
    /// `user[:group]`.
    pub user: String,
    /// Attach stdin (foreground `-i`).
    pub attach_stdin: bool,
    /// Attach stdout.
    pub attach_stdout: bool,
    /// Attach stderr.
    pub attach_stderr: bool,
    /// `port/proto` → `{}`.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub exposed_ports: BTreeMap<String, serde_json::Value>,
    /// A pty.
    pub tty: bool,
    /// Keep stdin open.
    pub open_stdin: bool,
    /// Close stdin after the first attach.
    pub stdin_once: bool,
    /// `KEY=value`.
    pub env: Vec<String>,
    /// Command.
    pub cmd: Vec<String>,
    /// Healthcheck.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub healthcheck: Option<HealthConfig>,
    /// Image reference as given.
    pub image: String,
    /// Volumes declared by the image or `-v /path`.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub volumes: BTreeMap<String, serde_json::Value>,
    /// Working directory.
    pub working_dir: String,
    /// Entrypoint.
    pub entrypoint: Vec<String>,
    /// Labels.
    pub labels: BTreeMap<String, String>,
    /// Signal that `stop` sends.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stop_signal: Option<String>,
    /// Seconds `stop` waits before SIGKILL.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stop_timeout: Option<i64>,
}

/// `Config.Healthcheck` (durations in nanoseconds, like Docker).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase", default)]
pub struct HealthConfig {
    /// `["CMD", …]`, `["CMD-SHELL", "…"]` or `["NONE"]`.
    pub test: Vec<String>,
    /// Between probes.
    pub interval: i64,
    /// Per probe.
    pub timeout: i64,
    /// Grace period after start.
    pub start_period: i64,
    /// Failures before unhealthy.
    pub retries: u32,
}

/// `HostConfig` of `docker inspect`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase", default)]
pub struct HostConfig {
    /// `-v` strings.
    pub binds: Vec<String>,
    /// `--cidfile`.
    #[serde(rename = "ContainerIDFile")]
    pub container_id_file: String,
    /// Log driver and options.
    pub log_config: LogConfig,
    /// none, host, bridge, container:ID, or a network name.
    pub network_mode: String,
    /// `port/proto` → host bindings.
    pub port_bindings: BTreeMap<String, Vec<PortBinding>>,
    /// Restart policy.
    pub restart_policy: RestartPolicy,
    /// `--rm`.
    pub auto_remove: bool,
    /// Added capabilities.
    pub cap_add: Vec<String>,
    /// Dropped capabilities.
    pub cap_drop: Vec<String>,
    /// `--dns`.
    pub dns: Vec<String>,
    /// `--add-host`.
    pub extra_hosts: Vec<String>,
    /// `--privileged`.
    pub privileged: bool,
    /// `-P`.
    pub publish_all_ports: bool,
    /// `--read-only`.
    pub readonly_rootfs: bool,
    /// `--security-opt`.
    pub security_opt: Vec<String>,
    /// `--tmpfs` path → options.
    pub tmpfs: BTreeMap<String, String>,
    /// Bytes.
    pub memory: i64,
    /// Bytes.
    pub memory_reservation: i64,
    /// Bytes (memory + swap), -1 unlimited.
    pub memory_swap: i64,
    /// 0-100, -1 unset.
    pub memory_swappiness: Option<i64>,
    /// Bytes.
    pub kernel_memory: i64,
    /// `--oom-kill-disable`.
    pub oom_kill_disable: bool,
    /// CPUs × 1e9.
    pub nano_cpus: i64,
    /// Relative weight.
    pub cpu_shares: i64,
    /// `--cpuset-cpus`.
    pub cpuset_cpus: String,
    /// `--pids-limit`.
    pub pids_limit: Option<i64>,
    /// `--ulimit`.
    pub ulimits: Vec<Ulimit>,
    /// `--device`.
    pub devices: Vec<DeviceMapping>,
    /// `--init`.
    pub init: bool,
    /// `--mount` (and `-v` in long form).
    pub mounts: Vec<MountSpec>,
}

/// `HostConfig.LogConfig`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase", default)]
pub struct LogConfig {
    /// Driver (`json-file`, `none`).
    #[serde(rename = "Type")]
    pub kind: String,
    /// `max-size`, `max-file`.
    pub config: BTreeMap<String, String>,
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            kind: "json-file".into(),
            config: BTreeMap::new(),
        }
    }
}

/// One host binding of a published port.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "PascalCase", default)]
pub struct PortBinding {
    /// Host address (empty: all).
    pub host_ip: String,
    /// Host port (empty: any free one).
    pub host_port: String,
}

/// `HostConfig.RestartPolicy`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "PascalCase", default)]
pub struct RestartPolicy {
    /// "", no, always, unless-stopped, on-failure.
    pub name: String,
    /// For on-failure.
    pub maximum_retry_count: u64,
}

/// One `--ulimit`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "PascalCase", default)]
pub struct Ulimit {
    /// `nofile`, `nproc`, …
    pub name: String,
    /// Soft limit.
    pub soft: i64,
    /// Hard limit.
    pub hard: i64,
}

/// One `--device`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "PascalCase", default)]
pub struct DeviceMapping {
    /// Host device node.
    pub path_on_host: String,
    /// Where it appears in the container.
    pub path_in_container: String,
    /// `rwm` subset.
    pub cgroup_permissions: String,
}

/// One `--mount` (Docker's `mount.Mount`).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "PascalCase", default)]
pub struct MountSpec {
    /// bind, volume, tmpfs.
    #[serde(rename = "Type")]
    pub kind: String,
    /// Host path or volume name (empty for anonymous volumes and tmpfs).
    pub source: String,
    /// Path in the container.
    pub target: String,
    /// Read-only.
    pub read_only: bool,
    /// tmpfs size in bytes (0: default).
    #[serde(skip_serializing_if = "is_zero")]
    pub tmpfs_size: i64,
    /// tmpfs mode (0: default 1777).
    #[serde(skip_serializing_if = "is_zero_u32")]
    pub tmpfs_mode: u32,
    /// Do not fill a new volume from the image.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub no_copy: bool,
}

fn is_zero(v: &i64) -> bool {
    *v == 0
}
fn is_zero_u32(v: &u32) -> bool {
    *v == 0
}

/// One entry of `Mounts` in `docker inspect`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "PascalCase", default)]
pub struct MountPoint {
    /// bind, volume, tmpfs.
    #[serde(rename = "Type")]
    pub kind: String,
    /// Volume name.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub name: String,
    /// Host path.
    pub source: String,
    /// Container path.
    pub destination: String,
    /// `local` for volumes.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub driver: String,
    /// Options string.
    pub mode: String,
    /// Writable.
    #[serde(rename = "RW")]
    pub rw: bool,
    /// Propagation.
    pub propagation: String,
}

/// `NetworkSettings`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase", default)]
pub struct NetworkSettings {
    /// Netns path.
    #[serde(rename = "SandboxKey")]
    pub sandbox_key: String,
    /// `port/proto` → host bindings actually made (null when not published).
    pub ports: BTreeMap<String, Option<Vec<PortBinding>>>,
    /// Primary address.
    #[serde(rename = "IPAddress")]
    pub ip_address: String,
    /// Its gateway.
    pub gateway: String,
    /// Its MAC.
    pub mac_address: String,
    /// Per network.
    pub networks: BTreeMap<String, EndpointSettings>,
}

/// `NetworkSettings.Networks.<name>`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase", default)]
pub struct EndpointSettings {
    /// Aliases (names resolvable on the network).
    pub aliases: Vec<String>,
    /// Network id.
    #[serde(rename = "NetworkID")]
    pub network_id: String,
    /// Gateway.
    pub gateway: String,
    /// Address.
    #[serde(rename = "IPAddress")]
    pub ip_address: String,
    /// Prefix length.
    #[serde(rename = "IPPrefixLen")]
    pub ip_prefix_len: u8,
    /// MAC.
    pub mac_address: String,
    /// Requested static address (`--ip`).
    #[serde(rename = "IPAMConfig", skip_serializing_if = "Option::is_none")]
    pub ipam_config: Option<serde_json::Value>,
}

/// berth's own fields of a record.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase", default)]
pub struct BerthMeta {
    /// Pid of the monitor process (0: none).
    pub monitor_pid: i32,
    /// Start time (clock ticks since boot) of the monitor, against pid reuse.
    pub monitor_start: u64,
    /// Start time of the container's pid 1, against pid reuse.
    pub pid_start: u64,
    /// `stop` was asked by a user: the restart policy must not restart it.
    pub manually_stopped: bool,
    /// Snapshot key of the rootfs.
    pub snapshot: String,
    /// Image reference as resolved.
    pub image_ref: String,
    /// Anonymous volumes made for this container (removed by `rm -v`).
    pub anonymous_volumes: Vec<String>,
    /// Where the network namespace is bind-mounted.
    pub netns: String,
    /// `-i`: keep stdin open (detached: a pipe the monitor holds).
    pub interactive: bool,
    /// `--ip`.
    pub requested_ip: Option<String>,
    /// `--network-alias`.
    pub aliases: Vec<String>,
}

impl ContainerRecord {
    /// Name without the leading slash.
    pub fn short_name(&self) -> &str {
        self.name.strip_prefix('/').unwrap_or(&self.name)
    }

    /// The JSON `docker inspect` prints: the record without berth's own fields.
    pub fn inspect_json(&self) -> serde_json::Value {
        let mut v = serde_json::to_value(self).unwrap_or(serde_json::Value::Null);
        if let Some(obj) = v.as_object_mut() {
            obj.remove("Berth");
        }
        v
    }

    /// Docker's `Status` column: `Up 3 minutes`, `Exited (0) 2 seconds ago`, `Created`.
    pub fn status_text(&self, now: chrono::DateTime<chrono::Utc>) -> String {
        let since = |t: &str| {
            chrono::DateTime::parse_from_rfc3339(t)
                .map(|t| human_duration(now.signed_duration_since(t.with_timezone(&chrono::Utc))))
                .unwrap_or_else(|_| "a while".into())
        };
        match self.state.status.as_str() {
            "running" => {
                let health = match &self.state.health {
                    Some(h) if h.status == "starting" => " (health: starting)".to_string(),
                    Some(h) => format!(" ({})", h.status),
                    None => String::new(),
                };
                format!("Up {}{health}", since(&self.state.started_at))
            }
            "paused" => format!("Up {} (Paused)", since(&self.state.started_at)),
            "restarting" => format!(
                "Restarting ({}) {} ago",
                self.state.exit_code,
                since(&self.state.finished_at)
            ),
            "exited" => format!(
                "Exited ({}) {} ago",
                self.state.exit_code,
                since(&self.state.finished_at)
            ),
            "created" => "Created".into(),
            "removing" => "Removal In Progress".into(),
            "dead" => "Dead".into(),
            other => other.to_string(),
        }
    }
}

/// Docker's `units.HumanDuration`.
pub fn human_duration(d: chrono::Duration) -> String {
    let secs = d.num_seconds();
    if secs < 1 {
        "Less than a second".into()
    } else if secs == 1 {
        "1 second".into()
    } else if secs < 60 {
        format!("{secs} seconds")
    } else if secs / 60 == 1 {
        "About a minute".into()
    } else if secs < 3600 {
        format!("{} minutes", secs / 60)
    } else if secs / 3600 == 1 {
        "About an hour".into()
    } else if secs < 48 * 3600 {
        format!("{} hours", secs / 3600)
    } else if secs < 7 * 24 * 3600 * 2 {
        format!("{} days", secs / 86400)
    } else if secs < 30 * 24 * 3600 * 3 {
        format!("{} weeks", secs / (7 * 86400))
    } else if secs < 365 * 24 * 3600 * 2 {
        format!("{} months", secs / (30 * 86400))
    } else {
        format!("{} years", secs / (365 * 86400))
    }
}

/// Now in RFC 3339 with nanoseconds, like Docker's timestamps.
pub fn now_rfc3339() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, true)
}

/// Docker's zero time.
pub const ZERO_TIME: &str = "0001-01-01T00:00:00Z";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inspect_has_docker_names() {
        let mut r = ContainerRecord {
            id: "abc".into(),
            name: "/web".into(),
            ..Default::default()
        };
        r.host_config.nano_cpus = 500_000_000;
        r.state.oom_killed = true;
        let v = r.inspect_json();
        assert_eq!(v["Id"], "abc");
        assert_eq!(v["HostConfig"]["NanoCpus"], 500_000_000);
        assert_eq!(v["State"]["OOMKilled"], true);
        assert_eq!(v["HostConfig"]["LogConfig"]["Type"], "json-file");
        assert!(v.get("Berth").is_none());
        let back: ContainerRecord =
            serde_json::from_value(serde_json::to_value(&r).expect("ser")).expect("de");
        assert_eq!(back.host_config, r.host_config);
    }

    #[test]
    fn human_durations() {
        assert_eq!(
            human_duration(chrono::Duration::seconds(0)),
            "Less than a second"
        );
        assert_eq!(human_duration(chrono::Duration::seconds(5)), "5 seconds");
        assert_eq!(
            human_duration(chrono::Duration::seconds(70)),
            "About a minute"
        );
        assert_eq!(human_duration(chrono::Duration::seconds(600)), "10 minutes");
    }
}
