#!/usr/bin/env bash
# ProxyDHCP: dnsmasq owns the addresses, xbootd (mode=proxy) only says how
# to boot. A PXE client (crafted frames on a packet socket, as PXE 2.1
# firmware sends them) must get its address from dnsmasq, a PXE-only offer
# (no address) from xbootd on port 67, and its boot file for its
# architecture from xbootd's ACK on port 4011. Run with XDP off and on, for
# a BIOS (arch 0) and a UEFI x64 (arch 7) client.
#
#   xbt-px-PID-srv:  xbootd on xbt-px-s 10.77.0.1 ──┐
#   xbt-px-PID-dhcp: dnsmasq on xbt-px-d 10.77.0.2 ─┼─ bridge xbt-px-br (xbt-px-PID-cli)
#                          the PXE client on the bridge itself ─┘
#
# XBT_PEER=dnsmasq runs a second dnsmasq as the ProxyDHCP server instead, to
# check the harness itself.
set -u
. "$(dirname "$0")/../lib/netns.sh"

DHCP_IP=$NX_NET.0.2
RANGE_START=$NX_NET.1.10
RANGE_END=$NX_NET.1.200
BIOS_FILE=undionly.kpxe
EFI_FILE=ipxe.efi
PEER=${XBT_PEER:-}

nx_require_cmd dnsmasq dnsmasq-base
nx_require_cmd python3
[ -n "$PEER" ] || nx_require_xboot
nx_init px
nx_pair
nx_bridge
nx_bridge_ns dhcp xbt-px-d "$DHCP_IP"
nx_cli ip link set "$NX_BR" address 52:54:00:cc:00:01

NX_PEER_NS=$NX_ID-dhcp NX_PEER_IF=xbt-px-d \
	nx_dnsmasq dnsmasq --dhcp-range=$RANGE_START,$RANGE_END,$NX_MASK,600 --log-dhcp

# The PXE client: DISCOVER, collect offers, REQUEST the address from the
# address server, then ask the ProxyDHCP server on 4011 for the boot file.
cat >"$NX_TMP/pxe_client.py" <<'PY'
import os, select, socket, struct, sys, time

ifname, arch, want_file, proxy_ip, dhcp_ip = sys.argv[1:6]
arch = int(arch)
ETH_P_IP = 0x0800

ETH_P_ARP = 0x0806

s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_IP))
s.bind((ifname, 0))
mac = s.getsockname()[4][:6]
# Once it has an address, firmware answers ARP for it: so do we.
arp = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ARP))
arp.bind((ifname, 0))
my_ip = None
xid = struct.unpack('!I', os.urandom(4))[0]
uuid = bytes(range(16))
vendor = b'PXEClient:Arch:%05d:UNDI:002001' % arch
failed = False


def log(*a):
    print('pxe-client(arch %d):' % arch, *a, flush=True)


def check(ok, what):
    global failed
    log('ok:' if ok else 'FAIL:', what)
    failed |= not ok


