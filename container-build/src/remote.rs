//! `ADD <url>`: downloading a remote file over HTTP once per build, with the name,
//! checksum and modification time rules of Docker's builders.

use crate::error::{BuildError, IoCtx, Result};
use sha2::{Digest as _, Sha256};
use std::io::Write;
use std::path::{Path, PathBuf};

/// A file fetched for `ADD <url>`.
#[derive(Debug, Clone)]
pub(crate) struct Downloaded {
    /// Where the bytes are (in the build's download directory).
    pub path: PathBuf,
    /// The file name Docker gives it: the last segment of the URL's path.
    pub name: String,
    /// `Last-Modified` as Unix seconds, when the server sent it.
    pub mtime: Option<i64>,
    /// `sha256:<hex>` of the content.
    pub digest: String,
}

/// Whether `src` is a git repository Docker's `ADD` would clone.
pub(crate) fn is_git(src: &str) -> bool {
    let base = src.split('#').next().unwrap_or(src);
    src.starts_with("git@") || src.starts_with("git://") || base.ends_with(".git")
}

/// The name Docker gives the file of `url`: the last non-empty segment of its path.
pub(crate) fn file_name(url: &str) -> Result<String> {
    let rest = url.split_once("://").map(|(_, r)| r).unwrap_or(url);
    let path = rest
        .split(['?', '#'])
        .next()
        .unwrap_or_default()
        .split_once('/')
        .map(|(_, p)| p)
        .unwrap_or_default();
    match path.rsplit('/').next() {
        Some(n) if !n.is_empty() && n != "." && n != ".." => Ok(n.to_string()),
        _ => Err(BuildError::Invalid(format!(
            "cannot determine a file name from the URL {url}: give a destination file name"
        ))),
    }
}

/// Download `url` into a new file of `dir`; an error status, a broken connection or a
/// `checksum` (`sha256:<hex>`) that does not match fails with nothing left behind.
pub(crate) fn download(url: &str, dir: &Path, checksum: Option<&str>) -> Result<Downloaded> {
    if let Some(c) = checksum
        && !c.starts_with("sha256:")
    {
        return Err(BuildError::Invalid(format!(
            "--checksum={c}: only sha256:<hex> checksums are supported"
        )));
    }
    let name = file_name(url)?;
    std::fs::create_dir_all(dir).ctx("create", dir)?;
    let path = dir.join(crate::builder::unique("download"));
    let url_owned = url.to_string();
    let target = path.clone();
    let fetched = std::thread::scope(|s| {
        s.spawn(move || -> Result<(Option<i64>, String)> {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .ctx("start a runtime for", Path::new("ADD download"))?;
            rt.block_on(fetch(&url_owned, &target))
        })
        .join()
        .unwrap_or_else(|_| Err(BuildError::Invalid("download thread panicked".into())))
    });
    let (mtime, digest) = match fetched {
        Ok(v) => v,
        Err(e) => {
            let _ = std::fs::remove_file(&path);
            return Err(e);
        }
    };
    if let Some(c) = checksum
        && !c.eq_ignore_ascii_case(&digest)
    {
        let _ = std::fs::remove_file(&path);
        return Err(BuildError::Invalid(format!(
            "{url}: checksum mismatch: expected {c}, the download is {digest}"
        )));
    }
    Ok(Downloaded {
        path,
        name,
        mtime,
        digest,
    })
}

async fn fetch(url: &str, target: &Path) -> Result<(Option<i64>, String)> {
    let net = |e: reqwest::Error| BuildError::Invalid(format!("download {url}: {e}"));
    let client = reqwest::Client::builder()
        .connect_timeout(std::time::Duration::from_secs(30))
        .timeout(std::time::Duration::from_secs(3600))
        .build()
        .map_err(net)?;
    let mut resp = client.get(url).send().await.map_err(net)?;
    if !resp.status().is_success() {
        return Err(BuildError::Invalid(format!(
            "download {url}: the server answered {}",
            resp.status()
        )));
    }
    let mtime = resp
        .headers()
        .get(reqwest::header::LAST_MODIFIED)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| chrono::DateTime::parse_from_rfc2822(v).ok())
        .map(|t| t.timestamp());
    let mut file = std::fs::File::create(target).ctx("create", target)?;
    let mut h = Sha256::new();
    while let Some(chunk) = resp.chunk().await.map_err(net)? {
        h.update(&chunk);
        file.write_all(&chunk).ctx("write", target)?;
    }
    file.sync_all().ctx("sync", target)?;
    Ok((mtime, format!("sha256:{}", hex::encode(h.finalize()))))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_from_urls() {
        assert_eq!(
            file_name("http://h:8/a/b/file.tar.gz?x=1").expect("name"),
            "file.tar.gz"
        );
        assert_eq!(file_name("https://h/x#frag").expect("name"), "x");
        assert!(file_name("http://h/").is_err());
        assert!(file_name("http://h").is_err());
        assert!(is_git("https://github.com/a/b.git#v1"));
        assert!(is_git("git@github.com:a/b.git"));
        assert!(!is_git("https://h/file.tar"));
    }
}

