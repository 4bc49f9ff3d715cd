# Shared helpers for the agent tests (tests/netns/agent_*.sh,
# tests/vm/agent_e2e.sh) and the demo: xbootd with its agent port in the
# server namespace, xboot-agents in the client namespace, each with a fake
# sysfs/procfs tree as its machine (tests/data/agent/machine).
#
#   ┌─────── xbt-TAG-PID-srv ───────┐      ┌─────── xbt-TAG-PID-cli ────────┐
#   │ xbootd: agent port 4012 (TLS) │ veth │ xboot-agent --mac M1 ...       │
#   │   HTTP 8080 (/xboot/ca.pem)   ├──────┤ xboot-agent --mac M2 ...       │
#   │   DHCP (a range, unused)      │      │ (--inventory-root NAME.root,   │
#   │ xbt-TAG-s 10.77.0.1/16        │      │  --power=exit)  10.77.0.2/16   │
#   └───────────────────────────────┘      └────────────────────────────────┘
#
# Usage (after sourcing netns.sh):
#   ag_require                      the agent and the xbootctl commands exist
#   nx_init TAG; nx_pair; nx_cli_addr
#   ag_xbootd [key=value ...]       start xbootd (again: same keys, same state)
#   ag_tree NAME MAC [DISK-FILE]    NAME's machine: $NX_TMP/NAME.root
#   ag_enrol NAME MAC               a credential in $NX_TMP/NAME.enrol
#   ag_start NAME MAC [OPTION ...]  an agent; log $NX_TMP/agent-NAME.log
#   ag_wait SECONDS CMD...          poll CMD (every 0.2 s) until it succeeds
#   ag_wait_exit NAME SECONDS       wait for NAME's agent to exit: AG_RC
#   ag_machine MAC PYTHON           PYTHON on `xbootctl --json machine MAC`
#   ag_job_add MAC TYPE ARG... [--timeout=S]   prints the new job's id
#   ag_job ID FIELD                 one field of the job (`xbootctl jobs`)
#   ag_job_wait ID STATES SECONDS   until the job's state matches STATES
# and for a real machine (tests/vm; qemu.sh sourced too):
#   ag_bootenv DIR                  build/bootenv with the agent, made if stale
#   ag_xbootd_pxe DIR               xbootd handing PXE clients DIR's kernel
#   qx_boot_virtio NAME MAC DISK ...   then: the machine powers on
#   ag_wait_registered NAME MAC SECONDS [HINT]; ag_wait_inventory NAME MAC
#
# Every wait is bounded; a failure message names what was expected and
# what was seen, and netns.sh prints the tail of every *.log of $NX_TMP
# (xbootd.log, agent-NAME.log) on a failed exit.

XBOOT_AGENT=${XBOOT_AGENT:-$XBOOT_TOP/build/xboot-agent}
AG_DATA=$XBOOT_TOP/tests/data/agent
AG_PORT=${AG_PORT:-4012}
AG_HTTP_PORT=${AG_HTTP_PORT:-8080}
AG_SERVER=http://$NX_SRV_IP:$AG_HTTP_PORT
AG_XBOOTD_ARGS=()
# The system's python: a pyenv shim in PATH costs seconds a call on a busy
# host, and these tests call it hundreds of times.
AG_PY=python3
[ -x /usr/bin/python3 ] && AG_PY=/usr/bin/python3

# ag_json PYTHON: PYTHON with the JSON document on stdin as `d` (nx_json
# with $AG_PY).
ag_json() {
	"$AG_PY" -c "
import json, sys
d = json.load(sys.stdin)
$1"
}

# ag_require: the binaries under test, with the issue 5 pieces in them.
ag_require() {
	nx_require_xboot
	nx_require_cmd python3
	[ -x "$XBOOT_AGENT" ] || nx_fail "$XBOOT_AGENT not built: run make"
	if "$XBOOT_AGENT" --help 2>&1 | grep -q 'not built yet'; then
		nx_fail "$XBOOT_AGENT is still the placeholder ('not built yet')"
	fi
	"$XBOOTCTL" --help 2>&1 | grep -q 'machines' ||
		nx_fail "$XBOOTCTL has no 'machines' command (see its --help)"
}

