.PHONY: test demo
test:
	cargo test --workspace
demo:
	cargo run -p ferrokafka-broker -- --help
