//! container-build: parser throughput over the conformance corpus.
//!
//! Run: `cargo bench -p berth-benches --bench build`.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use std::hint::black_box;
use std::path::Path;

fn corpus() -> Vec<String> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../container-build/tests/corpus");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .expect("corpus dir")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    files.sort();
    files
        .iter()
        .map(|p| std::fs::read_to_string(p).expect("read corpus file"))
        .collect()
}

fn parser(c: &mut Criterion) {
    let texts = corpus();
    let bytes: usize = texts.iter().map(String::len).sum();
    let mut g = c.benchmark_group("build_parser");
    g.throughput(Throughput::Bytes(bytes as u64));
    g.bench_function("syntax_tree_corpus", |b| {
        b.iter(|| {
            for t in &texts {
                let _ = black_box(container_build::parser::parse(black_box(t)));
            }
        })
    });
    g.bench_function("typed_instructions_corpus", |b| {
        b.iter(|| {
            for t in &texts {
                let _ = black_box(container_build::instructions::parse_dockerfile(black_box(
                    t,
                )));
            }
        })
    });
    g.finish();
    let lexer = container_build::shell::Lexer::new('\\');
    let env = |k: &str| (k == "V").then(|| "/usr/local/bin".to_string());
    c.bench_function("build_shell_expand", |b| {
        b.iter(|| {
            lexer.process_words(
                black_box("${V:-x} \"$V/a b\" ${V##*/} ${V%/*} ${V//\\//:} 'lit $V'"),
                &env,
            )
        })
    });
}

criterion_group!(benches, parser);
criterion_main!(benches);
