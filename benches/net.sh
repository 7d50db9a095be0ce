#!/bin/sh
# What a bridge network costs podman: `podman run --rm --network none` vs `--network bridge`
# (its network backend sets up bridge, veth, IPAM and firewall rules; CNI on this machine),
# in one hyperfine run. Everything runs in a throwaway network namespace, with podman's
# storage, run root and network config in a temp dir, so the machine's own links,
# firewall and images are not touched. The difference of the two means is what
# container-net's connect+disconnect replaces (`cargo bench -p berth-benches --bench net`).
# Usage: benches/net.sh   (RUNS=N to change the number of runs, default 20)
set -eu
DIR=$(mktemp -d)
NS="berth-bench-podman-$$"
P="podman --root $DIR/root --runroot $DIR/run --network-config-dir $DIR/net --cgroup-manager cgroupfs"
cleanup() {
  $P rmi -af >/dev/null 2>&1 || true
  $P system reset -f >/dev/null 2>&1 || true
  ip netns del "$NS" 2>/dev/null || true
  rm -rf "$DIR"
}
trap cleanup EXIT
mkdir -p "$DIR/rootfs/bin" "$DIR/rootfs/proc" "$DIR/rootfs/sys" "$DIR/rootfs/dev" "$DIR/rootfs/tmp" "$DIR/rootfs/etc" "$DIR/net"
cp /bin/busybox "$DIR/rootfs/bin/"
for a in $(/bin/busybox --list); do [ "$a" = busybox ] || ln -sf busybox "$DIR/rootfs/bin/$a"; done
echo 'root:x:0:0:root:/root:/bin/sh' >"$DIR/rootfs/etc/passwd"
echo 'root:x:0:' >"$DIR/rootfs/etc/group"
tar -C "$DIR/rootfs" -c . | $P import - localhost/busybox:bench >/dev/null
if [ ! -d /sys/fs/cgroup/hugetlb ] && [ -d /sys/fs/cgroup/unified ]; then
  mkdir -p /sys/fs/cgroup/hugetlb && mount -t cgroup -o hugetlb cgroup /sys/fs/cgroup/hugetlb || true
fi
ip netns add "$NS"
ip netns exec "$NS" ip link set lo up
# nsenter, not `ip netns exec`: the latter remounts /sys and hides the cgroup mounts.
RUN="nsenter --net=/run/netns/$NS $P run --rm --ulimit nofile=1024:1024 --ulimit nproc=4096:4096"
hyperfine --warmup 3 --runs ${RUNS:-20} \
  "$RUN --network none localhost/busybox:bench true" \
  "$RUN --network bridge localhost/busybox:bench true"
