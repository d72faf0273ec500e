#!/usr/bin/env bash
# Drives the bundled broker with real third-party clients: librdkafka (confluent-kafka),
# kafka-python and kafkajs. Expects scripts/install-test-deps.sh to have run.
set -euo pipefail
cd "$(dirname "$0")/.."
export FERROKAFKA_BROKER_BIN="${FERROKAFKA_BROKER_BIN:-$PWD/target/debug/ferrokafka-broker}"
.cache/venv/bin/python -m pytest -q tests/interop/python
(cd tests/interop/node && node --test test/)
