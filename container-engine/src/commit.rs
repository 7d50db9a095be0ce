//! `commit` (a container's upper dir becomes a new image layer, with `--change`) and a
//! small Dockerfile builder over it for the instructions a base-image-less quickstart
//! needs (FROM, RUN, COPY/ADD of local files, CMD, ENTRYPOINT, ENV, WORKDIR, EXPOSE,
//! LABEL, USER, VOLUME, STOPSIGNAL). Full builds (multi-stage, cache, heredocs) are
//! `container-build`'s job; this one exists so the engine can build without it.

use crate::engine::{Engine, RmOptions};
use crate::error::{Error, IoContext, Result};
use crate::images::{find, img_err, store};
use crate::options::RunOptions;
use container_image::image::HistoryItem;
use container_image::{ImageConfig, Layer};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};

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

    /// Build `dockerfile` (default `<context>/Dockerfile`) into an image tagged `tag`;
    /// `progress` gets one line per step. Returns the image id.
    pub fn build_simple(
        &self,
        context: &Path,
        dockerfile: Option<&Path>,
        tag: Option<&str>,
        progress: &mut dyn FnMut(&str),
    ) -> Result<String> {
        let df = dockerfile
            .map(Path::to_path_buf)
            .unwrap_or_else(|| context.join("Dockerfile"));
        let text = std::fs::read_to_string(&df).ctx("read Dockerfile", &df)?;
        let mut lines = Vec::new();
        let mut cur = String::new();
        for raw in text.lines() {
            let t = raw.trim();
            if cur.is_empty() && (t.starts_with('#') || t.is_empty()) {
                continue;
            }
            if let Some(x) = t.strip_suffix('\\') {
                cur.push_str(x);
                cur.push(' ');
                continue;
            }
            cur.push_str(t);
            lines.push(std::mem::take(&mut cur));
        }
        if !cur.is_empty() {
            lines.push(cur);
        }
        let store = store(self)?;
        let mut cfg: Option<ImageConfig> = None;
        let mut layers: Vec<Layer> = Vec::new();
        let total = lines.len();
        let tmp_tag = format!(
            "localhost/berth-build-tmp:{}",
            &crate::fsutil::new_id()?[..16]
        );
        let result = (|| -> Result<String> {
            for (i, line) in lines.iter().enumerate() {
                progress(&format!("Step {}/{total} : {line}", i + 1));
                let (ins, args) = line.split_once(char::is_whitespace).unwrap_or((line, ""));
                let args = args.trim();
                match ins.to_ascii_uppercase().as_str() {
                    "FROM" => {
                        let name = args.split_whitespace().next().unwrap_or_default();
                        let base = find(&store, name)?;
                        cfg = Some(base.config.clone());
                        layers = base.layers.clone();
                    }
                    "RUN" | "COPY" | "ADD" => {
                        let c = cfg.as_mut().ok_or_else(|| {
                            Error::Build("no FROM before the first instruction".into())
                        })?;
                        let layer = if ins.eq_ignore_ascii_case("RUN") {
                            let img = store
                                .write_image(c, &layers, Some(&tmp_tag))
                                .map_err(img_err)?;
                            self.build_run(
                                &img.id().to_string(),
                                &tmp_tag,
                                &json_or_shell(args),
                                &store,
                            )?
                        } else {
                            build_copy(&store, context, c, args)?
                        };
                        c.push_history(HistoryItem {
                            created: Some(now()),
                            created_by: Some(format!("{} {args}", ins.to_ascii_uppercase())),
                            ..Default::default()
                        });
                        layers.push(layer);
                    }
                    "ARG" | "MAINTAINER" | "HEALTHCHECK" | "SHELL" => {
                        progress(&format!(" ---> {ins} ignored by this builder"));
                    }
                    _ => {
                        let c = cfg.as_mut().ok_or_else(|| {
                            Error::Build("no FROM before the first instruction".into())
                        })?;
                        apply_change(c, line)
                            .map_err(|e| Error::Build(format!("line {line:?}: {e}")))?;
                        c.push_history(HistoryItem {
                            created: Some(now()),
                            created_by: Some(format!("/bin/sh -c #(nop) {line}")),
                            empty_layer: true,
                            ..Default::default()
                        });
                    }
                }
            }
            let mut c = cfg.ok_or_else(|| Error::Build("Dockerfile has no FROM".into()))?;
            if let Some(o) = c.raw_mut().as_object_mut() {
                o.insert("created".into(), json!(now()));
            }
            let img = store.write_image(&c, &layers, tag).map_err(img_err)?;
            progress(&format!(
                "Successfully built {}",
                crate::fsutil::short_id(&img.id().to_string())
            ));
            if let Some(t) = tag {
                progress(&format!("Successfully tagged {t}"));
            }
            Ok(img.id().to_string())
        })();
        let _ = store.remove(&tmp_tag);
        result
    }

    fn build_run(
        &self,
        _image_id: &str,
        tmp_tag: &str,
        cmd: &[String],
        store: &container_image::Store,
    ) -> Result<Layer> {
        let opts = RunOptions {
            image: tmp_tag.to_string(),
            entrypoint: Some(Vec::new()),
            cmd: cmd.to_vec(),
            network: Some("none".into()),
            ..Default::default()
        };
        let attach = crate::monitor::AttachFds {
            stdin: None,
            stdout: 1,
            stderr: 2,
        };
        let r = self.run_attached(&opts, attach, |_, _| {})?;
        let out = (|| -> Result<Layer> {
            if r.exit_code != 0 {
                return Err(Error::Build(format!(
                    "The command '{}' returned a non-zero code: {}",
                    cmd.join(" "),
                    r.exit_code
                )));
            }
            let rec = self.record(&r.id)?;
            let upper = store
                .snapshots()
                .upper_dir(&rec.berth.snapshot)
                .map_err(img_err)?;
            container_image::diff::create_layer(store, &upper, &Default::default()).map_err(img_err)
        })();
        let _ = self.rm(
            &r.id,
            RmOptions {
                force: true,
                volumes: true,
            },
        );
        out
    }
}

