# The host side of the 6.1 VM tests: boot Debian's 6.1 kernel under qemu
# (software emulation, no KVM, no network) with the initramfs of
# scripts/mkvm61 plus the test's own guest script, and turn the console's
# markers into tests/run's exit codes (0 pass, 77 skip, else fail).
#
#   host                                   guest (Debian 6.1, 2 vCPUs, 1 GiB)
#   tests/vm/NAME.sh ── vm_run ──► qemu ──► /init: mounts, insmods veth, tun,
#     │                 -kernel             bridge, tc bpf, ...; runs /xt/test
#     │                 -initrd base+test   (the same NAME.sh, XBOOT_VM_GUEST=1)
#     └◄── ttyS0 console: XBOOT-VM-CHECK / -EXIT / -DMESG / -RESULT lines
#
# A test script is both sides at once:
#
#   . "$(dirname "$0")/lib/vm61.sh"
#   if vm_guest; then                 # inside the VM: tests/vm/lib/guest.sh
#           vg_check name cmd...      # loaded; report with vg_* helpers
#           vg_done
#   fi
#   vm_require
#   vm_run NAME 120                   # boots, waits, exits 0/77/1
#
# The console is copied to build/test-logs/vm61-NAME.console; vm_run also
# prints it (without the kernel log) so tests/run's log has everything.
# VM_KEEP=1 keeps the temp dir (the per-run initramfs).

: "${XBOOT_TOP:=$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)}"

vm_guest() { [ -n "${XBOOT_VM_GUEST:-}" ]; }

if vm_guest; then
	. "$XBOOT_TOP/tests/vm/lib/guest.sh"
	return 0 2>/dev/null || exit 0
fi

VM_MEM=${VM_MEM:-1024}
VM_SMP=${VM_SMP:-2}
# VM_DISK_MB=N: a fresh ext4 disk of N MiB, mounted at /data in the guest.
VM_DISK_MB=${VM_DISK_MB:-0}
VM_TMP=
VM_PID=

vm_log() { printf '[%s] %s\n' "$(date +%T)" "$*"; }
vm_fail() {
	printf 'FAIL: %s\n' "$*"
	exit 1
}
vm_skip() {
	printf 'SKIP: %s\n' "$*"
	exit 77
}

# vm_kernel: the newest Debian 6.1 kernel image.
vm_kernel() {
	ls -1v /boot/vmlinuz-6.1.*-amd64 2>/dev/null | tail -n 1
}

# vm_require: what every 6.1 VM test needs. A missing package is a broken
# setup (fail): scripts/setup installs linux-image-amd64 (6.1 on Debian
# 12), qemu-system-x86, busybox-static and cpio.
vm_require() {
	[ "$(id -u)" -eq 0 ] || vm_skip "needs root (mknod in the initramfs, namespaces in the guest)"
	command -v qemu-system-x86_64 >/dev/null ||
		vm_fail "qemu-system-x86_64 not found: run scripts/setup (qemu-system-x86)"
	[ -n "$(vm_kernel)" ] || vm_fail "no /boot/vmlinuz-6.1.*-amd64: run scripts/setup (linux-image-amd64)"
	command -v cpio >/dev/null || vm_fail "cpio not found: run scripts/setup (cpio)"
}

vm_cleanup() {
	local rc=$?
	trap - EXIT INT TERM
	if [ -n "$VM_PID" ] && kill -0 "$VM_PID" 2>/dev/null; then
		kill -TERM "$VM_PID" 2>/dev/null
		sleep 1
		kill -KILL "$VM_PID" 2>/dev/null
	fi
	if [ -n "$VM_TMP" ] && [ -d "$VM_TMP" ]; then
		if [ -n "${VM_KEEP:-}" ]; then
			echo "kept $VM_TMP (VM_KEEP)"
		else
			rm -rf "$VM_TMP"
		fi
	fi
	exit $rc
}

# vm_tmp: make the run's temp dir ($VM_TMP, removed at exit) now, e.g. to
# build files for VM_EXTRA before vm_run.
vm_tmp() {
	[ -n "$VM_TMP" ] && return 0
	VM_TMP=$(mktemp -d "/tmp/xbt-vm61.XXXXXX")
	trap vm_cleanup EXIT
	trap 'exit 130' INT
	trap 'exit 143' TERM
}

