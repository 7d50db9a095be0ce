//! The registry client over TLS: a `docker-registry` serving HTTPS on 127.0.0.1 with a
//! certificate of a throwaway CA; berth pushes and pulls when told to trust that CA
//! (podman's `--cert-dir`), and refuses an unknown CA.

use std::fs;
use std::path::Path;
use std::process::Command;

use container_image::diff::{DiffOptions, create_layer};
use container_image::registry::{Client, PushOptions, RegistryOptions};
use container_image::{ImageConfig, Store};

/// A self-signed certificate for `127.0.0.1` (its own CA): `(cert.pem, key.pem)` in `dir`.
fn self_signed(openssl: &Path, dir: &Path, name: &str) -> (std::path::PathBuf, std::path::PathBuf) {
    let cert = dir.join(format!("{name}.crt"));
    let key = dir.join(format!("{name}.key"));
    let out = Command::new(openssl)
        .args([
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
        ])
        .args(["-subj", &format!("/CN=berth test {name}")])
        .args(["-addext", "subjectAltName=IP:127.0.0.1"])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .expect("run openssl");
    assert!(
        out.status.success(),
        "openssl req failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    (cert, key)
}

#[tokio::test]
async fn push_and_pull_over_tls_with_a_trusted_ca_only() {
    let Some(openssl) = berth_tests::require_tool("openssl") else {
        return;
    };
    let tmp = tempfile::tempdir().expect("tempdir");
    let t = tmp.path();
    let (cert, key) = self_signed(&openssl, t, "registry");
    let Some(reg) = berth_tests::Registry::start_tls(&cert, &key) else {
        return;
    };
    let host = reg.host();

    // A one-layer image to push.
    let store = Store::open(t.join("store")).expect("store");
    let content = t.join("content");
    fs::create_dir_all(content.join("etc")).expect("mkdir");
    fs::write(content.join("etc/motd"), "over tls\n").expect("write");
    let layer = create_layer(&store, &content, &DiffOptions::default()).expect("layer");
    let img = store
        .write_image(&ImageConfig::default(), &[layer], Some("localhost/tls:1"))
        .expect("image");
    let remote = format!("{host}/berth/tls:1");

    // Trusting the registry's CA (podman's --cert-dir layout: *.crt files).
    let trusted = t.join("certs");
    fs::create_dir_all(&trusted).expect("mkdir");
    fs::copy(&cert, trusted.join("ca.crt")).expect("copy ca");
    let client = Client::new(RegistryOptions {
        cert_dir: Some(trusted.clone()),
        ..Default::default()
    })
    .expect("client");
    let pushed = client
        .push(
            &store,
            "localhost/tls:1",
            &remote,
            &PushOptions::default(),
            None,
        )
        .await
        .expect("push over TLS");
    assert_eq!(pushed, img.manifest_digest);
    let store2 = Store::open(t.join("store2")).expect("store2");
    let pulled = client
        .pull(&store2, &remote, None)
        .await
        .expect("pull over TLS");
    assert_eq!(pulled.manifest_digest, img.manifest_digest);

    // Another CA is not trusted: the handshake fails, and nothing lands in the store.
    let other = t.join("other");
    fs::create_dir_all(&other).expect("mkdir");
    let (other_cert, _) = self_signed(&openssl, &other, "other");
    fs::rename(&other_cert, other.join("ca.crt")).expect("rename");
    let untrusting = Client::new(RegistryOptions {
        cert_dir: Some(other),
        ..Default::default()
    })
    .expect("client");
    let store3 = Store::open(t.join("store3")).expect("store3");
    let err = untrusting
        .pull(&store3, &remote, None)
        .await
        .expect_err("an unknown CA must be refused");
    let msg = format!("{err:?}");
    assert!(
        msg.contains("certificate")
            || msg.contains("tls")
            || msg.contains("TLS")
            || msg.contains("SSL"),
        "not a certificate error: {msg}"
    );
    assert!(store3.list_images().expect("list").is_empty());

    // Without any CA configured, a loopback registry is spoken to in plain HTTP (as
    // Docker does for localhost), which a TLS-only registry refuses.
    let plain = Client::new(RegistryOptions::default()).expect("client");
    assert!(plain.pull(&store3, &remote, None).await.is_err());

    // A --cert-dir holding something that is not PEM is reported, naming the file.
    let bad = t.join("bad");
    fs::create_dir_all(&bad).expect("mkdir");
    fs::write(bad.join("ca.crt"), "not a certificate").expect("write");
    let bad_client = Client::new(RegistryOptions {
        cert_dir: Some(bad),
        ..Default::default()
    })
    .expect("directory readable");
    let err = bad_client
        .pull(&store3, &remote, None)
        .await
        .expect_err("garbage CA");
    assert!(format!("{err}").contains("ca.crt"), "{err}");
}
