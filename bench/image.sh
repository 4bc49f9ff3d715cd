#!/usr/bin/env bash
# The imaging benchmark (`make bench-image`): capture and deploy of a
# file-backed disk through xbootd and xboot-agent, against the pipeline an
# administrator would otherwise type, run over the same veth:
#
#   ┌─────── xbt-imgbn-PID-srv ───────┐      ┌─────── xbt-imgbn-PID-cli ───────┐
#   │ xbootd: agent port, HTTP 8080   │ veth │ xboot-agent b1 .. b8            │
#   │   image store state/images      ├──────┤   capture src.disk, deploy onto │
#   │ pipeline: zstd -T0 | socat      │      │   tgt-N.disk                    │
#   │   (or socat < src.zst)          │      │ pipeline: socat | zstd -d | dd  │
#   │ xbt-imgbn-s 10.77.0.1/16        │      │ xbt-imgbn-c 10.77.0.2/16        │
#   └─────────────────────────────────┘      └─────────────────────────────────┘
#
# The source: a BENCH_IMAGE_SIZE (default 4G) sparse file on the root file
# system (not tmpfs: nine disks of 4 GiB do not fit in memory), in 32 MiB
# stripes, half of them holes, the other half a tar stream of /usr/lib and
# /usr/share (binaries, text, already-compressed docs), every fourth data
# stripe random bytes.
#
# Runs, each timed from the start of the transfer to the last byte durable
# on the target (xboot syncs; dd runs with conv=fsync):
#   capture     image-capture job  vs  zstd -T0 <src | socat  ->  socat | dd
#               (the pipeline's "store" is the .zst file)
#   deploy x1   image-deploy job   vs  zstd -T0 <src | socat  ->  socat |
#               zstd -d | dd conv=sparse (the issue's pipeline, which
#               compresses while it sends), and vs socat <src.zst  ->  socat
#               | zstd -d | dd (pre-compressed, like xboot's store)
#   deploy x8   8 agents at once   vs  8 such pipelines at once
# The xboot side verifies every chunk (SHA-256) before writing it and reads
# the target back (XXH3) after the sync, as the agent's deploy job does;
# the pipeline checks nothing but zstd's frame checksum.
#
# Fairness: before every run, each input file is synced and dropped from
# the page cache (dd iflag=nocache, per file: nothing else on the host is
# touched), so both sides read from the disk. Targets are fresh sparse
# files; dd's conv=sparse skips zero blocks as the agent punches holes.
# MB/s is source bytes (10^6) / wall time. CPU is the user+system time of
# the side's processes (a cpuacct cgroup: xbootd and the agents, or every
# pipeline process); the kernel's flusher threads and softirq time are in
# neither. Every output is compared byte for byte with the source (the
# capture: the image's SHA-256): a mismatch fails the run.
#
# Bounded: every run is killed after BENCH_IMAGE_TIMEOUT s (default 900).
# 15-30 minutes at 4 GiB on 2 busy cores, half of it the byte-for-byte
# checks; BENCH_IMAGE_SIZE=256M for a quick look. BENCH_IMAGE_PRECOMP=0
# skips the pre-compressed pipeline rows; BENCH_IMAGE_AGENTS (8) sets how
# many deploy at once.
set -u
. "$(dirname "$0")/../tests/lib/netns.sh"
. "$(dirname "$0")/../tests/lib/agent.sh"

: "${BENCH_IMAGE_SIZE:=4G}"
: "${BENCH_IMAGE_TIMEOUT:=900}"
: "${BENCH_IMAGE_PRECOMP:=1}"
: "${BENCH_IMAGE_AGENTS:=8}"
MIB=$((1 << 20))
STRIPE=$((32 * MIB))
PORT0=9100
NX_XBOOTD_V= # no debug logging while measuring

