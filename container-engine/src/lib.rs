//! A Docker-like container engine without a daemon: containers from images, volumes, networks, logs, restart policies, compose.
