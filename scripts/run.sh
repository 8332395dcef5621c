#!/usr/bin/env bash
# Builds uwrelay and runs it in the foreground.
#  - With a UW token in UW_API_TOKEN (or UW_KEY): relays the real UW feed,
#    using config/uwrelay.yaml (or the file given as $1).
#  - Without one: also starts the bundled UW simulator on 127.0.0.1:8765 and
#    points the relay at it, so you see (simulated) live data at once.
# Ctrl-C stops everything.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh
scripts/build.sh
config=${1:-config/uwrelay.yaml}
if [ -z "${UW_API_TOKEN:-}" ] && [ -z "${UW_KEY:-}" ]; then
  echo "No UW_API_TOKEN set: starting the bundled UW simulator (simulated data, not real market data)."
  simtok="demo-$(od -An -N6 -tx1 /dev/urandom | tr -d ' \n')"
  build/tests/uwsim/uwsim --port 8765 --token "$simtok" --rate 2 &
  simpid=$!
  trap 'kill $simpid 2>/dev/null || true' EXIT
  export UW_API_TOKEN=$simtok
  config=config/demo.yaml
fi
port=$(awk '/^listen:/{l=1} l&&/port:/{print $2; exit}' "$config")
cat <<MSG

  uwrelay is starting on http://127.0.0.1:${port:-8080}/
    status:      curl -s http://127.0.0.1:${port:-8080}/api/stream/status
    flow alerts: ws://127.0.0.1:${port:-8080}/api/stream/ws/flow
    any channel: ws://127.0.0.1:${port:-8080}/api/stream/ws?channels=flow-alerts,price:SPY

MSG
build/uwrelay -c "$config"