for c in zstd socat numfmt tar; do nx_require_cmd $c; done
SIZE=$(numfmt --from=iec "$BENCH_IMAGE_SIZE") ||
	nx_fail "BENCH_IMAGE_SIZE=$BENCH_IMAGE_SIZE: not a size"
[ $((SIZE % STRIPE)) = 0 ] && [ "$SIZE" -ge $((4 * STRIPE)) ] ||
	nx_fail "BENCH_IMAGE_SIZE: a multiple of 32 MiB, at least 128 MiB"
ag_require
nx_init imgbn
nx_pair
nx_cli_addr
# No XDP on the client veth: a native XDP program there turns off GRO and
# cuts TCP throughput (see bench/tftp.sh); nothing here needs XDP_TX.
nx_cli ip link set dev "$NX_CLI_IF" xdpdrv off
ag_xbootd

# --- CPU accounting: one cpuacct cgroup per side ------------------------------
CG_X=/sys/fs/cgroup/cpuacct/xbt-imgbn-$$-xboot
CG_P=/sys/fs/cgroup/cpuacct/xbt-imgbn-$$-pipe
if [ -d /sys/fs/cgroup/cpuacct ] && mkdir "$CG_X" "$CG_P" 2>/dev/null; then
	:
else
	CG_X= CG_P=
	nx_log "no cpuacct cgroup (v1): CPU columns will read '-'"
fi
cg_rm() {
	local g
	for g in "$CG_X" "$CG_P"; do
		[ -n "$g" ] && [ -d "$g" ] || continue
		# move anything still in it back to the root before removing it
		xargs -r -n1 <"$g/cgroup.procs" sh -c \
			'echo "$0" >/sys/fs/cgroup/cpuacct/cgroup.procs' 2>/dev/null
		rmdir "$g" 2>/dev/null
	done
}
trap 'rc=$?; cg_rm; (exit $rc); ag_exit' EXIT
cg_join() { [ -z "$1" ] || echo "$2" >"$1/cgroup.procs"; } # CG PID
cg_ns() { [ -n "$1" ] && cat "$1/cpuacct.usage" || echo 0; }
cg_join "$CG_X" "$NX_XBOOTD_PID"

# --- the source disk ------------------------------------------------------------
SRC=$NX_TMP/src.disk
# usr_stream: tar of /usr/lib and /usr/share, over again, until the reader
# closes the pipe (tar then dies of SIGPIPE: status > 128, the loop ends).
usr_stream() {
	local r
	for r in 1 2 3 4 5 6 7 8 9 10; do
		tar -C / -cf - usr/lib usr/share 2>/dev/null
		[ $? -lt 128 ] || break
	done
}
# Stripes in a repeating pattern of 8: D H D D H H D H (D data, H a hole);
# every fourth data stripe is random bytes (compressed files, media).
make_source() {
	local i d=0 n=$((SIZE / STRIPE)) mib=$((STRIPE / MIB))
	truncate -s "$SIZE" "$SRC" || nx_fail "cannot make $SRC"
	for ((i = 0; i < n; i++)); do
		case $((i % 8)) in 1 | 4 | 5 | 7) continue ;; esac
		d=$((d + 1))
		if [ $((d % 4)) = 0 ]; then
			head -c "$STRIPE" /dev/urandom |
				dd of="$SRC" bs=1M seek=$((i * mib)) conv=notrunc status=none
		else
			dd of="$SRC" bs=1M count=$mib iflag=fullblock \
				seek=$((i * mib)) conv=notrunc status=none
		fi || nx_fail "cannot write stripe $i of $SRC"
	done <&3
	sync "$SRC"
}
nx_log "making the source: $(numfmt --to=iec "$SIZE") sparse, $((SIZE / STRIPE / 2)) stripes of 32 MiB with data"
exec 3< <(usr_stream)
make_source
exec 3<&-
SRC_SUM=$(sha256sum "$SRC" | cut -d' ' -f1)
nx_log "source ready: sha256 $SRC_SUM"

