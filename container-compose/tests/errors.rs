//! Bad input gives a typed error naming the file, the line and the key path.

use container_compose::{ErrorKind, LoadOptions, load};
use std::path::Path;

fn load_text(
    files: &[(&str, &str)],
) -> Result<container_compose::Project, container_compose::Error> {
    let dir = tempfile::tempdir().expect("tmp");
    for (n, t) in files {
        std::fs::write(dir.path().join(n), t).expect("write");
    }
    let opts = LoadOptions {
        files: vec![dir.path().join(files[0].0)],
        project_name: Some("t".into()),
        environment: [("HOME".to_string(), "/root".to_string())].into(),
        ..Default::default()
    };
    load(&opts)
}

fn err(files: &[(&str, &str)]) -> container_compose::Error {
    load_text(files).expect_err("must fail")
}

fn line(e: &container_compose::Error) -> usize {
    e.pos.as_ref().map(|p| p.line).unwrap_or(0)
}

#[test]
fn yaml_syntax_error() {
    let e = err(&[("c.yml", "services:\n  web:\n    image: [a\n")]);
    assert_eq!(e.kind, ErrorKind::Syntax);
    assert!(e.to_string().contains("c.yml:"), "{e}");
}

#[test]
fn invalid_port_names_path_and_line() {
    let e = err(&[(
        "c.yml",
        "services:\n  web:\n    image: x\n    ports:\n      - '8080:80'\n      - '80:80:80'\n",
    )]);
    assert_eq!(e.kind, ErrorKind::Invalid);
    assert_eq!(e.path, "services.web.ports[1]");
    assert_eq!(line(&e), 6);
    assert!(e.to_string().contains("invalid port '80:80:80'"), "{e}");
}

#[test]
fn wrong_type() {
    let e = err(&[(
        "c.yml",
        "services:\n  web:\n    image: x\n    read_only: maybe\n",
    )]);
    assert_eq!(e.path, "services.web.read_only");
    assert_eq!(line(&e), 4);
    let e = err(&[(
        "c.yml",
        "services:\n  web:\n    image: x\n    environment: 5\n",
    )]);
    assert_eq!(e.path, "services.web.environment");
}

#[test]
fn unknown_keys_rejected_extensions_allowed() {
    let e = err(&[("c.yml", "services:\n  web:\n    image: x\n    imgae: y\n")]);
    assert_eq!(e.kind, ErrorKind::UnknownKey);
    assert_eq!(e.path, "services.web.imgae");
    assert_eq!(line(&e), 4);
    load_text(&[(
        "c.yml",
        "x-top: 1\nservices:\n  web:\n    image: x\n    x-mine: {a: 1}\n",
    )])
    .expect("x- keys are fine");
    let e = err(&[("c.yml", "services: {}\nbogus: 1\n")]);
    assert_eq!(e.kind, ErrorKind::UnknownKey);
}

#[test]
fn required_variable() {
    let e = err(&[(
        "c.yml",
        "services:\n  web:\n    image: ${IMAGE:?set IMAGE please}\n",
    )]);
    assert_eq!(e.kind, ErrorKind::Interpolation);
    assert_eq!(e.path, "services.web.image");
    assert_eq!(line(&e), 3);
    assert!(e.to_string().contains("set IMAGE please"), "{e}");
}

#[test]
fn dependency_cycle_named() {
    let e = err(&[(
        "c.yml",
        "services:\n  a:\n    image: x\n    depends_on: [b]\n  b:\n    image: x\n    depends_on: [c]\n  c:\n    image: x\n    links: [a]\n",
    )]);
    assert_eq!(e.kind, ErrorKind::Cycle);
    assert!(e.to_string().contains("a -> b -> c -> a"), "{e}");
}

#[test]
fn extends_missing_and_cycle() {
    let e = err(&[("c.yml", "services:\n  a:\n    extends: {service: nope}\n")]);
    assert_eq!(e.kind, ErrorKind::Reference);
    assert_eq!(line(&e), 3);
    let e = err(&[
        (
            "c.yml",
            "services:\n  a:\n    image: x\n    extends: {file: other.yml, service: z}\n",
        ),
        ("other.yml", "services:\n  y:\n    image: x\n"),
    ]);
    assert_eq!(e.kind, ErrorKind::Reference);
    let e = err(&[(
        "c.yml",
        "services:\n  a:\n    image: x\n    extends: b\n  b:\n    image: y\n    extends: a\n",
    )]);
    assert_eq!(e.kind, ErrorKind::Cycle);
}

