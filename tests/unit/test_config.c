// SPDX-License-Identifier: GPL-2.0
/*
 * The config parser: a table of bad lines (each refused with its file, line
 * and reason), a table of good ones, the command line, and the cross-key
 * checks of config_validate() and config_resolve().
 */
#include <arpa/inet.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "config.h"
#include "image_store.h"
#include "xboot/agent.h"
#include "log.h"
#include "tmpdir.h"

static char tmpdir[] = "/tmp/xboot-test-config.XXXXXX";

static const char *write_file(const char *name, const char *text)
{
	static char path[512];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", tmpdir, name);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
	return path;
}

static struct in_addr ip(const char *s)
{
	struct in_addr a;

	assert_int_equal(inet_pton(AF_INET, s, &a), 1);
	return a;
}

/* Each bad line goes in as line 3 of a file, after a comment and a blank. */
static const struct {
	const char *line;
	const char *expect; /* after "FILE:3: " */
} bad_lines[] = {
	{ "dhcp-range=10.0.0.9,10.0.0.5",
	  "dhcp-range: end 10.0.0.5 is before start 10.0.0.9" },
	{ "dhcp-range=10.0.0.9", "dhcp-range: want START,END" },
	{ "dhcp-range=10.0.0.300,10.0.0.5", "dhcp-range: start '10.0.0.300' is not an IPv4 address" },
	{ "dhcp-range=10.0.0.1,ten", "dhcp-range: end 'ten' is not an IPv4 address" },
	{ "dhcp-range=10.0.0.10,10.0.0.20,255.0.255.0", "dhcp-range: '255.0.255.0' is not a netmask" },
	{ "dhcp-range=10.0.0.10,10.0.1.20,255.255.255.0",
	  "dhcp-range: start 10.0.0.10 and end 10.0.1.20 are not in one subnet of netmask 255.255.255.0" },
	{ "dhcp-range=10.0.0.0,10.0.0.20,255.255.255.0",
	  "dhcp-range: range 10.0.0.0-10.0.0.20 includes the subnet's network or broadcast address" },
	{ "dhcp-range=10.0.0.10,10.0.0.20,1x", "dhcp-range: bad lease time '1x'" },
	{ "dhcp-range=10.0.0.10,10.0.0.20,255.255.255.0,12h,extra",
	  "dhcp-range: want START,END[,NETMASK][,LEASE]" },
	{ "dhcp-range=10.0.0.10,10.0.0.20,24h,extra", "dhcp-range: unexpected 'extra'" },
	{ "dhcp-range=", "dhcp-range: empty value" },
	{ "dhcp-range", "dhcp-range: missing '=VALUE'" },
	{ "lease-time=5", "lease-time: lease time '5' is shorter than 10 seconds" },
	{ "lease-time=-1", "lease-time: bad lease time '-1'" },
	{ "lease-time=99999999999d", "lease-time: bad lease time '99999999999d'" },
	{ "lease-time=12y", "lease-time: bad lease time '12y'" },
	{ "lease-time=h", "lease-time: bad lease time 'h'" },
	{ "mode=half", "mode: 'half' is not full or proxy" },
	{ "xdp=fast", "xdp: 'fast' is not auto, native, generic or off" },
	{ "ipv6-ra=on", "ipv6-ra: 'on' is not off or pxe-clients" },
	{ "router=10.0.0", "router: '10.0.0' is not an IPv4 address" },
	{ "router=0.0.0.0", "router: '0.0.0.0' is not an IPv4 address" },
	{ "dns=1.1.1.1,8.8.8.8,9.9.9.9,8.8.4.4,1.0.0.1", "dns: more than 4 servers" },
	{ "dns=1.1.1.1,,8.8.8.8", "dns: '' is not an IPv4 address" },
	{ "domain=exa mple.com", "domain: 'exa mple.com' is not a domain name" },
	{ "domain=-bad.example", "domain: '-bad.example' is not a domain name" },
	{ "host=52:54:00:12:34", "host: want MAC,IP" },
	{ "host=52:54:00:12:34,10.0.0.5", "host: '52:54:00:12:34' is not a MAC address" },
	{ "host=52:54:00:12:34:5g,10.0.0.5", "host: '52:54:00:12:34:5g' is not a MAC address" },
	{ "host=52:54-00:12:34:56,10.0.0.5", "host: '52:54-00:12:34:56' is not a MAC address" },
	{ "host=52:54:00:12:34:56,10.0.0.256", "host: '10.0.0.256' is not an IPv4 address" },
	{ "host=52:54:00:12:34:56,10.0.0.5,bad_name", "host: 'bad_name' is not a host name" },
	{ "host=52:54:00:12:34:56,10.0.0.5,pc1,bad/profile",
	  "host: 'bad/profile' is not a profile name" },
	{ "host=52:54:00:12:34:56,,", "host: host entry gives neither address, name nor profile" },
	{ "host=52:54:00:12:34:56,10.0.0.5,a,b,c", "host: want MAC,IP" },
	{ "boot-file=bios", "boot-file: want CLASS,PATH-OR-URL" },
	{ "boot-file=sparc,boot.img", "boot-file: unknown class 'sparc'" },
	{ "boot-file=plain,boot.img", "boot-file: unknown class 'plain'" },
	{ "boot-file=http,/srv/boot.efi", "boot-file: the http class needs a URL, not '/srv/boot.efi'" },
	{ "boot-file=bios,", "boot-file: empty boot file" },
	{ "boot-file=bios,a b", "boot-file: 'a b' has a space" },
	{ "boot-file=efi64,"
	  "0123456789012345678901234567890123456789012345678901234567890123"
	  "0123456789012345678901234567890123456789012345678901234567890123",
	  "boot-file: boot file is longer than 127 characters" },
	{ "pxe-timeout=256", "pxe-timeout: '256' is not a number of seconds from 0 to 255" },
	{ "pxe-timeout=1.5", "pxe-timeout: '1.5' is not a number" },
	{ "http-port=65536", "http-port: '65536' is not a port number" },
	{ "http-root=srv/http", "http-root: 'srv/http' is not an absolute path" },
	{ "state-dir=var/lib/xboot", "state-dir: 'var/lib/xboot' is not an absolute path" },
	{ "image-dir=images", "image-dir: 'images' is not an absolute path" },
	{ "image-dir=", "image-dir: empty value" },
	{ "image-dir", "image-dir: missing '=VALUE'" },
	{ "control-socket=/run/xboot/"
	  "0123456789012345678901234567890123456789012345678901234567890123"
	  "0123456789012345678901234567890123456789",
	  "control-socket: path is longer than 107 characters" },
	{ "server-address=example", "server-address: 'example' is not an IPv4 address" },
	{ "verbose=9", "verbose: '9' is not a level from 0 to 3" },
	{ "interface=eth0:1", "interface: 'eth0:1' is not an interface name" },
	{ "interface=averyveryverylongname", "interface: interface name 'averyveryverylongname' is longer than 15 characters" },
	{ "colour=blue", "colour: unknown key" },
	{ "=value", "missing key before '='" },
	{ "pxe-menu=a\tb", "pxe-menu: menu text has a control character" },
	{ "agent-port=70000", "agent-port: '70000' is not a port number" },
	{ "agent-port=-1", "agent-port: '-1' is not a port number" },
	{ "agent-cert=cert.pem", "agent-cert: 'cert.pem' is not an absolute path" },
	{ "agent-key=key.pem", "agent-key: 'key.pem' is not an absolute path" },
	{ "agent-ca=ca.pem", "agent-ca: 'ca.pem' is not an absolute path" },
	{ "agent-enrol-ttl=infinite",
	  "agent-enrol-ttl: 'infinite' is not a number of seconds" },
	{ "agent-enrol-ttl=soon",
	  "agent-enrol-ttl: 'soon' is not a number of seconds" },
	{ "agent-enrol-ttl=5", "agent-enrol-ttl: '5' is not a number of seconds" },
};

