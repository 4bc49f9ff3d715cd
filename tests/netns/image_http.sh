#!/usr/bin/env bash
# The image transport of include/xboot/image_http.h against curl, as the
# agent will use it, without an agent:
#
#   ┌──────── xbt-imghtp-PID-srv ────────┐      ┌──── xbt-imghtp-PID-cli ────┐
#   │ xbootd: HTTP :8080, image store    │ veth │ curl (deploy, capture)     │
#   │ xbt-imghtp-s 10.77.0.1/16          ├──────┤ xbt-imghtp-c 10.77.0.2/16  │
#   └────────────────┬───────────────────┘      └────────────────────────────┘
#                    │ control socket, state-dir/xboot.db
#              xbootctl (jobs, images); sqlite3 plays agent_srv
#
# A job's key reaches only its agent, so the test stands in for agent_srv:
# it queues the jobs with xbootctl, stops xbootd (which holds its database
# exclusively), marks them sent and stores the SHA-256 of keys of its own,
# as agent_srv does when it sends a JOB frame, and starts xbootd again.
# Then:
#   deploy   the manifest, a chunk's frame by Range (it decodes to the raw
#            chunk), several frames at once, a range off the chunk
#            boundaries (400), no key and a wrong key (401), a capture
#            job's key (403), a cancelled job's key (403);
#   capture  start, three chunks (holes skipped, the short last one), a
#            chunk sent again (409, not fatal), finish: the image is listed,
#            verifies and exports byte-identical; a bad frame (422) fails
#            the capture and leaves nothing; a capture whose job is
#            cancelled before finish leaves nothing; kill -9 mid-capture
#            leaves no image and no staging directory after the restart.
set -u
. "$(dirname "$0")/../lib/netns.sh"

PORT=8080
MAC=52:54:00:aa:78:01
CHUNK=$((1 << 20))

for c in curl zstd sqlite3 sha256sum cmp python3; do nx_require_cmd $c; done
nx_require_xboot
nx_init imghtp
nx_pair
nx_cli_addr

URL=http://$NX_SRV_IP:$PORT/images
DB=$NX_STATE/xboot.db
STORE=$NX_STATE/images
OUT=$NX_TMP/out
mkdir -p "$OUT" "$NX_TMP/http"

