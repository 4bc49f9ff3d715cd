#!/usr/bin/env bash
# The boot USB disk (issue 7): an MBR disk image with one active FAT
# partition of type 0xef (the ESP). qemu boots it as a USB stick (xHCI
# usb-storage) with a NIC that has no option ROM:
#   1. SeaBIOS: SYSLINUX -> ipxe.lkrn and the medium's script, which asks
#      xbootd for an address and fetches GET /boot/MAC.ipxe; xbootd's
#      built-in script then boots build/bootenv from HTTP-ROOT/boot/default
#      with a fresh enrolment credential, and the agent registers from the
#      lease's address with the stick's NIC in its inventory
#   2. OVMF: EFI/BOOT/BOOTX64.EFI (GRUB) boots the boot environment carried
#      on the stick with a static address (--ip, --gateway) and an
#      enrolment credential; its /init fetches the CA its agent pins (GET
#      /xboot/ca.pem) and the agent registers with xbootd
# The partition must pass fsck.fat -n; the MBR must hold what we wrote.
set -u
. "$(dirname "$0")/../lib/media.sh"
. "$(dirname "$0")/../lib/agent.sh"

MAC=52:54:00:f2:00:01
STATIC=10.77.2.60
TIMEOUT=${XBT_BOOT_TIMEOUT:-120}
EFI_TIMEOUT=${XBT_EFI_BOOT_TIMEOUT:-300}
AGENT_TIMEOUT=${XBT_AGENT_TIMEOUT:-150}

mx_require uefi
ag_require
nx_init musb
mx_bootenv
nx_pair
nx_bridge
nx_tap
mkdir -p "$NX_TMP/http/boot/default"
cp "$MX_KERNEL" "$MX_INITRD" "$NX_TMP/http/boot/default/"
mx_xbootd

img=$NX_TMP/usb.img
mx_make usb "$img" --server $NX_SRV_IP --kernel "$MX_KERNEL" --initrd "$MX_INITRD" \
	--append "console=ttyS0"
nx_check mx_fsck_fat "$img" 1048576 -- "fsck.fat -n passes on the partition"
mbr=$(od -An -tx1 -j446 -N16 "$img" | tr -d ' \n')
nx_check [ "${mbr:0:2}" = 80 ] -- "the partition is active ($mbr)"
nx_check [ "${mbr:8:2}" = ef ] -- "the partition is an EFI system partition"
nx_check [ "$(od -An -tx1 -j510 -N2 "$img" | tr -d ' \n')" = 55aa ] -- "the MBR is signed"
for f in ::/EFI/BOOT/BOOTX64.EFI ::/xboot/vmlinuz ::/xboot/initrd.img ::/ipxe.lkrn ::/ldlinux.sys; do
	nx_check eval "MTOOLS_SKIP_CHECK=1 mdir -a -i '$img@@1M' $f >/dev/null" -- "the stick has $f"
done

stick=(-device qemu-xhci -drive "if=none,id=stick,format=raw,snapshot=on,file=$img"
	-device usb-storage,drive=stick,bootindex=1)

mx_boot bios bios $MAC "${stick[@]}"
expect_script bios $MAC "SeaBIOS: the stick's iPXE fetched the machine's script"
lease=$(mx_lease $MAC)
nx_check test -n "$lease" -- "the machine holds a lease from xbootd ($lease)"
expect_agent bios $MAC "$lease" $AGENT_TIMEOUT

# UEFI with a static address and an enrolment credential: no DHCP; the
# boot environment fetches the CA from xbootd and its agent registers.
mac2=52:54:00:f2:00:02
cred=$(nx_ctl enrol $mac2) || nx_fail "xbootctl enrol $mac2: $cred"
img2=$NX_TMP/usb-static.img
mx_make usb "$img2" --server $NX_SRV_IP --kernel "$MX_KERNEL" --initrd "$MX_INITRD" \
	--machine $mac2 --ip $STATIC/16 --gateway $NX_SRV_IP --enrol "$cred" \
	--append "console=ttyS0"
nx_check mx_fsck_fat "$img2" 1048576 -- "fsck.fat -n passes on the partition (static)"
stick=(-device qemu-xhci -drive "if=none,id=stick,format=raw,snapshot=on,file=$img2"
	-device usb-storage,drive=stick,bootindex=1)
MARK=$(ag_log_mark)
mx_boot uefi uefi $mac2 "${stick[@]}"
mx_expect uefi "agent $STATIC:[0-9]+ \\($mac2\\): session [0-9a-f]+ up" $EFI_TIMEOUT \
	"OVMF: the stick's boot environment registered its agent from $STATIC"
nx_check eval "ag_log_since $MARK | grep -qF 'http: GET /xboot/ca.pem'" -- \
	"it fetched the CA from xbootd"
nx_check eval "! nx_ctl leases | grep -qi '$mac2'" -- "the static machine took no lease"
nx_log "console (OVMF, GRUB, Linux):"
qx_console uefi | grep -E 'xboot|Kernel command line' | head -n 10 | sed 's/^/    /'
nx_pass media_usb
