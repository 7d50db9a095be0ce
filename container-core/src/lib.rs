//! container-core: an OCI runtime as a library.
//!
//! Give it an [`oci_spec::runtime::Spec`] and a bundle (a directory whose `root.path`
//! is the container's root file system) and it makes a container whose lifecycle follows
//! the OCI runtime spec: [`Container::create`] (the process is set up and waits),
//! [`Container::start`], [`Container::state`], [`Container::kill`], [`Container::wait`],
//! [`Container::delete`], plus [`Container::exec`], pause/resume and resource updates.
//! State lives under a runtime root (default [`DEFAULT_RUNTIME_ROOT`]), so another
//! process can find and control a container it did not create. `berth-runtime` (in
//! `examples/`) is a runc-compatible CLI over this crate that podman, containerd and
//! dockerd drive.
//!
//! ```no_run
//! use container_core::{Container, CreateOptions, spec};
//! # fn main() -> container_core::Result<()> {
//! let bundle = std::path::Path::new("/tmp/bundle"); // holds rootfs/
//! let mut config = spec::default_spec(); // Docker's defaults: caps, seccomp, masks
//! config.process_mut().as_mut().map(|p| p.set_args(Some(vec!["/bin/true".into()])));
//! let mut c = Container::create("job-1", bundle, &config, "/run/berth".as_ref(), CreateOptions::default())?;
//! c.start()?;
//! assert_eq!(c.wait()?, 0);
//! c.delete(false)?;
//! # Ok(()) }
//! ```
//!
//! # What is hand-written, and why
//! The process setup (fork, namespaces, mounts, pivot_root, devices, console, id
//! switching, exec) is written against raw system calls (`libc`, some `nix`): it runs in
//! a forked child of a possibly multi-threaded caller, where it must stay away from locks
//! and report every failure with its context over a socket, which no crate does for us.
//! No helper binary is re-executed: the library forks directly, so `create` costs a
//! fork, a clone and the mounts. cgroups ([`cgroups`]), seccomp ([`seccomp`]),
//! capabilities ([`caps`]) and LSM labels ([`lsm`]) are modules of their own; seccomp
//! filters are compiled with libseccomp before the fork.
//!
//! # Security
//! Mount destinations and device paths are resolved inside the rootfs with
//! `openat2(RESOLVE_IN_ROOT)` and mounted through `/proc/self/fd`, so hostile symlinks in
//! a rootfs cannot redirect them to the host; every fd but stdio and the preserved ones
//! is closed or close-on-exec before the program runs; the runtime side of a process is
//! made non-dumpable before it enters the container; masking uses a `/dev/null` checked
//! to be the real null device; sysctls are written only to a verified procfs.

pub mod caps;
pub mod cgroups;
mod channel;
mod container;
pub mod error;
mod hooks;
mod init;
pub mod lsm;
mod mounts;
mod rootfs;
mod safe_path;
pub mod seccomp;
pub mod spec;
pub mod state;
mod sys;

pub use container::{Container, CreateOptions, DEFAULT_RUNTIME_ROOT, ExecOptions, ExecProcess};
pub use error::{ChildError, ChildErrorKind, Error, Result};
pub use state::{State, Status};
