#!/usr/bin/env bash
# Installs every Debian package wake needs to build and test. Idempotent: a package
# that is already installed is skipped, so a second run costs one dpkg query.
# Arguments name more packages a script needs on top (scripts/fuzz.sh: clang and libFuzzer).
set -euo pipefail

packages=(
  build-essential cmake ninja-build pkg-config git
  librocksdb-dev capnproto libcapnp-dev libsimdjson-dev libabsl-dev
  libboost-dev libcurl4-openssl-dev libssh-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  libssl-dev              # SHA-256 for content-addressed blobs
  libsqlite3-dev          # baseline in the storage benchmark
)
packages+=("$@")

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "setup: all ${#packages[@]} packages present"
  exit 0
fi

echo "setup: installing ${missing[*]}"
sudo_cmd=()
[ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)
export DEBIAN_FRONTEND=noninteractive
# A fresh machine has no package lists; an old list may name versions that are gone.
"${sudo_cmd[@]}" apt-get update -qq
"${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
