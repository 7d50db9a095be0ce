//! Turns an OCI runtime spec and a rootfs into an isolated, resource-limited process with the OCI lifecycle.

pub mod caps;
pub mod lsm;
pub mod seccomp;
