//! Layer 1: Dockerfile text to a syntax tree with line ranges.
//!
//! This follows BuildKit's `frontend/dockerfile/parser` line by line in behaviour (not in code):
//! directives (`syntax`, `escape`, `check`) before the first instruction, a byte-order mark,
//! line continuations with the escape character, comment and empty lines inside
//! continuations, heredocs in `RUN`/`COPY`/`ADD` (also behind `ONBUILD`), JSON (exec) form with
//! the shell-form fallback, and the per-instruction argument splitting. It knows nothing about
//! what instructions mean: unknown instructions parse (they are rejected in
//! [`crate::instructions`]).

use crate::shell::{Lexer, LexerMode};
use serde::Serialize;

/// One heredoc attached to an instruction (`<<EOF ... EOF`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Heredoc {
    /// The delimiter word, without quotes.
    pub name: String,
    /// File descriptor prefix (`3<<EOF`), 0 when absent.
    pub file_descriptor: u32,
    /// Whether variables in the content are expanded (false when the delimiter was quoted).
    #[serde(skip)]
    pub expand: bool,
    /// `<<-`: leading tabs are stripped from the content and the terminator.
    #[serde(skip)]
    pub chomp: bool,
    /// The body, every line with its newline, unexpanded.
    pub content: String,
}

/// One instruction of the syntax tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    /// Instruction name as written (`FROM`, `from`, ...).
    pub cmd: String,
    /// `--name=value` flags before the arguments, as written (quotes removed).
    pub flags: Vec<String>,
    /// Arguments after the instruction-specific splitting (see BuildKit's line parsers).
    pub args: Vec<String>,
    /// The arguments were a JSON array (exec form).
    pub json: bool,
    /// For `ONBUILD`: the wrapped instruction.
    pub sub: Option<Box<Node>>,
    /// The logical line, continuations joined and comments removed.
    pub original: String,
    /// Heredocs following the instruction.
    pub heredocs: Vec<Heredoc>,
    /// First physical line (1-based).
    pub start_line: usize,
    /// Last physical line (1-based), including heredoc bodies.
    pub end_line: usize,
    /// Comment lines directly above the instruction.
    pub comments: Vec<String>,
}

impl Node {
    /// Lower-case instruction name.
    pub fn name(&self) -> String {
        self.cmd.to_lowercase()
    }
}

/// A parser directive found at the top of the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Directive {
    /// Lower-case name (`syntax`, `escape`, `check`).
    pub name: String,
    /// Value as written.
    pub value: String,
    /// 1-based line.
    pub line: usize,
}

/// A non-fatal finding (BuildKit prints these as warnings).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Warning {
    /// What was found.
    pub message: String,
    /// 1-based line.
    pub line: usize,
}

/// The parsed file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ast {
    /// Instructions in file order.
    pub children: Vec<Node>,
    /// Escape character in effect (`\` or `` ` ``).
    pub escape: char,
    /// Directives at the top of the file.
    pub directives: Vec<Directive>,
    /// Warnings (empty continuation lines).
    pub warnings: Vec<Warning>,
}

/// A syntax error with its position.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {message}")]
pub struct ParseError {
    /// 1-based line where the problem is (0 when the file as a whole is at fault).
    pub line: usize,
    /// 1-based column when known, else 0.
    pub column: usize,
    /// What is wrong.
    pub message: String,
}

impl ParseError {
    fn at(line: usize, message: impl Into<String>) -> Self {
        ParseError {
            line,
            column: 0,
            message: message.into(),
        }
    }
}

/// Go's `unicode.IsSpace`.
pub(crate) fn go_is_space(c: char) -> bool {
    matches!(
        c,
        '\t' | '\n' | '\u{0b}' | '\u{0c}' | '\r' | ' ' | '\u{85}' | '\u{a0}'
    ) || (c as u32 > 0xff && c.is_whitespace())
}

/// Characters of BuildKit's `reWhitespace` (`[\t\v\f\r ]`).
fn is_re_ws(c: char) -> bool {
    matches!(c, '\t' | '\u{0b}' | '\u{0c}' | '\r' | ' ')
}

