//! container-core: the whole lifecycle of `/bin/true` in a busybox bundle through the
//! library API, in-process (create + start + wait + delete), with and without Docker's
//! seccomp profile. Needs root; prints a note and does nothing otherwise.

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
    for (name, seccomp) in [
        ("lifecycle_true_docker_defaults", true),
        ("lifecycle_true_no_seccomp", false),
    ] {
        let mut s = s.clone();
        if !seccomp {
            s.linux_mut().as_mut().expect("linux").set_seccomp(None);
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
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
