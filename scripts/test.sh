#!/usr/bin/env bash
# The whole test suite: formatting, lints, and every crate's tests.
set -euo pipefail
source "$(dirname "$0")/env.sh"
need_cargo
cd "$TICKFLOW_ROOT"

echo "== format"
cargo fmt --all --check
echo "== lints"
cargo clippy --workspace --all-targets --locked -- -D warnings
echo "== tests"
cargo test --workspace --locked
