.PHONY: run clean marts airflow core-demo test test-fast bench bench-instructions bench-pipeline bench-peers bench-memory bench-marts bench-api fmt

# Run the pipeline on embedded defaults (until Ctrl-C; `make run DURATION=60` for a minute;
# `make run OBSERVE=1` also runs Prometheus on 127.0.0.1:9090 with the alert rules).
# What it built is kept in .tickflow/ and the next run continues from there.
run:
	OBSERVE=$(OBSERVE) bash scripts/stack.sh $(DURATION)

# Forget the local stack's data (Kafka's log and the processor state in it, the lake, the marts, logs, captures).
clean:
	bash -c 'source scripts/env.sh && rm -rf "$$TICKFLOW_DATA"'

# Build the dbt marts from the local stack's lake and publish them to .tickflow/warehouse/marts.duckdb.
marts:
	bash scripts/marts.sh $(ARGS)

# Replay the synthetic market through the core alone, no broker.
core-demo:
	bash scripts/demo.sh

# The whole test suite (what CI runs).
test:
	bash scripts/test.sh

# Formatting, lints and the Rust tests that need no broker or Python stack (a few minutes warm).
test-fast:
	bash scripts/test-fast.sh

# The core's, the producer's, the lake's decoder's and the lake-writer's criterion benchmarks (figures in BENCHMARKS.md).
bench:
	bash -c 'source scripts/env.sh && cargo bench -p tickflow-core --bench core_hot_path && cargo bench -p producer --bench producer_frames && cargo bench -p tickflow-lake --bench decode && cargo bench -p lake-writer --bench lake_rows'

# The whole pipeline on a local Apache Kafka: throughput, latency, CPU, RSS (figures in BENCHMARKS.md).
bench-pipeline:
	bash scripts/bench-pipeline.sh $(ARGS)

# Spark, Flink and DuckDB against the stream-processor on the same raw_trades (P2).
bench-peers:
	bash scripts/bench-peers.sh $(ARGS)

# The producer's work per trade message in instructions under callgrind (repeatable whatever the machine is doing).
bench-instructions:
	bash scripts/bench-producer-instructions.sh

# The stream-processor's memory with 59 and 10 000 instruments, after 1 M and 10 M trades (P6).
bench-memory:
	bash scripts/bench-memory.sh $(ARGS)

# dbt build of the marts over a generated lake of 10 M trades (P7; figures in BENCHMARKS.md).
bench-marts:
	bash scripts/bench-marts.sh $(ARGS)

# The query API under wrk: one day of one instrument's 1-minute candles (P8; after a `make run`; figures in BENCHMARKS.md).
bench-api:
	bash scripts/bench-api.sh $(ARGS)

fmt:
	cargo fmt --all

# Airflow locally: the UI on http://localhost:8080 with the DAGs loaded (`make airflow ARGS="dags list"` for a command).
airflow:
	bash scripts/airflow.sh $(ARGS)
