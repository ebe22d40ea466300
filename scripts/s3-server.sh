#!/usr/bin/env bash
# A real S3-protocol server for the tests and for trying the `s3://` lake without MinIO:
# s3s-fs (crates.io, Apache-2.0), installed once into the cache with cargo (about 2.5 min).
# Each top-level folder of ROOT is a bucket.
#
#   scripts/s3-server.sh bin                               prints the s3s-fs binary (installing it)
#   scripts/s3-server.sh serve ROOT PORT ACCESS_KEY SECRET  runs it on 127.0.0.1:PORT, in the foreground
set -euo pipefail
source "$(dirname "$0")/env.sh"
version=0.14.1  # 0.17 needs a newer rustc than rust-version allows

bin() {
  local root="$TICKFLOW_CACHE/tools/s3s-fs-$version"
  if [ ! -x "$root/bin/s3s-fs" ]; then
    echo "installing s3s-fs $version from crates.io into $root (first run only, ~2.5 min)" >&2
    CARGO_TARGET_DIR="$TICKFLOW_CACHE/tools/s3s-fs-build" \
      cargo install s3s-fs --version "$version" --locked --features binary --root "$root" --quiet >&2
    rm -rf "$TICKFLOW_CACHE/tools/s3s-fs-build"
  fi
  echo "$root/bin/s3s-fs"
}

case "${1:-}" in
  bin) bin ;;
  serve)
    [ $# -eq 5 ] || { echo "usage: $0 serve ROOT PORT ACCESS_KEY SECRET_KEY" >&2; exit 2; }
    server="$(bin)"
    mkdir -p "$2"
    exec "$server" --host 127.0.0.1 --port "$3" --access-key "$4" --secret-key "$5" "$2" ;;
  *) echo "usage: $0 bin | serve ROOT PORT ACCESS_KEY SECRET_KEY" >&2; exit 2 ;;
esac
