//! The loader: the pipeline of named stages, in order:
//! [`decode`](crate::yaml::decode) → [`interpolate`](crate::interpolate::interpolate_node) →
//! [`include`] → [`extends`] → [`merge`](crate::merge::merge_files) → validate
//! ([`crate::service::service`] and the top-level checks here) → [`normalize`].

use crate::convert::*;
use crate::error::{Error, ErrorKind, Pos, Result};
use crate::interpolate::{Env, interpolate_node, parse_env_file};
use crate::merge::{finish, merge_files, merge_service};
use crate::model::*;
use crate::service::{Ctx, resolve_path, service};
use crate::yaml::{Node, Value, decode};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// What to load and how.
#[derive(Clone, Debug, Default)]
pub struct LoadOptions {
    /// `-f` files in order; empty: look for the default names in the project directory.
    pub files: Vec<PathBuf>,
    /// `-p`.
    pub project_name: Option<String>,
    /// `--env-file` (replaces `.env`).
    pub env_files: Vec<PathBuf>,
    /// `--profile` (added to `COMPOSE_PROFILES`).
    pub profiles: Vec<String>,
    /// `--project-directory` (default: the first file's directory).
    pub project_directory: Option<PathBuf>,
    /// The process environment; it wins over `.env`.
    pub environment: Env,
}

impl LoadOptions {
    /// Options with the environment of this process.
    pub fn from_process_env() -> Self {
        LoadOptions {
            environment: std::env::vars().collect(),
            ..LoadOptions::default()
        }
    }
}

/// The default file names, in order of preference.
pub const DEFAULT_FILES: &[&str] = &[
    "compose.yaml",
    "compose.yml",
    "docker-compose.yml",
    "docker-compose.yaml",
];

fn io_err(path: &Path, e: impl std::fmt::Display) -> Error {
    Error::new(ErrorKind::Io, None, "", format!("{}: {e}", path.display()))
}

fn absolute(p: &Path) -> PathBuf {
    if p.is_absolute() {
        PathBuf::from(crate::service::clean(p))
    } else {
        let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("/"));
        PathBuf::from(crate::service::clean(&cwd.join(p)))
    }
}

/// Find the compose files: the given ones or the default name (+ its `.override` file).
pub fn find_files(opts: &LoadOptions) -> Result<Vec<PathBuf>> {
    if !opts.files.is_empty() {
        return Ok(opts.files.iter().map(|f| absolute(f)).collect());
    }
    let dir = absolute(opts.project_directory.as_deref().unwrap_or(Path::new(".")));
    for name in DEFAULT_FILES {
        let f = dir.join(name);
        if f.is_file() {
            let mut out = vec![f];
            let (stem, ext) = name.rsplit_once('.').unwrap_or((name, "yml"));
            for e in [ext, if ext == "yml" { "yaml" } else { "yml" }] {
                let o = dir.join(format!("{stem}.override.{e}"));
                if o.is_file() {
                    out.push(o);
                    break;
                }
            }
            return Ok(out);
        }
    }
    Err(Error::new(
        ErrorKind::Io,
        None,
        "",
        format!(
            "no compose file found in {} (looked for {})",
            dir.display(),
            DEFAULT_FILES.join(", ")
        ),
    ))
}

/// Project name rules: lower case, only `a-z0-9_-`, starting with a letter or digit.
pub fn normalize_project_name(s: &str) -> String {
    let n: String = s
        .to_lowercase()
        .chars()
        .filter(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '_' || *c == '-')
        .collect();
    n.trim_start_matches(['_', '-']).to_string()
}

/// Build the interpolation environment: `.env` (or `--env-file`s), then the process environment.
pub fn environment(opts: &LoadOptions, dir: &Path) -> Result<Env> {
    let mut env = Env::new();
    let files: Vec<PathBuf> = if opts.env_files.is_empty() {
        let d = dir.join(".env");
        if d.is_file() { vec![d] } else { vec![] }
    } else {
        opts.env_files.iter().map(|f| absolute(f)).collect()
    };
    for f in files {
        let text = std::fs::read_to_string(&f).map_err(|e| io_err(&f, e))?;
        for (k, v) in parse_env_file(&text, &f.to_string_lossy())? {
            if let Some(v) = v {
                env.insert(k, v);
            }
        }
    }
    for (k, v) in &opts.environment {
        env.insert(k.clone(), v.clone());
    }
    Ok(env)
}

