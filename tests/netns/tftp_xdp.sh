#!/usr/bin/env bash
# The kernel's TFTP hot-block path with real clients: xbootd with xdp=auto
# and every test file named `tftp-hot=`; `curl tftp://` (blksize 200, 512,
# 1432 and 1468, an OACK first) and tftp-hpa (no options: xbootd sends
# DATA 1) fetch files of 0, 511, 512, 513 bytes, an exact multiple of 512,
# of 200 and of 1432, one of 7 x 1468, and one of ~34 MiB whose block
# number wraps past 65535 at blksize 200 and 512; all byte for byte
# (SHA-256). `xbootctl stats --json` must show that the kernel (XDP, or
# the TC tier for the blocks XDP has no room for) sent nearly every block,
# userspace at most the first block or two of a transfer, and every
# transfer completed. atftp with windowsize 4 is left to userspace and
# still right.
#
#   ┌──── xbt-tx-PID-srv ────┐      ┌──── xbt-tx-PID-cli ────┐
#   │ xbootd xdp=auto        │ veth │ curl, tftp, atftp      │
#   │ XDP + tc ingress       │      │                        │
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
head -c $((1432 * 50)) /dev/urandom >"$ROOT/f1432x50"
head -c $((1468 * 7)) /dev/urandom >"$ROOT/f1468x7"
head -c $((34 << 20)) /dev/urandom >"$ROOT/big"
files="f0 f511 f512 f513 f512x64 f200x50 f1432x50 f1468x7"

same() { # NAME FETCHED-FILE
	[ "$(sha256sum <"$ROOT/$1")" = "$(sha256sum <"$2")" ]
}


hpa_get() { # FILE OUT
	rm -f "$2"
	(cd "$OUT" && timeout 120 ip netns exec "$NX_CLI" tftp -m binary \
		$NX_SRV_IP -c get "$1" "$2") >>"$NX_TMP/tftp.log" 2>&1
}

