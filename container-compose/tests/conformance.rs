//! Resolver conformance: every case of `tests/corpus/` is resolved by berth and by
//! `docker-compose config` (Debian's docker-compose 1.29.2, no daemon needed); both results are
//! brought to one comparison form (services, images, commands, environment, ports, volumes,
//! networks, dependencies, healthchecks, deploy, restart) and must agree. The deliberate
//! differences are listed in `KNOWN` with their reason (and in COMPAT.md).

use serde_json::{Map, Value, json};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

/// (case, service, field): where berth follows the compose-spec and docker-compose 1.29 does not.
const KNOWN: &[(&str, &str, &str, &str)] = &[
    (
        "v1-redis-links",
        "*",
        "networks",
        "v1 files: docker-compose 1.29 uses network_mode bridge; berth puts them on the project network (COMPAT.md §1)",
    ),
    (
        "v1-build-ports",
        "*",
        "networks",
        "v1 files: docker-compose 1.29 uses network_mode bridge; berth puts them on the project network (COMPAT.md §1)",
    ),
    ("v1-redis-links", "*", "network_mode", "see networks"),
    ("v1-build-ports", "*", "network_mode", "see networks"),
];

fn known(case: &str, svc: &str, field: &str) -> bool {
    KNOWN
        .iter()
        .any(|(c, s, f, _)| *c == case && (*s == "*" || *s == svc) && *f == field)
}

fn find_tool(name: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|p| {
        std::env::split_paths(&p)
            .map(|d| d.join(name))
            .find(|f| f.is_file())
    })
}

fn shlex(s: &str) -> Vec<String> {
    // POSIX-ish split, written independently of the crate's splitter.
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut have = false;
    let mut q: Option<char> = None;
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        match (q, c) {
            (Some(x), c) if c == x => q = None,
            (Some('"'), '\\') => {
                if let Some(n) = chars.next() {
                    if !matches!(n, '"' | '\\' | '$' | '`') {
                        cur.push('\\');
                    }
                    cur.push(n);
                }
            }
            (Some(_), c) => cur.push(c),
            (None, '\'' | '"') => {
                q = Some(c);
                have = true;
            }
            (None, '\\') => {
                if let Some(n) = chars.next() {
                    cur.push(n);
                }
                have = true;
            }
            (None, c) if c.is_whitespace() => {
                if have {
                    out.push(std::mem::take(&mut cur));
                    have = false;
                }
            }
            (None, c) => {
                cur.push(c);
                have = true;
            }
        }
    }
    if have {
        out.push(cur);
    }
    out
}

/// docker-compose prints `$$` as is (its output is again a compose file); the model holds `$`.
fn text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.replace("$$", "$")),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn nanos(v: &Value) -> Value {
    let Some(s) = text(v) else { return Value::Null };
    let mut total = 0f64;
    let mut num = String::new();
    let mut unit = String::new();
    let flush = |num: &mut String, unit: &mut String, total: &mut f64| {
        let n: f64 = num.parse().unwrap_or(0.0);
        let m = match unit.as_str() {
            "h" => 3600e9,
            "m" => 60e9,
            "s" | "" => 1e9,
            "ms" => 1e6,
            "us" => 1e3,
            _ => 1.0,
        };
        *total += n * m;
        num.clear();
        unit.clear();
    };
    for c in s.chars() {
        if c.is_ascii_digit() || c == '.' {
            if !unit.is_empty() {
                flush(&mut num, &mut unit, &mut total);
            }
            num.push(c);
        } else {
            unit.push(c);
        }
    }
    flush(&mut num, &mut unit, &mut total);
    json!(total as u64)
}

fn bytes(v: &Value) -> Value {
    let Some(s) = text(v) else { return Value::Null };
    let s = s.to_lowercase();
    let s = s.trim_end_matches('b');
    let (n, m) = match s.chars().last() {
        Some('k') => (&s[..s.len() - 1], 1u64 << 10),
        Some('m') => (&s[..s.len() - 1], 1 << 20),
        Some('g') => (&s[..s.len() - 1], 1 << 30),
        _ => (s, 1),
    };
    json!((n.parse::<f64>().unwrap_or(-1.0) * m as f64) as u64)
}