/// Load, merge, validate and normalize a project.
pub fn load(opts: &LoadOptions) -> Result<Project> {
    let files = find_files(opts)?;
    let dir = match &opts.project_directory {
        Some(d) => absolute(d),
        None => files
            .first()
            .and_then(|f| f.parent())
            .map(Path::to_path_buf)
            .unwrap_or_else(|| PathBuf::from("/")),
    };
    let env = environment(opts, &dir)?;
    let mut merged: Option<Node> = None;
    for f in &files {
        let node = load_file(f, &env, &dir, &mut Vec::new())?;
        merged = Some(match merged {
            None => node,
            Some(m) => merge_files(m, node),
        });
    }
    let root = finish(merged.unwrap_or_else(|| Node::map(Vec::new(), &Pos::default())));
    let name = opts
        .project_name
        .clone()
        .or_else(|| {
            env.get("COMPOSE_PROJECT_NAME")
                .filter(|s| !s.is_empty())
                .cloned()
        })
        .or_else(|| root.get("name").and_then(Node::scalar).map(str::to_string))
        .unwrap_or_else(|| {
            dir.file_name()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default()
        });
    let name = normalize_project_name(&name);
    if name.is_empty() {
        return Err(Error::new(
            ErrorKind::Invalid,
            None,
            "name",
            "the project name is empty after normalization (use -p)",
        ));
    }
    let mut profiles: Vec<String> = opts.profiles.clone();
    if let Some(p) = env.get("COMPOSE_PROFILES") {
        profiles.extend(
            p.split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_string),
        );
    }
    normalize(&root, name, &dir, &env, &profiles)
}

/// Read, decode, interpolate one file and resolve its `include` and `extends`.
fn load_file(path: &Path, env: &Env, dir: &Path, stack: &mut Vec<PathBuf>) -> Result<Node> {
    if stack.contains(&path.to_path_buf()) {
        return Err(Error::new(
            ErrorKind::Cycle,
            None,
            "include",
            format!("include cycle through {}", path.display()),
        ));
    }
    let mut node = read_file(path, env)?;
    stack.push(path.to_path_buf());
    include(&mut node, path, env, stack)?;
    stack.pop();
    extends(&mut node, path, env, dir)?;
    Ok(node)
}

/// Decode + interpolate + legacy-format lifting of one file.
fn read_file(path: &Path, env: &Env) -> Result<Node> {
    let text = std::fs::read_to_string(path).map_err(|e| io_err(path, e))?;
    let mut node = decode(&text, &path.to_string_lossy())?;
    if node.is_null() {
        node = Node::map(Vec::new(), &node.pos);
    }
    map(&node, "")?;
    interpolate_node(&mut node, env, "")?;
    if let Some(v) = node.get("version") {
        let s = string(v, "version")?;
        let ok = ["2", "3"].iter().any(|m| {
            s == *m
                || s.strip_prefix(m)
                    .is_some_and(|r| r.starts_with('.') && r[1..].parse::<u32>().is_ok())
        });
        if !ok {
            return Err(invalid(
                v,
                "version",
                format!("unsupported compose file version '{s}' (use 2.x, 3.x or none)"),
            ));
        }
    } else if node.get("services").is_none() && node.get("include").is_none() {
        // Legacy v1 format: services at the top level.
        if let Some(m) = node.as_map()
            && !m.is_empty()
            && m.iter().all(|(k, v)| {
                k.starts_with("x-") || v.get("image").is_some() || v.get("build").is_some()
            })
        {
            let pos = node.pos.clone();
            node = Node::map(vec![("services".into(), node)], &pos);
        }
    }
    check_keys(
        &node,
        "",
        &[
            "version", "name", "services", "networks", "volumes", "secrets", "configs", "include",
        ],
    )?;
    Ok(node)
}