# ag_xbootd [key=value ...]: xbootd with the agent service, an HTTP server
# (for /xboot/ca.pem, http-root $NX_TMP/http) and a DHCP range (mode=full
# needs one), XDP off; a key given replaces its default. Waits until the
# agent port listens. The keys are kept: a second call without keys
# restarts xbootd the same way on the same state directory.
ag_xbootd() {
	local kv d keys=" "
	if [ $# -gt 0 ] || [ ${#AG_XBOOTD_ARGS[@]} -eq 0 ]; then
		mkdir -p "$NX_TMP/http"
		for kv in "$@"; do keys+="${kv%%=*} "; done
		AG_XBOOTD_ARGS=()
		# the defaults, unless the caller gives the key
		for d in xdp=off dhcp-range=$NX_NET.1.10,$NX_NET.1.200,$NX_MASK,600 \
			http-root="$NX_TMP/http" http-port=$AG_HTTP_PORT agent-port=$AG_PORT; do
			case $keys in *" ${d%%=*} "*) ;; *) AG_XBOOTD_ARGS+=("$d") ;; esac
		done
		AG_XBOOTD_ARGS+=("$@")
	fi
	trap ag_exit EXIT
	nx_xbootd "${AG_XBOOTD_ARGS[@]}"
	ag_wait 10 ag_listening || {
		nx_srv ss -Htlnp | sed 's/^/    /'
		nx_fail "xbootd does not listen on the agent port $AG_PORT (ss above)"
	}
	AG_CA=$NX_STATE/tls/ca.pem
	[ -s "$AG_CA" ] || nx_fail "xbootd made no CA at $AG_CA (agent-cert unset: it should make its own)"
	nx_log "xbootd's agent port $NX_SRV_IP:$AG_PORT is up; CA $AG_CA"
}

# ag_exit: the EXIT trap (instead of nx_cleanup, which it calls). On a
# failure, xbootd's log without the control API's lines (the tests poll it
# several times a second, which buries everything else in the tail that
# nx_dump_logs prints) goes to xbootd-no-control.log.
ag_exit() {
	local rc=$?
	if [ $rc -ne 0 ] && [ $rc -ne 77 ] && [ -s "$NX_TMP/xbootd.log" ]; then
		grep -v ' control: ' "$NX_TMP/xbootd.log" >"$NX_TMP/xbootd-no-control.log"
	fi
	(exit $rc)
	nx_cleanup
}

ag_listening() { nx_srv ss -Htln "sport = :$AG_PORT" 2>/dev/null | grep -q .; }

# ag_kill9_xbootd: what a crash does (no clean-up, no BYE).
ag_kill9_xbootd() {
	kill -KILL "$NX_XBOOTD_PID" 2>/dev/null
	wait "$NX_XBOOTD_PID" 2>/dev/null
	NX_XBOOTD_PID=
	echo "=== $(date +%T) kill -9" >>"$NX_TMP/xbootd.log"
}

# ag_tree NAME MAC [DISK-FILE]: a copy of the fake machine whose eth0 has
# MAC and whose disk vdb is as large as DISK-FILE (default: a 64 MiB
# sparse file $NX_TMP/NAME.disk, made here).
ag_tree() {
	local name=$1 mac=$2 disk=${3:-} root=$NX_TMP/$1.root
	rm -rf "$root"
	cp -r "$AG_DATA/machine" "$root" || nx_fail "cannot copy $AG_DATA/machine"
	if [ -z "$disk" ]; then
		disk=$NX_TMP/$name.disk
		truncate -s 64M "$disk"
	fi
	echo "$mac" >"$root/sys/class/net/eth0/address"
	echo $(($(stat -c %s "$disk") / 512)) >"$root/sys/block/vdb/size"
}

# ag_enrol NAME MAC: a new enrolment credential for MAC (xbootctl enrol
# prints only the credential) into $NX_TMP/NAME.enrol, 0600.
ag_enrol() {
	local cred
	cred=$(nx_ctl enrol "$2") || nx_fail "xbootctl enrol $2 failed: $cred"
	[ -n "$cred" ] && [ "$(printf '%s\n' "$cred" | wc -l)" = 1 ] ||
		nx_fail "xbootctl enrol $2: expected one line (the credential), saw '$cred'"
	(umask 077 && printf '%s\n' "$cred" >"$NX_TMP/$1.enrol")
}