static void test_bad_lines(void **state)
{
	struct cfg_error err;
	struct config cfg;
	char text[1024], expect[1024];
	const char *path;
	unsigned int i;

	for (i = 0; i < sizeof(bad_lines) / sizeof(bad_lines[0]); i++) {
		snprintf(text, sizeof(text), "# test\n\n%s\nmode=full\n",
			 bad_lines[i].line);
		path = write_file("bad.conf", text);
		config_init(&cfg);
		memset(&err, 0, sizeof(err));
		assert_int_equal(config_load_file(&cfg, path, &err), -EINVAL);
		snprintf(expect, sizeof(expect), "%s:3: %s", path,
			 bad_lines[i].expect);
		if (strncmp(err.msg, expect, strlen(expect)))
			fail_msg("line '%s':\n  got  '%s'\n  want '%s...'",
				 bad_lines[i].line, err.msg, expect);
		config_free(&cfg);
	}
}

static void test_good_lines(void **state)
{
	struct cfg_error err = { "" };
	struct config cfg;
	const char *path;
	int ret;

	path = write_file("good.conf",
			  "# comment\n"
			  "   \n"
			  "interface = eth1\n"
			  "interface=eth2\n"
			  "mode=full\n"
			  "dhcp-range=10.0.0.100,10.0.0.200\n"
			  "dhcp-range=10.1.0.10 , 10.1.0.20,255.255.255.0,45m\n"
			  "dhcp-range=10.2.0.10,10.2.0.20,7d\n"
			  "dhcp-range=10.3.0.10,10.3.0.20,255.255.0.0,infinite\n"
			  "lease-time=12h\n"
			  "router=10.0.0.1\n"
			  "router=10.1.0.1\n"
			  "dns=10.0.0.53,1.1.1.1\n"
			  "domain=lab.example.com\n"
			  "host=52:54:00:12:34:56,10.0.0.5,pc1\n"
			  "host=52-54-00-AB-CD-EF,,pc2,rescue\n"
			  "host=52:54:00:00:00:01,10.0.0.6,,installer\n"
			  "boot-file=bios,undionly.kpxe\n"
			  "boot-file=efi64,ipxe.efi\n"
			  "boot-file=arm64,snp-arm64.efi\n"
			  "boot-file=http,http://10.0.0.1:8080/boot.efi\n"
			  "boot-file=ipxe,http://10.0.0.1:8080/boot.ipxe\n"
			  "pxe-menu=Boot from xboot\n"
			  "pxe-timeout=5\n"
			  "tftp-root=/srv/tftp2\n"
			  "http-port=8081\n"
			  "state-dir=/tmp/xb\n"
			  "image-dir=/srv/xboot/images\n"
			  "control-socket=/tmp/xb/ctl.sock\n"
			  "xdp=generic\n"
			  "server-address=10.0.0.1\n"
			  "verbose\n"
			  "agent-port=4013\n"
			  "agent-cert=/etc/xboot/agent.pem\n"
			  "agent-key=/etc/xboot/agent.key\n"
			  "agent-ca=/etc/xboot/ca.pem\n"
			  "agent-enrol-ttl=2h\n"
			  "lease-time=1h\n");
	config_init(&cfg);
	ret = config_load_file(&cfg, path, &err);
	if (ret)
		fail_msg("%s", err.msg);
	assert_int_equal(cfg.ninterfaces, 2);
	assert_string_equal(cfg.interfaces[1], "eth2");
	assert_int_equal(cfg.mode, XB_MODE_FULL);
	assert_int_equal(cfg.nranges, 4);
	assert_int_equal(cfg.ranges[0].start.s_addr, ip("10.0.0.100").s_addr);
	assert_int_equal(cfg.ranges[0].mask.s_addr, 0);
	assert_int_equal(cfg.ranges[0].lease_s, 0);
	assert_int_equal(cfg.ranges[1].start.s_addr, ip("10.1.0.10").s_addr);
	assert_int_equal(cfg.ranges[1].mask.s_addr, ip("255.255.255.0").s_addr);
	assert_int_equal(cfg.ranges[1].lease_s, 45 * 60);
	assert_int_equal(cfg.ranges[2].lease_s, 7 * 86400);
	assert_int_equal(cfg.ranges[3].lease_s, 0xffffffffu);
	assert_int_equal(cfg.lease_s, 3600); /* last one wins */
	assert_int_equal(cfg.nrouters, 2);
	assert_int_equal(cfg.ndns, 2);
	assert_int_equal(cfg.dns[1].s_addr, ip("1.1.1.1").s_addr);
	assert_string_equal(cfg.domain, "lab.example.com");
	assert_int_equal(cfg.nhosts, 3);
	assert_memory_equal(cfg.hosts[1].mac, "\x52\x54\x00\xab\xcd\xef", 6);
	assert_int_equal(cfg.hosts[1].ip.s_addr, 0);
	assert_string_equal(cfg.hosts[1].hostname, "pc2");
	assert_string_equal(cfg.hosts[1].profile, "rescue");
	assert_string_equal(cfg.hosts[2].hostname, "");
	assert_string_equal(cfg.boot_file[XB_CLASS_BIOS], "undionly.kpxe");
	assert_string_equal(cfg.boot_file[XB_CLASS_HTTP],
			    "http://10.0.0.1:8080/boot.efi");
	assert_string_equal(cfg.pxe_menu, "Boot from xboot");
	assert_int_equal(cfg.pxe_timeout, 5);
	assert_string_equal(cfg.tftp_root, "/srv/tftp2");
	assert_int_equal(cfg.http_port, 8081);
	assert_string_equal(cfg.state_dir, "/tmp/xb");
	assert_string_equal(cfg.image_dir, "/srv/xboot/images");
	assert_string_equal(cfg.control_socket, "/tmp/xb/ctl.sock");
	assert_int_equal(cfg.xdp, CFG_XDP_GENERIC);
	assert_int_equal(cfg.server_addr.s_addr, ip("10.0.0.1").s_addr);
	assert_int_equal(cfg.verbose, 1);
	assert_int_equal(cfg.agent_port, 4013);
	assert_string_equal(cfg.agent_cert, "/etc/xboot/agent.pem");
	assert_string_equal(cfg.agent_key, "/etc/xboot/agent.key");
	assert_string_equal(cfg.agent_ca, "/etc/xboot/ca.pem");
	assert_int_equal(cfg.agent_enrol_ttl, 2 * 3600);
	assert_int_equal(config_validate(&cfg, &err), 0);
	/* given: not replaced by the default under state-dir */
	assert_string_equal(cfg.image_dir, "/srv/xboot/images");
	assert_int_equal(config_set(&cfg, "agent-port", "0", NULL, &err), 0);
	assert_int_equal(cfg.agent_port, 0); /* the service off */
	config_free(&cfg);
}

