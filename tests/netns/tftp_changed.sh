#!/usr/bin/env bash
# A file that changes on disk during a TFTP transfer is never served mixed:
# a scripted lockstep client takes 5 blocks, then the file is overwritten
# in place (same size), or truncated, and the next ACK gets an ERROR
# ("file changed") instead of new bytes after old ones or an early end
# that looks complete; a file renamed over keeps its old inode, whose
# transfer completes whole with the old bytes.
#
#   ┌──── xbt-tc-PID-srv ────┐      ┌──── xbt-tc-PID-cli ────┐
#   │ xbootd xdp=off         │ veth │ python3 client         │
#   │ xbt-tc-s 10.77.0.1/16 ─┼──────┼─ xbt-tc-c 10.77.0.2/16 │
#   └────────────────────────┘      └────────────────────────┘
set -u
. "$(dirname "$0")/../lib/netns.sh"

nx_require_cmd python3
nx_require_xboot
nx_init tc
nx_pair
nx_cli_addr

ROOT=$NX_TMP/root
mkdir -p "$ROOT"
nx_xbootd xdp=off tftp-root="$ROOT" dhcp-range=$NX_NET.1.10,$NX_NET.1.200

cat >"$NX_TMP/client.py" <<'PY'
import os, socket, struct, sys, time
srv, root, how = sys.argv[1], sys.argv[2], sys.argv[3]
path = os.path.join(root, 'f')
old = os.urandom(512 * 40 + 100)
new = os.urandom(len(old))
with open(path, 'wb') as f:
    f.write(old)
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(3)
s.sendto(b'\0\1f\0octet\0', (srv, 69))
got, blk, tid = b'', 1, None
while True:
    p, a = s.recvfrom(2048)
    tid = tid or a
    op, b = struct.unpack('!HH', p[:4])
    if op == 5:
        print('ERROR %d %s after %d blocks' % (b, p[4:-1].decode(), blk - 1))
        sys.exit(0 if how in ('overwrite', 'truncate') and
                 p[4:-1] == b'file changed' else 1)
    assert op == 3 and b == blk & 0xffff, 'op %d block %d' % (op, b)
    got += p[4:]
    if blk == 5:
        # mtime is kept in clock ticks: the change must land in a later
        # one than the file's creation to be told apart from it.
        time.sleep(0.05)
        if how == 'overwrite':
            with open(path, 'r+b') as f:
                f.write(new)
        elif how == 'truncate':
            open(path, 'wb').close()
        elif how == 'rename':
            with open(path + '.tmp', 'wb') as f:
                f.write(new)
            os.rename(path + '.tmp', path)
    s.sendto(struct.pack('!HH', 4, blk & 0xffff), tid)
    if len(p) - 4 < 512:
        break
    blk += 1
print('complete: %d bytes, %s' % (len(got), 'old' if got == old else
      'new' if got == new else 'MIXED'))
sys.exit(0 if how == 'rename' and got == old else 1)
PY

for how in overwrite truncate rename; do
	out=$(nx_cli timeout 60 python3 "$NX_TMP/client.py" $NX_SRV_IP "$ROOT" $how 2>&1)
	rc=$?
	nx_check [ $rc -eq 0 ] -- "$how during the transfer: $out"
done
nx_check [ "$(nx_stat tftp transfers_failed)" -eq 2 ] -- "two transfers failed"

nx_xbootd_stop
nx_pass
