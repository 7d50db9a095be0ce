//! The build context: a directory, filtered by `.dockerignore`, with sources resolved so
//! they cannot leave it.
//!
//! `.dockerignore` follows Docker's `patternmatcher`: one pattern per line, `#` comments,
//! patterns cleaned like Go's `filepath.Clean` with the leading `/` dropped, `*` and `?`
//! within one path element, `**` across any number of them, `!` re-including what an
//! earlier pattern excluded, later lines winning, and a pattern that matches a parent
//! directory matching everything below it.

use crate::error::{BuildError, IoCtx, Result};
use regex::Regex;
use sha2::{Digest as _, Sha256};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Component, Path, PathBuf};

/// One compiled `.dockerignore` (or `--exclude`) pattern.
#[derive(Debug, Clone)]
struct Pattern {
    regex: Regex,
    dirs: usize,
    exclusion: bool,
}

/// An ordered list of patterns with Docker's matching rules.
#[derive(Debug, Clone, Default)]
pub struct PatternMatcher {
    patterns: Vec<Pattern>,
}

/// Go's `filepath.Clean` for relative slash paths; `None` when `..` climbs above the start.
pub fn clean_rel(p: &str) -> Option<String> {
    let mut out: Vec<&str> = Vec::new();
    for c in p.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                out.pop()?;
            }
            c => out.push(c),
        }
    }
    Some(out.join("/"))
}

/// Clean an absolute slash path (`..` at the root stays at the root).
pub fn clean_abs(p: &str) -> String {
    let mut out: Vec<&str> = Vec::new();
    for c in p.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                out.pop();
            }
            c => out.push(c),
        }
    }
    format!("/{}", out.join("/"))
}

fn compile(pattern: &str) -> std::result::Result<Regex, String> {
    let mut re = String::from("^");
    let chars: Vec<char> = pattern.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        match c {
            '*' => {
                if chars.get(i + 1) == Some(&'*') {
                    i += 1;
                    if chars.get(i + 1) == Some(&'/') {
                        i += 1;
                    }
                    if i + 1 >= chars.len() {
                        re.push_str(".*");
                    } else {
                        re.push_str("(.*/)?");
                    }
                } else {
                    re.push_str("[^/]*");
                }
            }
            '?' => re.push_str("[^/]"),
            '\\' => {
                i += 1;
                if let Some(n) = chars.get(i) {
                    re.push_str(&regex::escape(&n.to_string()));
                }
            }
            '[' => {
                // A character class, passed through ([!x] is negation in Go's Match).
                let mut j = i + 1;
                let mut class = String::from("[");
                if chars.get(j) == Some(&'!') || chars.get(j) == Some(&'^') {
                    class.push('^');
                    j += 1;
                }
                let mut closed = false;
                while j < chars.len() {
                    match chars[j] {
                        ']' => {
                            closed = true;
                            break;
                        }
                        '\\' => {
                            j += 1;
                            if let Some(n) = chars.get(j) {
                                class.push_str(&regex::escape(&n.to_string()));
                            }
                        }
                        '-' => class.push('-'),
                        x => class.push_str(&regex::escape(&x.to_string())),
                    }
                    j += 1;
                }
                if !closed {
                    return Err(format!("syntax error in pattern {pattern:?}"));
                }
                class.push(']');
                re.push_str(&class);
                i = j;
            }
            c => re.push_str(&regex::escape(&c.to_string())),
        }
        i += 1;
    }
    re.push('$');
    Regex::new(&re).map_err(|e| format!("bad pattern {pattern:?}: {e}"))
}

impl PatternMatcher {
    /// Compile patterns (each may start with `!`).
    pub fn new<S: AsRef<str>>(patterns: &[S]) -> Result<PatternMatcher> {
        let mut out = Vec::new();
        for p in patterns {
            let mut p = p.as_ref().trim();
            if p.is_empty() {
                continue;
            }
            let exclusion = p.starts_with('!');
            if exclusion {
                p = p[1..].trim();
                if p.is_empty() {
                    return Err(BuildError::Invalid(
                        "illegal exclusion pattern: \"!\"".into(),
                    ));
                }
            }
            let cleaned = clean_abs(p);
            let cleaned = cleaned.trim_start_matches('/').to_string();
            let cleaned = if cleaned.is_empty() {
                ".".into()
            } else {
                cleaned
            };
            let regex = compile(&cleaned).map_err(BuildError::Invalid)?;
            out.push(Pattern {
                regex,
                dirs: cleaned.split('/').count(),
                exclusion,
            });
        }
        Ok(PatternMatcher { patterns: out })
    }

