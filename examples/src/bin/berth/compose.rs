//! `berth compose`: define and run multi-container applications from compose files.
//!
//! Thin: clap parsing and printing; resolving lives in `container-compose`.

use std::path::{Path, PathBuf};

/// Output format of `berth compose config`.
#[derive(Clone, Copy, Debug, clap::ValueEnum)]
pub enum ConfigFormat {
    /// Canonical YAML.
    Yaml,
    /// JSON.
    Json,
}

/// Global flags of `berth compose` and its subcommand.
#[derive(clap::Args)]
pub struct ComposeArgs {
    /// Compose file(s); later files override earlier ones.
    #[arg(short = 'f', long = "file", global = true)]
    pub files: Vec<PathBuf>,
    /// Project name.
    #[arg(short = 'p', long = "project-name", global = true)]
    pub project_name: Option<String>,
    /// Environment file(s) used for interpolation (instead of `.env`).
    #[arg(long = "env-file", global = true)]
    pub env_files: Vec<PathBuf>,
    /// Enable services of this profile.
    #[arg(long = "profile", global = true)]
    pub profiles: Vec<String>,
    /// Project directory (default: the directory of the first file).
    #[arg(long = "project-directory", global = true)]
    pub project_directory: Option<PathBuf>,
    /// What to do.
    #[command(subcommand)]
    pub command: ComposeCommand,
}

/// `berth compose ...` subcommands.
#[derive(clap::Subcommand)]
pub enum ComposeCommand {
    /// Print the resolved, normalized model.
    Config {
        /// Output format.
        #[arg(long, value_enum, default_value = "yaml")]
        format: ConfigFormat,
        /// Print only the service names.
        #[arg(long)]
        services: bool,
        /// Only validate; print nothing.
        #[arg(short, long)]
        quiet: bool,
    },
    /// Create networks and volumes, then start the services in dependency order.
    Up {
        /// Detached (the only mode: containers always run in the background).
        #[arg(short, long)]
        detach: bool,
        /// Replicas of a service (`svc=N`).
        #[arg(long = "scale")]
        scale: Vec<String>,
        /// Wait up to this many seconds for each `depends_on` condition.
        #[arg(long, default_value = "120")]
        wait_timeout: u64,
        /// Only these services (and their dependencies).
        services: Vec<String>,
    },
    /// Stop and remove the project's containers and networks (and volumes with -v).
    Down {
        /// Also remove the named volumes of the project.
        #[arg(short, long)]
        volumes: bool,
    },
    /// List the project's containers.
    Ps,
    /// Print the logs of the project's containers.
    Logs {
        /// Only these services.
        services: Vec<String>,
    },
    /// Stop the project's containers.
    Stop {
        /// Only these services.
        services: Vec<String>,
    },
    /// Start the project's existing containers.
    Start {
        /// Only these services.
        services: Vec<String>,
    },
}

/// Exit code for configuration errors (documented in container-compose/COMPAT.md).
pub const EXIT_CONFIG: i32 = container_compose::EXIT_CONFIG_ERROR;

fn load_options(args: &ComposeArgs) -> container_compose::LoadOptions {
    let mut o = container_compose::LoadOptions::from_process_env();
    o.files = args.files.clone();
    o.project_name = args.project_name.clone();
    o.env_files = args.env_files.clone();
    o.profiles = args.profiles.clone();
    o.project_directory = args.project_directory.clone();
    o
}

/// Load the project or print the error (file, line, key) and return the exit code.
fn load(args: &ComposeArgs) -> Result<container_compose::Project, i32> {
    container_compose::load(&load_options(args)).map_err(|e| {
        eprintln!("berth compose: {e}");
        if e.kind == container_compose::ErrorKind::Io {
            1
        } else {
            EXIT_CONFIG
        }
    })
}

/// Run a `berth compose` subcommand; returns the exit code (15 for configuration errors).
pub fn run(root: &Path, args: ComposeArgs) -> i32 {
    let project = match load(&args) {
        Ok(p) => p,
        Err(code) => return code,
    };
    match args.command {
        ComposeCommand::Config {
            format,
            services,
            quiet,
        } => {
            if quiet {
                return 0;
            }
            if services {
                for s in project.services.keys() {
                    println!("{s}");
                }
                return 0;
            }
            match format {
                ConfigFormat::Yaml => print!("{}", container_compose::to_yaml(&project)),
                ConfigFormat::Json => println!("{}", container_compose::to_json(&project)),
            }
            0
        }
        ComposeCommand::Up {
            detach: _,
            scale,
            wait_timeout,
            services,
        } => runner::report(runner::up(root, &project, &scale, &services, wait_timeout)),
        ComposeCommand::Down { volumes } => runner::report(runner::down(root, &project, volumes)),
        ComposeCommand::Ps => runner::report(runner::ps(root, &project)),
        ComposeCommand::Logs { services } => {
            runner::report(runner::logs(root, &project, &services))
        }
        ComposeCommand::Stop { services } => {
            runner::report(runner::stop(root, &project, &services))
        }
        ComposeCommand::Start { services } => {
            runner::report(runner::start(root, &project, &services))
        }
    }
}

