//! Independent stages build at the same time; dependent ones wait; the image does not
//! depend on the scheduling.

mod common;

use container_build::BuildEvent;

/// A RUN that says it started (in a cache mount shared by the stages), waits up to 10 s
/// for the other stage's RUN to say so too, and records whether it saw it.
fn handshake(me: &str, other: &str) -> String {
    format!(
        "RUN --mount=type=cache,id=handshake,target=/sync \
         touch /sync/{me} && i=0 && \
         while [ ! -e /sync/{other} ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i+1)); done && \
         if [ -e /sync/{other} ]; then echo overlap > /r; else echo alone > /r; fi"
    )
}

#[test]
fn independent_stages_overlap_and_dependents_wait() {
    let Some(env) = common::env() else { return };
    let ctx = env.context("ctx", &[]);
    let df = format!(
        "FROM localhost/busybox:test AS a\n{}\n\
         FROM localhost/busybox:test AS b\n{}\n\
         FROM a AS after-a\nRUN cat /r > /seen-by-dependent\n\
         FROM localhost/busybox:test\n\
         COPY --from=a /r /ra\nCOPY --from=b /r /rb\n\
         COPY --from=after-a /seen-by-dependent /dep\n",
        handshake("a", "b"),
        handshake("b", "a")
    );
    std::fs::write(ctx.join("Dockerfile"), df).expect("write");
    let mut opts = env.options(&ctx, "localhost/parallel:1");
    opts.max_parallel_stages = Some(2);
    let (r, events) = env.build(&opts);
    let img = r.expect("build").image;
    let root = env.unpack(&img, "parallel");
    let read = |p: &str| std::fs::read_to_string(root.join(p)).expect(p);
    assert_eq!(read("ra"), "overlap\n", "stage a's RUN ran while b's did");
    assert_eq!(read("rb"), "overlap\n", "stage b's RUN ran while a's did");
    assert_eq!(
        read("dep"),
        "overlap\n",
        "the dependent stage saw a's result"
    );

    // The stage of each step number, and where each stage started and ended.
    let mut stage_of = std::collections::BTreeMap::new();
    let mut first = std::collections::BTreeMap::new();
    let mut last = std::collections::BTreeMap::new();
    for (pos, e) in events.iter().enumerate() {
        match e {
            BuildEvent::StageStarted { stage, .. } => {
                first.entry(*stage).or_insert(pos);
            }
            BuildEvent::Step { stage, number, .. } => {
                stage_of.insert(*number, *stage);
            }
            BuildEvent::StepDone { number, .. } => {
                last.insert(stage_of[number], pos);
            }
            _ => {}
        }
    }
    assert!(
        first[&1] < last[&0] && first[&0] < last[&1],
        "stages 0 and 1 run at the same time: {events:#?}"
    );
    assert!(
        first[&2] > last[&0],
        "stage 2 (FROM a) starts after a finished"
    );
    assert!(first[&3] > last[&2] && first[&3] > last[&1]);
    assert!(common::leaked_mounts(env.dir.path()).is_empty());
}

#[test]
fn same_image_whatever_the_scheduling() {
    let Some(env) = common::env() else { return };
    let ctx = env.context("ctx", &[("f", "context file\n")]);
    std::fs::write(
        ctx.join("Dockerfile"),
        "FROM localhost/busybox:test AS one\nRUN echo one > /one && sleep 0.3\n\
         FROM localhost/busybox:test AS two\nCOPY f /two\nRUN echo two >> /two\n\
         FROM scratch AS three\nCOPY f /three\n\
         FROM localhost/busybox:test\nCOPY --from=one /one /\nCOPY --from=two /two /\n\
         COPY --from=three /three /\nCMD [\"cat\", \"/one\", \"/two\", \"/three\"]\n",
    )
    .expect("write");
    let mut digests = Vec::new();
    for parallel in [1, 3, 1] {
        env.builder.clear_cache().expect("clear cache");
        let mut opts = env.options(&ctx, "localhost/sched:1");
        opts.max_parallel_stages = Some(parallel);
        opts.no_cache = true;
        let (r, events) = env.build(&opts);
        let out = r.expect("build");
        assert_eq!(out.steps, 8);
        let numbers: Vec<usize> = events
            .iter()
            .filter_map(|e| match e {
                BuildEvent::Step { number, .. } => Some(*number),
                _ => None,
            })
            .collect();
        let mut sorted = numbers.clone();
        sorted.sort();
        assert_eq!(
            sorted,
            (1..=8).collect::<Vec<_>>(),
            "each step numbered once"
        );
        digests.push(out.image.manifest_digest.to_string());
    }
    assert_eq!(
        digests[0], digests[1],
        "parallel build gives the same image"
    );
    assert_eq!(digests[1], digests[2]);
}

#[test]
fn a_failing_stage_stops_the_build_with_its_line() {
    let Some(env) = common::env() else { return };
    let ctx = env.context("ctx", &[]);
    std::fs::write(
        ctx.join("Dockerfile"),
        "FROM localhost/busybox:test AS ok\nRUN sleep 0.2 && echo ok > /ok\n\
         FROM localhost/busybox:test AS bad\nRUN exit 3\n\
         FROM localhost/busybox:test\nCOPY --from=ok /ok /\nCOPY --from=bad /etc/passwd /x\n",
    )
    .expect("write");
    let before = env.builder.store().list_images().expect("list").len();
    let (r, events) = env.build(&env.options(&ctx, "localhost/fails:1"));
    let e = r.expect_err("stage bad fails");
    assert_eq!(e.line(), Some(4), "{e}");
    assert!(e.to_string().contains("exit 3"), "{e}");
    assert!(
        !events
            .iter()
            .any(|e| matches!(e, BuildEvent::StageStarted { stage: 2, .. })),
        "the last stage never starts"
    );
    assert_eq!(
        env.builder.store().list_images().expect("list").len(),
        before
    );
    assert!(common::leaked_mounts(env.dir.path()).is_empty());
}
