//! `docker run` options: the [`RunOptions`] a caller fills (the CLI from flags, a test
//! harness with the builder methods) and the parsers of Docker's flag value syntaxes.
//! Every value is checked before anything is created, so bad input leaves nothing behind.

use crate::error::{Error, Result};
use crate::model::{DeviceMapping, MountSpec, PortBinding, RestartPolicy, Ulimit};
use std::path::PathBuf;

/// Everything `docker run`/`docker create` accepts, as strings in Docker's syntax.
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// Image reference.
    pub image: String,
    /// Command (after the image).
    pub cmd: Vec<String>,
    /// `--entrypoint` (Some(empty) resets it).
    pub entrypoint: Option<Vec<String>>,
    /// `--name`.
    pub name: Option<String>,
    /// `-d`.
    pub detach: bool,
    /// `-i`.
    pub interactive: bool,
    /// `-t`.
    pub tty: bool,
    /// `--rm`.
    pub rm: bool,
    /// `--rootfs DIR` (podman's flag): run in this directory instead of an image.
    pub rootfs: Option<PathBuf>,
    /// `--cidfile`.
    pub cidfile: Option<PathBuf>,
    /// `-e`.
    pub env: Vec<String>,
    /// `--env-file`.
    pub env_files: Vec<PathBuf>,
    /// `-w`.
    pub workdir: Option<String>,
    /// `-u`.
    pub user: Option<String>,
    /// `-h`.
    pub hostname: Option<String>,
    /// `--label k=v`.
    pub labels: Vec<String>,
    /// `--restart`.
    pub restart: Option<String>,
    /// `-v`.
    pub volumes: Vec<String>,
    /// `--mount`.
    pub mounts: Vec<String>,
    /// `--tmpfs`.
    pub tmpfs: Vec<String>,
    /// `--read-only`.
    pub read_only: bool,
    /// `-p`.
    pub publish: Vec<String>,
    /// `-P`.
    pub publish_all: bool,
    /// `--expose`.
    pub expose: Vec<String>,
    /// `--network`.
    pub network: Option<String>,
    /// `--network-alias`.
    pub network_aliases: Vec<String>,
    /// `--ip`.
    pub ip: Option<String>,
    /// `--add-host`.
    pub add_hosts: Vec<String>,
    /// `--dns`.
    pub dns: Vec<String>,
    /// `-m`.
    pub memory: Option<String>,
    /// `--memory-reservation`.
    pub memory_reservation: Option<String>,
    /// `--memory-swap` (`-1` unlimited).
    pub memory_swap: Option<String>,
    /// `--memory-swappiness`.
    pub memory_swappiness: Option<i64>,
    /// `--kernel-memory`.
    pub kernel_memory: Option<String>,
    /// `--oom-kill-disable`.
    pub oom_kill_disable: bool,
    /// `--cpus`.
    pub cpus: Option<String>,
    /// `--cpuset-cpus`.
    pub cpuset_cpus: Option<String>,
    /// `--cpu-shares`.
    pub cpu_shares: Option<i64>,
    /// `--pids-limit`.
    pub pids_limit: Option<i64>,
    /// `--ulimit`.
    pub ulimits: Vec<String>,
    /// `--device`.
    pub devices: Vec<String>,
    /// `--cap-add`.
    pub cap_add: Vec<String>,
    /// `--cap-drop`.
    pub cap_drop: Vec<String>,
    /// `--security-opt`.
    pub security_opt: Vec<String>,
    /// `--privileged`.
    pub privileged: bool,
    /// `--init`.
    pub init: bool,
    /// `--stop-signal`.
    pub stop_signal: Option<String>,
    /// `--stop-timeout` (seconds).
    pub stop_timeout: Option<i64>,
    /// `--health-cmd`.
    pub health_cmd: Option<String>,
    /// A healthcheck test in the Docker API's form: `["CMD", prog, args…]` (exec form, needs
    /// no shell in the image), `["CMD-SHELL", "command"]` or `["NONE"]`. Takes precedence
    /// over `health_cmd`.
    pub health_test: Option<Vec<String>>,
    /// `--health-interval`.
    pub health_interval: Option<String>,
    /// `--health-timeout`.
    pub health_timeout: Option<String>,
    /// `--health-start-period`.
    pub health_start_period: Option<String>,
    /// `--health-retries`.
    pub health_retries: Option<u32>,
    /// `--no-healthcheck`.
    pub no_healthcheck: bool,
    /// `--log-driver` (json-file, none).
    pub log_driver: Option<String>,
    /// `--log-opt k=v`.
    pub log_opts: Vec<String>,
}

