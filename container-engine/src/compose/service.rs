//! A compose service as `docker run` options: the translation from the resolved model of
//! `container-compose` to the engine's [`RunOptions`], the labels Compose puts on every
//! container, and the configuration hash that tells `up` which containers are outdated.

use crate::error::{Error, Result};
use crate::options::{self, RunOptions};
use container_compose::{Project, Service};
use sha2::Digest;
use std::time::Duration;

/// Label: the project a container belongs to.
pub const PROJECT_LABEL: &str = "com.docker.compose.project";
/// Label: the service a container runs.
pub const SERVICE_LABEL: &str = "com.docker.compose.service";
/// Label: the replica number (`1`, `2`, …).
pub const NUMBER_LABEL: &str = "com.docker.compose.container-number";
/// Label: `True` for `compose run` containers, `False` for service replicas.
pub const ONEOFF_LABEL: &str = "com.docker.compose.oneoff";
/// Label: the hash of the service configuration the container was created from.
pub const CONFIG_HASH_LABEL: &str = "com.docker.compose.config-hash";
/// Label: the image id the container was created from.
pub const IMAGE_LABEL: &str = "com.docker.compose.image";

/// The image a service runs: its `image:`, else the name Compose gives a built image
/// (`project-service`).
pub fn image_name(p: &Project, service: &str, s: &Service) -> String {
    s.image
        .clone()
        .unwrap_or_else(|| format!("{}-{service}", p.name))
}

/// The configuration hash of a service (Compose's `com.docker.compose.config-hash`):
/// sha256 over the resolved service without the keys that do not change a container
/// (`build`, `pull_policy`, `scale`, `deploy.replicas`, `depends_on`, `profiles`), plus
/// the id of the image it runs, so a rebuilt or re-pulled image also counts as a change.
pub fn config_hash(s: &Service, image_id: &str) -> String {
    let mut v = serde_json::to_value(s).unwrap_or(serde_json::Value::Null);
    if let Some(o) = v.as_object_mut() {
        for k in ["build", "pull_policy", "scale", "depends_on", "profiles"] {
            o.remove(k);
        }
        if let Some(d) = o.get_mut("deploy").and_then(|d| d.as_object_mut()) {
            d.remove("replicas");
            if d.is_empty() {
                o.remove("deploy");
            }
        }
    }
    let mut h = sha2::Sha256::new();
    h.update(v.to_string().as_bytes());
    h.update(b"\0");
    h.update(image_id.as_bytes());
    hex::encode(h.finalize())
}

fn dur(d: Duration) -> String {
    format!("{}ms", d.as_millis())
}

/// `deploy.restart_policy` as an engine restart policy (`restart:` wins when both are set):
/// `none` → `no`, `on-failure` → `on-failure[:max_attempts]`, `any` (the default) → `always`.
/// The engine has no per-policy `delay` or `window`: its own backoff applies.
pub fn restart_policy(s: &Service) -> Option<String> {
    s.restart.clone().or_else(|| {
        let rp = s.deploy.as_ref()?.restart_policy.as_ref()?;
        Some(match (rp.condition.as_deref(), rp.max_attempts) {
            (Some("none"), _) => "no".to_string(),
            (Some("on-failure"), Some(n)) => format!("on-failure:{n}"),
            (Some("on-failure"), None) => "on-failure".to_string(),
            _ => "always".to_string(),
        })
    })
}

/// The real name of a top-level network key.
pub fn network_name(p: &Project, key: &str) -> String {
    p.networks
        .get(key)
        .map(|n| n.name.clone())
        .unwrap_or_else(|| key.to_string())
}