# ag_start NAME MAC [OPTION ...]: xboot-agent for machine NAME in the
# client namespace, in the background: --power=exit, its tree (ag_tree
# first), its token file $NX_TMP/NAME.token, its enrolment file when there
# is one, the CA of xbootd unless an option names --ca or --plaintext.
# Options given replace the defaults of the same name. AG_PID_NAME is its pid.
ag_start() {
	local name=$1 mac=$2 args=() o have=" "
	shift 2
	for o in "$@"; do have+="${o%%=*} "; done
	args=(--server "$AG_SERVER" --mac "$mac" --agent-port "$AG_PORT")
	case $have in *" --power "*) ;; *) args+=(--power=exit) ;; esac
	case $have in *" --inventory-root "*) ;; *) args+=(--inventory-root "$NX_TMP/$name.root") ;; esac
	case $have in *" --token-file "*) ;; *) args+=(--token-file "$NX_TMP/$name.token") ;; esac
	case $have in *" --enrol-file "*) ;; *)
		[ -e "$NX_TMP/$name.enrol" ] && args+=(--enrol-file "$NX_TMP/$name.enrol") ;;
	esac
	case $have in *" --ca "* | *" --plaintext "*) ;; *) args+=(--ca "$AG_CA") ;; esac
	args+=("$@")
	echo "=== $(date +%T) xboot-agent ${args[*]}" >>"$NX_TMP/agent-$name.log"
	nx_log "agent $name: xboot-agent ${args[*]}"
	nsenter --net=/run/netns/"$NX_CLI" "$XBOOT_AGENT" "${args[@]}" \
		>>"$NX_TMP/agent-$name.log" 2>&1 </dev/null &
	eval "AG_PID_$name=$!"
	nx_track $!
}

# ag_stop NAME: SIGTERM (the agent says BYE and exits 0); AG_RC.
ag_stop() {
	local pid
	eval "pid=\${AG_PID_$1:-}"
	[ -n "$pid" ] || return 0
	kill -TERM "$pid" 2>/dev/null
	ag_wait_exit "$1" 10 || {
		kill -KILL "$pid" 2>/dev/null
		wait "$pid" 2>/dev/null
		nx_fail "agent $1 did not exit within 10 s of SIGTERM"
	}
}

# ag_wait_exit NAME SECONDS: 0 and its exit status in AG_RC once NAME's
# agent has exited; 1 when it still runs after SECONDS.
ag_wait_exit() {
	local pid n=$(($2 * 10))
	eval "pid=\${AG_PID_$1:-}"
	AG_RC=
	[ -n "$pid" ] || return 1
	while kill -0 "$pid" 2>/dev/null; do
		[ $n -gt 0 ] || return 1
		sleep 0.1
		n=$((n - 1))
	done
	wait "$pid" 2>/dev/null
	AG_RC=$?
	eval "AG_PID_$1="
	return 0
}

ag_running() {
	local pid
	eval "pid=\${AG_PID_$1:-}"
	[ -n "$pid" ] && kill -0 "$pid" 2>/dev/null
}

# ag_log_has NAME REGEX: NAME's agent log matches (grep -E).
ag_log_has() { grep -Eq -- "$2" "$NX_TMP/agent-$1.log"; }
ag_log_count() { grep -Ec -- "$2" "$NX_TMP/agent-$1.log"; }

# ag_wait SECONDS CMD...: run CMD every 0.2 s until it succeeds; 1 when
# SECONDS of wall-clock time have passed (CMD may be slow on a busy host).
ag_wait() {
	local end=$((SECONDS + $1))
	shift
	while [ $SECONDS -lt $end ]; do
		"$@" && return 0
		sleep 0.2
	done
	"$@"
}

# ag_machine MAC PYTHON: PYTHON with `xbootctl --json machine MAC` as `d`
# (nothing, status 1, when xbootctl fails). Helpers for PYTHON: jobs(d)
# (the job objects) and disk_size(x) (a disk's bytes).
ag_machine() {
	local j
	j=$(nx_ctl --json machine "$1" 2>>"$NX_TMP/xbootctl-err.log") || return 1
	ag_json "
def jobs(d):
    j = d.get('jobs')
    return j if isinstance(j, list) else []
def disk_size(x):
    return int(x.get('size_bytes', x.get('size', -1)))
def inv(d):
    return d.get('inventory') or {}
$2" <<<"$j"
}

# ag_connected MAC: the machine's "connected" is true.
ag_connected() { [ "$(ag_machine "$1" "print(d.get('connected') is True)")" = True ]; }
ag_disconnected() { [ "$(ag_machine "$1" "print(d.get('connected') is False)")" = True ]; }
ag_phase() { ag_machine "$1" "print(d.get('phase'))"; }

# ag_job_add MAC TYPE ARG... [--timeout=S]: `xbootctl job add`; prints the
# new job's id (and fails the test when there is none).
ag_job_add() {
	local out
	out=$(nx_ctl job add "$@" 2>&1)
	[[ $out =~ ^[0-9]+$ ]] ||
		nx_fail "xbootctl job add $*: expected the new job's id, saw '$out'"
	echo "$out"
}