static void test_defaults(void **state)
{
	struct config cfg;

	config_init(&cfg);
	assert_int_equal(cfg.lease_s, XBOOTD_DEFAULT_LEASE_S);
	assert_int_equal(cfg.xdp, CFG_XDP_AUTO);
	assert_string_equal(cfg.state_dir, XBOOTD_DEFAULT_STATE_DIR);
	assert_string_equal(cfg.control_socket, XBOOTD_DEFAULT_CONTROL_SOCKET);
	assert_int_equal(cfg.agent_port, XBA_PORT);
	assert_int_equal(cfg.agent_enrol_ttl, 3600);
	assert_string_equal(cfg.agent_cert, ""); /* our own CA */
	assert_string_equal(cfg.image_dir, ""); /* until config_validate() */
	config_free(&cfg);
}

static void test_missing_file(void **state)
{
	struct cfg_error err;
	struct config cfg;

	config_init(&cfg);
	assert_int_equal(config_load_file(&cfg, "/nonexistent/xboot.conf", &err),
			 -ENOENT);
	assert_string_equal(err.msg,
			    "/nonexistent/xboot.conf: No such file or directory");
	config_free(&cfg);
}

static void test_args(void **state)
{
	char conf[512];
	char *argv[] = { "xbootd",
			 "--interface=eth1",
			 "--dhcp-range=10.0.0.100,10.0.0.200",
			 "--boot-file=bios,undionly.kpxe",
			 "-c",
			 conf,
			 "--lease-time",
			 "2h",
			 "-vv",
			 "--verbose",
			 NULL };
	struct cfg_error err = { "" };
	struct config cfg;

	snprintf(conf, sizeof(conf), "%s",
		 write_file("args.conf", "lease-time=5m\ninterface=eth0\n"));
	config_init(&cfg);
	if (config_from_args(&cfg, 10, argv, &err))
		fail_msg("%s", err.msg);
	/* the file first, then the command line */
	assert_int_equal(cfg.ninterfaces, 2);
	assert_string_equal(cfg.interfaces[0], "eth0");
	assert_string_equal(cfg.interfaces[1], "eth1");
	assert_int_equal(cfg.lease_s, 7200);
	assert_int_equal(cfg.verbose, 3);
	assert_int_equal(cfg.nranges, 1);
	assert_int_equal(config_validate(&cfg, &err), 0);
	config_free(&cfg);
}

