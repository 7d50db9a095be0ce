#!/bin/sh
# N idle detached containers on this machine (the issue's "> 1000 containers on a server"):
# starts N (default 1000) `berth run -d --network none IMAGE sleep 100000` one after the
# other, reports the time to start them all and per container, the memory they take
# (PSS and RSS summed over /proc/PID/smaps_rollup of every monitor and every container
# process, and the drop of MemAvailable), checks that `berth ps` lists all N as running,
# then removes them all (`berth rm -f`) and checks that nothing is left: no process, no
# mount, no cgroup, no network namespace, no state directory. With PODMAN_N > 0 it then
# does the same for podman (conmon + container) with PODMAN_N containers, for a ratio.
# Needs root and busybox-static (podman for the comparison); builds berth in release mode.
# Usage: [BERTH=path/to/berth] [PODMAN_N=50] benches/engine-idle.sh [N]
# Exits 1 when a check fails (not all running, or something left after the removal).
set -eu
cd "$(dirname "$0")/.."
N="${1:-1000}"
PODMAN_N="${PODMAN_N:-0}"
if [ -z "${BERTH:-}" ]; then
    cargo build --release -p berth-examples --bin berth >/dev/null
    BERTH="${CARGO_TARGET_DIR:-$(pwd)/target}/release/berth"
fi
WORK="$(mktemp -d /tmp/berth-idle.XXXXXX)"
B="$BERTH --root $WORK/root"
P="podman --root $WORK/podman --runroot $WORK/podman-run --cgroup-manager cgroupfs --events-backend file --runtime runc"
FAIL=0
cleanup() {
    ids=$($B ps -aq 2>/dev/null || true)
    [ -n "$ids" ] && $B rm -f $ids >/dev/null 2>&1 || true
    if [ "$PODMAN_N" -gt 0 ]; then
        $P rm -a -f -t 0 >/dev/null 2>&1 || true
        $P rmi -a -f >/dev/null 2>&1 || true
    fi
    for m in $(grep " $WORK" /proc/self/mountinfo | awk '{print $5}' | sort -r); do umount -l "$m" 2>/dev/null || true; done
    rm -rf "$WORK"
}
trap cleanup EXIT
now_ms() { date +%s%3N; }
mem_available() { awk '/^MemAvailable:/ {print $2}' /proc/meminfo; }
# sum of one field (kB) of smaps_rollup over the pids in file $1
sum_field() {
    total=0
    while read -r p _; do
        v=$(awk -v f="$2:" '$1 == f {print $2}' /proc/"$p"/smaps_rollup 2>/dev/null || true)
        total=$((total + ${v:-0}))
    done <"$1"
    echo "$total"
}
# a busybox rootfs image
mkdir -p "$WORK/rootfs/bin" "$WORK/rootfs/etc" "$WORK/rootfs/proc" "$WORK/rootfs/sys" "$WORK/rootfs/dev" "$WORK/rootfs/tmp"
cp /bin/busybox "$WORK/rootfs/bin/"
for a in $(/bin/busybox --list); do [ -e "$WORK/rootfs/bin/$a" ] || ln -s busybox "$WORK/rootfs/bin/$a"; done
echo 'root:x:0:0:root:/root:/bin/sh' >"$WORK/rootfs/etc/passwd"
echo 'root:x:0:' >"$WORK/rootfs/etc/group"
tar -C "$WORK/rootfs" -cf "$WORK/rootfs.tar" .
$B image import "$WORK/rootfs.tar" localhost/busybox:idle >/dev/null

echo "# $N idle berth containers ($(date -u +%H:%M) UTC, load: $(cut -d' ' -f1-3 /proc/loadavg))"
sync
avail0=$(mem_available)
t0=$(now_ms)
i=0
failed=0
while [ "$i" -lt "$N" ]; do
    if ! $B run -d --network none localhost/busybox:idle sleep 100000 >>"$WORK/ids"; then
        failed=$((failed + 1))
    fi
    i=$((i + 1))
