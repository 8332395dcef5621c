#!/usr/bin/env bash
# Installs the Debian 12 packages uwrelay needs to build and test, if missing,
# and fetches promtool (for the metrics test) without installing the
# Prometheus server: its .deb is downloaded and only the tool is unpacked
# into .cache/tools/.
# Usage: scripts/deps.sh [extra-package ...]
set -euo pipefail
cd "$(dirname "$0")/.."
pkgs=(build-essential cmake pkg-config valgrind libwebsockets-dev libcjson-dev libyaml-dev libssl-dev
      libsystemd-dev python3 openssl ca-certificates curl systemd "$@")
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
updated=0
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -qq
  updated=1
  $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
if ! command -v promtool >/dev/null && [ ! -x .cache/tools/promtool ]; then
  [ $updated -eq 1 ] || $sudo apt-get update -qq
  tmp=$(mktemp -d)
  (cd "$tmp" && apt-get download -qq prometheus && dpkg-deb -x prometheus_*.deb x)
  mkdir -p .cache/tools
  cp "$tmp/x/usr/bin/promtool" .cache/tools/promtool
  rm -rf "$tmp"
fi
