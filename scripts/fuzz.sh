#!/usr/bin/env bash
# Coverage-guided fuzzing (cargo-fuzz, libFuzzer) of every entry point that takes outside bytes; the targets and what each holds are in fuzz/fuzz_targets/:
#   venue_frame   a venue's WebSocket frame through the producer's normalizer, then the
#                 stream-processor's validation of what it accepted
#   raw_records   raw_trades records (trades, watermarks, feed gaps) through the stream-processor's core
#   lake_records  the lake-writer's input records through its batch and the lake's commit
#
# Usage: scripts/fuzz.sh [--seconds N] [--smoke] [target ...]   (default: every target, 300 s each)
#   --smoke   each target replays its seeds and every crash kept in fuzz/regressions/, then fuzzes
#             for 15 s (the test suite runs this)
# Seeds: fuzz/seeds/<target>/ (python3 fuzz/make_seeds.py writes them from the end-to-end market).
# New corpus entries go to $TICKFLOW_CACHE/fuzz-corpus/<target>/; a crash is saved under
# fuzz/artifacts/<target>/ and the run fails naming it: copy it to fuzz/regressions/<target>/ once fixed.
set -euo pipefail
source "$(dirname "$0")/env.sh"
cd "$TICKFLOW_ROOT"

seconds=300 smoke=0 targets=()
while [ $# -gt 0 ]; do
  case "$1" in
    --seconds) seconds="$2"; shift 2 ;;
    --smoke) smoke=1 seconds=15; shift ;;
    -h|--help) sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    -*) echo "fuzz.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
    *) targets+=("$1"); shift ;;
  esac
done
[ ${#targets[@]} -gt 0 ] || targets=(venue_frame raw_records lake_records)

if ! cargo +nightly --version >/dev/null 2>&1; then
  echo "fuzz.sh: cargo fuzz needs a nightly Rust toolchain (rustup toolchain install nightly)" >&2
  exit 1
fi
version=0.13.1
fuzz_root="$TICKFLOW_CACHE/tools/cargo-fuzz-$version"
if [ ! -x "$fuzz_root/bin/cargo-fuzz" ]; then
  echo "== installing cargo-fuzz $version into $fuzz_root"
  cargo install --quiet --locked cargo-fuzz --version "$version" --root "$fuzz_root"
fi
export PATH="$fuzz_root/bin:$PATH"
# Its own target directory: sanitizer flags would otherwise rebuild the workspace's.
export CARGO_TARGET_DIR="$TICKFLOW_CACHE/fuzz-target"
# No AddressSanitizer: the targets are safe Rust (a bug shows as a panic, which libFuzzer
# catches), and with -Zsanitizer the C dependencies' builds (librdkafka's configure, zstd-sys)
# fail to link. Coverage instrumentation is the same.
sanitizer=(--sanitizer none)

echo "== building the fuzz targets (nightly, libFuzzer coverage)"
cargo +nightly fuzz build --fuzz-dir fuzz "${sanitizer[@]}"
for target in "${targets[@]}"; do
  corpus="$TICKFLOW_CACHE/fuzz-corpus/$target"
  mkdir -p "$corpus" "fuzz/artifacts/$target" "fuzz/regressions/$target"
  echo "== $target: replaying $(ls fuzz/seeds/$target | wc -l) seeds and $(ls fuzz/regressions/$target | wc -l) kept crashes"
  cargo +nightly fuzz run --fuzz-dir fuzz "${sanitizer[@]}" "$target" "fuzz/seeds/$target" "fuzz/regressions/$target" -- -runs=0 2>&1 | tail -1
  echo "== $target: fuzzing for $seconds s"
  if ! cargo +nightly fuzz run --fuzz-dir fuzz "${sanitizer[@]}" "$target" "$corpus" "fuzz/seeds/$target" -- \
       -max_total_time="$seconds" -max_len=65536 -print_final_stats=1 -artifact_prefix="fuzz/artifacts/$target/" \
       > "$CARGO_TARGET_DIR/$target.log" 2>&1; then
    tail -40 "$CARGO_TARGET_DIR/$target.log" >&2
    echo "fuzz.sh: $target found a crash: $(ls -t fuzz/artifacts/$target | head -1) in fuzz/artifacts/$target/" >&2
    exit 1
  fi
  grep -E "stat::number_of_executed_units|stat::peak_rss_mb|cov: " "$CARGO_TARGET_DIR/$target.log" | tail -3
done
echo "fuzz.sh: no crash in ${targets[*]} ($seconds s each)"
