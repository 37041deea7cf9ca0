#!/usr/bin/env bash
# The console's browser test (tests/server/console_browser.mjs) drives Debian's chromium headless
# with playwright-core. This installs chromium from Debian when it is missing (no browser is ever
# downloaded from anywhere else). Idempotent.
set -euo pipefail
exec "$(cd "$(dirname "$0")/../.." && pwd)/scripts/setup.sh" chromium
