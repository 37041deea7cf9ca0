#!/usr/bin/env bash
# The ssh hand's tests start an sshd of their own (tests/sandbox/ssh_test_server.cc: 127.0.0.1, a free
# port, generated keys); this installs what they need: Debian's openssh-server (sshd, ssh-keygen)
# and the privilege-separation directory sshd insists on. It starts no system sshd. Idempotent.
set -euo pipefail
sudo_if_needed() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }
missing=()
for p in openssh-server openssh-client; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "scripts/services/sshd.sh: installing ${missing[*]}" >&2
  # The package's own service must not start (and bind port 22) on a test machine.
  printf '#!/bin/sh\nexit 101\n' | sudo_if_needed tee /usr/sbin/policy-rc.d >/dev/null
  sudo_if_needed chmod +x /usr/sbin/policy-rc.d
  # A machine whose package lists are missing or stale needs an update first.
  sudo_if_needed env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}" >/dev/null ||
    { sudo_if_needed apt-get update -qq &&
      sudo_if_needed env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}" >/dev/null; }
  sudo_if_needed rm -f /usr/sbin/policy-rc.d
fi
sudo_if_needed mkdir -p /run/sshd
sudo_if_needed chmod 0755 /run/sshd
