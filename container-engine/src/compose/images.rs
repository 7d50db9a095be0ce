//! The images of a project: pulled through [`Engine::pull`](crate::Engine::pull), built
//! through [`Engine::build`](crate::Engine::build) with the service's `build:` context,
//! dockerfile, args, target and labels (tagged `project-service` when the service names
//! no image), and made present before `up` creates anything else.

use super::{Action, ComposeRunner, Event, Object, service};
use crate::error::{Error, Result};
use container_compose::Service;
use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

impl ComposeRunner<'_> {
    /// Pull `reference` with [`Engine::pull`] into the engine's store; returns the
    /// image id.
    pub(super) fn pull_image(&self, reference: &str) -> Result<String> {
        // On a thread of its own: a runtime cannot be started inside a caller's runtime.
        let pulled = std::thread::scope(|s| {
            s.spawn(|| -> Result<crate::distribution::Pulled> {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .map_err(|e| Error::Sys {
                        what: "start the pull runtime",
                        source: e,
                    })?;
                rt.block_on(self.engine.pull(reference, &self.registry, None))
            })
            .join()
            .map_err(|_| Error::Image(format!("pull {reference}: the pull thread panicked")))?
        })?;
        self.emit(Object::Image, reference, Action::Pulled);
        Ok(pulled.id)
    }

    /// Build the image of `service` (it has `build:`); returns the image id.
    fn build_service(&self, name: &str, s: &Service) -> Result<String> {
        let Some(b) = &s.build else {
            return Err(Error::Invalid(format!(
                "service {name} has no build section"
            )));
        };
        if b.context.contains("://") || b.context.starts_with("git@") {
            return Err(Error::Invalid(format!(
                "service {name}: build context {} is remote; only local directories are supported",
                b.context
            )));
        }
        let context = PathBuf::from(&b.context);
        let dockerfile = b.dockerfile.as_ref().map(|d| context.join(d));
        let tag = service::image_name(self.project, name, s);
        // Compose: an arg without a value takes the variable of the environment, and
        // is left out when that is unset; a label without a value is empty.
        let build_args = b
            .args
            .iter()
            .filter_map(|(k, v)| {
                v.clone()
                    .or_else(|| std::env::var(k).ok())
                    .map(|v| (k.clone(), v))
            })
            .collect();
        let labels = b
            .labels
            .iter()
            .map(|(k, v)| (k.clone(), v.clone().unwrap_or_default()))
            .collect();
        let opts = container_build::BuildOptions {
            context,
            dockerfile,
            build_args,
            target: b.target.clone(),
            labels,
            tags: vec![tag.clone()],
            ..Default::default()
        };
        let out = self.engine.build(&opts, &mut |e| {
            if let (Some(f), Some(line)) = (&self.on_event, e.to_line()) {
                f(&Event::BuildStep {
                    service: name.to_string(),
                    line,
                });
            }
        })?;
        let id = out.image.id().to_string();
        self.emit(Object::Image, &tag, Action::Built);
        Ok(id)
    }

    /// Make sure every service in `selected` has its image: build (`build:` with
    /// `force_build`, a missing image or `pull_policy: build`) or pull (missing, or
    /// `pull_policy: always`). Returns service → image id.
    pub(super) fn ensure_images(
        &self,
        selected: &BTreeSet<String>,
        force_build: bool,
    ) -> Result<BTreeMap<String, String>> {
        let mut ids = BTreeMap::new();
        for name in self.order()?.iter().filter(|s| selected.contains(*s)) {
            let s = self.service(name)?;
            let image = service::image_name(self.project, name, s);
            let present = crate::images::resolve(self.engine, &image).ok();
            let policy = s.pull_policy.as_deref().unwrap_or("missing");
            let id = if s.build.is_some() && (force_build || present.is_none() || policy == "build")
            {
                self.build_service(name, s)?
            } else if policy == "always" || (present.is_none() && policy != "never") {
                self.pull_image(&image)?
            } else if let Some(p) = present {
                p.id
            } else {
                return Err(Error::NoSuchImage(image));
            };
            ids.insert(name.clone(), id);
        }
        Ok(ids)
    }

    /// `docker compose build`: build the images of `services` (all with `build:` when
    /// empty). Returns the built image ids by service.
    pub fn build(&self, services: &[String]) -> Result<BTreeMap<String, String>> {
        let selected: Vec<String> = if services.is_empty() {
            self.project.services.keys().cloned().collect()
        } else {
            services.to_vec()
        };
        let mut out = BTreeMap::new();
        for name in &selected {
            let s = self.service(name)?;
            if s.build.is_some() {
                out.insert(name.to_string(), self.build_service(name, s)?);
            } else if !services.is_empty() {
                return Err(Error::Invalid(format!(
                    "service {name} has no build section"
                )));
            }
        }
        Ok(out)
    }

    /// `docker compose pull`: pull the images of `services` (all when empty); services
    /// that are built (`build:`) are skipped. With `ignore_failures`, a failed pull is
    /// reported in the result instead of stopping. Returns the failures.
    pub fn pull(&self, services: &[String], ignore_failures: bool) -> Result<Vec<(String, Error)>> {
        let selected: Vec<String> = if services.is_empty() {
            self.project.services.keys().cloned().collect()
        } else {
            services.to_vec()
        };
        let mut failures = Vec::new();
        for name in &selected {
            let s = self.service(name)?;
            let Some(image) = s.image.as_deref().filter(|_| s.build.is_none()) else {
                continue;
            };
            match self.pull_image(image) {
                Ok(_) => {}
                Err(e) if ignore_failures => failures.push((name.to_string(), e)),
                Err(e) => return Err(e),
            }
        }
        Ok(failures)
    }
}