/// Stage 3, include: load other projects' files and add their resources (conflicts are errors).
pub fn include(node: &mut Node, path: &Path, env: &Env, stack: &mut Vec<PathBuf>) -> Result<()> {
    let Some(inc) = node.get("include").cloned() else {
        return Ok(());
    };
    let base_dir = path.parent().unwrap_or(Path::new("/")).to_path_buf();
    let Value::Map(entries) = &mut node.value else {
        return Ok(());
    };
    entries.retain(|(k, _)| k != "include");
    for (i, item) in seq(&inc, "include")?.iter().enumerate() {
        let ip = format!("include[{i}]");
        let (files, proj_dir) = match &item.value {
            Value::Map(_) => {
                check_keys(item, &ip, &["path", "project_directory", "env_file"])?;
                let p = item
                    .get("path")
                    .ok_or_else(|| invalid(item, &ip, "missing 'path'"))?;
                let files = string_or_list(p, &format!("{ip}.path"))?;
                let pd = item
                    .get("project_directory")
                    .map(|d| string(d, &format!("{ip}.project_directory")))
                    .transpose()?;
                (files, pd)
            }
            _ => (vec![string(item, &ip)?], None),
        };
        let mut sub: Option<Node> = None;
        let first = PathBuf::from(resolve_path(&base_dir, &files[0], env));
        let sub_dir = match proj_dir {
            Some(d) => PathBuf::from(resolve_path(&base_dir, &d, env)),
            None => first.parent().unwrap_or(Path::new("/")).to_path_buf(),
        };
        for f in &files {
            let fp = PathBuf::from(resolve_path(&base_dir, f, env));
            let n = load_file(&fp, env, &sub_dir, stack).map_err(|mut e| {
                if e.pos.is_none() {
                    e.pos = Some(item.pos.clone());
                    e.path = ip.clone();
                }
                e
            })?;
            sub = Some(match sub {
                None => n,
                Some(s) => merge_files(s, n),
            });
        }
        let Some(sub) = sub else { continue };
        // Relative paths of the included project resolve against its own directory.
        let sub = rebase(sub, &sub_dir, env);
        for section in ["services", "networks", "volumes", "secrets", "configs"] {
            let Some(items) = sub.get(section).and_then(Node::as_map) else {
                continue;
            };
            let pos = item.pos.clone();
            let idx = match entries.iter().position(|(k, _)| k == section) {
                Some(i) => i,
                None => {
                    entries.push((section.to_string(), Node::map(Vec::new(), &pos)));
                    entries.len() - 1
                }
            };
            let target = &mut entries[idx].1;
            if target.is_null() {
                *target = Node::map(Vec::new(), &pos);
            }
            let Value::Map(tm) = &mut target.value else {
                return Err(invalid(target, section, "must be a mapping"));
            };
            for (k, v) in items {
                if tm.iter().any(|(e, _)| e == k) {
                    return Err(Error::new(
                        ErrorKind::Invalid,
                        Some(&item.pos),
                        &ip,
                        format!("{section}.{k} is defined both here and in the included file"),
                    ));
                }
                tm.push((k.clone(), v.clone()));
            }
        }
    }
    Ok(())
}

/// Make relative paths of a file's services absolute against `dir` (for `extends.file` and `include`).
fn rebase(mut node: Node, dir: &Path, env: &Env) -> Node {
    if let Some(Value::Map(services)) = node.get("services").map(|s| s.value.clone()) {
        let rebased: Vec<(String, Node)> = services
            .into_iter()
            .map(|(k, s)| (k, rebase_service(s, dir, env)))
            .collect();
        if let Value::Map(es) = &mut node.value {
            for (k, v) in es.iter_mut() {
                if k == "services" {
                    v.value = Value::Map(rebased.clone());
                }
            }
        }
    }
    for section in ["secrets", "configs"] {
        if let Value::Map(es) = &mut node.value {
            for (k, v) in es.iter_mut() {
                if k != section {
                    continue;
                }
                if let Value::Map(items) = &mut v.value {
                    for (_, it) in items.iter_mut() {
                        if let Value::Map(fields) = &mut it.value {
                            for (fk, fv) in fields.iter_mut() {
                                if fk == "file"
                                    && let Some(s) = fv.scalar().map(str::to_string)
                                {
                                    *fv = Node::str(resolve_path(dir, &s, env), &fv.pos);
                                }
                            }
                        }
                    }
                }
            }
        }
    }
    node
}

