#!/usr/bin/env bash
# The boot-file benchmark (`make bench-tftp`): how fast each server hands out
# boot files, in the same two namespaces as the DHCP benchmark.
#
# TFTP: build/bench/tftp_load (bench/tftp_load.c) starts 50, 200, then 1000
# concurrent lockstep clients that each fetch a 1 MiB file once (a boot
# storm; the run ends when all are finished, or after BENCH_SECONDS), at
# blksize 512 and 1432, against, one after the other:
#
#   xbootd-xdp    xbootd, xdp=auto: the kernel's TFTP hot-block path, XDP
#                 and, for blocks XDP has no room to build (veth since
#                 Linux 6.8), the TC tier at clsact ingress
#   xbootd        xbootd, xdp=off (the io_uring slow path)
#   tftpd-hpa     in.tftpd -L (a process per transfer)
#   dnsmasq       dnsmasq's TFTP server, no DNS, no DHCP
#   atftpd        atftpd --daemon --no-fork (a thread per transfer)
#
# tftpd-hpa and atftpd conflict as Debian packages and install services, so
# they are not installed: `apt-get download` fetches them (and libwrap0)
# into build/bench/pkgs once, `dpkg -x` unpacks them there, and the unpacked
# binaries run in the server namespace.
#
# Every run gets a freshly started server. Per run: aggregate MB/s (every
# DATA byte accepted in order / wall time), the server's CPU seconds per GB
# (its cpuacct cgroup, children included; softirq time, where an XDP path
# runs, is not included), and failed transfers (ERROR, wrong size or
# content, or no answer after 5 retransmissions 1 s apart). Transfers still
# running at the deadline are neither done nor failed ("abandoned").
#
# HTTP: 100 concurrent curl downloads of a 64 MiB file from xbootd
# (http-root) and from Debian's nginx (minimal config, sendfile on, on the
# namespace address only): MB/s, CPU s/GB and the ratio.
#
# Bounded: at most 5 servers x 6 runs x (BENCH_SECONDS + ~3 s) + 2 HTTP runs
# of at most 60 s: under 10 minutes at the default 12 s, about 6 as a rule.
# Client and server share the machine's CPUs: the generator's own CPU time
# is in each row's note.
set -u
. "$(dirname "$0")/../tests/lib/netns.sh"

: "${BENCH_SECONDS:=12}"
: "${BENCH_CLIENTS:=50 200 1000}"
: "${BENCH_BLKSIZES:=512 1432}"
: "${BENCH_SERVERS:=xbootd-xdp xbootd tftpd-hpa dnsmasq atftpd}"
: "${BENCH_HTTP:=1}"
: "${BENCH_HTTP_CLIENTS:=100}"
FILE_SIZE=$((1 << 20))
HTTP_SIZE=$((64 << 20))
HTTP_PORT=8080
RANGE=$NX_NET.1.10,$NX_NET.1.200
LOAD=$XBOOT_TOP/build/bench/tftp_load
PKGS=$XBOOT_TOP/build/bench/pkgs
PEER_LIBS=$PKGS/root/usr/lib/$(gcc -dumpmachine)
NX_XBOOTD_V= # no per-packet logging while measuring

nx_require_cmd dnsmasq dnsmasq-base
nx_require_cmd curl
nx_require_cmd apt-get apt
[ "$BENCH_HTTP" = 1 ] && nx_require_cmd nginx nginx
[ -x "$LOAD" ] || nx_fail "$LOAD not built: run make"
nx_require_xboot
nx_init bench
nx_pair
nx_cli_addr
# BENCH_CLIENT_XDP=0: no XDP program on the clients' end (nx_pair puts
# one there so that XDP_TX frames are received; NAPI with GRO does that
# too, without veth copying every frame for it). Measured here: blksize
# 1432 faster, 512 slower, for every server alike; the default keeps the
# tables comparable with earlier ones.
if [ "${BENCH_CLIENT_XDP:-1}" = 0 ]; then
	nx_cli ip link set dev "$NX_CLI_IF" xdpdrv off
	nx_cli ethtool -K "$NX_CLI_IF" gro on >/dev/null ||
		nx_fail "cannot turn on GRO (NAPI) on $NX_CLI_IF"
