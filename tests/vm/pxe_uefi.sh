#!/usr/bin/env bash
# A real UEFI PXE client: qemu with OVMF and Debian's iPXE EFI e1000 ROM
# boots with `-boot n` on a tap bridged to xbootd's veth (XDP on). OVMF
# first runs the ROM's iPXE (user class "iPXE": the `ipxe` class, handed the
# script URL), then its own PXE client, which sends architecture 7: the
# `efi64` class, which must be handed the efi64 boot file. Both show on the
# serial console; the counters must show that XDP sent OFFERs.
#
# XBT_PEER=dnsmasq boots against dnsmasq instead (harness check).
set -u
. "$(dirname "$0")/../lib/netns.sh"
. "$(dirname "$0")/../lib/qemu.sh"

MAC=52:54:00:12:34:57
SCRIPT_URL=http://$NX_SRV_IP/boot.ipxe
EFI_FILE=ipxe.efi
TIMEOUT=150
PEER=${XBT_PEER:-}

nx_require_cmd perl
qx_require uefi
[ -n "$PEER" ] || nx_require_xboot
nx_init vu
nx_pair
nx_bridge
nx_tap

if [ "$PEER" = dnsmasq ]; then
	nx_dnsmasq dnsmasq --dhcp-range=$NX_NET.1.10,$NX_NET.1.200,$NX_MASK,600 \
		--dhcp-option=3,$NX_SRV_IP --dhcp-userclass=set:ipxe,iPXE \
		--dhcp-match=set:efi64,option:client-arch,7 \
		--dhcp-boot=tag:ipxe,$SCRIPT_URL --dhcp-boot=tag:!ipxe,tag:efi64,$EFI_FILE --log-dhcp
else
	nx_xbootd xdp=auto dhcp-range=$NX_NET.1.10,$NX_NET.1.200,$NX_MASK,600 \
		router=$NX_SRV_IP boot-file=bios,undionly.kpxe boot-file=efi64,$EFI_FILE \
		boot-file=ipxe,$SCRIPT_URL ipv6-ra=pxe-clients
	nx_log "XDP mode on $NX_SRV_IF: $(nx_xdp_mode)"
fi

qx_boot pc uefi $MAC
if ! qx_wait pc 'NBP filename is|PXE-E' $TIMEOUT; then
	qx_console pc | tail -n 25 | sed 's/^/    console: /'
	nx_fail "OVMF's PXE client reported no boot file within ${TIMEOUT}s"
fi
sleep 1 # the rest of OVMF's PXE report
qx_stop pc
nx_log "firmware console:"
qx_console pc | grep -E 'iPXE|net0:|Configuring|Filename|PXE|Station|Server IP|NBP' | sed 's/^/    /'

console_has() { qx_console pc | grep -Eq -- "$1"; }
nx_check console_has "^Filename: $SCRIPT_URL\$" -- \
	"iPXE (EFI) was handed the ipxe-class boot file $SCRIPT_URL"
nx_check console_has "Start PXE over IPv4" -- "OVMF's own PXE client ran"
ip=$(qx_console pc | sed -n 's/.*Station IP address is \([0-9.]*\).*/\1/p' | head -n 1)
nx_check [ -n "$ip" ] -- "OVMF's PXE client got an address ($ip)"
nx_check console_has "NBP filename is $EFI_FILE\$" -- \
	"OVMF (arch 7) was handed the efi64 boot file $EFI_FILE"

if [ -z "$PEER" ]; then
	nx_log "xbootctl leases:"
	nx_ctl leases | sed 's/^/    /'
	nx_log "xbootctl stats:"
	nx_ctl stats | sed 's/^/    /'
	nx_check [ "$(nx_stat xdp tx_offer)" -gt 0 ] -- \
		"XDP answered the firmware (xdp.tx_offer=$(nx_stat xdp tx_offer))"
fi
nx_pass pxe_uefi
