#!/usr/bin/env bash
# Jobs run by agents, as `xbootctl job add` queues them (issue 5):
#
#   ┌────── xbt-agjob-PID-srv ──────┐      ┌────── xbt-agjob-PID-cli ──────┐
#   │ xbootd: agent port 4012       │ veth │ xboot-agent m1 (52:..:b1:01)  │
#   │ xbt-agjob-s 10.77.0.1/16      ├──────┤ xboot-agent m2 (52:..:b1:02)  │
#   │                               │      │ both --power=exit             │
#   └───────────────────────────────┘      └───────────────────────────────┘
#
# m1: a job that succeeds (done, exit 0, its output); 200 KB of output
# (same SHA-256, output_bytes counts it); `echo hello; echo err >&2;
# exit 3` (failed, exit 3, both lines) with a job queued behind it, which
# stays queued while the failure stops the sequence; the queued one is
# cancelled (it never runs), the failed one retried (it succeeds the second
# time), after which a new job runs; last a poweroff job: the agent
# reports it done, prints its not-done message (--power=exit) and exits 0.
# m2, meanwhile: `sleep 30` with --timeout=2 ends timed-out in seconds.
# `xbootctl watch --json`, started before the agents, saw m1 go through
# the phases agent, running, done and stops on SIGINT; `watch --count=2`
# stops after 2 events.
set -u
. "$(dirname "$0")/../lib/netns.sh"
. "$(dirname "$0")/../lib/agent.sh"

M1=52:54:00:b1:00:01
M2=52:54:00:b1:00:02

nx_require_cmd sha256sum
ag_require
nx_init agjob
nx_pair
nx_cli_addr
ag_xbootd

# The whole test's events, from before the first agent connects.
ag_watch "$NX_TMP/watch.json"
sleep 1

