#!/usr/bin/env bash
# Drives the bundled broker with real third-party clients — librdkafka (confluent-kafka),
# kafka-python, kafkajs, the Java client — and runs the same client tests, our Rust client's
# tests (core/tests/client.rs) and a three-broker failover against Apache Kafka 4.1, started
# from its jars once per run (tests/apache_kafka/cluster.py). Expects
# scripts/install-test-deps.sh to have run. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
export FERROKAFKA_BROKER_BIN="${FERROKAFKA_BROKER_BIN:-$PWD/target/debug/ferrokafka-broker}"

# What the suites run: the broker, the example programs they drive, and the client tests the
# suite points at Apache Kafka (built now, not while Kafka runs). Quick when up to date.
if [ -z "${FERROKAFKA_SKIP_BUILD:-}" ]; then
  cargo build -q -p ferrokafka-broker
  cargo build -q -p ferrokafka-examples --example group_member --example partition_keys --example produce_stream --example eos_copy --example avro_serde
  cargo test -q -p ferrokafka --test client --no-run
fi

started=$SECONDS
.cache/venv/bin/python -m pytest -q tests/interop/python --durations=8 "$@"
(cd tests/interop/node && node --test test/)
echo "interop suites: $((SECONDS - started)) s"
