#!/usr/bin/env bash
# Builds the Python binding's abi3 wheel with maturin, installs it into the repo's test venv
# (.cache/venv, made here if scripts/install-test-deps.sh has not made it) and runs
# bindings-python/tests against the bundled broker (started in-process through the binding)
# and, when Java is present, Apache Kafka (FERROKAFKA_SKIP_APACHE_KAFKA=1 skips it).
# Idempotent: maturin, pytest and confluent-kafka (with its Schema Registry extras) are
# installed only when missing.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=.cache/venv
PIP=("$VENV/bin/pip" install --quiet --disable-pip-version-check)
[ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
"$VENV/bin/python" -c "import maturin" 2>/dev/null || "${PIP[@]}" "maturin==1.16.0"
"$VENV/bin/python" -c "import pytest, confluent_kafka.schema_registry.avro, fastavro, jsonschema, google.protobuf" 2>/dev/null ||
  "${PIP[@]}" pytest==9.2.0 "confluent-kafka[avro,json,protobuf,schemaregistry]==2.16.1"

WHEELS=.cache/wheels/python
rm -rf "$WHEELS"
started=$SECONDS
# For the host's triple, as napi builds the Node binding: the bindings' release builds then
# share target/<triple>/release instead of compiling every dependency once more each.
"$VENV/bin/maturin" build --release --quiet --target "$(rustc -vV | sed -n 's/^host: //p')" \
  -m bindings-python/Cargo.toml -o "$WHEELS"
echo "bindings-python: wheel built in $((SECONDS - started))s: $(ls "$WHEELS")"
"${PIP[@]}" --force-reinstall --no-deps "$WHEELS"/ferrokafka-*.whl

started=$SECONDS
# From the tests' directory, so `import ferrokafka` is the installed wheel, never the sources.
(cd bindings-python/tests && "../../$VENV/bin/python" -m pytest -q -p no:cacheprovider .)
echo "bindings-python: tests ran in $((SECONDS - started))s"
