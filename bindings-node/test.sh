#!/usr/bin/env bash
# Builds the Node binding with @napi-rs/cli and proves it: the generated loader and
# TypeScript declarations match what is committed; the TypeScript example type-checks
# against them; `node --test` runs the kafkajs compatibility suite (the same code against
# ferrokafka and kafkajs) and the Apache Kafka suite; the packed tarball installs into an
# empty project without a compiler and runs the JavaScript examples.
# Installs its npm devDependencies when missing.
set -euo pipefail
cd "$(dirname "$0")"
NPM=(npm --loglevel=error --no-audit --no-fund)
for dep in @napi-rs/cli kafkajs typescript @types/node @kafkajs/confluent-schema-registry; do
  [ -d "node_modules/$dep" ] || { "${NPM[@]}" ci --ignore-scripts; break; }
done

started=$SECONDS
# Without --strip, which would put `-C link-arg=-s` in RUSTFLAGS and so rebuild every
# dependency apart from the Python and C builds; the library is stripped afterwards instead.
npx napi build --release --platform --no-const-enum --runtime-string-enum
strip --strip-unneeded ferrokafka.*.node
echo "bindings-node: built in $((SECONDS - started))s"
if ! git diff --quiet -- index.js index.d.ts; then
  echo "bindings-node: index.js / index.d.ts differ from what napi generates from the Rust sources; commit the regenerated files:" >&2
  git --no-pager diff --stat -- index.js index.d.ts >&2
  exit 1
fi
npx tsc -p ../examples/node/tsconfig.json
echo "bindings-node: the TypeScript example type-checks"

started=$SECONDS
node --test test/
echo "bindings-node: tests ran in $((SECONDS - started))s"

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
"${NPM[@]}" pack --silent --pack-destination "$tmp" > /dev/null
(cd "$tmp" && "${NPM[@]}" init -y > /dev/null && "${NPM[@]}" install ./ferrokafka-*.tgz)
NODE_PATH="$tmp/node_modules" node ../examples/node/produce_consume.js
NODE_PATH="$tmp/node_modules" node ../examples/node/avro_serde.js
echo "bindings-node: the packed package installs and runs the examples"
