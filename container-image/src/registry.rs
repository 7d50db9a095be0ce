//! Pull and push over the OCI distribution API.
//!
//! Hand-written on `reqwest` rather than `oci-client`: berth needs blobs streamed
//! straight into its resumable content-store writer (so an interrupted pull resumes
//! with a `Range` request instead of starting over), existing blobs skipped before any
//! transfer, cross-repository mounts, chunked uploads with a chosen chunk size, Docker
//! schema 2 and OCI media types kept byte-for-byte (so digests match what skopeo
//! sees), and progress per layer; `oci-client` keeps blobs in memory or its own
//! writers and would pull in a TLS stack this crate's tests do not need.
//!
//! Auth: anonymous, HTTP basic, and bearer tokens (the `WWW-Authenticate` challenge
//! flow), with credentials from the options or `~/.docker/config.json` `auths`.
//! TLS goes through the system OpenSSL (reqwest's `native-tls`), trusting the system's
//! CA store plus, per registry, the `*.crt` files of Docker's and podman's
//! `certs.d/<host[:port]>/` directories (or of [`RegistryOptions::cert_dir`], podman's
//! `--cert-dir`). Plain HTTP is used for `localhost`/loopback registries (unless a CA
//! is configured for them: then they are spoken to over TLS) or when `insecure` is set.

use std::collections::HashMap;
use std::io::Write;
use std::path::PathBuf;
use std::sync::Mutex;

use base64::Engine as _;
use bytes::Bytes;
use futures::StreamExt;
use reqwest::{Method, StatusCode, header};

use crate::digest::Digest;
use crate::error::{Error, Result};
use crate::image::{Image, ManifestKind, Platform, media, parse_manifest_or_index};
use crate::reference::Reference;
use crate::store::Store;

/// Options of a [`Client`].
#[derive(Debug, Clone, Default)]
pub struct RegistryOptions {
    /// Use plain HTTP for every registry (always used for localhost and 127.0.0.1).
    pub insecure: bool,
    /// Username and password (else looked up in the Docker config).
    pub credentials: Option<(String, String)>,
    /// Docker config file to read `auths` from (default `$DOCKER_CONFIG/config.json`
    /// or `~/.docker/config.json`).
    pub docker_config: Option<PathBuf>,
    /// Platform to select from an index (default: this host).
    pub platform: Option<Platform>,
    /// Directory whose `*.crt` files (PEM) are trusted as CAs for every registry this
    /// client talks to, like podman's `--cert-dir`. Without it, a registry's CAs are
    /// read from `/etc/docker/certs.d/<host[:port]>/` and
    /// `/etc/containers/certs.d/<host[:port]>/` (see [`CERTS_D`]).
    pub cert_dir: Option<PathBuf>,
}

/// Docker's and podman's per-registry CA directories: `<dir>/<host[:port]>/*.crt`.
pub const CERTS_D: [&str; 2] = ["/etc/docker/certs.d", "/etc/containers/certs.d"];

/// Options of a push.
#[derive(Debug, Clone, Default)]
pub struct PushOptions {
    /// Try to mount blobs from this repository of the same registry first.
    pub mount_from: Option<String>,
    /// Upload in PATCH chunks of this size (default: one PUT for blobs up to 16 MiB,
    /// 16 MiB chunks above).
    pub chunk_size: Option<u64>,
}

/// What happened to one blob.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BlobStatus {
    /// Bytes are moving.
    Transferring,
    /// Already present: nothing transferred.
    Exists,
    /// Mounted from another repository.
    Mounted,
    /// Resumed from this many bytes of an earlier attempt.
    Resumed(u64),
    /// Finished.
    Done,
}

/// A progress report for one blob.
#[derive(Debug, Clone)]
pub struct Progress {
    /// The blob.
    pub digest: Digest,
    /// Bytes done.
    pub current: u64,
    /// Bytes in all.
    pub total: u64,
    /// What is happening.
    pub status: BlobStatus,
}

/// A progress callback.
pub type ProgressFn<'a> = &'a (dyn Fn(&Progress) + Send + Sync);

