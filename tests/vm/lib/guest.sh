# The guest side of the 6.1 VM tests (sourced by tests/vm/lib/vm61.sh when
# it runs inside the VM): report each sub-check on the console as
#   XBOOT-VM-CHECK <name> pass|fail|skip [why]
# and end with vg_done, whose exit code /init turns into XBOOT-VM-RESULT.
# A check that cannot run yet (a missing tool, module feature, command)
# is a skip with its reason, so the test still passes on what can run.

VG_PASS=0
VG_FAIL=0
VG_SKIP=0

vg_log() { printf '[%s] %s\n' "$(date +%T)" "$*"; }

vg_pass() {
	VG_PASS=$((VG_PASS + 1))
	echo "XBOOT-VM-CHECK $1 pass ${2:-}"
}

vg_fail() {
	VG_FAIL=$((VG_FAIL + 1))
	echo "XBOOT-VM-CHECK $1 fail ${2:-}"
}

vg_skip() {
	VG_SKIP=$((VG_SKIP + 1))
	echo "XBOOT-VM-CHECK $1 skip ${2:-}"
}

# vg_check NAME CMD...: pass when CMD succeeds; its output is indented.
vg_check() {
	local name=$1 rc
	shift
	vg_log "$name: $*"
	"$@" 2>&1 | sed 's/^/    /'
	rc=${PIPESTATUS[0]}
	if [ "$rc" -eq 0 ]; then
		vg_pass "$name"
	else
		vg_fail "$name" "exit $rc: $*"
	fi
	return "$rc"
}

# vg_done: 1 if anything failed, 0 if something passed, else 77.
vg_done() {
	vg_log "$VG_PASS passed, $VG_FAIL failed, $VG_SKIP skipped"
	[ $VG_FAIL -eq 0 ] || exit 1
	[ $VG_PASS -gt 0 ] || exit 77
	exit 0
}

# vg_dmesg_mark: remember where the kernel log is now; vg_dmesg_since
# prints what came after.
vg_dmesg_mark() { VG_DMESG_LINES=$(dmesg | wc -l); }
vg_dmesg_since() { dmesg | tail -n +$((${VG_DMESG_LINES:-0} + 1)); }

# What in a kernel log means something went wrong (vm61.sh checks the
# whole log again on the host).
VG_DMESG_BAD='BUG:|WARNING:|Oops|general protection|Call Trace|Kernel panic|refcount_t:|UBSAN|KASAN|list_(add|del) corruption|kernel NULL pointer|soft lockup'
