#!/usr/bin/env bash
# waked's vaults with the official TypeScript SDK: starts waked (port 0, a fresh data dir, an API
# key given as its hash), runs sdk_vaults.mjs against it (with a scratch dir for the scripted brain's
# script), then stops waked with SIGTERM and checks it
# shuts down cleanly. Node and npm come from scripts/services/node.sh; a missing one fails the test.
# usage: sdk_vaults.sh <waked binary> <dir for the SDK's node_modules, kept between runs>
set -euo pipefail
waked=$1
sdk_dir=$2
here=$(cd "$(dirname "$0")" && pwd)
command -v node >/dev/null || { echo "node is not installed (scripts/services/node.sh installs it)"; exit 1; }
if [ ! -d "$sdk_dir/node_modules/@anthropic-ai/sdk" ]; then
  mkdir -p "$sdk_dir"
  (cd "$sdk_dir" && npm install --no-audit --no-fund --silent @anthropic-ai/sdk@1.10.0 >/dev/null 2>&1) ||
    { echo "cannot install @anthropic-ai/sdk@1.10.0 with npm"; exit 1; }
fi
# Node resolves the SDK from the script's own folder.
cp "$here/sdk_vaults.mjs" "$sdk_dir/sdk_vaults.mjs"

work=$(mktemp -d "${TEST_TMPDIR:-/tmp}/sdk-vaults.XXXXXX")
key="sk-e2e-$RANDOM$RANDOM"
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
node "$sdk_dir/sdk_vaults.mjs" "$url" "$key" "$work"

kill -TERM "$pid"
if ! wait "$pid"; then
  echo "waked did not stop cleanly:"; tail -5 "$work/err"; exit 1
fi
grep -q '"msg":"stopped"' "$work/err" || { echo "waked logged no stop"; exit 1; }
trap - EXIT
rm -rf "$work"
