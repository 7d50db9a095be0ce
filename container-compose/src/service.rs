//! Stage 6, validate: a merged service node to a typed [`Service`] in long form. Every key
//! is checked here (type, format); unknown keys are rejected except `x-` extensions.

use crate::convert::*;
use crate::error::{Error, ErrorKind, Result};
use crate::model::*;
use crate::yaml::{Node, Value};
use std::path::Path;

/// Keys a service may have.
pub const SERVICE_KEYS: &[&str] = &[
    "image",
    "build",
    "command",
    "entrypoint",
    "environment",
    "env_file",
    "ports",
    "expose",
    "volumes",
    "volumes_from",
    "tmpfs",
    "networks",
    "network_mode",
    "links",
    "external_links",
    "depends_on",
    "healthcheck",
    "restart",
    "deploy",
    "user",
    "working_dir",
    "hostname",
    "domainname",
    "labels",
    "cap_add",
    "cap_drop",
    "ulimits",
    "init",
    "stop_signal",
    "stop_grace_period",
    "read_only",
    "privileged",
    "stdin_open",
    "tty",
    "devices",
    "extra_hosts",
    "dns",
    "dns_search",
    "logging",
    "container_name",
    "scale",
    "profiles",
    "secrets",
    "configs",
    "sysctls",
    "security_opt",
    "shm_size",
    "mem_limit",
    "cpus",
    "pid",
    "ipc",
    "platform",
    "pull_policy",
    "group_add",
    "extends",
];

/// Context for resolving paths and `~`.
pub struct Ctx<'a> {
    /// Project directory (absolute).
    pub dir: &'a Path,
    /// Interpolation environment (for `~` and `KEY` without value).
    pub env: &'a crate::interpolate::Env,
}

/// Make `p` absolute against `dir`, expanding `~`, and clean `.`/`..` lexically.
pub fn resolve_path(dir: &Path, p: &str, env: &crate::interpolate::Env) -> String {
    let joined = if let Some(rest) = p
        .strip_prefix("~/")
        .or(if p == "~" { Some("") } else { None })
    {
        Path::new(env.get("HOME").map(String::as_str).unwrap_or("/root")).join(rest)
    } else {
        dir.join(p)
    };
    clean(&joined)
}

/// Lexical path cleaning.
pub fn clean(p: &Path) -> String {
    use std::path::Component;
    let mut parts: Vec<String> = Vec::new();
    for c in p.components() {
        match c {
            Component::ParentDir => {
                parts.pop();
            }
            Component::Normal(s) => parts.push(s.to_string_lossy().into_owned()),
            _ => {}
        }
    }
    format!("/{}", parts.join("/"))
}

fn is_path(s: &str) -> bool {
    s.starts_with('/') || s.starts_with('.') || s.starts_with('~')
}

