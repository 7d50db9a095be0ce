//! The engine's side of networking: a network namespace per container (bind-mounted at
//! `/run/netns/berth-<id>`), joined to networks by `container-net`, with published ports
//! and the `/etc/hosts`, `/etc/hostname`, `/etc/resolv.conf` files it bind-mounts.

use crate::engine::Engine;
use crate::error::{Error, IoContext, Result};
use crate::model::{ContainerRecord, EndpointSettings, NetworkSettings, PortBinding};
use container_net::{ConnectOptions, Netns, NetworkMode, Networks, PortMapping};
use std::path::PathBuf;

/// What `setup` made.
#[derive(Debug, Default)]
pub struct NetSetup {
    /// Namespace path to join (None: the host's network for `--network host`, else a
    /// fresh namespace the runtime makes).
    pub netns: Option<String>,
    /// Files to bind-mount.
    pub hosts_path: String,
    /// `/etc/hostname` source.
    pub hostname_path: String,
    /// `/etc/resolv.conf` source.
    pub resolv_path: String,
    /// For `inspect`.
    pub settings: NetworkSettings,
}

/// Map a network error.
pub fn net_err(e: container_net::Error) -> Error {
    Error::Network(e.to_string())
}

/// The network store of the engine root.
pub fn networks(engine: &Engine) -> Result<Networks> {
    let host = Netns::current().map_err(net_err)?;
    Networks::open(&engine.root().join("networks"), host).map_err(net_err)
}

fn netns_name(id: &str) -> String {
    format!("berth-{}", &id[..id.len().min(32)])
}

fn write_local_files(
    engine: &Engine,
    rec: &ContainerRecord,
    ip: Option<&str>,
) -> Result<(String, String)> {
    let dir = engine.containers.dir_of(&rec.id);
    let hosts = dir.join("hosts");
    let mut text = String::from(
        "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\nfe00::0\tip6-localnet\nff00::0\tip6-mcastprefix\nff02::1\tip6-allnodes\nff02::2\tip6-allrouters\n",
    );
    for h in &rec.host_config.extra_hosts {
        if let Some((n, a)) = h.split_once(':') {
            text.push_str(&format!("{a}\t{n}\n"));
        }
    }
    if let Some(ip) = ip {
        text.push_str(&format!("{ip}\t{}\n", rec.config.hostname));
    }
    std::fs::write(&hosts, text).ctx("write hosts", &hosts)?;
    let resolv = dir.join("resolv.conf");
    let mut r = if rec.host_config.dns.is_empty() {
        std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default()
    } else {
        String::new()
    };
    for d in &rec.host_config.dns {
        r.push_str(&format!("nameserver {d}\n"));
    }
    std::fs::write(&resolv, r).ctx("write resolv.conf", &resolv)?;
    Ok((
        hosts.to_string_lossy().into_owned(),
        resolv.to_string_lossy().into_owned(),
    ))
}

fn port_mappings(rec: &ContainerRecord) -> Result<Vec<PortMapping>> {
    let mut out = Vec::new();
    for (port, bindings) in &rec.host_config.port_bindings {
        for b in bindings {
            let spec = match (b.host_ip.as_str(), b.host_port.as_str()) {
                ("", "") => port.clone(),
                ("", hp) => format!("{hp}:{port}"),
                (ip, hp) => format!("{ip}:{hp}:{port}"),
            };
            out.extend(PortMapping::parse(&spec).map_err(net_err)?);
        }
    }
    Ok(out)
}