static void expect_args_error(int argc, char **argv, const char *want)
{
	struct cfg_error err = { "" };
	struct config cfg;

	config_init(&cfg);
	assert_int_equal(config_from_args(&cfg, argc, argv, &err), -EINVAL);
	if (strncmp(err.msg, want, strlen(want)))
		fail_msg("got '%s', want '%s...'", err.msg, want);
	config_free(&cfg);
}

static void test_args_errors(void **state)
{
	char *a1[] = { "xbootd", "--dhcp-range=10.0.0.9,10.0.0.5" };
	char *a2[] = { "xbootd", "--frobnicate=1" };
	char *a3[] = { "xbootd", "eth0" };
	char *a4[] = { "xbootd", "--interface" };
	char *a5[] = { "xbootd", "-c" };
	char *a6[] = { "xbootd", "-c", "/nonexistent.conf" };

	expect_args_error(2, a1, "--dhcp-range: end 10.0.0.5 is before start 10.0.0.9");
	expect_args_error(2, a2, "--frobnicate: unknown key");
	expect_args_error(2, a3, "eth0: unexpected argument");
	expect_args_error(2, a4, "--interface: missing VALUE");
	expect_args_error(2, a5, "-c: missing FILE");
	expect_args_error(3, a6, "/nonexistent.conf: No such file");
}