/// `reWhitespace.Split(s, n)` with n = 2 (`limit2`) or unlimited.
fn split_re_ws(s: &str, limit2: bool) -> Vec<&str> {
    let mut out = Vec::new();
    let mut rest = s;
    loop {
        if limit2 && out.len() == 1 {
            out.push(rest);
            return out;
        }
        match rest.find(is_re_ws) {
            Some(i) => {
                out.push(&rest[..i]);
                let after = &rest[i..];
                let skip = after.len() - after.trim_start_matches(is_re_ws).len();
                rest = &after[skip..];
            }
            None => {
                out.push(rest);
                return out;
            }
        }
    }
}

fn trim_newline(s: &str) -> &str {
    s.trim_end_matches(['\r', '\n'])
}

fn trim_leading_ws(s: &str) -> &str {
    s.trim_start_matches(go_is_space)
}

fn is_comment(line: &str) -> bool {
    trim_leading_ws(line).starts_with('#')
}

/// BuildKit's directive regexp: `^#\s*([a-zA-Z][a-zA-Z0-9]*)\s*=\s*(.+?)\s*$` (Go `\s`).
fn match_directive(line: &str) -> Option<(String, String)> {
    let re_s = |c: char| matches!(c, '\t' | '\n' | '\u{0c}' | '\r' | ' ');
    let rest = line.strip_prefix('#')?;
    let rest = rest.trim_start_matches(re_s);
    let mut chars = rest.char_indices();
    let (_, first) = chars.next()?;
    if !first.is_ascii_alphabetic() {
        return None;
    }
    let end = rest
        .char_indices()
        .find(|(_, c)| !c.is_ascii_alphanumeric())
        .map(|(i, _)| i)
        .unwrap_or(rest.len());
    let name = &rest[..end];
    let rest = rest[end..].trim_start_matches(re_s);
    let rest = rest.strip_prefix('=')?;
    let value = rest.trim_start_matches(re_s).trim_end_matches(re_s);
    if value.is_empty() || value.contains('\n') {
        return None;
    }
    Some((name.to_string(), value.to_string()))
}

struct Directives {
    escape: char,
    done: bool,
    seen: Vec<String>,
    found: Vec<Directive>,
    line: usize,
}

impl Directives {
    fn new() -> Self {
        Directives {
            escape: '\\',
            done: false,
            seen: Vec::new(),
            found: Vec::new(),
            line: 0,
        }
    }

    /// Looks at one (trimmed) line; returns an error message for a bad or repeated directive.
    fn possible(&mut self, line: &str) -> Result<(), String> {
        self.line += 1;
        if self.done {
            return Ok(());
        }
        let Some((name, value)) = match_directive(line) else {
            self.done = true;
            return Ok(());
        };
        let k = name.to_lowercase();
        if !matches!(k.as_str(), "syntax" | "escape" | "check") {
            self.done = true;
            return Ok(());
        }
        if self.seen.contains(&k) {
            return Err(format!("only one {k} parser directive can be used"));
        }
        self.seen.push(k.clone());
        if k == "escape" {
            match value.as_str() {
                "`" => self.escape = '`',
                "\\" => self.escape = '\\',
                _ => {
                    return Err(format!(
                        "invalid escape token '{value}' does not match ` or \\"
                    ));
                }
            }
        }
        self.found.push(Directive {
            name: k,
            value,
            line: self.line,
        });
        Ok(())
    }

    /// BuildKit's continuation regexp: `([^E])E[ \t]*$|^E[ \t]*$`.
    fn trim_continuation<'a>(&self, line: &'a str) -> (&'a str, bool) {
        let t = line.trim_end_matches([' ', '\t']);
        if let Some(before) = t.strip_suffix(self.escape)
            && (before.is_empty() || !before.ends_with(self.escape))
        {
            return (before, false);
        }
        (line, true)
    }
}

/// Go's `bufio.Scanner` limit for one line.
const MAX_LINE: usize = 64 * 1024;

/// Splits into lines keeping their `\n`.
fn scan_lines(text: &str) -> Vec<&str> {
    text.split_inclusive('\n').collect()
}