/// The container `docker run` options of one replica (or one-off container) of `name`.
/// `number` is the replica number (0 for a one-off container).
pub fn run_options(
    p: &Project,
    name: &str,
    s: &Service,
    container: &str,
    number: u64,
) -> Result<RunOptions> {
    let mut o = RunOptions {
        image: image_name(p, name, s),
        cmd: s.command.clone().unwrap_or_default(),
        entrypoint: s.entrypoint.clone(),
        name: Some(container.to_string()),
        detach: true,
        tty: s.tty,
        interactive: s.stdin_open,
        workdir: s.working_dir.clone(),
        user: s.user.clone(),
        hostname: s.hostname.clone(),
        read_only: s.read_only,
        privileged: s.privileged,
        init: s.init.unwrap_or(false),
        stop_signal: s.stop_signal.clone(),
        stop_timeout: s.stop_grace_period.map(|d| d.as_secs() as i64),
        restart: restart_policy(s),
        ..RunOptions::default()
    };
    o.env = s
        .environment
        .iter()
        .filter_map(|(k, v)| v.as_ref().map(|v| format!("{k}={v}")))
        .collect();
    o.labels = s
        .labels
        .iter()
        .map(|(k, v)| format!("{k}={}", v.clone().unwrap_or_default()))
        .collect();
    o.labels.push(format!("{PROJECT_LABEL}={}", p.name));
    o.labels.push(format!("{SERVICE_LABEL}={name}"));
    o.labels.push(format!("{NUMBER_LABEL}={number}"));
    o.labels.push(format!(
        "{ONEOFF_LABEL}={}",
        if number == 0 { "True" } else { "False" }
    ));
    for m in &s.volumes {
        let ro = if m.read_only { ":ro" } else { "" };
        match (m.kind.as_str(), &m.source) {
            ("volume", Some(src)) => {
                let real = p
                    .volumes
                    .get(src)
                    .map(|v| v.name.clone())
                    .unwrap_or_else(|| src.clone());
                o.volumes.push(format!("{real}:{}{ro}", m.target));
            }
            ("volume", None) => o.volumes.push(m.target.clone()),
            ("bind", Some(src)) => o.volumes.push(format!("{src}:{}{ro}", m.target)),
            ("tmpfs", _) => {
                let mut t = m.target.clone();
                if let Some(size) = m.tmpfs_size {
                    t.push_str(&format!(":size={size}"));
                }
                o.tmpfs.push(t);
            }
            (kind, _) => {
                return Err(Error::Invalid(format!(
                    "service {name}: volume type {kind} ({}) is not supported",
                    m.target
                )));
            }
        }
    }
    o.tmpfs.extend(s.tmpfs.iter().cloned());
    for (what, refs, objects) in [
        ("secret", &s.secrets, &p.secrets),
        ("config", &s.configs, &p.configs),
    ] {
        for r in refs {
            let file = objects.get(&r.source).and_then(|f| f.file.clone());
            let Some(file) = file else {
                return Err(Error::Invalid(format!(
                    "service {name}: {what} {}: only file-based {what}s can be mounted",
                    r.source
                )));
            };
            o.volumes.push(format!("{file}:{}:ro", r.target));
        }
    }
    for port in &s.ports {
        let ip = port
            .host_ip
            .as_ref()
            .map(|i| format!("{i}:"))
            .unwrap_or_default();
        o.publish.push(match &port.published {
            Some(p) => format!("{ip}{p}:{}/{}", port.target, port.protocol),
            None if ip.is_empty() => format!("{}/{}", port.target, port.protocol),
            None => format!("{ip}:{}/{}", port.target, port.protocol),
        });
    }
    o.expose = s.expose.clone();
    if let Some(mode) = &s.network_mode {
        o.network = Some(match mode.strip_prefix("service:") {
            Some(svc) => {
                let target = p.services.get(svc).ok_or_else(|| {
                    Error::Invalid(format!(
                        "service {name}: network_mode {mode}: no such service"
                    ))
                })?;
                let first =
                    container_compose::plan::container_names(&p.name, svc, target, 1).remove(0);
                format!("container:{first}")
            }
            None => mode.clone(),
        });
    } else if let Some((net, sn)) = s.networks.iter().next() {
        o.network = Some(network_name(p, net));
        o.network_aliases.push(name.to_string());
        o.network_aliases.extend(sn.aliases.iter().cloned());
        o.ip = sn.ipv4_address.clone();
    }
    o.add_hosts = s.extra_hosts.clone();
    o.dns = s.dns.clone();
    let limits = s
        .deploy
        .as_ref()
        .and_then(|d| d.resources.as_ref())
        .and_then(|r| r.limits.as_ref());
    o.memory = limits
        .and_then(|l| l.memory)
        .or(s.mem_limit)
        .map(|b| b.to_string());
    o.cpus = limits
        .and_then(|l| l.cpus)
        .or(s.cpus)
        .map(|c| c.to_string());
    o.pids_limit = limits.and_then(|l| l.pids);
    o.ulimits = s
        .ulimits
        .iter()
        .map(|(k, u)| format!("{k}={}:{}", u.soft, u.hard))
        .collect();
    o.devices = s.devices.clone();
    o.cap_add = s.cap_add.clone();
    o.cap_drop = s.cap_drop.clone();
    o.security_opt = s.security_opt.clone();
    if let Some(h) = &s.healthcheck {
        match h.test.first().map(String::as_str) {
            _ if h.disable => o.no_healthcheck = true,
            Some("NONE") => o.no_healthcheck = true,
            Some("CMD-SHELL") => o.health_cmd = h.test.get(1).cloned(),
            // Exec form runs without a shell, so it works in images made from host binaries.
            Some("CMD") => o.health_test = Some(h.test.clone()),
            _ => {}
        }
        o.health_interval = h.interval.map(dur);
        o.health_timeout = h.timeout.map(dur);
        o.health_start_period = h.start_period.map(dur);
        o.health_retries = h.retries.map(|r| r.min(u32::MAX as u64) as u32);
    }
    if let Some(l) = &s.logging {
        o.log_driver = l.driver.clone();
        o.log_opts = l
            .options
            .iter()
            .map(|(k, v)| format!("{k}={}", v.clone().unwrap_or_default()))
            .collect();
    }
    Ok(o)
}

