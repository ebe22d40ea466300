#!/usr/bin/env bash
# Debian's Chromium and its WebDriver for the dashboard's browser test (never a browser downloaded
# at run time), installed when missing; prints the browser's path.
set -euo pipefail
bash "$(dirname "$0")/debian-install.sh" /usr/bin/chromium,/usr/bin/chromedriver chromium chromium-driver
echo /usr/bin/chromium
