//! Images, volumes, networks and `system` commands.

use crate::containers::with_engine;
use crate::output;
use clap::{Args, Subcommand};
use container_engine::{Engine, Error};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

fn img(e: container_image::Error) -> Error {
    Error::Image(e.to_string())
}

/// `images` flags.
#[derive(Args)]
pub struct ImagesArgs {
    /// Only ids.
    #[arg(short = 'q', long)]
    pub quiet: bool,
    /// Go template.
    #[arg(long)]
    pub format: Option<String>,
    /// Don't truncate ids.
    #[arg(long = "no-trunc")]
    pub no_trunc: bool,
    /// Show all (accepted).
    #[arg(short = 'a', long)]
    pub all: bool,
    /// Repository filter.
    pub repository: Option<String>,
}

/// `image …`.
#[derive(Subcommand)]
pub enum ImageCommand {
    /// List images.
    Ls(ImagesArgs),
    /// Inspect images.
    Inspect {
        /// Go template.
        #[arg(short = 'f', long)]
        format: Option<String>,
        /// Images.
        #[arg(required = true)]
        images: Vec<String>,
    },
    /// Remove images.
    Rm {
        /// Images.
        #[arg(required = true)]
        images: Vec<String>,
        /// Accepted.
        #[arg(short, long)]
        force: bool,
    },
    /// Tag an image.
    Tag {
        /// Source.
        source: String,
        /// Target.
        target: String,
    },
    /// Show history.
    History {
        /// Image.
        image: String,
        /// Don't truncate.
        #[arg(long = "no-trunc")]
        no_trunc: bool,
    },
    /// Remove unused data (garbage-collect blobs).
    Prune {
        /// No prompt.
        #[arg(short, long)]
        force: bool,
        /// Accepted.
        #[arg(short, long)]
        all: bool,
    },
    /// Save images to a docker-archive tar (stdout by default).
    Save {
        /// Output file.
        #[arg(short, long)]
        output: Option<PathBuf>,
        /// Images.
        #[arg(required = true)]
        images: Vec<String>,
    },
    /// Load images from a docker-archive tar (stdin by default).
    Load {
        /// Input file.
        #[arg(short, long)]
        input: Option<PathBuf>,
        /// Suppress the load output.
        #[arg(short, long)]
        quiet: bool,
    },
    /// Download an image from a registry.
    Pull(crate::ops::RegistryArgs),
    /// Upload an image to a registry.
    Push(crate::ops::RegistryArgs),
    /// Import a rootfs tarball as an image.
    Import {
        /// Tarball (`-` for stdin).
        file: PathBuf,
        /// Reference.
        reference: String,
    },
    /// Make an image from host executables and the shared libraries they need (berth).
    FromHost {
        /// Reference of the new image.
        reference: String,
        /// Executables.
        #[arg(required = true)]
        paths: Vec<PathBuf>,
    },
}

/// Image inspect JSON (Docker field names).
pub fn inspect_image(engine: &Engine, name: &str) -> Option<Value> {
    let store = container_engine::images::store(engine).ok()?;
    let i = container_engine::images::find(&store, name).ok()?;
    let raw = i.config.raw();
    Some(json!({
        "Id": i.id().to_string(),
        "RepoTags": i.reference.as_ref().map(|r| vec![r.familiar()]).unwrap_or_default(),
        "RepoDigests": [],
        "Created": raw.get("created").cloned().unwrap_or(Value::Null),
        "Config": raw.get("config").cloned().unwrap_or(Value::Null),
        "Architecture": raw.get("architecture").cloned().unwrap_or(Value::Null),
        "Os": raw.get("os").cloned().unwrap_or(Value::Null),
        "Size": i.layers.iter().map(|l| l.size).sum::<u64>(),
        "RootFS": raw.get("rootfs").cloned().unwrap_or(Value::Null),
    }))
}