# evict FILE...: durable, then out of the page cache (this file only).
evict() {
	local f
	for f; do
		[ -e "$f" ] || continue
		sync "$f"
		dd if="$f" iflag=nocache count=0 status=none
	done
}

# --- the agents -------------------------------------------------------------------
NAG=$BENCH_IMAGE_AGENTS
mac_of() { printf '52:54:00:b1:00:%02x' "$1"; }
tgt_of() { echo "$NX_TMP/tgt-$1.disk"; }
for ((a = 1; a <= NAG; a++)); do
	truncate -s "$SIZE" "$(tgt_of $a)"
	ag_tree b$a "$(mac_of $a)" "$SRC"
	ag_enrol b$a "$(mac_of $a)"
	ag_start b$a "$(mac_of $a)" >/dev/null
done
for ((a = 1; a <= NAG; a++)); do
	ag_wait 30 ag_connected "$(mac_of $a)" ||
		nx_fail "agent b$a ($(mac_of $a)) did not connect within 30 s"
	eval "cg_join \"\$CG_X\" \"\$AG_PID_b$a\""
done
nx_log "$NAG agents connected"

# jobs_ended ID...: true when every job is in a final state.
jobs_ended() {
	local j ids="$*"
	j=$(ag_ctl_json jobs) || return 1
	ag_json "
ids = set(int(x) for x in '$ids'.split())
st = {int(j.get('id', 0)): j.get('state') for j in d.get('jobs') or []}
sys.exit(0 if all(st.get(i) in ('done', 'failed', 'timed-out', 'cancelled') for i in ids) else 1)" <<<"$j"
}

