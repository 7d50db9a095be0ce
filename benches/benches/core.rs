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
    // Wall time depends on the machine's load; CPU time (user + system of this process
    // and of the reaped container processes) much less: print both for a fixed loop.
    {
        const RUNS: u32 = 50;
        let cpu = || {
            let mut total = 0.0;
            for who in [libc::RUSAGE_SELF, libc::RUSAGE_CHILDREN] {
                // SAFETY: zeroed rusage is a valid out buffer.
                let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
                // SAFETY: valid out pointer.
                unsafe { libc::getrusage(who, &mut ru) };
                for tv in [ru.ru_utime, ru.ru_stime] {
                    total += tv.tv_sec as f64 * 1e3 + tv.tv_usec as f64 / 1e3;
                }
            }
            total
        };
        let (cpu0, wall0) = (cpu(), std::time::Instant::now());
        for _ in 0..RUNS {
            n += 1;
            let id = format!("bench-{}-{n}", std::process::id());
            let mut ctr = Container::create(&id, &bundle, &s, &root, CreateOptions::default())
                .expect("create");
            ctr.start().expect("start");
            assert_eq!(ctr.wait().expect("wait"), 0);
            ctr.delete(false).expect("delete");
        }
        eprintln!(
            "core/lifecycle_true_docker_defaults: {RUNS} runs, per lifecycle: wall {:.2} ms, \
             user+sys CPU {:.2} ms",
            wall0.elapsed().as_secs_f64() * 1e3 / f64::from(RUNS),
            (cpu() - cpu0) / f64::from(RUNS)
        );
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
