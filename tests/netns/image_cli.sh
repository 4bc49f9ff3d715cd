#!/usr/bin/env bash
# The image store from the command line (issue 6): xbootctl imports,
# lists, verifies, exports and removes images itself, in the directory the
# running xbootd names (GET /status "image_dir"), or in --image-dir
# without xbootd.
#
#   ┌───────── xbt-imgcli-PID-srv ─────────┐      ┌─ xbt-imgcli-PID-cli ─┐
#   │ xbootd (xdp=off, no TFTP/HTTP/agent) │ veth │ (unused: xbootd      │
#   │   image-dir $NX_STATE/images         ├──────┤  needs an interface) │
#   │ xbt-imgcli-s 10.77.0.1/16            │      │                      │
#   └──────────────────┬───────────────────┘      └──────────────────────┘
#                      │ control socket (a file)
#                  xbootctl image import|export|verify|rm, images
#
# A raw disk of known data (an MBR, random bytes, a large zero region, text
# and an odd tail) is imported and listed by xbootd at once, with its size,
# chunks, holes, partition table and SHA-256; exported back to a file (and
# to a loop device when the host has one free) byte-identical; verified.
# A chunk corrupted in the store is named by verify, and export refuses it
# and leaves no file. An existing name, a bad name and a missing image are
# refused with a message naming the image. Without xbootd, --image-dir
# does the same. A staging directory left by a killed import is swept when
# xbootd starts, and a reload that changes image-dir is refused.
set -u
. "$(dirname "$0")/../lib/netns.sh"

for c in python3 sha256sum cmp losetup; do nx_require_cmd $c; done
nx_require_xboot
"$XBOOTCTL" --help 2>&1 | grep -q 'image import' ||
	nx_fail "$XBOOTCTL has no 'image import' command (see its --help)"
if "$XBOOTCTL" --image-dir=/nonexistent images 2>&1 | grep -q 'built without the image store'; then
	nx_fail "$XBOOTCTL was built without the image store (image_store.o in its link)"
fi
nx_init imgcli
nx_pair

CONF=$NX_TMP/xboot.conf
STORE=$NX_STATE/images
RAW=$NX_TMP/disk.raw
OUT=$NX_TMP/out
mkdir -p "$OUT"

write_conf() { # extra lines...
	cat >"$CONF" <<EOF
interface=$NX_SRV_IF
state-dir=$NX_STATE
control-socket=$NX_CTL_SOCK
xdp=off
tftp=off
http-port=0
agent-port=0
dhcp-range=$NX_NET.1.10,$NX_NET.1.200
EOF
	printf '%s\n' "$@" >>"$CONF"
}

# run NAME CMD...: CMD's exit status in RC, stdout in $OUT/NAME.out,
# stderr in $OUT/NAME.err.
run() {
	local name=$1
	shift
	"$@" >"$OUT/$name.out" 2>"$OUT/$name.err"
	RC=$?
}
err_of() { tr '\n' ' ' <"$OUT/$1.err"; }

