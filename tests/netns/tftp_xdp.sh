#!/usr/bin/env bash
# The XDP hot-block TFTP path with real clients: xbootd with xdp=auto and
# every test file named `tftp-hot=`; `curl tftp://` (blksize 200, 512 and
# 1468, an OACK first) and tftp-hpa (no options: xbootd sends DATA 1) fetch
# files of 0, 511, 512, 513 bytes, an exact multiple of 512 and of 200,
# one of 7 x 1468, and one of ~34 MiB whose block number wraps past 65535;
# all byte for byte (SHA-256). `xbootctl stats --json` must show that XDP
# sent the blocks of the blksize-200 transfers (see below for why 200 on a
# veth) and saw their final ACKs, and every transfer completed. atftp with
# windowsize 4 is left to userspace and still right.
#
#   ┌──── xbt-tx-PID-srv ────┐      ┌──── xbt-tx-PID-cli ────┐
#   │ xbootd xdp=auto        │ veth │ curl, tftp, atftp      │
#   │ xbt-tx-s 10.77.0.1/16 ─┼──────┼─ xbt-tx-c 10.77.0.2/16 │
#   └────────────────────────┘      └────────────────────────┘
set -u
. "$(dirname "$0")/../lib/netns.sh"

for c in tftp atftp curl sha256sum python3; do nx_require_cmd $c; done
nx_require_xboot
nx_init tx
nx_pair
nx_cli_addr

ROOT=$NX_TMP/root
OUT=$NX_TMP/out
mkdir -p "$ROOT" "$OUT"
head -c 0 /dev/urandom >"$ROOT/f0"
head -c 511 /dev/urandom >"$ROOT/f511"
head -c 512 /dev/urandom >"$ROOT/f512"
head -c 513 /dev/urandom >"$ROOT/f513"
head -c $((512 * 64)) /dev/urandom >"$ROOT/f512x64"
head -c $((200 * 50)) /dev/urandom >"$ROOT/f200x50"
head -c $((1468 * 7)) /dev/urandom >"$ROOT/f1468x7"
head -c $((34 << 20)) /dev/urandom >"$ROOT/big"
files="f0 f511 f512 f513 f512x64 f200x50 f1468x7"

same() { # NAME FETCHED-FILE
	[ "$(sha256sum <"$ROOT/$1")" = "$(sha256sum <"$2")" ]
}

curl_get() { # FILE OUT OPTIONS...
	local f=$1 o=$2
	shift 2
	rm -f "$o"
	timeout 120 ip netns exec "$NX_CLI" curl -sS "$@" -o "$o" \
		"tftp://$NX_SRV_IP/$f" >>"$NX_TMP/curl.log" 2>&1
}

hpa_get() { # FILE OUT
	rm -f "$2"
	(cd "$OUT" && timeout 120 ip netns exec "$NX_CLI" tftp -m binary \
		$NX_SRV_IP -c get "$1" "$2") >>"$NX_TMP/tftp.log" 2>&1
}

hot=()
for f in $files big; do hot+=("tftp-hot=$f"); done
nx_xbootd xdp=auto tftp-root="$ROOT" "${hot[@]}" \
	dhcp-range=$NX_NET.1.10,$NX_NET.1.200
[ "$(nx_xdp_mode)" = off ] && nx_skip "XDP could not be attached here"
# Loading the block cache happens on xbootd's first tick.
for i in $(seq 50); do
	grep -q "big (.*) served by XDP" "$NX_TMP/xbootd.log" && break
	sleep 0.2
done
grep -q "big (.*) served by XDP" "$NX_TMP/xbootd.log" ||
	nx_fail "the hot files were not loaded (see xbootd.log)"

# On a veth the program has the frame's 256 bytes of headroom to grow the
# ACK into a DATA frame, and almost no tailroom (veth copies a frame into a
# buffer just big enough): blocks up to ~200 bytes are XDP's here, bigger
# ones (which fit the page-sized buffers of real NICs) are handed back to
# xbootd at the first ACK. Both must be byte for byte right.
XB=200
blocks=0
xfers=0
for f in $files; do
	sz=$(stat -c %s "$ROOT/$f")
	curl_get "$f" "$OUT/c" --tftp-blksize $XB && same "$f" "$OUT/c" ||
		nx_fail "curl blksize $XB get $f"
	curl_get "$f" "$OUT/c" && same "$f" "$OUT/c" ||
		nx_fail "curl get $f"
	curl_get "$f" "$OUT/c" --tftp-blksize 1468 && same "$f" "$OUT/c" ||
		nx_fail "curl blksize 1468 get $f"
	hpa_get "$f" "$OUT/h" && same "$f" "$OUT/h" ||
		nx_fail "tftp-hpa get $f"
	blocks=$((blocks + sz / XB + 1))
	xfers=$((xfers + 1))
done
nx_log "ok: curl (blksize $XB, 512, 1468) and tftp-hpa fetch $files"

curl_get big "$OUT/c" --tftp-blksize $XB && same big "$OUT/c" ||
	nx_fail "curl blksize $XB get big"
blocks=$((blocks + (34 << 20) / XB + 1))
xfers=$((xfers + 1))
nx_log "ok: 34 MiB at blksize $XB, block number wrapping twice, by XDP"
curl_get big "$OUT/c" && same big "$OUT/c" || nx_fail "curl get big"
hpa_get big "$OUT/h" && same big "$OUT/h" || nx_fail "tftp-hpa get big"
nx_log "ok: 34 MiB at blksize 512 by curl and tftp-hpa"

