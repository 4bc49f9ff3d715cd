#!/usr/bin/env bash
# Boot media through xbootd (issue 7): `xbootctl media create` asks the
# running xbootd (POST /media), which builds the image in a child process
# and writes it with io_uring.
#
#   ┌────────── xbt-mapi-PID-srv ──────────┐      ┌─ xbt-mapi-PID-cli ─┐
#   │ xbootd (xdp=off, HTTP 8080,          │ veth │ (unused: xbootd    │
#   │   agent-port 4012: its own CA)       ├──────┤  needs an interface│
#   │ xbt-mapi-s 10.77.0.1/16              │      │  to serve)         │
#   └──────────────────┬───────────────────┘      └────────────────────┘
#                      │ control socket (a file)
#          xbootctl media create --type floppy|usb|iso --out FILE ...
#
# Each type with xbootd's defaults (server = its address and HTTP port,
# the boot environment from HTTP-ROOT/boot/default, its agent CA) makes a
# file that passes fsck.fat -n (floppy; usb: its partition) or xorriso's
# El Torito report (iso), with the size and SHA-256 xbootd reports; a usb
# medium for a machine carries a credential. A relative --out is written
# where the caller stands. Each bad input gets its message and exit 1:
# an unknown type, an unwritable output, an address that does not parse,
# a missing boot environment or kernel. More builds than xbootd runs at
# once are refused (429), and no build leaves a file behind.
set -u
. "$(dirname "$0")/../lib/netns.sh"

for c in python3 sha256sum fsck.fat xorriso mtype bc; do nx_require_cmd $c; done
nx_require_xboot
"$XBOOTCTL" --help 2>&1 | grep -q 'media create' ||
	nx_fail "$XBOOTCTL has no 'media create' command"
nx_init mapi
nx_pair

HTTP=$NX_TMP/http
OUT=$NX_TMP/out
SCRATCH=$NX_TMP/scratch
MAC=52:54:00:aa:00:07
mkdir -p "$HTTP/boot/default" "$OUT" "$SCRATCH"
# stand-ins for the boot environment: nothing boots them here
head -c 3000000 /dev/urandom >"$HTTP/boot/default/vmlinuz"
head -c 2000000 /dev/urandom >"$HTTP/boot/default/initrd.img"

# xbootd's scratch files go to TMPDIR: the test checks they are gone
TMPDIR=$SCRATCH nx_xbootd xdp=off dhcp-range=$NX_NET.1.10,$NX_NET.1.200 \
	http-port=8080 http-root="$HTTP" agent-port=4012

# media NAME ARGS...: xbootctl media create ARGS; exit status in RC,
# stdout in $OUT/NAME.out, stderr in $OUT/NAME.err
media() {
	local name=$1
	shift
	nx_ctl media create "$@" >"$OUT/$name.out" 2>"$OUT/$name.err"
	RC=$?
	sed "s/^/    $name: /" "$OUT/$name.out" "$OUT/$name.err"
}

# the JSON answer in $OUT/NAME.out agrees with FILE
answer_matches() { # NAME FILE TYPE
	local sum size
	sum=$(sha256sum "$2" | cut -d' ' -f1)
	size=$(stat -c %s "$2")
	nx_json "
m = d['media']
assert m['type'] == '$3', m
assert m['out'] == '$2', m
assert m['size'] == $size, m
assert m['sha256'] == '$sum', m
assert m['server'] == 'http://$NX_SRV_IP:8080', m
" <"$OUT/$1.out"
}

refused() { # NAME REGEX: exit 1, and REGEX in the message
	[ $RC = 1 ] && grep -Eq -- "$2" "$OUT/$1.err"
}

# --- each type, with xbootd's defaults ------------------------------------

media floppy --json --type floppy --out "$OUT/boot.img"
nx_check [ $RC = 0 ] -- "media create --type floppy"
nx_check [ "$(stat -c %s "$OUT/boot.img")" -eq 1474560 ] -- "the floppy is 1.44 MB"
nx_check answer_matches floppy "$OUT/boot.img" floppy -- \
	"the answer has the floppy's path, size, SHA-256 and xbootd's address"
nx_check fsck.fat -n "$OUT/boot.img" -- "fsck.fat -n passes (floppy)"
nx_check eval "MTOOLS_SKIP_CHECK=1 mtype -i '$OUT/boot.img' ::xboot.ipxe | grep -q 'http://$NX_SRV_IP:8080'" -- \
	"the floppy's iPXE script reaches xbootd's HTTP server"

