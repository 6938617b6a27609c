#!/usr/bin/env bash
# The docs as docs.rs builds them: nightly rustdoc, all features, `--cfg docsrs` (each
# crate's [package.metadata.docs.rs]), warnings denied. Then checks that, for every
# optional feature of every crate, the docs show at least one item marked "Available on
# crate feature F only" (the `doc(cfg)` badge): a crate that forgets
# `#![cfg_attr(docsrs, feature(doc_cfg))]` shows none.
#
# (Features that gate nothing in the crate's own source are skipped.)
#
# Needs a nightly toolchain (installed with rustup if missing); outside the README test
# command, which needs only stable. Usage: ci/docsrs.sh
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"
started=$SECONDS

if ! rustup run nightly rustdoc --version >/dev/null 2>&1; then
    rustup toolchain install nightly --profile minimal
fi

# name, then its optional features, one crate (under crates/) a line.
mapfile -t lines < <(cargo metadata --locked --no-deps --format-version 1 | python3 -c '
import json, sys
root = sys.argv[1]
for p in json.load(sys.stdin)["packages"]:
    if p["manifest_path"].startswith(root):
        print(p["name"], *sorted(f for f in p["features"] if f != "default"))
' "$PWD/crates/")

pkgs=()
for line in "${lines[@]}"; do pkgs+=(-p "${line%% *}"); done
export CARGO_TARGET_DIR=target/docsrs
# -Zrustdoc-map links dependencies to docs.rs, as docs.rs itself does (the leak check
# below looks for those links).
RUSTDOCFLAGS="--cfg docsrs -D warnings" cargo +nightly doc -Zrustdoc-map --locked --no-deps --all-features "${pkgs[@]}"

# package:feature pairs that gate only `#[doc(hidden)]` items.
HIDDEN_ONLY="gosync-pipe:diagnostics"
missing=0
for line in "${lines[@]}"; do
    read -r -a f <<<"$line"
    dir=$CARGO_TARGET_DIR/doc/${f[0]//-/_}
    src=$(cargo metadata --locked --no-deps --format-version 1 | python3 -c '
import json, os, sys
print(next(os.path.dirname(p["manifest_path"]) for p in json.load(sys.stdin)["packages"]
           if p["name"] == sys.argv[1]) + "/src")' "${f[0]}")
    for feature in "${f[@]:1}"; do
        # A feature that gates nothing in the crate's own source (one that only turns on
        # features of its dependencies) has nothing to mark.
        if ! grep -rq "feature = \"$feature\"" "$src"; then
            echo "${f[0]}: feature $feature gates no item of its own"
            continue
        fi
        # A feature whose items are all `#[doc(hidden)]` (diagnostics for the benches,
        # not public API) has no page to mark.
        if [[ " $HIDDEN_ONLY " == *" ${f[0]}:$feature "* ]]; then
            echo "${f[0]}: feature $feature gates hidden items only"
            continue
        fi
        # The badge on an item's page, and the short one in the module's item list.
        n=$({ grep -rlE "crate feature (<code>$feature</code>|\`$feature\`)" "$dir" || true; } | wc -l)
        echo "${f[0]}: feature $feature marked on $n pages"
        if [[ $n == 0 ]]; then
            echo "MISSING: no item of ${f[0]} is marked with its feature $feature" >&2
            missing=1
        fi
    done
done

# No documented item may name a parking_lot type, except in the crates whose documented
# API is built on a parking_lot guard (gosync-cond's `Cond::wait`, and the umbrella that
# re-exports it): there a parking_lot major upgrade is a breaking change by design, and
# the crate says so. Everywhere else the lock types are the hidden std/loom switch's.
PARKING_LOT_PUBLIC="gosync_cond gosync"
for line in "${lines[@]}"; do
    name=${line%% *}
    name=${name//-/_}
    [[ " $PARKING_LOT_PUBLIC " == *" $name "* ]] && continue
    leaks=$({ grep -rlE 'href="[^"]*parking_lot/' "$CARGO_TARGET_DIR/doc/$name" || true; } | head -5)
    if [[ -n $leaks ]]; then
        echo "LEAK: $name's public docs link to parking_lot items:" >&2
        echo "$leaks" >&2
        missing=1
    fi
done

[[ $missing == 0 ]] || { echo "docs.rs check FAILED" >&2; exit 1; }
echo "docs.rs build checked in $((SECONDS - started)) s"
