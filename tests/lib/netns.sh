# Shared helpers for the network-namespace tests, the VM tests, the demo and
# the DHCP benchmark. Source it from bash; it never touches the host's own
# interfaces: everything lives in namespaces it creates and removes again.
#
#   ┌────────── xbt-TAG-PID-srv ──────────┐      ┌────────── xbt-TAG-PID-cli ──────────┐
#   │                                     │      │                                     │
#   │  xbootd / dnsmasq / kea-dhcp4       │      │  udhcpc, dhclient, perfdhcp         │
#   │  (XDP program on xbt-TAG-s)         │      │                                     │
#   │                                     │ veth │             ┌── xbt-TAG-br ──┐      │
#   │  xbt-TAG-s  10.77.0.1/16  ──────────┼──────┼─ xbt-TAG-c ─┤  (nx_bridge)   │      │
#   │                                     │      │  XDP_PASS   └── xbt-TAG-tap ─┼─ qemu│
#   └─────────────────────────────────────┘      └─────────────────────────────────────┘
#
# The client end of the veth runs a native XDP program that passes
# everything (nx_xdp_pass). A native XDP_TX on a veth puts the frame on the
# peer's XDP ring, but the kernel only kicks the peer's NAPI to empty that
# ring when the peer has an XDP program of its own: with just GRO on (which
# also gives the peer NAPI) the reply sits there until some other frame
# happens to arrive - in practice, never in time.
#
# Usage:
#   . "$(dirname "$0")/../lib/netns.sh"
#   nx_init clients           # names, temp dir, cleanup trap; needs root
#   nx_pair                   # the two namespaces joined by the veth
#   nx_xbootd xdp=auto dhcp-range=10.77.1.1,10.77.1.200   # start, wait ready
#   nx_ctl stats --json       # xbootctl against that xbootd
#   nx_cli CMD...             # run CMD in the client namespace
#
# Exit codes follow tests/run: 0 pass, 77 skip (nx_skip), anything else fail
# (nx_fail). Every namespace, process and temp file is removed on any exit
# (NX_KEEP=1 keeps the temp dir with every log, for debugging).

# Where the tree is: tests/run exports XBOOT_TOP; otherwise from this file.
: "${XBOOT_TOP:=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}"
XBOOTD=${XBOOTD:-$XBOOT_TOP/build/xbootd}
XBOOTCTL=${XBOOTCTL:-$XBOOT_TOP/build/xbootctl}

# The address plan of every test: a /16 so benchmarks have a big pool.
NX_NET=10.77
NX_SRV_IP=$NX_NET.0.1
NX_CLI_IP=$NX_NET.0.2
NX_PREFIX=16
NX_MASK=255.255.0.0

NX_PIDS=()
NX_TAG=
NX_TMP=

# --- messages and exits ---------------------------------------------------

