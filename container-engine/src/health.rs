//! Healthchecks, run by the container's monitor (`--health-*` flags or the image's
//! `HEALTHCHECK`), with Docker's rules: the first probe one interval after start, each
//! probe an exec in the container killed after the timeout, failures during the start
//! period not counted, `retries` failures in a row make the container `unhealthy`, a
//! success makes it `healthy`; the last five probes are kept in `State.Health.Log`.
//!
//! A caller that waits for a container to become healthy (compose's `service_healthy`)
//! reads `State.Health.Status` from the record ([`crate::Engine::health`]) instead of
//! probing itself.

use crate::engine::Engine;
use crate::model::{Health, HealthConfig, HealthLog, now_rfc3339};
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::time::{Duration, Instant};

/// Docker's defaults for a zero interval/timeout/retries.
const DEFAULT_INTERVAL: Duration = Duration::from_secs(30);
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
const DEFAULT_RETRIES: u32 = 3;
/// Probes kept in the log, and the output kept per probe (Docker's numbers).
const MAX_LOG: usize = 5;
const MAX_OUTPUT: usize = 4096;

/// Does this healthcheck run probes (not absent, not `NONE`)?
pub fn enabled(h: &HealthConfig) -> bool {
    h.test.first().is_some_and(|t| t != "NONE")
        && !(h
            .test
            .first()
            .is_some_and(|t| t == "CMD" || t == "CMD-SHELL")
            && h.test.len() < 2)
}

/// The state of a just-started container with a healthcheck.
pub fn starting() -> Health {
    Health {
        status: "starting".into(),
        failing_streak: 0,
        log: Vec::new(),
    }
}

/// The program of a probe: `CMD-SHELL x` runs `/bin/sh -c x`, `CMD a b` runs `a b`.
pub fn probe_args(h: &HealthConfig) -> Vec<String> {
    match h.test.first().map(String::as_str) {
        Some("CMD-SHELL") => vec!["/bin/sh".into(), "-c".into(), h.test[1..].join(" ")],
        Some("CMD") => h.test[1..].to_vec(),
        _ => h.test.clone(),
    }
}

fn dur(ns: i64, default: Duration) -> Duration {
    if ns > 0 {
        Duration::from_nanos(ns as u64)
    } else {
        default
    }
}

struct Probe {
    pid: i32,
    out: Option<OwnedFd>,
    output: Vec<u8>,
    start: String,
    deadline: Instant,
    timed_out: bool,
}

/// The monitor's healthcheck state machine.
pub(crate) struct Runner {
    cfg: HealthConfig,
    started: Instant,
    next: Instant,
    probe: Option<Probe>,
    health: Health,
}

impl Runner {
    pub(crate) fn new(cfg: HealthConfig, now: Instant) -> Runner {
        let interval = dur(cfg.interval, DEFAULT_INTERVAL);
        Runner {
            cfg,
            started: now,
            next: now + interval,
            probe: None,
            health: starting(),
        }
    }

    /// The probe's output pipe, to poll.
    pub(crate) fn output_fd(&self) -> Option<RawFd> {
        self.probe
            .as_ref()
            .and_then(|p| p.out.as_ref())
            .map(|f| f.as_raw_fd())
    }

    /// Milliseconds until something is due. A probe whose output pipe closed is about
    /// to exit (or has): soon, to reap it, as the poll has no other wakeup for that.
    pub(crate) fn next_wakeup_ms(&self, now: Instant) -> i32 {
        let at = match &self.probe {
            Some(p) if p.out.is_none() => now + Duration::from_millis(10),
            Some(p) if !p.timed_out => p.deadline,
            Some(_) => now + Duration::from_millis(50),
            None => self.next,
        };
        at.saturating_duration_since(now).as_millis().min(60_000) as i32
    }

    /// Read what the probe wrote so far (non-blocking).
    pub(crate) fn read_output(&mut self) {
        let Some(p) = self.probe.as_mut() else {
            return;
        };
        let Some(fd) = p.out.as_ref().map(|f| f.as_raw_fd()) else {
            return;
        };
        let mut buf = [0u8; 4096];
        loop {
            // SAFETY: read into a local buffer from a pipe we own.
            let n = unsafe { libc::read(fd, buf.as_mut_ptr().cast(), buf.len()) };
            if n > 0 {
                let room = MAX_OUTPUT.saturating_sub(p.output.len());
                p.output.extend_from_slice(&buf[..(n as usize).min(room)]);
                continue;
            }
            if n == 0 {
                p.out = None;
            }
            break;
        }
    }

