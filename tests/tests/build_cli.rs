//! `berth dockerfile parse --format json FILE`: one JSON record per instruction, the same
//! records as the library (which the conformance test compares with BuildKit's parser).

use std::path::Path;
use std::process::Command;

fn corpus_file(name: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../container-build/tests/corpus")
        .join(name)
}

#[test]
fn parse_prints_one_record_per_instruction() {
    let berth = berth_tests::bin("berth");
    for name in [
        "rw_go_multistage.Dockerfile",
        "heredoc_multi.Dockerfile",
        "directive_escape_backtick.Dockerfile",
        "onbuild.Dockerfile",
    ] {
        let file = corpus_file(name);
        let out = Command::new(&berth)
            .args(["dockerfile", "parse", "--format", "json"])
            .arg(&file)
            .output()
            .expect("run berth");
        assert!(
            out.status.success(),
            "{name}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let got: Vec<serde_json::Value> = String::from_utf8(out.stdout)
            .expect("utf-8")
            .lines()
            .map(|l| serde_json::from_str(l).expect("json record"))
            .collect();
        let text = std::fs::read_to_string(&file).expect("read");
        let want = serde_json::to_value(container_build::parser::records(&text).expect("parse"))
            .expect("serialize");
        assert_eq!(serde_json::Value::Array(got), want, "{name}");
    }
}

#[test]
fn parse_error_names_the_line() {
    let berth = berth_tests::bin("berth");
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("Dockerfile");
    std::fs::write(&file, "FROM busybox\nRUN <<EOF\nno terminator\n").expect("write");
    let out = Command::new(&berth)
        .args(["dockerfile", "parse", "--format", "json"])
        .arg(&file)
        .output()
        .expect("run berth");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("line 2") && err.contains("unterminated heredoc"),
        "{err}"
    );
}
