//! Docker's `--network` modes.

use crate::error::{Result, invalid};

/// How a container gets its network.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NetworkMode {
    /// Its own namespace with loopback only ([`crate::setup_none`]).
    None,
    /// The host's namespace: nothing to set up.
    Host,
    /// Join the namespace of another container (by id or name, resolved by the engine).
    Container(String),
    /// Connect to the named network (`bridge` is the default one).
    Network(String),
}

impl NetworkMode {
    /// Parse `none`, `host`, `container:<id>`, `bridge` or a network name.
    pub fn parse(s: &str) -> Result<NetworkMode> {
        match s {
            "" | "default" | "bridge" => Ok(NetworkMode::Network(crate::DEFAULT_BRIDGE.into())),
            "none" => Ok(NetworkMode::None),
            "host" => Ok(NetworkMode::Host),
            _ => match s.strip_prefix("container:") {
                Some("") => Err(invalid(
                    "network mode",
                    s,
                    "container: needs a container id or name",
                )),
                Some(id) => Ok(NetworkMode::Container(id.to_string())),
                None => Ok(NetworkMode::Network(s.to_string())),
            },
        }
    }

    /// Whether the container gets a namespace of its own.
    pub fn needs_own_netns(&self) -> bool {
        matches!(self, NetworkMode::None | NetworkMode::Network(_))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_docker_modes() {
        assert_eq!(NetworkMode::parse("none").expect("none"), NetworkMode::None);
        assert_eq!(NetworkMode::parse("host").expect("host"), NetworkMode::Host);
        assert_eq!(
            NetworkMode::parse("container:abc").expect("c"),
            NetworkMode::Container("abc".into())
        );
        assert_eq!(
            NetworkMode::parse("bridge").expect("b"),
            NetworkMode::Network("bridge".into())
        );
        assert_eq!(
            NetworkMode::parse("mynet").expect("n"),
            NetworkMode::Network("mynet".into())
        );
        assert!(NetworkMode::parse("container:").is_err());
        assert!(!NetworkMode::Host.needs_own_netns());
    }
}