/// Convert a merged service node.
pub fn service(name: &str, n: &Node, ctx: &Ctx) -> Result<Service> {
    let base = format!("services.{name}");
    check_keys(n, &base, SERVICE_KEYS)?;
    let mut s = Service::default();
    let mut env_files: Vec<(String, &Node)> = Vec::new();
    for (k, v) in map(n, &base)? {
        let p = format!("{base}.{k}");
        if v.is_null()
            && !matches!(
                k.as_str(),
                "networks" | "environment" | "command" | "entrypoint"
            )
        {
            continue;
        }
        match k.as_str() {
            "image" => s.image = Some(string(v, &p)?),
            "build" => s.build = Some(build(v, &p, ctx)?),
            "command" => {
                s.command = if v.is_null() {
                    None
                } else {
                    Some(command(v, &p)?)
                }
            }
            "entrypoint" => {
                s.entrypoint = if v.is_null() {
                    None
                } else {
                    Some(command(v, &p)?)
                }
            }
            "environment" if !v.is_null() => s.environment = list_or_dict(v, &p, '=')?,
            "env_file" => {
                for f in env_file_list(v, &p)? {
                    env_files.push((f, v));
                }
            }
            "ports" => {
                for (i, x) in seq(v, &p)?.iter().enumerate() {
                    s.ports.extend(ports(x, &format!("{p}[{i}]"))?);
                }
            }
            "expose" => s.expose = strings(v, &p)?,
            "volumes" => {
                for (i, x) in seq(v, &p)?.iter().enumerate() {
                    s.volumes.push(mount(x, &format!("{p}[{i}]"), ctx)?);
                }
            }
            "volumes_from" => s.volumes_from = strings(v, &p)?,
            "tmpfs" => s.tmpfs = string_or_list(v, &p)?,
            "networks" => s.networks = service_networks(v, &p)?,
            "network_mode" => s.network_mode = Some(string(v, &p)?),
            "links" => s.links = strings(v, &p)?,
            "external_links" => s.external_links = strings(v, &p)?,
            "depends_on" => s.depends_on = depends_on(v, &p)?,
            "healthcheck" => s.healthcheck = Some(healthcheck(v, &p)?),
            "restart" => {
                let r = string(v, &p)?;
                let ok = matches!(
                    r.as_str(),
                    "no" | "always" | "unless-stopped" | "on-failure"
                ) || r
                    .strip_prefix("on-failure:")
                    .is_some_and(|n| n.parse::<u32>().is_ok());
                if !ok {
                    return Err(invalid(v, &p, format!("invalid restart policy '{r}'")));
                }
                s.restart = Some(r)
            }
            "deploy" => s.deploy = Some(deploy(v, &p)?),
            "user" => s.user = Some(string(v, &p)?),
            "working_dir" => s.working_dir = Some(string(v, &p)?),
            "hostname" => s.hostname = Some(string(v, &p)?),
            "domainname" => s.domainname = Some(string(v, &p)?),
            "labels" => s.labels = list_or_dict(v, &p, '=')?,
            "cap_add" => s.cap_add = strings(v, &p)?,
            "cap_drop" => s.cap_drop = strings(v, &p)?,
            "ulimits" => {
                for (name, u) in map(v, &p)? {
                    let up = format!("{p}.{name}");
                    let lim = match &u.value {
                        Value::Map(_) => {
                            check_keys(u, &up, &["soft", "hard"])?;
                            let soft = u
                                .get("soft")
                                .ok_or_else(|| invalid(u, &up, "missing 'soft'"))?;
                            let hard = u
                                .get("hard")
                                .ok_or_else(|| invalid(u, &up, "missing 'hard'"))?;
                            Ulimit {
                                soft: int(soft, &format!("{up}.soft"))?,
                                hard: int(hard, &format!("{up}.hard"))?,
                            }
                        }
                        _ => {
                            let x = int(u, &up)?;
                            Ulimit { soft: x, hard: x }
                        }
                    };
                    s.ulimits.insert(name.clone(), lim);
                }
            }
            "init" => s.init = Some(boolean(v, &p)?),
            "stop_signal" => s.stop_signal = Some(string(v, &p)?),
            "stop_grace_period" => s.stop_grace_period = Some(duration(v, &p)?),
            "read_only" => s.read_only = boolean(v, &p)?,
            "privileged" => s.privileged = boolean(v, &p)?,
            "stdin_open" => s.stdin_open = boolean(v, &p)?,
            "tty" => s.tty = boolean(v, &p)?,
            "devices" => s.devices = strings(v, &p)?,
            "extra_hosts" => {
                s.extra_hosts = match &v.value {
                    Value::Map(_) => list_or_dict(v, &p, '=')?
                        .into_iter()
                        .map(|(h, ip)| format!("{h}:{}", ip.unwrap_or_default()))
                        .collect(),
                    _ => strings(v, &p)?
                        .into_iter()
                        .map(|e| match e.split_once('=') {
                            Some((h, ip)) => format!("{h}:{ip}"),
                            None => e,
                        })
                        .collect(),
                }
            }
            "dns" => s.dns = string_or_list(v, &p)?,
            "dns_search" => s.dns_search = string_or_list(v, &p)?,
            "logging" => {
                check_keys(v, &p, &["driver", "options"])?;
                let mut l = Logging::default();
                if let Some(d) = v.get("driver") {
                    l.driver = opt_string(d, &format!("{p}.driver"))?;
                }
                if let Some(o) = v.get("options").filter(|o| !o.is_null()) {
                    l.options = list_or_dict(o, &format!("{p}.options"), '=')?;
                }
                s.logging = Some(l)
            }
            "container_name" => s.container_name = Some(string(v, &p)?),
            "scale" => s.scale = Some(uint(v, &p)?),
            "profiles" => s.profiles = strings(v, &p)?,
            "secrets" => s.secrets = file_refs(v, &p, "/run/secrets/")?,
            "configs" => s.configs = file_refs(v, &p, "/")?,
            "sysctls" => s.sysctls = list_or_dict(v, &p, '=')?,
            "security_opt" => s.security_opt = strings(v, &p)?,
            "shm_size" => s.shm_size = Some(bytes(v, &p)?),
            "mem_limit" => s.mem_limit = Some(bytes(v, &p)?),
            "cpus" => s.cpus = Some(float(v, &p)?),
            "pid" => s.pid = Some(string(v, &p)?),
            "ipc" => s.ipc = Some(string(v, &p)?),
            "platform" => s.platform = Some(string(v, &p)?),
            "pull_policy" => s.pull_policy = Some(string(v, &p)?),
            "group_add" => s.group_add = strings(v, &p)?,
            _ => {} // "extends" (resolved earlier) and x- extensions
        }
    }
    // env_file values first, `environment` wins.
    let mut from_files = std::collections::BTreeMap::new();
    for (f, node) in env_files {
        let path = resolve_path(ctx.dir, &f, ctx.env);
        let text = std::fs::read_to_string(&path).map_err(|e| {
            Error::new(
                ErrorKind::Io,
                Some(&node.pos),
                &format!("{base}.env_file"),
                format!("cannot read env file {path}: {e}"),
            )
        })?;
        for (k, v) in crate::interpolate::parse_env_file(&text, &path)? {
            let v = v.or_else(|| ctx.env.get(&k).cloned());
            from_files.insert(k, v);
        }
    }
    for (k, v) in from_files {
        s.environment.entry(k).or_insert(v);
    }
    if s.image.is_none() && s.build.is_none() {
        return Err(Error::new(
            ErrorKind::Invalid,
            Some(&n.pos),
            &base,
            "service has neither an image nor a build context",
        ));
    }
    Ok(s)
}