    /// Read `.dockerignore` text.
    pub fn from_dockerignore(text: &str) -> Result<PatternMatcher> {
        let lines: Vec<&str> = text
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .collect();
        PatternMatcher::new(&lines)
    }

    /// True when there are no patterns.
    pub fn is_empty(&self) -> bool {
        self.patterns.is_empty()
    }

    /// True when the relative slash path `rel` is excluded.
    pub fn matches(&self, rel: &str) -> bool {
        let rel = rel.trim_start_matches('/');
        let parent_dirs: Vec<&str> = match rel.rsplit_once('/') {
            Some((p, _)) => p.split('/').collect(),
            None => Vec::new(),
        };
        let mut matched = false;
        for p in &self.patterns {
            if p.exclusion != matched {
                continue;
            }
            let mut m = p.regex.is_match(rel);
            if !m && !parent_dirs.is_empty() && p.dirs <= parent_dirs.len() {
                m = p.regex.is_match(&parent_dirs[..p.dirs].join("/"));
            }
            if m {
                matched = !p.exclusion;
            }
        }
        matched
    }
}

/// True when `s` has glob characters (`*`, `?`, `[`).
pub fn has_glob(s: &str) -> bool {
    s.contains(['*', '?', '['])
}

/// Go `filepath.Match` of a whole relative path (no `**`).
pub fn glob_match(pattern: &str, rel: &str) -> bool {
    compile(&pattern.replace("**", "*")).is_ok_and(|r| r.is_match(rel))
}

/// A build context directory with its `.dockerignore`.
#[derive(Debug, Clone)]
pub struct BuildContext {
    root: PathBuf,
    ignore: PatternMatcher,
}

impl BuildContext {
    /// Open `dir`; the ignore file is `<dockerfile>.dockerignore` when it exists, else
    /// `dir/.dockerignore`.
    pub fn open(dir: &Path, dockerfile: Option<&Path>) -> Result<BuildContext> {
        let root = dir.canonicalize().ctx("open build context", dir)?;
        if !root.is_dir() {
            return Err(BuildError::Invalid(format!(
                "build context {} is not a directory",
                dir.display()
            )));
        }
        let mut candidates = Vec::new();
        if let Some(df) = dockerfile {
            let mut name = df.as_os_str().to_owned();
            name.push(".dockerignore");
            candidates.push(PathBuf::from(name));
        }
        candidates.push(root.join(".dockerignore"));
        let mut ignore = PatternMatcher::default();
        for c in candidates {
            match std::fs::read_to_string(&c) {
                Ok(t) => {
                    ignore = PatternMatcher::from_dockerignore(&t)?;
                    break;
                }
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(e).ctx("read", c),
            }
        }
        Ok(BuildContext { root, ignore })
    }

    /// The context directory (canonical).
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// True when `rel` is excluded by `.dockerignore`.
    pub fn is_ignored(&self, rel: &str) -> bool {
        !rel.is_empty() && self.ignore.matches(rel)
    }

    /// Every path of the context (relative, sorted), minus ignored ones.
    pub fn entries(&self) -> Result<Vec<String>> {
        let mut out = Vec::new();
        for e in walkdir::WalkDir::new(&self.root)
            .min_depth(1)
            .follow_links(false)
            .sort_by_file_name()
        {
            let e = e.map_err(|e| BuildError::Io {
                op: "walk build context",
                path: self.root.clone(),
                source: e.into(),
            })?;
            let rel = rel_str(&self.root, e.path());
            if !self.is_ignored(&rel) {
                out.push(rel);
            }
        }
        Ok(out)
    }

