#!/usr/bin/env bash
# The boot environment of `make bootenv` (issue 5) on a machine with two
# NICs (virtio-net, e1000) and two disks (virtio, NVMe), booted straight into
# its kernel (-kernel/-initrd/-append: the PXE path to it is
# tests/vm/pxe_boot_linux.sh's job), no KVM:
#
#   ┌──── xbt-be-PID-srv ─────┐      ┌──────────── xbt-be-PID-cli ─────────────┐
#   │ xbootd: DHCP, HTTP      │ veth │ xbt-be-br ─┬─ xbt-be-tap  ─ virtio-net  │
#   │ xbt-be-s 10.77.0.1/16 ──┼──────┼─ xbt-be-c ─┘└ xbt-be-tap2 ─ e1000  qemu │
#   └─────────────────────────┘      └─────────────────────────────────────────┘
#
# xboot.mac names the virtio NIC. Checks: the bootenv's size bound, /init
# printed the parsed settings, loaded the drivers of the present NICs and
# disks (and no others), got a DHCP lease from xbootd (in `xbootctl
# leases` with the same address), fetched and pinned the CA over HTTP, never
# echoed the enrolment credential, printed XBOOT-BOOTENV-READY and powered off.
set -u
. "$(dirname "$0")/../lib/netns.sh"
. "$(dirname "$0")/../lib/qemu.sh"

MAC=52:54:00:be:00:01
MAC2=52:54:00:be:00:02
PORT=8080
SECRET=enrol-$RANDOM$RANDOM-secret
TIMEOUT=${XBT_BOOT_TIMEOUT:-100}
# initrd.img bound: today ~3.4 MiB with zstd (mlx5_core and ice are half of
# it); the headroom is for xboot-agent.
MAX_INITRD=${XBT_BOOTENV_MAX:-$((6 * 1024 * 1024))}
BE=$XBOOT_TOP/build/bootenv

for c in perl python3 cpio; do nx_require_cmd $c; done
nx_require_cmd qemu-system-x86_64 qemu-system-x86
[ -c /dev/net/tun ] || nx_skip "no /dev/net/tun (TUN/TAP) in this kernel"
nx_require_xboot

# build/bootenv as `make bootenv` leaves it; rebuilt when a source is newer.
if [ ! -r "$BE/initrd.img" ] || [ ! -r "$BE/vmlinuz" ] ||
	[ -n "$(find "$XBOOT_TOP/bootenv" "$XBOOT_TOP/scripts/mkbootenv" -newer "$BE/initrd.img" 2>/dev/null)" ]; then
	"$XBOOT_TOP/scripts/mkbootenv" "$BE" || nx_fail "scripts/mkbootenv failed"
fi
size=$(stat -c %s "$BE/initrd.img")

nx_init be
nx_pair
nx_bridge
nx_tap
TAP2=${NX_TAP}2
nx_cli ip tuntap add dev "$TAP2" mode tap || nx_fail "cannot create a tap (TUN)"
nx_cli ip link set "$TAP2" master "$NX_BR"
nx_cli ip link set "$TAP2" up

http=$NX_TMP/http
mkdir -p "$http"
printf -- '-----BEGIN CERTIFICATE-----\nxboot test CA\n-----END CERTIFICATE-----\n' >"$http/ca.pem"
nx_xbootd xdp=auto dhcp-range=$NX_NET.1.10,$NX_NET.1.200,$NX_MASK,600 \
	router=$NX_SRV_IP http-root="$http" http-port=$PORT

# boot NAME BOOTENV APPEND: qemu with both NICs, the kernel booted directly;
# waits for /init's verdict and for the machine to power off.
boot() {
	local name=$1 be=$2
	: >"$NX_TMP/$name.serial"
	nx_log "qemu $name boots $be: $3"
	ip netns exec "$NX_CLI" qemu-system-x86_64 -accel tcg -m 256 -nographic -no-reboot \
		-kernel "$be/vmlinuz" -initrd "$be/initrd.img" -append "console=ttyS0 panic=5 $3" \
		-netdev "tap,id=n0,ifname=$NX_TAP,script=no,downscript=no" \
		-device "virtio-net-pci,netdev=n0,mac=$MAC,romfile=" \
		-netdev "tap,id=n1,ifname=$TAP2,script=no,downscript=no" \
		-device "e1000,netdev=n1,mac=$MAC2,romfile=" \
		-drive "file=$NX_TMP/vda.img,format=raw,if=virtio" \
		-drive "file=$NX_TMP/nvme.img,format=raw,if=none,id=nv0" \
		-device "nvme,drive=nv0,serial=xboot-test" \
		-serial "file:$NX_TMP/$name.serial" -monitor none -display none \
		>"$NX_TMP/$name-qemu.log" 2>&1 </dev/null &
	eval "QX_PID_$name=$!"
	nx_track $!
	if ! qx_wait $name "XBOOT-BOOTENV-(READY|FAILED)" $TIMEOUT; then
		qx_console $name | tail -n 30 | sed 's/^/    console: /'
		tail -n 20 "$NX_TMP/xbootd.log" | sed 's/^/    xbootd: /'
		nx_fail "$name: no XBOOT-BOOTENV marker on the console within ${TIMEOUT}s"
	fi
	eval "off_$name=no"
	qx_wait_exit $name 15 && eval "off_$name=yes"
	qx_stop $name
	nx_log "$name's console (/init):"
	qx_console $name | grep -E 'Linux version|Run /init|xboot:|XBOOT-|AGENT-|reboot: Power' | sed 's/^/    /'
}