impl RunOptions {
    /// Options for `image` with its default command.
    pub fn image(image: impl Into<String>) -> Self {
        RunOptions {
            image: image.into(),
            ..Default::default()
        }
    }
    /// Set the command.
    pub fn cmd<I: IntoIterator<Item = S>, S: Into<String>>(mut self, cmd: I) -> Self {
        self.cmd = cmd.into_iter().map(Into::into).collect();
        self
    }
    /// Set the name.
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }
    /// Add an environment variable.
    pub fn env(mut self, key: &str, value: &str) -> Self {
        self.env.push(format!("{key}={value}"));
        self
    }
    /// Publish `container_port` on 127.0.0.1:`host_port` (0: any free port).
    pub fn publish(mut self, host_port: u16, container_port: u16) -> Self {
        let host = if host_port == 0 {
            String::new()
        } else {
            host_port.to_string()
        };
        self.publish
            .push(format!("127.0.0.1:{host}:{container_port}"));
        self
    }
    /// Set `--network`.
    pub fn network(mut self, network: impl Into<String>) -> Self {
        self.network = Some(network.into());
        self
    }
    /// Add a `-v`.
    pub fn volume(mut self, spec: impl Into<String>) -> Self {
        self.volumes.push(spec.into());
        self
    }
}

/// Docker's `RAMInBytes`: `512`, `64k`, `32m`, `1g` (binary units, optional `b`).
pub fn parse_bytes(s: &str) -> Result<i64> {
    let t = s.trim().to_ascii_lowercase();
    let t = t.strip_suffix('b').unwrap_or(&t);
    let (num, mult) = match t.chars().last() {
        Some('k') => (&t[..t.len() - 1], 1i64 << 10),
        Some('m') => (&t[..t.len() - 1], 1 << 20),
        Some('g') => (&t[..t.len() - 1], 1 << 30),
        Some('t') => (&t[..t.len() - 1], 1 << 40),
        _ => (t, 1),
    };
    let n: f64 = num
        .parse()
        .ok()
        .filter(|n: &f64| n.is_finite() && *n >= 0.0)
        .ok_or_else(|| Error::Invalid(format!("invalid size: '{s}'")))?;
    Ok((n * mult as f64) as i64)
}

/// `--cpus 0.5` → nano CPUs.
pub fn parse_cpus(s: &str) -> Result<i64> {
    let n: f64 = s
        .parse()
        .ok()
        .filter(|n: &f64| n.is_finite() && *n >= 0.0)
        .ok_or_else(|| Error::Invalid(format!("failed to parse {s} as a rational number")))?;
    Ok((n * 1e9).round() as i64)
}

/// `--ulimit nofile=1024[:2048]`.
pub fn parse_ulimit(s: &str) -> Result<Ulimit> {
    let bad = || Error::Invalid(format!("invalid ulimit argument: {s}"));
    let (name, vals) = s.split_once('=').ok_or_else(bad)?;
    let known = [
        "core",
        "cpu",
        "data",
        "fsize",
        "locks",
        "memlock",
        "msgqueue",
        "nice",
        "nofile",
        "nproc",
        "rss",
        "rtprio",
        "rttime",
        "sigpending",
        "stack",
        "as",
    ];
    if !known.contains(&name) {
        return Err(Error::Invalid(format!("invalid ulimit type: {name}")));
    }
    let (soft, hard) = match vals.split_once(':') {
        Some((a, b)) => (a, b),
        None => (vals, vals),
    };
    let soft: i64 = soft.parse().map_err(|_| bad())?;
    let hard: i64 = hard.parse().map_err(|_| bad())?;
    if soft > hard {
        return Err(Error::Invalid(format!(
            "ulimit soft limit must be less than or equal to hard limit: {soft} > {hard}"
        )));
    }
    Ok(Ulimit {
        name: name.into(),
        soft,
        hard,
    })
}

