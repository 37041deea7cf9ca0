#!/usr/bin/env bash
# Runs one Node client test against a real waked: creates an API key with `wakectl keys create`,
# starts waked (port 0, a fresh data dir, local hands), runs `node <script> <url> <key> <scratch
# dir>` with the packages node_packages.sh installed, then stops waked with SIGTERM and checks that it
# shut down cleanly.
# usage: node_client_test.sh <waked> <wakectl> <node packages dir> <script.mjs>
set -euo pipefail
waked=$1
wakectl=$2
node_dir=$3
script=$4
[ -d "$node_dir/node_modules" ] || { echo "no node packages in $node_dir (node_packages.sh installs them)"; exit 1; }
# Node resolves packages from the script's own folder.
cp "$script" "$node_dir/"
work=$(mktemp -d "${TEST_TMPDIR:-/tmp}/node-client.XXXXXX")
key=$("$wakectl" --data "$work/data" keys create --name "$(basename "$script")" | grep '^sk-wake-')
"$waked" --data "$work/data" --port 0 --no-docker >"$work/out" 2>"$work/err" &
pid=$!
cleanup() {
  kill -TERM "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
# waked prints its URL once it listens.
for _ in $(seq 1 600); do
  grep -q "listening on" "$work/out" && break
  kill -0 "$pid" 2>/dev/null || { echo "waked exited:"; cat "$work/err"; exit 1; }
  sleep 0.05
done
url=$(grep -o 'http://[^ ]*' "$work/out")
[ -n "$url" ] || { echo "waked did not listen within 30 s"; cat "$work/err"; exit 1; }
mkdir -p "$work/scratch"
node "$node_dir/$(basename "$script")" "$url" "$key" "$work/scratch"

kill -TERM "$pid"
if ! wait "$pid"; then
  echo "waked did not stop cleanly:"; tail -5 "$work/err"; exit 1
fi
grep -q '"msg":"stopped"' "$work/err" || { echo "waked logged no stop"; exit 1; }
