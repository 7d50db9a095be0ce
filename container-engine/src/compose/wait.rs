//! `depends_on` conditions: wait until a dependency has started, is healthy, or has
//! completed successfully, within a bounded time.
//!
//! For `service_healthy` the engine's own health state (`State.Health`, kept by the
//! monitor) is used when the container has one; otherwise the runner probes the service's
//! healthcheck itself by exec'ing the test into the container at its `interval`, counting
//! `retries` after `start_period`, so a project works the same with either engine.

use crate::engine::Engine;
use crate::error::{Error, Result};
use crate::model::ContainerRecord;
use container_compose::Healthcheck;
use std::path::Path;
use std::time::{Duration, Instant};

/// `depends_on` condition: the dependency's containers run.
pub const STARTED: &str = "service_started";
/// `depends_on` condition: the dependency's healthcheck passes.
pub const HEALTHY: &str = "service_healthy";
/// `depends_on` condition: the dependency ran to completion with exit code 0.
pub const COMPLETED: &str = "service_completed_successfully";

/// Look a program up in the container's root along its `PATH`, like a shell would:
/// exec runs the path it is given.
pub fn resolve_in_container(rec: &ContainerRecord, mut args: Vec<String>) -> Vec<String> {
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

/// The probe state of a runner-side healthcheck.
struct Probe<'a> {
    check: &'a Healthcheck,
    failures: u64,
    next: Instant,
    last_error: String,
}

impl Probe<'_> {
    /// Run the test once when due; `Some(true)` healthy, `Some(false)` failed for good.
    fn step(&mut self, engine: &Engine, rec: &ContainerRecord, since: Instant) -> Option<bool> {
        if Instant::now() < self.next {
            return None;
        }
        let h = self.check;
        let args: Vec<String> = match h.test[0].as_str() {
            "CMD-SHELL" => vec!["/bin/sh".into(), "-c".into(), h.test[1..].join(" ")],
            _ => h.test[1..].to_vec(),
        };
        let args = resolve_in_container(rec, args);
        let code = match engine.exec(&rec.id, &args, &[], None, None) {
            Ok(pid) => crate::engine::wait_child(pid),
            Err(e) => {
                self.last_error = e.to_string();
                -1
            }
        };
        self.next = Instant::now() + h.interval.unwrap_or(Duration::from_secs(30));
        if code == 0 {
            return Some(true);
        }
        if h.start_period.is_none_or(|p| since.elapsed() >= p) {
            self.failures += 1;
        }
        (self.failures >= h.retries.unwrap_or(3)).then_some(false)
    }
}

/// Wait until `container` of dependency `service` meets `condition`, at most `timeout`.
pub fn wait_for(
    engine: &Engine,
    service: &str,
    container: &str,
    condition: &str,
    timeout: Duration,
    health: Option<&Healthcheck>,
) -> Result<()> {
    let start = Instant::now();
    let mut probe = health
        .filter(|h| !h.disable && h.test.first().is_some_and(|t| t != "NONE"))
        .map(|check| Probe {
            check,
            failures: 0,
            next: Instant::now(),
            last_error: String::new(),
        });
    let unmet = |why: String| Error::Conflict(format!("dependency {service} ({container}) {why}"));
    loop {
        let rec = engine.record(container)?;
        let done = match condition {
            HEALTHY => match rec.state.health.as_ref().map(|h| h.status.as_str()) {
                Some("healthy") => true,
                Some("unhealthy") => return Err(unmet("is unhealthy".into())),
                Some(_) => false,
                None => {
                    let Some(p) = probe.as_mut() else {
                        return Err(unmet(
                            "has no healthcheck (condition service_healthy)".into(),
                        ));
                    };
                    if !rec.state.running {
                        return Err(unmet(format!(
                            "is not running (exit code {})",
                            rec.state.exit_code
                        )));
                    }
                    match p.step(engine, &rec, start) {
                        Some(true) => true,
                        Some(false) => {
                            return Err(unmet(format!("is unhealthy {}", p.last_error)));
                        }
                        None => false,
                    }
                }
            },
            COMPLETED => {
                if rec.state.running
                    || matches!(rec.state.status.as_str(), "restarting" | "created")
                {
                    false
                } else if rec.state.exit_code == 0 {
                    true
                } else {
                    return Err(unmet(format!("exited with {}", rec.state.exit_code)));
                }
            }
            _ => true,
        };
        if done {
            return Ok(());
        }
        if start.elapsed() > timeout {
            return Err(Error::Timeout(
                timeout,
                format!("{service} ({container}) to meet {condition}"),
            ));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}