/// `images`.
pub fn images(root: &Path, a: ImagesArgs) -> i32 {
    with_engine(root, |e| {
        let store = container_engine::images::store(e)?;
        let list = store.list_images().map_err(img)?;
        let mut rows = Vec::new();
        for s in list {
            let fam = s.reference.familiar();
            let (repo, tag) = match fam.rsplit_once(':') {
                Some((r, t)) if !t.contains('/') => (r.to_string(), t.to_string()),
                _ => (fam.clone(), "<none>".to_string()),
            };
            if let Some(f) = &a.repository
                && &repo != f
            {
                continue;
            }
            let id = s.id.to_string();
            let short = id.trim_start_matches("sha256:");
            rows.push(json!({
                "Repository": repo,
                "Tag": tag,
                "ID": if a.no_trunc { id.clone() } else { short[..12.min(short.len())].to_string() },
                "CreatedSince": s.created.as_deref().map(output::ago).unwrap_or_else(|| "N/A".into()),
                "CreatedAt": s.created.clone().unwrap_or_default(),
                "Size": output::human_size(s.size),
                "Digest": s.manifest_digest.to_string(),
            }));
        }
        if a.quiet {
            for r in &rows {
                println!("{}", r["ID"].as_str().unwrap_or_default());
            }
            return Ok(0);
        }
        if let Some(f) = &a.format {
            output::print_formatted(f, &rows).map_err(Error::Template)?;
            return Ok(0);
        }
        let t: Vec<Vec<String>> = rows
            .iter()
            .map(|r| {
                ["Repository", "Tag", "ID", "CreatedSince", "Size"]
                    .iter()
                    .map(|k| r[*k].as_str().unwrap_or_default().to_string())
                    .collect()
            })
            .collect();
        output::print_table(&["REPOSITORY", "TAG", "IMAGE ID", "CREATED", "SIZE"], &t);
        Ok(0)
    })
}

/// `tag`.
pub fn tag(root: &Path, source: &str, target: &str) -> i32 {
    with_engine(root, |e| {
        let store = container_engine::images::store(e)?;
        container_engine::images::find(&store, source)?;
        store.tag(source, target).map_err(img)?;
        Ok(0)
    })
}

/// `rmi`.
pub fn rmi(root: &Path, images: &[String]) -> i32 {
    with_engine(root, |e| {
        let store = container_engine::images::store(e)?;
        let mut code = 0;
        for i in images {
            let in_use = e
                .ps(true)?
                .into_iter()
                .find(|r| r.config.image == *i || r.berth.image_ref == *i);
            if let Some(r) = in_use {
                eprintln!(
                    "Error response from daemon: conflict: unable to remove repository reference \"{i}\" (must force) - container {} is using its referenced image",
                    &r.id[..12]
                );
                code = 1;
                continue;
            }
            match store.remove(i) {
                Ok(()) => println!("Untagged: {i}"),
                Err(err) => {
                    eprintln!("Error response from daemon: No such image: {i} ({err})");
                    code = 1;
                }
            }
        }
        Ok(code)
    })
}

/// `history`.
pub fn history(root: &Path, image: &str, no_trunc: bool) -> i32 {
    with_engine(root, |e| {
        let store = container_engine::images::store(e)?;
        let h = store
            .history(image)
            .map_err(|_| Error::NoSuchImage(image.into()))?;
        let rows: Vec<Vec<String>> = h
            .iter()
            .map(|x| {
                let mut by = x.created_by.clone();
                if !no_trunc && by.chars().count() > 45 {
                    by = by.chars().take(44).collect::<String>() + "…";
                }
                let id = if x.image.starts_with("sha256:") && !no_trunc {
                    x.image.trim_start_matches("sha256:")[..12].to_string()
                } else {
                    x.image.clone()
                };
                vec![
                    id,
                    x.created
                        .as_deref()
                        .map(output::ago)
                        .unwrap_or_else(|| "N/A".into()),
                    by,
                    output::human_size(x.size),
                    x.comment.clone(),
                ]
            })
            .collect();
        output::print_table(
            &["IMAGE", "CREATED", "CREATED BY", "SIZE", "COMMENT"],
            &rows,
        );
        Ok(0)
    })
}

