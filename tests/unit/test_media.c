// SPDX-License-Identifier: GPL-2.0
/*
 * Boot media: the request checks (each bad input named in its message),
 * the generated iPXE script, SYSLINUX and GRUB configurations, and the
 * errors media_create() gives before any tool runs. The images themselves
 * are booted by tests/vm/media_*.sh.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "media.h"

static struct media_spec good(enum media_type type)
{
	return (struct media_spec){
		.type = type,
		.out = "/tmp/xboot-test-media.img",
		.server = "10.0.0.1",
		.kernel = "/k",
		.initrd = "/i",
	};
}

static void test_type_names(void **state)
{
	static const char *const bad[] = { "", "FLOPPY", "cd", "usb ", "isoo" };
	enum media_type t;
	unsigned int i;

	(void)state;
	assert_int_equal(media_type_parse("floppy", &t), 0);
	assert_int_equal(t, MEDIA_FLOPPY);
	assert_int_equal(media_type_parse("usb", &t), 0);
	assert_int_equal(t, MEDIA_USB);
	assert_int_equal(media_type_parse("iso", &t), 0);
	assert_int_equal(t, MEDIA_ISO);
	assert_string_equal(media_type_name(MEDIA_ISO), "iso");
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(media_type_parse(bad[i], &t), -EINVAL);
	assert_int_equal(media_type_parse(NULL, &t), -EINVAL);
}

struct bad_case {
	const char *field, *value;
	const char *want; /* in the message */
};

static void set_field(struct media_spec *s, const char *field,
		      const char *value)
{
	if (!strcmp(field, "server"))
		s->server = value;
	else if (!strcmp(field, "mac"))
		s->mac = value;
	else if (!strcmp(field, "ip"))
		s->ip = value;
	else if (!strcmp(field, "gateway"))
		s->gateway = value;
	else if (!strcmp(field, "enrol"))
		s->enrol = value;
	else if (!strcmp(field, "args"))
		s->kernel_args = value;
	else if (!strcmp(field, "out"))
		s->out = value;
	else if (!strcmp(field, "kernel"))
		s->kernel = value;
	else
		fail_msg("no field %s", field);
}

static void test_bad_input(void **state)
{
	static const struct bad_case cases[] = {
		{ "server", "", "no server" },
		{ "server", "10.0.0", "server '10.0.0'" },
		{ "server", "10.0.0.256", "server" },
		{ "server", "010.0.0.1x", "server" },
		{ "server", "boot.example.com", "server 'boot.example.com'" },
		{ "server", "0.0.0.0", "server" },
		{ "server", "10.0.0.1:", "server" },
		{ "server", "10.0.0.1:0", "server" },
		{ "server", "10.0.0.1:65536", "server" },
		{ "server", "10.0.0.1:80x", "server" },
		{ "server", "10.0.0.1:-80", "server" },
		{ "server", "ftp://10.0.0.1", "server" },
		{ "server", "http://", "server" },
		{ "server", "http://10.0.0.1/boot", "server" },
		{ "mac", "52:54:00:12:34", "machine '52:54:00:12:34'" },
		{ "mac", "52:54:00:12:34:5g", "not a MAC" },
		{ "mac", "525400123456", "not a MAC" },
		{ "mac", "52:54:00:12:34:567", "not a MAC" },
		{ "mac", "52.54.00.12.34.56", "not a MAC" },
		{ "ip", "10.0.0.5", "ip '10.0.0.5'" },
		{ "ip", "10.0.0.5/", "ip" },
		{ "ip", "10.0.0.5/0", "ip" },
		{ "ip", "10.0.0.5/33", "ip" },
		{ "ip", "10.0.0.5/24x", "ip" },
		{ "ip", "10.0.0/24", "ip" },
		{ "ip", "10.0.0.5/-1", "ip" },
		{ "gateway", "10.0.0.1", "needs a static address" },
		{ "enrol", "a b", "enrolment credential" },
		{ "enrol", "x'y", "enrolment credential" },
		{ "args", "console=ttyS0 $x", "kernel arguments" },
		{ "args", "a\nb", "kernel arguments" },
		{ "args", "a;boot", "kernel arguments" },
		{ "out", "", "no output" },
		{ "kernel", "", "make bootenv" },
	};
	char err[MEDIA_ERR_MAX];
	struct media_plan p;
	struct media_spec s;
	unsigned int i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		s = good(MEDIA_USB);
		set_field(&s, cases[i].field, cases[i].value);
		err[0] = '\0';
		if (media_plan_make(&s, &p, err, sizeof(err)) != -EINVAL)
			fail_msg("%s=%s: accepted", cases[i].field,
				 cases[i].value);
		if (!strstr(err, cases[i].want))
			fail_msg("%s=%s: message '%s' lacks '%s'",
				 cases[i].field, cases[i].value, err,
				 cases[i].want);
	}
	s = good(MEDIA_ISO);
	s.type = 7;
	assert_int_equal(media_plan_make(&s, &p, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "unknown media type"));
	s = good(MEDIA_USB);
	s.ip = "10.0.0.5/24";
	s.gateway = "10.0.1.1";
	assert_int_equal(media_plan_make(&s, &p, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "gateway 10.0.1.1 is outside 10.0.0.5/24"));
	s.gateway = "10.0.0.300";
	assert_int_equal(media_plan_make(&s, &p, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "gateway '10.0.0.300'"));
}