fn env_file_list(v: &Node, p: &str) -> Result<Vec<String>> {
    match &v.value {
        Value::Seq(items) => {
            let mut out = Vec::new();
            for (i, x) in items.iter().enumerate() {
                let ip = format!("{p}[{i}]");
                match &x.value {
                    Value::Map(_) => {
                        check_keys(x, &ip, &["path", "required"])?;
                        let path = x
                            .get("path")
                            .ok_or_else(|| invalid(x, &ip, "missing 'path'"))?;
                        out.push(string(path, &format!("{ip}.path"))?)
                    }
                    _ => out.push(string(x, &ip)?),
                }
            }
            Ok(out)
        }
        _ => Ok(vec![string(v, p)?]),
    }
}

fn build(v: &Node, p: &str, ctx: &Ctx) -> Result<Build> {
    let ctxdir = |s: String| {
        if s.contains("://") || s.starts_with("git@") || s.starts_with("github.com/") {
            s
        } else {
            resolve_path(ctx.dir, &s, ctx.env)
        }
    };
    if let Value::Scalar { .. } = v.value {
        return Ok(Build {
            context: ctxdir(string(v, p)?),
            ..Build::default()
        });
    }
    check_keys(
        v,
        p,
        &[
            "context",
            "dockerfile",
            "args",
            "target",
            "labels",
            "cache_from",
            "network",
            "shm_size",
            "extra_hosts",
        ],
    )?;
    let mut b = Build {
        context: ctxdir(".".into()),
        ..Build::default()
    };
    for (k, x) in map(v, p)? {
        let kp = format!("{p}.{k}");
        if x.is_null() {
            continue;
        }
        match k.as_str() {
            "context" => b.context = ctxdir(string(x, &kp)?),
            "dockerfile" => b.dockerfile = Some(string(x, &kp)?),
            "args" => b.args = list_or_dict(x, &kp, '=')?,
            "target" => b.target = Some(string(x, &kp)?),
            "labels" => b.labels = list_or_dict(x, &kp, '=')?,
            "cache_from" => b.cache_from = strings(x, &kp)?,
            "network" => b.network = Some(string(x, &kp)?),
            "shm_size" => b.shm_size = Some(bytes(x, &kp)?),
            "extra_hosts" => b.extra_hosts = strings(x, &kp)?,
            _ => {}
        }
    }
    Ok(b)
}

