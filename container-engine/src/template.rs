//! A subset of Go's `text/template`, enough for Docker's `--format` strings.
//!
//! Hand-written because no Rust crate implements Go templates over JSON values with Go's
//! printing rules (`map[k:v]`, `[a b]`, `<no value>`). Supported: text, `{{.A.B}}`,
//! `{{.}}`, `{{$var}}`/`{{$var.Field}}`, trim markers `{{-`/`-}}`, functions `json`,
//! `index`, `join`, `upper`, `lower`, `title`, `len`, `println`, `printf` (`%s`, `%d`,
//! `%v`, `%q`), pipes `a | f`, and the blocks `{{if}}`/`{{else}}`/`{{end}}`,
//! `{{range}}` (also `{{range $k, $v := …}}`) and `{{with}}`.

use crate::error::{Error, Result};
use serde_json::Value;

#[derive(Debug, Clone)]
enum Node {
    Text(String),
    Action(Pipeline),
    If(Pipeline, Vec<Node>, Vec<Node>),
    With(Pipeline, Vec<Node>, Vec<Node>),
    Range(
        Option<(String, Option<String>)>,
        Pipeline,
        Vec<Node>,
        Vec<Node>,
    ),
}

#[derive(Debug, Clone)]
struct Pipeline(Vec<Command>);

#[derive(Debug, Clone)]
struct Command(Vec<Arg>);

#[derive(Debug, Clone)]
enum Arg {
    Field(Vec<String>),
    Var(String, Vec<String>),
    Str(String),
    Num(f64),
    Bool(bool),
    Ident(String),
    Paren(Pipeline, Vec<String>),
}

/// A parsed template, to render many values with.
#[derive(Debug, Clone)]
pub struct Template {
    nodes: Vec<Node>,
}

impl Template {
    /// Parse `src`.
    pub fn parse(src: &str) -> Result<Self> {
        let tokens = lex(src)?;
        let mut pos = 0;
        let (nodes, end) = parse_nodes(&tokens, &mut pos)?;
        if let Some(end) = end {
            return Err(Error::Template(format!("unexpected {{{{{end}}}}}")));
        }
        Ok(Template { nodes })
    }

    /// Render with `dot` as `.`.
    pub fn render(&self, dot: &Value) -> Result<String> {
        let mut out = String::new();
        let mut vars = vec![("$".to_string(), dot.clone())];
        exec(&self.nodes, dot, &mut vars, &mut out)?;
        Ok(out)
    }
}

/// Parse and render in one go.
pub fn render(src: &str, dot: &Value) -> Result<String> {
    Template::parse(src)?.render(dot)
}

enum Tok {
    Text(String),
    Action(String),
}

fn lex(src: &str) -> Result<Vec<Tok>> {
    let mut toks = Vec::new();
    let mut rest = src;
    let mut trim_next = false;
    while !rest.is_empty() {
        match rest.find("{{") {
            None => {
                let t = if trim_next { rest.trim_start() } else { rest };
                toks.push(Tok::Text(t.to_string()));
                break;
            }
            Some(i) => {
                let mut text = &rest[..i];
                if trim_next {
                    text = text.trim_start();
                }
                let after = &rest[i + 2..];
                let trim_left = after.starts_with("- ") || after.starts_with("-\t");
                if trim_left {
                    text = text.trim_end();
                }
                if !text.is_empty() {
                    toks.push(Tok::Text(text.to_string()));
                }
                let inner_start = if trim_left { 1 } else { 0 };
                let close =
                    find_close(after).ok_or_else(|| Error::Template("unclosed action".into()))?;
                let mut inner = &after[inner_start..close];
                trim_next = false;
                if inner.ends_with(" -") || inner.ends_with("\t-") {
                    inner = &inner[..inner.len() - 1];
                    trim_next = true;
                }
                toks.push(Tok::Action(inner.trim().to_string()));
                rest = &after[close + 2..];
            }
        }
    }
    Ok(toks)
}

