#!/usr/bin/env bash
# DuckDB 1.5.5's official prebuilt shared library, for the query-api (the `duckdb` crate links it
# instead of compiling DuckDB's C++ sources, which takes over 40 minutes on 2 cores).
# The library ships in the npm package @duckdb/node-bindings-linux-x64; it is unpacked once into
# the cache. Prints the folder holding libduckdb.so (what DUCKDB_LIB_DIR names).
#
#   scripts/duckdb-lib.sh          fetch once, print the folder
#
# DUCKDB_LIB_DIR set already (a folder with libduckdb.so 1.5.5 of your own) is used as it is.
set -euo pipefail
source "$(dirname "$0")/env.sh"
package="@duckdb/node-bindings-linux-x64@1.5.5-r.5"
if [ -n "${DUCKDB_LIB_DIR:-}" ] && [ -f "$DUCKDB_LIB_DIR/libduckdb.so" ]; then
  echo "$DUCKDB_LIB_DIR"
  exit 0
fi
dir="$TICKFLOW_CACHE/tools/duckdb-1.5.5"
if [ ! -f "$dir/.complete" ]; then
  if [ "$(uname -s)-$(uname -m)" != Linux-x86_64 ]; then
    echo "no prebuilt DuckDB here for $(uname -s)-$(uname -m): set DUCKDB_LIB_DIR to a folder with libduckdb.so 1.5.5, or build with cargo's --features query-api/bundled" >&2
    exit 1
  fi
  command -v npm >/dev/null 2>&1 || { echo "fetching DuckDB's library needs npm (sudo apt-get install -y npm), or DUCKDB_LIB_DIR set" >&2; exit 1; }
  echo "fetching DuckDB 1.5.5's library ($package from npm) into $dir (first run only)" >&2
  rm -rf "$dir" && mkdir -p "$dir/pack"
  (cd "$dir/pack" && npm pack --silent "$package" >/dev/null && tar -xzf ./*.tgz package/libduckdb.so)
  mv "$dir/pack/package/libduckdb.so" "$dir/" && rm -rf "$dir/pack"
  touch "$dir/.complete"
fi
echo "$dir"
