#!/usr/bin/env bash
# Real TFTP clients no one here wrote fetch files from xbootd's TFTP server
# (the io_uring slow path) byte for byte: tftp-hpa's `tftp`, `atftp` and
# `curl tftp://`, with blksize, tsize and windowsize variants, over files
# of 0, 511, 512, 513 bytes, an exact multiple of 1468, and one of ~34 MiB
# whose block number wraps past 65535 at blksize 512. A missing file gives
# error 1, a path out of the root and a symlink out of it are refused, a
# per-MAC file is found first, WRQ is refused; 100 transfers run at once;
# a scripted client checks wrong-TID error 5, duplicate ACKs left
# unanswered, retransmission on timeout, a window resent from an ACK in its
# middle, and giving up after 5 retries. Run with xdp=off, then once
# more with xdp=auto to show that the DHCP XDP program and TFTP coexist.
#
#   ┌──── xbt-tf-PID-srv ────┐      ┌──── xbt-tf-PID-cli ────┐
#   │ xbootd, tftp-root      │ veth │ tftp, atftp, curl      │
#   │ xbt-tf-s 10.77.0.1/16 ─┼──────┼─ xbt-tf-c 10.77.0.2/16 │
#   └────────────────────────┘      └────────────────────────┘
set -u
. "$(dirname "$0")/../lib/netns.sh"

for c in tftp atftp curl sha256sum python3; do nx_require_cmd $c; done
nx_require_xboot
nx_init tf
nx_pair
nx_cli_addr
CLI_MAC=52:54:00:aa:bb:07

ROOT=$NX_TMP/root
OUT=$NX_TMP/out
mkdir -p "$ROOT/sub" "$ROOT/52-54-00-aa-bb-07" "$OUT" "$NX_TMP/secret"
head -c 0 /dev/urandom >"$ROOT/f0"
head -c 511 /dev/urandom >"$ROOT/f511"
head -c 512 /dev/urandom >"$ROOT/f512"
head -c 513 /dev/urandom >"$ROOT/f513"
head -c $((1468 * 7)) /dev/urandom >"$ROOT/f1468x7"
head -c 100000 /dev/urandom >"$ROOT/sub/f100k"
# > 65535 * 512 bytes: the block number wraps.
head -c $((34 << 20)) /dev/urandom >"$ROOT/big"
printf 'line one\nline two\r\nend\n' >"$ROOT/text"
echo secret >"$NX_TMP/secret/passwd"
ln -s "$NX_TMP/secret/passwd" "$ROOT/escape"
ln -s f511 "$ROOT/inside"
echo shared >"$ROOT/permac"
echo "for 52:54:00:aa:bb:07" >"$ROOT/52-54-00-aa-bb-07/permac"

same() { # NAME FETCHED-FILE
	[ "$(sha256sum <"$ROOT/$1")" = "$(sha256sum <"$2")" ]
}

hpa_get() { # FILE OUT [tftp-hpa command prefix]
	rm -f "$2"
	(cd "$OUT" && timeout 60 ip netns exec "$NX_CLI" tftp -m binary \
		$NX_SRV_IP -c get "$1" "$2") >>"$NX_TMP/tftp.log" 2>&1
}

atftp_get() { # FILE OUT OPTIONS...
	local f=$1 o=$2
	shift 2
	rm -f "$o"
	timeout 60 ip netns exec "$NX_CLI" atftp "$@" -g -r "$f" -l "$o" \
		$NX_SRV_IP >>"$NX_TMP/atftp.log" 2>&1
}


small_files="f0 f511 f512 f513 f1468x7 sub/f100k inside"

run_clients() { # LABEL
	local l=$1 f
	for f in $small_files; do
		hpa_get "$f" "$OUT/hpa" && same "$f" "$OUT/hpa" ||
			nx_fail "$l: tftp-hpa get $f"
		atftp_get "$f" "$OUT/at" && same "$f" "$OUT/at" ||
			nx_fail "$l: atftp get $f"
		atftp_get "$f" "$OUT/at" --option "blksize 1468" \
			--option "tsize enable" --option "windowsize 4" &&
			same "$f" "$OUT/at" ||
			nx_fail "$l: atftp blksize 1468 tsize windowsize 4 get $f"
		atftp_get "$f" "$OUT/at" --option "blksize 8" &&
			same "$f" "$OUT/at" || nx_fail "$l: atftp blksize 8 get $f"
		nx_tftp_curl "$f" "$OUT/curl" && same "$f" "$OUT/curl" ||
			nx_fail "$l: curl get $f"
		nx_tftp_curl "$f" "$OUT/curl" --tftp-blksize 1468 &&
			same "$f" "$OUT/curl" || nx_fail "$l: curl blksize 1468 get $f"
		nx_tftp_curl "$f" "$OUT/curl" --tftp-no-options &&
			same "$f" "$OUT/curl" || nx_fail "$l: curl no options get $f"
	done
	nx_log "ok: $l: tftp-hpa, atftp (blksize 8/1468, tsize, windowsize 4) and curl fetch $small_files"
}

