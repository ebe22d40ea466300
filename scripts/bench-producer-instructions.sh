#!/usr/bin/env bash
# The producer's CPU per trade message counted in instructions (callgrind), repeatable whatever
# else the machine is doing: per venue, the client + publisher pass of the producer_frames
# benchmark over 50 000 frames, minus the pass that only makes the frames, per message; and the
# publisher's normalize + encode alone. Usage: scripts/bench-producer-instructions.sh
set -euo pipefail
source "$(dirname "$0")/env.sh"
cd "$TICKFLOW_ROOT"
if [ "${1:-}" = "--help" ] || [ "${1:-}" = "-h" ]; then
  sed -n '2,5p' "$0" | sed 's/^# \{0,1\}//'
  exit 0
fi
command -v valgrind >/dev/null || { echo "bench-producer-instructions: valgrind is not installed (apt-get install valgrind)" >&2; exit 1; }
need_cargo
cargo build --release --locked -p producer --example producer_instructions
bin="$CARGO_TARGET_DIR/release/examples/producer_instructions"
workdir="$(mktemp -d "${TMPDIR:-/tmp}/tickflow-instructions.XXXXXX")"
trap 'rm -rf "$workdir"' EXIT
count() { # venue mode -> instructions of the whole run
  valgrind --tool=callgrind --callgrind-out-file="$workdir/$1.$2.out" "$bin" "$1" "$2" >/dev/null 2>"$workdir/$1.$2.err"
  grep -o 'Collected : [0-9]*' "$workdir/$1.$2.err" | grep -o '[0-9]*$'
}
printf '%-9s %28s %28s\n' venue "normalize + encode (instr/msg)" "client + publisher (instr/msg)"
for venue in binance coinbase finnhub; do
  echo "bench-producer-instructions: $venue (three runs under callgrind, about a minute)" >&2
  setup="$(count "$venue" setup)"
  normalize="$(count "$venue" normalize)"
  client="$(count "$venue" client)"
  printf '%-9s %28d %28d\n' "$venue" $(((normalize - setup) / 50000)) $(((client - setup) / 50000))
done