nx_log() { printf '[%s] %s\n' "$(date +%T)" "$*"; }
nx_fail() {
	printf 'FAIL: %s\n' "$*"
	exit 1
}
nx_skip() {
	printf 'SKIP: %s\n' "$*"
	exit 77
}
nx_pass() {
	printf 'PASS: %s\n' "${1:-$NX_TAG}"
	exit 0
}
# nx_check COND-CMD... -- MESSAGE: log a passed check, or fail with MESSAGE.
nx_check() {
	local args=() msg
	while [ $# -gt 0 ] && [ "$1" != -- ]; do
		args+=("$1")
		shift
	done
	shift
	msg=$*
	if "${args[@]}"; then
		nx_log "ok: $msg"
	else
		nx_fail "$msg"
	fi
}

nx_require_root() {
	[ "$(id -u)" -eq 0 ] || nx_skip "needs root (network namespaces)"
}

# nx_require_cmd CMD [PACKAGE]: a missing tool is a broken setup, not a skip:
# scripts/setup installs everything the tests use.
nx_require_cmd() {
	command -v "$1" >/dev/null 2>&1 ||
		nx_fail "$1 not found: run scripts/setup (package ${2:-$1})"
}

# nx_require_xboot: the binaries under test must have been built.
nx_require_xboot() {
	[ -x "$XBOOTD" ] || nx_fail "$XBOOTD not built: run make"
	[ -x "$XBOOTCTL" ] || nx_fail "$XBOOTCTL not built: run make"
}

# --- lifecycle ------------------------------------------------------------

# nx_init TAG: names every object xbt-TAG-*, makes the temp dir, installs
# the cleanup trap, and removes leftovers of earlier runs that were killed.
# Namespaces carry the shell's pid too (xbt-TAG-PID-srv), so two runs of the
# same test never touch each other's; interfaces are created inside them
# and need no such suffix.
nx_init() {
	NX_TAG=$1
	nx_require_root
	[ ${#NX_TAG} -le 6 ] || nx_fail "nx_init: tag '$NX_TAG' longer than 6 (IFNAMSIZ)"
	NX_ID=xbt-$NX_TAG-$$
	NX_SRV=$NX_ID-srv
	NX_CLI=$NX_ID-cli
	NX_SRV_IF=xbt-$NX_TAG-s
	NX_CLI_IF=xbt-$NX_TAG-c
	NX_BR=xbt-$NX_TAG-br
	NX_TAP=xbt-$NX_TAG-tap
	NX_TMP=$(mktemp -d "/tmp/xbt-$NX_TAG.XXXXXX")
	NX_CTL_SOCK=$NX_TMP/xbootd.sock
	NX_STATE=$NX_TMP/state
	mkdir -p "$NX_STATE"
	trap nx_cleanup EXIT
	trap 'exit 130' INT
	trap 'exit 143' TERM
	nx_del_stale_netns
}

# Namespaces of this run.
nx_del_netns() {
	local ns
	for ns in $(ip netns list 2>/dev/null | awk '{print $1}'); do
		case $ns in "$NX_ID"-*) nx_kill_netns "$ns" ;; esac
	done
}

# Namespaces of earlier runs of this test whose shell is gone.
nx_del_stale_netns() {
	local ns pid
	for ns in $(ip netns list 2>/dev/null | awk '{print $1}'); do
		case $ns in xbt-"$NX_TAG"-*) ;; *) continue ;; esac
		pid=${ns#xbt-"$NX_TAG"-}
		pid=${pid%%-*}
		case $pid in '' | *[!0-9]*) continue ;; esac
		kill -0 "$pid" 2>/dev/null || nx_kill_netns "$ns"
	done
}

# Kill whatever still runs inside a namespace, then delete it.
nx_kill_netns() {
	local ns=$1 pids
	pids=$(ip netns pids "$ns" 2>/dev/null)
	if [ -n "$pids" ]; then
		kill -TERM $pids 2>/dev/null
		sleep 0.3
		pids=$(ip netns pids "$ns" 2>/dev/null)
		[ -n "$pids" ] && kill -KILL $pids 2>/dev/null
	fi
	ip netns del "$ns" 2>/dev/null
}

# nx_track PID: killed (TERM, then KILL) at cleanup.
nx_track() { NX_PIDS+=("$1"); }

nx_stop_pid() { # PID [SECONDS]: TERM, wait up to SECONDS, then KILL
	local pid=$1 n=$((${2:-5} * 10))
	kill -0 "$pid" 2>/dev/null || return 0
	kill -TERM "$pid" 2>/dev/null
	while [ $n -gt 0 ] && kill -0 "$pid" 2>/dev/null; do
		sleep 0.1
		n=$((n - 1))
	done
	kill -KILL "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
	return 0
}

nx_cleanup() {
	local rc=$? pid
	trap - EXIT INT TERM
	for pid in "${NX_PIDS[@]}"; do
		nx_stop_pid "$pid" 3
	done
	[ -n "${NX_ID:-}" ] && nx_del_netns
	if [ -n "$NX_TMP" ] && [ -d "$NX_TMP" ]; then
		# Keep the logs of a failed run where tests/run's log can point.
		if [ $rc -ne 0 ] && [ $rc -ne 77 ]; then
			nx_dump_logs
		fi
		if [ -n "${NX_KEEP:-}" ]; then
			echo "kept $NX_TMP (NX_KEEP)"
		else
			rm -rf "$NX_TMP"
		fi
	fi
	exit $rc
}

