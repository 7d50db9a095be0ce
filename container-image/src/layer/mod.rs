//! Layer tars: [`apply`](apply::apply) one onto a directory safely, and
//! [`diff`](crate::diff) a directory back into one.
//!
//! Apply and diff are hand-written on top of the `tar` crate's entry parser/writer
//! rather than using `tar::Archive::unpack`: unpack follows symlinks in parent paths
//! (a hostile layer can write outside the root), knows nothing of OCI whiteouts, opaque
//! directories or overlayfs' representation of them, cannot link to files of lower
//! layers, and cannot hash the stream to verify the diffID while it extracts.

pub mod apply;
pub mod compression;

pub use apply::{ApplyOptions, ApplyStats, WhiteoutMode, apply};
pub use compression::{Compression, decompress, detect};

/// Prefix of a whiteout file (`.wh.<name>` deletes `<name>`).
pub const WHITEOUT_PREFIX: &str = ".wh.";
/// Name of an opaque-directory marker.
pub const WHITEOUT_OPAQUE: &str = ".wh..wh..opq";
/// overlayfs' xattr that marks a directory opaque.
pub const OVERLAY_OPAQUE_XATTR: &str = "trusted.overlay.opaque";
