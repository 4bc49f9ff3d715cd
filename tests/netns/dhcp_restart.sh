#!/usr/bin/env bash
# Leases survive `kill -9`: xbootd (XDP on) is killed in the middle of a
# perfdhcp run and restarted on the same state directory. Every lease it
# listed before the kill must still be listed, and no address may ever be
# handed to two clients: neither in the union of the lease tables before and
# after, nor on the wire (every DHCPACK of the whole test is captured).
#
# XBT_PEER=dnsmasq runs the same sequence against dnsmasq (its lease file
# stands in for `xbootctl leases`), to check the harness itself.
set -u
. "$(dirname "$0")/../lib/netns.sh"

RANGE_START=$NX_NET.1.0
RANGE_END=$NX_NET.255.254
PEER=${XBT_PEER:-}
NX_XBOOTD_V= # a load test: no per-packet debug log
# How long a lease has been listed before the kill: persistence may batch
# writes, but not for longer than this.
GRACE_S=1

nx_require_cmd perfdhcp kea-admin
for c in tcpdump python3; do nx_require_cmd $c; done
[ -n "$PEER" ] || nx_require_xboot
nx_init rs
nx_pair
nx_cli_addr

start_server() {
	if [ "$PEER" = dnsmasq ]; then
		nx_dnsmasq dnsmasq --quiet-dhcp --dhcp-authoritative \
			--dhcp-range=$RANGE_START,$RANGE_END,$NX_MASK,3600 --dhcp-lease-max=70000
		SERVER_PID=$NX_DNSMASQ_PID
	else
		nx_xbootd xdp=auto dhcp-range=$RANGE_START,$RANGE_END,$NX_MASK,3600
		SERVER_PID=$NX_XBOOTD_PID
	fi
}

# leases_json FILE: the server's lease table as xbootctl's JSON.
leases_json() {
	if [ "$PEER" = dnsmasq ]; then
		python3 - "$NX_TMP/dnsmasq.leases" >"$1" <<'PY'
import json, sys
ls = []
for line in open(sys.argv[1]):
    f = line.split()
    if len(f) >= 3:
        ls.append({'mac': f[1], 'ip': f[2], 'state': 'bound', 'expires': int(f[0])})
print(json.dumps({'leases': ls}))
PY
	else
		nx_ctl --json leases >"$1" || nx_fail "xbootctl leases failed"
	fi
}

count_leases() { nx_json "print(len(d['leases']))" <"$1"; }

nx_capture wire "udp and src host $NX_SRV_IP and src port 67"
start_server
[ -n "$PEER" ] || nx_log "XDP mode: $(nx_xdp_mode)"

# Run 1: 3000 clients at 300 DORA/s for 8 s; the server dies after ~3 s.
nx_log "run 1: perfdhcp, 3000 clients; kill -9 the server in the middle"
nx_perfdhcp run1 -R 3000 -r 300 -p 8 -b mac=52:54:01:00:00:00 &
pd=$!
sleep 3
leases_json "$NX_TMP/before.json"
sleep $GRACE_S
kill -KILL "$SERVER_PID"
wait "$SERVER_PID" 2>/dev/null
killed_at=$(date +%s.%N)
nx_log "killed the server (pid $SERVER_PID) with $(count_leases "$NX_TMP/before.json") leases listed ${GRACE_S}s earlier"
wait $pd || nx_fail "perfdhcp run 1 could not run (see run1.log)"
nx_check [ "$(count_leases "$NX_TMP/before.json")" -gt 0 ] -- "leases were granted before the kill"

# The restart: same state directory.
start_server
restarted_at=$(date +%s.%N)
leases_json "$NX_TMP/after.json"
nx_log "restarted: $(count_leases "$NX_TMP/after.json") leases listed"
missing=$(python3 - "$NX_TMP/before.json" "$NX_TMP/after.json" <<'PY'
import json, sys
before = json.load(open(sys.argv[1]))['leases']
after = {(l['mac'].lower(), l['ip']) for l in json.load(open(sys.argv[2]))['leases']}
for l in before:
    if (l['mac'].lower(), l['ip']) not in after:
        print(l['mac'], l['ip'])
PY
)
[ -z "$missing" ] || {
	echo "$missing" | head -n 20 | sed 's/^/    lost: /'
	nx_fail "$(echo "$missing" | wc -l) leases listed before the kill are gone"
}
nx_log "ok: every lease listed before the kill is still listed"

# Run 2: new clients after the restart.
nx_log "run 2: perfdhcp, 1000 new clients"
nx_perfdhcp run2 -R 1000 -r 300 -p 4 -W 1000000 -b mac=52:54:02:00:00:00
nx_log "$(nx_perfdhcp_summary)"
nx_check nx_drops_below "$PD_DO_SENT" "$PD_DO_RECV" 1 -- \
	"after the restart: DISCOVER->OFFER drops $(nx_drop_pct "$PD_DO_SENT" "$PD_DO_RECV")% < 1%"
nx_check nx_drops_below "$PD_RA_SENT" "$PD_RA_RECV" 1 -- \
	"after the restart: REQUEST->ACK drops $(nx_drop_pct "$PD_RA_SENT" "$PD_RA_RECV")% < 1%"
sleep 0.5
leases_json "$NX_TMP/final.json"
nx_capture_stop

nx_pcap_dhcp "$NX_TMP/wire.pcap" >"$NX_TMP/wire.txt"
nx_log "captured $(awk '$1 == 5' "$NX_TMP/wire.txt" | wc -l) DHCPACKs on the wire," \
	"$(awk -v k="$killed_at" -v r="$restarted_at" '$1 == 5 && $4 > k && $4 < r' \
		"$NX_TMP/wire.txt" | wc -l) of them while no server ran (between the kill and the restart)"
dups=$(python3 - "$NX_TMP/before.json" "$NX_TMP/after.json" "$NX_TMP/final.json" \
	"$NX_TMP/wire.txt" "$killed_at" <<'PY'
import json, sys
holders = {}
for f in sys.argv[1:4]:
    for l in json.load(open(f))['leases']:
        holders.setdefault(l['ip'], set()).add(l['mac'].lower())
for ip, m in holders.items():
    if len(m) > 1:
        print('lease tables: %s -> %s' % (ip, ' '.join(sorted(m))))
acked = {}
killed = float(sys.argv[5])
for line in open(sys.argv[4]):
    t, mac, ip, ts = line.split()
    if t == '5':
        acked.setdefault(ip, {}).setdefault(mac, float(ts))
for ip, m in acked.items():
    if len(m) > 1:
        print('on the wire: %s ACKed to %s' % (ip, ', '.join(
            '%s (%+.3fs from the kill)' % (mac, ts - killed)
            for mac, ts in sorted(m.items(), key=lambda x: x[1]))))
PY
)
[ -z "$dups" ] || {
	echo "$dups" | head -n 20 | sed 's/^/    /'
	nx_fail "an address was handed to two clients ($(echo "$dups" | wc -l) cases)"
}
nx_log "ok: no address held by or ACKed to two clients"
nx_pass dhcp_restart
