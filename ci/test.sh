#!/usr/bin/env bash
# The one command that runs every gosync check: formatting, clippy and the unit,
# integration and doc tests of every package with its default features, all features and
# each optional feature alone, the docs, the release-mode stress tests, and every loom
# model. Stable Rust only (the MSRV build is ci/msrv.sh, run by .ci/run after this).
# Usage: ./ci/test.sh            (LOOM_MAX_PREEMPTIONS=1 ./ci/test.sh for a quick loom smoke run)
set -euo pipefail
cd "$(dirname "$0")/.."

export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"
: "${LOOM_MAX_PREEMPTIONS:=2}"
export LOOM_MAX_PREEMPTIONS

started=$SECONDS
step() {
    echo
    echo "==> $*"
    local t=$SECONDS
    if ! "$@"; then
        echo
        echo "FAILED: $*" >&2
        exit 1
    fi
    echo "<== ok ($((SECONDS - t)) s): $*"
}

step cargo fmt --all -- --check
# Clippy, then the tests, of every package on its own with its default features, with all
# features, and with each optional feature alone (see ci/features.sh: one package per
# cargo call, so no other member's features leak in).
step ci/features.sh clippy
step ci/features.sh test
# The docs as a default build shows them and as docs.rs builds them (all features).
step env RUSTDOCFLAGS="-D warnings" cargo doc --locked --workspace --no-deps
step env RUSTDOCFLAGS="-D warnings" cargo doc --locked --workspace --no-deps --all-features
step cargo test --locked --workspace --all-features --release --tests -- --ignored
# Loom: every `tests/loom_*.rs` model, in release with bounded preemptions. A separate
# target dir keeps the `--cfg loom` build from invalidating the normal one. The fuzz harness
# has no loom models (its tests replay the fuzz seeds on the normal build).
step env RUSTFLAGS="--cfg loom" CARGO_TARGET_DIR=target/loom \
    cargo test --locked --release --workspace --all-features --exclude gosync-benches --exclude gosync-examples \
    --exclude gosync-fuzz-harness \
    --tests loom_

echo
echo "All checks passed in $((SECONDS - started)) s (LOOM_MAX_PREEMPTIONS=$LOOM_MAX_PREEMPTIONS)."
