//! Compose files to a resolved, validated project model and an ordered plan.
//!
//! `container-compose` is pure: files in, a [`Project`] (canonical long form) and a [`Plan`]
//! out, nothing started. The loader reads as the pipeline of named stages of compose-go:
//!
//! 1. **decode** ([`yaml::decode`]): YAML with positions, anchors, `<<` merge keys, `!reset`, `!override`;
//! 2. **interpolate** ([`interpolate`]): `${VAR:-default}` and friends, values only, `.env` + process env;
//! 3. **include** ([`load::include`]); 4. **extends** ([`load::extends`]);
//! 5. **merge** ([`merge`]) of several `-f` files by the compose-spec rules;
//! 6. **validate** ([`service::service`], top-level checks): every key typed, unknown keys rejected;
//! 7. **normalize** ([`load::normalize`]): profiles, defaults, references, dependency cycles.
//!
//! Every error names the file, the line and the key path (`services.web.ports[1]: invalid port '80:80:80'`).
//!
//! Hand-written parts and why: the YAML tree builder (generic loaders drop positions, merge keys
//! and custom tags), the interpolation lexer (exact compose rules incl. nested defaults), and the
//! merge rules (they depend on the key). YAML scanning itself is yaml-rust2's.
//!
//! ```
//! let dir = tempfile::tempdir().expect("tmp");
//! std::fs::write(dir.path().join("compose.yaml"),
//!     "services:\n  web:\n    image: nginx:${TAG:-1.25}\n    depends_on: [db]\n  db:\n    image: redis\n").expect("write");
//! let opts = container_compose::LoadOptions {
//!     project_directory: Some(dir.path().to_path_buf()),
//!     project_name: Some("demo".into()),
//!     ..Default::default()
//! };
//! let project = container_compose::load(&opts).expect("load");
//! assert_eq!(project.services["web"].image.as_deref(), Some("nginx:1.25"));
//! let plan = container_compose::Plan::new(&project, &Default::default()).expect("plan");
//! let order: Vec<_> = plan.create.iter().filter_map(|s| match s {
//!     container_compose::Step::Service { containers, .. } => Some(containers[0].clone()),
//!     _ => None,
//! }).collect();
//! assert_eq!(order, ["demo-db-1", "demo-web-1"]);
//! ```

pub(crate) mod convert;
pub mod error;
pub mod interpolate;
pub mod load;
pub mod merge;
pub mod model;
pub mod plan;
pub mod service;
pub mod yaml;

pub use error::{Error, ErrorKind, Pos, Result};
pub use load::{LoadOptions, load};
pub use model::*;
pub use plan::{Plan, Step};

/// Exit code of `berth compose` for configuration errors (syntax, types, references, cycles).
pub const EXIT_CONFIG_ERROR: i32 = 15;

/// The project as canonical YAML (what `berth compose config` prints).
pub fn to_yaml(p: &Project) -> String {
    serde_yaml_ng::to_string(p).unwrap_or_else(|e| format!("# cannot serialize: {e}\n"))
}

/// The project as JSON (`berth compose config --format json`).
pub fn to_json(p: &Project) -> String {
    serde_json::to_string_pretty(p).unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"))
}

/// Load from YAML text only (no files besides `extends.file`/`include`/`env_file` references);
/// used by the fuzz target and tests.
pub fn load_str(text: &str, dir: &std::path::Path, env: &interpolate::Env) -> Result<Project> {
    let mut node = yaml::decode(text, "<input>")?;
    if node.is_null() {
        node = yaml::Node::map(Vec::new(), &node.pos);
    }
    convert::map(&node, "")?;
    interpolate::interpolate_node(&mut node, env, "")?;
    convert::check_keys(
        &node,
        "",
        &[
            "version", "name", "services", "networks", "volumes", "secrets", "configs",
        ],
    )?;
    let node = merge::finish(node);
    load::normalize(&node, "project".into(), dir, env, &[])
}
