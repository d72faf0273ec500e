#!/usr/bin/env bash
# The C binding: the header is current, the C test program passes under valgrind (no memory
# errors, no definite leaks), and an install to a temporary prefix builds the example with
# pkg-config and runs it.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo test -q -p ferrokafka-c            # Rust side: header drift, C programs against the .a
make -s -C bindings-c all
TARGET="$(cargo metadata --format-version 1 --no-deps | sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')/release"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
cc -std=c11 -Wall -Wextra -Werror -g -I bindings-c/include bindings-c/tests/c/test_client.c "$TARGET/libferrokafka_c.a" \
  -lpthread -ldl -lm -o "$WORK/test_client"
# Under valgrind when present: no memory errors, no definite leaks.
VG=()
if command -v valgrind >/dev/null; then
  VG=(valgrind --quiet --error-exitcode=99 --leak-check=full --show-possibly-lost=no --errors-for-leak-kinds=definite)
fi
"${VG[@]}" "$WORK/test_client" "$WORK/data"
make -s -C bindings-c install PREFIX="$WORK/prefix"
export PKG_CONFIG_PATH="$WORK/prefix/lib/pkgconfig"
cc -Wall -Wextra -Werror examples/c/produce_consume.c $(pkg-config --cflags --libs ferrokafka) -Wl,-rpath,"$WORK/prefix/lib" -o "$WORK/produce_consume"
"${VG[@]}" "$WORK/produce_consume" "$WORK/data-example"
c++ -std=c++17 -Wall -Wextra -Werror examples/c/example.cpp $(pkg-config --cflags --libs ferrokafka) -Wl,-rpath,"$WORK/prefix/lib" -o "$WORK/example_cpp"
"$WORK/example_cpp" "$WORK/data-cpp"
