#!/usr/bin/env bash
# Real firmware, end to end (issue 6): a disk image deployed by a
# PXE-booted agent onto the VM's own disk, which the VM then boots.
#
#   ┌──────── xbt-ime-PID-srv ────────┐      ┌──────── xbt-ime-PID-cli ────────┐
#   │ xbootd: DHCP (XDP), HTTP :8080  │ veth │ xbt-ime-br ── xbt-ime-tap ──    │
#   │   (/images/bootdisk/...), agent ├──────┤ qemu: SeaBIOS, -boot order=cn,  │
#   │   port 4012 (TLS), image store  │      │  virtio NIC + iPXE ROM, 64 MiB  │
#   │ xbt-ime-s 10.77.0.1/16          │      │  virtio disk (blank at first)   │
#   └─────────────────────────────────┘      └─────────────────────────────────┘
#
# tests/lib/mkbootdisk.sh builds a 24 MiB disk: an MBR, a FAT partition with
# SYSLINUX, Debian's kernel and an initramfs whose /init prints a marker
# made for this run (XBOOT-DISK-BOOTED-<random>) and powers off. It is
# imported into the image store (`xbootctl image import`) and verified.
#
# The VM boots disk first, then network: its blank disk has no boot
# signature, so SeaBIOS falls through to the NIC's iPXE ROM -> DHCP ->
# build/bootenv over HTTP -> xboot-agent enrols -> an image-deploy job
# writes the image onto /dev/vda (the disk its inventory reports) -> a
# reboot job -> SeaBIOS boots the disk now -> SYSLINUX -> the marker.
#
# Checks: the image imports and verifies; the agent's inventory has a disk
# at least as large as the image; the deploy job (the link slowed to 20
# Mbit/s so that it lasts seconds) is done and its output has its
# progress lines; the reboot job is done; the marker appears on the
# console after the reboot, and qemu exits when that initramfs powers off;
# the VM's disk file, afterwards, starts with the image byte for byte (and
# `xbootctl image export` gives the same bytes). No KVM: about a minute.
set -u
. "$(dirname "$0")/../lib/netns.sh"
. "$(dirname "$0")/../lib/qemu.sh"
. "$(dirname "$0")/../lib/agent.sh"

MAC=52:54:00:e2:e6:01
BE=$XBOOT_TOP/build/bootenv
MKDISK=$XBOOT_TOP/tests/lib/mkbootdisk.sh
IMAGE=bootdisk
IMAGE_MIB=24
DISK_BYTES=$((64 * 1024 * 1024))
BOOT_TIMEOUT=${XBT_BOOT_TIMEOUT:-180}
PATH=$PATH:/usr/sbin:/sbin

qx_require_virtio
command -v syslinux >/dev/null 2>&1 || nx_skip "no syslinux (package syslinux)"
command -v mcopy >/dev/null 2>&1 || nx_skip "no mcopy (package mtools)"
command -v mkfs.fat >/dev/null 2>&1 || nx_skip "no mkfs.fat (package dosfstools)"
[ -r /usr/lib/syslinux/mbr/mbr.bin ] || nx_skip "no SYSLINUX MBR (package syslinux-common)"
for c in perl cpio cmp sha256sum busybox; do nx_require_cmd $c; done
ag_require

ag_bootenv "$BE"

nx_init ime
nx_pair
nx_bridge
nx_tap


# --- the image ---------------------------------------------------------------
MARKER=XBOOT-DISK-BOOTED-$(od -An -N6 -tx1 /dev/urandom | tr -d ' \n')
SRC=$NX_TMP/bootdisk.raw
bash "$MKDISK" "$SRC" "$MARKER" $IMAGE_MIB || nx_fail "tests/lib/mkbootdisk.sh failed"
SRC_BYTES=$(stat -c %s "$SRC")
SRC_SUM=$(sha256sum "$SRC" | cut -d' ' -f1)

ag_xbootd_pxe "$BE"

