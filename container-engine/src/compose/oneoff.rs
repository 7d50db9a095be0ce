//! Commands against single containers: `exec` into a replica and `run`, a one-off
//! container of a service (`project-service-run-<hex>`, label `oneoff=True`).

use super::{
    ComposeRunner, ExecOptions, NUMBER_LABEL, RunOptions, UpOptions, compose_err, label, service,
    wait,
};
use crate::error::{Error, Result};
use crate::model::ContainerRecord;
use crate::monitor::AttachFds;
use container_compose::Plan;
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

impl ComposeRunner<'_> {
    /// The container of replica `index` of `service`.
    fn replica(&self, service: &str, index: u64) -> Result<ContainerRecord> {
        let all = self.replicas(&[service.to_string()])?;
        let by_number = all
            .iter()
            .position(|r| label(r, NUMBER_LABEL).and_then(|n| n.parse().ok()) == Some(index));
        let pos = by_number.or_else(|| {
            let s = self.project.services.get(service)?;
            let names =
                container_compose::plan::container_names(&self.project.name, service, s, index);
            let want = names.last()?;
            all.iter().position(|r| r.short_name() == want)
        });
        pos.map(|i| all[i].clone()).ok_or_else(|| {
            Error::NoSuchContainer(format!("service {service} has no container number {index}"))
        })
    }

    /// `docker compose exec`: run `command` in replica `index` of the service, with the
    /// caller's stdio; returns the command's exit code.
    pub fn exec(&self, opts: &ExecOptions) -> Result<i32> {
        if opts.command.is_empty() {
            return Err(Error::Invalid("exec needs a command".into()));
        }
        let rec = self.replica(&opts.service, opts.index)?;
        if !rec.state.running {
            return Err(Error::Conflict(format!(
                "container {} is not running",
                rec.short_name()
            )));
        }
        let args = wait::resolve_in_container(&rec, opts.command.clone());
        let pid = self.engine.exec(
            &rec.id,
            &args,
            &opts.env,
            opts.user.as_deref(),
            opts.workdir.as_deref(),
        )?;
        Ok(crate::engine::wait_child(pid))
    }

    /// `docker compose run`: a one-off container of a service on the project's networks,
    /// with its dependencies started first (unless `no_deps`); no ports unless
    /// `service_ports`; attached to `attach`. Returns the container's exit code; with
    /// `rm` the container is removed after it exits.
    pub fn run(&self, opts: &RunOptions) -> Result<i32> {
        let p = self.project;
        let name = opts.service.as_str();
        let s = self.service(name)?;
        let container = match &opts.name {
            Some(n) => n.clone(),
            None => format!("{}-{name}-run-{}", p.name, oneoff_suffix()),
        };
        let mut o = service::run_options(p, name, s, &container, 0)?;
        service::check(name, &o)?;
        if let Some(c) = &opts.command {
            o.cmd = c.clone();
        }
        if opts.entrypoint.is_some() {
            o.entrypoint = opts.entrypoint.clone();
        }
        for e in &opts.env {
            let key = e.split('=').next().unwrap_or_default();
            o.env.retain(|x| x.split('=').next() != Some(key));
            o.env.push(e.clone());
        }
        if opts.user.is_some() {
            o.user = opts.user.clone();
        }
        if opts.workdir.is_some() {
            o.workdir = opts.workdir.clone();
        }
        if !opts.service_ports {
            o.publish.clear();
        }
        o.restart = None;
        o.detach = false;
        let attach = opts.attach.unwrap_or(AttachFds {
            stdin: None,
            stdout: 1,
            stderr: 2,
        });
        o.interactive = attach.stdin.is_some();
        o.tty = false;
        let timeout = opts.wait_timeout.unwrap_or(Duration::from_secs(120));
        let deps: Vec<String> = if opts.no_deps {
            Vec::new()
        } else {
            container_compose::plan::dependencies(s)
                .into_iter()
                .collect()
        };
        let plan = Plan::new(p, &BTreeMap::new()).map_err(compose_err)?;
        let networks = self.network_configs(&plan)?;
        self.ensure_images(&BTreeSet::from([name.to_string()]), false)?;
        if deps.is_empty() {
            self.create_resources(networks)?;
        } else {
            self.up(&UpOptions {
                services: deps,
                wait_timeout: timeout,
                ..UpOptions::default()
            })?;
            for (dep, d) in &s.depends_on {
                let dep_svc = self.service(dep)?;
                for c in self.replicas(std::slice::from_ref(dep))? {
                    wait::wait_for(
                        self.engine,
                        dep,
                        c.short_name(),
                        &d.condition,
                        timeout,
                        dep_svc.healthcheck.as_ref(),
                    )?;
                }
            }
        }
        let result = self.engine.run_attached(&o, attach, |_, _| {})?;
        if opts.rm {
            self.remove_container(&result.id, None)?;
        }
        Ok(result.exit_code)
    }
}

/// A short random suffix for one-off container names.
fn oneoff_suffix() -> String {
    let mut b = [0u8; 6];
    // SAFETY: getrandom writes at most b.len() bytes into b.
    let n = unsafe { libc::getrandom(b.as_mut_ptr().cast(), b.len(), 0) };
    if n != b.len() as isize {
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos() as u64
            ^ u64::from(std::process::id());
        b.copy_from_slice(&t.to_le_bytes()[..6]);
    }
    hex::encode(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn oneoff_suffixes_differ() {
        let a = oneoff_suffix();
        assert_eq!(a.len(), 12);
        assert_ne!(a, oneoff_suffix());
    }
}