/// Find the `}}` closing an action, skipping string literals.
fn find_close(s: &str) -> Option<usize> {
    let b = s.as_bytes();
    let mut i = 0;
    let mut quote: Option<u8> = None;
    while i < b.len() {
        match quote {
            Some(q) => {
                if b[i] == b'\\' && q == b'"' {
                    i += 1;
                } else if b[i] == q {
                    quote = None;
                }
            }
            None => {
                if b[i] == b'"' || b[i] == b'`' {
                    quote = Some(b[i]);
                } else if b[i] == b'}' && b.get(i + 1) == Some(&b'}') {
                    return Some(i);
                }
            }
        }
        i += 1;
    }
    None
}

fn parse_nodes(toks: &[Tok], pos: &mut usize) -> Result<(Vec<Node>, Option<String>)> {
    let mut nodes = Vec::new();
    while *pos < toks.len() {
        let tok = &toks[*pos];
        *pos += 1;
        match tok {
            Tok::Text(t) => nodes.push(Node::Text(t.clone())),
            Tok::Action(a) => {
                if a.starts_with("/*") {
                    continue;
                }
                let (kw, rest) = split_keyword(a);
                match kw {
                    "end" | "else" => return Ok((nodes, Some(a.clone()))),
                    "if" | "with" => {
                        let pipe = parse_pipeline(rest)?;
                        let (body, end) = parse_nodes(toks, pos)?;
                        let (els, end) = match end.as_deref() {
                            Some("else") => parse_nodes(toks, pos)?,
                            Some(e) if e.starts_with("else if ") => {
                                // `{{else if X}}` is `{{else}}{{if X}}…{{end}}` sharing one end.
                                let cond = parse_pipeline(&e["else if ".len()..])?;
                                let (b2, end2) = parse_nodes(toks, pos)?;
                                let (e2, end3) = if end2.as_deref() == Some("else") {
                                    parse_nodes(toks, pos)?
                                } else {
                                    (Vec::new(), end2)
                                };
                                (vec![Node::If(cond, b2, e2)], end3)
                            }
                            _ => (Vec::new(), end),
                        };
                        if end.as_deref() != Some("end") {
                            return Err(Error::Template(format!(
                                "{{{{{kw}}}}} without {{{{end}}}}"
                            )));
                        }
                        nodes.push(if kw == "if" {
                            Node::If(pipe, body, els)
                        } else {
                            Node::With(pipe, body, els)
                        });
                    }
                    "range" => {
                        let (vars, rest) = match rest.split_once(":=") {
                            Some((v, r)) => {
                                let names: Vec<String> =
                                    v.split(',').map(|s| s.trim().to_string()).collect();
                                if names.iter().any(|n| !n.starts_with('$')) || names.len() > 2 {
                                    return Err(Error::Template(format!(
                                        "bad range variables {v}"
                                    )));
                                }
                                let mut it = names.into_iter();
                                let first = it.next().unwrap_or_default();
                                (Some((first, it.next())), r)
                            }
                            None => (None, rest),
                        };
                        let pipe = parse_pipeline(rest)?;
                        let (body, end) = parse_nodes(toks, pos)?;
                        let (els, end) = if end.as_deref() == Some("else") {
                            parse_nodes(toks, pos)?
                        } else {
                            (Vec::new(), end)
                        };
                        if end.as_deref() != Some("end") {
                            return Err(Error::Template("{{range}} without {{end}}".into()));
                        }
                        nodes.push(Node::Range(vars, pipe, body, els));
                    }
                    _ => nodes.push(Node::Action(parse_pipeline(a)?)),
                }
            }
        }
    }
    Ok((nodes, None))
}

fn split_keyword(a: &str) -> (&str, &str) {
    let kw_end = a.find(|c: char| c.is_whitespace()).unwrap_or(a.len());
    let kw = &a[..kw_end];
    match kw {
        "if" | "with" | "range" | "end" | "else" => (kw, a[kw_end..].trim()),
        _ => ("", a),
    }
}