/// Give the container its network per `HostConfig.NetworkMode`.
pub fn setup(engine: &Engine, rec: &ContainerRecord) -> Result<NetSetup> {
    let dir = engine.containers.dir_of(&rec.id);
    let hostname = dir.join("hostname");
    std::fs::write(&hostname, format!("{}\n", rec.config.hostname))
        .ctx("write hostname", &hostname)?;
    let mut out = NetSetup {
        hostname_path: hostname.to_string_lossy().into_owned(),
        ..Default::default()
    };
    let mode = NetworkMode::parse(&rec.host_config.network_mode)
        .map_err(|e| Error::Invalid(e.to_string()))?;
    match mode {
        NetworkMode::Host => {
            let (h, r) = write_local_files(engine, rec, None)?;
            let hosts = std::fs::read_to_string("/etc/hosts").unwrap_or_default();
            std::fs::write(&h, hosts).ctx("write hosts", std::path::Path::new(&h))?;
            out.hosts_path = h;
            out.resolv_path = r;
            out.settings
                .networks
                .insert("host".into(), EndpointSettings::default());
        }
        NetworkMode::None => {
            // No named namespace: the runtime unshares a fresh one for the container
            // and brings its `lo` up (spec namespace without a path). That saves a bind
            // mount, an unmount and a mount-table entry per container; the namespace
            // dies with the container. `container:` joiners use `/proc/<pid>/ns/net`.
            let (h, r) = write_local_files(engine, rec, None)?;
            out.hosts_path = h;
            out.resolv_path = r;
            out.netns = None;
            out.settings
                .networks
                .insert("none".into(), EndpointSettings::default());
        }
        NetworkMode::Container(other) => {
            let oid = engine.resolve(&other)?;
            let orec = engine.record(&oid)?;
            if !orec.state.running {
                return Err(Error::Conflict(format!(
                    "cannot join network of a non running container: {oid}"
                )));
            }
            let path = if orec.berth.netns.is_empty() {
                format!("/proc/{}/ns/net", orec.state.pid)
            } else {
                orec.berth.netns.clone()
            };
            out.netns = Some(path);
            out.hosts_path = orec.hosts_path.clone();
            out.resolv_path = orec.resolv_conf_path.clone();
        }
        NetworkMode::Network(net) => {
            let nets = networks(engine)?;
            if net == "bridge" {
                nets.ensure_default_bridge().map_err(net_err)?;
            } else {
                nets.inspect(&net)
                    .map_err(|_| Error::NoSuchNetwork(net.clone()))?;
            }
            let name = netns_name(&rec.id);
            let _ = Netns::delete_named(&name);
            let ns = Netns::create_named(&name).map_err(net_err)?;
            let fail = |e: Error| {
                let _ = nets.disconnect(&net, &rec.id);
                let _ = Netns::delete_named(&name);
                e
            };
            if let Err(e) = container_net::setup_none(&ns) {
                return Err(fail(net_err(e)));
            }
            let ports = match port_mappings(rec) {
                Ok(p) => p,
                Err(e) => return Err(fail(e)),
            };
            let ip = match rec.berth.requested_ip.as_deref().map(str::parse) {
                Some(Ok(ip)) => Some(ip),
                Some(Err(_)) => return Err(fail(Error::Invalid("invalid --ip".into()))),
                None => None,
            };
            let mut aliases = rec.berth.aliases.clone();
            if net != "bridge" {
                aliases.push(rec.short_name().to_string());
                aliases.push(rec.id[..12].to_string());
            }
            let att = match nets.connect(
                &net,
                &rec.id,
                &ns,
                ConnectOptions {
                    name: Some(rec.short_name().to_string()),
                    hostname: Some(rec.config.hostname.clone()),
                    aliases: aliases.clone(),
                    ip,
                    ports,
                    ..Default::default()
                },
            ) {
                Ok(a) => a,
                Err(e) => {
                    let msg = e.to_string();
                    let e = if msg.contains("in use") || msg.contains("already allocated") {
                        Error::Conflict(format!(
                            "driver failed programming external connectivity on endpoint {}: {msg}",
                            rec.short_name()
                        ))
                    } else {
                        net_err(e)
                    };
                    return Err(fail(e));
                }
            };
            if !att.proxies.is_empty() {
                let p = dir.join("proxies.json");
                if let Err(e) = crate::fsutil::write_json(&p, &att.proxies) {
                    return Err(fail(e));
                }
            }
            out.netns = Some(ns.path().to_string_lossy().into_owned());
            out.hosts_path = nets.hosts_path(&rec.id).to_string_lossy().into_owned();
            out.resolv_path = nets
                .resolv_conf_path(&rec.id)
                .to_string_lossy()
                .into_owned();
            let s = &mut out.settings;
            s.sandbox_key = out.netns.clone().unwrap_or_default();
            s.ip_address = att.ip.to_string();
            s.gateway = att.gateway.map(|g| g.to_string()).unwrap_or_default();
            let mac = att
                .mac
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect::<Vec<_>>()
                .join(":");
            s.mac_address = mac.clone();
            for k in rec.config.exposed_ports.keys() {
                s.ports.insert(k.clone(), None);
            }
            for p in &att.ports {
                s.ports
                    .entry(format!("{}/{}", p.container_port, p.protocol.as_str()))
                    .or_insert(None)
                    .get_or_insert_with(Vec::new)
                    .push(PortBinding {
                        host_ip: p.host_ip.to_string(),
                        host_port: p.host_port.to_string(),
                    });
            }
            s.networks.insert(
                net.clone(),
                EndpointSettings {
                    aliases,
                    network_id: att.network_id.clone(),
                    gateway: s.gateway.clone(),
                    ip_address: att.ip.to_string(),
                    ip_prefix_len: att.prefix_len,
                    mac_address: mac,
                    ipam_config: None,
                },
            );
            // networks joined later with `network connect` are joined again at each start
            let extras = match extra_networks(engine, &rec.id) {
                Ok(x) => x,
                Err(e) => return Err(fail(e)),
            };
            let mut joined: Vec<String> = Vec::new();
            for (name, extra) in extras {
                if name == net || s.networks.contains_key(&name) {
                    continue;
                }
                if nets.inspect(&name).is_err() {
                    // removed while the container was stopped: nothing to join
                    continue;
                }
                match connect_ns(&nets, rec, &name, &ns, &extra) {
                    Ok(ep) => {
                        joined.push(name.clone());
                        s.networks.insert(name, ep);
                    }
                    Err(e) => {
                        for j in &joined {
                            let _ = nets.disconnect(j, &rec.id);
                        }
                        return Err(fail(e));
                    }
                }
            }
        }
    }
    Ok(out)
}

