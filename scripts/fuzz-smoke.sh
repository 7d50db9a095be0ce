#!/bin/sh
# A short run of each cargo-fuzz target, as CI does: finds crashes early, costs little.
# Each crate appends its own section below. Needs nightly (cargo +nightly fuzz).
set -eu
cd "$(dirname "$0")/../fuzz"
SECS="${FUZZ_SECS:-20}"
fuzz() {
    cargo +nightly fuzz run "$1" -- -max_total_time="$SECS" -rss_limit_mb=2048 ${2:-}
}

# container-image: the layer reader (hostile tars) and reference/manifest parsing.
fuzz image_layer "-max_len=65536"
fuzz image_reference