# On failure: print the tail of every log the test wrote.
nx_dump_logs() {
	local f
	for f in "$NX_TMP"/*.log; do
		[ -s "$f" ] || continue
		printf -- '--- %s (last 40 lines) ---\n' "${f##*/}"
		tail -n 40 "$f"
	done
}

# --- topology -------------------------------------------------------------

nx_srv() { ip netns exec "$NX_SRV" "$@"; }
nx_cli() { ip netns exec "$NX_CLI" "$@"; }

# nx_pair: server and client namespaces joined by a veth. The veth is made
# directly inside the namespaces, so no name ever exists on the host.
nx_pair() {
	ip netns add "$NX_SRV" || nx_fail "ip netns add $NX_SRV"
	ip netns add "$NX_CLI" || nx_fail "ip netns add $NX_CLI"
	ip link add "$NX_SRV_IF" netns "$NX_SRV" type veth \
		peer name "$NX_CLI_IF" netns "$NX_CLI" ||
		nx_fail "cannot create a veth pair"
	nx_srv ip link set lo up
	nx_cli ip link set lo up
	nx_srv ip addr add "$NX_SRV_IP/$NX_PREFIX" dev "$NX_SRV_IF"
	nx_srv ip link set "$NX_SRV_IF" up
	nx_cli ip link set "$NX_CLI_IF" up
	nx_xdp_pass "$NX_CLI" "$NX_CLI_IF"
	nx_log "namespaces $NX_SRV ($NX_SRV_IF $NX_SRV_IP/$NX_PREFIX) <-> $NX_CLI ($NX_CLI_IF)"
}

# nx_xdp_pass NS IF: attach a native XDP program that returns XDP_PASS, so
# the peer's native XDP_TX frames are delivered at once (see the top).
nx_xdp_pass() {
	local obj=$NX_TMP/xdp_pass.o
	if [ ! -s "$obj" ]; then
		nx_require_cmd clang
		printf '%s\n' '#include <linux/bpf.h>' \
			'__attribute__((section("xdp"), used)) int xdp_pass(struct xdp_md *c) { return XDP_PASS; }' \
			'__attribute__((section("license"), used)) char _license[] = "GPL";' |
			clang -O2 -target bpf -I/usr/include/"$(gcc -dumpmachine)" -x c -c - -o "$obj" ||
			nx_fail "cannot build the XDP_PASS program (clang)"
	fi
	ip netns exec "$1" ip link set dev "$2" xdpdrv obj "$obj" sec xdp ||
		nx_fail "cannot attach a native XDP program to $2"
}

# nx_cli_addr: give the client end an address in the subnet (perfdhcp
# needs one: it talks like a relay from it).
nx_cli_addr() {
	nx_cli ip addr add "$NX_CLI_IP/$NX_PREFIX" dev "$NX_CLI_IF"
}

# nx_cli_mac MAC: a fixed client MAC (for reservations).
nx_cli_mac() {
	nx_cli ip link set "$NX_CLI_IF" address "$1"
}

# nx_bridge: a bridge in the client namespace with the veth end as a port,
# ready for a tap (nx_tap). The veth keeps its XDP_PASS program (see the
# diagram): the server's XDP_TX replies reach the bridge through it.
nx_bridge() {
	nx_cli ip link add "$NX_BR" type bridge || nx_fail "cannot create a bridge"
	# No STP/forward delay: the firmware's first DISCOVER must get through.
	nx_cli ip link set "$NX_BR" type bridge stp_state 0 forward_delay 0
	nx_cli ip link set "$NX_CLI_IF" master "$NX_BR"
	nx_cli ip link set "$NX_BR" up
}

