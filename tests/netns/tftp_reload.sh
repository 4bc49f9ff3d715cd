#!/usr/bin/env bash
# SIGHUP and TFTP: a reload picks up a new `tftp-hot=` line and loads every
# hot file into the new XDP program again (a file rewritten on disk is
# served with its new bytes, by XDP), and a reload that changes what is
# opened only at start (tftp-root, http-port) is refused with a clear log
# line, the running configuration left as it was. `xbootctl status` names
# the TFTP block source ("map" here: no xboot.ko on this kernel).
#
#   ┌──── xbt-tr-PID-srv ────┐      ┌──── xbt-tr-PID-cli ────┐
#   │ xbootd -c xboot.conf   │ veth │ curl tftp://           │
#   │ XDP, hot files a, b    │      │                        │
#   │ xbt-tr-s 10.77.0.1/16 ─┼──────┼─ xbt-tr-c 10.77.0.2/16 │
#   └────────────────────────┘      └────────────────────────┘
set -u
. "$(dirname "$0")/../lib/netns.sh"

for c in curl sha256sum python3; do nx_require_cmd $c; done
nx_require_xboot
nx_init tr
nx_pair
nx_cli_addr

ROOT=$NX_TMP/root
ROOT2=$NX_TMP/root2
OUT=$NX_TMP/out
CONF=$NX_TMP/xboot.conf
mkdir -p "$ROOT" "$ROOT2" "$OUT"
head -c $((200 * 20 + 7)) /dev/urandom >"$ROOT/a"
head -c $((200 * 30 + 11)) /dev/urandom >"$ROOT/b"
cp "$ROOT/a" "$ROOT2/a"

write_conf() { # extra lines...
	cat >"$CONF" <<EOF
interface=$NX_SRV_IF
state-dir=$NX_STATE
control-socket=$NX_CTL_SOCK
xdp=auto
tftp-root=$ROOT
dhcp-range=$NX_NET.1.10,$NX_NET.1.200
EOF
	printf '%s\n' "$@" >>"$CONF"
}

# wait_log FROM-LINE REGEX: the log says REGEX after line FROM-LINE.
wait_log() {
	local i
	for i in $(seq 50); do
		tail -n +"$1" "$NX_TMP/xbootd.log" | grep -q -- "$2" && return 0
		sleep 0.2
	done
	nx_fail "xbootd.log never said '$2' (see xbootd.log)"
}
log_lines() { wc -l <"$NX_TMP/xbootd.log"; }

hup() {
	kill -HUP "$NX_XBOOTD_PID"
	wait_log "$1" "SIGHUP: reloading"
}

# Kernel blocks (XDP, or the TC tier where XDP has no room) for a fetch of
# FILE at blksize 200; byte for byte.
fetch() { # FILE [ROOT]
	local root=${2:-$ROOT} k0 k1
	k0=$(($(nx_stat xdp tftp_blocks) + $(nx_stat xdp tftp_blocks_tc)))
	rm -f "$OUT/$1"
	timeout 60 ip netns exec "$NX_CLI" curl -sS --tftp-blksize 200 \
		-o "$OUT/$1" "tftp://$NX_SRV_IP/$1" >>"$NX_TMP/curl.log" 2>&1 ||
		nx_fail "curl get $1"
	[ "$(sha256sum <"$root/$1")" = "$(sha256sum <"$OUT/$1")" ] ||
		nx_fail "$1 differs from $root/$1"
	k1=$(($(nx_stat xdp tftp_blocks) + $(nx_stat xdp tftp_blocks_tc)))
	KBLOCKS=$((k1 - k0))
}

write_conf tftp-hot=a
nx_xbootd -c "$CONF"
[ "$(nx_xdp_mode)" = off ] && nx_skip "XDP could not be attached here"
wait_log 1 "tftp: a (.*) served by XDP"
src=$(nx_ctl --json status | nx_json "print(d.get('tftp_block_source'))")
nx_check [ "$src" = map ] -- "status --json: tftp_block_source is $src"
nx_ctl status | grep -q "^TFTP block source: map$" ||
	nx_fail "xbootctl status has no 'TFTP block source: map' line"

fetch b
nx_check [ "$KBLOCKS" -eq 0 ] -- "b is not hot yet: $KBLOCKS kernel blocks"

# A new tftp-hot= line, and a rewritten a: both reach the new program.
head -c $((200 * 25 + 3)) /dev/urandom >"$ROOT/a.new"
mv "$ROOT/a.new" "$ROOT/a"
write_conf tftp-hot=a tftp-hot=b
n=$(log_lines)
hup "$n"
wait_log "$n" "tftp: b (.*) served by XDP"
wait_log "$n" "tftp: a (5003 bytes) served by XDP"
fetch b
nx_check [ "$KBLOCKS" -ge 29 ] -- "after the reload b is hot: $KBLOCKS kernel blocks of 31"
fetch a
nx_check [ "$KBLOCKS" -ge 24 ] -- "the rewritten a is hot: $KBLOCKS kernel blocks of 26"

# What is opened only at start: refused, and nothing else changes.
write_conf tftp-hot=a tftp-hot=b "tftp-root=$ROOT2"
n=$(log_lines)
hup "$n"
wait_log "$n" "reload: tftp-root changed: restart xbootd to apply that"
fetch b
nx_check [ "$KBLOCKS" -ge 29 ] -- "tftp-root kept after the refused reload; b still hot ($KBLOCKS)"

write_conf tftp-hot=a tftp-hot=b http-port=8081
n=$(log_lines)
hup "$n"
wait_log "$n" "reload: http-port changed: restart xbootd to apply that"
kill -0 "$NX_XBOOTD_PID" || nx_fail "xbootd died on a refused reload"

nx_xbootd_stop
nx_pass
