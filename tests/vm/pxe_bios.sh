#!/usr/bin/env bash
# A real BIOS PXE client: qemu with SeaBIOS and Debian's iPXE e1000 option
# ROM boots with `-boot n` on a tap bridged to xbootd's veth (XDP on). The
# ROM is iPXE, which sends user class "iPXE", so xbootd must classify it as
# `ipxe` and hand it the iPXE script URL; the console must show the lease
# and that URL, and the counters must show that XDP sent the OFFER.
#
# XBT_PEER=dnsmasq boots against dnsmasq instead (harness check).
set -u
. "$(dirname "$0")/../lib/netns.sh"
. "$(dirname "$0")/../lib/qemu.sh"

MAC=52:54:00:12:34:56
SCRIPT_URL=http://$NX_SRV_IP/boot.ipxe
TIMEOUT=90
PEER=${XBT_PEER:-}

nx_require_cmd perl
qx_require bios
[ -n "$PEER" ] || nx_require_xboot
nx_init vb
nx_pair
nx_bridge
nx_tap

if [ "$PEER" = dnsmasq ]; then
	nx_dnsmasq dnsmasq --dhcp-range=$NX_NET.1.10,$NX_NET.1.200,$NX_MASK,600 \
		--dhcp-option=3,$NX_SRV_IP --dhcp-userclass=set:ipxe,iPXE \
		--dhcp-boot=tag:ipxe,$SCRIPT_URL --dhcp-boot=tag:!ipxe,undionly.kpxe --log-dhcp
else
	nx_xbootd xdp=auto dhcp-range=$NX_NET.1.10,$NX_NET.1.200,$NX_MASK,600 \
		router=$NX_SRV_IP boot-file=bios,undionly.kpxe boot-file=ipxe,$SCRIPT_URL \
		ipv6-ra=pxe-clients
	nx_log "XDP mode on $NX_SRV_IF: $(nx_xdp_mode)"
fi

qx_boot pc bios $MAC
if ! qx_wait pc '^Filename: ' $TIMEOUT; then
	qx_console pc | tail -n 25 | sed 's/^/    console: /'
	nx_fail "no boot file reported on the console within ${TIMEOUT}s"
fi
qx_stop pc
nx_log "firmware console:"
qx_console pc | grep -E 'SeaBIOS|iPXE|net0|Configuring|Next server|Filename' | sed 's/^/    /'

console_has() { qx_console pc | grep -Eq -- "$1"; }
lease=$(qx_console pc | sed -n 's/^net0: \([0-9.]*\)\/.*/\1/p' | head -n 1)
nx_check [ -n "$lease" ] -- "iPXE configured net0 with an address ($lease)"
nx_check console_has "^net0: $lease/$NX_MASK gw $NX_SRV_IP\$" -- \
	"netmask $NX_MASK and gateway $NX_SRV_IP"
nx_check console_has "^Filename: $SCRIPT_URL\$" -- \
	"iPXE was handed the ipxe-class boot file $SCRIPT_URL"

if [ -z "$PEER" ]; then
	nx_log "xbootctl leases:"
	nx_ctl leases | sed 's/^/    /'
	nx_check [ "$(nx_ctl --json leases | nx_json "print(sum(l['mac'].lower() == '$MAC' for l in d['leases']))")" = 1 ] -- \
		"xbootd lists the lease of $MAC"
	nx_log "xbootctl stats:"
	nx_ctl stats | sed 's/^/    /'
	nx_check [ "$(nx_stat xdp tx_offer)" -gt 0 ] -- \
		"XDP answered the firmware (xdp.tx_offer=$(nx_stat xdp tx_offer))"
fi
nx_pass pxe_bios