media usb --json --type usb --out "$OUT/stick.img" --machine $MAC \
	--ip 10.77.5.7/16 --gateway $NX_SRV_IP
nx_check [ $RC = 0 ] -- "media create --type usb --machine --ip --gateway"
nx_check answer_matches usb "$OUT/stick.img" usb -- "the usb answer matches its file"
nx_check eval "nx_json \"
import time
m = d['media']
assert m['machine'] == '$MAC', m
left = m['credential_expires'] - time.time()
assert 29 * 86400 < left <= 30 * 86400 + 60, left
\" <'$OUT/usb.out'" -- "the usb medium carries a credential for $MAC good for 30 days"
dd if="$OUT/stick.img" of="$NX_TMP/part.img" bs=1M skip=1 status=none
nx_check fsck.fat -n "$NX_TMP/part.img" -- "fsck.fat -n passes (usb's partition)"
nx_check eval "MTOOLS_SKIP_CHECK=1 mdir -i '$NX_TMP/part.img' ::/xboot | grep -q 'ca *img'" -- \
	"the usb medium carries xbootd's agent CA (xboot/ca.img)"
nx_check eval "nx_ctl --json machines | grep -qi '$MAC'" -- \
	"xbootd knows the machine the credential is for"

# a relative --out: xbootctl makes it absolute, where the caller stands
(cd "$OUT" && nx_ctl media create --type iso --out ./xboot.iso \
	>"$OUT/iso.out" 2>"$OUT/iso.err")
RC=$?
sed 's/^/    iso: /' "$OUT/iso.out" "$OUT/iso.err"
nx_check [ $RC = 0 ] -- "media create --type iso --out ./xboot.iso"
nx_check grep -q "^$OUT/xboot.iso: iso image" "$OUT/iso.out" -- \
	"the iso went to the caller's directory, and xbootctl says so"
xorriso -indev "$OUT/xboot.iso" -toc >"$OUT/toc.log" 2>&1
nx_check [ $? = 0 ] -- "xorriso -indev xboot.iso -toc passes"
xorriso -indev "$OUT/xboot.iso" -report_el_torito plain >"$OUT/eltorito.log" 2>&1
nx_check eval "grep -q 'El Torito boot img : *1 *BIOS' '$OUT/eltorito.log' &&
	grep -q 'El Torito boot img : *2 *UEFI' '$OUT/eltorito.log'" -- \
	"the iso has El Torito boot images for BIOS and UEFI"

# the loop is not held up by a build: xbootd answers while one runs
head -c 80000000 /dev/zero >"$NX_TMP/big-initrd"
nx_ctl media create --type iso --out "$OUT/slow.iso" \
	--kernel "$HTTP/boot/default/vmlinuz" --initrd "$NX_TMP/big-initrd" \
	>"$OUT/slow.out" 2>&1 &
slow=$!
n=0
until grep -q "media: building a iso image for $OUT/slow.iso" "$NX_TMP/xbootd.log" ||
	[ $n -ge 50 ]; do
	sleep 0.1
	n=$((n + 1))
done
t0=$(date +%s.%N)
nx_ctl status >/dev/null
t1=$(date +%s.%N)
running=no
kill -0 $slow 2>/dev/null && running=yes
wait $slow
RC=$?
sed 's/^/    slow: /' "$OUT/slow.out"
nx_check [ $RC = 0 ] -- "an iso with an 80 MB initrd is built"
nx_log "status took $(echo "$t1 - $t0" | bc) s; the build was still running: $running"
nx_check [ $running = yes ] -- "xbootctl status was answered while a build ran"
nx_check [ "$(echo "$t1 - $t0 < 1" | bc)" = 1 ] -- "... within a second"
rm -f "$OUT/slow.iso" "$NX_TMP/big-initrd"

# --- bad input -------------------------------------------------------------

media badtype --type tape --out "$OUT/x.img"
nx_check refused badtype "type: unknown media type 'tape'" -- "an unknown type is refused"
media nodir --type floppy --out /nonexistent/dir/x.img
nx_check refused nodir "cannot write /nonexistent/dir/x.img: No such file or directory" -- \
	"an output in a directory that does not exist is refused"
mkdir -p "$OUT/adir"
media isdir --type floppy --out "$OUT/adir"
nx_check refused isdir "cannot write .*adir: not a regular file" -- \
	"a directory as the output is refused"
media notdir --type floppy --out "$OUT/boot.img/x.img"
nx_check refused notdir "cannot write .*: .* is not a directory" -- \
	"an output under a file is refused"
