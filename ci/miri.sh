#!/usr/bin/env bash
# Undefined-behaviour checks beyond loom, for the crates with `unsafe` and the ones built
# on them: their unit and integration tests under Miri, then once under AddressSanitizer.
#
# Needs nightly with Miri (outside the README test command, which needs only stable):
#   rustup toolchain install nightly --component miri --component rust-src
#
# Usage: ci/miri.sh            Miri, then ASan
#        ci/miri.sh miri       Miri only
#        ci/miri.sh asan       ASan only
#        CRATES="gosync-pipe" ci/miri.sh miri
#
# Under Miri, `cfg(miri)` scales the big loops down and skips (with the reason, via
# `#[cfg_attr(miri, ignore = "...")]`) the few tests Miri cannot run (those that start
# the context crate's process-wide timer thread: Miri fails a run that leaves a thread
# behind, unless -Zmiri-ignore-leaks also turns the leak check off); the pool reads a
# simulated CPU id (Miri can run neither the rseq read nor `sched_getcpu`) and
# `Clock::nanos` reads `Instant` (no `cpuid`/`rdtsc` under Miri). Expected noise: one
# "integer-to-pointer cast" warning per test binary, from parking_lot_core's word lock.
set -euo pipefail
cd "$(dirname "$0")/.."

what="${1:-all}"
read -r -a crates <<<"${CRATES:-gosync-core gosync-pipe gosync-pool gosync-once gosync-context gosync-workqueue gosync-waitgroup gosync-cond}"
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"
started=$SECONDS

if [[ $what == all || $what == miri ]]; then
    # Isolation off: the tests read clocks and sleep. Many seeds are too slow here; one
    # seed per run, varied by MIRI_SEED if given.
    export MIRIFLAGS="${MIRIFLAGS:--Zmiri-disable-isolation -Zmiri-seed=${MIRI_SEED:-1}}"
    # The tests catch many expected panics (misuse checks, panicking user code); an
    # interpreted backtrace for each costs seconds.
    export RUST_BACKTRACE=0
    for c in "${crates[@]}"; do
        echo "==> miri: $c"
        t=$SECONDS
        cargo +nightly miri test --locked -p "$c" --all-features --lib --tests
        echo "<== ok ($((SECONDS - t)) s): miri $c"
    done
fi

if [[ $what == all || $what == asan ]]; then
    # Only the workspace's code is instrumented (an explicit --target keeps build scripts
    # and proc macros out); leak detection on, as the crates promise to free everything.
    target="$(rustc +nightly -vV | sed -n 's/^host: //p')"
    args=()
    for c in "${crates[@]}"; do args+=(-p "$c"); done
    echo "==> asan: ${crates[*]}"
    t=$SECONDS
    RUSTFLAGS="-Zsanitizer=address" \
        ASAN_OPTIONS="detect_leaks=1" \
        CARGO_TARGET_DIR=target/asan \
        cargo +nightly test --locked --target "$target" "${args[@]}" --all-features --lib --tests
    echo "<== ok ($((SECONDS - t)) s): asan"
fi

echo
echo "UB checks passed in $((SECONDS - started)) s."
