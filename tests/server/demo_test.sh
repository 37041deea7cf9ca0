#!/usr/bin/env bash
# The main job end to end: scripts/demo.sh (what scripts/run.sh runs after building) on a fresh data
# dir with the scripted brain and a real local hand. Passes when the demo exits 0, the hand's output
# and the idle status were streamed, and waked stopped cleanly (its log says so).
# usage: demo_test.sh <source dir> <build dir>
set -euo pipefail
src=$1
build=$2
work=$(mktemp -d "${TEST_TMPDIR:-/tmp}/demo-test.XXXXXX")
trap 'rm -rf "$work"' EXIT
# The test must not reach a real model whatever the caller's environment holds.
env -u ANTHROPIC_API_KEY -u OPENAI_BASE_URL bash "$src/scripts/demo.sh" "$build" --data "$work/data" >"$work/out" 2>"$work/err" ||
  { echo "demo.sh failed:"; cat "$work/out" "$work/err"; exit 1; }
cat "$work/out"
grep -q "hello from the hand" "$work/out" || { echo "the hand's output was not streamed"; exit 1; }
tail -1 "$work/out" | grep -q "session.status_idle" || { echo "the stream did not end with the idle status"; exit 1; }
grep -q "scripted (not a model)" "$work/err" || { echo "the demo did not label its brain"; exit 1; }
grep -q '"msg":"stopped"' "$work/data/waked.log" || { echo "waked did not stop cleanly:"; tail -5 "$work/data/waked.log"; exit 1; }
