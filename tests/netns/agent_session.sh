#!/usr/bin/env bash
# An agent session from enrolment to a token (issue 5):
#
#   ┌────── xbt-agses-PID-srv ──────┐      ┌────── xbt-agses-PID-cli ──────┐
#   │ xbootd: agent port 4012 (TLS) │ veth │ xboot-agent --power=exit      │
#   │ HTTP 8080: /xboot/ca.pem      ├──────┤  --inventory-root: a fake     │
#   │ xbt-agses-s 10.77.0.1/16      │      │  machine (tests/data/agent)   │
#   └───────────────────────────────┘      └───────────────────────────────┘
#
# `xbootctl enrol MAC` mints a credential; the agent redeems it over TLS
# (pinning xbootd's own CA) for a token. Then: `xbootctl machine MAC`
# shows it connected with the fake tree's inventory (vendor, CPUs, memory,
# NIC, the disk as large as its image file), the token file exists (0600)
# and the credential file is gone. The agent is stopped (BYE: the machine
# is no longer connected) and started again with the token alone: a
# session without enrolment, the inventory the same. The CA that xbootd
# serves over HTTP is the one in its state directory. Last, `xbootctl
# machine MAC forget-token`: the old token is refused (bad token); with a
# new credential next to the stale token the agent falls back to it and
# enrols the machine again.
set -u
. "$(dirname "$0")/../lib/netns.sh"
. "$(dirname "$0")/../lib/agent.sh"

MAC=52:54:00:a5:00:01
MIB64=$((64 * 1024 * 1024))

nx_require_cmd curl
ag_require
nx_init agses
nx_pair
nx_cli_addr
nx_cli_mac $MAC
ag_xbootd

ag_tree m1 $MAC
ag_enrol m1 $MAC
nx_check test -s "$NX_TMP/m1.enrol" -- "xbootctl enrol $MAC printed a credential"
ag_start m1 $MAC

ag_wait 20 ag_connected $MAC || {
	ag_summary $MAC
	nx_fail "expected $MAC connected within 20 s; xbootctl machine says: $(ag_machine $MAC "print(d.get('phase'), d.get('connected'))" || echo 'unknown machine')"
}
nx_log "ok: $MAC is connected"
nx_check ag_log_has m1 'enrolled' -- "the agent says it enrolled"
nx_check ag_log_has m1 'connected to 10\.77\.0\.1:4012' -- "the agent says where it connected"
nx_check test -s "$NX_TMP/m1.token" -- "the agent wrote its token file"
nx_check test "$(stat -c %a "$NX_TMP/m1.token")" = 600 -- \
	"the token file is 0600 (is $(stat -c %a "$NX_TMP/m1.token"))"
nx_check test ! -e "$NX_TMP/m1.enrol" -- "the used credential file is gone"
nx_check ag_wait 5 eval '[ "$(ag_stat enrolments)" = 1 ]' -- \
	"agent.enrolments is 1 (is $(ag_stat enrolments))"

# inventory_ok MAC: the fake tree, as xbootctl reports it; prints what
# differs (nothing when all is well).
inventory_ok() {
	ag_machine "$1" "
want_mac = '$1'
bad = []
def chk(what, got, want):
    if got != want:
        bad.append('%s: expected %r, saw %r' % (what, want, got))
i = inv(d)
chk('mac', (d.get('mac') or '').lower(), want_mac)
chk('vendor', d.get('vendor'), 'xboot-test')
chk('product', d.get('product'), 'netns machine')
chk('serial', d.get('serial'), 'XBT-0001')
chk('cpus', d.get('cpus'), 4)
chk('memory_bytes', d.get('memory_bytes'), 2048000 * 1024)
chk('system_uuid', (i.get('system_uuid') or '').lower().replace('-', ''), '7e57ab1e000040008000' '00000000a9e7')
nics = i.get('nics') or []
chk('nic MACs', [(n.get('mac') or '').lower() for n in nics], [want_mac])
chk('nic names', [n.get('name') for n in nics], ['eth0'])
disks = {x.get('name'): x for x in i.get('disks') or []}
chk('disk names', sorted(disks), ['sda', 'vdb'])
if 'vdb' in disks:
    chk('vdb size', disk_size(disks['vdb']), $MIB64)
    chk('vdb serial', disks['vdb'].get('serial'), 'xbt-disk-1')
    chk('vdb rotational', disks['vdb'].get('rotational') in (False, 0), True)
if 'sda' in disks:
    chk('sda size', disk_size(disks['sda']), 1 << 30)
    chk('sda model', disks['sda'].get('model'), 'XBT HARDDISK')
    chk('sda rotational', disks['sda'].get('rotational') in (True, 1), True)
chk('disks (count)', d.get('disks') if not isinstance(d.get('disks'), list) else len(d['disks']), 2)
print('; '.join(bad))"
}

