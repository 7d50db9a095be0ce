//! Image references, parsed and normalized the way Docker does
//! (`alpine` → `docker.io/library/alpine:latest`).

use std::fmt;
use std::str::FromStr;

use crate::digest::Digest;
use crate::error::{Error, Result};

/// Docker Hub's canonical registry name.
pub const DEFAULT_REGISTRY: &str = "docker.io";

/// A normalized image reference: `registry/repository[:tag][@digest]`.
///
/// A reference with neither tag nor digest gets the tag `latest`.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Reference {
    registry: String,
    repository: String,
    tag: Option<String>,
    digest: Option<Digest>,
}

impl Reference {
    /// Parse and normalize a reference.
    ///
    /// ```
    /// use container_image::Reference;
    /// let r = Reference::parse("alpine").unwrap();
    /// assert_eq!(r.to_string(), "docker.io/library/alpine:latest");
    /// let r = Reference::parse("localhost:5000/ns/app:v1").unwrap();
    /// assert_eq!(r.registry(), "localhost:5000");
    /// assert_eq!(r.repository(), "ns/app");
    /// assert_eq!(r.tag(), Some("v1"));
    /// ```
    pub fn parse(input: &str) -> Result<Reference> {
        let bad = |reason: &str| Error::InvalidReference {
            input: input.to_string(),
            reason: reason.to_string(),
        };
        if input.is_empty() {
            return Err(bad("empty"));
        }
        if input.len() > 4096 {
            return Err(bad("too long"));
        }
        let (name_tag, digest) = match input.split_once('@') {
            Some((n, d)) => (n, Some(Digest::parse(d).map_err(|e| bad(&e.to_string()))?)),
            None => (input, None),
        };
        // A tag is after the last ':' when no '/' follows it (else the ':' is a port).
        let (name, tag) = match name_tag.rfind(':') {
            Some(i) if !name_tag[i + 1..].contains('/') => {
                (&name_tag[..i], Some(name_tag[i + 1..].to_string()))
            }
            _ => (name_tag, None),
        };
        if let Some(t) = &tag
            && !valid_tag(t)
        {
            return Err(bad("invalid tag (want [A-Za-z0-9_][A-Za-z0-9_.-]{0,127})"));
        }
        let (registry, remainder) = match name.split_once('/') {
            Some((first, rest))
                if first.contains('.') || first.contains(':') || first == "localhost" =>
            {
                (first.to_string(), rest.to_string())
            }
            Some((first, _)) if first.chars().any(|c| c.is_ascii_uppercase()) => {
                return Err(bad("repository name must be lower case"));
            }
            _ => (DEFAULT_REGISTRY.to_string(), name.to_string()),
        };
        let registry = if registry == "index.docker.io" || registry == "registry-1.docker.io" {
            DEFAULT_REGISTRY.to_string()
        } else {
            registry
        };
        if !valid_registry(&registry) {
            return Err(bad("invalid registry host"));
        }
        let repository = if registry == DEFAULT_REGISTRY && !remainder.contains('/') {
            format!("library/{remainder}")
        } else {
            remainder
        };
        if repository.len() > 255 {
            return Err(bad("repository name longer than 255 characters"));
        }
        for component in repository.split('/') {
            if !valid_component(component) {
                return Err(bad(&format!(
                    "invalid repository component {component:?} (lower-case letters, digits, separators . _ __ -)"
                )));
            }
        }
        let tag = if tag.is_none() && digest.is_none() {
            Some("latest".to_string())
        } else {
            tag
        };
        Ok(Reference {
            registry,
            repository,
            tag,
            digest,
        })
    }

    /// The registry host (with port), e.g. `docker.io`, `localhost:5000`.
    pub fn registry(&self) -> &str {
        &self.registry
    }

    /// The repository path, e.g. `library/alpine`.
    pub fn repository(&self) -> &str {
        &self.repository
    }

    /// The tag, if any.
    pub fn tag(&self) -> Option<&str> {
        self.tag.as_deref()
    }

    /// The digest, if any.
    pub fn digest(&self) -> Option<&Digest> {
        self.digest.as_ref()
    }

    /// The same reference with another tag (and no digest).
    pub fn with_tag(&self, tag: &str) -> Result<Reference> {
        Reference::parse(&format!("{}/{}:{tag}", self.registry, self.repository))
    }

    /// The same repository pinned to `digest` (and no tag).
    pub fn with_digest(&self, digest: &Digest) -> Reference {
        Reference {
            registry: self.registry.clone(),
            repository: self.repository.clone(),
            tag: None,
            digest: Some(digest.clone()),
        }
    }

    /// `registry/repository` without tag or digest.
    pub fn name(&self) -> String {
        format!("{}/{}", self.registry, self.repository)
    }

