#!/usr/bin/env bash
# Debian's Chromium and its WebDriver for the dashboard's browser test (never a browser downloaded
# at run time). Installs them with apt-get when missing (as root, or with sudo); prints the
# browser's path.
set -euo pipefail
if [ ! -x /usr/bin/chromium ] || [ ! -x /usr/bin/chromedriver ]; then
  sudo=""
  if [ "$(id -u)" != 0 ]; then
    command -v sudo >/dev/null 2>&1 || { echo "the browser test needs Chromium: sudo apt-get install -y chromium chromium-driver" >&2; exit 1; }
    sudo="sudo"
  fi
  echo "installing Debian's chromium and chromium-driver (first run only)" >&2
  $sudo apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq chromium chromium-driver >&2
fi
echo /usr/bin/chromium