fn float(v: &Value) -> Value {
    text(v)
        .and_then(|s| s.parse::<f64>().ok())
        .map(|f| json!(f))
        .unwrap_or(Value::Null)
}

fn str_map(v: Option<&Value>) -> Value {
    let mut out = Map::new();
    match v {
        Some(Value::Object(m)) => {
            for (k, x) in m {
                out.insert(k.clone(), text(x).map(Value::String).unwrap_or(Value::Null));
            }
        }
        Some(Value::Array(a)) => {
            for x in a {
                let s = text(x).unwrap_or_default();
                match s.split_once('=') {
                    Some((k, v)) => out.insert(k.into(), json!(v)),
                    None => out.insert(s, Value::Null),
                };
            }
        }
        _ => {}
    }
    Value::Object(out)
}

fn command(v: Option<&Value>) -> Value {
    match v {
        Some(Value::String(s)) => json!(shlex(&s.replace("$$", "$"))),
        Some(Value::Array(a)) => json!(a.iter().filter_map(text).collect::<Vec<_>>()),
        _ => Value::Null,
    }
}

fn ports(v: Option<&Value>) -> Value {
    let mut out: Vec<String> = Vec::new();
    for p in v.and_then(Value::as_array).into_iter().flatten() {
        match p {
            Value::Object(m) => {
                let g = |k: &str| m.get(k).and_then(text).unwrap_or_default();
                let proto = if g("protocol").is_empty() {
                    "tcp".to_string()
                } else {
                    g("protocol")
                };
                out.push(format!(
                    "{}|{}|{}|{}",
                    g("host_ip"),
                    g("published"),
                    g("target"),
                    proto
                ));
            }
            other => {
                let s = text(other).unwrap_or_default();
                let (spec, proto) = s
                    .split_once('/')
                    .map(|(a, b)| (a.to_string(), b.to_string()))
                    .unwrap_or((s.clone(), "tcp".into()));
                let (ip, rest) = if let Some(r) = spec.strip_prefix('[') {
                    let (ip, r) = r.split_once("]:").unwrap_or(("", r));
                    (ip.to_string(), r.to_string())
                } else {
                    let parts: Vec<&str> = spec.split(':').collect();
                    let n = parts.len();
                    if n >= 3 {
                        (
                            parts[..n - 2].join(":"),
                            format!("{}:{}", parts[n - 2], parts[n - 1]),
                        )
                    } else {
                        (String::new(), spec.clone())
                    }
                };
                let (published, target) = rest
                    .split_once(':')
                    .map(|(a, b)| (a.to_string(), b.to_string()))
                    .unwrap_or((String::new(), rest.clone()));
                let range = |s: &str| -> Vec<String> {
                    match s.split_once('-') {
                        Some((a, b)) => (a.parse::<u32>().unwrap_or(0)
                            ..=b.parse::<u32>().unwrap_or(0))
                            .map(|x| x.to_string())
                            .collect(),
                        None => vec![s.to_string()],
                    }
                };
                let ts = range(&target);
                let ps = if published.is_empty() {
                    vec![String::new(); ts.len()]
                } else {
                    range(&published)
                };
                for (i, t) in ts.iter().enumerate() {
                    out.push(format!(
                        "{ip}|{}|{t}|{proto}",
                        ps.get(i).cloned().unwrap_or_default()
                    ));
                }
            }
        }
    }
    out.sort();
    json!(out)
}

fn volumes(v: Option<&Value>) -> Value {
    let mut out: Vec<String> = Vec::new();
    for x in v.and_then(Value::as_array).into_iter().flatten() {
        match x {
            Value::Object(m) => {
                let g = |k: &str| m.get(k).and_then(text).unwrap_or_default();
                let ro = m.get("read_only").and_then(Value::as_bool).unwrap_or(false);
                out.push(format!(
                    "{}|{}|{}|{}",
                    g("type"),
                    g("source"),
                    g("target"),
                    ro
                ));
            }
            other => {
                let s = text(other).unwrap_or_default();
                let parts: Vec<&str> = s.split(':').collect();
                let (src, dst, mode) = match parts.as_slice() {
                    [d] => ("", *d, ""),
                    [s, d] => (*s, *d, ""),
                    [s, d, m, ..] => (*s, *d, *m),
                    [] => ("", "", ""),
                };
                let kind = if src.is_empty() || !src.starts_with('/') {
                    "volume"
                } else {
                    "bind"
                };
                out.push(format!(
                    "{kind}|{src}|{dst}|{}",
                    mode.split(',').any(|m| m == "ro")
                ));
            }
        }
    }
    out.sort();
    json!(out)
}