done
t1=$(now_ms)
sleep 2
avail1=$(mem_available)
# the monitors and container processes, from the records ("pid starttime" per line, the
# start time to tell them from later processes that reuse the pid)
# (empty for a zombie: it is gone but for its exit status, which its parent reaps)
starttime() { sed 's/.*) //' /proc/"$1"/stat 2>/dev/null | awk '$1 != "Z" {print $20}'; }
: >"$WORK/monitors"
: >"$WORK/ctrs"
for id in $(cat "$WORK/ids"); do
    rec="$WORK/root/containers/$id/config.v2.json"
    m=$(grep -o '"MonitorPid": *[0-9]*' "$rec" | grep -o '[0-9]*$')
    c=$(grep -o '"Pid": *[0-9]*' "$rec" | head -n1 | grep -o '[0-9]*$')
    echo "$m $(starttime "$m")" >>"$WORK/monitors"
    echo "$c $(starttime "$c")" >>"$WORK/ctrs"
done
mon_pss=$(sum_field "$WORK/monitors" Pss)
mon_rss=$(sum_field "$WORK/monitors" Rss)
ctr_pss=$(sum_field "$WORK/ctrs" Pss)
ctr_rss=$(sum_field "$WORK/ctrs" Rss)
running=$($B ps -q --no-trunc | sort)
expected=$(sort "$WORK/ids")
nrun=$(printf '%s\n' "$running" | grep -c . || true)
if [ "$running" != "$expected" ] || [ "$failed" -gt 0 ]; then
    echo "FAIL: $failed starts failed; berth ps lists $nrun running containers, expected $N"
    FAIL=1
fi
ms=$((t1 - t0))
echo
echo "| berth, $N containers | total | per container |"
echo "|---|---|---|"
echo "| start all (sequential \`run -d\`) | $ms ms | $((ms / N)) ms |"
echo "| monitors PSS / RSS | $mon_pss / $mon_rss kB | $((mon_pss / N)) / $((mon_rss / N)) kB |"
echo "| containers PSS / RSS | $ctr_pss / $ctr_rss kB | $((ctr_pss / N)) / $((ctr_rss / N)) kB |"
echo "| monitor + container PSS | $((mon_pss + ctr_pss)) kB | $(((mon_pss + ctr_pss) / N)) kB |"
echo "| MemAvailable drop | $((avail0 - avail1)) kB | $(((avail0 - avail1) / N)) kB |"
echo "| running in \`berth ps\` | $nrun | |"

# remove them all, then look for anything left
t0=$(now_ms)
$B rm -f $(cat "$WORK/ids") >/dev/null
t1=$(now_ms)
ms=$((t1 - t0))
echo "| remove all (one \`rm -f\` of $N) | $ms ms | $((ms / N)) ms |"
left=0
sleep 1
cat "$WORK/monitors" "$WORK/ctrs" >"$WORK/all-pids"
while read -r p st; do
    if [ -n "$st" ] && [ "$(starttime "$p")" = "$st" ]; then
        echo "left: process $p ($(cat /proc/"$p"/comm 2>/dev/null))"; left=$((left + 1))
    fi
done <"$WORK/all-pids"
for c in /proc/[0-9]*/comm; do
    [ "$(cat "$c" 2>/dev/null)" = "berth-monitor" ] || continue
    d=${c%/comm}
    if tr '\0' ' ' <"$d/cmdline" 2>/dev/null | grep -q -- "--root $WORK/root"; then
        echo "left: monitor ${d#/proc/}"; left=$((left + 1))
    fi
