#!/usr/bin/env bash
# xbootd's HTTP boot server against curl, a client no one here wrote:
#
#   ┌──────── xbt-http-PID-srv ────────┐      ┌──────── xbt-http-PID-cli ────────┐
#   │ xbootd: DHCP + HTTP :8080        │ veth │ udhcpc (a lease for its MAC)     │
#   │ http-root = $NX_TMP/http         ├──────┤ curl, bash /dev/tcp             │
#   │ xbt-http-s 10.77.0.1/16          │      │ xbt-http-c = the leased address  │
#   └──────────────────────────────────┘      └──────────────────────────────────┘
#
# Whole files of 0 B, 1 B, 1 MiB + 1 and 20 MiB (SHA-256), HEAD, the Range
# forms and 416, keep-alive reuse, pipelining, path escapes (.., %2e%2e, a
# symlink out), 405, the slow-head and idle deadlines, 8 parallel downloads,
# the 4096-connection limit (503 past it), /boot.ipxe rendered for the
# client that holds the lease, /boot/MAC.ipxe for a reservation, /metrics
# and the counters in xbootctl stats.
set -u
. "$(dirname "$0")/../lib/netns.sh"

CLI_MAC=52:54:00:aa:77:01
RESV_MAC=52:54:00:aa:77:02
PORT=8080
URL=http://$NX_SRV_IP:$PORT

for c in busybox curl sha256sum; do nx_require_cmd $c; done
nx_require_xboot
nx_init http
nx_pair
nx_cli_mac $CLI_MAC

root=$NX_TMP/http
mkdir -p "$root/boot/rescue" "$root/sub"
: >"$root/empty"
printf x >"$root/one"
head -c $((1024 * 1024 + 1)) /dev/urandom >"$root/mib1"
head -c $((20 * 1024 * 1024 + 12345)) /dev/urandom >"$root/big"
echo kernel >"$root/boot/rescue/vmlinuz"
echo inside >"$root/sub/file"
ln -s /etc/passwd "$root/leak"
ln -s sub/file "$root/inlink"

nx_xbootd xdp=auto dhcp-range=$NX_NET.1.10,$NX_NET.1.200,$NX_MASK \
	host=$RESV_MAC,,resvhost,rescue http-root="$root" http-port=$PORT

# --- a lease, and that address on the client end --------------------------

cat >"$NX_TMP/udhcpc.script" <<'EOF2'
#!/bin/sh
[ "$1" = bound ] && echo "$ip" >"$XBT_OUT"
exit 0
EOF2
chmod +x "$NX_TMP/udhcpc.script"
XBT_OUT=$NX_TMP/lease timeout 30 ip netns exec "$NX_CLI" busybox udhcpc -f -q \
	-n -t 5 -T 2 -i "$NX_CLI_IF" -s "$NX_TMP/udhcpc.script" \
	>>"$NX_TMP/udhcpc.log" 2>&1
CLI_IP=$(cat "$NX_TMP/lease" 2>/dev/null)
nx_check test -n "$CLI_IP" -- "udhcpc got a lease"
nx_cli ip addr add "$CLI_IP/$NX_PREFIX" dev "$NX_CLI_IF"

ccurl() { nx_cli curl -sS --max-time 60 "$@"; }
code() { ccurl -o /dev/null -w '%{http_code}' "$@"; }
# raw REQUEST-BYTES: send them on one connection, print the whole answer.
raw() {
	nx_cli timeout 20 bash -c "exec 3<>/dev/tcp/$NX_SRV_IP/$PORT &&
		printf '$1' >&3 && cat <&3"
}

# Started now, checked at the end: a keep-alive connection left idle after
# its answer is closed by the server after 30 s.
nx_cli timeout 60 bash -c "exec 3<>/dev/tcp/$NX_SRV_IP/$PORT &&
	printf 'GET /one HTTP/1.1\r\nHost: a\r\n\r\n' >&3 && s=\$SECONDS &&
	cat <&3 >/dev/null; echo \$((SECONDS - s))" >"$NX_TMP/idle" 2>&1 &
idle_pid=$!

# --- whole files ------------------------------------------------------------

