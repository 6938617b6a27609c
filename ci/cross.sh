#!/usr/bin/env bash
# The non-Linux and non-x86_64 paths (the pool's CPU id, the TSC clock fallback) compile:
# `cargo check` of every library crate (crates/*), default and all features, warnings
# denied, for aarch64 Linux, x86_64 macOS and x86_64 Windows (targets added with rustup
# if missing). A check only: nothing is linked or run on those targets here.
# Usage: ci/cross.sh [target...]
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"
started=$SECONDS

targets=("$@")
[[ ${#targets[@]} -gt 0 ]] ||
    targets=(aarch64-unknown-linux-gnu x86_64-apple-darwin x86_64-pc-windows-msvc)
installed=$(rustup target list --installed)
for t in "${targets[@]}"; do
    grep -qx "$t" <<<"$installed" || rustup target add "$t"
done

pkgs=()
while read -r name; do pkgs+=(-p "$name"); done < <(cargo metadata --locked --no-deps --format-version 1 |
    python3 -c '
import json, sys
for p in json.load(sys.stdin)["packages"]:
    if p["manifest_path"].startswith(sys.argv[1]):
        print(p["name"])
' "$PWD/crates/")

for t in "${targets[@]}"; do
    for features in "" --all-features; do
        echo "--> cargo check --lib $features --target $t"
        # Each crate alone, so no crate's default build borrows another one's features.
        for ((i = 1; i < ${#pkgs[@]}; i += 2)); do
            RUSTFLAGS="${RUSTFLAGS:-} -D warnings" cargo check --locked --quiet -p "${pkgs[i]}" \
                --lib $features --target "$t" ||
                { echo "FAILED: cargo check -p ${pkgs[i]} --lib $features --target $t" >&2; exit 1; }
        done
    done
done
echo "cross-target checks passed in $((SECONDS - started)) s: ${targets[*]}"
