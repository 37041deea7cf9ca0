#!/usr/bin/env bash
# Installs what the console's browser test needs into a folder of the build dir, once (a ctest
# fixture): playwright-core and axe-core from npm (console_package.json; nothing downloads a
# browser); playwright-core drives Debian's chromium, which scripts/services/chromium.sh installs.
# A missing node, npm or chromium fails.
# usage: console_packages.sh <dir>
set -euo pipefail
dir=$1
here=$(cd "$(dirname "$0")" && pwd)
command -v node >/dev/null || { echo "node is not installed (scripts/services/node.sh installs it)"; exit 1; }
command -v npm >/dev/null || { echo "npm is not installed (scripts/services/node.sh installs it)"; exit 1; }
command -v chromium >/dev/null || { echo "chromium is not installed (scripts/services/chromium.sh installs it)"; exit 1; }
mkdir -p "$dir"
if ! cmp -s "$here/console_package.json" "$dir/package.json" || [ ! -d "$dir/node_modules" ]; then
  cp "$here/console_package.json" "$dir/package.json"
  (cd "$dir" && npm install --no-audit --no-fund --silent) || { echo "npm install failed in $dir"; exit 1; }
fi
(cd "$dir" && node --input-type=module -e "await import('playwright-core'); await import('axe-core');") ||
  { echo "playwright-core or axe-core did not install in $dir"; exit 1; }
echo "console browser packages ready in $dir ($(chromium --version))"
