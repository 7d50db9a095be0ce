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
# `benches/build.sh stages`: two independent stages (RUN sleep 1 each) built cold, berth
# vs `buildah bud --jobs 2` vs Docker's classic builder.
# `benches/build.sh parser` instead times the peer of the parser bench: BuildKit's own
# parser (PyPI `dockerfile`, Go through cgo) over the same corpus, in-process, best of 5
# passes; compare with `cargo bench -p berth-benches --bench build -- build_parser`.
set -eu
if [ "${1:-}" = parser ]; then
  PY=${PYTHON:-/opt/berth/pyvenv/bin/python}
  CORPUS=$(dirname "$0")/../container-build/tests/corpus
  exec "$PY" - "$CORPUS" <<'PYEOF'
import os, sys, time, dockerfile
d = sys.argv[1]
texts = [open(os.path.join(d, f)).read() for f in sorted(os.listdir(d))]
size = sum(len(t.encode()) for t in texts)
best = None
for _ in range(5):
    t0 = time.perf_counter()
    for t in texts:
        try:
            dockerfile.parse_string(t)
        except dockerfile.GoParseError:
            pass
    dt = time.perf_counter() - t0
    best = dt if best is None else min(best, dt)
print(f"BuildKit parser (PyPI dockerfile): {len(texts)} files, {size} bytes: "
      f"{best * 1e3:.2f} ms per pass, {size / best / 2**20:.1f} MiB/s")
PYEOF
fi
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
if [ "${1:-}" = stages ]; then
  # Two independent stages whose RUN waits 1 s each, then a stage copying from both,
  # cold: berth builds them at once, buildah with --jobs 2 too, Docker's classic builder
  # one after the other.
  CTX2="$DIR/ctx-stages"
  mkdir -p "$CTX2"
  printf 'FROM localhost/busybox:bench AS a\nRUN sleep 1 && echo a > /a\nFROM localhost/busybox:bench AS b\nRUN sleep 1 && echo b > /b\nFROM localhost/busybox:bench\nCOPY --from=a /a /a\nCOPY --from=b /b /b\n' >"$CTX2/Dockerfile"
  set -- hyperfine --warmup 1 --runs "$RUNS" -N \
    -n berth "$B build --no-cache -q -t localhost/stages:1 $CTX2" \
    -n "buildah bud --layers --jobs 2" "$BA bud --layers --jobs 2 --no-cache -q -t localhost/stages:1 $CTX2"
  if [ -n "$DOCKER" ]; then
    set -- "$@" -n "docker classic" \
      "env DOCKER_BUILDKIT=0 $DOCKER build --no-cache -q --network none -t localhost/stages:1 $CTX2"
  fi
  echo "== two independent stages (RUN sleep 1 each), cold"
  "$@"
  exit 0
fi
echo "== cold (--no-cache)"
run_bench cold
echo "== cached (unchanged context)"
run_bench cached
