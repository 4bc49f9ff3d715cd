#!/usr/bin/env bash
# The boot ISO (issue 7): El Torito with ISOLINUX for BIOS and an EFI FAT
# image (GRUB) for UEFI. qemu boots it from -cdrom with a NIC that has no
# option ROM:
#   1. SeaBIOS: ISOLINUX -> ipxe.lkrn and the medium's script, which asks
#      xbootd for an address and fetches GET /boot/MAC.ipxe; xbootd's
#      built-in script then boots build/bootenv from HTTP-ROOT/boot/default
#      with a fresh enrolment credential, and the agent registers from the
#      lease's address with the disc's NIC in its inventory
#   2. OVMF: GRUB boots the boot environment from the disc, whose /init gets
#      an address from xbootd and starts xboot-agent; the disc carries the
#      CA (an extra initramfs) and an enrolment credential, so the agent
#      registers with xbootd
# xorriso must read both boot images back; the EFI image must pass fsck.fat.
set -u
. "$(dirname "$0")/../lib/media.sh"
. "$(dirname "$0")/../lib/agent.sh"

MAC=52:54:00:f3:00:01
TIMEOUT=${XBT_BOOT_TIMEOUT:-120}
EFI_TIMEOUT=${XBT_EFI_BOOT_TIMEOUT:-300}
AGENT_TIMEOUT=${XBT_AGENT_TIMEOUT:-150}

mx_require uefi
ag_require
nx_require_cmd xorriso
nx_init miso
mx_bootenv
nx_pair
nx_bridge
nx_tap
mkdir -p "$NX_TMP/http/boot/default"
cp "$MX_KERNEL" "$MX_INITRD" "$NX_TMP/http/boot/default/"
mx_xbootd

iso=$NX_TMP/boot.iso
mx_make iso "$iso" --server $NX_SRV_IP:$MX_PORT --kernel "$MX_KERNEL" \
	--initrd "$MX_INITRD" --append "console=ttyS0"
xorriso -indev "$iso" -toc -report_el_torito plain >"$NX_TMP/toc.log" 2>&1
toc_rc=$?
sed 's/^/    xorriso: /' "$NX_TMP/toc.log" | grep -E 'El Torito|ISO session|Volume'
toc_has() { grep -Eq -- "$1" "$NX_TMP/toc.log"; }
nx_check [ $toc_rc = 0 ] -- "xorriso reads the image"
nx_check toc_has 'El Torito boot img : +1 +BIOS +y' -- "a bootable BIOS El Torito image"
nx_check toc_has 'El Torito boot img : +2 +UEFI +y' -- "a bootable UEFI El Torito image"
nx_check toc_has 'El Torito img path : +1 +/isolinux/isolinux.bin' -- "BIOS boots ISOLINUX"
xorriso -osirrox on -indev "$iso" -extract /efi.img "$NX_TMP/efi.img" >/dev/null 2>&1 ||
	nx_fail "cannot extract efi.img"
nx_check mx_fsck_fat "$NX_TMP/efi.img" -- "fsck.fat -n passes on the EFI image"
nx_check eval "MTOOLS_SKIP_CHECK=1 mdir -i '$NX_TMP/efi.img' ::/EFI/BOOT/BOOTX64.EFI >/dev/null" -- \
	"the EFI image holds EFI/BOOT/BOOTX64.EFI"

mx_boot bios bios $MAC -cdrom "$iso" -boot d
expect_script bios $MAC "SeaBIOS: the disc's iPXE fetched the machine's script"
lease=$(mx_lease $MAC)
nx_check test -n "$lease" -- "the machine holds a lease from xbootd ($lease)"
expect_agent bios $MAC "$lease" $AGENT_TIMEOUT

# This disc carries the CA the agent pins and an enrolment credential, as
# xbootd will when it builds media itself: the agent registers. Another
# MAC than the BIOS boot's, whose session is already in xbootd's log.
mac2=52:54:00:f3:00:02
cred=$(nx_ctl enrol $mac2) || nx_fail "xbootctl enrol $mac2: $cred"
iso2=$NX_TMP/boot-ca.iso
mx_make iso "$iso2" --server $NX_SRV_IP:$MX_PORT --kernel "$MX_KERNEL" \
	--initrd "$MX_INITRD" --ca "$NX_STATE/tls/ca.pem" --machine $mac2 \
	--enrol "$cred" --append "console=ttyS0"
mx_boot uefi uefi $mac2 -cdrom "$iso2"
mx_expect uefi "agent .*$mac2.*session [0-9a-f]+ up" $EFI_TIMEOUT \
	"OVMF: the disc's boot environment registered its agent with xbootd"
console_has() { qx_console uefi | grep -Eq -- "$1"; }
nx_log "console (OVMF, GRUB, Linux):"
qx_console uefi | grep -E 'xboot|Kernel command line' | head -n 8 | sed 's/^/    /'
nx_check console_has "Kernel command line: .*xboot.mac=$mac2" -- \
	"GRUB passed the machine's MAC to the boot environment"
nx_pass media_iso
