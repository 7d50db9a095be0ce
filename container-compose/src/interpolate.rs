//! Stage 2, interpolate: `$VAR`, `${VAR}`, `${VAR:-d}`, `${VAR-d}`, `${VAR:?e}`, `${VAR?e}`,
//! `${VAR:+r}`, `${VAR+r}`, `$$`, with nested substitutions in defaults. Values only, never keys.
//! Also the `.env` parser.

use crate::error::{Error, ErrorKind, Pos, Result};
use crate::yaml::{Node, Value};
use std::collections::BTreeMap;

/// Variables used for interpolation.
pub type Env = BTreeMap<String, String>;

/// Why a substitution failed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum InterpError {
    /// `${X:?msg}` / `${X?msg}` with X unset (or empty for `:?`).
    Required {
        /// The variable.
        var: String,
        /// The message after `?`.
        message: String,
    },
    /// Bad syntax such as `${}` or an unterminated `${`.
    Syntax(String),
}

/// Substitute variables in `s`.
pub fn interpolate_str(s: &str, env: &Env) -> std::result::Result<String, InterpError> {
    let chars: Vec<char> = s.chars().collect();
    let (out, end) = expand(&chars, 0, env, false)?;
    debug_assert_eq!(end, chars.len());
    Ok(out)
}

