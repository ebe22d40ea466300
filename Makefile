.PHONY: run test bench fmt

# Run the demo on embedded defaults.
run:
	bash scripts/demo.sh

# The whole test suite (what CI runs).
test:
	bash scripts/test.sh

# The core's criterion benchmarks (figures in BENCHMARKS.md).
bench:
	bash -c 'source scripts/env.sh && cargo bench -p tickflow-core --bench core_hot_path'

fmt:
	cargo fmt --all