/// `--restart no|always|unless-stopped|on-failure[:N]`.
pub fn parse_restart(s: &str) -> Result<RestartPolicy> {
    let (name, count) = match s.split_once(':') {
        Some((n, c)) => (n, Some(c)),
        None => (s, None),
    };
    match (name, count) {
        ("no" | "" | "always" | "unless-stopped", None) => Ok(RestartPolicy {
            name: if name.is_empty() {
                "no".into()
            } else {
                name.into()
            },
            maximum_retry_count: 0,
        }),
        ("on-failure", c) => Ok(RestartPolicy {
            name: "on-failure".into(),
            maximum_retry_count: match c {
                Some(c) => c.parse().map_err(|_| {
                    Error::Invalid(format!("maximum retry count must be an integer: {c}"))
                })?,
                None => 0,
            },
        }),
        ("always" | "unless-stopped" | "no", Some(_)) => Err(Error::Invalid(format!(
            "maximum retry count cannot be used with restart policy '{name}'"
        ))),
        _ => Err(Error::Invalid(format!("invalid restart policy '{s}'"))),
    }
}

/// One `-p`: `[ip:][hostPort:]containerPort[/proto]`, ranges allowed. Returns
/// (`port/proto`, binding) pairs.
pub fn parse_publish(s: &str) -> Result<Vec<(String, PortBinding)>> {
    let bad = |why: &str| Error::Invalid(format!("invalid publish spec {s:?}: {why}"));
    let (rest, proto) = match s.rsplit_once('/') {
        Some((r, p)) => (r, p),
        None => (s, "tcp"),
    };
    if !matches!(proto, "tcp" | "udp" | "sctp") {
        return Err(bad("unknown protocol"));
    }
    let parts: Vec<&str> = if rest.starts_with('[') {
        // [v6]:host:ctr
        let close = rest.find(']').ok_or_else(|| bad("unclosed ["))?;
        let mut v = vec![&rest[1..close]];
        v.extend(rest[close + 1..].trim_start_matches(':').split(':'));
        v
    } else {
        rest.split(':').collect()
    };
    let (ip, host, ctr) = match parts.as_slice() {
        [c] => ("", "", *c),
        [h, c] => ("", *h, *c),
        [i, h, c] => (*i, *h, *c),
        _ => return Err(bad("too many colons")),
    };
    if !ip.is_empty() && ip.parse::<std::net::IpAddr>().is_err() {
        return Err(bad("invalid IP address"));
    }
    let range = |r: &str| -> Result<(u16, u16)> {
        let (a, b) = r.split_once('-').unwrap_or((r, r));
        let a: u16 = a.parse().map_err(|_| bad("invalid port"))?;
        let b: u16 = b.parse().map_err(|_| bad("invalid port"))?;
        if a == 0 || b < a {
            return Err(bad("invalid port range"));
        }
        Ok((a, b))
    };
    let (c0, c1) = range(ctr)?;
    let hosts = if host.is_empty() {
        None
    } else {
        Some(range(host)?)
    };
    if let Some((h0, h1)) = hosts
        && h1 - h0 != c1 - c0
        && h0 != h1
    {
        return Err(bad("port ranges differ in size"));
    }
    let mut out = Vec::new();
    for (i, c) in (c0..=c1).enumerate() {
        let hp = match hosts {
            None => String::new(),
            Some((h0, h1)) if h0 == h1 => h0.to_string(),
            Some((h0, _)) => (h0 + i as u16).to_string(),
        };
        out.push((
            format!("{c}/{proto}"),
            PortBinding {
                host_ip: ip.to_string(),
                host_port: hp,
            },
        ));
    }
    Ok(out)
}