    /// The short form Docker prints (`alpine:latest`, `ns/app:v1`, `host:5000/app:v1`).
    pub fn familiar(&self) -> String {
        let mut name = if self.registry == DEFAULT_REGISTRY {
            self.repository
                .strip_prefix("library/")
                .unwrap_or(&self.repository)
                .to_string()
        } else {
            self.name()
        };
        if let Some(t) = &self.tag {
            name.push(':');
            name.push_str(t);
        }
        if let Some(d) = &self.digest {
            name.push('@');
            name.push_str(&d.to_string());
        }
        name
    }

    /// The host to connect to for this registry (`registry-1.docker.io` for Docker Hub).
    pub fn registry_host(&self) -> &str {
        if self.registry == DEFAULT_REGISTRY {
            "registry-1.docker.io"
        } else {
            &self.registry
        }
    }
}

fn valid_tag(t: &str) -> bool {
    let b = t.as_bytes();
    !b.is_empty()
        && b.len() <= 128
        && (b[0].is_ascii_alphanumeric() || b[0] == b'_')
        && b[1..]
            .iter()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'.' | b'-'))
}

fn valid_registry(r: &str) -> bool {
    let (host, port) = match r.rsplit_once(':') {
        Some((h, p)) => (h, Some(p)),
        None => (r, None),
    };
    if let Some(p) = port
        && (p.is_empty() || !p.bytes().all(|c| c.is_ascii_digit()))
    {
        return false;
    }
    let host = host.trim_start_matches('[').trim_end_matches(']');
    !host.is_empty()
        && host
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'.' | b'-' | b':'))
}

/// `[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*`
fn valid_component(c: &str) -> bool {
    let b = c.as_bytes();
    if b.is_empty() {
        return false;
    }
    let alnum = |x: u8| x.is_ascii_lowercase() || x.is_ascii_digit();
    if !alnum(b[0]) || !alnum(b[b.len() - 1]) {
        return false;
    }
    let mut i = 0;
    while i < b.len() {
        if alnum(b[i]) {
            i += 1;
            continue;
        }
        let start = i;
        while i < b.len() && !alnum(b[i]) {
            i += 1;
        }
        let sep = &c[start..i];
        let ok = sep == "." || sep == "_" || sep == "__" || sep.bytes().all(|x| x == b'-');
        if !ok {
            return false;
        }
    }
    true
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.registry, self.repository)?;
        if let Some(t) = &self.tag {
            write!(f, ":{t}")?;
        }
        if let Some(d) = &self.digest {
            write!(f, "@{d}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Reference({self})")
    }
}

impl FromStr for Reference {
    type Err = Error;
    fn from_str(s: &str) -> Result<Reference> {
        Reference::parse(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn docker_normalization() {
        let cases = [
            ("alpine", "docker.io/library/alpine:latest"),
            ("alpine:3.19", "docker.io/library/alpine:3.19"),
            ("user/app", "docker.io/user/app:latest"),
            ("index.docker.io/library/x", "docker.io/library/x:latest"),
            ("localhost/app", "localhost/app:latest"),
            ("localhost:5000/ns/app:v1", "localhost:5000/ns/app:v1"),
            ("quay.io/a/b/c:t", "quay.io/a/b/c:t"),
            ("127.0.0.1:5000/a", "127.0.0.1:5000/a:latest"),
        ];
        for (i, want) in cases {
            assert_eq!(Reference::parse(i).expect(i).to_string(), want, "{i}");
        }
        let d = Digest::sha256(b"x");
        let r = Reference::parse(&format!("host:5000/ns/name:tag@{d}")).expect("digest ref");
        assert_eq!(r.tag(), Some("tag"));
        assert_eq!(r.digest(), Some(&d));
        let r = Reference::parse(&format!("alpine@{d}")).expect("digest only");
        assert_eq!(r.tag(), None);
        assert_eq!(r.familiar(), format!("alpine@{d}"));
    }

    #[test]
    fn invalid() {
        for i in [
            "",
            "Alpine",
            "a//b",
            "a:",
            "a:-x",
            "a@sha256:00",
            "-a",
            "a/-b",
            "UPPER/x",
            "a b",
        ] {
            assert!(Reference::parse(i).is_err(), "{i:?} should be invalid");
        }
    }

    proptest! {
        #[test]
        fn round_trip(repo in "[a-z0-9]{1,8}(/[a-z0-9]{1,8}){0,2}", tag in "[a-z0-9][a-z0-9._-]{0,10}") {
            let r = Reference::parse(&format!("{repo}:{tag}")).expect("valid");
            let again = Reference::parse(&r.to_string()).expect("re-parse");
            prop_assert_eq!(&r, &again);
            let fam = Reference::parse(&r.familiar()).expect("familiar");
            prop_assert_eq!(r, fam);
        }

        #[test]
        fn never_panics(s in ".{0,80}") {
            let _ = Reference::parse(&s);
        }
    }
}
