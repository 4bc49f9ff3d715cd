#!/usr/bin/env bash
# Relayed DHCP: ISC dhcrelay (with option 82) in a middle namespace forwards
# a busybox udhcpc client's requests to xbootd. The client must get an
# address from the relayed range with the range's router, xbootd must send
# its replies to the relay (port 67) and echo option 82 verbatim. With XDP
# on, XDP itself must have answered.
#
#   ┌ xbt-rl-PID-srv ──────┐    ┌ xbt-rl-PID-cli (relay) ───────┐    ┌ xbt-rl-PID-end ─┐
#   │ xbootd               │    │ dhcrelay -a                   │    │ udhcpc          │
#   │ xbt-rl-s 10.77.0.1   ├────┤ xbt-rl-c 10.77.0.2            │    │                 │
#   │ route 10.78.0.0/24   │    │ xbt-rl-r 10.78.0.1 (giaddr) ──┼────┤ xbt-rl-e        │
#   │   via 10.77.0.2      │    └───────────────────────────────┘    └─────────────────┘
#   └──────────────────────┘
#
# XBT_PEER=dnsmasq runs the same checks against dnsmasq (harness check).
set -u
. "$(dirname "$0")/../lib/netns.sh"

RELAY_NET=10.78.0
RANGE_START=$RELAY_NET.10
RANGE_END=$RELAY_NET.100
RELAY_MASK=255.255.255.0
PEER=${XBT_PEER:-}

nx_require_cmd dhcrelay isc-dhcp-relay
for c in busybox tcpdump python3; do nx_require_cmd $c; done
[ -n "$PEER" ] || nx_require_xboot
nx_init rl
nx_pair
nx_cli_addr
END_NS=$NX_ID-end
ip netns add $END_NS || nx_fail "ip netns add $END_NS"
ip link add xbt-rl-r netns "$NX_CLI" type veth peer name xbt-rl-e netns $END_NS ||
	nx_fail "cannot create a veth pair"
nx_cli ip addr add $RELAY_NET.1/24 dev xbt-rl-r
nx_cli ip link set xbt-rl-r up
nx_cli sysctl -qw net.ipv4.ip_forward=1
ip netns exec $END_NS ip link set lo up
ip netns exec $END_NS ip link set xbt-rl-e up
nx_srv ip route add $RELAY_NET.0/24 via $NX_CLI_IP
nx_log "relay namespace $NX_CLI: xbt-rl-r $RELAY_NET.1/24 -> client namespace $END_NS"

ip netns exec "$NX_CLI" dhcrelay -4 -d -a -pf "$NX_TMP/dhcrelay.pid" \
	-id xbt-rl-r -iu "$NX_CLI_IF" "$NX_SRV_IP" >"$NX_TMP/dhcrelay.log" 2>&1 &
nx_track $!
nx_wait_udp "$NX_CLI" 67 10 $! || nx_fail "dhcrelay did not start"
nx_log "dhcrelay running"

cat >"$NX_TMP/udhcpc.script" <<'EOF'
#!/bin/sh
case $1 in
bound|renew)
	{ echo "ip=$ip"; echo "mask=$subnet"; echo "router=$router"; } >"$XBT_OUT" ;;
esac
exit 0
EOF
chmod +x "$NX_TMP/udhcpc.script"

ip2int() {
	local IFS=. a b c d
	read -r a b c d <<<"$1"
	echo $(((a << 24) | (b << 16) | (c << 8) | d))
}

