#!/bin/sh
# Whole-process comparison: `berth run --rm IMAGE true` vs `podman run --rm` and
# `docker run --rm` (dockerd started for the bench) on the same busybox image, without
# network and with a bridge network, measured by hyperfine in one run; then the memory of
# an idle detached container (monitor + container vs conmon + container, vs dockerd's shim).
# Everything networked runs in a throwaway network namespace entered with
# `nsenter --net` (not `ip netns exec`, which remounts /sys and hides the cgroup mounts).
# Needs root, busybox-static, podman, docker.io, hyperfine; builds berth in release mode.
# Usage: [BERTH=path/to/berth] [BERTH_BEFORE=path/to/older/berth] benches/engine.sh [runs]
# (prints markdown tables; BERTH_BEFORE adds an older build to the same hyperfine runs, for
# before/after figures taken under the same load)
set -eu
cd "$(dirname "$0")/.."
RUNS="${1:-30}"
if [ -z "${BERTH:-}" ]; then
    cargo build --release -p berth-examples --bin berth >/dev/null
    BERTH="${CARGO_TARGET_DIR:-$(pwd)/target}/release/berth"
fi
WORK="$(mktemp -d /tmp/berth-bench.XXXXXX)"
NS="berth-bench-$$"
IN_NS="nsenter --net=/run/netns/$NS"
DOCKERD_PID=""
cleanup() {
    "$BERTH" --root "$WORK/root" rm -f $("$BERTH" --root "$WORK/root" ps -aq 2>/dev/null) >/dev/null 2>&1 || true
    $IN_NS "$BERTH" --root "$WORK/root" network rm benchnet >/dev/null 2>&1 || true
    $P rm -a -f >/dev/null 2>&1 || true
    $P rmi -a -f >/dev/null 2>&1 || true
    if [ -n "$DOCKERD_PID" ]; then
        $D rm -f $($D ps -aq 2>/dev/null) >/dev/null 2>&1 || true
        kill "$DOCKERD_PID" 2>/dev/null || true
        for _ in $(seq 50); do kill -0 "$DOCKERD_PID" 2>/dev/null || break; sleep 0.2; done
    fi
    ip netns delete "$NS" 2>/dev/null || true
    for m in $(grep " $WORK" /proc/self/mountinfo | awk '{print $5}' | sort -r); do umount -l "$m" 2>/dev/null || true; done
    rm -rf "$WORK"
}
P="podman --root $WORK/podman --runroot $WORK/podman-run --cgroup-manager cgroupfs --events-backend file --runtime runc"
D="docker -H unix://$WORK/docker.sock"
trap cleanup EXIT
# a busybox rootfs, imported into all three
mkdir -p "$WORK/rootfs/bin" "$WORK/rootfs/etc" "$WORK/rootfs/proc" "$WORK/rootfs/sys" "$WORK/rootfs/dev" "$WORK/rootfs/tmp"
cp /bin/busybox "$WORK/rootfs/bin/"
for a in $(/bin/busybox --list); do [ -e "$WORK/rootfs/bin/$a" ] || ln -s busybox "$WORK/rootfs/bin/$a"; done
echo 'root:x:0:0:root:/root:/bin/sh' > "$WORK/rootfs/etc/passwd"
echo 'root:x:0:' > "$WORK/rootfs/etc/group"
tar -C "$WORK/rootfs" -cf "$WORK/rootfs.tar" .
"$BERTH" --root "$WORK/root" image import "$WORK/rootfs.tar" localhost/busybox:bench >/dev/null
$P import "$WORK/rootfs.tar" localhost/busybox:bench >/dev/null
export CONTAINERS_CONF="$WORK/containers.conf"
printf '[containers]\ndefault_ulimits = ["nofile=1024:1024", "nproc=4096:4096"]\n' > "$CONTAINERS_CONF"
ip netns add "$NS"
$IN_NS ip link set lo up
$IN_NS "$BERTH" --root "$WORK/root" network create benchnet >/dev/null
# dockerd in the namespace (its docker0 and iptables rules stay there)
$IN_NS dockerd --data-root "$WORK/docker" --exec-root "$WORK/docker-run" --pidfile "$WORK/docker.pid" \
    --host "unix://$WORK/docker.sock" --default-ulimit nofile=1024:1024 >"$WORK/dockerd.log" 2>&1 &
DOCKERD_PID=$!
for _ in $(seq 100); do $D version >/dev/null 2>&1 && break; sleep 0.2; done
$D import "$WORK/rootfs.tar" localhost/busybox:bench >/dev/null
set --
set -- "$@" -n "berth run --rm (no network)" "$BERTH --root $WORK/root run --rm --network none localhost/busybox:bench true"
if [ -n "${BERTH_BEFORE:-}" ]; then
    set -- "$@" -n "berth (before) run --rm (no network)" "$BERTH_BEFORE --root $WORK/root run --rm --network none localhost/busybox:bench true"
