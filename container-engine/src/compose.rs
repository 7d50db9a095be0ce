//! Running a compose project: the plan of `container-compose` executed through the engine.
//!
//! [`Engine::compose`] gives a [`ComposeRunner`] over a resolved [`Project`]; its methods
//! are the `docker compose` subcommands: [`up`](ComposeRunner::up),
//! [`down`](ComposeRunner::down), [`ps`](ComposeRunner::ps), [`logs`](ComposeRunner::logs),
//! [`start`](ComposeRunner::start), [`stop`](ComposeRunner::stop),
//! [`restart`](ComposeRunner::restart), [`exec`](ComposeRunner::exec),
//! [`run`](ComposeRunner::run), [`build`](ComposeRunner::build) and
//! [`pull`](ComposeRunner::pull). Like the rest of the engine there is no daemon: the
//! project's state is the containers themselves, found again by their labels
//! (`com.docker.compose.project`, `.service`, `.container-number`, `.oneoff`,
//! `.config-hash`), so any process that loads the same files controls the same project.
//!
//! What `up` does, in order, and why in that order: it checks every service's options
//! first (so bad input creates nothing), then builds or pulls the images it lacks, then
//! creates the networks and volumes (`project_key`), then converges the services in
//! dependency order, waiting for each `depends_on` condition. A service whose
//! configuration hash (the resolved service plus its image id) differs from the label of
//! its containers is recreated, replica by replica groups of `deploy.update_config`
//! (parallelism, delay, order `stop-first`/`start-first`); an unchanged one is left alone
//! (started if it was stopped). Replicas beyond the wanted count are removed.
//!
//! The runner reports progress as [`Event`]s to the callback given to
//! [`ComposeRunner::on_event`]; the engine's methods are blocking, call them from a
//! blocking context (`spawn_blocking`) in async code.
//!
//! ```no_run
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use container_engine::compose::UpOptions;
//! let project = container_compose::load(&container_compose::LoadOptions {
//!     files: vec!["compose.yaml".into()],
//!     ..Default::default()
//! })?;
//! let engine = container_engine::Engine::open("/var/lib/berth")?;
//! let runner = engine.compose(&project).on_event(|e| eprintln!("{e}"));
//! runner.up(&UpOptions::default())?;
//! for c in runner.ps(&[])? {
//!     println!("{} {}", c.name, c.status);
//! }
//! runner.down(&Default::default())?;
//! # Ok(()) }
//! ```

mod images;
mod logs;
mod oneoff;
mod options;
pub mod service;
pub mod wait;

pub use options::{
    Action, ContainerSummary, DownOptions, Event, ExecOptions, LogsOptions, Object, RemoveImages,
    RunOptions, UpOptions,
};

use crate::engine::{Engine, RmOptions};
use crate::error::{Error, Result};
use crate::model::ContainerRecord;
use container_compose::{Plan, Project, Service, Step};
use service::{
    CONFIG_HASH_LABEL, IMAGE_LABEL, NUMBER_LABEL, ONEOFF_LABEL, PROJECT_LABEL, SERVICE_LABEL,
};
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

type EventFn<'a> = Box<dyn Fn(&Event) + Send + Sync + 'a>;

/// Runs one compose project on an engine; see the [module documentation](self).
pub struct ComposeRunner<'a> {
    engine: &'a Engine,
    project: &'a Project,
    on_event: Option<EventFn<'a>>,
    registry: crate::distribution::RegistryAuth,
}

impl Engine {
    /// A runner of `project` on this engine (`docker compose` as a library).
    pub fn compose<'a>(&'a self, project: &'a Project) -> ComposeRunner<'a> {
        ComposeRunner {
            engine: self,
            project,
            on_event: None,
            registry: Default::default(),
        }
    }
}

fn compose_err(e: container_compose::Error) -> Error {
    Error::Invalid(e.to_string())
}

fn label<'r>(rec: &'r ContainerRecord, key: &str) -> Option<&'r str> {
    rec.config.labels.get(key).map(String::as_str)
}

fn is_oneoff(rec: &ContainerRecord) -> bool {
    label(rec, ONEOFF_LABEL) == Some("True")
}

impl<'a> ComposeRunner<'a> {
    /// Report progress to `f` (e.g. print it).
    pub fn on_event(mut self, f: impl Fn(&Event) + Send + Sync + 'a) -> Self {
        self.on_event = Some(Box::new(f));
        self
    }

