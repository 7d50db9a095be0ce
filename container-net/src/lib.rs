//! Gives a network namespace its network: bridge, veth, IPAM, macvlan, VXLAN overlay, published ports, names.
