#!/usr/bin/env bash
# The console's browser test (tests/server/console_browser.mjs) drives Debian's chromium headless
# with playwright-core. This installs chromium from Debian when it is missing (no browser is ever
# downloaded from anywhere else). Idempotent.
set -euo pipefail
sudo_if_needed() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }
command -v chromium >/dev/null && exit 0
echo "scripts/services/chromium.sh: installing chromium" >&2
# A machine whose package lists are missing or stale needs an update first.
sudo_if_needed env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends chromium >/dev/null ||
  { sudo_if_needed apt-get update -qq &&
    sudo_if_needed env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends chromium >/dev/null; }
