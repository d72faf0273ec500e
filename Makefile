# The two commands a new user runs: `make demo` and `make test`.
.PHONY: demo test test-deps lint fuzz test-rust test-interop test-bindings test-python test-node test-c broker bench bench-broker bench-peers bench-python bench-node bench-rust bench-compaction bench-transactions bench-serde bench-serde-node

# Start the bundled broker, produce and consume through the ferrokafka client.
demo:
	cargo run --release -p ferrokafka-examples --example demo

# Install what the suites need (Python venv + peer clients, kafkajs), check formatting and lints,
# then run every suite.
test: test-deps lint test-rust test-interop test-bindings

test-deps:
	scripts/install-test-deps.sh

# rustfmt.toml sets the width; clippy covers every crate of the workspace, bindings included.
lint:
	cargo fmt --all -- --check
	cd bench/rust-clients && cargo fmt -- --check
	cargo clippy --workspace --all-targets -- -D warnings

test-rust:
	cargo test

# The request fuzzer for ten minutes (make test runs it for five seconds); FUZZ_SECS to change.
# A debug build, so that arithmetic overflow panics too.
FUZZ_SECS ?= 600
fuzz:
	FERROKAFKA_FUZZ_SECS=$(FUZZ_SECS) cargo test -p ferrokafka-broker --test fuzz_requests -- --nocapture

# Each binding's script installs its own build tools into .cache, builds, and runs its tests.
test-bindings: test-python test-node test-c

test-python:
	bindings-python/test.sh

test-node:
	bindings-node/test.sh

test-c:
	bindings-c/test.sh

test-interop: broker
	scripts/run-interop-tests.sh

# What the interop suites run: the broker binary and the ferrokafka examples they drive.
broker:
	cargo build -p ferrokafka-broker
	cargo build -p ferrokafka-examples --example group_member --example partition_keys --example produce_stream --example eos_copy --example avro_serde

# Benchmarks (not part of `make test`): figures go to BENCHMARKS.md.
bench: bench-broker bench-peers bench-python bench-node bench-rust bench-compaction bench-transactions bench-serde bench-serde-node

# The release broker driven by confluent-kafka (librdkafka); about 3-5 minutes on 2 cores.
# Smaller runs: make bench-broker BENCH_BROKER_ARGS="--records 100000 --runs 1"
bench-broker: test-deps
	cargo build --release -p ferrokafka-broker
	.cache/venv/bin/python bench/broker_bench.py $(BENCH_BROKER_ARGS)

# Log compaction at scale: one million updates over 10,000 keys, compacted by the release broker's
# cleaner and by Apache Kafka 4.1's (jars fetched from Maven Central once; if that fails, the
# section says Kafka was not measured); the log before and after and each cleaner's MB/s.
# About two minutes on 2 cores. Only ours: make bench-compaction BENCH_COMPACTION_ARGS=--no-kafka
bench-compaction: test-deps
	cargo build --release -p ferrokafka-broker
	-scripts/apache-kafka.sh > /dev/null
	.cache/venv/bin/python bench/compaction_bench.py --out BENCHMARKS.md $(BENCH_COMPACTION_ARGS)

# The release broker next to Apache Kafka 4.1 (fetched from Maven Central once), both driven
# by the Java client's perf tools; about 10 minutes on 2 cores. Charts go to bench/charts/.
bench-peers: test-deps
	cargo build --release -p ferrokafka-broker
	scripts/apache-kafka.sh > /dev/null
	.cache/venv/bin/python bench/peers.py $(BENCH_PEERS_ARGS)

# The Python binding (built and installed by its test script) against confluent-kafka and
# kafka-python on one release broker.
bench-python: test-deps test-python
	cargo build --release -p ferrokafka-broker
	.cache/venv/bin/python bench/python_clients.py

# The Node binding (built by its test script) against kafkajs on one release broker.
bench-node: test-node
	cargo build --release -p ferrokafka-broker
	node bench/node_clients.js $(BENCH_NODE_ARGS)

# Transactions (commit every 1,000 records or every 100 ms) and read_committed consume: the
# bundled broker next to Apache Kafka 4.1, and the Python binding (built and installed by its
# test script) next to confluent-kafka. About 3 minutes; --no-kafka for the clients only.
bench-transactions: test-deps test-python
	cargo build --release -p ferrokafka-broker
	.cache/venv/bin/python bench/transactions_bench.py $(BENCH_TRANSACTIONS_ARGS)

# Avro with the Schema Registry: ferrokafka's Python binding next to confluent-kafka (fastavro).
bench-serde: test-deps test-python
	cargo build --release -p ferrokafka-broker
	.cache/venv/bin/python bench/serde_bench.py $(BENCH_SERDE_ARGS)

# The same in Node: ferrokafka's SchemaRegistry next to @kafkajs/confluent-schema-registry (avsc).
bench-serde-node: test-node
	cargo build --release -p ferrokafka-broker
	node bench/node_serde.js $(BENCH_SERDE_NODE_ARGS)

# The core's producer and consumer against rust-rdkafka (librdkafka built from source: a few minutes the
# first time), same program shape, one release broker.
bench-rust: test-deps
	cargo build --release -p ferrokafka-broker
	cargo build --release --manifest-path bench/rust-clients/Cargo.toml
	.cache/venv/bin/python bench/rust_clients.py $(BENCH_RUST_ARGS)
