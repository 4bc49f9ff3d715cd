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
BE=$XBOOT_TOP/build/bootenv
DISK_BYTES=$((64 * 1024 * 1024))
BOOT_TIMEOUT=${XBT_BOOT_TIMEOUT:-180}

qx_require_virtio
for c in perl cpio; do nx_require_cmd $c; done
ag_require

ag_bootenv "$BE"
kver=$(awk '$1 == "kernel" { print $3 }' "$BE/manifest")

nx_init age
nx_pair
nx_bridge
nx_tap

truncate -s $DISK_BYTES "$NX_TMP/disk.img"
ag_xbootd_pxe "$BE"

# Every phase of the machine, from its first DHCP packet on.
ag_watch "$NX_TMP/watch.json"
nx_log "qemu (SeaBIOS + iPXE, virtio NIC $MAC, virtio disk $DISK_BYTES bytes) boots from the network"
qx_boot_virtio pc $MAC "$NX_TMP/disk.img" -no-reboot -boot n
t0=$SECONDS
ag_wait_registered pc $MAC $BOOT_TIMEOUT
nx_log "ok: $MAC registered $((SECONDS - t0)) s after power-on"
ag_wait_inventory pc $MAC
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
qx_wait_exit pc 60 || { ag_show_console pc; nx_fail "poweroff job $jp: expected qemu to exit by itself within 60 s, it still runs (job $(ag_job $jp state))"; }
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
