//! `run` / `create` flags, with Docker's names.

use clap::Args;
use container_engine::RunOptions;
use std::path::PathBuf;

/// Flags shared by `run` and `create`.
#[derive(Args, Debug, Clone, Default)]
pub struct RunArgs {
    /// Print help (`-h` is the hostname, as in docker).
    #[arg(long, action = clap::ArgAction::Help)]
    pub help: Option<bool>,
    /// Run in the background and print the container id.
    #[arg(short = 'd', long)]
    pub detach: bool,
    /// Keep stdin open.
    #[arg(short = 'i', long)]
    pub interactive: bool,
    /// Allocate a pseudo-TTY.
    #[arg(short = 't', long)]
    pub tty: bool,
    /// Container name.
    #[arg(long)]
    pub name: Option<String>,
    /// Remove the container when it exits.
    #[arg(long)]
    pub rm: bool,
    /// Write the container id to this file.
    #[arg(long)]
    pub cidfile: Option<PathBuf>,
    /// Environment variables.
    #[arg(short = 'e', long = "env")]
    pub env: Vec<String>,
    /// Files of environment variables.
    #[arg(long = "env-file")]
    pub env_file: Vec<PathBuf>,
    /// Working directory.
    #[arg(short = 'w', long = "workdir")]
    pub workdir: Option<String>,
    /// `user[:group]`.
    #[arg(short = 'u', long)]
    pub user: Option<String>,
    /// Overwrite the image's entrypoint.
    #[arg(long)]
    pub entrypoint: Option<String>,
    /// Container hostname.
    #[arg(short = 'h', long)]
    pub hostname: Option<String>,
    /// Labels.
    #[arg(short = 'l', long = "label")]
    pub label: Vec<String>,
    /// Restart policy.
    #[arg(long)]
    pub restart: Option<String>,
    /// Bind mount or volume.
    #[arg(short = 'v', long = "volume")]
    pub volume: Vec<String>,
    /// Mount (type=bind|volume|tmpfs,...).
    #[arg(long)]
    pub mount: Vec<String>,
    /// tmpfs mount.
    #[arg(long)]
    pub tmpfs: Vec<String>,
    /// Read-only root filesystem.
    #[arg(long = "read-only")]
    pub read_only: bool,
    /// Publish ports.
    #[arg(short = 'p', long = "publish")]
    pub publish: Vec<String>,
    /// Publish all exposed ports on random ports.
    #[arg(short = 'P', long = "publish-all")]
    pub publish_all: bool,
    /// Expose ports.
    #[arg(long)]
    pub expose: Vec<String>,
    /// Network (none, host, bridge, container:NAME, or a network name).
    #[arg(long, alias = "net")]
    pub network: Option<String>,
    /// Network-scoped aliases.
    #[arg(long = "network-alias")]
    pub network_alias: Vec<String>,
    /// IPv4 address.
    #[arg(long)]
    pub ip: Option<String>,
    /// Host-to-IP mappings.
    #[arg(long = "add-host")]
    pub add_host: Vec<String>,
    /// DNS servers.
    #[arg(long)]
    pub dns: Vec<String>,
    /// Memory limit.
    #[arg(short = 'm', long)]
    pub memory: Option<String>,
    /// Memory soft limit.
    #[arg(long = "memory-reservation")]
    pub memory_reservation: Option<String>,
    /// Memory + swap limit (-1 unlimited).
    #[arg(long = "memory-swap", allow_hyphen_values = true)]
    pub memory_swap: Option<String>,
    /// Swappiness (0-100).
    #[arg(long = "memory-swappiness", allow_hyphen_values = true)]
    pub memory_swappiness: Option<i64>,
    /// Kernel memory limit.
    #[arg(long = "kernel-memory")]
    pub kernel_memory: Option<String>,
    /// Disable the OOM killer.
    #[arg(long = "oom-kill-disable")]
    pub oom_kill_disable: bool,
    /// Number of CPUs.
    #[arg(long)]
    pub cpus: Option<String>,
    /// CPUs allowed (0-3, 0,1).
    #[arg(long = "cpuset-cpus")]
    pub cpuset_cpus: Option<String>,
    /// CPU shares.
    #[arg(short = 'c', long = "cpu-shares")]
    pub cpu_shares: Option<i64>,
    /// Pids limit (-1 unlimited).
    #[arg(long = "pids-limit", allow_hyphen_values = true)]
    pub pids_limit: Option<i64>,
    /// ulimits.
    #[arg(long)]
    pub ulimit: Vec<String>,
    /// Host devices.
    #[arg(long)]
    pub device: Vec<String>,
    /// Add capabilities.
    #[arg(long = "cap-add")]
    pub cap_add: Vec<String>,
    /// Drop capabilities.
    #[arg(long = "cap-drop")]
    pub cap_drop: Vec<String>,
    /// Security options.
    #[arg(long = "security-opt")]
    pub security_opt: Vec<String>,
    /// Extended privileges.
    #[arg(long)]
    pub privileged: bool,
    /// Run an init as pid 1 that reaps zombies and forwards signals.
    #[arg(long)]
    pub init: bool,
    /// Signal to stop the container.
    #[arg(long = "stop-signal")]
    pub stop_signal: Option<String>,
    /// Seconds to wait before killing at stop.
    #[arg(long = "stop-timeout")]
    pub stop_timeout: Option<i64>,
    /// Healthcheck command.
    #[arg(long = "health-cmd")]
    pub health_cmd: Option<String>,
    /// Healthcheck interval.
    #[arg(long = "health-interval")]
    pub health_interval: Option<String>,
    /// Healthcheck timeout.
    #[arg(long = "health-timeout")]
    pub health_timeout: Option<String>,
    /// Healthcheck start period.
    #[arg(long = "health-start-period")]
    pub health_start_period: Option<String>,
    /// Healthcheck retries.
    #[arg(long = "health-retries")]
    pub health_retries: Option<u32>,
    /// Disable the image's healthcheck.
    #[arg(long = "no-healthcheck")]
    pub no_healthcheck: bool,
    /// Log driver (json-file, none).
    #[arg(long = "log-driver")]
    pub log_driver: Option<String>,
    /// Log driver options (max-size, max-file).
    #[arg(long = "log-opt")]
    pub log_opt: Vec<String>,
    /// Use this directory as the root filesystem instead of an image.
    #[arg(long)]
    pub rootfs: bool,
    /// Image (or, with --rootfs, a directory).
    pub image: String,
    /// Command and arguments.
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub command: Vec<String>,
}

