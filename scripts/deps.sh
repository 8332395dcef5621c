#!/usr/bin/env bash
# Installs the Debian 12 packages uwrelay needs to build and test, if missing,
# the browser tests' npm packages, and fetches promtool (for the metrics test) without installing the
# Prometheus server: its .deb is downloaded and only the tool is unpacked
# into .cache/tools/.
# Usage: scripts/deps.sh [--test | --package] [extra-package ...]
#   without a flag: what building and running needs
#   --package: also what scripts/package.sh needs (debhelper, lintian)
#   --test: also what the tests need (valgrind, systemd-analyze, Chromium,
#           node + playwright-core, promtool, clang for fuzzing, and for the
#           package test debhelper, lintian, debootstrap and systemd-nspawn)
set -euo pipefail
cd "$(dirname "$0")/.."
tests=0
package=0
if [ "${1:-}" = "--test" ]; then
  tests=1
  package=1
  shift
elif [ "${1:-}" = "--package" ]; then
  package=1
  shift
fi
pkgs=(build-essential cmake pkg-config libwebsockets-dev libcjson-dev libyaml-dev libssl-dev
      libsystemd-dev libhiredis-dev libsqlite3-dev zlib1g-dev libuv1-dev libwebsockets-evlib-uv
      python3 openssl ca-certificates "$@")
if [ $package -eq 1 ]; then
  pkgs+=(dpkg-dev debhelper lintian)
fi
# npm installs the page's charting library (third_party/uplot), embedded at build time
command -v npm >/dev/null || pkgs+=(npm)
if [ $tests -eq 1 ]; then
  pkgs+=(debootstrap systemd-container valgrind curl systemd chromium clang libclang-rt-14-dev redis-server python3-websockets)
  # node and npm may come from elsewhere than Debian (e.g. NodeSource, which
  # bundles npm and conflicts with Debian's npm): only install what is absent
  command -v node >/dev/null || pkgs+=(nodejs)
  command -v npm >/dev/null || pkgs+=(npm)
fi
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
# the charting library the build embeds (pinned by its lock file; once
# installed, building needs no network)
if [ ! -f third_party/uplot/node_modules/uplot/dist/uPlot.iife.min.js ] ||
   [ third_party/uplot/package-lock.json -nt third_party/uplot/node_modules/.package-lock.json ]; then
  (cd third_party/uplot && npm ci --no-audit --no-fund --loglevel=error)
fi
[ $tests -eq 1 ] || exit 0
if ! command -v promtool >/dev/null && [ ! -x .cache/tools/promtool ]; then
  [ $updated -eq 1 ] || $sudo apt-get update -qq
  tmp=$(mktemp -d)
  (cd "$tmp" && apt-get download -qq prometheus && dpkg-deb -x prometheus_*.deb x)
  mkdir -p .cache/tools
  cp "$tmp/x/usr/bin/promtool" .cache/tools/promtool
  rm -rf "$tmp"
fi
# the browser tests' npm packages (playwright-core; it drives Debian's
# Chromium, it never downloads a browser)
if [ ! -d tests/browser/node_modules/playwright-core ] ||
   [ tests/browser/package-lock.json -nt tests/browser/node_modules/.package-lock.json ]; then
  (cd tests/browser && npm ci --no-audit --no-fund --loglevel=error)
fi
