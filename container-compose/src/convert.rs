//! Typed reading of nodes: every helper checks the YAML type and reports file, line and key path.

use crate::error::{Error, ErrorKind, Result};
use crate::yaml::{Node, Value};
use std::collections::BTreeMap;
use std::time::Duration;

pub(crate) fn invalid(n: &Node, path: &str, msg: impl Into<String>) -> Error {
    Error::new(ErrorKind::Invalid, Some(&n.pos), path, msg)
}

pub(crate) fn kind_name(n: &Node) -> &'static str {
    match &n.value {
        Value::Scalar { .. } if n.is_null() => "null",
        Value::Scalar { .. } => "a scalar",
        Value::Seq(_) => "a sequence",
        Value::Map(_) => "a mapping",
    }
}

/// A scalar as text (numbers and booleans are accepted as their text).
pub(crate) fn string(n: &Node, path: &str) -> Result<String> {
    match &n.value {
        Value::Scalar { text, .. } if !n.is_null() => Ok(text.clone()),
        _ => Err(invalid(
            n,
            path,
            format!("must be a string, found {}", kind_name(n)),
        )),
    }
}

/// A scalar or null.
pub(crate) fn opt_string(n: &Node, path: &str) -> Result<Option<String>> {
    if n.is_null() {
        Ok(None)
    } else {
        string(n, path).map(Some)
    }
}

pub(crate) fn boolean(n: &Node, path: &str) -> Result<bool> {
    if let Value::Scalar { text, .. } = &n.value {
        match text.to_ascii_lowercase().as_str() {
            "true" | "yes" | "on" | "y" => return Ok(true),
            "false" | "no" | "off" | "n" => return Ok(false),
            _ => {}
        }
    }
    Err(invalid(
        n,
        path,
        format!(
            "must be a boolean, found '{}'",
            n.scalar().unwrap_or(kind_name(n))
        ),
    ))
}

pub(crate) fn uint(n: &Node, path: &str) -> Result<u64> {
    match &n.value {
        Value::Scalar { text, .. } => text.trim().parse::<u64>().map_err(|_| {
            invalid(
                n,
                path,
                format!("must be a non-negative integer, found '{text}'"),
            )
        }),
        _ => Err(invalid(
            n,
            path,
            format!("must be an integer, found {}", kind_name(n)),
        )),
    }
}

pub(crate) fn int(n: &Node, path: &str) -> Result<i64> {
    match &n.value {
        Value::Scalar { text, .. } => text
            .trim()
            .parse::<i64>()
            .map_err(|_| invalid(n, path, format!("must be an integer, found '{text}'"))),
        _ => Err(invalid(
            n,
            path,
            format!("must be an integer, found {}", kind_name(n)),
        )),
    }
}

pub(crate) fn float(n: &Node, path: &str) -> Result<f64> {
    match &n.value {
        Value::Scalar { text, .. } => match text.trim().parse::<f64>() {
            Ok(f) if f.is_finite() => Ok(f),
            _ => Err(invalid(
                n,
                path,
                format!("must be a number, found '{text}'"),
            )),
        },
        _ => Err(invalid(
            n,
            path,
            format!("must be a number, found {}", kind_name(n)),
        )),
    }
}

pub(crate) fn duration(n: &Node, path: &str) -> Result<Duration> {
    let s = string(n, path)?;
    crate::model::dur::parse(&s).ok_or_else(|| invalid(n, path, format!("invalid duration '{s}'")))
}

/// Byte sizes: `512`, `50M`, `1g`, `1.5gb`.
pub(crate) fn bytes(n: &Node, path: &str) -> Result<u64> {
    let s = string(n, path)?;
    parse_bytes(&s).ok_or_else(|| invalid(n, path, format!("invalid size '{s}'")))
}

pub(crate) fn parse_bytes(s: &str) -> Option<u64> {
    let t = s.trim().to_ascii_lowercase();
    let t = t
        .strip_suffix('b')
        .filter(|r| r.ends_with(|c: char| c.is_ascii_alphabetic()))
        .unwrap_or(t.strip_suffix('b').unwrap_or(&t));
    let (num, mult) = match t.chars().last()? {
        'k' => (&t[..t.len() - 1], 1u64 << 10),
        'm' => (&t[..t.len() - 1], 1 << 20),
        'g' => (&t[..t.len() - 1], 1 << 30),
        't' => (&t[..t.len() - 1], 1 << 40),
        _ => (t, 1),
    };
    let f: f64 = num.trim().parse().ok()?;
    if !(0.0..1.8e19).contains(&f) {
        return None;
    }
    Some((f * mult as f64) as u64)
}

