#!/usr/bin/env bash
# The demo session through the server, with binaries already built (scripts/run.sh builds them
# first; a ctest runs this too): starts waked on a data dir (an embedded RocksDB) on a free port,
# drives one session end to end with wake_demo over the HTTP/SSE API, streaming its events to the
# terminal, then stops waked gracefully.
#   usage: scripts/demo.sh BUILD_DIR [--data DIR] [--port N] [--keep-running] [wake_demo args...]
# --keep-running leaves waked serving afterwards (stop it with Ctrl-C).
# The brain: Anthropic when ANTHROPIC_API_KEY is set, an OpenAI-compatible one when OPENAI_BASE_URL
# (and WAKE_MODEL) are, otherwise the scripted brain, labelled "scripted (not a model)".
set -euo pipefail
build=$(cd "$1" && pwd); shift
data=data
port=0
keep=0
demo_args=()
while [ $# -gt 0 ]; do
  case "$1" in
    --data) data=$2; shift 2 ;;
    --port) port=$2; shift 2 ;;
    --keep-running) keep=1; shift ;;
    *) demo_args+=("$1"); shift ;;
  esac
done
mkdir -p "$data"
data=$(cd "$data" && pwd)
log="$data/waked.log"

# waked serves only requests with an API key. The demo makes one for itself on first use (wake keeps
# only its hash; the key itself stays in $data/demo-api-key, readable by this user alone).
key_file="$data/demo-api-key"
if [ ! -s "$key_file" ]; then
  (umask 077 && "$build/engine/wakectl" --data "$data" keys create --name "demo (scripts/demo.sh)" 2>/dev/null |
     head -1 >"$key_file")
  [ -s "$key_file" ] || { echo "could not create an API key for the demo in $data" >&2; exit 1; }
fi
export WAKE_API_KEY
WAKE_API_KEY=$(cat "$key_file")

"$build/server/waked" --data "$data" --port "$port" >"$data/waked.out" 2>>"$log" &
waked_pid=$!
stop_waked() {
  kill -TERM "$waked_pid" 2>/dev/null || return 0
  wait "$waked_pid" 2>/dev/null || true
}
trap stop_waked EXIT
# waked prints its URL once it listens.
for _ in $(seq 1 600); do
  grep -q "listening on" "$data/waked.out" 2>/dev/null && break
  kill -0 "$waked_pid" 2>/dev/null || { echo "waked did not start; its log ($log):" >&2; tail -20 "$log" >&2; exit 1; }
  sleep 0.05
done
url=$(grep -o 'http://[^ ]*' "$data/waked.out" | head -1)
[ -n "$url" ] || { echo "waked did not start listening within 30 s; its log: $log" >&2; exit 1; }
echo "waked: serving the Managed Agents API on $url (data $data, log $log; the demo's API key is in $key_file)" >&2

"$build/client/wake_demo" --url "$url" "${demo_args[@]}"

if [ "$keep" = 1 ]; then
  echo "waked keeps running on $url (Ctrl-C stops it)" >&2
  wait "$waked_pid"
fi
