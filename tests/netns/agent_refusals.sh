#!/usr/bin/env bash
# Every refusal of the agent port, seen from both sides (issue 5):
#
#   ┌────── xbt-agref-PID-srv ──────┐      ┌────── xbt-agref-PID-cli ──────┐
#   │ xbootd: agent port 4012       │ veth │ one xboot-agent after another │
#   │ xbt-agref-s 10.77.0.1/16      ├──────┤ 10.77.0.2/16 (one address:   │
#   │                               │      │  the rate limit's key)        │
#   └───────────────────────────────┘      └───────────────────────────────┘
#
# Machine A enrols first (its token and used credential serve below). Then,
# in this order:
#   --plaintext                      no tls          (TLS failure)
#   a CA that is not xbootd's        agent exit 2    (TLS failure)
#   a credential never minted        bad credential  (auth failure 1)
#   A's credential again             credential reused          (2)
#   a random token                   bad token                  (3)
#   A's token, with B's MAC and a
#     tree without A's MAC           token mismatch             (4)
#   another unknown credential       bad credential             (5)
#   a good credential for C          rate limited (the address has failed
#                                    5 times within the window)
# Each: the agent's exit code (3: refused for good; 2: TLS verification;
# rate limited: it keeps waiting and retrying) and its "refused: REASON"
# line, xbootd's log line naming the reason, and the counters of
# `xbootctl stats` ("agent": refused, auth_failed, tls_failed,
# rate_limited).
set -u
. "$(dirname "$0")/../lib/netns.sh"
. "$(dirname "$0")/../lib/agent.sh"

MA=52:54:00:d1:00:0a
MB=52:54:00:d1:00:0b
MC=52:54:00:d1:00:0c

nx_require_cmd openssl
ag_require
nx_init agref
nx_pair
nx_cli_addr
ag_xbootd

# --- machine A enrols -------------------------------------------------------
ag_tree a $MA
ag_enrol a $MA
cp "$NX_TMP/a.enrol" "$NX_TMP/a.enrol.used"
ag_start a $MA
ag_wait 20 ag_connected $MA || nx_fail "expected $MA connected within 20 s, saw: $(ag_machine $MA "print(d.get('phase'), d.get('connected'))")"
nx_check test -s "$NX_TMP/a.token" -- "A has a token"
ag_stop a
nx_log "ok: machine A enrolled and stopped"

# snap: the agent counters now (one xbootctl call), into S_name.
snap() {
	local k v
	while read -r k v; do
		eval "S_$k=$v"
	done < <(ag_stats)
}

# deltas NAME=N ...: each counter moved by N since the last snap (NAME=N+:
# at least N). A counter may move just after the agent exits: a few tries.
deltas() {
	local kv k want was now ok try bad
	for try in 1 2 3 4 5 6 7 8 9 10; do
		ag_stats >"$NX_TMP/stats.now"
		ok=1 bad=
		for kv in "$@"; do
			k=${kv%%=*} want=${kv#*=}
			eval "was=\${S_$k:-0}"
			now=$(awk -v k="$k" '$1 == k { print $2 }' "$NX_TMP/stats.now")
			now=${now:-0}
			case $want in
			*+) [ $((now - was)) -ge ${want%+} ] || { ok=0; bad+=" $k: $was -> $now (want +$want)"; } ;;
			*) [ $((now - was)) -eq $want ] || { ok=0; bad+=" $k: $was -> $now (want +$want)"; } ;;
			esac
		done
		[ $ok = 1 ] && break
		sleep 0.2
	done
	[ $ok = 1 ] || nx_fail "agent counters:$bad"
	nx_log "ok: agent counters moved by $*"
}

# refusal NAME MAC WANT-EXIT REASON [agent options]: the agent is refused:
# it exits WANT-EXIT within 20 s printing "refused: REASON", and xbootd
# logs the reason. Counters are checked by the caller.
refusal() {
	local name=$1 mac=$2 want=$3 reason=$4 mark
	shift 4
	mark=$(ag_log_mark)
	snap
	ag_start "$name" "$mac" "$@"
	if ! ag_wait_exit "$name" 20; then
		nx_fail "$name: expected the agent to exit $want (refused: $reason) within 20 s; it still runs: $(tail -n 2 "$NX_TMP/agent-$name.log" | tr '\n' ' ')"
	fi
	nx_check test "$AG_RC" = "$want" -- "$name: the agent exits $want (exit $AG_RC)"
	if [ -n "$reason" ]; then
		nx_check ag_log_has "$name" "xboot-agent: refused: $reason" -- \
			"$name: the agent printed 'refused: $reason' (printed: $(grep -m1 'refused' "$NX_TMP/agent-$name.log" || echo nothing))"
		sleep 0.3 # xbootd's log line may follow its REFUSED frame
		nx_check eval 'ag_log_since $mark | grep -Eiq "refused: $reason"' -- \
			"$name: xbootd logged 'refused: $reason'"
		ag_log_since "$mark" | grep -Ei "refused: $reason" | head -n 1 | sed 's/^/    xbootd: /'
	fi
}

