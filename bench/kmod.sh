#!/usr/bin/env bash
# The module's benchmark (`make bench-kmod`, issue 4): TFTP throughput and
# CPU per block inside Debian's 6.1 kernel under qemu, with each of the
# three places a DATA block can come from, side by side:
#
#   kfunc  xboot.ko loaded, xbootd xdp=auto: XDP copies each block from the
#          page cache through bpf_xboot_xdp_copy()
#   map    xboot.ko unloaded, xbootd xdp=auto: XDP copies it from the
#          block-cache map xbootd filled at start
#   user   xbootd xdp=off: every block from the io_uring slow path
#
#   ┌───────────────────────── qemu: Debian 6.1, 2 vCPUs ─────────────────────────┐
#   │  ┌──── xbt-kb-N-srv ─────────┐        ┌──── xbt-kb-N-cli ─────────────┐     │
#   │  │ xbootd, /data/tftp/hot.bin│  veth  │ build/bench/tftp_load         │     │
#   │  │ xbt-kb-s 10.77.0.1 ───────┼────────┼─ xbt-kb-c: lockstep clients,  │     │
#   │  └───────────────────────────┘        │   --once --verify             │     │
#   │        /data: ext4 (virtio disk)      └───────────────────────────────┘     │
#   └─────────────────────────────────────────────────────────────────────────────┘
#
# Per run (one source, one blksize): BENCH_KMOD_CLIENTS clients each fetch
# the BENCH_KMOD_MB MiB hot file once (a boot storm), for at most
# BENCH_KMOD_SECONDS. Measured:
#   MB/s      every DATA byte accepted in order / wall time (tftp_load)
#   blocks    DATA blocks sent by XDP, by the TC tier and by xbootd itself
#             (xbootctl stats --json: xdp.tftp_blocks, xdp.tftp_blocks_tc,
#             tftp.blocks_sent_user)
#   CPU/blk   the guest's busy CPU (user+nice+system+irq+softirq+steal of
#             /proc/stat, both vCPUs) over the run, per block sent:
#               total   everything, the load generator included
#               server  total minus the generator's own user+system time
#               xbootd  xbootd's own user+system time (/proc/PID/stat)
#               softirq the softirq share of the total (where XDP runs)
# The 6.1 kernel has no IRQ time accounting: softirq work (the veth's NAPI
# with the XDP program in it) that runs in the generator's context on
# its way out is charged to the generator as system time, so "server"
# under-counts the XDP sources badly; "total" counts everything once,
# whoever it is charged to, and is the column to compare.
# Under TCG (software emulation) only the ratios between rows mean much.
#
# Every transfer is checked byte for byte (--verify): a failed or wrong
# transfer fails the benchmark, and so does a kfunc run whose XDP blocks
# xboot.ko's own counter (xbootctl cache stats) does not account for.
# The host prints the table at the end and keeps it in build/bench/kmod.txt.
#
# BENCH_KMOD_ROUNDS rounds each run kfunc, map, user once per blksize
# (interleaved: the host's load drifts) and the table sums them. Bounded:
# rounds x 3 sources x 2 blksizes x at most BENCH_KMOD_SECONDS, plus the
# boot and restarts: about 4.5 minutes at the defaults (the userspace runs
# at blksize 512 are the ones cut off at the deadline).
set -u
# In the guest this script is /xt/test and the tree is /xboot.
if [ -n "${XBOOT_VM_GUEST:-}" ]; then
	. /xboot/tests/vm/lib/vm61.sh
else
	. "$(dirname "$0")/../tests/vm/lib/vm61.sh"
fi