# nx_bridge_ns NAME IF IP: a third namespace xbt-TAG-PID-NAME whose veth IF
# (address IP/16) is a port of the client namespace's bridge (nx_bridge
# first), e.g. for a second server on the same segment.
nx_bridge_ns() {
	local ns=$NX_ID-$1 ifn=$2 port=${2}p
	ip netns add "$ns" || nx_fail "ip netns add $ns"
	ip link add "$ifn" netns "$ns" type veth peer name "$port" netns "$NX_CLI" ||
		nx_fail "cannot create a veth pair"
	ip netns exec "$ns" ip link set lo up
	ip netns exec "$ns" ip addr add "$3/$NX_PREFIX" dev "$ifn"
	ip netns exec "$ns" ip link set "$ifn" up
	nx_cli ip link set "$port" master "$NX_BR"
	nx_cli ip link set "$port" up
	nx_log "namespace $ns ($ifn $3/$NX_PREFIX) on bridge $NX_BR"
}

# nx_tap: a persistent tap in the client namespace, port of the bridge.
nx_tap() {
	nx_cli ip tuntap add dev "$NX_TAP" mode tap || nx_fail "cannot create a tap (TUN)"
	nx_cli ip link set "$NX_TAP" master "$NX_BR"
	nx_cli ip link set "$NX_TAP" up
}

# --- xbootd ---------------------------------------------------------------

# nx_xbootd [key=value | -option ...]: start xbootd in the server namespace
# on the server veth, with the test's state dir and control socket, plus the
# given keys (as --key=value; arguments starting with '-' are passed as they
# are). With -c FILE, the file must name interface, state-dir and
# control-socket itself ($NX_SRV_IF, $NX_STATE, $NX_CTL_SOCK). Waits until
# the control socket answers. The log is $NX_TMP/xbootd.log (appended:
# restarts keep the history).
# NX_XBOOTD_V: verbosity flags (default -v: debug; "" for load tests).
nx_xbootd() {
	local args=() kv raw=0
	case " $* " in
	*" -c "*) ;;
	*) args=(--interface="$NX_SRV_IF" --state-dir="$NX_STATE"
		--control-socket="$NX_CTL_SOCK") ;;
	esac
	local v
	read -ra v <<<"${NX_XBOOTD_V--v}"
	args+=("${v[@]}")
	for kv in "$@"; do
		case $kv in
		-c)
			args+=("$kv")
			raw=1 # the file name follows
			;;
		-*) args+=("$kv") ;;
		*)
			if [ $raw = 1 ]; then
				args+=("$kv")
				raw=0
			else
				args+=("--$kv")
			fi
			;;
		esac
	done
	rm -f "$NX_CTL_SOCK"
	nx_log "xbootd ${args[*]}"
	echo "=== $(date +%T) xbootd ${args[*]}" >>"$NX_TMP/xbootd.log"
	# nsenter, not `ip netns exec`: that one mounts a private /sys, which
	# hides the host's bpffs where xbootd pins its XDP lease map.
	nsenter --net=/run/netns/"$NX_SRV" "$XBOOTD" "${args[@]}" >>"$NX_TMP/xbootd.log" 2>&1 &
	NX_XBOOTD_PID=$!
	nx_track $NX_XBOOTD_PID
	nx_wait_ctl 20 || {
		tail -n 30 "$NX_TMP/xbootd.log"
		nx_fail "xbootd did not come up (control socket $NX_CTL_SOCK)"
	}
	nx_log "xbootd running (pid $NX_XBOOTD_PID)"
}

# nx_wait_ctl SECONDS: wait until `xbootctl status` answers.
nx_wait_ctl() {
	local n=$(($1 * 10))
	while [ $n -gt 0 ]; do
		if [ -n "${NX_XBOOTD_PID:-}" ] && ! kill -0 "$NX_XBOOTD_PID" 2>/dev/null; then
			nx_log "xbootd exited"
			return 1
		fi
		[ -S "$NX_CTL_SOCK" ] && nx_ctl status >/dev/null 2>&1 && return 0
		sleep 0.1
		n=$((n - 1))
	done
	return 1
}