fn is_name_start(c: char) -> bool {
    c.is_ascii_alphabetic() || c == '_'
}
fn is_name(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// Expand from `i`; inside braces (`nested`) stop at the matching `}` (not consumed).
fn expand(
    c: &[char],
    mut i: usize,
    env: &Env,
    nested: bool,
) -> std::result::Result<(String, usize), InterpError> {
    let mut out = String::new();
    while i < c.len() {
        let ch = c[i];
        if nested && ch == '}' {
            return Ok((out, i));
        }
        if ch != '$' {
            out.push(ch);
            i += 1;
            continue;
        }
        match c.get(i + 1) {
            Some('$') => {
                out.push('$');
                i += 2;
            }
            Some('{') => {
                let (v, ni) = braced(c, i + 2, env)?;
                out.push_str(&v);
                i = ni;
            }
            Some(&n) if is_name_start(n) => {
                let mut j = i + 1;
                while j < c.len() && is_name(c[j]) {
                    j += 1;
                }
                let name: String = c[i + 1..j].iter().collect();
                out.push_str(env.get(&name).map(String::as_str).unwrap_or(""));
                i = j;
            }
            _ => {
                return Err(InterpError::Syntax(format!(
                    "invalid interpolation format: a '$' must be followed by a name, '{{' or '$' (use '$$' for a literal '$') in \"{}\"",
                    c.iter().collect::<String>()
                )));
            }
        }
    }
    if nested {
        return Err(InterpError::Syntax("unterminated '${'".into()));
    }
    Ok((out, i))
}

/// Parse after `${`; returns the value and the index after `}`.
fn braced(
    c: &[char],
    mut i: usize,
    env: &Env,
) -> std::result::Result<(String, usize), InterpError> {
    let start = i;
    while i < c.len() && is_name(c[i]) {
        i += 1;
    }
    let name: String = c[start..i].iter().collect();
    if name.is_empty() || !name.chars().next().is_some_and(is_name_start) {
        return Err(InterpError::Syntax(format!(
            "invalid variable name in \"{}\"",
            c.iter().collect::<String>()
        )));
    }
    let val = env.get(&name);
    match c.get(i) {
        Some('}') => return Ok((val.cloned().unwrap_or_default(), i + 1)),
        None => return Err(InterpError::Syntax("unterminated '${'".into())),
        _ => {}
    }
    let colon = c[i] == ':';
    if colon {
        i += 1;
    }
    let op = *c
        .get(i)
        .ok_or_else(|| InterpError::Syntax("unterminated '${'".into()))?;
    if !matches!(op, '-' | '?' | '+') {
        return Err(InterpError::Syntax(format!(
            "invalid interpolation operator '{op}' in \"{}\"",
            c.iter().collect::<String>()
        )));
    }
    let (arg, end) = expand(c, i + 1, env, true)?;
    let set = val.is_some_and(|v| !colon || !v.is_empty());
    let out = match op {
        '-' => {
            if set {
                val.cloned().unwrap_or_default()
            } else {
                arg
            }
        }
        '+' => {
            if set {
                arg
            } else {
                String::new()
            }
        }
        _ => {
            if set {
                val.cloned().unwrap_or_default()
            } else {
                return Err(InterpError::Required {
                    var: name,
                    message: arg,
                });
            }
        }
    };
    Ok((out, end + 1))
}

/// Interpolate every scalar value of the tree (keys untouched).
pub fn interpolate_node(node: &mut Node, env: &Env, path: &str) -> Result<()> {
    match &mut node.value {
        Value::Scalar { text, .. } => {
            if text.contains('$') {
                *text = interpolate_str(text, env).map_err(|e| to_error(e, &node.pos, path))?;
            }
        }
        Value::Seq(items) => {
            for (i, n) in items.iter_mut().enumerate() {
                interpolate_node(n, env, &format!("{path}[{i}]"))?;
            }
        }
        Value::Map(entries) => {
            for (k, n) in entries.iter_mut() {
                let p = if path.is_empty() {
                    k.clone()
                } else {
                    format!("{path}.{k}")
                };
                interpolate_node(n, env, &p)?;
            }
        }
    }
    Ok(())
}

fn to_error(e: InterpError, pos: &Pos, path: &str) -> Error {
    match e {
        InterpError::Required { var, message } => Error::new(
            ErrorKind::Interpolation,
            Some(pos),
            path,
            if message.is_empty() {
                format!("required variable {var} is missing a value")
            } else {
                format!("required variable {var} is missing a value: {message}")
            },
        ),
        InterpError::Syntax(m) => Error::new(ErrorKind::Interpolation, Some(pos), path, m),
    }
}

/// Parse a `.env` / `env_file` text: `KEY=VALUE`, `export KEY=VALUE`, `# comments`, quotes.
/// A line with only `KEY` maps to `None` (take it from the environment).
pub fn parse_env_file(text: &str, file: &str) -> Result<Vec<(String, Option<String>)>> {
    let mut out = Vec::new();
    for (n, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let line = line
            .strip_prefix("export ")
            .map(str::trim_start)
            .unwrap_or(line);
        let pos = Pos {
            file: file.into(),
            line: n + 1,
            col: 1,
        };
        let (key, value) = match line.split_once('=') {
            None => (line.to_string(), None),
            Some((k, v)) => (k.trim().to_string(), Some(unquote(v.trim()))),
        };
        if key.is_empty() || key.contains(char::is_whitespace) {
            return Err(Error::new(
                ErrorKind::Invalid,
                Some(&pos),
                "",
                format!("invalid line in env file: {raw:?}"),
            ));
        }
        out.push((key, value));
    }
    Ok(out)
}

fn unquote(v: &str) -> String {
    if v.len() >= 2 && v.starts_with('\'') && v.ends_with('\'') {
        return v[1..v.len() - 1].to_string();
    }
    if v.len() >= 2 && v.starts_with('"') && v.ends_with('"') {
        let inner = &v[1..v.len() - 1];
        let mut s = String::new();
        let mut it = inner.chars();
        while let Some(c) = it.next() {
            if c == '\\' {
                match it.next() {
                    Some('n') => s.push('\n'),
                    Some('t') => s.push('\t'),
                    Some(o) => s.push(o),
                    None => s.push('\\'),
                }
            } else {
                s.push(c);
            }
        }
        return s;
    }
    // An unquoted value ends at " #" (inline comment).
    match v.find(" #") {
        Some(i) => v[..i].trim_end().to_string(),
        None => v.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env() -> Env {
        [("A", "a"), ("E", ""), ("N", "1")]
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn forms() {
        let e = env();
        let t = |s: &str| interpolate_str(s, &e);
        assert_eq!(t("$A ${A} $$A").as_deref(), Ok("a a $A"));
        assert_eq!(t("${E:-d} ${E-d} ${U-d}").as_deref(), Ok("d  d"));
        assert_eq!(t("${A:+r} ${E:+r} ${E+r} ${U+r}").as_deref(), Ok("r  r "));
        assert_eq!(t("${U:-${A}-x}").as_deref(), Ok("a-x"));
        assert_eq!(t("${U:-${V:-deep}}").as_deref(), Ok("deep"));
        assert!(matches!(t("${E:?boom}"), Err(InterpError::Required { .. })));
        assert_eq!(t("${E?boom}").as_deref(), Ok(""));
        assert!(matches!(t("${A"), Err(InterpError::Syntax(_))));
        assert!(matches!(t("${}"), Err(InterpError::Syntax(_))));
        assert!(matches!(t("$ x"), Err(InterpError::Syntax(_))));
    }

    #[test]
    fn env_file() {
        let v = parse_env_file(
            "# c\nA=1\nexport B=\"x\\ny\"\nC='q # r'\nD=z # comment\nE\n",
            "e",
        )
        .expect("parse");
        assert_eq!(v[0], ("A".into(), Some("1".into())));
        assert_eq!(v[1], ("B".into(), Some("x\ny".into())));
        assert_eq!(v[2], ("C".into(), Some("q # r".into())));
        assert_eq!(v[3], ("D".into(), Some("z".into())));
        assert_eq!(v[4], ("E".into(), None));
    }
}
