#!/usr/bin/env bash
# Builds the Python binding's abi3 wheel with maturin, installs it into the repo's test venv
# and runs its tests. Installs maturin into that venv when missing.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=.cache/venv
[ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
"$VENV/bin/python" -c "import maturin" 2>/dev/null || "$VENV/bin/pip" install --quiet --disable-pip-version-check "maturin==1.16.0"
"$VENV/bin/python" -c "import pytest, confluent_kafka" 2>/dev/null || "$VENV/bin/pip" install --quiet --disable-pip-version-check pytest==9.2.0 confluent-kafka==2.16.1
rm -rf .cache/wheels
"$VENV/bin/maturin" build --release --quiet -m bindings-python/Cargo.toml -o .cache/wheels
"$VENV/bin/pip" install --quiet --disable-pip-version-check --force-reinstall --no-deps .cache/wheels/ferrokafka-*.whl
"$VENV/bin/python" -m pytest -q bindings-python/tests