done
m=$(grep -c " $WORK/root" /proc/self/mountinfo || true)
[ "$m" -gt 0 ] && { echo "left: $m mounts under $WORK/root"; left=$((left + m)); }
for id in $(cat "$WORK/ids"); do
    for c in /sys/fs/cgroup/*/berth/"$id" /sys/fs/cgroup/berth/"$id"; do
        [ -d "$c" ] && { echo "left: cgroup $c"; left=$((left + 1)); }
    done
    ns="/run/netns/berth-$(echo "$id" | cut -c1-32)"
    [ -e "$ns" ] && { echo "left: netns $ns"; left=$((left + 1)); }
done
for d in "$WORK/root/containers" "$WORK/root/run"; do
    # dot files are the engine's own locks and caches (.names.lock, .seccomp-cache)
    n=$(find "$d" -mindepth 1 -maxdepth 1 ! -name '.*' 2>/dev/null | wc -l)
    [ "$n" -gt 0 ] && { echo "left: $n entries in $d"; left=$((left + n)); }
done
n=$(find "$WORK/root/snapshots" -mindepth 1 -maxdepth 1 -type d 2>/dev/null | wc -l)
# the image's own unpacked layer stays; container snapshots must be gone
if [ "$n" -gt 1 ]; then echo "left: $((n - 1)) container snapshots"; left=$((left + n - 1)); fi
echo "| left after removal (processes, mounts, cgroups, netns, state) | $left | |"
[ "$left" -gt 0 ] && FAIL=1

if [ "$PODMAN_N" -gt 0 ]; then
    export CONTAINERS_CONF="$WORK/containers.conf"
    printf '[containers]\ndefault_ulimits = ["nofile=1024:1024", "nproc=4096:4096"]\n' >"$CONTAINERS_CONF"
    $P import "$WORK/rootfs.tar" localhost/busybox:idle >/dev/null
    sync
    avail0=$(mem_available)
    t0=$(now_ms)
    i=0
    while [ "$i" -lt "$PODMAN_N" ]; do
        $P run -d --network none localhost/busybox:idle sleep 100000 >>"$WORK/pids"
        i=$((i + 1))
    done
    t1=$(now_ms)
    sleep 2
    avail1=$(mem_available)
    : >"$WORK/conmons"
    : >"$WORK/pctrs"
    for id in $(cat "$WORK/pids"); do
        c=$($P inspect -f '{{.State.Pid}}' "$id")
        echo "$c" >>"$WORK/pctrs"
        ps -o ppid= -p "$c" | tr -d ' ' >>"$WORK/conmons"
    done
    pm_pss=$(sum_field "$WORK/conmons" Pss)
    pm_rss=$(sum_field "$WORK/conmons" Rss)
    pc_pss=$(sum_field "$WORK/pctrs" Pss)
    pc_rss=$(sum_field "$WORK/pctrs" Rss)
    pn=$($P ps -q | grep -c . || true)
    ms=$((t1 - t0))
    echo
    echo "| podman, $PODMAN_N containers | total | per container |"
    echo "|---|---|---|"
    echo "| start all (sequential \`run -d\`) | $ms ms | $((ms / PODMAN_N)) ms |"
    echo "| conmon PSS / RSS | $pm_pss / $pm_rss kB | $((pm_pss / PODMAN_N)) / $((pm_rss / PODMAN_N)) kB |"
    echo "| containers PSS / RSS | $pc_pss / $pc_rss kB | $((pc_pss / PODMAN_N)) / $((pc_rss / PODMAN_N)) kB |"
    echo "| conmon + container PSS | $((pm_pss + pc_pss)) kB | $(((pm_pss + pc_pss) / PODMAN_N)) kB |"
    echo "| MemAvailable drop | $((avail0 - avail1)) kB | $(((avail0 - avail1) / PODMAN_N)) kB |"
    echo "| running in \`podman ps\` | $pn | |"
    t0=$(now_ms)
    $P rm -f -t 0 $(cat "$WORK/pids") >/dev/null
    t1=$(now_ms)
    ms=$((t1 - t0))
    echo "| remove all (one \`rm -f\` of $PODMAN_N) | $ms ms | $((ms / PODMAN_N)) ms |"
fi
exit "$FAIL"
