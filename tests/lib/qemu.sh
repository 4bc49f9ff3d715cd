# qemu PXE clients for the VM tests and the demo: a real firmware (SeaBIOS +
# iPXE option ROM, or OVMF + the iPXE EFI ROM) booting with `-boot n` from a
# NIC on the tap of tests/lib/netns.sh (nx_bridge + nx_tap first: qemu runs
# inside the client namespace, its tap is a port of the bridge there).
#
# Software emulation only (-accel tcg): no KVM needed, and nothing the
# firmware does can leave the namespaces.
#
# The serial console is the firmware's log:
#   - SeaBIOS mirrors the VGA text console (which iPXE writes to) to the
#     serial port named by the fw_cfg file etc/sercon-port (a little-endian
#     integer: 0x3f8 = COM1).
#   - OVMF and the iPXE EFI driver write to the serial console themselves.
#
# Usage (after sourcing netns.sh):
#   qx_require bios|uefi                    # or qx_require_virtio
#   qx_boot pc1 bios 52:54:00:12:34:56      # starts qemu, returns at once
#   qx_boot_virtio pc MAC DISK -boot n      # the same, virtio NIC and disk
#   qx_wait pc1 'Filename: ' 90             # 0 when the console shows it
#   qx_console pc1                          # the console as plain text
#   qx_wait_exit pc1 10                     # 0 once the guest powered off
#   qx_stop pc1
#
# qx_stamp pc1 (right after qx_boot) also keeps $NX_TMP/pc1.stamped: each
# console line, cleaned as qx_console does, after the time it arrived
# (HH:MM:SS.mmm, UTC like xbootd's log), for timelines.

QX_ROM_DIR=/usr/lib/ipxe/qemu
QX_OVMF_CODE=/usr/share/OVMF/OVMF_CODE.fd
QX_OVMF_VARS=/usr/share/OVMF/OVMF_VARS.fd

# qx_require FIRMWARE: everything a VM test needs; a missing package is a
# broken setup (fail), a missing kernel feature is a skip.
qx_require() {
	nx_require_cmd qemu-system-x86_64 qemu-system-x86
	[ -r $QX_ROM_DIR/pxe-e1000.rom ] || nx_fail "no iPXE ROM: run scripts/setup (ipxe-qemu)"
	if [ "$1" = uefi ]; then
		if [ ! -r $QX_OVMF_CODE ] || [ ! -r $QX_OVMF_VARS ]; then
			nx_fail "no OVMF: run scripts/setup (ovmf)"
		fi
		[ -r $QX_ROM_DIR/efi-e1000.rom ] || nx_fail "no iPXE EFI ROM: run scripts/setup (ipxe-qemu)"
	fi
	[ -c /dev/net/tun ] || nx_skip "no /dev/net/tun (TUN/TAP) in this kernel"
}

# qx_boot NAME FIRMWARE MAC: boot a PXE client on $NX_TAP. Console in
# $NX_TMP/NAME.serial, qemu's own messages in $NX_TMP/NAME-qemu.log.
qx_boot() {
	local name=$1 fw=$2 mac=$3 args
	args=(-accel tcg -m 256 -nographic -no-reboot -boot n
		-netdev "tap,id=n0,ifname=$NX_TAP,script=no,downscript=no"
		-serial "file:$NX_TMP/$name.serial" -monitor none -display none)
	case $fw in
	bios)
		printf '\xf8\x03' >"$NX_TMP/sercon-port"
		args+=(-device "e1000,netdev=n0,mac=$mac,romfile=$QX_ROM_DIR/pxe-e1000.rom"
			-fw_cfg "name=etc/sercon-port,file=$NX_TMP/sercon-port")
		;;
	uefi)
		cp $QX_OVMF_VARS "$NX_TMP/$name-vars.fd"
		args+=(-device "e1000,netdev=n0,mac=$mac,romfile=$QX_ROM_DIR/efi-e1000.rom"
			-drive "if=pflash,format=raw,readonly=on,file=$QX_OVMF_CODE"
			-drive "if=pflash,format=raw,file=$NX_TMP/$name-vars.fd")
		;;
	*) nx_fail "qx_boot: firmware $fw" ;;
	esac
	: >"$NX_TMP/$name.serial"
	nx_log "qemu ($fw, $mac) boots from the network on $NX_TAP"
	ip netns exec "$NX_CLI" qemu-system-x86_64 "${args[@]}" \
		>"$NX_TMP/$name-qemu.log" 2>&1 </dev/null &
	eval "QX_PID_$name=$!"
	nx_track $!
}

# qx_require_virtio: what qx_boot_virtio needs; a test without it skips.
qx_require_virtio() {
	command -v qemu-system-x86_64 >/dev/null 2>&1 || nx_skip "no qemu-system-x86_64 (package qemu-system-x86)"
	[ -r $QX_ROM_DIR/efi-virtio.rom ] || nx_skip "no iPXE virtio ROM $QX_ROM_DIR/efi-virtio.rom (package ipxe-qemu)"
	[ -c /dev/net/tun ] || nx_skip "no /dev/net/tun (TUN/TAP) in this kernel"
}