fn parse_pipeline(src: &str) -> Result<Pipeline> {
    let words = split_words(src)?;
    let mut cmds = Vec::new();
    let mut cur = Vec::new();
    for w in words {
        if w == "|" {
            if cur.is_empty() {
                return Err(Error::Template(format!(
                    "missing command before | in {src:?}"
                )));
            }
            cmds.push(Command(std::mem::take(&mut cur)));
        } else {
            cur.push(parse_arg(&w)?);
        }
    }
    if cur.is_empty() {
        return Err(Error::Template(format!("missing value in {src:?}")));
    }
    cmds.push(Command(cur));
    Ok(Pipeline(cmds))
}

fn split_words(src: &str) -> Result<Vec<String>> {
    let mut words = Vec::new();
    let chars: Vec<char> = src.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c.is_whitespace() {
            i += 1;
        } else if c == '"' || c == '`' {
            let mut j = i + 1;
            while j < chars.len() && chars[j] != c {
                if c == '"' && chars[j] == '\\' {
                    j += 1;
                }
                j += 1;
            }
            if j >= chars.len() {
                return Err(Error::Template(format!("unterminated string in {src:?}")));
            }
            words.push(chars[i..=j].iter().collect());
            i = j + 1;
        } else if c == '(' {
            let mut depth = 0;
            let mut j = i;
            while j < chars.len() {
                if chars[j] == '(' {
                    depth += 1;
                } else if chars[j] == ')' {
                    depth -= 1;
                    if depth == 0 {
                        break;
                    }
                }
                j += 1;
            }
            if j >= chars.len() {
                return Err(Error::Template(format!("unclosed ( in {src:?}")));
            }
            // a trailing field chain: (x).A.B
            let mut k = j + 1;
            while k < chars.len() && !chars[k].is_whitespace() && chars[k] != '|' {
                k += 1;
            }
            words.push(chars[i..k].iter().collect());
            i = k;
        } else if c == '|' {
            words.push("|".into());
            i += 1;
        } else {
            let mut j = i;
            while j < chars.len() && !chars[j].is_whitespace() && chars[j] != '|' {
                j += 1;
            }
            words.push(chars[i..j].iter().collect());
            i = j;
        }
    }
    Ok(words)
}

fn field_path(s: &str) -> Vec<String> {
    s.split('.')
        .filter(|p| !p.is_empty())
        .map(String::from)
        .collect()
}

fn parse_arg(w: &str) -> Result<Arg> {
    if w.starts_with('"') {
        let s: String =
            serde_json::from_str(w).map_err(|e| Error::Template(format!("bad string {w}: {e}")))?;
        return Ok(Arg::Str(s));
    }
    if let Some(s) = w.strip_prefix('`') {
        return Ok(Arg::Str(s.trim_end_matches('`').to_string()));
    }
    if w.starts_with('(') {
        let close = w.rfind(')').unwrap_or(w.len() - 1);
        let inner = parse_pipeline(&w[1..close])?;
        return Ok(Arg::Paren(inner, field_path(&w[close + 1..])));
    }
    if w.starts_with('.') {
        return Ok(Arg::Field(field_path(w)));
    }
    if w.starts_with('$') {
        let (name, path) = match w.find('.') {
            Some(i) => (&w[..i], &w[i..]),
            None => (w, ""),
        };
        return Ok(Arg::Var(name.to_string(), field_path(path)));
    }
    if w == "true" || w == "false" {
        return Ok(Arg::Bool(w == "true"));
    }
    if let Ok(n) = w.parse::<f64>() {
        return Ok(Arg::Num(n));
    }
    if w.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        return Ok(Arg::Ident(w.to_string()));
    }
    Err(Error::Template(format!("unexpected {w:?}")))
}