# ag_job ID FIELD: the field of job ID from `xbootctl --json jobs`
# ("" when absent, None printed as ""). xbootctl's errors go to
# $NX_TMP/xbootctl-err.log (printed on failure); one failed call is retried.
ag_job() {
	local j
	j=$(ag_ctl_json jobs) || return 1
	ag_json "
for j in d.get('jobs') or []:
    if int(j.get('id', 0)) == $1:
        v = j.get('$2')
        print('' if v is None else v)" <<<"$j"
}

# ag_ctl_json ARGS...: `xbootctl --json ARGS`, once more if the first
# call fails or prints nothing.
ag_ctl_json() {
	local out try
	for try in 1 2; do
		out=$(nx_ctl --json "$@" 2>>"$NX_TMP/xbootctl-err.log") && [ -n "$out" ] && {
			printf '%s\n' "$out"
			return 0
		}
		echo "=== $(date +%T) xbootctl --json $* failed (try $try), printed '${out:0:200}'" >>"$NX_TMP/xbootctl-err.log"
		sleep 0.2
	done
	return 1
}

# ag_job_wait ID STATES SECONDS: until the job's state is one of STATES
# (a grep -E alternation, e.g. 'done|failed'); fails the test on timeout
# with the state it saw.
ag_job_wait() {
	local id=$1 re=$2 s
	ag_wait "$3" ag_job_is "$id" "$re" && return 0
	s=$(ag_job "$id" state)
	nx_fail "job $id: expected state ${re//|/ or } within $3 s, saw '${s:-no such job}'"
}
ag_job_is() { ag_job "$1" state | grep -Eqx -- "$2"; }

# ag_job_output ID FILE: the job's stored output (xbootctl job output).
ag_job_output() {
	nx_ctl job output "$1" >"$2" || nx_fail "xbootctl job output $1 failed"
}

# ag_stats: the "agent" counters of `xbootctl stats --json`, one "name
# value" a line.
ag_stats() {
	local j
	j=$(ag_ctl_json stats) || return 1
	ag_json "
for k, v in sorted((d.get('agent') or {}).items()):
    print(k, v)" <<<"$j"
}

# ag_stat NAME: one agent counter (0 when absent).
ag_stat() {
	local v
	v=$(ag_stats | awk -v k="$1" '$1 == k { print $2 }')
	echo "${v:-0}"
}

# ag_log_mark / ag_log_since MARK: xbootd's log lines written after MARK
# (so a check looks at one step's lines only).
ag_log_mark() { wc -l <"$NX_TMP/xbootd.log"; }
ag_log_since() { tail -n +$(($1 + 1)) "$NX_TMP/xbootd.log"; }

# ag_summary MAC: the machine as xbootctl shows it, for the test's log.
ag_summary() {
	nx_ctl machine "$1" 2>&1 | sed 's/^/    /'
}

# ag_watch FILE: `xbootctl --json watch` from now on into FILE, in the
# background (xbootctl itself, not a subshell, so that SIGINT reaches it);
# AG_WATCH_PID. ag_watch_stop: SIGINT, then at most 5 s for it to exit
# (1 when it still runs); its exit status in AG_WATCH_RC.
ag_watch() {
	"$XBOOTCTL" --control-socket="$NX_CTL_SOCK" --json watch --for=900 \
		>"$1" 2>>"$NX_TMP/watch-err.log" &
	AG_WATCH_PID=$!
	nx_track $AG_WATCH_PID
}
ag_watch_stop() {
	local n=50
	kill -INT "$AG_WATCH_PID" 2>/dev/null
	while [ $n -gt 0 ] && kill -0 "$AG_WATCH_PID" 2>/dev/null; do
		sleep 0.1
		n=$((n - 1))
	done
	kill -0 "$AG_WATCH_PID" 2>/dev/null && return 1
	wait "$AG_WATCH_PID"
	AG_WATCH_RC=$?
	return 0
}

# ag_phases FILE MAC: the phases MAC went through in a watch --json FILE,
# repeats folded ("offered bound boot-env ...").
ag_phases() {
	"$AG_PY" - "$1" "$2" <<'EOF'
import json, sys
phases = []
for line in open(sys.argv[1]):
    line = line.strip()
    if not line:
        continue
    e = json.loads(line)
    if (e.get('mac') or '').lower() == sys.argv[2] and (not phases or phases[-1] != e.get('phase')):
        phases.append(e.get('phase'))
print(' '.join(str(p) for p in phases))
EOF
}