fi

# --- the peers' binaries, unpacked, never installed -----------------------

fetch_peers() {
	local p
	[ -x "$PKGS/root/usr/sbin/in.tftpd" ] && [ -x "$PKGS/root/usr/sbin/atftpd" ] &&
		[ -e "$PEER_LIBS/libwrap.so.0" ] && return 0
	mkdir -p "$PKGS"
	# _apt cannot write into build/: fetch into a temp dir it owns.
	local dl
	dl=$(mktemp -d /tmp/xbt-pkgs.XXXXXX)
	chmod 777 "$dl"
	(cd "$dl" && apt-get download -q tftpd-hpa atftpd libwrap0) >"$NX_TMP/apt.log" 2>&1 || {
		rm -rf "$dl"
		cat "$NX_TMP/apt.log"
		nx_fail "apt-get download tftpd-hpa atftpd libwrap0 failed"
	}
	for p in "$dl"/*.deb; do
		dpkg -x "$p" "$PKGS/root" || nx_fail "dpkg -x $p"
		cp "$p" "$PKGS/"
	done
	rm -rf "$dl"
}

# --- the files ---------------------------------------------------------------

# Servers that drop privileges (nobody) must read the files.
chmod 755 "$NX_TMP"
ROOT=$NX_TMP/root
mkdir -p "$ROOT"
head -c $FILE_SIZE /dev/urandom >"$ROOT/boot.img"
chmod -R a+rX "$ROOT"

# --- servers ----------------------------------------------------------------

# The XDP hot-block TFTP path serves the files named with tftp-hot=, where
# this xbootd knows the key.
HOT=
"$XBOOTD" --help 2>&1 | grep -q 'tftp-hot' && HOT=tftp-hot=boot.img

SRV_PID=
start_server() { # NAME
	rm -rf "$NX_STATE"
	mkdir -p "$NX_STATE"
	case $1 in
	xbootd-xdp)
		nx_xbootd xdp=auto dhcp-range=$RANGE tftp-root="$ROOT" $HOT >>"$NX_TMP/bench.log"
		SRV_PID=$NX_XBOOTD_PID
		;;
	xbootd)
		nx_xbootd xdp=off dhcp-range=$RANGE tftp-root="$ROOT" >>"$NX_TMP/bench.log"
		SRV_PID=$NX_XBOOTD_PID
		;;
	tftpd-hpa)
		nx_srv_cg env LD_LIBRARY_PATH="$PEER_LIBS" \
			"$PKGS/root/usr/sbin/in.tftpd" -L -u nobody \
			-a "$NX_SRV_IP:69" -s "$ROOT" >>"$NX_TMP/tftpd-hpa.log" 2>&1 &
		SRV_PID=$!
		;;
	dnsmasq)
		nx_srv_cg dnsmasq --no-daemon --conf-file=/dev/null --port=0 \
			--interface="$NX_SRV_IF" --bind-interfaces --pid-file= \
			--log-facility=- --enable-tftp --tftp-root="$ROOT" \
			--tftp-max=2000 >>"$NX_TMP/dnsmasq.log" 2>&1 &
		SRV_PID=$!
		;;
	atftpd)
		nx_srv_cg env LD_LIBRARY_PATH="$PEER_LIBS" \
			"$PKGS/root/usr/sbin/atftpd" --daemon --no-fork \
			--user nobody --group nogroup --maxthread 2000 \
			--bind-address "$NX_SRV_IP" --logfile "$NX_TMP/atftpd.log" \
			"$ROOT" >>"$NX_TMP/atftpd.log" 2>&1 &
		SRV_PID=$!
		;;
	*) nx_fail "unknown server $1" ;;
	esac
	case $1 in xbootd*) cg_join "$SRV_PID" && return ;; esac
	nx_track "$SRV_PID"
	nx_wait_udp "$NX_SRV" 69 10 "$SRV_PID" || {
		tail -n 20 "$NX_TMP/$1.log"
		nx_fail "$1 did not start"
	}
}

stop_server() { # NAME
	case $1 in
	xbootd*) nx_xbootd_stop ;;
	*)
		nx_stop_pid "$SRV_PID" 3
		# tftpd-hpa's per-transfer children and the like.
		local pids
		pids=$(ip netns pids "$NX_SRV" 2>/dev/null)
		[ -n "$pids" ] && kill -KILL $pids 2>/dev/null
		;;
	esac
	SRV_PID=
}

# The server's CPU time. tftpd-hpa ignores SIGCHLD, so the time of its
# per-transfer children never reaches its own cutime: a cpuacct cgroup of
# our own (cgroup v1 here; removed at exit) holds the server and every
# child it forks, exited ones included. Where there is none, the sum over
# the namespace's live processes is the fallback.
HZ=$(getconf CLK_TCK)
CG=/sys/fs/cgroup/cpuacct/xbt-bench-$$
if [ -d /sys/fs/cgroup/cpuacct ] && mkdir "$CG" 2>/dev/null; then
	trap 'rc=$?; rmdir "$CG" 2>/dev/null; (exit $rc); nx_cleanup' EXIT
else
	CG=
fi
cg_join() { # PID: the server joins the cgroup before it forks any child
	[ -z "$CG" ] || echo "$1" >"$CG/cgroup.procs"
}
# nx_srv_cg CMD...: CMD in the server namespace and in the cgroup from its
# first instruction (nginx forks its workers at once).
# (ip netns exec mounts a private /sys: join first, then enter.)
nx_srv_cg() {
	sh -c '[ -z "$0" ] || echo $$ >"$0/cgroup.procs"; exec "$@"' "$CG" \
		ip netns exec "$NX_SRV" "$@"
}
# server_cpu: nanoseconds of CPU the server has used so far.
server_cpu() {
	if [ -n "$CG" ]; then
		cat "$CG/cpuacct.usage"
		return
	fi
	local pid sum=0 v
	for pid in $(ip netns pids "$NX_SRV" 2>/dev/null); do
		v=$(sed 's/.*) //' "/proc/$pid/stat" 2>/dev/null |
			awk '{ print $12 + $13 + $14 + $15 }')
		sum=$((sum + ${v:-0}))
	done
	echo $((sum * 1000000000 / HZ))
}

# kernel_tftp_blocks: DATA blocks the kernel path sent, "XDP TC" (0 0 if
# it has none).
kernel_tftp_blocks() {
	nx_ctl --json stats 2>/dev/null | nx_json "
c = d.get('xdp') or {}
print(int(c.get('tftp_blocks') or 0), int(c.get('tftp_blocks_tc') or 0))" 2>/dev/null || echo 0 0
}

# --- TFTP runs ------------------------------------------------------------

declare -A MBPS CPUGB FAILED NOTE XDPMODE

run() { # SERVER CLIENTS BLKSIZE
	local s=$1 c=$2 b=$3 k=$1/$2/$3 out c0 c1 line bytes kb=(0 0)
	start_server "$s"
	[ "$s" = xbootd-xdp ] && XDPMODE[$s]=$(nx_xdp_mode)
	c0=$(server_cpu)
	out=$(nx_cli "$LOAD" --server="$NX_SRV_IP" --file=boot.img \
		--size=$FILE_SIZE --verify="$ROOT/boot.img" --clients="$c" \
		--blksize="$b" --seconds="$BENCH_SECONDS" --once 2>>"$NX_TMP/load.log")
	c1=$(server_cpu)
	[ "$s" = xbootd-xdp ] && read -ra kb <<<"$(kernel_tftp_blocks)"
	stop_server "$s"
	echo "$s $out" >>"$NX_TMP/load.log"
	line=$(echo "$out" | tr ' ' '\n')
	get() { echo "$line" | sed -n "s/^$1=//p"; }
	bytes=$(get bytes)
	[ -n "$bytes" ] || nx_fail "tftp_load gave no result against $s ($out)"
	MBPS[$k]=$(get mbps)
	FAILED[$k]=$(get failed)
	CPUGB[$k]=$(awk -v t=$((c1 - c0)) -v b="$bytes" \
		'BEGIN { if (b > 0) printf "%.2f", t / 1e9 / (b / 1e9); else printf "-" }')
	NOTE[$k]="done $(get done), abandoned $(get abandoned), generator CPU $(get cpu) s of $(get seconds) s"
	[ "$(get timeouts)" != 0 ] && NOTE[$k]+=", timeouts $(get timeouts)"
	[ "$(get errors)" != 0 ] && NOTE[$k]+=", errors $(get errors)"
	[ "$(get bad_size)$(get bad_data)" != 00 ] &&
		NOTE[$k]+=", bad size/data $(get bad_size)/$(get bad_data)"
	if [ "$s" = xbootd-xdp ]; then
		if [ $((kb[0] + kb[1])) = 0 ]; then
			NOTE[$k]+="; kernel hot path: not available"
		else
			NOTE[$k]+="; blocks sent by XDP ${kb[0]}, by TC ${kb[1]}"
		fi
	fi
	printf '  %-10s clients %4d blksize %4d  %8.1f MB/s  %6s CPU s/GB  failed %s  (%s)\n' \
		"$s" "$c" "$b" "${MBPS[$k]}" "${CPUGB[$k]}" "${FAILED[$k]}" "${NOTE[$k]}"
}

ratio() { # A B: "1.23x" or "-"
	awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0 && a > 0) printf "%.2fx", a / b; else printf "-" }'
}

nx_log "TFTP benchmark: 1 MiB file, clients $BENCH_CLIENTS, blksize $BENCH_BLKSIZES, ${BENCH_SECONDS}s per run"
nx_log "$(nproc) CPUs, kernel $(uname -r), $(dnsmasq --version | head -n 1 | cut -d' ' -f1-3)"
case " $BENCH_SERVERS " in *" tftpd-hpa "* | *" atftpd "*) fetch_peers ;; esac
for s in $BENCH_SERVERS; do
	nx_log "--- $s"
	for b in $BENCH_BLKSIZES; do
		for c in $BENCH_CLIENTS; do
			run "$s" "$c" "$b"
		done
	done
done

# --- HTTP runs ----------------------------------------------------------------

declare -A HMBPS HCPUGB HFAILED

start_nginx() {
	local d=$NX_TMP/nginx
	mkdir -p "$d/logs" "$d/tmp"
	cat >"$d/nginx.conf" <<EOF
daemon off;
worker_processes auto;
pid $d/nginx.pid;
error_log $d/logs/error.log warn;
events { worker_connections 1024; }
http {
	access_log off;
	sendfile on;
	tcp_nopush on;
	client_body_temp_path $d/tmp/body;
	proxy_temp_path $d/tmp/proxy;
	fastcgi_temp_path $d/tmp/fastcgi;
	uwsgi_temp_path $d/tmp/uwsgi;
	scgi_temp_path $d/tmp/scgi;
	types { application/octet-stream img; }
	server {
		listen $NX_SRV_IP:$HTTP_PORT;
		root $HROOT;
	}
}
EOF
	nx_srv_cg nginx -p "$d" -e "$d/logs/error.log" -c "$d/nginx.conf" >>"$NX_TMP/nginx.log" 2>&1 &
	SRV_PID=$!
	nx_track "$SRV_PID"
	local n=100
	while [ $n -gt 0 ] && ! nx_srv ss -Htln "sport = :$HTTP_PORT" | grep -q .; do
		kill -0 "$SRV_PID" 2>/dev/null || break
		sleep 0.1
		n=$((n - 1))
	done
	nx_srv ss -Htln "sport = :$HTTP_PORT" | grep -q . || {
		cat "$NX_TMP/nginx.log" "$d/logs/error.log" 2>/dev/null | tail -n 20
		nx_fail "nginx did not start"
	}
}

http_run() { # SERVER
	local s=$1 c0 c1 t0 t1 res ok bytes
	case $s in
	xbootd) nx_xbootd xdp=off dhcp-range=$RANGE tftp=off http-root="$HROOT" http-port=$HTTP_PORT >>"$NX_TMP/bench.log" ;;
	nginx) start_nginx ;;
	esac
	[ "$s" = xbootd ] && cg_join "$NX_XBOOTD_PID"
	c0=$(server_cpu)
	t0=$(date +%s.%N)
	res=$(seq "$BENCH_HTTP_CLIENTS" | timeout 60 ip netns exec "$NX_CLI" \
		xargs -P "$BENCH_HTTP_CLIENTS" -I{} curl -s -o /dev/null --max-time 55 \
		-w '%{http_code} %{size_download}\n' "http://$NX_SRV_IP:$HTTP_PORT/big.img")
	t1=$(date +%s.%N)
	c1=$(server_cpu)
	case $s in
	xbootd) nx_xbootd_stop ;;
	nginx) stop_server nginx ;;
	esac
	ok=$(echo "$res" | awk -v n=$HTTP_SIZE '$1 == 200 && $2 == n' | wc -l)
	bytes=$(echo "$res" | awk '{ s += $2 } END { printf "%.0f", s }')
	HFAILED[$s]=$((BENCH_HTTP_CLIENTS - ok))
	HMBPS[$s]=$(awk -v b="$bytes" -v a="$t0" -v z="$t1" 'BEGIN { printf "%.1f", b / (z - a) / 1e6 }')
	HCPUGB[$s]=$(awk -v t=$((c1 - c0)) -v b="$bytes" \
		'BEGIN { if (b > 0) printf "%.2f", t / 1e9 / (b / 1e9); else printf "-" }')
	printf '  %-10s %d x 64 MiB  %8.1f MB/s  %6s CPU s/GB  failed %s\n' \
		"$s" "$BENCH_HTTP_CLIENTS" "${HMBPS[$s]}" "${HCPUGB[$s]}" "${HFAILED[$s]}"
}

if [ "$BENCH_HTTP" = 1 ]; then
	HROOT=$NX_TMP/http
	mkdir -p "$HROOT"
	head -c $HTTP_SIZE /dev/urandom >"$HROOT/big.img"
	chmod -R a+rX "$HROOT"
	nx_log "HTTP benchmark: $BENCH_HTTP_CLIENTS concurrent curl downloads of 64 MiB; $(nginx -v 2>&1)"
	# No XDP on either side for HTTP: a native XDP program on the client
	# veth (there for the XDP_TX replies, see netns.sh) turns off GRO and
	# big frames on it and cuts TCP throughput by an order of magnitude.
	nx_cli ip link set dev "$NX_CLI_IF" xdpdrv off
	http_run xbootd
	http_run nginx
fi

# --- the tables ---------------------------------------------------------------

label() {
	case $1 in
	xbootd-xdp) echo "xbootd kernel path (XDP+TC, ${XDPMODE[$1]:-?})" ;;
	xbootd) echo "xbootd, no XDP" ;;
	*) echo "$1" ;;
	esac
}
echo
echo "TFTP: 1 MiB file, lockstep clients, ${BENCH_SECONDS}s per run, $(nproc) CPUs" \
	"(CPU = server processes' user+system; softirq, where XDP runs, not included)"
printf '%-36s %7s %7s %9s %10s %7s %9s %10s   %s\n' server clients blksize 'MB/s' \
	'CPU s/GB' failed 'vs hpa' 'vs dnsmasq' note
for b in $BENCH_BLKSIZES; do
	for c in $BENCH_CLIENTS; do
		for s in $BENCH_SERVERS; do
			k=$s/$c/$b
			printf '%-36s %7d %7d %9.1f %10s %7s %9s %10s   %s\n' "$(label "$s")" \
				"$c" "$b" "${MBPS[$k]}" "${CPUGB[$k]}" "${FAILED[$k]}" \
				"$(ratio "${MBPS[$k]}" "${MBPS[tftpd-hpa/$c/$b]:-0}")" \
				"$(ratio "${MBPS[$k]}" "${MBPS[dnsmasq/$c/$b]:-0}")" "${NOTE[$k]}"
		done
	done
done
if [ "$BENCH_HTTP" = 1 ]; then
	echo
	echo "HTTP: $BENCH_HTTP_CLIENTS concurrent downloads of a 64 MiB file (curl)"
	printf '%-22s %9s %10s %7s %9s\n' server 'MB/s' 'CPU s/GB' failed 'vs nginx'
	for s in xbootd nginx; do
		printf '%-22s %9.1f %10s %7s %9s\n' "$s" "${HMBPS[$s]}" "${HCPUGB[$s]}" \
			"${HFAILED[$s]}" "$(ratio "${HMBPS[$s]}" "${HMBPS[nginx]:-0}")"
	done
fi