PY=python3
[ -x /usr/bin/python3 ] && PY=/usr/bin/python3
js() { "$PY" -c "
import json, sys
d = json.load(sys.stdin)
$1"; }

start_xbootd() {
	nx_xbootd xdp=off tftp=off http-port=$PORT agent-port=0 \
		http-root="$NX_TMP/http" dhcp-range=$NX_NET.1.10,$NX_NET.1.200
}

# --- a raw disk of five 1 MiB chunks: data, zeros, text, zeros, a short
# random tail ----------------------------------------------------------------
RAW=$NX_TMP/disk.raw
head -c $CHUNK /dev/urandom >"$RAW"
head -c $CHUNK /dev/zero >>"$RAW"
yes 'xboot image over http' | head -c $CHUNK >>"$RAW"
head -c $CHUNK /dev/zero >>"$RAW"
head -c 12345 /dev/urandom >>"$RAW"
SIZE=$(stat -c %s "$RAW")
SUM=$(sha256sum "$RAW" | cut -d' ' -f1)
for i in 0 1 2 3 4; do
	dd if="$RAW" of="$NX_TMP/raw.$i" bs=$CHUNK skip=$i count=1 status=none
	zstd -q -3 -c "$NX_TMP/raw.$i" >"$NX_TMP/frame.$i"
done

start_xbootd
nx_ctl image import "$RAW" src --chunk-size=1M >/dev/null ||
	nx_fail "xbootctl image import failed"

# job_add TYPE ARGS...: a queued job's id
job_add() {
	nx_ctl --json job add $MAC "$@" | js "print(d['job']['id'])"
}

# job_send ID: as agent_srv sending the job: state sent, a fresh key (on
# stdout) whose SHA-256 alone is stored. xbootd must be stopped.
job_send() {
	local key hash
	key=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')
	hash=$(printf %s "$key" | sha256sum | cut -d' ' -f1)
	sqlite3 -cmd '.timeout 5000' "$DB" \
		"UPDATE jobs SET state = 2, seq = 1 WHERE id = $1;
		 INSERT OR REPLACE INTO job_keys (job_id, hash) VALUES ($1, X'$hash');" ||
		nx_fail "cannot mark job $1 sent"
	echo "$key"
}

ccurl() { nx_cli curl -sS --max-time 60 "$@"; }
# code ARGS...: the status of one request, its body in $OUT/body
code() { ccurl -o "$OUT/body" -w '%{http_code}' "$@"; }
auth() { echo "Authorization: Bearer $1"; }

image_listed() {
	nx_ctl --json images | js "
print(any(i['name'] == '$1' for i in d.get('images') or []))"
}
no_staging() { test -z "$(ls -A "$STORE" | grep '^\.')"; }

DJ=$(job_add image-deploy src /dev/vda)
nx_check test -n "$DJ" -- "an image-deploy job of src is queued (job $DJ)"
CJ=$(job_add image-capture /dev/vda cap1)
BJ=$(job_add image-capture /dev/vda cap2)
NJ=$(job_add image-capture /dev/vda cap3)
KJ=$(job_add image-capture /dev/vda cap4)
nx_check test -n "$KJ" -- "four image-capture jobs are queued"
nx_xbootd_stop
DKEY=$(job_send "$DJ")
CKEY=$(job_send "$CJ")
BKEY=$(job_send "$BJ")
NKEY=$(job_send "$NJ")
KKEY=$(job_send "$KJ")
start_xbootd

# --- deploy ------------------------------------------------------------------

nx_check test "$(code "$URL/src/manifest")" = 401 -- "the manifest without a key: 401"
nx_check test "$(code -H "$(auth "$(printf '%064d' 0)")" "$URL/src/manifest")" = 401 -- "with a wrong key: 401"
nx_check test "$(code -H "$(auth "$DKEY")" "$URL/src/manifest")" = 200 -- "with the job's key: 200"
nx_check cmp -s "$OUT/body" "$STORE/src/manifest" -- "the manifest is the store's"
nx_check test "$(code -H "$(auth "$DKEY")" "$URL/other/manifest")" = 403 -- "the key for another image: 403"

# chunk offsets and lengths from the manifest (image.h: records from 256)
read -r off0 len0 off2 len2 off4 len4 < <("$PY" - "$STORE/src/manifest" <<'PY'
import struct, sys
m = open(sys.argv[1], 'rb').read()
out = []
for i in (0, 2, 4):
    off, clen = struct.unpack_from('>QI', m, 256 + 56 * i)
    out += [off, clen]
print(*out)
PY
)
nx_check test "$len0" -gt 0 -- "chunk 0 has a frame of $len0 bytes"
st=$(code -H "$(auth "$DKEY")" -r "$off2-$((off2 + len2 - 1))" "$URL/src/data")
nx_check test "$st" = 206 -- "chunk 2's frame by Range: 206 (got $st)"
zstd -q -d -c "$OUT/body" >"$OUT/chunk2" 2>/dev/null
nx_check cmp -s "$OUT/chunk2" "$NX_TMP/raw.2" -- "chunk 2's frame decodes to the raw chunk"
st=$(code -H "$(auth "$DKEY")" -r "$off0-$((off4 + len4 - 1))" "$URL/src/data")
nx_check test "$st" = 206 -- "every frame in one range: 206 (got $st)"
st=$(code -H "$(auth "$DKEY")" -r "$((off0 + 1))-$((off0 + len0 - 1))" "$URL/src/data")
nx_check test "$st" = 400 -- "a range off the chunk boundaries: 400 (got $st)"
st=$(code -H "$(auth "$DKEY")" -r "$off0-$((off0 + len0 + len2 - 2))" "$URL/src/data")
nx_check test "$st" = 400 -- "a range ending inside a frame: 400 (got $st)"
# keep-alive: two ranges on one connection
st=$(ccurl -o /dev/null -o /dev/null -w '%{http_code} %{num_connects}\n' \
	-H "$(auth "$DKEY")" -r "$off0-$((off0 + len0 - 1))" \
	"$URL/src/data" "$URL/src/data" | tail -n 1)
nx_check test "$st" = "206 0" -- "a second range reuses the connection (got $st)"
sleep 1.2
nx_check eval "nx_ctl --json machine $MAC | grep -q 'image-deploy src: .* of 4.0 MiB'" -- "the deploy's progress is the machine's phase detail"

# --- capture: a good one ----------------------------------------------------------
nx_check test "$(code -H "$(auth "$CKEY")" "$URL/src/manifest")" = 403 -- "a capture job's key cannot deploy: 403"
put() { # KEY NAME INDEX
	code -X PUT -H "$(auth "$1")" -H "X-Xboot-Raw-Length: $(stat -c %s "$NX_TMP/raw.$3")" \
		-H 'Content-Type: application/octet-stream' \
		--data-binary @"$NX_TMP/frame.$3" "$URL/$2/chunk/$3"
}
post() { # KEY NAME OP JSON
	code -X POST -H "$(auth "$1")" -H 'Content-Type: application/json' \
		--data-binary "$4" "$URL/$2/$3"
}
nx_check test "$(put "$CKEY" cap1 0)" = 409 -- "a chunk before start: 409"
nx_check test "$(post "" cap1 start '{}')" = 401 -- "start without a key: 401"
st=$(post "$CKEY" cap1 start "{\"size\":$SIZE,\"chunk_size\":$CHUNK}")
nx_check test "$st" = 201 -- "start: 201 (got $st: $(cat "$OUT/body"))"
st=$(post "$CKEY" cap1 start "{\"size\":$SIZE,\"chunk_size\":$CHUNK}")
nx_check test "$st" = 200 -- "start again (a resume): 200 (got $st)"
nx_check test "$(put "$CKEY" cap1 0)" = 200 -- "chunk 0: 200 ($(cat "$OUT/body"))"
nx_check test "$(put "$CKEY" cap1 0)" = 409 -- "chunk 0 again: 409 ($(cat "$OUT/body"))"
nx_check test "$(js "print(d['next'])" <"$OUT/body")" = 1 -- "and the answer says next is 1"
nx_check test "$(put "$CKEY" cap1 2)" = 200 -- "chunk 2 after a hole: 200"
nx_check test "$(image_listed cap1)" = False -- "cap1 is not listed before finish"
# a big body waits for 100 Continue (curl sends Expect for it)
nx_check test "$(put "$CKEY" cap1 4)" = 200 -- "the short last chunk: 200"
st=$(post "$CKEY" cap1 finish "{\"size\":$SIZE,\"sha256\":\"$SUM\",\"ptable\":\"none\"}")
nx_check test "$st" = 201 -- "finish: 201 (got $st: $(cat "$OUT/body"))"
nx_check test "$(js "print(d['holes'])" <"$OUT/body")" = 2 -- "two holes"
nx_check test "$(image_listed cap1)" = True -- "cap1 is listed"
nx_check nx_ctl image verify cap1 -- "cap1 verifies"
nx_ctl image export cap1 "$NX_TMP/cap1.raw" >/dev/null
nx_check cmp -s "$RAW" "$NX_TMP/cap1.raw" -- "cap1 exports byte-identical to the disk"
nx_check no_staging -- "no staging directory left"

# --- a bad frame fails the capture -------------------------------------------------
post "$BKEY" cap2 start "{\"size\":$SIZE,\"chunk_size\":$CHUNK}" >/dev/null
head -c 5000 /dev/urandom >"$NX_TMP/frame.bad"
st=$(code -X PUT -H "$(auth "$BKEY")" -H "X-Xboot-Raw-Length: $CHUNK" \
	--data-binary @"$NX_TMP/frame.bad" "$URL/cap2/chunk/0")
nx_check test "$st" = 422 -- "a bad frame: 422 ($(cat "$OUT/body"))"
nx_check test "$(put "$BKEY" cap2 2)" = 409 -- "the failed capture takes nothing more: 409"
nx_check test "$(post "$BKEY" cap2 finish "{\"size\":$SIZE,\"sha256\":\"$SUM\"}")" = 409 -- "nor a finish: 409"
nx_check test "$(image_listed cap2)" = False -- "cap2 is not listed"
nx_check no_staging -- "its staging directory is gone"

# --- a capture that never finishes: its job is cancelled -----------------------------
post "$NKEY" cap3 start "{\"size\":$SIZE,\"chunk_size\":$CHUNK}" >/dev/null
nx_check test "$(put "$NKEY" cap3 0)" = 200 -- "cap3: chunk 0 stored"
nx_check test -n "$(ls -A "$STORE" | grep '^\.')" -- "cap3 has a staging directory"
nx_ctl job cancel "$NJ" >/dev/null || nx_fail "job cancel $NJ"
for _ in $(seq 30); do no_staging && break; sleep 0.1; done
nx_check no_staging -- "cancelling the job removed cap3's staging"
nx_check test "$(image_listed cap3)" = False -- "cap3 is not listed"
nx_check test "$(put "$NKEY" cap3 2)" = 403 -- "the cancelled job's key: 403"

# --- kill -9 mid-capture ---------------------------------------------------------------
post "$KKEY" cap4 start "{\"size\":$SIZE,\"chunk_size\":$CHUNK}" >/dev/null
nx_check test "$(put "$KKEY" cap4 0)" = 200 -- "cap4: chunk 0 stored"
kill -9 "$NX_XBOOTD_PID"
wait "$NX_XBOOTD_PID" 2>/dev/null
NX_XBOOTD_PID=
start_xbootd
nx_check test "$(image_listed cap4)" = False -- "after kill -9 and a restart cap4 is not listed"
nx_check no_staging -- "and its staging directory is gone"
st=$(post "$KKEY" cap4 start "{\"size\":$SIZE,\"chunk_size\":$CHUNK}")
nx_check test "$st" = 201 -- "the agent's next start begins again: 201 (got $st)"
nx_check grep -q 'image: capture of cap2 (job [0-9]*) failed' "$NX_TMP/xbootd.log" -- "the failed capture is logged"
nx_check grep -q 'refused' "$NX_TMP/xbootd.log" -- "refusals are logged"
nx_xbootd_stop
nx_pass