/// One `-v`: `name:/dst[:opts]`, `/host:/dst[:opts]` or `/dst` (anonymous volume).
pub fn parse_volume(s: &str) -> Result<MountSpec> {
    let parts: Vec<&str> = s.split(':').collect();
    let (src, dst, opts) = match parts.as_slice() {
        [d] => ("", *d, ""),
        [a, b] => (*a, *b, ""),
        [a, b, o] => (*a, *b, *o),
        _ => {
            return Err(Error::Invalid(format!(
                "invalid volume specification: '{s}'"
            )));
        }
    };
    if !dst.starts_with('/') {
        return Err(Error::Invalid(format!(
            "invalid volume specification: '{s}': invalid mount config for type \"volume\": invalid mount path: '{dst}' mount path must be absolute"
        )));
    }
    let mut read_only = false;
    let mut no_copy = false;
    for o in opts.split(',').filter(|o| !o.is_empty()) {
        match o {
            "ro" => read_only = true,
            "rw" => read_only = false,
            "nocopy" => no_copy = true,
            "z" | "Z" | "private" | "rprivate" | "shared" | "rshared" | "slave" | "rslave"
            | "delegated" | "cached" | "consistent" => {}
            _ => {
                return Err(Error::Invalid(format!(
                    "invalid mode: {o} in volume specification '{s}'"
                )));
            }
        }
    }
    let kind = if src.starts_with('/') || src.starts_with('.') {
        "bind"
    } else {
        if !src.is_empty() && !crate::fsutil::valid_name(src) {
            return Err(Error::Invalid(format!(
                "\"{src}\" includes invalid characters for a local volume name, only \"[a-zA-Z0-9][a-zA-Z0-9_.-]\" are allowed"
            )));
        }
        "volume"
    };
    Ok(MountSpec {
        kind: kind.into(),
        source: src.into(),
        target: dst.into(),
        read_only,
        no_copy,
        ..Default::default()
    })
}

/// One `--mount type=…,source=…,target=…[,readonly][,tmpfs-size=…][,tmpfs-mode=…]`.
pub fn parse_mount(s: &str) -> Result<MountSpec> {
    let mut m = MountSpec {
        kind: "volume".into(),
        ..Default::default()
    };
    for field in s.split(',') {
        let (k, v) = match field.split_once('=') {
            Some((k, v)) => (k.trim(), Some(v.trim())),
            None => (field.trim(), None),
        };
        let bool_val = |v: Option<&str>| -> Result<bool> {
            match v {
                None | Some("1") | Some("true") => Ok(true),
                Some("0") | Some("false") => Ok(false),
                Some(x) => Err(Error::Invalid(format!("invalid value for {k}: {x}"))),
            }
        };
        let val = || {
            v.ok_or_else(|| {
                Error::Invalid(format!("invalid field '{field}' must be a key=value pair"))
            })
        };
        match k {
            "type" => m.kind = val()?.into(),
            "source" | "src" => m.source = val()?.into(),
            "target" | "destination" | "dst" => m.target = val()?.into(),
            "readonly" | "ro" => m.read_only = bool_val(v)?,
            "volume-nocopy" => m.no_copy = bool_val(v)?,
            "tmpfs-size" => m.tmpfs_size = parse_bytes(val()?)?,
            "tmpfs-mode" => {
                m.tmpfs_mode = u32::from_str_radix(val()?, 8)
                    .map_err(|_| Error::Invalid(format!("invalid tmpfs-mode {field}")))?
            }
            "bind-propagation" | "consistency" | "volume-driver" | "volume-label" => {}
            "" => {}
            _ => return Err(Error::Invalid(format!("unexpected key '{k}' in '{field}'"))),
        }
    }
    if !matches!(m.kind.as_str(), "bind" | "volume" | "tmpfs") {
        return Err(Error::Invalid(format!("invalid mount type {:?}", m.kind)));
    }
    if !m.target.starts_with('/') {
        return Err(Error::Invalid(format!(
            "invalid mount config: target {:?} must be absolute",
            m.target
        )));
    }
    if m.kind == "bind" && !m.source.starts_with('/') {
        return Err(Error::Invalid(format!(
            "invalid mount config for type \"bind\": invalid mount path: '{}' mount path must be absolute",
            m.source
        )));
    }
    if m.kind == "tmpfs" && !m.source.is_empty() {
        return Err(Error::Invalid(
            "invalid mount config for type \"tmpfs\": source must be empty".into(),
        ));
    }
    Ok(m)
}

/// One `--tmpfs /path[:size=64m,mode=1777,…]`.
pub fn parse_tmpfs(s: &str) -> Result<MountSpec> {
    let (dst, opts) = s.split_once(':').unwrap_or((s, ""));
    if !dst.starts_with('/') {
        return Err(Error::Invalid(format!("invalid tmpfs mount path {dst:?}")));
    }
    let mut m = MountSpec {
        kind: "tmpfs".into(),
        target: dst.into(),
        ..Default::default()
    };
    for o in opts.split(',').filter(|o| !o.is_empty()) {
        match o.split_once('=') {
            Some(("size", v)) => m.tmpfs_size = parse_bytes(v)?,
            Some(("mode", v)) => {
                m.tmpfs_mode = u32::from_str_radix(v, 8)
                    .map_err(|_| Error::Invalid(format!("invalid tmpfs mode {v}")))?
            }
            None if o == "ro" => m.read_only = true,
            _ => {}
        }
    }
    Ok(m)
}