    /// How `pull` (and `up` for missing images) reaches registries.
    pub fn registry_auth(mut self, auth: crate::distribution::RegistryAuth) -> Self {
        self.registry = auth;
        self
    }

    /// The project this runner runs.
    pub fn project(&self) -> &Project {
        self.project
    }

    fn emit(&self, object: Object, name: &str, action: Action) {
        if let Some(f) = &self.on_event {
            f(&Event::Object {
                object,
                name: name.to_string(),
                action,
            });
        }
    }

    fn service(&self, name: &str) -> Result<&'a Service> {
        self.project
            .services
            .get(name)
            .ok_or_else(|| Error::Invalid(format!("no such service: {name}")))
    }

    /// The selected services plus everything they depend on (all when `wanted` is empty).
    fn with_dependencies(&self, wanted: &[String]) -> Result<BTreeSet<String>> {
        if wanted.is_empty() {
            return Ok(self.project.services.keys().cloned().collect());
        }
        let mut out = BTreeSet::new();
        let mut todo: Vec<String> = wanted.to_vec();
        while let Some(s) = todo.pop() {
            let svc = self.service(&s)?;
            if out.insert(s.clone()) {
                todo.extend(container_compose::plan::dependencies(svc));
            }
        }
        Ok(out)
    }

    /// Services in start order (dependencies first).
    fn order(&self) -> Result<Vec<String>> {
        container_compose::plan::topo_order(self.project)
            .map_err(|c| Error::Invalid(format!("dependency cycle: {}", c.join(" -> "))))
    }

    /// Every container of the project (replicas and one-off containers), any state.
    fn containers(&self) -> Result<Vec<ContainerRecord>> {
        Ok(self
            .engine
            .ps(true)?
            .into_iter()
            .filter(|r| label(r, PROJECT_LABEL) == Some(self.project.name.as_str()))
            .collect())
    }

    /// Replica containers of `services` (all when empty), in start order of their
    /// services, then by replica number.
    fn replicas(&self, services: &[String]) -> Result<Vec<ContainerRecord>> {
        for s in services {
            self.service(s)?;
        }
        let order = self.order()?;
        let rank = |s: &str| order.iter().position(|x| x == s).unwrap_or(usize::MAX);
        let mut out: Vec<ContainerRecord> = self
            .containers()?
            .into_iter()
            .filter(|r| !is_oneoff(r))
            .filter(|r| {
                let svc = label(r, SERVICE_LABEL).unwrap_or_default();
                services.is_empty() || services.iter().any(|s| s == svc)
            })
            .collect();
        out.sort_by_key(|r| {
            (
                rank(label(r, SERVICE_LABEL).unwrap_or_default()),
                label(r, NUMBER_LABEL)
                    .and_then(|n| n.parse::<u64>().ok())
                    .unwrap_or(0),
                r.name.clone(),
            )
        });
        Ok(out)
    }

    // ---- networks and volumes -----------------------------------------------------

    /// The network configurations of the plan, checked before anything is created.
    fn network_configs(&self, plan: &Plan) -> Result<Vec<container_net::NetworkConfig>> {
        let mut out = Vec::new();
        for step in &plan.create {
            let Step::Network { key, name } = step else {
                continue;
            };
            let n = &self.project.networks[key];
            let bad = |what: &str| Error::Invalid(format!("network {key}: {what}"));
            let mut cfg = container_net::NetworkConfig::bridge(name);
            cfg.driver = match n.driver.as_deref() {
                None | Some("bridge") => container_net::Driver::Bridge,
                Some("macvlan") => container_net::Driver::Macvlan,
                Some("overlay") => container_net::Driver::Overlay,
                Some(d) => return Err(bad(&format!("driver {d} is not supported"))),
            };
            if let Some(pool) = n.ipam.as_ref().and_then(|i| i.config.first()) {
                if let Some(s) = &pool.subnet {
                    cfg.subnet = Some(s.parse().map_err(|_| bad(&format!("invalid subnet {s}")))?);
                }
                if let Some(g) = &pool.gateway {
                    cfg.gateway = Some(
                        g.parse()
                            .map_err(|_| bad(&format!("invalid gateway {g}")))?,
                    );
                }
            }
            cfg.internal = n.internal;
            for (k, v) in &n.driver_opts {
                cfg.options.insert(k.clone(), v.clone().unwrap_or_default());
            }
            for (k, v) in &n.labels {
                cfg.labels.insert(k.clone(), v.clone().unwrap_or_default());
            }
            cfg.labels
                .insert(PROJECT_LABEL.into(), self.project.name.clone());
            out.push(cfg);
        }
        Ok(out)
    }

    /// Create the networks and volumes that do not exist yet; external ones must exist.
    fn create_resources(&self, networks: Vec<container_net::NetworkConfig>) -> Result<()> {
        let nets = crate::network::networks(self.engine)?;
        for (key, n) in &self.project.networks {
            if n.external && nets.inspect(&n.name).is_err() {
                return Err(Error::NoSuchNetwork(format!(
                    "{} (external network {key})",
                    n.name
                )));
            }
        }
        let vols = crate::volumes::Volumes::open(self.engine.root())?;
        for (key, v) in &self.project.volumes {
            if v.external && !vols.exists(&v.name) {
                return Err(Error::NoSuchVolume(format!(
                    "{} (external volume {key})",
                    v.name
                )));
            }
        }
        for cfg in networks {
            if nets.inspect(&cfg.name).is_ok() {
                continue;
            }
            let name = cfg.name.clone();
            nets.create(cfg)
                .map_err(|e| Error::Network(format!("{name}: {e}")))?;
            self.emit(Object::Network, &name, Action::Created);
        }
        for v in self.project.volumes.values().filter(|v| !v.external) {
            if !vols.exists(&v.name) {
                let mut labels: BTreeMap<String, String> = v
                    .labels
                    .iter()
                    .map(|(k, x)| (k.clone(), x.clone().unwrap_or_default()))
                    .collect();
                labels.insert(PROJECT_LABEL.to_string(), self.project.name.clone());
                vols.create(&v.name, &labels)?;
                self.emit(Object::Volume, &v.name, Action::Created);
            }
        }
        Ok(())
    }

    // ---- containers ---------------------------------------------------------------

    /// Stop (if needed) and remove a container; a removal that fails right after the
    /// stop (the monitor still finishing) is retried a few times.
    fn remove_container(&self, name: &str, timeout: Option<Duration>) -> Result<()> {
        let running = self.engine.record(name).is_ok_and(|r| r.state.running);
        if running {
            self.engine.stop(name, timeout)?;
            self.emit(Object::Container, name, Action::Stopped);
        }
        let mut last = None;
        for _ in 0..5 {
            match self.engine.rm(
                name,
                RmOptions {
                    force: true,
                    ..RmOptions::default()
                },
            ) {
                Ok(_) => {
                    self.emit(Object::Container, name, Action::Removed);
                    return Ok(());
                }
                Err(Error::NoSuchContainer(_)) => return Ok(()),
                Err(e) => last = Some(e),
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        Err(last.unwrap_or_else(|| Error::Conflict(format!("cannot remove {name}"))))
    }

    /// Create and start replica `number` of `name` as container `container`.
    fn create_replica(
        &self,
        name: &str,
        s: &Service,
        container: &str,
        number: u64,
        image_id: &str,
    ) -> Result<String> {
        let mut o = service::run_options(self.project, name, s, container, number)?;
        o.labels.push(format!(
            "{CONFIG_HASH_LABEL}={}",
            service::config_hash(s, image_id)
        ));
        o.labels.push(format!("{IMAGE_LABEL}={image_id}"));
        let id = self.engine.create(&o)?;
        self.emit(Object::Container, container, Action::Created);
        if let Err(e) = self.engine.start(&id) {
            let _ = self.engine.rm(
                &id,
                RmOptions {
                    force: true,
                    volumes: true,
                },
            );
            return Err(e);
        }
        self.emit(Object::Container, container, Action::Started);
        Ok(id)
    }

    /// Wait until a new replica is ready: healthy when the service has a healthcheck,
    /// else running.
    fn wait_ready(
        &self,
        name: &str,
        s: &Service,
        container: &str,
        timeout: Duration,
    ) -> Result<()> {
        let has_check = s
            .healthcheck
            .as_ref()
            .is_some_and(|h| !h.disable && h.test.first().is_some_and(|t| t != "NONE"));
        if has_check {
            self.emit(Object::Container, container, Action::Waiting);
            wait::wait_for(
                self.engine,
                name,
                container,
                wait::HEALTHY,
                timeout,
                s.healthcheck.as_ref(),
            )?;
            self.emit(Object::Container, container, Action::Healthy);
        }
        Ok(())
    }

    /// Replace outdated replicas in groups per `deploy.update_config`: `parallelism`
    /// replicas at a time (1 when an update_config is given without it, all when there is
    /// none, 0 meaning all), `delay` between groups, `stop-first` (default: the old
    /// replica goes, then the new one starts) or `start-first` (the old one is renamed
    /// aside, the new one starts, then the old one goes). Each group must be ready
    /// before the next begins.
    fn rolling_update(
        &self,
        name: &str,
        s: &Service,
        outdated: &[(u64, String)],
        image_id: &str,
        timeout: Duration,
    ) -> Result<()> {
        let uc = s.deploy.as_ref().and_then(|d| d.update_config.as_ref());
        let group = match uc.map(|u| u.parallelism) {
            None | Some(Some(0)) => outdated.len(),
            Some(None) => 1,
            Some(Some(n)) => n.min(usize::MAX as u64) as usize,
        }
        .max(1);
        let delay = uc.and_then(|u| u.delay).unwrap_or_default();
        let start_first = uc.and_then(|u| u.order.as_deref()) == Some("start-first");
        let stop_timeout = s.stop_grace_period;
        for (i, chunk) in outdated.chunks(group).enumerate() {
            if i > 0 && !delay.is_zero() {
                std::thread::sleep(delay);
            }
            if start_first {
                let mut aside = Vec::new();
                for (_, c) in chunk {
                    let rec = self.engine.record(c)?;
                    let tmp = format!("{}_{c}", &rec.id[..12.min(rec.id.len())]);
                    self.engine.rename(c, &tmp)?;
                    self.emit(Object::Container, c, Action::Renamed);
                    aside.push(tmp);
                }
                for (n, c) in chunk {
                    self.create_replica(name, s, c, *n, image_id)?;
                }
                for (_, c) in chunk {
                    self.wait_ready(name, s, c, timeout)?;
                }
                for tmp in aside {
                    self.remove_container(&tmp, stop_timeout)?;
                }
            } else {
                for (_, c) in chunk {
                    self.remove_container(c, stop_timeout)?;
                }
                for (n, c) in chunk {
                    self.create_replica(name, s, c, *n, image_id)?;
                }
                for (_, c) in chunk {
                    self.wait_ready(name, s, c, timeout)?;
                }
            }
        }
        Ok(())
    }

    /// Bring one service to its wanted containers; returns whether any was (re)created.
    fn converge(
        &self,
        name: &str,
        wanted: &[String],
        image_id: &str,
        opts: &UpOptions,
    ) -> Result<bool> {
        let s = self.service(name)?;
        let hash = service::config_hash(s, image_id);
        let existing: BTreeMap<String, ContainerRecord> = self
            .replicas(&[name.to_string()])?
            .into_iter()
            .map(|r| (r.short_name().to_string(), r))
            .collect();
        let mut changed = false;
        let mut outdated = Vec::new();
        for (i, c) in wanted.iter().enumerate() {
            let number = i as u64 + 1;
            match existing.get(c) {
                None => {
                    self.create_replica(name, s, c, number, image_id)?;
                    changed = true;
                }
                Some(rec)
                    if !opts.no_recreate
                        && (opts.force_recreate
                            || label(rec, CONFIG_HASH_LABEL) != Some(hash.as_str())) =>
                {
                    outdated.push((number, c.clone()));
                }
                Some(rec) if rec.state.running || rec.state.status == "restarting" => {
                    self.emit(Object::Container, c, Action::Running);
                }
                Some(_) => {
                    self.engine.start(c)?;
                    self.emit(Object::Container, c, Action::Started);
                }
            }
        }
        if !outdated.is_empty() {
            self.rolling_update(name, s, &outdated, image_id, opts.wait_timeout)?;
            changed = true;
        }
        // Replicas beyond the wanted count (scaled down) go, highest number first.
        for c in existing.keys().rev().filter(|c| !wanted.contains(c)) {
            self.remove_container(c, s.stop_grace_period)?;
        }
        Ok(changed)
    }

    /// `docker compose up -d`: check, build/pull, create networks and volumes, then
    /// converge the services in dependency order (see the [module documentation](self)).
    /// Bad input (an unknown service, an option the engine refuses, an unsupported
    /// network driver) is reported before anything is created.
    pub fn up(&self, opts: &UpOptions) -> Result<()> {
        let p = self.project;
        for k in opts.scale.keys() {
            self.service(k)?;
        }
        let plan = Plan::new(p, &opts.scale).map_err(compose_err)?;
        let selected = self.with_dependencies(&opts.services)?;
        // 1. every check before any side effect
        let networks = self.network_configs(&plan)?;
        for name in &selected {
            let s = self.service(name)?;
            if s.image.is_none() && s.build.is_none() {
                return Err(Error::Invalid(format!(
                    "service {name} has neither an image nor a build context"
                )));
            }
            let probe = service::run_options(p, name, s, "probe", 1)?;
            service::check(name, &probe)?;
        }
        // 2. images
        let images = self.ensure_images(&selected, opts.build)?;
        // 3. networks and volumes
        self.create_resources(networks)?;
        // 4. services, dependencies first
        let mut started: BTreeMap<String, Vec<String>> = BTreeMap::new();
        let mut recreated = BTreeSet::new();
        for step in &plan.create {
            let Step::Service {
                service: name,
                containers,
            } = step
            else {
                continue;
            };
            if !selected.contains(name) {
                continue;
            }
            let s = self.service(name)?;
            for (dep, d) in &s.depends_on {
                for c in started.get(dep).into_iter().flatten() {
                    if d.condition != wait::STARTED {
                        self.emit(Object::Container, c, Action::Waiting);
                    }
                    wait::wait_for(
                        self.engine,
                        dep,
                        c,
                        &d.condition,
                        opts.wait_timeout,
                        p.services.get(dep).and_then(|x| x.healthcheck.as_ref()),
                    )?;
                    if d.condition == wait::HEALTHY {
                        self.emit(Object::Container, c, Action::Healthy);
                    }
                }
            }
            let image_id = images.get(name).map(String::as_str).unwrap_or_default();
            if self.converge(name, containers, image_id, opts)? {
                recreated.insert(name.clone());
            } else if s
                .depends_on
                .iter()
                .any(|(dep, d)| d.restart && recreated.contains(dep))
            {
                // `depends_on.restart: true`: follow a dependency that was replaced
                for c in containers {
                    self.restart_container(c, s.stop_grace_period)?;
                    self.emit(Object::Container, c, Action::Restarted);
                }
            }
            started.insert(name.clone(), containers.clone());
        }
        if opts.remove_orphans {
            self.remove_orphans()?;
        }
        Ok(())
    }

    /// Remove containers whose service is not in the project any more.
    fn remove_orphans(&self) -> Result<()> {
        for rec in self.containers()? {
            let svc = label(&rec, SERVICE_LABEL).unwrap_or_default();
            if !self.project.services.contains_key(svc) {
                self.remove_container(rec.short_name(), None)?;
            }
        }
        Ok(())
    }

    /// `docker compose down`: remove the project's containers (one-off ones too) in
    /// reverse dependency order, then its networks; with `volumes` its named volumes,
    /// with `rmi` its images.
    pub fn down(&self, opts: &DownOptions) -> Result<()> {
        let order = self.order()?;
        let mut left = self.containers()?;
        left.sort_by_key(|r| {
            let svc = label(r, SERVICE_LABEL).unwrap_or_default();
            (
                std::cmp::Reverse(order.iter().position(|x| x == svc)),
                std::cmp::Reverse(r.name.clone()),
            )
        });
        for rec in &left {
            self.remove_container(rec.short_name(), opts.timeout)?;
        }
        let nets = crate::network::networks(self.engine)?;
        for n in self.project.networks.values().filter(|n| !n.external) {
            if nets.inspect(&n.name).is_ok() {
                nets.remove(&n.name)
                    .map_err(|e| Error::Network(format!("{}: {e}", n.name)))?;
                self.emit(Object::Network, &n.name, Action::Removed);
            }
        }
        if opts.volumes {
            let vols = crate::volumes::Volumes::open(self.engine.root())?;
            for v in self.project.volumes.values().filter(|v| !v.external) {
                if vols.exists(&v.name) {
                    vols.remove(&v.name, false)?;
                    self.emit(Object::Volume, &v.name, Action::Removed);
                }
            }
        }
        if let Some(mode) = opts.rmi {
            self.remove_images(mode)?;
        }
        Ok(())
    }

    /// `down --rmi`: the images of the project's services that no container uses.
    fn remove_images(&self, mode: RemoveImages) -> Result<()> {
        let store = crate::images::store(self.engine)?;
        let mut images = BTreeSet::new();
        for (name, s) in &self.project.services {
            if mode == RemoveImages::All || s.image.is_none() {
                images.insert(service::image_name(self.project, name, s));
            }
        }
        let users = self.engine.ps(true)?;
        for image in images {
            if crate::images::find(&store, &image).is_err() {
                continue;
            }
            if let Some(r) = users
                .iter()
                .find(|r| r.config.image == image || r.berth.image_ref == image)
            {
                return Err(Error::Conflict(format!(
                    "image {image} is used by container {}",
                    r.short_name()
                )));
            }
            store.remove(&image).map_err(crate::images::img_err)?;
            self.emit(Object::Image, &image, Action::Removed);
        }
        Ok(())
    }

    /// `docker compose ps`: the replica containers of `services` (all when empty), in
    /// start order; one-off `run` containers are not listed.
    pub fn ps(&self, services: &[String]) -> Result<Vec<ContainerSummary>> {
        Ok(self
            .replicas(services)?
            .into_iter()
            .map(|r| {
                let mut ports = Vec::new();
                for (port, bindings) in &r.network_settings.ports {
                    for b in bindings.iter().flatten() {
                        let ip = if b.host_ip.is_empty() {
                            "0.0.0.0"
                        } else {
                            &b.host_ip
                        };
                        ports.push(format!("{ip}:{}->{port}", b.host_port));
                    }
                }
                ContainerSummary {
                    name: r.short_name().to_string(),
                    service: label(&r, SERVICE_LABEL).unwrap_or_default().to_string(),
                    number: label(&r, NUMBER_LABEL)
                        .and_then(|n| n.parse().ok())
                        .unwrap_or(0),
                    status: r.state.status.clone(),
                    health: r.state.health.as_ref().map(|h| h.status.clone()),
                    exit_code: r.state.exit_code,
                    config_hash: label(&r, CONFIG_HASH_LABEL).unwrap_or_default().to_string(),
                    ports,
                    id: r.id,
                }
            })
            .collect())
    }

    /// `docker compose start`: start the existing containers of `services` (all when
    /// empty) in dependency order.
    pub fn start(&self, services: &[String]) -> Result<()> {
        for r in self.replicas(services)? {
            if !r.state.running {
                self.engine.start(&r.id)?;
                self.emit(Object::Container, r.short_name(), Action::Started);
            }
        }
        Ok(())
    }

    /// `docker compose stop`: stop the containers of `services` (all when empty) in
    /// reverse dependency order; `timeout` overrides each one's stop grace period.
    pub fn stop(&self, services: &[String], timeout: Option<Duration>) -> Result<()> {
        for r in self.replicas(services)?.into_iter().rev() {
            if r.state.running || r.state.status == "restarting" {
                self.engine.stop(&r.id, timeout)?;
                self.emit(Object::Container, r.short_name(), Action::Stopped);
            }
        }
        Ok(())
    }

    /// `docker compose restart`: stop, then start, the containers of `services` (all
    /// when empty), dependencies first.
    pub fn restart(&self, services: &[String], timeout: Option<Duration>) -> Result<()> {
        for r in self.replicas(services)? {
            self.restart_container(&r.id, timeout)?;
            self.emit(Object::Container, r.short_name(), Action::Restarted);
        }
        Ok(())
    }

    /// Stop, then start. A start right after the stop can fail while the old run's
    /// network is still being released: it is retried for up to two seconds.
    fn restart_container(&self, id: &str, timeout: Option<Duration>) -> Result<()> {
        self.engine.stop(id, timeout)?;
        let mut attempt = 0;
        loop {
            match self.engine.start(id) {
                Ok(_) => return Ok(()),
                Err(e @ (Error::Network(_) | Error::Runtime(_))) if attempt < 10 => {
                    tracing::debug!("restart {id}: {e}; retrying");
                    attempt += 1;
                    std::thread::sleep(Duration::from_millis(200));
                }
                Err(e) => return Err(e),
            }
        }
    }
}