    /// Resolve the source `src` (as written, expanded) to paths in the context: cleaned,
    /// globbed, symlinks followed but never out of the context, `.dockerignore` applied.
    /// Returns (path relative to the context, absolute path) pairs.
    pub fn resolve_sources(&self, src: &str) -> Result<Vec<(String, PathBuf)>> {
        let Some(rel) = clean_rel(src) else {
            return Err(BuildError::OutsideContext(src.to_string()));
        };
        if has_glob(&rel) {
            let mut out = Vec::new();
            for e in self.entries()? {
                if glob_match(&rel, &e) {
                    let abs = resolve_in_root(&self.root, &e, true)
                        .ok_or_else(|| BuildError::OutsideContext(src.to_string()))?;
                    out.push((e, abs));
                }
            }
            if out.is_empty() {
                return Err(BuildError::SourceNotFound(src.to_string()));
            }
            return Ok(out);
        }
        let abs = resolve_in_root(&self.root, &rel, true)
            .ok_or_else(|| BuildError::OutsideContext(src.to_string()))?;
        let real_rel = rel_str(&self.root, &abs);
        if self.is_ignored(&rel) || self.is_ignored(&real_rel) || abs.symlink_metadata().is_err() {
            return Err(BuildError::SourceNotFound(src.to_string()));
        }
        Ok(vec![(rel, abs)])
    }
}

/// `path` relative to `root` as a slash string.
pub fn rel_str(root: &Path, path: &Path) -> String {
    path.strip_prefix(root)
        .unwrap_or(path)
        .to_string_lossy()
        .into_owned()
}

/// Resolve `rel` below `root`, following symlinks (the last one too when `follow_last`).
/// `None` when a symlink or `..` leaves `root`; a missing component ends resolution
/// there (the rest is appended as written).
pub fn resolve_in_root(root: &Path, rel: &str, follow_last: bool) -> Option<PathBuf> {
    let mut stack: Vec<String> = Vec::new();
    let mut todo: Vec<String> = rel
        .split('/')
        .filter(|c| !c.is_empty() && *c != ".")
        .rev()
        .map(String::from)
        .collect();
    let mut links = 0;
    while let Some(c) = todo.pop() {
        if c == ".." {
            stack.pop()?;
            continue;
        }
        let mut p = root.to_path_buf();
        for s in &stack {
            p.push(s);
        }
        p.push(&c);
        let last = todo.is_empty();
        match p.symlink_metadata() {
            Ok(m) if m.file_type().is_symlink() && (!last || follow_last) => {
                links += 1;
                if links > 40 {
                    return None;
                }
                let target = std::fs::read_link(&p).ok()?;
                if target.is_absolute() {
                    return None;
                }
                for comp in target.to_string_lossy().split('/').rev() {
                    if !comp.is_empty() && comp != "." {
                        todo.push(comp.to_string());
                    }
                }
            }
            Ok(_) => stack.push(c),
            Err(_) => {
                stack.push(c);
                while let Some(rest) = todo.pop() {
                    if rest == ".." {
                        stack.pop()?;
                    } else {
                        stack.push(rest);
                    }
                }
            }
        }
    }
    let mut p = root.to_path_buf();
    for s in stack {
        p.push(s);
    }
    Some(p)
}

/// Resolve an absolute path inside a root file system the way a chroot would (absolute
/// symlinks restart at `root`, `..` stops at it).
pub fn resolve_scoped(root: &Path, path: &str, follow_last: bool) -> PathBuf {
    let mut stack: Vec<String> = Vec::new();
    let mut todo: Vec<String> = path
        .split('/')
        .filter(|c| !c.is_empty() && *c != ".")
        .rev()
        .map(String::from)
        .collect();
    let mut links = 0;
    while let Some(c) = todo.pop() {
        if c == ".." {
            stack.pop();
            continue;
        }
        let mut p = root.to_path_buf();
        for s in &stack {
            p.push(s);
        }
        p.push(&c);
        let last = todo.is_empty();
        match p.symlink_metadata() {
            Ok(m) if m.file_type().is_symlink() && (!last || follow_last) && links < 40 => {
                links += 1;
                let Ok(target) = std::fs::read_link(&p) else {
                    stack.push(c);
                    continue;
                };
                let t = target.to_string_lossy().into_owned();
                if t.starts_with('/') {
                    stack.clear();
                }
                for comp in t.split('/').rev() {
                    if !comp.is_empty() && comp != "." {
                        todo.push(comp.to_string());
                    }
                }
            }
            _ => stack.push(c),
        }
    }
    let mut p = root.to_path_buf();
    for s in stack {
        p.push(s);
    }
    p
}