/// The runner: a plan of container-compose executed through container-engine.
mod runner {
    use container_compose::{Plan, Project, Service, Step};
    use container_engine::engine::{Engine, RmOptions};
    use container_engine::options::RunOptions;
    use std::collections::{BTreeMap, BTreeSet};
    use std::path::Path;
    use std::time::{Duration, Instant};

    const PROJECT_LABEL: &str = "com.docker.compose.project";
    const SERVICE_LABEL: &str = "com.docker.compose.service";

    type Res = Result<(), String>;

    /// Print an error and give the exit code.
    pub fn report(r: Res) -> i32 {
        match r {
            Ok(()) => 0,
            Err(e) => {
                eprintln!("berth compose: {e}");
                1
            }
        }
    }

    fn open(root: &Path) -> Result<Engine, String> {
        Engine::open(root).map_err(|e| e.to_string())
    }

    fn dur(d: Duration) -> String {
        format!("{}ms", d.as_millis())
    }

    /// One container of a service as `docker run` options.
    pub fn run_options(p: &Project, name: &str, s: &Service, container: &str) -> RunOptions {
        let mut o = RunOptions {
            image: s.image.clone().unwrap_or_default(),
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
        o.restart = s.restart.clone().or_else(|| {
            let rp = s.deploy.as_ref()?.restart_policy.as_ref()?;
            Some(match (rp.condition.as_deref(), rp.max_attempts) {
                (Some("none"), _) => "no".to_string(),
                (Some("on-failure"), Some(n)) => format!("on-failure:{n}"),
                (Some("on-failure"), None) => "on-failure".to_string(),
                _ => "always".to_string(),
            })
        });
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
                ("tmpfs", _) => o.tmpfs.push(m.target.clone()),
                _ => {}
            }
        }
        o.tmpfs.extend(s.tmpfs.iter().cloned());
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
                Some(svc) => format!(
                    "container:{}",
                    container_compose::plan::container_names(&p.name, svc, &p.services[svc], 1)[0]
                ),
                None => mode.clone(),
            });
        } else if let Some((net, sn)) = s.networks.iter().next() {
            o.network = Some(
                p.networks
                    .get(net)
                    .map(|n| n.name.clone())
                    .unwrap_or_else(|| net.clone()),
            );
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
                Some("NONE") => o.no_healthcheck = true,
                Some("CMD-SHELL") => o.health_cmd = h.test.get(1).cloned(),
                Some("CMD") => o.health_cmd = Some(h.test[1..].join(" ")),
                _ => {}
            }
            o.health_interval = h.interval.map(dur);
            o.health_timeout = h.timeout.map(dur);
            o.health_start_period = h.start_period.map(dur);
            o.health_retries = h.retries.map(|r| r as u32);
        }
        if let Some(l) = &s.logging {
            o.log_driver = l.driver.clone();
            o.log_opts = l
                .options
                .iter()
                .map(|(k, v)| format!("{k}={}", v.clone().unwrap_or_default()))
                .collect();
        }
        o
    }

    fn scale_map(scale: &[String]) -> Result<BTreeMap<String, u64>, String> {
        scale
            .iter()
            .map(|s| {
                let (k, v) = s
                    .split_once('=')
                    .ok_or_else(|| format!("--scale {s}: expected SERVICE=N"))?;
                let n = v
                    .parse::<u64>()
                    .map_err(|_| format!("--scale {s}: N must be a number"))?;
                Ok((k.to_string(), n))
            })
            .collect()
    }

    /// The selected services plus everything they depend on.
    fn with_dependencies(p: &Project, wanted: &[String]) -> Result<BTreeSet<String>, String> {
        if wanted.is_empty() {
            return Ok(p.services.keys().cloned().collect());
        }
        let mut out = BTreeSet::new();
        let mut todo: Vec<String> = wanted.to_vec();
        while let Some(s) = todo.pop() {
            let svc = p
                .services
                .get(&s)
                .ok_or_else(|| format!("no such service: {s}"))?;
            if out.insert(s.clone()) {
                todo.extend(container_compose::plan::dependencies(svc));
            }
        }
        Ok(out)
    }

    /// Exec does no `PATH` search: look the program up in the container's root like a shell would.
    fn resolve_in_container(
        rec: &container_engine::model::ContainerRecord,
        mut args: Vec<String>,
    ) -> Vec<String> {
        let Some(prog) = args.first().filter(|a| !a.contains('/')).cloned() else {
            return args;
        };
        let path = rec
            .config
            .env
            .iter()
            .find_map(|e| e.strip_prefix("PATH="))
            .unwrap_or("/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin")
            .to_string();
        let root = format!("/proc/{}/root", rec.state.pid);
        for dir in path.split(':').filter(|d| d.starts_with('/')) {
            let candidate = format!("{dir}/{prog}");
            if Path::new(&format!("{root}{candidate}")).exists() {
                args[0] = candidate;
                break;
            }
        }
        args
    }

    /// Wait until a dependency meets its `depends_on` condition. For `service_healthy` the
    /// engine's health state is used when it has one; otherwise the runner probes the
    /// service's healthcheck itself (exec into the container, `interval`, `retries`).
    fn wait_for(
        engine: &Engine,
        service: &str,
        container: &str,
        condition: &str,
        timeout: Duration,
        health: Option<&container_compose::Healthcheck>,
    ) -> Res {
        let start = Instant::now();
        let mut failures = 0u64;
        let mut last_error = String::new();
        let mut next_probe = Instant::now();
        loop {
            let rec = engine.record(container).map_err(|e| e.to_string())?;
            let done = match condition {
                "service_healthy" => match rec.state.health.as_ref().map(|h| h.status.as_str()) {
                    Some("healthy") => true,
                    Some("unhealthy") => {
                        return Err(format!("dependency {service} ({container}) is unhealthy"));
                    }
                    Some(_) => false,
                    None => {
                        let Some(h) =
                            health.filter(|h| h.test.first().is_some_and(|t| t != "NONE"))
                        else {
                            return Err(format!(
                                "dependency {service} has no healthcheck (condition service_healthy)"
                            ));
                        };
                        if !rec.state.running {
                            return Err(format!(
                                "dependency {service} ({container}) is not running"
                            ));
                        }
                        if Instant::now() < next_probe {
                            false
                        } else {
                            let args: Vec<String> = match h.test[0].as_str() {
                                "CMD-SHELL" => {
                                    vec!["/bin/sh".into(), "-c".into(), h.test[1..].join(" ")]
                                }
                                _ => h.test[1..].to_vec(),
                            };
                            let args = resolve_in_container(&rec, args);
                            let code = match engine.exec(container, &args, &[], None, None) {
                                Ok(pid) => container_engine::runtime::wait_child(pid),
                                Err(e) => {
                                    last_error = e.to_string();
                                    -1
                                }
                            };
                            next_probe =
                                Instant::now() + h.interval.unwrap_or(Duration::from_secs(30));
                            if code == 0 {
                                true
                            } else {
                                let grace = h.start_period.is_some_and(|p| start.elapsed() < p);
                                if !grace {
                                    failures += 1;
                                }
                                if failures >= h.retries.unwrap_or(3) {
                                    return Err(format!(
                                        "dependency {service} ({container}) is unhealthy {last_error}"
                                    ));
                                }
                                false
                            }
                        }
                    }
                },
                "service_completed_successfully" => {
                    if rec.state.running {
                        false
                    } else if rec.state.exit_code == 0 {
                        true
                    } else {
                        return Err(format!(
                            "dependency {service} ({container}) exited with {}",
                            rec.state.exit_code
                        ));
                    }
                }
                _ => true,
            };
            if done {
                return Ok(());
            }
            if start.elapsed() > timeout {
                return Err(format!("timed out waiting for {service} ({condition})"));
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// `up`: networks, volumes, then services in dependency order (waiting for conditions).
    pub fn up(
        root: &Path,
        p: &Project,
        scale: &[String],
        wanted: &[String],
        wait_secs: u64,
    ) -> Res {
        let engine = open(root)?;
        let plan = Plan::new(p, &scale_map(scale)?).map_err(|e| e.to_string())?;
        let selected = with_dependencies(p, wanted)?;
        let mut containers_of: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for step in &plan.create {
            match step {
                Step::Network { key, name } => {
                    let nets =
                        container_engine::network::networks(&engine).map_err(|e| e.to_string())?;
                    if nets.inspect(name).is_ok() {
                        continue;
                    }
                    let n = &p.networks[key];
                    let mut cfg = container_net::NetworkConfig::bridge(name);
                    cfg.driver = match n.driver.as_deref() {
                        None | Some("bridge") => container_net::Driver::Bridge,
                        Some("macvlan") => container_net::Driver::Macvlan,
                        Some("overlay") => container_net::Driver::Overlay,
                        Some(d) => {
                            return Err(format!("network {key}: driver {d} is not supported"));
                        }
                    };
                    if let Some(pool) = n.ipam.as_ref().and_then(|i| i.config.first()) {
                        cfg.subnet = pool
                            .subnet
                            .as_ref()
                            .map(|s| s.parse())
                            .transpose()
                            .map_err(|_| format!("network {key}: invalid subnet"))?;
                        cfg.gateway = pool
                            .gateway
                            .as_ref()
                            .map(|s| s.parse())
                            .transpose()
                            .map_err(|_| format!("network {key}: invalid gateway"))?;
                    }
                    cfg.internal = n.internal;
                    for (k, v) in &n.driver_opts {
                        cfg.options.insert(k.clone(), v.clone().unwrap_or_default());
                    }
                    cfg.labels.insert(PROJECT_LABEL.into(), p.name.clone());
                    nets.create(cfg)
                        .map_err(|e| format!("network {name}: {e}"))?;
                    println!("Network {name} created");
                }
                Step::Volume { name, .. } => {
                    let vols = container_engine::volumes::Volumes::open(engine.root())
                        .map_err(|e| e.to_string())?;
                    if !vols.exists(name) {
                        let labels = BTreeMap::from([(PROJECT_LABEL.to_string(), p.name.clone())]);
                        vols.create(name, &labels)
                            .map_err(|e| format!("volume {name}: {e}"))?;
                        println!("Volume {name} created");
                    }
                }
                Step::Build { service } => {
                    if selected.contains(service) && p.services[service].image.is_none() {
                        return Err(format!(
                            "service {service}: building images is not supported by `berth compose` yet; give it an image"
                        ));
                    }
                }
                Step::Service {
                    service,
                    containers,
                } => {
                    if !selected.contains(service) {
                        continue;
                    }
                    let svc = &p.services[service];
                    for (dep, d) in &svc.depends_on {
                        for c in containers_of.get(dep).into_iter().flatten() {
                            wait_for(
                                &engine,
                                dep,
                                c,
                                &d.condition,
                                Duration::from_secs(wait_secs),
                                p.services[dep].healthcheck.as_ref(),
                            )?;
                        }
                    }
                    for c in containers {
                        match engine.record(c) {
                            Ok(rec) if rec.state.running => println!("Container {c} running"),
                            Ok(_) => {
                                engine.start(c).map_err(|e| format!("start {c}: {e}"))?;
                                println!("Container {c} started");
                            }
                            Err(_) => {
                                let opts = run_options(p, service, svc, c);
                                engine
                                    .run_detached(&opts)
                                    .map_err(|e| format!("container {c}: {e}"))?;
                                println!("Container {c} started");
                            }
                        }
                    }
                    // Replicas beyond the wanted count (scaled down) go away.
                    for rec in project_containers(&engine, &p.name)? {
                        let n = rec.name.trim_start_matches('/').to_string();
                        if rec.config.labels.get(SERVICE_LABEL) == Some(service)
                            && !containers.contains(&n)
                        {
                            remove(&engine, &n)?;
                            println!("Container {n} removed");
                        }
                    }
                    containers_of.insert(service.clone(), containers.clone());
                }
            }
        }
        Ok(())
    }

    /// Stop (if needed) and remove a container; a failed removal right after the stop is retried.
    fn remove(engine: &Engine, c: &str) -> Res {
        let _ = engine.stop(c, None);
        let mut last = String::new();
        for _ in 0..5 {
            match engine.rm(
                c,
                RmOptions {
                    force: true,
                    ..RmOptions::default()
                },
            ) {
                Ok(_) => return Ok(()),
                Err(e) => last = e.to_string(),
            }
            std::thread::sleep(Duration::from_millis(300));
        }
        Err(format!("remove {c}: {last}"))
    }

    fn project_containers(
        engine: &Engine,
        project: &str,
    ) -> Result<Vec<container_engine::model::ContainerRecord>, String> {
        let all = engine.ps(true).map_err(|e| e.to_string())?;
        Ok(all
            .into_iter()
            .filter(|r| r.config.labels.get(PROJECT_LABEL).map(String::as_str) == Some(project))
            .collect())
    }

    fn selected_containers(
        engine: &Engine,
        p: &Project,
        services: &[String],
    ) -> Result<Vec<(String, String)>, String> {
        let mut out: Vec<(String, String)> = project_containers(engine, &p.name)?
            .into_iter()
            .filter_map(|r| {
                let svc = r.config.labels.get(SERVICE_LABEL)?.clone();
                (services.is_empty() || services.contains(&svc))
                    .then(|| (svc, r.name.trim_start_matches('/').to_string()))
            })
            .collect();
        out.sort();
        Ok(out)
    }

    /// `down`: containers in reverse dependency order, then networks (and volumes with -v).
    pub fn down(root: &Path, p: &Project, volumes: bool) -> Res {
        let engine = open(root)?;
        let order = container_compose::plan::topo_order(p)
            .map_err(|c| format!("dependency cycle: {}", c.join(" -> ")))?;
        let mut left = selected_containers(&engine, p, &[])?;
        for svc in order.iter().rev() {
            for (_, c) in left.iter().filter(|(s, _)| s == svc) {
                remove(&engine, c)?;
                println!("Container {c} removed");
            }
            left.retain(|(s, _)| s != svc);
        }
        for (_, c) in left {
            remove(&engine, &c)?;
            println!("Container {c} removed");
        }
        let nets = container_engine::network::networks(&engine).map_err(|e| e.to_string())?;
        for n in p.networks.values().filter(|n| !n.external) {
            if nets.inspect(&n.name).is_ok() {
                nets.remove(&n.name)
                    .map_err(|e| format!("network {}: {e}", n.name))?;
                println!("Network {} removed", n.name);
            }
        }
        if volumes {
            let vols = container_engine::volumes::Volumes::open(engine.root())
                .map_err(|e| e.to_string())?;
            for v in p.volumes.values().filter(|v| !v.external) {
                if vols.exists(&v.name) {
                    vols.remove(&v.name, false)
                        .map_err(|e| format!("volume {}: {e}", v.name))?;
                    println!("Volume {} removed", v.name);
                }
            }
        }
        Ok(())
    }

    /// `ps`.
    pub fn ps(root: &Path, p: &Project) -> Res {
        let engine = open(root)?;
        println!("{:<30} {:<16} {:<12}", "NAME", "SERVICE", "STATUS");
        for rec in project_containers(&engine, &p.name)? {
            let svc = rec
                .config
                .labels
                .get(SERVICE_LABEL)
                .cloned()
                .unwrap_or_default();
            let health = rec
                .state
                .health
                .as_ref()
                .map(|h| format!(" ({})", h.status))
                .unwrap_or_default();
            println!(
                "{:<30} {:<16} {}{health}",
                rec.name.trim_start_matches('/'),
                svc,
                rec.state.status
            );
        }
        Ok(())
    }

    /// `logs`: each container's log, lines prefixed with the container name.
    pub fn logs(root: &Path, p: &Project, services: &[String]) -> Res {
        let engine = open(root)?;
        for (_, c) in selected_containers(&engine, p, services)? {
            let mut out = Vec::new();
            let mut err = Vec::new();
            engine
                .logs(
                    &c,
                    &container_engine::logs::LogsOptions::default(),
                    &mut out,
                    &mut err,
                )
                .map_err(|e| e.to_string())?;
            for line in String::from_utf8_lossy(&out).lines() {
                println!("{c}  | {line}");
            }
            for line in String::from_utf8_lossy(&err).lines() {
                eprintln!("{c}  | {line}");
            }
        }
        Ok(())
    }

    /// `stop`.
    pub fn stop(root: &Path, p: &Project, services: &[String]) -> Res {
        let engine = open(root)?;
        for (_, c) in selected_containers(&engine, p, services)?.into_iter().rev() {
            engine
                .stop(&c, None)
                .map_err(|e| format!("stop {c}: {e}"))?;
            println!("Container {c} stopped");
        }
        Ok(())
    }

    /// `start`.
    pub fn start(root: &Path, p: &Project, services: &[String]) -> Res {
        let engine = open(root)?;
        for (_, c) in selected_containers(&engine, p, services)? {
            engine.start(&c).map_err(|e| format!("start {c}: {e}"))?;
            println!("Container {c} started");
        }
        Ok(())
    }
}
