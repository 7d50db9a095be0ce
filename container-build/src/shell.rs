//! Layer 3: the shell-word lexer that expands variables in instruction arguments.
//!
//! Same rules as BuildKit's `frontend/dockerfile/shell` (which mimics POSIX sh in a small
//! subset): single quotes literal; double quotes with `\"`, `\$` and `\\` escapes; `$v`,
//! `${v}`, `${v:-w} ${v-w} ${v:+w} ${v+w} ${v:?m} ${v?m} ${v#p} ${v##p} ${v%p} ${v%%p}
//! ${v/p/r} ${v//p/r}`; word splitting after expansion only on unquoted text.

/// What went wrong while expanding.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("failed to process {source_text:?}: {message}")]
pub struct ShellError {
    /// The text being processed.
    pub source_text: String,
    /// The problem.
    pub message: String,
}

/// Switches of BuildKit's lexer used by the parser (heredoc detection) and the builder.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LexerMode {
    /// Keep quote characters in the output.
    pub raw_quotes: bool,
    /// Keep escape characters in the output.
    pub raw_escapes: bool,
    /// Leave references to unset variables as written.
    pub skip_unset_env: bool,
    /// Treat quotes as ordinary characters.
    pub skip_process_quotes: bool,
}

/// Variable lookup: `Some(value)` when set.
pub type Env<'a> = &'a dyn Fn(&str) -> Option<String>;

/// A lexer with an escape character (`\` or `` ` ``).
#[derive(Debug, Clone, Copy)]
pub struct Lexer {
    escape: char,
}

impl Lexer {
    /// A lexer using `escape` as escape character.
    pub fn new(escape: char) -> Self {
        Lexer { escape }
    }

    /// Expands `text` into one string (spaces between words kept).
    pub fn process_word(&self, text: &str, env: Env<'_>) -> Result<String, ShellError> {
        Ok(self.process(text, env, LexerMode::default())?.0)
    }

    /// Expands `text` and splits it into words (quoted spaces do not split).
    pub fn process_words(&self, text: &str, env: Env<'_>) -> Result<Vec<String>, ShellError> {
        Ok(self.process(text, env, LexerMode::default())?.1)
    }

    /// [`Lexer::process_words`] with explicit switches.
    pub fn words_with_mode(
        &self,
        text: &str,
        env: Env<'_>,
        mode: LexerMode,
    ) -> Result<Vec<String>, ShellError> {
        Ok(self.process(text, env, mode)?.1)
    }

    /// Expands `text`, returning the joined word and the split words.
    pub fn process(
        &self,
        text: &str,
        env: Env<'_>,
        mode: LexerMode,
    ) -> Result<(String, Vec<String>), ShellError> {
        let mut sw = ShellWord {
            chars: text.chars().collect(),
            pos: 0,
            env,
            escape: self.escape,
            mode,
        };
        sw.process_stop_on(None, mode.raw_escapes)
            .map_err(|message| ShellError {
                source_text: text.to_string(),
                message,
            })
    }
}

struct ShellWord<'a> {
    chars: Vec<char>,
    pos: usize,
    env: Env<'a>,
    escape: char,
    mode: LexerMode,
}

#[derive(Default)]
struct Words {
    word: String,
    words: Vec<String>,
    in_word: bool,
}

impl Words {
    fn add_char(&mut self, ch: char) {
        if crate::parser::go_is_space(ch) {
            if self.in_word && !self.word.is_empty() {
                self.words.push(std::mem::take(&mut self.word));
                self.in_word = false;
            }
        } else {
            self.add_raw_char(ch);
        }
    }
    fn add_raw_char(&mut self, ch: char) {
        self.word.push(ch);
        self.in_word = true;
    }
    fn add_string(&mut self, s: &str) {
        for c in s.chars() {
            self.add_char(c);
        }
    }
    fn add_raw_string(&mut self, s: &str) {
        self.word.push_str(s);
        self.in_word = true;
    }
    fn get_words(mut self) -> Vec<String> {
        if !self.word.is_empty() {
            self.words.push(std::mem::take(&mut self.word));
        }
        self.words
    }
}