truncate -s 8M "$NX_TMP/vda.img" "$NX_TMP/nvme.img"
server=http://$NX_SRV_IP:$PORT
boot pc "$BE" "xboot.server=$server xboot.mac=$MAC xboot.enrol=$SECRET xboot.ca=$server/ca.pem xboot.wait=1"
powered_off=$off_pc
nx_log "xbootctl leases:"
nx_ctl leases | sed 's/^/    /'

console_has() { qx_console pc | grep -Eq -- "$1"; }
ip=$(qx_console pc | sed -n "s/^XBOOT-BOOTENV-READY $MAC \([0-9.]*\)\$/\1/p" | tail -n 1)
lease_ip=$(nx_ctl --json leases | nx_json "
for l in d.get('leases') or []:
    if l['mac'].lower() == '$MAC':
        print(l['ip'])")

nx_check [ "$size" -le "$MAX_INITRD" ] -- \
	"initrd.img is $size bytes, at most $MAX_INITRD"
nx_check console_has "^xboot: server $server mac $MAC ca $server/ca.pem enrol present \\(${#SECRET} bytes\\) ip dhcp debug no" -- \
	"/init parsed the kernel command line"
nx_check console_has "^xboot: drivers loaded: .*\\bvirtio_net\\b" -- "virtio_net was loaded"
nx_check console_has "^xboot: drivers loaded: .*\\be1000\\b" -- "e1000 was loaded"
nx_check console_has "^xboot: drivers loaded: .*\\bvirtio_blk\\b" -- "virtio_blk was loaded (virtio disk)"
nx_check console_has "^xboot: drivers loaded: .*\\bnvme\\b" -- "nvme was loaded (NVMe disk)"
nx_check eval '! console_has "^xboot: drivers loaded: .*\\b(ice|mlx5_core|ixgbe|i40e|igb|ahci)\\b"' -- \
	"no driver of absent hardware was loaded"
nx_check console_has "^xboot: net eth[0-9] $NX_NET\\.1\\.[0-9]+/$NX_PREFIX via DHCP, gateway $NX_SRV_IP\$" -- \
	"the virtio NIC got a DHCP lease"
nx_check console_has "^xboot: ca pinned: /run/xboot/ca.pem\$" -- "the CA was fetched from xbootd over HTTP"
nx_check console_has "^xboot: no xboot-agent in this build\$|^xboot: starting xboot-agent" -- \
	"/init said whether it has an agent"
nx_check [ -n "$ip" ] -- "XBOOT-BOOTENV-READY $MAC <ip> on the console"
nx_check [ "$lease_ip" = "$ip" ] -- \
	"xbootctl leases has $MAC at $ip (lease: ${lease_ip:-none})"
nx_check eval '[ "$(qx_console pc | grep -Ev "(Kernel c|C)ommand line:" | grep -c -- "$SECRET")" = 0 ]' -- \
	"the enrolment credential appears nowhere but the kernel's command line echoes"
nx_check [ $powered_off = yes ] -- "the machine powered itself off"

# Second boot: the agent's side of the contract, with a stand-in agent that
# prints its argv, checks the credential file and the network, and fails
# (so /init falls back to READY); a static address and no xboot.mac.
cat >"$NX_TMP/agent" <<'EOF2'
#!/bin/sh
echo "AGENT-ARGS $*"
while [ $# -gt 0 ]; do
	[ "$1" = --enrol-file ] && f=$2
	shift
done
echo "AGENT-ENROL $(stat -c %a "$f") $(md5sum <"$f" | cut -d' ' -f1)"
# a few tries: under TCG on a loaded host the first ARP may time out
for i in 1 2 3 4 5; do
	ping -c 1 -W 2 10.77.0.1 >/dev/null 2>&1 && echo AGENT-PING ok && break
done
exit 3
EOF2
chmod 755 "$NX_TMP/agent"
"$XBOOT_TOP/scripts/mkbootenv" --agent "$NX_TMP/agent" "$NX_TMP/be-agent" >>"$NX_TMP/mkbootenv.log" 2>&1 ||
	nx_fail "scripts/mkbootenv --agent failed"
SIP=$NX_NET.2.5
boot pc2 "$NX_TMP/be-agent" "xboot.server=$server xboot.enrol=$SECRET xboot.ip=$SIP/$NX_PREFIX xboot.gw=$NX_SRV_IP xboot.wait=1"
console2_has() { qx_console pc2 | grep -Eq -- "$1"; }
nx_check grep -q '^agent /usr/bin/xboot-agent ' "$NX_TMP/be-agent/manifest" -- \
	"the manifest lists the agent"
nx_check console2_has "^xboot: net eth[0-9] $SIP/$NX_PREFIX via static, gateway $NX_SRV_IP\$" -- \
	"xboot.ip/xboot.gw set the static address"
nx_check console2_has "^AGENT-ARGS --server $server --mac 52:54:00:be:00:0[12] --ifname eth[0-9] --ip $SIP/$NX_PREFIX --enrol-file /run/xboot/enrol --gateway $NX_SRV_IP\$" -- \
	"xboot-agent got the documented command line"
nx_check console2_has "^AGENT-ENROL 600 $(printf %s "$SECRET" | md5sum | cut -d' ' -f1)\$" -- \
	"the credential file is 0600 and holds exactly the credential"
nx_check console2_has "^AGENT-PING ok\$" -- "the agent reached the server at $NX_SRV_IP"
nx_check console2_has "^xboot: xboot-agent failed \(exit 3\)\$" -- "/init saw the agent fail"
nx_check console2_has "^XBOOT-BOOTENV-READY 52:54:00:be:00:0[12] $SIP\$" -- \
	"after the agent failed, /init fell back to READY"
nx_check [ $off_pc2 = yes ] -- "the second machine powered itself off"
nx_pass bootenv
