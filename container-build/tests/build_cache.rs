//! Layer cache, reproducibility and bad input (acceptance 3, 4, 5).

mod common;

use container_build::{BuildEvent, BuildOptions};
use std::collections::BTreeSet;
use std::path::Path;

const DOCKERFILE: &str = "FROM localhost/busybox:test\n\
    COPY a.txt /a.txt\n\
    RUN cat /a.txt > /copy.txt && date +%s%N > /stamp\n\
    COPY b.txt /b.txt\n\
    RUN cat /b.txt >> /copy.txt\n\
    ENV DONE=1\n\
    CMD [\"cat\", \"/copy.txt\"]\n";

/// (step number, cached) of every finished step.
fn steps(events: &[BuildEvent]) -> Vec<(usize, bool)> {
    events
        .iter()
        .filter_map(|e| match e {
            BuildEvent::StepDone { number, cached, .. } => Some((*number, *cached)),
            _ => None,
        })
        .collect()
}

#[test]
fn unchanged_context_reuses_every_step_and_a_changed_source_rebuilds_from_its_step() {
    let Some(env) = common::env() else { return };
    let ctx = env.context(
        "ctx",
        &[
            ("a.txt", "a\n"),
            ("b.txt", "b\n"),
            ("Dockerfile", DOCKERFILE),
        ],
    );
    let opts = env.options(&ctx, "localhost/cache:1");
    let (r, ev) = env.build(&opts);
    let first = r.expect("first build").image;
    assert!(steps(&ev).iter().all(|(_, c)| !c), "cold build: {ev:?}");
    assert_eq!(steps(&ev).len(), 6);

    // Only the mtime changes: still all cached (times are not part of the key).
    let t = filetime::FileTime::from_unix_time(1_000_000, 0);
    filetime::set_file_mtime(ctx.join("a.txt"), t).expect("touch");
    let (r, ev) = env.build(&opts);
    let second = r.expect("second build").image;
    assert!(steps(&ev).iter().all(|(_, c)| *c), "warm build: {ev:?}");
    assert_eq!(second.manifest_digest, first.manifest_digest);

    // Change the second COPY's source: steps 1-2 cached, 3.. rebuilt.
    std::fs::write(ctx.join("b.txt"), "b changed\n").expect("write");
    let (r, ev) = env.build(&opts);
    let third = r.expect("third build").image;
    assert_eq!(
        steps(&ev),
        vec![
            (1, true),
            (2, true),
            (3, false),
            (4, false),
            (5, false),
            (6, false)
        ]
    );
    assert_eq!(
        third.layers[..3],
        first.layers[..3],
        "base, COPY a, RUN reused"
    );
    assert_ne!(third.layers[3], first.layers[3], "COPY b rebuilt");
    assert_ne!(third.layers[4], first.layers[4], "RUN after it rebuilt");
    let root = env.unpack(&third, "third");
    assert_eq!(
        std::fs::read_to_string(root.join("copy.txt")).expect("read"),
        "a\nb changed\n"
    );

    // A changed build arg in scope invalidates RUN steps that see it.
    let df2 = "FROM localhost/busybox:test\nARG V=1\nRUN echo $V > /v\n";
    std::fs::write(ctx.join("Dockerfile.args"), df2).expect("write");
    let mut o = env.options(&ctx, "localhost/cache:args");
    o.dockerfile = Some(ctx.join("Dockerfile.args"));
    let (r, _) = env.build(&o);
    r.expect("args build");
    o.build_args.insert("V".into(), "2".into());
    let (r, ev) = env.build(&o);
    let img = r.expect("args build 2").image;
    assert_eq!(steps(&ev), vec![(1, false), (2, false)]);
    let root = env.unpack(&img, "args");
    assert_eq!(
        std::fs::read_to_string(root.join("v")).expect("read"),
        "2\n"
    );
}

