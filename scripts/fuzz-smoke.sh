#!/bin/sh
# A short run of every cargo-fuzz target, as CI does: finds crashes early, costs little.
# There is no nightly toolchain here: RUSTC_BOOTSTRAP=1 lets the stable compiler accept
# the sanitizer flags cargo-fuzz passes. FUZZ_SECS sets the time per target.
set -eu
cd "$(dirname "$0")/../fuzz"
SECS="${FUZZ_SECS:-15}"
export RUSTC_BOOTSTRAP=1
command -v cargo-fuzz >/dev/null 2>&1 || cargo install cargo-fuzz --locked
cargo fuzz build
log=$(mktemp)
trap 'rm -f "$log"' EXIT
for t in $(cargo fuzz list); do
    mkdir -p "corpus/$t"
    if cargo fuzz run "$t" "corpus/$t" -- -max_total_time="$SECS" -max_len=65536 \
        -rss_limit_mb=2048 >"$log" 2>&1; then
        echo "fuzz: $t: ${SECS}s, $(grep -o 'Done [0-9]* runs' "$log" | tail -n 1), no crash"
    else
        tail -n 40 "$log"
        echo "fuzz: $t FAILED (the crashing input is under fuzz/artifacts/$t)" >&2
        exit 1
    fi
done