xdp_blocks=$(nx_stat xdp tftp_blocks)
user_blocks=$(nx_stat tftp blocks_sent_user)
completed=$(nx_stat tftp transfers_completed)
total=$((xfers * 4 - 1)) # 4 fetches per small file, 3 of big
nx_log "stats: $xdp_blocks blocks by XDP, $user_blocks by userspace, $completed transfers completed; $blocks blocks in the $xfers blksize-$XB transfers"
nx_check [ "$completed" -eq "$total" ] -- "stats: all $total transfers completed ($completed)"
nx_check [ "$(nx_stat xdp tftp_completed)" -ge "$xfers" ] -- "stats: XDP saw the final ACKs"
# A lost frame is resent by xbootd; all the rest of those is XDP's.
nx_check [ "$xdp_blocks" -ge $((blocks * 99 / 100)) ] -- "stats: XDP sent $xdp_blocks of $blocks blocks"
nx_check [ "$(nx_stat tftp transfers_failed)" -eq 0 ] -- "stats: no transfer failed"

# Timeouts and strays on an XDP session, by a scripted client: a duplicate
# ACK is dropped unanswered, a silence makes xbootd resend the block the
# program last sent (and XDP go on from the next ACK), a wrong TID gets
# error 5 from xbootd, and a client that stops gets timed out.
cat >"$NX_TMP/edges.py" <<'PY'
import socket, struct, sys
srv, path = sys.argv[1], sys.argv[2]
data = open(path, 'rb').read()
def sock():
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(('', 0))
    return s
def recv(s, t):
    s.settimeout(t)
    try:
        return s.recvfrom(2048)
    except socket.timeout:
        return None, None
def ack(s, to, b):
    s.sendto(struct.pack('!HH', 4, b & 0xffff), to)
def rrq(s, extra=b''):
    s.sendto(b'\0\1f200x50\0octet\0blksize\0' + b'200\0' + extra, (srv, 69))
    p, a = recv(s, 2)
    assert p and p[:2] == b'\0\6', 'no OACK: %r' % (p,)
    return a
s = sock()
tid = rrq(s)
got = b''
ack(s, tid, 0)
blk = 1
while True:
    p, a = recv(s, 3)
    assert p, 'no DATA %d' % blk
    op, b = struct.unpack('!HH', p[:4])
    assert op == 3 and b == blk, 'op %d block %d, want DATA %d' % (op, b, blk)
    got += p[4:]
    if blk == 2:
        ack(s, tid, 1)           # duplicate: dropped
        p, _ = recv(s, 0.5)
        assert p is None, 'duplicate ACK answered'
        o = sock()               # wrong TID: error 5
        ack(o, tid, 2)
        p, _ = recv(o, 2)
        assert p and p[:4] == b'\0\5\0\5', 'wrong TID: %r' % (p,)
        p, _ = recv(s, 4)        # silence: xbootd resends DATA 2
        assert p and struct.unpack('!HH', p[:4]) == (3, 2), 'no resend'
    if len(p) - 4 < 200:
        ack(s, tid, blk)
        break
    ack(s, tid, blk)
    blk += 1
assert got == data, 'data differs'
# A client that goes silent after DATA 1 (timeout 1 s, 5 retries).
s = sock()
tid = rrq(s, b'timeout\0' + b'1\0')
ack(s, tid, 0)
p, _ = recv(s, 2)
assert p and p[:4] == b'\0\3\0\1', 'no DATA 1'
n = 0
while recv(s, 3)[0]:
    n += 1
assert 4 <= n <= 6, '%d resends' % n
PY
to=$(nx_stat tftp transfers_timed_out)
re=$(nx_stat tftp retransmits)
nx_cli timeout 40 python3 "$NX_TMP/edges.py" $NX_SRV_IP "$ROOT/f200x50" ||
	nx_fail "XDP session edges (duplicate ACK, resend, wrong TID, timeout)"
nx_check [ "$(nx_stat tftp transfers_timed_out)" -eq $((to + 1)) ] -- "the silent client timed out"
nx_check [ "$(nx_stat tftp retransmits)" -ge $((re + 5)) ] -- "resends counted"
nx_check [ "$(nx_stat xdp tftp_dup_acks)" -ge 1 ] -- "duplicate ACK dropped by XDP"

# windowsize > 1: userspace's, byte for byte.
before=$(nx_stat tftp blocks_sent_user)
rm -f "$OUT/a"
timeout 60 ip netns exec "$NX_CLI" atftp --option "blksize 1468" \
	--option "windowsize 4" -g -r f1468x7 -l "$OUT/a" $NX_SRV_IP \
	>>"$NX_TMP/atftp.log" 2>&1 && same f1468x7 "$OUT/a" ||
	nx_fail "atftp windowsize 4 get f1468x7"
after=$(nx_stat tftp blocks_sent_user)
nx_check [ $((after - before)) -ge 8 ] -- "windowsize 4 served by userspace ($((after - before)) blocks)"
nx_ctl stats | grep -qi tftp || nx_fail "xbootctl stats shows no TFTP counters"
nx_xbootd_stop
nx_pass
