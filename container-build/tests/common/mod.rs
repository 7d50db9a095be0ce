//! Shared helpers of the builder tests.
#![allow(dead_code, missing_docs)]

use container_build::{BuildEvent, BuildOptions, Builder};
use std::path::{Path, PathBuf};

/// A store with a busybox image named `localhost/busybox:test`, in a temp dir.
pub struct Env {
    pub dir: tempfile::TempDir,
    pub builder: Builder,
    pub runtime_root: PathBuf,
}

pub const BASE: &str = "localhost/busybox:test";

pub fn env() -> Option<Env> {
    if !berth_tests::require_root("build images (mounts, containers)") {
        return None;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let rootfs = dir.path().join("busybox-rootfs");
    if !berth_tests::busybox_rootfs(&rootfs) {
        return None;
    }
    let store = container_image::Store::open(dir.path().join("store")).expect("store");
    let layer = container_image::diff::create_layer(&store, &rootfs, &Default::default())
        .expect("layer of the busybox rootfs");
    let mut cfg = container_image::ImageConfig::default();
    cfg.set("Cmd", Some(serde_json::json!(["sh"])));
    store
        .write_image(&cfg, &[layer], Some(BASE))
        .expect("write base image");
    let runtime_root = dir.path().join("run");
    Some(Env {
        builder: Builder::new(store),
        dir,
        runtime_root,
    })
}

impl Env {
    /// A new empty context directory.
    pub fn context(&self, name: &str, files: &[(&str, &str)]) -> PathBuf {
        let ctx = self.dir.path().join(name);
        std::fs::create_dir_all(&ctx).expect("mkdir");
        for (p, content) in files {
            let f = ctx.join(p);
            std::fs::create_dir_all(f.parent().expect("parent")).expect("mkdir");
            std::fs::write(f, content).expect("write");
        }
        ctx
    }

    pub fn options(&self, ctx: &Path, tag: &str) -> BuildOptions {
        BuildOptions {
            context: ctx.to_path_buf(),
            tags: vec![tag.to_string()],
            runtime_root: Some(self.runtime_root.clone()),
            ..Default::default()
        }
    }

    /// Build, collecting events.
    pub fn build(
        &self,
        opts: &BuildOptions,
    ) -> (
        container_build::Result<container_build::BuildOutput>,
        Vec<BuildEvent>,
    ) {
        let mut events = Vec::new();
        let r = self.builder.build(opts, &mut |e| events.push(e.clone()));
        (r, events)
    }

    /// Unpack an image to a flat directory.
    pub fn unpack(&self, image: &container_image::Image, name: &str) -> PathBuf {
        let out = self.dir.path().join(name);
        self.builder
            .store()
            .unpack_to(image, &out)
            .expect("unpack image");
        out
    }
}

/// Mounts left under `dir` (there must be none after a build).
pub fn leaked_mounts(dir: &Path) -> Vec<PathBuf> {
    berth_tests::mounts_under(dir)
}
