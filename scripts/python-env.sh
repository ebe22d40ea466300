#!/usr/bin/env bash
# Prints the path of a Python virtual environment with the given requirements file installed,
# creating it in the cache on first use and refreshing it when the requirements change.
set -euo pipefail
source "$(dirname "$0")/env.sh"
requirements="$1"
# The name changes with the requirements, including the files they include with -r.
included="$(sed -n 's/^-r[[:space:]]*//p' "$requirements" | while read -r f; do echo "$(dirname "$requirements")/$f"; done)"
name="$(basename "$(cd "$(dirname "$requirements")" && pwd)")-$(cat "$requirements" $included | sha256sum | cut -c1-12)"
venv="$TICKFLOW_CACHE/venvs/$name"
if [ ! -x "$venv/bin/python" ] || [ ! -f "$venv/.complete" ]; then
  echo "creating Python environment $venv" >&2
  rm -rf "$venv"
  python3 -m venv "$venv" >&2
  "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$requirements" >&2
  touch "$venv/.complete"
fi
echo "$venv"
