//! Stores and moves container images: references, a content store, layers, overlayfs
//! snapshots, archives and a registry client.

pub mod content;
pub mod digest;
pub mod error;
pub mod image;
pub mod layer;
pub mod reference;

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
