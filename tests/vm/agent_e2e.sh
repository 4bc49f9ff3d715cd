#!/usr/bin/env bash
# Real firmware, end to end (issue 5): a PXE-booted machine registers with
# xbootd through xboot-agent, runs a job and powers off on a poweroff job.
#
#   ┌──────── xbt-age-PID-srv ────────┐      ┌──────── xbt-age-PID-cli ────────┐
#   │ xbootd: DHCP (XDP), HTTP :8080, │ veth │ xbt-age-br ── xbt-age-tap ──    │
#   │   agent port 4012 (TLS)         ├──────┤ qemu: SeaBIOS + iPXE virtio ROM │
#   │ xbt-age-s 10.77.0.1/16          │      │  virtio NIC, 64 MiB virtio disk │
#   └─────────────────────────────────┘      └─────────────────────────────────┘
#
#   DHCP -> iPXE gets http://10.77.0.1:8080/boot.ipxe -> xbootd renders it
#   with a fresh enrolment credential (${enrol}), the agent port and the CA's
#   URL -> build/bootenv's kernel and initramfs over HTTP -> /init brings
#   the NIC up, fetches the CA, starts xboot-agent -> the agent enrols over
#   TLS and reports its inventory -> a run job -> a poweroff job (real: the
#   kernel line does not say --power=exit) and qemu exits by itself.
#
# Checks: `xbootctl machine MAC` connected, its inventory has the NIC's MAC
# and a disk as large as the disk image; the run job's output (the
# bootenv's kernel version, the length of /proc/cmdline); the poweroff job
# done and qemu gone within a minute; `xbootctl watch` saw every phase from
# the first DHCP packet to done. No KVM: a minute or two.
set -u
. "$(dirname "$0")/../lib/netns.sh"
. "$(dirname "$0")/../lib/qemu.sh"
. "$(dirname "$0")/../lib/agent.sh"

MAC=52:54:00:e2:e0:01
# The iPXE ROM qemu gives virtio-net by default (Debian's ipxe-qemu). It is
# left to qemu: with an explicit romfile= (this one or pxe-virtio.rom)
# SeaBIOS never offers the NIC as a boot device.
ROM=$QX_ROM_DIR/efi-virtio.rom
BE=$XBOOT_TOP/build/bootenv
DISK_BYTES=$((64 * 1024 * 1024))
BOOT_TIMEOUT=${XBT_BOOT_TIMEOUT:-180}

command -v qemu-system-x86_64 >/dev/null 2>&1 || nx_skip "no qemu-system-x86_64 (package qemu-system-x86)"
[ -r "$ROM" ] || nx_skip "no iPXE virtio ROM $ROM (package ipxe-qemu)"
[ -c /dev/net/tun ] || nx_skip "no /dev/net/tun (TUN/TAP) in this kernel"
for c in perl cpio; do nx_require_cmd $c; done
ag_require

# build/bootenv with the agent in it, as `make bootenv` leaves it; rebuilt
# when it has no agent or something it is made of is newer.
if [ ! -r "$BE/initrd.img" ] || [ ! -r "$BE/vmlinuz" ] ||
	grep -q '^agent none' "$BE/manifest" 2>/dev/null ||
	[ -n "$(find "$XBOOT_AGENT" "$XBOOT_TOP/bootenv" "$XBOOT_TOP/scripts/mkbootenv" \
		-newer "$BE/initrd.img" 2>/dev/null)" ]; then
	echo "building $BE (scripts/mkbootenv)"
	"$XBOOT_TOP/scripts/mkbootenv" "$BE" || nx_fail "scripts/mkbootenv failed"
fi
grep -q '^agent /usr/bin/xboot-agent ' "$BE/manifest" ||
	nx_fail "$BE/manifest lists no agent: $(grep '^agent' "$BE/manifest")"
kver=$(awk '$1 == "kernel" { print $3 }' "$BE/manifest")

nx_init age
nx_pair
nx_bridge
nx_tap

http=$NX_TMP/http
mkdir -p "$http/boot/default"
cp "$BE/vmlinuz" "$BE/initrd.img" "$http/boot/default/"
truncate -s $DISK_BYTES "$NX_TMP/disk.img"

# The built-in script, plus a serial console and panic= for the test.
cat >"$NX_TMP/boot.ipxe.tmpl" <<'EOF2'
#!ipxe
echo xboot: mac ${mac} ip ${ip} profile ${profile}
kernel ${server}/boot/${profile}/vmlinuz initrd=initrd.img console=ttyS0 panic=5 xboot.server=${server} xboot.mac=${mac} xboot.enrol=${enrol} xboot.agent_port=${agent_port} xboot.ca=${ca_url} || goto failed
initrd ${server}/boot/${profile}/initrd.img || goto failed
boot || goto failed
:failed
echo XBOOT-BOOT-FAILED
poweroff
EOF2

ag_xbootd xdp=auto router=$NX_SRV_IP boot-file=bios,undionly.kpxe \
	boot-file=ipxe,http://$NX_SRV_IP:$AG_HTTP_PORT/boot.ipxe \
	ipxe-script="$NX_TMP/boot.ipxe.tmpl" ipv6-ra=pxe-clients