/// `image …`.
pub fn image_command(root: &Path, c: ImageCommand) -> i32 {
    match c {
        ImageCommand::Ls(a) => images(root, a),
        ImageCommand::Inspect { format, images } => crate::containers::inspect(
            root,
            crate::containers::InspectArgs {
                format,
                kind: Some("image".into()),
                names: images,
            },
        ),
        ImageCommand::Rm { images, .. } => rmi(root, &images),
        ImageCommand::Tag { source, target } => tag(root, &source, &target),
        ImageCommand::History { image, no_trunc } => history(root, &image, no_trunc),
        ImageCommand::Prune { all, .. } => with_engine(root, |e| {
            let store = container_engine::images::store(e)?;
            if all {
                // every image no container uses (Docker's `-a`)
                let used: Vec<String> = e
                    .ps(true)?
                    .into_iter()
                    .flat_map(|r| [r.image, r.berth.image_ref, r.config.image])
                    .collect();
                let mut header = false;
                for s in store.list_images().map_err(img)? {
                    let name = s.reference.to_string();
                    let id = s.id.to_string();
                    if used
                        .iter()
                        .any(|u| *u == name || *u == id || *u == s.reference.familiar())
                    {
                        continue;
                    }
                    store.remove(&name).map_err(img)?;
                    if !header {
                        println!("Deleted Images:");
                        header = true;
                    }
                    println!("untagged: {}", s.reference.familiar());
                }
                if header {
                    println!();
                }
            }
            let r = store.gc().map_err(img)?;
            println!(
                "Total reclaimed space: {}",
                output::human_size(r.bytes_freed + r.ingest_freed)
            );
            Ok(0)
        }),
        ImageCommand::Save { output, images } => crate::ops::save(root, output.as_deref(), &images),
        ImageCommand::Load { input, quiet } => crate::ops::load(root, input.as_deref(), quiet),
        ImageCommand::Pull(a) => crate::ops::pull(root, a),
        ImageCommand::Push(a) => crate::ops::push(root, a),
        ImageCommand::Import { file, reference } => with_engine(root, |e| {
            let store = container_engine::images::store(e)?;
            let i = if file.as_os_str() == "-" {
                store
                    .import_rootfs_tar(std::io::stdin().lock(), &reference, &[])
                    .map_err(img)?
            } else {
                let f = std::fs::File::open(&file).map_err(|er| Error::io("open", &file, er))?;
                store.import_rootfs_tar(f, &reference, &[]).map_err(img)?
            };
            println!("{}", i.id());
            Ok(0)
        }),
        ImageCommand::FromHost { reference, paths } => with_engine(root, |e| {
            let store = container_engine::images::store(e)?;
            let i = store
                .import_host_binaries(&reference, &paths)
                .map_err(img)?;
            println!("{}", i.id());
            Ok(0)
        }),
    }
}

/// `volume …`.
#[derive(Subcommand)]
pub enum VolumeCommand {
    /// Create a volume.
    Create {
        /// Name (random when missing).
        name: Option<String>,
        /// Labels.
        #[arg(long = "label")]
        label: Vec<String>,
    },
    /// List volumes.
    Ls {
        /// Only names.
        #[arg(short, long)]
        quiet: bool,
        /// Go template.
        #[arg(long)]
        format: Option<String>,
    },
    /// Inspect volumes.
    Inspect {
        /// Go template.
        #[arg(short = 'f', long)]
        format: Option<String>,
        /// Names.
        #[arg(required = true)]
        names: Vec<String>,
    },
    /// Remove volumes.
    Rm {
        /// Force.
        #[arg(short, long)]
        force: bool,
        /// Names.
        #[arg(required = true)]
        names: Vec<String>,
    },
    /// Remove unused volumes.
    Prune {
        /// No prompt.
        #[arg(short, long)]
        force: bool,
    },
    /// Write a volume's content as a tar (berth).
    Export {
        /// Volume.
        name: String,
        /// Output file (default stdout).
        #[arg(short, long)]
        output: Option<PathBuf>,
    },
    /// Replace a volume's content by a tar (berth).
    Import {
        /// Volume.
        name: String,
        /// Input file (default stdin).
        #[arg(short, long)]
        input: Option<PathBuf>,
    },
}

