//! `berth compose config`: canonical YAML/JSON output, exit code 15 with file/line/key on bad input.

use std::path::Path;
use std::process::Command;

fn berth(dir: &Path, args: &[&str]) -> std::process::Output {
    Command::new(berth_tests::bin("berth"))
        .args(["compose"])
        .args(args)
        .current_dir(dir)
        .env_remove("COMPOSE_PROJECT_NAME")
        .env_remove("COMPOSE_PROFILES")
        .output()
        .expect("run berth")
}

#[test]
fn config_prints_json_and_yaml() {
    let dir = tempfile::tempdir().expect("tmp");
    std::fs::write(
        dir.path().join("compose.yaml"),
        "services:\n  web:\n    image: nginx:${TAG:-1.25}\n    ports: ['8080:80']\n    depends_on: [db]\n  db:\n    image: redis\n",
    )
    .expect("write");
    let out = berth(dir.path(), &["-p", "demo", "config", "--format", "json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(v["name"], "demo");
    assert_eq!(v["services"]["web"]["image"], "nginx:1.25");
    assert_eq!(v["services"]["web"]["ports"][0]["published"], "8080");
    assert_eq!(
        v["services"]["web"]["depends_on"]["db"]["condition"],
        "service_started"
    );
    assert_eq!(v["networks"]["default"]["name"], "demo_default");
    let out = berth(dir.path(), &["-p", "demo", "config"]);
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("image: nginx:1.25"), "{text}");
    let out = berth(dir.path(), &["config", "--services"]);
    assert_eq!(String::from_utf8_lossy(&out.stdout), "db\nweb\n");
}

#[test]
fn config_error_exit_code_and_location() {
    let dir = tempfile::tempdir().expect("tmp");
    let f = dir.path().join("docker-compose.yml");
    std::fs::write(
        &f,
        "services:\n  web:\n    image: x\n    ports:\n      - '80:80:80'\n",
    )
    .expect("write");
    let out = berth(dir.path(), &["config"]);
    assert_eq!(out.status.code(), Some(15));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(&format!("{}:5:", f.display())), "{err}");
    assert!(
        err.contains("services.web.ports[0]: invalid port '80:80:80'"),
        "{err}"
    );
    std::fs::write(&f, "services:\n  web:\n    image: ${IMG:?need an image}\n").expect("write");
    let out = berth(dir.path(), &["config"]);
    assert_eq!(out.status.code(), Some(15));
    assert!(String::from_utf8_lossy(&out.stderr).contains("need an image"));
    let empty = tempfile::tempdir().expect("tmp");
    let out = berth(empty.path(), &["config"]);
    assert_eq!(out.status.code(), Some(1));
}

/// `berth --root ROOT compose ARGS` in `dir`.
fn berth_root(dir: &Path, root: &Path, args: &[&str]) -> std::process::Output {
    Command::new(berth_tests::bin("berth"))
        .arg("--root")
        .arg(root)
        .arg("compose")
        .args(args)
        .current_dir(dir)
        .env_remove("COMPOSE_PROJECT_NAME")
        .env_remove("COMPOSE_PROFILES")
        .env_remove("X")
        .output()
        .expect("run berth")
}

/// Acceptance 4: every kind of bad input makes `up` fail with exit code 15 and a
/// message naming the file and the line, before anything (not even the engine root)
/// is created.
#[test]
fn bad_input_fails_up_with_file_and_line_and_creates_nothing() {
    let cases: &[(&str, &str, usize, &str)] = &[
        (
            "yaml syntax",
            "services:\n  web:\n    image: x\n    command: [a, b\n",
            5,
            "",
        ),
        (
            "wrong type",
            "services:\n  web:\n    image: x\n    ports: 80\n",
            4,
            "services.web.ports",
        ),
        (
            "unknown key",
            "services:\n  web:\n    image: x\n    colour: blue\n",
            4,
            "colour",
        ),
        (
            "required variable",
            "services:\n  web:\n    image: ${X:?X must be set}\n",
            3,
            "X must be set",
        ),
        (
            "dependency cycle",
            "services:\n  a:\n    image: x\n    depends_on: [b]\n  b:\n    image: x\n    depends_on: [a]\n",
            4,
            "a -> b -> a",
        ),
        (
            "missing extends target",
            "services:\n  web:\n    image: x\n    extends: {service: nowhere}\n",
            4,
            "nowhere",
        ),
    ];
    for (what, text, line, needle) in cases {
        let dir = tempfile::tempdir().expect("tmp");
        let f = dir.path().join("compose.yaml");
        std::fs::write(&f, text).expect("write");
        let root = dir.path().join("engine-root");
        let out = berth_root(dir.path(), &root, &["-p", "bad", "up", "-d"]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(15), "{what}: {err}");
        assert!(
            err.contains(&format!("{}:{line}:", f.display())),
            "{what}: no {}:{line}: in {err}",
            f.display()
        );
        assert!(err.contains(needle), "{what}: {needle:?} not in {err}");
        assert!(!root.exists(), "{what}: up created {}", root.display());
    }
}

/// Input the resolver accepts but the engine cannot honour (here a network driver it
/// does not have) fails `up` with exit code 1 before any network, volume or container
/// exists.
#[test]
fn unsupported_driver_fails_up_before_creating_anything() {
    let dir = tempfile::tempdir().expect("tmp");
    std::fs::write(
        dir.path().join("compose.yaml"),
        "services:\n  web:\n    image: x\n    networks: [n]\n    volumes: ['data:/data']\nvolumes:\n  data: {}\nnetworks:\n  n: {driver: ipvlan}\n",
    )
    .expect("write");
    let root = dir.path().join("engine-root");
    let out = berth_root(dir.path(), &root, &["-p", "bad", "up", "-d"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("driver ipvlan is not supported"), "{err}");
    for sub in ["volumes", "networks", "containers"] {
        let d = root.join(sub);
        let n = std::fs::read_dir(&d).map(|r| r.count()).unwrap_or(0);
        assert_eq!(n, 0, "{} is not empty after a refused up", d.display());
    }
}
