//! The crate's error type.

use std::path::PathBuf;

/// Everything that can go wrong while giving a namespace its network.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A system call or file operation failed.
    #[error("{what}: {source}")]
    Io {
        /// What was being done, with the path or object it was done to.
        what: String,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
    /// The kernel rejected a netlink request.
    #[error("netlink {op}: {source}")]
    Netlink {
        /// The request, e.g. `create veth vb1234 -> eth0`.
        op: String,
        /// The kernel's error code.
        #[source]
        source: std::io::Error,
    },
    /// A netlink reply could not be decoded.
    #[error("netlink {op}: cannot decode reply: {detail}")]
    NetlinkDecode {
        /// The request.
        op: String,
        /// What was wrong.
        detail: String,
    },
    /// Input (a port mapping, a CIDR, an option, a name) is invalid.
    #[error("invalid {what} {input:?}: {reason}")]
    Invalid {
        /// The kind of input, e.g. `port mapping`.
        what: &'static str,
        /// The input as given.
        input: String,
        /// Why it is refused.
        reason: String,
    },
    /// A network with that name or id does not exist.
    #[error("network {0:?} not found")]
    NetworkNotFound(String),
    /// A network with that name already exists.
    #[error("network {0:?} already exists")]
    NetworkExists(String),
    /// A network still has containers attached.
    #[error("network {name:?} has {count} container(s) attached")]
    NetworkInUse {
        /// The network.
        name: String,
        /// How many endpoints are attached.
        count: usize,
    },
    /// A subnet overlaps one of another network.
    #[error("subnet {subnet} overlaps subnet {other} of network {network:?}")]
    SubnetOverlap {
        /// The subnet asked for.
        subnet: String,
        /// The subnet it overlaps.
        other: String,
        /// The network owning `other`.
        network: String,
    },
    /// No free subnet is left in the default pools.
    #[error("no free subnet left in the address pools")]
    PoolsExhausted,
    /// An address could not be allocated.
    #[error("network {network:?}: {reason}")]
    Ipam {
        /// The network.
        network: String,
        /// Why, e.g. `address 10.0.0.5 already in use`.
        reason: String,
    },
    /// The container is already attached to the network.
    #[error("container {container:?} is already connected to network {network:?}")]
    AlreadyConnected {
        /// The network.
        network: String,
        /// The container id.
        container: String,
    },
    /// The container is not attached to the network.
    #[error("container {container:?} is not connected to network {network:?}")]
    NotConnected {
        /// The network.
        network: String,
        /// The container id.
        container: String,
    },
    /// A host port is already published by another container.
    #[error(
        "host port {host_ip}:{port}/{protocol} is already published by container {container:?}"
    )]
    PortInUse {
        /// Host address ("0.0.0.0" for all).
        host_ip: String,
        /// The port.
        port: u16,
        /// tcp or udp.
        protocol: String,
        /// The container that holds it.
        container: String,
    },
    /// A link named in the configuration does not exist.
    #[error("link {0:?} not found")]
    LinkNotFound(String),
    /// `nft` failed.
    #[error("nft failed applying rules: {0}")]
    Nft(String),
    /// A stored file is corrupt.
    #[error("corrupt state file {path}: {reason}")]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// The parse error.
        reason: String,
    },
}

/// Result with the crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

pub(crate) fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> Error {
    let what = what.into();
    move |source| Error::Io { what, source }
}

pub(crate) fn invalid(
    what: &'static str,
    input: impl Into<String>,
    reason: impl Into<String>,
) -> Error {
    Error::Invalid {
        what,
        input: input.into(),
        reason: reason.into(),
    }
}
