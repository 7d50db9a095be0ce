//! Acceptance 2: the same Dockerfiles built by berth and by `buildah bud` from the same
//! busybox base give equal config fields and equal file trees (content, mode, owner,
//! symlinks) after export (OCI layout) and `umoci unpack`.

use container_build::{BuildOptions, Builder};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::Command;

struct Peer {
    dir: tempfile::TempDir,
    buildah: PathBuf,
    umoci: PathBuf,
    builder: Builder,
}

impl Peer {
    fn storage_args(&self) -> Vec<String> {
        let d = self.dir.path();
        vec![
            "--root".into(),
            d.join("bst").display().to_string(),
            "--runroot".into(),
            d.join("brr").display().to_string(),
            "--storage-driver".into(),
            "vfs".into(),
        ]
    }

    fn run(&self, tool: &Path, args: &[String]) -> String {
        let o = Command::new(tool).args(args).output().expect("run peer");
        assert!(
            o.status.success(),
            "{} {args:?}: {}{}",
            tool.display(),
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
        String::from_utf8_lossy(&o.stdout).into_owned()
    }

    fn buildah(&self, args: &[&str]) -> String {
        let mut a = self.storage_args();
        a.extend(args.iter().map(|s| s.to_string()));
        self.run(&self.buildah, &a)
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        let mut a = self.storage_args();
        a.extend(["rmi".to_string(), "--all".into(), "--force".into()]);
        let _ = Command::new(&self.buildah).args(&a).output();
        for m in berth_tests::mounts_under(self.dir.path()).iter().rev() {
            let _ = Command::new("umount").arg("-l").arg(m).status();
        }
    }
}

fn setup() -> Option<Peer> {
    if !berth_tests::require_root("build with berth and buildah") {
        return None;
    }
    let buildah = berth_tests::require_tool("buildah")?;
    let podman = berth_tests::require_tool("podman")?;
    let umoci = berth_tests::require_tool("umoci")?;
    let dir = tempfile::tempdir().expect("tempdir");
    let rootfs = dir.path().join("rootfs");
    if !berth_tests::busybox_rootfs(&rootfs) {
        return None;
    }
    // buildah bind-mounts these during RUN and leaves empty stubs when they are missing:
    // give both builders a base that has them.
    std::fs::create_dir_all(rootfs.join("run")).expect("mkdir run");
    for f in ["etc/hostname", "etc/hosts", "etc/resolv.conf"] {
        std::fs::write(rootfs.join(f), "").expect("write");
    }
    let tar = dir.path().join("base.tar");
    let ok = Command::new("tar")
        .arg("-C")
        .arg(&rootfs)
        .args(["--numeric-owner", "-cf"])
        .arg(&tar)
        .arg(".")
        .status()
        .expect("tar")
        .success();
    assert!(ok, "tar the rootfs");
    let store = container_image::Store::open(dir.path().join("berth")).expect("store");
    store
        .import_rootfs_tar(
            std::fs::File::open(&tar).expect("open"),
            "localhost/busybox:test",
            &[],
        )
        .expect("import into berth");
    let peer = Peer {
        builder: Builder::new(store),
        buildah,
        umoci,
        dir,
    };
    let mut a = peer.storage_args();
    a.extend([
        "import".to_string(),
        tar.display().to_string(),
        "localhost/busybox:test".into(),
    ]);
    peer.run(&podman, &a);
    Some(peer)
}

/// The config fields compared, with empty lists/maps as null (buildah writes `[]`
/// where Docker and berth leave the field out) and buildah's own label dropped.
fn config_fields(full: &Value) -> Value {
    let c = &full["config"];
    let norm = |v: &Value| match v {
        Value::Array(a) if a.is_empty() => Value::Null,
        Value::Object(o) if o.is_empty() => Value::Null,
        Value::String(s) if s.is_empty() => Value::Null,
        v => v.clone(),
    };
    let mut labels = c["Labels"].clone();
    if let Some(o) = labels.as_object_mut() {
        o.remove("io.buildah.version");
    }
    json!({
        "User": norm(&c["User"]),
        "Env": norm(&c["Env"]),
        "Cmd": norm(&c["Cmd"]),
        "Entrypoint": norm(&c["Entrypoint"]),
        "WorkingDir": norm(&c["WorkingDir"]),
        "ExposedPorts": norm(&c["ExposedPorts"]),
        "Volumes": norm(&c["Volumes"]),
        "Labels": norm(&labels),
        "Healthcheck": norm(&c["Healthcheck"]),
        "StopSignal": norm(&c["StopSignal"]),
        "OnBuild": norm(&c["OnBuild"]),
        "Shell": norm(&c["Shell"]),
        "author": norm(&full["author"]),
    })
}

/// path -> (kind, mode, uid, gid, content or link target); times are not compared.
fn tree(root: &Path) -> BTreeMap<String, (char, u32, u32, u32, String)> {
    let mut out = BTreeMap::new();
    for e in walkdir::WalkDir::new(root).min_depth(1).follow_links(false) {
        let e = e.expect("walk");
        let m = e.path().symlink_metadata().expect("stat");
        let rel = e
            .path()
            .strip_prefix(root)
            .expect("prefix")
            .display()
            .to_string();
        let (kind, content) = if m.file_type().is_symlink() {
            (
                'l',
                std::fs::read_link(e.path())
                    .expect("readlink")
                    .display()
                    .to_string(),
            )
        } else if m.is_dir() {
            ('d', String::new())
        } else if m.is_file() {
            let data = std::fs::read(e.path()).expect("read");
            ('f', format!("{} bytes {:x}", data.len(), md5ish(&data)))
        } else {
            ('o', String::new())
        };
        let mode = if kind == 'l' { 0 } else { m.mode() & 0o7777 };
        out.insert(rel, (kind, mode, m.uid(), m.gid(), content));
    }
    out
}

fn md5ish(data: &[u8]) -> u64 {
    // FNV-1a: enough to tell contents apart in a diff.
    let mut h: u64 = 0xcbf29ce484222325;
    for b in data {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x100000001b3);
    }
    h
}