static void test_help(void **state)
{
	char *argv[] = { "xbootd", "--help" };
	struct config cfg;
	FILE *saved = stdout;

	stdout = fopen("/dev/null", "w");
	config_init(&cfg);
	assert_int_equal(config_from_args(&cfg, 2, argv, NULL), 1);
	fclose(stdout);
	stdout = saved;
	config_free(&cfg);
}

/* Lines in a file, then config_validate(): its error. */
static void expect_invalid(const char *text, const char *want)
{
	struct cfg_error err = { "" };
	struct config cfg;

	config_init(&cfg);
	if (config_load_file(&cfg, write_file("v.conf", text), &err))
		fail_msg("parse: %s", err.msg);
	assert_int_equal(config_validate(&cfg, &err), -EINVAL);
	if (strncmp(err.msg, want, strlen(want)))
		fail_msg("got '%s', want '%s...'", err.msg, want);
	config_free(&cfg);
}

static void test_validate(void **state)
{
	expect_invalid("dhcp-range=10.0.0.10,10.0.0.20\n",
		       "no interface given");
	expect_invalid("interface=eth0\nboot-file=bios,x\n",
		       "mode=full needs a dhcp-range");
	expect_invalid("interface=eth0\nmode=proxy\nboot-file=bios,x\n"
		       "dhcp-range=10.0.0.10,10.0.0.20\n",
		       "mode=proxy hands out no addresses");
	expect_invalid("interface=eth0\nmode=proxy\n",
		       "mode=proxy needs at least one boot-file");
	expect_invalid("interface=eth0\ndhcp-range=10.0.0.10,10.0.0.20\n"
		       "dhcp-range=10.0.0.15,10.0.0.30\n",
		       "dhcp-range 10.0.0.10-10.0.0.20 overlaps dhcp-range 10.0.0.15-10.0.0.30");
	expect_invalid("interface=eth0\n"
		       "dhcp-range=10.0.0.10,10.0.0.20,255.255.255.0\n"
		       "dhcp-range=10.0.0.30,10.0.0.40,255.255.255.0\n",
		       "dhcp-ranges 10.0.0.10-10.0.0.20 and 10.0.0.30-10.0.0.40 share a subnet");
	expect_invalid("interface=eth0\n"
		       "dhcp-range=10.0.0.10,10.0.0.20,255.255.255.0\n"
		       "router=10.0.0.1\nrouter=10.0.0.254\n",
		       "routers 10.0.0.1 and 10.0.0.254 are both in the subnet of dhcp-range 10.0.0.10");
	expect_invalid("interface=eth0\ndhcp-range=10.0.0.10,10.0.0.20\n"
		       "host=52:54:00:12:34:56,10.0.0.5\n"
		       "host=52:54:00:12:34:56,10.0.0.6\n",
		       "host 52:54:00:12:34:56 is given twice");
	expect_invalid("interface=eth0\ndhcp-range=10.0.0.10,10.0.0.20\n"
		       "host=52:54:00:12:34:56,10.0.0.5\n"
		       "host=52:54:00:12:34:57,10.0.0.5\n",
		       "host address 10.0.0.5 is reserved twice");
	/* the operator's agent certificate comes whole */
	expect_invalid("interface=eth0\ndhcp-range=10.0.0.10,10.0.0.20\n"
		       "agent-cert=/etc/xboot/agent.pem\n",
		       "agent-cert and agent-key go together");
	expect_invalid("interface=eth0\ndhcp-range=10.0.0.10,10.0.0.20\n"
		       "agent-key=/etc/xboot/agent.key\n",
		       "agent-cert and agent-key go together");
	expect_invalid("interface=eth0\ndhcp-range=10.0.0.10,10.0.0.20\n"
		       "agent-cert=/etc/xboot/agent.pem\n"
		       "agent-key=/etc/xboot/agent.key\n",
		       "agent-cert needs agent-ca");
	expect_invalid("interface=eth0\ndhcp-range=10.0.0.10,10.0.0.20\n"
		       "agent-ca=/etc/xboot/ca.pem\n",
		       "agent-ca needs agent-cert and agent-key");
}

