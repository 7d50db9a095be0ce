#!/bin/sh
# Whole-process comparison: `berth compose config` vs `docker-compose config` (1.29.2) on the
# 50-service project of benches/benches/compose.rs. Usage: benches/compose.sh [path/to/berth]
set -eu
BERTH=${1:-target/release/berth}
DIR=$(mktemp -d)
trap 'rm -rf "$DIR"' EXIT
python3 - "$DIR" <<'PY'
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
cd "$DIR"
case "$BERTH" in /*) ;; *) BERTH="$OLDPWD/$BERTH" ;; esac
hyperfine --warmup 3 --runs 20 -N \
  "$BERTH compose config" \
  "docker-compose config"