    /// Start a probe when due; kill one that ran past its timeout.
    pub(crate) fn tick(&mut self, engine: &Engine, id: &str, now: Instant) {
        if let Some(p) = self.probe.as_mut() {
            if !p.timed_out && now >= p.deadline {
                p.timed_out = true;
                // SAFETY: kill our own child (the probe).
                unsafe { libc::kill(p.pid, libc::SIGKILL) };
            }
            return;
        }
        if now < self.next {
            return;
        }
        let start = now_rfc3339();
        let timeout = dur(self.cfg.timeout, DEFAULT_TIMEOUT);
        match spawn_probe(engine, id, &probe_args(&self.cfg)) {
            Ok((pid, out)) => {
                self.probe = Some(Probe {
                    pid,
                    out: Some(out),
                    output: Vec::new(),
                    start,
                    deadline: now + timeout,
                    timed_out: false,
                });
            }
            Err(e) => {
                // like a probe that could not exec its program
                self.record(engine, id, start, -1, e.to_string());
            }
        }
    }

    /// A child of the monitor was reaped: when it is the probe, record its result.
    pub(crate) fn reaped(&mut self, engine: &Engine, id: &str, pid: i32, code: i32) {
        if self.probe.as_ref().is_none_or(|p| p.pid != pid) {
            return;
        }
        self.read_output();
        let Some(p) = self.probe.take() else {
            return;
        };
        let (code, output) = if p.timed_out {
            (
                -1,
                format!(
                    "Health check exceeded timeout ({})",
                    humantime::format_duration(dur(self.cfg.timeout, DEFAULT_TIMEOUT))
                ),
            )
        } else {
            (code, String::from_utf8_lossy(&p.output).into_owned())
        };
        self.record(engine, id, p.start, code, output);
    }

    /// The container stopped: kill a running probe.
    pub(crate) fn abandon(&mut self) {
        if let Some(p) = self.probe.take() {
            // SAFETY: kill and reap our own child (the probe).
            unsafe {
                libc::kill(p.pid, libc::SIGKILL);
                libc::waitpid(p.pid, std::ptr::null_mut(), 0);
            }
        }
    }

    fn record(&mut self, engine: &Engine, id: &str, start: String, code: i32, output: String) {
        let now = Instant::now();
        let in_grace =
            now.duration_since(self.started) < dur(self.cfg.start_period, Duration::ZERO);
        let h = &mut self.health;
        if code == 0 {
            h.status = "healthy".into();
            h.failing_streak = 0;
        } else if !in_grace {
            h.failing_streak += 1;
            let retries = if self.cfg.retries > 0 {
                self.cfg.retries
            } else {
                DEFAULT_RETRIES
            };
            if h.failing_streak >= retries {
                h.status = "unhealthy".into();
            }
        }
        h.log.push(HealthLog {
            start,
            end: now_rfc3339(),
            exit_code: code,
            output,
        });
        if h.log.len() > MAX_LOG {
            let extra = h.log.len() - MAX_LOG;
            h.log.drain(..extra);
        }
        self.next = now + dur(self.cfg.interval, DEFAULT_INTERVAL);
        let health = self.health.clone();
        let _ = engine.containers.update(id, |r| {
            if r.state.running {
                r.state.health = Some(health);
            }
        });
    }
}

/// Exec the probe with stdout and stderr on one non-blocking pipe; (pid, read end).
fn spawn_probe(engine: &Engine, id: &str, args: &[String]) -> crate::Result<(i32, OwnedFd)> {
    let mut fds = [0; 2];
    // SAFETY: pipe2 fills two fds we then own.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(crate::Error::last_os("pipe"));
    }
    use std::os::fd::FromRawFd;
    // SAFETY: fresh fds from pipe2.
    let (r, w) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
    // SAFETY: fcntl on an fd we own.
    unsafe { libc::fcntl(r.as_raw_fd(), libc::F_SETFL, libc::O_NONBLOCK) };
    let w2 = w.try_clone().map_err(|e| crate::Error::Sys {
        what: "dup",
        source: e,
    })?;
    let null = std::fs::File::open("/dev/null").map_err(|e| crate::Error::Sys {
        what: "open /dev/null",
        source: e,
    })?;
    let cfg = crate::engine::ExecConfig {
        args: args.to_vec(),
        ..Default::default()
    };
    let p = engine.exec_with(id, &cfg, Some([OwnedFd::from(null), w, w2]))?;
    Ok((p.pid(), r))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn probe_args_and_enabled() {
        let h = HealthConfig {
            test: vec!["CMD-SHELL".into(), "test -f /ok".into()],
            ..Default::default()
        };
        assert!(enabled(&h));
        assert_eq!(probe_args(&h), vec!["/bin/sh", "-c", "test -f /ok"]);
        let none = HealthConfig {
            test: vec!["NONE".into()],
            ..Default::default()
        };
        assert!(!enabled(&none));
        assert!(!enabled(&HealthConfig::default()));
    }

    #[test]
    fn first_probe_waits_one_interval() {
        let now = Instant::now();
        let r = Runner::new(
            HealthConfig {
                test: vec!["CMD".into(), "true".into()],
                interval: 2_000_000_000,
                ..Default::default()
            },
            now,
        );
        let ms = r.next_wakeup_ms(now);
        assert!((1990..=2000).contains(&ms), "{ms}");
    }
}
