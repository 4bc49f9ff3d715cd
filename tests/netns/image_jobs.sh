#!/usr/bin/env bash
# Image jobs run by xboot-agent (issue 6): capture and deploy over the
# HTTP transport of include/xboot/image_http.h, disks are files.
#
#   ┌────── xbt-imgjob-PID-srv ──────┐      ┌────── xbt-imgjob-PID-cli ──────┐
#   │ xbootd: agent port 4012 (TLS)  │ veth │ xboot-agent m1 (52:..:c6:01)   │
#   │   HTTP 8080: /images/NAME/...  ├──────┤   disks: $NX_TMP/src.disk,     │
#   │   image store state/images     │      │   dst.disk, dst2.disk ...      │
#   │ xbt-imgjob-s 10.77.0.1/16      │      │ xbt-imgjob-c 10.77.0.2/16      │
#   └────────────────────────────────┘      └────────────────────────────────┘
#
# 1. image-capture of a disk holding random data, text and large zero
#    regions: the image is listed, `xbootctl image verify` accepts it and
#    its export is the disk byte for byte.
# 2. image-deploy of it onto a second disk: byte-identical (cmp).
# 3. a byte flipped inside a chunk's frame in the store: the deploy fails,
#    the job's reason names the chunk, and the target's bytes of that
#    chunk are untouched; with the image repaired, `xbootctl job retry`
#    runs it again and it completes.
# 4. xbootd killed (-9) and restarted mid-deploy, the link slowed down so
#    that "mid" lasts: the deploy resumes and ends byte-identical.
# 5. xbootd killed (-9) mid-capture: after the restart no partial image is
#    listed (and the capture, started again by the agent, either finishes
#    whole or fails: never half).
# 6. a deploy onto a mounted loop device is refused with a clear reason;
#    unmounted, the retried job writes it byte-identical.
set -u
. "$(dirname "$0")/../lib/netns.sh"
. "$(dirname "$0")/../lib/agent.sh"

M1=52:54:00:c6:00:01
MIB=$((1 << 20))

for c in cmp sha256sum python3 tc; do nx_require_cmd $c; done
ag_require
nx_init imgjob
nx_pair
nx_cli_addr
ag_xbootd

STORE=$NX_STATE/images

# --- the source disk: 40 MiB, 4 MiB chunks ---------------------------------
#   0- 4  random        4- 12 zeros          12-14 text
#  14-24  zeros        24-28 random         28-40 zeros, a random tail
SRC=$NX_TMP/src.disk
truncate -s $((40 * MIB)) "$SRC"
put() { # FILE OFFSET-MiB DATA-CMD...
	local f=$1 off=$2
	shift 2
	"$@" | dd of="$f" bs=1M seek="$off" conv=notrunc status=none
}
put "$SRC" 0 head -c $((4 * MIB)) /dev/urandom
put "$SRC" 12 sh -c "yes 'xboot image job' | head -c $((2 * MIB))"
put "$SRC" 24 head -c $((4 * MIB)) /dev/urandom
head -c 4096 /dev/urandom | dd of="$SRC" bs=4096 seek=$(((40 * MIB - 4096) / 4096)) \
	conv=notrunc status=none
SRC_SUM=$(sha256sum "$SRC" | cut -d' ' -f1)

ag_tree m1 $M1 "$SRC"
ag_enrol m1 $M1
ag_start m1 $M1 --debug
ag_wait 20 ag_connected $M1 || nx_fail "expected $M1 connected within 20 s"
nx_log "ok: the agent is connected"

image_listed() {
	ag_ctl_json images | ag_json "
print(any(i['name'] == '$1' for i in d.get('images') or []))"
}

# expect_done ID WHAT: the job ended done (else its reason and output).
expect_done() {
	local s
	s=$(ag_job "$1" state)
	[ "$s" = done ] && return 0
	nx_ctl job output "$1" 2>&1 | tail -n 5 | sed 's/^/    /'
	nx_fail "$2: job $1 expected done, saw '$s': $(ag_job "$1" reason)"
}

# --- 1. capture ---------------------------------------------------------------
j=$(ag_job_add $M1 image-capture "$SRC" img1)
ag_job_wait $j 'done|failed|timed-out|cancelled' 60
expect_done $j "capture"
nx_check test "$(image_listed img1)" = True -- "img1 is listed after the capture"
nx_check nx_ctl image verify img1 -- "xbootctl image verify img1 accepts it"
nx_ctl image export img1 "$NX_TMP/img1.raw" >/dev/null
nx_check cmp -s "$SRC" "$NX_TMP/img1.raw" -- "img1 exports byte-identical to the source disk"
ag_job_output $j "$NX_TMP/cap.out"
nx_check grep -q 'capture: image img1 stored' "$NX_TMP/cap.out" -- \
	"the job's output says the image was stored ($(tail -n 1 "$NX_TMP/cap.out"))"

