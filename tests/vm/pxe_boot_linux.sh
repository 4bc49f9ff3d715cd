#!/usr/bin/env bash
# A whole network boot of a real PXE client into Linux (issue 3, "Real
# firmware"): qemu with SeaBIOS and Debian's iPXE ROM boots with `-boot n`
# on a tap bridged to xbootd's veth, no KVM.
#
#   DHCP (answered by XDP) -> iPXE gets http://SERVER:8080/boot.ipxe
#   -> xbootd renders the machine's script from the template below
#   -> the script fetches big.bin (1.5 MiB) over TFTP, then Debian's
#      kernel and a tiny initramfs (scripts/mkbootenv-test) over HTTP
#   -> the initramfs's /init prints "XBOOT-BOOT-OK <mac>" on the serial
#      console and powers off
#
# Checks: the marker (with the machine's own MAC), XDP sent the DHCP
# answers, TFTP completed the transfer, at least 1 MiB of it sent by the
# kernel's hot-block path (big.bin is tftp-hot; iPXE asks for blksize 1432,
# which XDP sends on a NIC with page-sized buffers and the TC tier on this
# veth), HTTP served the script, kernel and initrd (counters and xbootd's
# log).
set -u
. "$(dirname "$0")/../lib/netns.sh"
. "$(dirname "$0")/../lib/qemu.sh"

MAC=52:54:00:b0:07:01
PORT=8080
TIMEOUT=${XBT_BOOT_TIMEOUT:-150}

for c in perl python3 cpio; do nx_require_cmd $c; done
qx_require bios
nx_require_xboot
ls /boot/vmlinuz-* >/dev/null 2>&1 || nx_fail "no /boot/vmlinuz-*: run scripts/setup (linux-image-amd64)"
nx_init vl
nx_pair
nx_bridge
nx_tap

http=$NX_TMP/http
tftp=$NX_TMP/tftp
mkdir -p "$http/boot/default" "$tftp"
"$XBOOT_TOP/scripts/mkbootenv-test" "$http/boot/default" >>"$NX_TMP/mkbootenv.log" 2>&1 || {
	cat "$NX_TMP/mkbootenv.log"
	nx_fail "scripts/mkbootenv-test failed"
}
head -c $((1536 * 1024)) /dev/urandom >"$tftp/big.bin"

# The default template boots boot/PROFILE/{vmlinuz,initrd.img} too, but
# needs a serial console, panic= and the TFTP fetch on top.
cat >"$NX_TMP/boot.ipxe.tmpl" <<'EOF2'
#!ipxe
echo xboot: mac ${mac} ip ${ip} profile ${profile}
imgfetch tftp://${server_ip}/big.bin || goto failed
imgfree big.bin
kernel ${server}/boot/${profile}/vmlinuz initrd=initrd.img console=ttyS0 panic=5 xboot.server=${server} xboot.mac=${mac} || goto failed
initrd ${server}/boot/${profile}/initrd.img || goto failed
boot || goto failed
:failed
echo XBOOT-BOOT-FAILED
poweroff
EOF2

nx_xbootd xdp=auto dhcp-range=$NX_NET.1.10,$NX_NET.1.200,$NX_MASK,600 \
	router=$NX_SRV_IP boot-file=bios,undionly.kpxe \
	boot-file=ipxe,http://$NX_SRV_IP:$PORT/boot.ipxe \
	tftp-root="$tftp" tftp-hot=big.bin http-root="$http" http-port=$PORT \
	ipxe-script="$NX_TMP/boot.ipxe.tmpl" ipv6-ra=pxe-clients
nx_log "XDP mode on $NX_SRV_IF: $(nx_xdp_mode)"

qx_boot pc bios $MAC
qx_stamp pc
if ! qx_wait pc "XBOOT-BOOT-(OK|FAILED)" $TIMEOUT; then
	qx_console pc | tail -n 30 | sed 's/^/    console: /'
	tail -n 20 "$NX_TMP/xbootd.log" | sed 's/^/    xbootd: /'
	nx_fail "no boot marker on the console within ${TIMEOUT}s"
fi
# Give /init a moment to power off; qemu exits on its own.
powered_off=no
qx_wait_exit pc 10 && powered_off=yes
qx_stop pc

nx_log "console (firmware, iPXE, Linux):"
qx_console pc | grep -E 'iPXE [0-9]|net0:|Filename|xboot:|^(http|tftp)://|Linux version|Run /init|XBOOT-|reboot: Power' |
	sed 's/^/    /'
nx_log "xbootctl stats:"
nx_ctl stats | sed 's/^/    /'
# One snapshot of the counters for every check below.
stats=$(nx_ctl --json stats)
st() { nx_json "print(int((d.get('$1') or {}).get('$2') or 0))" <<<"$stats"; }

console_has() { qx_console pc | grep -Eq -- "$1"; }
log_has() { grep -Eq -- "$1" "$NX_TMP/xbootd.log"; }
nx_check console_has "^XBOOT-BOOT-OK $MAC\$" -- \
	"Linux's /init ran and printed XBOOT-BOOT-OK $MAC"
nx_check [ $powered_off = yes ] -- "the machine powered itself off"
nx_check [ "$(st xdp tx_offer)" -gt 0 ] -- \
	"XDP sent the DHCP offer (xdp.tx_offer=$(st xdp tx_offer))"
nx_check [ "$(st xdp tx_ack)" -gt 0 ] -- \
	"XDP sent the DHCP ack (xdp.tx_ack=$(st xdp tx_ack))"
nx_check [ "$(st tftp transfers_completed)" -ge 1 ] -- \
	"TFTP completed big.bin (tftp.transfers_completed=$(st tftp transfers_completed))"
nx_check log_has "tftp: .* gets 'big.bin' \\($((1536 * 1024)) bytes\\)" -- \
	"the TFTP transfer was big.bin, $((1536 * 1024)) bytes"
nx_check [ "$(st tftp transfers_failed)" -eq 0 ] -- "no TFTP transfer failed"
# Blocks of 1432 bytes or less: 1 MiB is at least 733 of them.
kblocks=$(($(st xdp tftp_blocks) + $(st xdp tftp_blocks_tc)))
nx_check [ $kblocks -ge $(((1 << 20) / 1432 + 1)) ] -- \
	"the kernel sent >= 1 MiB of big.bin ($kblocks blocks: XDP $(st xdp tftp_blocks), TC $(st xdp tftp_blocks_tc); userspace $(st tftp blocks_sent_user))"
nx_check [ "$(st http scripts)" -ge 1 ] -- \
	"HTTP rendered the iPXE script (http.scripts=$(st http scripts))"
nx_check [ "$(st http responses_2xx)" -ge 3 ] -- \
	"HTTP answered script, kernel and initrd with 2xx (http.responses_2xx=$(st http responses_2xx))"
min=$(($(stat -c %s "$http/boot/default/vmlinuz") + $(stat -c %s "$http/boot/default/initrd.img")))
nx_check [ "$(st http bytes_sent)" -ge $min ] -- \
	"HTTP sent at least the kernel and initrd ($min bytes; http.bytes_sent=$(st http bytes_sent))"
nx_check log_has 'http: GET /boot/default/vmlinuz' -- "xbootd served the kernel"
nx_check log_has 'http: GET /boot/default/initrd.img' -- "xbootd served the initrd"
nx_pass pxe_boot_linux
