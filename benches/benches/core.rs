//! container-core: the whole lifecycle of `/bin/true` in a busybox bundle through the
//! library API, in-process (create + start + wait + delete), with and without Docker's
//! seccomp profile, and with resource limits (memory, pids, cpu); plus the cgroup part
//! alone (create in every hierarchy with the default spec's device rules, open the
//! join handles, delete). Needs root; prints a note and does nothing otherwise.

use container_core::{Container, CreateOptions, spec};
use criterion::{Criterion, criterion_group, criterion_main};

fn bench(c: &mut Criterion) {
    // SAFETY: geteuid cannot fail.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("core benches need root; skipped");
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let bundle = dir.path().join("bundle");
    if !berth_tests::busybox_rootfs(&bundle.join("rootfs")) {
        return;
    }
    let root = dir.path().join("state");
    let mut s = spec::default_spec();
    s.process_mut()
        .as_mut()
        .expect("process")
        .set_args(Some(vec!["/bin/true".into()]));
    let mut n = 0u64;
    let mut group = c.benchmark_group("core");
    group.sample_size(30);
    let limits: oci_spec::runtime::LinuxResources = serde_json::from_str(
        r#"{"memory": {"limit": 67108864}, "pids": {"limit": 64},
            "cpu": {"shares": 512, "quota": 50000, "period": 100000}}"#,
    )
    .expect("limits");
    for (name, seccomp, with_limits) in [
        ("lifecycle_true_docker_defaults", true, false),
        ("lifecycle_true_no_seccomp", false, false),
        ("lifecycle_true_with_limits", true, true),
    ] {
        let mut s = s.clone();
        let linux = s.linux_mut().as_mut().expect("linux");
        if !seccomp {
            linux.set_seccomp(None);
        }
        if with_limits {
            let mut r = limits.clone();
            r.set_devices(linux.resources().as_ref().and_then(|d| d.devices().clone()));
            linux.set_resources(Some(r));
        }
        group.bench_function(name, |b| {
            b.iter(|| {
                n += 1;
                let id = format!("bench-{}-{n}", std::process::id());
                let mut ctr = Container::create(&id, &bundle, &s, &root, CreateOptions::default())
                    .expect("create");
                ctr.start().expect("start");
                assert_eq!(ctr.wait().expect("wait"), 0);
                ctr.delete(false).expect("delete");
            })
        });
    }
    let devices = s.linux().as_ref().and_then(|l| l.resources().clone());
    group.bench_function("cgroup_create_attach_delete", |b| {
        b.iter(|| {
            n += 1;
            let path = format!("/berth/bench-cg-{}-{n}", std::process::id());
            let cg = container_core::cgroups::Cgroup::create(&path, devices.as_ref())
                .expect("cgroup create");
            drop(cg.attach().expect("attach"));
            cg.delete().expect("cgroup delete");
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
