//! The OCI runtime spec of a container, built from its record: container-core's Docker
//! defaults ([`container_core::spec::default_spec`]: capabilities, seccomp profile, masked
//! and read-only paths, mounts) adjusted by the run options the way dockerd adjusts them
//! (`--privileged`, `--cap-add/--cap-drop`, `--security-opt`, `--device`, `--ulimit`,
//! resources, `--read-only`, `-t`, users, mounts, network namespace).

use crate::error::{Error, Result};
use crate::model::ContainerRecord;
use oci_spec::runtime::{Capability, Spec};
use serde_json::{Value, json};
use std::collections::HashSet;
use std::str::FromStr;

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

/// Every capability Linux defines (what `--privileged` and `--cap-add ALL` give; the
/// runtime leaves out those the running kernel does not know).
pub const ALL_CAPS: &[&str] = &[
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_DAC_READ_SEARCH",
    "CAP_FOWNER",
    "CAP_FSETID",
    "CAP_KILL",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETPCAP",
    "CAP_LINUX_IMMUTABLE",
    "CAP_NET_BIND_SERVICE",
    "CAP_NET_BROADCAST",
    "CAP_NET_ADMIN",
    "CAP_NET_RAW",
    "CAP_IPC_LOCK",
    "CAP_IPC_OWNER",
    "CAP_SYS_MODULE",
    "CAP_SYS_RAWIO",
    "CAP_SYS_CHROOT",
    "CAP_SYS_PTRACE",
    "CAP_SYS_PACCT",
    "CAP_SYS_ADMIN",
    "CAP_SYS_BOOT",
    "CAP_SYS_NICE",
    "CAP_SYS_RESOURCE",
    "CAP_SYS_TIME",
    "CAP_SYS_TTY_CONFIG",
    "CAP_MKNOD",
    "CAP_LEASE",
    "CAP_AUDIT_WRITE",
    "CAP_AUDIT_CONTROL",
    "CAP_SETFCAP",
    "CAP_MAC_OVERRIDE",
    "CAP_MAC_ADMIN",
    "CAP_SYSLOG",
    "CAP_WAKE_ALARM",
    "CAP_BLOCK_SUSPEND",
    "CAP_AUDIT_READ",
    "CAP_PERFMON",
    "CAP_BPF",
    "CAP_CHECKPOINT_RESTORE",
];

/// "All capabilities" the way dockerd means it: those this process holds in both its
/// bounding and permitted sets (a capability it lacks could not be given anyway; this
/// machine's root, for one, has no `CAP_SYS_RESOURCE`).
fn available_caps() -> Vec<String> {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let mask = |key: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(key))
            .and_then(|v| u64::from_str_radix(v.trim(), 16).ok())
            .unwrap_or(u64::MAX)
    };
    let have = mask("CapBnd:") & mask("CapPrm:");
    ALL_CAPS
        .iter()
        .enumerate()
        .filter(|(bit, _)| have & (1u64 << bit) != 0)
        .map(|(_, c)| c.to_string())
        .collect()
}

/// `chown` → `CAP_CHOWN`; `ALL` stays `ALL`.
fn normalize_cap(c: &str) -> String {
    let up = c.to_ascii_uppercase();
    if up == "ALL" || up.starts_with("CAP_") {
        up
    } else {
        format!("CAP_{up}")
    }
}

/// The capability set of a container: Docker's defaults, `ALL` or not, minus `drop`,
/// plus `add` (dockerd's order: drop first, add wins). Unknown names are an error.
pub fn capabilities(privileged: bool, add: &[String], drop: &[String]) -> Result<Vec<String>> {
    for c in add.iter().chain(drop) {
        let n = normalize_cap(c);
        if n != "ALL" && !ALL_CAPS.contains(&n.as_str()) {
            return Err(Error::Invalid(format!("invalid capability: {c:?}")));
        }
    }
    if privileged {
        return Ok(available_caps());
    }
    let add: Vec<String> = add.iter().map(|c| normalize_cap(c)).collect();
    let drop: Vec<String> = drop.iter().map(|c| normalize_cap(c)).collect();
    let mut caps: Vec<String> = if add.iter().any(|c| c == "ALL") {
        available_caps()
    } else {
        DEFAULT_CAPS.iter().map(|c| c.to_string()).collect()
    };
    if drop.iter().any(|c| c == "ALL") {
        caps.clear();
    }
    caps.retain(|c| !drop.contains(c));
    for c in add {
        if c != "ALL" && !caps.contains(&c) {
            caps.push(c);
        }
    }
    Ok(caps)
}

