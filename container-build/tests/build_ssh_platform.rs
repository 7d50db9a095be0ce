//! `RUN --mount=type=ssh` with a real ssh-agent, and `FROM --platform`.

mod common;

use std::path::Path;
use std::process::{Command, Stdio};

/// An ssh-agent on a socket in `dir`, killed by PID on drop.
struct Agent {
    pid: i32,
}

impl Drop for Agent {
    fn drop(&mut self) {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(self.pid),
            nix::sys::signal::Signal::SIGTERM,
        );
    }
}

fn start_agent(dir: &Path) -> Option<(Agent, std::path::PathBuf, String)> {
    let (Some(_), Some(_), Some(_)) = (
        berth_tests::require_tool("ssh-agent"),
        berth_tests::require_tool("ssh-add"),
        berth_tests::require_tool("ssh-keygen"),
    ) else {
        return None;
    };
    let sock = dir.join("agent.sock");
    let out = Command::new("ssh-agent")
        .arg("-a")
        .arg(&sock)
        .arg("-s")
        .output()
        .expect("ssh-agent");
    assert!(out.status.success(), "ssh-agent failed");
    let text = String::from_utf8_lossy(&out.stdout);
    let pid: i32 = text
        .split("SSH_AGENT_PID=")
        .nth(1)
        .and_then(|r| r.split(';').next())
        .and_then(|p| p.parse().ok())
        .expect("agent pid");
    let agent = Agent { pid };
    let key = dir.join("id_ed25519");
    let ok = Command::new("ssh-keygen")
        .args([
            "-q",
            "-t",
            "ed25519",
            "-N",
            "",
            "-C",
            "berth-build-test",
            "-f",
        ])
        .arg(&key)
        .stdout(Stdio::null())
        .status()
        .expect("ssh-keygen")
        .success();
    assert!(ok, "ssh-keygen");
    let ok = Command::new("ssh-add")
        .arg(&key)
        .env("SSH_AUTH_SOCK", &sock)
        .stderr(Stdio::null())
        .status()
        .expect("ssh-add")
        .success();
    assert!(ok, "ssh-add");
    let listed = Command::new("ssh-add")
        .arg("-l")
        .env("SSH_AUTH_SOCK", &sock)
        .output()
        .expect("ssh-add -l");
    let listed = String::from_utf8_lossy(&listed.stdout).into_owned();
    assert!(listed.contains("berth-build-test"), "{listed}");
    Some((agent, sock, listed))
}

/// `ssh-add` and the shared libraries it needs, copied into `dir` so a busybox
/// container can run it through the dynamic loader.
fn ssh_add_bundle(dir: &Path) -> String {
    std::fs::create_dir_all(dir).expect("mkdir");
    std::fs::copy("/usr/bin/ssh-add", dir.join("ssh-add")).expect("copy ssh-add");
    let ldd = Command::new("ldd")
        .arg("/usr/bin/ssh-add")
        .output()
        .expect("ldd");
    let mut loader = String::new();
    for line in String::from_utf8_lossy(&ldd.stdout).lines() {
        let path = line
            .split_whitespace()
            .find(|w| w.starts_with('/'))
            .map(str::to_string);
        let Some(path) = path else { continue };
        let name = Path::new(&path)
            .file_name()
            .expect("name")
            .to_string_lossy()
            .into_owned();
        std::fs::copy(&path, dir.join(&name)).expect("copy library");
        if name.starts_with("ld-") {
            loader = name;
        }
    }
    assert!(!loader.is_empty(), "dynamic loader of ssh-add");
    loader
}

