#!/bin/sh
# The plan's FastAPI design as a benchmark peer (fastapi_plan.py beside this script).
#   bench/peers/fastapi.sh start PORT UPSTREAM_PORT   prints the uvicorn PID
#   bench/peers/fastapi.sh stop PORT
# Subscribers: ws://127.0.0.1:PORT/api/stream/ws/flow; it connects to the benchmark's
# UW-compatible server at ws://127.0.0.1:UPSTREAM_PORT/socket at start-up.
# Debian's python3 (/usr/bin/python3) with python3-fastapi, python3-uvicorn, python3-websockets.
set -eu
cmd=${1:?usage: fastapi.sh start PORT UPSTREAM_PORT | stop PORT}
port=${2:?usage: fastapi.sh start PORT UPSTREAM_PORT | stop PORT}
here=$(cd "$(dirname "$0")" && pwd)
dir=${TMPDIR:-/tmp}/uwbench-fastapi.$port
py=/usr/bin/python3

case $cmd in
start)
	up=${3:?usage: fastapi.sh start PORT UPSTREAM_PORT}
	$py -c 'import fastapi, uvicorn, websockets' 2>/dev/null || {
		echo "missing: apt-get install -y python3-fastapi python3-uvicorn python3-websockets" >&2; exit 1; }
	"$0" stop "$port" 2>/dev/null || true
	mkdir -p "$dir"
	cd "$here"
	UW_API_TOKEN=bench UW_WS_URL="ws://127.0.0.1:$up/socket" PYTHONDONTWRITEBYTECODE=1 \
		setsid $py -m uvicorn fastapi_plan:app --host 127.0.0.1 --port "$port" --workers 1 \
		--log-level warning --no-access-log --backlog 4096 </dev/null >"$dir/log" 2>&1 &
	echo $! > "$dir/pid"
	# ready when the port answers
	i=0
	until $py -c "import socket,sys; s=socket.socket(); s.settimeout(0.2); sys.exit(s.connect_ex(('127.0.0.1',$port)))" 2>/dev/null; do
		i=$((i + 1))
		if [ $i -gt 100 ] || ! kill -0 "$(cat "$dir/pid")" 2>/dev/null; then
			echo "uvicorn did not start:" >&2; cat "$dir/log" >&2; exit 1
		fi
		sleep 0.1
	done
	cat "$dir/pid"
	;;
stop)
	[ -f "$dir/pid" ] || { rm -rf "$dir"; exit 0; }
	pid=$(cat "$dir/pid")
	kill -TERM "$pid" 2>/dev/null || true
	i=0
	while kill -0 "$pid" 2>/dev/null; do
		i=$((i + 1))
		# uvicorn waits for open WebSockets on TERM; do not wait long
		if [ $i -gt 30 ]; then kill -KILL "$pid" 2>/dev/null || true; fi
		[ $i -lt 60 ] || break
		sleep 0.1
	done
	rm -rf "$dir"
	;;
*)
	echo "usage: fastapi.sh start PORT UPSTREAM_PORT | stop PORT" >&2
	exit 2
	;;
esac
