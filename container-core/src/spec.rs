//! The OCI runtime spec: Docker's defaults, loading a bundle, validation.
//!
//! [`default_spec`] is what `docker run` would hand its runtime for a container with no
//! options: Docker's 14 default capabilities, its masked and read-only paths, its default
//! seccomp profile, the standard mounts and namespaces; plus `noNewPrivileges` and a
//! `nofile` limit of 1024 as `runc spec` writes. [`validate`] checks everything that can
//! be checked before any side effect, so a bad spec fails with the field it is about.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use oci_spec::runtime::{LinuxNamespaceType, Spec};

use crate::error::{Error, Result};

/// The OCI runtime spec version this runtime implements.
pub const OCI_VERSION: &str = "1.0.2";

const DEFAULT_SPEC_JSON: &str = r#"{
  "ociVersion": "1.0.2",
  "process": {
    "terminal": false,
    "user": {"uid": 0, "gid": 0},
    "args": ["sh"],
    "env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "TERM=xterm"],
    "cwd": "/",
    "rlimits": [{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024}],
    "noNewPrivileges": true
  },
  "root": {"path": "rootfs", "readonly": false},
  "hostname": "berth",
  "mounts": [
    {"destination": "/proc", "type": "proc", "source": "proc", "options": ["nosuid", "noexec", "nodev"]},
    {"destination": "/dev", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
    {"destination": "/dev/pts", "type": "devpts", "source": "devpts", "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]},
    {"destination": "/dev/shm", "type": "tmpfs", "source": "shm", "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]},
    {"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue", "options": ["nosuid", "noexec", "nodev"]},
    {"destination": "/sys", "type": "sysfs", "source": "sysfs", "options": ["nosuid", "noexec", "nodev", "ro"]},
    {"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup", "options": ["nosuid", "noexec", "nodev", "relatime", "ro"]}
  ],
  "linux": {
    "namespaces": [{"type": "pid"}, {"type": "network"}, {"type": "ipc"}, {"type": "uts"}, {"type": "mount"}, {"type": "cgroup"}],
    "maskedPaths": ["/proc/asound", "/proc/acpi", "/proc/kcore", "/proc/keys", "/proc/latency_stats", "/proc/timer_list",
                    "/proc/timer_stats", "/proc/sched_debug", "/proc/scsi", "/sys/firmware", "/sys/devices/virtual/powercap"],
    "readonlyPaths": ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"]
  }
}"#;

/// Docker's defaults as an OCI spec (see the module docs). `root.path` is `rootfs`,
/// `process.args` is `["sh"]`.
pub fn default_spec() -> Spec {
    #[allow(clippy::expect_used)]
    let mut spec: Spec =
        serde_json::from_str(DEFAULT_SPEC_JSON).expect("the built-in default spec parses");
    if let Some(process) = spec.process_mut() {
        process.set_capabilities(Some(crate::caps::docker_default_linux_capabilities()));
    }
    if let Some(linux) = spec.linux_mut() {
        linux.set_seccomp(Some(crate::seccomp::docker_default()));
    }
    spec
}

/// Read `bundle/config.json`.
pub fn load_bundle(bundle: &Path) -> Result<Spec> {
    let path = bundle.join("config.json");
    let data = std::fs::read(&path).map_err(|e| Error::io("read", &path, e))?;
    parse(&data).map_err(|e| match e {
        Error::Spec { field, reason } => {
            Error::spec(format!("{}: {field}", path.display()), reason)
        }
        other => other,
    })
}

/// Parse a `config.json` document.
pub fn parse(data: &[u8]) -> Result<Spec> {
    serde_json::from_slice(data).map_err(|e| Error::spec("config.json", e.to_string()))
}

/// The absolute rootfs path of `spec` in `bundle`.
pub fn rootfs_path(spec: &Spec, bundle: &Path) -> Result<PathBuf> {
    let root = spec
        .root()
        .as_ref()
        .ok_or_else(|| Error::spec("root", "missing"))?;
    let path = root.path();
    if path.as_os_str().is_empty() {
        return Err(Error::spec("root.path", "empty"));
    }
    Ok(if path.is_absolute() {
        path.clone()
    } else {
        bundle.join(path)
    })
}

/// Check a spec before anything is created. `bundle` is where a relative `root.path` is.
pub fn validate(spec: &Spec, bundle: &Path) -> Result<()> {
    validate_static(spec)?;
    let rootfs = rootfs_path(spec, bundle)?;
    match std::fs::metadata(&rootfs) {
        Ok(m) if m.is_dir() => {}
        Ok(_) => {
            return Err(Error::spec(
                "root.path",
                format!("{} is not a directory", rootfs.display()),
            ));
        }
        Err(e) => return Err(Error::io("rootfs", rootfs, e)),
    }
    Ok(())
}

/// The checks of [`validate`] that need no file system (used by the fuzz target).
pub fn validate_static(spec: &Spec) -> Result<()> {
    let process = spec
        .process()
        .as_ref()
        .ok_or_else(|| Error::spec("process", "missing"))?;
    let args = process.args().as_deref().unwrap_or_default();
    if args.is_empty() || args[0].is_empty() {
        return Err(Error::spec("process.args", "must name a program"));
    }
    check_strings("process.args", args)?;
    if let Some(env) = process.env() {
        check_strings("process.env", env)?;
        for (i, e) in env.iter().enumerate() {
            if !e.contains('=') {
                return Err(Error::spec(
                    format!("process.env[{i}]"),
                    format!("{e:?} is not NAME=VALUE"),
                ));
            }
        }
    }
    if !process.cwd().is_absolute() {
        return Err(Error::spec(
            "process.cwd",
            format!("{} is not absolute", process.cwd().display()),
        ));
    }
    if let Some(rlimits) = process.rlimits() {
        for (i, r) in rlimits.iter().enumerate() {
            if r.soft() > r.hard() {
                return Err(Error::spec(
                    format!("process.rlimits[{i}]"),
                    format!("soft {} is above hard {}", r.soft(), r.hard()),
                ));
            }
        }
    }
    let linux = spec
        .linux()
        .as_ref()
        .ok_or_else(|| Error::spec("linux", "missing"))?;
    let mut seen = HashSet::new();
    let mut has_mount = false;
    for (i, ns) in linux.namespaces().iter().flatten().enumerate() {
        if !seen.insert(ns.typ()) {
            return Err(Error::spec(
                format!("linux.namespaces[{i}]"),
                format!("namespace {} listed twice", ns.typ()),
            ));
        }
        if ns.typ() == LinuxNamespaceType::Mount {
            has_mount = true;
        }
        if let Some(p) = ns.path()
            && !p.is_absolute()
        {
            return Err(Error::spec(
                format!("linux.namespaces[{i}].path"),
                format!("{} is not absolute", p.display()),
            ));
        }
    }
    if !has_mount {
        return Err(Error::spec(
            "linux.namespaces",
            "a mount namespace is required",
        ));
    }
    let has_userns = seen.contains(&LinuxNamespaceType::User);
    if !has_userns && (linux.uid_mappings().is_some() || linux.gid_mappings().is_some()) {
        let non_empty = linux.uid_mappings().as_ref().is_some_and(|m| !m.is_empty())
            || linux.gid_mappings().as_ref().is_some_and(|m| !m.is_empty());
        if non_empty {
            return Err(Error::spec(
                "linux.uidMappings",
                "id mappings need a user namespace",
            ));
        }
    }
    for (i, m) in spec.mounts().iter().flatten().enumerate() {
        if !m.destination().is_absolute() {
            return Err(Error::spec(
                format!("mounts[{i}].destination"),
                format!("{} is not absolute", m.destination().display()),
            ));
        }
        crate::mounts::MountSpec::from_oci(m).map_err(|reason| {
            Error::spec(
                format!("mounts[{i}] ({})", m.destination().display()),
                reason,
            )
        })?;
    }
    for (i, d) in linux.devices().iter().flatten().enumerate() {
        if !d.path().starts_with("/dev/") {
            return Err(Error::spec(
                format!("linux.devices[{i}].path"),
                format!("{} is not under /dev", d.path().display()),
            ));
        }
    }
    for (key, _) in linux.sysctl().iter().flatten() {
        if key.is_empty() || key.contains("..") || key.starts_with('/') || key.starts_with('.') {
            return Err(Error::spec("linux.sysctl", format!("bad key {key:?}")));
        }
    }
    if let Some(res) = linux.resources() {
        if let Some(mem) = res.memory() {
            for (name, v) in [
                ("limit", mem.limit()),
                ("reservation", mem.reservation()),
                ("swap", mem.swap()),
            ] {
                if let Some(v) = v
                    && v < -1
                {
                    return Err(Error::spec(
                        format!("linux.resources.memory.{name}"),
                        format!("invalid value {v}"),
                    ));
                }
            }
            if let Some(s) = mem.swappiness()
                && s > 100
            {
                return Err(Error::spec(
                    "linux.resources.memory.swappiness",
                    format!("{s} is above 100"),
                ));
            }
        }
        if let Some(cpu) = res.cpu() {
            if let Some(q) = cpu.quota()
                && q < -1
            {
                return Err(Error::spec(
                    "linux.resources.cpu.quota",
                    format!("invalid value {q}"),
                ));
            }
            for (name, v) in [("cpus", cpu.cpus()), ("mems", cpu.mems())] {
                if let Some(list) = v
                    && !list.is_empty()
                    && !valid_cpu_list(list)
                {
                    return Err(Error::spec(
                        format!("linux.resources.cpu.{name}"),
                        format!("invalid list {list:?}"),
                    ));
                }
            }
        }
    }
    Ok(())
}

fn check_strings(field: &str, values: &[String]) -> Result<()> {
    for (i, v) in values.iter().enumerate() {
        if v.contains('\0') {
            return Err(Error::spec(format!("{field}[{i}]"), "contains a NUL byte"));
        }
    }
    Ok(())
}

/// `0-3,5` style lists (cpuset).
fn valid_cpu_list(list: &str) -> bool {
    list.split(',').all(|part| {
        let mut it = part.splitn(2, '-');
        let a = it.next().map(|s| s.trim().parse::<u32>());
        let b = it.next().map(|s| s.trim().parse::<u32>());
        match (a, b) {
            (Some(Ok(_)), None) => true,
            (Some(Ok(x)), Some(Ok(y))) => x <= y,
            _ => false,
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_spec_is_valid_and_has_docker_defaults() {
        let spec = default_spec();
        validate_static(&spec).expect("valid");
        let linux = spec.linux().as_ref().expect("linux");
        assert!(linux.seccomp().is_some());
        assert!(
            linux
                .masked_paths()
                .as_ref()
                .expect("masked")
                .contains(&"/proc/kcore".to_string())
        );
        let caps = spec
            .process()
            .as_ref()
            .and_then(|p| p.capabilities().as_ref())
            .and_then(|c| c.bounding().as_ref())
            .expect("caps");
        assert_eq!(caps.len(), 14);
    }

    #[test]
    fn bad_specs_name_the_field() {
        let mut spec = default_spec();
        spec.process_mut()
            .as_mut()
            .expect("process")
            .set_args(Some(vec![]));
        let err = validate_static(&spec).expect_err("empty args");
        assert!(err.to_string().contains("process.args"), "{err}");

        let json = DEFAULT_SPEC_JSON.replace("\"type\": \"uts\"", "\"type\": \"bogus\"");
        let err = parse(json.as_bytes()).expect_err("unknown namespace");
        assert!(err.to_string().contains("config.json"), "{err}");
    }

    #[test]
    fn cpu_lists() {
        assert!(valid_cpu_list("0-3,5"));
        assert!(!valid_cpu_list("3-1"));
        assert!(!valid_cpu_list("a"));
    }

    proptest::proptest! {
        #[test]
        fn spec_round_trips(host in "[a-z]{1,12}", arg in "[a-z/]{1,20}") {
            let mut spec = default_spec();
            spec.set_hostname(Some(host));
            spec.process_mut().as_mut().expect("process").set_args(Some(vec![arg]));
            let json = serde_json::to_vec(&spec).expect("serialize");
            let back = parse(&json).expect("parse");
            proptest::prop_assert_eq!(back, spec);
        }
    }
}