fn lookup(mut v: Value, path: &[String]) -> Result<Value> {
    for p in path {
        v = match v {
            Value::Object(mut m) => match m.remove(p.as_str()) {
                Some(x) => x,
                None => {
                    // Docker's ps/images rows use `ID`, inspect uses `Id`: accept either case.
                    let key = m.keys().find(|k| k.eq_ignore_ascii_case(p)).cloned();
                    match key.and_then(|k| m.remove(&k)) {
                        Some(x) => x,
                        None => Value::Null,
                    }
                }
            },
            Value::Null => Value::Null,
            other => {
                return Err(Error::Template(format!(
                    "can't evaluate field {p} in type {}",
                    go_type(&other)
                )));
            }
        };
    }
    Ok(v)
}

fn go_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "<nil>",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "slice",
        Value::Object(_) => "map",
    }
}

type Vars = Vec<(String, Value)>;

fn eval_arg(arg: &Arg, dot: &Value, vars: &mut Vars) -> Result<Value> {
    match arg {
        Arg::Field(p) => lookup(dot.clone(), p),
        Arg::Var(name, p) => {
            let v = vars
                .iter()
                .rev()
                .find(|(n, _)| n == name)
                .map(|(_, v)| v.clone())
                .ok_or_else(|| Error::Template(format!("undefined variable: {name}")))?;
            lookup(v, p)
        }
        Arg::Str(s) => Ok(Value::String(s.clone())),
        Arg::Num(n) => Ok(serde_json::Number::from_f64(*n)
            .map(|n| {
                if let Some(i) = n.as_f64().filter(|f| f.fract() == 0.0) {
                    Value::from(i as i64)
                } else {
                    Value::Number(n)
                }
            })
            .unwrap_or(Value::Null)),
        Arg::Bool(b) => Ok(Value::Bool(*b)),
        Arg::Ident(name) => call(name, &[], dot),
        Arg::Paren(p, path) => {
            let v = eval_pipeline(p, dot, vars)?;
            lookup(v, path)
        }
    }
}

fn eval_pipeline(p: &Pipeline, dot: &Value, vars: &mut Vars) -> Result<Value> {
    let mut prev: Option<Value> = None;
    for cmd in &p.0 {
        let first = &cmd.0[0];
        let v = match first {
            Arg::Ident(name) => {
                let mut args = Vec::new();
                for a in &cmd.0[1..] {
                    args.push(eval_arg(a, dot, vars)?);
                }
                if let Some(pv) = prev.take() {
                    args.push(pv);
                }
                call(name, &args, dot)?
            }
            other => {
                if cmd.0.len() > 1 || prev.is_some() {
                    return Err(Error::Template(
                        "can't give argument to non-function".into(),
                    ));
                }
                eval_arg(other, dot, vars)?
            }
        };
        prev = Some(v);
    }
    Ok(prev.unwrap_or(Value::Null))
}

