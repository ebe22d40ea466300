#!/usr/bin/env bash
# The local stack on embedded defaults: Apache Kafka on loopback, the lake on local disk, the
# exchange simulator (exchange-sim: Binance, Coinbase and Finnhub protocols on loopback over TLS,
# the seeded synthetic market) as the feed, read by the producer's real venue clients, and the
# three services, then the query-api, the dashboard and a marts build every minute, run and
# stopped in order by scripts/stack.py.
# Usage: scripts/stack.sh [SECONDS]   (default: until Ctrl-C)
# Everything is kept in .tickflow/ (TICKFLOW_DATA): Kafka's log (with the stream-processor's state
# in its changelog topic), the lake, the logs and the captures; the next run continues from there.
# `make clean` starts from empty.
# TICKFLOW_FEED=synthetic: the producer's built-in synthetic source instead, no WebSockets.
# OBSERVE=1 (`make run OBSERVE=1`): also Prometheus (Debian's package, installed on first use) on
# 127.0.0.1:9090 (TICKFLOW_PROMETHEUS_PORT) scraping every service, with ops/prometheus/rules loaded.
set -euo pipefail
source "$(dirname "$0")/env.sh"
need_cargo
cd "$TICKFLOW_ROOT"
seconds="${1:-${TICKFLOW_RUN_SECONDS:-0}}"

bash scripts/kafka.sh libs >/dev/null  # fetches the broker's jars on first use
echo "building the services (release)"
cargo build --release --locked -p producer -p stream-processor -p lake-writer -p exchange-sim -p query-api
dashboard_venv="$(bash scripts/python-env.sh dashboard/requirements.txt)"
prometheus_port=0
if [ "${OBSERVE:-0}" = 1 ]; then
  bash scripts/prometheus.sh >/dev/null
  prometheus_port="${TICKFLOW_PROMETHEUS_PORT:-9090}"
fi
data="$TICKFLOW_DATA"
mkdir -p "$data/lake" "$data/logs"
if [ -d "$data/kafka" ]; then echo "tickflow: continuing the stack kept in $data (make clean starts from empty)"; fi
cd "$data"
exec python3 -u "$TICKFLOW_ROOT/scripts/stack.py" --root "$TICKFLOW_ROOT" --data "$data" \
  --bin "$CARGO_TARGET_DIR/release" --broker-port "${TICKFLOW_BROKER_PORT:-9092}" \
  --feed "${TICKFLOW_FEED:-simulator}" --rate "${PRODUCER_RATE:-2000}" --seconds "$seconds" \
  --dashboard-python "$dashboard_venv/bin/python" --marts-every "${TICKFLOW_MARTS_EVERY:-60}" \
  --prometheus-port "$prometheus_port"