#[test]
fn builds_with_the_cache_cleared_give_the_same_manifest_digest() {
    let Some(env) = common::env() else { return };
    let ctx = env.context(
        "ctx",
        &[
            ("a.txt", "a\n"),
            ("b.txt", "b\n"),
            ("dir/x", "x"),
            (
                "Dockerfile",
                DOCKERFILE
                    .replace(
                        "date +%s%N > /stamp",
                        "mkdir -p /made/deep && echo hi > /made/deep/f",
                    )
                    .as_str(),
            ),
        ],
    );
    let opts = env.options(&ctx, "localhost/repro:1");
    let (r, _) = env.build(&opts);
    let a = r.expect("first").image;
    env.builder.clear_cache().expect("clear cache");
    let (r, ev) = env.build(&BuildOptions {
        tags: vec!["localhost/repro:2".into()],
        ..opts.clone()
    });
    let b = r.expect("second").image;
    assert!(steps(&ev).iter().all(|(_, c)| !c), "the cache was cleared");
    assert_eq!(a.manifest_digest, b.manifest_digest);
    assert_eq!(a.config.created().as_deref(), Some("1970-01-01T00:00:00Z"));
    // SOURCE_DATE_EPOCH sets created and still reproduces.
    let e = BuildOptions {
        source_date_epoch: Some(1_700_000_000),
        no_cache: true,
        tags: vec!["localhost/repro:3".into()],
        ..opts.clone()
    };
    let (r, _) = env.build(&e);
    let c = r.expect("epoch build").image;
    let (r, _) = env.build(&BuildOptions {
        tags: vec!["localhost/repro:4".into()],
        ..e
    });
    let d = r.expect("epoch build 2").image;
    assert_eq!(c.manifest_digest, d.manifest_digest);
    assert_ne!(c.manifest_digest, a.manifest_digest);
    assert_eq!(c.config.created().as_deref(), Some("2023-11-14T22:13:20Z"));
}

/// Every path under the store (minus its scratch `tmp`).
fn tree(root: &Path) -> BTreeSet<String> {
    walkdir::WalkDir::new(root)
        .into_iter()
        .filter_map(|e| e.ok())
        .map(|e| {
            e.path()
                .strip_prefix(root)
                .expect("prefix")
                .display()
                .to_string()
        })
        .filter(|p| !p.starts_with("tmp"))
        .collect()
}

#[test]
fn bad_input_fails_with_its_line_and_leaves_the_store_unchanged() {
    let Some(env) = common::env() else { return };
    let ctx = env.context("ctx", &[("a.txt", "a\n"), ("inside/f", "f")]);
    std::os::unix::fs::symlink("../../../../etc", ctx.join("inside/up")).expect("symlink");
    std::os::unix::fs::symlink("/etc/passwd", ctx.join("abs")).expect("symlink");
    let store_root = env.builder.store().root().to_path_buf();
    let before = tree(&store_root);
    let cases: &[(&str, usize, &str)] = &[
        (
            "FROM localhost/busybox:test\nRUN true\nFROBNICATE x\n",
            3,
            "unknown instruction",
        ),
        (
            "FROM localhost/busybox:test\nCOPY --frob=1 a.txt /\n",
            2,
            "unknown flag",
        ),
        (
            "FROM localhost/busybox:test\nRUN true\nRUN <<EOF\necho hi\n",
            3,
            "heredoc",
        ),
        (
            "FROM localhost/busybox:test\nRUN true\nCOPY --from=nosuch /x /x\n",
            3,
            "nosuch",
        ),
        (
            "FROM localhost/busybox:test\nRUN true\nCOPY ../x /x\n",
            3,
            "outside the build context",
        ),
        (
            "FROM localhost/busybox:test\nRUN true\nCOPY inside/up/passwd /x\n",
            3,
            "outside the build context",
        ),
        (
            "FROM localhost/busybox:test\nRUN true\nCOPY abs /x\n",
            3,
            "outside the build context",
        ),
        (
            "FROM localhost/busybox:test\nRUN true\nCOPY missing.txt /x\n",
            3,
            "not found",
        ),
    ];
    for (i, (df, line, words)) in cases.iter().enumerate() {
        let f = ctx.join(format!("Dockerfile.{i}"));
        std::fs::write(&f, df).expect("write");
        let mut o = env.options(&ctx, "localhost/bad:1");
        o.dockerfile = Some(f);
        let (r, _) = env.build(&o);
        let e = r.expect_err(df);
        assert_eq!(e.line(), Some(*line), "{df}: {e}");
        let msg = e.to_string();
        assert!(msg.contains(words), "{df}: {msg}");
        assert_eq!(tree(&store_root), before, "{df}: the store changed");
    }
    assert!(common::leaked_mounts(env.dir.path()).is_empty());
}
