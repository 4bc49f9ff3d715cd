#!/usr/bin/env bash
# Kea's perfdhcp runs a bounded DORA load against xbootd, with the XDP fast
# path off and on: fewer than 1% of the exchanges may be lost, and the lease
# table must hold every client once and never an address twice.
#
# perfdhcp talks like a relay (giaddr = its address, source port 67), so this
# also covers relayed requests from a local relay.
#
# XBT_PEER=dnsmasq|kea runs the same load against a reference server, to
# check the harness itself.
set -u
. "$(dirname "$0")/../lib/netns.sh"

RANGE_START=$NX_NET.1.0
RANGE_END=$NX_NET.255.254
CLIENTS=500
RATE=250
SECONDS_PER_RUN=5
PEER=${XBT_PEER:-}
NX_XBOOTD_V= # a load test: no per-packet debug log

nx_require_cmd perfdhcp kea-admin
nx_require_cmd python3
[ -n "$PEER" ] || nx_require_xboot
nx_init pd
nx_pair
nx_cli_addr

start_server() { # XDP-MODE
	case $PEER in
	dnsmasq)
		nx_dnsmasq dnsmasq --quiet-dhcp --dhcp-authoritative \
			--dhcp-range=$RANGE_START,$RANGE_END,$NX_MASK,3600 --dhcp-lease-max=70000
		;;
	kea) nx_kea $RANGE_START $RANGE_END ;;
	*)
		# -v logs every packet at debug level: too much for a load test.
		nx_xbootd xdp="$1" dhcp-range=$RANGE_START,$RANGE_END,$NX_MASK,3600 \
			router=$NX_SRV_IP
		;;
	esac
}

stop_server() {
	case $PEER in
	dnsmasq) nx_stop_pid "$NX_DNSMASQ_PID" ;;
	kea) nx_stop_pid "$NX_KEA_PID" ;;
	*) nx_xbootd_stop ;;
	esac
}

# check_leases: every lease in the range, bound, one per MAC, no address
# twice, and no more leases than clients.
check_leases() {
	local bad
	bad=$(nx_ctl --json leases | nx_json "
import ipaddress
lo, hi = ipaddress.ip_address('$RANGE_START'), ipaddress.ip_address('$RANGE_END')
ips, macs = {}, {}
for l in d.get('leases', []):
    ips.setdefault(l['ip'], set()).add(l['mac'].lower())
    macs.setdefault(l['mac'].lower(), set()).add(l['ip'])
    if not lo <= ipaddress.ip_address(l['ip']) <= hi:
        print('out of range:', l)
for ip, m in ips.items():
    if len(m) > 1:
        print('address', ip, 'leased to', sorted(m))
for mac, a in macs.items():
    if len(a) > 1:
        print('client', mac, 'holds', sorted(a))
if len(macs) > $CLIENTS:
    print(len(macs), 'clients leased, only $CLIENTS simulated')
print('leases:', len(ips), file=sys.stderr)")
	[ -z "$bad" ] || {
		echo "$bad" | head -n 20
		nx_fail "lease table inconsistent"
	}
	nx_log "ok: lease table: every address once, every client once"
}

modes="off auto"
[ -n "$PEER" ] && modes=peer
for xdp in $modes; do
	nx_log "=== server with xdp=$xdp"
	rm -rf "$NX_STATE" && mkdir -p "$NX_STATE"
	start_server "$xdp"
	if [ -z "$PEER" ] && [ "$xdp" != off ]; then
		mode=$(nx_xdp_mode)
		nx_check [ "$mode" = native -o "$mode" = generic ] -- "XDP attached ($mode)"
	fi
	nx_log "perfdhcp: $CLIENTS clients, $RATE DORA/s for ${SECONDS_PER_RUN}s"
	nx_perfdhcp "perfdhcp-$xdp" -R $CLIENTS -r $RATE -p $SECONDS_PER_RUN -W 1000000
	nx_log "$(nx_perfdhcp_summary)"
	nx_check [ "$PD_DO_SENT" -ge $((RATE * SECONDS_PER_RUN / 2)) ] -- \
		"perfdhcp sent its load ($PD_DO_SENT DISCOVERs)"
	nx_check [ "$PD_MALFORMED" -eq 0 ] -- "no malformed replies ($PD_MALFORMED)"
	nx_check nx_drops_below "$PD_DO_SENT" "$PD_DO_RECV" 1 -- \
		"DISCOVER->OFFER drops $(nx_drop_pct "$PD_DO_SENT" "$PD_DO_RECV")% < 1%"
	nx_check nx_drops_below "$PD_RA_SENT" "$PD_RA_RECV" 1 -- \
		"REQUEST->ACK drops $(nx_drop_pct "$PD_RA_SENT" "$PD_RA_RECV")% < 1%"
	if [ -z "$PEER" ]; then
		check_leases
		nx_log "xbootctl stats:"
		nx_ctl stats | sed 's/^/    /'
		offers=$(nx_stat xdp tx_offer)
		acks=$(nx_stat xdp tx_ack)
		if [ "$xdp" = off ]; then
			nx_check [ "$offers" -eq 0 -a "$acks" -eq 0 ] -- "xdp=off: no XDP replies"
		else
			# The fast path must carry the load, not just a part of it
			# (the slow path may take a few, e.g. while queues refill).
			nx_check [ $((offers * 10)) -ge $((PD_DO_RECV * 9)) -a \
				$((acks * 10)) -ge $((PD_RA_RECV * 9)) ] -- \
				"XDP answered >= 90%: $offers of $PD_DO_RECV OFFERs, $acks of $PD_RA_RECV ACKs"
		fi
	fi
	stop_server
done
nx_pass dhcp_perfdhcp
