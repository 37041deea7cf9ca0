#!/usr/bin/env bash
# Installs this build into a temporary prefix, builds examples/embed against it with find_package(wake),
# and runs it: the embedding story of the README, checked end to end.
#   embed_test.sh <build dir> <source dir>
set -euo pipefail
build="$1"
source="$2"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cmake --install "$build" --prefix "$work/prefix" >/dev/null
cmake -S "$source/examples/embed" -B "$work/build" -G Ninja -DCMAKE_PREFIX_PATH="$work/prefix" >/dev/null
cmake --build "$work/build" >/dev/null
"$work/build/embed_wake" "$work/data"
