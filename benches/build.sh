#!/bin/sh
# container-build, whole processes in one hyperfine run each: the same 3-step Dockerfile
# (FROM busybox; RUN echo > file; COPY a file; ENV; CMD) built cold (--no-cache) and
# cached, by berth (release `berth build`), `buildah bud --layers` and Docker's classic
# builder (`DOCKER_BUILDKIT=0 docker build`, dockerd started here inside a throwaway
# network namespace (entered with nsenter: `ip netns exec` would remount /sys without the
# cgroup hierarchies dockerd needs) with its state in a temp dir; skipped with a note when
# it cannot start).
# The base is one busybox-static rootfs tar imported into each tool.
# Usage (as root, from the workspace): benches/build.sh   (BERTH=/path/to/berth skips the
# release build; RUNS=n sets hyperfine's run count, default 15)
set -eu
if [ -z "${BERTH:-}" ]; then
  TARGET=${CARGO_TARGET_DIR:-target}
  cargo build --release -p berth-examples --bin berth >/dev/null
  BERTH=$(realpath "$TARGET/release/berth")
fi
RUNS=${RUNS:-15}
DIR=$(mktemp -d)
NS="berth-bench-$$"
DOCKERD_PID=""
cleanup() {
  if [ -n "$DOCKERD_PID" ] && kill "$DOCKERD_PID" 2>/dev/null; then
    i=0
    while [ $i -lt 40 ] && kill -0 "$DOCKERD_PID" 2>/dev/null; do sleep 0.5; i=$((i + 1)); done
  fi
  buildah --root "$DIR/bst" --runroot "$DIR/brr" rmi --all --force >/dev/null 2>&1 || true
  grep " $DIR" /proc/self/mounts | awk '{print $2}' | sort -r | while read -r m; do umount -l "$m"; done
  ip netns delete "$NS" 2>/dev/null || true
  rm -rf "$DIR"
}
trap cleanup EXIT

# The busybox base rootfs, as a tar.
R="$DIR/rootfs"
mkdir -p "$R/bin" "$R/etc" "$R/proc" "$R/sys" "$R/dev" "$R/tmp" "$R/root" "$R/run"
cp /bin/busybox "$R/bin/"
for a in $(/bin/busybox --list); do [ "$a" = busybox ] || ln -sf busybox "$R/bin/$a"; done
printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n' >"$R/etc/passwd"
printf 'root:x:0:\nnogroup:x:65534:\n' >"$R/etc/group"
chmod 1777 "$R/tmp"
tar -C "$R" --numeric-owner -cf "$DIR/base.tar" .

CTX="$DIR/ctx"
mkdir -p "$CTX"
echo "a file from the context" >"$CTX/a.txt"
printf 'FROM localhost/busybox:bench\nRUN echo hello > /file\nCOPY a.txt /a.txt\nENV A=1\nCMD ["cat", "/file"]\n' >"$CTX/Dockerfile"

B="$BERTH --root $DIR/berth"
$B image import "$DIR/base.tar" localhost/busybox:bench >/dev/null
BA="buildah --root $DIR/bst --runroot $DIR/brr"
podman --root "$DIR/bst" --runroot "$DIR/brr" import "$DIR/base.tar" localhost/busybox:bench >/dev/null

DOCKER=""
if command -v dockerd >/dev/null && ip netns add "$NS" 2>/dev/null; then
  nsenter --net="/run/netns/$NS" dockerd --data-root "$DIR/docker" --exec-root "$DIR/dexec" \
    --pidfile "$DIR/docker.pid" --host "unix://$DIR/docker.sock" --bridge=none \
    --iptables=false --ip6tables=false >"$DIR/dockerd.log" 2>&1 &
  DOCKERD_PID=$!
  i=0
  while [ $i -lt 60 ] && ! docker -H "unix://$DIR/docker.sock" info >/dev/null 2>&1; do
    sleep 0.5; i=$((i + 1))
  done
  if docker -H "unix://$DIR/docker.sock" info >/dev/null 2>&1; then
    DOCKER="docker -H unix://$DIR/docker.sock"
    $DOCKER import "$DIR/base.tar" localhost/busybox:bench >/dev/null
  else
    echo "note: dockerd did not start; docker classic left out (see $DIR/dockerd.log)" >&2
  fi
fi

run_bench() { # $1: cold|cached
  if [ "$1" = cold ]; then NC="--no-cache"; else NC=""; fi
  set -- hyperfine --warmup 2 --runs "$RUNS" -N \
    -n berth "$B build $NC -q -t localhost/bench:1 $CTX" \
    -n "buildah bud --layers" "$BA bud --layers $NC -q -t localhost/bench:1 $CTX"
  if [ -n "$DOCKER" ]; then
    set -- "$@" -n "docker classic" \
      "env DOCKER_BUILDKIT=0 $DOCKER build $NC -q --network none -t localhost/bench:1 $CTX"
  fi
  "$@"
}
echo "== cold (--no-cache)"
run_bench cold
echo "== cached (unchanged context)"
run_bench cached
