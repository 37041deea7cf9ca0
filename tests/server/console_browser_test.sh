#!/usr/bin/env bash
# The console's browser test: creates an API key with `wakectl keys create`, starts waked (port 0, a
# fresh data dir, local hands), runs console_browser.mjs with chromium headless (playwright-core
# from console_packages.sh), then stops waked with SIGTERM and checks that it shut down cleanly.
# The screenshots stay in <artefact dir>.
# usage: console_browser_test.sh <waked> <wakectl> <packages dir> <artefact dir>
set -euo pipefail
waked=$1
wakectl=$2
node_dir=$3
artefacts=$4
here=$(cd "$(dirname "$0")" && pwd)
[ -d "$node_dir/node_modules" ] || { echo "no packages in $node_dir (console_packages.sh installs them)"; exit 1; }
chromium=$(command -v chromium) || { echo "chromium is not installed (scripts/services/chromium.sh installs it)"; exit 1; }
# Node resolves packages from the script's own folder.
cp "$here/console_browser.mjs" "$node_dir/"
work=$(mktemp -d "${TEST_TMPDIR:-/tmp}/console-browser.XXXXXX")
key=$("$wakectl" --data "$work/data" keys create --name console-browser | grep '^sk-wake-')
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
mkdir -p "$work/scratch" "$artefacts"
# chromium keeps its profile and crash dumps under HOME.
HOME="$work/home" node "$node_dir/console_browser.mjs" "$url" "$key" "$work/scratch" "$artefacts" "$chromium"

kill -TERM "$pid"
if ! wait "$pid"; then
  echo "waked did not stop cleanly:"; tail -5 "$work/err"; exit 1
fi
grep -q '"msg":"stopped"' "$work/err" || { echo "waked logged no stop"; exit 1; }
