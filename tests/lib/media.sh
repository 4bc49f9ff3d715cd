# Boot media in qemu (tests/vm/media_*.sh): build a medium with
# build/tests/mkmedia (media.c called directly; media_floppy.sh builds its
# floppies with `xbootctl media create` through xbootd instead, so the real
# command is booted too), check its file systems, boot it with no
# PXE ROM on a tap bridged to xbootd's veth (tests/lib/netns.sh), and watch
# xbootd's log for the machine reaching it.
#
#   mx_require                       tools, mkmedia, xbootd
#   mx_xbootd                        xbootd with DHCP, HTTP and agents
#   mx_make usb FILE ARGS...         mkmedia --type usb --out FILE ARGS...
#   mx_fsck_fat FILE [OFFSET]        fsck.fat -n (a partition: OFFSET bytes)
#   mx_boot NAME bios|uefi DRIVE-ARGS...   qemu, console in NAME.serial
#   mx_wait_log REGEX SECONDS        0 once xbootd's log matches
#   mx_lease MAC                     the address xbootd leased to MAC
#   expect_script NAME MAC WHAT      NAME's iPXE fetched MAC's script
#   expect_agent NAME MAC IP SECONDS   then MAC's agent registered from IP
#
# What "reached xbootd" means per path:
#   BIOS (iPXE from the medium): GET /boot/MAC.ipxe, the machine's script
#   UEFI (GRUB -> the boot environment): GET /xboot/ca.pem, the boot
#        environment's /init fetching the CA its agent pins
# Every boot goes on until the agent's session is up: the UEFI ones (usb,
# iso) with the boot environment on the medium, the BIOS ones through
# xbootd's built-in script and build/bootenv served from
# HTTP-ROOT/boot/default, until `xbootctl machine MAC` shows the agent
# connected.

. "$(dirname "${BASH_SOURCE[0]}")/netns.sh"
. "$(dirname "${BASH_SOURCE[0]}")/qemu.sh"

MKMEDIA=${MKMEDIA:-$XBOOT_TOP/build/tests/mkmedia}
MX_PORT=8080

mx_require() {
	nx_require_cmd perl
	nx_require_cmd fsck.fat dosfstools
	nx_require_cmd mcopy mtools
	qx_require "${1:-bios}"
	nx_require_xboot
	[ -x "$MKMEDIA" ] || nx_fail "$MKMEDIA not built: run make tests"
}

# mx_bootenv: the boot environment usb and iso carry, build/bootenv as
# `make bootenv` leaves it (with the agent); rebuilt, as agent_e2e.sh does,
# when it is missing or something it is made of is newer.
mx_bootenv() {
	local be=$XBOOT_TOP/build/bootenv agent=$XBOOT_TOP/build/xboot-agent
	MX_KERNEL=$be/vmlinuz
	MX_INITRD=$be/initrd.img
	[ -x "$agent" ] || nx_fail "$agent not built: run make"
	if [ ! -r "$MX_KERNEL" ] || [ ! -r "$MX_INITRD" ] ||
		grep -q '^agent none' "$be/manifest" 2>/dev/null ||
		[ -n "$(find "$agent" "$XBOOT_TOP/bootenv" "$XBOOT_TOP/scripts/mkbootenv" \
			-newer "$MX_INITRD" 2>/dev/null)" ]; then
		nx_log "building $be (scripts/mkbootenv)"
		"$XBOOT_TOP/scripts/mkbootenv" "$be" >"$NX_TMP/mkbootenv.log" 2>&1 || {
			tail -n 20 "$NX_TMP/mkbootenv.log"
			nx_fail "scripts/mkbootenv failed"
		}
	fi
}

mx_xbootd() {
	nx_xbootd xdp=off dhcp-range=$NX_NET.1.10,$NX_NET.1.200,$NX_MASK,600 \
		router=$NX_SRV_IP http-port=$MX_PORT http-root="$NX_TMP/http" \
		ipv6-ra=pxe-clients "$@"
}

mx_make() {
	local type=$1 out=$2
	shift 2
	nx_log "mkmedia --type $type --out $out $*"
	"$MKMEDIA" --type "$type" --out "$out" "$@" || nx_fail "mkmedia --type $type failed"
	nx_log "$(basename "$out"): $(stat -c %s "$out") bytes"
}

mx_fsck_fat() {
	local img=$1 off=${2:-0} part=$NX_TMP/part.img
	if [ "$off" != 0 ]; then
		dd if="$img" of="$part" bs=1M skip=$((off / 1048576)) status=none
		img=$part
	fi
	fsck.fat -n "$img" >"$NX_TMP/fsck.log" 2>&1
	local rc=$?
	sed 's/^/    fsck: /' "$NX_TMP/fsck.log"
	rm -f "$part"
	return $rc
}