/* image-dir: STATE-DIR/images unless given, on the command line too. */
static void test_image_dir(void **state)
{
	char *argv[] = { "xbootd", "--interface=eth1",
			 "--dhcp-range=10.0.0.100,10.0.0.200",
			 "--state-dir=/var/lib/xb2", NULL, NULL };
	char *long_dir = malloc(CFG_PATH_MAX);
	struct cfg_error err = { "" };
	struct config cfg;

	config_init(&cfg);
	if (config_from_args(&cfg, 4, argv, &err) ||
	    config_validate(&cfg, &err))
		fail_msg("%s", err.msg);
	assert_string_equal(cfg.image_dir, "/var/lib/xb2/" IMAGE_STORE_SUBDIR);
	config_free(&cfg);

	argv[4] = "--image-dir=/srv/images";
	config_init(&cfg);
	if (config_from_args(&cfg, 5, argv, &err) ||
	    config_validate(&cfg, &err))
		fail_msg("%s", err.msg);
	assert_string_equal(cfg.image_dir, "/srv/images");
	config_free(&cfg);

	expect_args_error(5, (char *[]){ "xbootd", "--interface=eth1",
					 "--dhcp-range=10.0.0.100,10.0.0.200",
					 "--image-dir", "rel/images" },
			  "--image-dir: 'rel/images' is not an absolute path");

	/* a state-dir that leaves no room for "/images" wants image-dir */
	assert_non_null(long_dir);
	memset(long_dir, 'x', CFG_PATH_MAX - 1);
	long_dir[0] = '/';
	long_dir[CFG_PATH_MAX - 4] = '\0';
	config_init(&cfg);
	assert_int_equal(config_set(&cfg, "interface", "eth1", NULL, &err), 0);
	assert_int_equal(config_set(&cfg, "dhcp-range", "10.0.0.100,10.0.0.200",
				    NULL, &err), 0);
	assert_int_equal(config_set(&cfg, "state-dir", long_dir, NULL, &err),
			 0);
	assert_int_equal(config_validate(&cfg, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "give image-dir"));
	assert_int_equal(config_set(&cfg, "image-dir", "/srv/images", NULL,
				    &err), 0);
	assert_int_equal(config_validate(&cfg, &err), 0);
	config_free(&cfg);
	free(long_dir);
}