fn rebase_service(mut s: Node, dir: &Path, env: &Env) -> Node {
    let abs = |t: &str| {
        if t.starts_with('.') || t.starts_with('~') || (!t.starts_with('/') && !t.contains("://")) {
            resolve_path(dir, t, env)
        } else {
            t.to_string()
        }
    };
    let Value::Map(es) = &mut s.value else {
        return s;
    };
    for (k, v) in es.iter_mut() {
        match k.as_str() {
            "build" => match &mut v.value {
                Value::Scalar { text, .. } => *text = abs(text),
                Value::Map(b) => {
                    for (bk, bv) in b.iter_mut() {
                        if bk == "context"
                            && let Value::Scalar { text, .. } = &mut bv.value
                        {
                            *text = abs(text);
                        }
                    }
                }
                _ => {}
            },
            "env_file" => match &mut v.value {
                Value::Scalar { text, .. } => *text = resolve_path(dir, text, env),
                Value::Seq(items) => {
                    for it in items {
                        if let Value::Scalar { text, .. } = &mut it.value {
                            *text = resolve_path(dir, text, env);
                        }
                    }
                }
                _ => {}
            },
            "volumes" => {
                if let Value::Seq(items) = &mut v.value {
                    for it in items {
                        match &mut it.value {
                            Value::Scalar { text, .. } => {
                                if (text.starts_with('.') || text.starts_with('~'))
                                    && let Some((src, rest)) = text.split_once(':')
                                {
                                    *text = format!("{}:{rest}", resolve_path(dir, src, env));
                                }
                            }
                            Value::Map(m) => {
                                let is_bind = m
                                    .iter()
                                    .any(|(k, v)| k == "type" && v.scalar() == Some("bind"));
                                for (mk, mv) in m.iter_mut() {
                                    if mk == "source"
                                        && is_bind
                                        && let Value::Scalar { text, .. } = &mut mv.value
                                    {
                                        *text = resolve_path(dir, text, env);
                                    }
                                }
                            }
                            _ => {}
                        }
                    }
                }
            }
            _ => {}
        }
    }
    s
}

/// Stage 4, extends: resolve `extends` of every service of a file (same file or another file).
pub fn extends(node: &mut Node, path: &Path, env: &Env, dir: &Path) -> Result<()> {
    let Some(services) = node.get("services").cloned() else {
        return Ok(());
    };
    if services.is_null() {
        return Ok(());
    }
    let names: Vec<String> = map(&services, "services")?
        .iter()
        .map(|(k, _)| k.clone())
        .collect();
    let mut resolved = Vec::new();
    for name in names {
        let s = resolve_extends(path, &services, &name, env, dir, &mut Vec::new())?;
        resolved.push((name, s));
    }
    if let Value::Map(es) = &mut node.value {
        for (k, v) in es.iter_mut() {
            if k == "services" {
                v.value = Value::Map(resolved.clone());
            }
        }
    }
    Ok(())
}