fn parse_range(s: &str) -> Option<(u16, u16)> {
    match s.split_once('-') {
        Some((a, b)) => {
            let (a, b) = (a.parse::<u16>().ok()?, b.parse::<u16>().ok()?);
            (a <= b).then_some((a, b))
        }
        None => s.parse::<u16>().ok().map(|a| (a, a)),
    }
}

/// Parse one `ports:` entry (short or long syntax) into one or more ports.
pub fn ports(x: &Node, p: &str) -> Result<Vec<Port>> {
    if let Value::Map(_) = x.value {
        check_keys(
            x,
            p,
            &[
                "target",
                "published",
                "host_ip",
                "protocol",
                "mode",
                "name",
                "app_protocol",
            ],
        )?;
        let t = x
            .get("target")
            .ok_or_else(|| invalid(x, p, "missing 'target'"))?;
        let target = uint(t, &format!("{p}.target")).and_then(|n| {
            u16::try_from(n).map_err(|_| invalid(t, &format!("{p}.target"), "port out of range"))
        })?;
        let published = match x.get("published") {
            Some(v) if !v.is_null() => {
                let s = string(v, &format!("{p}.published"))?;
                parse_range(&s).ok_or_else(|| {
                    invalid(v, &format!("{p}.published"), format!("invalid port '{s}'"))
                })?;
                Some(s)
            }
            _ => None,
        };
        let get = |k: &str| {
            x.get(k)
                .map(|v| opt_string(v, &format!("{p}.{k}")))
                .transpose()
                .map(Option::flatten)
        };
        return Ok(vec![Port {
            mode: get("mode")?.unwrap_or_else(|| "ingress".into()),
            host_ip: get("host_ip")?,
            target,
            published,
            protocol: get("protocol")?.unwrap_or_else(|| "tcp".into()),
        }]);
    }
    let raw = string(x, p)?;
    let bad = || invalid(x, p, format!("invalid port '{raw}'"));
    let (spec, proto) = match raw.rsplit_once('/') {
        Some((s, pr)) if matches!(pr, "tcp" | "udp" | "sctp") => (s, pr.to_string()),
        Some(_) => return Err(bad()),
        None => (raw.as_str(), "tcp".to_string()),
    };
    // Split host IP (maybe [v6]) / published / target.
    let (ip, rest) = if let Some(r) = spec.strip_prefix('[') {
        let (ip6, after) = r.split_once(']').ok_or_else(bad)?;
        (
            Some(ip6.to_string()),
            after.strip_prefix(':').ok_or_else(bad)?,
        )
    } else {
        let parts: Vec<&str> = spec.split(':').collect();
        match parts.len() {
            1 | 2 => (None, spec),
            3 => {
                if parts[0].parse::<std::net::Ipv4Addr>().is_err() {
                    return Err(bad());
                }
                (Some(parts[0].to_string()), &spec[parts[0].len() + 1..])
            }
            _ => return Err(bad()),
        }
    };
    let (published, target) = match rest.split_once(':') {
        Some((a, b)) => (if a.is_empty() { None } else { Some(a) }, b),
        None => (None, rest),
    };
    let (t0, t1) = parse_range(target).ok_or_else(bad)?;
    let pubr = published
        .map(|s| parse_range(s).ok_or_else(bad))
        .transpose()?;
    let mut out = Vec::new();
    let n = t1 - t0;
    for i in 0..=n {
        let published = match pubr {
            None => None,
            Some((a, b)) if b - a == n => Some((a + i).to_string()),
            Some((a, b)) if n == 0 => Some(if a == b {
                a.to_string()
            } else {
                format!("{a}-{b}")
            }),
            Some(_) => {
                return Err(invalid(
                    x,
                    p,
                    format!("invalid port '{raw}': port ranges don't match in length"),
                ));
            }
        };
        out.push(Port {
            mode: "ingress".into(),
            host_ip: ip.clone(),
            target: t0 + i,
            published,
            protocol: proto.clone(),
        });
    }
    Ok(out)
}

