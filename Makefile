# The two commands a new user runs: `make demo` and `make test`.
.PHONY: demo test test-deps test-rust test-interop broker

# Start the bundled broker, produce and consume through the ferrokafka client.
demo:
	cargo run --release -p ferrokafka-examples --example demo

# Install what the suites need (Python venv + peer clients, kafkajs), then run every suite.
test: test-deps test-rust test-interop

test-deps:
	scripts/install-test-deps.sh

test-rust:
	cargo test --workspace

test-interop: broker
	scripts/run-interop-tests.sh

# What the interop suites run: the broker binary and the ferrokafka group member example.
broker:
	cargo build -p ferrokafka-broker
	cargo build -p ferrokafka-examples --example group_member