fn resolve_extends(
    path: &Path,
    services: &Node,
    name: &str,
    env: &Env,
    dir: &Path,
    stack: &mut Vec<(PathBuf, String)>,
) -> Result<Node> {
    let sp = format!("services.{name}");
    let svc = services.get(name).ok_or_else(|| {
        Error::new(
            ErrorKind::Reference,
            Some(&services.pos),
            "services",
            format!("extends: no service '{name}' in {}", path.display()),
        )
    })?;
    let Some(ext) = svc.get("extends") else {
        return Ok(svc.clone());
    };
    let key = (path.to_path_buf(), name.to_string());
    if stack.contains(&key) {
        let chain: Vec<String> = stack
            .iter()
            .map(|(_, s)| s.clone())
            .chain([name.to_string()])
            .collect();
        return Err(Error::new(
            ErrorKind::Cycle,
            Some(&ext.pos),
            &format!("{sp}.extends"),
            format!("extends cycle: {}", chain.join(" -> ")),
        ));
    }
    let ep = format!("{sp}.extends");
    let (target, file) = match &ext.value {
        Value::Map(_) => {
            check_keys(ext, &ep, &["service", "file"])?;
            let s = ext
                .get("service")
                .ok_or_else(|| invalid(ext, &ep, "missing 'service'"))?;
            (
                string(s, &format!("{ep}.service"))?,
                ext.get("file")
                    .map(|f| string(f, &format!("{ep}.file")))
                    .transpose()?,
            )
        }
        _ => (string(ext, &ep)?, None),
    };
    stack.push(key);
    let base = match file {
        None => {
            if services.get(&target).is_none() {
                return Err(Error::new(
                    ErrorKind::Reference,
                    Some(&ext.pos),
                    &ep,
                    format!("extends: service '{target}' not found"),
                ));
            }
            resolve_extends(path, services, &target, env, dir, stack)?
        }
        Some(f) => {
            let fdir = path.parent().unwrap_or(Path::new("/"));
            let fpath = PathBuf::from(resolve_path(fdir, &f, env));
            let other = read_file(&fpath, env).map_err(|mut e| {
                if e.pos.is_none() {
                    e.pos = Some(ext.pos.clone());
                    e.path = ep.clone();
                }
                e
            })?;
            let osvcs = other
                .get("services")
                .cloned()
                .unwrap_or_else(|| Node::map(Vec::new(), &other.pos));
            if osvcs.get(&target).is_none() {
                return Err(Error::new(
                    ErrorKind::Reference,
                    Some(&ext.pos),
                    &ep,
                    format!(
                        "extends: service '{target}' not found in {}",
                        fpath.display()
                    ),
                ));
            }
            let b = resolve_extends(&fpath, &osvcs, &target, env, dir, stack)?;
            let odir = fpath.parent().unwrap_or(Path::new("/"));
            if odir != dir {
                rebase_service(b, odir, env)
            } else {
                b
            }
        }
    };
    stack.pop();
    let mut own = svc.clone();
    if let Value::Map(es) = &mut own.value {
        es.retain(|(k, _)| k != "extends");
    }
    let mut base = base;
    // Compose never inherits these from the base service.
    if let Value::Map(es) = &mut base.value {
        es.retain(|(k, _)| !matches!(k.as_str(), "links" | "volumes_from" | "depends_on"));
    }
    Ok(merge_service(base, own))
}