fn networks(svc: &Value) -> Value {
    if svc.get("network_mode").is_some() {
        return json!({});
    }
    let mut out = Map::new();
    match svc.get("networks") {
        Some(Value::Array(a)) => {
            for n in a.iter().filter_map(text) {
                out.insert(n, json!({"aliases": [], "ipv4_address": null}));
            }
        }
        Some(Value::Object(m)) => {
            for (k, x) in m {
                let mut aliases: Vec<String> = x
                    .get("aliases")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .filter_map(text)
                    .collect();
                aliases.sort();
                out.insert(k.clone(), json!({"aliases": aliases, "ipv4_address": x.get("ipv4_address").and_then(text)}));
            }
        }
        _ => {
            out.insert(
                "default".into(),
                json!({"aliases": [], "ipv4_address": null}),
            );
        }
    }
    Value::Object(out)
}

fn healthcheck(v: Option<&Value>) -> Value {
    let Some(h) = v else { return Value::Null };
    let test = if h.get("disable").and_then(Value::as_bool) == Some(true) {
        json!(["NONE"])
    } else {
        match h.get("test") {
            Some(Value::String(s)) => json!(["CMD-SHELL", s]),
            Some(Value::Array(a)) => json!(a.iter().filter_map(text).collect::<Vec<_>>()),
            _ => Value::Null,
        }
    };
    let d = |k: &str| h.get(k).map(nanos).unwrap_or(Value::Null);
    json!({"test": test, "interval": d("interval"), "timeout": d("timeout"), "start_period": d("start_period"),
           "retries": h.get("retries").and_then(text)})
}

fn deploy(v: Option<&Value>) -> Value {
    let Some(d) = v else { return Value::Null };
    let res = |k: &str| {
        d.get("resources").and_then(|r| r.get(k)).map(
            |l| json!({"cpus": l.get("cpus").map(float), "memory": l.get("memory").map(bytes)}),
        )
    };
    let rp = d.get("restart_policy").map(|r| {
        json!({"condition": r.get("condition").and_then(text), "delay": r.get("delay").map(nanos),
               "max_attempts": r.get("max_attempts").and_then(text), "window": r.get("window").map(nanos)})
    });
    let uc = |k: &str| {
        d.get(k).map(|u| {
            json!({"parallelism": u.get("parallelism").and_then(text), "delay": u.get("delay").map(nanos),
                   "order": u.get("order").and_then(text), "failure_action": u.get("failure_action").and_then(text),
                   "monitor": u.get("monitor").map(nanos), "max_failure_ratio": u.get("max_failure_ratio").map(float)})
        })
    };
    json!({"mode": d.get("mode").and_then(text), "replicas": d.get("replicas").and_then(text),
           "limits": res("limits"), "reservations": res("reservations"), "restart_policy": rp,
           "update_config": uc("update_config"), "rollback_config": uc("rollback_config"), "labels": str_map(d.get("labels"))})
}

fn depends(v: Option<&Value>) -> Value {
    let mut out = Map::new();
    match v {
        Some(Value::Array(a)) => {
            for n in a.iter().filter_map(text) {
                out.insert(n, json!("service_started"));
            }
        }
        Some(Value::Object(m)) => {
            for (k, x) in m {
                out.insert(
                    k.clone(),
                    json!(
                        x.get("condition")
                            .and_then(text)
                            .unwrap_or_else(|| "service_started".into())
                    ),
                );
            }
        }
        _ => {}
    }
    Value::Object(out)
}

fn sorted_strings(v: Option<&Value>) -> Value {
    let mut s: Vec<String> = match v {
        Some(Value::Array(a)) => a.iter().filter_map(text).collect(),
        Some(x) => text(x).into_iter().collect(),
        None => vec![],
    };
    s.sort();
    json!(s)
}