# run_jobs TYPE ARGS-PER-AGENT...: one job per agent ("MAC|arg1|arg2"),
# added at once, waited for; WALL and CPU of the xboot side.
WALL= CPU=
run_jobs() {
	local type=$1 spec ids=() id t0 t1 c0 c1 mac a1 a2 i end
	shift
	c0=$(cg_ns "$CG_X")
	t0=$(date +%s.%N)
	for spec; do
		IFS='|' read -r mac a1 a2 <<<"$spec"
		id=$(ag_job_add "$mac" "$type" "$a1" "$a2" --timeout="$BENCH_IMAGE_TIMEOUT")
		ids+=("$id")
	done
	end=$((SECONDS + BENCH_IMAGE_TIMEOUT + 30))
	while ! jobs_ended "${ids[@]}"; do
		[ $SECONDS -lt $end ] || nx_fail "$type jobs ${ids[*]} still running after ${BENCH_IMAGE_TIMEOUT} s"
		sleep 0.1
	done
	t1=$(date +%s.%N)
	c1=$(cg_ns "$CG_X")
	for i in "${ids[@]}"; do
		[ "$(ag_job "$i" state)" = done ] || {
			nx_ctl job output "$i" 2>&1 | tail -n 5 | sed 's/^/    /'
			nx_fail "$type job $i: $(ag_job "$i" state): $(ag_job "$i" reason)"
		}
	done
	# the agent's own account of the first job (its last output line)
	nx_log "  job ${ids[0]}: $(nx_ctl job output "${ids[0]}" 2>/dev/null | tail -n 1)"
	WALL=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", b - a }')
	CPU=$(cpu_s "$c0" "$c1")
}
cpu_s() { [ -n "$CG_X" ] && awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", (b - a) / 1e9 }' || echo -; }

# --- the pipelines ----------------------------------------------------------------

# in_ns CG NS CMD: CMD (bash, pipefail) in NS and in the cgroup from its
# first instruction (ip netns exec mounts a private /sys: join first).
in_ns() {
	sh -c '[ -z "$0" ] || echo $$ >"$0/cgroup.procs"; exec "$@"' "$1" \
		timeout "$BENCH_IMAGE_TIMEOUT" ip netns exec "$2" bash -o pipefail -c "$3"
}

listening() { ip netns exec "$1" ss -Htln "sport = :$2" 2>/dev/null | grep -q .; }

# run_pipes N SEND-CMD RECV-CMD SEND-NS RECV-NS: N pipelines at once, the
# receivers listening (port PORT0+i, @PORT@ and @I@ replaced), the senders
# connecting to @ADDR@; WALL and CPU of the pipeline side.
run_pipes() {
	local n=$1 send=$2 recv=$3 sns=$4 rns=$5 addr i p s r pids=() c0 c1 t0 t1 rc=0
	[ "$rns" = "$NX_SRV" ] && addr=$NX_SRV_IP || addr=$NX_CLI_IP
	for ((i = 1; i <= n; i++)); do
		p=$((PORT0 + i))
		r=${recv//@PORT@/$p}
		r=${r//@I@/$i}
		in_ns "$CG_P" "$rns" "$r" 2>>"$NX_TMP/pipe.log" &
		pids+=($!)
		nx_track $!
	done
	for ((i = 1; i <= n; i++)); do
		ag_wait 10 listening "$rns" $((PORT0 + i)) ||
			nx_fail "pipeline receiver $i does not listen on $((PORT0 + i))"
	done
	c0=$(cg_ns "$CG_P")
	t0=$(date +%s.%N)
	for ((i = 1; i <= n; i++)); do
		s=${send//@PORT@/$((PORT0 + i))}
		s=${s//@ADDR@/$addr}
		s=${s//@I@/$i}
		in_ns "$CG_P" "$sns" "$s" 2>>"$NX_TMP/pipe.log" &
		pids+=($!)
		nx_track $!
	done
	for p in "${pids[@]}"; do
		wait "$p" || rc=$?
	done
	t1=$(date +%s.%N)
	c1=$(cg_ns "$CG_P")
	[ $rc = 0 ] || { tail -n 20 "$NX_TMP/pipe.log"; nx_fail "a pipeline failed (exit $rc)"; }
	WALL=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", b - a }')
	CPU=$([ -n "$CG_P" ] && awk -v a="$c0" -v b="$c1" 'BEGIN { printf "%.1f", (b - a) / 1e9 }' || echo -)
}

SOCAT_RECV="socat -u -b 1048576 TCP-LISTEN:@PORT@,reuseaddr STDOUT"
SOCAT_SEND="socat -u -b 1048576 STDIN TCP:@ADDR@:@PORT@"
DD_OUT="dd bs=4M iflag=fullblock conv=sparse,notrunc,fsync status=none"
PZST=$NX_TMP/src.zst

# same_bytes A B: A and B are equal byte for byte. Like cmp, but only the
# data extents of either file are read (SEEK_DATA): a range that is a hole
# in both is zeros in both. Half the disk is holes, and cmp spent longer
# reading them than the deploys took.
same_bytes() {
	"$AG_PY" - "$1" "$2" <<'PY'
import os, sys

BLK = 4 << 20

def extents(fd, size):
    out, off = [], 0
    while off < size:
        try:
            d = os.lseek(fd, off, os.SEEK_DATA)
        except OSError:  # ENXIO: no data past off
            break
        off = os.lseek(fd, d, os.SEEK_HOLE)
        out.append((d, off))
    return out

fa, fb = os.open(sys.argv[1], os.O_RDONLY), os.open(sys.argv[2], os.O_RDONLY)
size = os.fstat(fa).st_size
if os.fstat(fb).st_size != size:
    sys.exit(1)
merged = []
for s, e in sorted(extents(fa, size) + extents(fb, size)):
    if merged and s <= merged[-1][1]:
        merged[-1][1] = max(merged[-1][1], e)
    else:
        merged.append([s, e])
for s, e in merged:
    while s < e:
        n = min(BLK, e - s)
        if os.pread(fa, n, s) != os.pread(fb, n, s):
            sys.exit(1)
        s += n
PY
}
export -f same_bytes
export AG_PY

# check_targets N: targets 1..N equal the source byte for byte (two at a
# time); then they are emptied again (fresh sparse files).
check_targets() {
	local bad
	bad=$(seq "$1" | xargs -P 2 -I{} bash -c \
		'same_bytes "$0" "$1/tgt-{}.disk" || echo {}' "$SRC" "$NX_TMP")
	[ -z "$bad" ] || nx_fail "$2: target(s) $bad differ from the source"
	nx_log "ok: $2: $1 target(s) byte-identical to the source"
	reset_targets "$1"
}
reset_targets() {
	local i
	for ((i = 1; i <= $1; i++)); do
		rm -f "$(tgt_of $i)"
		truncate -s "$SIZE" "$(tgt_of $i)"
	done
}

declare -A XW XC PW PC
mbps() { awk -v s="$SIZE" -v n="$1" -v w="$2" 'BEGIN { printf "%.1f", s * n / w / 1e6 }'; }
note() { # KEY WALL CPU N
	nx_log "  $1: $(mbps "$4" "$2") MB/s of disk ($4 x $(numfmt --to=iec "$SIZE") in $2 s), CPU $3 s"
}

# --- capture ----------------------------------------------------------------------
nx_log "--- capture"
evict "$SRC"
run_jobs image-capture "$(mac_of 1)|$SRC|bench"
XW[cap]=$WALL XC[cap]=$CPU
ISUM=$(ag_ctl_json images | ag_json "
for i in d.get('images') or []:
    if i['name'] == 'bench':
        print(i.get('sha256', ''))")
[ "$ISUM" = "$SRC_SUM" ] ||
	nx_fail "the captured image's SHA-256 '$ISUM' is not the source's $SRC_SUM"
nx_log "ok: the image's SHA-256 is the source's"
note "xboot capture" "$WALL" "$CPU" 1
DATA=$NX_STATE/images/bench/data
[ -f "$DATA" ] || nx_fail "no image data file at $DATA"

evict "$SRC"
run_pipes 1 "zstd -T0 -q -c $SRC | $SOCAT_SEND" \
	"$SOCAT_RECV | dd of=$PZST bs=4M iflag=fullblock conv=fsync status=none" \
	"$NX_CLI" "$NX_SRV"
PW[cap]=$WALL PC[cap]=$CPU
[ "$(zstd -dc "$PZST" | sha256sum | cut -d' ' -f1)" = "$SRC_SUM" ] ||
	nx_fail "the pipeline's .zst does not decompress to the source"
nx_log "ok: the pipeline's .zst decompresses to the source"
note "pipeline capture" "$WALL" "$CPU" 1
STORE_BYTES=$(stat -c %s "$DATA")
PZST_BYTES=$(stat -c %s "$PZST")

# --- deploys ----------------------------------------------------------------------
deploy_round() { # N
	local n=$1 specs=() i k=dep$1
	nx_log "--- deploy x$n"
	for ((i = 1; i <= n; i++)); do
		specs+=("$(mac_of $i)|bench|$(tgt_of $i)")
	done
	evict "$DATA" "$SRC" "$PZST"
	run_jobs image-deploy "${specs[@]}"
	XW[$k]=$WALL XC[$k]=$CPU
	note "xboot deploy x$n" "$WALL" "$CPU" "$n"
	check_targets "$n" "xboot deploy x$n"

	evict "$DATA" "$SRC" "$PZST"
	run_pipes "$n" "zstd -T0 -q -c $SRC | $SOCAT_SEND" \
		"$SOCAT_RECV | zstd -d -q | $DD_OUT of=$NX_TMP/tgt-@I@.disk" \
		"$NX_SRV" "$NX_CLI"
	PW[$k]=$WALL PC[$k]=$CPU
	note "pipeline deploy x$n" "$WALL" "$CPU" "$n"
	check_targets "$n" "pipeline deploy x$n"

	[ "$BENCH_IMAGE_PRECOMP" = 1 ] || return 0
	evict "$DATA" "$SRC" "$PZST"
	run_pipes "$n" "socat -u -b 1048576 OPEN:$PZST TCP:@ADDR@:@PORT@" \
		"$SOCAT_RECV | zstd -d -q | $DD_OUT of=$NX_TMP/tgt-@I@.disk" \
		"$NX_SRV" "$NX_CLI"
	PW[${k}z]=$WALL PC[${k}z]=$CPU
	note "pre-compressed pipeline deploy x$n" "$WALL" "$CPU" "$n"
	check_targets "$n" "pre-compressed pipeline deploy x$n"
}
deploy_round 1
[ "$NAG" -gt 1 ] && deploy_round "$NAG"

for ((a = 1; a <= NAG; a++)); do ag_stop b$a; done

# --- the table ----------------------------------------------------------------------
ratio() { awk -v x="$1" -v p="$2" 'BEGIN { if (x > 0) printf "%.2fx", p / x; else printf "-" }'; }
row() { # LABEL N XKEY PKEY PIPELINE
	printf '%-14s %10s %10s %7s %9s %9s   %s\n' "$1" \
		"$(mbps "$2" "${XW[$3]}")" "$(mbps "$2" "${PW[$4]}")" \
		"$(ratio "${XW[$3]}" "${PW[$4]}")" "${XC[$3]}" "${PC[$4]}" "$5"
}
echo
echo "Imaging: $(numfmt --to=iec "$SIZE") file-backed disk (half holes; data: /usr tar stream," \
	"1/4 random), zstd level 3 both sides; chunks 4 MiB"
echo "$(nproc) CPUs ($(sed -n 's/^model name\s*: //p' /proc/cpuinfo | head -n 1))," \
	"$(free -g | awk '/^Mem:/ { print $2 }') GiB RAM, kernel $(uname -r)," \
	"files on $(findmnt -no FSTYPE -T "$NX_TMP") ($(findmnt -no SOURCE -T "$NX_TMP")), zstd $(zstd -q --version 2>/dev/null || zstd --version | sed 's/.* v//; s/,.*//')"
echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg) (other work on the host shares the CPUs)"
echo "stored: xboot $(numfmt --to=iec "$STORE_BYTES") (ratio $(awk -v a="$SIZE" -v b="$STORE_BYTES" 'BEGIN { printf "%.2f", a / b }'))," \
	"zstd -T0 $(numfmt --to=iec "$PZST_BYTES") (ratio $(awk -v a="$SIZE" -v b="$PZST_BYTES" 'BEGIN { printf "%.2f", a / b }'))"
echo "MB/s = disk bytes / wall time (10^6); ratio = xboot / pipeline; CPU = user+system s of the side's processes"
printf '%-14s %10s %10s %7s %9s %9s   %s\n' scenario 'xboot' 'pipeline' ratio \
	'xboot CPU' 'pipe CPU' 'pipeline'
row "capture" 1 cap cap "zstd -T0 | socat -> socat | dd (to a .zst)"
row "deploy x1" 1 dep1 dep1 "zstd -T0 | socat -> socat | zstd -d | dd"
[ "$BENCH_IMAGE_PRECOMP" = 1 ] &&
	row "deploy x1" 1 dep1 dep1z "socat < .zst -> socat | zstd -d | dd"
if [ "$NAG" -gt 1 ]; then
	row "deploy x$NAG" "$NAG" dep$NAG dep$NAG "$NAG x (zstd -T0 | socat -> socat | zstd -d | dd)"
	[ "$BENCH_IMAGE_PRECOMP" = 1 ] &&
		row "deploy x$NAG" "$NAG" dep$NAG dep${NAG}z "$NAG x (socat < .zst -> socat | zstd -d | dd)"
fi
echo "xboot verifies every chunk (SHA-256) before writing it and reads the target back (XXH3);"
echo "every output of both sides was compared with the source byte for byte."
