#!/usr/bin/env bash
# ttft_bench's real-brain mode end to end, with bench/model_server (a local model that follows
# instructions) standing in for the provider: the brain is configured from the environment exactly
# as with a real key, once per protocol. Checks that every turn ran, that whether a turn used a tool
# was read from what the model did, and that the report names the real model.
#   ttft_real_brain_test.sh TTFT_BENCH MODEL_SERVER
set -euo pipefail
bench="$1" model_server="$2"
work="$(mktemp -d "${TEST_TMPDIR:-/tmp}/ttft-real.XXXXXX")"
server_pid=""
cleanup() { [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null; wait 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT

"$model_server" --ttft-ms 30 > "$work/url" &
server_pid=$!
for _ in $(seq 100); do [ -s "$work/url" ] && break; sleep 0.05; done
url="$(head -n1 "$work/url")"
[[ "$url" == http://127.0.0.1:* ]] || { echo "model_server printed no URL: '$url'"; exit 1; }

fail() { echo "FAIL: $*"; exit 1; }
turns() { grep -o "\"tool\":$2" "$1" | wc -l; }

# Anthropic's protocol; every turn asks for the tool: every turn must have used it.
env -u OPENAI_BASE_URL ANTHROPIC_BASE_URL="$url" ANTHROPIC_API_KEY=test-key \
  "$bench" --backend local --modes eager,lazy --sessions 3 --followups 1 --tool-fraction 1 \
  --real-brain anthropic --model claude-local-follower --no-progress --out-dir "$work" --tag a > "$work/a.out"
grep -q 'real model claude-local-follower (anthropic protocol at http://127.0.0.1:' "$work/a.json" || fail "anthropic: conditions"
[ "$(turns "$work/a.json" true)" -ge 6 ] || fail "anthropic: fewer than 6 tool turns"
[ "$(turns "$work/a.json" false)" -eq 0 ] || fail "anthropic: a turn without the tool"
grep -q "lazy/eager p50" "$work/a.md" || fail "anthropic: no ratio in the report"

# The OpenAI-compatible protocol; no turn asks for the tool: none may have used it.
env -u ANTHROPIC_BASE_URL -u ANTHROPIC_API_KEY OPENAI_BASE_URL="$url/v1" \
  "$bench" --backend local --modes lazy --sessions 3 --tool-fraction 0 \
  --real-brain openai --model local-follower --no-progress --out-dir "$work" --tag o > "$work/o.out"
grep -q 'real model local-follower (openai protocol at http://127.0.0.1:' "$work/o.json" || fail "openai: conditions"
[ "$(turns "$work/o.json" false)" -ge 3 ] || fail "openai: fewer than 3 turns"
[ "$(turns "$work/o.json" true)" -eq 0 ] || fail "openai: a turn used the tool"

# Without the key the SDKs require, the bench says which variable is missing.
if env -u ANTHROPIC_API_KEY "$bench" --backend local --sessions 1 --real-brain anthropic --model m --no-progress \
     --out-dir "$work" > /dev/null 2> "$work/nokey.err"; then
  fail "ran without ANTHROPIC_API_KEY"
fi
grep -q ANTHROPIC_API_KEY "$work/nokey.err" || fail "no mention of ANTHROPIC_API_KEY: $(cat "$work/nokey.err")"
echo "ttft_bench real-brain mode: ok"