# The system's python: a pyenv shim in PATH costs seconds a call.
PY=python3
[ -x /usr/bin/python3 ] && PY=/usr/bin/python3
js() { "$PY" -c "
import json, sys
d = json.load(sys.stdin)
$1"; }

# image_field NAME FIELD [ARGS...]: one field of NAME in `images --json`.
image_field() {
	local name=$1 field=$2
	shift 2
	nx_ctl --json "$@" images | js "
for i in d.get('images') or []:
    if i['name'] == '$name':
        v = i.get('$field')
        print('null' if v is None else str(v).lower() if isinstance(v, bool) else v)"
}

# --- the raw disk: 1 MiB random with an MBR, 8 MiB zeros, 3 MiB text,
# an odd tail; 1 MiB chunks, so at least 8 holes ------------------------
head -c $((1 << 20)) /dev/urandom >"$RAW"
head -c $((8 << 20)) /dev/zero >>"$RAW"
yes 'xboot image test: a line of compressible text' | head -c $((3 << 20)) >>"$RAW"
head -c 4097 /dev/urandom >>"$RAW"
python3 - "$RAW" <<'PY'
import sys
with open(sys.argv[1], 'r+b') as f:
    f.seek(446)
    # one partition: active, type 0x83, LBA 2048, 8192 sectors
    ent = bytes([0x80, 0, 0, 0, 0x83, 0, 0, 0]) + (2048).to_bytes(4, 'little') + (8192).to_bytes(4, 'little')
    f.write(ent + bytes(48) + b'\x55\xaa')
PY
SIZE=$(stat -c %s "$RAW")
SUM=$(sha256sum "$RAW" | cut -d' ' -f1)

write_conf
nx_xbootd -c "$CONF"
dir=$(nx_ctl --json status | js "print(d.get('image_dir'))")
nx_check test "$dir" = "$STORE" -- "status names image_dir $STORE (is $dir)"
nx_check test -d "$STORE" -- "xbootd created the image store"

# --- import, list ----------------------------------------------------------
run import nx_ctl image import "$RAW" disk1 --chunk-size=1M --level=3 --threads=2
nx_check test $RC = 0 -- "image import exits 0 ($(err_of import))"
nx_check grep -q "imported disk1" "$OUT/import.out" -- "import says what it imported"
nx_check test "$(image_field disk1 size)" = "$SIZE" -- "xbootd lists disk1 with its size $SIZE"
nx_check test "$(image_field disk1 sha256)" = "$SUM" -- "disk1's sha256 is the raw file's"
nx_check test "$(image_field disk1 chunks)" = 13 -- "13 chunks of 1 MiB (is $(image_field disk1 chunks))"
nx_check test "$(image_field disk1 holes)" -ge 8 -- "the zero region is holes (holes $(image_field disk1 holes))"
nx_check test "$(image_field disk1 chunk_size)" = $((1 << 20)) -- "chunk_size 1 MiB"
nx_check test "$(image_field disk1 ptable)" = mbr -- "partition table mbr (is $(image_field disk1 ptable))"
nx_check test "$(image_field disk1 source)" = null -- "source null: imported from a file"
nx_check test "$(image_field disk1 broken)" = false -- "disk1 is not broken"
stored=$(image_field disk1 stored)
nx_check test "$stored" -lt $((SIZE / 2)) -- "stored $stored bytes: less than half of $SIZE"
nx_ctl images | sed 's/^/    /'
nx_check eval 'nx_ctl images | grep -Eq "^disk1 +12\.0M .* mbr .* file$"' -- "the images table has disk1"
nx_check test -z "$(ls -A "$STORE" | grep '^\.')" -- "no staging directory left in the store"

# --- refusals, each naming the image ----------------------------------------
run dup nx_ctl image import "$RAW" disk1
nx_check test $RC = 1 -- "importing disk1 again exits 1"
nx_check grep -q 'image disk1 exists' "$OUT/dup.err" -- "it says: $(err_of dup)"
run badname nx_ctl image import "$RAW" ../x
nx_check test $RC = 1 -- "a bad name exits 1"
nx_check grep -q 'image \.\./x: bad name' "$OUT/badname.err" -- "it says: $(err_of badname)"
run nosrc nx_ctl image import "$NX_TMP/nonexistent" disk9
nx_check test $RC = 1 -- "a missing source exits 1"
nx_check grep -q 'image disk9: .*nonexistent: No such file' "$OUT/nosrc.err" -- "it says: $(err_of nosrc)"
run badchunk nx_ctl image import "$RAW" disk9 --chunk-size=3M
nx_check test $RC = 1 -- "a chunk size that is no power of two exits 1"
nx_check grep -q 'image disk9: chunk size' "$OUT/badchunk.err" -- "it says: $(err_of badchunk)"
nx_check test -z "$(image_field disk9 name)" -- "no disk9 after the refusals"
run noimg nx_ctl image verify nope
nx_check test $RC = 1 -- "verify of a missing image exits 1"
nx_check grep -q 'no image nope' "$OUT/noimg.err" -- "it says: $(err_of noimg)"

# --- verify, export ----------------------------------------------------------
run verify nx_ctl image verify disk1
nx_check test $RC = 0 -- "image verify disk1 exits 0 ($(err_of verify))"
run export nx_ctl image export disk1 "$NX_TMP/back.raw"
nx_check test $RC = 0 -- "image export exits 0 ($(err_of export))"
nx_check cmp -s "$RAW" "$NX_TMP/back.raw" -- "the exported file is byte-identical to the import"
nx_check test ! -e "$NX_TMP/back.raw.xboot-partial" -- "no partial file left"
alloc=$(($(stat -c %b "$NX_TMP/back.raw") * $(stat -c %B "$NX_TMP/back.raw")))
nx_check test $alloc -lt $SIZE -- "the exported file is sparse ($alloc of $SIZE bytes allocated)"
run exportj nx_ctl --json image export disk1 "$NX_TMP/back2.raw"
nx_check test "$(js "print(d['bytes'])" <"$OUT/exportj.out")" = "$SIZE" -- "export --json gives the bytes written"

# a block device, when the host lets us have a loop device
truncate -s $((SIZE + (1 << 20))) "$NX_TMP/dev.img"
if LOOP=$(losetup -f --show "$NX_TMP/dev.img" 2>/dev/null); then
	run exportdev nx_ctl image export disk1 "$LOOP"
	devrc=$RC
	cmp -s -n "$SIZE" "$LOOP" "$RAW"
	devcmp=$?
	losetup -d "$LOOP"
	nx_check test $devrc = 0 -- "export to the block device $LOOP exits 0 ($(err_of exportdev))"
	nx_check test $devcmp = 0 -- "the block device holds the image byte for byte"
else
	nx_log "no free loop device: export to a block device not tried"
fi

# --- a corrupt chunk: named, and nothing exported -----------------------------
run import2 nx_ctl image import "$RAW" disk2 --chunk-size=1M
nx_check test $RC = 0 -- "image import disk2 exits 0 ($(err_of import2))"
# flip a byte in the middle of the last chunk's frame
python3 - "$STORE/disk2/data" <<'PY'
import os, sys
with open(sys.argv[1], 'r+b') as f:
    n = os.fstat(f.fileno()).st_size
    f.seek(n - 100)
    b = f.read(1)
    f.seek(n - 100)
    f.write(bytes([b[0] ^ 0xff]))
PY
run verify2 nx_ctl image verify disk2
nx_check test $RC = 1 -- "verify of the corrupted disk2 exits 1"
nx_check grep -Eq 'image disk2: chunk 12: ' "$OUT/verify2.err" -- "verify names the bad chunk: $(err_of verify2)"
run export2 nx_ctl image export disk2 "$NX_TMP/bad.raw"
nx_check test $RC = 1 -- "export of the corrupted disk2 exits 1 ($(err_of export2))"
nx_check test ! -e "$NX_TMP/bad.raw" -- "no file after the failed export"
nx_check test ! -e "$NX_TMP/bad.raw.xboot-partial" -- "no partial file after the failed export"

# --- rm ------------------------------------------------------------------------
run rm2 nx_ctl image rm disk2
nx_check test $RC = 0 -- "image rm disk2 exits 0 ($(err_of rm2))"
nx_check test -z "$(image_field disk2 name)" -- "disk2 is no longer listed"
run rm2again nx_ctl image rm disk2
nx_check test $RC = 1 -- "removing disk2 again exits 1"
nx_check grep -q 'no image disk2' "$OUT/rm2again.err" -- "it says: $(err_of rm2again)"

# --- without xbootd: --image-dir -----------------------------------------------
nx_xbootd_stop
run nodaemon nx_ctl images
nx_check test $RC = 1 -- "images without xbootd and without --image-dir exits 1"
nx_check grep -qF 'image-dir=DIR' "$OUT/nodaemon.err" -- "it points at --image-dir: $(err_of nodaemon)"
nx_check test "$(image_field disk1 sha256 --image-dir="$STORE")" = "$SUM" -- "--image-dir lists disk1 without xbootd"
run verify3 nx_ctl --image-dir="$STORE" image verify disk1
nx_check test $RC = 0 -- "--image-dir verify exits 0 ($(err_of verify3))"
run import3 nx_ctl --image-dir="$STORE" image import "$RAW" disk3
nx_check test $RC = 0 -- "--image-dir import exits 0 ($(err_of import3))"
run nostore nx_ctl --image-dir="$NX_TMP/nostore" image verify disk1
nx_check test $RC = 1 -- "a mistyped --image-dir exits 1"
nx_check test ! -e "$NX_TMP/nostore" -- "and creates nothing"

# --- a killed import's staging directory is swept at start --------------------
mkdir "$STORE/.staging-disk4.0123456789ab"
head -c 1000 /dev/urandom >"$STORE/.staging-disk4.0123456789ab/data"
nx_xbootd -c "$CONF"
nx_check test ! -e "$STORE/.staging-disk4.0123456789ab" -- "xbootd swept the staging leftover at start"
nx_check test "$(image_field disk3 sha256)" = "$SUM" -- "xbootd lists disk3, imported while it was down"

# --- a reload that changes image-dir is refused -------------------------------
write_conf "image-dir=$NX_TMP/other-images"
from=$(wc -l <"$NX_TMP/xbootd.log")
kill -HUP "$NX_XBOOTD_PID"
for _ in $(seq 50); do
	tail -n +"$from" "$NX_TMP/xbootd.log" | grep -q 'image-dir changed' && break
	sleep 0.1
done
nx_check eval 'tail -n +"$from" "$NX_TMP/xbootd.log" | grep -q "reload: image-dir changed"' -- "the reload is refused: image-dir changed"
dir=$(nx_ctl --json status | js "print(d.get('image_dir'))")
nx_check test "$dir" = "$STORE" -- "xbootd keeps its image store ($dir)"
nx_xbootd_stop
nx_pass
