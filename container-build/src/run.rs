//! Running a `RUN` command: a container through `container-core` on a mounted snapshot,
//! its stdout and stderr read line by line.

use crate::error::{BuildError, IoCtx, Result};
use serde_json::{Value, json};
use std::io::BufRead;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};

/// A bind or tmpfs mount for a `RUN` container.
#[derive(Debug, Clone)]
pub(crate) struct RunMount {
    pub destination: String,
    pub kind: &'static str,
    pub source: String,
    pub options: Vec<String>,
}

/// What to run.
#[derive(Debug, Clone)]
pub(crate) struct RunRequest {
    pub id: String,
    pub argv: Vec<String>,
    pub env: Vec<String>,
    pub cwd: String,
    pub uid: u32,
    pub gid: u32,
    pub additional_gids: Vec<u32>,
    pub network_host: bool,
    pub mounts: Vec<RunMount>,
    /// Bundle directory; its `rootfs` is the mounted snapshot.
    pub bundle: PathBuf,
    pub runtime_root: PathBuf,
}

fn spec_for(req: &RunRequest) -> Result<oci_spec::runtime::Spec> {
    let mut v = serde_json::to_value(container_core::spec::default_spec())
        .map_err(|e| BuildError::Invalid(format!("default spec: {e}")))?;
    v["process"]["args"] = json!(req.argv);
    v["process"]["env"] = json!(req.env);
    v["process"]["cwd"] = json!(req.cwd);
    v["process"]["terminal"] = json!(false);
    v["process"]["user"] = json!({
        "uid": req.uid,
        "gid": req.gid,
        "additionalGids": req.additional_gids,
    });
    v["root"] = json!({"path": "rootfs", "readonly": false});
    v["hostname"] = json!("buildkitsandbox");
    if req.network_host
        && let Some(ns) = v["linux"]["namespaces"].as_array_mut()
    {
        ns.retain(|n| n["type"] != "network");
    }
    if let Some(ms) = v["mounts"].as_array_mut() {
        for m in &req.mounts {
            ms.push(json!({
                "destination": m.destination,
                "type": m.kind,
                "source": m.source,
                "options": m.options,
            }));
        }
    }
    serde_json::from_value::<oci_spec::runtime::Spec>(strip_nulls(v))
        .map_err(|e| BuildError::Invalid(format!("RUN container spec: {e}")))
}

fn strip_nulls(v: Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.into_iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, v)| (k, strip_nulls(v)))
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.into_iter().map(strip_nulls).collect()),
        v => v,
    }
}

/// Run `req` to completion, giving each output line to `on_line`; returns the exit code.
pub(crate) fn run(req: &RunRequest, on_line: &mut dyn FnMut(String)) -> Result<i32> {
    let spec = spec_for(req)?;
    std::fs::create_dir_all(&req.runtime_root).ctx("create runtime root", &req.runtime_root)?;
    let (reader, writer) = std::io::pipe().ctx("pipe", Path::new("RUN output"))?;
    let w2 = writer.try_clone().ctx("pipe", Path::new("RUN output"))?;
    let null = std::fs::File::open("/dev/null").ctx("open", "/dev/null")?;
    let opts = container_core::CreateOptions::default()
        .stdin(OwnedFd::from(null))
        .stdout(OwnedFd::from(writer))
        .stderr(OwnedFd::from(w2));
    let mut c =
        container_core::Container::create(&req.id, &req.bundle, &spec, &req.runtime_root, opts)?;
    let result = (|| -> Result<i32> {
        c.start()?;
        let mut r = std::io::BufReader::new(reader);
        let mut buf = Vec::new();
        loop {
            buf.clear();
            match r.read_until(b'\n', &mut buf) {
                Ok(0) => break,
                Ok(_) => {
                    while buf.last().is_some_and(|b| *b == b'\n' || *b == b'\r') {
                        buf.pop();
                    }
                    on_line(String::from_utf8_lossy(&buf).into_owned());
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(_) => break,
            }
        }
        Ok(c.wait()?)
    })();
    let deleted = c.delete(true);
    let code = result?;
    deleted?;
    Ok(code)
}