# nx_xbootd_stop: SIGTERM; xbootd must exit within 10 s and leave no XDP
# program on the interface.
nx_xbootd_stop() {
	local pid=${NX_XBOOTD_PID:-} n=100
	[ -n "$pid" ] || return 0
	NX_XBOOTD_PID=
	kill -TERM "$pid" 2>/dev/null
	while [ $n -gt 0 ] && kill -0 "$pid" 2>/dev/null; do
		sleep 0.1
		n=$((n - 1))
	done
	if kill -0 "$pid" 2>/dev/null; then
		nx_stop_pid "$pid" 1
		nx_fail "xbootd did not exit within 10 s of SIGTERM"
	fi
	wait "$pid" 2>/dev/null
	if nx_srv ip link show dev "$NX_SRV_IF" 2>/dev/null | grep -q 'prog/xdp'; then
		nx_fail "xbootd exited but left its XDP program on $NX_SRV_IF"
	fi
}

# xbootctl runs in the host namespace: the control socket is a file.
nx_ctl() { "$XBOOTCTL" --control-socket="$NX_CTL_SOCK" "$@"; }

# nx_xdp_mode: "native", "generic" or "off" as xbootctl status reports it.
nx_xdp_mode() {
	nx_ctl --json status | nx_json "
m = 'off'
for i in d.get('interfaces') or []:
    if i.get('name') == '$NX_SRV_IF':
        m = i.get('xdp', 'off')
print(m)"
}

# nx_stat SECTION NAME: one counter from `xbootctl stats --json` (0 if absent).
nx_stat() {
	nx_ctl --json stats | nx_json "print(int((d.get('$1') or {}).get('$2') or 0))"
}

# nx_json PYTHON: run PYTHON with the JSON document on stdin as `d`.
nx_json() {
	python3 -c "
import json, sys
d = json.load(sys.stdin)
$1"
}

# nx_leases_dups: print "MAC IP" lines of `xbootctl leases --json` whose IP
# is held by more than one MAC; empty output means no duplicate.
nx_leases_dups() {
	nx_ctl --json leases | nx_json "
seen = {}
for l in d.get('leases') or []:
    seen.setdefault(l['ip'], set()).add(l['mac'].lower())
for ip, macs in sorted(seen.items()):
    if len(macs) > 1:
        print(ip, ' '.join(sorted(macs)))"
}

nx_leases_count() {
	nx_ctl --json leases | nx_json "print(len(d.get('leases') or []))"
}

# --- peers: reference DHCP servers (harness checks, proxy test, bench) -----

# nx_dnsmasq LOGNAME ARGS...: dnsmasq as a DHCP-only server on the server
# veth: no DNS (--port=0), no config files, no leases outside $NX_TMP.
# NX_PEER_NS/NX_PEER_IF put it elsewhere (default: the server namespace).
nx_dnsmasq() {
	local name=$1 ns=${NX_PEER_NS:-$NX_SRV}
	shift
	ip netns exec "$ns" dnsmasq --no-daemon --conf-file=/dev/null \
		--port=0 --interface="${NX_PEER_IF:-$NX_SRV_IF}" --bind-interfaces \
		--dhcp-leasefile="$NX_TMP/$name.leases" --pid-file= \
		--log-facility=- --no-ping "$@" >>"$NX_TMP/$name.log" 2>&1 &
	NX_DNSMASQ_PID=$!
	nx_track $NX_DNSMASQ_PID
	nx_wait_udp "$ns" 67 10 $NX_DNSMASQ_PID || nx_fail "dnsmasq did not start (see $name.log)"
	nx_log "dnsmasq running (pid $NX_DNSMASQ_PID)"
}

# nx_wait_udp NS PORT SECONDS [PID]: wait until something listens on UDP
# PORT (false at once if PID exits).
nx_wait_udp() {
	local n=$(($3 * 10))
	while [ $n -gt 0 ]; do
		[ -z "${4:-}" ] || kill -0 "$4" 2>/dev/null || return 1
		ip netns exec "$1" ss -Huln "sport = :$2" 2>/dev/null | grep -q . && return 0
		sleep 0.1
		n=$((n - 1))
	done
	return 1
}

