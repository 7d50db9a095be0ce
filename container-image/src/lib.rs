//! Stores and moves container images: references, a content-addressed blob store,
//! layer apply and diff, overlayfs copy-on-write snapshots, OCI layout and
//! docker-archive import/export, an image from host binaries, and a registry client.
//!
//! Everything lives under one root directory (`content/blobs/sha256`, `content/ingest`,
//! `images/`, `snapshots/<id>/{fs,work}`); writes are atomic and a file lock makes
//! several processes on one root safe.
//!
//! ```no_run
//! # fn main() -> container_image::Result<()> {
//! use container_image::{Mount, Store};
//! let store = Store::open("/var/lib/berth")?;
//! let img = store.import_host_binaries("localhost/tools:host", &["/bin/ls"])?;
//! let top = store.unpack(&img)?; // each layer unpacked once, shared
//! let mounts = store.snapshots().prepare("ctr-1", top.as_ref())?;
//! Mount::mount_all(&mounts, std::path::Path::new("/run/ctr-1/rootfs"))?;
//! # Ok(()) }
//! ```
//!
//! # What is hand-written, and why
//! * **Layer apply and diff** ([`layer`], [`diff`]) use the `tar` crate only to parse and
//!   write entries. `tar::Archive::unpack` follows symlinks in parent paths, so a hostile
//!   layer could write outside the root; it knows nothing of whiteouts, opaque dirs or
//!   overlayfs' char-device/xattr form of them; it cannot link to files of lower layers
//!   or hash the stream to verify the diffID. Apply resolves every parent with
//!   `openat2(RESOLVE_IN_ROOT)` and never follows the final component.
//! * **Snapshots** follow containerd's overlay snapshotter; deep images whose lowerdir
//!   list exceeds a page are mounted through the new mount API (`lowerdir+`).
//! * **Registry client**: see [`registry`] for why it is not `oci-client`.

pub mod archive;
pub mod content;
pub mod digest;
pub mod error;
pub mod image;
pub mod layer;
pub mod reference;
pub mod registry;

pub use digest::Digest;
pub use error::{Error, Result};
pub use image::{Image, ImageConfig, Layer};
pub use reference::Reference;
pub mod snapshot;
pub mod store;

pub use snapshot::{Mount, Snapshotter, unmount};
pub use store::{ImageSummary, Store};
pub mod diff;
pub mod hostbin;
pub mod ops;