impl RunArgs {
    /// To the engine's options.
    pub fn to_options(&self) -> RunOptions {
        RunOptions {
            image: if self.rootfs {
                String::new()
            } else {
                self.image.clone()
            },
            rootfs: self.rootfs.then(|| PathBuf::from(&self.image)),
            cmd: self.command.clone(),
            entrypoint: self.entrypoint.as_ref().map(|e| {
                if e.is_empty() {
                    Vec::new()
                } else {
                    vec![e.clone()]
                }
            }),
            name: self.name.clone(),
            detach: self.detach,
            interactive: self.interactive,
            tty: self.tty,
            rm: self.rm,
            cidfile: self.cidfile.clone(),
            env: self.env.clone(),
            env_files: self.env_file.clone(),
            workdir: self.workdir.clone(),
            user: self.user.clone(),
            hostname: self.hostname.clone(),
            labels: self.label.clone(),
            restart: self.restart.clone(),
            volumes: self.volume.clone(),
            mounts: self.mount.clone(),
            tmpfs: self.tmpfs.clone(),
            read_only: self.read_only,
            publish: self.publish.clone(),
            publish_all: self.publish_all,
            expose: self.expose.clone(),
            network: self.network.clone(),
            network_aliases: self.network_alias.clone(),
            ip: self.ip.clone(),
            add_hosts: self.add_host.clone(),
            dns: self.dns.clone(),
            memory: self.memory.clone(),
            memory_reservation: self.memory_reservation.clone(),
            memory_swap: self.memory_swap.clone(),
            memory_swappiness: self.memory_swappiness,
            kernel_memory: self.kernel_memory.clone(),
            oom_kill_disable: self.oom_kill_disable,
            cpus: self.cpus.clone(),
            cpuset_cpus: self.cpuset_cpus.clone(),
            cpu_shares: self.cpu_shares,
            pids_limit: self.pids_limit,
            ulimits: self.ulimit.clone(),
            devices: self.device.clone(),
            cap_add: self.cap_add.clone(),
            cap_drop: self.cap_drop.clone(),
            security_opt: self.security_opt.clone(),
            privileged: self.privileged,
            init: self.init,
            stop_signal: self.stop_signal.clone(),
            stop_timeout: self.stop_timeout,
            health_cmd: self.health_cmd.clone(),
            health_interval: self.health_interval.clone(),
            health_timeout: self.health_timeout.clone(),
            health_start_period: self.health_start_period.clone(),
            health_retries: self.health_retries,
            health_test: None,
            no_healthcheck: self.no_healthcheck,
            log_driver: self.log_driver.clone(),
            log_opts: self.log_opt.clone(),
        }
    }
}