impl ShellWord<'_> {
    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }
    fn next(&mut self) -> Option<char> {
        let c = self.chars.get(self.pos).copied();
        if c.is_some() {
            self.pos += 1;
        }
        c
    }

    fn get_env(&self, name: &str) -> Option<String> {
        (self.env)(name)
    }

    fn process_stop_on(
        &mut self,
        stop: Option<char>,
        raw_escapes: bool,
    ) -> Result<(String, Vec<String>), String> {
        let saved = self.mode.raw_escapes;
        self.mode.raw_escapes = raw_escapes;
        let r = self.process_stop_on_inner(stop);
        self.mode.raw_escapes = saved;
        r
    }

    fn process_stop_on_inner(
        &mut self,
        stop: Option<char>,
    ) -> Result<(String, Vec<String>), String> {
        let mut result = String::new();
        let mut words = Words::default();
        while let Some(ch) = self.peek() {
            if stop == Some(ch) {
                self.next();
                return Ok((result, words.get_words()));
            }
            let special =
                ch == '$' || (!self.mode.skip_process_quotes && (ch == '\'' || ch == '"'));
            if special {
                let tmp = match ch {
                    '$' => self.process_dollar()?,
                    '\'' => self.process_single_quote()?,
                    _ => self.process_double_quote()?,
                };
                result.push_str(&tmp);
                if ch == '$' {
                    words.add_string(&tmp);
                } else {
                    words.add_raw_string(&tmp);
                }
                continue;
            }
            let mut ch = self.next().unwrap_or_default();
            if ch == self.escape {
                if self.mode.raw_escapes {
                    words.add_raw_char(ch);
                    result.push(ch);
                }
                match self.next() {
                    None => break,
                    Some(c) => ch = c,
                }
                words.add_raw_char(ch);
            } else {
                words.add_char(ch);
            }
            result.push(ch);
        }
        if let Some(s) = stop {
            return Err(format!(
                "unexpected end of statement while looking for matching {s}"
            ));
        }
        Ok((result, words.get_words()))
    }

    fn process_single_quote(&mut self) -> Result<String, String> {
        let mut result = String::new();
        let open = self.next().unwrap_or('\'');
        if self.mode.raw_quotes {
            result.push(open);
        }
        loop {
            match self.next() {
                None => {
                    return Err(
                        "unexpected end of statement while looking for matching single-quote"
                            .into(),
                    );
                }
                Some('\'') => {
                    if self.mode.raw_quotes {
                        result.push('\'');
                    }
                    return Ok(result);
                }
                Some(c) => result.push(c),
            }
        }
    }

    fn process_double_quote(&mut self) -> Result<String, String> {
        let mut result = String::new();
        let open = self.next().unwrap_or('"');
        if self.mode.raw_quotes {
            result.push(open);
        }
        loop {
            match self.peek() {
                None => {
                    return Err(
                        "unexpected end of statement while looking for matching double-quote"
                            .into(),
                    );
                }
                Some('"') => {
                    self.next();
                    if self.mode.raw_quotes {
                        result.push('"');
                    }
                    return Ok(result);
                }
                Some('$') => {
                    let v = self.process_dollar()?;
                    result.push_str(&v);
                }
                Some(_) => {
                    let mut ch = self.next().unwrap_or_default();
                    if ch == self.escape {
                        if self.mode.raw_escapes {
                            result.push(ch);
                        }
                        match self.peek() {
                            None => continue,
                            Some(c) if c == '"' || c == '$' || c == self.escape => {
                                ch = c;
                                self.next();
                            }
                            Some(_) => {}
                        }
                    }
                    result.push(ch);
                }
            }
        }
    }

    fn process_name(&mut self) -> String {
        let mut name = String::new();
        while let Some(ch) = self.peek() {
            if name.is_empty() && is_go_digit(ch) {
                while let Some(c) = self.peek() {
                    if !is_go_digit(c) {
                        break;
                    }
                    self.next();
                    name.push(c);
                }
                return name;
            }
            if name.is_empty() && matches!(ch, '@' | '*' | '#' | '?' | '-' | '$' | '!' | '0') {
                self.next();
                return ch.to_string();
            }
            if !ch.is_alphabetic() && !is_go_digit(ch) && ch != '_' {
                break;
            }
            self.next();
            name.push(ch);
        }
        name
    }

    fn process_dollar(&mut self) -> Result<String, String> {
        self.next();
        if self.peek() != Some('{') {
            let name = self.process_name();
            if name.is_empty() {
                return Ok("$".into());
            }
            return Ok(match self.get_env(&name) {
                Some(v) => v,
                None if self.mode.skip_unset_env => format!("${name}"),
                None => String::new(),
            });
        }
        self.next();
        match self.peek() {
            None => return Err("syntax error: missing '}'".into()),
            Some('{' | '}' | ':') => return Err("syntax error: bad substitution".into()),
            _ => {}
        }
        let name = self.process_name();
        let ch = self.next();
        let mut chs: String = ch.map(String::from).unwrap_or_default();
        let mut null_is_unset = false;
        let mut ch = ch;
        match ch {
            Some('}') => {
                return Ok(match self.get_env(&name) {
                    Some(v) => v,
                    None if self.mode.skip_unset_env => format!("${{{name}}}"),
                    None => String::new(),
                });
            }
            Some(':') => {
                null_is_unset = true;
                ch = self.next();
                if let Some(c) = ch {
                    chs.push(c);
                }
            }
            Some('+' | '-' | '?' | '#' | '%') => {}
            Some('/') => return self.process_replace(&name),
            _ => return Err(format!("unsupported modifier ({chs}) in substitution")),
        }
        let modifier = ch;
        let raw = matches!(modifier, Some('#' | '%'));
        if null_is_unset && raw {
            return Err(format!("unsupported modifier ({chs}) in substitution"));
        }
        let word = match self.process_stop_on(Some('}'), raw) {
            Ok((w, _)) => w,
            Err(e) => {
                if self.peek().is_none() {
                    return Err("syntax error: missing '}'".into());
                }
                return Err(e);
            }
        };
        let value = self.get_env(&name);
        if self.mode.skip_unset_env && value.is_none() {
            return Ok(format!("${{{name}{chs}{word}}}"));
        }
        match modifier {
            Some('-') => Ok(match value {
                Some(v) if !(null_is_unset && v.is_empty()) => v,
                _ => word,
            }),
            Some('+') => Ok(match value {
                Some(v) if !null_is_unset || !v.is_empty() => word,
                Some(v) => v,
                None => String::new(),
            }),
            Some('?') => match value {
                None => Err(format!(
                    "{name}: {}",
                    if word.is_empty() {
                        "is not allowed to be unset"
                    } else {
                        &word
                    }
                )),
                Some(v) if null_is_unset && v.is_empty() => Err(format!(
                    "{name}: {}",
                    if word.is_empty() {
                        "is not allowed to be empty"
                    } else {
                        &word
                    }
                )),
                Some(v) => Ok(v),
            },
            Some(m @ ('#' | '%')) => {
                let value = value.unwrap_or_default();
                let (greedy, pat) = match word.strip_prefix(m) {
                    Some(rest) => (true, rest.to_string()),
                    None => (false, word.clone()),
                };
                let pat = parse_pattern(&pat)?;
                Ok(if m == '#' {
                    trim_prefix(&pat, &value, greedy)
                } else {
                    trim_suffix(&pat, &value, greedy)
                })
            }
            _ => Err(format!("unsupported modifier ({chs}) in substitution")),
        }
    }

    fn process_replace(&mut self, name: &str) -> Result<String, String> {
        let all = self.peek() == Some('/');
        if all {
            self.next();
        }
        let pattern = match self.process_stop_on(Some('/'), true) {
            Ok((p, _)) => p,
            Err(e) => {
                if self.peek().is_none() {
                    return Err("syntax error: missing '/' in ${}".into());
                }
                return Err(e);
            }
        };
        let replacement = match self.process_stop_on(Some('}'), true) {
            Ok((r, _)) => r,
            Err(e) => {
                if self.peek().is_none() {
                    return Err("syntax error: missing '}'".into());
                }
                return Err(e);
            }
        };
        let value = self.get_env(name);
        let Some(value) = value.or_else(|| (!self.mode.skip_unset_env).then(String::new)) else {
            return Ok(format!("${{{name}/{pattern}/{replacement}}}"));
        };
        let pat = parse_pattern(&pattern)?;
        let chars: Vec<char> = value.chars().collect();
        let mut out = String::new();
        let mut i = 0;
        let mut replaced = false;
        while i <= chars.len() {
            if replaced && !all {
                out.extend(&chars[i..]);
                break;
            }
            match longest_match_at(&pat, &chars, i) {
                Some(end) => {
                    out.push_str(&replacement);
                    replaced = true;
                    if end == i {
                        if i < chars.len() {
                            out.push(chars[i]);
                        }
                        i += 1;
                    } else {
                        i = end;
                    }
                }
                _ => {
                    if i < chars.len() {
                        out.push(chars[i]);
                    }
                    i += 1;
                }
            }
        }
        Ok(out)
    }
}