/// The comparison form of one service.
fn service_view(s: &Value) -> BTreeMap<&'static str, Value> {
    let g = |k: &str| s.get(k);
    BTreeMap::from([
        (
            "image",
            g("image")
                .and_then(text)
                .map(Value::String)
                .unwrap_or(Value::Null),
        ),
        (
            "build_context",
            g("build")
                .and_then(|b| text(b).or_else(|| b.get("context").and_then(text)))
                .map(Value::String)
                .unwrap_or(Value::Null),
        ),
        ("command", command(g("command"))),
        ("entrypoint", command(g("entrypoint"))),
        ("environment", str_map(g("environment"))),
        ("ports", ports(g("ports"))),
        ("expose", sorted_strings(g("expose"))),
        ("volumes", volumes(g("volumes"))),
        ("networks", networks(s)),
        (
            "network_mode",
            g("network_mode")
                .and_then(text)
                .map(Value::String)
                .unwrap_or(Value::Null),
        ),
        ("depends_on", depends(g("depends_on"))),
        ("links", sorted_strings(g("links"))),
        ("healthcheck", healthcheck(g("healthcheck"))),
        ("deploy", deploy(g("deploy"))),
        (
            "restart",
            g("restart")
                .and_then(text)
                .map(Value::String)
                .unwrap_or(Value::Null),
        ),
        ("labels", str_map(g("labels"))),
        (
            "user",
            g("user")
                .and_then(text)
                .map(Value::String)
                .unwrap_or(Value::Null),
        ),
        (
            "scale",
            g("scale")
                .and_then(text)
                .map(Value::String)
                .unwrap_or(Value::Null),
        ),
        ("tmpfs", sorted_strings(g("tmpfs"))),
        ("dns", sorted_strings(g("dns"))),
        ("cap_add", sorted_strings(g("cap_add"))),
    ])
}

struct Case {
    dir: PathBuf,
    args: Vec<String>,
    env: BTreeMap<String, String>,
}

fn read_case(dir: &Path) -> Case {
    let lines = |f: &str| -> Vec<String> {
        std::fs::read_to_string(dir.join(f))
            .map(|t| {
                t.lines()
                    .map(str::to_string)
                    .filter(|l| !l.is_empty())
                    .collect()
            })
            .unwrap_or_default()
    };
    let mut env: BTreeMap<String, String> = BTreeMap::from([
        ("PATH".into(), "/usr/bin:/bin".into()),
        ("HOME".into(), "/root".into()),
    ]);
    for l in lines("ENV") {
        if let Some((k, v)) = l.split_once('=') {
            env.insert(k.into(), v.into());
        }
    }
    Case {
        dir: dir.to_path_buf(),
        args: lines("ARGS"),
        env,
    }
}

fn docker_compose(dc: &Path, c: &Case) -> Result<Value, String> {
    let out = Command::new(dc)
        .args(&c.args)
        .arg("config")
        .current_dir(&c.dir)
        .env_clear()
        .envs(&c.env)
        .output()
        .map_err(|e| format!("run docker-compose: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "docker-compose failed: {}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    serde_yaml_ng::from_slice::<Value>(&out.stdout)
        .map_err(|e| format!("parse docker-compose output: {e}"))
}

fn berth(c: &Case) -> Result<(Value, Vec<String>), String> {
    let mut opts = container_compose::LoadOptions {
        environment: c.env.clone(),
        project_directory: Some(c.dir.clone()),
        ..Default::default()
    };
    let mut it = c.args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "-f" => opts
                .files
                .push(c.dir.join(it.next().ok_or("-f without file")?)),
            "-p" => opts.project_name = it.next().cloned(),
            "--profile" => opts
                .profiles
                .push(it.next().ok_or("--profile without name")?.clone()),
            other => return Err(format!("unknown ARGS entry {other}")),
        }
    }
    let mut active = opts.profiles.clone();
    if let Some(p) = c.env.get("COMPOSE_PROFILES") {
        active.extend(p.split(',').map(str::to_string));
    }
    let p = container_compose::load(&opts).map_err(|e| format!("berth: {e}"))?;
    Ok((serde_json::to_value(&p).map_err(|e| e.to_string())?, active))
}

