//! `berth compose` beyond up/down (issue 8, runner): recreating only what changed with
//! rolling updates, `exec`, `run --rm`, `logs -f`, `build`/`up --build`/`down --rmi`,
//! `restart`. As root, each test in its own network namespace and engine root.

mod compose_util;

use compose_util::Env;
use std::collections::BTreeMap;
use std::process::Stdio;
use std::time::{Duration, Instant};

const BB: &str =
    "x-bb: &bb\n  image: local/bb:1\n  environment: {PATH: /bin}\n  stop_grace_period: 1s\n";

/// Container name → id of every replica of the project.
fn ids(env: &Env) -> BTreeMap<String, String> {
    env.compose(&["ps", "-q"], &[])
        .lines()
        .map(|id| {
            (
                env.inspect(id, "{{.Name}}")
                    .trim_start_matches('/')
                    .to_string(),
                id.to_string(),
            )
        })
        .collect()
}

/// Seconds since midnight of an RFC 3339 UTC time (`2026-11-29T02:30:01.5Z`).
fn seconds_of_day(t: &str) -> f64 {
    let time = t
        .split_once('T')
        .map(|(_, x)| x.trim_end_matches('Z'))
        .expect("RFC 3339 time");
    let time = time.split(['+', '-']).next().expect("time");
    let parts: Vec<f64> = time
        .split(':')
        .map(|x| x.parse().expect("number"))
        .collect();
    parts[0] * 3600.0 + parts[1] * 60.0 + parts[2]
}

