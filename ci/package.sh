#!/usr/bin/env bash
# What crates.io would get: `cargo package` of every publishable workspace member (not the
# `publish = false` examples, benches and fuzz harness; the harness includes model files
# from crates/*/tests and cannot build from a tarball of its own), verified (each .crate
# is unpacked and built against the other packaged crates), after checking that each
# package ships its README and both licence files, the same as the root ones.
# Usage: ci/package.sh
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"
started=$SECONDS

# "<name> <dir>" of every member that may be published.
mapfile -t lines < <(cargo metadata --locked --no-deps --format-version 1 | python3 -c '
import json, os, sys
meta = json.load(sys.stdin)
members = set(meta["workspace_members"])
for p in meta["packages"]:
    if p["id"] in members and p["publish"] != []:
        print(p["name"], os.path.dirname(p["manifest_path"]))
')
pkgs=()
bad=0
for line in "${lines[@]}"; do
    read -r name dir <<<"$line"
    pkgs+=(-p "$name")
    for f in LICENSE-MIT LICENSE-APACHE; do
        if ! cmp -s "$f" "$dir/$f"; then
            echo "$name: $dir/$f is missing or differs from the root $f (copy it)" >&2
            bad=1
        fi
    done
    [[ -s $dir/README.md ]] || { echo "$name: no README.md" >&2; bad=1; }
done
[[ $bad == 0 ]] || { echo "package check FAILED" >&2; exit 1; }

# Cargo treats a registry crate of a given version as immutable, and the packaged crates
# come from a temporary local registry with an unchanged version, so a second run would
# verify against stale copies of them (seen here: "unresolved import
# gosync_core::waiters" after core gained the module): both the unpacked sources in
# $CARGO_HOME/registry/src/-<hash>/<name>-<version> (local registries only; crates.io's
# are left alone) and their build artifacts. So: remove those unpacked copies, and build
# in a target dir of our own whose gosync artifacts are removed first (the other
# dependencies stay cached).
cargo_home=${CARGO_HOME:-$HOME/.cargo}
version=$(cargo metadata --locked --no-deps --format-version 1 |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["packages"][0]["version"])')
for line in "${lines[@]}"; do
    read -r name dir <<<"$line"
    rm -rf "$cargo_home"/registry/src/-*/"$name-$version"
done
export CARGO_TARGET_DIR=$PWD/target/package-check
rm -rf "$CARGO_TARGET_DIR"/package "$CARGO_TARGET_DIR"/debug/.fingerprint/gosync* \
    "$CARGO_TARGET_DIR"/debug/deps/*gosync* "$CARGO_TARGET_DIR"/debug/build/gosync*

cargo package --locked --allow-dirty "${pkgs[@]}"
for line in "${lines[@]}"; do
    read -r name dir <<<"$line"
    listed=$(cargo package --locked --allow-dirty --list -p "$name")
    for f in README.md LICENSE-MIT LICENSE-APACHE; do
        grep -qx "$f" <<<"$listed" || { echo "$name: $f is not in the package" >&2; exit 1; }
    done
done
echo "packaged and verified ${#lines[@]} crates in $((SECONDS - started)) s"
