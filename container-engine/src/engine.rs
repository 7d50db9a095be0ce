//! [`Engine`]: containers from images, on disk, controlled from any process.

use crate::error::{Error, IoContext, Result};
use crate::fsutil;
use crate::model::*;
use crate::monitor::{self, AttachFds, Spawned};
use crate::options::{self, RunOptions};
use crate::state::{ContainerStore, process_alive, wait_gone};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Default engine root.
pub const DEFAULT_ROOT: &str = "/var/lib/berth";
/// Default runtime root.
pub const DEFAULT_RUNTIME_ROOT: &str = "/run/berth";

/// The engine over one state root. Cheap to open; holds no process-wide state, so many
/// processes may open the same root at once.
#[derive(Debug, Clone)]
pub struct Engine {
    pub(crate) root: PathBuf,
    pub(crate) runtime_root: PathBuf,
    pub(crate) containers: ContainerStore,
}

/// `rm` options.
#[derive(Debug, Clone, Copy, Default)]
pub struct RmOptions {
    /// Kill a running container first.
    pub force: bool,
    /// Also remove its anonymous volumes.
    pub volumes: bool,
}

/// What `stats` reports of one container.
#[derive(Debug, Clone, Default)]
pub struct ContainerStats {
    /// Id.
    pub id: String,
    /// Name.
    pub name: String,
    /// Memory in use (bytes).
    pub memory_usage: u64,
    /// Memory limit (0: none).
    pub memory_limit: u64,
    /// CPU time used (ns).
    pub cpu_ns: u64,
    /// Processes.
    pub pids: u64,
}

/// The outcome of [`Engine::run_attached`]: the id and the container's exit code.
#[derive(Debug, Clone)]
pub struct RunResult {
    /// Container id.
    pub id: String,
    /// Exit code of the container's main process.
    pub exit_code: i32,
}

impl Engine {
    /// Open the engine at `root` (created if missing), runtime state under `/run/berth`
    /// when `root` is the default, else under `<root>/run`.
    pub fn open(root: impl AsRef<Path>) -> Result<Self> {
        let root = root.as_ref();
        let runtime_root = if root == Path::new(DEFAULT_ROOT) {
            PathBuf::from(DEFAULT_RUNTIME_ROOT)
        } else {
            root.join("run")
        };
        Self::open_with(root, &runtime_root)
    }

    /// Open the engine with an explicit runtime root.
    pub fn open_with(root: &Path, runtime_root: &Path) -> Result<Self> {
        std::fs::create_dir_all(root).ctx("create engine root", root)?;
        std::fs::create_dir_all(runtime_root).ctx("create runtime root", runtime_root)?;
        let root = root.canonicalize().ctx("resolve engine root", root)?;
        Ok(Engine {
            containers: ContainerStore::open(&root.join("containers"))?,
            root,
            runtime_root: runtime_root.to_path_buf(),
        })
    }

    /// Open the default root (`/var/lib/berth`).
    pub fn open_default() -> Result<Self> {
        Self::open(DEFAULT_ROOT)
    }

    /// The engine root.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The runtime root.
    pub fn runtime_root(&self) -> &Path {
        &self.runtime_root
    }

    /// Resolve a name, id or id prefix to a full id.
    pub fn resolve(&self, name_or_id: &str) -> Result<String> {
        self.containers.resolve(name_or_id)
    }

    /// Load a container's record, with its state brought up to date.
    pub fn record(&self, name_or_id: &str) -> Result<ContainerRecord> {
        let id = self.resolve(name_or_id)?;
        self.reconcile(self.containers.load(&id)?)
    }

    /// If the record says running but its monitor is gone, say what really is.
    fn reconcile(&self, rec: ContainerRecord) -> Result<ContainerRecord> {
        let active = matches!(
            rec.state.status.as_str(),
            "running" | "restarting" | "paused"
        );
        if !active || rec.berth.monitor_pid == 0 {
            return Ok(rec);
        }
        if process_alive(rec.berth.monitor_pid, rec.berth.monitor_start) {
            return Ok(rec);
        }
        let _lock = self.containers.lock(&rec.id)?;
        let mut rec = self.containers.load(&rec.id)?;
        if process_alive(rec.berth.monitor_pid, rec.berth.monitor_start) {
            return Ok(rec);
        }
        if rec.state.pid > 0 && process_alive(rec.state.pid, rec.berth.pid_start) {
            // the container outlived its monitor: it runs, unmonitored
            return Ok(rec);
        }
        rec.state.status = "exited".into();
        rec.state.running = false;
        rec.state.restarting = false;
        rec.state.paused = false;
        rec.state.pid = 0;
        rec.state.exit_code = 255;
        if rec.state.finished_at.is_empty() || rec.state.finished_at == ZERO_TIME {
            rec.state.finished_at = now_rfc3339();
        }
        rec.berth.monitor_pid = 0;
        self.containers.save(&rec)?;
        Ok(rec)
    }

