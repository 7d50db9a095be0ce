//! The README's first command: `berth-demo` makes an image from host binaries, builds a
//! Dockerfile on it, runs it on a user bridge with `-p 127.0.0.1:8080:80`, fetches the
//! page through the published port and removes everything.
//!
//! The demo itself works on the machine's own network namespace; the test runs it in a
//! throwaway one (`unshare --net`), so the bridge, the nftables rules and port 8080 are
//! the namespace's and vanish with it.

use std::process::Command;

#[test]
fn readme_demo_serves_its_page_through_the_published_port_and_cleans_up() {
    if !berth_tests::require_root("run containers on a bridge") {
        return;
    }
    let (Some(unshare), Some(_)) = (
        berth_tests::require_tool("unshare"),
        berth_tests::require_tool("ip"),
    ) else {
        return;
    };
    let demo = berth_tests::bin("berth-demo");
    let child = Command::new(unshare)
        .args([
            "--net",
            "--",
            "sh",
            "-c",
            "ip link set lo up && exec \"$0\"",
        ])
        .arg(&demo)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("start berth-demo");
    // `exec` keeps the pid: the demo's engine root is named after it.
    let root = std::env::temp_dir().join(format!("berth-demo-{}", child.id()));
    let out = child.wait_with_output().expect("wait for berth-demo");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "berth-demo failed ({}):\n{stdout}\n{stderr}",
        out.status
    );
    // The page came through 127.0.0.1:8080 from the container.
    assert!(
        stdout.contains("<h1>Hello from a berth container!</h1>"),
        "{stdout}"
    );
    // `ps` listed the running container with its published port.
    assert!(
        stdout.contains("127.0.0.1:8080->80/tcp") && stdout.contains("berth-demo-web"),
        "{stdout}"
    );
    assert!(
        stdout.contains("removed container, network, images"),
        "{stdout}"
    );
    assert!(!root.exists(), "engine root {} left behind", root.display());
    assert!(
        berth_tests::mounts_under(&root).is_empty(),
        "mounts left under {}",
        root.display()
    );
}
