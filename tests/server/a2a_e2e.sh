#!/usr/bin/env bash
# waked's A2A endpoint end to end with npm @a2a-js/sdk (the A2A project's own TypeScript SDK): starts
# waked (port 0, a fresh data dir, an API key given as its hash), runs a2a_e2e.mjs against it with a
# script for the scripted brain, then stops waked with SIGTERM and checks it shuts down cleanly. Node
# and npm come from scripts/services/node.sh; a missing one fails the test.
# usage: a2a_e2e.sh <waked binary> <dir for the SDK's node_modules, kept between runs>
set -euo pipefail
waked=$1
sdk_dir=$2
here=$(cd "$(dirname "$0")" && pwd)
version=1.3.0
command -v node >/dev/null || { echo "node is not installed (scripts/services/node.sh installs it)"; exit 1; }
if [ ! -f "$sdk_dir/node_modules/@a2a-js/sdk/package.json" ] ||
   ! grep -q "\"version\": \"$version\"" "$sdk_dir/node_modules/@a2a-js/sdk/package.json"; then
  mkdir -p "$sdk_dir"
  (cd "$sdk_dir" && npm install --no-audit --no-fund --silent "@a2a-js/sdk@$version" >/dev/null 2>&1) ||
    { echo "cannot install @a2a-js/sdk@$version with npm"; exit 1; }
fi
# Node resolves the SDK from the script's own folder.
cp "$here/a2a_e2e.mjs" "$sdk_dir/a2a_e2e.mjs"

work=$(mktemp -d "${TEST_TMPDIR:-/tmp}/a2a-e2e.XXXXXX")
# The scripted brain answers each message of a session with the next turn.
cat >"$work/script.json" <<'JSON'
{"turns": [{"text": "pong: the answer is 42"}, {"text": "streamed reply"}, {"text": "legacy reply"},
           {"text": "legacy streamed reply"}]}
JSON
key="sk-a2a-$RANDOM$RANDOM"
hash=$(printf '%s\n' "$key" | "$waked" hash-key)
"$waked" --data "$work/data" --port 0 --no-docker --api-key-sha256 "$hash" >"$work/out" 2>"$work/err" &
pid=$!
cleanup() {
  kill -TERM "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
# waked prints its URL once it listens.
until grep -q "listening on" "$work/out"; do
  kill -0 "$pid" 2>/dev/null || { echo "waked exited:"; cat "$work/err"; exit 1; }
  sleep 0.05
done
url=$(grep -o 'http://[^ ]*' "$work/out")
node "$sdk_dir/a2a_e2e.mjs" "$url" "$key" "scripted:$work/script.json"

kill -TERM "$pid"
if ! wait "$pid"; then
  echo "waked did not stop cleanly:"; tail -5 "$work/err"; exit 1
fi
grep -q '"msg":"stopped"' "$work/err" || { echo "waked logged no stop"; exit 1; }
trap - EXIT
rm -rf "$work"