fn is_go_digit(c: char) -> bool {
    // Go's unicode.IsDigit is category Nd; `is_numeric` is the closest std test.
    c.is_ascii_digit() || (c as u32 > 0x7f && c.is_numeric())
}

/// One element of a shell glob pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Pat {
    Lit(char),
    Any,
    Star,
    Class {
        negate: bool,
        items: Vec<(char, char)>,
    },
}

fn parse_pattern(p: &str) -> Result<Vec<Pat>, String> {
    let chars: Vec<char> = p.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        match c {
            '*' => out.push(Pat::Star),
            '?' => out.push(Pat::Any),
            '\\' => {
                i += 1;
                match chars.get(i) {
                    Some(&n) => out.push(Pat::Lit(n)),
                    None => return Err(format!("invalid pattern ({p}) in substitution")),
                }
            }
            '[' => {
                let mut j = i + 1;
                let mut negate = false;
                if matches!(chars.get(j), Some('!' | '^')) {
                    negate = true;
                    j += 1;
                }
                let mut items = Vec::new();
                let mut closed = false;
                let mut first = true;
                while j < chars.len() {
                    let mut a = chars[j];
                    if a == ']' && !first {
                        closed = true;
                        break;
                    }
                    first = false;
                    if a == '\\' && j + 1 < chars.len() {
                        j += 1;
                        a = chars[j];
                    }
                    if chars.get(j + 1) == Some(&'-') && j + 2 < chars.len() && chars[j + 2] != ']'
                    {
                        let mut b = chars[j + 2];
                        j += 2;
                        if b == '\\' && j + 1 < chars.len() {
                            j += 1;
                            b = chars[j];
                        }
                        items.push((a, b));
                    } else {
                        items.push((a, a));
                    }
                    j += 1;
                }
                if !closed {
                    return Err(format!("invalid pattern ({p}) in substitution"));
                }
                out.push(Pat::Class { negate, items });
                i = j;
            }
            _ => out.push(Pat::Lit(c)),
        }
        i += 1;
    }
    Ok(out)
}

