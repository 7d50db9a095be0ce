//! Resolve time of a 50-service compose project (decode → ... → normalize, and the plan).
//! Whole-process comparison with `docker-compose config`: benches/compose.sh (hyperfine).

use criterion::{Criterion, criterion_group, criterion_main};
use std::hint::black_box;

/// A 50-service project with the keys real projects use (written to `dir`).
pub fn write_project(dir: &std::path::Path) {
    let mut y = String::from(
        "x-common: &common\n  restart: unless-stopped\n  logging:\n    driver: json-file\n    options: {max-size: 10m}\nservices:\n",
    );
    for i in 0..50 {
        y += &format!(
            "  svc{i}:\n    <<: *common\n    image: \"registry.local/app{i}:${{TAG:-1.0}}\"\n    command: [\"/bin/app\", \"--port\", \"{port}\"]\n    environment:\n      - INDEX={i}\n      - MODE=${{MODE:-prod}}\n    ports: [\"{port}:{port}\", \"127.0.0.1:{dbg}:9229\"]\n    volumes: [\"data{v}:/data\", \"./conf/{i}:/etc/app:ro\"]\n    networks:\n      front:\n        aliases: [app{i}]\n      back: {{}}\n    healthcheck:\n      test: [\"CMD\", \"/bin/app\", \"health\"]\n      interval: 10s\n      retries: 3\n    deploy:\n      resources: {{limits: {{cpus: '0.5', memory: 256M}}}}\n",
            port = 8000 + i,
            dbg = 19000 + i,
            v = i % 5
        );
        if i > 0 {
            y += &format!("    depends_on: [svc{}]\n", i - 1);
        }
    }
    y += "networks:\n  front: {}\n  back: {internal: true}\nvolumes:\n";
    for v in 0..5 {
        y += &format!("  data{v}: {{}}\n");
    }
    std::fs::write(dir.join("docker-compose.yml"), y).expect("write project");
}

fn bench(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("tempdir");
    write_project(dir.path());
    let opts = container_compose::LoadOptions {
        project_directory: Some(dir.path().to_path_buf()),
        project_name: Some("bench".into()),
        ..Default::default()
    };
    c.bench_function("compose_resolve_50_services", |b| {
        b.iter(|| black_box(container_compose::load(black_box(&opts)).expect("load")))
    });
    let project = container_compose::load(&opts).expect("load");
    c.bench_function("compose_plan_50_services", |b| {
        b.iter(|| {
            black_box(
                container_compose::Plan::new(black_box(&project), &Default::default())
                    .expect("plan"),
            )
        })
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
