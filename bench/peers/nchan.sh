#!/bin/sh
# nchan peer for the benchmarks: nginx + libnginx-mod-nchan on 127.0.0.1 only.
#   bench/peers/nchan.sh start PORT   prints the worker's PID (what to measure)
#   bench/peers/nchan.sh stop PORT    stops it; nothing is left running
# Publisher: ws://127.0.0.1:PORT/pub (nchan_publisher websocket)
# Subscriber: ws://127.0.0.1:PORT/sub (nchan_subscriber websocket)
# Config, pid file and logs live in ${TMPDIR:-/tmp}/uwbench-nchan.PORT.
set -eu
cmd=${1:?usage: nchan.sh start|stop PORT}
port=${2:?usage: nchan.sh start|stop PORT}
dir=${TMPDIR:-/tmp}/uwbench-nchan.$port
mod=/usr/share/nginx/modules/ngx_nchan_module.so
[ -f "$mod" ] || mod=/usr/lib/nginx/modules/ngx_nchan_module.so

case $cmd in
start)
	command -v nginx >/dev/null || { echo "nginx missing: apt-get install -y nginx libnginx-mod-nchan" >&2; exit 1; }
	[ -f "$mod" ] || { echo "nchan missing: apt-get install -y libnginx-mod-nchan" >&2; exit 1; }
	"$0" stop "$port" 2>/dev/null || true
	mkdir -p "$dir"
	nofile=$(ulimit -Hn)
	cat > "$dir/nginx.conf" <<CONF
load_module $mod;
daemon on;
worker_processes 1;
worker_rlimit_nofile $nofile;
pid $dir/nginx.pid;
error_log $dir/error.log warn;
events { worker_connections $((nofile * 2)); multi_accept on; }
http {
	access_log $dir/access.log;
	client_body_temp_path $dir/body;
	proxy_temp_path $dir/proxy;
	fastcgi_temp_path $dir/fastcgi;
	uwsgi_temp_path $dir/uwsgi;
	scgi_temp_path $dir/scgi;
	nchan_shared_memory_size 256m;
	server {
		listen 127.0.0.1:$port backlog=4096;
		location = /pub {
			nchan_publisher websocket;
			nchan_channel_id flow;
			nchan_message_buffer_length ${NCHAN_BUFFER:-4096};
			nchan_message_timeout 60s;
		}
		location = /sub {
			nchan_subscriber websocket;
			nchan_channel_id flow;
			nchan_subscriber_first_message newest;
		}
	}
}
CONF
	# (worker_connections above the fd limit draws a warning: nchan needs more
	# connection slots than sockets; the warning goes to the log)
	nginx -q -e "$dir/error.log" -p "$dir" -c "$dir/nginx.conf" 2>>"$dir/error.log"
	# the worker is the master's child; wait for it
	i=0
	while :; do
		master=$(cat "$dir/nginx.pid" 2>/dev/null || true)
		if [ -n "$master" ]; then
			worker=$(pgrep -P "$master" | head -n1 || true)
			[ -n "$worker" ] && break
		fi
		i=$((i + 1))
		[ $i -lt 100 ] || { echo "nchan did not start; see $dir/error.log" >&2; exit 1; }
		sleep 0.05
	done
	echo "$worker"
	;;
stop)
	[ -f "$dir/nginx.pid" ] || { rm -rf "$dir"; exit 0; }
	master=$(cat "$dir/nginx.pid")
	kill -TERM "$master" 2>/dev/null || true
	i=0
	while kill -0 "$master" 2>/dev/null; do
		i=$((i + 1))
		if [ $i -gt 100 ]; then kill -KILL "$master" 2>/dev/null || true; fi
		[ $i -lt 150 ] || break
		sleep 0.05
	done
	rm -rf "$dir"
	;;
*)
	echo "usage: nchan.sh start|stop PORT" >&2
	exit 2
	;;
esac