/// `volume …`.
pub fn volume_command(root: &Path, c: VolumeCommand) -> i32 {
    with_engine(root, |e| {
        let v = container_engine::volumes::Volumes::open(e.root())?;
        match c {
            VolumeCommand::Create { name, label } => {
                let name = match name {
                    Some(n) => n,
                    None => hex_name()?,
                };
                let labels: BTreeMap<String, String> = label
                    .iter()
                    .map(|l| {
                        let (k, v) = l.split_once('=').unwrap_or((l, ""));
                        (k.to_string(), v.to_string())
                    })
                    .collect();
                v.create(&name, &labels)?;
                println!("{name}");
            }
            VolumeCommand::Ls { quiet, format } => {
                let list = v.list()?;
                if quiet {
                    for x in list {
                        println!("{}", x.name);
                    }
                } else if let Some(f) = format {
                    let rows: Vec<Value> = list
                        .iter()
                        .filter_map(|x| serde_json::to_value(x).ok())
                        .collect();
                    output::print_formatted(&f, &rows).map_err(Error::Template)?;
                } else {
                    let rows: Vec<Vec<String>> = list
                        .iter()
                        .map(|x| vec![x.driver.clone(), x.name.clone()])
                        .collect();
                    output::print_table(&["DRIVER", "VOLUME NAME"], &rows);
                }
            }
            VolumeCommand::Inspect { format, names } => {
                let mut docs = Vec::new();
                for n in names {
                    docs.push(serde_json::to_value(v.inspect(&n)?).unwrap_or(Value::Null));
                }
                match format {
                    Some(f) => output::print_formatted(&f, &docs).map_err(Error::Template)?,
                    None => println!(
                        "{}",
                        serde_json::to_string_pretty(&docs).unwrap_or_default()
                    ),
                }
            }
            VolumeCommand::Rm { force, names } => {
                let mut code = 0;
                for n in names {
                    match v.remove(&n, force) {
                        Ok(()) => println!("{n}"),
                        Err(err) => {
                            eprintln!("Error response from daemon: {err}");
                            code = 1;
                        }
                    }
                }
                return Ok(code);
            }
            VolumeCommand::Prune { .. } => {
                println!("Deleted Volumes:");
                for n in v.prune()? {
                    println!("{n}");
                }
            }
            VolumeCommand::Export { name, output } => match output {
                Some(p) => {
                    let mut f =
                        std::fs::File::create(&p).map_err(|er| Error::io("create", &p, er))?;
                    v.export(&name, &mut f)?;
                }
                None => v.export(&name, &mut std::io::stdout().lock())?,
            },
            VolumeCommand::Import { name, input } => match input {
                Some(p) => {
                    let mut f = std::fs::File::open(&p).map_err(|er| Error::io("open", &p, er))?;
                    v.import(&name, &mut f)?;
                }
                None => v.import(&name, &mut std::io::stdin().lock())?,
            },
        }
        Ok(0)
    })
}

fn hex_name() -> container_engine::Result<String> {
    container_engine::fsutil::new_id()
}

/// `network …`.
#[derive(Subcommand)]
pub enum NetworkCommand {
    /// Create a network.
    Create {
        /// Driver (bridge, macvlan, overlay).
        #[arg(short, long, default_value = "bridge")]
        driver: String,
        /// Subnet (CIDR).
        #[arg(long)]
        subnet: Option<String>,
        /// Gateway.
        #[arg(long)]
        gateway: Option<String>,
        /// Internal (no outside access).
        #[arg(long)]
        internal: bool,
        /// Driver options.
        #[arg(short = 'o', long = "opt")]
        opt: Vec<String>,
        /// Labels.
        #[arg(long = "label")]
        label: Vec<String>,
        /// Name.
        name: String,
    },
    /// List networks.
    Ls {
        /// Only ids.
        #[arg(short, long)]
        quiet: bool,
    },
    /// Inspect networks.
    Inspect {
        /// Go template.
        #[arg(short = 'f', long)]
        format: Option<String>,
        /// Names.
        #[arg(required = true)]
        names: Vec<String>,
    },
    /// Remove networks.
    Rm {
        /// Names.
        #[arg(required = true)]
        names: Vec<String>,
    },
    /// Remove unused networks.
    Prune {
        /// No prompt.
        #[arg(short, long)]
        force: bool,
    },
    /// Connect a container to a network.
    Connect {
        /// Add a network-scoped alias for the container.
        #[arg(long = "alias")]
        alias: Vec<String>,
        /// IPv4 address.
        #[arg(long)]
        ip: Option<String>,
        /// Network.
        network: String,
        /// Container.
        container: String,
    },
    /// Disconnect a container from a network.
    Disconnect {
        /// Force the container to disconnect from a network.
        #[arg(short, long)]
        force: bool,
        /// Network.
        network: String,
        /// Container.
        container: String,
    },
}

