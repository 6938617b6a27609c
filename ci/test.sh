#!/usr/bin/env bash
# The one command that runs every gosync check: formatting, clippy, the unit, integration
# and doc tests, the release-mode stress tests, and every loom model.
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
step cargo clippy --locked --workspace --all-targets -- -D warnings
step cargo clippy --locked --workspace --all-targets --all-features -- -D warnings
# All features, so the optional integrations (context, metrics, crossbeam) are tested too.
step cargo test --locked --workspace --all-features
step env RUSTDOCFLAGS="-D warnings" cargo doc --locked --workspace --no-deps
step cargo test --locked --workspace --release --tests -- --ignored
# Loom: every `tests/loom_*.rs` model, in release with bounded preemptions. A separate
# target dir keeps the `--cfg loom` build from invalidating the normal one. The fuzz harness
# has no loom models (its tests replay the fuzz seeds on the normal build).
step env RUSTFLAGS="--cfg loom" CARGO_TARGET_DIR=target/loom \
    cargo test --locked --release --workspace --exclude gosync-benches --exclude gosync-examples \
    --exclude gosync-fuzz-harness \
    --tests loom_

echo
echo "All checks passed in $((SECONDS - started)) s (LOOM_MAX_PREEMPTIONS=$LOOM_MAX_PREEMPTIONS)."