# The replies as the relay sees them: destination port and option 82.
relay_replies() {
	python3 - "$NX_TMP/relay.pcap" <<'PY'
import struct, sys
data = open(sys.argv[1], 'rb').read()
e = '<' if data[:4] == b'\xd4\xc3\xb2\xa1' else '>'
off = 24
while off + 16 <= len(data):
    caplen = struct.unpack(e + 'I', data[off + 8:off + 12])[0]
    p = data[off + 16:off + 16 + caplen]
    off += 16 + caplen
    ihl = (p[14] & 15) * 4
    dport = struct.unpack('!H', p[14 + ihl + 2:14 + ihl + 4])[0]
    d = p[14 + ihl + 8:]
    if len(d) < 240 or d[0] != 2:
        continue
    i, o82, t = 240, '-', 0
    while i + 1 < len(d) and d[i] != 255:
        if d[i] == 0:
            i += 1
            continue
        if d[i] == 82:
            o82 = d[i + 2:i + 2 + d[i + 1]].hex()
        if d[i] == 53:
            t = d[i + 2]
        i += 2 + d[i + 1]
    print(t, dport, o82)
PY
}

modes="off auto"
[ -n "$PEER" ] && modes=peer
n=0
for xdp in $modes; do
	nx_log "=== server with xdp=$xdp"
	rm -rf "$NX_STATE" && mkdir -p "$NX_STATE"
	if [ -n "$PEER" ]; then
		nx_dnsmasq dnsmasq --dhcp-range=$RANGE_START,$RANGE_END,$RELAY_MASK,600 \
			--dhcp-option=3,$RELAY_NET.1
	else
		nx_xbootd xdp="$xdp" dhcp-range=$RANGE_START,$RANGE_END,$RELAY_MASK,600 \
			router=$RELAY_NET.1
	fi
	offers=0
	[ -n "$PEER" ] || offers=$(nx_stat xdp tx_offer)
	n=$((n + 1))
	ip netns exec $END_NS ip link set xbt-rl-e address 52:54:00:dd:00:0$n
	nx_capture relay "udp and src host $NX_SRV_IP"
	out=$NX_TMP/udhcpc-$xdp.lease
	XBT_OUT=$out timeout 30 ip netns exec $END_NS busybox udhcpc -f -q -n -t 5 -T 2 \
		-i xbt-rl-e -s "$NX_TMP/udhcpc.script" >>"$NX_TMP/udhcpc.log" 2>&1
	nx_capture_stop
	[ -s "$out" ] || nx_fail "udhcpc behind the relay got no lease"
	nx_log "udhcpc behind the relay: $(tr '\n' ' ' <"$out")"
	ip=$(sed -n 's/^ip=//p' "$out")
	nx_check [ "$(ip2int "$ip")" -ge "$(ip2int $RANGE_START)" -a \
		"$(ip2int "$ip")" -le "$(ip2int $RANGE_END)" ] -- \
		"address $ip from the relayed range $RANGE_START-$RANGE_END"
	nx_check grep -qx "mask=$RELAY_MASK" "$out" -- "netmask $RELAY_MASK"
	nx_check grep -qx "router=$RELAY_NET.1" "$out" -- "router $RELAY_NET.1"
	relay_replies >"$NX_TMP/replies.txt"
	sed 's/^/    reply: type port option82 = /' "$NX_TMP/replies.txt"
	nx_check [ "$(awk '$1 == 2 || $1 == 5' "$NX_TMP/replies.txt" | wc -l)" -ge 2 ] -- \
		"OFFER and ACK went to the relay"
	nx_check [ -z "$(awk '$2 != 67' "$NX_TMP/replies.txt")" ] -- "replies sent to the relay's port 67"
	# dhcrelay -a sends circuit id (sub-option 1) = the downstream ifname.
	o82=0108$(printf %s xbt-rl-r | od -An -tx1 | tr -d ' \n')
	nx_check [ -z "$(awk -v o="$o82" '$3 != o' "$NX_TMP/replies.txt")" ] -- \
		"option 82 ($o82) echoed verbatim in every reply"
	if [ -z "$PEER" ]; then
		if [ "$xdp" != off ]; then
			nx_check [ "$(nx_stat xdp tx_offer)" -gt "$offers" ] -- \
				"XDP answered the relayed DISCOVER"
		fi
		nx_xbootd_stop
	else
		nx_stop_pid "$NX_DNSMASQ_PID"
	fi
done
nx_pass dhcp_relay
