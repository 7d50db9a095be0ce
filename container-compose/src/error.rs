//! Errors of the resolver: every one names the file, the line and the key path when known.

use std::fmt;
use std::sync::Arc;

/// A position in a compose file (1-based line and column).
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Pos {
    /// The file the node came from (empty for values made by the resolver).
    pub file: Arc<str>,
    /// 1-based line.
    pub line: usize,
    /// 1-based column.
    pub col: usize,
}

impl fmt::Display for Pos {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.file.is_empty() {
            write!(f, "<generated>")
        } else {
            write!(f, "{}:{}:{}", self.file, self.line, self.col)
        }
    }
}

/// What went wrong.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorKind {
    /// A file could not be read.
    Io,
    /// The YAML is not well formed.
    Syntax,
    /// A value has the wrong type or format.
    Invalid,
    /// A key that the compose specification does not know.
    UnknownKey,
    /// A required variable is unset (`${X:?}`) or the syntax of a substitution is wrong.
    Interpolation,
    /// A reference to something that does not exist (service, network, volume, extends target).
    Reference,
    /// A dependency or `extends` cycle.
    Cycle,
}

/// A resolver error: kind, position, key path and message.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub struct Error {
    /// What went wrong.
    pub kind: ErrorKind,
    /// Where (file, line, column), when known.
    pub pos: Option<Pos>,
    /// Key path such as `services.web.ports[1]` (may be empty).
    pub path: String,
    /// Human message.
    pub message: String,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(p) = &self.pos {
            write!(f, "{p}: ")?;
        }
        if !self.path.is_empty() {
            write!(f, "{}: ", self.path)?;
        }
        write!(f, "{}", self.message)
    }
}

impl Error {
    /// A new error.
    pub fn new(kind: ErrorKind, pos: Option<&Pos>, path: &str, message: impl Into<String>) -> Self {
        Error {
            kind,
            pos: pos.cloned(),
            path: path.to_string(),
            message: message.into(),
        }
    }
}

/// Result of the resolver.
pub type Result<T> = std::result::Result<T, Error>;