static void test_resolve(void **state)
{
	struct in_addr addr[2] = { ip("10.0.0.1"), ip("10.7.0.1") };
	struct in_addr mask[2] = { ip("255.255.255.0"), ip("255.255.0.0") };
	struct cfg_error err = { "" };
	struct config cfg;

	config_init(&cfg);
	assert_int_equal(config_load_file(&cfg, write_file("r.conf",
		"interface=eth0\n"
		"dhcp-range=10.0.0.10,10.0.0.20\n"
		"dhcp-range=10.5.0.10,10.5.0.20,255.255.255.0\n"
		"router=10.5.0.1\nrouter=10.0.0.1\n"), &err), 0);
	assert_int_equal(config_validate(&cfg, &err), 0);
	/* the relayed range knows its router already */
	assert_int_equal(cfg.ranges[1].router.s_addr, ip("10.5.0.1").s_addr);
	assert_int_equal(cfg.ranges[0].router.s_addr, 0);
	if (config_resolve(&cfg, addr, mask, 2, &err))
		fail_msg("%s", err.msg);
	assert_int_equal(cfg.ranges[0].mask.s_addr, mask[0].s_addr);
	assert_int_equal(cfg.ranges[0].router.s_addr, ip("10.0.0.1").s_addr);
	config_free(&cfg);

	config_init(&cfg);
	assert_int_equal(config_load_file(&cfg, write_file("r.conf",
		"interface=eth0\ndhcp-range=10.9.0.10,10.9.0.20\n"), &err), 0);
	assert_int_equal(config_validate(&cfg, &err), 0);
	assert_int_equal(config_resolve(&cfg, addr, mask, 2, &err), -EINVAL);
	assert_string_equal(err.msg,
		"dhcp-range 10.9.0.10-10.9.0.20 is on no interface's subnet: give its NETMASK (a relayed range needs one)");
	config_free(&cfg);

	config_init(&cfg);
	assert_int_equal(config_load_file(&cfg, write_file("r.conf",
		"interface=eth0\ndhcp-range=10.0.0.10,10.0.0.20\n"
		"router=192.168.1.1\n"), &err), 0);
	assert_int_equal(config_validate(&cfg, &err), 0);
	assert_int_equal(config_resolve(&cfg, addr, mask, 2, &err), -EINVAL);
	assert_string_equal(err.msg,
		"router 192.168.1.1 is not in the subnet of any dhcp-range");
	config_free(&cfg);

	/* the interface's prefix makes the range include the network address */
	config_init(&cfg);
	assert_int_equal(config_load_file(&cfg, write_file("r.conf",
		"interface=eth0\ndhcp-range=10.7.0.0,10.7.0.20\n"), &err), 0);
	assert_int_equal(config_validate(&cfg, &err), 0);
	assert_int_equal(config_resolve(&cfg, addr, mask, 2, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "network or broadcast"));
	config_free(&cfg);
}

static void test_many_hosts(void **state)
{
	struct cfg_error err = { "" };
	char v[64];
	struct config cfg;
	int i;

	config_init(&cfg);
	for (i = 0; i < 5000; i++) {
		snprintf(v, sizeof(v), "02:00:00:00:%02x:%02x,10.%d.%d.1",
			 i >> 8, i & 0xff, 100 + (i >> 8), i & 0xff);
		assert_int_equal(config_set(&cfg, "host", v, "--host", &err), 0);
	}
	assert_int_equal(cfg.nhosts, 5000);
	assert_int_equal(cfg.hosts[4999].mac[5], 4999 & 0xff);
	config_free(&cfg);
}

static void test_class_names(void **state)
{
	assert_string_equal(xb_class_name(XB_CLASS_EFI64), "efi64");
	assert_string_equal(xb_class_name(99), "?");
	assert_int_equal(xb_class_from_name("arm64"), XB_CLASS_ARM64);
	assert_int_equal(xb_class_from_name("nope"), -ENOENT);
}

static int setup(void **state)
{
	log_level = LOG_LVL_ERR;
	return tmpdir_make(tmpdir);
}

static int teardown(void **state)
{
	return tmpdir_remove(tmpdir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_bad_lines),
		cmocka_unit_test(test_good_lines),
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_missing_file),
		cmocka_unit_test(test_args),
		cmocka_unit_test(test_args_errors),
		cmocka_unit_test(test_help),
		cmocka_unit_test(test_validate),
		cmocka_unit_test(test_image_dir),
		cmocka_unit_test(test_resolve),
		cmocka_unit_test(test_many_hosts),
		cmocka_unit_test(test_class_names),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