/// Hash a source tree for the layer cache: paths, types, modes, sizes, contents and link
/// targets, not times or owners. `skip` filters relative paths.
pub fn hash_tree(path: &Path, skip: &dyn Fn(&str) -> bool, h: &mut Sha256) -> Result<()> {
    for e in walkdir::WalkDir::new(path)
        .follow_links(false)
        .sort_by_file_name()
    {
        let e = e.map_err(|e| BuildError::Io {
            op: "walk",
            path: path.to_path_buf(),
            source: e.into(),
        })?;
        let rel = rel_str(path, e.path());
        if !rel.is_empty() && skip(&rel) {
            continue;
        }
        let m = e.path().symlink_metadata().ctx("stat", e.path())?;
        h.update(rel.as_bytes());
        h.update([0]);
        h.update(m.permissions().mode().to_le_bytes());
        if m.file_type().is_symlink() {
            let t = std::fs::read_link(e.path()).ctx("read link", e.path())?;
            h.update(b"L");
            h.update(t.as_os_str().as_encoded_bytes());
        } else if m.is_file() {
            h.update(b"F");
            h.update(m.size().to_le_bytes());
            let mut f = std::fs::File::open(e.path()).ctx("open", e.path())?;
            let mut buf = vec![0u8; 64 * 1024];
            loop {
                let n = std::io::Read::read(&mut f, &mut buf).ctx("read", e.path())?;
                if n == 0 {
                    break;
                }
                h.update(&buf[..n]);
            }
        } else if m.is_dir() {
            h.update(b"D");
        } else {
            h.update(b"O");
            h.update(m.rdev().to_le_bytes());
        }
        h.update([0]);
    }
    Ok(())
}

/// Components of a relative path, for `--parents`.
pub fn components(rel: &str) -> Vec<String> {
    Path::new(rel)
        .components()
        .filter_map(|c| match c {
            Component::Normal(s) => Some(s.to_string_lossy().into_owned()),
            _ => None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(pats: &[&str]) -> PatternMatcher {
        PatternMatcher::new(pats).expect("compile")
    }

    #[test]
    fn dockerignore_rules() {
        let p = m(&["*.md", "!README.md", "docs/**/*.tmp", "build", "/secret"]);
        assert!(p.matches("a.md"));
        assert!(!p.matches("README.md"));
        assert!(!p.matches("sub/a.md"), "* does not cross /");
        assert!(p.matches("docs/x.tmp"));
        assert!(p.matches("docs/a/b/x.tmp"));
        assert!(p.matches("build/out/bin"), "parent directory match");
        assert!(p.matches("secret"));
        assert!(!p.matches("src/main.rs"));
        // Order: a later exclusion wins, a later inclusion re-excludes.
        let p = m(&["**", "!keep/**", "keep/drop"]);
        assert!(p.matches("x"));
        assert!(!p.matches("keep/a"));
        assert!(p.matches("keep/drop"));
        let p = m(&["**/*.log"]);
        assert!(p.matches("a.log") && p.matches("a/b/c.log"));
    }

    #[test]
    fn clean_paths() {
        assert_eq!(clean_rel("./a/../b/"), Some("b".into()));
        assert_eq!(clean_rel("../x"), None);
        assert_eq!(clean_abs("/../a/./b"), "/a/b");
        assert!(glob_match("*.txt", "a.txt"));
        assert!(!glob_match("*.txt", "d/a.txt"));
        assert!(glob_match("d/[ab].txt", "d/a.txt"));
    }

    #[test]
    fn symlinks_do_not_escape() {
        let d = tempfile::tempdir().expect("tempdir");
        let root = d.path().join("ctx");
        std::fs::create_dir_all(root.join("sub")).expect("mkdir");
        std::fs::write(root.join("sub/f"), "x").expect("write");
        std::os::unix::fs::symlink("sub/f", root.join("in")).expect("link");
        std::os::unix::fs::symlink("../..", root.join("sub/up")).expect("link");
        std::os::unix::fs::symlink("/etc/passwd", root.join("abs")).expect("link");
        assert_eq!(resolve_in_root(&root, "in", true), Some(root.join("sub/f")));
        assert!(resolve_in_root(&root, "sub/up/x", true).is_none());
        assert!(resolve_in_root(&root, "abs", true).is_none());
        assert_eq!(
            resolve_scoped(&root, "/sub/up/sub/f", true),
            root.join("sub/f")
        );
    }
}
