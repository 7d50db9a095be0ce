#!/bin/sh
# Installs everything berth's demo and tests need on a fresh Debian (12+) or Ubuntu
# machine, as root: the peer tools the interop tests drive, busybox for test root
# filesystems, nftables/iproute2 for networking. Rust itself must already be installed.
# Idempotent: running it again is cheap.
set -eu

if [ "$(id -u)" != 0 ]; then
    echo "setup-debian.sh: run as root" >&2
    exit 1
fi
if ! command -v cargo >/dev/null 2>&1; then
    echo "setup-debian.sh: cargo not found; install Rust (https://rustup.rs) first" >&2
    exit 1
fi

PACKAGES="crun runc podman buildah skopeo umoci containerd docker.io docker-compose
docker-registry busybox-static hyperfine nftables iptables iproute2 python3-venv
uidmap apache2-utils redis-server libseccomp-dev pkg-config ca-certificates
openssl util-linux mount systemd openssh-client git libc-bin"

missing=""
for p in $PACKAGES; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q
    # shellcheck disable=SC2086
    apt-get install -y -q --no-install-recommends $missing
fi

# container-build: BuildKit's own Dockerfile parser (PyPI `dockerfile`, a manylinux abi3
# wheel, no Go needed) for the parser conformance test.
if [ ! -x /opt/berth/pyvenv/bin/python ] || ! /opt/berth/pyvenv/bin/python -c 'import dockerfile' 2>/dev/null; then
    python3 -m venv /opt/berth/pyvenv
    /opt/berth/pyvenv/bin/pip install -q --only-binary=:all: 'dockerfile==3.4.0'
fi
