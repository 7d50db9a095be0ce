//! `pull` and `push`: images to and from a registry through `container-image`'s
//! OCI distribution client, with per-blob progress for the caller to draw.

use crate::engine::Engine;
use crate::error::{Error, Result};
use container_image::registry::{Client, ProgressFn, PushOptions, RegistryOptions};
use std::path::PathBuf;

/// How to reach a registry.
#[derive(Debug, Clone, Default)]
pub struct RegistryAuth {
    /// Plain HTTP for every registry (loopback registries always use it).
    pub insecure: bool,
    /// Username and password; else `~/.docker/config.json` (or `$DOCKER_CONFIG`).
    pub credentials: Option<(String, String)>,
    /// Another Docker config file to take `auths` from.
    pub docker_config: Option<PathBuf>,
}

impl RegistryAuth {
    fn client(&self) -> Result<Client> {
        Client::new(RegistryOptions {
            insecure: self.insecure,
            credentials: self.credentials.clone(),
            docker_config: self.docker_config.clone(),
            platform: None,
        })
        .map_err(crate::images::img_err)
    }
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
        let client = auth.client()?;
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
        let client = auth.client()?;
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