chattr +i "$OUT/adir" 2>/dev/null && {
	media immut --type floppy --out "$OUT/adir/x.img"
	chattr -i "$OUT/adir"
	nx_check refused immut "out: cannot write .*adir/x.img: Operation not permitted" -- \
		"an output xbootd cannot create is refused"
}
media badsrv --type floppy --out "$OUT/x.img" --server 10.0.0
nx_check refused badsrv "server '10.0.0.*' does not parse" -- "a server that does not parse is refused"
media badport --type floppy --out "$OUT/x.img" --server 10.0.0.1:99999
nx_check refused badport "server '10.0.0.1:99999' does not parse" -- "a bad port is refused"
media badip --type usb --out "$OUT/x.img" --ip 10.77.5.7
nx_check refused badip "ip '10.77.5.7' does not parse" -- "an address without a prefix is refused"
media badgw --type usb --out "$OUT/x.img" --ip 10.77.5.7/24 --gateway 10.78.0.1
nx_check refused badgw "gateway 10.78.0.1 is outside 10.77.5.7/24" -- \
	"a gateway outside the subnet is refused"
media gwonly --type floppy --out "$OUT/x.img" --gateway 10.77.0.1
nx_check refused gwonly "a gateway needs a static address" -- "a gateway without --ip is refused"
media badmac --type usb --out "$OUT/x.img" --machine 52:54:00:zz:00:01
nx_check refused badmac "machine: '52:54:00:zz:00:01' is not a MAC address" -- \
	"a machine that is not a MAC is refused"
media nokernel --type usb --out "$OUT/x.img" --kernel /nonexistent/vmlinuz \
	--initrd "$HTTP/boot/default/initrd.img"
nx_check refused nokernel "kernel: /nonexistent/vmlinuz: No such file or directory" -- \
	"a missing kernel is refused"
media halfenv --type iso --out "$OUT/x.img" --kernel "$HTTP/boot/default/vmlinuz"
nx_check refused halfenv "initrd: give kernel and initrd together" -- \
	"a kernel without an initrd is refused"
# the builder's own refusal (500): its message, and nothing written
media builder --type usb --out "$OUT/x.img" --kernel "$HTTP/boot" \
	--initrd "$HTTP/boot/default/initrd.img"
nx_check refused builder "$HTTP/boot" -- \
	"a kernel the builder cannot copy: the builder's message comes back"
mv "$HTTP/boot/default" "$HTTP/boot/gone"
media nobootenv --type iso --out "$OUT/x.img"
mv "$HTTP/boot/gone" "$HTTP/boot/default"
nx_check refused nobootenv "kernel: none given, and xbootd has no boot environment at $HTTP/boot/default" -- \
	"no boot environment to put on an iso: the message says where it looked"
nx_check [ ! -e "$OUT/x.img" ] -- "no refused request left an image"
nx_check eval "nx_ctl media create --type floppy 2>&1 | grep -q 'out FILE are required'" -- \
	"--out is required"

# --- the builds' limit, and their leftovers ----------------------------------

for i in 1 2 3 4; do
	nx_ctl media create --type iso --out "$OUT/par$i.iso" \
		>"$OUT/par$i.out" 2>"$OUT/par$i.err" &
	pids[$i]=$!
done
ok=0 busy=0
for i in 1 2 3 4; do
	if wait ${pids[$i]}; then
		ok=$((ok + 1))
	elif grep -q 'builds are running already' "$OUT/par$i.err"; then
		busy=$((busy + 1))
	else
		cat "$OUT/par$i.err"
	fi
done
nx_log "4 builds at once: $ok built, $busy refused as busy"
nx_check [ $ok -ge 2 ] -- "two builds run at once"
nx_check [ $busy -ge 1 ] -- "a build beyond the limit is refused with 'builds are running already'"
nx_check [ $((ok + busy)) = 4 ] -- "every parallel request was built or refused as busy"

nx_check eval "[ -z \"\$(ls -A '$SCRATCH')\" ]" -- "xbootd's scratch directories are gone"
nx_check eval "! ls '$OUT' | grep -q '\\.[A-Za-z0-9]\\{6\\}\$'" -- \
	"no half-written OUT.XXXXXX is left beside the outputs"
nx_check grep -q "media: $OUT/boot.img written (1474560 bytes)" "$NX_TMP/xbootd.log" -- \
	"xbootd logs each image it wrote"
nx_check eval "nx_ctl status >/dev/null" -- "xbootd still answers"
nx_pass media_api