/// Parses Dockerfile text into a syntax tree.
pub fn parse(text: &str) -> Result<Ast, ParseError> {
    let mut d = Directives::new();
    let mut lines = scan_lines(text);
    // bufio.Scanner stops with ErrTooLong at the first over-long line.
    let mut too_long = false;
    if let Some(pos) = lines
        .iter()
        .position(|l| l.len() > MAX_LINE || (!l.ends_with('\n') && l.len() >= MAX_LINE))
    {
        lines.truncate(pos);
        too_long = true;
    }
    let mut idx = 0usize;
    let mut current_line = 0usize;
    let mut children: Vec<Node> = Vec::new();
    let mut warnings = Vec::new();
    let mut comments: Vec<String> = Vec::new();
    while idx < lines.len() {
        let mut raw = lines[idx];
        idx += 1;
        if current_line == 0 {
            raw = raw.strip_prefix('\u{feff}').unwrap_or(raw);
        }
        if is_comment(raw) {
            let c = trim_leading_ws(raw)[1..]
                .trim_matches(go_is_space)
                .to_string();
            if c.is_empty() {
                comments.clear();
            } else {
                comments.push(c);
            }
        }
        let token = trim_leading_ws(trim_newline(raw));
        let before = d.found.len();
        if let Err(m) = d.possible(token) {
            return Err(ParseError::at(current_line, m));
        }
        if d.found.len() > before {
            comments.pop();
        }
        let processed = if is_comment(token) { "" } else { token };
        current_line += 1;
        let start_line = current_line;
        let (first, mut eol) = d.trim_continuation(processed);
        if eol && first.is_empty() {
            continue;
        }
        let mut buf = String::from(first);
        let mut empty_continuation = false;
        while !eol && idx < lines.len() {
            let raw = lines[idx];
            idx += 1;
            let token = trim_newline(raw);
            if let Err(m) = d.possible(token) {
                return Err(ParseError::at(current_line, m));
            }
            current_line += 1;
            if is_comment(raw) {
                continue;
            }
            if trim_leading_ws(token).is_empty() {
                empty_continuation = true;
                continue;
            }
            let (part, e) = d.trim_continuation(token);
            eol = e;
            buf.push_str(part);
        }
        if empty_continuation {
            warnings.push(Warning {
                message: format!("Empty continuation line found in: {buf}"),
                line: current_line,
            });
        }
        let mut child = node_from_line(&buf, &d).map_err(|m| ParseError::at(start_line, m))?;
        child.comments = std::mem::take(&mut comments);
        if can_contain_heredoc(&child) && buf.contains("<<") {
            let docs = heredocs_from_line(&buf).map_err(|m| ParseError::at(start_line, m))?;
            for mut doc in docs {
                let mut terminated = false;
                while idx < lines.len() {
                    let raw = lines[idx];
                    idx += 1;
                    current_line += 1;
                    let mut possible = trim_newline(raw);
                    if doc.chomp {
                        possible = possible.trim_start_matches('\t');
                    }
                    if possible == doc.name {
                        terminated = true;
                        break;
                    }
                    doc.content.push_str(raw);
                }
                if !terminated {
                    if too_long {
                        break;
                    }
                    return Err(ParseError::at(start_line, "unterminated heredoc"));
                }
                child.heredocs.push(doc);
            }
        }
        child.start_line = start_line;
        child.end_line = current_line;
        children.push(child);
    }
    if children.is_empty() {
        return Err(ParseError::at(current_line, "file with no instructions"));
    }
    if too_long {
        return Err(ParseError::at(
            current_line + 1,
            format!(
                "dockerfile line greater than max allowed size of {}",
                MAX_LINE - 1
            ),
        ));
    }
    Ok(Ast {
        children,
        escape: d.escape,
        directives: d.found,
        warnings,
    })
}

fn can_contain_heredoc(node: &Node) -> bool {
    let mut n = node;
    if n.name() == "onbuild"
        && let Some(sub) = &n.sub
    {
        n = sub;
    }
    matches!(n.name().as_str(), "add" | "copy" | "run") && !n.json
}

