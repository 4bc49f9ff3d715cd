#!/usr/bin/env bash
# Real DHCP clients no one here wrote get correct leases from xbootd: busybox
# udhcpc and ISC dhclient, with the XDP fast path off and on, plus a
# reservation (fixed address and hostname). With XDP on, the counters must
# show that XDP itself answered (OFFER and ACK sent with XDP_TX).
#
# The clients run in the client namespace with scripts that only record the
# lease (nothing is configured, on the host or in the namespace).
#
# XBT_PEER=dnsmasq runs the same client checks against dnsmasq instead, to
# check the harness itself.
set -u
. "$(dirname "$0")/../lib/netns.sh"

RANGE_START=$NX_NET.1.10
RANGE_END=$NX_NET.1.200
ROUTER=$NX_NET.0.254
DNS=$NX_NET.0.53
LEASE=1800
RESV_MAC=52:54:00:aa:bb:01
RESV_IP=$NX_NET.2.5
RESV_NAME=resvhost
PEER=${XBT_PEER:-}

for c in busybox dhclient python3; do nx_require_cmd $c; done
[ -n "$PEER" ] || nx_require_xboot
nx_init cl
nx_pair

ip2int() {
	local IFS=. a b c d
	read -r a b c d <<<"$1"
	echo $(((a << 24) | (b << 16) | (c << 8) | d))
}

# --- the clients: each writes KEY=VALUE lines of its lease to a file ------

udhcpc_script=$NX_TMP/udhcpc.script
cat >"$udhcpc_script" <<EOF
#!/bin/sh
case \$1 in
bound|renew)
	{
		echo "ip=\$ip"; echo "mask=\$subnet"; echo "router=\$router"
		echo "dns=\$dns"; echo "lease=\$lease"; echo "hostname=\${hostname:-}"
		echo "serverid=\$serverid"
	} >"\$XBT_OUT"
	;;
esac
exit 0
EOF
chmod +x "$udhcpc_script"

dhclient_script=$NX_TMP/dhclient.script
cat >"$dhclient_script" <<EOF
#!/bin/sh
case \$reason in
BOUND|RENEW|REBOOT)
	{
		echo "ip=\$new_ip_address"; echo "mask=\$new_subnet_mask"
		echo "router=\$new_routers"; echo "dns=\$new_domain_name_servers"
		echo "lease=\$new_dhcp_lease_time"; echo "hostname=\${new_host_name:-}"
		echo "serverid=\$new_dhcp_server_identifier"
	} >"$NX_TMP/dhclient.out"
	;;
esac
exit 0
EOF
chmod +x "$dhclient_script"

cat >"$NX_TMP/dhclient.conf" <<EOF
timeout 20;
retry 60;
initial-interval 1;
request subnet-mask, broadcast-address, routers, domain-name-servers,
	host-name, dhcp-lease-time;
EOF

# run_udhcpc OUT: one DORA, exits once bound (-q) or after 5 tries (-n).
run_udhcpc() {
	rm -f "$1"
	XBT_OUT=$1 timeout 30 ip netns exec "$NX_CLI" busybox udhcpc -f -q -n \
		-t 5 -T 2 -i "$NX_CLI_IF" -s "$udhcpc_script" \
		>>"$NX_TMP/udhcpc.log" 2>&1
}

# run_dhclient OUT: dhclient in the foreground until its script has
# recorded a lease (or 25 s), then stopped without a RELEASE.
run_dhclient() {
	local out=$NX_TMP/dhclient.out pid n=250
	rm -f "$out" "$NX_TMP/dhclient.leases"
	ip netns exec "$NX_CLI" dhclient -4 -d -v -1 -cf "$NX_TMP/dhclient.conf" \
		-sf "$dhclient_script" -lf "$NX_TMP/dhclient.leases" \
		-pf "$NX_TMP/dhclient.pid" "$NX_CLI_IF" >>"$NX_TMP/dhclient.log" 2>&1 &
	pid=$!
	nx_track $pid
	while [ $n -gt 0 ] && [ ! -s "$out" ] && kill -0 $pid 2>/dev/null; do
		sleep 0.1
		n=$((n - 1))
	done
	sleep 0.2 # let the script finish writing
	nx_stop_pid $pid 3
	[ -s "$out" ] && mv "$out" "$1"
}

lease_get() { # FILE KEY
	sed -n "s/^$2=//p" "$1"
}

