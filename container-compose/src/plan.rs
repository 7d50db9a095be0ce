//! The plan: what to create, in which order (networks, volumes, builds, then services by
//! dependency with their replicas `project-service-N`), and the reverse order for removal.

use crate::error::{Error, ErrorKind, Result};
use crate::model::{Project, Service};
use crate::yaml::Node;
use std::collections::{BTreeMap, BTreeSet};

/// Services this one must start after (depends_on, links, volumes_from, network_mode).
pub fn dependencies(s: &Service) -> BTreeSet<String> {
    let mut out: BTreeSet<String> = s.depends_on.keys().cloned().collect();
    for l in &s.links {
        out.insert(l.split(':').next().unwrap_or(l).to_string());
    }
    for v in &s.volumes_from {
        if !v.starts_with("container:") {
            out.insert(v.split(':').next().unwrap_or(v).to_string());
        }
    }
    if let Some(t) = s
        .network_mode
        .as_deref()
        .and_then(|m| m.strip_prefix("service:"))
    {
        out.insert(t.to_string());
    }
    out
}

/// Find a dependency cycle; the error names it (`a -> b -> a`).
pub(crate) fn check_cycles(p: &Project, nodes: &BTreeMap<String, &Node>) -> Result<()> {
    match topo_order(p) {
        Ok(_) => Ok(()),
        Err(cycle) => {
            let first = &cycle[0];
            let pos = nodes.get(first).map(|n| {
                n.get("depends_on")
                    .or_else(|| n.get("links"))
                    .map(|d| d.pos.clone())
                    .unwrap_or_else(|| n.pos.clone())
            });
            Err(Error::new(
                ErrorKind::Cycle,
                pos.as_ref(),
                &format!("services.{first}.depends_on"),
                format!("dependency cycle: {}", cycle.join(" -> ")),
            ))
        }
    }
}

/// Services in start order (dependencies first, names as tie-break); `Err(cycle)` on a cycle.
pub fn topo_order(p: &Project) -> std::result::Result<Vec<String>, Vec<String>> {
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        Temp,
        Done,
    }
    fn visit(
        p: &Project,
        s: &str,
        marks: &mut BTreeMap<String, Mark>,
        stack: &mut Vec<String>,
        out: &mut Vec<String>,
    ) -> std::result::Result<(), Vec<String>> {
        match marks.get(s) {
            Some(Mark::Done) => return Ok(()),
            Some(Mark::Temp) => {
                let start = stack.iter().position(|x| x == s).unwrap_or(0);
                let mut cycle: Vec<String> = stack[start..].to_vec();
                cycle.push(s.to_string());
                return Err(cycle);
            }
            None => {}
        }
        let Some(svc) = p.services.get(s) else {
            return Ok(());
        };
        marks.insert(s.to_string(), Mark::Temp);
        stack.push(s.to_string());
        for d in dependencies(svc) {
            visit(p, &d, marks, stack, out)?;
        }
        stack.pop();
        marks.insert(s.to_string(), Mark::Done);
        out.push(s.to_string());
        Ok(())
    }
    let mut marks = BTreeMap::new();
    let mut out = Vec::new();
    for s in p.services.keys() {
        visit(p, s, &mut marks, &mut Vec::new(), &mut out)?;
    }
    Ok(out)
}

/// One step of a plan.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Step {
    /// A network (key in the file, real name).
    Network {
        /// Key under `networks:`.
        key: String,
        /// Real name (`project_key`).
        name: String,
    },
    /// A named volume.
    Volume {
        /// Key under `volumes:`.
        key: String,
        /// Real name (`project_key`).
        name: String,
    },
    /// Build the image of a service.
    Build {
        /// Service name.
        service: String,
    },
    /// The containers of a service.
    Service {
        /// Service name.
        service: String,
        /// Container names (`project-service-N` or `container_name`).
        containers: Vec<String>,
    },
}

/// Creation and removal order of a project.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Plan {
    /// In creation order.
    pub create: Vec<Step>,
    /// In removal order (services in reverse dependency order, then volumes, then networks).
    pub remove: Vec<Step>,
}

/// Container names of a service's replicas.
pub fn container_names(project: &str, service: &str, s: &Service, replicas: u64) -> Vec<String> {
    match (&s.container_name, replicas) {
        (Some(n), 1) => vec![n.clone()],
        _ => (1..=replicas)
            .map(|i| format!("{project}-{service}-{i}"))
            .collect(),
    }
}

impl Plan {
    /// The plan of a project; `scale` overrides replica counts (`--scale svc=N`).
    pub fn new(p: &Project, scale: &BTreeMap<String, u64>) -> Result<Plan> {
        let order = topo_order(p).map_err(|c| {
            Error::new(
                ErrorKind::Cycle,
                None,
                &format!("services.{}", c[0]),
                format!("dependency cycle: {}", c.join(" -> ")),
            )
        })?;
        let mut create = Vec::new();
        for (k, n) in &p.networks {
            if !n.external {
                create.push(Step::Network {
                    key: k.clone(),
                    name: n.name.clone(),
                });
            }
        }
        for (k, v) in &p.volumes {
            if !v.external {
                create.push(Step::Volume {
                    key: k.clone(),
                    name: v.name.clone(),
                });
            }
        }
        for s in &order {
            if p.services.get(s).is_some_and(|x| x.build.is_some()) {
                create.push(Step::Build { service: s.clone() });
            }
        }
        let mut services = Vec::new();
        for s in &order {
            let Some(svc) = p.services.get(s) else {
                continue;
            };
            let n = scale.get(s).copied().unwrap_or_else(|| svc.replicas());
            services.push(Step::Service {
                service: s.clone(),
                containers: container_names(&p.name, s, svc, n),
            });
        }
        let mut remove: Vec<Step> = services.iter().rev().cloned().collect();
        remove.extend(
            create
                .iter()
                .filter(|s| matches!(s, Step::Volume { .. }))
                .cloned(),
        );
        remove.extend(
            create
                .iter()
                .filter(|s| matches!(s, Step::Network { .. }))
                .cloned(),
        );
        create.extend(services);
        Ok(Plan { create, remove })
    }
}
