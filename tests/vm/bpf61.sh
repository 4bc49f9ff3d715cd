#!/usr/bin/env bash
# The BPF test suite (build/tests/bpf/test_*: BPF_PROG_TEST_RUN on crafted
# frames) on the kernel the project targets, Debian's 6.1, inside qemu: the
# XDP programs must load, verify and behave there as on the development
# kernel. Passes only if every test program passes inside (a skip inside,
# e.g. a missing kernel feature, fails here: 6.1 must have them all).
#
#   host ── qemu (TCG) ── Debian 6.1 ── /xboot/build/tests/bpf/test_* (cmocka)
set -u
. "$(dirname "$0")/lib/vm61.sh"

if vm_guest; then
	n=0
	for t in /xboot/build/tests/bpf/test_*; do
		[ -x "$t" ] || continue
		n=$((n + 1))
		name=$(basename "$t")
		vg_log "$name"
		"$t" 2>&1 | sed 's/^/    /'
		rc=${PIPESTATUS[0]}
		case $rc in
		0) vg_pass "$name" ;;
		77) vg_fail "$name" "skipped inside the 6.1 guest (exit 77)" ;;
		*) vg_fail "$name" "exit $rc" ;;
		esac
	done
	[ $n -gt 0 ] || vg_fail bpf-tests "no build/tests/bpf/test_* in the initramfs"
	vg_done
fi

vm_require
ls "$XBOOT_TOP"/build/tests/bpf/test_* >/dev/null 2>&1 ||
	vm_fail "no build/tests/bpf/test_*: run make"
vm_run bpf61 150
