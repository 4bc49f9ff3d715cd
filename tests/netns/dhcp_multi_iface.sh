#!/usr/bin/env bash
# One xbootd serving two interfaces (two subnets) with one XDP program:
# each client gets an address from its own interface's range, and the
# server identifier and next-server of that interface, whether XDP or the
# slow path answered.
#
#   ┌──── xbt-mi-PID-srv ────┐        ┌── xbt-mi-PID-cli ──┐
#   │ xbt-mi-s  10.77.0.1/16 ┼────────┼ xbt-mi-c           │
#   │ xbt-mi-s2 10.78.0.1/16 ┼──┐     └────────────────────┘
#   └────────────────────────┘  │     ┌── xbt-mi-PID-cli2 ─┐
#                               └─────┼ xbt-mi-c2          │
#                                     └────────────────────┘
set -u
. "$(dirname "$0")/../lib/netns.sh"

nx_require_cmd busybox
nx_require_xboot
nx_init mi
nx_pair
CLI2=$NX_ID-cli2
SRV_IF2=xbt-mi-s2
CLI_IF2=xbt-mi-c2
SRV_IP2=10.78.0.1
ip netns add "$CLI2" || nx_fail "ip netns add $CLI2"
ip link add "$SRV_IF2" netns "$NX_SRV" type veth peer name "$CLI_IF2" netns "$CLI2" ||
	nx_fail "cannot create the second veth pair"
nx_srv ip addr add $SRV_IP2/16 dev $SRV_IF2
nx_srv ip link set $SRV_IF2 up
ip netns exec "$CLI2" ip link set lo up
ip netns exec "$CLI2" ip link set $CLI_IF2 up
nx_xdp_pass "$CLI2" $CLI_IF2

script=$NX_TMP/udhcpc.script
cat >"$script" <<'EOF'
#!/bin/sh
[ "$1" = bound ] && echo "ip=$ip serverid=$serverid siaddr=$siaddr" >"$XBT_OUT"
exit 0
EOF
chmod +x "$script"

lease() { # NS IF OUT
	rm -f "$3"
	XBT_OUT=$3 timeout 30 ip netns exec "$1" busybox udhcpc -f -q -n -t 5 -T 2 \
		-i "$2" -s "$script" >>"$NX_TMP/udhcpc.log" 2>&1
	[ -s "$3" ] || nx_fail "no lease on $2 (see udhcpc.log)"
	nx_log "$2: $(cat "$3")"
}

for xdp in off auto; do
	nx_xbootd xdp=$xdp interface=$SRV_IF2 \
		dhcp-range=$NX_NET.1.10,$NX_NET.1.200 dhcp-range=10.78.1.10,10.78.1.200
	lease "$NX_CLI" "$NX_CLI_IF" "$NX_TMP/a.out"
	lease "$CLI2" "$CLI_IF2" "$NX_TMP/b.out"
	nx_check grep -q "ip=$NX_NET\.1\.[0-9]* serverid=$NX_SRV_IP " "$NX_TMP/a.out" -- \
		"xdp=$xdp: first interface: address and server id $NX_SRV_IP"
	nx_check grep -q "ip=10\.78\.1\.[0-9]* serverid=$SRV_IP2 " "$NX_TMP/b.out" -- \
		"xdp=$xdp: second interface: address and server id $SRV_IP2"
	if [ $xdp = auto ]; then
		offers=$(nx_stat xdp tx_offer)
		nx_check [ "${offers:-0}" -ge 2 ] -- "XDP answered both interfaces (tx_offer=$offers)"
	fi
	nx_xbootd_stop
	rm -f "$NX_STATE"/*
done
nx_pass