/// Network inspect JSON.
pub fn inspect_network(engine: &Engine, name: &str) -> Option<Value> {
    let nets = container_engine::network::networks(engine).ok()?;
    let n = nets.inspect(name).ok()?;
    Some(network_json(&n))
}

fn network_json(n: &container_net::Network) -> Value {
    let containers: BTreeMap<String, Value> = n
        .endpoints
        .values()
        .map(|ep| {
            (
                ep.container_id.clone(),
                json!({"Name": ep.name, "IPv4Address": format!("{}", ep.ip), "Aliases": ep.aliases}),
            )
        })
        .collect();
    json!({
        "Name": n.name,
        "Id": n.id,
        "Driver": format!("{:?}", n.driver).to_lowercase(),
        "Scope": "local",
        "Internal": n.internal,
        "IPAM": {"Driver": "default", "Config": [{"Subnet": n.subnet.to_string(), "Gateway": n.gateway.map(|g| g.to_string())}]},
        "Options": n.options,
        "Labels": n.labels,
        "Containers": containers,
    })
}

/// `network …`.
pub fn network_command(root: &Path, c: NetworkCommand) -> i32 {
    match c {
        NetworkCommand::Connect {
            alias,
            ip,
            network,
            container,
        } => {
            return crate::ops::with_engine125(root, |e| {
                let req = container_engine::netops::ConnectRequest { aliases: alias, ip };
                e.network_connect(&network, &container, &req)?;
                Ok(0)
            });
        }
        NetworkCommand::Disconnect {
            force,
            network,
            container,
        } => {
            return crate::ops::with_engine125(root, |e| {
                e.network_disconnect(&network, &container, force)?;
                Ok(0)
            });
        }
        _ => {}
    }
    with_engine(root, |e| {
        let nets = container_engine::network::networks(e)?;
        let ne = container_engine::network::net_err;
        match c {
            NetworkCommand::Create {
                driver,
                subnet,
                gateway,
                internal,
                opt,
                label,
                name,
            } => {
                let mut cfg = container_net::NetworkConfig::bridge(&name);
                cfg.driver = match driver.as_str() {
                    "bridge" => container_net::Driver::Bridge,
                    "macvlan" => container_net::Driver::Macvlan,
                    "overlay" => container_net::Driver::Overlay,
                    d => return Err(Error::Invalid(format!("plugin \"{d}\" not found"))),
                };
                cfg.subnet = subnet
                    .map(|s| {
                        s.parse()
                            .map_err(|_| Error::Invalid(format!("invalid subnet {s}")))
                    })
                    .transpose()?;
                cfg.gateway = gateway
                    .map(|s| {
                        s.parse()
                            .map_err(|_| Error::Invalid(format!("invalid gateway {s}")))
                    })
                    .transpose()?;
                cfg.internal = internal;
                for o in opt {
                    let (k, v) = o.split_once('=').unwrap_or((&o, ""));
                    cfg.options.insert(k.into(), v.into());
                }
                for l in label {
                    let (k, v) = l.split_once('=').unwrap_or((&l, ""));
                    cfg.labels.insert(k.into(), v.into());
                }
                let n = nets.create(cfg).map_err(ne)?;
                println!("{}", n.id);
            }
            NetworkCommand::Ls { quiet } => {
                let list = nets.list().map_err(ne)?;
                if quiet {
                    for n in list {
                        println!("{}", &n.id[..12.min(n.id.len())]);
                    }
                } else {
                    let rows: Vec<Vec<String>> = list
                        .iter()
                        .map(|n| {
                            vec![
                                n.id[..12.min(n.id.len())].to_string(),
                                n.name.clone(),
                                format!("{:?}", n.driver).to_lowercase(),
                                "local".into(),
                            ]
                        })
                        .collect();
                    output::print_table(&["NETWORK ID", "NAME", "DRIVER", "SCOPE"], &rows);
                }
            }
            NetworkCommand::Inspect { format, names } => {
                let mut docs = Vec::new();
                for n in names {
                    docs.push(network_json(
                        &nets
                            .inspect(&n)
                            .map_err(|_| Error::NoSuchNetwork(n.clone()))?,
                    ));
                }
                match format {
                    Some(f) => output::print_formatted(&f, &docs).map_err(Error::Template)?,
                    None => println!(
                        "{}",
                        serde_json::to_string_pretty(&docs).unwrap_or_default()
                    ),
                }
            }
            NetworkCommand::Rm { names } => {
                let mut code = 0;
                for n in names {
                    match nets.remove(&n) {
                        Ok(()) => println!("{n}"),
                        Err(err) => {
                            eprintln!("Error response from daemon: {err}");
                            code = 1;
                        }
                    }
                }
                return Ok(code);
            }
            NetworkCommand::Prune { .. } => {
                println!("Deleted Networks:");
                for n in nets.prune().map_err(ne)? {
                    println!("{n}");
                }
            }
            NetworkCommand::Connect { .. } | NetworkCommand::Disconnect { .. } => {}
        }
        Ok(0)
    })
}