fn call(name: &str, args: &[Value], _dot: &Value) -> Result<Value> {
    let need = |n: usize| -> Result<()> {
        if args.len() == n {
            Ok(())
        } else {
            Err(Error::Template(format!(
                "wrong number of args for {name}: want {n} got {}",
                args.len()
            )))
        }
    };
    Ok(match name {
        "json" => {
            need(1)?;
            Value::String(serde_json::to_string(&args[0]).unwrap_or_default())
        }
        "upper" => {
            need(1)?;
            Value::String(go_string(&args[0]).to_uppercase())
        }
        "lower" => {
            need(1)?;
            Value::String(go_string(&args[0]).to_lowercase())
        }
        "title" => {
            need(1)?;
            let s = go_string(&args[0]);
            let mut c = s.chars();
            Value::String(match c.next() {
                Some(f) => f.to_uppercase().collect::<String>() + c.as_str(),
                None => String::new(),
            })
        }
        "len" => {
            need(1)?;
            Value::from(match &args[0] {
                Value::Array(a) => a.len(),
                Value::Object(m) => m.len(),
                Value::String(s) => s.len(),
                Value::Null => 0,
                other => {
                    return Err(Error::Template(format!("len of {}", go_type(other))));
                }
            })
        }
        "join" => {
            need(2)?;
            let sep = go_string(&args[1]);
            match &args[0] {
                Value::Array(a) => {
                    Value::String(a.iter().map(go_string).collect::<Vec<_>>().join(&sep))
                }
                Value::Null => Value::String(String::new()),
                other => return Err(Error::Template(format!("join of {}", go_type(other)))),
            }
        }
        "index" => {
            if args.is_empty() {
                return Err(Error::Template("index needs arguments".into()));
            }
            let mut v = args[0].clone();
            for k in &args[1..] {
                v = match (&v, k) {
                    (Value::Array(a), Value::Number(n)) => n
                        .as_u64()
                        .and_then(|i| a.get(i as usize).cloned())
                        .ok_or_else(|| Error::Template(format!("index out of range: {n}")))?,
                    (Value::Object(m), Value::String(s)) => {
                        m.get(s).cloned().unwrap_or(Value::Null)
                    }
                    (Value::Null, _) => Value::Null,
                    _ => return Err(Error::Template("can't index item".into())),
                };
            }
            v
        }
        "println" => Value::String(args.iter().map(go_string).collect::<Vec<_>>().join(" ") + "\n"),
        "print" => Value::String(args.iter().map(go_string).collect::<Vec<_>>().join("")),
        "printf" => {
            if args.is_empty() {
                return Err(Error::Template("printf needs a format".into()));
            }
            Value::String(printf(&go_string(&args[0]), &args[1..]))
        }
        "not" => {
            need(1)?;
            Value::Bool(!truthy(&args[0]))
        }
        "eq" => {
            need(2)?;
            Value::Bool(args[0] == args[1])
        }
        "ne" => {
            need(2)?;
            Value::Bool(args[0] != args[1])
        }
        _ => return Err(Error::Template(format!("function \"{name}\" not defined"))),
    })
}

fn printf(fmt: &str, args: &[Value]) -> String {
    let mut out = String::new();
    let mut it = args.iter();
    let mut chars = fmt.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('%') => out.push('%'),
            Some('q') => out.push_str(
                &serde_json::to_string(&go_string(it.next().unwrap_or(&Value::Null)))
                    .unwrap_or_default(),
            ),
            Some(_) => out.push_str(&go_string(it.next().unwrap_or(&Value::Null))),
            None => out.push('%'),
        }
    }
    out
}

fn truthy(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64().is_some_and(|f| f != 0.0),
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => !a.is_empty(),
        Value::Object(m) => !m.is_empty(),
    }
}

/// Print a value the way Go's `fmt.Print` prints the corresponding Go value.
pub fn go_string(v: &Value) -> String {
    match v {
        Value::Null => "<no value>".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => s.clone(),
        Value::Array(a) => format!(
            "[{}]",
            a.iter().map(go_string).collect::<Vec<_>>().join(" ")
        ),
        Value::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            format!(
                "map[{}]",
                keys.iter()
                    .map(|k| format!("{k}:{}", go_string(&m[k.as_str()])))
                    .collect::<Vec<_>>()
                    .join(" ")
            )
        }
    }
}