    /// `docker create`: check every option, then record the container (nothing runs).
    pub fn create(&self, opts: &RunOptions) -> Result<String> {
        // 1. parse and check everything before any side effect
        let mut hc = HostConfig::default();
        if let Some(m) = &opts.memory {
            hc.memory = options::parse_bytes(m)?;
            if hc.memory > 0 && hc.memory < 6 << 20 {
                return Err(Error::Invalid("Minimum memory limit allowed is 6MB".into()));
            }
        }
        if let Some(m) = &opts.memory_reservation {
            hc.memory_reservation = options::parse_bytes(m)?;
        }
        if let Some(m) = &opts.memory_swap {
            hc.memory_swap = if m == "-1" {
                -1
            } else {
                options::parse_bytes(m)?
            };
            if hc.memory_swap > 0 && hc.memory_swap < hc.memory {
                return Err(Error::Invalid(
                    "Minimum memoryswap limit should be larger than memory limit, see usage".into(),
                ));
            }
        }
        if let Some(s) = opts.memory_swappiness {
            if !(-1..=100).contains(&s) {
                return Err(Error::Invalid(format!(
                    "invalid value: {s}, valid memory swappiness range is 0-100"
                )));
            }
            hc.memory_swappiness = Some(s);
        }
        if let Some(m) = &opts.kernel_memory {
            hc.kernel_memory = options::parse_bytes(m)?;
        }
        hc.oom_kill_disable = opts.oom_kill_disable;
        if let Some(c) = &opts.cpus {
            hc.nano_cpus = options::parse_cpus(c)?;
            let ncpu = std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(1) as i64;
            if hc.nano_cpus > ncpu * 1_000_000_000 {
                return Err(Error::Invalid(format!(
                    "range of CPUs is from 0.01 to {ncpu}.00, as there are only {ncpu} CPUs available"
                )));
            }
        }
        if let Some(c) = &opts.cpuset_cpus {
            if !c
                .chars()
                .all(|ch| ch.is_ascii_digit() || ch == ',' || ch == '-')
            {
                return Err(Error::Invalid(format!("invalid value {c} for cpuset cpus")));
            }
            hc.cpuset_cpus = c.clone();
        }
        hc.cpu_shares = opts.cpu_shares.unwrap_or(0);
        hc.pids_limit = opts.pids_limit;
        for u in &opts.ulimits {
            hc.ulimits.push(options::parse_ulimit(u)?);
        }
        for d in &opts.devices {
            let d = options::parse_device(d)?;
            crate::spec::device_numbers(&d.path_on_host)?;
            hc.devices.push(d);
        }
        hc.cap_add = opts.cap_add.clone();
        hc.cap_drop = opts.cap_drop.clone();
        crate::spec::capabilities(opts.privileged, &hc.cap_add, &hc.cap_drop)?;
        // a seccomp profile given by path is stored by content, as Docker's CLI sends it
        hc.security_opt = Vec::new();
        for o in &opts.security_opt {
            let parsed = crate::spec::parse_security_opts(std::slice::from_ref(o))?;
            match parsed.seccomp_profile {
                Some(text) => hc.security_opt.push(format!("seccomp={text}")),
                None => hc.security_opt.push(o.clone()),
            }
        }
        hc.privileged = opts.privileged;
        hc.init = opts.init;
        hc.readonly_rootfs = opts.read_only;
        hc.auto_remove = opts.rm;
        hc.dns = opts.dns.clone();
        for h in &opts.add_hosts {
            if h.split_once(':').is_none_or(|(n, ip)| {
                n.is_empty() || (ip != "host-gateway" && ip.parse::<std::net::IpAddr>().is_err())
            }) {
                return Err(Error::Invalid(format!(
                    "invalid argument \"{h}\" for \"--add-host\" flag"
                )));
            }
        }
        hc.extra_hosts = opts.add_hosts.clone();
        hc.restart_policy = match &opts.restart {
            Some(r) => options::parse_restart(r)?,
            None => RestartPolicy {
                name: "no".into(),
                maximum_retry_count: 0,
            },
        };
        if hc.auto_remove && !matches!(hc.restart_policy.name.as_str(), "no" | "") {
            return Err(Error::Invalid(
                "conflicting options: cannot specify both --restart and --rm".into(),
            ));
        }
        hc.publish_all_ports = opts.publish_all;
        for p in &opts.publish {
            for (k, b) in options::parse_publish(p)? {
                hc.port_bindings.entry(k).or_default().push(b);
            }
        }
        hc.network_mode = opts.network.clone().unwrap_or_else(|| "bridge".into());
        if hc.network_mode == "default" {
            hc.network_mode = "bridge".into();
        }
        if !hc.port_bindings.is_empty() && matches!(hc.network_mode.as_str(), "none" | "host") {
            if hc.network_mode == "none" {
                return Err(Error::Invalid(
                    "conflicting options: port publishing and the container type network mode"
                        .into(),
                ));
            }
            hc.port_bindings.clear(); // Docker ignores -p with --network host
        }
        hc.log_config = LogConfig {
            kind: opts
                .log_driver
                .clone()
                .unwrap_or_else(|| "json-file".into()),
            config: BTreeMap::new(),
        };
        if !matches!(hc.log_config.kind.as_str(), "json-file" | "none" | "local") {
            return Err(Error::Invalid(format!(
                "failed to create task for container: unknown log driver {:?}",
                hc.log_config.kind
            )));
        }
        for o in &opts.log_opts {
            let (k, v) = o
                .split_once('=')
                .ok_or_else(|| Error::Invalid(format!("invalid log opt {o}")))?;
            match k {
                "max-size" => {
                    options::parse_bytes(v)?;
                }
                "max-file" => {
                    v.parse::<u32>().ok().filter(|n| *n >= 1).ok_or_else(|| {
                        Error::Invalid(format!("invalid value for max-file: {v}"))
                    })?;
                }
                "compress" | "labels" | "env" | "tag" => {}
                _ => {
                    return Err(Error::Invalid(format!(
                        "unknown log opt '{k}' for json-file log driver"
                    )));
                }
            }
            hc.log_config.config.insert(k.into(), v.into());
        }
        let mut mount_specs = Vec::new();
        for v in &opts.volumes {
            let m = options::parse_volume(v)?;
            hc.binds.push(v.clone());
            mount_specs.push(m);
        }
        for m in &opts.mounts {
            let m = options::parse_mount(m)?;
            hc.mounts.push(m.clone());
            mount_specs.push(m);
        }
        for t in &opts.tmpfs {
            let m = options::parse_tmpfs(t)?;
            let mut o = Vec::new();
            if m.tmpfs_size > 0 {
                o.push(format!("size={}", m.tmpfs_size));
            }
            if m.tmpfs_mode > 0 {
                o.push(format!("mode={:o}", m.tmpfs_mode));
            }
            hc.tmpfs.insert(m.target.clone(), o.join(","));
            mount_specs.push(m);
        }
        for m in &mount_specs {
            if m.kind == "bind"
                && !Path::new(&m.source).exists()
                && opts.mounts.iter().any(|s| s.contains(&m.source))
            {
                return Err(Error::Invalid(format!(
                    "invalid mount config for type \"bind\": bind source path does not exist: {}",
                    m.source
                )));
            }
        }
        let stop_signal = match &opts.stop_signal {
            Some(s) => {
                options::parse_signal(s)?;
                Some(s.clone())
            }
            None => None,
        };
        let mut env_list = Vec::new();
        for f in &opts.env_files {
            let text = std::fs::read_to_string(f).ctx("read env file", f)?;
            env_list.extend(options::parse_env_file(&text));
        }
        for e in &opts.env {
            if e.contains('=') {
                env_list.push(e.clone());
            } else if let Ok(v) = std::env::var(e) {
                env_list.push(format!("{e}={v}"));
            }
        }
        let health = self.health_from_options(opts)?;
        if let Some(n) = &opts.name
            && !fsutil::valid_name(n)
        {
            return Err(Error::Invalid(format!(
                "Invalid container name ({n}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed"
            )));
        }
        if let Some(p) = &opts.cidfile
            && p.exists()
        {
            return Err(Error::Invalid(format!(
                "Container ID file found, make sure the other container isn't running or delete {}",
                p.display()
            )));
        }
        if opts.tty && opts.detach && opts.interactive {
            // fine: docker allows -dit
        }

        // 2. the image
        let (image_id, image_cfg, image_ref) = match &opts.rootfs {
            Some(dir) => {
                if !dir.is_dir() {
                    return Err(Error::Invalid(format!(
                        "rootfs {} is not a directory",
                        dir.display()
                    )));
                }
                (String::new(), Value::Null, String::new())
            }
            None => {
                let img = crate::images::resolve(self, &opts.image)?;
                (img.id, img.config, img.reference)
            }
        };
        let icfg = |k: &str| image_cfg.get(k).cloned().unwrap_or(Value::Null);
        let strings = |v: Value| -> Vec<String> {
            v.as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(|s| s.as_str().map(String::from))
                        .collect()
                })
                .unwrap_or_default()
        };
        let mut env = strings(icfg("Env"));
        if env.is_empty() {
            env.push("PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".into());
        }
        for e in env_list {
            let key = e.split('=').next().unwrap_or_default().to_string();
            env.retain(|x| x.split('=').next() != Some(key.as_str()));
            env.push(e);
        }
        let (entrypoint, cmd) = match &opts.entrypoint {
            Some(ep) => (ep.clone(), opts.cmd.clone()),
            None => (
                strings(icfg("Entrypoint")),
                if opts.cmd.is_empty() {
                    strings(icfg("Cmd"))
                } else {
                    opts.cmd.clone()
                },
            ),
        };
        if entrypoint.is_empty() && cmd.is_empty() {
            return Err(Error::Invalid("no command specified".into()));
        }
        let mut exposed: BTreeMap<String, Value> = BTreeMap::new();
        if let Some(m) = icfg("ExposedPorts").as_object() {
            for k in m.keys() {
                exposed.insert(k.clone(), json!({}));
            }
        }
        for e in &opts.expose {
            let p = if e.contains('/') {
                e.clone()
            } else {
                format!("{e}/tcp")
            };
            exposed.insert(p, json!({}));
        }
        for k in hc.port_bindings.keys() {
            exposed.insert(k.clone(), json!({}));
        }
        if hc.publish_all_ports {
            for k in exposed.keys() {
                hc.port_bindings.entry(k.clone()).or_insert_with(|| {
                    vec![PortBinding {
                        host_ip: String::new(),
                        host_port: String::new(),
                    }]
                });
            }
        }
        let mut labels: BTreeMap<String, String> = icfg("Labels")
            .as_object()
            .map(|m| {
                m.iter()
                    .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
                    .collect()
            })
            .unwrap_or_default();
        for l in &opts.labels {
            let (k, v) = l.split_once('=').unwrap_or((l, ""));
            labels.insert(k.into(), v.into());
        }
        let image_volumes: Vec<String> = icfg("Volumes")
            .as_object()
            .map(|m| m.keys().cloned().collect())
            .unwrap_or_default();

        // 3. the name and the record, under the names lock
        let _names = self.containers.lock_names()?;
        let id = fsutil::new_id()?;
        let name = match &opts.name {
            Some(n) => {
                if let Some(other) = self.containers.id_by_name(n)? {
                    return Err(Error::NameConflict {
                        name: n.clone(),
                        id: other,
                    });
                }
                n.clone()
            }
            None => loop {
                let n = fsutil::random_name()?;
                if self.containers.id_by_name(&n)?.is_none() {
                    break n;
                }
            },
        };
        // volumes: named ones are created now (Docker does too); anonymous ones get names
        let mut mounts = Vec::new();
        let mut anonymous = Vec::new();
        let mut created_volumes = Vec::new();
        let vols = crate::volumes::Volumes::open(&self.root)?;
        let mut targets: Vec<String> = mount_specs.iter().map(|m| m.target.clone()).collect();
        for v in &image_volumes {
            if !targets.contains(v) {
                mount_specs.push(MountSpec {
                    kind: "volume".into(),
                    target: v.clone(),
                    ..Default::default()
                });
                targets.push(v.clone());
            }
        }
        let undo = |created: &[String]| {
            for v in created {
                let _ = vols.remove_unchecked(v);
            }
        };
        for m in &mount_specs {
            match m.kind.as_str() {
                "volume" => {
                    let vname = if m.source.is_empty() {
                        let n = hex::encode(fsutil::random_bytes(32)?);
                        anonymous.push(n.clone());
                        n
                    } else {
                        m.source.clone()
                    };
                    if !vols.exists(&vname) {
                        if let Err(e) = vols.create(&vname, &BTreeMap::new()) {
                            undo(&created_volumes);
                            return Err(e);
                        }
                        created_volumes.push(vname.clone());
                    }
                    mounts.push(MountPoint {
                        kind: "volume".into(),
                        name: vname.clone(),
                        source: vols.data_dir(&vname).to_string_lossy().into_owned(),
                        destination: m.target.clone(),
                        driver: "local".into(),
                        mode: if m.no_copy {
                            "nocopy".into()
                        } else {
                            "z".into()
                        },
                        rw: !m.read_only,
                        propagation: String::new(),
                    });
                }
                "bind" => {
                    let src = Path::new(&m.source);
                    if !src.exists() {
                        // -v creates a missing source directory, like Docker
                        if let Err(e) = std::fs::create_dir_all(src) {
                            undo(&created_volumes);
                            return Err(Error::io("create bind source", src, e));
                        }
                    }
                    mounts.push(MountPoint {
                        kind: "bind".into(),
                        source: m.source.clone(),
                        destination: m.target.clone(),
                        mode: if m.read_only {
                            "ro".into()
                        } else {
                            String::new()
                        },
                        rw: !m.read_only,
                        propagation: "rprivate".into(),
                        ..Default::default()
                    });
                }
                _ => {
                    let mut o = Vec::new();
                    if m.tmpfs_size > 0 {
                        o.push(format!("size={}", m.tmpfs_size));
                    }
                    if m.tmpfs_mode > 0 {
                        o.push(format!("mode={:o}", m.tmpfs_mode));
                    }
                    mounts.push(MountPoint {
                        kind: "tmpfs".into(),
                        destination: m.target.clone(),
                        mode: o.join(","),
                        rw: !m.read_only,
                        ..Default::default()
                    });
                }
            }
        }
        let dir = self.containers.dir_of(&id);
        let mut args = entrypoint.clone();
        args.extend(cmd.iter().cloned());
        let rec = ContainerRecord {
            id: id.clone(),
            created: now_rfc3339(),
            path: args.first().cloned().unwrap_or_default(),
            args: args.iter().skip(1).cloned().collect(),
            state: ContainerState {
                status: "created".into(),
                started_at: ZERO_TIME.into(),
                finished_at: ZERO_TIME.into(),
                ..Default::default()
            },
            image: image_id,
            resolv_conf_path: dir.join("resolv.conf").to_string_lossy().into_owned(),
            hostname_path: dir.join("hostname").to_string_lossy().into_owned(),
            hosts_path: dir.join("hosts").to_string_lossy().into_owned(),
            log_path: dir
                .join(format!("{id}-json.log"))
                .to_string_lossy()
                .into_owned(),
            name: format!("/{name}"),
            restart_count: 0,
            driver: "overlay2".into(),
            platform: "linux".into(),
            host_config: HostConfig {
                container_id_file: opts
                    .cidfile
                    .as_ref()
                    .map(|p| p.to_string_lossy().into_owned())
                    .unwrap_or_default(),
                ..hc
            },
            mounts,
            config: ContainerConfig {
                hostname: opts
                    .hostname
                    .clone()
                    .unwrap_or_else(|| fsutil::short_id(&id).to_string()),
                domainname: String::new(),
                user: opts
                    .user
                    .clone()
                    .unwrap_or_else(|| icfg("User").as_str().unwrap_or_default().to_string()),
                attach_stdin: !opts.detach && opts.interactive,
                attach_stdout: !opts.detach,
                attach_stderr: !opts.detach,
                exposed_ports: exposed,
                tty: opts.tty,
                open_stdin: opts.interactive,
                stdin_once: !opts.detach && opts.interactive,
                env,
                cmd,
                healthcheck: health.or_else(|| {
                    serde_json::from_value::<HealthConfig>(icfg("Healthcheck"))
                        .ok()
                        .filter(|h| !h.test.is_empty())
                }),
                image: if opts.rootfs.is_some() {
                    opts.rootfs
                        .as_ref()
                        .map(|p| p.to_string_lossy().into_owned())
                        .unwrap_or_default()
                } else {
                    opts.image.clone()
                },
                volumes: image_volumes
                    .iter()
                    .map(|v| (v.clone(), json!({})))
                    .collect(),
                working_dir: opts
                    .workdir
                    .clone()
                    .unwrap_or_else(|| icfg("WorkingDir").as_str().unwrap_or_default().to_string()),
                entrypoint,
                labels,
                stop_signal: stop_signal.or_else(|| icfg("StopSignal").as_str().map(String::from)),
                stop_timeout: opts.stop_timeout,
            },
            network_settings: NetworkSettings::default(),
            berth: BerthMeta {
                image_ref,
                anonymous_volumes: anonymous,
                interactive: opts.interactive,
                requested_ip: opts.ip.clone(),
                aliases: opts.network_aliases.clone(),
                snapshot: if opts.rootfs.is_some() {
                    String::new()
                } else {
                    id.clone()
                },
                ..Default::default()
            },
        };
        if let Err(e) = std::fs::create_dir_all(dir.join("bundle")) {
            undo(&created_volumes);
            return Err(Error::io("create container directory", &dir, e));
        }
        if let Err(e) = self.containers.save(&rec) {
            undo(&created_volumes);
            let _ = std::fs::remove_dir_all(&dir);
            return Err(e);
        }
        if let Some(rootfs) = &opts.rootfs {
            let abs = rootfs.canonicalize().ctx("resolve rootfs", rootfs)?;
            std::fs::write(dir.join("rootfs-path"), abs.to_string_lossy().as_bytes())
                .ctx("write", &dir)?;
        }
        if let Some(p) = &opts.cidfile
            && let Err(e) = std::fs::write(p, &id)
        {
            let _ = self.remove_files(&id);
            return Err(Error::io("write cidfile", p, e));
        }
        Ok(id)
    }

    fn health_from_options(&self, opts: &RunOptions) -> Result<Option<HealthConfig>> {
        if opts.no_healthcheck {
            return Ok(Some(HealthConfig {
                test: vec!["NONE".into()],
                ..Default::default()
            }));
        }
        let test = match (&opts.health_test, &opts.health_cmd) {
            (Some(t), _) => {
                let ok = match t.first().map(String::as_str) {
                    Some("CMD") => t.len() >= 2,
                    Some("CMD-SHELL") => t.len() == 2,
                    Some("NONE") => t.len() == 1,
                    _ => false,
                };
                if !ok {
                    return Err(Error::Invalid(format!(
                        "invalid healthcheck test {t:?}: want [\"CMD\", prog, args...], \
                         [\"CMD-SHELL\", command] or [\"NONE\"]"
                    )));
                }
                t.clone()
            }
            (None, Some(cmd)) => vec!["CMD-SHELL".into(), cmd.clone()],
            (None, None) => return Ok(None),
        };
        let d = |s: &Option<String>| -> Result<i64> {
            match s {
                Some(s) => options::parse_go_duration(s),
                None => Ok(0),
            }
        };
        Ok(Some(HealthConfig {
            test,
            interval: d(&opts.health_interval)?,
            timeout: d(&opts.health_timeout)?,
            start_period: d(&opts.health_start_period)?,
            retries: opts.health_retries.unwrap_or(0),
        }))
    }

    /// Prepare everything a start needs: rootfs, volumes, `/etc` files, network, spec
    /// (written to the bundle and returned).
    fn prepare(&self, rec: &mut ContainerRecord) -> Result<oci_spec::runtime::Spec> {
        let dir = self.containers.dir_of(&rec.id);
        let bundle = dir.join("bundle");
        let rootfs_link = dir.join("rootfs-path");
        let rootfs = if rootfs_link.exists() {
            PathBuf::from(std::fs::read_to_string(&rootfs_link).ctx("read", &rootfs_link)?)
        } else {
            let target = bundle.join("rootfs");
            crate::images::mount_rootfs(self, rec, &target)?;
            target
        };
        // volumes filled from the image on first use
        let vols = crate::volumes::Volumes::open(&self.root)?;
        for m in &rec.mounts {
            if m.kind == "volume" && m.mode != "nocopy" {
                let content = rootfs.join(m.destination.trim_start_matches('/'));
                vols.fill_from(&m.name, &content)?;
            }
        }
        // networking (namespace, links, ports, hosts files)
        let net = crate::network::setup(self, rec)?;
        let mut extra = Vec::new();
        for m in &rec.mounts {
            let mut o = vec![];
            match m.kind.as_str() {
                "tmpfs" => {
                    o.extend(["nosuid".to_string(), "nodev".to_string()]);
                    if !m.mode.is_empty() {
                        o.extend(m.mode.split(',').map(String::from));
                    }
                    if !m.rw {
                        o.push("ro".into());
                    }
                    extra.push(json!({"destination": m.destination, "type": "tmpfs", "source": "tmpfs", "options": o}));
                }
                _ => {
                    o.push("rbind".into());
                    o.push(if m.rw { "rw".into() } else { "ro".into() });
                    extra.push(json!({"destination": m.destination, "type": "bind", "source": m.source, "options": o}));
                }
            }
        }
        for (file, dest) in [
            (&net.hosts_path, "/etc/hosts"),
            (&net.hostname_path, "/etc/hostname"),
            (&net.resolv_path, "/etc/resolv.conf"),
        ] {
            if !file.is_empty() {
                extra.push(json!({"destination": dest, "type": "bind", "source": file, "options": ["rbind", "rprivate"]}));
            }
        }
        let (uid, gid, groups) = resolve_user(&rootfs, &rec.config.user)?;
        let mut args = rec.config.entrypoint.clone();
        args.extend(rec.config.cmd.iter().cloned());
        let spec = crate::spec::build(
            rec,
            &args,
            extra,
            net.netns.as_deref(),
            &rootfs.to_string_lossy(),
            uid,
            gid,
            &groups,
        )?;
        crate::state::write_json_volatile(&bundle.join("config.json"), &spec)?;
        rec.berth.netns = net.netns.unwrap_or_default();
        rec.network_settings = net.settings;
        Ok(spec)
    }

    /// Start a created or stopped container detached; returns its pid.
    pub fn start(&self, name_or_id: &str) -> Result<i32> {
        Ok(self.start_inner(name_or_id, None)?.pid)
    }

    /// Start and attach the caller's stdio; returns the monitor handle to wait on.
    pub fn start_attached(&self, name_or_id: &str, attach: AttachFds) -> Result<Spawned> {
        self.start_inner(name_or_id, Some(attach))
    }

    fn start_inner(&self, name_or_id: &str, attach: Option<AttachFds>) -> Result<Spawned> {
        let id = self.resolve(name_or_id)?;
        let prepared = {
            let _lock = self.containers.lock(&id)?;
            let rec = self.reconcile_locked(&id)?;
            match rec.state.status.as_str() {
                "running" | "restarting" => {
                    return Err(Error::Conflict(format!(
                        "container {id} is already running"
                    )));
                }
                "paused" => {
                    return Err(Error::Conflict(
                        "cannot start a paused container, try unpause instead".into(),
                    ));
                }
                _ => {}
            }
            let mut rec = rec;
            rec.berth.manually_stopped = false;
            rec.restart_count = 0;
            rec.state.error.clear();
            let spec = match self.prepare(&mut rec) {
                Ok(s) => s,
                Err(e) => {
                    let _ = self.release_record(&rec);
                    // the lock is ours already: save directly
                    rec.state.error = e.to_string();
                    let _ = self.containers.save(&rec);
                    return Err(e);
                }
            };
            self.containers.save(&rec)?;
            (rec, spec)
        };
        // the monitor locks the record itself: no lock held across the fork
        monitor::spawn_with(self, &id, attach, Some(prepared))
    }

    fn reconcile_locked(&self, id: &str) -> Result<ContainerRecord> {
        let rec = self.containers.load(id)?;
        let active = matches!(
            rec.state.status.as_str(),
            "running" | "restarting" | "paused"
        );
        if active
            && rec.berth.monitor_pid != 0
            && !process_alive(rec.berth.monitor_pid, rec.berth.monitor_start)
            && !(rec.state.pid > 0 && process_alive(rec.state.pid, rec.berth.pid_start))
        {
            let mut rec = rec;
            rec.state.status = "exited".into();
            rec.state.running = false;
            rec.state.pid = 0;
            rec.berth.monitor_pid = 0;
            self.containers.save(&rec)?;
            return Ok(rec);
        }
        Ok(rec)
    }

    /// `docker run -d`: create and start; returns the id.
    pub fn run_detached(&self, opts: &RunOptions) -> Result<String> {
        let id = self.create(opts)?;
        if let Err(e) = self.start(&id) {
            let _ = self.remove_files(&id);
            return Err(e);
        }
        Ok(id)
    }

    /// Foreground `docker run`: create, start attached to `attach`, wait for the exit.
    /// `on_start` gets the pid (to forward signals to).
    pub fn run_attached(
        &self,
        opts: &RunOptions,
        attach: AttachFds,
        on_start: impl FnOnce(&str, i32),
    ) -> Result<RunResult> {
        let id = self.create(opts)?;
        let spawned = match self.start_attached(&id, attach) {
            Ok(s) => s,
            Err(e) => {
                let _ = self.remove_files(&id);
                return Err(e);
            }
        };
        on_start(&id, spawned.pid);
        let code = spawned.wait_exit()?;
        Ok(RunResult {
            id,
            exit_code: code,
        })
    }

    /// Mark as stopped by the user and signal; SIGKILL after `timeout`; wait for the exit.
    pub fn stop(&self, name_or_id: &str, timeout: Option<Duration>) -> Result<String> {
        let id = self.resolve(name_or_id)?;
        let rec = self
            .containers
            .update(&id, |r| r.berth.manually_stopped = true)?;
        let rec = self.reconcile(rec)?;
        if rec.state.status == "paused" {
            self.thaw(&id);
        }
        if !rec.state.running && rec.state.status != "restarting" {
            return Ok(id);
        }
        let sig = rec
            .config
            .stop_signal
            .as_deref()
            .map(options::parse_signal)
            .transpose()?
            .unwrap_or(libc::SIGTERM);
        let timeout = timeout.unwrap_or_else(|| {
            Duration::from_secs(rec.config.stop_timeout.unwrap_or(10).max(0) as u64)
        });
        if rec.state.pid > 0 && process_alive(rec.state.pid, rec.berth.pid_start) {
            let _ = signal(rec.state.pid, sig);
        }
        if !self.wait_stopped(&id, timeout)? {
            let rec = self.containers.load(&id)?;
            if rec.state.pid > 0 && process_alive(rec.state.pid, rec.berth.pid_start) {
                let _ = signal(rec.state.pid, libc::SIGKILL);
            }
            if !self.wait_stopped(&id, Duration::from_secs(10))? {
                self.cleanup_orphan(&id)?;
            }
        }
        Ok(id)
    }

    /// Wait until the container is not running and its monitor finished; false on timeout.
    fn wait_stopped(&self, id: &str, timeout: Duration) -> Result<bool> {
        let deadline = Instant::now() + timeout;
        loop {
            let rec = match self.containers.load(id) {
                Ok(r) => r,
                Err(Error::NoSuchContainer(_)) => return Ok(true),
                Err(e) => return Err(e),
            };
            let monitor_alive = rec.berth.monitor_pid != 0
                && process_alive(rec.berth.monitor_pid, rec.berth.monitor_start);
            if !monitor_alive {
                let pid_alive =
                    rec.state.pid > 0 && process_alive(rec.state.pid, rec.berth.pid_start);
                if !pid_alive {
                    if rec.state.running {
                        self.reconcile(rec)?;
                        self.cleanup_orphan(id)?;
                    }
                    return Ok(true);
                }
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Ok(false);
            }
            // block until the process that keeps it going (the monitor, else an
            // unmonitored container) exits, then look at the record again
            if monitor_alive {
                wait_gone(rec.berth.monitor_pid, rec.berth.monitor_start, Some(left));
            } else {
                wait_gone(rec.state.pid, rec.berth.pid_start, Some(left));
            }
        }
    }

    /// A container whose monitor is gone: kill what is left and release it.
    fn cleanup_orphan(&self, id: &str) -> Result<()> {
        let rec = self.containers.load(id)?;
        if rec.state.pid > 0 && process_alive(rec.state.pid, rec.berth.pid_start) {
            let _ = signal(rec.state.pid, libc::SIGKILL);
            wait_gone(
                rec.state.pid,
                rec.berth.pid_start,
                Some(Duration::from_secs(1)),
            );
        }
        // the runtime's side: every process of the container, its cgroup, its state
        if let Ok(c) = container_core::Container::load(id, &self.runtime_root)
            && let Err(e) = c.delete(true)
        {
            tracing::warn!(id, error = %e, "delete orphaned container");
        }
        self.containers.update(id, |r| {
            if r.state.running {
                r.state.exit_code = 137;
                r.state.finished_at = now_rfc3339();
            }
            r.state.status = "exited".into();
            r.state.running = false;
            r.state.restarting = false;
            r.state.paused = false;
            r.state.pid = 0;
            r.berth.monitor_pid = 0;
        })?;
        self.release(id)
    }

    /// Send a signal to the container's process 1.
    pub fn kill(&self, name_or_id: &str, signal: &str) -> Result<String> {
        let sig = options::parse_signal(signal)?;
        let id = self.resolve(name_or_id)?;
        let rec = self.record(&id)?;
        if !rec.state.running {
            return Err(Error::Conflict(format!(
                "Cannot kill container: {name_or_id}: container {id} is not running"
            )));
        }
        self::signal(rec.state.pid, sig)?;
        Ok(id)
    }

    /// Stop then start.
    pub fn restart(&self, name_or_id: &str, timeout: Option<Duration>) -> Result<String> {
        let id = self.stop(name_or_id, timeout)?;
        self.start(&id)?;
        Ok(id)
    }

    /// Freeze every process of the container.
    pub fn pause(&self, name_or_id: &str) -> Result<String> {
        let id = self.resolve(name_or_id)?;
        let rec = self.record(&id)?;
        if !rec.state.running {
            return Err(Error::Conflict(format!("Container {id} is not running")));
        }
        if rec.state.paused {
            return Err(Error::Conflict(format!("Container {id} is already paused")));
        }
        self.core(&id)?
            .pause()
            .map_err(crate::monitor::core_error)?;
        self.containers.update(&id, |r| {
            r.state.paused = true;
            r.state.status = "paused".into();
        })?;
        Ok(id)
    }

    /// Thaw a paused container.
    pub fn unpause(&self, name_or_id: &str) -> Result<String> {
        let id = self.resolve(name_or_id)?;
        let rec = self.record(&id)?;
        if !rec.state.paused {
            return Err(Error::Conflict(format!("Container {id} is not paused")));
        }
        self.core(&id)?
            .resume()
            .map_err(crate::monitor::core_error)?;
        self.containers.update(&id, |r| {
            r.state.paused = false;
            r.state.status = "running".into();
        })?;
        Ok(id)
    }

    /// Remove a container (`-f` kills it first, `-v` removes its anonymous volumes).
    pub fn rm(&self, name_or_id: &str, opts: RmOptions) -> Result<String> {
        let id = self.resolve(name_or_id)?;
        let rec = self.record(&id)?;
        if rec.state.running || rec.state.status == "restarting" || rec.state.paused {
            if !opts.force {
                return Err(Error::Conflict(format!(
                    "You cannot remove a {} container {id}. Stop the container before attempting removal or force remove",
                    if rec.state.paused {
                        "paused"
                    } else {
                        "running"
                    }
                )));
            }
            self.containers.update(&id, |r| {
                r.berth.manually_stopped = true;
                r.host_config.auto_remove = false;
            })?;
            if rec.state.paused {
                self.thaw(&id);
            }
            if rec.state.pid > 0 {
                let _ = signal(rec.state.pid, libc::SIGKILL);
            }
            if !self.wait_stopped(&id, Duration::from_secs(10))? {
                self.cleanup_orphan(&id)?;
            }
        }
        let rec = match self.containers.load(&id) {
            Ok(r) => r,
            Err(Error::NoSuchContainer(_)) => return Ok(id),
            Err(e) => return Err(e),
        };
        self.remove_files(&id)?;
        if opts.volumes {
            let vols = crate::volumes::Volumes::open(&self.root)?;
            for v in &rec.berth.anonymous_volumes {
                let _ = vols.remove_unchecked(v);
            }
        }
        Ok(id)
    }

    /// Rename a container.
    pub fn rename(&self, name_or_id: &str, new_name: &str) -> Result<()> {
        if !fsutil::valid_name(new_name) {
            return Err(Error::Invalid(format!(
                "Invalid container name ({new_name}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed"
            )));
        }
        let _names = self.containers.lock_names()?;
        let id = self.resolve(name_or_id)?;
        if let Some(other) = self.containers.id_by_name(new_name)? {
            return Err(Error::NameConflict {
                name: new_name.into(),
                id: other,
            });
        }
        self.containers
            .update(&id, |r| r.name = format!("/{new_name}"))?;
        Ok(())
    }

    /// Block until the container stops; its exit code.
    pub fn wait(&self, name_or_id: &str) -> Result<i32> {
        let id = self.resolve(name_or_id)?;
        loop {
            let rec = match self.containers.load(&id) {
                Ok(r) => self.reconcile(r)?,
                Err(Error::NoSuchContainer(_)) => return Ok(0),
                Err(e) => return Err(e),
            };
            let monitor_alive = rec.berth.monitor_pid != 0
                && process_alive(rec.berth.monitor_pid, rec.berth.monitor_start);
            if !rec.state.running && rec.state.status != "restarting" && !monitor_alive {
                return Ok(rec.state.exit_code);
            }
            // block on the process that keeps it going; look again at least every second
            // (another process may start it again meanwhile)
            let tick = Some(Duration::from_secs(1));
            if monitor_alive {
                wait_gone(rec.berth.monitor_pid, rec.berth.monitor_start, tick);
            } else if rec.state.pid > 0 && process_alive(rec.state.pid, rec.berth.pid_start) {
                wait_gone(rec.state.pid, rec.berth.pid_start, tick);
            } else {
                // running per the record, no process yet (a start in progress)
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    }

    /// `docker inspect` JSON of a container.
    pub fn inspect(&self, name_or_id: &str) -> Result<Value> {
        Ok(self.record(name_or_id)?.inspect_json())
    }

    /// All containers (`all`: also stopped ones), newest first.
    pub fn ps(&self, all: bool) -> Result<Vec<ContainerRecord>> {
        let mut out = Vec::new();
        for r in self.containers.list()? {
            let r = self.reconcile(r)?;
            if all || matches!(r.state.status.as_str(), "running" | "paused" | "restarting") {
                out.push(r);
            }
        }
        Ok(out)
    }

    /// Print the container's logs.
    pub fn logs(
        &self,
        name_or_id: &str,
        opts: &crate::logs::LogsOptions,
        out: &mut dyn std::io::Write,
        err: &mut dyn std::io::Write,
    ) -> Result<()> {
        let id = self.resolve(name_or_id)?;
        let rec = self.containers.load(&id)?;
        if rec.host_config.log_config.kind == "none" {
            return Err(Error::Invalid(
                "configured logging driver does not support reading".into(),
            ));
        }
        let path = PathBuf::from(&rec.log_path);
        if !path.exists() {
            return Ok(());
        }
        let mut still = || {
            self.containers.load(&id).is_ok_and(|r| {
                r.state.running
                    || r.state.status == "restarting"
                    || (r.berth.monitor_pid != 0
                        && process_alive(r.berth.monitor_pid, r.berth.monitor_start))
            })
        };
        crate::logs::print_logs(&path, opts, out, err, &mut still)
    }

    /// `docker port`: `port/proto` → host bindings made.
    pub fn port(&self, name_or_id: &str) -> Result<BTreeMap<String, Vec<PortBinding>>> {
        let rec = self.record(name_or_id)?;
        Ok(rec
            .network_settings
            .ports
            .into_iter()
            .filter_map(|(k, v)| v.map(|v| (k, v)))
            .collect())
    }

    /// Pids in the container (host view).
    pub fn top(&self, name_or_id: &str) -> Result<Vec<i32>> {
        let rec = self.record(name_or_id)?;
        if !rec.state.running {
            return Err(Error::Conflict(format!(
                "Container {} is not running",
                rec.id
            )));
        }
        let mut pids = self
            .core(&rec.id)?
            .pids()
            .map_err(crate::monitor::core_error)?;
        if pids.is_empty() {
            pids.push(rec.state.pid);
        }
        pids.sort();
        Ok(pids)
    }

    /// `docker exec`: start `args` in the running container (stdio inherited from the
    /// caller); returns the pid of the caller's child to wait on with [`wait_child`].
    pub fn exec(
        &self,
        name_or_id: &str,
        args: &[String],
        env: &[String],
        user: Option<&str>,
        workdir: Option<&str>,
    ) -> Result<i32> {
        let cfg = ExecConfig {
            args: args.to_vec(),
            env: env.to_vec(),
            user: user.map(String::from),
            workdir: workdir.map(String::from),
            tty: false,
        };
        Ok(self.exec_with(name_or_id, &cfg, None)?.pid())
    }

    /// `docker exec` with every option: `stdio` replaces the caller's fds 0/1/2 (ignored
    /// with `tty`, where the process gets a new pty whose master
    /// [`container_core::ExecProcess::take_console`] returns). The process is a child of
    /// the caller, in the container's namespaces and cgroup, with its capabilities,
    /// seccomp profile and `no_new_privs`.
    pub fn exec_with(
        &self,
        name_or_id: &str,
        cfg: &ExecConfig,
        stdio: Option<[std::os::fd::OwnedFd; 3]>,
    ) -> Result<container_core::ExecProcess> {
        let rec = self.record(name_or_id)?;
        if !rec.state.running {
            return Err(Error::Conflict(format!(
                "Container {} is not running",
                rec.id
            )));
        }
        if rec.state.paused {
            return Err(Error::Conflict(format!(
                "Container {} is paused, unpause the container before exec",
                rec.id
            )));
        }
        if cfg.args.is_empty() {
            return Err(Error::Invalid("no command specified".into()));
        }
        let ctr = self.core(&rec.id)?;
        let mut envs = rec.config.env.clone();
        if cfg.tty && !envs.iter().any(|e| e.starts_with("TERM=")) {
            envs.push("TERM=xterm".into());
        }
        for e in &cfg.env {
            let key = e.split('=').next().unwrap_or_default().to_string();
            envs.retain(|x| x.split('=').next() != Some(key.as_str()));
            envs.push(e.clone());
        }
        let root = PathBuf::from(format!("/proc/{}/root", rec.state.pid));
        let user = cfg.user.as_deref().unwrap_or(&rec.config.user);
        let (uid, gid, groups) = resolve_user(&root, user)?;
        let mut process = ctr
            .spec()
            .process()
            .clone()
            .ok_or_else(|| Error::Runtime("container spec has no process".into()))?;
        process.set_args(Some(cfg.args.clone()));
        process.set_env(Some(envs));
        let cwd = cfg
            .workdir
            .clone()
            .unwrap_or_else(|| rec.config.working_dir.clone());
        process.set_cwd(PathBuf::from(if cwd.is_empty() { "/" } else { &cwd }));
        let mut u = process.user().clone();
        u.set_uid(uid);
        u.set_gid(gid);
        u.set_additional_gids(Some(groups));
        process.set_user(u);
        process.set_terminal(Some(cfg.tty));
        process.set_console_size(None);
        let mut opts = container_core::ExecOptions::default();
        if cfg.tty {
            opts = opts.return_console(true);
        } else if let Some([i, o, e]) = stdio {
            opts = opts.stdin(i).stdout(o).stderr(e);
        }
        ctr.exec(&process, opts).map_err(|e| match e {
            container_core::Error::Child(c) => Error::Runtime(format!(
                "OCI runtime exec failed: exec failed: unable to start container process: {c}{}",
                if c.kind == container_core::ChildErrorKind::ExecutableNotFound
                    && !c.to_string().to_lowercase().contains("no such file")
                    && !c.to_string().contains("not found")
                {
                    ": executable file not found in $PATH"
                } else {
                    ""
                }
            )),
            other => crate::monitor::core_error(other),
        })
    }

    /// Set the window size of a container's terminal (`-t`), as a resize of the client's
    /// terminal asks for: through the pty slave its process 1 holds as stdin.
    pub fn resize(&self, name_or_id: &str, rows: u16, cols: u16) -> Result<()> {
        let rec = self.record(name_or_id)?;
        if !rec.state.running || !rec.config.tty {
            return Err(Error::Conflict(format!(
                "Container {} is not running with a terminal",
                rec.id
            )));
        }
        let path = format!("/proc/{}/fd/0", rec.state.pid);
        use std::os::unix::fs::OpenOptionsExt;
        let f = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .custom_flags(libc::O_NOCTTY)
            .open(&path)
            .ctx("open container terminal", Path::new(&path))?;
        let ws = libc::winsize {
            ws_row: rows,
            ws_col: cols,
            ws_xpixel: 0,
            ws_ypixel: 0,
        };
        use std::os::fd::AsRawFd;
        // SAFETY: ioctl with a valid winsize on a terminal fd we hold.
        if unsafe { libc::ioctl(f.as_raw_fd(), libc::TIOCSWINSZ, &ws) } != 0 {
            return Err(Error::last_os("resize container terminal"));
        }
        Ok(())
    }

    /// `State.Health.Status` of a container: `starting`, `healthy`, `unhealthy`, or None
    /// when it has no healthcheck. The container's monitor runs the probes.
    pub fn health(&self, name_or_id: &str) -> Result<Option<String>> {
        Ok(self.record(name_or_id)?.state.health.map(|h| h.status))
    }

    /// Resource usage from the container's cgroup.
    pub fn stats(&self, name_or_id: &str) -> Result<ContainerStats> {
        let rec = self.record(name_or_id)?;
        let st = self
            .core(&rec.id)?
            .stats()
            .map_err(crate::monitor::core_error)?;
        let mem = st.memory.unwrap_or_default();
        Ok(ContainerStats {
            id: rec.id.clone(),
            name: rec.short_name().to_string(),
            memory_usage: mem.usage,
            memory_limit: if mem.limit >= 1 << 62 { 0 } else { mem.limit },
            cpu_ns: st.cpu.map(|c| c.usage_total).unwrap_or(0),
            pids: st.pids.map(|p| p.current).unwrap_or(0),
        })
    }

    /// The runtime's view of a container (its state under the runtime root).
    fn core(&self, id: &str) -> Result<container_core::Container> {
        container_core::Container::load(id, &self.runtime_root).map_err(|e| match e {
            container_core::Error::NotFound { .. } => {
                Error::Conflict(format!("Container {id} is not running"))
            }
            other => crate::monitor::core_error(other),
        })
    }

    /// Thaw a frozen container (before a stop or kill), ignoring errors.
    fn thaw(&self, id: &str) {
        if let Ok(c) = self.core(id) {
            let _ = c.resume();
        }
    }

    /// Undo what `prepare` made (rootfs mount, network); idempotent.
    pub fn release(&self, id: &str) -> Result<()> {
        let rec = self.containers.load(id)?;
        self.release_record(&rec)
    }

    pub(crate) fn release_record(&self, rec: &ContainerRecord) -> Result<()> {
        let net = crate::network::teardown(self, rec);
        let img = self.unmount_rootfs(rec);
        net.and(img)
    }

    /// Unmount the container's rootfs snapshot (every mount stacked there), if mounted.
    /// Asks the kernel directly (EINVAL: not a mount point) instead of reading
    /// `/proc/self/mountinfo`, which grows with every mount on the host (one per running
    /// container).
    fn unmount_rootfs(&self, rec: &ContainerRecord) -> Result<()> {
        if rec.berth.snapshot.is_empty() {
            return Ok(());
        }
        let target = self.containers.dir_of(&rec.id).join("bundle/rootfs");
        let c = std::ffi::CString::new(target.as_os_str().as_encoded_bytes())
            .map_err(|_| Error::Invalid(format!("rootfs path {}", target.display())))?;
        for _ in 0..64 {
            // SAFETY: umount2 of a NUL-terminated path.
            if unsafe { libc::umount2(c.as_ptr(), 0) } == 0 {
                continue;
            }
            let err = std::io::Error::last_os_error();
            match err.raw_os_error() {
                Some(libc::EINVAL) | Some(libc::ENOENT) => return Ok(()),
                // SAFETY: as above; a busy mount goes lazily
                Some(libc::EBUSY)
                    if unsafe { libc::umount2(c.as_ptr(), libc::MNT_DETACH) } == 0 => {}
                _ => return Err(Error::io("unmount rootfs", &target, err)),
            }
        }
        Err(Error::Runtime(format!(
            "rootfs {} still mounted after 64 unmounts",
            target.display()
        )))
    }

    /// Remove a stopped container's state: resources, snapshot, files, cidfile.
    pub fn remove_files(&self, id: &str) -> Result<()> {
        let rec = match self.containers.load(id) {
            Ok(r) => r,
            Err(Error::NoSuchContainer(_)) => return Ok(()),
            Err(e) => return Err(e),
        };
        self.release_record(&rec)?;
        self.remove_released(&rec)
    }

    /// The part of [`remove_files`](Self::remove_files) after the release: snapshot,
    /// network attachments, cidfile, anonymous volumes of a `--rm` container, files.
    pub(crate) fn remove_released(&self, rec: &ContainerRecord) -> Result<()> {
        let id = rec.id.as_str();
        crate::images::remove_snapshot(self, rec)?;
        crate::network::forget(self, rec);
        if !rec.host_config.container_id_file.is_empty() {
            let _ = std::fs::remove_file(&rec.host_config.container_id_file);
        }
        if rec.host_config.auto_remove {
            let vols = crate::volumes::Volumes::open(&self.root)?;
            for v in &rec.berth.anonymous_volumes {
                let _ = vols.remove_unchecked(v);
            }
        }
        let _names = self.containers.lock_names()?;
        self.containers.remove_dir(id)
    }

    /// `system restore`: restart containers whose policy says so and whose monitor is gone
    /// (after a reboot, or after the monitors were killed). Returns the ids started.
    pub fn restore(&self) -> Result<Vec<String>> {
        let mut started = Vec::new();
        for rec in self.containers.list()? {
            let monitor_alive = rec.berth.monitor_pid != 0
                && process_alive(rec.berth.monitor_pid, rec.berth.monitor_start);
            if monitor_alive {
                continue;
            }
            if !crate::restart::restore_on_boot(
                &rec.host_config.restart_policy,
                rec.berth.manually_stopped,
            ) {
                continue;
            }
            if rec.state.status == "created" {
                continue;
            }
            // whatever is left of the old run goes first
            self.cleanup_orphan(&rec.id)?;
            self.start(&rec.id)?;
            started.push(rec.id);
        }
        Ok(started)
    }

    /// Remove every stopped container; returns their ids.
    pub fn prune_containers(&self) -> Result<Vec<String>> {
        let mut out = Vec::new();
        for r in self.ps(true)? {
            if matches!(r.state.status.as_str(), "exited" | "created" | "dead") {
                self.rm(&r.id, RmOptions::default())?;
                out.push(r.id);
            }
        }
        Ok(out)
    }
}

/// Send `sig` to `pid`.
fn signal(pid: i32, sig: i32) -> Result<()> {
    // SAFETY: kill has no memory preconditions.
    if unsafe { libc::kill(pid, sig) } != 0 {
        return Err(Error::last_os("kill container"));
    }
    Ok(())
}

/// Wait for a process started by [`Engine::exec`] (a child of the caller); its exit
/// code, or 128+signal.
pub fn wait_child(pid: i32) -> i32 {
    let mut st = 0;
    // SAFETY: waitpid on our child.
    while unsafe { libc::waitpid(pid, &mut st, 0) } < 0 {
        if std::io::Error::last_os_error().kind() != std::io::ErrorKind::Interrupted {
            return 255;
        }
    }
    if libc::WIFEXITED(st) {
        libc::WEXITSTATUS(st)
    } else {
        128 + libc::WTERMSIG(st)
    }
}

/// What [`Engine::exec_with`] runs.
#[derive(Debug, Clone, Default)]
pub struct ExecConfig {
    /// Program and arguments.
    pub args: Vec<String>,
    /// `KEY=value` added to the container's environment.
    pub env: Vec<String>,
    /// `user[:group]` (default: the container's user).
    pub user: Option<String>,
    /// Working directory (default: the container's).
    pub workdir: Option<String>,
    /// A new pty for the process (`exec -t`).
    pub tty: bool,
}

/// Resolve `user[:group]` against the rootfs's `/etc/passwd` and `/etc/group`.
pub fn resolve_user(rootfs: &Path, user: &str) -> Result<(u32, u32, Vec<u32>)> {
    if user.is_empty() {
        return Ok((0, 0, Vec::new()));
    }
    let (u, g) = match user.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (user, None),
    };
    let passwd = std::fs::read_to_string(rootfs.join("etc/passwd")).unwrap_or_default();
    let group = std::fs::read_to_string(rootfs.join("etc/group")).unwrap_or_default();
    let (uid, mut gid, name) = if let Ok(n) = u.parse::<u32>() {
        let line = passwd.lines().find(|l| l.split(':').nth(2) == Some(u));
        let gid = line
            .and_then(|l| l.split(':').nth(3)?.parse().ok())
            .unwrap_or(0);
        (
            n,
            gid,
            line.and_then(|l| l.split(':').next()).map(String::from),
        )
    } else {
        let line = passwd
            .lines()
            .find(|l| l.split(':').next() == Some(u))
            .ok_or_else(|| {
                Error::Invalid(format!(
                    "unable to find user {u}: no matching entries in passwd file"
                ))
            })?;
        let f: Vec<&str> = line.split(':').collect();
        (
            f.get(2).and_then(|x| x.parse().ok()).unwrap_or(0),
            f.get(3).and_then(|x| x.parse().ok()).unwrap_or(0),
            Some(u.to_string()),
        )
    };
    if let Some(g) = g {
        gid = match g.parse::<u32>() {
            Ok(n) => n,
            Err(_) => group
                .lines()
                .find(|l| l.split(':').next() == Some(g))
                .and_then(|l| l.split(':').nth(2)?.parse().ok())
                .ok_or_else(|| {
                    Error::Invalid(format!(
                        "unable to find group {g}: no matching entries in group file"
                    ))
                })?,
        };
    }
    let mut groups = Vec::new();
    if let Some(name) = name {
        for l in group.lines() {
            let f: Vec<&str> = l.split(':').collect();
            if f.get(3).is_some_and(|m| m.split(',').any(|x| x == name))
                && let Some(g) = f.get(2).and_then(|x| x.parse().ok())
            {
                groups.push(g);
            }
        }
    }
    Ok((uid, gid, groups))
}