if vm_guest; then
	. /xt/bench.conf
	. /xboot/tests/lib/netns.sh
	KO=/xboot/xboot.ko
	CTL=/xboot/build/xbootctl
	LOAD=/xboot/build/bench/tftp_load
	ROOT=/data/tftp
	SIZE=$((BENCH_KMOD_MB << 20))
	# shellcheck disable=SC2034 # read by nx_xbootd: no per-packet logging
	NX_XBOOTD_V=

	# busy_ticks: busy CPU time of the whole guest, in USER_HZ ticks.
	busy_ticks() {
		awk '$1 == "cpu" { print $2 + $3 + $4 + $7 + $8 + $9; exit }' /proc/stat
	}
	softirq_ticks() { awk '$1 == "cpu" { print $8; exit }' /proc/stat; }
	# pid_ticks PID: its user+system time in ticks.
	pid_ticks() { sed 's/.*) //' "/proc/$1/stat" | awk '{ print $12 + $13 }'; }
	# blocks: "XDP TC USER" blocks sent so far by the running xbootd.
	blocks() {
		nx_ctl --json stats | jq -r '"\(.xdp.tftp_blocks // 0) \(.xdp.tftp_blocks_tc // 0) \(.tftp.blocks_sent_user // 0)"'
	}

	# module_blocks: blocks xboot.ko has copied (0 when it is not loaded).
	module_blocks() {
		if [ -d /sys/module/xboot ]; then
			$CTL --json cache stats 2>/dev/null | jq '.blocks // 0'
		else
			echo 0
		fi
	}

	# start_source SRC: xboot.ko in or out, xbootd with the matching xdp=,
	# and check that the block source is the one asked for.
	start_source() {
		local src=$1 want xdp=auto got n
		case $src in
		kfunc)
			[ -d /sys/module/xboot ] || insmod $KO || {
				vg_fail "$src-source" "insmod $KO failed"
				return 1
			}
			want=kfunc
			;;
		map)
			# The stopped xbootd's XDP program, which holds the
			# module, is freed after an RCU grace period.
			n=0
			while [ -d /sys/module/xboot ] && ! rmmod xboot 2>/dev/null && [ $n -lt 50 ]; do
				sleep 0.2
				n=$((n + 1))
			done
			if [ -d /sys/module/xboot ]; then
				vg_fail "$src-source" "rmmod xboot refused for 10 s after xbootd stopped"
				return 1
			fi
			want=map
			;;
		user)
			xdp=off
			want=off
			;;
		esac
		nx_xbootd xdp=$xdp tftp-root="$ROOT" tftp-hot=hot.bin \
			dhcp-range=$NX_NET.1.10,$NX_NET.1.200
		XPID=$NX_XBOOTD_PID
		got=$(nx_ctl --json status | jq -r '.tftp_block_source')
		if [ "$src" = kfunc ]; then
			# xbootd registers the hot file with the module at start.
			n=0
			while ! $CTL cache list 2>/dev/null | grep -q "$ROOT/hot.bin" && [ $n -lt 50 ]; do
				sleep 0.2
				n=$((n + 1))
			done
			$CTL cache list 2>/dev/null | grep -q "$ROOT/hot.bin" ||
				got="$got, but hot.bin is not registered with xboot.ko"
		fi
		nx_ctl status | grep -i 'source' | sed 's/^/    /'
		if [ "$got" = "$want" ]; then
			[ "$ROUND" != 1 ] || vg_pass "$src-source" "TFTP block source: $got"
		else
			vg_fail "$src-source" "want TFTP block source $want, xbootctl status says $got"
			nx_xbootd_stop
			return 1
		fi
	}

	# run SRC BLKSIZE: one load run against the running xbootd; its row
	# goes to $ROWS.
	run() {
		local src=$1 b=$2 out line b0 b1 t0 t1 s0 s1 x0 x1 gen hz
		local bytes failed bad nxdp ntc nuser n k0 k1
		read -ra b0 <<<"$(blocks)"
		k0=$(module_blocks)
		t0=$(busy_ticks)
		s0=$(softirq_ticks)
		x0=$(pid_ticks "$XPID")
		out=$(nx_cli "$LOAD" --server="$NX_SRV_IP" --file=hot.bin --size=$SIZE \
			--verify="$ROOT/hot.bin" --clients="$BENCH_KMOD_CLIENTS" --blksize="$b" \
			--seconds="$BENCH_KMOD_SECONDS" --once 2>&1)
		t1=$(busy_ticks)
		s1=$(softirq_ticks)
		x1=$(pid_ticks "$XPID")
		read -ra b1 <<<"$(blocks)"
		k1=$(module_blocks)
		vg_log "$src blksize $b: $out"
		line=$(echo "$out" | tail -n 1 | tr ' ' '\n')
		get() { echo "$line" | sed -n "s/^$1=//p"; }
		bytes=$(get bytes)
		if [ -z "$bytes" ]; then
			vg_fail "$src-$b-r$ROUND" "tftp_load gave no result: $out"
			return
		fi
		nxdp=$((b1[0] - b0[0]))
		ntc=$((b1[1] - b0[1]))
		nuser=$((b1[2] - b0[2]))
		n=$((nxdp + ntc + nuser))
		failed=$(get failed)
		bad="$(get bad_size)/$(get bad_data)"
		# Transfers still running at the deadline (abandoned) are no
		# failure: their bytes so far were verified and counted.
		if [ "$failed" = 0 ] && [ "$bad" = 0/0 ] && [ "$n" -gt 0 ]; then
			vg_pass "$src-$b-r$ROUND" "done $(get 'done'), abandoned $(get abandoned), every byte verified"
		else
			vg_fail "$src-$b-r$ROUND" "failed $failed (timeouts $(get timeouts), errors $(get errors), bad size/data $bad), done $(get 'done'), blocks $n"
		fi
		# The kfunc copied every block XDP and TC sent, but for the
		# empty last block of a file that is a multiple of blksize
		# (nothing to copy): at most one per transfer.
		if [ "$src" = kfunc ]; then
			local miss=$((nxdp + ntc - (k1 - k0)))
			if [ $((nxdp + ntc)) -gt 0 ] && [ $miss -ge 0 ] && [ $miss -le "$(get started)" ]; then
				vg_pass "$src-$b-r$ROUND-module" "xboot.ko copied $((k1 - k0)) blocks; XDP $nxdp + TC $ntc sent ($miss empty)"
			else
				vg_fail "$src-$b-r$ROUND-module" "xboot.ko copied $((k1 - k0)) blocks, XDP $nxdp + TC $ntc sent"
			fi
		fi
		hz=$(getconf CLK_TCK 2>/dev/null || echo 100)
		gen=$(get cpu)
		echo "$src $b $bytes $(get seconds) $n $nxdp $ntc $nuser $((t1 - t0)) $((s1 - s0)) $((x1 - x0)) $gen $hz $(get 'done') $(get abandoned) $failed" >>"$ROWS"
	}

	# table: the rows of every round summed per source and blksize (MB/s
	# is all bytes over all seconds), side by side, ratios against
	# userspace.
	table() {
		awk -v clients="$BENCH_KMOD_CLIENTS" -v mb="$BENCH_KMOD_MB" \
			-v secs="$BENCH_KMOD_SECONDS" -v rounds="$BENCH_KMOD_ROUNDS" '
		{
			k = $1 "/" $2
			if (!(k in src)) order[++m] = k
			src[k] = $1; blk[k] = $2; bytes[k] += $3; secs_[k] += $4
			n[k] += $5; xdp[k] += $6; tc[k] += $7; usr[k] += $8
			busy[k] += $9 / $13; sirq[k] += $10 / $13; xb[k] += $11 / $13
			gen[k] += $12
			done[k] += $14; aband[k] += $15; fail[k] += $16
		}
		function us(k, t) { return n[k] > 0 ? t * 1e6 / n[k] : 0 }
		function ratio(a, b) { return (a > 0 && b > 0) ? sprintf("%.2fx", a / b) : "-" }
		END {
			for (i = 1; i <= m; i++) {
				k = order[i]
				mbps[k] = secs_[k] > 0 ? bytes[k] / secs_[k] / 1e6 : 0
				tot[k] = us(k, busy[k])
				srv[k] = us(k, busy[k] - gen[k])
				if (srv[k] < 0) srv[k] = 0
			}
			printf "TFTP in the 6.1 VM (qemu TCG, 2 vCPUs): %d clients fetch a %d MiB hot file once, at most %ds per run, %d round(s) summed\n", clients, mb, secs, rounds
			printf "CPU: microseconds of guest CPU per DATA block sent. total: both vCPUs busy, load generator included\n"
			printf "(the fair comparison); server: total - generator, which under-counts XDP rows (6.1 has no IRQ time\n"
			printf "accounting: XDP softirq work run in the generator'"'"'s context is charged to it); xbootd: its process;\n"
			printf "softirq: the share of total spent in softirq (veth NAPI, XDP), both directions\n"
			printf "%-6s %7s %6s %7s %7s %7s %7s %8s %8s %8s %7s %7s   %s\n", "source", "blksize", "MB/s",
				"total", "server", "xbootd", "softirq", "blocks", "blocks", "blocks", "MB/s", "total", "transfers"
			printf "%-6s %7s %6s %7s %7s %7s %7s %8s %8s %8s %7s %7s\n", "", "", "",
				"us/blk", "us/blk", "us/blk", "us/blk", "by XDP", "by TC", "by user", "vs user", "vs user"
			for (i = 1; i <= m; i++) {
				k = order[i]; u = "user/" blk[k]
				printf "%-6s %7d %6.1f %7.1f %7.1f %7.1f %7.1f %8d %8d %8d %7s %7s   done %d, cut off %d, failed %d\n",
					src[k], blk[k], mbps[k], tot[k], srv[k], us(k, xb[k]), us(k, sirq[k]),
					xdp[k], tc[k], usr[k], ratio(mbps[k], mbps[u]), ratio(tot[k], tot[u]),
					done[k], aband[k], fail[k]
			}
		}' "$ROWS"
	}

	ROWS=/tmp/bench-rows
	: >"$ROWS"
	if [ ! -x "$LOAD" ]; then
		vg_fail setup "$LOAD is not in the initramfs (scripts/mkvm61)"
		vg_done
	fi
	if [ ! -f $KO ]; then
		vg_skip kfunc "xboot.ko was not built (make kmod)"
		BENCH_KMOD_SOURCES=${BENCH_KMOD_SOURCES//kfunc/}
	fi
	nx_init kb
	cp /xt/xdp_pass.bpf.o "$NX_TMP/xdp_pass.o"
	nx_pair
	nx_cli_addr
	mkdir -p "$ROOT"
	head -c $SIZE /dev/urandom >"$ROOT/hot.bin"
	chmod -R a+rX "$ROOT"
	vg_log "$(nproc) vCPUs, kernel $(uname -r); sources: $BENCH_KMOD_SOURCES; blksizes: $BENCH_KMOD_BLKSIZES"
	# Rounds interleave the sources, so a slow stretch of the host
	# (qemu shares its CPUs) does not land on one source only.
	for ROUND in $(seq "$BENCH_KMOD_ROUNDS"); do
		for src in $BENCH_KMOD_SOURCES; do
			start_source "$src" || continue
			for b in $BENCH_KMOD_BLKSIZES; do
				run "$src" "$b"
			done
			[ "$src" = kfunc ] && $CTL cache stats | sed 's/^/    /'
			nx_xbootd_stop
		done
	done
	[ ! -d /sys/module/xboot ] || rmmod xboot || sleep 1
	echo "XBOOT-BENCH-TABLE-BEGIN"
	table
	echo "XBOOT-BENCH-TABLE-END"
	vg_done
fi

: "${BENCH_KMOD_SECONDS:=25}"
: "${BENCH_KMOD_ROUNDS:=2}"
: "${BENCH_KMOD_CLIENTS:=50}"
: "${BENCH_KMOD_MB:=4}"
: "${BENCH_KMOD_BLKSIZES:=1432 512}"
: "${BENCH_KMOD_SOURCES:=kfunc map user}"

vm_require
[ -x "$XBOOT_TOP/build/bench/tftp_load" ] || vm_fail "build/bench/tftp_load not built: run make"
[ -f "$XBOOT_TOP/build/kmod/xboot.ko" ] || [ -f "$XBOOT_TOP/xboot.ko" ] ||
	vm_log "xboot.ko not built (make kmod): the kfunc rows are left out"
vm_tmp
vm_bpf_obj "$XBOOT_TOP/tests/vm/lib/xdp_pass.bpf.c" "$VM_TMP/xdp_pass.bpf.o"
# The guest gets no environment: the settings go in a file next to it.
for v in BENCH_KMOD_SECONDS BENCH_KMOD_CLIENTS BENCH_KMOD_MB BENCH_KMOD_BLKSIZES \
	BENCH_KMOD_SOURCES BENCH_KMOD_ROUNDS; do
	printf '%s=%q\n' "$v" "${!v}"
done >"$VM_TMP/bench.conf"
# shellcheck disable=SC2034 # VM_EXTRA and VM_DISK_MB: read by vm_run
VM_EXTRA=("$VM_TMP/xdp_pass.bpf.o" "$VM_TMP/bench.conf")
# shellcheck disable=SC2034
VM_DISK_MB=$((BENCH_KMOD_MB * 2 + 32))

nsrc=$(echo $BENCH_KMOD_SOURCES | wc -w)
nblk=$(echo $BENCH_KMOD_BLKSIZES | wc -w)
limit=$((BENCH_KMOD_ROUNDS * nsrc * (nblk * (BENCH_KMOD_SECONDS + 10) + 10) + 60))
# vm_run exits: run it in a subshell (its temp dir stays this shell's),
# then print the table from the console it kept.
(vm_run bench-kmod "$limit")
rc=$?
out=$XBOOT_TOP/build/bench/kmod.txt
mkdir -p "$(dirname "$out")"
LC_ALL=C tr -d '\r' <"$XBOOT_TOP/build/test-logs/vm61-bench-kmod.console" |
	sed -n '/XBOOT-BENCH-TABLE-BEGIN/,/XBOOT-BENCH-TABLE-END/p' | sed '1d;$d' >"$out"
echo
if [ -s "$out" ]; then
	cat "$out"
	echo "(kept in ${out#"$XBOOT_TOP"/})"
else
	echo "no table: the benchmark did not finish in the VM (see build/test-logs/vm61-bench-kmod.console)"
	[ $rc -ne 0 ] || rc=1
fi
exit $rc
