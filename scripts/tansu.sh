#!/usr/bin/env bash
# Prints the path of a tansu 0.6.0 broker binary, building it into the cache on first use
# (about 10-15 minutes on 2 cores). tansu needs its storage features or it refuses to start.
set -euo pipefail
source "$(dirname "$0")/env.sh"
need_cargo
root="$TICKFLOW_CACHE/tools/tansu-0.6.0"
if [ ! -x "$root/bin/tansu" ]; then
  echo "building tansu 0.6.0 into $root (first run only)" >&2
  # Its own target dir, so the project's build cache is not mixed with tansu's.
  CARGO_TARGET_DIR="$TICKFLOW_CACHE/tansu-build" \
    cargo install tansu --version 0.6.0 --locked --features dynostore,libsql --root "$root" >&2
  rm -rf "$TICKFLOW_CACHE/tansu-build"
fi
echo "$root/bin/tansu"
