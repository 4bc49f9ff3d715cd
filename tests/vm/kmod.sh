#!/usr/bin/env bash
# xboot.ko inside Debian's 6.1 kernel under qemu (issue 4, "Tests"). Each
# part reports pass, fail or skip (with why) on its own; the test passes
# when nothing that could run failed, and lists what it skipped.
#
#   sparse    (host) make check: sparse C=2 has no warning about the module
#   load      vermagic; 5 insmod/rmmod cycles; the kernel log stays clean;
#             the debug build's self-tests passed at load (if it is one)
#   genl      every command through xbootctl (cache add|list|del|stats,
#             --json), as root and refused without CAP_NET_ADMIN
#   malformed crafted messages (tests/lib/genl_raw.c): missing, unknown,
#             mistyped attributes, unknown flag bits and commands, bad
#             paths, duplicates, the pin limit; each with its errno
#   events    the multicast group reports added, replaced, changed (written),
#             gone (renamed over) and removed files, each with its id
#   kfunc     tests/vm/lib/kfunc_probe.bpf.c run with BPF_PROG_TEST_RUN
#             (XDP and TC): bytes copied from the page cache equal the
#             file's, and every refusal (-ENOENT, -ESTALE, -ERANGE,
#             -EINVAL); a file rewritten on disk is dropped and its old
#             generation refused
#   unload    rmmod while an XDP program using the kfunc is attached is
#             refused (or safe), and works once it is detached
#   tftp      xbootd with XDP in the VM, the hot file registered with the
#             module: tftp-hpa and curl fetch it byte for byte, and the
#             module's and xbootd's counters show the kfunc served it
#   rewrite   the hot file truncated and rewritten, written over, and
#             renamed over during transfers: each transfer fails or
#             delivers one whole file, never old and new bytes mixed
#
#   ┌──────────────────────── qemu: Debian 6.1 ─────────────────────────┐
#   │  xboot.ko ◄─ genl ─ xbootctl, genl_raw      kfunc ◄─ kfunc_probe  │
#   │    ▲ kfunc                                                        │
#   │  ┌─┴──── xbt-km-N-srv ─────┐      ┌──── xbt-km-N-cli ────┐        │
#   │  │ xbootd xdp=auto         │ veth │ tftp, curl           │        │
#   │  │ xbt-km-s 10.77.0.1/16 ──┼──────┼─ xbt-km-c 10.77.0.2  │        │
#   │  └─────────────────────────┘      └──────────────────────┘        │
#   └───────────────────────────────────────────────────────────────────┘
set -u
. "$(dirname "$0")/lib/vm61.sh"