/// Stage 7, normalize: typed services in long form, profiles applied, defaults (network
/// `default`, resource names `project_key`) filled in, references checked.
pub fn normalize(
    root: &Node,
    name: String,
    dir: &Path,
    env: &Env,
    profiles: &[String],
) -> Result<Project> {
    let ctx = Ctx { dir, env };
    let mut p = Project {
        name: name.clone(),
        working_dir: dir.to_path_buf(),
        ..Project::default()
    };
    let empty = Node::map(Vec::new(), &root.pos);
    let services = root
        .get("services")
        .filter(|s| !s.is_null())
        .unwrap_or(&empty);
    let mut nodes: BTreeMap<String, &Node> = BTreeMap::new();
    for (k, v) in map(services, "services")? {
        let valid = !k.is_empty()
            && k.chars()
                .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c));
        if !valid {
            return Err(invalid(
                v,
                &format!("services.{k}"),
                format!("invalid service name '{k}'"),
            ));
        }
        map(v, &format!("services.{k}"))?;
        let svc = service(k, v, &ctx)?;
        let enabled = svc.profiles.is_empty()
            || svc
                .profiles
                .iter()
                .any(|x| profiles.contains(x) || x == "*")
            || profiles.iter().any(|x| x == "*");
        if enabled {
            p.services.insert(k.clone(), svc);
            nodes.insert(k.clone(), v);
        } else {
            p.disabled_services.push(k.clone());
        }
    }
    // Top-level resources.
    if let Some(n) = root.get("networks").filter(|n| !n.is_null()) {
        for (k, v) in map(n, "networks")? {
            p.networks.insert(k.clone(), network(&name, k, v)?);
        }
    }
    if let Some(n) = root.get("volumes").filter(|n| !n.is_null()) {
        for (k, v) in map(n, "volumes")? {
            p.volumes.insert(k.clone(), volume(&name, k, v)?);
        }
    }
    for section in ["secrets", "configs"] {
        if let Some(n) = root.get(section).filter(|n| !n.is_null()) {
            for (k, v) in map(n, section)? {
                let o = file_object(&name, section, k, v, &ctx)?;
                if section == "secrets" {
                    p.secrets.insert(k.clone(), o);
                } else {
                    p.configs.insert(k.clone(), o);
                }
            }
        }
    }
    // References.
    let mut uses_default = false;
    for (sname, svc) in p.services.iter_mut() {
        let n = nodes.get(sname).copied().unwrap_or(root);
        let at = |key: &str| {
            n.get(key)
                .map(|x| x.pos.clone())
                .unwrap_or_else(|| n.pos.clone())
        };
        let sp = format!("services.{sname}");
        for dep in svc.depends_on.keys().cloned().collect::<Vec<_>>() {
            if nodes.contains_key(&dep) {
                continue;
            }
            let required = svc.depends_on.get(&dep).is_some_and(|d| d.required);
            let why = if root.get("services").and_then(|s| s.get(&dep)).is_some() {
                "is not enabled (check its profiles)"
            } else {
                "is not defined"
            };
            if required {
                return Err(Error::new(
                    ErrorKind::Reference,
                    Some(&at("depends_on")),
                    &format!("{sp}.depends_on"),
                    format!("service '{sname}' depends on service '{dep}' which {why}"),
                ));
            }
            svc.depends_on.remove(&dep);
        }
        for l in &svc.links {
            let target = l.split(':').next().unwrap_or(l);
            if !nodes.contains_key(target) {
                return Err(Error::new(
                    ErrorKind::Reference,
                    Some(&at("links")),
                    &format!("{sp}.links"),
                    format!("service '{sname}' links to undefined service '{target}'"),
                ));
            }
        }
        for v in &svc.volumes_from {
            let target = v.split(':').next().unwrap_or(v);
            let target = target
                .strip_prefix("container:")
                .map(|_| None)
                .unwrap_or(Some(target));
            if let Some(t) = target
                && !nodes.contains_key(t)
            {
                return Err(Error::new(
                    ErrorKind::Reference,
                    Some(&at("volumes_from")),
                    &format!("{sp}.volumes_from"),
                    format!("service '{sname}' takes volumes from undefined service '{t}'"),
                ));
            }
        }
        if let Some(nm) = &svc.network_mode {
            if let Some(t) = nm.strip_prefix("service:")
                && !nodes.contains_key(t)
            {
                return Err(Error::new(
                    ErrorKind::Reference,
                    Some(&at("network_mode")),
                    &format!("{sp}.network_mode"),
                    format!("network_mode refers to undefined service '{t}'"),
                ));
            }
            if !svc.networks.is_empty() {
                return Err(Error::new(
                    ErrorKind::Invalid,
                    Some(&at("network_mode")),
                    &sp,
                    "'network_mode' and 'networks' cannot be combined",
                ));
            }
        } else if svc.networks.is_empty() {
            svc.networks
                .insert("default".into(), ServiceNetwork::default());
        }
        for net in svc.networks.keys() {
            if net == "default" {
                uses_default = true;
            }
            if net != "default" && !p.networks.contains_key(net) {
                return Err(Error::new(
                    ErrorKind::Reference,
                    Some(&at("networks")),
                    &format!("{sp}.networks.{net}"),
                    format!("service '{sname}' refers to undefined network '{net}'"),
                ));
            }
        }
        for (i, m) in svc.volumes.iter().enumerate() {
            if m.kind == "volume"
                && let Some(src) = &m.source
                && !p.volumes.contains_key(src)
            {
                return Err(Error::new(
                    ErrorKind::Reference,
                    Some(&at("volumes")),
                    &format!("{sp}.volumes[{i}]"),
                    format!("service '{sname}' refers to undefined volume '{src}'"),
                ));
            }
        }
        for (kind, refs, defs) in [
            ("secret", &svc.secrets, &p.secrets),
            ("config", &svc.configs, &p.configs),
        ] {
            for r in refs {
                if !defs.contains_key(&r.source) {
                    return Err(Error::new(
                        ErrorKind::Reference,
                        Some(&at(&format!("{kind}s"))),
                        &format!("{sp}.{kind}s"),
                        format!(
                            "service '{sname}' refers to undefined {kind} '{}'",
                            r.source
                        ),
                    ));
                }
            }
        }
    }
    if uses_default && !p.networks.contains_key("default") {
        p.networks.insert(
            "default".into(),
            Network {
                name: format!("{name}_default"),
                ..Network::default()
            },
        );
    }
    crate::plan::check_cycles(&p, &nodes)?;
    Ok(p)
}

