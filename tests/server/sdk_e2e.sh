#!/usr/bin/env bash
# waked end to end with the official TypeScript SDK: creates an API key with `wakectl keys create`,
# starts waked (port 0, a fresh data dir), runs sdk_e2e.mjs against it, then stops waked with SIGTERM
# and checks it shuts down cleanly. Node and npm come from scripts/services/node.sh; a missing one
# fails the test.
# usage: sdk_e2e.sh <waked binary> <wakectl binary> <dir for the SDK's node_modules, kept between runs>
set -euo pipefail
waked=$1
wakectl=$2
sdk_dir=$3
here=$(cd "$(dirname "$0")" && pwd)
command -v node >/dev/null || { echo "node is not installed (scripts/services/node.sh installs it)"; exit 1; }
if [ ! -d "$sdk_dir/node_modules/@anthropic-ai/sdk" ]; then
  mkdir -p "$sdk_dir"
  (cd "$sdk_dir" && npm install --no-audit --no-fund --silent @anthropic-ai/sdk@1.10.0 >/dev/null 2>&1) ||
    { echo "cannot install @anthropic-ai/sdk@1.10.0 with npm"; exit 1; }
fi
# Node resolves the SDK from the script's own folder.
cp "$here/sdk_e2e.mjs" "$sdk_dir/sdk_e2e.mjs"

work=$(mktemp -d "${TEST_TMPDIR:-/tmp}/sdk-e2e.XXXXXX")
# The key is the one line of wakectl's output that starts with the key prefix.
key=$("$wakectl" --data "$work/data" keys create --name sdk-e2e | grep '^sk-wake-')
"$waked" --data "$work/data" --port 0 --no-docker >"$work/out" 2>"$work/err" &
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
node "$sdk_dir/sdk_e2e.mjs" "$url" "$key"

kill -TERM "$pid"
if ! wait "$pid"; then
  echo "waked did not stop cleanly:"; tail -5 "$work/err"; exit 1
fi
grep -q '"msg":"stopped"' "$work/err" || { echo "waked logged no stop"; exit 1; }
trap - EXIT
rm -rf "$work"