/// Finds heredoc words in a line the way BuildKit does (raw quotes and escapes, unset
/// variables kept).
fn heredocs_from_line(line: &str) -> Result<Vec<Heredoc>, String> {
    let lex = Lexer::new('\\');
    let mode = LexerMode {
        raw_quotes: true,
        raw_escapes: true,
        skip_unset_env: true,
        skip_process_quotes: false,
    };
    let words = lex
        .words_with_mode(line, &|_| None, mode)
        .unwrap_or_default();
    let mut docs = Vec::new();
    for word in words {
        if let Some(doc) = parse_heredoc(&word)? {
            docs.push(doc);
        }
    }
    Ok(docs)
}

/// Parses one word like `3<<-"EOF"` into a heredoc (BuildKit's `ParseHeredoc`).
pub fn parse_heredoc(word: &str) -> Result<Option<Heredoc>, String> {
    // ^(\d*)<<(-?)([^<]*)$
    let digits = word.len() - word.trim_start_matches(|c: char| c.is_ascii_digit()).len();
    let (fd_s, rest) = word.split_at(digits);
    let Some(rest) = rest.strip_prefix("<<") else {
        return Ok(None);
    };
    let (chomp, rest) = match rest.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, rest),
    };
    if rest.contains('<') || rest.is_empty() {
        return Ok(None);
    }
    let fd = if fd_s.is_empty() {
        0
    } else {
        fd_s.parse::<u32>().unwrap_or(0)
    };
    let lex = Lexer::new('\\');
    let mut mode = LexerMode {
        raw_quotes: false,
        raw_escapes: false,
        skip_unset_env: true,
        skip_process_quotes: false,
    };
    let words = lex
        .words_with_mode(rest, &|_| None, mode)
        .map_err(|e| e.to_string())?;
    if words.len() != 1 {
        return Ok(None);
    }
    mode.raw_quotes = true;
    let raw = lex
        .words_with_mode(rest, &|_| None, mode)
        .map_err(|e| e.to_string())?;
    if raw.len() != words.len() {
        return Err(format!(
            "internal lexing of heredoc produced inconsistent results: {rest}"
        ));
    }
    let count = |s: &str| s.matches(['\'', '"']).count();
    let expand = count(&words[0]) == count(&raw[0]);
    Ok(Some(Heredoc {
        name: words[0].clone(),
        file_descriptor: fd,
        expand,
        chomp,
        content: String::new(),
    }))
}

/// Splits the instruction name, flags and arguments and applies the instruction's line parser.
fn node_from_line(line: &str, d: &Directives) -> Result<Node, String> {
    let trimmed = line.trim_matches(go_is_space);
    let parts = split_re_ws(trimmed, true);
    let cmd = parts[0].to_string();
    let (args, flags) = if parts.len() == 2 {
        extract_builder_flags(parts[1])
    } else {
        (String::new(), Vec::new())
    };
    let args = args.trim_matches(go_is_space);
    let mut node = Node {
        cmd,
        flags,
        args: Vec::new(),
        json: false,
        sub: None,
        original: line.to_string(),
        heredocs: Vec::new(),
        start_line: 0,
        end_line: 0,
        comments: Vec::new(),
    };
    match node.name().as_str() {
        "add" | "copy" | "volume" => parse_maybe_json_to_list(args, &mut node)?,
        "arg" => node.args = parse_words(args, d.escape),
        "cmd" | "entrypoint" | "run" | "shell" => parse_maybe_json(args, &mut node)?,
        "env" => parse_name_val(args, "ENV", d, &mut node)?,
        "label" => parse_name_val(args, "LABEL", d, &mut node)?,
        "expose" | "from" => node.args = whitespace_delimited(args),
        "healthcheck" => parse_health(args, &mut node)?,
        "maintainer" | "stopsignal" | "user" | "workdir" => {
            if !args.is_empty() {
                node.args = vec![args.to_string()];
            }
        }
        "onbuild" => {
            if !args.is_empty() {
                node.sub = Some(Box::new(node_from_line(args, d)?));
            }
        }
        _ => node.args = vec![String::new()],
    }
    Ok(node)
}