# Every phase of the machine, from its first DHCP packet on.
ag_watch "$NX_TMP/watch.json"
printf '\xf8\x03' >"$NX_TMP/sercon-port"
: >"$NX_TMP/pc.serial"
nx_log "qemu (SeaBIOS + iPXE, virtio NIC $MAC, virtio disk $DISK_BYTES bytes) boots from the network"
ip netns exec "$NX_CLI" qemu-system-x86_64 -accel tcg -m 384 -nographic -no-reboot -boot n \
	-netdev "tap,id=n0,ifname=$NX_TAP,script=no,downscript=no" \
	-device "virtio-net-pci,netdev=n0,mac=$MAC" \
	-fw_cfg "name=etc/sercon-port,file=$NX_TMP/sercon-port" \
	-drive "file=$NX_TMP/disk.img,format=raw,if=virtio" \
	-serial "file:$NX_TMP/pc.serial" -monitor none -display none \
	>"$NX_TMP/pc-qemu.log" 2>&1 </dev/null &
QX_PID_pc=$!
nx_track $QX_PID_pc
t0=$SECONDS

# show_console: the console's tail and xbootd's, for a failure.
show_console() {
	qx_console pc | tail -n 40 | sed 's/^/    console: /'
	tail -n 20 "$NX_TMP/xbootd.log" | sed 's/^/    xbootd: /'
}
registered() {
	kill -0 $QX_PID_pc 2>/dev/null || return 0 # stop waiting: it is gone
	ag_connected $MAC
}
ag_wait $BOOT_TIMEOUT registered
if ! ag_connected $MAC; then
	show_console
	kill -0 $QX_PID_pc 2>/dev/null || nx_fail "qemu exited before the agent registered (see the console)"
	nx_fail "expected $MAC connected within ${BOOT_TIMEOUT}s of power-on, saw: $(ag_machine $MAC "print('phase', d.get('phase'), 'connected', d.get('connected'))" || echo 'no such machine')"
fi
nx_log "ok: $MAC registered $((SECONDS - t0)) s after power-on"
inventory_done() { [ "$(ag_machine $MAC "print(bool(inv(d).get('disks')))")" = True ]; }
ag_wait 20 inventory_done || { show_console; nx_fail "expected $MAC's inventory with disks within 20 s of connecting, saw none"; }
ag_summary $MAC

nx_check test "$(ag_machine $MAC "print([n.get('mac','').lower() for n in inv(d).get('nics') or []])")" = "['$MAC']" -- \
	"the inventory's one NIC is $MAC (saw $(ag_machine $MAC "print([n.get('mac') for n in inv(d).get('nics') or []])"))"
sizes=$(ag_machine $MAC "print(' '.join('%s=%d' % (x.get('name'), disk_size(x)) for x in inv(d).get('disks') or []))")
nx_check eval 'grep -Eq "(^| )vda=$DISK_BYTES( |\$)" <<<"$sizes"' -- \
	"the inventory's disk vda is $DISK_BYTES bytes, the size of disk.img (saw: $sizes)"

# --- a run job ------------------------------------------------------------
j=$(ag_job_add $MAC run 'uname -r; cat /proc/cmdline | wc -c')
ag_job_wait $j 'done|failed|timed-out|cancelled' 60
nx_check test "$(ag_job $j state)" = done -- "run job $j is done (is $(ag_job $j state), exit $(ag_job $j exit_code))"
ag_job_output $j "$NX_TMP/run.out"
nx_log "job $j's output:"
sed 's/^/    /' "$NX_TMP/run.out"
nx_check test "$(sed -n 1p "$NX_TMP/run.out")" = "$kver" -- \
	"the job's first line is the bootenv's kernel $kver (is '$(sed -n 1p "$NX_TMP/run.out")')"
nx_check eval '[ "$(sed -n 2p "$NX_TMP/run.out" | tr -d " ")" -gt 100 ] 2>/dev/null' -- \
	"the job's second line is the length of /proc/cmdline (is '$(sed -n 2p "$NX_TMP/run.out")')"

# --- poweroff, for real -----------------------------------------------------
jp=$(ag_job_add $MAC poweroff)
qx_wait_exit pc 60 || { show_console; nx_fail "poweroff job $jp: expected qemu to exit by itself within 60 s, it still runs (job $(ag_job $jp state))"; }
nx_log "ok: qemu exited by itself $((SECONDS - t0)) s after power-on"
ag_job_wait $jp 'done|failed|timed-out|cancelled' 10
nx_check test "$(ag_job $jp state)" = done -- "poweroff job $jp is done (is $(ag_job $jp state))"
nx_check ag_wait 15 ag_disconnected $MAC -- "$MAC is no longer connected"
nx_check eval 'qx_console pc | grep -q "reboot: Power down"' -- "the kernel powered the machine down ('reboot: Power down')"
ag_watch_stop || nx_fail "xbootctl watch still runs 5 s after SIGINT"
nx_check test "$AG_WATCH_RC" = 0 -- "xbootctl watch ran until SIGINT and exited 0 (exit $AG_WATCH_RC)"
seen=$(ag_phases "$NX_TMP/watch.json" $MAC) || nx_fail "xbootctl watch --json printed something that is not JSON (watch.json)"
nx_log "xbootctl watch: $MAC went through: $seen"
nx_check ag_in_order "$seen" offered bound boot-env boot-file agent running done -- \
	"the machine's phases from its first packet: offered, bound (DHCP), boot-env (its iPXE script), boot-file (the kernel), agent, running, done (saw: $seen)"

nx_log "console (firmware, iPXE, Linux, /init, agent):"
qx_console pc | grep -E '^iPXE [0-9]|net0:|xboot:|xboot-agent|^(http|tftp)://|Linux version|Run /init|XBOOT-|reboot: Power' |
	grep -v 'xboot.enrol=' | sed 's/^/    /'
nx_log "xbootctl machines:"
nx_ctl machines | sed 's/^/    /'
nx_log "xbootctl jobs:"
nx_ctl jobs | sed 's/^/    /'
nx_xbootd_stop
nx_pass agent_e2e