/// Parse one `volumes:` entry of a service.
pub fn mount(x: &Node, p: &str, ctx: &Ctx) -> Result<Mount> {
    if let Value::Map(_) = x.value {
        check_keys(
            x,
            p,
            &[
                "type",
                "source",
                "target",
                "read_only",
                "bind",
                "volume",
                "tmpfs",
                "consistency",
            ],
        )?;
        let kind = string(
            x.get("type")
                .ok_or_else(|| invalid(x, p, "missing 'type'"))?,
            &format!("{p}.type"),
        )?;
        if !matches!(
            kind.as_str(),
            "volume" | "bind" | "tmpfs" | "npipe" | "cluster"
        ) {
            return Err(invalid(
                x,
                &format!("{p}.type"),
                format!("invalid mount type '{kind}'"),
            ));
        }
        let target = string(
            x.get("target")
                .ok_or_else(|| invalid(x, p, "missing 'target'"))?,
            &format!("{p}.target"),
        )?;
        let mut m = Mount {
            kind: kind.clone(),
            target,
            ..Mount::default()
        };
        if let Some(s) = x.get("source") {
            m.source = opt_string(s, &format!("{p}.source"))?;
        }
        if kind == "bind" {
            m.source = m.source.map(|s| resolve_path(ctx.dir, &s, ctx.env));
            if m.source.is_none() {
                return Err(invalid(x, p, "a bind mount needs a 'source'"));
            }
        }
        if let Some(r) = x.get("read_only") {
            m.read_only = boolean(r, &format!("{p}.read_only"))?;
        }
        if let Some(b) = x.get("bind").filter(|b| !b.is_null()) {
            let bp = format!("{p}.bind");
            check_keys(b, &bp, &["propagation", "create_host_path", "selinux"])?;
            if let Some(v) = b.get("propagation") {
                m.propagation = Some(string(v, &format!("{bp}.propagation"))?);
            }
            if let Some(v) = b.get("create_host_path") {
                m.create_host_path = Some(boolean(v, &format!("{bp}.create_host_path"))?);
            }
            if let Some(v) = b.get("selinux") {
                m.selinux = Some(string(v, &format!("{bp}.selinux"))?);
            }
        }
        if let Some(b) = x.get("volume").filter(|b| !b.is_null()) {
            let bp = format!("{p}.volume");
            check_keys(b, &bp, &["nocopy", "subpath"])?;
            if let Some(v) = b.get("nocopy") {
                m.nocopy = boolean(v, &format!("{bp}.nocopy"))?;
            }
        }
        if let Some(b) = x.get("tmpfs").filter(|b| !b.is_null()) {
            let bp = format!("{p}.tmpfs");
            check_keys(b, &bp, &["size", "mode"])?;
            if let Some(v) = b.get("size") {
                m.tmpfs_size = Some(bytes(v, &format!("{bp}.size"))?);
            }
            if let Some(v) = b.get("mode") {
                m.tmpfs_mode = Some(uint(v, &format!("{bp}.mode"))? as u32);
            }
        }
        if let Some(c) = x.get("consistency") {
            m.consistency = opt_string(c, &format!("{p}.consistency"))?;
        }
        return Ok(m);
    }
    let raw = string(x, p)?;
    let parts: Vec<&str> = raw.split(':').collect();
    let bad = || invalid(x, p, format!("invalid volume '{raw}'"));
    let (src, target, mode) = match parts.as_slice() {
        [t] => (None, *t, None),
        [s, t] => (Some(*s), *t, None),
        [s, t, m] => (Some(*s), *t, Some(*m)),
        _ => return Err(bad()),
    };
    if target.is_empty() || src.is_some_and(str::is_empty) {
        return Err(bad());
    }
    let mut m = Mount {
        target: target.to_string(),
        ..Mount::default()
    };
    match src {
        None => m.kind = "volume".into(),
        Some(s) if is_path(s) => {
            m.kind = "bind".into();
            m.source = Some(resolve_path(ctx.dir, s, ctx.env));
            m.create_host_path = Some(true);
        }
        Some(s) => {
            m.kind = "volume".into();
            m.source = Some(s.to_string());
        }
    }
    if let Some(mode) = mode {
        for o in mode.split(',') {
            match o {
                "ro" => m.read_only = true,
                "rw" => m.read_only = false,
                "z" | "Z" => m.selinux = Some(o.into()),
                "nocopy" => m.nocopy = true,
                "shared" | "rshared" | "slave" | "rslave" | "private" | "rprivate" => {
                    m.propagation = Some(o.into())
                }
                "consistent" | "cached" | "delegated" => m.consistency = Some(o.into()),
                _ => {
                    return Err(invalid(
                        x,
                        p,
                        format!("invalid volume mode '{o}' in '{raw}'"),
                    ));
                }
            }
        }
    }
    Ok(m)
}

