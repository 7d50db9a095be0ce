//! `commit` (a container's upper dir becomes a new image layer, with `--change`) and
//! `build`, which hands a Dockerfile to `container-build` (multi-stage, layer cache,
//! `RUN` through `container-core`) with this engine's image store.

use crate::engine::Engine;
use crate::error::{Error, Result};
use crate::images::{find, img_err, store};
use container_image::ImageConfig;
use container_image::image::HistoryItem;
use serde_json::{Value, json};
use std::path::Path;

/// `commit` options.
#[derive(Debug, Clone, Default)]
pub struct CommitOptions {
    /// Name of the new image.
    pub reference: Option<String>,
    /// Dockerfile instructions applied to the config (`CMD …`, `ENV k=v`, …).
    pub changes: Vec<String>,
    /// Commit message.
    pub comment: Option<String>,
    /// Author.
    pub author: Option<String>,
}

fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// Split `KEY=value KEY2="v 2"` / `KEY value` into pairs.
fn key_values(args: &str, legacy_space: bool) -> Vec<(String, String)> {
    if legacy_space && !args.split_whitespace().next().unwrap_or("").contains('=') {
        let (k, v) = args.split_once(char::is_whitespace).unwrap_or((args, ""));
        return vec![(k.to_string(), v.trim().to_string())];
    }
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quote: Option<char> = None;
    let mut words = Vec::new();
    for c in args.chars() {
        match quote {
            Some(q) if c == q => quote = None,
            Some(_) => cur.push(c),
            None if c == '"' || c == '\'' => quote = Some(c),
            None if c.is_whitespace() => {
                if !cur.is_empty() {
                    words.push(std::mem::take(&mut cur));
                }
            }
            None => cur.push(c),
        }
    }
    if !cur.is_empty() {
        words.push(cur);
    }
    for w in words {
        let (k, v) = w.split_once('=').unwrap_or((&w, ""));
        out.push((k.to_string(), v.to_string()));
    }
    out
}

fn json_or_shell(args: &str) -> Vec<String> {
    let t = args.trim();
    if t.starts_with('[')
        && let Ok(v) = serde_json::from_str::<Vec<String>>(t)
    {
        return v;
    }
    vec!["/bin/sh".into(), "-c".into(), t.to_string()]
}

/// Apply one config instruction (`CMD`, `ENV`, …) to an image config section.
pub fn apply_change(cfg: &mut ImageConfig, line: &str) -> Result<()> {
    let line = line.trim();
    let (ins, args) = line.split_once(char::is_whitespace).unwrap_or((line, ""));
    let args = args.trim();
    let get_arr = |cfg: &ImageConfig, k: &str| -> Vec<Value> {
        cfg.raw()["config"][k]
            .as_array()
            .cloned()
            .unwrap_or_default()
    };
    match ins.to_ascii_uppercase().as_str() {
        "CMD" => cfg.set("Cmd", Some(json!(json_or_shell(args)))),
        "ENTRYPOINT" => cfg.set("Entrypoint", Some(json!(json_or_shell(args)))),
        "WORKDIR" => {
            let cur = cfg.working_dir().unwrap_or_default();
            let p = if args.starts_with('/') {
                args.to_string()
            } else {
                format!("{}/{args}", cur.trim_end_matches('/'))
            };
            cfg.set("WorkingDir", Some(json!(p)));
        }
        "USER" => cfg.set("User", Some(json!(args))),
        "STOPSIGNAL" => cfg.set("StopSignal", Some(json!(args))),
        "ENV" => {
            let mut env = cfg.env();
            for (k, v) in key_values(args, true) {
                env.retain(|e| e.split('=').next() != Some(k.as_str()));
                env.push(format!("{k}={v}"));
            }
            cfg.set("Env", Some(json!(env)));
        }
        "LABEL" => {
            let mut labels = cfg.raw()["config"]["Labels"]
                .as_object()
                .cloned()
                .unwrap_or_default();
            for (k, v) in key_values(args, false) {
                labels.insert(k, json!(v));
            }
            cfg.set("Labels", Some(Value::Object(labels)));
        }
        "EXPOSE" => {
            let mut ports = cfg.raw()["config"]["ExposedPorts"]
                .as_object()
                .cloned()
                .unwrap_or_default();
            for p in args.split_whitespace() {
                let p = if p.contains('/') {
                    p.to_string()
                } else {
                    format!("{p}/tcp")
                };
                ports.insert(p, json!({}));
            }
            cfg.set("ExposedPorts", Some(Value::Object(ports)));
        }
        "VOLUME" => {
            let mut vols = cfg.raw()["config"]["Volumes"]
                .as_object()
                .cloned()
                .unwrap_or_default();
            let list = if args.starts_with('[') {
                serde_json::from_str::<Vec<String>>(args).unwrap_or_default()
            } else {
                args.split_whitespace().map(String::from).collect()
            };
            for v in list {
                vols.insert(v, json!({}));
            }
            cfg.set("Volumes", Some(Value::Object(vols)));
        }
        "ONBUILD" => {
            let mut v = get_arr(cfg, "OnBuild");
            v.push(json!(args));
            cfg.set("OnBuild", Some(Value::Array(v)));
        }
        other => {
            return Err(Error::Invalid(format!(
                "{other} is not a valid change command"
            )));
        }
    }
    Ok(())
}

