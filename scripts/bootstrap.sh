#!/usr/bin/env bash
# Installs the Debian packages BatteryLens builds against, only those that are missing.
# Idempotent: a second run installs nothing. Runs as root (as on CI) or through sudo.
set -euo pipefail

packages=(pkg-config libfftw3-dev libhdf5-dev libtiff-dev zlib1g-dev libpng-dev libgsf-1-dev libbz2-dev)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ "${#missing[@]}" -eq 0 ]; then
  exit 0
fi

echo "bootstrap: installing ${missing[*]}" >&2
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "bootstrap: done" >&2