blocks=0
xfers=0
# Blocks a transfer of FILE at blksize BS has (the last one short).
count() { # FILE BS
	local sz
	sz=$(stat -c %s "$ROOT/$1")
	blocks=$((blocks + sz / $2 + 1))
	xfers=$((xfers + 1))
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
grep -q "TC tier at ingress" "$NX_TMP/xbootd.log" ||
	nx_fail "the TC tier was not attached (see xbootd.log)"

# On a veth since Linux 6.8 the XDP program has the frame's 256 bytes of
# headroom to grow an ACK into a DATA frame and almost no tailroom (veth
# copies a frame into a buffer just big enough): blocks up to ~200 bytes
# are XDP's, bigger ones the TC tier's. With a full-page driver (and veth
# before 6.8) XDP sends them all. Either way: the kernel's.
user0=$(nx_stat tftp blocks_sent_user)
for f in $files; do
	for bs in 200 512 1432 1468; do
		nx_tftp_curl "$f" "$OUT/c" --tftp-blksize $bs && same "$f" "$OUT/c" ||
			nx_fail "curl blksize $bs get $f"
		count "$f" $bs
	done
	hpa_get "$f" "$OUT/h" && same "$f" "$OUT/h" ||
		nx_fail "tftp-hpa get $f"
	count "$f" 512
done
nx_log "ok: curl (blksize 200, 512, 1432, 1468) and tftp-hpa fetch $files"

nx_tftp_curl big "$OUT/c" --tftp-blksize 200 && same big "$OUT/c" ||
	nx_fail "curl blksize 200 get big"
count big 200
nx_log "ok: 34 MiB at blksize 200, block number wrapping twice"
nx_tftp_curl big "$OUT/c" --tftp-blksize 512 && same big "$OUT/c" ||
	nx_fail "curl blksize 512 get big"
count big 512
hpa_get big "$OUT/h" && same big "$OUT/h" || nx_fail "tftp-hpa get big"
count big 512
nx_log "ok: 34 MiB at blksize 512 (wrapping once) by curl and tftp-hpa"
nx_tftp_curl big "$OUT/c" --tftp-blksize 1432 && same big "$OUT/c" ||
	nx_fail "curl blksize 1432 get big"
count big 1432
nx_log "ok: 34 MiB at blksize 1432 by curl"

xdp_blocks=$(nx_stat xdp tftp_blocks)
tc_blocks=$(nx_stat xdp tftp_blocks_tc)
user_blocks=$(($(nx_stat tftp blocks_sent_user) - user0))
completed=$(nx_stat tftp transfers_completed)
kernel=$((xdp_blocks + tc_blocks))
nx_log "stats: $xdp_blocks blocks by XDP, $tc_blocks by TC, $user_blocks by userspace; $completed of $xfers transfers completed, $blocks blocks in all"
nx_check [ "$completed" -eq "$xfers" ] -- "stats: all $xfers transfers completed ($completed)"
nx_check [ "$(nx_stat xdp tftp_completed)" -ge "$xfers" ] -- "stats: the kernel saw the final ACKs"
# A lost frame is resent by xbootd; all the rest of those is the kernel's.
nx_check [ "$kernel" -ge $((blocks * 99 / 100)) ] -- "stats: the kernel sent $kernel of $blocks blocks (XDP $xdp_blocks, TC $tc_blocks)"
nx_check [ "$user_blocks" -le $((2 * xfers)) ] -- "stats: userspace sent $user_blocks blocks, at most 2 per transfer"
nx_check [ "$(nx_stat tftp transfers_failed)" -eq 0 ] -- "stats: no transfer failed"

# An ACK from a local sender (curl here) is CHECKSUM_PARTIAL, and so is
# the DATA frame the TC tier makes of its skb. With checksumming off on
# the server's veth the kernel completes such checksums in software on
# the way out, and the client, handed whole ones, verifies them: the TC
# tier must have left the field as PARTIAL wants it.
udp_csum_errors() {
	nx_cli awk '/^Udp:/ && $2 ~ /^[0-9]+$/ { print $8 }' /proc/net/snmp
}
nx_srv ethtool -K "$NX_SRV_IF" tx off >/dev/null || nx_fail "ethtool -K $NX_SRV_IF tx off"
e0=$(udp_csum_errors)
k0=$(($(nx_stat xdp tftp_blocks) + $(nx_stat xdp tftp_blocks_tc)))
nx_tftp_curl f1432x50 "$OUT/c" --tftp-blksize 1432 --max-time 20 &&
	same f1432x50 "$OUT/c" ||
	nx_fail "with tx checksumming off: curl blksize 1432 get f1432x50"
nx_check [ "$(udp_csum_errors)" -eq "$e0" ] -- "with tx checksumming off: no UDP checksum error at the client"
nx_check [ $(($(nx_stat xdp tftp_blocks) + $(nx_stat xdp tftp_blocks_tc) - k0)) -ge 50 ] -- "with tx checksumming off: the kernel sent the blocks"
nx_srv ethtool -K "$NX_SRV_IF" tx on >/dev/null

# Timeouts and strays on a kernel session, by a scripted client, at
# blksize 200 (XDP's on a veth) and 1432 (the TC tier's): a duplicate ACK
# is dropped unanswered, a silence makes xbootd resend the block the
# kernel last sent (and the kernel go on from the next ACK), a wrong TID
# gets error 5 from xbootd, and a client that stops gets timed out.
cat >"$NX_TMP/edges.py" <<'PY'
import socket, struct, sys
srv, path, name, bs = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
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
    s.sendto(b'\0\1' + name.encode() + b'\0octet\0blksize\0' +
             str(bs).encode() + b'\0' + extra, (srv, 69))
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
    if len(p) - 4 < bs:
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
for e in "f200x50 200" "f1432x50 1432"; do
	set -- $e
	to=$(nx_stat tftp transfers_timed_out)
	re=$(nx_stat tftp retransmits)
	dup=$(nx_stat xdp tftp_dup_acks)
	nx_cli timeout 40 python3 "$NX_TMP/edges.py" $NX_SRV_IP "$ROOT/$1" $1 $2 ||
		nx_fail "blksize $2: kernel session edges (duplicate ACK, resend, wrong TID, timeout)"
	nx_check [ "$(nx_stat tftp transfers_timed_out)" -eq $((to + 1)) ] -- "blksize $2: the silent client timed out"
	nx_check [ "$(nx_stat tftp retransmits)" -ge $((re + 5)) ] -- "blksize $2: resends counted"
	nx_check [ "$(nx_stat xdp tftp_dup_acks)" -ge $((dup + 1)) ] -- "blksize $2: duplicate ACK dropped in the kernel"
done

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

# The tc filter is not a BPF link, unlike the XDP attachment: a killed
# xbootd leaves it behind. The next start must replace it and serve as
# before; a clean stop removes it.
tc_ours() { nx_srv tc filter show dev "$NX_SRV_IF" ingress | grep -q xboot_tftp_tc; }
tc_gone() { ! tc_ours; }
kill -KILL "$NX_XBOOTD_PID"
wait "$NX_XBOOTD_PID" 2>/dev/null
NX_XBOOTD_PID=
nx_check tc_ours -- "kill -9 left the TC filter behind"
nx_xbootd xdp=auto tftp-root="$ROOT" "${hot[@]}" \
	dhcp-range=$NX_NET.1.10,$NX_NET.1.200
for i in $(seq 50); do
	[ "$(grep -c "big (.*) served by XDP" "$NX_TMP/xbootd.log")" -ge 2 ] && break
	sleep 0.2
done
nx_tftp_curl f1432x50 "$OUT/c" --tftp-blksize 1432 && same f1432x50 "$OUT/c" ||
	nx_fail "after a kill -9 and a restart: curl blksize 1432 get f1432x50"
nx_check [ $(($(nx_stat xdp tftp_blocks) + $(nx_stat xdp tftp_blocks_tc))) -ge 50 ] -- \
	"after a kill -9 and a restart the kernel serves again"
nx_xbootd_stop
nx_check tc_gone -- "a clean stop removed the TC filter"
nx_pass