fn network(project: &str, key: &str, v: &Node) -> Result<Network> {
    let p = format!("networks.{key}");
    let mut n = Network {
        name: format!("{project}_{key}"),
        ..Network::default()
    };
    if v.is_null() {
        return Ok(n);
    }
    check_keys(
        v,
        &p,
        &[
            "driver",
            "driver_opts",
            "ipam",
            "internal",
            "external",
            "name",
            "labels",
            "attachable",
            "enable_ipv6",
        ],
    )?;
    let mut explicit_name = None;
    for (k, x) in map(v, &p)? {
        let kp = format!("{p}.{k}");
        if x.is_null() {
            continue;
        }
        match k.as_str() {
            "driver" => n.driver = Some(string(x, &kp)?),
            "driver_opts" => n.driver_opts = list_or_dict(x, &kp, '=')?,
            "internal" => n.internal = boolean(x, &kp)?,
            "attachable" => n.attachable = boolean(x, &kp)?,
            "enable_ipv6" => n.enable_ipv6 = boolean(x, &kp)?,
            "labels" => n.labels = list_or_dict(x, &kp, '=')?,
            "name" => explicit_name = Some(string(x, &kp)?),
            "external" => match &x.value {
                Value::Map(_) => {
                    check_keys(x, &kp, &["name"])?;
                    n.external = true;
                    if let Some(en) = x.get("name") {
                        explicit_name = Some(string(en, &format!("{kp}.name"))?);
                    }
                }
                _ => n.external = boolean(x, &kp)?,
            },
            "ipam" => {
                check_keys(x, &kp, &["driver", "config", "options"])?;
                let mut ipam = Ipam::default();
                if let Some(d) = x.get("driver") {
                    ipam.driver = opt_string(d, &format!("{kp}.driver"))?;
                }
                if let Some(o) = x.get("options").filter(|o| !o.is_null()) {
                    ipam.options = list_or_dict(o, &format!("{kp}.options"), '=')?;
                }
                if let Some(c) = x.get("config").filter(|c| !c.is_null()) {
                    for (i, pool) in seq(c, &format!("{kp}.config"))?.iter().enumerate() {
                        let pp = format!("{kp}.config[{i}]");
                        check_keys(
                            pool,
                            &pp,
                            &["subnet", "ip_range", "gateway", "aux_addresses"],
                        )?;
                        let get = |k: &str| {
                            pool.get(k)
                                .map(|v| string(v, &format!("{pp}.{k}")))
                                .transpose()
                        };
                        let mut ip = IpamPool {
                            subnet: get("subnet")?,
                            ip_range: get("ip_range")?,
                            gateway: get("gateway")?,
                            ..IpamPool::default()
                        };
                        if let Some(s) = &ip.subnet {
                            let ok = s.split_once('/').is_some_and(|(a, m)| {
                                a.parse::<std::net::IpAddr>().is_ok()
                                    && m.parse::<u8>().is_ok_and(|m| m <= 128)
                            });
                            if !ok {
                                return Err(invalid(
                                    pool,
                                    &format!("{pp}.subnet"),
                                    format!("invalid subnet '{s}'"),
                                ));
                            }
                        }
                        if let Some(a) = pool.get("aux_addresses").filter(|a| !a.is_null()) {
                            ip.aux_addresses =
                                list_or_dict(a, &format!("{pp}.aux_addresses"), '=')?;
                        }
                        ipam.config.push(ip);
                    }
                }
                n.ipam = Some(ipam);
            }
            _ => {}
        }
    }
    n.name = explicit_name.unwrap_or_else(|| {
        if n.external {
            key.to_string()
        } else {
            format!("{project}_{key}")
        }
    });
    Ok(n)
}

