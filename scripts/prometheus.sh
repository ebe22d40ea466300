#!/usr/bin/env bash
# Prometheus and promtool from Debian's `prometheus` package (installed on first use; its systemd
# unit is not started); prints the folder that holds them.
set -euo pipefail
bash "$(dirname "$0")/debian-install.sh" /usr/bin/prometheus,/usr/bin/promtool prometheus
echo /usr/bin
