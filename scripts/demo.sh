#!/usr/bin/env bash
# Runs the seeded synthetic market through the stream-processing core and reports what came out.
set -euo pipefail
source "$(dirname "$0")/env.sh"
need_cargo
cd "$TICKFLOW_ROOT"
cargo run --release --locked -p tickflow-core --example replay_synthetic -- "$@"