# ag_in_order "SEEN" WANT...: the phases WANT appear in SEEN in this order
# (others may come between them).
ag_in_order() {
	"$AG_PY" -c "
import sys
seen = sys.argv[1].split()
i = 0
for w in sys.argv[2:]:
    while i < len(seen) and seen[i] != w:
        i += 1
    if i == len(seen):
        sys.exit(1)
    i += 1" "$@"
}

# --- real firmware: tests/vm/agent_e2e.sh, tests/vm/image_e2e.sh -----------

# ag_bootenv DIR: DIR (build/bootenv) with the agent in it, as `make
# bootenv` leaves it; rebuilt when it has no agent or something it is made
# of is newer than its initramfs.
ag_bootenv() {
	local be=$1
	if [ ! -r "$be/initrd.img" ] || [ ! -r "$be/vmlinuz" ] ||
		grep -q '^agent none' "$be/manifest" 2>/dev/null ||
		[ -n "$(find "$XBOOT_AGENT" "$XBOOT_TOP/bootenv" "$XBOOT_TOP/scripts/mkbootenv" \
			-newer "$be/initrd.img" 2>/dev/null)" ]; then
		echo "building $be (scripts/mkbootenv)"
		"$XBOOT_TOP/scripts/mkbootenv" "$be" || nx_fail "scripts/mkbootenv failed"
	fi
	grep -q '^agent /usr/bin/xboot-agent ' "$be/manifest" ||
		nx_fail "$be/manifest lists no agent: $(grep '^agent' "$be/manifest")"
}

# ag_xbootd_pxe DIR: ag_xbootd for PXE clients, XDP on: iPXE is handed
# boot.ipxe, xboot's built-in script plus a serial console and panic= for
# the test, which boots DIR's kernel and initramfs (a bootenv) as profile
# default and starts the agent.
ag_xbootd_pxe() {
	mkdir -p "$NX_TMP/http/boot/default"
	cp "$1/vmlinuz" "$1/initrd.img" "$NX_TMP/http/boot/default/"
	cat >"$NX_TMP/boot.ipxe.tmpl" <<'EOF'
#!ipxe
echo xboot: mac ${mac} ip ${ip} profile ${profile}
kernel ${server}/boot/${profile}/vmlinuz initrd=initrd.img console=ttyS0 panic=5 xboot.server=${server} xboot.mac=${mac} xboot.enrol=${enrol} xboot.agent_port=${agent_port} xboot.ca=${ca_url} || goto failed
initrd ${server}/boot/${profile}/initrd.img || goto failed
boot || goto failed
:failed
echo XBOOT-BOOT-FAILED
poweroff
EOF
	ag_xbootd xdp=auto router=$NX_SRV_IP boot-file=bios,undionly.kpxe \
		boot-file=ipxe,http://$NX_SRV_IP:$AG_HTTP_PORT/boot.ipxe \
		ipxe-script="$NX_TMP/boot.ipxe.tmpl" ipv6-ra=pxe-clients
}

# ag_show_console NAME: the tail of qemu NAME's console and of xbootd's
# log, for a failure.
ag_show_console() {
	qx_console "$1" | tail -n 40 | sed 's/^/    console: /'
	tail -n 20 "$NX_TMP/xbootd.log" | sed 's/^/    xbootd: /'
}

# ag_wait_registered NAME MAC SECONDS [HINT]: until the agent of qemu NAME
# (qx_boot_virtio) has MAC connected; a failure shows the console and says
# HINT. Stops waiting early when qemu is gone.
ag_wait_registered() {
	local name=$1 mac=$2 secs=$3 hint=${4:+ ($4)} pid
	eval "pid=\$QX_PID_$name"
	ag_wait "$secs" ag_connected_or_gone "$pid" "$mac"
	ag_connected "$mac" && return 0
	ag_show_console "$name"
	kill -0 "$pid" 2>/dev/null || nx_fail "qemu exited before the agent registered (see the console)"
	nx_fail "expected $mac connected within ${secs}s of power-on$hint, saw: $(ag_machine "$mac" "print('phase', d.get('phase'), 'connected', d.get('connected'))" || echo 'no such machine')"
}
ag_connected_or_gone() {
	kill -0 "$1" 2>/dev/null || return 0
	ag_connected "$2"
}

# ag_wait_inventory NAME MAC: MAC's inventory lists its disks within 20 s
# of its connecting; a failure shows qemu NAME's console.
ag_wait_inventory() {
	ag_wait 20 ag_has_disks "$2" && return 0
	ag_show_console "$1"
	nx_fail "expected $2's inventory with disks within 20 s of connecting, saw none"
}
ag_has_disks() { [ "$(ag_machine "$1" "print(bool(inv(d).get('disks')))")" = True ]; }
