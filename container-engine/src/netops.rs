//! `network connect` and `network disconnect`: join a container to one more user
//! network, or leave one, while it runs (or for its next start). The peers' hosts files
//! are rewritten in place by `container-net`, so names resolve at once both ways.

use crate::engine::Engine;
use crate::error::{Error, Result};
use crate::network::{
    ExtraNetwork, connect_ns, extra_networks, net_err, networks, save_extra_networks,
};
use container_net::{Netns, NetworkMode};

/// What `network connect` asks for.
#[derive(Debug, Clone, Default)]
pub struct ConnectRequest {
    /// `--alias`: more names for the container on this network.
    pub aliases: Vec<String>,
    /// `--ip`: a static address.
    pub ip: Option<String>,
}

/// Marks a container that left every network (its mode reads `none` until it joins
/// one again), unlike one made with `--network none`, which may never join one.
const DETACHED_MARK: &str = "network-detached";

impl Engine {
    fn detached_mark(&self, id: &str) -> std::path::PathBuf {
        self.containers.dir_of(id).join(DETACHED_MARK)
    }

    fn check_joinable(&self, mode: &str) -> Result<()> {
        match NetworkMode::parse(mode).map_err(|e| Error::Invalid(e.to_string()))? {
            NetworkMode::Host => Err(Error::Conflict(
                "container cannot be disconnected from host network or connected to host network"
                    .into(),
            )),
            NetworkMode::None => Err(Error::Conflict(
                "container cannot be connected to multiple networks with one of the networks in private (none) mode"
                    .into(),
            )),
            NetworkMode::Container(_) => Err(Error::Conflict(
                "conflicting options: container type network can't be used with multiple networks"
                    .into(),
            )),
            NetworkMode::Network(_) => Ok(()),
        }
    }

    /// `docker network connect`: join `container` to `network` now if it runs, and at
    /// each later start.
    pub fn network_connect(
        &self,
        network: &str,
        container: &str,
        req: &ConnectRequest,
    ) -> Result<()> {
        let nets = networks(self)?;
        if network == container_net::DEFAULT_BRIDGE {
            nets.ensure_default_bridge().map_err(net_err)?;
        }
        let net = nets
            .inspect(network)
            .map_err(|_| Error::NoSuchNetwork(network.into()))?;
        let rec = self.record(container)?;
        // it left every network: the one joined now becomes its first network
        let rejoin = rec.host_config.network_mode == "none" && self.detached_mark(&rec.id).exists();
        if !rejoin {
            self.check_joinable(&rec.host_config.network_mode)?;
        }
        if let Some(ip) = &req.ip {
            ip.parse::<std::net::Ipv4Addr>()
                .map_err(|_| Error::Invalid(format!("invalid IPv4 address: {ip}")))?;
        }
        for a in &req.aliases {
            if !container_net::names::valid_name(a) {
                return Err(Error::Invalid(format!("invalid alias {a:?}")));
            }
        }
        let mut extras = extra_networks(self, &rec.id)?;
        let first = rec.host_config.network_mode.as_str();
        if extras.contains_key(&net.name)
            || first == net.name
            || first == net.id
            || rec.network_settings.networks.contains_key(&net.name)
        {
            return Err(Error::Conflict(format!(
                "endpoint with name {} already exists in network {}",
                rec.short_name(),
                net.name
            )));
        }
        let extra = ExtraNetwork {
            aliases: req.aliases.clone(),
            ip: req.ip.clone(),
        };
        if rec.state.running && rec.state.pid > 0 {
            // the namespace by the container's pid: its bind mount under /run/netns may
            // live in another mount namespace (the one of the process that started it)
            let ns = Netns::from_pid(rec.state.pid).map_err(net_err)?;
            if !crate::state::process_alive(rec.state.pid, rec.berth.pid_start) {
                return Err(Error::Conflict(format!(
                    "container {} is not running",
                    rec.short_name()
                )));
            }
            let ep = connect_ns(&nets, &rec, &net.name, &ns, &extra)?;
            let name = net.name.clone();
            let saved = self
                .containers
                .update(&rec.id, |r| {
                    r.network_settings.networks.remove("none");
                    r.network_settings.networks.insert(name, ep);
                })
                .map(|_| ());
            if let Err(e) = saved {
                let _ = nets.disconnect(&net.name, &rec.id);
                return Err(e);
            }
        }
        if rejoin {
            let name = net.name.clone();
            let made_first = self
                .containers
                .update(&rec.id, |r| {
                    r.host_config.network_mode = name;
                    r.berth.aliases = extra.aliases.clone();
                    r.berth.requested_ip = extra.ip.clone();
                })
                .map(|_| ());
            if let Err(e) = made_first {
                let _ = self.network_disconnect(&net.name, &rec.id, true);
                return Err(e);
            }
            let mark = self.detached_mark(&rec.id);
            return std::fs::remove_file(&mark).map_err(|e| Error::io("remove", &mark, e));
        }
        extras.insert(net.name.clone(), extra);
        if let Err(e) = save_extra_networks(self, &rec.id, &extras) {
            let _ = self.network_disconnect(&net.name, &rec.id, true);
            return Err(e);
        }
        Ok(())
    }

    /// `docker network disconnect`: leave `network` (a running container loses the
    /// interface at once). `force` ignores a container that is not connected.
    pub fn network_disconnect(&self, network: &str, container: &str, force: bool) -> Result<()> {
        let nets = networks(self)?;
        let net = nets
            .inspect(network)
            .map_err(|_| Error::NoSuchNetwork(network.into()))?;
        let rec = self.record(container)?;
        let mut extras = extra_networks(self, &rec.id)?;
        let in_extras = extras.remove(&net.name).is_some();
        let key = rec
            .network_settings
            .networks
            .keys()
            .find(|k| **k == net.name || **k == net.id)
            .cloned();
        let first = rec.host_config.network_mode.as_str();
        let is_first = first == net.name || first == net.id;
        if !in_extras && key.is_none() && !is_first {
            if force {
                return Ok(());
            }
            return Err(Error::Conflict(format!(
                "container {} is not connected to network {}",
                rec.short_name(),
                net.name
            )));
        }
        if let Some(k) = &key
            && rec.state.running
        {
            match nets.disconnect(&net.name, &rec.id) {
                Ok(()) => {}
                Err(container_net::Error::NotConnected { .. }) => {}
                Err(e) => return Err(net_err(e)),
            }
            let k = k.clone();
            self.containers.update(&rec.id, |r| {
                r.network_settings.networks.remove(&k);
            })?;
        }
        if is_first {
            // another network it is on becomes the first one (joined at each start,
            // with its aliases and address); with none left it has no network, and
            // may join one again later, as with Docker
            let next = extras.keys().next().cloned();
            match next.and_then(|n| extras.remove(&n).map(|x| (n, x))) {
                Some((name, x)) => {
                    save_extra_networks(self, &rec.id, &extras)?;
                    self.containers.update(&rec.id, |r| {
                        r.host_config.network_mode = name;
                        r.berth.aliases = x.aliases;
                        r.berth.requested_ip = x.ip;
                    })?;
                }
                None => {
                    let mark = self.detached_mark(&rec.id);
                    crate::fsutil::write_atomic(&mark, b"")?;
                    save_extra_networks(self, &rec.id, &extras)?;
                    self.containers.update(&rec.id, |r| {
                        r.host_config.network_mode = "none".into();
                        r.berth.aliases.clear();
                        r.berth.requested_ip = None;
                    })?;
                }
            }
            return Ok(());
        }
        save_extra_networks(self, &rec.id, &extras)
    }
}