# qx_boot_virtio NAME MAC DISK-FILE [QEMU-OPTION ...]: SeaBIOS with a
# virtio NIC on $NX_TAP, left to the iPXE ROM qemu gives virtio-net by
# default (efi-virtio.rom of Debian's ipxe-qemu: with an explicit romfile=,
# this one or pxe-virtio.rom, SeaBIOS never offers the NIC as a boot
# device), and DISK-FILE as a virtio disk; the options say the boot order
# and what a reboot does. Console, log and QX_PID_NAME as qx_boot's.
qx_boot_virtio() {
	local name=$1 mac=$2 disk=$3
	shift 3
	printf '\xf8\x03' >"$NX_TMP/sercon-port"
	: >"$NX_TMP/$name.serial"
	ip netns exec "$NX_CLI" qemu-system-x86_64 -accel tcg -m 384 -nographic "$@" \
		-netdev "tap,id=n0,ifname=$NX_TAP,script=no,downscript=no" \
		-device "virtio-net-pci,netdev=n0,mac=$mac" \
		-fw_cfg "name=etc/sercon-port,file=$NX_TMP/sercon-port" \
		-drive "file=$disk,format=raw,if=virtio" \
		-serial "file:$NX_TMP/$name.serial" -monitor none -display none \
		>"$NX_TMP/$name-qemu.log" 2>&1 </dev/null &
	eval "QX_PID_$name=$!"
	nx_track $!
}

# qx_console NAME: the serial log as plain lines (no escape sequences,
# carriage returns or backspaced spinners).
qx_console() {
	perl -pe 's/\e\[[0-9;?=]*[A-Za-z]//g; s/\ec//g; s/\r\n?/\n/g;
		1 while s/[^\n\x08]\x08//; s/\x08//g' "$NX_TMP/$1.serial" |
		grep -v '^[[:space:]]*$'
}

# qx_stamp NAME: follow NAME's console in the background and write each
# complete line, cleaned, with its arrival time to $NX_TMP/NAME.stamped.
# Polls every 0.1 s; ends with qemu (a last read catches the final lines).
qx_stamp() {
	local name=$1 pid
	eval "pid=\$QX_PID_$name"
	: >"$NX_TMP/$name.stamped"
	perl -e '
		use Time::HiRes qw(time sleep);
		use POSIX qw(strftime);
		my ($file, $pid) = @ARGV;
		open(my $in, "<", $file) or die "$file: $!";
		$| = 1;
		my $buf = "";
		my $alive = 1;
		while (1) {
			$alive = kill(0, $pid);
			my $n = sysread($in, my $chunk, 65536);
			if ($n) {
				$buf .= $chunk;
				while ($buf =~ s/^([^\n]*)\n//) {
					my $l = $1;
					$l =~ s/\e\[[0-9;?=]*[A-Za-z]//g;
					$l =~ s/\ec//g;
					$l =~ s/.*\r(?=.)//;
					$l =~ s/\r//g;
					1 while $l =~ s/[^\x08]\x08//;
					$l =~ s/\x08//g;
					next if $l =~ /^\s*$/;
					my $t = time;
					printf "%s.%03d %s\n",
						strftime("%H:%M:%S", gmtime($t)),
						int(($t - int($t)) * 1000), $l;
				}
				next;
			}
			last unless $alive;
			sleep 0.1;
		}' "$NX_TMP/$name.serial" "$pid" >"$NX_TMP/$name.stamped" 2>/dev/null &
	nx_track $!
}

# qx_wait NAME REGEX SECONDS: wait until a console line matches (grep -E).
# Returns 1 on timeout or when qemu exits first.
qx_wait() {
	local name=$1 re=$2 n=$(($3 * 2)) pid
	eval "pid=\$QX_PID_$name"
	while [ $n -gt 0 ]; do
		qx_console "$name" | grep -Eq -- "$re" && return 0
		kill -0 "$pid" 2>/dev/null || {
			qx_console "$name" | grep -Eq -- "$re"
			return
		}
		sleep 0.5
		n=$((n - 1))
	done
	return 1
}

# qx_wait_exit NAME SECONDS: wait until qemu has exited by itself (the guest
# powered off); 1 when it still runs after SECONDS.
qx_wait_exit() {
	local name=$1 n=$(($2 * 2)) pid
	eval "pid=\${QX_PID_$name:-}"
	[ -n "$pid" ] || return 0
	while kill -0 "$pid" 2>/dev/null; do
		[ $n -gt 0 ] || return 1
		sleep 0.5
		n=$((n - 1))
	done
	return 0
}

qx_stop() {
	local pid
	eval "pid=\${QX_PID_$1:-}"
	[ -n "$pid" ] && nx_stop_pid "$pid" 5
}
