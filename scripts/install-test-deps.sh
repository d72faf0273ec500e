#!/usr/bin/env bash
# Installs what the interop suites need: a Python venv with the peer clients and pytest
# (PyPI), kafkajs (npm), Apache Kafka jars (Maven Central). Idempotent; quick when present.
set -euo pipefail
cd "$(dirname "$0")/.."

VENV=.cache/venv
# confluent-kafka's extras bring the Schema Registry client and its serializers (fastavro,
# jsonschema, protobuf, httpx, attrs, cachetools, authlib) for the registry's tests.
PY_PKGS=("confluent-kafka[avro,json,protobuf,schemaregistry]==2.16.1" kafka-python==3.0.12 pytest==9.2.0)

if [ ! -x "$VENV/bin/python" ]; then
  python3 -m venv "$VENV"
fi
if ! "$VENV/bin/python" -c "import confluent_kafka.schema_registry.avro, fastavro, jsonschema, google.protobuf, kafka, pytest" 2>/dev/null; then
  "$VENV/bin/pip" install --quiet --disable-pip-version-check "${PY_PKGS[@]}"
fi

if [ ! -d tests/interop/node/node_modules/kafkajs ]; then
  (cd tests/interop/node && npm ci --silent --no-audit --no-fund)
fi

# Apache Kafka's jars from Maven Central (the broker for interop tests, the Java client).
scripts/apache-kafka.sh >/dev/null