struct Case<'a> {
    name: &'a str,
    files: &'a [(&'a str, &'a str)],
    dockerfile: &'a str,
    build_args: &'a [(&'a str, &'a str)],
    tag: &'a str,
}

fn build_both(peer: &Peer, case: &Case<'_>) {
    let d = peer.dir.path();
    let ctx = d.join(format!("ctx-{}", case.name));
    for (p, c) in case.files {
        let f = ctx.join(p);
        std::fs::create_dir_all(f.parent().expect("parent")).expect("mkdir");
        std::fs::write(&f, c).expect("write");
        if p.ends_with(".sh") {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        }
    }
    let df = d.join(format!("{}.Dockerfile", case.name));
    std::fs::write(&df, case.dockerfile).expect("write Dockerfile");

    // buildah
    let mut args: Vec<String> = vec![
        "bud".into(),
        "--format".into(),
        "docker".into(),
        "--isolation".into(),
        "chroot".into(),
        "-t".into(),
        case.tag.into(),
        "-f".into(),
        df.display().to_string(),
    ];
    for (k, v) in case.build_args {
        args.push("--build-arg".into());
        args.push(format!("{k}={v}"));
    }
    args.push(ctx.display().to_string());
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    peer.buildah(&refs);
    let inspect: Value =
        serde_json::from_str(&peer.buildah(&["inspect", "--type", "image", case.tag]))
            .expect("inspect json");
    let theirs_cfg = config_fields(&inspect["Docker"]);
    let b_oci = d.join(format!("b-oci-{}", case.name));
    peer.buildah(&["push", case.tag, &format!("oci:{}:latest", b_oci.display())]);
    let b_unp = d.join(format!("b-unp-{}", case.name));
    peer.run(
        &peer.umoci,
        &[
            "unpack".into(),
            "--image".into(),
            format!("{}:latest", b_oci.display()),
            b_unp.display().to_string(),
        ],
    );

    // berth
    let opts = BuildOptions {
        context: ctx.clone(),
        dockerfile: Some(df.clone()),
        tags: vec![case.tag.into()],
        build_args: case
            .build_args
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        runtime_root: Some(d.join("run")),
        ..Default::default()
    };
    let out = peer
        .builder
        .build(&opts, &mut |_| {})
        .unwrap_or_else(|e| panic!("{}: berth build: {e}", case.name));
    let ours_cfg = config_fields(out.image.config.raw());
    let o_oci = d.join(format!("o-oci-{}", case.name));
    peer.builder
        .store()
        .export_oci_layout(&[case.tag], &o_oci)
        .expect("export");
    let tag = case.tag.rsplit(':').next().expect("tag");
    let o_unp = d.join(format!("o-unp-{}", case.name));
    peer.run(
        &peer.umoci,
        &[
            "unpack".into(),
            "--image".into(),
            format!("{}:{tag}", o_oci.display()),
            o_unp.display().to_string(),
        ],
    );

    assert_eq!(
        ours_cfg, theirs_cfg,
        "{}: config fields (berth, buildah)",
        case.name
    );
    let ours = tree(&o_unp.join("rootfs"));
    let theirs = tree(&b_unp.join("rootfs"));
    assert!(
        ours.len() > 100,
        "{}: the unpacked tree is the busybox rootfs and more",
        case.name
    );
    let diff: Vec<_> = ours
        .keys()
        .chain(theirs.keys())
        .filter(|k| ours.get(*k) != theirs.get(*k))
        .map(|k| (k.clone(), ours.get(k).cloned(), theirs.get(k).cloned()))
        .collect();
    assert!(
        diff.is_empty(),
        "{}: file trees differ (path, berth, buildah): {diff:#?}",
        case.name
    );
}