# nx_kea START END: kea-dhcp4 (memfile in $NX_TMP) serving START-END on the
# server veth. Sockets are raw so it answers clients without an address.
nx_kea() {
	local start=$1 end=$2 conf=$NX_TMP/kea-dhcp4.conf
	mkdir -p "$NX_TMP/kea"
	cat >"$conf" <<EOF
{
  "Dhcp4": {
    "interfaces-config": { "interfaces": [ "$NX_SRV_IF" ], "dhcp-socket-type": "raw" },
    "lease-database": { "type": "memfile", "persist": true,
                        "name": "$NX_TMP/kea/leases4.csv", "lfc-interval": 0 },
    "valid-lifetime": 3600,
    "subnet4": [ {
      "id": 1,
      "subnet": "$NX_NET.0.0/$NX_PREFIX",
      "pools": [ { "pool": "$start - $end" } ],
      "option-data": [ { "name": "routers", "data": "$NX_SRV_IP" } ]
    } ],
    "loggers": [ { "name": "kea-dhcp4", "severity": "WARN",
                   "output_options": [ { "output": "stderr" } ] } ]
  }
}
EOF
	# Kea keeps its pid/lock files under these; keep them in $NX_TMP.
	KEA_PIDFILE_DIR=$NX_TMP/kea KEA_LOCKFILE_DIR=$NX_TMP/kea \
		ip netns exec "$NX_SRV" kea-dhcp4 -c "$conf" >>"$NX_TMP/kea.log" 2>&1 &
	NX_KEA_PID=$!
	nx_track $NX_KEA_PID
	nx_wait_udp "$NX_SRV" 67 15 $NX_KEA_PID || nx_fail "kea-dhcp4 did not start (see kea.log)"
	nx_log "kea-dhcp4 running (pid $NX_KEA_PID)"
}

# --- perfdhcp -------------------------------------------------------------

# nx_perfdhcp NAME ARGS...: Kea's perfdhcp in the client namespace, talking
# like a relay from the client veth's address (nx_cli_addr first): source
# port 67, giaddr set, replies unicast back to it. Output in $NX_TMP/NAME.log.
# Sets PD_RC, PD_RATE (4-way exchanges/s), PD_DO_SENT, PD_DO_RECV,
# PD_RA_SENT, PD_RA_RECV, PD_MALFORMED (replies it could not parse).
# Exit status 3 only means "some drops".
nx_perfdhcp() {
	local name=$1 out
	shift
	out=$NX_TMP/$name.log
	# Single-threaded: on two cores, its receive thread loses replies at
	# rates the single thread still takes without a drop.
	ip netns exec "$NX_CLI" perfdhcp -4 -g single -l "$NX_CLI_IF" "$@" >"$out" 2>&1
	PD_RC=$?
	read -r PD_RATE PD_DO_SENT PD_DO_RECV PD_RA_SENT PD_RA_RECV PD_MALFORMED < <(awk '
		/^Rate:/ { rate = $2 }
		/^Malformed packets:/ { bad = $3 }
		/Statistics for: DISCOVER-OFFER/ { s = "do" }
		/Statistics for: REQUEST-ACK/ { s = "ra" }
		/^sent packets:/ { sent[s] = $3 }
		/^received packets:/ { recv[s] = $3 }
		END { printf "%s %d %d %d %d %d\n", rate + 0, sent["do"], recv["do"],
			sent["ra"], recv["ra"], bad }' "$out")
	case $PD_RC in 0 | 3) ;; *)
		tail -n 20 "$out"
		nx_fail "perfdhcp $name failed (exit $PD_RC)"
		;;
	esac
}

# nx_perfdhcp_summary: one line about the last nx_perfdhcp run.
nx_perfdhcp_summary() {
	printf 'rate %s/s  DISCOVER %d -> OFFER %d  REQUEST %d -> ACK %d' \
		"$PD_RATE" "$PD_DO_SENT" "$PD_DO_RECV" "$PD_RA_SENT" "$PD_RA_RECV"
}

