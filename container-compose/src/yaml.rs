//! Stage 1, decode: YAML text to a tree of [`Node`]s that keep their position.
//!
//! Hand-written over yaml-rust2's event parser because compose needs what generic YAML
//! loaders drop: the line of every value (for messages), the `!reset` / `!override` tags,
//! and `<<` merge keys (YAML 1.1) on top of anchors and aliases.

use crate::error::{Error, ErrorKind, Pos, Result};
use std::collections::HashMap;
use std::sync::Arc;
use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser};
use yaml_rust2::scanner::{Marker, TScalarStyle};

/// The compose tags a node may carry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tag {
    /// `!reset`: drop the inherited value (merge, extends).
    Reset,
    /// `!override`: replace the inherited value instead of merging.
    Override,
}

/// A YAML value with its position.
#[derive(Clone, Debug, PartialEq)]
pub struct Node {
    /// The value.
    pub value: Value,
    /// Where it starts.
    pub pos: Pos,
    /// `!reset` / `!override`.
    pub tag: Option<Tag>,
}

/// A YAML value; scalars keep their text (typing happens per key, after interpolation).
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    /// A scalar; `plain` is false when it was quoted or a block scalar.
    Scalar {
        /// The text.
        text: String,
        /// Unquoted (may be null, a boolean or a number).
        plain: bool,
    },
    /// A sequence.
    Seq(Vec<Node>),
    /// A mapping with string keys, in order.
    Map(Vec<(String, Node)>),
}

impl Node {
    /// A generated string node.
    pub fn str(s: impl Into<String>, pos: &Pos) -> Node {
        Node {
            value: Value::Scalar {
                text: s.into(),
                plain: false,
            },
            pos: pos.clone(),
            tag: None,
        }
    }
    /// A generated mapping node.
    pub fn map(entries: Vec<(String, Node)>, pos: &Pos) -> Node {
        Node {
            value: Value::Map(entries),
            pos: pos.clone(),
            tag: None,
        }
    }
    /// Is this the YAML null?
    pub fn is_null(&self) -> bool {
        matches!(&self.value, Value::Scalar { text, plain: true } if matches!(text.as_str(), "" | "~" | "null" | "Null" | "NULL"))
    }
    /// The mapping entries, if a mapping.
    pub fn as_map(&self) -> Option<&Vec<(String, Node)>> {
        match &self.value {
            Value::Map(m) => Some(m),
            _ => None,
        }
    }
    /// Look a key up in a mapping.
    pub fn get(&self, key: &str) -> Option<&Node> {
        self.as_map()?
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v)
    }
    /// The scalar text, if a scalar.
    pub fn scalar(&self) -> Option<&str> {
        match &self.value {
            Value::Scalar { text, .. } => Some(text),
            _ => None,
        }
    }
}

/// Decode one YAML document (an empty file gives an empty mapping).
pub fn decode(text: &str, file: &str) -> Result<Node> {
    let file: Arc<str> = Arc::from(file);
    let mut b = Builder {
        file: file.clone(),
        stack: Vec::new(),
        anchors: HashMap::new(),
        docs: Vec::new(),
        err: None,
    };
    let mut parser = Parser::new_from_str(text);
    if let Err(e) = parser.load(&mut b, false) {
        let m = e.marker();
        let pos = Pos {
            file,
            line: m.line(),
            col: m.col() + 1,
        };
        return Err(Error::new(
            ErrorKind::Syntax,
            Some(&pos),
            "",
            format!("YAML syntax error: {}", e.info()),
        ));
    }
    if let Some(e) = b.err {
        return Err(e);
    }
    let pos = Pos {
        file,
        line: 1,
        col: 1,
    };
    Ok(b.docs.into_iter().next().unwrap_or(Node {
        value: Value::Map(Vec::new()),
        pos,
        tag: None,
    }))
}

enum Frame {
    Seq {
        items: Vec<Node>,
        pos: Pos,
        anchor: usize,
        tag: Option<Tag>,
    },
    Map {
        entries: Vec<(String, Node)>,
        key: Option<(String, Pos)>,
        pos: Pos,
        anchor: usize,
        tag: Option<Tag>,
    },
}

struct Builder {
    file: Arc<str>,
    stack: Vec<Frame>,
    anchors: HashMap<usize, Node>,
    docs: Vec<Node>,
    err: Option<Error>,
}

fn tag_of(t: Option<yaml_rust2::parser::Tag>) -> std::result::Result<Option<Tag>, String> {
    match t {
        None => Ok(None),
        Some(t) if t.handle == "!" && t.suffix == "reset" => Ok(Some(Tag::Reset)),
        Some(t) if t.handle == "!" && t.suffix == "override" => Ok(Some(Tag::Override)),
        Some(t) if t.handle == "tag:yaml.org,2002:" => Ok(None),
        Some(t) => Err(format!("unsupported YAML tag {}{}", t.handle, t.suffix)),
    }
}