for f in empty one mib1 big; do
	want=$(sha256sum <"$root/$f" | cut -d' ' -f1)
	got=$(ccurl "$URL/$f" | sha256sum | cut -d' ' -f1)
	nx_check test "$got" = "$want" -- "GET /$f: same SHA-256 ($(stat -c %s "$root/$f") bytes)"
done
nx_check test "$(ccurl $URL/inlink)" = inside -- "a symlink inside http-root is followed"

# --- HEAD -------------------------------------------------------------------

hdr=$(ccurl -I "$URL/mib1" | tr -d '\r')
nx_check grep -qx "Content-Length: $((1024 * 1024 + 1))" <<<"$hdr" -- "HEAD: Content-Length"
nx_check grep -q "^Last-Modified: " <<<"$hdr" -- "HEAD: Last-Modified"
# body_bytes: what follows the head of a raw answer
body_bytes() { tr -d '\r' | awk 'f { n += length($0) + 1 } /^$/ { f = 1 } END { print n + 0 }'; }
n=$(raw 'HEAD /mib1 HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n' | body_bytes)
nx_check test "$n" = 0 -- "HEAD: no body"
n=$(raw 'GET /boot/rescue/vmlinuz HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n' | body_bytes)
nx_check test "$n" = 7 -- "GET: the body follows the head"

# --- ranges -----------------------------------------------------------------

range_check() { # RANGE DD-ARGS: the bytes curl -r gets are those dd cuts
	local got want
	got=$(ccurl -r "$1" "$URL/mib1" | sha256sum)
	want=$(dd if="$root/mib1" bs=1 $2 2>/dev/null | sha256sum)
	nx_check test "$got" = "$want" -- "Range bytes=$1"
}
range_check 0-99 "count=100"
range_check 1000-1999 "skip=1000 count=1000"
range_check 1048000- "skip=1048000"
range_check -500 "skip=$((1024 * 1024 + 1 - 500))"
nx_check test "$(code -r 100-199 $URL/mib1)" = 206 -- "a range answers 206"
cr=$(ccurl -D - -o /dev/null -r 100-199 "$URL/mib1" | tr -d '\r' | grep -i '^Content-Range:')
nx_check test "$cr" = "Content-Range: bytes 100-199/1048577" -- "Content-Range ($cr)"
nx_check test "$(code -r 2000000- $URL/mib1)" = 416 -- "a range past the end answers 416"
nx_check test "$(code -r 0-0 $URL/empty)" = 416 -- "any range of an empty file answers 416"
nx_check test "$(code -r 0-1,5-6 $URL/mib1)" = 200 -- "several ranges get the whole file (200)"

# --- keep-alive and pipelining ----------------------------------------------

ccurl -v -o /dev/null -o /dev/null "$URL/one" "$URL/mib1" 2>"$NX_TMP/ka.log"
nx_check grep -q "Re-using existing connection" "$NX_TMP/ka.log" -- "keep-alive: curl reused the connection"
resp=$(raw 'GET /one HTTP/1.1\r\nHost: a\r\n\r\nGET /boot/rescue/vmlinuz HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n')
nx_check test "$(grep -o 'HTTP/1.1 200' <<<"$resp" | wc -l)" = 2 -- "pipelining: two answers in order"
nx_check grep -q '^kernel' <<<"$resp" -- "pipelining: the second body"
resp=$(raw 'GET /one HTTP/1.0\r\n\r\n')
nx_check grep -q 'Connection: close' <<<"$resp" -- "HTTP/1.0 closes by default"

# --- refusals ---------------------------------------------------------------

for p in '/../etc/passwd' '/%2e%2e/etc/passwd' '/sub/../../etc/passwd' '/a%00b'; do
	c=$(code --path-as-is "$URL$p")
	nx_check test "$c" = 400 -- "GET $p refused ($c)"
done
nx_check test "$(code $URL/leak)" = 403 -- "a symlink out of http-root answers 403"
nx_check test "$(code $URL/nothere)" = 404 -- "a missing file answers 404"
nx_check test "$(code $URL/sub)" = 404 -- "a directory answers 404"
resp=$(raw 'POST /one HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n')
nx_check grep -q '^HTTP/1.1 405' <<<"$resp" -- "POST answers 405"
nx_check grep -q '^Allow: GET, HEAD' <<<"$resp" -- "405 names the methods (Allow)"

