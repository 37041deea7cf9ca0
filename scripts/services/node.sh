#!/usr/bin/env bash
# The server's client tests run the official SDKs on Node (tests/server/*.mjs: @anthropic-ai/sdk,
# @a2a-js/sdk, installed from npm into the build dir by the tests themselves). This installs Node and
# npm from Debian when they are missing. Idempotent.
set -euo pipefail
sudo_if_needed() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }
if command -v node >/dev/null && command -v npm >/dev/null; then exit 0; fi
missing=()
command -v node >/dev/null || missing+=(nodejs)
command -v npm >/dev/null || missing+=(npm)
echo "scripts/services/node.sh: installing ${missing[*]}" >&2
# A machine whose package lists are missing or stale needs an update first.
sudo_if_needed env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}" >/dev/null ||
  { sudo_if_needed apt-get update -qq &&
    sudo_if_needed env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}" >/dev/null; }