impl Builder {
    fn pos(&self, m: &Marker) -> Pos {
        Pos {
            file: self.file.clone(),
            line: m.line(),
            col: m.col() + 1,
        }
    }
    fn fail(&mut self, pos: &Pos, msg: String) {
        if self.err.is_none() {
            self.err = Some(Error::new(ErrorKind::Syntax, Some(pos), "", msg));
        }
    }
    fn push_value(&mut self, node: Node, anchor: usize) {
        if anchor > 0 {
            self.anchors.insert(anchor, node.clone());
        }
        match self.stack.last_mut() {
            None => self.docs.push(node),
            Some(Frame::Seq { items, .. }) => items.push(node),
            Some(Frame::Map { entries, key, .. }) => match key.take() {
                None => match &node.value {
                    Value::Scalar { text, .. } => *key = Some((text.clone(), node.pos.clone())),
                    _ => {
                        let p = node.pos.clone();
                        self.fail(&p, "mapping keys must be scalars".into());
                    }
                },
                Some((k, kpos)) => {
                    if k != "<<" && entries.iter().any(|(e, _)| *e == k) {
                        let msg = format!("duplicate key '{k}'");
                        self.fail(&kpos, msg);
                    } else {
                        entries.push((k, node));
                    }
                }
            },
        }
    }
}

/// Apply `<<` merge keys: explicit keys win, then earlier merged mappings win over later ones.
fn apply_merge_keys(
    entries: Vec<(String, Node)>,
) -> std::result::Result<Vec<(String, Node)>, (Pos, String)> {
    if !entries.iter().any(|(k, _)| k == "<<") {
        return Ok(entries);
    }
    let mut out: Vec<(String, Node)> = Vec::new();
    let mut merged: Vec<Node> = Vec::new();
    for (k, v) in entries {
        if k == "<<" {
            match v.value {
                Value::Map(_) => merged.push(v),
                Value::Seq(items) => merged.extend(items),
                _ => {
                    return Err((
                        v.pos,
                        "merge key '<<' needs a mapping or a sequence of mappings".into(),
                    ));
                }
            }
        } else {
            out.push((k, v));
        }
    }
    for m in merged {
        match m.value {
            Value::Map(es) => {
                for (k, v) in es {
                    if !out.iter().any(|(e, _)| *e == k) {
                        out.push((k, v));
                    }
                }
            }
            _ => return Err((m.pos, "merge key '<<' needs mappings".into())),
        }
    }
    Ok(out)
}

impl MarkedEventReceiver for Builder {
    fn on_event(&mut self, ev: Event, mark: Marker) {
        if self.err.is_some() {
            return;
        }
        let pos = self.pos(&mark);
        match ev {
            Event::Scalar(text, style, anchor, tag) => {
                let tag = match tag_of(tag) {
                    Ok(t) => t,
                    Err(m) => return self.fail(&pos, m),
                };
                let plain = style == TScalarStyle::Plain;
                self.push_value(
                    Node {
                        value: Value::Scalar { text, plain },
                        pos,
                        tag,
                    },
                    anchor,
                );
            }
            Event::SequenceStart(anchor, tag) => match tag_of(tag) {
                Ok(tag) => self.stack.push(Frame::Seq {
                    items: Vec::new(),
                    pos,
                    anchor,
                    tag,
                }),
                Err(m) => self.fail(&pos, m),
            },
            Event::MappingStart(anchor, tag) => match tag_of(tag) {
                Ok(tag) => self.stack.push(Frame::Map {
                    entries: Vec::new(),
                    key: None,
                    pos,
                    anchor,
                    tag,
                }),
                Err(m) => self.fail(&pos, m),
            },
            Event::SequenceEnd => {
                if let Some(Frame::Seq {
                    items,
                    pos,
                    anchor,
                    tag,
                }) = self.stack.pop()
                {
                    self.push_value(
                        Node {
                            value: Value::Seq(items),
                            pos,
                            tag,
                        },
                        anchor,
                    );
                }
            }
            Event::MappingEnd => {
                if let Some(Frame::Map {
                    entries,
                    pos,
                    anchor,
                    tag,
                    ..
                }) = self.stack.pop()
                {
                    match apply_merge_keys(entries) {
                        Ok(entries) => self.push_value(
                            Node {
                                value: Value::Map(entries),
                                pos,
                                tag,
                            },
                            anchor,
                        ),
                        Err((p, m)) => self.fail(&p, m),
                    }
                }
            }
            Event::Alias(id) => match self.anchors.get(&id).cloned() {
                Some(mut n) => {
                    n.pos = pos;
                    self.push_value(n, 0)
                }
                None => self.fail(&pos, "alias to an unknown anchor".into()),
            },
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_anchors_merge_tags() {
        let n = decode(
            "a: &x {p: 1, q: 2}\nb:\n  <<: *x\n  q: 3\nc: !reset []\n",
            "f.yml",
        )
        .expect("decode");
        let b = n.get("b").expect("b");
        assert_eq!(b.get("p").and_then(Node::scalar), Some("1"));
        assert_eq!(b.get("q").and_then(Node::scalar), Some("3"));
        assert_eq!(n.get("c").expect("c").tag, Some(Tag::Reset));
        assert_eq!(b.get("q").expect("q").pos.line, 4);
    }

    #[test]
    fn syntax_error_has_line() {
        let e = decode("a: 1\nb: [1, 2\n", "f.yml").expect_err("bad");
        assert_eq!(e.kind, ErrorKind::Syntax);
        assert!(e.pos.is_some());
        let e = decode("a: 1\na: 2\n", "f.yml").expect_err("dup");
        assert_eq!(e.pos.map(|p| p.line), Some(2));
    }
}