static void test_good_input(void **state)
{
	char err[MEDIA_ERR_MAX] = "";
	struct media_plan p;
	struct media_spec s;

	(void)state;
	s = good(MEDIA_FLOPPY);
	s.kernel = s.initrd = NULL; /* a floppy has no boot environment */
	assert_int_equal(media_plan_make(&s, &p, err, sizeof(err)), 0);
	assert_string_equal(p.base_url, "http://10.0.0.1:8080");
	assert_int_equal(p.port, 8080);
	assert_string_equal(p.mac, "");
	assert_false(p.has_ip);
	assert_int_equal(strlen(p.id), 16);

	s.server = "http://192.168.7.9:81/";
	s.mac = "52-54-00-AB-cd-EF";
	s.ip = "192.168.7.50/23";
	s.gateway = "192.168.6.1";
	assert_int_equal(media_plan_make(&s, &p, err, sizeof(err)), 0);
	assert_string_equal(p.base_url, "http://192.168.7.9:81");
	assert_string_equal(p.mac, "52:54:00:ab:cd:ef");
	assert_true(p.has_ip);
	assert_int_equal(p.prefix, 23);
	assert_int_equal(p.netmask.s_addr, htonl(0xfffffe00));

	s.server = "10.1.2.3:65535";
	s.ip = "10.1.2.3/32";
	s.gateway = NULL;
	assert_int_equal(media_plan_make(&s, &p, err, sizeof(err)), 0);
	assert_string_equal(p.base_url, "http://10.1.2.3:65535");
}

static void plan_of(struct media_spec *s, struct media_plan *p)
{
	char err[MEDIA_ERR_MAX];

	if (media_plan_make(s, p, err, sizeof(err)))
		fail_msg("plan: %s", err);
}

static void has(const char *text, const char *want)
{
	if (!strstr(text, want))
		fail_msg("'%s' not in:\n%s", want, text);
}

static void lacks(const char *text, const char *what)
{
	if (strstr(text, what))
		fail_msg("'%s' in:\n%s", what, text);
}

static void test_ipxe_script_dhcp(void **state)
{
	struct media_spec s = good(MEDIA_FLOPPY);
	struct media_plan p;
	char *t;

	(void)state;
	plan_of(&s, &p);
	t = media_ipxe_script(&p);
	assert_non_null(t);
	assert_memory_equal(t, "#!ipxe\n", 7);
	has(t, "\ndhcp || goto failed\nset nic netX\n");
	has(t, "\nchain http://10.0.0.1:8080/boot/${${nic}/mac}.ipxe || goto failed\n");
	has(t, "\n:failed\n");
	has(t, "\ngoto start\n");
	lacks(t, "ifopen");
	lacks(t, "iseq");
	free(t);
}

static void test_ipxe_script_static(void **state)
{
	struct media_spec s = good(MEDIA_FLOPPY);
	struct media_plan p;
	char *t;

	(void)state;
	s.server = "10.0.0.1:8081";
	s.mac = "52:54:00:12:34:56";
	s.ip = "10.0.5.7/16";
	s.gateway = "10.0.0.254";
	plan_of(&s, &p);
	t = media_ipxe_script(&p);
	assert_non_null(t);
	/* the NIC with the machine's MAC, net0 if none has it */
	has(t, "set nic net0\n");
	has(t, "iseq ${net1/mac} 52:54:00:12:34:56 && set nic net1 || set nic ${nic}\n");
	has(t, "ifopen ${nic} || goto failed\n");
	has(t, "set ${nic}/ip 10.0.5.7\n");
	has(t, "set ${nic}/netmask 255.255.0.0\n");
	has(t, "set ${nic}/gateway 10.0.0.254\n");
	has(t, "set xboot_ip 10.0.5.7/16\nset xboot_gw 10.0.0.254\n");
	has(t, "chain http://10.0.0.1:8081/boot/52:54:00:12:34:56.ipxe || goto failed\n");
	lacks(t, "dhcp");
	free(t);

	s.mac = NULL;
	s.gateway = NULL;
	plan_of(&s, &p);
	t = media_ipxe_script(&p);
	has(t, "set nic net0\n");
	lacks(t, "gateway");
	lacks(t, "iseq");
	free(t);

	s.ip = NULL;
	s.mac = "52:54:00:12:34:56";
	plan_of(&s, &p);
	t = media_ipxe_script(&p);
	has(t, "dhcp ${nic} || goto failed\n");
	free(t);
}

