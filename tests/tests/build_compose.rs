//! `berth compose build` passes the service's `build:` section to the engine's builder:
//! `dockerfile`, `args` (a key without a value taken from the environment), `target`
//! and `labels`.

mod compose_util;

use compose_util::Env;

#[test]
fn compose_build_uses_args_target_dockerfile_and_labels() {
    let Some(env) = Env::new("compose build with args") else {
        return;
    };
    if !env.busybox_image() {
        return;
    }
    env.write(
        "app/build/Build.df",
        "FROM local/bb:1 AS base\nENV PATH=/bin\nARG WHO=nobody\nRUN echo \"hello $WHO\" > /who\n\
         FROM base AS app\nARG FROM_ENV\nARG UNSET_ARG=default\n\
         RUN echo \"env=$FROM_ENV unset=$UNSET_ARG\" > /env\nCMD [\"cat\", \"/who\", \"/env\"]\n\
         FROM base AS broken\nRUN exit 7\n",
    );
    env.write(
        "compose.yaml",
        "services:\n  app:\n    build:\n      context: ./app\n      dockerfile: build/Build.df\n      \
         target: app\n      args:\n        WHO: compose\n        FROM_ENV:\n        UNSET_ARG:\n      \
         labels:\n        org.example.built-by: compose\n        org.example.empty:\n",
    );
    let out = env.compose(
        &["build"],
        &[("FROM_ENV", "from-environment"), ("UNSET_ARG", "")],
    );
    let image = format!("{}-app", env.name);
    let run = env.ok(&["run", "--rm", "--network", "none", &image], &[]);
    assert_eq!(
        run, "hello compose\nenv=from-environment unset=\n",
        "build output: {out}"
    );
    let labels = env.ok(
        &[
            "image",
            "inspect",
            "--format",
            "{{json .Config.Labels}}",
            &image,
        ],
        &[],
    );
    assert!(
        labels.contains("\"org.example.built-by\":\"compose\"")
            && labels.contains("\"org.example.empty\":\"\""),
        "{labels}"
    );
}
