#!/usr/bin/env bash
# Builds the node binding and runs its tests (being written).
set -euo pipefail
echo "bindings-node: no tests yet"