if vm_guest; then
	KO=/xboot/xboot.ko
	RAW=/xboot/build/tests/genl_raw
	CTL=/xboot/build/xbootctl
	PROBE=/xt/kfunc_probe.bpf.o
	PROBE_XDP=/sys/fs/bpf/xb_probe/xboot_kfunc_probe
	PROBE_TC=/sys/fs/bpf/xb_probe/xboot_kfunc_probe_tc
	# Files on ext4 (the test disk): xboot.ko needs a real page cache.
	W=/data/km
	mkdir -p $W/files $W/dir
	HAVE_GENL=0
	HAVE_CACHE_CMD=0

	# --- load ---------------------------------------------------------
	load_checks() {
		local vm i ok=1 bad
		if [ ! -f $KO ]; then
			vg_skip load "xboot.ko was not built (make kmod)"
			return 1
		fi
		vm=$(strings $KO | grep -m1 '^vermagic=' | cut -d= -f2)
		case $vm in
		"$(uname -r) "*) vg_pass vermagic "$vm" ;;
		*) vg_fail vermagic "module built for '$vm', kernel is $(uname -r)" ;;
		esac
		vg_dmesg_mark
		for i in 1 2 3 4 5; do
			if ! insmod $KO; then
				ok=0
				break
			fi
			[ -d /sys/module/xboot ] || ok=0
			rmmod xboot || ok=0
			[ ! -d /sys/module/xboot ] || ok=0
			[ $ok = 1 ] || break
		done
		if [ $ok = 1 ]; then
			vg_pass load-cycles "5 insmod/rmmod cycles"
		else
			vg_fail load-cycles "cycle $i failed"
			vg_dmesg_since | tail -n 20
			return 1
		fi
		vg_dmesg_since | sed 's/^/    dmesg: /'
		bad=$(vg_dmesg_since | grep -E "$VG_DMESG_BAD")
		if [ -z "$bad" ]; then
			vg_pass load-dmesg "no warning in the kernel log"
		else
			vg_fail load-dmesg "$(echo "$bad" | head -n 1)"
		fi
		selftest_check
		return 0
	}

	# The debug build (make kmod XBOOT_DEBUG=1; the host side of this
	# test builds one as /xt/xboot-debug.ko) runs its self-tests at load
	# and logs them; a failing self-test fails the load itself.
	selftest_check() {
		local st tried=0 loaded=0
		if [ -f /xt/xboot-debug.ko ]; then
			tried=1
			vg_dmesg_mark
			insmod /xt/xboot-debug.ko && loaded=1
			[ $loaded = 1 ] && rmmod xboot
		fi
		st=$(vg_dmesg_since | grep -i 'xboot.*self.\?test')
		echo "$st" | sed 's/^/    dmesg: /'
		if grep -qs '^fail: ' /xt/xboot-debug.why; then
			vg_fail selftests "$(sed 's/^fail: //' /xt/xboot-debug.why)"
		elif echo "$st" | grep -qiE 'fail|error'; then
			vg_fail selftests "$(echo "$st" | grep -iE 'fail|error' | head -n 1)"
		elif [ $tried = 1 ] && [ $loaded = 0 ]; then
			vg_fail selftests "the debug build does not load"
		elif [ -n "$st" ]; then
			vg_pass selftests "$(echo "$st" | tail -n 1 | sed 's/^\[[^]]*\] //')"
		elif [ $tried = 1 ]; then
			vg_fail selftests "the debug build loaded but logged no self-test result"
		else
			vg_skip selftests "$(cat /xt/xboot-debug.why 2>/dev/null || echo "no debug build")"
		fi
	}

	# Load for the rest, with a small pin limit when the module has one
	# (the -ENOSPC check).
	load_for_tests() {
		PIN_MB=
		if strings $KO | grep -q '^parm=max_pinned_mb:'; then
			PIN_MB=8
			insmod $KO max_pinned_mb=$PIN_MB
		else
			insmod $KO
		fi || {
			vg_fail load "insmod failed"
			return 1
		}
		if $RAW stats >/dev/null 2>&1; then
			HAVE_GENL=1
		else
			vg_skip genl "xboot.ko registers no generic netlink family \"xboot\" yet"
		fi
		if $CTL cache stats >/dev/null 2>&1 || ! $CTL cache stats 2>&1 | grep -q 'unknown command'; then
			HAVE_CACHE_CMD=1
		fi
	}

	# --- genl through xbootctl ----------------------------------------
	ctl_checks() {
		local f=$W/files/ctl.bin out id
		if [ $HAVE_GENL = 0 ]; then
			vg_skip xbootctl-cache "no genl family"
			return
		fi
		if [ $HAVE_CACHE_CMD = 0 ]; then
			vg_skip xbootctl-cache "xbootctl has no cache commands yet"
			return
		fi
		head -c 100000 /dev/urandom >$f
		vg_check ctl-stats $CTL cache stats
		out=$($CTL cache add $f 2>&1)
		echo "$out" | sed 's/^/    /'
		if echo "$out" | grep -q "added $f"; then
			vg_pass ctl-add "$out"
		else
			vg_fail ctl-add "xbootctl cache add $f: $out"
		fi
		if $CTL cache list | tee /dev/stderr | grep -q " $f\$"; then
			vg_pass ctl-list
		else
			vg_fail ctl-list "$f not in xbootctl cache list"
		fi
		id=$($CTL --json cache list | jq -r --arg p "$f" '.files[] | select(.path == $p) | .id')
		if [ -n "$id" ] && [ "$($CTL --json cache list | jq -r --arg p "$f" '.files[] | select(.path == $p) | .size')" = 100000 ]; then
			vg_pass ctl-list-json "id $id, size 100000"
		else
			vg_fail ctl-list-json "no entry for $f with size 100000 in --json cache list"
		fi
		if $CTL cache add $f >/dev/null 2>&1; then
			vg_fail ctl-add-dup "a second cache add of $f succeeded"
		else
			vg_pass ctl-add-dup "refused: $($CTL cache add $f 2>&1)"
		fi
		out=$($CTL cache add --replace $f 2>&1)
		if echo "$out" | grep -q "added $f"; then
			vg_pass ctl-add-replace "$out"
		else
			vg_fail ctl-add-replace "$out"
		fi
		vg_check ctl-stats-json sh -c "$CTL --json cache stats | jq -e '.files >= 1'"
		vg_check ctl-del-path $CTL cache del $f
		if $CTL cache list | grep -q " $f\$"; then
			vg_fail ctl-del-gone "$f still listed after cache del"
		else
			vg_pass ctl-del-gone
		fi
		out=$($CTL cache del $f 2>&1)
		if [ $? -ne 0 ] && echo "$out" | grep -q 'not registered'; then
			vg_pass ctl-del-missing "$out"
		else
			vg_fail ctl-del-missing "cache del of a file not registered: $out"
		fi
		$CTL cache add $f >/dev/null 2>&1
		id=$($CTL --json cache list | jq -r --arg p "$f" '.files[] | select(.path == $p) | .id')
		vg_check ctl-del-id $CTL cache del "$id"
		out=$(setpriv --reuid=65534 --regid=65534 --clear-groups $CTL cache stats 2>&1)
		if [ $? -ne 0 ] && echo "$out" | grep -q 'CAP_NET_ADMIN'; then
			vg_pass ctl-unprivileged "$out"
		else
			vg_fail ctl-unprivileged "uid 65534: $out"
		fi
		# Root, but without the capability: the check is on
		# CAP_NET_ADMIN, not on the uid.
		out=$(setpriv --inh-caps=-net_admin --bounding-set=-net_admin $CTL cache stats 2>&1)
		if [ $? -ne 0 ] && echo "$out" | grep -q 'CAP_NET_ADMIN'; then
			vg_pass ctl-root-no-cap "$out"
		else
			vg_fail ctl-root-no-cap "uid 0 without CAP_NET_ADMIN: $out"
		fi
		out=$(setpriv --reuid=65534 --regid=65534 --clear-groups $CTL cache add $f 2>&1)
		if [ $? -ne 0 ] && echo "$out" | grep -q 'CAP_NET_ADMIN'; then
			vg_pass ctl-unprivileged-add "$out"
		else
			vg_fail ctl-unprivileged-add "uid 65534: $out"
		fi
	}

	# --- malformed and refused messages (genl_raw) --------------------
	# expect NAME ERRNO genl_raw-ARGS...: the kernel answers with ERRNO.
	expect() {
		local name=$1 want=$2 got
		shift 2
		got=$($RAW "$@" 2>&1 | head -n 1)
		if [ "${got%% *}" = "$want" ]; then
			vg_pass "$name" "$want ${got#"${got%% *}"}"
		else
			vg_fail "$name" "genl_raw $*: want $want, got $got"
		fi
	}

	raw_checks() {
		local f=$W/files/raw.bin big=$W/files/big.bin out id gen id2 gen2 files0
		if [ $HAVE_GENL = 0 ]; then
			vg_skip malformed "no genl family"
			return
		fi
		head -c 50000 /dev/urandom >$f
		expect add-no-path EINVAL add
		expect add-empty-path EINVAL add path:str=
		expect add-relative EINVAL add path:str=files/raw.bin
		expect add-not-nul EINVAL add path:bin=$f
		expect add-path-u32 EINVAL add path:u32=7
		expect add-missing ENOENT add path:str=$W/nope
		expect add-dir EINVAL add path:str=$W/dir
		expect add-bad-flags EOPNOTSUPP add path:str=$f flags:u32=0x80000000
		expect add-unknown-attr EINVAL add path:str=$f 200:u32=1
		expect add-unknown-attr-next EINVAL add path:str=$f next:u32=1
		expect unknown-cmd EOPNOTSUPP 99
		expect event-cmd EOPNOTSUPP event event:u32=1
		expect del-no-id EINVAL del
		expect del-missing ENOENT del id:u32=4000000
		expect get-no-id EINVAL get
		expect get-missing ENOENT get id:u32=4000000
		expect get-unknown-attr EINVAL get id:u32=4000000 200:flag=
		expect unpriv-stats EPERM -u stats
		expect unpriv-add EPERM -u add path:str=$f
		expect unpriv-del EPERM -u del id:u32=1
		expect unpriv-dump EPERM -u -d get
		out=$(setpriv --inh-caps=-net_admin --bounding-set=-net_admin $RAW add path:str=$f 2>&1 | head -n 1)
		if [ "${out%% *}" = EPERM ]; then
			vg_pass root-no-cap-add "EPERM"
		else
			vg_fail root-no-cap-add "uid 0 without CAP_NET_ADMIN: want EPERM, got $out"
		fi

		files0=$($RAW stats | grep -o ' files=[0-9]*' | cut -d= -f2)
		out=$($RAW add path:str=$f)
		echo "$out" | sed 's/^/    /'
		id=$(echo "$out" | grep -o ' id=[0-9]*' | cut -d= -f2)
		gen=$(echo "$out" | grep -o ' gen=[0-9]*' | cut -d= -f2)
		if [ "${out%% *}" = OK ] && [ -n "$id" ] && [ -n "$gen" ] &&
			echo "$out" | grep -q " size=50000" && echo "$out" | grep -q " path=$f"; then
			vg_pass add-reply "id $id gen $gen"
		else
			vg_fail add-reply "FILE_ADD's reply lacks id, gen, size or path: $out"
		fi
		expect add-dup EEXIST add path:str=$f
		out=$($RAW add path:str=$f flags:u32=1)
		id2=$(echo "$out" | grep -o ' id=[0-9]*' | cut -d= -f2)
		gen2=$(echo "$out" | grep -o ' gen=[0-9]*' | cut -d= -f2)
		if [ "${out%% *}" = OK ] && [ -n "$gen2" ] && [ "$gen2" != "$gen" ]; then
			vg_pass add-replace "id $id gen $gen -> id $id2 gen $gen2"
		else
			vg_fail add-replace "REPLACE: want a new generation: $out"
		fi
		expect get-old-id ENOENT get id:u32=${id:-0}
		[ "$id2" = "$id" ] && vg_log "note: REPLACE kept id $id"
		expect get "OK" get id:u32=${id2:-0}
		out=$($RAW -d get)
		if [ "${out%% *}" = OK ] && echo "$out" | grep -q " path=$f"; then
			vg_pass dump "$(echo "$out" | head -n 1)"
		else
			vg_fail dump "the dump does not list $f: $out"
		fi
		out=$($RAW stats)
		if [ "${out%% *}" = OK ] && echo "$out" | grep -qE " files=$((${files0:-0} + 1))( |\$)"; then
			vg_pass stats "$(echo "$out" | tail -n 1)"
		else
			vg_fail stats "want files=$((${files0:-0} + 1)): $out"
		fi
		expect del OK del id:u32=${id2:-0}
		expect del-again ENOENT del id:u32=${id2:-0}
		if [ -n "$PIN_MB" ]; then
			head -c $(((PIN_MB + 1) << 20)) /dev/zero >$big
			expect add-over-limit ENOSPC add path:str=$big
			rm -f $big
		else
			vg_skip add-over-limit "no max_pinned_mb module parameter"
		fi
	}

	# --- events on the multicast group --------------------------------
	# ev_id OUT: the id in a FILE_ADD reply.
	ev_id() { echo "$1" | grep -o ' id=[0-9]*' | cut -d= -f2; }

	# ev_expect NAME EVENT ID: the listener saw event EVENT for file ID.
	ev_expect() {
		if grep -qE "^event event=$2 id=$3( |\$)" $W/events.log; then
			vg_pass "$1" "$(grep -E "^event event=$2 id=$3( |\$)" $W/events.log | head -n 1)"
		else
			vg_fail "$1" "no event $2 for file $3 (events: $(tr '\n' ';' <$W/events.log))"
		fi
	}

	event_checks() {
		local f=$W/files/ev.bin o=$W/files/ev-other.bin pid n id1 id2 id3 id4
		if [ $HAVE_GENL = 0 ]; then
			vg_skip events "no genl family"
			return
		fi
		head -c 20000 /dev/urandom >$f
		head -c 20000 /dev/urandom >$o
		$RAW -m 8 >$W/events.log 2>&1 &
		pid=$!
		n=0
		while ! grep -q ready $W/events.log && [ $n -lt 50 ]; do
			sleep 0.1
			n=$((n + 1))
		done
		if ! grep -q ready $W/events.log; then
			vg_fail events "cannot join the events group: $(cat $W/events.log)"
			kill $pid 2>/dev/null
			return
		fi
		id1=$(ev_id "$($RAW add path:str=$f)")
		id2=$(ev_id "$($RAW add path:str=$f flags:u32=1)")
		echo more >>$f
		sleep 0.3
		id3=$(ev_id "$($RAW add path:str=$f)")
		mv $o $f
		sleep 0.3
		id4=$(ev_id "$($RAW add path:str=$f)")
		$RAW del id:u32=${id4:-0} >/dev/null
		wait $pid
		sed 's/^/    /' $W/events.log
		ev_expect event-added 1 "${id1:-x}"
		ev_expect event-replaced 5 "${id1:-x}"
		ev_expect event-changed 3 "${id2:-x}"
		ev_expect event-gone 4 "${id3:-x}"
		ev_expect event-removed 2 "${id4:-x}"
	}

	# --- the kfunc, through BPF_PROG_TEST_RUN -------------------------
	le32() { printf '\\x%02x\\x%02x\\x%02x\\x%02x' $(($1 & 255)) $((($1 >> 8) & 255)) \
		$((($1 >> 16) & 255)) $((($1 >> 24) & 255)); }

	# probe_run ID GEN OFFSET LEN PKT_OFF: run the probe ($PR_PROG: the
	# XDP one unless set) on a 2048-byte frame; sets PR_RET (the kfunc's
	# return value); the frame is $W/out.bin.
	probe_run() {
		{
			printf "$(le32 $1)$(le32 $2)$(le32 $(($3 & 0xffffffff)))$(le32 $(($3 >> 32)))"
			printf "$(le32 $4)$(le32 $5)$(le32 0)$(le32 0)"
			head -c $((2048 - 32)) /dev/zero
		} >$W/in.bin
		PR_RET=$(bpftool prog run pinned ${PR_PROG:-$PROBE_XDP} data_in $W/in.bin \
			data_out $W/out.bin >/dev/null 2>&1 &&
			od -An -t d4 -j 32 -N 4 $W/out.bin | tr -d ' ')
	}

	# kexpect NAME WANT ID GEN OFFSET LEN PKT_OFF
	kexpect() {
		local name=$1 want=$2
		shift 2
		probe_run "$@"
		if [ "$PR_RET" = "$want" ]; then
			vg_pass "$name" "returned $PR_RET"
		else
			vg_fail "$name" "kfunc($*): want $want, got ${PR_RET:-nothing}"
		fi
	}

	kfunc_checks() {
		local f=$W/files/k.bin out id gen blocks0 blocks1
		KFUNC_OK=0
		if [ $HAVE_GENL = 0 ]; then
			vg_skip kfunc "no genl family to register a file with"
			return
		fi
		if [ ! -e /sys/kernel/btf/xboot ]; then
			vg_skip kfunc "xboot.ko carries no BTF (/sys/kernel/btf/xboot missing)"
			return
		fi
		if ! bpftool btf dump file /sys/kernel/btf/xboot 2>/dev/null | grep -q "FUNC 'bpf_xboot_xdp_copy'"; then
			vg_skip kfunc "bpf_xboot_xdp_copy is not in xboot.ko's BTF"
			return
		fi
		if ! bpftool prog loadall $PROBE /sys/fs/bpf/xb_probe >$W/probe.log 2>&1; then
			sed 's/^/    /' $W/probe.log | tail -n 30
			vg_fail kfunc-load "the probes calling bpf_xboot_xdp_copy and bpf_xboot_skb_copy do not load"
			return
		fi
		vg_pass kfunc-load "XDP and TC programs calling the kfuncs verified and loaded"
		head -c 300000 /dev/urandom >$f
		out=$($RAW add path:str=$f)
		id=$(echo "$out" | grep -o ' id=[0-9]*' | cut -d= -f2)
		gen=$(echo "$out" | grep -o ' gen=[0-9]*' | cut -d= -f2)
		[ -n "$id" ] || {
			vg_fail kfunc-register "$out"
			return
		}
		blocks0=$($RAW stats | grep -o ' kblocks=[0-9]*' | cut -d= -f2)
		probe_run $id $gen 0 512 64
		if [ "$PR_RET" = 512 ] &&
			cmp <(tail -c +65 $W/out.bin | head -c 512) <(head -c 512 $f); then
			vg_pass kfunc-copy "block 0 (512 bytes) byte for byte"
		else
			vg_fail kfunc-copy "block 0: returned ${PR_RET:-nothing}, bytes differ or missing"
		fi
		probe_run $id $gen $((300000 - 1432)) 1432 100
		if [ "$PR_RET" = 1432 ] &&
			cmp <(tail -c +101 $W/out.bin | head -c 1432) <(tail -c 1432 $f); then
			vg_pass kfunc-copy-tail "the last 1432 bytes, across a page boundary"
		else
			vg_fail kfunc-copy-tail "returned ${PR_RET:-nothing}, bytes differ or missing"
		fi
		probe_run $id $gen 4000 200 40
		if [ "$PR_RET" = 200 ] &&
			cmp <(tail -c +41 $W/out.bin | head -c 200) <(tail -c +4001 $f | head -c 200); then
			vg_pass kfunc-copy-straddle "200 bytes straddling pages 0 and 1"
		else
			vg_fail kfunc-copy-straddle "returned ${PR_RET:-nothing}, bytes differ or missing"
		fi
		kexpect kfunc-past-eof -34 $id $gen $((300000 - 100)) 200 64
		kexpect kfunc-past-frame -34 $id $gen 0 512 1800
		kexpect kfunc-len-0 -22 $id $gen 0 0 64
		kexpect kfunc-len-max -22 $id $gen 0 9001 64
		kexpect kfunc-stale-gen -116 $id $((gen + 1000)) 0 512 64
		kexpect kfunc-no-file -2 4000000 $gen 0 512 64
		PR_PROG=$PROBE_TC probe_run $id $gen 8192 1432 64
		if [ "$PR_RET" = 1432 ] &&
			cmp <(tail -c +65 $W/out.bin | head -c 1432) <(tail -c +8193 $f | head -c 1432); then
			vg_pass kfunc-tc-copy "bpf_xboot_skb_copy: 1432 bytes byte for byte"
		else
			vg_fail kfunc-tc-copy "bpf_xboot_skb_copy returned ${PR_RET:-nothing}, bytes differ or missing"
		fi
		PR_PROG=$PROBE_TC kexpect kfunc-tc-stale-gen -116 $id $((gen + 1000)) 0 512 64
		PR_PROG=$PROBE_TC kexpect kfunc-tc-past-frame -34 $id $gen 0 512 1800
		blocks1=$($RAW stats | grep -o ' kblocks=[0-9]*' | cut -d= -f2)
		if [ -n "$blocks1" ] && [ "$blocks1" -ge $((${blocks0:-0} + 4)) ]; then
			vg_pass kfunc-counted "blocks $blocks0 -> $blocks1"
		else
			vg_fail kfunc-counted "STATS_BLOCKS $blocks0 -> $blocks1 after 4 copies"
		fi
		# Rewritten in place: dropped at once, the old generation refused.
		head -c 300000 /dev/urandom >$f
		sleep 0.2
		probe_run $id $gen 0 512 64
		case $PR_RET in
		-116 | -2) vg_pass kfunc-rewritten "old generation refused ($PR_RET)" ;;
		*) vg_fail kfunc-rewritten "after the file was rewritten the kfunc returned ${PR_RET:-nothing}" ;;
		esac
		if $RAW -d get | grep -q " id=$id "; then
			vg_fail kfunc-dropped "file $id still listed after it was rewritten"
		else
			vg_pass kfunc-dropped "$($RAW stats | grep -o ' drops=[0-9]*')"
		fi
		KFUNC_OK=1
	}

	# --- unload while a kfunc program is attached ---------------------
	unload_checks() {
		local n ret
		if [ "${KFUNC_OK:-0}" = 0 ]; then
			vg_skip unload-attached "no kfunc program could be loaded"
			return
		fi
		ip link add xk0 type veth peer name xk1
		ip link set xk0 up
		ip link set xk1 up
		if ! ip link set dev xk0 xdpdrv pinned $PROBE_XDP; then
			vg_fail unload-attached "cannot attach the probe to a veth"
			return
		fi
		rm -rf /sys/fs/bpf/xb_probe
		vg_dmesg_mark
		if rmmod xboot 2>$W/rmmod.log; then
			# Allowed only if it is safe: the attached program must not
			# crash the kernel when it runs.
			ping -c 2 -W 1 -I xk1 10.255.255.1 >/dev/null 2>&1
			sleep 1
			if vg_dmesg_since | grep -qE "$VG_DMESG_BAD"; then
				vg_fail unload-attached "rmmod succeeded with the program attached, then: $(vg_dmesg_since | grep -E "$VG_DMESG_BAD" | head -n 1)"
			else
				vg_pass unload-attached "rmmod succeeded and the attached program stayed safe"
			fi
		else
			if [ -d /sys/module/xboot ]; then
				vg_pass unload-attached "refused: $(cat $W/rmmod.log) (refcnt $(cat /sys/module/xboot/refcnt 2>/dev/null))"
			else
				vg_fail unload-attached "rmmod failed but the module is gone"
			fi
		fi
		ip link set dev xk0 xdpdrv off
		ip link del xk0
		# The program is freed after an RCU grace period.
		n=50
		while [ -d /sys/module/xboot ] && [ $n -gt 0 ]; do
			rmmod xboot 2>/dev/null && break
			sleep 0.2
			n=$((n - 1))
		done
		if [ -d /sys/module/xboot ]; then
			vg_fail unload-detached "rmmod still refused 10 s after the program was detached"
		else
			vg_pass unload-detached "unloaded once the program was gone"
		fi
		insmod $KO ${PIN_MB:+max_pinned_mb=$PIN_MB} || vg_fail reload "insmod after unload failed"
	}

	# --- TFTP through xbootd, XDP and the kfunc -----------------------
	# In a subshell: netns.sh's nx_fail ends only this part.
	tftp_part() (
		. /xboot/tests/lib/netns.sh
		nx_init km
		cp /xt/xdp_pass.bpf.o "$NX_TMP/xdp_pass.o"
		nx_pair
		nx_cli_addr
		ROOT=/data/tftp
		OUT=$NX_TMP/out
		mkdir -p "$ROOT" "$OUT"
		head -c $((700 * 1024 + 123)) /dev/urandom >"$ROOT/hot.bin"
		# The file the rewrite checks change under running transfers.
		head -c $((2 << 20)) /dev/urandom >"$ROOT/big.bin"
		nx_xbootd xdp=auto tftp-root="$ROOT" tftp-hot=hot.bin tftp-hot=big.bin \
			dhcp-range=$NX_NET.1.10,$NX_NET.1.200
		status=$(nx_ctl status 2>&1)
		echo "$status" | sed 's/^/    status: /'
		if ! echo "$status" | grep -qi 'kfunc'; then
			vg_skip tftp-kfunc "xbootd does not use the kfunc block source ($(echo "$status" | grep -i 'source' | head -n 1))"
			exit 77
		fi
		for i in $(seq 50); do
			$CTL cache list | grep -q "$ROOT/hot.bin" && break
			sleep 0.2
		done
		if $CTL cache list | grep -q "$ROOT/hot.bin"; then
			vg_pass tftp-registered "xbootd registered hot.bin with the module"
		else
			$CTL cache list 2>&1 | sed 's/^/    /'
			vg_fail tftp-registered "hot.bin is not in xbootctl cache list"
		fi
		kb0=$($CTL --json cache stats | jq '.blocks')
		xb0=$(nx_ctl --json stats | jq '.xdp.tftp_blocks // 0')
		(cd "$OUT" && timeout 120 ip netns exec "$NX_CLI" tftp -m binary $NX_SRV_IP -c get hot.bin hpa.bin)
		if cmp -s "$ROOT/hot.bin" "$OUT/hpa.bin"; then
			vg_pass tftp-hpa "tftp-hpa (blksize 512): byte for byte"
		else
			vg_fail tftp-hpa "tftp-hpa's copy differs or is missing"
		fi
		timeout 120 ip netns exec "$NX_CLI" curl -sS --tftp-blksize 1432 \
			-o "$OUT/curl.bin" "tftp://$NX_SRV_IP/hot.bin"
		if cmp -s "$ROOT/hot.bin" "$OUT/curl.bin"; then
			vg_pass tftp-curl "curl (blksize 1432): byte for byte"
		else
			vg_fail tftp-curl "curl's copy differs or is missing"
		fi
		kb1=$($CTL --json cache stats | jq '.blocks')
		xb1=$(nx_ctl --json stats | jq '.xdp.tftp_blocks // 0')
		nx_ctl stats | sed 's/^/    /'
		$CTL cache stats | sed 's/^/    /'
		# 1372 + 502 blocks; XDP may leave the first block or two of each
		# transfer to userspace.
		want=$(((700 * 1024 + 123) / 512 + (700 * 1024 + 123) / 1432 - 10))
		if [ $((kb1 - kb0)) -ge $want ]; then
			vg_pass tftp-kfunc-blocks "xbootctl cache stats: blocks +$((kb1 - kb0)) (>= $want)"
		else
			vg_fail tftp-kfunc-blocks "xbootctl cache stats: blocks +$((kb1 - kb0)), want >= $want"
		fi
		if [ $((xb1 - xb0)) -ge $want ]; then
			vg_pass tftp-xdp-blocks "xbootctl stats xdp.tftp_blocks +$((xb1 - xb0))"
		else
			vg_fail tftp-xdp-blocks "xbootctl stats xdp.tftp_blocks +$((xb1 - xb0)), want >= $want"
		fi
		rewrite_part
		nx_xbootd_stop
		exit 0
	)

	# fetch_during NAME CHANGE: start a curl transfer of big.bin (blksize
	# 512), run CHANGE once 64 KiB have arrived, and check the outcome: a failed
	# transfer, or one complete file (the new one; the old one only when
	# the change left the old inode intact), never a mix.
	fetch_during() {
		local name=$1 change=$2 pid n size=$(stat -c %s "$ROOT/big.bin") rc got done_at stale
		cp "$ROOT/big.bin" "$NX_TMP/old.bin"
		head -c "$size" /dev/urandom >"$NX_TMP/new.bin"
		rm -f "$OUT/r.bin"
		timeout 60 ip netns exec "$NX_CLI" curl -sS --max-time 40 --tftp-blksize 512 \
			-o "$OUT/r.bin" "tftp://$NX_SRV_IP/big.bin" 2>"$NX_TMP/$name-curl.log" &
		pid=$!
		n=0
		while [ "$(stat -c %s "$OUT/r.bin" 2>/dev/null || echo 0)" -lt 65536 ] &&
			kill -0 $pid 2>/dev/null && [ $n -lt 600 ]; do
			sleep 0.05
			n=$((n + 1))
		done
		got=$(stat -c %s "$OUT/r.bin" 2>/dev/null || echo 0)
		$change
		done_at=$(stat -c %s "$OUT/r.bin" 2>/dev/null || echo 0)
		wait $pid
		rc=$?
		vg_log "$name: change from $got to $done_at of $size bytes; curl exit $rc: $(cat "$NX_TMP/$name-curl.log")"
		stale=$(stale_after "$done_at")
		if [ "$got" -ge "$size" ]; then
			vg_skip "$name" "the transfer finished before the change (too fast to test here)"
		elif [ -n "$stale" ] && [ "$name" != rewrite-rename ]; then
			vg_fail "$name" "stale: the old file's bytes at $stale, after the change was complete at byte $done_at"
		elif [ $rc -eq 124 ] || [ $rc -eq 28 ]; then
			vg_fail "$name" "the transfer hung until a timeout (exit $rc) instead of failing"
		elif [ $rc -ne 0 ]; then
			vg_pass "$name" "the transfer failed cleanly (curl exit $rc)"
		elif cmp -s "$OUT/r.bin" "$NX_TMP/new.bin"; then
			vg_pass "$name" "completed with the new contents"
		elif cmp -s "$OUT/r.bin" "$NX_TMP/old.bin" && [ "$name" = rewrite-rename ]; then
			vg_pass "$name" "completed with the old inode's contents (still intact)"
		elif cmp -s "$OUT/r.bin" "$NX_TMP/old.bin"; then
			vg_fail "$name" "completed with the old contents: stale bytes served after the change"
		elif cmp "$OUT/r.bin" "$NX_TMP/old.bin" 2>&1 | grep -q "EOF on $OUT/r.bin"; then
			vg_fail "$name" "ended early as if complete: the first $(stat -c %s "$OUT/r.bin") of $size bytes of the old file"
		else
			vg_fail "$name" "completed with old and new bytes mixed (none stale): old up to byte $(first_diff "$NX_TMP/old.bin"), the change from byte $got"
		fi
	}

	# stale_after OFFSET: the first block of $OUT/r.bin past OFFSET that
	# holds the old file's bytes instead of the new one's: served after
	# the change was complete. OFFSET is what curl had written then; 32 KiB
	# more allow for its stdio buffer and a block in flight. Empty if none.
	stale_after() {
		local from=$(($1 + 32768)) len off
		len=$(stat -c %s "$OUT/r.bin" 2>/dev/null || echo 0)
		[ "$len" -gt "$from" ] || return 0
		off=$(cmp <(tail -c +$((from + 1)) "$OUT/r.bin") \
			<(tail -c +$((from + 1)) "$NX_TMP/new.bin" | head -c $((len - from))) 2>/dev/null |
			sed -n 's/.* differ: [a-z]* \([0-9]*\).*/\1/p')
		[ -n "$off" ] || return 0
		off=$(((from + off - 1) / 512 * 512))
		if cmp -s <(tail -c +$((off + 1)) "$OUT/r.bin" | head -c 512) \
			<(tail -c +$((off + 1)) "$NX_TMP/old.bin" | head -c 512); then
			echo "$off"
		fi
	}

	# first_diff FILE: where $OUT/r.bin first differs from FILE (1-based).
	first_diff() {
		local c
		c=$(cmp "$OUT/r.bin" "$1" 2>&1)
		case $c in
		*differ:*) echo "$c" | sed -n 's/.* differ: [a-z]* \([0-9]*\).*/\1/p' ;;
		*) echo "($c; sizes $(stat -c %s "$OUT/r.bin") and $(stat -c %s "$1"))" ;;
		esac
	}

	# cp/cat over the file: truncated, then written.
	change_in_place() { cat "$NX_TMP/new.bin" >"$ROOT/big.bin"; }
	# Written over without a change of size.
	change_overwrite() { dd if="$NX_TMP/new.bin" of="$ROOT/big.bin" conv=notrunc bs=64k 2>/dev/null; }
	change_rename() {
		cp "$NX_TMP/new.bin" "$ROOT/.hot.tmp"
		mv "$ROOT/.hot.tmp" "$ROOT/big.bin"
	}

	rewrite_part() {
		local d0 d1
		d0=$($RAW stats | grep -o ' drops=[0-9]*' | cut -d= -f2)
		fetch_during rewrite-truncate change_in_place
		sleep 1
		fetch_during rewrite-overwrite change_overwrite
		sleep 1
		fetch_during rewrite-rename change_rename
		d1=$($RAW stats | grep -o ' drops=[0-9]*' | cut -d= -f2)
		if [ "${d1:-0}" -ge $((${d0:-0} + 3)) ]; then
			vg_pass rewrite-dropped "module STATS_DROPS $d0 -> $d1"
		else
			vg_fail rewrite-dropped "module STATS_DROPS $d0 -> $d1, want +3"
		fi
		# Afterwards the new contents, whole.
		sleep 1
		rm -f "$OUT/after.bin"
		timeout 60 ip netns exec "$NX_CLI" curl -sS --tftp-blksize 1432 \
			-o "$OUT/after.bin" "tftp://$NX_SRV_IP/big.bin"
		if cmp -s "$ROOT/big.bin" "$OUT/after.bin"; then
			vg_pass rewrite-after "the next transfer has the new contents"
		else
			vg_fail rewrite-after "the next transfer differs from the file on disk"
		fi
	}

	tftp_checks() {
		local rc
		if [ "${KFUNC_OK:-0}" = 0 ]; then
			vg_skip tftp "the kfunc path is not there yet (see kfunc)"
			return
		fi
		tftp_part
		rc=$?
		case $rc in
		0 | 77) ;;
		*) vg_fail tftp "the TFTP part stopped (exit $rc)" ;;
		esac
	}

	load_checks && load_for_tests && {
		ctl_checks
		raw_checks
		event_checks
		kfunc_checks
		unload_checks
		tftp_checks
		vg_dmesg_mark
		if [ -d /sys/module/xboot ]; then
			if rmmod xboot; then
				vg_pass unload-end "rmmod after everything"
			else
				vg_fail unload-end "rmmod at the end refused (refcnt $(cat /sys/module/xboot/refcnt))"
			fi
		fi
	}
	bad=$(dmesg | grep -E "$VG_DMESG_BAD" | head -n 1)
	if [ -z "$bad" ]; then
		vg_pass dmesg-clean "no warning in the whole kernel log"
	else
		vg_fail dmesg-clean "$bad"
	fi
	vg_done
