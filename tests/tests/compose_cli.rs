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
