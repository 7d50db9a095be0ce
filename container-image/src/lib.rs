//! Stores and moves container images: references, content store, layers, overlayfs snapshots, archives, registry.