/// `system …`.
#[derive(Subcommand)]
pub enum SystemCommand {
    /// Show disk usage.
    Df,
    /// Remove stopped containers, unused networks, dangling blobs (and volumes with --volumes).
    Prune {
        /// No prompt.
        #[arg(short, long)]
        force: bool,
        /// Also volumes.
        #[arg(long)]
        volumes: bool,
        /// Accepted.
        #[arg(short, long)]
        all: bool,
    },
    /// Restart containers whose restart policy asks for it (after a reboot).
    Restore,
}

/// `system …`.
pub fn system_command(root: &Path, c: SystemCommand) -> i32 {
    match c {
        SystemCommand::Restore => with_engine(root, |e| {
            for id in e.restore()? {
                println!("{id}");
            }
            Ok(0)
        }),
        SystemCommand::Prune { volumes, .. } => with_engine(root, |e| {
            let c = e.prune_containers()?;
            println!("Deleted Containers:");
            for i in &c {
                println!("{i}");
            }
            if let Ok(nets) = container_engine::network::networks(e)
                && let Ok(gone) = nets.prune()
                && !gone.is_empty()
            {
                println!("\nDeleted Networks:");
                for n in gone {
                    println!("{n}");
                }
            }
            if volumes {
                let v = container_engine::volumes::Volumes::open(e.root())?;
                let gone = v.prune()?;
                if !gone.is_empty() {
                    println!("\nDeleted Volumes:");
                    for n in gone {
                        println!("{n}");
                    }
                }
            }
            let store = container_engine::images::store(e)?;
            let r = store.gc().map_err(img)?;
            println!(
                "\nTotal reclaimed space: {}",
                output::human_size(r.bytes_freed + r.ingest_freed)
            );
            Ok(0)
        }),
        SystemCommand::Df => with_engine(root, |e| {
            let store = container_engine::images::store(e)?;
            let du = store.disk_usage().map_err(img)?;
            let ctrs = e.ps(true)?;
            let active = ctrs.iter().filter(|c| c.state.running).count();
            let vols = container_engine::volumes::Volumes::open(e.root())?.list()?;
            output::print_table(
                &["TYPE", "TOTAL", "ACTIVE", "SIZE", "RECLAIMABLE"],
                &[
                    vec![
                        "Images".into(),
                        du.images.to_string(),
                        "".into(),
                        output::human_size(du.content_bytes),
                        output::human_size(du.reclaimable_bytes),
                    ],
                    vec![
                        "Containers".into(),
                        ctrs.len().to_string(),
                        active.to_string(),
                        "".into(),
                        "".into(),
                    ],
                    vec![
                        "Local Volumes".into(),
                        vols.len().to_string(),
                        "".into(),
                        "".into(),
                        "".into(),
                    ],
                ],
            );
            Ok(0)
        }),
    }
}
