.PHONY: run marts core-demo test bench bench-pipeline fmt

# Run the pipeline on embedded defaults (until Ctrl-C; `make run DURATION=60` for a minute).
run:
	bash scripts/stack.sh $(DURATION)

# Build the dbt marts from the local stack's lake and publish them to .tickflow/warehouse/marts.duckdb.
marts:
	bash scripts/marts.sh $(ARGS)

# Replay the synthetic market through the core alone, no broker.
core-demo:
	bash scripts/demo.sh

# The whole test suite (what CI runs).
test:
	bash scripts/test.sh

# The core's criterion benchmarks (figures in BENCHMARKS.md).
bench:
	bash -c 'source scripts/env.sh && cargo bench -p tickflow-core --bench core_hot_path'

# The whole pipeline on a local tansu: throughput, latency, CPU, RSS (figures in BENCHMARKS.md).
bench-pipeline:
	bash scripts/bench-pipeline.sh $(ARGS)

fmt:
	cargo fmt --all
