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

pub mod instructions;
pub mod parser;
pub mod shell;
