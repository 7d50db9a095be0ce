//! COPY/ADD flags, heredocs and RUN mounts and networks, checked in the built image.

mod common;

use container_build::BuildEvent;
use std::os::unix::fs::{MetadataExt, PermissionsExt};

fn output_lines(events: &[BuildEvent]) -> Vec<String> {
    events
        .iter()
        .filter_map(|e| match e {
            BuildEvent::Output { line, .. } => Some(line.clone()),
            _ => None,
        })
        .collect()
}

#[test]
fn copy_and_add_flags() {
    let Some(env) = common::env() else { return };
    let ctx = env.context(
        "ctx",
        &[
            ("src/a/keep.txt", "keep"),
            ("src/a/drop.bak", "drop"),
            ("src/b/keep2.txt", "keep2"),
            ("one.txt", "1"),
            ("two.txt", "2"),
            ("payload/inner/file", "from the tar"),
        ],
    );
    // A gzip tar for ADD, made with the system tar.
    let ok = std::process::Command::new("tar")
        .arg("-C")
        .arg(ctx.join("payload"))
        .args(["--owner=7", "--group=8", "-czf"])
        .arg(ctx.join("payload.tar.gz"))
        .arg(".")
        .status()
        .expect("tar")
        .success();
    assert!(ok);
    std::fs::write(
        ctx.join("Dockerfile"),
        "FROM localhost/busybox:test\n\
         COPY --exclude=**/*.bak --exclude=b/nothing src /excl/\n\
         COPY --parents src/a/keep.txt src/b/keep2.txt /par/\n\
         COPY *.txt /glob/\n\
         COPY --chmod=0741 one.txt /modes/one\n\
         ADD payload.tar.gz /unpacked/\n\
         COPY payload.tar.gz /notunpacked/\n\
         COPY <<EOF /here/doc.txt\nline one\nline two\nEOF\n\
         RUN <<EOF\nset -e\necho from heredoc script > /here/run.txt\nEOF\n\
         ENTRYPOINT [\"/bin/cat\"]\n",
    )
    .expect("write");
    let (r, _) = env.build(&env.options(&ctx, "localhost/features:1"));
    let img = r.expect("build").image;
    assert_eq!(img.config.cmd(), None, "no CMD with an ENTRYPOINT set here");
    let root = env.unpack(&img, "features");
    assert!(root.join("excl/a/keep.txt").is_file());
    assert!(root.join("excl/b/keep2.txt").is_file());
    assert!(!root.join("excl/a/drop.bak").exists(), "--exclude");
    assert!(root.join("par/src/a/keep.txt").is_file(), "--parents");
    assert!(root.join("par/src/b/keep2.txt").is_file(), "--parents");
    assert!(root.join("glob/one.txt").is_file() && root.join("glob/two.txt").is_file());
    let m = std::fs::metadata(root.join("modes/one")).expect("stat");
    assert_eq!(m.permissions().mode() & 0o7777, 0o741, "--chmod");
    let f = root.join("unpacked/inner/file");
    assert_eq!(
        std::fs::read_to_string(&f).expect("ADD unpacked"),
        "from the tar"
    );
    let m = std::fs::metadata(&f).expect("stat");
    assert_eq!((m.uid(), m.gid()), (7, 8), "ADD keeps the archive's owners");
    assert!(
        root.join("notunpacked/payload.tar.gz").is_file(),
        "COPY does not unpack"
    );
    assert_eq!(
        std::fs::read_to_string(root.join("here/doc.txt")).expect("heredoc COPY"),
        "line one\nline two\n"
    );
    assert_eq!(
        std::fs::read_to_string(root.join("here/run.txt")).expect("heredoc RUN"),
        "from heredoc script\n"
    );
}

#[test]
fn run_mounts_and_networks() {
    let Some(env) = common::env() else { return };
    let ctx = env.context("ctx", &[("data/input.txt", "bound input\n")]);
    let secret = env.dir.path().join("token");
    std::fs::write(&secret, "s3cret").expect("write secret");
    std::fs::write(
        ctx.join("Dockerfile"),
        "FROM localhost/busybox:test AS other\n\
         RUN echo from-other > /other.txt\n\
         FROM localhost/busybox:test\n\
         RUN --mount=type=cache,target=/cache echo $(( $(cat /cache/n 2>/dev/null || echo 0) + 1 )) > /cache/n && echo cache=$(cat /cache/n)\n\
         RUN --mount=type=bind,source=data,target=/in cat /in/input.txt > /copied.txt\n\
         RUN --mount=type=bind,from=other,source=/other.txt,target=/o.txt cat /o.txt > /from-other.txt\n\
         RUN --mount=type=tmpfs,target=/scratch touch /scratch/x && grep -q ' /scratch tmpfs' /proc/mounts && echo tmpfs-ok\n\
         RUN --mount=type=secret,id=token cat /run/secrets/token > /dev/null && echo secret-len=$(wc -c < /run/secrets/token)\n\
         RUN --mount=type=secret,id=token,env=TOKEN test \"$TOKEN\" = s3cret && echo secret-env-ok\n\
         RUN echo none-links=$(ls /sys/class/net | wc -l)\n\
         RUN --network=host echo host-links=$(ls /sys/class/net | wc -l)\n",
    )
    .expect("write");
    let mut opts = env.options(&ctx, "localhost/mounts:1");
    opts.secrets.insert("token".into(), secret.clone());
    let (r, ev) = env.build(&opts);
    let img = r.expect("build").image;
    let out = output_lines(&ev);
    assert!(out.contains(&"cache=1".to_string()), "{out:?}");
    assert!(out.contains(&"tmpfs-ok".to_string()), "{out:?}");
    assert!(out.contains(&"secret-len=6".to_string()), "{out:?}");
    assert!(out.contains(&"secret-env-ok".to_string()), "{out:?}");
    assert!(
        out.contains(&"none-links=1".to_string()),
        "only lo without a network: {out:?}"
    );
    let host = out
        .iter()
        .find_map(|l| l.strip_prefix("host-links="))
        .and_then(|n| n.parse::<usize>().ok())
        .expect("host links line");
    let host_links = std::fs::read_dir("/sys/class/net").expect("ls").count();
    assert_eq!(host, host_links, "--network=host sees the host's links");
    let root = env.unpack(&img, "mounts");
    assert_eq!(
        std::fs::read_to_string(root.join("copied.txt")).expect("bind"),
        "bound input\n"
    );
    assert_eq!(
        std::fs::read_to_string(root.join("from-other.txt")).expect("bind from"),
        "from-other\n"
    );
    for gone in ["cache", "in", "o.txt", "scratch", "run/secrets"] {
        assert!(
            !root.join(gone).exists(),
            "mount point {gone} left in the image"
        );
    }
    // The cache mount persists across builds (the step itself is rebuilt with no-cache).
    opts.no_cache = true;
    opts.tags = vec!["localhost/mounts:2".into()];
    let (r, ev) = env.build(&opts);
    r.expect("second build");
    assert!(output_lines(&ev).contains(&"cache=2".to_string()));
    assert!(common::leaked_mounts(env.dir.path()).is_empty());
}
