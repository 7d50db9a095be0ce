//! `berth build` through the engine and container-build: a tagged image that `berth run`
//! runs, build args, labels, `--target`, `-f` outside the context, cached rebuilds.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

struct Env {
    root: tempfile::TempDir,
}

impl Env {
    fn new() -> Option<Env> {
        if !berth_tests::require_root("build and run images") {
            return None;
        }
        let root = tempfile::tempdir().expect("tempdir");
        let rootfs = root.path().join("busybox-rootfs");
        if !berth_tests::busybox_rootfs(&rootfs) {
            return None;
        }
        let store = container_image::Store::open(root.path()).expect("store");
        let layer = container_image::diff::create_layer(&store, &rootfs, &Default::default())
            .expect("layer");
        store
            .write_image(
                &container_image::ImageConfig::default(),
                &[layer],
                Some("localhost/busybox:test"),
            )
            .expect("base image");
        Some(Env { root })
    }

    fn berth(&self, args: &[&str]) -> Output {
        Command::new(berth_tests::bin("berth"))
            .arg("--root")
            .arg(self.root.path())
            .args(args)
            .stdin(Stdio::null())
            .output()
            .expect("run berth")
    }

    fn ok(&self, args: &[&str]) -> String {
        let o = self.berth(args);
        assert!(
            o.status.success(),
            "berth {args:?}: {}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
        String::from_utf8_lossy(&o.stdout).into_owned()
    }

    fn dir(&self, name: &str, files: &[(&str, &str)]) -> PathBuf {
        let d = self.root.path().join(name);
        for (p, c) in files {
            let f = d.join(p);
            std::fs::create_dir_all(f.parent().expect("parent")).expect("mkdir");
            std::fs::write(f, c).expect("write");
        }
        d
    }
}

impl Drop for Env {
    fn drop(&mut self) {
        let ids = self.berth(&["ps", "-a", "-q", "--no-trunc"]);
        for id in String::from_utf8_lossy(&ids.stdout).lines() {
            let _ = self.berth(&["rm", "-f", "-v", id]);
        }
        let left = berth_tests::mounts_under(self.root.path());
        for m in left.iter().rev() {
            let _ = Command::new("umount").arg("-l").arg(m).status();
        }
        if !std::thread::panicking() {
            assert!(left.is_empty(), "mounts left behind: {left:?}");
        }
    }
}

fn s(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

#[test]
fn berth_build_then_berth_run() {
    let Some(env) = Env::new() else { return };
    let ctx = env.dir("ctx", &[("msg.txt", "from the context\n")]);
    let df = env
        .dir(
            "elsewhere",
            &[(
                "build.Dockerfile",
                "ARG BASE=localhost/busybox:test\n\
             FROM ${BASE} AS unused\n\
             RUN exit 1\n\
             FROM ${BASE} AS app\n\
             ARG WHO=nobody\n\
             RUN echo \"built for $WHO\" > /built.txt\n\
             COPY msg.txt /srv/\n\
             WORKDIR /srv\n\
             ENV MODE=prod\n\
             CMD cat /built.txt msg.txt && echo $MODE\n\
             FROM app AS last\n\
             RUN exit 3\n",
            )],
        )
        .join("build.Dockerfile");
    let out = env.ok(&[
        "build",
        "-f",
        s(&df),
        "-t",
        "localhost/app:1",
        "--build-arg",
        "WHO=tests",
        "--label",
        "org.example.k=v",
        "--target",
        "app",
        s(&ctx),
    ]);
    assert!(out.contains("Successfully tagged localhost/app:1"), "{out}");
    assert!(
        !out.contains("exit 1") && !out.contains("exit 3"),
        "unused stages ran: {out}"
    );
    let run = env.ok(&["run", "--rm", "--network", "none", "localhost/app:1"]);
    assert_eq!(run, "built for tests\nfrom the context\nprod\n");
    let labels = env.ok(&[
        "image",
        "inspect",
        "--format",
        "{{json .Config.Labels}}",
        "localhost/app:1",
    ]);
    assert!(labels.contains("\"org.example.k\":\"v\""), "{labels}");
    // Unchanged: every step comes from the cache.
    let again = env.ok(&[
        "build",
        "-f",
        s(&df),
        "-t",
        "localhost/app:2",
        "--build-arg",
        "WHO=tests",
        "--label",
        "org.example.k=v",
        "--target",
        "app",
        s(&ctx),
    ]);
    assert_eq!(again.matches("Using cache").count(), 6, "{again}");
    let q = env.ok(&[
        "build",
        "-q",
        "-f",
        s(&df),
        "--build-arg",
        "WHO=tests",
        "--label",
        "org.example.k=v",
        "--target",
        "app",
        s(&ctx),
    ]);
    let id1 = env.ok(&["image", "inspect", "--format", "{{.Id}}", "localhost/app:1"]);
    assert_eq!(q.trim(), id1.trim());
    // A failing RUN fails the build and names the line.
    let bad = env.berth(&["build", "-f", s(&df), "-t", "localhost/app:3", s(&ctx)]);
    assert!(!bad.status.success());
    let err = String::from_utf8_lossy(&bad.stderr);
    assert!(err.contains("line 12"), "{err}");
}

/// A registry (docker-registry) inside a network namespace this test creates; stopped,
/// and the namespace deleted, on drop.
struct Registry {
    ns: String,
    child: std::process::Child,
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = Command::new("ip")
            .args(["netns", "delete", &self.ns])
            .status();
    }
}

#[test]
fn from_pulls_an_image_the_store_lacks() {
    let Some(env) = Env::new() else { return };
    let (Some(_), Some(_), Some(_)) = (
        berth_tests::require_tool("docker-registry"),
        berth_tests::require_tool("skopeo"),
        berth_tests::require_tool("ip"),
    ) else {
        return;
    };
    let ns = berth_tests::unique_name("bbuild");
    assert!(
        Command::new("ip")
            .args(["netns", "add", &ns])
            .status()
            .expect("ip")
            .success(),
        "ip netns add"
    );
    let _ = Command::new("ip")
        .args(["netns", "exec", &ns, "ip", "link", "set", "lo", "up"])
        .status();
    let regdir = env.root.path().join("registry");
    std::fs::create_dir_all(&regdir).expect("mkdir");
    let config = regdir.join("config.yml");
    std::fs::write(
        &config,
        format!(
            "version: 0.1\nlog: {{level: error}}\nstorage: {{filesystem: {{rootdirectory: {}}}}}\nhttp: {{addr: 127.0.0.1:5000}}\n",
            regdir.join("data").display()
        ),
    )
    .expect("write config");
    let child = Command::new("ip")
        .args(["netns", "exec", &ns, "docker-registry", "serve"])
        .arg(&config)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start registry");
    let _registry = Registry {
        ns: ns.clone(),
        child,
    };
    // Push the busybox base there from an OCI layout of berth's store.
    let layout = env.root.path().join("layout");
    container_image::Store::open(env.root.path())
        .expect("store")
        .export_oci_layout(&["localhost/busybox:test"], &layout)
        .expect("export");
    let mut pushed = false;
    for _ in 0..50 {
        let o = Command::new("ip")
            .args([
                "netns",
                "exec",
                &ns,
                "skopeo",
                "copy",
                "--dest-tls-verify=false",
            ])
            .arg(format!("oci:{}:test", layout.display()))
            .arg("docker://127.0.0.1:5000/busybox:test")
            .output()
            .expect("skopeo");
        if o.status.success() {
            pushed = true;
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    assert!(pushed, "push the base to the registry");
    // No RUN here: `ip netns exec` remounts /sys without the cgroup hierarchies.
    let ctx = env.dir(
        "pull-ctx",
        &[
            ("p", "pulled\n"),
            (
                "Dockerfile",
                "FROM 127.0.0.1:5000/busybox:test\nCOPY p /p\nCMD [\"cat\", \"/p\"]\n",
            ),
        ],
    );
    let o = Command::new("ip")
        .args(["netns", "exec", &ns])
        .arg(berth_tests::bin("berth"))
        .arg("--root")
        .arg(env.root.path())
        .args(["build", "-t", "localhost/pulled:1"])
        .arg(&ctx)
        .output()
        .expect("berth build");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let run = env.ok(&["run", "--rm", "--network", "none", "localhost/pulled:1"]);
    assert_eq!(run, "pulled\n");
    let images = env.ok(&["images"]);
    assert!(images.contains("127.0.0.1:5000/busybox"), "{images}");

    // `COPY --from` an image only the registry has, and `FROM --platform=$BUILDPLATFORM`
    // of another: both pulled (the host's manifest), neither in the store before.
    for tag in ["copy", "plat"] {
        let o = Command::new("ip")
            .args([
                "netns",
                "exec",
                &ns,
                "skopeo",
                "copy",
                "--dest-tls-verify=false",
            ])
            .arg(format!("oci:{}:test", layout.display()))
            .arg(format!("docker://127.0.0.1:5000/busybox:{tag}"))
            .output()
            .expect("skopeo");
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    }
    let ctx = env.dir(
        "copy-from-ctx",
        &[(
            "Dockerfile",
            "FROM --platform=$BUILDPLATFORM 127.0.0.1:5000/busybox:plat AS p\n\
             FROM scratch\n\
             COPY --from=127.0.0.1:5000/busybox:copy /bin/busybox /busybox\n\
             COPY --from=p /etc/passwd /passwd\n",
        )],
    );
    let o = Command::new("ip")
        .args(["netns", "exec", &ns])
        .arg(berth_tests::bin("berth"))
        .arg("--root")
        .arg(env.root.path())
        .args(["build", "-t", "localhost/copied:1"])
        .arg(&ctx)
        .output()
        .expect("berth build");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let run = env.ok(&[
        "run",
        "--rm",
        "--network",
        "none",
        "localhost/copied:1",
        "/busybox",
        "head",
        "-c",
        "5",
        "/passwd",
    ]);
    assert_eq!(run, "root:");
    let images = env.ok(&["images"]);
    assert!(
        images.contains("copy") && images.contains("plat"),
        "both pulled into the store: {images}"
    );
}
