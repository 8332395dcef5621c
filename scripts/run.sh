#!/usr/bin/env bash
# Builds uwrelay and runs it in the foreground.
#  - With a UW token in UW_API_TOKEN (or UW_KEY): relays the real UW feed,
#    using config/uwrelay.yaml (or the file given as $1).
#  - Without one: also starts the bundled UW simulator on 127.0.0.1:8765 and
#    points the relay at it, so you see (simulated) live data at once.
#  - With --replay TAPE [replay options]: replays a recorded tape instead of
#    UW or the simulator (no token needed), e.g.
#      scripts/run.sh --replay /var/lib/uwrelay/tape.db --speed 10 --loop
#    A config file may follow the replay options.
# Ctrl-C stops everything.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh
scripts/build.sh
replay=()
if [ "${1:-}" = "--replay" ]; then
  [ -n "${2:-}" ] || { echo "usage: scripts/run.sh --replay TAPE [--speed N|max] [--from ISO] [--to ISO] [--loop] [CONFIG]" >&2; exit 2; }
  replay=(--replay "$2")
  shift 2
  while [ $# -gt 0 ]; do
    case "$1" in
      --loop) replay+=("$1"); shift ;;
      --speed|--from|--to) replay+=("$1" "${2:?$1 needs a value}"); shift 2 ;;
      *) break ;;
    esac
  done
fi
config=${1:-config/uwrelay.yaml}
if [ ${#replay[@]} -gt 0 ]; then
  echo "Replaying ${replay[1]} (recorded data, not live)."
elif [ -z "${UW_API_TOKEN:-}" ] && [ -z "${UW_KEY:-}" ]; then
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
build/uwrelay -c "$config" ${replay[@]+"${replay[@]}"}