nx_xbootd xdp=off tftp-root="$ROOT" dhcp-range=$NX_NET.1.10,$NX_NET.1.200
run_clients xdp=off

# 100 transfers at once in the one loop.
pids=()
for i in $(seq 1 100); do
	nx_tftp_curl sub/f100k "$OUT/par$i" --tftp-blksize $((512 + i)) &
	pids+=($!)
done
for p in "${pids[@]}"; do wait $p || nx_fail "a concurrent curl failed"; done
for i in $(seq 1 100); do
	same sub/f100k "$OUT/par$i" || nx_fail "concurrent fetch $i differs"
done
rm -f "$OUT"/par*
nx_log "ok: 100 concurrent curl transfers, each blksize different, byte-identical"

# The block number wraps (34 MiB at blksize 512 is 69632 blocks).
t0=$(date +%s)
nx_tftp_curl big "$OUT/big" --tftp-blksize 512 && same big "$OUT/big" ||
	nx_fail "curl: 34 MiB at blksize 512 (block number wrap)"
nx_log "ok: curl fetched 34 MiB at blksize 512 across the block wrap ($(($(date +%s) - t0)) s)"
t0=$(date +%s)
atftp_get big "$OUT/big" --option "blksize 1468" --option "windowsize 16" &&
	same big "$OUT/big" || nx_fail "atftp: 34 MiB, blksize 1468, windowsize 16"
nx_log "ok: atftp fetched 34 MiB with blksize 1468 windowsize 16 ($(($(date +%s) - t0)) s)"

# Netascii: LF -> CR LF, CR -> CR NUL on the wire; tftp-hpa converts back.
rm -f "$OUT/text"
(cd "$OUT" && timeout 30 ip netns exec "$NX_CLI" tftp -m ascii $NX_SRV_IP \
	-c get text "$OUT/text") >>"$NX_TMP/tftp.log" 2>&1
nx_check same text "$OUT/text" -- "tftp-hpa netascii round trip"

# Errors: missing file (1), escapes (2), WRQ (2). curl's exit code names
# the TFTP error: 68 not found, 69 access violation (--path-as-is keeps
# the dot segments in the request).
rc=0
nx_tftp_curl nosuch "$OUT/x" || rc=$?
nx_check [ $rc = 68 ] -- "missing file: TFTP error 1 (curl exit $rc)"
for bad in ../etc/passwd a/../../x escape "sub/../../secret/passwd"; do
	rc=0
	nx_tftp_curl "$bad" "$OUT/x" --path-as-is || rc=$?
	nx_check [ $rc = 69 ] -- "hostile path '$bad' refused with error 2 (curl exit $rc)"
done
# Absolute paths are taken relative to the root.
atftp_get /f513 "$OUT/at" && same f513 "$OUT/at" || nx_fail "absolute path /f513"
nx_log "ok: /f513 is the root's f513"
echo data >"$OUT/up"
: >"$NX_TMP/atftp.log"
timeout 20 ip netns exec "$NX_CLI" atftp -p -l "$OUT/up" -r up $NX_SRV_IP \
	>>"$NX_TMP/atftp.log" 2>&1 && nx_fail "WRQ accepted"
nx_check grep -qi "not supported\|access violation" "$NX_TMP/atftp.log" -- "WRQ refused with error 2"
[ ! -e "$ROOT/up" ] || nx_fail "WRQ wrote a file"

# The protocol edges no stock client shows: a wrong TID gets error 5 and
# the transfer goes on; a duplicate ACK is not answered; a lost ACK is
# answered by a retransmission after the timeout; a window ACKed in its
# middle is resent from there.
cat >"$NX_TMP/edges.py" <<'PY'
import socket, struct, sys, time
srv, want = sys.argv[1], open(sys.argv[2], 'rb').read()
def sock():
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(3)
    return s
def expect_data(s, blk):
    pkt, tid = s.recvfrom(2048)
    op, b = struct.unpack('!HH', pkt[:4])
    assert op == 3 and b == blk, 'want DATA %d, got op %d block %d' % (blk, op, b)
    return pkt[4:], tid
def ack(s, tid, blk):
    s.sendto(struct.pack('!HH', 4, blk), tid)