# The inventory arrives just after WELCOME: give it a moment.
inventory_done() { [ "$(ag_machine $MAC "print(bool(inv(d).get('disks')))")" = True ]; }
ag_wait 10 inventory_done
bad=$(inventory_ok $MAC)
[ -z "$bad" ] || {
	ag_summary $MAC
	nx_fail "inventory of $MAC: $bad"
}
nx_log "ok: the inventory is the fake tree's (vendor, CPUs 4, memory, eth0, sda 1 GiB, vdb 64 MiB)"
nx_check test "$(ag_phase $MAC)" = agent -- "the machine's phase is 'agent' (is $(ag_phase $MAC))"
nx_log "xbootctl machines:"
nx_ctl machines | sed 's/^/    /'
ag_summary $MAC

# --- a second start: the token alone ------------------------------------
ag_stop m1
nx_check test "$AG_RC" = 0 -- "SIGTERM: the agent exits 0 (exit $AG_RC)"
ag_wait 10 ag_disconnected $MAC || nx_fail "expected $MAC not connected after the agent's BYE, saw connected"
nx_log "ok: after the agent stopped, $MAC is not connected (phase $(ag_phase $MAC))"
nx_check test ! -e "$NX_TMP/m1.enrol" -- "no credential for the second start"
sessions=$(ag_stat sessions)
# a fresh log for the second start (the first is kept for a failure)
mv "$NX_TMP/agent-m1.log" "$NX_TMP/agent-m1-first.log"
ag_start m1 $MAC
ag_wait 20 ag_connected $MAC || nx_fail "the agent with its token: expected $MAC connected within 20 s, saw not connected"
nx_log "ok: the agent got in again with its token"
nx_check ag_log_has m1 '(^|[^-])session [0-9a-f]+' -- "the agent says it has a session"
nx_check eval '! ag_log_has m1 enrolled' -- "no enrolment the second time"
nx_check test "$(ag_stat enrolments)" = 1 -- "agent.enrolments is still 1 (is $(ag_stat enrolments))"
nx_check test "$(ag_stat sessions)" -gt "$sessions" -- \
	"agent.sessions went up ($sessions -> $(ag_stat sessions))"
ag_wait 10 inventory_done
bad=$(inventory_ok $MAC)
nx_check test -z "$bad" -- "the inventory is the same after the second start${bad:+: $bad}"
nx_check test "$(ag_stat refused)" = 0 -- "nothing was refused (agent.refused $(ag_stat refused))"

# --- the CA over HTTP ---------------------------------------------------
nx_cli curl -sS --max-time 10 -o "$NX_TMP/ca-http.pem" "$AG_SERVER/xboot/ca.pem" ||
	nx_fail "GET $AG_SERVER/xboot/ca.pem failed"
nx_check cmp -s "$NX_TMP/ca-http.pem" "$AG_CA" -- \
	"/xboot/ca.pem over HTTP is xbootd's CA ($AG_CA)"

# --- forget-token: the machine must enrol again -------------------------
ag_stop m1
out=$(nx_ctl machine $MAC forget-token 2>&1) || nx_fail "xbootctl machine $MAC forget-token failed: $out"
mv "$NX_TMP/agent-m1.log" "$NX_TMP/agent-m1-second.log"
ag_start m1 $MAC
ag_wait_exit m1 20 || nx_fail "after forget-token: expected the agent with its old token to be refused (exit 3) within 20 s; it still runs"
nx_check test "$AG_RC" = 3 -- "after forget-token the old token is refused: exit 3 (exit $AG_RC)"
nx_check ag_log_has m1 'refused: bad token' -- "after forget-token the agent is told 'refused: bad token'"
# The stale token is still in its file, and a new credential is there too:
# the agent presents the token, is refused, drops it and enrols.
nx_check test -s "$NX_TMP/m1.token" -- "the refused token is still on disk"
mv "$NX_TMP/agent-m1.log" "$NX_TMP/agent-m1-third.log"
ag_enrol m1 $MAC
ag_start m1 $MAC
ag_wait 20 ag_connected $MAC || nx_fail "after forget-token and a new credential: expected $MAC connected within 20 s, saw not connected"
nx_check ag_log_has m1 'refused: bad token' -- "the stale token was presented first and refused"
nx_check ag_log_has m1 'enrolled' -- "with the new credential the machine enrolled again"
nx_check test ! -e "$NX_TMP/m1.enrol" -- "the spent credential's file is gone"
nx_log "agent counters:"
ag_stats | sed 's/^/    /'
ag_stop m1
nx_xbootd_stop
nx_pass agent_session