/// Accept header for manifests.
const MANIFEST_ACCEPT: &str = "application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json, application/vnd.docker.distribution.manifest.v2+json, application/vnd.docker.distribution.manifest.list.v2+json";

/// The HTTP client of one registry host.
#[derive(Clone)]
struct HostClient {
    http: reqwest::Client,
    /// CA files from `cert_dir` or the `certs.d` directories are trusted.
    has_ca: bool,
}

/// A registry client (cheap to share; caches tokens).
pub struct Client {
    /// One HTTP client per registry host (each trusting that host's extra CAs).
    http: Mutex<HashMap<String, HostClient>>,
    opts: RegistryOptions,
    tokens: Mutex<HashMap<String, String>>,
}

enum Auth {
    None,
    Basic(String, String),
    Bearer(String),
}

struct Challenge {
    scheme: String,
    params: HashMap<String, String>,
}

fn parse_challenge(h: &str) -> Option<Challenge> {
    let (scheme, rest) = h.trim().split_once(' ').unwrap_or((h.trim(), ""));
    let mut params = HashMap::new();
    let mut rest = rest.trim();
    while !rest.is_empty() {
        let Some((k, v)) = rest.split_once('=') else {
            break;
        };
        let k = k.trim().trim_start_matches(',').trim().to_ascii_lowercase();
        let v = v.trim_start();
        let (val, tail) = if let Some(stripped) = v.strip_prefix('"') {
            match stripped.find('"') {
                Some(i) => (&stripped[..i], &stripped[i + 1..]),
                None => (stripped, ""),
            }
        } else {
            match v.find(',') {
                Some(i) => (&v[..i], &v[i..]),
                None => (v, ""),
            }
        };
        params.insert(k, val.to_string());
        rest = tail.trim_start_matches(|c: char| c == ',' || c.is_whitespace());
    }
    Some(Challenge {
        scheme: scheme.to_ascii_lowercase(),
        params,
    })
}

fn urlencode(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The `*.crt` files of `dir`, sorted; none when `dir` does not exist.
fn ca_files(dir: &std::path::Path) -> Result<Vec<PathBuf>> {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(Error::io("read certificate directory", dir, e)),
    };
    let mut out = Vec::new();
    for entry in entries {
        let path = entry
            .map_err(|e| Error::io("read certificate directory", dir, e))?
            .path();
        if path.extension().is_some_and(|x| x == "crt") {
            out.push(path);
        }
    }
    out.sort();
    Ok(out)
}

fn reg_err(url: &str, reason: impl std::fmt::Display) -> Error {
    Error::Registry {
        url: url.to_string(),
        reason: reason.to_string(),
    }
}

impl Client {
    /// A client with `opts`.
    ///
    /// Fails when a configured CA file cannot be read or is not PEM, naming the file.
    pub fn new(opts: RegistryOptions) -> Result<Client> {
        let client = Client {
            http: Mutex::new(HashMap::new()),
            opts,
            tokens: Mutex::new(HashMap::new()),
        };
        if let Some(dir) = &client.opts.cert_dir {
            // Read the CAs now, so a bad --cert-dir is reported before any transfer.
            ca_files(dir)?;
        }
        Ok(client)
    }

    /// The extra CA files trusted for `host` (`host[:port]`).
    fn ca_files_for(&self, host: &str) -> Result<Vec<PathBuf>> {
        if let Some(dir) = &self.opts.cert_dir {
            return ca_files(dir);
        }
        let mut out = Vec::new();
        for base in CERTS_D {
            out.extend(ca_files(&PathBuf::from(base).join(host))?);
        }
        Ok(out)
    }

    /// The HTTP client for `host`, built on first use with that host's extra CAs.
    fn http_for(&self, host: &str) -> Result<reqwest::Client> {
        Ok(self.host_client(host)?.http)
    }