/// Check every option value the way `create` will, so that `up` refuses bad input
/// before it creates anything.
pub fn check(service: &str, o: &RunOptions) -> Result<()> {
    let ctx = |e: Error| Error::Invalid(format!("service {service}: {e}"));
    for p in &o.publish {
        options::parse_publish(p).map_err(ctx)?;
    }
    for v in &o.volumes {
        options::parse_volume(v).map_err(ctx)?;
    }
    for t in &o.tmpfs {
        options::parse_tmpfs(t).map_err(ctx)?;
    }
    for u in &o.ulimits {
        options::parse_ulimit(u).map_err(ctx)?;
    }
    for d in &o.devices {
        options::parse_device(d).map_err(ctx)?;
    }
    if let Some(r) = &o.restart {
        options::parse_restart(r).map_err(ctx)?;
    }
    if let Some(m) = &o.memory {
        options::parse_bytes(m).map_err(ctx)?;
    }
    if let Some(c) = &o.cpus {
        options::parse_cpus(c).map_err(ctx)?;
    }
    if let Some(s) = &o.stop_signal {
        options::parse_signal(s).map_err(ctx)?;
    }
    for d in [
        &o.health_interval,
        &o.health_timeout,
        &o.health_start_period,
    ]
    .into_iter()
    .flatten()
    {
        options::parse_go_duration(d).map_err(ctx)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn project(text: &str) -> Project {
        let dir = tempfile::tempdir().expect("tmp");
        let env = container_compose::interpolate::Env::default();
        let mut p = container_compose::load_str(text, dir.path(), &env).expect("load");
        p.name = "demo".into();
        p
    }

    #[test]
    fn hash_changes_with_environment_not_with_replicas() {
        let a = project("services:\n  web:\n    image: x\n    environment: {A: '1'}\n");
        let b = project("services:\n  web:\n    image: x\n    environment: {A: '2'}\n");
        let c = project(
            "services:\n  web:\n    image: x\n    environment: {A: '1'}\n    deploy: {replicas: 3}\n",
        );
        let h = |p: &Project| config_hash(&p.services["web"], "sha256:1");
        assert_ne!(h(&a), h(&b));
        assert_eq!(h(&a), h(&c));
        assert_ne!(
            config_hash(&a.services["web"], "sha256:1"),
            config_hash(&a.services["web"], "sha256:2")
        );
    }

    #[test]
    fn restart_policy_maps_deploy_conditions() {
        let p = project(
            "services:\n  a:\n    image: x\n    deploy: {restart_policy: {condition: on-failure, max_attempts: 3}}\n  b:\n    image: x\n    deploy: {restart_policy: {condition: none}}\n  c:\n    image: x\n    deploy: {restart_policy: {condition: any}}\n  d:\n    image: x\n    restart: unless-stopped\n    deploy: {restart_policy: {condition: none}}\n",
        );
        let r = |s: &str| restart_policy(&p.services[s]);
        assert_eq!(r("a").as_deref(), Some("on-failure:3"));
        assert_eq!(r("b").as_deref(), Some("no"));
        assert_eq!(r("c").as_deref(), Some("always"));
        assert_eq!(r("d").as_deref(), Some("unless-stopped"));
        for s in ["a", "b", "c", "d"] {
            options::parse_restart(&r(s).expect("policy")).expect("engine accepts it");
        }
    }

    #[test]
    fn run_options_carry_labels_ports_and_healthcheck() {
        let p = project(
            "services:\n  web:\n    image: x\n    ports: ['127.0.0.1:8080:80']\n    healthcheck:\n      test: [CMD-SHELL, wget -q http://localhost/]\n      interval: 1s\n",
        );
        let o = run_options(&p, "web", &p.services["web"], "demo-web-2", 2).expect("opts");
        assert_eq!(o.name.as_deref(), Some("demo-web-2"));
        assert!(o.labels.contains(&format!("{PROJECT_LABEL}=demo")));
        assert!(o.labels.contains(&format!("{NUMBER_LABEL}=2")));
        assert!(o.labels.contains(&format!("{ONEOFF_LABEL}=False")));
        assert_eq!(o.publish, ["127.0.0.1:8080:80/tcp"]);
        assert_eq!(o.health_cmd.as_deref(), Some("wget -q http://localhost/"));
        assert_eq!(o.health_interval.as_deref(), Some("1000ms"));
        check("web", &o).expect("valid");
        assert_eq!(
            o.network.as_deref(),
            Some(p.networks["default"].name.as_str())
        );
        assert!(o.network_aliases.contains(&"web".to_string()));
    }

    #[test]
    fn built_images_get_the_project_service_name() {
        let p = project("services:\n  app:\n    build: .\n");
        assert_eq!(image_name(&p, "app", &p.services["app"]), "demo-app");
    }
}
