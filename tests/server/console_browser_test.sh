#!/usr/bin/env bash
# The console's browser test: creates an API key with `wakectl keys create`, starts waked (port 0, a
# fresh data dir, local hands), runs console_browser.mjs with chromium headless (playwright-core
# from console_packages.sh), then stops waked with SIGTERM and checks that it shut down cleanly.
# When the script asks (a file "restart" in its control dir), waked is stopped and started again on
# the same port and data dir, to break the page's event stream. The screenshots stay in <artefact dir>.
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
pid=
node_pid=
cleanup() {
  if [ -n "$node_pid" ]; then kill -TERM "$node_pid" 2>/dev/null || true; fi
  if [ -n "$pid" ]; then kill -TERM "$pid" 2>/dev/null || true; fi
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
# Starts waked on port $1 and waits until it listens (it prints its URL then).
start_waked() {
  : >"$work/out"
  "$waked" --data "$work/data" --port "$1" --no-docker >"$work/out" 2>>"$work/err" &
  pid=$!
  for _ in $(seq 1 600); do
    grep -q "listening on" "$work/out" && return 0
    kill -0 "$pid" 2>/dev/null || { echo "waked exited:"; cat "$work/err"; exit 1; }
    sleep 0.05
  done
  echo "waked did not listen within 30 s"; cat "$work/err"; exit 1
}
start_waked 0
url=$(grep -o 'http://[^ ]*' "$work/out")
port=${url##*:}
mkdir -p "$work/scratch" "$work/control" "$artefacts"
# chromium keeps its profile and crash dumps under HOME.
HOME="$work/home" node "$node_dir/console_browser.mjs" "$url" "$key" "$work/scratch" "$artefacts" "$chromium" \
  "$work/control" &
node_pid=$!
while kill -0 "$node_pid" 2>/dev/null; do
  if [ -e "$work/control/restart" ]; then
    rm "$work/control/restart"
    kill -TERM "$pid"
    wait "$pid" || { echo "waked did not stop cleanly before the restart"; exit 1; }
    start_waked "$port"
    touch "$work/control/restarted"
  fi
  sleep 0.05
done
status=0
wait "$node_pid" || status=$?
node_pid=
[ "$status" = 0 ] || { echo "the browser test failed ($status)"; exit 1; }

kill -TERM "$pid"
if ! wait "$pid"; then
  echo "waked did not stop cleanly:"; tail -5 "$work/err"; exit 1
fi
grep -q '"msg":"stopped"' "$work/err" || { echo "waked logged no stop"; exit 1; }