# --- no TLS -----------------------------------------------------------------
ag_tree p $MC
printf 'x\n' >"$NX_TMP/p.enrol"
refusal p $MC 3 'no tls' --plaintext
deltas tls_failed=1 refused=1 auth_failed=0

# --- a CA that is not xbootd's ------------------------------------------------
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
	-subj /CN=not-xbootd -keyout "$NX_TMP/wrong-ca.key" -out "$NX_TMP/wrong-ca.pem" \
	>>"$NX_TMP/openssl.log" 2>&1 || nx_fail "openssl req could not make a CA"
ag_tree w $MC
ag_enrol w $MC
mark=$(ag_log_mark)
refusal w $MC 2 '' --ca "$NX_TMP/wrong-ca.pem"
deltas tls_failed=1 auth_failed=0 enrolments=0
nx_check test -e "$NX_TMP/w.enrol" -- "the wrong-CA agent kept its credential (it never reached HELLO)"
ag_log_since $mark | grep -Ei 'tls|handshake|ssl' | head -n 1 | sed 's/^/    xbootd: /'

# --- authentication failures (1 to 5) ---------------------------------------
ag_tree c1 $MC
printf 'no-such-credential-%s\n' "$RANDOM$RANDOM" >"$NX_TMP/c1.enrol"
refusal c1 $MC 3 'bad credential'
deltas auth_failed=1 refused=1

ag_tree r $MA
cp "$NX_TMP/a.enrol.used" "$NX_TMP/r.enrol"
refusal r $MA 3 'credential reused'
deltas auth_failed=1 refused=1 enrolments=0

# A token of the agent's own format: A's token file, random contents.
ag_tree t $MC
"$AG_PY" - "$NX_TMP/a.token" "$NX_TMP/t.token" <<'EOF'
import os, re, sys, secrets
a = open(sys.argv[1], 'rb').read()
m = re.fullmatch(rb'([0-9a-fA-F]+)(\s*)', a)
if m:
    out = secrets.token_hex(len(m.group(1)) // 2 + 1)[:len(m.group(1))].encode() + m.group(2)
else:
    out = os.urandom(len(a))
fd = os.open(sys.argv[2], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
os.write(fd, out)
EOF
nx_check eval '! cmp -s "$NX_TMP/a.token" "$NX_TMP/t.token"' -- "a random token differs from A's"
refusal t $MC 3 'bad token'
deltas auth_failed=1 refused=1

ag_tree b $MB
cp "$NX_TMP/a.token" "$NX_TMP/b.token"
refusal b $MB 3 'token mismatch'
deltas auth_failed=1 refused=1

ag_tree c2 $MC
printf 'another-unknown-credential\n' >"$NX_TMP/c2.enrol"
refusal c2 $MC 3 'bad credential'
deltas auth_failed=1 refused=1 rate_limited=0

# --- rate limited: even a good credential -----------------------------------
ag_tree c $MC
ag_enrol c $MC
mark=$(ag_log_mark)
snap
ag_start c $MC
limited() { ag_log_has c 'rate limited'; }
ag_wait 15 limited || nx_fail "after 5 failures: expected the agent with a good credential to be told 'rate limited' within 15 s; its log: $(tail -n 3 "$NX_TMP/agent-c.log" | tr '\n' ' ')"
nx_log "ok: the agent was told: $(grep -m1 'rate limited' "$NX_TMP/agent-c.log")"
nx_check ag_running c -- "a rate-limited agent keeps waiting to retry (it is still running)"
sleep 0.3
nx_check eval 'ag_log_since $mark | grep -q "rate limited"' -- "xbootd logged 'rate limited'"
ag_log_since $mark | grep 'rate limited' | head -n 1 | sed 's/^/    xbootd: /'
deltas rate_limited=1+ enrolments=0
nx_check test ! -e "$NX_TMP/c.token" -- "the rate-limited agent got no token"
nx_check eval '! ag_connected $MC' -- "$MC is not connected"
ag_stop c

nx_log "agent counters:"
ag_stats | sed 's/^/    /'
nx_xbootd_stop
nx_pass agent_refusals
