//! `pull` and `push`: images to and from a registry through `container-image`'s
//! OCI distribution client, with per-blob progress for the caller to draw.

use crate::engine::Engine;
use crate::error::{Error, Result};
use container_image::registry::{Client, ProgressFn, PushOptions, RegistryOptions};
use std::path::{Path, PathBuf};

/// How to reach a registry.
#[derive(Debug, Clone, Default)]
pub struct RegistryAuth {
    /// Plain HTTP for every registry (loopback registries always use it).
    pub insecure: bool,
    /// Username and password; else `~/.docker/config.json` (or `$DOCKER_CONFIG`).
    pub credentials: Option<(String, String)>,
    /// Another Docker config file to take `auths` from.
    pub docker_config: Option<PathBuf>,
    /// CA certificates (`*.crt`) to trust for the registry, like podman's `--cert-dir`;
    /// without it, `/etc/docker/certs.d/<host[:port]>/` and
    /// `/etc/containers/certs.d/<host[:port]>/` are read.
    pub cert_dir: Option<PathBuf>,
}

impl RegistryAuth {
    /// A client for `registry`. Without explicit credentials or config file, the first
    /// auth file that knows `registry` is used, like podman: the Docker config (where
    /// `berth login` writes), then `$REGISTRY_AUTH_FILE`,
    /// `$XDG_RUNTIME_DIR/containers/auth.json` and `~/.config/containers/auth.json`.
    fn client(&self, registry: &str) -> Result<Client> {
        let docker_config = match (&self.docker_config, &self.credentials) {
            (Some(p), _) => Some(p.clone()),
            (None, Some(_)) => None,
            (None, None) => auth_files()
                .into_iter()
                .find(|p| credentials_in(p, registry).is_some()),
        };
        Client::new(RegistryOptions {
            insecure: self.insecure,
            credentials: self.credentials.clone(),
            docker_config,
            platform: None,
            cert_dir: self.cert_dir.clone(),
        })
        .map_err(crate::images::img_err)
    }
}

/// The Docker config file `login` writes: `$DOCKER_CONFIG/config.json`, else
/// `~/.docker/config.json`.
pub fn docker_config_path() -> Result<PathBuf> {
    if let Some(d) = std::env::var_os("DOCKER_CONFIG") {
        return Ok(PathBuf::from(d).join("config.json"));
    }
    let home = std::env::var_os("HOME")
        .ok_or_else(|| Error::Invalid("neither DOCKER_CONFIG nor HOME is set".into()))?;
    Ok(PathBuf::from(home).join(".docker/config.json"))
}

/// Auth files in the order they are searched for a registry's credentials.
fn auth_files() -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = docker_config_path().into_iter().collect();
    if let Some(p) = std::env::var_os("REGISTRY_AUTH_FILE") {
        out.push(PathBuf::from(p));
    }
    if let Some(d) = std::env::var_os("XDG_RUNTIME_DIR") {
        out.push(PathBuf::from(d).join("containers/auth.json"));
    }
    if let Some(h) = std::env::var_os("HOME") {
        out.push(PathBuf::from(h).join(".config/containers/auth.json"));
    }
    out
}

/// Credentials for `registry` in the auth file `path` (Docker's `auths` format).
fn credentials_in(path: &Path, registry: &str) -> Option<(String, String)> {
    if !path.is_file() {
        return None;
    }
    Client::new(RegistryOptions {
        docker_config: Some(path.to_path_buf()),
        ..Default::default()
    })
    .ok()?
    .credentials(registry)
}

/// The registry a `login`/`logout` argument names, as `(registry, key)`: the registry
/// as references spell it (`docker.io`, `host:port`) and the `auths` key Docker uses
/// for it (`https://index.docker.io/v1/` for Docker Hub, else `host:port`). A scheme
/// and a path are dropped (`http://host:5000/v2/` is `host:5000`).
pub fn registry_key(server: Option<&str>) -> Result<(String, String)> {
    const HUB_KEY: &str = "https://index.docker.io/v1/";
    let s = server.unwrap_or("").trim();
    let s = s
        .strip_prefix("https://")
        .or_else(|| s.strip_prefix("http://"))
        .unwrap_or(s);
    let host = s.split('/').next().unwrap_or("");
    if host.is_empty()
        || matches!(
            host,
            "docker.io" | "index.docker.io" | "registry-1.docker.io"
        )
    {
        return Ok((
            container_image::reference::DEFAULT_REGISTRY.into(),
            HUB_KEY.into(),
        ));
    }
    if host.chars().any(|c| c.is_whitespace() || c == '@') {
        return Err(Error::Invalid(format!("invalid registry address {s:?}")));
    }
    Ok((host.to_string(), host.to_string()))
}

fn read_config(path: &Path) -> Result<serde_json::Map<String, serde_json::Value>> {
    match std::fs::read(path) {
        Ok(data) if data.iter().all(u8::is_ascii_whitespace) => Ok(Default::default()),
        Ok(data) => match serde_json::from_slice::<serde_json::Value>(&data) {
            Ok(serde_json::Value::Object(m)) => Ok(m),
            Ok(_) => Err(Error::Invalid(format!(
                "{}: the Docker config is not a JSON object",
                path.display()
            ))),
            Err(e) => Err(Error::Corrupt {
                path: path.to_path_buf(),
                source: e,
            }),
        },
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Default::default()),
        Err(e) => Err(Error::io("read", path, e)),
    }
}