# nx_drop_pct SENT RECV: drop percentage with two decimals ("0.00").
nx_drop_pct() {
	awk -v s="$1" -v r="$2" 'BEGIN { printf "%.2f", s ? (s - r) * 100 / s : 100 }'
}

# nx_drops_below SENT RECV PCT: true when fewer than PCT % were lost.
nx_drops_below() {
	awk -v s="$1" -v r="$2" -v p="$3" 'BEGIN { exit !(s > 0 && (s - r) * 100 < p * s) }'
}

# --- packet capture -------------------------------------------------------

# nx_tftp_curl FILE OUT [CURL-OPTIONS...]: fetch tftp://server/FILE from
# the client namespace into OUT with curl (log: $NX_TMP/curl.log); gives
# up after NX_CURL_TIMEOUT seconds (default 120).
nx_tftp_curl() {
	local f=$1 o=$2
	shift 2
	rm -f "$o"
	timeout "${NX_CURL_TIMEOUT:-120}" ip netns exec "$NX_CLI" curl -sS "$@" -o "$o" \
		"tftp://$NX_SRV_IP/$f" >>"$NX_TMP/curl.log" 2>&1
}

# nx_capture NAME FILTER: tcpdump on the client veth into $NX_TMP/NAME.pcap
# (sees XDP_TX replies too: they arrive on the peer like any frame).
nx_capture() {
	local name=$1
	shift
	ip netns exec "$NX_CLI" tcpdump -i "$NX_CLI_IF" -U --immediate-mode -B 8192 -s 600 -w "$NX_TMP/$name.pcap" \
		"$@" >"$NX_TMP/$name-tcpdump.log" 2>&1 &
	NX_CAPTURE_PID=$!
	nx_track $NX_CAPTURE_PID
	local n=50
	while [ $n -gt 0 ] && ! grep -q listening "$NX_TMP/$name-tcpdump.log"; do
		sleep 0.1
		n=$((n - 1))
	done
}

nx_capture_stop() {
	sleep 0.3
	nx_stop_pid "$NX_CAPTURE_PID" 5
}

# nx_pcap_dhcp FILE: one line per DHCP message in a pcap:
# "TYPE CHADDR YIADDR TIME" (TYPE as in option 53, e.g. 2 offer, 5 ack;
# TIME in seconds since the epoch).
nx_pcap_dhcp() {
	python3 - "$1" <<'PY'
import struct, sys

def options(b):
    i = 0
    while i < len(b):
        code = b[i]
        if code == 0:
            i += 1
            continue
        if code == 255 or i + 1 >= len(b):
            return
        n = b[i + 1]
        yield code, b[i + 2:i + 2 + n]
        i += 2 + n

data = open(sys.argv[1], 'rb').read()
if len(data) < 24:
    sys.exit(0)
endian = '<' if data[:4] == b'\xd4\xc3\xb2\xa1' else '>'
off = 24
while off + 16 <= len(data):
    sec, usec, caplen, _ = struct.unpack(endian + 'IIII', data[off:off + 16])
    pkt = data[off + 16:off + 16 + caplen]
    off += 16 + caplen
    if len(pkt) < 14 + 20 + 8 + 240 or pkt[12:14] != b'\x08\x00':
        continue
    ihl = (pkt[14] & 15) * 4
    if pkt[14 + 9] != 17:
        continue
    dhcp = pkt[14 + ihl + 8:]
    if len(dhcp) < 240 or dhcp[236:240] != b'\x63\x82\x53\x63':
        continue
    mtype = dict(options(dhcp[240:])).get(53, b'\0')[0]
    mac = ':'.join('%02x' % x for x in dhcp[28:34])
    yiaddr = '.'.join(str(x) for x in dhcp[16:20])
    print(mtype, mac, yiaddr, '%d.%06d' % (sec, usec))
PY
}