# --- 2. deploy ----------------------------------------------------------------
DST=$NX_TMP/dst.disk
head -c $((40 * MIB)) /dev/urandom >"$DST" # old contents, all overwritten
j=$(ag_job_add $M1 image-deploy img1 "$DST")
ag_job_wait $j 'done|failed|timed-out|cancelled' 60
expect_done $j "deploy"
nx_check cmp -s "$SRC" "$DST" -- "the deployed disk is byte-identical to the source"
ag_job_output $j "$NX_TMP/dep.out"
nx_check grep -q 'deploy: done' "$NX_TMP/dep.out" -- "the job's output ends with 'deploy: done'"

# --- 3. a corrupt chunk in the store -----------------------------------------
# chunk 6 (24..28 MiB, random data): flip a byte in the middle
# of its frame (offsets from the manifest: records from byte 256, 56 each)
cp -a "$STORE/img1" "$NX_TMP/img1.saved"
read -r off clen < <("$AG_PY" - "$STORE/img1/manifest" <<'PY'
import struct, sys
m = open(sys.argv[1], 'rb').read()
print(*struct.unpack_from('>QI', m, 256 + 56 * 6))
PY
)
nx_check test "${clen:-0}" -gt 100 -- "chunk 6 has a frame ($clen bytes at $off)"
"$AG_PY" - "$STORE/img1/data" $((off + clen / 2)) <<'PY'
import sys
with open(sys.argv[1], 'r+b') as f:
    f.seek(int(sys.argv[2]))
    b = f.read(1)
    f.seek(int(sys.argv[2]))
    f.write(bytes([b[0] ^ 0x40]))
PY
DST2=$NX_TMP/dst2.disk
head -c $((40 * MIB)) /dev/urandom >"$DST2"
cp "$DST2" "$NX_TMP/dst2.before"
j=$(ag_job_add $M1 image-deploy img1 "$DST2")
ag_job_wait $j 'done|failed|timed-out|cancelled' 60
why=$(ag_job $j reason)
nx_check test "$(ag_job $j state)" = failed -- "the deploy of a corrupt chunk fails (state $(ag_job $j state))"
nx_check eval "grep -q 'chunk 6' <<<\"\$why\"" -- "its reason names chunk 6 ('$why')"
cmp -s <(dd if="$DST2" bs=1M skip=24 count=4 status=none) \
	<(dd if="$NX_TMP/dst2.before" bs=1M skip=24 count=4 status=none)
nx_check test $? = 0 -- "the target's bytes of chunk 6 are untouched"
rm -rf "$STORE/img1"
cp -a "$NX_TMP/img1.saved" "$STORE/img1"
nx_check nx_ctl image verify img1 -- "img1 is whole again"
# a failed job stops the machine's sequence: retry it, now it succeeds
nx_ctl job retry $j >/dev/null || nx_fail "xbootctl job retry $j failed"
ag_job_wait $j 'done|failed|timed-out|cancelled' 60
expect_done $j "the retried deploy"
nx_check cmp -s "$SRC" "$DST2" -- "the retried deploy wrote the disk byte-identical"

# --- slow link for the cuts: 20 Mbit/s each way (tbf) ------------------------
slow() {
	local q="tbf rate $1 burst 64kbit latency 500ms"
	nx_srv tc qdisc replace dev "$NX_SRV_IF" root $q &&
		nx_cli tc qdisc replace dev "$NX_CLI_IF" root $q
}
if ! slow 20mbit; then
	nx_skip "tc tbf is not available: cannot slow the link for the cuts"
fi

# --- 4. xbootd killed mid-deploy ----------------------------------------------
DST3=$NX_TMP/dst3.disk
head -c $((40 * MIB)) /dev/urandom >"$DST3"
j=$(ag_job_add $M1 image-deploy img1 "$DST3")
ag_wait 20 eval "ag_job_output $j $NX_TMP/dep3.out; grep -q 'deploy: image' $NX_TMP/dep3.out" ||
	nx_fail "the deploy did not start within 20 s"
sleep 1
ag_job_is $j running || nx_fail "the deploy ended before the cut ($(ag_job $j state))"
ag_kill9_xbootd
nx_log "xbootd killed mid-deploy; starting it again"
sleep 1
ag_xbootd
ag_job_wait $j 'done|failed|timed-out|cancelled' 120
expect_done $j "deploy across an xbootd restart"
nx_check ag_log_has m1 "job $j: image server: " -- "the agent saw its HTTP connection go and came back"
nx_check cmp -s "$SRC" "$DST3" -- "after the cut the deploy completed byte-identical"