/// Write the config atomically with mode 0600 (it holds passwords): a temp file in the
/// same directory (made 0700 if missing), fsync, rename; the temp file is removed on
/// failure.
fn write_config(path: &Path, cfg: &serde_json::Map<String, serde_json::Value>) -> Result<()> {
    use std::io::Write as _;
    use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
    let dir = path.parent().unwrap_or(Path::new("."));
    if !dir.as_os_str().is_empty() && !dir.is_dir() {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(|e| Error::io("create directory", dir, e))?;
    }
    let mut data = serde_json::to_vec_pretty(cfg).map_err(|e| Error::Corrupt {
        path: path.to_path_buf(),
        source: e,
    })?;
    data.push(b'\n');
    let tmp = dir.join(format!(
        ".{}.tmp.{}",
        path.file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default(),
        std::process::id()
    ));
    let written = (|| {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)
            .map_err(|e| Error::io("create", &tmp, e))?;
        f.write_all(&data)
            .map_err(|e| Error::io("write", &tmp, e))?;
        f.sync_all().map_err(|e| Error::io("fsync", &tmp, e))?;
        std::fs::rename(&tmp, path).map_err(|e| Error::io("rename into place", path, e))
    })();
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    written
}

/// Store `user:password` for the `auths` key `key` in the Docker config `path`
/// (other entries and settings are kept), as `docker login` does.
pub fn store_credentials(path: &Path, key: &str, user: &str, password: &str) -> Result<()> {
    use base64::Engine as _;
    let mut cfg = read_config(path)?;
    let auths = cfg
        .entry("auths")
        .or_insert_with(|| serde_json::Value::Object(Default::default()));
    if !auths.is_object() {
        *auths = serde_json::Value::Object(Default::default());
    }
    let encoded = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
    if let Some(m) = auths.as_object_mut() {
        m.insert(key.to_string(), serde_json::json!({ "auth": encoded }));
    }
    write_config(path, &cfg)
}

/// Remove the credentials of `key` from the Docker config `path` (`docker logout`);
/// `false` when there were none.
pub fn remove_credentials(path: &Path, key: &str) -> Result<bool> {
    let mut cfg = read_config(path)?;
    let removed = cfg
        .get_mut("auths")
        .and_then(|a| a.as_object_mut())
        .is_some_and(|m| m.remove(key).is_some());
    if removed {
        write_config(path, &cfg)?;
    }
    Ok(removed)
}

/// The credentials stored for `registry` in the Docker config `path`.
pub fn stored_credentials(path: &Path, registry: &str) -> Option<(String, String)> {
    credentials_in(path, registry)
}

/// `docker login`'s check: does `registry` (as from [`registry_key`]) accept
/// `user`/`password`? `GET /v2/` with basic auth or the token flow. A refusal is an
/// [`Error::Auth`] with Docker's message. `auth` gives `insecure` and `cert_dir`; its
/// credentials and config file are not used.
pub async fn verify_login(
    registry: &str,
    user: &str,
    password: &str,
    auth: &RegistryAuth,
) -> Result<()> {
    let client = Client::new(RegistryOptions {
        insecure: auth.insecure,
        credentials: Some((user.to_string(), password.to_string())),
        docker_config: None,
        platform: None,
        cert_dir: auth.cert_dir.clone(),
    })
    .map_err(crate::images::img_err)?;
    client.login(registry).await.map_err(|e| match e {
        container_image::Error::Auth { reason, .. } => Error::Auth(reason),
        e => crate::images::img_err(e),
    })
}

/// What a pull brought.
#[derive(Debug, Clone)]
pub struct Pulled {
    /// The reference, fully qualified (`docker.io/library/busybox:latest`).
    pub reference: String,
    /// The manifest digest.
    pub digest: String,
    /// The image id (config digest).
    pub id: String,
}

/// Turn a registry error into what Docker says for the same failure.
fn registry_error(reference: &str, e: container_image::Error) -> Error {
    let text = e.to_string();
    if text.contains("404") || text.contains("MANIFEST_UNKNOWN") || text.contains("NAME_UNKNOWN") {
        return Error::Image(format!(
            "manifest for {reference} not found: manifest unknown: {text}"
        ));
    }
    if matches!(e, container_image::Error::Auth { .. }) {
        return Error::Image(format!(
            "pull access denied for {reference}, repository does not exist or may require 'docker login': {text}"
        ));
    }
    crate::images::img_err(e)
}

