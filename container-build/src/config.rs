//! Metadata instructions written into the image config the way Docker writes them.

use crate::error::{BuildError, Result};
use crate::instructions::{CommandLine, Healthcheck};
use container_image::ImageConfig;
use serde_json::{Map, Value, json};
use std::time::Duration;

/// Docker's default `PATH`.
pub const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// The default shell.
pub fn default_shell() -> Vec<String> {
    vec!["/bin/sh".into(), "-c".into()]
}

/// The shell of `cfg` (`SHELL`, else `/bin/sh -c`).
pub fn shell(cfg: &ImageConfig) -> Vec<String> {
    cfg.shell()
        .filter(|s| !s.is_empty())
        .unwrap_or_else(default_shell)
}

/// A command line as argv: exec form as is, shell form through the shell.
pub fn argv(cfg: &ImageConfig, c: &CommandLine) -> Vec<String> {
    match c {
        CommandLine::Exec(v) => v.clone(),
        CommandLine::Shell(s) => {
            let mut v = shell(cfg);
            v.push(s.clone());
            v
        }
    }
}

/// Set `key=value` in `Env`, replacing an earlier value in place.
pub fn set_env(cfg: &mut ImageConfig, key: &str, value: &str) {
    let mut env = cfg.env();
    let item = format!("{key}={value}");
    match env
        .iter_mut()
        .find(|e| e.split_once('=').map_or(e.as_str(), |(k, _)| k) == key)
    {
        Some(e) => *e = item,
        None => env.push(item),
    }
    cfg.set("Env", Some(json!(env)));
}

/// Value of `key` in `Env`.
pub fn get_env(cfg: &ImageConfig, key: &str) -> Option<String> {
    cfg.env().iter().find_map(|e| {
        let (k, v) = e.split_once('=').unwrap_or((e, ""));
        (k == key).then(|| v.to_string())
    })
}

fn object(cfg: &ImageConfig, key: &str) -> Map<String, Value> {
    cfg.raw()["config"][key]
        .as_object()
        .cloned()
        .unwrap_or_default()
}

/// Add labels.
pub fn add_labels(cfg: &mut ImageConfig, labels: &[(String, String)]) {
    let mut m = object(cfg, "Labels");
    for (k, v) in labels {
        m.insert(k.clone(), json!(v));
    }
    cfg.set("Labels", Some(Value::Object(m)));
}

/// `EXPOSE` words (`80`, `53/udp`, `8000-8002`).
pub fn add_exposed(cfg: &mut ImageConfig, ports: &[String]) -> Result<()> {
    let mut m = object(cfg, "ExposedPorts");
    for p in ports {
        let (port, proto) = p.split_once('/').unwrap_or((p, "tcp"));
        let proto = proto.to_lowercase();
        if !matches!(proto.as_str(), "tcp" | "udp" | "sctp") {
            return Err(BuildError::Invalid(format!("invalid proto: {proto}")));
        }
        let bad = || BuildError::Invalid(format!("invalid containerPort: {port}"));
        let (lo, hi) = match port.split_once('-') {
            Some((a, b)) => (
                a.parse::<u16>().map_err(|_| bad())?,
                b.parse::<u16>().map_err(|_| bad())?,
            ),
            None => {
                let n = port.parse::<u16>().map_err(|_| bad())?;
                (n, n)
            }
        };
        if hi < lo {
            return Err(bad());
        }
        for n in lo..=hi {
            m.insert(format!("{n}/{proto}"), json!({}));
        }
    }
    cfg.set("ExposedPorts", Some(Value::Object(m)));
    Ok(())
}

/// `VOLUME` paths.
pub fn add_volumes(cfg: &mut ImageConfig, vols: &[String]) {
    let mut m = object(cfg, "Volumes");
    for v in vols {
        m.insert(v.clone(), json!({}));
    }
    cfg.set("Volumes", Some(Value::Object(m)));
}

fn nanos(d: &Option<Duration>) -> Option<u64> {
    d.filter(|d| !d.is_zero())
        .map(|d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}

/// `HEALTHCHECK` as Docker stores it (zero fields left out).
pub fn healthcheck(h: &Healthcheck) -> Value {
    match h {
        Healthcheck::None => json!({"Test": ["NONE"]}),
        Healthcheck::Check {
            test,
            interval,
            timeout,
            start_period,
            start_interval,
            retries,
        } => {
            let mut m = Map::new();
            m.insert("Test".into(), json!(test));
            for (k, v) in [
                ("Interval", nanos(interval)),
                ("Timeout", nanos(timeout)),
                ("StartPeriod", nanos(start_period)),
                ("StartInterval", nanos(start_interval)),
            ] {
                if let Some(v) = v {
                    m.insert(k.into(), json!(v));
                }
            }
            if let Some(r) = retries.filter(|r| *r > 0) {
                m.insert("Retries".into(), json!(r));
            }
            Value::Object(m)
        }
    }
}

/// Check a `STOPSIGNAL` value (name with or without `SIG`, or number).
pub fn check_signal(s: &str) -> Result<()> {
    if s.parse::<u32>().is_ok_and(|n| n > 0 && n < 65) {
        return Ok(());
    }
    let name = s.to_uppercase();
    let name = name.strip_prefix("SIG").unwrap_or(&name);
    if name.parse::<nix::sys::signal::Signal>().is_ok()
        || format!("SIG{name}")
            .parse::<nix::sys::signal::Signal>()
            .is_ok()
        || name.starts_with("RTMIN")
        || name.starts_with("RTMAX")
    {
        Ok(())
    } else {
        Err(BuildError::Invalid(format!("invalid signal: {s}")))
    }
}

/// Clean a `WORKDIR` against the current one.
pub fn workdir(cfg: &ImageConfig, dir: &str) -> String {
    let cur = cfg.working_dir().unwrap_or_else(|| "/".into());
    let joined = if dir.starts_with('/') {
        dir.to_string()
    } else {
        format!("{}/{dir}", cur.trim_end_matches('/'))
    };
    crate::context::clean_abs(&joined)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_replaces_in_place() {
        let mut c = ImageConfig::default();
        set_env(&mut c, "A", "1");
        set_env(&mut c, "B", "2");
        set_env(&mut c, "A", "3");
        assert_eq!(c.env(), vec!["A=3", "B=2"]);
        assert_eq!(get_env(&c, "B").as_deref(), Some("2"));
    }

    #[test]
    fn expose_ranges_and_protocols() {
        let mut c = ImageConfig::default();
        add_exposed(&mut c, &["80".into(), "53/UDP".into(), "8000-8001".into()]).expect("ok");
        let mut p = c.exposed_ports();
        p.sort();
        assert_eq!(p, vec!["53/udp", "80/tcp", "8000/tcp", "8001/tcp"]);
        assert!(add_exposed(&mut c, &["x".into()]).is_err());
    }

    #[test]
    fn healthcheck_omits_zero_fields() {
        let h = Healthcheck::Check {
            test: vec!["CMD-SHELL".into(), "true".into()],
            interval: Some(Duration::from_secs(5)),
            timeout: None,
            start_period: Some(Duration::ZERO),
            start_interval: None,
            retries: Some(3),
        };
        assert_eq!(
            healthcheck(&h),
            json!({"Test": ["CMD-SHELL", "true"], "Interval": 5_000_000_000u64, "Retries": 3})
        );
        assert!(check_signal("SIGTERM").is_ok() && check_signal("kill").is_ok());
        assert!(check_signal("SIGFOO").is_err());
    }
}
