#!/usr/bin/env bash
# Installs Debian packages with apt-get when a file they provide is missing (as root, or with
# sudo); the project's tools come from Debian, never from a download at run time.
# Usage: scripts/debian-install.sh FILE[,FILE...] PACKAGE...
#   e.g. scripts/debian-install.sh /usr/bin/wrk wrk
set -euo pipefail
[ $# -ge 2 ] || { echo "usage: $0 FILE[,FILE...] PACKAGE..." >&2; exit 2; }
IFS=, read -r -a files <<< "$1"
shift
missing=0
for file in "${files[@]}"; do [ -e "$file" ] || missing=1; done
[ "$missing" = 1 ] || exit 0
sudo=""
if [ "$(id -u)" != 0 ]; then
  command -v sudo >/dev/null 2>&1 || { echo "tickflow needs $*: sudo apt-get install -y $*" >&2; exit 1; }
  sudo="sudo"
fi
echo "installing Debian's $* (first run only)" >&2
$sudo apt-get update -qq >&2
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "$@" >&2
