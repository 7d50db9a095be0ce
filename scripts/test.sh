#!/bin/sh
# Runs berth's whole test suite as CI does: privileged tests for real (a test that
# lacks root, a kernel feature or a peer tool fails instead of skipping).
set -eu
cd "$(dirname "$0")/.."
export BERTH_REQUIRE_PRIVILEGED="${BERTH_REQUIRE_PRIVILEGED:-1}"
cargo build --workspace --bins
cargo test --workspace --no-fail-fast
