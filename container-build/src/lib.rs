//! Dockerfile to image: a BuildKit-compatible parser and a builder with a layer cache.
//!
//! The parser is hand-written in three layers, like BuildKit's frontend, so each can be tested
//! alone: [`parser`] (text to a syntax tree with line ranges, directives, heredocs),
//! [`instructions`] (the tree to typed instructions with validated flags) and [`shell`]
//! (variable expansion). It is hand-written rather than generated because compatibility is
//! defined by BuildKit's own quirks (JSON fallback, flag extraction, continuation rules),
//! which a grammar would not reproduce; the corpus test compares it record by record with
//! BuildKit's parser.
//!
//! ```
//! let records = container_build::parser::records("FROM busybox\nRUN echo hi\n").unwrap();
//! assert_eq!(records[1].value, vec!["echo hi"]);
//! ```
//!
//! The [`Builder`] turns a Dockerfile and a context into an image of a
//! `container_image::Store`: stages (unused ones skipped, independent ones built at the
//! same time), bases and `--from` images pulled from their registry when the store lacks
//! them, `RUN` in `container-core` containers on overlay snapshots (cache, bind, tmpfs,
//! secret and ssh-agent mounts), `COPY`/`ADD` with `.dockerignore`, `ADD` of URLs and git
//! repositories, a layer cache keyed by parent, instruction, build args and source
//! contents, and reproducible output (times clamped to `SOURCE_DATE_EPOCH`, default 0).
//!
//! ```no_run
//! # fn main() -> container_build::Result<()> {
//! use container_build::{BuildOptions, Builder};
//! let store = container_image::Store::open("/var/lib/berth")?;
//! let opts = BuildOptions {
//!     context: "./app".into(),
//!     tags: vec!["localhost/app:latest".into()],
//!     ..Default::default()
//! };
//! let out = Builder::new(store).build(&opts, &mut |event| {
//!     if let Some(line) = event.to_line() {
//!         println!("{line}");
//!     }
//! })?;
//! println!("{} ({} of {} steps cached)", out.image.id(), out.cached_steps, out.steps);
//! # Ok(()) }
//! ```

pub mod builder;
pub mod cache;
pub mod config;
pub mod context;
pub mod copy;
pub mod error;
pub mod instructions;
pub mod parser;
pub mod progress;
mod remote;
mod run;
pub mod shell;
pub mod stage;
mod steps;
mod users;

pub use builder::{BuildOptions, BuildOutput, Builder};
pub use error::{BuildError, Result};
pub use progress::BuildEvent;