fn volume(project: &str, key: &str, v: &Node) -> Result<Volume> {
    let p = format!("volumes.{key}");
    let mut out = Volume {
        name: format!("{project}_{key}"),
        ..Volume::default()
    };
    if v.is_null() {
        return Ok(out);
    }
    check_keys(
        v,
        &p,
        &["driver", "driver_opts", "external", "name", "labels"],
    )?;
    let mut explicit_name = None;
    for (k, x) in map(v, &p)? {
        let kp = format!("{p}.{k}");
        if x.is_null() {
            continue;
        }
        match k.as_str() {
            "driver" => out.driver = Some(string(x, &kp)?),
            "driver_opts" => out.driver_opts = list_or_dict(x, &kp, '=')?,
            "labels" => out.labels = list_or_dict(x, &kp, '=')?,
            "name" => explicit_name = Some(string(x, &kp)?),
            "external" => match &x.value {
                Value::Map(_) => {
                    check_keys(x, &kp, &["name"])?;
                    out.external = true;
                    if let Some(en) = x.get("name") {
                        explicit_name = Some(string(en, &format!("{kp}.name"))?);
                    }
                }
                _ => out.external = boolean(x, &kp)?,
            },
            _ => {}
        }
    }
    out.name = explicit_name.unwrap_or_else(|| {
        if out.external {
            key.to_string()
        } else {
            format!("{project}_{key}")
        }
    });
    Ok(out)
}

fn file_object(project: &str, section: &str, key: &str, v: &Node, ctx: &Ctx) -> Result<FileObject> {
    let p = format!("{section}.{key}");
    check_keys(
        v,
        &p,
        &[
            "file",
            "environment",
            "content",
            "external",
            "name",
            "labels",
            "driver",
            "driver_opts",
            "template_driver",
        ],
    )?;
    let mut o = FileObject {
        name: format!("{project}_{key}"),
        ..FileObject::default()
    };
    let mut explicit_name = None;
    for (k, x) in map(v, &p)? {
        let kp = format!("{p}.{k}");
        match k.as_str() {
            "file" => o.file = Some(resolve_path(ctx.dir, &string(x, &kp)?, ctx.env)),
            "environment" => o.environment = Some(string(x, &kp)?),
            "content" => o.content = Some(string(x, &kp)?),
            "name" => explicit_name = Some(string(x, &kp)?),
            "external" => match &x.value {
                Value::Map(_) => {
                    o.external = true;
                    if let Some(en) = x.get("name") {
                        explicit_name = Some(string(en, &format!("{kp}.name"))?);
                    }
                }
                _ => o.external = boolean(x, &kp)?,
            },
            _ => {}
        }
    }
    if o.file.is_none() && o.environment.is_none() && o.content.is_none() && !o.external {
        return Err(invalid(
            v,
            &p,
            "needs one of 'file', 'environment', 'content' or 'external'",
        ));
    }
    o.name = explicit_name.unwrap_or_else(|| {
        if o.external {
            key.to_string()
        } else {
            format!("{project}_{key}")
        }
    });
    Ok(o)
}