pub(crate) fn map<'a>(n: &'a Node, path: &str) -> Result<&'a Vec<(String, Node)>> {
    n.as_map().ok_or_else(|| {
        invalid(
            n,
            path,
            format!("must be a mapping, found {}", kind_name(n)),
        )
    })
}

pub(crate) fn seq<'a>(n: &'a Node, path: &str) -> Result<&'a Vec<Node>> {
    match &n.value {
        Value::Seq(s) => Ok(s),
        _ => Err(invalid(
            n,
            path,
            format!("must be a sequence, found {}", kind_name(n)),
        )),
    }
}

/// A sequence of strings.
pub(crate) fn strings(n: &Node, path: &str) -> Result<Vec<String>> {
    seq(n, path)?
        .iter()
        .enumerate()
        .map(|(i, x)| string(x, &format!("{path}[{i}]")))
        .collect()
}

/// A string or a sequence of strings.
pub(crate) fn string_or_list(n: &Node, path: &str) -> Result<Vec<String>> {
    match &n.value {
        Value::Seq(_) => strings(n, path),
        _ => Ok(vec![string(n, path)?]),
    }
}

/// `KEY=VALUE` list or mapping; `KEY` alone / null value → `None`.
pub(crate) fn list_or_dict(
    n: &Node,
    path: &str,
    sep: char,
) -> Result<BTreeMap<String, Option<String>>> {
    let mut out = BTreeMap::new();
    match &n.value {
        Value::Map(m) => {
            for (k, v) in m {
                let p = format!("{path}.{k}");
                if matches!(v.value, Value::Map(_) | Value::Seq(_)) {
                    return Err(invalid(
                        v,
                        &p,
                        format!(
                            "must be a string, number, boolean or null, found {}",
                            kind_name(v)
                        ),
                    ));
                }
                out.insert(k.clone(), opt_string(v, &p)?);
            }
        }
        Value::Seq(items) => {
            for (i, x) in items.iter().enumerate() {
                let s = string(x, &format!("{path}[{i}]"))?;
                match s.split_once(sep) {
                    Some((k, v)) => out.insert(k.to_string(), Some(v.to_string())),
                    None => out.insert(s, None),
                };
            }
        }
        _ => {
            return Err(invalid(
                n,
                path,
                format!("must be a mapping or a sequence, found {}", kind_name(n)),
            ));
        }
    }
    Ok(out)
}

/// Reject keys other than `allowed` (and `x-` extensions).
pub(crate) fn check_keys(n: &Node, path: &str, allowed: &[&str]) -> Result<()> {
    for (k, v) in map(n, path)? {
        if !allowed.contains(&k.as_str()) && !k.starts_with("x-") {
            let p = if path.is_empty() {
                k.clone()
            } else {
                format!("{path}.{k}")
            };
            return Err(Error::new(
                ErrorKind::UnknownKey,
                Some(&v.pos),
                &p,
                format!("unknown key '{k}'"),
            ));
        }
    }
    Ok(())
}

/// Split a command string like a POSIX shell does (quotes and backslashes, no expansion).
pub(crate) fn shell_split(s: &str) -> Option<Vec<String>> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut in_word = false;
    let mut it = s.chars().peekable();
    while let Some(c) = it.next() {
        match c {
            '\'' => {
                in_word = true;
                loop {
                    match it.next() {
                        Some('\'') => break,
                        Some(x) => cur.push(x),
                        None => return None,
                    }
                }
            }
            '"' => {
                in_word = true;
                loop {
                    match it.next() {
                        Some('"') => break,
                        Some('\\') => match it.next() {
                            Some(x @ ('"' | '\\' | '$' | '`')) => cur.push(x),
                            Some('\n') => {}
                            Some(x) => {
                                cur.push('\\');
                                cur.push(x)
                            }
                            None => return None,
                        },
                        Some(x) => cur.push(x),
                        None => return None,
                    }
                }
            }
            '\\' => {
                in_word = true;
                match it.next() {
                    Some('\n') => {}
                    Some(x) => cur.push(x),
                    None => cur.push('\\'),
                }
            }
            c if c.is_whitespace() => {
                if in_word {
                    out.push(std::mem::take(&mut cur));
                    in_word = false;
                }
            }
            c => {
                in_word = true;
                cur.push(c)
            }
        }
    }
    if in_word {
        out.push(cur);
    }
    Some(out)
}

/// A command: a string (shell-split) or a sequence.
pub(crate) fn command(n: &Node, path: &str) -> Result<Vec<String>> {
    match &n.value {
        Value::Seq(_) => strings(n, path),
        _ => {
            let s = string(n, path)?;
            shell_split(&s).ok_or_else(|| invalid(n, path, format!("unbalanced quotes in '{s}'")))
        }
    }
}
