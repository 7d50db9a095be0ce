#!/bin/sh
# Whole-process lifecycle of /bin/true in a busybox bundle (`run` = create+start+wait+delete):
# berth-runtime vs crun vs runc in one hyperfine run. Usage: benches/core.sh [path/to/berth-runtime]
# crun 1.8.1 refuses this machine's hybrid cgroup layout unless hugetlb is also mounted as v1;
# the script does that mount (idempotent) when crun is present.
set -eu
RT=${1:-target/release/berth-runtime}
case "$RT" in /*) ;; *) RT="$(pwd)/$RT" ;; esac
DIR=$(mktemp -d)
trap 'rm -rf "$DIR"' EXIT
mkdir -p "$DIR/b/rootfs/bin" "$DIR/b/rootfs/proc" "$DIR/b/rootfs/sys" "$DIR/b/rootfs/dev" "$DIR/b/rootfs/tmp" "$DIR/b/rootfs/etc"
cp /bin/busybox "$DIR/b/rootfs/bin/"
for a in $(/bin/busybox --list); do [ "$a" = busybox ] || ln -sf busybox "$DIR/b/rootfs/bin/$a"; done
cd "$DIR/b"
"$RT" spec
python3 - <<'PY'
import json
c = json.load(open("config.json"))
c["process"]["args"] = ["/bin/true"]
c["process"]["terminal"] = False
json.dump(c, open("config.json", "w"))
PY
if command -v crun >/dev/null && [ ! -d /sys/fs/cgroup/hugetlb ] && [ -d /sys/fs/cgroup/unified ]; then
  mkdir -p /sys/fs/cgroup/hugetlb && mount -t cgroup -o hugetlb cgroup /sys/fs/cgroup/hugetlb || true
fi
set -- "$RT --root $DIR/berth run bench"
command -v crun >/dev/null && set -- "$@" "crun --root $DIR/crun run bench"
command -v runc >/dev/null && set -- "$@" "runc --root $DIR/runc run bench"
hyperfine -N --warmup 5 --runs 50 "$@"