start=$SECONDS
raw 'GET /one HTTP/1.1\r\nHost: a\r\n' >/dev/null
took=$((SECONDS - start))
nx_check test $took -ge 8 -a $took -le 15 -- "an unfinished request head is cut off (${took} s)"
nx_check test "$(code $URL/one)" = 200 -- "the server still answers afterwards"

# --- load: parallel downloads, and the connection limit ---------------------

want=$(sha256sum <"$root/big" | cut -d' ' -f1)
pids=()
for i in $(seq 8); do
	ccurl "$URL/big" | sha256sum | cut -d' ' -f1 >"$NX_TMP/par.$i" &
	pids+=($!)
done
wait "${pids[@]}" # not a bare wait: xbootd is a child too
nx_check test "$(cat "$NX_TMP"/par.* | sort -u)" = "$want" -- "8 parallel downloads of /big, all byte-identical"

# 4096 connections are held open; the ones past them get a 503 at once, and
# the held ones are still served.
limit=$(nx_cli timeout 60 python3 - "$NX_SRV_IP" $PORT <<'EOF2'
import resource, socket, sys, time
resource.setrlimit(resource.RLIMIT_NOFILE, (8192, 8192))
addr = (sys.argv[1], int(sys.argv[2]))
held = [socket.create_connection(addr) for _ in range(4096 + 4)]
refused = 0
for s in held[-4:]:
    s.settimeout(5)
    refused += s.recv(64).startswith(b"HTTP/1.1 503")
s = held[0]
s.sendall(b"GET /one HTTP/1.1\r\nHost: a\r\n\r\n")
s.settimeout(5)
time.sleep(0.2)
print(refused, s.recv(4096).endswith(b"\r\n\r\nx"))
EOF2
)
nx_check test "$limit" = "4 True" -- "past 4096 connections: 503, the rest still served ($limit)"

# --- iPXE scripts -----------------------------------------------------------

script=$(ccurl "$URL/boot.ipxe")
nx_check grep -q '^#!ipxe' <<<"$script" -- "/boot.ipxe is an iPXE script"
nx_check grep -q "$CLI_MAC" <<<"$script" -- "/boot.ipxe names the client's MAC"
nx_check grep -q "ip $CLI_IP " <<<"$script" -- "/boot.ipxe names the client's leased address"
nx_check grep -q "kernel $URL/boot/default/vmlinuz" <<<"$script" -- "/boot.ipxe chains to the default profile"
script=$(ccurl "$URL/boot/${RESV_MAC//:/-}.ipxe")
nx_check grep -q "resvhost mac $RESV_MAC" <<<"$script" -- "/boot/MAC.ipxe: the reservation's host name"
nx_check grep -q "kernel $URL/boot/rescue/vmlinuz" <<<"$script" -- "/boot/MAC.ipxe: the reservation's profile"

# a machine xbootd knows nothing about (another source address): iPXE is
# asked to come back with its MAC in the URL
nx_cli ip addr add "$NX_CLI_IP/$NX_PREFIX" dev "$NX_CLI_IF"
script=$(ccurl --interface "$NX_CLI_IP" "$URL/boot.ipxe")
nx_check grep -qF "chain $URL/boot/\${net0/mac}.ipxe" <<<"$script" -- "/boot.ipxe for an unknown machine chains by MAC"

# --- counters ---------------------------------------------------------------

metrics=$(ccurl "$URL/metrics")
nx_check grep -q '^xboot_dhcp_discover_total{interface="'"$NX_SRV_IF"'"} ' <<<"$metrics" -- "/metrics: xboot_dhcp_ lines"
nx_check grep -q '^# TYPE xboot_http_requests_total counter' <<<"$metrics" -- "/metrics: # TYPE lines"
nx_check grep -q '^xboot_http_requests_total [1-9]' <<<"$metrics" -- "/metrics: xboot_http_ counters"
nx_check test "$(nx_ctl stats --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["http"]["responses_4xx"] > 0)')" = True -- "xbootctl stats has the http counters"
nx_ctl stats | grep -A3 '^http:'

wait $idle_pid
took=$(cat "$NX_TMP/idle")
nx_check test "$took" -ge 28 -a "$took" -le 36 -- "an idle keep-alive connection is closed (${took} s)"

nx_xbootd_stop
nx_pass http_boot