#[test]
fn berth_and_buildah_build_the_same_images() {
    let Some(peer) = setup() else { return };
    let hello = [
        ("hello.txt", "hello\n"),
        ("run.sh", "#!/bin/sh\necho run\n"),
    ];
    let cases = [
        Case {
            name: "multistage",
            files: &hello,
            dockerfile: "FROM localhost/busybox:test AS builder\n\
                ARG GREETING=hello\n\
                ENV OUT=/out\n\
                RUN mkdir -p $OUT/sub && echo \"$GREETING from builder\" > $OUT/msg && ln -s msg $OUT/link && chmod 0600 $OUT/msg\n\
                FROM localhost/busybox:test AS unused\n\
                RUN echo never > /never\n\
                FROM localhost/busybox:test\n\
                COPY --from=builder /out /opt/out\n\
                COPY --from=builder /out/msg /opt/single\n\
                COPY --from=0 /out/link /opt/\n\
                CMD [\"cat\", \"/opt/out/msg\"]\n",
            build_args: &[],
            tag: "localhost/multistage:1",
        },
        Case {
            name: "args-env",
            files: &hello,
            dockerfile: "ARG BASE=localhost/busybox:test\n\
                FROM ${BASE}\n\
                ARG A=default-a\n\
                ARG B\n\
                ENV A=env-a C=${A}-c\n\
                ENV D=${B:-no-b} E=\"quoted value\" F=$A\n\
                RUN echo \"$A $B $C $D $E\" > /args.txt\n\
                LABEL version=\"1.0\" desc=\"A=${A}\"\n\
                EXPOSE 8080 53/udp\n\
                STOPSIGNAL SIGQUIT\n\
                MAINTAINER someone@example.com\n",
            build_args: &[("B", "given")],
            tag: "localhost/args-env:1",
        },
        Case {
            name: "user-workdir",
            files: &hello,
            dockerfile: "FROM localhost/busybox:test\n\
                USER nobody\n\
                WORKDIR /home/nobody/work\n\
                RUN id -u > uid.txt && touch created-by-nobody\n\
                USER root\n\
                WORKDIR sub\n\
                COPY --chown=nobody:nogroup hello.txt ./\n\
                COPY --chown=65534 hello.txt /owned/\n\
                COPY run.sh /usr/local/bin/\n\
                HEALTHCHECK --interval=5s --timeout=3s --retries=2 CMD wget -q localhost || exit 1\n\
                VOLUME [\"/data\", \"/logs\"]\n\
                SHELL [\"/bin/sh\", \"-ec\"]\n\
                ENTRYPOINT [\"/bin/sh\"]\n",
            build_args: &[],
            tag: "localhost/user-workdir:1",
        },
        Case {
            name: "dockerignore",
            files: &[
                ("keep.txt", "keep"),
                ("skip.log", "skip"),
                ("important.log", "important"),
                ("logs/a.log", "nested log"),
                ("docs/readme.md", "readme"),
                ("docs/notes.tmp", "tmp"),
                ("docs/deep/x.tmp", "tmp"),
                ("secret/key", "key"),
                (
                    ".dockerignore",
                    "# comment\n*.log\n!important.log\n**/*.tmp\nsecret/\n",
                ),
            ],
            dockerfile: "FROM localhost/busybox:test\nCOPY . /ctx/\nCOPY docs /docs\n",
            build_args: &[],
            tag: "localhost/dockerignore:1",
        },
    ];
    for c in &cases {
        build_both(&peer, c);
    }
    // ONBUILD: a base with triggers, then a child of it.
    build_both(
        &peer,
        &Case {
            name: "onbuild-base",
            files: &hello,
            dockerfile: "FROM localhost/busybox:test\n\
                ONBUILD COPY hello.txt /onbuild/hello.txt\n\
                ONBUILD RUN echo triggered > /onbuild/ran\n\
                CMD [\"sh\"]\n",
            build_args: &[],
            tag: "localhost/onbase:1",
        },
    );
    build_both(
        &peer,
        &Case {
            name: "onbuild-child",
            files: &[("hello.txt", "child context\n")],
            dockerfile: "FROM localhost/onbase:1\nRUN cat /onbuild/ran\nENTRYPOINT [\"cat\"]\n",
            build_args: &[],
            tag: "localhost/onchild:1",
        },
    );
}
