#!/usr/bin/env bash
# The MSRV check: the workspace's declared `rust-version` is true.
#
# What is checked, on the declared toolchain (installed with rustup if missing):
#   1. every library crate (crates/*) builds (`cargo check --lib`) with its default
#      features and with all features;
#   2. the unit, integration and doc tests of every crate under crates/ build and pass
#      with all features.
# The examples, benches and fuzz harness are not (their peers' MSRVs are not ours).
#
# The dependency versions: the committed Cargo.lock pins the newest versions, several of
# which need a newer Rust (proptest, for one, a test-only dependency). So the check runs
# on a copy of the tree whose lock file is resolved again by cargo's MSRV-aware resolver
# (`CARGO_RESOLVER_INCOMPATIBLE_RUST_VERSIONS=fallback`, stable since cargo 1.84): the
# newest version of each dependency that supports the declared Rust, as a user on that
# toolchain gets with cargo >= 1.84 (or with `cargo update --precise` on older cargo).
# That needs the crates.io index (network), as installing the toolchain does.
#
# The old toolchain's cargo runs with its own CARGO_HOME (target/msrv/cargo-home), whose
# index cache is emptied on every run; downloaded packages are kept. Its sparse-index
# cache is not the one cargo >= 1.85 uses, and when a stale entry there lacked a version
# published since, cargo 1.80 rejected the lock file the current cargo had just resolved
# ("failed to select a version for the requirement `pin-project-lite = "^0.2.9"` (locked
# to 0.2.19)"). Vendoring instead does not work: a directory source makes cargo 1.80
# parse every vendored manifest, including target-specific ones for edition 2024.
#
# Fails loudly (non-zero exit, "MSRV FAILED") when the MSRV build or a test breaks.
# Usage: ci/msrv.sh
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"
started=$SECONDS

fail() {
    echo >&2
    echo "MSRV FAILED (Rust $msrv): $*" >&2
    exit 1
}

msrv=$(cargo metadata --no-deps --format-version 1 |
    python3 -c 'import json,sys; print({p["rust_version"] for p in json.load(sys.stdin)["packages"]} .pop())')
[[ -n $msrv && $msrv != None ]] || { echo "no rust-version declared" >&2; exit 1; }
# Every member declares the same one (rust-version.workspace = true).
count=$(cargo metadata --no-deps --format-version 1 |
    python3 -c 'import json,sys; print(len({p["rust_version"] for p in json.load(sys.stdin)["packages"]}))')
[[ $count == 1 ]] || { echo "the members declare $count different rust-versions" >&2; exit 1; }
echo "MSRV: Rust $msrv"

if ! rustup run "$msrv" rustc --version >/dev/null 2>&1; then
    echo "installing Rust $msrv with rustup"
    rustup toolchain install "$msrv" --profile minimal ||
        fail "cannot install the toolchain"
fi
rustup run "$msrv" rustc --version

# The copy: the tracked and new (not ignored) files, under target/ so it is ignored;
# timestamps kept, so cargo rebuilds only what changed since the last run.
copy=$root/target/msrv/src
rm -rf "$copy"
mkdir -p "$copy"
git ls-files -z --cached --others --exclude-standard | while IFS= read -r -d '' f; do
    [[ -e $f ]] && printf '%s\0' "$f"
done | xargs -0 cp -p --parents -t "$copy"
cd "$copy"
CARGO_RESOLVER_INCOMPATIBLE_RUST_VERSIONS=fallback cargo generate-lockfile ||
    fail "cannot resolve the dependencies for Rust $msrv"
msrv_home=$root/target/msrv/cargo-home
rm -rf "$msrv_home/registry/index"
mkdir -p "$msrv_home"
# The user's cargo configuration (a registry mirror, proxy settings) applies here too.
for f in config.toml config; do
    if [[ -f ${CARGO_HOME:-$HOME/.cargo}/$f ]]; then
        cp "${CARGO_HOME:-$HOME/.cargo}/$f" "$msrv_home/$f"
    else
        rm -f "$msrv_home/$f"
    fi
done
old_cargo() { CARGO_HOME=$msrv_home rustup run "$msrv" cargo "$@"; }

export CARGO_TARGET_DIR=$root/target/msrv/target
mapfile -t crates < <(cargo metadata --no-deps --format-version 1 |
    python3 -c '
import json, sys
root = sys.argv[1]
for p in json.load(sys.stdin)["packages"]:
    if p["manifest_path"].startswith(root):
        print(p["name"])
' "$copy/crates/")
pkgs=()
for c in "${crates[@]}"; do pkgs+=(-p "$c"); done

for c in "${crates[@]}"; do
    echo "--> cargo +$msrv check -p $c --lib (default features, then all)"
    old_cargo check --locked -p "$c" --lib || fail "cargo check -p $c --lib"
    old_cargo check --locked -p "$c" --lib --all-features ||
        fail "cargo check -p $c --lib --all-features"
done
echo "--> cargo +$msrv test ${pkgs[*]} --all-features"
old_cargo test --locked "${pkgs[@]}" --all-features --no-fail-fast ||
    fail "cargo test --all-features of the crates"

echo
echo "MSRV check passed: ${#crates[@]} crates build and their tests pass on Rust $msrv" \
    "($((SECONDS - started)) s)."