fn pat_matches(pat: &[Pat], s: &[char]) -> bool {
    // Iterative glob match with backtracking over the last star.
    let (mut p, mut i) = (0usize, 0usize);
    let mut star: Option<(usize, usize)> = None;
    while i < s.len() {
        if p < pat.len() {
            match &pat[p] {
                Pat::Star => {
                    star = Some((p, i));
                    p += 1;
                    continue;
                }
                Pat::Any => {
                    p += 1;
                    i += 1;
                    continue;
                }
                Pat::Lit(c) if *c == s[i] => {
                    p += 1;
                    i += 1;
                    continue;
                }
                Pat::Class { negate, items } => {
                    let inside = items.iter().any(|(a, b)| *a <= s[i] && s[i] <= *b);
                    if inside != *negate {
                        p += 1;
                        i += 1;
                        continue;
                    }
                }
                Pat::Lit(_) => {}
            }
        }
        match star {
            Some((sp, si)) => {
                p = sp + 1;
                i = si + 1;
                star = Some((sp, si + 1));
            }
            None => return false,
        }
    }
    pat[p..].iter().all(|x| *x == Pat::Star)
}

fn longest_match_at(pat: &[Pat], s: &[char], start: usize) -> Option<usize> {
    (start..=s.len())
        .rev()
        .find(|&end| pat_matches(pat, &s[start..end]))
}