fn exec(nodes: &[Node], dot: &Value, vars: &mut Vars, out: &mut String) -> Result<()> {
    for n in nodes {
        match n {
            Node::Text(t) => out.push_str(t),
            Node::Action(p) => {
                let v = eval_pipeline(p, dot, vars)?;
                out.push_str(&go_string(&v));
            }
            Node::If(p, body, els) => {
                let v = eval_pipeline(p, dot, vars)?;
                if truthy(&v) {
                    exec(body, dot, vars, out)?;
                } else {
                    exec(els, dot, vars, out)?;
                }
            }
            Node::With(p, body, els) => {
                let v = eval_pipeline(p, dot, vars)?;
                if truthy(&v) {
                    exec(body, &v, vars, out)?;
                } else {
                    exec(els, dot, vars, out)?;
                }
            }
            Node::Range(names, p, body, els) => {
                let v = eval_pipeline(p, dot, vars)?;
                let items: Vec<(Value, Value)> = match v {
                    Value::Array(a) => a
                        .into_iter()
                        .enumerate()
                        .map(|(i, x)| (Value::from(i), x))
                        .collect(),
                    Value::Object(m) => {
                        let mut kv: Vec<(String, Value)> = m.into_iter().collect();
                        kv.sort_by(|a, b| a.0.cmp(&b.0));
                        kv.into_iter().map(|(k, x)| (Value::String(k), x)).collect()
                    }
                    Value::Null => Vec::new(),
                    other => {
                        return Err(Error::Template(format!(
                            "range can't iterate over {}",
                            go_string(&other)
                        )));
                    }
                };
                if items.is_empty() {
                    exec(els, dot, vars, out)?;
                }
                for (k, x) in items {
                    let mark = vars.len();
                    match names {
                        Some((a, Some(b))) => {
                            vars.push((a.clone(), k));
                            vars.push((b.clone(), x.clone()));
                        }
                        Some((a, None)) => vars.push((a.clone(), x.clone())),
                        None => {}
                    }
                    exec(body, &x, vars, out)?;
                    vars.truncate(mark);
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn doc() -> Value {
        json!({
            "Id": "abc123",
            "State": {"Status": "running", "Pid": 42, "Running": true},
            "Config": {"Env": ["A=1", "B=2"], "Labels": {"x": "y"}},
            "NetworkSettings": {"Ports": {"80/tcp": [{"HostIp": "127.0.0.1", "HostPort": "8080"}]}}
        })
    }

    #[test]
    fn fields_and_json() {
        assert_eq!(render("{{.Id}}", &doc()).expect("r"), "abc123");
        assert_eq!(
            render("{{.State.Status}} {{.State.Pid}}", &doc()).expect("r"),
            "running 42"
        );
        assert_eq!(
            render("{{json .Config.Labels}}", &doc()).expect("r"),
            r#"{"x":"y"}"#
        );
        assert_eq!(render("{{.Config.Env}}", &doc()).expect("r"), "[A=1 B=2]");
        assert_eq!(render("{{.Config.Labels}}", &doc()).expect("r"), "map[x:y]");
        assert_eq!(render("{{.Nope}}", &doc()).expect("r"), "<no value>");
        assert_eq!(
            render("{{.State.Status | upper}}", &doc()).expect("r"),
            "RUNNING"
        );
    }

    #[test]
    fn blocks() {
        assert_eq!(
            render("{{range .Config.Env}}[{{.}}]{{end}}", &doc()).expect("r"),
            "[A=1][B=2]"
        );
        assert_eq!(
            render("{{if .State.Running}}up{{else}}down{{end}}", &doc()).expect("r"),
            "up"
        );
        assert_eq!(
            render(
                "{{range $p, $c := .NetworkSettings.Ports}}{{$p}} -> {{(index $c 0).HostPort}}{{end}}",
                &doc()
            )
            .expect("r"),
            "80/tcp -> 8080"
        );
        assert_eq!(
            render("{{index .Config.Labels \"x\"}}", &doc()).expect("r"),
            "y"
        );
        assert_eq!(
            render("{{join .Config.Env \",\"}}", &doc()).expect("r"),
            "A=1,B=2"
        );
        assert_eq!(render("a {{- \" b \" -}} c", &doc()).expect("r"), "a b c");
    }

    #[test]
    fn errors() {
        assert!(render("{{.Id", &doc()).is_err());
        assert!(render("{{if .Id}}x", &doc()).is_err());
        assert!(render("{{nofunc .Id}}", &doc()).is_err());
        assert!(render("{{end}}", &doc()).is_err());
    }
}