fn compare(name: &str, dc: &Value, ours: &Value, active: &[String]) -> Vec<String> {
    let mut diffs = Vec::new();
    let empty = Map::new();
    let dcs = dc
        .get("services")
        .and_then(Value::as_object)
        .unwrap_or(&empty);
    // docker-compose 1.29 prints services of inactive profiles too; the spec (and berth) leaves them out.
    let dcs: BTreeMap<&String, &Value> = dcs
        .iter()
        .filter(|(_, s)| {
            let profiles: Vec<String> = s
                .get("profiles")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(text)
                .collect();
            profiles.is_empty() || profiles.iter().any(|p| active.contains(p))
        })
        .collect();
    let ours_s = ours
        .get("services")
        .and_then(Value::as_object)
        .unwrap_or(&empty);
    let a: Vec<_> = dcs.keys().collect();
    let b: Vec<_> = ours_s.keys().collect();
    if a != b.iter().collect::<Vec<_>>() {
        diffs.push(format!(
            "{name}: services differ: docker-compose {a:?} berth {b:?}"
        ));
        return diffs;
    }
    for (sname, s) in &dcs {
        let Some(o) = ours_s.get(sname.as_str()) else {
            continue;
        };
        let (x, y) = (service_view(s), service_view(o));
        for (field, xv) in &x {
            if y.get(field) != Some(xv) && !known(name, sname, field) {
                diffs.push(format!(
                    "{name}: services.{sname}.{field}: docker-compose {xv} berth {}",
                    y.get(field).unwrap_or(&Value::Null)
                ));
            }
        }
    }
    for section in ["networks", "volumes", "secrets", "configs"] {
        let keys = |v: &Value| -> Vec<String> {
            v.get(section)
                .and_then(Value::as_object)
                .map(|m| {
                    m.keys()
                        .filter(|k| !(section == "networks" && *k == "default"))
                        .cloned()
                        .collect()
                })
                .unwrap_or_default()
        };
        if keys(dc) != keys(ours) {
            diffs.push(format!(
                "{name}: {section} differ: docker-compose {:?} berth {:?}",
                keys(dc),
                keys(ours)
            ));
        }
    }
    diffs
}

#[test]
fn corpus_agrees_with_docker_compose() {
    let Some(dc) = find_tool("docker-compose") else {
        assert!(
            std::env::var("BERTH_REQUIRE_PRIVILEGED").as_deref() != Ok("1"),
            "docker-compose is required (BERTH_REQUIRE_PRIVILEGED=1)"
        );
        eprintln!("skipping: docker-compose not installed");
        return;
    };
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus");
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(&root)
        .expect("corpus")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_dir())
        .collect();
    dirs.sort();
    assert!(dirs.len() >= 60, "corpus has {} cases", dirs.len());
    // docker-compose takes ~1 s per file: run 4 at a time.
    let chunks: Vec<Vec<PathBuf>> = (0..4)
        .map(|i| dirs.iter().skip(i).step_by(4).cloned().collect())
        .collect();
    let diffs: Vec<String> = std::thread::scope(|sc| {
        let handles: Vec<_> = chunks
            .iter()
            .map(|chunk| {
                let dc = dc.clone();
                sc.spawn(move || {
                    let mut diffs = Vec::new();
                    for d in chunk {
                        let name = d
                            .file_name()
                            .map(|n| n.to_string_lossy().into_owned())
                            .unwrap_or_default();
                        let c = read_case(d);
                        let dcv = match docker_compose(&dc, &c) {
                            Ok(v) => v,
                            Err(e) => {
                                diffs.push(format!("{name}: {e}"));
                                continue;
                            }
                        };
                        match berth(&c) {
                            Ok((ov, active)) => diffs.extend(compare(&name, &dcv, &ov, &active)),
                            Err(e) => diffs.push(format!("{name}: {e}")),
                        }
                    }
                    diffs
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().expect("worker"))
            .collect()
    });
    assert!(
        diffs.is_empty(),
        "{} differences:\n{}",
        diffs.len(),
        diffs.join("\n")
    );
}