fn service_networks(
    v: &Node,
    p: &str,
) -> Result<std::collections::BTreeMap<String, ServiceNetwork>> {
    let mut out = std::collections::BTreeMap::new();
    match &v.value {
        Value::Seq(_) => {
            for n in strings(v, p)? {
                out.insert(n, ServiceNetwork::default());
            }
        }
        Value::Map(m) => {
            for (name, x) in m {
                let np = format!("{p}.{name}");
                let mut sn = ServiceNetwork::default();
                if !x.is_null() {
                    check_keys(
                        x,
                        &np,
                        &[
                            "aliases",
                            "ipv4_address",
                            "ipv6_address",
                            "priority",
                            "link_local_ips",
                            "mac_address",
                        ],
                    )?;
                    if let Some(a) = x.get("aliases").filter(|a| !a.is_null()) {
                        sn.aliases = strings(a, &format!("{np}.aliases"))?;
                    }
                    if let Some(a) = x.get("ipv4_address") {
                        let s = string(a, &format!("{np}.ipv4_address"))?;
                        s.parse::<std::net::Ipv4Addr>().map_err(|_| {
                            invalid(
                                a,
                                &format!("{np}.ipv4_address"),
                                format!("invalid IPv4 address '{s}'"),
                            )
                        })?;
                        sn.ipv4_address = Some(s);
                    }
                    if let Some(a) = x.get("ipv6_address") {
                        sn.ipv6_address = Some(string(a, &format!("{np}.ipv6_address"))?);
                    }
                    if let Some(a) = x.get("priority") {
                        sn.priority = Some(int(a, &format!("{np}.priority"))?);
                    }
                }
                out.insert(name.clone(), sn);
            }
        }
        _ if v.is_null() => {}
        _ => {
            return Err(invalid(
                v,
                p,
                format!("must be a mapping or a sequence, found {}", kind_name(v)),
            ));
        }
    }
    Ok(out)
}

fn depends_on(v: &Node, p: &str) -> Result<std::collections::BTreeMap<String, Dependency>> {
    let mut out = std::collections::BTreeMap::new();
    let started = || Dependency {
        condition: "service_started".into(),
        restart: false,
        required: true,
    };
    match &v.value {
        Value::Seq(_) => {
            for n in strings(v, p)? {
                out.insert(n, started());
            }
        }
        Value::Map(m) => {
            for (name, x) in m {
                let dp = format!("{p}.{name}");
                let mut d = started();
                if !x.is_null() {
                    check_keys(x, &dp, &["condition", "restart", "required"])?;
                    if let Some(c) = x.get("condition") {
                        let c2 = string(c, &format!("{dp}.condition"))?;
                        if !matches!(
                            c2.as_str(),
                            "service_started"
                                | "service_healthy"
                                | "service_completed_successfully"
                        ) {
                            return Err(invalid(
                                c,
                                &format!("{dp}.condition"),
                                format!("invalid condition '{c2}'"),
                            ));
                        }
                        d.condition = c2;
                    }
                    if let Some(r) = x.get("restart") {
                        d.restart = boolean(r, &format!("{dp}.restart"))?;
                    }
                    if let Some(r) = x.get("required") {
                        d.required = boolean(r, &format!("{dp}.required"))?;
                    }
                }
                out.insert(name.clone(), d);
            }
        }
        _ => {
            return Err(invalid(
                v,
                p,
                format!("must be a mapping or a sequence, found {}", kind_name(v)),
            ));
        }
    }
    Ok(out)
}

