//! Parser conformance: every Dockerfile of `tests/corpus/` parsed by berth and by BuildKit's
//! own parser (PyPI `dockerfile`, installed in /opt/berth/pyvenv by scripts/setup-debian.sh)
//! must give identical records.

use std::path::{Path, PathBuf};
use std::process::Command;

const PYTHON: &str = "/opt/berth/pyvenv/bin/python";

const SCRIPT: &str = r#"
import dockerfile, json, sys
for p in sys.argv[1:]:
    try:
        recs = [dict(c._asdict(), heredocs=[h._asdict() for h in c.heredocs]) for c in dockerfile.parse_file(p)]
        print(json.dumps({"ok": recs}))
    except dockerfile.GoParseError as e:
        print(json.dumps({"error": str(e)}))
"#;

fn python_ready() -> bool {
    Command::new(PYTHON)
        .args(["-c", "import dockerfile"])
        .output()
        .is_ok_and(|o| o.status.success())
}

fn require_python() -> bool {
    if python_ready() {
        return true;
    }
    let why =
        format!("{PYTHON} with the `dockerfile` package is missing (scripts/setup-debian.sh)");
    if std::env::var("BERTH_REQUIRE_PRIVILEGED").is_ok_and(|v| v == "1") {
        panic!("BERTH_REQUIRE_PRIVILEGED=1 but this test cannot run: {why}");
    }
    eprintln!("skipped: {why}");
    false
}

fn corpus() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("read corpus dir")
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "Dockerfile"))
        .collect();
    files.sort();
    files
}

fn reference(files: &[PathBuf]) -> Vec<serde_json::Value> {
    let out = Command::new(PYTHON)
        .arg("-c")
        .arg(SCRIPT)
        .args(files)
        .output()
        .expect("run python");
    assert!(
        out.status.success(),
        "python failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .expect("utf-8 output")
        .lines()
        .map(|l| serde_json::from_str(l).expect("json line"))
        .collect()
}

#[test]
fn corpus_matches_buildkit_parser() {
    let files = corpus();
    assert!(files.len() >= 100, "corpus has {} files", files.len());
    if !require_python() {
        return;
    }
    let refs = reference(&files);
    assert_eq!(refs.len(), files.len());
    let mut failures = Vec::new();
    for (file, want) in files.iter().zip(&refs) {
        let text = std::fs::read_to_string(file).expect("read corpus file");
        let got = container_build::parser::records(&text);
        match (want.get("ok"), got) {
            (Some(want), Ok(got)) => {
                let got = serde_json::to_value(&got).expect("serialize");
                if &got != want {
                    failures.push(format!(
                        "{}:\n  buildkit: {want}\n  berth:    {got}",
                        file.display()
                    ));
                }
            }
            (None, Err(_)) => {}
            (Some(_), Err(e)) => failures.push(format!("{}: berth failed: {e}", file.display())),
            (None, Ok(_)) => failures.push(format!(
                "{}: buildkit failed ({}) but berth parsed",
                file.display(),
                want["error"]
            )),
        }
    }
    assert!(
        failures.is_empty(),
        "{} mismatches:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// Error cases must be errors for both parsers.
#[test]
fn errors_agree_with_buildkit_parser() {
    if !require_python() {
        return;
    }
    let cases = [
        "",
        "# only a comment\n",
        "FROM a\nRUN <<EOF\nnever ends\n",
        "FROM a\nENV onlykey\n",
        "FROM a\nLABEL a=b c\n",
        "FROM a\nCMD [\"a\", 1]\n",
        "# escape=x\nFROM a\n",
        "# escape=`\n# escape=\\\nFROM a\n",
    ];
    let dir = tempfile::tempdir().expect("tempdir");
    let files: Vec<PathBuf> = cases
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let p = dir.path().join(format!("{i}.Dockerfile"));
            std::fs::write(&p, c).expect("write case");
            p
        })
        .collect();
    let refs = reference(&files);
    for ((case, want), file) in cases.iter().zip(&refs).zip(&files) {
        assert!(want.get("error").is_some(), "buildkit parsed {case:?}");
        let err = container_build::parser::records(case).expect_err(&file.display().to_string());
        assert!(!err.message.is_empty());
    }
}