/// What `--security-opt` asks for.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SecurityOpts {
    /// `seccomp=unconfined`.
    pub seccomp_unconfined: bool,
    /// `seccomp=<profile>`: the profile's JSON text (Docker's CLI sends the content, not
    /// the path, and so does `create`).
    pub seccomp_profile: Option<String>,
    /// `no-new-privileges[=true]`.
    pub no_new_privileges: bool,
    /// `systempaths=unconfined`: no masked or read-only `/proc` paths.
    pub systempaths_unconfined: bool,
}

/// Parse `--security-opt` values (`key=value` or the older `key:value`). `apparmor=` and
/// `label=` are accepted and ignored (no LSM policy is loaded by berth).
pub fn parse_security_opts(opts: &[String]) -> Result<SecurityOpts> {
    let mut out = SecurityOpts::default();
    for o in opts {
        if o == "no-new-privileges" {
            out.no_new_privileges = true;
            continue;
        }
        let (k, v) = o
            .split_once('=')
            .or_else(|| o.split_once(':'))
            .ok_or_else(|| Error::Invalid(format!("Invalid --security-opt: {o:?}")))?;
        match k {
            "seccomp" if v == "unconfined" => out.seccomp_unconfined = true,
            "seccomp" => {
                // content (as stored by create) or a path to read
                let text = if v.trim_start().starts_with('{') {
                    v.to_string()
                } else {
                    std::fs::read_to_string(v).map_err(|e| {
                        Error::Invalid(format!("opening seccomp profile ({v}) failed: {e}"))
                    })?
                };
                container_core::seccomp::from_json(text.as_bytes())
                    .map_err(|e| Error::Invalid(format!("decoding seccomp profile failed: {e}")))?;
                out.seccomp_profile = Some(text);
            }
            "no-new-privileges" => {
                out.no_new_privileges = match v {
                    "true" | "" => true,
                    "false" => false,
                    _ => {
                        return Err(Error::Invalid(format!("invalid --security-opt 2: {o:?}")));
                    }
                }
            }
            "systempaths" if v == "unconfined" => out.systempaths_unconfined = true,
            "apparmor" | "label" => {}
            _ => return Err(Error::Invalid(format!("invalid --security-opt 2: {o:?}"))),
        }
    }
    Ok(out)
}

/// A host device for `--device`: (type letter, major, minor).
pub fn device_numbers(path: &str) -> Result<(char, i64, i64)> {
    use std::os::unix::fs::{FileTypeExt, MetadataExt};
    let m = std::fs::metadata(path).map_err(|e| {
        Error::Invalid(format!(
            "error gathering device information while adding custom device \"{path}\": {e}"
        ))
    })?;
    let kind = if m.file_type().is_char_device() {
        'c'
    } else if m.file_type().is_block_device() {
        'b'
    } else {
        return Err(Error::Invalid(format!(
            "error gathering device information while adding custom device \"{path}\": not a device node"
        )));
    };
    let rdev = m.rdev();
    Ok((kind, libc::major(rdev) as i64, libc::minor(rdev) as i64))
}

/// Host devices `--privileged` gives a container: the character and block devices
/// under `/dev`, in subdirectories too (`/dev/net/tun`, `/dev/snd/*`, `/dev/input/*`),
/// as runc's `HostDevices` walks them: not `pts`, `shm`, `mqueue`, `fd` or hidden
/// directories, no symlinks followed, and not the pty, console or `/dev/null`-like set,
/// which the runtime makes anyway.
fn privileged_devices() -> Vec<(String, char, i64, i64)> {
    fn walk(dir: &std::path::Path, depth: usize, out: &mut Vec<(String, char, i64, i64)>) {
        let Ok(rd) = std::fs::read_dir(dir) else {
            return;
        };
        for e in rd.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            let Ok(ft) = e.file_type() else { continue };
            if ft.is_dir() {
                if depth < 8
                    && !name.starts_with('.')
                    && !matches!(name.as_str(), "pts" | "shm" | "mqueue" | "fd")
                {
                    walk(&e.path(), depth + 1, out);
                }
                continue;
            }
            if depth == 0
                && (matches!(
                    name.as_str(),
                    "null" | "zero" | "full" | "random" | "urandom" | "tty" | "console" | "ptmx"
                ) || name.starts_with("tty"))
            {
                continue;
            }
            if ft.is_symlink() {
                continue;
            }
            let path = e.path().to_string_lossy().into_owned();
            if let Ok((k, maj, min)) = device_numbers(&path) {
                out.push((path, k, maj, min));
            }
        }
    }
    let mut out = Vec::new();
    walk(std::path::Path::new("/dev"), 0, &mut out);
    out.sort();
    out
}

