#!/bin/sh
# Cold download of a big file through the weights engine (tests/unit/cache/
# test_weights's "cat" tool) against curl -o FILE onto the same disk, from
# nginx on loopback.  Runs interleaved, prints each run and the medians.
#   tests/weights/bench.sh BUILD_DIR [SIZE_MIB] [RUNS]
# BUILD_DIR should be an optimized build (RelWithDebInfo).  Needs /usr/sbin/nginx.
# HUB_BENCH_HASHED=1 names the file big-<sha256 prefix>.bin, so that the
# engine verifies it as torch's name-<hash>.ext files.
set -eu
build=${1:?usage: bench.sh BUILD_DIR [SIZE_MIB] [RUNS]}
size=${2:-1024}
runs=${3:-5}
tool=$build/tests/test_weights
work=${HUB_BENCH_DIR:-/work/bench-w}
mkdir -p "$work/srv" "$work/nginx"
f="$work/srv/big_$size.bin"
[ -f "$f" ] || head -c $((size * 1048576)) /dev/urandom > "$f"
name=big_$size.bin
if [ "${HUB_BENCH_HASHED:-0}" = 1 ]; then
	name=big-$(sha256sum "$f" | cut -c1-8).bin
	ln -f "$f" "$work/srv/$name"
fi
port=18181
cat > "$work/nginx/nginx.conf" <<CONF
daemon off;
worker_processes 1;
pid $work/nginx/nginx.pid;
error_log $work/nginx/error.log;
events { worker_connections 64; }
http {
  access_log off;
  sendfile on;
  tcp_nopush on;
  server { listen 127.0.0.1:$port; root $work/srv; }
}
CONF
/usr/sbin/nginx -c "$work/nginx/nginx.conf" -p "$work/nginx" &
ng=$!
trap 'kill $ng 2>/dev/null; rm -rf "$work/cache" "$work/curl.out"' EXIT
sleep 0.5
url=http://127.0.0.1:$port/$name
cat "$f" > /dev/null # the server's file in the page cache for both
: > "$work/results"
i=0
while [ $i -lt "$runs" ]; do
	rm -f "$work/curl.out"; sync
	curl -s -o "$work/curl.out" -w 'curl total=%{time_total} first_byte=%{time_starttransfer}\n' "$url" >> "$work/results"
	rm -f "$work/curl.out"; rm -rf "$work/cache"; sync
	HUB_TEST_WAIT_COMPLETE=1 "$tool" cat "$work/cache" "$url" /dev/null 2>/dev/null | sed 's/^/engine /' >> "$work/results"
	rm -rf "$work/cache"
	i=$((i + 1))
done
cat "$work/results"
python3 - "$work/results" "$size" <<'PY'
import sys, statistics as st
c, e, cf, ef, ec, rss = [], [], [], [], [], []
for line in open(sys.argv[1]):
    kv = dict(x.split("=") for x in line.split()[1:])
    if line.startswith("curl"):
        c.append(float(kv["total"])); cf.append(float(kv["first_byte"]) * 1000)
    else:
        e.append(float(kv["seconds"])); ef.append(float(kv["first_byte_ms"]))
        ec.append(float(kv["seconds"]) + float(kv["complete_after"])); rss.append(int(kv["maxrss_kb"]))
mib = float(sys.argv[2])
m = st.median
print("median: curl -o %.3f s (%.0f MiB/s); engine last byte %.3f s (%.0f MiB/s), complete %.3f s; ratio %.2f"
      % (m(c), mib / m(c), m(e), mib / m(e), m(ec), m(c) / m(e)))
print("first byte: curl %.2f ms, engine first 4 KiB read %.2f ms; engine max RSS %d KiB" % (m(cf), m(ef), max(rss)))
PY