c = sock()
c.sendto(b'\0\1f1468x7\0octet\0', (srv, 69))
got, tid = expect_data(c, 1)
# wrong TID: another port of ours ACKs block 1
w = sock()
ack(w, tid, 1)
pkt, _ = w.recvfrom(2048)
assert pkt[:4] == b'\0\5\0\5', 'wrong TID: %r' % pkt
ack(c, tid, 1)
d, _ = expect_data(c, 2); got += d
# duplicate ACK of block 1: no answer (Sorcerer's Apprentice)
ack(c, tid, 1)
c.settimeout(0.5)
try:
    pkt, _ = c.recvfrom(2048)
    raise SystemExit('duplicate ACK answered: %r' % pkt[:4])
except socket.timeout:
    pass
# no ACK for block 2: it comes again after the 1 s timeout
c.settimeout(3)
t0 = time.time()
d, _ = expect_data(c, 2)
assert time.time() - t0 > 0.3, 'retransmitted too early'
blk = 2
while len(d) == 512:
    ack(c, tid, blk)
    blk += 1
    d, _ = expect_data(c, blk); got += d
ack(c, tid, blk)
assert got == want, 'content differs'
# windowsize 4, ACK of the 2nd block of the first window: resent from 3
c = sock()
c.sendto(b'\0\1f1468x7\0octet\0windowsize\0004\0', (srv, 69))
pkt, tid = c.recvfrom(2048)
assert pkt == b'\0\6windowsize\x004\0', 'OACK: %r' % pkt
ack(c, tid, 0)
for b in (1, 2, 3, 4):
    expect_data(c, b)
ack(c, tid, 2)
for b in (3, 4, 5, 6):
    expect_data(c, b)
c.sendto(struct.pack('!HH', 5, 0) + b'stop\0', tid)
# a client that never answers: the OACK is resent 5 times, 1 s apart
c = sock()
c.sendto(b'\0\1f513\0octet\0timeout\0001\0', (srv, 69))
first, tid = c.recvfrom(2048)
n, end = 0, time.time() + 8
while time.time() < end:
    c.settimeout(max(0.01, end - time.time()))
    try:
        pkt, _ = c.recvfrom(2048)
    except socket.timeout:
        break
    assert pkt == first, 'not the OACK again: %r' % pkt
    n += 1
assert n == 5, '%d retransmissions, want 5' % n
print('edges ok')
PY
nx_cli timeout 30 python3 "$NX_TMP/edges.py" $NX_SRV_IP "$ROOT/f1468x7" ||
	nx_fail "protocol edges (wrong TID, duplicate ACK, timeout, window)"
nx_log "ok: wrong TID gets error 5, duplicate ACK ignored, timeout resends, window resent from a mid ACK, 5 retries then give up"

completed=$(nx_stat tftp transfers_completed)
blocks=$(nx_stat tftp blocks_sent_user)
# 7 files x 7 fetches, 100 at once, 2 big ones, netascii, /f513, edges.
nx_check [ "$completed" -ge 154 ] -- "stats: $completed transfers completed"
nx_check [ "$(nx_stat tftp transfers_timed_out)" = 1 ] -- "stats: one transfer timed out (the silent client)"
nx_check [ "$(nx_stat tftp retransmits)" -ge 1 ] -- "stats: retransmissions counted"
nx_check [ "$blocks" -gt 69632 ] -- "stats: $blocks blocks sent"
nx_ctl stats | grep -qi tftp || nx_fail "xbootctl stats shows no TFTP counters"
nx_xbootd_stop

# With the DHCP XDP program on the same interface; and the per-MAC lookup,
# which needs a lease for the client's address.
nx_cli_mac $CLI_MAC
nx_xbootd xdp=auto tftp-root="$ROOT" host=$CLI_MAC,$NX_CLI_IP \
	dhcp-range=$NX_NET.1.10,$NX_NET.1.200
small_files="f0 f512 f513 f1468x7"
run_clients xdp=auto
nx_cli ip addr flush dev "$NX_CLI_IF"
timeout 30 ip netns exec "$NX_CLI" busybox udhcpc -f -q -n -t 5 -T 2 \
	-i "$NX_CLI_IF" -s /bin/true >>"$NX_TMP/udhcpc.log" 2>&1 ||
	nx_fail "udhcpc got no lease"
nx_cli_addr
atftp_get permac "$OUT/pm" && grep -q "for $CLI_MAC" "$OUT/pm" ||
	nx_fail "per-MAC file not served first ($(cat "$OUT/pm" 2>/dev/null))"
nx_log "ok: the client's MAC directory comes before the shared file"
nx_xbootd_stop
nx_pass