/// Build the spec of `rec`: `args` already resolved, `extra_mounts` the volume, bind,
/// tmpfs and `/etc` file mounts (OCI JSON objects), `netns` the namespace to join
/// (None: a new one, or the host's for `--network host`), `rootfs` the root path.
#[allow(clippy::too_many_arguments)]
pub fn build(
    rec: &ContainerRecord,
    args: &[String],
    extra_mounts: Vec<Value>,
    netns: Option<&str>,
    rootfs: &str,
    uid: u32,
    gid: u32,
    groups: &[u32],
) -> Result<Spec> {
    let hc = &rec.host_config;
    let cfg = &rec.config;
    let sec = parse_security_opts(&hc.security_opt)?;
    let caps = capabilities(hc.privileged, &hc.cap_add, &hc.cap_drop)?;
    let mut s = serde_json::to_value(container_core::spec::default_spec())
        .map_err(|e| Error::Runtime(format!("default spec: {e}")))?;
    s["root"] = json!({"path": rootfs, "readonly": hc.readonly_rootfs});
    s["hostname"] = json!(cfg.hostname);
    let mut env = cfg.env.clone();
    if cfg.tty && !env.iter().any(|e| e.starts_with("TERM=")) {
        env.push("TERM=xterm".into());
    }
    let p = &mut s["process"];
    p["args"] = json!(args);
    p["env"] = json!(env);
    p["cwd"] = json!(if cfg.working_dir.is_empty() {
        "/"
    } else {
        &cfg.working_dir
    });
    p["terminal"] = json!(cfg.tty);
    p["user"] = json!({"uid": uid, "gid": gid, "additionalGids": groups});
    p["capabilities"] = json!({
        "bounding": caps, "effective": caps, "permitted": caps,
        "inheritable": [], "ambient": []
    });
    // Docker: no no_new_privs unless asked; no rlimits but the ones asked for (the
    // container inherits the rest).
    p["noNewPrivileges"] = json!(sec.no_new_privileges);
    p["rlimits"] = json!(
        hc.ulimits
            .iter()
            .map(|u| json!({
                "type": format!("RLIMIT_{}", u.name.to_ascii_uppercase()),
                "soft": u.soft, "hard": u.hard
            }))
            .collect::<Vec<_>>()
    );
    if let Some(o) = p.as_object_mut() {
        o.remove("apparmorProfile");
    }

    let linux = &mut s["linux"];
    linux["cgroupsPath"] = json!(format!("/berth/{}", rec.id));
    if hc.privileged || sec.seccomp_unconfined {
        if let Some(o) = linux.as_object_mut() {
            o.remove("seccomp");
        }
    } else if let Some(text) = &sec.seccomp_profile {
        let prof = container_core::seccomp::from_json(text.as_bytes())
            .map_err(|e| Error::Invalid(format!("decoding seccomp profile failed: {e}")))?;
        linux["seccomp"] = serde_json::to_value(prof)
            .map_err(|e| Error::Runtime(format!("seccomp profile: {e}")))?;
    } else {
        let set: HashSet<Capability> = caps
            .iter()
            .filter_map(|c| Capability::from_str(c).ok())
            .collect();
        linux["seccomp"] = serde_json::to_value(container_core::seccomp::docker_default_for(&set))
            .map_err(|e| Error::Runtime(format!("seccomp profile: {e}")))?;
    }
    if hc.privileged || sec.systempaths_unconfined {
        linux["maskedPaths"] = json!([]);
        linux["readonlyPaths"] = json!([]);
    }

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
    let mut devices = Vec::new();
    let mut rules = Vec::new();
    if hc.privileged {
        rules.push(json!({"allow": true, "access": "rwm"}));
        for (path, kind, major, minor) in privileged_devices() {
            devices.push(json!({"path": path, "type": kind.to_string(), "major": major, "minor": minor, "fileMode": 0o660, "uid": 0, "gid": 0}));
        }
    }
    for d in &hc.devices {
        let (kind, major, minor) = device_numbers(&d.path_on_host)?;
        let perms = if d.cgroup_permissions.is_empty() {
            "rwm"
        } else {
            &d.cgroup_permissions
        };
        devices.retain(|x| x["path"] != json!(d.path_in_container));
        devices.push(json!({"path": d.path_in_container, "type": kind.to_string(), "major": major, "minor": minor, "fileMode": 0o666, "uid": 0, "gid": 0}));
        rules.push(json!({"allow": true, "type": kind.to_string(), "major": major, "minor": minor, "access": perms}));
    }
    if !rules.is_empty() {
        res.insert("devices".into(), json!(rules));
    }
    linux["resources"] = Value::Object(res);
    linux["devices"] = json!(devices);

    let mut ns = vec![
        json!({"type": "pid"}),
        json!({"type": "ipc"}),
        json!({"type": "uts"}),
        json!({"type": "mount"}),
        json!({"type": "cgroup"}),
    ];
    match netns {
        Some(p) => ns.push(json!({"type": "network", "path": p})),
        None if hc.network_mode == "host" => {}
        None => ns.push(json!({"type": "network"})),
    }
    linux["namespaces"] = json!(ns);

    if let Some(m) = s["mounts"].as_array_mut() {
        for x in m.iter_mut() {
            if x["destination"] == "/sys" && (hc.privileged || hc.network_mode == "host") {
                let ro = if hc.privileged { "rw" } else { "ro" };
                if hc.network_mode == "host" {
                    // the host's sysfs view, as Docker gives a host-network container
                    *x = json!({"destination": "/sys", "type": "bind", "source": "/sys",
                        "options": ["rbind", ro, "nosuid", "noexec", "nodev"]});
                } else {
                    x["options"] = json!(["nosuid", "noexec", "nodev", ro]);
                }
            }
            if x["destination"] == "/sys/fs/cgroup" && hc.privileged {
                x["options"] = json!(["nosuid", "noexec", "nodev", "relatime", "rw"]);
            }
        }
        let dests: Vec<String> = extra_mounts
            .iter()
            .filter_map(|e| e["destination"].as_str().map(String::from))
            .collect();
        m.retain(|x| !dests.iter().any(|d| x["destination"] == d.as_str()));
        m.extend(extra_mounts);
    }
    serde_json::from_value(s).map_err(|e| Error::Runtime(format!("runtime spec: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &[&str]) -> Vec<String> {
        s.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn capabilities_follow_dockers_rules() {
        let d = capabilities(false, &[], &[]).unwrap_or_default();
        assert_eq!(d.len(), 14);
        let c = capabilities(false, &v(&["net_admin"]), &v(&["chown"])).unwrap_or_default();
        assert!(c.contains(&"CAP_NET_ADMIN".to_string()));
        assert!(!c.contains(&"CAP_CHOWN".to_string()));
        let c = capabilities(false, &v(&["KILL"]), &v(&["ALL"])).unwrap_or_default();
        assert_eq!(c, v(&["CAP_KILL"]));
        let all = capabilities(true, &[], &[]).unwrap_or_default();
        assert!(all.len() >= 14 && all.len() <= ALL_CAPS.len());
        assert!(capabilities(false, &v(&["NOPE"]), &[]).is_err());
    }

    #[test]
    fn security_opts_parse_and_reject() {
        let o = parse_security_opts(&v(&[
            "seccomp=unconfined",
            "no-new-privileges:true",
            "apparmor=unconfined",
        ]))
        .unwrap_or_default();
        assert!(o.seccomp_unconfined && o.no_new_privileges);
        assert!(parse_security_opts(&v(&["bogus=1"])).is_err());
        assert!(parse_security_opts(&v(&["seccomp=/no/such/profile.json"])).is_err());
        let p = r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["mkdir"],"action":"SCMP_ACT_ERRNO"}]}"#;
        let o = parse_security_opts(&[format!("seccomp={p}")]).unwrap_or_default();
        assert_eq!(o.seccomp_profile.as_deref(), Some(p));
    }
}
