#!/usr/bin/env bash
# The boot floppy (issue 7): a 1.44 MB FAT12 image, SYSLINUX -> ipxe.lkrn
# with the medium's iPXE script. qemu (SeaBIOS, -fda, a NIC with no option
# ROM) boots it twice, each time through to the boot environment's agent:
#   1. DHCP: iPXE asks xbootd for an address, then fetches the machine's
#      script, GET /boot/MAC.ipxe, from xbootd's HTTP server
#   2. --machine MAC --ip CIDR --gateway GW: no DHCP at all; the script
#      request comes from the static address
# xbootd's own (built-in) script then boots build/bootenv from
# HTTP-ROOT/boot/default with a fresh enrolment credential and the CA's
# URL; the agent enrols and `xbootctl machine MAC` shows it connected, from
# the lease's address (1) or the static one, which the medium hands on
# through ${xboot_ip} (2). The built-in script asks for no serial console,
# so a failure shows iPXE's lines and xbootd's log, not Linux's.
# The image must pass fsck.fat -n. Both floppies are made the way an
# operator makes them: `xbootctl media create` through the running xbootd
# (POST /media), the first with xbootd's own defaults for the server.
set -u
. "$(dirname "$0")/../lib/media.sh"
. "$(dirname "$0")/../lib/agent.sh"

# ctl_make TYPE FILE ARGS...: xbootctl media create, which xbootd answers
# when the image is written
ctl_make() {
	local type=$1 out=$2
	shift 2
	nx_log "xbootctl media create --type $type --out $out $*"
	nx_ctl media create --type "$type" --out "$out" "$@" | sed 's/^/    /'
	[ "${PIPESTATUS[0]}" = 0 ] || nx_fail "xbootctl media create --type $type failed"
}

MAC=52:54:00:f1:00:01
STATIC=10.77.2.50
TIMEOUT=${XBT_BOOT_TIMEOUT:-120}
AGENT_TIMEOUT=${XBT_AGENT_TIMEOUT:-150}

mx_require bios
ag_require
nx_init mfl
mx_bootenv
nx_pair
nx_bridge
nx_tap
mkdir -p "$NX_TMP/http/boot/default"
cp "$MX_KERNEL" "$MX_INITRD" "$NX_TMP/http/boot/default/"
mx_xbootd

img=$NX_TMP/dhcp.img
ctl_make floppy "$img"
nx_check [ "$(stat -c %s "$img")" -eq 1474560 ] -- "the image is 1.44 MB"
nx_check mx_fsck_fat "$img" -- "fsck.fat -n passes"
nx_check eval "MTOOLS_SKIP_CHECK=1 minfo -i '$img' | grep -q 'banner:\"SYSLINUX\"'" -- \
	"the boot sector is SYSLINUX's"

mx_boot dhcp bios $MAC -drive "if=floppy,format=raw,file=$img" -boot a
expect_script dhcp $MAC "DHCP: the floppy's iPXE fetched the machine's script"
lease=$(mx_lease $MAC)
nx_check test -n "$lease" -- "the machine holds a lease from xbootd ($lease)"
expect_agent dhcp $MAC "$lease" $AGENT_TIMEOUT

img=$NX_TMP/static.img
mac2=52:54:00:f1:00:02
ctl_make floppy "$img" --server http://$NX_SRV_IP:$MX_PORT/ --machine $mac2 \
	--ip $STATIC/16 --gateway $NX_SRV_IP
nx_check mx_fsck_fat "$img" -- "fsck.fat -n passes (static)"
mx_boot static bios $mac2 -drive "if=floppy,format=raw,file=$img" -boot a
expect_script static $mac2 "static: the floppy's iPXE fetched the machine's script"
expect_agent static $mac2 $STATIC $AGENT_TIMEOUT
nx_check eval "! nx_ctl leases | grep -qi '$mac2'" -- \
	"the static machine took no lease"
nx_pass media_floppy