fi

# kmod_debug_build: the module again with its self-tests (XBOOT_SELFTEST,
# what `make kmod XBOOT_DEBUG=1` builds) in a copy of the sources, with
# module BTF through the Makefile's kmod-btf step, as $VM_TMP/xboot-debug.ko;
# or $VM_TMP/xboot-debug.why saying why not.
kmod_debug_build() {
	local kdir d=$VM_TMP/kdebug
	kdir=$(ls -d /lib/modules/6.1.*-amd64/build 2>/dev/null | tail -n 1)
	if [ -z "$kdir" ]; then
		echo "no 6.1 kernel headers for a debug build" >"$VM_TMP/xboot-debug.why"
		return
	fi
	mkdir -p "$d/kmod"
	cp "$XBOOT_TOP/Kbuild" "$d/"
	cp -r "$XBOOT_TOP/include" "$d/"
	cp "$XBOOT_TOP"/kmod/*.[ch] "$d/kmod/"
	grep -rqs XBOOT_SELFTEST "$XBOOT_TOP/Kbuild" "$XBOOT_TOP"/kmod/*.c || {
		echo "the module has no self-tests (XBOOT_SELFTEST) yet" >"$VM_TMP/xboot-debug.why"
		return
	}
	vm_log "building xboot.ko with its self-tests (XBOOT_SELFTEST=y)"
	if ! make -C "$kdir" M="$d" XBOOT_SELFTEST=y modules >"$VM_TMP/kdebug.log" 2>&1 ||
		! make -C "$XBOOT_TOP" --no-print-directory kmod-btf KMOD_KO="$d/xboot.ko" >>"$VM_TMP/kdebug.log" 2>&1; then
		tail -n 20 "$VM_TMP/kdebug.log"
		echo "fail: the debug build (XBOOT_SELFTEST=y) does not build (see the host log)" >"$VM_TMP/xboot-debug.why"
		return
	fi
	cp "$d/xboot.ko" "$VM_TMP/xboot-debug.ko"
}

vm_require
vm_tmp
vm_bpf_obj "$XBOOT_TOP/tests/vm/lib/kfunc_probe.bpf.c" "$VM_TMP/kfunc_probe.bpf.o"
vm_bpf_obj "$XBOOT_TOP/tests/vm/lib/xdp_pass.bpf.c" "$VM_TMP/xdp_pass.bpf.o"
VM_EXTRA=("$VM_TMP/kfunc_probe.bpf.o" "$VM_TMP/xdp_pass.bpf.o")
if [ "${VM_KMOD_DEBUG:-1}" = 1 ]; then
	kmod_debug_build
else
	echo "VM_KMOD_DEBUG=0: no debug build" >"$VM_TMP/xboot-debug.why"
fi
for f in xboot-debug.ko xboot-debug.why; do
	[ -f "$VM_TMP/$f" ] && VM_EXTRA+=("$VM_TMP/$f")
done
[ -x "$XBOOT_TOP/build/tests/genl_raw" ] || vm_fail "build/tests/genl_raw not built: run make"
# Issue 4 holds the module to sparse (C=2) with no warning: make check.
if command -v sparse >/dev/null; then
	make -s -C "$XBOOT_TOP" check >"$VM_TMP/check.log" 2>&1 || {
		cat "$VM_TMP/check.log"
		vm_fail "make check: sparse or gcc warned about the module"
	}
	vm_log "make check: sparse (C=2) has no warning about the module"
else
	vm_fail "no sparse: run scripts/setup"
fi
VM_DISK_MB=64
vm_run kmod 200