/// One `--device /dev/x[:/dev/y[:rwm]]`.
pub fn parse_device(s: &str) -> Result<DeviceMapping> {
    let parts: Vec<&str> = s.split(':').collect();
    let (host, ctr, perms) = match parts.as_slice() {
        [h] => (*h, *h, "rwm"),
        [h, c] if c.chars().all(|c| "rwm".contains(c)) && !c.starts_with('/') => (*h, *h, *c),
        [h, c] => (*h, *c, "rwm"),
        [h, c, p] => (*h, *c, *p),
        _ => return Err(Error::Invalid(format!("invalid device specification: {s}"))),
    };
    if !host.starts_with('/') || !ctr.starts_with('/') || !perms.chars().all(|c| "rwm".contains(c))
    {
        return Err(Error::Invalid(format!("invalid device specification: {s}")));
    }
    Ok(DeviceMapping {
        path_on_host: host.into(),
        path_in_container: ctr.into(),
        cgroup_permissions: perms.into(),
    })
}

/// `--env-file`: `KEY=value` lines, `#` comments, a bare `KEY` takes the caller's value.
pub fn parse_env_file(text: &str) -> Vec<String> {
    text.lines()
        .map(str::trim_start)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .filter_map(|l| {
            if l.contains('=') {
                Some(l.to_string())
            } else {
                std::env::var(l).ok().map(|v| format!("{l}={v}"))
            }
        })
        .collect()
}

/// Go duration syntax (`30s`, `1m30s`, `500ms`) to nanoseconds.
pub fn parse_go_duration(s: &str) -> Result<i64> {
    humantime::parse_duration(s)
        .map(|d| d.as_nanos() as i64)
        .map_err(|_| Error::Invalid(format!("invalid duration {s:?}")))
}