fn whitespace_delimited(rest: &str) -> Vec<String> {
    if rest.is_empty() {
        return Vec::new();
    }
    split_re_ws(rest, false)
        .into_iter()
        .map(str::to_string)
        .collect()
}

const NOT_STRING_ARRAY: &str =
    "when using JSON array syntax, arrays must be comprised of strings only";

/// `Ok(Some)` for a JSON string array, `Ok(None)` to fall back to shell form.
fn parse_json(rest: &str) -> Result<Option<Vec<String>>, String> {
    let rest = rest.trim_start_matches(go_is_space);
    if !rest.starts_with('[') {
        return Ok(None);
    }
    // Go's json.Decoder reads one value and ignores what follows it.
    let mut stream = serde_json::Deserializer::from_str(rest).into_iter::<Vec<serde_json::Value>>();
    let Some(Ok(values)) = stream.next() else {
        return Ok(None);
    };
    let mut out = Vec::with_capacity(values.len());
    for v in values {
        match v {
            serde_json::Value::String(s) => out.push(s),
            _ => return Err(NOT_STRING_ARRAY.to_string()),
        }
    }
    Ok(Some(out))
}

fn parse_maybe_json(rest: &str, node: &mut Node) -> Result<(), String> {
    if rest.is_empty() {
        return Ok(());
    }
    match parse_json(rest)? {
        Some(v) => {
            node.args = v;
            node.json = true;
        }
        None => node.args = vec![rest.to_string()],
    }
    Ok(())
}

fn parse_maybe_json_to_list(rest: &str, node: &mut Node) -> Result<(), String> {
    match parse_json(rest)? {
        Some(v) => {
            node.args = v;
            node.json = true;
        }
        None => node.args = whitespace_delimited(rest),
    }
    Ok(())
}

fn parse_health(rest: &str, node: &mut Node) -> Result<(), String> {
    let is_sp = |b: u8| matches!(b, b'\t' | b'\n' | 0x0b | 0x0c | b'\r' | b' ');
    let bytes = rest.as_bytes();
    let sep = bytes.iter().position(|&b| is_sp(b)).unwrap_or(bytes.len());
    if sep == 0 {
        return Ok(());
    }
    let next = bytes[sep..]
        .iter()
        .position(|&b| !is_sp(b))
        .map(|p| sep + p)
        .unwrap_or(bytes.len());
    let mut sub = node.clone();
    sub.args.clear();
    parse_maybe_json(&rest[next..], &mut sub)?;
    node.json = sub.json;
    node.args = std::iter::once(rest[..sep].to_string())
        .chain(sub.args)
        .collect();
    Ok(())
}

fn parse_name_val(rest: &str, key: &str, d: &Directives, node: &mut Node) -> Result<(), String> {
    let words = parse_words(rest, d.escape);
    if words.is_empty() {
        return Ok(());
    }
    if !words[0].contains('=') {
        let parts = split_re_ws(rest, true);
        if parts.len() < 2 {
            return Err(format!("{key} must have two arguments"));
        }
        node.args = vec![parts[0].to_string(), parts[1].to_string()];
        return Ok(());
    }
    for w in words {
        let Some((k, v)) = w.split_once('=') else {
            return Err(format!(
                "Syntax error - can't find = in {w:?}. Must be of the form: name=value"
            ));
        };
        node.args.push(k.to_string());
        node.args.push(v.to_string());
    }
    Ok(())
}

