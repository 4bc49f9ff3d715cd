#!/usr/bin/env bash
# A job survives a dropped connection and a `kill -9` of xbootd (issue 5):
#
#   ┌────── xbt-agres-PID-srv ──────┐      ┌────── xbt-agres-PID-cli ──────┐
#   │ xbootd (killed, restarted on  │ veth │ xboot-agent --power=exit      │
#   │  the same state directory)    ├──────┤  (one start for the whole     │
#   │ xbt-agres-s 10.77.0.1/16      │      │   test: one boot id)          │
#   └───────────────────────────────┘      └───────────────────────────────┘
#
# 1. A job printing 1..6, one a second; mid-job `xbootctl machine MAC
#    disconnect` drops the session (a TCP RST, no BYE). The agent
#    reconnects and resumes (same boot id: "resumed" in its log); the job
#    ends done with each of the 6 lines exactly once.
# 2. The same kind of job, with another queued behind it; mid-job xbootd is
#    killed with SIGKILL and started again 2 s later on the same state
#    directory. The agent resumes; the job ends done with all its output,
#    the queued job runs after it, and the session went on with the token
#    (no new enrolment). Last, a fresh agent start (a new boot id) gets in
#    with that token too.
set -u
. "$(dirname "$0")/../lib/netns.sh"
. "$(dirname "$0")/../lib/agent.sh"

MAC=52:54:00:c1:00:01
SLOW='for i in $(seq 1 6); do echo $i; sleep 1; done'

ag_require
nx_init agres
nx_pair
nx_cli_addr
nx_cli_mac $MAC
ag_xbootd

ag_tree m1 $MAC
ag_enrol m1 $MAC
ag_start m1 $MAC
ag_wait 20 ag_connected $MAC || nx_fail "expected $MAC connected within 20 s, saw: $(ag_machine $MAC "print(d.get('phase'), d.get('connected'))")"
nx_log "ok: $MAC is connected"

# output_lines ID: how many lines of the job's output xbootd holds.
output_lines() { nx_ctl job output "$1" 2>/dev/null | grep -c .; }
has_lines() { [ "$(output_lines "$1")" -ge "$2" ]; }

# check_six ID: the job's output is exactly 1..6, one a line.
check_six() {
	ag_job_output "$1" "$NX_TMP/job$1.out"
	nx_check test "$(cat "$NX_TMP/job$1.out")" = "$(seq 1 6)" -- \
		"job $1: output is exactly the lines 1..6, each once (is: $(tr '\n' ' ' <"$NX_TMP/job$1.out"))"
	nx_check test "$(ag_job "$1" output_bytes)" = 12 -- \
		"job $1: output_bytes is 12 (is $(ag_job "$1" output_bytes))"
}

# --- 1. a dropped connection ----------------------------------------------
resumed=$(ag_log_count m1 resumed)
j=$(ag_job_add $MAC run "$SLOW")
ag_wait 15 has_lines $j 2 || nx_fail "job $j: expected 2 lines of output within 15 s, saw $(output_lines $j) (state $(ag_job $j state))"
nx_log "job $j is running ($(output_lines $j) lines so far): dropping the connection"
out=$(nx_ctl machine $MAC disconnect 2>&1) || nx_fail "xbootctl machine $MAC disconnect failed: $out"
nx_check ag_wait 10 eval '[ "$(ag_log_count m1 "connection lost")" -ge 1 ]' -- \
	"the agent noticed the lost connection ('connection lost' in its log)"
ag_wait 20 eval '[ "$(ag_log_count m1 resumed)" -gt $resumed ]' ||
	nx_fail "expected the agent to reconnect and resume within 20 s ('resumed' in its log), saw no such line"
nx_log "ok: the agent resumed its session"
ag_job_wait $j 'done|failed|timed-out|cancelled' 20
nx_check test "$(ag_job $j state)" = done -- "job $j is done after the drop (is $(ag_job $j state))"
check_six $j
nx_check ag_connected $MAC -- "$MAC is connected again"

# --- 2. kill -9 of xbootd ---------------------------------------------------
resumed=$(ag_log_count m1 resumed)
enrolled=$(ag_log_count m1 enrolled)
j=$(ag_job_add $MAC run "$SLOW")
jq=$(ag_job_add $MAC run 'echo queued-before-the-kill')
ag_wait 15 has_lines $j 2 || nx_fail "job $j: expected 2 lines of output within 15 s, saw $(output_lines $j) (state $(ag_job $j state))"
nx_log "job $j is running ($(output_lines $j) lines so far), job $jq queued: kill -9 xbootd"
ag_kill9_xbootd
sleep 2
ag_xbootd
ag_wait 30 eval '[ "$(ag_log_count m1 resumed)" -gt $resumed ]' ||
	nx_fail "expected the agent to reconnect to the restarted xbootd and resume within 30 s ('resumed' in its log), saw no such line"
nx_log "ok: the agent resumed with the restarted xbootd"
ag_job_wait $j 'done|failed|timed-out|cancelled' 20
nx_check test "$(ag_job $j state)" = done -- "job $j is done across the restart (is $(ag_job $j state))"
check_six $j
ag_job_wait $jq 'done|failed|timed-out|cancelled' 20
nx_check test "$(ag_job $jq state)" = done -- "job $jq, queued before the kill, ran after it (is $(ag_job $jq state))"
ag_job_output $jq "$NX_TMP/jq.out"
nx_check test "$(cat "$NX_TMP/jq.out")" = queued-before-the-kill -- "job $jq's output (is '$(cat "$NX_TMP/jq.out")')"
nx_check test "$(ag_log_count m1 enrolled)" = "$enrolled" -- "the agent did not enrol again"
nx_check test "$(ag_stat enrolments)" = 0 -- "the restarted xbootd issued no token (agent.enrolments $(ag_stat enrolments))"
nx_check ag_connected $MAC -- "$MAC is connected to the restarted xbootd"

# --- the token, from a fresh start ------------------------------------------
ag_stop m1
mv "$NX_TMP/agent-m1.log" "$NX_TMP/agent-m1-first.log"
ag_start m1 $MAC
ag_wait 20 ag_connected $MAC || nx_fail "a new agent start with the token: expected $MAC connected within 20 s, saw not connected"
nx_check eval '! ag_log_has m1 "enrolled|refused"' -- "the token still works: a session without enrolment"
j=$(ag_job_add $MAC run 'echo fresh')
ag_job_wait $j 'done|failed|timed-out|cancelled' 20
nx_check test "$(ag_job $j state)" = done -- "a job after the fresh start is done (is $(ag_job $j state))"
nx_log "agent counters:"
ag_stats | sed 's/^/    /'
ag_stop m1
nx_xbootd_stop
nx_pass agent_resume
