//! The shipped systemd unit (`examples/systemd/berth-restore.service`) is valid for
//! systemd and its `ExecStart` runs `berth system restore` successfully.
//!
//! What `system restore` brings back is tested in `cli_berth.rs`; this checks the file a
//! user copies to `/etc/systemd/system/`.

use std::path::PathBuf;
use std::process::Command;

fn unit_text() -> String {
    let path =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../examples/systemd/berth-restore.service");
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The unit's `ExecStart` words, with the installed path replaced by the built binary.
fn exec_start(unit: &str, berth: &str) -> Vec<String> {
    let line = unit
        .lines()
        .find_map(|l| l.strip_prefix("ExecStart="))
        .expect("the unit has an ExecStart line");
    line.split_whitespace()
        .map(|w| {
            if w == "/usr/local/bin/berth" {
                berth.to_string()
            } else {
                w.to_string()
            }
        })
        .collect()
}

#[test]
fn unit_verifies_and_its_command_restores() {
    let Some(analyze) = berth_tests::require_tool("systemd-analyze") else {
        return;
    };
    if !berth_tests::require_root("run `berth system restore` on a state root") {
        return;
    }
    let berth = berth_tests::bin("berth");
    let berth = berth.to_str().expect("utf-8 path");
    let unit = unit_text();
    let argv = exec_start(&unit, berth);
    assert_eq!(
        argv[1..],
        ["system", "restore"],
        "the unit must run `berth system restore`"
    );
    assert!(unit.contains("Type=oneshot"), "restore runs once per boot");
    assert!(
        unit.contains("KillMode=process"),
        "the monitors restore forks must outlive the unit's main process"
    );

    let dir = tempfile::tempdir().expect("tempdir");
    // systemd-analyze checks that ExecStart's binary exists and is executable, so point it
    // at the built one; the file name must stay `berth-restore.service`.
    let local = dir.path().join("berth-restore.service");
    std::fs::write(&local, unit.replace("/usr/local/bin/berth", berth)).expect("write unit");
    let out = Command::new(&analyze)
        .arg("verify")
        .arg(&local)
        .output()
        .expect("run systemd-analyze");
    assert!(
        out.status.success(),
        "systemd-analyze verify failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );

    // The command itself, on an empty state root: succeeds and leaves nothing running.
    let root = dir.path().join("root");
    let out = Command::new(&argv[0])
        .args(&argv[1..])
        .env("BERTH_ROOT", &root)
        .output()
        .expect("run the unit's ExecStart");
    assert!(
        out.status.success(),
        "`{}` failed: {}",
        argv.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
    let ps = Command::new(&argv[0])
        .args(["ps", "-aq"])
        .env("BERTH_ROOT", &root)
        .output()
        .expect("run berth ps");
    assert!(ps.status.success());
    assert!(ps.stdout.is_empty(), "an empty root restores nothing");
}
