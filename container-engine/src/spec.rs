//! The OCI runtime spec of a container, built from its record (Docker's defaults plus the
//! run options), as JSON written to the bundle's `config.json`.

use crate::model::ContainerRecord;
use serde_json::{Value, json};

/// Docker's default capabilities.
pub const DEFAULT_CAPS: &[&str] = &[
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_FSETID",
    "CAP_FOWNER",
    "CAP_MKNOD",
    "CAP_NET_RAW",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETFCAP",
    "CAP_SETPCAP",
    "CAP_NET_BIND_SERVICE",
    "CAP_SYS_CHROOT",
    "CAP_KILL",
    "CAP_AUDIT_WRITE",
];

/// Docker's default mounts, masked and read-only paths, as a JSON spec.
pub fn default_spec() -> Value {
    json!({
        "ociVersion": "1.0.2",
        "process": {
            "terminal": false,
            "user": {"uid": 0, "gid": 0},
            "args": ["sh"],
            "env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
            "cwd": "/",
            "capabilities": {
                "bounding": DEFAULT_CAPS, "effective": DEFAULT_CAPS, "permitted": DEFAULT_CAPS
            },
            "rlimits": [],
            "noNewPrivileges": false
        },
        "root": {"path": "rootfs", "readonly": false},
        "hostname": "",
        "mounts": [
            {"destination": "/proc", "type": "proc", "source": "proc", "options": ["nosuid", "noexec", "nodev"]},
            {"destination": "/dev", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
            {"destination": "/dev/pts", "type": "devpts", "source": "devpts", "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]},
            {"destination": "/sys", "type": "sysfs", "source": "sysfs", "options": ["nosuid", "noexec", "nodev", "ro"]},
            {"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue", "options": ["nosuid", "noexec", "nodev"]},
            {"destination": "/dev/shm", "type": "tmpfs", "source": "shm", "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]}
        ],
        "linux": {
            "namespaces": [{"type": "pid"}, {"type": "ipc"}, {"type": "uts"}, {"type": "mount"}, {"type": "network"}],
            "maskedPaths": ["/proc/asound", "/proc/acpi", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
                "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/proc/scsi", "/sys/firmware"],
            "readonlyPaths": ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"],
            "resources": {}
        }
    })
}

/// Build the spec of `rec`: `args` already resolved, `extra_mounts` the volume, bind,
/// tmpfs and `/etc` file mounts (OCI JSON objects), `netns` the namespace to join
/// (None: host network).
pub fn build(
    rec: &ContainerRecord,
    args: &[String],
    extra_mounts: Vec<Value>,
    netns: Option<&str>,
    uid: u32,
    gid: u32,
    groups: &[u32],
) -> Value {
    let mut s = default_spec();
    let hc = &rec.host_config;
    let cfg = &rec.config;
    s["process"]["args"] = json!(args);
    s["process"]["env"] = json!(cfg.env);
    s["process"]["cwd"] = json!(if cfg.working_dir.is_empty() {
        "/"
    } else {
        &cfg.working_dir
    });
    s["process"]["terminal"] = json!(false);
    s["process"]["user"] = json!({"uid": uid, "gid": gid, "additionalGids": groups});
    s["hostname"] = json!(cfg.hostname);
    s["root"]["readonly"] = json!(hc.readonly_rootfs);
    let mut caps: Vec<String> = DEFAULT_CAPS.iter().map(|c| c.to_string()).collect();
    let norm = |c: &str| {
        let up = c.to_ascii_uppercase();
        if up.starts_with("CAP_") {
            up
        } else {
            format!("CAP_{up}")
        }
    };
    if hc.cap_drop.iter().any(|c| c.eq_ignore_ascii_case("all")) {
        caps.clear();
    }
    for c in &hc.cap_drop {
        let c = norm(c);
        caps.retain(|x| *x != c);
    }
    for c in &hc.cap_add {
        let c = norm(c);
        if !caps.contains(&c) && c != "CAP_ALL" {
            caps.push(c);
        }
    }
    if hc.privileged {
        s["linux"]["maskedPaths"] = json!([]);
        s["linux"]["readonlyPaths"] = json!([]);
    }
    s["process"]["capabilities"] = json!({"bounding": caps, "effective": caps, "permitted": caps});
    s["process"]["noNewPrivileges"] = json!(
        hc.security_opt
            .iter()
            .any(|o| o == "no-new-privileges" || o == "no-new-privileges:true")
    );
    s["process"]["rlimits"] = json!(
        hc.ulimits
            .iter()
            .map(|u| json!({
                "type": format!("RLIMIT_{}", u.name.to_ascii_uppercase()),
                "soft": u.soft, "hard": u.hard
            }))
            .collect::<Vec<_>>()
    );
    let mut res = serde_json::Map::new();
    let mut mem = serde_json::Map::new();
    if hc.memory > 0 {
        mem.insert("limit".into(), json!(hc.memory));
    }
    if hc.memory_reservation > 0 {
        mem.insert("reservation".into(), json!(hc.memory_reservation));
    }
    if hc.memory_swap != 0 {
        mem.insert("swap".into(), json!(hc.memory_swap));
    }
    if let Some(sw) = hc.memory_swappiness.filter(|s| *s >= 0) {
        mem.insert("swappiness".into(), json!(sw));
    }
    if hc.kernel_memory > 0 {
        mem.insert("kernel".into(), json!(hc.kernel_memory));
    }
    if hc.oom_kill_disable {
        mem.insert("disableOOMKiller".into(), json!(true));
    }
    if !mem.is_empty() {
        res.insert("memory".into(), Value::Object(mem));
    }
    let mut cpu = serde_json::Map::new();
    if hc.nano_cpus > 0 {
        cpu.insert("period".into(), json!(100_000));
        cpu.insert("quota".into(), json!(hc.nano_cpus / 10_000));
    }
    if hc.cpu_shares > 0 {
        cpu.insert("shares".into(), json!(hc.cpu_shares));
    }
    if !hc.cpuset_cpus.is_empty() {
        cpu.insert("cpus".into(), json!(hc.cpuset_cpus));
    }
    if !cpu.is_empty() {
        res.insert("cpu".into(), Value::Object(cpu));
    }
    if let Some(p) = hc.pids_limit.filter(|p| *p > 0) {
        res.insert("pids".into(), json!({"limit": p}));
    }
    s["linux"]["resources"] = Value::Object(res);
    let mut devices = Vec::new();
    for d in &hc.devices {
        devices.push(json!({"path": d.path_in_container, "hostPath": d.path_on_host, "permissions": d.cgroup_permissions}));
    }
    s["linux"]["devices"] = json!(devices);
    let mut ns = vec![
        json!({"type": "pid"}),
        json!({"type": "ipc"}),
        json!({"type": "uts"}),
        json!({"type": "mount"}),
    ];
    match netns {
        Some(p) => ns.push(json!({"type": "network", "path": p})),
        None if hc.network_mode == "host" => {}
        None => ns.push(json!({"type": "network"})),
    }
    s["linux"]["namespaces"] = json!(ns);
    if let Some(m) = s["mounts"].as_array_mut() {
        if hc.network_mode == "host" {
            // sysfs of a foreign netns cannot be mounted; keep the host's view read-only
            for x in m.iter_mut() {
                if x["destination"] == "/sys" {
                    *x = json!({"destination": "/sys", "type": "bind", "source": "/sys", "options": ["rbind", "ro", "nosuid", "noexec", "nodev"]});
                }
            }
        }
        let dests: Vec<String> = extra_mounts
            .iter()
            .filter_map(|e| e["destination"].as_str().map(String::from))
            .collect();
        m.retain(|x| !dests.iter().any(|d| x["destination"] == d.as_str()));
        m.extend(extra_mounts);
    }
    s
}
