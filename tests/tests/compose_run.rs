//! `berth compose` running real projects (issue 8, acceptance 2 and 3), as root, every
//! command inside a network namespace the test creates, with its own engine root.

mod compose_util;

use compose_util::Env;
use std::time::{Duration, Instant};

fn logs_of(env: &Env, service: &str) -> String {
    env.compose(&["logs", service], &[])
}

/// Acceptance 2: redis from host binaries with an append-only file on a volume; the app
/// reaches it by its link name; data survives `down`/`up` and goes with `down -v`.
#[test]
fn redis_with_volume_survives_down_and_up() {
    let Some(env) = Env::new("compose redis") else {
        return;
    };
    let Some(server) = berth_tests::require_tool("redis-server") else {
        return;
    };
    let Some(cli) = berth_tests::require_tool("redis-cli") else {
        return;
    };
    env.ok(
        &[
            "image",
            "from-host",
            "local/redis:host",
            server.to_str().expect("utf-8"),
            cli.to_str().expect("utf-8"),
        ],
        &[],
    );
    env.write(
        "docker-compose.yml",
        &format!(
            "redis:\n  image: local/redis:host\n  command: {server} --appendonly yes --dir /data --protected-mode no\n  volumes: ['data:/data']\n  healthcheck:\n    test: [CMD, {cli}, ping]\n    interval: 200ms\n    retries: 100\napp:\n  image: local/redis:host\n  links: [redis]\n  command: {cli} -h redis ${{CMD}}\n",
            server = server.display(),
            cli = cli.display()
        ),
    );
    // The legacy v1 file has no top-level volumes: declare the named volume in an override.
    env.write(
        "docker-compose.override.yml",
        "services:\n  app:\n    depends_on:\n      redis:\n        condition: service_healthy\nvolumes:\n  data: {}\n",
    );
    let app = format!("{}-app-1", env.name);
    env.compose(&["up", "-d"], &[("CMD", "SET k hello")]);
    env.wait_exited(&app);
    assert!(
        logs_of(&env, "app").contains("OK"),
        "{}",
        logs_of(&env, "app")
    );
    let ps = env.compose(&["ps"], &[]);
    assert!(
        ps.lines()
            .any(|l| l.starts_with(&format!("{}-redis-1", env.name)) && l.contains("running")),
        "{ps}"
    );
    assert!(logs_of(&env, "redis").contains("Ready to accept connections"));

    env.compose(&["down"], &[]);
    assert!(
        env.compose(&["ps"], &[]).lines().count() <= 1,
        "containers left after down"
    );
    env.compose(&["up", "-d"], &[("CMD", "GET k")]);
    env.wait_exited(&app);
    assert!(
        logs_of(&env, "app").contains("hello"),
        "data lost over down/up: {}",
        logs_of(&env, "app")
    );

    env.compose(&["down", "-v"], &[]);
    let vols = env.ok(&["volume", "ls"], &[]);
    assert!(!vols.contains(&format!("{}_data", env.name)), "{vols}");
    env.compose(&["up", "-d"], &[("CMD", "GET k")]);
    env.wait_exited(&app);
    assert!(
        !logs_of(&env, "app").contains("hello"),
        "down -v kept the data"
    );
}

/// Acceptance 3: `service_healthy` waits for the healthcheck; `--scale web=3` gives three
/// replicas that a client reaches by the service name.
#[test]
fn healthy_dependency_and_scale() {
    let Some(env) = Env::new("compose scale") else {
        return;
    };
    if !env.busybox_image() {
        return;
    }
    env.write(
        "compose.yaml",
        "x-bb: &bb\n  image: local/bb:1\n  environment: {PATH: /bin}\n  stop_grace_period: 1s\nservices:\n  db:\n    <<: *bb\n    command: /bin/sh -c 'sleep 2; touch /tmp/ready; exec sleep 300'\n    healthcheck:\n      test: [CMD, test, -f, /tmp/ready]\n      interval: 200ms\n      retries: 100\n  web:\n    <<: *bb\n    command: /bin/httpd -f -p 80 -h /www\n    depends_on:\n      db: {condition: service_healthy}\n  client:\n    <<: *bb\n    command: /bin/sh -c 'grep -w web /etc/hosts; for i in 1 2 3 4 5 6; do wget -q -O- http://web/ && exit 0; sleep 0.5; done; exit 1'\n    depends_on: [web]\n",
    );
    let start = Instant::now();
    let out = env.compose(&["up", "-d", "--scale", "web=3"], &[]);
    assert!(
        start.elapsed() >= Duration::from_secs(2),
        "up did not wait for db to be healthy: {out}"
    );
    let ps = env.compose(&["ps"], &[]);
    for i in 1..=3 {
        let name = format!("{}-web-{i}", env.name);
        assert!(
            ps.lines()
                .any(|l| l.starts_with(&name) && l.contains("running")),
            "{name} not running: {ps}"
        );
    }
    env.wait_exited(&format!("{}-client-1", env.name));
    assert!(
        logs_of(&env, "client").contains("hello-from-web"),
        "{}",
        logs_of(&env, "client")
    );
    // The service name resolves to each of the three replicas.
    let logs = logs_of(&env, "client");
    let web_lines = logs
        .lines()
        .filter(|l| l.split_whitespace().any(|w| w == "web"))
        .count();
    assert_eq!(web_lines, 3, "{logs}");
    // Scaling down removes the extra replicas.
    env.compose(&["up", "-d", "--scale", "web=1"], &[]);
    let ps = env.compose(&["ps"], &[]);
    assert!(!ps.contains(&format!("{}-web-2", env.name)), "{ps}");
}