# check_lease CLIENT FILE WANT_IP WANT_NAME: WANT_IP "" means "in the range".
check_lease() {
	local who=$1 f=$2 want_ip=$3 want_name=$4 ip
	[ -s "$f" ] || nx_fail "$who: no lease (see ${who%% *}.log)"
	nx_log "$who: $(tr '\n' ' ' <"$f")"
	ip=$(lease_get "$f" ip)
	if [ -n "$want_ip" ]; then
		nx_check [ "$ip" = "$want_ip" ] -- "$who: reserved address $want_ip (got $ip)"
	else
		nx_check [ "$(ip2int "$ip")" -ge "$(ip2int $RANGE_START)" -a \
			"$(ip2int "$ip")" -le "$(ip2int $RANGE_END)" ] -- \
			"$who: address $ip in $RANGE_START-$RANGE_END"
	fi
	nx_check [ "$(lease_get "$f" mask)" = $NX_MASK ] -- "$who: netmask $NX_MASK"
	nx_check [ "$(lease_get "$f" router)" = "$ROUTER" ] -- "$who: router $ROUTER"
	nx_check [ "$(lease_get "$f" dns)" = "$DNS" ] -- "$who: dns $DNS"
	nx_check [ "$(lease_get "$f" lease)" = "$LEASE" ] -- "$who: lease time $LEASE"
	nx_check [ "$(lease_get "$f" serverid)" = "$NX_SRV_IP" ] -- "$who: server id $NX_SRV_IP"
	[ -z "$want_name" ] ||
		nx_check [ "$(lease_get "$f" hostname)" = "$want_name" ] -- "$who: hostname $want_name"
}

# --- the server --------------------------------------------------------

start_server() { # XDP-MODE
	if [ "$PEER" = dnsmasq ]; then
		nx_dnsmasq dnsmasq --dhcp-range=$RANGE_START,$RANGE_END,$NX_MASK,$LEASE \
			--dhcp-option=3,$ROUTER --dhcp-option=6,$DNS \
			--dhcp-host=$RESV_MAC,$RESV_IP,$RESV_NAME --dhcp-authoritative
		return
	fi
	nx_xbootd xdp="$1" dhcp-range=$RANGE_START,$RANGE_END,$NX_MASK,$LEASE \
		router=$ROUTER dns=$DNS host=$RESV_MAC,$RESV_IP,$RESV_NAME
}

stop_server() {
	if [ "$PEER" = dnsmasq ]; then
		nx_stop_pid "$NX_DNSMASQ_PID"
	else
		nx_xbootd_stop
	fi
}

# xdp_counter NAME: one XDP counter of xbootd (0 against a peer).
xdp_counter() {
	if [ -n "$PEER" ]; then
		echo 0
	else
		nx_stat xdp "$1"
	fi
}

# one_client CLIENT MAC WANT_IP WANT_NAME XDP
one_client() {
	local client=$1 mac=$2 want_ip=$3 want_name=$4 xdp=$5 offers acks
	local out=$NX_TMP/$client.lease
	offers=$(xdp_counter tx_offer)
	acks=$(xdp_counter tx_ack)
	nx_cli_mac "$mac"
	nx_log "$client ($mac) asks for a lease"
	run_$client "$out"
	check_lease "$client $mac" "$out" "$want_ip" "$want_name"
	[ -n "$PEER" ] && return
	if [ "$xdp" = off ]; then
		nx_check [ "$(xdp_counter tx_offer)" -eq 0 ] -- "$client: no XDP reply with xdp=off"
	else
		nx_check [ "$(xdp_counter tx_offer)" -gt "$offers" ] -- \
			"$client: XDP sent the OFFER (xdp.tx_offer $offers -> $(xdp_counter tx_offer))"
		nx_check [ "$(xdp_counter tx_ack)" -gt "$acks" ] -- \
			"$client: XDP sent the ACK (xdp.tx_ack $acks -> $(xdp_counter tx_ack))"
	fi
}

modes="off auto"
[ -n "$PEER" ] && modes=peer
n=0
for xdp in $modes; do
	nx_log "=== server with xdp=$xdp"
	rm -rf "$NX_STATE" && mkdir -p "$NX_STATE"
	start_server "$xdp"
	if [ -z "$PEER" ]; then
		mode=$(nx_xdp_mode)
		nx_log "xbootd reports XDP mode '$mode' on $NX_SRV_IF"
		if [ "$xdp" = off ]; then
			nx_check [ "$mode" = off ] -- "xdp=off: XDP not attached"
		else
			nx_check [ "$mode" = native -o "$mode" = generic ] -- \
				"xdp=auto: XDP attached (native or generic)"
		fi
	fi
	n=$((n + 1))
	one_client udhcpc 52:54:00:aa:0$n:01 "" "" "$xdp"
	one_client dhclient 52:54:00:aa:0$n:02 "" "" "$xdp"
	one_client udhcpc $RESV_MAC "$RESV_IP" "$RESV_NAME" "$xdp"
	one_client dhclient $RESV_MAC "$RESV_IP" "$RESV_NAME" "$xdp"
	if [ -z "$PEER" ]; then
		nx_log "xbootctl leases:"
		nx_ctl leases | sed 's/^/    /'
		nx_check [ -z "$(nx_leases_dups)" ] -- "no address leased twice"
	fi
	stop_server
done
nx_pass dhcp_clients