# --- 4b. the connection cut under the deploy (ss -K, when the kernel can) ----
DST4=$NX_TMP/dst4.disk
head -c $((40 * MIB)) /dev/urandom >"$DST4"
nx_ctl watch --for=10 >"$NX_TMP/watch4.out" 2>&1 &
watch_pid=$!
j=$(ag_job_add $M1 image-deploy img1 "$DST4")
ag_wait 20 eval "ag_job_output $j $NX_TMP/dep4.out; grep -q 'deploy: image' $NX_TMP/dep4.out" ||
	nx_fail "the second deploy did not start within 20 s"
sleep 1
if nx_srv ss -K "sport = :$AG_HTTP_PORT" 2>/dev/null | grep -q ESTAB; then
	nx_log "ss -K cut the HTTP connection"
	ag_job_wait $j 'done|failed|timed-out|cancelled' 120
	expect_done $j "deploy across a cut connection"
	nx_check ag_log_has m1 "job $j: image server: " -- "the agent saw the cut"
	nx_check cmp -s "$SRC" "$DST4" -- "after ss -K the deploy completed byte-identical"
else
	nx_log "ss -K cannot cut sockets here (CONFIG_INET_DIAG_DESTROY): only the restart was tested"
	ag_job_wait $j 'done|failed|timed-out|cancelled' 120
fi
wait $watch_pid
nx_check grep -Eq "job $j image-deploy img1: \[#*\.*\] +[0-9]+% [0-9.]+ [KMG]?i?B of " "$NX_TMP/watch4.out" -- \
	"xbootctl watch shows the deploy's progress as a bar (saw: $(grep "job $j" "$NX_TMP/watch4.out" | tr '\n' '|'))"

# --- 5. xbootd killed mid-capture ---------------------------------------------
slow 10mbit
j=$(ag_job_add $M1 image-capture "$SRC" img2)
ag_wait 20 eval "ls -A $STORE | grep -q '^\.'" ||
	nx_fail "the capture made no staging directory within 20 s"
sleep 1
ag_job_is $j running || nx_fail "the capture ended before the kill ($(ag_job $j state))"
ag_kill9_xbootd
nx_srv tc qdisc del dev "$NX_SRV_IF" root
nx_cli tc qdisc del dev "$NX_CLI_IF" root
ag_xbootd
nx_check test "$(image_listed img2)" = False -- "after kill -9 and a restart img2 is not listed"
ag_job_wait $j 'done|failed|timed-out|cancelled' 120
s=$(ag_job $j state)
if [ "$s" = done ]; then
	nx_check nx_ctl image verify img2 -- "the capture, begun again, made a whole image"
else
	nx_check test "$(image_listed img2)" = False -- "the failed capture left no image ($s: $(ag_job $j reason))"
fi

# --- 6. a mounted block device is refused; unmounted, the deploy works ------
if command -v losetup >/dev/null && command -v mkfs.ext4 >/dev/null &&
	LOOP_FILE=$NX_TMP/loop.img && truncate -s $((40 * MIB)) "$LOOP_FILE" &&
	LOOP=$(losetup -f --show "$LOOP_FILE" 2>/dev/null); then
	MNT=$NX_TMP/mnt
	mkdir -p "$MNT"
	# whatever happens next, the host gets its loop device back
	trap 'rc=$?; umount "$MNT" 2>/dev/null; losetup -d "$LOOP" 2>/dev/null; (exit $rc); ag_exit' EXIT
	mkfs.ext4 -q "$LOOP" && mount "$LOOP" "$MNT" ||
		{ losetup -d "$LOOP"; nx_fail "cannot mount a filesystem on $LOOP"; }
	j=$(ag_job_add $M1 image-deploy img1 "$LOOP")
	ag_job_wait $j 'done|failed|timed-out|cancelled' 30
	why=$(ag_job $j reason)
	umount "$MNT"
	nx_check test "$(ag_job $j state)" = failed -- "a deploy onto the mounted $LOOP fails"
	nx_check eval "grep -q 'is mounted' <<<\"\$why\"" -- "and says it is mounted ('$why')"
	nx_ctl job retry $j >/dev/null || nx_fail "xbootctl job retry $j failed"
	ag_job_wait $j 'done|failed|timed-out|cancelled' 60
	expect_done $j "the deploy onto the unmounted $LOOP"
	nx_check cmp -s "$SRC" "$LOOP" -- "the loop device $LOOP is byte-identical to the source"
	losetup -d "$LOOP"
else
	nx_log "no loop device: the mounted-target refusal is not tested"
fi

ag_stop m1
nx_pass