# Extra host files for the guest's /xt (next to the test), e.g. BPF objects
# the test compiled on the host: VM_EXTRA=(file ...).
VM_EXTRA=()

# vm_initrd SCRIPT OUT: the cached base archive, then a small one with the
# test as /xt/test and VM_EXTRA (the kernel unpacks concatenated newc
# archives in order).
vm_initrd() {
	local script=$1 out=$2 base stage
	base=$("$XBOOT_TOP/scripts/mkvm61") || vm_fail "scripts/mkvm61 failed"
	stage=$VM_TMP/overlay
	mkdir -p "$stage/xt"
	cp "$script" "$stage/xt/test"
	chmod 755 "$stage/xt/test"
	# The test sources "$(dirname "$0")/lib/vm61.sh": /xt/lib in the guest.
	ln -s /xboot/tests/vm/lib "$stage/xt/lib"
	[ ${#VM_EXTRA[@]} -eq 0 ] || cp "${VM_EXTRA[@]}" "$stage/xt/"
	cat "$base" >"$out"
	(cd "$stage" && find . -print0 | sort -z |
		cpio --null -o -H newc --owner=0:0 --quiet) >>"$out"
}

# vm_bpf_obj SRC OUT: compile a small BPF program for the guest (clang, UAPI
# headers and the project's include/).
vm_bpf_obj() {
	command -v clang >/dev/null || vm_fail "clang not found: run scripts/setup (clang)"
	clang -O2 -g -Wall -Werror -target bpf -I"$XBOOT_TOP/include" \
		-I/usr/include/"$(gcc -dumpmachine)" -c "$1" -o "$2" ||
		vm_fail "cannot build $1"
}

# vm_boot NAME TIMEOUT: run qemu until the guest powers off, or kill it
# TIMEOUT + 120 s later (boot and the guest's own limit). Console in
# $VM_CONSOLE.
vm_boot() {
	local name=$1 limit=$2 start
	# qemu writes into the run's own directory (another run of the same
	# test may be going on); the copy in test-logs is made at the end.
	VM_CONSOLE=$VM_TMP/console
	VM_CONSOLE_LOG=$XBOOT_TOP/build/test-logs/vm61-$name.console
	mkdir -p "$(dirname "$VM_CONSOLE_LOG")"
	: >"$VM_CONSOLE"
	local disk=()
	if [ "$VM_DISK_MB" -gt 0 ]; then
		truncate -s "${VM_DISK_MB}M" "$VM_TMP/disk.img"
		mkfs.ext4 -q -F "$VM_TMP/disk.img" || vm_fail "mkfs.ext4 failed (e2fsprogs)"
		disk=(-drive "file=$VM_TMP/disk.img,if=virtio,format=raw,cache=unsafe")
	fi
	start=$(date +%s)
	vm_log "qemu: $(basename "$(vm_kernel)"), ${VM_SMP} vCPUs, ${VM_MEM} MiB, disk ${VM_DISK_MB} MiB, test limit ${limit}s"
	timeout -s KILL $((limit + 120)) qemu-system-x86_64 \
		-accel tcg,thread=multi -cpu max -smp "$VM_SMP" -m "$VM_MEM" "${disk[@]}" \
		-nographic -no-reboot -nic none -monitor none \
		-serial "file:$VM_CONSOLE" \
		-kernel "$(vm_kernel)" -initrd "$VM_TMP/initrd.cpio" \
		-append "console=ttyS0,115200 panic=-1 loglevel=4 mitigations=off xbt.name=$name xbt.timeout=$limit" \
		>"$VM_TMP/qemu.log" 2>&1 </dev/null &
	VM_PID=$!
	wait "$VM_PID"
	VM_RC=$?
	VM_PID=
	cp "$VM_CONSOLE" "$VM_CONSOLE_LOG.$$" && mv "$VM_CONSOLE_LOG.$$" "$VM_CONSOLE_LOG"
	vm_log "qemu exited ($VM_RC) after $(($(date +%s) - start))s"
	[ -s "$VM_TMP/qemu.log" ] && sed 's/^/    qemu: /' "$VM_TMP/qemu.log"
	return 0
}

# vm_console: the console as plain text lines: no CRs, and no NULs or
# other control bytes a failing guest program may have written.
vm_console() { LC_ALL=C tr -d '\r\000-\010\013-\037' <"$VM_CONSOLE"; }

# vm_dmesg: the kernel log the guest printed at the end.
vm_dmesg() {
	vm_console | sed -n '/XBOOT-VM-DMESG-BEGIN/,/XBOOT-VM-DMESG-END/p' | sed '1d;$d'
}

# What in a kernel log means the kernel itself went wrong.
VM_DMESG_BAD='BUG:|WARNING:|Oops|general protection|Call Trace|Kernel panic|RCU stall|rcu_sched detected|refcount_t:|UBSAN|KASAN|list_(add|del) corruption|unreferenced object|kernel NULL pointer|soft lockup|hung_task'

# vm_run NAME TIMEOUT [SCRIPT]: boot the guest with SCRIPT (default: the
# calling test, $0) and exit with the verdict.
vm_run() {
	local name=$1 limit=$2 script=${3:-$0} result checks bad
	vm_tmp
	vm_initrd "$script" "$VM_TMP/initrd.cpio"
	vm_log "initramfs $(($(stat -c %s "$VM_TMP/initrd.cpio") >> 20)) MiB ($XBOOT_TOP/build/vm61)"
	vm_boot "$name" "$limit"

	vm_log "guest console (kernel log below):"
	vm_console | sed '/XBOOT-VM-DMESG-BEGIN/,/XBOOT-VM-DMESG-END/d' |
		grep -av '^[[:space:]]*$' | sed 's/^/    /'
	result=$(vm_console | grep -ao 'XBOOT-VM-RESULT [^ ]* [a-z]*' | tail -n 1 | awk '{print $3}')
	bad=$(vm_dmesg | grep -aE "$VM_DMESG_BAD" | head -n 5)
	if [ -n "$bad" ]; then
		vm_log "kernel log:"
		vm_dmesg | sed 's/^/    dmesg: /'
	fi

	checks=$(vm_console | grep -ao 'XBOOT-VM-CHECK .*' | cut -d' ' -f2-)
	echo
	echo "checks:"
	if [ -n "$checks" ]; then
		printf '%s\n' "$checks" | awk '{ r = $2; n = $1; $1 = $2 = "";
			sub(/^ +/, ""); printf "  %-5s %-32s %s\n", toupper(r), n, $0 }'
	else
		echo "  (none reported)"
	fi
	local nfail nskip npass
	nfail=$(printf '%s\n' "$checks" | awk '$2 == "fail"' | grep -c .)
	nskip=$(printf '%s\n' "$checks" | awk '$2 == "skip"' | grep -c .)
	npass=$(printf '%s\n' "$checks" | awk '$2 == "pass"' | grep -c .)
	echo "  $npass passed, $nfail failed, $nskip skipped"

	[ -n "$result" ] || vm_fail "no XBOOT-VM-RESULT on the console (guest crashed or timed out; see $VM_CONSOLE_LOG)"
	[ -z "$bad" ] || vm_fail "the kernel log shows a kernel problem: $(echo "$bad" | head -n 1)"
	[ "$nfail" -eq 0 ] || vm_fail "$nfail check(s) failed inside the VM"
	case $result in
	pass)
		if [ "$nskip" -gt 0 ]; then
			echo "PASS: $name ($nskip part(s) skipped:" \
				"$(printf '%s\n' "$checks" | awk '$2 == "skip" { printf "%s%s", s, $1; s = ", " }'))"
		else
			echo "PASS: $name"
		fi
		exit 0
		;;
	skip) vm_skip "$name: $(printf '%s\n' "$checks" | awk '$2 == "skip"' | head -n 1 | cut -d' ' -f3-)" ;;
	*) vm_fail "$name failed inside the VM (exit $(vm_console | grep -ao 'XBOOT-VM-EXIT [0-9]*' | tail -n 1 | cut -d' ' -f2))" ;;
	esac
}