#[test]
fn ssh_mount_forwards_the_agent() {
    let Some(env) = common::env() else { return };
    let agent_dir = env.dir.path().join("agent");
    std::fs::create_dir_all(&agent_dir).expect("mkdir");
    let Some((_agent, sock, listed)) = start_agent(&agent_dir) else {
        return;
    };
    let ctx = env.context("ctx", &[]);
    let loader = ssh_add_bundle(&ctx.join("tools"));
    std::fs::write(
        ctx.join("Dockerfile"),
        format!(
            "FROM localhost/busybox:test\n\
             RUN --mount=type=ssh --mount=type=bind,source=tools,target=/tools \
             echo \"$SSH_AUTH_SOCK\" > /sock && test -S /run/buildkit/ssh_agent.0 && \
             /tools/{loader} --library-path /tools /tools/ssh-add -l > /keys\n\
             RUN --mount=type=ssh,id=other,target=/agent,required=false \
             if [ -e /agent ]; then echo present; else echo absent; fi > /optional\n"
        ),
    )
    .expect("write");
    let mut opts = env.options(&ctx, "localhost/ssh:1");
    opts.ssh.insert("default".into(), sock.clone());
    let (r, _) = env.build(&opts);
    let img = r.expect("build with the agent").image;
    let root = env.unpack(&img, "ssh");
    let read = |p: &str| std::fs::read_to_string(root.join(p)).expect(p);
    assert_eq!(read("sock"), "/run/buildkit/ssh_agent.0\n");
    assert_eq!(
        read("keys"),
        listed,
        "ssh-add -l in the RUN lists the agent's key"
    );
    assert_eq!(
        read("optional"),
        "absent\n",
        "an optional unknown id is skipped"
    );
    assert!(
        !root.join("run/buildkit").exists(),
        "the mount point is not part of the layer"
    );

    // Without the agent, a required ssh mount is an error naming the line.
    std::fs::write(
        ctx.join("Dockerfile.noagent"),
        "FROM localhost/busybox:test\nRUN --mount=type=ssh,required=true true\n",
    )
    .expect("write");
    let mut opts = env.options(&ctx, "localhost/ssh:2");
    opts.dockerfile = Some(ctx.join("Dockerfile.noagent"));
    let (r, _) = env.build(&opts);
    let e = r.expect_err("no agent");
    assert_eq!(e.line(), Some(2), "{e}");
    assert!(e.to_string().contains("ssh"), "{e}");
    assert!(common::leaked_mounts(env.dir.path()).is_empty());
}

#[test]
fn from_platform() {
    let Some(env) = common::env() else { return };
    let ctx = env.context("ctx", &[]);
    std::fs::write(
        ctx.join("Dockerfile"),
        "ARG PLAT=$BUILDPLATFORM\n\
         FROM --platform=$BUILDPLATFORM localhost/busybox:test AS a\n\
         ARG TARGETPLATFORM\nARG TARGETARCH\nARG BUILDOS\n\
         RUN echo \"$TARGETPLATFORM $TARGETARCH $BUILDOS\" > /plat\n\
         FROM --platform=$TARGETPLATFORM a\n",
    )
    .expect("write");
    let (r, _) = env.build(&env.options(&ctx, "localhost/plat:1"));
    let img = r.expect("host platform builds").image;
    let root = env.unpack(&img, "plat");
    let host = container_image::image::Platform::host();
    assert_eq!(
        std::fs::read_to_string(root.join("plat")).expect("plat"),
        format!("{host} {} linux\n", host.architecture)
    );
    let other = if host.architecture == "s390x" {
        "linux/amd64"
    } else {
        "linux/s390x"
    };
    std::fs::write(
        ctx.join("Dockerfile.other"),
        format!("FROM localhost/busybox:test\nFROM --platform={other} localhost/busybox:test\nRUN true\n"),
    )
    .expect("write");
    let mut opts = env.options(&ctx, "localhost/plat:2");
    opts.dockerfile = Some(ctx.join("Dockerfile.other"));
    let (r, _) = env.build(&opts);
    let e = r.expect_err("foreign platform");
    assert_eq!(e.line(), Some(2), "{e}");
    assert!(e.to_string().contains(other), "{e}");
}