for m in m1:$M1 m2:$M2; do
	ag_tree ${m%%:*} ${m#*:}
	ag_enrol ${m%%:*} ${m#*:}
	ag_start ${m%%:*} ${m#*:}
done
for mac in $M1 $M2; do
	ag_wait 20 ag_connected $mac || nx_fail "expected $mac connected within 20 s, saw: $(ag_machine $mac "print(d.get('phase'), d.get('connected'))")"
done
nx_log "ok: both agents are connected"

# m2: the timeout, while m1 works through its list.
jt=$(ag_job_add $M2 run 'echo sleeping; sleep 30; echo woke' --timeout=2)
nx_log "m2: job $jt (sleep 30, --timeout=2)"

# expect_job ID STATE EXIT: the job's final state and exit code.
expect_job() {
	local s e
	s=$(ag_job "$1" state)
	e=$(ag_job "$1" exit_code)
	nx_check test "$s" = "$2" -a "$e" = "$3" -- \
		"job $1: expected $2 with exit code $3, saw ${s:-?} with exit code ${e:-none}"
}

# --- a job that succeeds --------------------------------------------------
j=$(ag_job_add $M1 run 'echo ok; exit 0')
ag_job_wait $j 'done|failed|timed-out|cancelled' 20
expect_job $j done 0
ag_job_output $j "$NX_TMP/ok.out"
nx_check test "$(cat "$NX_TMP/ok.out")" = ok -- "job $j's output is 'ok' (is '$(head -c 100 "$NX_TMP/ok.out")')"

# --- 200 KB of output -----------------------------------------------------
seq 1 40000 >"$NX_TMP/big.want"
size=$(stat -c %s "$NX_TMP/big.want")
j=$(ag_job_add $M1 run 'seq 1 40000')
ag_job_wait $j 'done|failed|timed-out|cancelled' 30
expect_job $j done 0
ag_job_output $j "$NX_TMP/big.out"
nx_check test "$(sha256sum <"$NX_TMP/big.out")" = "$(sha256sum <"$NX_TMP/big.want")" -- \
	"job $j: all $size bytes of output, same SHA-256 (got $(stat -c %s "$NX_TMP/big.out") bytes)"
nx_check test "$(ag_job $j output_bytes)" = "$size" -- \
	"job $j: output_bytes is $size (is $(ag_job $j output_bytes))"
nx_check test "$(ag_job $j output_stored)" = "$size" -- \
	"job $j: output_stored is $size (is $(ag_job $j output_stored))"

# --- a failure stops the sequence; cancel and retry ------------------------
flag=$NX_TMP/retried
jf=$(ag_job_add $M1 run "echo hello; echo err >&2; [ -e $flag ] && exit 0; touch $flag; exit 3")
jq=$(ag_job_add $M1 run 'echo queued-ran')
ag_job_wait $jf 'done|failed|timed-out|cancelled' 20
expect_job $jf failed 3
ag_job_output $jf "$NX_TMP/fail.out"
nx_check grep -qx hello "$NX_TMP/fail.out" -- "job $jf's output has its stdout line 'hello'"
nx_check grep -qx err "$NX_TMP/fail.out" -- "job $jf's output has its stderr line 'err'"
sleep 2
nx_check test "$(ag_job $jq state)" = queued -- \
	"job $jq behind the failed $jf stays queued (is $(ag_job $jq state))"
nx_check test "$(ag_phase $M1)" = failed -- "$M1's phase is failed (is $(ag_phase $M1))"
nx_ctl job cancel $jq >/dev/null || nx_fail "xbootctl job cancel $jq failed"
nx_check test "$(ag_job $jq state)" = cancelled -- "job $jq is cancelled (is $(ag_job $jq state))"
nx_ctl job retry $jf >/dev/null || nx_fail "xbootctl job retry $jf failed"
ag_job_wait $jf 'done' 20
expect_job $jf done 0
nx_check test "$(ag_job $jq state)" = cancelled -- "the cancelled job $jq did not run (state $(ag_job $jq state))"
nx_check eval '[ -z "$(ag_job $jq started)" ] || [ "$(ag_job $jq started)" = 0 ]' -- \
	"the cancelled job $jq never started (started '$(ag_job $jq started)')"
j=$(ag_job_add $M1 run 'echo after-retry')
ag_job_wait $j 'done|failed|timed-out|cancelled' 20
expect_job $j done 0
nx_log "ok: after the retry the sequence goes on (job $j ran)"

# --- m2's timeout ---------------------------------------------------------
ag_job_wait $jt 'timed-out|done|failed|cancelled' 20
nx_check test "$(ag_job $jt state)" = timed-out -- "job $jt: expected timed-out, saw $(ag_job $jt state)"
took=$(($(ag_job $jt finished) - $(ag_job $jt started)))
nx_check test $took -le 10 -- "job $jt ended long before its sleep 30 would have (ran ${took} s by its started/finished times)"
ag_job_output $jt "$NX_TMP/timeout.out"
nx_check grep -qx sleeping "$NX_TMP/timeout.out" -- "job $jt's output before the timeout was kept"
nx_check eval '! grep -q woke "$NX_TMP/timeout.out"' -- "job $jt was stopped before it woke"
nx_check test "$(ag_phase $M2)" = failed -- "$M2's phase is failed after the timeout (is $(ag_phase $M2))"

# --- poweroff -------------------------------------------------------------
# watch --count=2 from the last event the long watch has seen (nothing
# happens meanwhile): the poweroff job's first two events, however soon
# they come.
sleep 1
last=$(tail -n 1 "$NX_TMP/watch.json" | ag_json "print(d['seq'])") ||
	nx_fail "the long xbootctl watch printed no event with a seq (watch.json)"
"$XBOOTCTL" --control-socket="$NX_CTL_SOCK" --json watch --after="$last" --count=2 --for=30 \
	>"$NX_TMP/watch2.json" 2>>"$NX_TMP/watch-err.log" &
watch2=$!
nx_track $watch2
jp=$(ag_job_add $M1 poweroff)
ag_wait_exit m1 20 || nx_fail "poweroff job $jp: expected the agent to exit within 20 s, it still runs"
nx_check test "$AG_RC" = 0 -- "poweroff: the agent exits 0 (exit $AG_RC)"
nx_check ag_log_has m1 'xboot-agent: poweroff: not done \(--power=exit\)' -- \
	"the agent printed 'xboot-agent: poweroff: not done (--power=exit)'"
ag_job_wait $jp 'done|failed|timed-out|cancelled' 10
nx_check test "$(ag_job $jp state)" = done -- "poweroff job $jp is done (is $(ag_job $jp state))"
ag_wait 10 ag_disconnected $M1 || nx_fail "expected $M1 not connected after its poweroff, saw connected"
nx_check test "$(ag_phase $M1)" = done -- "$M1's phase stays done after the agent left (is $(ag_phase $M1))"

# --- what watch saw ---------------------------------------------------------
n=150
while [ $n -gt 0 ] && kill -0 $watch2 2>/dev/null; do
	sleep 0.2
	n=$((n - 1))
done
kill -0 $watch2 2>/dev/null && nx_fail "xbootctl watch --count=2 still runs after 30 s"
wait $watch2
rc=$?
nx_check test $rc = 0 -- "xbootctl watch --count=2 exits 0 (exit $rc)"
lines=$(grep -c . "$NX_TMP/watch2.json")
nx_check test "$lines" = 2 -- "xbootctl watch --after=$last --count=2 printed 2 events (printed $lines)"
first=$(head -n 1 "$NX_TMP/watch2.json" | ag_json "print(d.get('seq'), d.get('job'))")
nx_check test "$first" = "$((last + 1)) $jp" -- \
	"its first event is event $((last + 1)), of the poweroff job $jp (is: seq, job = $first)"
# The long watch is stopped with SIGINT (xbootctl catches it).
ag_watch_stop || nx_fail "xbootctl watch still runs 5 s after SIGINT (expected: it stops and exits 0)"
rc=$AG_WATCH_RC
nx_check test $rc = 0 -- "xbootctl watch exits 0 on SIGINT (exit $rc)"
seen=$(ag_phases "$NX_TMP/watch.json" $M1) ||
	nx_fail "xbootctl watch --json printed something that is not one JSON object a line (see watch.json)"
nx_log "watch: $M1 went through: $seen"
nx_check ag_in_order "$seen" agent running done -- "watch saw $M1 in phases agent, running, done in that order (saw: $seen)"
nx_check ag_in_order "$seen" agent running failed running done -- \
	"watch saw $M1 fail and then finish after the retry (saw: $seen)"
nx_log "agent counters:"
ag_stats | sed 's/^/    /'
ag_stop m2
nx_xbootd_stop
nx_pass agent_jobs