# mx_boot NAME FIRMWARE MAC DRIVE-ARGS...: boot from the given drive with a
# NIC that has no option ROM (romfile=), so only the medium can take the
# machine to the network.
mx_boot() {
	local name=$1 fw=$2 mac=$3 args
	shift 3
	args=(-accel tcg -m 512 -nographic -no-reboot
		-netdev "tap,id=n0,ifname=$NX_TAP,script=no,downscript=no"
		-device "e1000,netdev=n0,mac=$mac,romfile="
		-serial "file:$NX_TMP/$name.serial" -monitor none -display none "$@")
	case $fw in
	bios)
		printf '\xf8\x03' >"$NX_TMP/sercon-port"
		args+=(-fw_cfg "name=etc/sercon-port,file=$NX_TMP/sercon-port")
		;;
	uefi)
		cp $QX_OVMF_VARS "$NX_TMP/$name-vars.fd"
		args+=(-drive "if=pflash,format=raw,readonly=on,file=$QX_OVMF_CODE"
			-drive "if=pflash,format=raw,file=$NX_TMP/$name-vars.fd")
		;;
	*) nx_fail "mx_boot: firmware $fw" ;;
	esac
	: >"$NX_TMP/$name.serial"
	nx_log "qemu ($fw, $mac): ${*}"
	ip netns exec "$NX_CLI" qemu-system-x86_64 "${args[@]}" \
		>"$NX_TMP/$name-qemu.log" 2>&1 </dev/null &
	eval "QX_PID_$name=$!"
	nx_track $!
}

mx_wait_log() {
	local re=$1 n=$(($2 * 2))
	while [ $n -gt 0 ]; do
		grep -Eq -- "$re" "$NX_TMP/xbootd.log" && return 0
		sleep 0.5
		n=$((n - 1))
	done
	return 1
}

# mx_expect NAME REGEX SECONDS WHAT: wait for xbootd's log to show REGEX,
# stop the VM, and pass the check or fail with the console's tail.
mx_expect() {
	local name=$1 re=$2 secs=$3 what=$4 start=$SECONDS
	if ! mx_wait_log "$re" "$secs"; then
		qx_stop "$name"
		qx_console "$name" | tail -n 30 | sed 's/^/    console: /'
		tail -n 20 "$NX_TMP/xbootd.log" | sed 's/^/    xbootd: /'
		nx_fail "$what: xbootd saw nothing matching '$re' within ${secs}s"
	fi
	qx_stop "$name"
	nx_log "ok: $what ($((SECONDS - start)) s)"
	grep -E -- "$re" "$NX_TMP/xbootd.log" | head -n 3 | sed 's/^/    xbootd: /'
}

# --- from the iPXE script to the agent (the tests also source agent.sh) ---

# mx_lease MAC: the address xbootd leased to MAC, or nothing.
mx_lease() {
	nx_ctl --json leases | ag_json "
for l in d.get('leases') or []:
    if (l.get('mac') or '').lower() == '$1':
        print(l.get('ip'))"
}

# expect_script NAME MAC WHAT: wait for xbootd's log to show NAME's iPXE
# fetching MAC's script; the VM goes on (to the boot environment).
# MARK: xbootd's log up to here, for expect_agent to look past.
expect_script() {
	local start=$SECONDS
	MARK=$(ag_log_mark)
	mx_wait_log "http: GET /boot/$2\\.ipxe" $TIMEOUT || {
		qx_stop "$1"
		qx_console "$1" | tail -n 30 | sed 's/^/    console: /'
		tail -n 20 "$NX_TMP/xbootd.log" | sed 's/^/    xbootd: /'
		nx_fail "$3: xbootd saw no GET /boot/$2.ipxe within ${TIMEOUT}s"
	}
	nx_log "ok: $3 ($((SECONDS - start)) s)"
}

# registered NAME MAC: the agent of MAC is connected, or NAME's qemu is
# gone (nothing more to wait for).
registered() {
	local pid
	eval "pid=\$QX_PID_$1"
	kill -0 "$pid" 2>/dev/null || return 0
	ag_connected "$2"
}

# inv_nics MAC: the MACs of the NICs in MAC's inventory; has_nic MAC NIC.
inv_nics() {
	ag_machine "$1" "print(' '.join(n.get('mac', '').lower()
		for n in inv(d).get('nics') or []))"
}
has_nic() { grep -qw -- "$2" <<<"$(inv_nics "$1")"; }

# expect_agent NAME MAC IP SECONDS: wait for MAC's agent to be connected
# (`xbootctl --json machine MAC`), from IP, with MAC in its inventory;
# then stop the VM.
expect_agent() {
	local name=$1 mac=$2 ip=$3 secs=$4 start=$SECONDS peer f seen
	ag_wait "$secs" registered "$name" "$mac"
	if ! ag_connected "$mac"; then
		qx_stop "$name"
		qx_console "$name" | tail -n 30 | sed 's/^/    console: /'
		grep -v ' control: ' "$NX_TMP/xbootd.log" | tail -n 20 |
			sed 's/^/    xbootd: /'
		seen=$(ag_machine "$mac" "print('phase', d.get('phase'),
			'connected', d.get('connected'))" || echo 'no such machine')
		nx_fail "$name: expected $mac's agent connected within ${secs}s" \
			"of its script, saw: $seen"
	fi
	nx_log "ok: $name: the boot environment's agent registered as $mac" \
		"($((SECONDS - start)) s)"
	for f in boot/default/vmlinuz boot/default/initrd.img xboot/ca.pem; do
		nx_check eval "ag_log_since $MARK | grep -qF 'http: GET /$f'" -- \
			"$name: the machine fetched /$f from xbootd"
	done
	peer=$(ag_machine "$mac" "print(d.get('peer'))")
	nx_check test "$peer" = "$ip" -- "$name: the agent connected from $ip (saw $peer)"
	ag_wait 20 has_nic "$mac" "$mac"
	nx_check has_nic "$mac" "$mac" -- \
		"$name: its inventory lists the NIC $mac (saw: $(inv_nics "$mac"))"
	qx_stop "$name"
	ag_summary "$mac"
}