static void test_syslinux_cfg(void **state)
{
	struct media_spec s = good(MEDIA_USB);
	struct media_plan p;
	char *t;

	(void)state;
	plan_of(&s, &p);
	t = media_syslinux_cfg(&p);
	assert_non_null(t);
	/* SYSLINUX takes SERIAL only as the first line */
	assert_memory_equal(t, "SERIAL 0 115200\n", 16);
	has(t, "DEFAULT xboot\n");
	has(t, "TIMEOUT 0\n");
	has(t, "\tKERNEL /ipxe.lkrn\n\tINITRD /xboot.ipxe\n");
	free(t);
}

static void test_grub_cfg(void **state)
{
	struct media_spec s = good(MEDIA_ISO);
	struct media_plan p;
	char *t, want[128];

	(void)state;
	plan_of(&s, &p);
	t = media_grub_cfg(&p, &s);
	assert_non_null(t);
	snprintf(want, sizeof(want),
		 "search --no-floppy --file --set=root /xboot/media-%s\n", p.id);
	has(t, want);
	has(t, "linux /xboot/vmlinuz xboot.server=http://10.0.0.1:8080 "
	       "xboot.ca=http://10.0.0.1:8080/xboot/ca.pem\n");
	has(t, "initrd /xboot/initrd.img\nboot\n");
	lacks(t, "xboot.mac");
	lacks(t, "xboot.ip");
	free(t);

	s.mac = "52:54:00:12:34:56";
	s.ip = "10.0.5.7/16";
	s.gateway = "10.0.0.254";
	s.ca = "/etc/xboot/ca.pem";
	s.enrol = "GN-gHqzKJNRRz_noAq6";
	s.kernel_args = "console=ttyS0,115200 quiet";
	plan_of(&s, &p);
	t = media_grub_cfg(&p, &s);
	has(t, "linux /xboot/vmlinuz xboot.server=http://10.0.0.1:8080 "
	       "xboot.mac=52:54:00:12:34:56 xboot.ip=10.0.5.7/16 "
	       "xboot.gw=10.0.0.254 xboot.enrol=GN-gHqzKJNRRz_noAq6 "
	       "console=ttyS0,115200 quiet\n");
	/* a CA on the medium: an initramfs of its own, no URL */
	has(t, "initrd /xboot/initrd.img /xboot/ca.img\n");
	lacks(t, "xboot.ca=");
	free(t);
}

static void test_create_errors(void **state)
{
	char err[MEDIA_ERR_MAX], dir[] = "/tmp/xboot-test-media.XXXXXX";
	char out[64], *path;
	struct media_spec s;

	(void)state;
	assert_non_null(mkdtemp(dir));

	s = good(MEDIA_FLOPPY);
	s.out = "/nonexistent-xboot-dir/boot.img";
	assert_int_equal(media_create(&s, err, sizeof(err)), -ENOENT);
	has(err, "cannot write /nonexistent-xboot-dir/boot.img");

	s.out = dir; /* a directory */
	assert_int_equal(media_create(&s, err, sizeof(err)), -EISDIR);
	has(err, "not a regular file");

	s.server = "10.0.0.1:99999";
	snprintf(out, sizeof(out), "%s/boot.img", dir);
	s.out = out;
	assert_int_equal(media_create(&s, err, sizeof(err)), -EINVAL);
	has(err, "server '10.0.0.1:99999' does not parse");

	/* no boot binaries under this root: named with their package */
	s = good(MEDIA_FLOPPY);
	s.out = out;
	s.sysroot = dir;
	if (media_create(&s, err, sizeof(err)) == 0)
		fail_msg("built without ipxe.lkrn");
	if (!strstr(err, "install the Debian package"))
		fail_msg("message: %s", err);
	if (!strstr(err, "ipxe.lkrn") && !strstr(err, "not found"))
		fail_msg("message names neither binary nor tool: %s", err);
	/* nothing left behind, not even the temporary image */
	assert_int_equal(access(out, F_OK), -1);

	/* a tool that is not there */
	path = getenv("PATH") ? strdup(getenv("PATH")) : NULL;
	setenv("PATH", "/nonexistent-xboot-dir", 1);
	s.sysroot = NULL;
	assert_int_equal(media_create(&s, err, sizeof(err)), -ENOENT);
	has(err, "install the Debian package");
	if (path) {
		setenv("PATH", path, 1);
		free(path);
	}
	assert_int_equal(rmdir(dir), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_type_names),
		cmocka_unit_test(test_bad_input),
		cmocka_unit_test(test_good_input),
		cmocka_unit_test(test_ipxe_script_dhcp),
		cmocka_unit_test(test_ipxe_script_static),
		cmocka_unit_test(test_syslinux_cfg),
		cmocka_unit_test(test_grub_cfg),
		cmocka_unit_test(test_create_errors),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