impl Engine {
    /// `docker pull`: fetch `reference` (blobs already here are skipped, an interrupted
    /// blob resumes) and name it so.
    pub async fn pull(
        &self,
        reference: &str,
        auth: &RegistryAuth,
        progress: Option<ProgressFn<'_>>,
    ) -> Result<Pulled> {
        let r = container_image::Reference::parse(reference)
            .map_err(|e| Error::Invalid(format!("invalid reference format: {e}")))?;
        let store = crate::images::store(self)?;
        let client = auth.client(r.registry())?;
        let img = client
            .pull(&store, reference, progress)
            .await
            .map_err(|e| registry_error(&r.to_string(), e))?;
        Ok(Pulled {
            reference: r.to_string(),
            digest: img.manifest_digest.to_string(),
            id: img.id().to_string(),
        })
    }

    /// `docker push`: upload the local image `reference` to the registry its name
    /// points at; returns the manifest digest and its size.
    pub async fn push(
        &self,
        reference: &str,
        auth: &RegistryAuth,
        progress: Option<ProgressFn<'_>>,
    ) -> Result<(String, u64)> {
        let r = container_image::Reference::parse(reference)
            .map_err(|e| Error::Invalid(format!("invalid reference format: {e}")))?;
        let store = crate::images::store(self)?;
        let img = crate::images::find(&store, reference).map_err(|_| {
            Error::Image(format!(
                "An image does not exist locally with the tag: {reference}"
            ))
        })?;
        let client = auth.client(r.registry())?;
        let digest = client
            .push(
                &store,
                reference,
                &r.to_string(),
                &PushOptions::default(),
                progress,
            )
            .await
            .map_err(|e| registry_error(&r.to_string(), e))?;
        let size = store
            .content()
            .size(&img.manifest_digest)
            .map_err(crate::images::img_err)?;
        Ok((digest.to_string(), size))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registry_keys_follow_docker() {
        let hub = (
            "docker.io".to_string(),
            "https://index.docker.io/v1/".to_string(),
        );
        assert_eq!(registry_key(None).expect("test setup"), hub);
        assert_eq!(registry_key(Some("docker.io")).expect("test setup"), hub);
        assert_eq!(
            registry_key(Some("https://index.docker.io/v1/")).expect("test setup"),
            hub
        );
        let local = ("127.0.0.1:5000".to_string(), "127.0.0.1:5000".to_string());
        assert_eq!(
            registry_key(Some("127.0.0.1:5000")).expect("test setup"),
            local
        );
        assert_eq!(
            registry_key(Some("http://127.0.0.1:5000/v2/")).expect("test setup"),
            local
        );
        assert!(matches!(
            registry_key(Some("user@host")),
            Err(Error::Invalid(_))
        ));
    }

    #[test]
    fn credentials_round_trip_keep_other_settings_and_mode_0600() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().expect("test setup");
        let path = dir.path().join("cfg/config.json");
        std::fs::create_dir_all(path.parent().expect("test setup")).expect("test setup");
        std::fs::write(
            &path,
            r#"{"detachKeys":"ctrl-x","auths":{"other:1":{"auth":"eDp5"}}}"#,
        )
        .expect("test setup");
        store_credentials(&path, "127.0.0.1:5000", "berth", "s3:cret").expect("test setup");
        let mode = std::fs::metadata(&path)
            .expect("test setup")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        assert_eq!(
            stored_credentials(&path, "127.0.0.1:5000"),
            Some(("berth".into(), "s3:cret".into()))
        );
        let v: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&path).expect("test setup")).expect("test setup");
        assert_eq!(v["detachKeys"], "ctrl-x");
        assert_eq!(v["auths"]["other:1"]["auth"], "eDp5");
        assert!(remove_credentials(&path, "127.0.0.1:5000").expect("test setup"));
        assert!(!remove_credentials(&path, "127.0.0.1:5000").expect("test setup"));
        assert_eq!(stored_credentials(&path, "127.0.0.1:5000"), None);
        assert_eq!(
            stored_credentials(&path, "other:1"),
            Some(("x".into(), "y".into()))
        );
        // no temp file left behind
        assert_eq!(
            std::fs::read_dir(path.parent().expect("test setup"))
                .expect("test setup")
                .count(),
            1
        );
    }

    #[test]
    fn a_corrupt_config_is_an_error_naming_the_file_and_is_left_alone() {
        let dir = tempfile::tempdir().expect("test setup");
        let path = dir.path().join("config.json");
        std::fs::write(&path, "{not json").expect("test setup");
        let e = store_credentials(&path, "h:1", "u", "p").expect_err("must fail");
        assert!(e.to_string().contains("config.json"), "{e}");
        assert_eq!(
            std::fs::read_to_string(&path).expect("test setup"),
            "{not json"
        );
        std::fs::write(&path, "[1]").expect("test setup");
        assert!(matches!(
            remove_credentials(&path, "h:1"),
            Err(Error::Invalid(_))
        ));
    }

    #[test]
    fn a_missing_config_is_created_with_a_private_directory() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().expect("test setup");
        let path = dir.path().join("new/.docker/config.json");
        store_credentials(&path, "h:1", "u", "p").expect("test setup");
        let mode = std::fs::metadata(path.parent().expect("test setup"))
            .expect("test setup")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o700);
        assert_eq!(
            stored_credentials(&path, "h:1"),
            Some(("u".into(), "p".into()))
        );
    }
}