def csum(b):
    if len(b) % 2:
        b += b'\0'
    t = sum(struct.unpack('!%dH' % (len(b) // 2), b))
    while t >> 16:
        t = (t & 0xffff) + (t >> 16)
    return ~t & 0xffff


def frame(dst_mac, src_ip, dst_ip, sport, dport, payload):
    udp = struct.pack('!HHHH', sport, dport, 8 + len(payload), 0) + payload
    ip = struct.pack('!BBHHHBBH4s4s', 0x45, 0, 20 + len(udp), 0, 0, 64, 17, 0,
                     socket.inet_aton(src_ip), socket.inet_aton(dst_ip))
    ip = ip[:10] + struct.pack('!H', csum(ip)) + ip[12:]
    return dst_mac + mac + struct.pack('!H', ETH_P_IP) + ip + udp


def opt(code, data):
    return bytes([code, len(data)]) + data


def dhcp(msgtype, ciaddr='0.0.0.0', extra=b''):
    hdr = struct.pack('!BBBBIHH4s4s4s4s16s64s128sI', 1, 1, 6, 0, xid, 0, 0,
                      socket.inet_aton(ciaddr), bytes(4), bytes(4), bytes(4),
                      mac, b'', b'', 0x63825363)
    o = opt(53, bytes([msgtype])) + opt(57, struct.pack('!H', 1464))
    o += opt(55, bytes([1, 3, 6, 43, 54, 60, 66, 67, 97, 128, 129, 130]))
    o += opt(97, b'\0' + uuid) + opt(94, b'\x01\x02\x01')
    o += opt(93, struct.pack('!H', arch)) + opt(60, vendor) + extra
    return hdr + o + b'\xff' + bytes(max(0, 60 - len(o)))


def parse_opts(b, out):
    i = 0
    while i < len(b):
        c = b[i]
        if c == 0:
            i += 1
            continue
        if c == 255 or i + 1 >= len(b):
            break
        out.setdefault(c, b[i + 2:i + 2 + b[i + 1]])
        i += 2 + b[i + 1]
    return out


def parse(pkt):
    """A reply for us: (src_mac, src_ip, sport, fields, options) or None."""
    if len(pkt) < 14 + 20 + 8 + 240 or pkt[12:14] != b'\x08\x00':
        return None
    ihl = (pkt[14] & 15) * 4
    if pkt[23] != 17:
        return None
    sport, dport = struct.unpack('!HH', pkt[14 + ihl:14 + ihl + 4])
    d = pkt[14 + ihl + 8:]
    if dport != 68 or len(d) < 240 or d[0] != 2:
        return None
    if struct.unpack('!I', d[4:8])[0] != xid or d[28:34] != mac:
        return None
    o = parse_opts(d[240:], {})
    ov = o.get(52, b'\0')[0]
    if ov & 1:
        parse_opts(d[108:236], o)
    if ov & 2:
        parse_opts(d[44:108], o)
    f = {'yiaddr': socket.inet_ntoa(d[16:20]), 'siaddr': socket.inet_ntoa(d[20:24]),
         'file': d[108:236].split(b'\0')[0].decode(errors='replace') if not ov & 1 else ''}
    return pkt[6:12], socket.inet_ntoa(pkt[26:30]), sport, f, o


def answer_arp(pkt):
    if my_ip is None or len(pkt) < 42 or pkt[12:14] != b'\x08\x06':
        return
    op, sha, spa, tpa = struct.unpack('!6xH6s4s6x4s', pkt[14:42])
    if op != 1 or tpa != socket.inet_aton(my_ip):
        return
    arp.send(sha + mac + struct.pack('!HHHBBH6s4s6s4s', ETH_P_ARP, 1, ETH_P_IP,
                                     6, 4, 2, mac, tpa, sha, spa))


def collect(seconds, want, enough=lambda got: False, linger=0.5):
    """Replies of type want for up to seconds; once enough(got), only
    linger on (to catch duplicates)."""
    got = []
    end = time.time() + seconds
    while time.time() < end:
        if enough(got):
            end = min(end, time.time() + linger)
            enough = lambda got: False
        r, _, _ = select.select([s, arp], [], [], max(0, end - time.time()))
        if not r:
            break
        if arp in r:
            answer_arp(arp.recv(2048))
        if s not in r:
            continue
        p = parse(s.recv(2048))
        if p and p[4].get(53, b'\0')[0] == want:
            got.append(p)
    return got


def boot_file(f, o):
    if 67 in o:
        return o[67].split(b'\0')[0].decode(errors='replace')
    return f['file']


def ip_of(o, code):
    return socket.inet_ntoa(o[code]) if len(o.get(code, b'')) == 4 else None


BCAST = b'\xff' * 6
# 1. DISCOVER: an address offer from dnsmasq, a PXE-only offer from the proxy.
s.send(frame(BCAST, '0.0.0.0', '255.255.255.255', 68, 67, dhcp(1)))
offers = collect(3, 2, lambda g: len({p[3]['yiaddr'] == '0.0.0.0' for p in g}) == 2)
log('%d offers' % len(offers))
addr = [p for p in offers if p[3]['yiaddr'] != '0.0.0.0']
proxy = [p for p in offers if p[3]['yiaddr'] == '0.0.0.0']
check(len(addr) >= 1 and ip_of(addr[0][4], 54) == dhcp_ip,
      'address offer from the DHCP server %s' % dhcp_ip)
check(len(proxy) == 1 and ip_of(proxy[0][4], 54) == proxy_ip,
      'one ProxyDHCP offer (no address) from %s' % proxy_ip)
if not addr or not proxy:
    sys.exit(1)
_, _, _, pf, po = proxy[0]
proxy_mac = proxy[0][0]
check(po.get(60, b'').startswith(b'PXEClient'), 'ProxyDHCP offer carries option 60 PXEClient')
check(po.get(97) == b'\0' + uuid, 'ProxyDHCP offer echoes the client UUID (option 97)')
check(51 not in po, 'ProxyDHCP offer has no lease time (option 51)')
if boot_file(pf, po):
    check(boot_file(pf, po) == want_file,
          'ProxyDHCP offer names boot file %r (got %r)' % (want_file, boot_file(pf, po)))
yiaddr = addr[0][3]['yiaddr']
log('offered address', yiaddr)

# 2. REQUEST the address from the DHCP server.
req = opt(50, socket.inet_aton(yiaddr)) + opt(54, socket.inet_aton(dhcp_ip))
s.send(frame(BCAST, '0.0.0.0', '255.255.255.255', 68, 67, dhcp(3, extra=req)))
acks = [p for p in collect(3, 5, lambda g: len(g) > 0, 0) if ip_of(p[4], 54) == dhcp_ip]
check(len(acks) >= 1 and acks[0][3]['yiaddr'] == yiaddr, 'ACK for %s from %s' % (yiaddr, dhcp_ip))
my_ip = yiaddr

# 3. Boot server discovery: REQUEST to the proxy on 4011 (with a boot item
# when the proxy offered a menu), from the new address.
extra = b''
menu = parse_opts(po.get(43, b''), {}).get(9)
if menu and len(menu) >= 3:
    extra = opt(43, opt(71, menu[0:2] + b'\0\0') + b'\xff')
s.send(frame(proxy_mac, yiaddr, proxy_ip, 68, 4011, dhcp(3, yiaddr, extra)))
backs = [p for p in collect(3, 5, lambda g: len(g) > 0) if p[2] == 4011]
check(len(backs) == 1, 'ACK from the boot server %s:4011' % proxy_ip)
if backs:
    bf = boot_file(backs[0][3], backs[0][4])
    check(bf == want_file, 'boot file for arch %d is %r (got %r)' % (arch, want_file, bf))
sys.exit(1 if failed else 0)
PY

start_proxy() { # XDP-MODE
	if [ "$PEER" = dnsmasq ]; then
		nx_dnsmasq proxy --dhcp-range=$NX_NET.0.0,proxy,$NX_MASK \
			--pxe-service=x86PC,"BIOS",undionly,$NX_SRV_IP \
			--pxe-service=BC_EFI,"UEFI",ipxe.efi,$NX_SRV_IP --log-dhcp
		BIOS_FILE=undionly.0
		return
	fi
	nx_xbootd xdp="$1" mode=proxy boot-file=bios,$BIOS_FILE boot-file=efi64,$EFI_FILE
}

stop_proxy() {
	if [ "$PEER" = dnsmasq ]; then
		nx_stop_pid "$NX_DNSMASQ_PID"
	else
		nx_xbootd_stop
	fi
}

modes="off auto"
[ -n "$PEER" ] && modes=peer
for xdp in $modes; do
	nx_log "=== ProxyDHCP server with xdp=$xdp"
	start_proxy "$xdp"
	arches="0 7"
	# dnsmasq hands single-service UEFI clients their file differently.
	[ -n "$PEER" ] && arches=0
	for arch in $arches; do
		want=$BIOS_FILE
		[ $arch = 7 ] && want=$EFI_FILE
		nx_cli python3 "$NX_TMP/pxe_client.py" "$NX_BR" $arch "$want" \
			"$NX_SRV_IP" "$DHCP_IP" || nx_fail "PXE client arch $arch (xdp=$xdp)"
	done
	if [ -z "$PEER" ]; then
		nx_log "xbootctl stats:"
		nx_ctl stats | sed 's/^/    /'
	fi
	stop_proxy
done
nx_pass dhcp_proxy