fn stderr(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// `up` after one service's environment changed recreates only that service's
/// containers; its three replicas are replaced one at a time (update_config parallelism
/// 1, delay 1s, stop-first), and the new containers see the new value.
#[test]
fn changed_service_is_recreated_replica_by_replica() {
    let Some(env) = Env::new("compose update") else {
        return;
    };
    if !env.busybox_image() {
        return;
    }
    let file = |value: &str, order: &str| {
        format!(
            "{BB}services:\n  steady:\n    <<: *bb\n    command: sleep 300\n  web:\n    <<: *bb\n    command: sleep 300\n    environment: {{PATH: /bin, COLOR: {value}}}\n    deploy:\n      replicas: 3\n      update_config: {{parallelism: 1, delay: 1s, order: {order}}}\n"
        )
    };
    env.write("compose.yaml", &file("blue", "stop-first"));
    env.compose(&["up", "-d"], &[]);
    let before = ids(&env);
    assert_eq!(before.len(), 4, "{before:?}");

    // Nothing changed: nothing is recreated.
    let o = env.compose_output(&["up", "-d"], &[]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(ids(&env), before, "an unchanged up recreated containers");
    assert!(!stderr(&o).contains("removed"), "{}", stderr(&o));

    env.write("compose.yaml", &file("green", "stop-first"));
    let o = env.compose_output(&["up", "-d"], &[]);
    assert!(o.status.success(), "{}", stderr(&o));
    let after = ids(&env);
    let steady = env.container("steady", 1);
    assert_eq!(
        before[&steady], after[&steady],
        "the unchanged service was recreated"
    );
    for n in 1..=3 {
        let c = env.container("web", n);
        assert_ne!(before[&c], after[&c], "{c} was not recreated");
        assert!(
            env.compose(
                &[
                    "exec",
                    "--index",
                    &n.to_string(),
                    "web",
                    "sh",
                    "-c",
                    "echo $COLOR"
                ],
                &[]
            )
            .contains("green"),
            "{c} does not run the new configuration"
        );
    }
    // One at a time: each replica is removed and its replacement started before the
    // next replica is touched.
    let steps: Vec<String> = stderr(&o)
        .lines()
        .filter(|l| l.contains("-web-") && (l.ends_with(" removed") || l.ends_with(" started")))
        .map(String::from)
        .collect();
    let expected: Vec<String> = (1..=3)
        .flat_map(|n| {
            let c = env.container("web", n);
            [
                format!("Container {c} removed"),
                format!("Container {c} started"),
            ]
        })
        .collect();
    assert_eq!(steps, expected, "{}", stderr(&o));
    // ... with the delay of update_config between them.
    let created: Vec<f64> = (1..=3)
        .map(|n| seconds_of_day(&env.inspect(&env.container("web", n), "{{.Created}}")))
        .collect();
    for w in created.windows(2) {
        let gap = (w[1] - w[0]).rem_euclid(86400.0);
        assert!(
            gap >= 0.95,
            "replicas replaced less than the update delay apart: {created:?}"
        );
    }
    assert!(!stderr(&o).contains(&format!("{steady} removed")));

    // start-first: the new replica runs before the old one (renamed aside) is removed.
    env.write("compose.yaml", &file("red", "start-first"));
    let o = env.compose_output(&["up", "-d"], &[]);
    assert!(o.status.success(), "{}", stderr(&o));
    let last = ids(&env);
    assert_eq!(last.len(), 4, "{last:?}");
    let err = stderr(&o);
    for n in 1..=3 {
        let c = env.container("web", n);
        assert_ne!(after[&c], last[&c], "{c} was not recreated");
        let started = err
            .find(&format!("Container {c} started"))
            .unwrap_or_else(|| panic!("{c} not started: {err}"));
        let old_removed = err
            .find(&format!("Container {}_{c} removed", &after[&c][..12]))
            .unwrap_or_else(|| panic!("old {c} not removed: {err}"));
        assert!(
            started < old_removed,
            "start-first stopped the old {c} first: {err}"
        );
    }
}

/// `exec` runs in the chosen replica with extra environment and returns the command's
/// exit code; `restart` restarts the containers.
#[test]
fn exec_into_service_replicas() {
    let Some(env) = Env::new("compose exec") else {
        return;
    };
    if !env.busybox_image() {
        return;
    }
    env.write(
        "compose.yaml",
        &format!("{BB}services:\n  web:\n    <<: *bb\n    command: sleep 300\n    deploy: {{replicas: 2}}\n"),
    );
    env.compose(&["up", "-d"], &[]);
    let out = env.compose(
        &["exec", "-e", "X=42", "web", "sh", "-c", "echo value-$X"],
        &[],
    );
    assert_eq!(out.trim(), "value-42");
    let second = env.container("web", 2);
    let host = env.inspect(&second, "{{.Config.Hostname}}");
    let out = env.compose(&["exec", "--index", "2", "web", "hostname"], &[]);
    assert_eq!(out.trim(), host, "--index 2 did not reach {second}");
    let o = env.compose_output(&["exec", "web", "sh", "-c", "exit 3"], &[]);
    assert_eq!(o.status.code(), Some(3));
    let o = env.compose_output(&["exec", "--index", "5", "web", "true"], &[]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("no container number 5"),
        "{}",
        stderr(&o)
    );

    let started = env.inspect(&second, "{{.State.StartedAt}}");
    env.compose(&["restart", "-t", "1", "web"], &[]);
    assert_ne!(env.inspect(&second, "{{.State.StartedAt}}"), started);
    assert_eq!(env.inspect(&second, "{{.State.Status}}"), "running");
}

/// `run --rm` starts the dependencies, runs a one-off container on the project network
/// (it reaches the dependency by name), gives back its output and exit code, and
/// removes it.
#[test]
fn run_rm_one_off_container() {
    let Some(env) = Env::new("compose run") else {
        return;
    };
    if !env.busybox_image() {
        return;
    }
    env.write(
        "compose.yaml",
        &format!(
            "{BB}services:\n  web:\n    <<: *bb\n    command: /bin/httpd -f -p 80 -h /www\n  job:\n    <<: *bb\n    command: echo default-command\n    depends_on: [web]\n"
        ),
    );
    let o = env.compose_output(
        &[
            "run", "--rm", "-e", "Y=7", "job", "sh", "-c",
            "echo run-$Y; for i in 1 2 3 4 5 6; do wget -q -O- http://web/ && exit 4; sleep 0.5; done; exit 9",
        ],
        &[],
    );
    let out = String::from_utf8_lossy(&o.stdout);
    assert_eq!(o.status.code(), Some(4), "{out}{}", stderr(&o));
    assert!(out.contains("run-7"), "{out}");
    assert!(out.contains("hello-from-web"), "{out}");
    let ps = env.compose(&["ps"], &[]);
    assert!(
        ps.lines()
            .any(|l| l.starts_with(&env.container("web", 1)) && l.contains("running")),
        "the dependency was not started: {ps}"
    );
    let all = env.ok(&["ps", "-a", "--format", "{{.Names}}"], &[]);
    assert!(
        !all.contains("-job-run-"),
        "the --rm container is left: {all}"
    );
    // Without --rm the container stays (and `down` removes it); the service's command is the default.
    let o = env.compose_output(&["run", "--no-deps", "job"], &[]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(String::from_utf8_lossy(&o.stdout).contains("default-command"));
    let all = env.ok(&["ps", "-a", "--format", "{{.Names}}"], &[]);
    assert!(all.contains(&format!("{}-job-run-", env.name)), "{all}");
    env.compose(&["down"], &[]);
    let all = env.ok(&["ps", "-a", "--format", "{{.Names}}"], &[]);
    assert!(!all.contains(&env.name), "down left containers: {all}");
}

/// `logs -f` prints lines of all containers with their name as they come, and ends by
/// itself when the containers have stopped.
#[test]
fn logs_follow_ends_when_containers_stop() {
    let Some(env) = Env::new("compose logs") else {
        return;
    };
    if !env.busybox_image() {
        return;
    }
    env.write(
        "compose.yaml",
        &format!(
            "{BB}services:\n  a:\n    <<: *bb\n    command: sh -c 'for i in 1 2 3 4; do echo a-$$i; sleep 0.5; done'\n  b:\n    <<: *bb\n    command: sh -c 'echo b-1; sleep 1; echo b-2 >&2'\n"
        ),
    );
    env.compose(&["up", "-d"], &[]);
    let mut child = env
        .cmd(&["compose", "-p", &env.name, "logs", "-f"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn logs -f");
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(s) = child.try_wait().expect("try_wait") {
            break s;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("logs -f did not end after the containers stopped");
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let out = child.wait_with_output().expect("output");
    assert!(status.success());
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let a = env.container("a", 1);
    let b = env.container("b", 1);
    for i in 1..=4 {
        assert!(
            stdout
                .lines()
                .any(|l| l.starts_with(&a) && l.ends_with(&format!("| a-{i}"))),
            "{stdout}"
        );
    }
    assert!(
        stdout
            .lines()
            .any(|l| l.starts_with(&b) && l.ends_with("| b-1")),
        "{stdout}"
    );
    assert!(
        stderr
            .lines()
            .any(|l| l.starts_with(&b) && l.ends_with("| b-2")),
        "{stderr}"
    );
}

/// `build` builds a service's Dockerfile into `project-service`; `up` runs it; a
/// changed Dockerfile with `up --build` recreates the container; `down --rmi local`
/// removes the image.
#[test]
fn build_up_and_remove_local_images() {
    let Some(env) = Env::new("compose build") else {
        return;
    };
    if !env.busybox_image() {
        return;
    }
    let dockerfile = |word: &str| {
        format!(
            "FROM local/bb:1\nENV PATH=/bin\nRUN echo {word} > /built.txt\nCMD [\"cat\", \"/built.txt\"]\n"
        )
    };
    env.write("app/Dockerfile", &dockerfile("first-build"));
    env.write("compose.yaml", "services:\n  app:\n    build: ./app\n");
    env.compose(&["build"], &[]);
    let image = format!("{}-app", env.name);
    let images = env.ok(&["images"], &[]);
    assert!(images.contains(&image), "{images}");
    env.compose(&["up", "-d"], &[]);
    let app = env.container("app", 1);
    env.wait_exited(&app);
    assert!(env.compose(&["logs", "app"], &[]).contains("first-build"));
    let first = env.inspect(&app, "{{.Id}}");

    env.write("app/Dockerfile", &dockerfile("second-build"));
    env.compose(&["up", "-d", "--build"], &[]);
    assert_ne!(
        env.inspect(&app, "{{.Id}}"),
        first,
        "a rebuilt image did not recreate"
    );
    env.wait_exited(&app);
    let logs = env.compose(&["logs", "app"], &[]);
    assert!(logs.contains("second-build"), "{logs}");

    env.compose(&["down", "--rmi", "local"], &[]);
    let images = env.ok(&["images"], &[]);
    assert!(!images.contains(&image), "{images}");
    assert!(
        images.contains("local/bb"),
        "--rmi local removed a pulled image: {images}"
    );
}