fn healthcheck(v: &Node, p: &str) -> Result<Healthcheck> {
    check_keys(
        v,
        p,
        &[
            "test",
            "interval",
            "timeout",
            "start_period",
            "start_interval",
            "retries",
            "disable",
        ],
    )?;
    let mut h = Healthcheck::default();
    for (k, x) in map(v, p)? {
        let kp = format!("{p}.{k}");
        match k.as_str() {
            "test" => {
                h.test = match &x.value {
                    Value::Seq(_) => strings(x, &kp)?,
                    _ => {
                        let s = string(x, &kp)?;
                        if s == "NONE" {
                            vec!["NONE".into()]
                        } else {
                            vec!["CMD-SHELL".into(), s]
                        }
                    }
                };
                if let Some(first) = h.test.first()
                    && !matches!(first.as_str(), "CMD" | "CMD-SHELL" | "NONE")
                {
                    return Err(invalid(
                        x,
                        &kp,
                        format!("the first item must be CMD, CMD-SHELL or NONE, found '{first}'"),
                    ));
                }
            }
            "interval" => h.interval = Some(duration(x, &kp)?),
            "timeout" => h.timeout = Some(duration(x, &kp)?),
            "start_period" => h.start_period = Some(duration(x, &kp)?),
            "start_interval" => h.start_interval = Some(duration(x, &kp)?),
            "retries" => h.retries = Some(uint(x, &kp)?),
            "disable" => h.disable = boolean(x, &kp)?,
            _ => {}
        }
    }
    if h.disable {
        h.test = vec!["NONE".into()];
    }
    Ok(h)
}

fn resources(v: &Node, p: &str) -> Result<Resources> {
    check_keys(
        v,
        p,
        &["cpus", "memory", "pids", "devices", "generic_resources"],
    )?;
    let mut r = Resources::default();
    if let Some(x) = v.get("cpus") {
        r.cpus = Some(float(x, &format!("{p}.cpus"))?);
    }
    if let Some(x) = v.get("memory") {
        r.memory = Some(bytes(x, &format!("{p}.memory"))?);
    }
    if let Some(x) = v.get("pids") {
        r.pids = Some(int(x, &format!("{p}.pids"))?);
    }
    Ok(r)
}

fn update_config(v: &Node, p: &str) -> Result<UpdateConfig> {
    check_keys(
        v,
        p,
        &[
            "parallelism",
            "delay",
            "failure_action",
            "monitor",
            "max_failure_ratio",
            "order",
        ],
    )?;
    let mut u = UpdateConfig::default();
    for (k, x) in map(v, p)? {
        let kp = format!("{p}.{k}");
        match k.as_str() {
            "parallelism" => u.parallelism = Some(uint(x, &kp)?),
            "delay" => u.delay = Some(duration(x, &kp)?),
            "failure_action" => u.failure_action = Some(string(x, &kp)?),
            "monitor" => u.monitor = Some(duration(x, &kp)?),
            "max_failure_ratio" => u.max_failure_ratio = Some(float(x, &kp)?),
            "order" => {
                let o = string(x, &kp)?;
                if !matches!(o.as_str(), "stop-first" | "start-first") {
                    return Err(invalid(x, &kp, format!("invalid order '{o}'")));
                }
                u.order = Some(o)
            }
            _ => {}
        }
    }
    Ok(u)
}

