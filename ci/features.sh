#!/usr/bin/env bash
# The feature matrix: lints (clippy, all targets, -D warnings) and tests every workspace
# member, one package at a time, with
#   - its default features,
#   - all features,
#   - each optional feature alone (--no-default-features --features F; no doctests),
# skipping a set that enables the same features as one already run.
#
# One package per cargo call on purpose: cargo unifies the features of all the packages
# it builds at once, so `cargo test --workspace` would test a crate with whatever
# features any other member turns on, never with its defaults alone. For the same
# reason no crate lists itself as a dev-dependency with features: tests and doctests
# of an optional API are gated with `#[cfg(feature = "...")]` instead.
#
# The members and their features come from `cargo metadata`, so a new crate under
# crates/ is picked up without editing this file.
#
# Usage: ci/features.sh [clippy|test|all] [package...]     (default: all, every member)
#        ci/features.sh --list                              print the matrix
set -euo pipefail
cd "$(dirname "$0")/.."

what="${1:-all}"
[[ $# -gt 0 ]] && shift
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"

# One line per (package, feature set): "<package> <default|all|alone> <cargo flags...>".
# Sets are compared by the features they enable (the closure over the features table),
# so a crate with one optional feature and an empty default runs two sets, not three.
matrix() {
    cargo metadata --locked --no-deps --format-version 1 | python3 -c '
import json, sys
meta = json.load(sys.stdin)
only = set(sys.argv[1:])
members = set(meta["workspace_members"])
for pkg in sorted(meta["packages"], key=lambda p: p["manifest_path"]):
    if pkg["id"] not in members or (only and pkg["name"] not in only):
        continue
    table = pkg["features"]
    def closure(names):
        seen, todo = set(), list(names)
        while todo:
            f = todo.pop()
            if f in table and f not in seen:
                seen.add(f)
                todo.extend(table[f])
        return frozenset(seen - {"default"})
    optional = sorted(f for f in table if f != "default")
    runs = [("default", "", closure(["default"])), ("all", "--all-features", closure(table))]
    runs += [("alone", "--no-default-features --features " + f, closure([f])) for f in optional]
    done = set()
    for kind, flags, enabled in runs:
        if enabled not in done:
            done.add(enabled)
            print(pkg["name"], kind, flags)
' "$@"
}

if [[ $what == --list ]]; then
    matrix "$@"
    exit 0
fi

started=$SECONDS
run() {
    local t=$SECONDS
    echo "--> $*"
    if ! "$@"; then
        echo
        echo "FAILED: $*" >&2
        exit 1
    fi
    echo "<-- ok ($((SECONDS - t)) s)"
}

mapfile -t lines < <(matrix "$@")
[[ ${#lines[@]} -gt 0 ]] || { echo "no packages matched: $*" >&2; exit 1; }

if [[ $what == all || $what == clippy ]]; then
    for line in "${lines[@]}"; do
        read -r -a args <<<"$line"
        run cargo clippy --locked -p "${args[0]}" "${args[@]:2}" --all-targets -- -D warnings
    done
fi
if [[ $what == all || $what == test ]]; then
    for line in "${lines[@]}"; do
        read -r -a args <<<"$line"
        # Doctests (each compiled on its own: most of a crate's test time) run with the
        # default and with all features; a feature alone runs the unit, integration and
        # example tests. Together that covers every doctest with the features it needs
        # and every ungated doctest without the optional ones.
        targets=()
        [[ ${args[1]} == alone ]] && targets=(--lib --bins --tests --examples)
        run cargo test --locked -p "${args[0]}" "${args[@]:2}" "${targets[@]}"
    done
fi
echo "feature matrix ($what, ${#lines[@]} package/feature sets) passed in $((SECONDS - started)) s"
