#!/usr/bin/env bash
# The local stack on embedded defaults: Apache Kafka on loopback, the lake on local disk, the
# exchange simulator (exchange-sim: Binance, Coinbase and Finnhub protocols on loopback, the
# seeded synthetic market) as the feed, read by the producer's real venue clients, and the three
# services, run by honcho.
# Usage: scripts/stack.sh [SECONDS]   (default: until Ctrl-C)
# TICKFLOW_FEED=synthetic: the producer's built-in synthetic source instead, no WebSockets.
set -euo pipefail
source "$(dirname "$0")/env.sh"
need_cargo
cd "$TICKFLOW_ROOT"
seconds="${1:-${TICKFLOW_RUN_SECONDS:-0}}"

bash scripts/kafka.sh libs >/dev/null  # fetches the broker's jars on first use
venv="$(bash scripts/python-env.sh tools/requirements.txt)"
echo "building the services (release)"
cargo build --release --locked -p producer -p stream-processor -p lake-writer -p exchange-sim
bin="$CARGO_TARGET_DIR/release"

# Every run starts from empty topics, state and lake.
data="${TICKFLOW_DATA:-$TICKFLOW_ROOT/.tickflow}"
rm -rf "$data/kafka" "$data/lake" "$data/state" "$data/logs" "$data/capture"
mkdir -p "$data/lake" "$data/state" "$data/logs"
port="${TICKFLOW_BROKER_PORT:-9092}"
broker="127.0.0.1:$port"

feed="--rate \${PRODUCER_RATE:-2000}"
exchange=""
wait_for_exchange=""
if [ "${TICKFLOW_FEED:-simulator}" = simulator ]; then
  # The simulator takes any Finnhub key; the client needs one.
  export FINNHUB_API_KEY="${FINNHUB_API_KEY:-local-simulator}"
  # Over TLS, as the real venues: the simulator makes a CA at start, the clients trust it.
  ca="$data/exchange-ca.pem"
  rm -f "$ca"
  feed="--source binance,coinbase,finnhub --feed-ca-file \"$ca\""
  feed="$feed --binance-ws-url wss://127.0.0.1:9443 --binance-rest-url https://127.0.0.1:9444"
  feed="$feed --coinbase-ws-url wss://127.0.0.1:9445 --finnhub-ws-url wss://127.0.0.1:9446"
  # What the clients receive is recorded, for replays: --source replay --replay-file "$data/capture".
  feed="$feed --capture-dir \"$data/capture\" --capture-rotate-mb 64"
  exchange="exchange: exec \"$bin/exchange-sim\" --tls --tls-ca-out \"$ca\" --rate \${PRODUCER_RATE:-2000} --manifest \"$data/logs/exchange-manifest.jsonl\" > \"$data/logs/exchange.log\" 2>&1"
  wait_for_exchange="until [ -s \"$ca\" ]; do sleep 0.2; done && "
fi

cat > "$data/Procfile" <<PROCFILE
broker: exec bash "$TICKFLOW_ROOT/scripts/kafka.sh" broker "$data/kafka" $port > "$data/logs/broker.log" 2>&1
$exchange
producer: sleep 1 && $wait_for_exchange exec "$bin/producer" $feed > "$data/logs/producer.log" 2>&1
stream-processor: sleep 1 && exec "$bin/stream-processor" > "$data/logs/stream-processor.log" 2>&1
lake-writer: sleep 1 && exec "$bin/lake-writer" --lake-url "$data/lake" > "$data/logs/lake-writer.log" 2>&1
progress: exec "$venv/bin/python" -u "$TICKFLOW_ROOT/scripts/progress.py" $seconds "$data/lake"
PROCFILE

echo "tickflow: broker $broker, lake $data/lake, logs $data/logs; Ctrl-C stops everything"
export KAFKA_BOOTSTRAP_SERVERS="$broker" RUST_LOG="${RUST_LOG:-info}"
cd "$data"
exec "$venv/bin/honcho" start -f "$data/Procfile" --no-prefix