/// A network joined with `network connect`: what to ask for at each start.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ExtraNetwork {
    /// `--alias`.
    #[serde(default)]
    pub aliases: Vec<String>,
    /// `--ip`.
    #[serde(default)]
    pub ip: Option<String>,
}

fn extras_path(engine: &Engine, id: &str) -> PathBuf {
    engine.containers.dir_of(id).join("networks.json")
}

/// The networks a container joined with `network connect` (by network name).
pub fn extra_networks(
    engine: &Engine,
    id: &str,
) -> Result<std::collections::BTreeMap<String, ExtraNetwork>> {
    let p = extras_path(engine, id);
    if !p.exists() {
        return Ok(Default::default());
    }
    crate::fsutil::read_json(&p)
}

/// Record the networks a container joined with `network connect`.
pub fn save_extra_networks(
    engine: &Engine,
    id: &str,
    extras: &std::collections::BTreeMap<String, ExtraNetwork>,
) -> Result<()> {
    let p = extras_path(engine, id);
    if extras.is_empty() {
        return match std::fs::remove_file(&p) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(Error::io("remove", &p, e)),
        };
    }
    crate::fsutil::write_json(&p, extras)
}

/// Join the namespace `ns` of `rec` to the user network `name` (no published ports:
/// those belong to the first network, like Docker's).
pub fn connect_ns(
    nets: &Networks,
    rec: &ContainerRecord,
    name: &str,
    ns: &Netns,
    extra: &ExtraNetwork,
) -> Result<EndpointSettings> {
    let ip = match extra.ip.as_deref().map(str::parse) {
        Some(Ok(ip)) => Some(ip),
        Some(Err(_)) => {
            return Err(Error::Invalid(format!(
                "invalid IPv4 address: {}",
                extra.ip.as_deref().unwrap_or_default()
            )));
        }
        None => None,
    };
    let mut aliases = extra.aliases.clone();
    if name != container_net::DEFAULT_BRIDGE {
        aliases.push(rec.short_name().to_string());
        aliases.push(rec.id[..12].to_string());
    }
    let att = nets
        .connect(
            name,
            &rec.id,
            ns,
            ConnectOptions {
                name: Some(rec.short_name().to_string()),
                hostname: Some(rec.config.hostname.clone()),
                aliases: aliases.clone(),
                ip,
                ..Default::default()
            },
        )
        .map_err(net_err)?;
    Ok(EndpointSettings {
        aliases,
        network_id: att.network_id.clone(),
        gateway: att.gateway.map(|g| g.to_string()).unwrap_or_default(),
        ip_address: att.ip.to_string(),
        ip_prefix_len: att.prefix_len,
        mac_address: container_net::mac_string(&att.mac),
        ipam_config: extra
            .ip
            .as_ref()
            .map(|ip| serde_json::json!({"IPv4Address": ip})),
    })
}

/// Undo `setup`: leave the networks, delete the namespace. Idempotent.
pub fn teardown(engine: &Engine, rec: &ContainerRecord) -> Result<()> {
    let mut first_err = None;
    let joined: Vec<String> = rec
        .network_settings
        .networks
        .keys()
        .filter(|n| !matches!(n.as_str(), "host" | "none"))
        .cloned()
        .collect();
    if !joined.is_empty() {
        match networks(engine) {
            Ok(nets) => {
                for n in joined {
                    if let Err(e) = nets.disconnect(&n, &rec.id) {
                        let msg = e.to_string();
                        if !msg.contains("not connected") && !msg.contains("not found") {
                            first_err.get_or_insert(net_err(e));
                        }
                    }
                }
            }
            Err(e) => {
                first_err.get_or_insert(e);
            }
        }
    }
    let _ = std::fs::remove_file(engine.containers.dir_of(&rec.id).join("proxies.json"));
    if rec.berth.netns.starts_with("/run/netns/berth-")
        && let Err(e) = Netns::delete_named(&netns_name(&rec.id))
    {
        first_err.get_or_insert(net_err(e));
    }
    match first_err {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

/// Forget the container in the network store (its hosts files) at removal.
pub fn forget(engine: &Engine, rec: &ContainerRecord) {
    if let Ok(nets) = networks(engine) {
        let _ = nets.forget_container(&rec.id);
    }
}

/// Run the userland port proxies the network layer asked for (when nftables is missing);
/// called by the monitor, returns the running proxy to keep alive.
pub fn start_proxies(engine: &Engine, id: &str) -> Option<container_net::Proxy> {
    let p: PathBuf = engine.containers.dir_of(id).join("proxies.json");
    let specs: Vec<container_net::ProxySpec> = crate::fsutil::read_json(&p).ok()?;
    let host = Netns::current().ok()?;
    container_net::Proxy::start(&specs, &host).ok()
}
