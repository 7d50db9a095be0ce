#!/bin/sh
# Whole-process comparison: `berth run --rm IMAGE true` vs `podman run --rm` on the same
# busybox image, without network and with a bridge network, measured by hyperfine in one
# run. Needs root, busybox-static, podman, hyperfine; builds berth in release mode.
# Usage: [BERTH=path/to/berth] benches/engine.sh [runs]   (prints a markdown table; ratios vs podman)
set -eu
cd "$(dirname "$0")/.."
RUNS="${1:-30}"
if [ -z "${BERTH:-}" ]; then
    cargo build --release -p berth-examples --bin berth >/dev/null
    BERTH="${CARGO_TARGET_DIR:-$(pwd)/target}/release/berth"
fi
WORK="$(mktemp -d /tmp/berth-bench.XXXXXX)"
NS="berth-bench-$$"
cleanup() {
    "$BERTH" --root "$WORK/root" rm -f $("$BERTH" --root "$WORK/root" ps -aq 2>/dev/null) >/dev/null 2>&1 || true
    ip netns exec "$NS" "$BERTH" --root "$WORK/root" network rm benchnet >/dev/null 2>&1 || true
    podman --root "$WORK/podman" --runroot "$WORK/podman-run" rmi -a -f >/dev/null 2>&1 || true
    ip netns delete "$NS" 2>/dev/null || true
    for m in $(grep " $WORK" /proc/self/mountinfo | awk '{print $5}' | sort -r); do umount -l "$m" 2>/dev/null || true; done
    rm -rf "$WORK"
}
trap cleanup EXIT
# a busybox rootfs, imported into both
mkdir -p "$WORK/rootfs/bin" "$WORK/rootfs/etc" "$WORK/rootfs/proc" "$WORK/rootfs/sys" "$WORK/rootfs/dev" "$WORK/rootfs/tmp"
cp /bin/busybox "$WORK/rootfs/bin/"
for a in $(/bin/busybox --list); do [ -e "$WORK/rootfs/bin/$a" ] || ln -s busybox "$WORK/rootfs/bin/$a"; done
echo 'root:x:0:0:root:/root:/bin/sh' > "$WORK/rootfs/etc/passwd"
echo 'root:x:0:' > "$WORK/rootfs/etc/group"
tar -C "$WORK/rootfs" -cf "$WORK/rootfs.tar" .
"$BERTH" --root "$WORK/root" image import "$WORK/rootfs.tar" localhost/busybox:bench >/dev/null
P="podman --root $WORK/podman --runroot $WORK/podman-run --cgroup-manager cgroupfs --events-backend file --runtime runc"
$P import "$WORK/rootfs.tar" localhost/busybox:bench >/dev/null
export CONTAINERS_CONF="$WORK/containers.conf"
printf '[containers]\ndefault_ulimits = ["nofile=1024:1024", "nproc=4096:4096"]\n' > "$CONTAINERS_CONF"
ip netns add "$NS"
ip netns exec "$NS" ip link set lo up
ip netns exec "$NS" "$BERTH" --root "$WORK/root" network create benchnet >/dev/null
hyperfine -N --warmup 3 --runs "$RUNS" --export-markdown "$WORK/none.md" \
    -n "berth run --rm (no network)" "$BERTH --root $WORK/root run --rm --network none localhost/busybox:bench true" \
    -n "podman run --rm (no network)" "$P run --rm --network none localhost/busybox:bench true"
hyperfine -N --warmup 3 --runs "$RUNS" --export-markdown "$WORK/bridge.md" \
    -n "berth run --rm (bridge)" "ip netns exec $NS $BERTH --root $WORK/root run --rm --network benchnet localhost/busybox:bench true" \
    -n "podman run --rm (bridge)" "ip netns exec $NS $P run --rm localhost/busybox:bench true"
cat "$WORK/none.md" "$WORK/bridge.md"