/// BuildKit's `parseWords`: splits on spaces, keeps quotes and escapes in the words.
fn parse_words(rest: &str, escape: char) -> Vec<String> {
    #[derive(PartialEq)]
    enum Phase {
        Spaces,
        Word,
        Quote,
    }
    let chars: Vec<char> = rest.chars().collect();
    let mut words = Vec::new();
    let mut phase = Phase::Spaces;
    let mut word = String::new();
    let mut quote = '\0';
    let mut blank_ok = false;
    let mut pos = 0usize;
    loop {
        let at_end = pos >= chars.len();
        let mut ch = if at_end { '\0' } else { chars[pos] };
        if phase == Phase::Spaces {
            if at_end {
                break;
            }
            if go_is_space(ch) {
                pos += 1;
                continue;
            }
            phase = Phase::Word;
        }
        if at_end {
            if blank_ok || !word.is_empty() {
                words.push(word);
            }
            break;
        }
        if phase == Phase::Word {
            if go_is_space(ch) {
                phase = Phase::Spaces;
                if blank_ok || !word.is_empty() {
                    words.push(std::mem::take(&mut word));
                }
                blank_ok = false;
                pos += 1;
                continue;
            }
            if ch == '\'' || ch == '"' {
                quote = ch;
                blank_ok = true;
                phase = Phase::Quote;
            }
            if ch == escape {
                if pos + 1 == chars.len() {
                    pos += 1;
                    continue;
                }
                word.push(ch);
                pos += 1;
                ch = chars[pos];
            }
            word.push(ch);
            pos += 1;
            continue;
        }
        // in quote
        if ch == quote {
            phase = Phase::Word;
        }
        if ch == escape && quote != '\'' {
            if pos + 1 == chars.len() {
                phase = Phase::Word;
                pos += 1;
                continue;
            }
            pos += 1;
            word.push(ch);
            ch = chars[pos];
        }
        word.push(ch);
        pos += 1;
    }
    words
}

/// BuildKit's `extractBuilderFlags`: leading `--flag[=value]` words (byte-wise, quotes and
/// backslash escapes removed); returns the rest of the line and the flags.
fn extract_builder_flags(line: &str) -> (String, Vec<String>) {
    #[derive(PartialEq)]
    enum Phase {
        Spaces,
        Word,
        Quote,
    }
    let b = line.as_bytes();
    let mut words = Vec::new();
    let mut phase = Phase::Spaces;
    let mut word: Vec<u8> = Vec::new();
    let mut quote = 0u8;
    let mut blank_ok = false;
    let mut pos = 0usize;
    let is_sp = |c: u8| matches!(c, b'\t' | b'\n' | 0x0b | 0x0c | b'\r' | b' ' | 0x85 | 0xa0);
    // Go appends string(rune(byte)): bytes >= 0x80 become two-byte UTF-8 (Latin-1 view).
    let push = |w: &mut Vec<u8>, c: u8| {
        let mut buf = [0u8; 4];
        w.extend_from_slice(char::from(c).encode_utf8(&mut buf).as_bytes());
    };
    let to_s = |w: &[u8]| String::from_utf8_lossy(w).into_owned();
    while pos <= b.len() {
        let at_end = pos == b.len();
        let mut ch = if at_end { 0 } else { b[pos] };
        if phase == Phase::Spaces {
            if at_end {
                break;
            }
            if is_sp(ch) {
                pos += 1;
                continue;
            }
            if ch != b'-' || pos + 1 == b.len() || b[pos + 1] != b'-' {
                return (lossy_from(line, pos), words);
            }
            phase = Phase::Word;
        }
        if at_end {
            if word != b"--" && (blank_ok || !word.is_empty()) {
                words.push(to_s(&word));
            }
            break;
        }
        if phase == Phase::Word {
            if is_sp(ch) {
                phase = Phase::Spaces;
                if word == b"--" {
                    return (lossy_from(line, pos), words);
                }
                if blank_ok || !word.is_empty() {
                    words.push(to_s(&word));
                }
                word.clear();
                blank_ok = false;
                pos += 1;
                continue;
            }
            if ch == b'\'' || ch == b'"' {
                quote = ch;
                blank_ok = true;
                phase = Phase::Quote;
                pos += 1;
                continue;
            }
            if ch == b'\\' {
                if pos + 1 == b.len() {
                    pos += 1;
                    continue;
                }
                pos += 1;
                ch = b[pos];
            }
            push(&mut word, ch);
            pos += 1;
            continue;
        }
        if ch == quote {
            phase = Phase::Word;
            pos += 1;
            continue;
        }
        if ch == b'\\' {
            if pos + 1 == b.len() {
                phase = Phase::Word;
                pos += 1;
                continue;
            }
            pos += 1;
            ch = b[pos];
        }
        push(&mut word, ch);
        pos += 1;
    }
    (String::new(), words)
}

