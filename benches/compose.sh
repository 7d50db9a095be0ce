#!/bin/sh
# Whole-process comparisons of `berth compose` (hyperfine).
#
#   benches/compose.sh [config|up|all] [path/to/berth]
#
# config: `berth compose config` vs `docker-compose config` (1.29.2) on the 50-service
#         project of benches/benches/compose.rs.
# up:     `compose up -d` and `compose down` of a 10-service project (busybox image,
#         default network) vs podman-compose (PyPI; $PODMAN_COMPOSE, else
#         /opt/berth/pcvenv/bin/podman-compose, else on PATH). Needs root; runs inside a
#         throwaway network namespace (`unshare -n`), with berth's and podman's state in a
#         temporary directory, so nothing touches the machine's own network or stores.
set -eu
case "${1:-all}" in
  config|up|all) MODE=${1:-all}; BERTH=${2:-target/release/berth} ;;
  *) MODE=all; BERTH=$1 ;; # the older form: benches/compose.sh path/to/berth
esac
case "$BERTH" in /*) ;; *) BERTH="$PWD/$BERTH" ;; esac
DIR=$(mktemp -d)
trap 'rm -rf "$DIR"' EXIT

bench_config() {
  mkdir -p "$DIR/config"
  python3 - "$DIR/config" <<'PY'
import sys, os
d = sys.argv[1]
y = "x-common: &common\n  restart: unless-stopped\n  logging:\n    driver: json-file\n    options: {max-size: 10m}\nservices:\n"
for i in range(50):
    port, dbg, v = 8000 + i, 19000 + i, i % 5
    y += f"  svc{i}:\n    <<: *common\n    image: \"registry.local/app{i}:${{TAG:-1.0}}\"\n    command: [\"/bin/app\", \"--port\", \"{port}\"]\n    environment:\n      - INDEX={i}\n      - MODE=${{MODE:-prod}}\n    ports: [\"{port}:{port}\", \"127.0.0.1:{dbg}:9229\"]\n    volumes: [\"data{v}:/data\", \"./conf/{i}:/etc/app:ro\"]\n    networks:\n      front:\n        aliases: [app{i}]\n      back: {{}}\n    healthcheck:\n      test: [\"CMD\", \"/bin/app\", \"health\"]\n      interval: 10s\n      retries: 3\n    deploy:\n      resources: {{limits: {{cpus: '0.5', memory: 256M}}}}\n"
    if i > 0:
        y += f"    depends_on: [svc{i-1}]\n"
y += "networks:\n  front: {}\n  back: {internal: true}\nvolumes:\n" + "".join(f"  data{v}: {{}}\n" for v in range(5))
open(os.path.join(d, "docker-compose.yml"), "w").write(y)
PY
  (cd "$DIR/config" && hyperfine --warmup 3 --runs 20 -N \
    "$BERTH compose config" \
    "docker-compose config")
}

bench_up() {
  PC=${PODMAN_COMPOSE:-/opt/berth/pcvenv/bin/podman-compose}
  [ -x "$PC" ] || PC=$(command -v podman-compose || true)
  U="$DIR/up"
  mkdir -p "$U/rootfs/bin" "$U/rootfs/etc" "$U/rootfs/proc" "$U/rootfs/sys" "$U/rootfs/dev" \
    "$U/rootfs/tmp" "$U/project" "$U/berth" "$U/podman/root" "$U/podman/run" \
    "$U/podman/net" "$U/podman/tmp"
  cp /bin/busybox "$U/rootfs/bin/"
  for a in $(/bin/busybox --list); do
    [ "$a" = busybox ] || ln -sf busybox "$U/rootfs/bin/$a"
  done
  echo 'root:x:0:0:root:/root:/bin/sh' > "$U/rootfs/etc/passwd"
  echo 'root:x:0:' > "$U/rootfs/etc/group"
  tar -C "$U/rootfs" -cf "$U/bb.tar" .
  python3 - "$U/project/compose.yaml" <<'PY'
import sys
y = "services:\n"
for i in range(10):
    y += f"  s{i}:\n    image: localhost/bb:test\n    command: [\"/bin/sh\", \"-c\", \"trap 'exit 0' TERM; sleep 300 & wait\"]\n    environment: {{PATH: /bin, INDEX: '{i}'}}\n"
open(sys.argv[1], "w").write(y)
PY
  "$BERTH" --root "$U/berth" image import "$U/bb.tar" localhost/bb:test >/dev/null
  B="$BERTH --root $U/berth compose -p benchb"
  if [ -n "$PC" ]; then
    cat > "$U/storage.conf" <<EOF
[storage]
driver = "overlay"
graphroot = "$U/podman/root"
runroot = "$U/podman/run"
EOF
    cat > "$U/containers.conf" <<EOF
[containers]
default_ulimits = ["nofile=1024:1024", "nproc=4096:4096"]
[network]
network_config_dir = "$U/podman/net"
[engine]
tmp_dir = "$U/podman/tmp"
cgroup_manager = "cgroupfs"
events_logger = "file"
EOF
    export CONTAINERS_STORAGE_CONF="$U/storage.conf" CONTAINERS_CONF="$U/containers.conf"
    podman import "$U/bb.tar" localhost/bb:test >/dev/null
    P="$PC -p benchp"
    cd "$U/project"
    unshare -n sh -c "ip link set lo up
      hyperfine --warmup 1 --runs 5 \
        --prepare '$B down >/dev/null 2>&1' --prepare '$P down >/dev/null 2>&1' \
        -n 'berth compose up -d' '$B up -d >/dev/null 2>&1' \
        -n 'podman-compose up -d' '$P up -d >/dev/null 2>&1'
      hyperfine --warmup 1 --runs 5 \
        --prepare '$B up -d >/dev/null 2>&1' --prepare '$P up -d >/dev/null 2>&1' \
        -n 'berth compose down' '$B down >/dev/null 2>&1' \
        -n 'podman-compose down' '$P down >/dev/null 2>&1'
      $B down >/dev/null 2>&1; $P down >/dev/null 2>&1"
    podman rmi -f localhost/bb:test >/dev/null 2>&1 || true
    rm -rf "$U/podman" 2>/dev/null || true
  else
    echo "podman-compose not found: berth alone" >&2
    cd "$U/project"
    unshare -n sh -c "ip link set lo up
      hyperfine --warmup 1 --runs 5 --prepare '$B down >/dev/null 2>&1' \
        -n 'berth compose up -d' '$B up -d >/dev/null 2>&1'
      hyperfine --warmup 1 --runs 5 --prepare '$B up -d >/dev/null 2>&1' \
        -n 'berth compose down' '$B down >/dev/null 2>&1'
      $B down >/dev/null 2>&1"
  fi
  cd /
}

case "$MODE" in
  config) bench_config ;;
  up) bench_up ;;
  all) bench_config; bench_up ;;
  *) echo "usage: $0 [config|up|all] [path/to/berth]" >&2; exit 2 ;;
esac