fn build_copy(
    store: &container_image::Store,
    context: &Path,
    cfg: &ImageConfig,
    args: &str,
) -> Result<Layer> {
    let words: Vec<String> = if args.trim_start().starts_with('[') {
        serde_json::from_str(args).map_err(|e| Error::Build(format!("COPY {args}: {e}")))?
    } else {
        args.split_whitespace()
            .filter(|w| !w.starts_with("--"))
            .map(String::from)
            .collect()
    };
    if words.len() < 2 {
        return Err(Error::Build(format!(
            "COPY requires at least two arguments: {args}"
        )));
    }
    let (srcs, dst) = words.split_at(words.len() - 1);
    let dst = &dst[0];
    let wd = cfg.working_dir().unwrap_or_else(|| "/".into());
    let dst_abs = if dst.starts_with('/') {
        dst.clone()
    } else {
        format!("{}/{dst}", wd.trim_end_matches('/'))
    };
    let tmp = tempdir_in(store.root())?;
    let res = (|| -> Result<Layer> {
        let ctx = context
            .canonicalize()
            .ctx("resolve build context", context)?;
        let dst_in = tmp.join(dst_abs.trim_start_matches('/'));
        let into_dir = dst.ends_with('/') || srcs.len() > 1;
        for s in srcs {
            let src = ctx.join(s.trim_start_matches('/'));
            let src = src.canonicalize().ctx("COPY source", &src)?;
            if !src.starts_with(&ctx) {
                return Err(Error::Build(format!(
                    "COPY {s}: outside of the build context"
                )));
            }
            let meta = std::fs::metadata(&src).ctx("stat", &src)?;
            if meta.is_dir() {
                crate::volumes::copy_tree(&src, &dst_in)?;
            } else {
                let target = if into_dir {
                    dst_in.join(src.file_name().unwrap_or_default())
                } else {
                    dst_in.clone()
                };
                if let Some(p) = target.parent() {
                    std::fs::create_dir_all(p).ctx("create", p)?;
                }
                std::fs::copy(&src, &target).ctx("copy", &src)?;
            }
        }
        container_image::diff::create_layer(store, &tmp, &Default::default()).map_err(img_err)
    })();
    let _ = std::fs::remove_dir_all(&tmp);
    res
}

fn tempdir_in(root: &Path) -> Result<PathBuf> {
    let d = root
        .join("tmp")
        .join(format!("copy-{}", &crate::fsutil::new_id()?[..16]));
    std::fs::create_dir_all(&d).ctx("create", &d)?;
    Ok(d)
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