#[test]
fn undefined_references() {
    let e = err(&[(
        "c.yml",
        "services:\n  a:\n    image: x\n    depends_on: [ghost]\n",
    )]);
    assert_eq!(e.kind, ErrorKind::Reference);
    let e = err(&[(
        "c.yml",
        "services:\n  a:\n    image: x\n    volumes: ['data:/data']\n",
    )]);
    assert!(e.to_string().contains("undefined volume 'data'"), "{e}");
    let e = err(&[(
        "c.yml",
        "services:\n  a:\n    image: x\n    networks: [n]\n",
    )]);
    assert!(e.to_string().contains("undefined network 'n'"), "{e}");
}

#[test]
fn dependency_on_disabled_profile_is_an_error() {
    let e = err(&[(
        "c.yml",
        "services:\n  a:\n    image: x\n    depends_on: [dbg]\n  dbg:\n    image: y\n    profiles: [debug]\n",
    )]);
    assert!(e.to_string().contains("not enabled"), "{e}");
}

#[test]
fn reset_override_include_and_default_files() {
    let dir = tempfile::tempdir().expect("tmp");
    let d = dir.path();
    std::fs::write(d.join("compose.yaml"), "include: [sub/inc.yml]\nservices:\n  a:\n    image: x\n    ports: ['80:80']\n    environment: {A: '1'}\n").expect("w");
    std::fs::write(
        d.join("compose.override.yaml"),
        "services:\n  a:\n    ports: !reset []\n    environment: !override {B: '2'}\n",
    )
    .expect("w");
    std::fs::create_dir(d.join("sub")).expect("mkdir");
    std::fs::write(d.join("sub/inc.yml"), "services:\n  b:\n    build: ./ctx\n").expect("w");
    let opts = LoadOptions {
        project_directory: Some(d.to_path_buf()),
        ..Default::default()
    };
    let p = load(&opts).expect("load");
    let a = &p.services["a"];
    assert!(a.ports.is_empty());
    assert_eq!(a.environment.keys().collect::<Vec<_>>(), ["B"]);
    let ctx = &p.services["b"].build.as_ref().expect("build").context;
    assert!(Path::new(ctx).ends_with("sub/ctx"), "{ctx}");
    let expect_name = container_compose::load::normalize_project_name(
        &d.file_name().expect("name").to_string_lossy(),
    );
    assert_eq!(p.name, expect_name);
}

#[test]
fn plan_orders_and_names_replicas() {
    let p = load_text(&[(
        "c.yml",
        "services:\n  web:\n    image: x\n    depends_on: {db: {condition: service_healthy}}\n    deploy: {replicas: 2}\n  db:\n    image: y\n    volumes: ['d:/d']\n  b:\n    build: .\nvolumes:\n  d: {}\n",
    )])
    .expect("load");
    let plan = container_compose::Plan::new(&p, &[("b".to_string(), 3)].into()).expect("plan");
    use container_compose::Step;
    let kinds: Vec<String> = plan
        .create
        .iter()
        .map(|s| match s {
            Step::Network { name, .. } => format!("net {name}"),
            Step::Volume { name, .. } => format!("vol {name}"),
            Step::Build { service } => format!("build {service}"),
            Step::Service { containers, .. } => containers.join(","),
        })
        .collect();
    assert_eq!(
        kinds,
        [
            "net t_default",
            "vol t_d",
            "build b",
            "t-b-1,t-b-2,t-b-3",
            "t-db-1",
            "t-web-1,t-web-2"
        ]
    );
    let first_removed = match &plan.remove[0] {
        Step::Service { service, .. } => service.clone(),
        _ => String::new(),
    };
    assert_eq!(first_removed, "web");
    assert!(matches!(plan.remove.last(), Some(Step::Network { .. })));
}
