#!/usr/bin/env bash
# A small BIOS-bootable disk image for the imaging end-to-end test and the
# demo (issue 6): what a real deploy would write, only much smaller.
#
#   sector 0        SYSLINUX's MBR code and one active FAT partition
#   1 MiB ..  end   FAT with SYSLINUX (ldlinux.sys), syslinux.cfg,
#                   vmlinuz (Debian's kernel) and initrd.img (busybox and
#                   an /init that prints MARKER on the console, then powers
#                   the machine off)
#
# The marker is the proof: it is written nowhere but in the initramfs, so a
# console that shows it booted this disk's kernel and initramfs. Its /init
# prints it on a line of its own, then "XBOOT-DISK-POWEROFF", then powers
# off (qemu exits; with -no-reboot a failed poweroff ends qemu too, by
# panic= and the reboot that follows).
#
# Usage: tests/lib/mkbootdisk.sh OUT MARKER [SIZE-MIB]
#   SIZE-MIB  the whole image (default 24; at least the files plus 3 MiB)
#   MKBOOTDISK_KERNEL  the kernel to put on it (default: build/bootenv's
#                      vmlinuz, else the newest /boot/vmlinuz-*)
# Exit 0 and one line naming what it built; 2 when a tool is missing (the
# line names its package: scripts/setup installs them all); 1 otherwise.
set -euo pipefail

die() {
	echo "mkbootdisk: $*" >&2
	exit 1
}
missing() {
	echo "mkbootdisk: no $1 (package $2)" >&2
	exit 2
}

[ $# -ge 2 ] && [ $# -le 3 ] || die "usage: $0 OUT MARKER [SIZE-MIB]"
out=$1 marker=$2 size=${3:-24}
[[ $marker =~ ^[A-Za-z0-9._-]+$ ]] || die "marker '$marker': letters, digits, . _ - only"
[[ $size =~ ^[0-9]+$ ]] || die "size '$size': whole MiB"

top=$(cd "$(dirname "$0")/../.." && pwd)
# mkfs.fat lives in /usr/sbin, often not in a user's PATH
PATH=$PATH:/usr/sbin:/sbin
MBR_BIN=/usr/lib/syslinux/mbr/mbr.bin
command -v syslinux >/dev/null || missing syslinux syslinux
command -v mcopy >/dev/null || missing mcopy mtools
command -v mkfs.fat >/dev/null || missing mkfs.fat dosfstools
command -v cpio >/dev/null || missing cpio cpio
[ -r $MBR_BIN ] || missing $MBR_BIN syslinux-common
busybox=$(command -v busybox) || missing busybox busybox-static
# A dynamic busybox would need the C library in the initramfs too.
if readelf -l "$busybox" 2>/dev/null | grep -q INTERP; then
	missing "static busybox ($busybox is dynamic)" busybox-static
fi
kernel=${MKBOOTDISK_KERNEL:-}
if [ -z "$kernel" ]; then
	kernel=$top/build/bootenv/vmlinuz
	[ -r "$kernel" ] || kernel=$(ls -1v /boot/vmlinuz-* 2>/dev/null | tail -n 1)
fi
[ -n "$kernel" ] && [ -r "$kernel" ] || missing "kernel (/boot/vmlinuz-*)" linux-image-amd64

stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT

# --- the initramfs ----------------------------------------------------------
root=$stage/root
mkdir -p "$root"/{bin,dev,proc}
chmod 755 "$root"
cp "$busybox" "$root/bin/busybox"
ln -s busybox "$root/bin/sh"
# The kernel opens /dev/console for init before anything is mounted.
[ "$(id -u)" = 0 ] && mknod -m 600 "$root/dev/console" c 5 1
cat >"$root/init" <<INIT
#!/bin/sh
# The deployed disk's initramfs (tests/lib/mkbootdisk.sh): say it booted.
PATH=/bin
export PATH
busybox mount -t devtmpfs dev /dev 2>/dev/null
busybox mount -t proc proc /proc
exec >/dev/console 2>&1 </dev/console
echo
echo "$marker"
echo "XBOOT-DISK-POWEROFF"
busybox poweroff -f
# Not reached unless poweroff failed: exiting init panics the kernel, and
# panic= reboots it.
exit 1
INIT
chmod 755 "$root/init"
(cd "$root" && find . -print0 | sort -z |
	cpio --null -o -H newc --owner=0:0 --quiet) | gzip -9 >"$stage/initrd.img"

cat >"$stage/syslinux.cfg" <<'CFG'
# The deployed disk (tests/lib/mkbootdisk.sh). SeaBIOS mirrors the text
# console to the serial port, so SYSLINUX needs no SERIAL line.
DEFAULT disk
PROMPT 0
TIMEOUT 0
LABEL disk
	KERNEL /vmlinuz
	INITRD /initrd.img
	APPEND console=ttyS0 panic=5 quiet
CFG

# --- the disk ---------------------------------------------------------------
start=2048 # sectors: the partition starts at 1 MiB, as partitioners do
need=$((($(stat -c %s "$kernel") + $(stat -c %s "$stage/initrd.img")) / 1048576 + 4))
[ "$size" -ge "$need" ] || die "$size MiB is too small for the files: $need MiB at least"
sectors=$((size * 2048 - start))

# le32 N: N as four little-endian bytes, printf escapes.
le32() {
	printf '\\x%02x\\x%02x\\x%02x\\x%02x' $(($1 & 255)) $((($1 >> 8) & 255)) \
		$((($1 >> 16) & 255)) $((($1 >> 24) & 255))
}

tmp=$out.tmp
rm -f "$tmp"
truncate -s "${size}M" "$tmp"
# MBR: SYSLINUX's code (440 bytes), a disk signature, one active
# partition of type 0x0e (FAT16, LBA) with CHS fields saying "use LBA".
dd if=$MBR_BIN of="$tmp" conv=notrunc status=none
{
	printf '\x58\x42\x4f\x54\x00\x00' # signature "XBOT", reserved
	printf '\x80\xfe\xff\xff\x0e\xfe\xff\xff'
	printf "$(le32 $start)$(le32 $sectors)"
	head -c 48 /dev/zero
	printf '\x55\xaa'
} | dd of="$tmp" bs=1 seek=440 conv=notrunc status=none
# Hidden sectors too: SYSLINUX's boot sector reads by them.
mkfs.fat -n XBOOTDISK --offset $start -h $start "$tmp" $((sectors / 2)) >/dev/null ||
	die "mkfs.fat failed"
syslinux --install --offset $((start * 512)) "$tmp" || die "syslinux --install failed"
fat="$tmp@@$((start * 512))"
export MTOOLS_SKIP_CHECK=1
mcopy -i "$fat" "$stage/syslinux.cfg" ::/syslinux.cfg || die "mcopy failed"
mcopy -i "$fat" "$kernel" ::/vmlinuz || die "mcopy failed"
mcopy -i "$fat" "$stage/initrd.img" ::/initrd.img || die "mcopy failed"
mv "$tmp" "$out"
echo "mkbootdisk: $out ($size MiB: MBR, FAT with SYSLINUX, $(basename "$kernel")" \
	"$(stat -c %s "$kernel") bytes, initrd.img $(stat -c %s "$stage/initrd.img") bytes," \
	"marker $marker)"
