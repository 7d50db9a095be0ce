//! Stage 5, merge: several `-f` files (and `extends`) merged by the compose-spec rules:
//! mappings merge, sequences append, with the documented exceptions (commands replace,
//! `environment`/`labels`/... merge by key, `ports` de-duplicate, `volumes`/`secrets`/`configs`
//! merge by target) and the `!reset` / `!override` tags.

use crate::yaml::{Node, Tag, Value};

/// Merge a whole file `over` onto `base` (top level).
pub fn merge_files(base: Node, over: Node) -> Node {
    merge_at(base, over, "")
}

/// Merge two service definitions.
pub fn merge_service(base: Node, over: Node) -> Node {
    merge_at(base, over, "services.*")
}

fn child_path(path: &str, key: &str) -> String {
    match path {
        "" => key.to_string(),
        "services" => "services.*".to_string(),
        p => format!("{p}.{key}"),
    }
}

fn node_eq(a: &Node, b: &Node) -> bool {
    match (&a.value, &b.value) {
        (Value::Scalar { text: x, .. }, Value::Scalar { text: y, .. }) => x == y,
        (Value::Seq(x), Value::Seq(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(a, b)| node_eq(a, b))
        }
        (Value::Map(x), Value::Map(y)) => {
            x.len() == y.len()
                && x.iter()
                    .zip(y)
                    .all(|((k1, a), (k2, b))| k1 == k2 && node_eq(a, b))
        }
        _ => false,
    }
}

/// `KEY=V` list → mapping node (for list-or-dict keys).
fn to_dict(n: Node, sep: char) -> Node {
    match n.value {
        Value::Seq(items) => {
            let mut entries: Vec<(String, Node)> = Vec::new();
            for it in items {
                let (k, v) = match it.scalar() {
                    Some(s) => match s.split_once(sep) {
                        Some((k, v)) => (k.to_string(), Node::str(v, &it.pos)),
                        None => (
                            s.to_string(),
                            Node {
                                value: Value::Scalar {
                                    text: "null".into(),
                                    plain: true,
                                },
                                pos: it.pos.clone(),
                                tag: None,
                            },
                        ),
                    },
                    None => continue,
                };
                entries.retain(|(e, _)| *e != k);
                entries.push((k, v));
            }
            Node {
                value: Value::Map(entries),
                pos: n.pos,
                tag: n.tag,
            }
        }
        _ => n,
    }
}

/// List of names → mapping of name → null (depends_on, networks).
fn names_to_map(n: Node) -> Node {
    match n.value {
        Value::Seq(items) => {
            let entries = items
                .into_iter()
                .filter_map(|it| {
                    let k = it.scalar()?.to_string();
                    Some((
                        k,
                        Node {
                            value: Value::Scalar {
                                text: "null".into(),
                                plain: true,
                            },
                            pos: it.pos,
                            tag: None,
                        },
                    ))
                })
                .collect();
            Node {
                value: Value::Map(entries),
                pos: n.pos,
                tag: n.tag,
            }
        }
        _ => n,
    }
}

/// The target of a mount-like entry (short `src:dst[:mode]`, or long `target:`).
fn mount_key(n: &Node, kind: &str) -> Option<String> {
    match &n.value {
        Value::Scalar { text, .. } => match kind {
            "volumes" | "devices" => {
                let parts: Vec<&str> = text.split(':').collect();
                Some(if parts.len() >= 2 {
                    parts[1].to_string()
                } else {
                    parts[0].to_string()
                })
            }
            _ => Some(text.clone()),
        },
        Value::Map(_) => n
            .get("target")
            .or_else(|| n.get("source"))
            .and_then(Node::scalar)
            .map(str::to_string),
        _ => None,
    }
}

/// Normalize a service-level value into the shape used for merging.
fn shape(key_path: &str, n: Node) -> Node {
    match key_path {
        "services.*.environment"
        | "services.*.labels"
        | "services.*.sysctls"
        | "services.*.build.args"
        | "services.*.build.labels"
        | "services.*.deploy.labels"
        | "services.*.logging.options" => to_dict(n, '='),
        "services.*.extra_hosts" => to_dict(n, ':'),
        "services.*.depends_on" | "services.*.networks" => names_to_map(n),
        "services.*.build" => match n.value {
            Value::Scalar { .. } => Node::map(
                vec![(
                    "context".into(),
                    Node {
                        tag: None,
                        ..n.clone()
                    },
                )],
                &n.pos,
            ),
            _ => n,
        },
        _ => n,
    }
}