    /// `host`'s client and whether it trusts extra CAs: the CA directories are read
    /// once per host, not per request.
    fn host_client(&self, host: &str) -> Result<HostClient> {
        let mut clients = self.http.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(c) = clients.get(host) {
            return Ok(c.clone());
        }
        let mut builder = reqwest::Client::builder();
        let files = self.ca_files_for(host)?;
        let has_ca = !files.is_empty();
        for file in files {
            let pem =
                std::fs::read(&file).map_err(|e| Error::io("read CA certificate", &file, e))?;
            let cert = reqwest::Certificate::from_pem(&pem).map_err(|e| Error::Registry {
                url: host.to_string(),
                reason: format!("CA certificate {}: {e}", file.display()),
            })?;
            builder = builder.add_root_certificate(cert);
        }
        let client = HostClient {
            http: builder.build().map_err(|e| reg_err(host, e))?,
            has_ca,
        };
        clients.insert(host.to_string(), client.clone());
        Ok(client)
    }

    fn base(&self, r: &Reference) -> String {
        let host = r.registry_host();
        let loopback =
            host.starts_with("localhost") || host.starts_with("127.") || host.starts_with("[::1]");
        let plain =
            self.opts.insecure || (loopback && self.host_client(host).map_or(true, |c| !c.has_ca));
        format!("{}://{host}", if plain { "http" } else { "https" })
    }

