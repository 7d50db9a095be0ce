//! A minimal end-to-end build: FROM a local image, RUN, COPY, ENV, CMD into a tagged image.

mod common;

use container_build::BuildEvent;
use std::os::unix::fs::MetadataExt;

#[test]
fn run_copy_env_cmd_make_a_tagged_image() {
    let Some(env) = common::env() else { return };
    let ctx = env.context(
        "ctx",
        &[
            ("hello.txt", "hello from the context\n"),
            (
                "Dockerfile",
                "FROM localhost/busybox:test\n\
                 ENV GREETING=hi\n\
                 RUN echo \"$GREETING built\" > /built.txt && echo step-output\n\
                 COPY hello.txt /app/\n\
                 CMD [\"cat\", \"/app/hello.txt\"]\n",
            ),
        ],
    );
    let opts = env.options(&ctx, "localhost/basic:1");
    let (r, events) = env.build(&opts);
    let out = r.expect("build");
    assert!(
        common::leaked_mounts(env.dir.path()).is_empty(),
        "mounts leaked"
    );
    assert!(
        events
            .iter()
            .any(|e| matches!(e, BuildEvent::Output { line, .. } if line == "step-output")),
        "RUN output is forwarded: {events:?}"
    );
    let img = env
        .builder
        .store()
        .image("localhost/basic:1")
        .expect("tagged");
    assert_eq!(img.manifest_digest, out.image.manifest_digest);
    assert_eq!(
        img.config.cmd(),
        Some(vec!["cat".into(), "/app/hello.txt".into()])
    );
    assert!(img.config.env().contains(&"GREETING=hi".to_string()));
    assert_eq!(img.layers.len(), 3, "base + RUN + COPY");
    let h = img.config.history();
    assert_eq!(h.iter().filter(|h| !h.empty_layer).count(), 2);
    let root = env.unpack(&img, "unpacked");
    assert_eq!(
        std::fs::read_to_string(root.join("built.txt")).expect("RUN output file"),
        "hi built\n"
    );
    assert_eq!(
        std::fs::read_to_string(root.join("app/hello.txt")).expect("copied"),
        "hello from the context\n"
    );
    let m = std::fs::metadata(root.join("app/hello.txt")).expect("stat");
    assert_eq!((m.uid(), m.gid()), (0, 0));
}
