#!/usr/bin/env bash
# ipv6-ra=pxe-clients: xbootd answers a router solicitation with a quiet
# router advertisement (router lifetime 0, no prefix, no M/O flags), so
# iPXE's IPv6 configuration ends at once instead of after ~15 s; but only
# to a client that holds a lease from it, only with hop limit 255, and
# never with ipv6-ra=off (the default).
#
#   xbt-ra-PID-srv: xbootd on xbt-ra-s ── veth ── xbt-ra-c: udhcpc, then
#                   10.77.0.1/16                   router solicitations
#                                                  (python3, raw ICMPv6)
set -u
. "$(dirname "$0")/../lib/netns.sh"

MAC=52:54:00:ee:00:01
OTHER=52:54:00:ee:00:99

nx_require_cmd python3
nx_require_cmd busybox busybox-static
nx_require_xboot
nx_init ra
nx_pair
nx_cli_mac "$MAC"

# The veths' link-local addresses must have passed DAD to be used.
for i in $(seq 50); do
	nx_srv ip -6 addr show dev "$NX_SRV_IF" | grep -q tentative ||
		nx_cli ip -6 addr show dev "$NX_CLI_IF" | grep -q tentative || break
	sleep 0.1
done

cat >"$NX_TMP/rs.py" <<'PY'
# rs.py IFNAME MAC HOPS: send one router solicitation (with MAC as its
# source link-layer address) to ff02::2 and print the advertisement that
# answers it within 2 s; exit 1 when none does.
import select, socket, struct, sys, time

ifname, mac, hops = sys.argv[1], bytes.fromhex(sys.argv[2].replace(':', '')), int(sys.argv[3])
s = socket.socket(socket.AF_INET6, socket.SOCK_RAW, socket.IPPROTO_ICMPV6)
s.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, ifname.encode())
s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_HOPS, hops)
rs = struct.pack('!BBHI', 133, 0, 0, 0) + bytes([1, 1]) + mac
s.sendto(rs, ('ff02::2', 0, 0, socket.if_nametoindex(ifname)))
end = time.time() + 2
while time.time() < end:
    if not select.select([s], [], [], max(0, end - time.time()))[0]:
        break
    buf, src = s.recvfrom(1500)
    if len(buf) >= 16 and buf[0] == 134:
        hop, flags, lifetime = struct.unpack('!BBH', buf[4:8])
        print('RA from %s: hop limit %d, flags 0x%02x, router lifetime %d, %d bytes'
              % (src[0], hop, flags, lifetime, len(buf)))
        sys.exit(0)
print('no router advertisement')
sys.exit(1)
PY
rs() { nx_cli python3 "$NX_TMP/rs.py" "$NX_CLI_IF" "$@"; }

lease() {
	nx_cli busybox udhcpc -i "$NX_CLI_IF" -n -q -t 5 -s /bin/true >>"$NX_TMP/udhcpc.log" 2>&1 ||
		nx_fail "udhcpc got no lease"
}

nx_log "ipv6-ra=off (the default): no advertisement"
nx_xbootd dhcp-range=$NX_NET.1.10,$NX_NET.1.200,$NX_MASK,600
lease
out=$(rs "$MAC" 255)
nx_check [ "$out" = 'no router advertisement' ] -- "no RA with ipv6-ra=off ($out)"
nx_xbootd_stop

nx_log "ipv6-ra=pxe-clients"
nx_xbootd dhcp-range=$NX_NET.1.10,$NX_NET.1.200,$NX_MASK,600 ipv6-ra=pxe-clients
lease
out=$(rs "$MAC" 255)
nx_log "$out"
case $out in
*"router lifetime 0,"*"flags 0x00"* | *"flags 0x00, router lifetime 0,"*) ok=1 ;;
*) ok=0 ;;
esac
nx_check [ $ok = 1 ] -- "a quiet RA (lifetime 0, no flags) to the client with a lease"
out=$(rs "$OTHER" 255)
nx_check [ "$out" = 'no router advertisement' ] -- "no RA to a MAC without a lease ($out)"
out=$(rs "$MAC" 64)
nx_check [ "$out" = 'no router advertisement' ] -- "no RA to a solicitation with hop limit 64 ($out)"
nx_xbootd_stop
nx_pass "router advertisements only where asked for"