fn strip_reset(n: Node) -> Option<Node> {
    if n.tag == Some(Tag::Reset) {
        return None;
    }
    Some(match n.value {
        Value::Map(es) => Node {
            value: Value::Map(
                es.into_iter()
                    .filter_map(|(k, v)| strip_reset(v).map(|v| (k, v)))
                    .collect(),
            ),
            ..n
        },
        Value::Seq(items) => Node {
            value: Value::Seq(items.into_iter().filter_map(strip_reset).collect()),
            ..n
        },
        _ => n,
    })
}

/// Remove `!reset` nodes left without a base.
pub fn finish(n: Node) -> Node {
    strip_reset(n).unwrap_or_else(|| Node::map(Vec::new(), &crate::error::Pos::default()))
}

fn merge_at(base: Node, over: Node, path: &str) -> Node {
    if over.tag == Some(Tag::Override) {
        return over;
    }
    let base = shape(path, base);
    let over = shape(path, over);
    let replace = matches!(
        path,
        "services.*.command" | "services.*.entrypoint" | "services.*.healthcheck.test"
    );
    match (base.value, over.value) {
        (_, ov) if replace => Node {
            value: ov,
            pos: over.pos,
            tag: over.tag,
        },
        (Value::Map(mut be), Value::Map(oe)) => {
            for (k, v) in oe {
                let cp = child_path(path, &k);
                if v.tag == Some(Tag::Reset) {
                    be.retain(|(e, _)| *e != k);
                    continue;
                }
                match be.iter().position(|(e, _)| *e == k) {
                    Some(i) => {
                        let old = be.remove(i).1;
                        be.insert(i, (k, merge_at(old, v, &cp)));
                    }
                    None => be.push((k, v)),
                }
            }
            Node {
                value: Value::Map(be),
                pos: base.pos,
                tag: None,
            }
        }
        (Value::Seq(mut bs), Value::Seq(os)) => {
            let last = path.rsplit('.').next().unwrap_or("");
            let by_target = path.starts_with("services.*.")
                && matches!(last, "volumes" | "secrets" | "configs" | "devices");
            let unique = path.starts_with("services.*.")
                && matches!(
                    last,
                    "ports"
                        | "expose"
                        | "dns"
                        | "dns_search"
                        | "tmpfs"
                        | "cap_add"
                        | "cap_drop"
                        | "external_links"
                        | "links"
                        | "security_opt"
                        | "profiles"
                        | "env_file"
                        | "volumes_from"
                );
            for o in os {
                if by_target {
                    let key = mount_key(&o, last);
                    if let Some(i) = bs
                        .iter()
                        .position(|b| key.is_some() && mount_key(b, last) == key)
                    {
                        bs[i] = o;
                        continue;
                    }
                } else if unique && bs.iter().any(|b| node_eq(b, &o)) {
                    continue;
                }
                bs.push(o);
            }
            Node {
                value: Value::Seq(bs),
                pos: base.pos,
                tag: None,
            }
        }
        (_, ov) => Node {
            value: ov,
            pos: over.pos,
            tag: over.tag,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::yaml::decode;

    #[test]
    fn spec_rules() {
        let a = decode("services:\n  w:\n    image: a\n    command: [x, y]\n    environment: [A=1, B=2]\n    ports: ['80:80']\n    volumes: ['d:/data', './s:/src']\n    labels: {l: 1}\n", "a").expect("a");
        let b = decode("services:\n  w:\n    image: b\n    command: [z]\n    environment: {B: 3, C: 4}\n    ports: ['80:80', '443:443']\n    volumes: ['e:/data']\n    labels: !reset {}\n", "b").expect("b");
        let m = finish(merge_files(a, b));
        let w = m.get("services").and_then(|s| s.get("w")).expect("w");
        assert_eq!(w.get("image").and_then(Node::scalar), Some("b"));
        let cmd: Vec<_> = match &w.get("command").expect("c").value {
            Value::Seq(s) => s.iter().filter_map(Node::scalar).collect(),
            _ => vec![],
        };
        assert_eq!(cmd, vec!["z"]);
        let env = w.get("environment").expect("env");
        assert_eq!(env.get("A").and_then(Node::scalar), Some("1"));
        assert_eq!(env.get("B").and_then(Node::scalar), Some("3"));
        match &w.get("ports").expect("p").value {
            Value::Seq(s) => assert_eq!(s.len(), 2),
            _ => panic!("ports"),
        }
        match &w.get("volumes").expect("v").value {
            Value::Seq(s) => {
                assert_eq!(s.len(), 2);
                assert_eq!(s[0].scalar(), Some("e:/data"));
            }
            _ => panic!("volumes"),
        }
        assert!(w.get("labels").is_none());
    }
}
