#!/usr/bin/env bash
# Installs the Node clients the server tests use (tests/server/package.json: the official Anthropic
# SDK, the A2A SDK) into a folder of the build dir, once: a ctest fixture the Node tests require.
# Node and npm come from scripts/services/node.sh; a missing one fails.
# usage: node_packages.sh <dir>
set -euo pipefail
dir=$1
here=$(cd "$(dirname "$0")" && pwd)
command -v node >/dev/null || { echo "node is not installed (scripts/services/node.sh installs it)"; exit 1; }
command -v npm >/dev/null || { echo "npm is not installed (scripts/services/node.sh installs it)"; exit 1; }
mkdir -p "$dir"
if ! cmp -s "$here/package.json" "$dir/package.json" || [ ! -d "$dir/node_modules" ]; then
  cp "$here/package.json" "$dir/package.json"
  (cd "$dir" && npm install --no-audit --no-fund --silent) || { echo "npm install failed in $dir"; exit 1; }
fi
(cd "$dir" && node --input-type=module -e "await import('@anthropic-ai/sdk'); await import('@a2a-js/sdk/client');") ||
  { echo "the packages did not install in $dir"; exit 1; }
echo "node packages ready in $dir"
