//! container-engine hot paths that run on every `berth` command: resolving a name among
//! many containers, rendering `--format` templates, parsing run flags, writing json-file
//! log lines. Whole-process figures (`berth run --rm` vs podman) are in `benches/engine.sh`.

use container_engine::logs::{LogWriter, Stream};
use container_engine::model::ContainerRecord;
use container_engine::state::ContainerStore;
use container_engine::template::Template;
use criterion::{Criterion, criterion_group, criterion_main};
use std::hint::black_box;

fn bench(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = ContainerStore::open(dir.path()).expect("store");
    for i in 0..200 {
        let rec = ContainerRecord {
            id: format!("{i:064x}"),
            name: format!("/c{i}"),
            ..Default::default()
        };
        store.save(&rec).expect("save");
    }
    c.bench_function("engine/resolve_name_among_200", |b| {
        b.iter(|| store.resolve(black_box("c199")).expect("resolve"))
    });
    let doc = ContainerRecord {
        id: "ab".repeat(32),
        name: "/web".into(),
        ..Default::default()
    }
    .inspect_json();
    let t = Template::parse("{{.Id}} {{.State.Status}} {{json .Config}} {{range $k, $v := .HostConfig.PortBindings}}{{$k}}{{end}}")
        .expect("template");
    c.bench_function("engine/template_render_inspect", |b| {
        b.iter(|| t.render(black_box(&doc)).expect("render"))
    });
    c.bench_function("engine/parse_run_flags", |b| {
        b.iter(|| {
            container_engine::options::parse_publish(black_box("127.0.0.1:8080:80/tcp"))
                .expect("p");
            container_engine::options::parse_volume(black_box("data:/var/lib/data:ro")).expect("v");
            container_engine::options::parse_bytes(black_box("512m")).expect("b");
        })
    });
    let log = dir.path().join("bench-json.log");
    let mut w = LogWriter::open(&log, Some(8 << 20), 2).expect("log");
    let chunk = b"GET /index.html 200 1234 bytes in 0.2 ms\n".repeat(16);
    c.bench_function("engine/json_log_16_lines", |b| {
        b.iter(|| w.write(Stream::Stdout, black_box(&chunk)).expect("write"))
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