    /// Credentials for a registry: the options, else the Docker config's `auths`.
    pub fn credentials(&self, registry: &str) -> Option<(String, String)> {
        if let Some(c) = &self.opts.credentials {
            return Some(c.clone());
        }
        let path = self.opts.docker_config.clone().or_else(|| {
            std::env::var_os("DOCKER_CONFIG")
                .map(|d| PathBuf::from(d).join("config.json"))
                .or_else(|| {
                    std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".docker/config.json"))
                })
        })?;
        let data = std::fs::read(path).ok()?;
        let v: serde_json::Value = serde_json::from_slice(&data).ok()?;
        let auths = v.get("auths")?.as_object()?;
        let keys = if registry == crate::reference::DEFAULT_REGISTRY {
            vec![
                "https://index.docker.io/v1/".to_string(),
                "docker.io".to_string(),
                "index.docker.io".to_string(),
            ]
        } else {
            vec![
                registry.to_string(),
                format!("https://{registry}"),
                format!("http://{registry}"),
            ]
        };
        for k in keys {
            let Some(entry) = auths.get(&k) else { continue };
            if let Some(a) = entry.get("auth").and_then(|a| a.as_str()) {
                let dec = base64::engine::general_purpose::STANDARD.decode(a).ok()?;
                let s = String::from_utf8(dec).ok()?;
                let (u, p) = s.split_once(':')?;
                return Some((u.to_string(), p.to_string()));
            }
            if let (Some(u), Some(p)) = (
                entry.get("username").and_then(|a| a.as_str()),
                entry.get("password").and_then(|a| a.as_str()),
            ) {
                return Some((u.to_string(), p.to_string()));
            }
        }
        None
    }

    fn cached_auth(&self, key: &str) -> Auth {
        match self.tokens.lock() {
            Ok(t) => match t.get(key) {
                Some(v) if v.starts_with("basic:") => {
                    let rest = &v[6..];
                    let (u, p) = rest.split_once('\n').unwrap_or((rest, ""));
                    Auth::Basic(u.to_string(), p.to_string())
                }
                Some(v) => Auth::Bearer(v.clone()),
                None => Auth::None,
            },
            Err(_) => Auth::None,
        }
    }

    /// Send a request, answering one auth challenge. `scope` is the bearer scope
    /// (`repository:name:pull,push`).
    async fn send(
        &self,
        r: &Reference,
        method: Method,
        url: &str,
        headers: &[(header::HeaderName, String)],
        body: Option<Bytes>,
        scope: &str,
    ) -> Result<reqwest::Response> {
        let key = format!("{}|{scope}", r.registry());
        for attempt in 0..2 {
            let mut req = self
                .http_for(r.registry_host())?
                .request(method.clone(), url);
            for (k, v) in headers {
                req = req.header(k, v);
            }
            if let Some(b) = &body {
                req = req.body(b.clone());
            }
            req = match self.cached_auth(&key) {
                Auth::None => req,
                Auth::Basic(u, p) => req.basic_auth(u, Some(p)),
                Auth::Bearer(t) => req.bearer_auth(t),
            };
            let resp = req.send().await.map_err(|e| reg_err(url, e))?;
            if resp.status() != StatusCode::UNAUTHORIZED || attempt == 1 {
                if resp.status() == StatusCode::UNAUTHORIZED {
                    return Err(Error::Auth {
                        registry: r.registry().to_string(),
                        reason: format!("{method} {url}: 401 Unauthorized"),
                    });
                }
                return Ok(resp);
            }
            let challenge = resp
                .headers()
                .get(header::WWW_AUTHENTICATE)
                .and_then(|h| h.to_str().ok())
                .and_then(parse_challenge)
                .ok_or_else(|| Error::Auth {
                    registry: r.registry().to_string(),
                    reason: "401 without a WWW-Authenticate challenge".into(),
                })?;
            let creds = self.credentials(r.registry());
            let value = match challenge.scheme.as_str() {
                "basic" => {
                    let (u, p) = creds.ok_or_else(|| Error::Auth {
                        registry: r.registry().to_string(),
                        reason: "basic auth required and no credentials known".into(),
                    })?;
                    format!("basic:{u}\n{p}")
                }
                "bearer" => self.token(r, &challenge, creds, scope).await?,
                other => {
                    return Err(Error::Auth {
                        registry: r.registry().to_string(),
                        reason: format!("unsupported auth scheme {other}"),
                    });
                }
            };
            if let Ok(mut t) = self.tokens.lock() {
                t.insert(key.clone(), value);
            }
        }
        Err(reg_err(url, "authentication loop"))
    }

    async fn token(
        &self,
        r: &Reference,
        c: &Challenge,
        creds: Option<(String, String)>,
        scope: &str,
    ) -> Result<String> {
        let realm = c.params.get("realm").ok_or_else(|| Error::Auth {
            registry: r.registry().to_string(),
            reason: "bearer challenge without realm".into(),
        })?;
        let mut q: Vec<(&str, String)> = Vec::new();
        if let Some(s) = c.params.get("service") {
            q.push(("service", s.clone()));
        }
        let scope = c
            .params
            .get("scope")
            .cloned()
            .unwrap_or_else(|| scope.to_string());
        if !scope.is_empty() {
            q.push(("scope", scope));
        }
        let query: Vec<String> = q
            .iter()
            .map(|(k, v)| format!("{k}={}", urlencode(v)))
            .collect();
        let sep = if realm.contains('?') { '&' } else { '?' };
        let realm_host = reqwest::Url::parse(realm)
            .ok()
            .and_then(|u| {
                let host = u.host_str()?.to_string();
                Some(match u.port() {
                    Some(p) => format!("{host}:{p}"),
                    None => host,
                })
            })
            .unwrap_or_else(|| r.registry_host().to_string());
        let mut req = self
            .http_for(&realm_host)?
            .get(format!("{realm}{sep}{}", query.join("&")));
        if let Some((u, p)) = creds {
            req = req.basic_auth(u, Some(p));
        }
        let resp = req.send().await.map_err(|e| reg_err(realm, e))?;
        if !resp.status().is_success() {
            return Err(Error::Auth {
                registry: r.registry().to_string(),
                reason: format!("token endpoint {realm}: {}", resp.status()),
            });
        }
        let v: serde_json::Value = resp.json().await.map_err(|e| reg_err(realm, e))?;
        v.get("token")
            .or_else(|| v.get("access_token"))
            .and_then(|t| t.as_str())
            .map(String::from)
            .ok_or_else(|| Error::Auth {
                registry: r.registry().to_string(),
                reason: "token response without token".into(),
            })
    }

    async fn check(resp: reqwest::Response, url: &str) -> Result<reqwest::Response> {
        if resp.status().is_success() {
            return Ok(resp);
        }
        let status = resp.status();
        let body = resp.text().await.unwrap_or_default();
        Err(reg_err(url, format!("{status}: {}", body.trim())))
    }

    /// `docker login`'s check: `GET /v2/` of `registry` (`host[:port]`, or `docker.io`)
    /// with this client's credentials, answering a basic or bearer challenge. Refused
    /// credentials give [`Error::Auth`] whose reason reads like Docker's
    /// (`login attempt to URL failed with status: 401 Unauthorized`).
    pub async fn login(&self, registry: &str) -> Result<()> {
        let r = Reference::parse(&format!("{registry}/library/login"))?;
        let url = format!("{}/v2/", self.base(&r));
        let refused = |status: &str| Error::Auth {
            registry: registry.to_string(),
            reason: format!("login attempt to {url} failed with status: {status}"),
        };
        match self.send(&r, Method::GET, &url, &[], None, "").await {
            Ok(resp) if resp.status().is_success() => Ok(()),
            Ok(resp) => Err(refused(&resp.status().to_string())),
            Err(Error::Auth { reason, .. }) if reason.contains("401") => {
                Err(refused("401 Unauthorized"))
            }
            Err(e) => Err(e),
        }
    }

    async fn get_manifest(&self, r: &Reference, what: &str) -> Result<(Bytes, Digest)> {
        let url = format!("{}/v2/{}/manifests/{what}", self.base(r), r.repository());
        let scope = format!("repository:{}:pull", r.repository());
        let resp = self
            .send(
                r,
                Method::GET,
                &url,
                &[(header::ACCEPT, MANIFEST_ACCEPT.into())],
                None,
                &scope,
            )
            .await?;
        let resp = Self::check(resp, &url).await?;
        let body = resp.bytes().await.map_err(|e| reg_err(&url, e))?;
        let digest = Digest::sha256(&body);
        if let Ok(d) = Digest::parse(what)
            && d != digest
        {
            return Err(Error::DigestMismatch {
                what: format!("manifest {url}"),
                expected: d.to_string(),
                actual: digest.to_string(),
            });
        }
        Ok((body, digest))
    }

    /// Pull `reference` into `store` and name it so; returns the image.
    /// Blobs already in the store are skipped; a blob whose download was interrupted
    /// resumes where it stopped.
    pub async fn pull(
        &self,
        store: &Store,
        reference: &str,
        progress: Option<ProgressFn<'_>>,
    ) -> Result<Image> {
        let r = Reference::parse(reference)?;
        let what = match (r.digest(), r.tag()) {
            (Some(d), _) => d.to_string(),
            (None, Some(t)) => t.to_string(),
            (None, None) => "latest".into(),
        };
        let (body, top_digest) = self.get_manifest(&r, &what).await?;
        let manifest = match parse_manifest_or_index(&body, &format!("manifest of {r}"))? {
            ManifestKind::Manifest(m) => m,
            ManifestKind::Index(i) => {
                let p = self.opts.platform.clone().unwrap_or_else(Platform::host);
                let d = i.select(&p).ok_or_else(|| Error::NoMatchingPlatform {
                    platform: p.to_string(),
                    reference: r.to_string(),
                })?;
                let (mbody, md) = self.get_manifest(&r, &d.digest.to_string()).await?;
                let m = match parse_manifest_or_index(&mbody, &format!("manifest {md}"))? {
                    ManifestKind::Manifest(m) => m,
                    ManifestKind::Index(_) => {
                        return Err(Error::Unsupported {
                            what: "nested index",
                            value: md.to_string(),
                        });
                    }
                };
                store.content().write_blob(&mbody)?;
                m
            }
        };
        if let Some(mt) = &manifest.media_type
            && mt != media::OCI_MANIFEST
            && mt != media::DOCKER_MANIFEST
        {
            return Err(Error::Unsupported {
                what: "manifest media type",
                value: mt.clone(),
            });
        }
        self.fetch_blob(
            store,
            &r,
            &manifest.config.digest,
            manifest.config.size,
            progress,
        )
        .await?;
        for l in &manifest.layers {
            self.fetch_blob(store, &r, &l.digest, l.size, progress)
                .await?;
        }
        store.content().write_blob(&body)?;
        if r.tag().is_some() {
            store.set_tag(&r, &top_digest)?;
        }
        store.load_image(Some(r), &top_digest)
    }

    async fn fetch_blob(
        &self,
        store: &Store,
        r: &Reference,
        digest: &Digest,
        size: u64,
        progress: Option<ProgressFn<'_>>,
    ) -> Result<()> {
        let report = |current: u64, status: BlobStatus| {
            if let Some(p) = progress {
                p(&Progress {
                    digest: digest.clone(),
                    current,
                    total: size,
                    status,
                });
            }
        };
        if store.content().contains(digest) {
            report(size, BlobStatus::Exists);
            return Ok(());
        }
        let mut w = store.content().writer(&format!("pull-{digest}"))?;
        let url = format!("{}/v2/{}/blobs/{digest}", self.base(r), r.repository());
        let scope = format!("repository:{}:pull", r.repository());
        let mut headers = Vec::new();
        let offset = w.offset();
        if offset > 0 && offset < size {
            headers.push((header::RANGE, format!("bytes={offset}-")));
        } else if offset > 0 {
            w.truncate()?;
        }
        let resp = self
            .send(r, Method::GET, &url, &headers, None, &scope)
            .await?;
        let resp = Self::check(resp, &url).await?;
        if resp.status() == StatusCode::PARTIAL_CONTENT {
            report(offset, BlobStatus::Resumed(offset));
        } else if w.offset() > 0 {
            w.truncate()?;
        }
        let mut done = w.offset();
        let mut stream = resp.bytes_stream();
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|e| reg_err(&url, e))?;
            w.write_all(&chunk)
                .map_err(|e| Error::io("write blob", w.data_path().to_path_buf(), e))?;
            done += chunk.len() as u64;
            if done > size {
                return Err(Error::SizeMismatch {
                    what: format!("blob {digest}"),
                    expected: size,
                    actual: done,
                });
            }
            report(done, BlobStatus::Transferring);
        }
        w.commit(Some(digest), Some(size))?;
        report(size, BlobStatus::Done);
        Ok(())
    }

    /// Push the local image `local` as `remote`; returns the manifest digest.
    pub async fn push(
        &self,
        store: &Store,
        local: &str,
        remote: &str,
        opts: &PushOptions,
        progress: Option<ProgressFn<'_>>,
    ) -> Result<Digest> {
        let img = store.image(local)?;
        let r = Reference::parse(remote)?;
        let mut blobs: Vec<(Digest, u64)> = img
            .layers
            .iter()
            .map(|l| (l.digest.clone(), l.size))
            .collect();
        blobs.push((
            img.config_digest.clone(),
            store.content().size(&img.config_digest)?,
        ));
        for (d, size) in &blobs {
            self.push_blob(store, &r, d, *size, opts, progress).await?;
        }
        let body = Bytes::from(store.content().read_blob(&img.manifest_digest)?);
        let mt = img
            .manifest
            .media_type
            .clone()
            .unwrap_or_else(|| media::OCI_MANIFEST.to_string());
        let tag = r
            .tag()
            .map(String::from)
            .unwrap_or_else(|| img.manifest_digest.to_string());
        let url = format!("{}/v2/{}/manifests/{tag}", self.base(&r), r.repository());
        let scope = format!("repository:{}:pull,push", r.repository());
        let resp = self
            .send(
                &r,
                Method::PUT,
                &url,
                &[(header::CONTENT_TYPE, mt)],
                Some(body),
                &scope,
            )
            .await?;
        Self::check(resp, &url).await?;
        Ok(img.manifest_digest)
    }

    fn absolute(&self, r: &Reference, location: &str) -> String {
        if location.starts_with("http://") || location.starts_with("https://") {
            location.to_string()
        } else {
            format!("{}{location}", self.base(r))
        }
    }

    async fn push_blob(
        &self,
        store: &Store,
        r: &Reference,
        digest: &Digest,
        size: u64,
        opts: &PushOptions,
        progress: Option<ProgressFn<'_>>,
    ) -> Result<()> {
        let report = |current: u64, status: BlobStatus| {
            if let Some(p) = progress {
                p(&Progress {
                    digest: digest.clone(),
                    current,
                    total: size,
                    status,
                });
            }
        };
        let base = self.base(r);
        let repo = r.repository();
        let mut scope = format!("repository:{repo}:pull,push");
        let head_url = format!("{base}/v2/{repo}/blobs/{digest}");
        let resp = self
            .send(r, Method::HEAD, &head_url, &[], None, &scope)
            .await?;
        if resp.status().is_success() {
            report(size, BlobStatus::Exists);
            return Ok(());
        }
        let start_url = match &opts.mount_from {
            Some(from) => {
                scope = format!("{scope} repository:{from}:pull");
                format!("{base}/v2/{repo}/blobs/uploads/?mount={digest}&from={from}")
            }
            None => format!("{base}/v2/{repo}/blobs/uploads/"),
        };
        let resp = self
            .send(r, Method::POST, &start_url, &[], None, &scope)
            .await?;
        if resp.status() == StatusCode::CREATED {
            report(size, BlobStatus::Mounted);
            return Ok(());
        }
        let resp = Self::check(resp, &start_url).await?;
        let mut location = self.absolute(
            r,
            resp.headers()
                .get(header::LOCATION)
                .and_then(|l| l.to_str().ok())
                .ok_or_else(|| reg_err(&start_url, "upload without Location"))?,
        );
        let chunk = opts.chunk_size.unwrap_or(16 << 20).max(1);
        let path = store.content().blob_path(digest);
        let mut file =
            std::fs::File::open(&path).map_err(|e| Error::io("open blob", path.clone(), e))?;
        let mut sent = 0u64;
        if size > chunk || opts.chunk_size.is_some() {
            while sent < size {
                let n = chunk.min(size - sent) as usize;
                let mut buf = vec![0u8; n];
                std::io::Read::read_exact(&mut file, &mut buf)
                    .map_err(|e| Error::io("read blob", path.clone(), e))?;
                let headers = [
                    (header::CONTENT_TYPE, "application/octet-stream".to_string()),
                    (
                        header::CONTENT_RANGE,
                        format!("{sent}-{}", sent + n as u64 - 1),
                    ),
                ];
                let resp = self
                    .send(
                        r,
                        Method::PATCH,
                        &location,
                        &headers,
                        Some(Bytes::from(buf)),
                        &scope,
                    )
                    .await?;
                let resp = Self::check(resp, &location).await?;
                if let Some(l) = resp
                    .headers()
                    .get(header::LOCATION)
                    .and_then(|l| l.to_str().ok())
                {
                    location = self.absolute(r, l);
                }
                sent += n as u64;
                report(sent, BlobStatus::Transferring);
            }
            let sep = if location.contains('?') { '&' } else { '?' };
            let url = format!("{location}{sep}digest={digest}");
            let resp = self
                .send(
                    r,
                    Method::PUT,
                    &url,
                    &[(header::CONTENT_LENGTH, "0".into())],
                    Some(Bytes::new()),
                    &scope,
                )
                .await?;
            Self::check(resp, &url).await?;
        } else {
            let mut buf = Vec::with_capacity(size as usize);
            std::io::Read::read_to_end(&mut file, &mut buf)
                .map_err(|e| Error::io("read blob", path.clone(), e))?;
            let sep = if location.contains('?') { '&' } else { '?' };
            let url = format!("{location}{sep}digest={digest}");
            let resp = self
                .send(
                    r,
                    Method::PUT,
                    &url,
                    &[(header::CONTENT_TYPE, "application/octet-stream".into())],
                    Some(Bytes::from(buf)),
                    &scope,
                )
                .await?;
            Self::check(resp, &url).await?;
        }
        report(size, BlobStatus::Done);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn challenge() {
        let c = parse_challenge(
            r#"Bearer realm="https://auth.example/token",service="registry.example",scope="repository:a/b:pull""#,
        )
        .expect("parse");
        assert_eq!(c.scheme, "bearer");
        assert_eq!(c.params["realm"], "https://auth.example/token");
        assert_eq!(c.params["service"], "registry.example");
        assert_eq!(c.params["scope"], "repository:a/b:pull");
        let c = parse_challenge(r#"Basic realm="x""#).expect("basic");
        assert_eq!(c.scheme, "basic");
    }
}
