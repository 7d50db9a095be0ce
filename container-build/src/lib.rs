//! Dockerfile to image: a BuildKit-compatible parser and a builder with a layer cache.
