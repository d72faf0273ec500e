#!/usr/bin/env bash
# The C binding, end to end (`make test-c`):
#  1. cargo test -p ferrokafka-c: the header is what the code generates, the panic boundary,
#     and every C program in tests/c plus the examples, built with -Wall -Wextra -Werror;
#  2. make install (release) into a temporary prefix: libferrokafka.so, .a, header, .pc;
#  3. the C test programs linked statically against the installed libferrokafka.a, run under
#     valgrind memcheck: no memory errors, no definite leaks (exit code 99 otherwise);
#  4. the C and C++ examples built through pkg-config against the installed shared library,
#     run under valgrind the same way.
# Without valgrind on the machine, step 3 and 4 run the programs bare, and say so.
set -euo pipefail
cd "$(dirname "$0")/.."
START=$SECONDS
step() { printf '\n== bindings-c: %s [%ds]\n' "$*" $((SECONDS - START)); }

WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
PREFIX="$WORK/prefix"

step "cargo test -p ferrokafka-c (header drift, panic boundary, C programs)"
cargo test -q -p ferrokafka-c

step "make install PREFIX=$PREFIX (release)"
# For the host's triple, as the Python and Node builds: one shared release build directory.
CARGO_BUILD_TARGET="$(rustc -vV | sed -n 's/^host: //p')" make -s -C bindings-c install PREFIX="$PREFIX"
ls -l "$PREFIX/lib" "$PREFIX/include" "$PREFIX/lib/pkgconfig" | sed 's/^/   /'

VG=()
if command -v valgrind >/dev/null; then
  VG=(valgrind --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite
      --show-leak-kinds=definite --log-file="$WORK/%q{FK_PROGRAM}.valgrind.%p")
else
  echo "   valgrind not found: the programs run without it"
fi

# Runs a program (under valgrind when present) and prints valgrind's summary for it.
run() {
  local name="$1"; shift
  local t0=$SECONDS
  if ! FK_PROGRAM="$name" "${VG[@]}" "$@" > "$WORK/$name.out" 2>&1; then
    cat "$WORK/$name.out"
    [ ${#VG[@]} -gt 0 ] && cat "$WORK/$name".valgrind.* || true
    echo "bindings-c: $name FAILED"
    exit 1
  fi
  printf '   %-19s ok in %3ds: %s\n' "$name" $((SECONDS - t0)) "$(tail -1 "$WORK/$name.out")"
  if [ ${#VG[@]} -gt 0 ]; then
    # One log per process; a forked child that ended by exec has no summary.
    for log in "$WORK/$name".valgrind.*; do
      grep -q 'ERROR SUMMARY' "$log" || continue
      printf '   %-19s valgrind: %s, %s\n' "" \
        "$(grep -o 'ERROR SUMMARY: [0-9]* errors' "$log" | sed 's/ERROR SUMMARY: //')" \
        "$(grep -o 'definitely lost: [0-9,]* bytes' "$log" || echo 'definitely lost: 0 bytes')"
    done
  fi
}

export PKG_CONFIG_PATH="$PREFIX/lib/pkgconfig"
step "C tests against the installed static library${VG:+, under valgrind}"
# test_eos drives examples/c/eos_copy (built as a user would, through pkg-config) as a child
# process, which runs without valgrind: it is SIGKILLed on purpose.
cc -std=c11 -Wall -Wextra -Werror examples/c/eos_copy.c $(pkg-config --cflags --libs ferrokafka) \
  -Wl,-rpath,"$PREFIX/lib" -o "$WORK/eos_copy"
for src in bindings-c/tests/c/*.c; do
  name="$(basename "$src" .c)"
  cc -std=c11 -Wall -Wextra -Werror -g -I "$PREFIX/include" "$src" "$PREFIX/lib/libferrokafka.a" \
    -lpthread -ldl -lm -o "$WORK/$name"
  extra=()
  [ "$name" = test_eos ] && extra=("$WORK/eos_copy")
  run "$name" "$WORK/$name" "$WORK/data-$name" "${extra[@]}"
done

step "examples through pkg-config against the installed shared library"
echo "   pkg-config --cflags --libs ferrokafka: $(pkg-config --cflags --libs ferrokafka)"
cc -std=c11 -Wall -Wextra -Werror examples/c/produce_consume.c $(pkg-config --cflags --libs ferrokafka) \
  -Wl,-rpath,"$PREFIX/lib" -o "$WORK/produce_consume"
run produce_consume "$WORK/produce_consume" "$WORK/data-example"
cc -std=c11 -Wall -Wextra -Werror examples/c/avro_serde.c $(pkg-config --cflags --libs ferrokafka) \
  -Wl,-rpath,"$PREFIX/lib" -o "$WORK/avro_serde"
run avro_serde "$WORK/avro_serde" "$WORK/data-serde"
c++ -std=c++17 -Wall -Wextra -Werror examples/c/example.cpp $(pkg-config --cflags --libs ferrokafka) \
  -Wl,-rpath,"$PREFIX/lib" -o "$WORK/example_cpp"
run example_cpp "$WORK/example_cpp" "$WORK/data-cpp"

step "done"
