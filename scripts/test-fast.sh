#!/usr/bin/env bash
# The fast tier: formatting, lints, and the Rust tests that need no broker, Python or browser
# (unit, property, contract, venue-client and lake tests). Minutes on a warm cache; run it while
# you work, and `make test` (what CI runs) before you push.
set -euo pipefail
source "$(dirname "$0")/env.sh"
need_cargo
cd "$TICKFLOW_ROOT"

echo "== format"
cargo fmt --all --check
echo "== lints"
cargo clippy --workspace --all-targets --locked -- -D warnings
echo "== rust tests without a broker"
cargo test --workspace --locked --lib --bins
# The integration-test binaries that start Apache Kafka (tickflow-kafka, stream-processor,
# lake-writer) are left to `make test`.
cargo test --locked -p tickflow-core -p tickflow-lake -p producer --tests