/// A signal by name (`SIGTERM`, `TERM`, `term`) or number.
pub fn parse_signal(s: &str) -> Result<i32> {
    if let Ok(n) = s.parse::<i32>() {
        if (1..=64).contains(&n) {
            return Ok(n);
        }
        return Err(Error::Invalid(format!("invalid signal: {s}")));
    }
    let up = s.to_ascii_uppercase();
    let name = up.strip_prefix("SIG").unwrap_or(&up);
    let n = match name {
        "HUP" => libc::SIGHUP,
        "INT" => libc::SIGINT,
        "QUIT" => libc::SIGQUIT,
        "ILL" => libc::SIGILL,
        "TRAP" => libc::SIGTRAP,
        "ABRT" | "IOT" => libc::SIGABRT,
        "BUS" => libc::SIGBUS,
        "FPE" => libc::SIGFPE,
        "KILL" => libc::SIGKILL,
        "USR1" => libc::SIGUSR1,
        "SEGV" => libc::SIGSEGV,
        "USR2" => libc::SIGUSR2,
        "PIPE" => libc::SIGPIPE,
        "ALRM" => libc::SIGALRM,
        "TERM" => libc::SIGTERM,
        "STKFLT" => libc::SIGSTKFLT,
        "CHLD" => libc::SIGCHLD,
        "CONT" => libc::SIGCONT,
        "STOP" => libc::SIGSTOP,
        "TSTP" => libc::SIGTSTP,
        "TTIN" => libc::SIGTTIN,
        "TTOU" => libc::SIGTTOU,
        "URG" => libc::SIGURG,
        "XCPU" => libc::SIGXCPU,
        "XFSZ" => libc::SIGXFSZ,
        "VTALRM" => libc::SIGVTALRM,
        "PROF" => libc::SIGPROF,
        "WINCH" => libc::SIGWINCH,
        "IO" | "POLL" => libc::SIGIO,
        "PWR" => libc::SIGPWR,
        "SYS" => libc::SIGSYS,
        _ => return Err(Error::Invalid(format!("invalid signal: {s}"))),
    };
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn sizes_and_cpus() {
        assert_eq!(parse_bytes("32m").expect("m"), 32 << 20);
        assert_eq!(parse_bytes("1g").expect("g"), 1 << 30);
        assert_eq!(parse_bytes("512").expect("b"), 512);
        assert_eq!(parse_bytes("64kb").expect("kb"), 64 << 10);
        assert!(parse_bytes("lots").is_err());
        assert_eq!(parse_cpus("0.5").expect("c"), 500_000_000);
        assert!(parse_cpus("-1").is_err());
    }

    #[test]
    fn ports() {
        let p = parse_publish("127.0.0.1:8080:80").expect("p");
        assert_eq!(p[0].0, "80/tcp");
        assert_eq!(p[0].1.host_ip, "127.0.0.1");
        assert_eq!(p[0].1.host_port, "8080");
        let p = parse_publish("8000-8001:80-81/udp").expect("p");
        assert_eq!(p.len(), 2);
        assert_eq!(p[1].0, "81/udp");
        assert_eq!(p[1].1.host_port, "8001");
        assert_eq!(parse_publish("80").expect("p")[0].1.host_port, "");
        assert!(parse_publish("x:80").is_err());
        assert!(parse_publish("80/xyz").is_err());
        assert!(parse_publish("1.2.3:80:80").is_err());
    }

    #[test]
    fn volumes_and_mounts() {
        let v = parse_volume("data:/var/data:ro").expect("v");
        assert_eq!((v.kind.as_str(), v.read_only), ("volume", true));
        assert_eq!(parse_volume("/h:/c").expect("v").kind, "bind");
        assert_eq!(parse_volume("/c").expect("v").source, "");
        assert!(parse_volume("data:rel").is_err());
        assert!(parse_volume("da ta:/x").is_err());
        let m = parse_mount("type=tmpfs,target=/t,tmpfs-size=1m,tmpfs-mode=700").expect("m");
        assert_eq!((m.tmpfs_size, m.tmpfs_mode), (1 << 20, 0o700));
        assert!(parse_mount("type=bind,source=rel,target=/x").is_err());
        assert!(parse_mount("type=nfs,target=/x").is_err());
        let t = parse_tmpfs("/run:size=64m,mode=1777").expect("t");
        assert_eq!((t.tmpfs_size, t.tmpfs_mode), (64 << 20, 0o1777));
    }

    #[test]
    fn misc() {
        assert_eq!(
            parse_restart("on-failure:2")
                .expect("r")
                .maximum_retry_count,
            2
        );
        assert_eq!(parse_restart("always").expect("r").name, "always");
        assert!(parse_restart("always:3").is_err());
        assert!(parse_restart("sometimes").is_err());
        assert_eq!(parse_ulimit("nofile=10:20").expect("u").hard, 20);
        assert!(parse_ulimit("nofile=30:20").is_err());
        assert!(parse_ulimit("bogus=1").is_err());
        assert_eq!(parse_signal("SIGTERM").expect("s"), libc::SIGTERM);
        assert_eq!(parse_signal("kill").expect("s"), libc::SIGKILL);
        assert!(parse_signal("SIGNOPE").is_err());
        assert_eq!(
            parse_device("/dev/fuse").expect("d").cgroup_permissions,
            "rwm"
        );
        assert_eq!(parse_env_file("# c\nA=1\n\nB=x y\n"), vec!["A=1", "B=x y"]);
    }

    proptest! {
        #[test]
        fn publish_roundtrip(ip in proptest::option::of(Just("127.0.0.1")), h in 1u16..65535, c in 1u16..65535) {
            let s = match ip { Some(ip) => format!("{ip}:{h}:{c}"), None => format!("{h}:{c}") };
            let p = parse_publish(&s).expect("parse");
            prop_assert_eq!(p.len(), 1);
            prop_assert_eq!(&p[0].0, &format!("{c}/tcp"));
            prop_assert_eq!(&p[0].1.host_port, &h.to_string());
        }

        #[test]
        fn bytes_never_panic(s in ".{0,12}") {
            let _ = parse_bytes(&s);
            let _ = parse_publish(&s);
            let _ = parse_volume(&s);
            let _ = parse_mount(&s);
            let _ = parse_ulimit(&s);
            let _ = parse_restart(&s);
        }
    }
}
