#!/bin/sh
# container-image, whole processes in one hyperfine run each:
#  1. apply a gzip layer of 10,000 small files: berth (diffID verified) vs GNU tar -xzf
#     vs umoci unpack (which also verifies digests);
#  2. sha256 of a 256 MiB file: berth's content-store hasher vs openssl dgst -sha256.
# The layer and the berth side come from the criterion bench binary (benches/benches/image.rs):
# with BERTH_IMAGE_APPLY="<layer> <dir> [diff-id]" it applies one layer and exits, and with
# BERTH_IMAGE_MAKE="<dir>" it writes the 10,000-file layer, its diff id and an OCI layout.
# Usage (as root, from the workspace): benches/image.sh; TMPDIR picks the file system.
set -eu
# BERTH_IMAGE_BENCH_BIN names an already built bench binary (skips cargo).
BIN=${BERTH_IMAGE_BENCH_BIN:-$(cargo bench -p berth-benches --bench image --no-run 2>&1 |
  sed -n 's/.*Executable benches\/image.rs (\(.*\))/\1/p' | tail -n 1)}
[ -x "$BIN" ] || { echo "bench binary not found" >&2; exit 1; }
DIR=$(mktemp -d)
trap 'rm -rf "$DIR"' EXIT
BERTH_IMAGE_MAKE="$DIR/fx" "$BIN"
LAYER="$DIR/fx/layer.tar.gz"
DIFF=$(cat "$DIR/fx/diff_id")
hyperfine --warmup 1 --runs 10 \
  --prepare "rm -rf $DIR/out && mkdir $DIR/out" \
  -n berth "BERTH_IMAGE_APPLY='$LAYER $DIR/out $DIFF' $BIN" \
  -n "tar -xzf" "tar -C $DIR/out -xzf $LAYER" \
  -n "umoci unpack" "rm -rf $DIR/out && umoci unpack --image $DIR/fx/layout:10k $DIR/out"
head -c 268435456 /dev/urandom > "$DIR/sha-input"
hyperfine --warmup 2 --runs 10 \
  -n berth "BERTH_IMAGE_SHA256=$DIR/sha-input $BIN" \
  -n "openssl dgst -sha256" "openssl dgst -sha256 $DIR/sha-input"