/// A git repository checked out for `ADD <repo>.git#ref[:subdir]`.
#[derive(Debug, Clone)]
pub(crate) struct GitCheckout {
    /// The directory whose contents are added (the checkout, or its `subdir`).
    pub dir: PathBuf,
    /// The commit checked out.
    pub commit: String,
}

/// Split `url#ref:subdir` into (url, ref, subdir).
pub(crate) fn git_parts(src: &str) -> (String, Option<String>, Option<String>) {
    let (url, frag) = match src.split_once('#') {
        Some((u, f)) => (u.to_string(), Some(f)),
        None => (src.to_string(), None),
    };
    let (r, sub) = match frag {
        Some(f) => match f.split_once(':') {
            Some((r, s)) => (r, Some(s)),
            None => (f, None),
        },
        None => ("", None),
    };
    (
        url,
        Some(r.to_string()).filter(|r| !r.is_empty()),
        sub.map(|s| s.trim_matches('/').to_string())
            .filter(|s| !s.is_empty()),
    )
}

fn git(args: &[&str], dir: Option<&Path>) -> Result<String> {
    let mut c = std::process::Command::new("git");
    if let Some(d) = dir {
        c.arg("-C").arg(d);
    }
    c.args(args)
        .env("GIT_TERMINAL_PROMPT", "0")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .stdin(std::process::Stdio::null());
    let out = c.output().map_err(|e| {
        BuildError::Unsupported(format!(
            "ADD of a git repository needs the git program: {e}"
        ))
    })?;
    if !out.status.success() {
        return Err(BuildError::Invalid(format!(
            "git {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// Clone `src` (`url#ref:subdir`) into a new directory of `dir` with the `git`
/// program and check out `ref` (default: the remote's HEAD); `.git` is removed unless
/// `keep_git_dir`. A ref that names no branch, tag or commit, or a subdir that leaves
/// the checkout, fails with nothing left behind.
pub(crate) fn git_checkout(src: &str, dir: &Path, keep_git_dir: bool) -> Result<GitCheckout> {
    let (url, reference, subdir) = git_parts(src);
    std::fs::create_dir_all(dir).ctx("create", dir)?;
    let target = dir.join(crate::builder::unique("git"));
    let t = target.to_string_lossy().into_owned();
    let done = (|| -> Result<GitCheckout> {
        git(&["clone", "--quiet", "--no-checkout", "--", &url, &t], None)?;
        let rev = match &reference {
            Some(r) => {
                let candidates = [
                    format!("refs/remotes/origin/{r}^{{commit}}"),
                    format!("refs/tags/{r}^{{commit}}"),
                    format!("{r}^{{commit}}"),
                ];
                candidates
                    .iter()
                    .find_map(|c| git(&["rev-parse", "--verify", "--quiet", c], Some(&target)).ok())
                    .ok_or_else(|| {
                        BuildError::NotFound(format!("{url}: no branch, tag or commit named {r}"))
                    })?
            }
            None => git(&["rev-parse", "--verify", "HEAD^{commit}"], Some(&target))?,
        };
        git(&["checkout", "--quiet", "--detach", &rev], Some(&target))?;
        git(
            &["submodule", "update", "--init", "--recursive", "--quiet"],
            Some(&target),
        )?;
        if !keep_git_dir || subdir.is_some() {
            let g = target.join(".git");
            std::fs::remove_dir_all(&g).ctx("remove", &g)?;
        }
        let add = match &subdir {
            Some(s) => {
                if s.split('/').any(|c| c == "..") {
                    return Err(BuildError::OutsideContext(format!(
                        "{src}: subdirectory {s}"
                    )));
                }
                let d = crate::context::resolve_scoped(&target, s, true);
                if !d.is_dir() {
                    return Err(BuildError::SourceNotFound(format!(
                        "{src}: subdirectory {s}"
                    )));
                }
                d
            }
            None => target.clone(),
        };
        Ok(GitCheckout {
            dir: add,
            commit: rev,
        })
    })();
    if done.is_err() {
        let _ = std::fs::remove_dir_all(&target);
    }
    done
}