fn trim_prefix(pat: &[Pat], value: &str, greedy: bool) -> String {
    let chars: Vec<char> = value.chars().collect();
    let n = chars.len();
    let found = if greedy {
        (0..=n).rev().find(|&k| pat_matches(pat, &chars[..k]))
    } else {
        (0..=n).find(|&k| pat_matches(pat, &chars[..k]))
    };
    match found {
        Some(k) => chars[k..].iter().collect(),
        None => value.to_string(),
    }
}

fn trim_suffix(pat: &[Pat], value: &str, greedy: bool) -> String {
    let chars: Vec<char> = value.chars().collect();
    let n = chars.len();
    let found = if greedy {
        (0..=n).find(|&k| pat_matches(pat, &chars[k..]))
    } else {
        (0..=n).rev().find(|&k| pat_matches(pat, &chars[k..]))
    };
    match found {
        Some(k) => chars[..k].iter().collect(),
        None => value.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(name: &str) -> Option<String> {
        match name {
            "a" => Some("hello world".into()),
            "e" => Some(String::new()),
            "p" => Some("/usr/local/bin".into()),
            "f" => Some("file.tar.gz".into()),
            _ => None,
        }
    }

    fn w(s: &str) -> String {
        Lexer::new('\\').process_word(s, &env).expect("process")
    }

    #[test]
    fn expansion_rules() {
        assert_eq!(w("$a"), "hello world");
        assert_eq!(w("${a}x"), "hello worldx");
        assert_eq!(w("${u:-d}"), "d");
        assert_eq!(w("${e:-d}"), "d");
        assert_eq!(w("${e-d}"), "");
        assert_eq!(w("${e:+s}"), "");
        assert_eq!(w("${e+s}"), "s");
        assert_eq!(w("${u+s}"), "");
        assert_eq!(w("${p#*/}"), "usr/local/bin");
        assert_eq!(w("${p##*/}"), "bin");
        assert_eq!(w("${f%.*}"), "file.tar");
        assert_eq!(w("${f%%.*}"), "file");
        assert_eq!(w("${p/\\//:}"), ":usr/local/bin");
        assert_eq!(w("${p//\\//:}"), ":usr:local:bin");
        assert_eq!(w("'$a'"), "$a");
        assert_eq!(w("\"$a\""), "hello world");
        assert_eq!(w("\\$a"), "$a");
        assert!(Lexer::new('\\').process_word("${u?nope}", &env).is_err());
        assert!(Lexer::new('\\').process_word("${e:?}", &env).is_err());
        assert!(Lexer::new('\\').process_word("${a", &env).is_err());
    }

    #[test]
    fn splitting() {
        let l = Lexer::new('\\');
        assert_eq!(
            l.process_words("$a \"x y\" z", &env).expect("words"),
            vec!["hello", "world", "x y", "z"]
        );
    }
}