/// `line[pos..]`, tolerating a position inside a UTF-8 sequence (Go slices bytes).
fn lossy_from(line: &str, pos: usize) -> String {
    match line.get(pos..) {
        Some(s) => s.to_string(),
        None => String::from_utf8_lossy(&line.as_bytes()[pos..]).into_owned(),
    }
}

/// One instruction as BuildKit's parser (and PyPI's `dockerfile` package) reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Record {
    /// Instruction name as written (`null` when empty).
    pub cmd: Option<String>,
    /// For ONBUILD, the wrapped instruction's name as written.
    pub sub_cmd: Option<String>,
    /// Whether the arguments were written in JSON (exec) form.
    pub json: bool,
    /// The logical line; with heredocs, followed by their bodies and terminators.
    pub original: Option<String>,
    /// First line (1-based).
    pub start_line: usize,
    /// Last line (1-based).
    pub end_line: usize,
    /// Flags (`--x=y`) as written.
    pub flags: Vec<String>,
    /// Argument values.
    pub value: Vec<String>,
    /// Heredocs attached to the instruction.
    pub heredocs: Vec<Heredoc>,
}

impl Record {
    /// The record of one syntax-tree node.
    pub fn from_node(node: &Node) -> Record {
        let inner: &Node = match &node.sub {
            Some(sub) => sub,
            None => node,
        };
        let mut original = node.original.clone();
        if !inner.heredocs.is_empty() {
            original.push('\n');
            for h in &inner.heredocs {
                original.push_str(&h.content);
                original.push_str(&h.name);
                original.push('\n');
            }
        }
        let none_if_empty = |s: &str| (!s.is_empty()).then(|| s.to_string());
        Record {
            cmd: none_if_empty(&node.cmd),
            sub_cmd: node.sub.as_ref().and_then(|s| none_if_empty(&s.cmd)),
            json: inner.json,
            original: none_if_empty(&original),
            start_line: node.start_line,
            end_line: node.end_line,
            flags: node.flags.clone(),
            // A nested ONBUILD's value is its (empty-valued) child list node.
            value: if inner.sub.is_some() {
                vec![String::new()]
            } else {
                inner.args.clone()
            },
            heredocs: inner.heredocs.clone(),
        }
    }
}

/// Parses Dockerfile text into records like PyPI `dockerfile.parse_string`.
pub fn records(text: &str) -> Result<Vec<Record>, ParseError> {
    Ok(parse(text)?
        .children
        .iter()
        .map(Record::from_node)
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(text: &str) -> Vec<Record> {
        records(text).expect("parse")
    }

    #[test]
    fn continuation_and_comments() {
        let r = rec("FROM a\nRUN echo \\\n# c\n\n  hi\n");
        assert_eq!(r[1].value, vec!["echo   hi"]);
        assert_eq!((r[1].start_line, r[1].end_line), (2, 5));
    }

    #[test]
    fn flags_and_json() {
        let r = rec("COPY --from=x --chown=\"a b\" [\"a\", \"b\"]\n");
        assert_eq!(r[0].flags, vec!["--from=x", "--chown=a b"]);
        assert!(r[0].json);
        assert_eq!(r[0].value, vec!["a", "b"]);
    }

    #[test]
    fn heredoc_basic() {
        let r = rec("RUN <<EOF cat\nhi\nEOF\n");
        assert_eq!(r[0].heredocs.len(), 1);
        assert_eq!(r[0].heredocs[0].content, "hi\n");
        assert_eq!(r[0].original.as_deref(), Some("RUN <<EOF cat\nhi\nEOF\n"));
    }

    #[test]
    fn errors_have_lines() {
        let e = parse("FROM a\nRUN <<EOF\nx\n").expect_err("unterminated");
        assert_eq!(e.line, 2);
        let e = parse("FROM a\nENV x\n").expect_err("env");
        assert_eq!(e.line, 2);
        assert!(parse("\n# c\n").is_err());
    }

    #[test]
    fn escape_directive() {
        let a = parse("# escape=`\nFROM a\nRUN x `\n y\n").expect("parse");
        assert_eq!(a.escape, '`');
        assert_eq!(a.children[1].args, vec!["x  y"]);
    }
}