fi
hyperfine -N --warmup 3 --runs "$RUNS" --export-markdown "$WORK/none.md" "$@" \
    -n "podman run --rm (no network)" "$P run --rm --network none localhost/busybox:bench true" \
    -n "docker run --rm (no network)" "$D run --rm --network none localhost/busybox:bench true"
set --
set -- "$@" -n "berth run --rm (bridge)" "$IN_NS $BERTH --root $WORK/root run --rm --network benchnet localhost/busybox:bench true"
if [ -n "${BERTH_BEFORE:-}" ]; then
    set -- "$@" -n "berth (before) run --rm (bridge)" "$IN_NS $BERTH_BEFORE --root $WORK/root run --rm --network benchnet localhost/busybox:bench true"
fi
hyperfine -N --warmup 3 --runs "$RUNS" --export-markdown "$WORK/bridge.md" "$@" \
    -n "podman run --rm (bridge)" "$IN_NS $P run --rm localhost/busybox:bench true" \
    -n "docker run --rm (bridge)" "$IN_NS $D run --rm localhost/busybox:bench true"
cat "$WORK/none.md" "$WORK/bridge.md"

# CPU per run (user + system, ms) of the whole process tree, forked descendants included
# (berth's monitor and the container; podman's conmon and runc), from `perf stat` over 10
# runs. Docker's work happens in dockerd/containerd, outside the tree: not comparable.
if command -v perf >/dev/null 2>&1; then
    cpu() { perf stat -x, -r 10 -e task-clock "$@" 2>&1 >/dev/null | awk -F, '/task-clock/ {printf "%.1f", $1}'; }
    echo
    echo "| CPU per \`run --rm\` (task-clock, ms, no network) | berth | podman |"
    echo "|---|---|---|"
    echo "| user + system, whole process tree | $(cpu $BERTH --root $WORK/root run --rm --network none localhost/busybox:bench true) | $(cpu $P run --rm --network none localhost/busybox:bench true) |"
    if [ -n "${BERTH_BEFORE:-}" ]; then
        echo "| berth (before) | $(cpu $BERTH_BEFORE --root $WORK/root run --rm --network none localhost/busybox:bench true) | |"
    fi
fi

# memory of one idle detached container: proportional set size (kB) of the processes
# that stay: berth's monitor + the container; podman's conmon + the container; dockerd's
# containerd-shim + the container (dockerd and containerd themselves not counted).
pss() { awk '/^Pss:/ {s+=$2} END {print s+0}' /proc/"$1"/smaps_rollup 2>/dev/null || echo 0; }
id=$("$BERTH" --root "$WORK/root" run -d --network none localhost/busybox:bench sleep 600)
sleep 1
mon=$(grep -o '"MonitorPid": *[0-9]*' "$WORK/root/containers/$id/config.v2.json" | grep -o '[0-9]*$')
ctr=$("$BERTH" --root "$WORK/root" inspect -f '{{.State.Pid}}' "$id")
b_mon=$(pss "$mon"); b_ctr=$(pss "$ctr")
if [ -n "${BERTH_BEFORE:-}" ]; then
    id0=$("$BERTH_BEFORE" --root "$WORK/root" run -d --network none localhost/busybox:bench sleep 600)
    sleep 1
    mon0=$(grep -o '"MonitorPid": *[0-9]*' "$WORK/root/containers/$id0/config.v2.json" | grep -o '[0-9]*$')
    ctr0=$("$BERTH" --root "$WORK/root" inspect -f '{{.State.Pid}}' "$id0")
    b0_mon=$(pss "$mon0"); b0_ctr=$(pss "$ctr0")
fi
pid=$($P run -d --network none localhost/busybox:bench sleep 600)
sleep 1
cpid=$($P inspect -f '{{.State.Pid}}' "$pid")
conmon=$(ps -o ppid= -p "$cpid" | tr -d ' ')
p_mon=$(pss "$conmon"); p_ctr=$(pss "$cpid")
did=$($D run -d --network none localhost/busybox:bench sleep 600)
sleep 1
dpid=$($D inspect -f '{{.State.Pid}}' "$did")
shim=$(ps -o ppid= -p "$dpid" | tr -d ' ')
d_mon=$(pss "$shim"); d_ctr=$(pss "$dpid")
echo
echo "| idle detached container (PSS) | keeper process | container | total |"
echo "|---|---|---|---|"
echo "| berth (monitor) | $b_mon kB | $b_ctr kB | $((b_mon + b_ctr)) kB |"
if [ -n "${BERTH_BEFORE:-}" ]; then
    echo "| berth (before) (monitor) | $b0_mon kB | $b0_ctr kB | $((b0_mon + b0_ctr)) kB |"
fi
echo "| podman (conmon) | $p_mon kB | $p_ctr kB | $((p_mon + p_ctr)) kB |"
echo "| docker (containerd-shim) | $d_mon kB | $d_ctr kB | $((d_mon + d_ctr)) kB |"