nx_ctl image import "$SRC" $IMAGE >"$NX_TMP/import.out" 2>&1 || {
	sed 's/^/    /' "$NX_TMP/import.out"
	nx_fail "xbootctl image import $SRC $IMAGE failed"
}
nx_check nx_ctl image verify $IMAGE -- "xbootctl image verify $IMAGE accepts it"
nx_ctl images | sed 's/^/    /'
listed=$(ag_ctl_json images | ag_json "
for i in d.get('images') or []:
    if i.get('name') == '$IMAGE':
        print(i.get('size', i.get('source_size', '?')))")
nx_check test "$listed" = "$SRC_BYTES" -- "$IMAGE is listed, $SRC_BYTES bytes (listed: '$listed')"

# --- the VM: disk first, then network ------------------------------------------
truncate -s $DISK_BYTES "$NX_TMP/disk.img"
ag_watch "$NX_TMP/watch.json"
# No -no-reboot: the reboot job must reset the machine, not end qemu. The
# disk boot's initramfs powers off, which does end it.
nx_log "qemu (SeaBIOS, -boot order=cn, virtio NIC $MAC, blank virtio disk $DISK_BYTES bytes)"
qx_boot_virtio pc $MAC "$NX_TMP/disk.img" -boot order=cn
t0=$SECONDS
ag_wait_registered pc $MAC $BOOT_TIMEOUT "the blank disk should fall through to the NIC"
nx_log "ok: the blank disk fell through to PXE; $MAC registered $((SECONDS - t0)) s after power-on"
nx_check eval '! grep -q "$MARKER" "$NX_TMP/pc.serial"' -- "the marker is not on the console before the deploy"
ag_wait_inventory pc $MAC

# The target: the inventory's disk as large as the VM's disk file.
target=$(ag_machine $MAC "
for x in inv(d).get('disks') or []:
    if disk_size(x) == $DISK_BYTES:
        print('/dev/' + x.get('name')); break")
sizes=$(ag_machine $MAC "print(' '.join('%s=%d' % (x.get('name'), disk_size(x)) for x in inv(d).get('disks') or []))")
nx_check test -n "$target" -- "the inventory has a disk of $DISK_BYTES bytes, >= the image's $SRC_BYTES (saw: $sizes)"
nx_log "deploy target: $target"

# --- deploy ---------------------------------------------------------------------
# The agent reports progress once a second; at full speed the 9 MB the
# image stores arrive in under one. 20 Mbit/s from the server makes the
# deploy last a few seconds, so that its output has progress lines.
slowed=no
if nx_srv tc qdisc replace dev "$NX_SRV_IF" root tbf rate 20mbit burst 64kbit latency 500ms; then
	slowed=yes
else
	nx_log "tc tbf is not available: the deploy runs at full speed (progress lines not required)"
fi
t1=$SECONDS
j=$(ag_job_add $MAC image-deploy $IMAGE "$target")
ag_job_wait $j 'done|failed|timed-out|cancelled' 120
[ $slowed = no ] || nx_srv tc qdisc del dev "$NX_SRV_IF" root
ag_job_output $j "$NX_TMP/deploy.out"
sed 's/^/    /' "$NX_TMP/deploy.out"
nx_check test "$(ag_job $j state)" = "done" -- \
	"image-deploy job $j is done (is $(ag_job $j state): $(ag_job $j reason))"
nx_log "ok: deployed in $((SECONDS - t1)) s"
nx_check grep -q "^deploy: image $IMAGE onto $target" "$NX_TMP/deploy.out" -- \
	"the job's output opens with 'deploy: image $IMAGE onto $target'"
progress=$(grep -Ec '^deploy: [0-9]+% .*/s' "$NX_TMP/deploy.out")
if [ $slowed = yes ]; then
	nx_check test "$progress" -ge 1 -- \
		"the job's output has progress lines ('deploy: N% DONE/TOTAL RATE/s': $progress)"
fi
nx_check grep -q '^deploy: done' "$NX_TMP/deploy.out" -- "the job's output has 'deploy: done'"

# --- reboot: this time SeaBIOS finds a bootable disk -----------------------------
t2=$SECONDS
jr=$(ag_job_add $MAC reboot)
qx_wait pc "^$MARKER\$" 120 || {
	ag_show_console pc
	nx_fail "expected $MARKER on the console within 120 s of the reboot job $jr ($(ag_job $jr state))"
}
nx_log "ok: the VM booted the deployed disk: $MARKER on its console $((SECONDS - t2)) s after the reboot job"
qx_wait_exit pc 30 || { ag_show_console pc; nx_fail "expected qemu to exit when the disk's initramfs powered off (30 s)"; }
ag_job_wait $jr 'done|failed|timed-out|cancelled' 10
nx_check test "$(ag_job $jr state)" = "done" -- "reboot job $jr is done (is $(ag_job $jr state))"
nx_check eval 'qx_console pc | grep -q "^Booting from Hard Disk"' -- "SeaBIOS booted from the hard disk"
nx_check eval 'qx_console pc | grep -q "^SYSLINUX "' -- "SYSLINUX, from the deployed disk, started"
booted=$(qx_console pc | grep -c '^Booting from Hard Disk')
nx_log "SeaBIOS tried the hard disk $booted times (the blank disk at power-on, the deployed one after the reboot)"

# --- the disk, byte for byte ------------------------------------------------------
disk_sum=$(head -c "$SRC_BYTES" "$NX_TMP/disk.img" | sha256sum | cut -d' ' -f1)
nx_check test "$disk_sum" = "$SRC_SUM" -- \
	"the VM's disk file's first $SRC_BYTES bytes have the image's SHA-256 $SRC_SUM (saw $disk_sum)"
nx_ctl image export $IMAGE "$NX_TMP/export.raw" >/dev/null || nx_fail "xbootctl image export $IMAGE failed"
nx_check cmp -n "$SRC_BYTES" "$NX_TMP/export.raw" "$NX_TMP/disk.img" -- \
	"xbootctl image export $IMAGE equals the VM's disk's first $SRC_BYTES bytes"

ag_watch_stop || nx_fail "xbootctl watch still runs 5 s after SIGINT"
seen=$(ag_phases "$NX_TMP/watch.json" $MAC) || nx_fail "xbootctl watch --json printed something that is not JSON (watch.json)"
nx_log "xbootctl watch: $MAC went through: $seen"

nx_log "console (firmware, iPXE, Linux, agent, then the deployed disk):"
qx_console pc | grep -E '^Booting from|^iPXE [0-9]|^SYSLINUX|Linux version|xboot-agent|XBOOT-|reboot: ' |
	grep -v 'xboot.enrol=' | sed 's/^/    /'
nx_log "xbootctl jobs:"
nx_ctl jobs | sed 's/^/    /'
nx_log "total $((SECONDS - t0)) s from power-on"
nx_xbootd_stop
nx_pass image_e2e