impl Engine {
    /// `docker commit`: the container's writable layer becomes a new image layer on its
    /// image; `changes` adjust the config. Returns the new image id.
    pub fn commit(&self, name_or_id: &str, opts: &CommitOptions) -> Result<String> {
        let rec = self.record(name_or_id)?;
        if rec.berth.snapshot.is_empty() {
            return Err(Error::Invalid(
                "cannot commit a container that runs on a --rootfs directory".into(),
            ));
        }
        let store = store(self)?;
        let base = find(&store, &rec.berth.image_ref).or_else(|_| find(&store, &rec.image))?;
        let upper = store
            .snapshots()
            .upper_dir(&rec.berth.snapshot)
            .map_err(img_err)?;
        let layer = container_image::diff::create_layer(&store, &upper, &Default::default())
            .map_err(img_err)?;
        let mut cfg = base.config.clone();
        for c in &opts.changes {
            apply_change(&mut cfg, c)?;
        }
        let mut by = rec.path.clone();
        for a in &rec.args {
            by.push(' ');
            by.push_str(a);
        }
        cfg.push_history(HistoryItem {
            created: Some(now()),
            created_by: Some(by),
            author: opts.author.clone(),
            comment: opts.comment.clone(),
            empty_layer: false,
        });
        if let Some(o) = cfg.raw_mut().as_object_mut() {
            o.insert("created".into(), json!(now()));
        }
        let mut layers = base.layers.clone();
        layers.push(layer);
        let img = store
            .write_image(&cfg, &layers, opts.reference.as_deref())
            .map_err(img_err)?;
        Ok(img.id().to_string())
    }

    /// Build an image with `container-build` (multi-stage, layer cache, `RUN` in
    /// containers through `container-core`) into this engine's image store; `progress`
    /// sees every step event. `RUN` containers live under `<runtime root>/build` unless
    /// `opts.runtime_root` says otherwise.
    pub fn build(
        &self,
        opts: &container_build::BuildOptions,
        progress: &mut dyn FnMut(&container_build::BuildEvent),
    ) -> Result<container_build::BuildOutput> {
        let store = store(self)?;
        let mut opts = opts.clone();
        if opts.runtime_root.is_none() {
            opts.runtime_root = Some(self.runtime_root().join("build"));
        }
        container_build::Builder::new(store)
            .build(&opts, progress)
            .map_err(|e| Error::Build(e.to_string()))
    }

    /// Build `dockerfile` (default `<context>/Dockerfile`) into an image tagged `tag`
    /// with [`Engine::build`]; `progress` gets one line per event, as Docker's classic
    /// builder prints them. Returns the image id.
    pub fn build_simple(
        &self,
        context: &Path,
        dockerfile: Option<&Path>,
        tag: Option<&str>,
        progress: &mut dyn FnMut(&str),
    ) -> Result<String> {
        let opts = container_build::BuildOptions {
            context: context.to_path_buf(),
            dockerfile: dockerfile.map(Path::to_path_buf),
            tags: tag.map(String::from).into_iter().collect(),
            ..Default::default()
        };
        let out = self.build(&opts, &mut |e| {
            if let Some(line) = e.to_line() {
                progress(&line);
            }
        })?;
        Ok(out.image.id().to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changes_apply() {
        let mut c = ImageConfig::default();
        apply_change(&mut c, "CMD [\"a\", \"b\"]").expect("cmd");
        apply_change(&mut c, "ENV A=1 B=\"x y\"").expect("env");
        apply_change(&mut c, "EXPOSE 80 53/udp").expect("expose");
        apply_change(&mut c, "WORKDIR /srv").expect("wd");
        apply_change(&mut c, "WORKDIR sub").expect("wd");
        assert_eq!(c.cmd(), Some(vec!["a".to_string(), "b".to_string()]));
        assert!(c.env().contains(&"B=x y".to_string()));
        assert_eq!(c.working_dir().as_deref(), Some("/srv/sub"));
        assert_eq!(c.exposed_ports().len(), 2);
        assert!(apply_change(&mut c, "FROB x").is_err());
        apply_change(&mut c, "CMD echo hi").expect("cmd");
        assert_eq!(c.cmd().expect("cmd")[0], "/bin/sh");
    }
}