fn deploy(v: &Node, p: &str) -> Result<Deploy> {
    check_keys(
        v,
        p,
        &[
            "mode",
            "replicas",
            "resources",
            "restart_policy",
            "update_config",
            "rollback_config",
            "labels",
            "placement",
            "endpoint_mode",
        ],
    )?;
    let mut d = Deploy::default();
    for (k, x) in map(v, p)? {
        let kp = format!("{p}.{k}");
        if x.is_null() {
            continue;
        }
        match k.as_str() {
            "mode" => d.mode = Some(string(x, &kp)?),
            "replicas" => d.replicas = Some(uint(x, &kp)?),
            "resources" => {
                check_keys(x, &kp, &["limits", "reservations"])?;
                let mut r = DeployResources::default();
                if let Some(l) = x.get("limits").filter(|l| !l.is_null()) {
                    r.limits = Some(resources(l, &format!("{kp}.limits"))?);
                }
                if let Some(l) = x.get("reservations").filter(|l| !l.is_null()) {
                    r.reservations = Some(resources(l, &format!("{kp}.reservations"))?);
                }
                d.resources = Some(r);
            }
            "restart_policy" => {
                check_keys(x, &kp, &["condition", "delay", "max_attempts", "window"])?;
                let mut r = RestartPolicy::default();
                if let Some(c) = x.get("condition") {
                    let s = string(c, &format!("{kp}.condition"))?;
                    if !matches!(s.as_str(), "none" | "on-failure" | "any") {
                        return Err(invalid(
                            c,
                            &format!("{kp}.condition"),
                            format!("invalid condition '{s}'"),
                        ));
                    }
                    r.condition = Some(s);
                }
                if let Some(c) = x.get("delay") {
                    r.delay = Some(duration(c, &format!("{kp}.delay"))?);
                }
                if let Some(c) = x.get("max_attempts") {
                    r.max_attempts = Some(uint(c, &format!("{kp}.max_attempts"))?);
                }
                if let Some(c) = x.get("window") {
                    r.window = Some(duration(c, &format!("{kp}.window"))?);
                }
                d.restart_policy = Some(r)
            }
            "update_config" => d.update_config = Some(update_config(x, &kp)?),
            "rollback_config" => d.rollback_config = Some(update_config(x, &kp)?),
            "labels" => d.labels = list_or_dict(x, &kp, '=')?,
            "placement" => d.placement = Some(to_json(x)),
            "endpoint_mode" => d.endpoint_mode = Some(string(x, &kp)?),
            _ => {}
        }
    }
    Ok(d)
}

/// A node as JSON (scalars as strings, null as null).
pub fn to_json(n: &Node) -> serde_json::Value {
    match &n.value {
        _ if n.is_null() => serde_json::Value::Null,
        Value::Scalar { text, .. } => serde_json::Value::String(text.clone()),
        Value::Seq(s) => serde_json::Value::Array(s.iter().map(to_json).collect()),
        Value::Map(m) => {
            serde_json::Value::Object(m.iter().map(|(k, v)| (k.clone(), to_json(v))).collect())
        }
    }
}

fn file_refs(v: &Node, p: &str, prefix: &str) -> Result<Vec<FileRef>> {
    let mut out = Vec::new();
    for (i, x) in seq(v, p)?.iter().enumerate() {
        let ip = format!("{p}[{i}]");
        if let Value::Map(_) = x.value {
            check_keys(x, &ip, &["source", "target", "uid", "gid", "mode"])?;
            let source = string(
                x.get("source")
                    .ok_or_else(|| invalid(x, &ip, "missing 'source'"))?,
                &format!("{ip}.source"),
            )?;
            let target = match x.get("target") {
                Some(t) => {
                    let t = string(t, &format!("{ip}.target"))?;
                    if t.starts_with('/') {
                        t
                    } else {
                        format!("{prefix}{t}")
                    }
                }
                None => format!("{prefix}{source}"),
            };
            let get = |k: &str| {
                x.get(k)
                    .map(|v| string(v, &format!("{ip}.{k}")))
                    .transpose()
            };
            let mode = match x.get("mode") {
                Some(m) => {
                    let s = string(m, &format!("{ip}.mode"))?;
                    let parsed = if let Some(o) = s.strip_prefix("0o") {
                        u32::from_str_radix(o, 8).ok()
                    } else if s.starts_with('0') && s.len() > 1 {
                        u32::from_str_radix(&s[1..], 8).ok()
                    } else {
                        s.parse().ok()
                    };
                    Some(parsed.ok_or_else(|| {
                        invalid(m, &format!("{ip}.mode"), format!("invalid mode '{s}'"))
                    })?)
                }
                None => None,
            };
            out.push(FileRef {
                source,
                target,
                uid: get("uid")?,
                gid: get("gid")?,
                mode,
            });
        } else {
            let source = string(x, &ip)?;
            out.push(FileRef {
                target: format!("{prefix}{source}"),
                source,
                ..FileRef::default()
            });
        }
    }
    Ok(out)
}
