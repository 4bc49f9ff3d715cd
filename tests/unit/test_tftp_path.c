// SPDX-License-Identifier: GPL-2.0
/*
 * The TFTP path sanitizer with a table of hostile names, and opening
 * beneath the root in a scratch tree: symlinks out of it refused, symlinks
 * inside it followed, directories and FIFOs refused, the client's MAC
 * directory tried before the shared file.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "tftp_path.h"

struct name_case {
	const char *name;
	int err;
	const char *want; /* the cleaned path when err is 0 */
};

static void test_clean_table(void **state)
{
	static const struct name_case cases[] = {
		{ "pxelinux.0", 0, "pxelinux.0" },
		{ "/pxelinux.0", 0, "pxelinux.0" },
		{ "//boot//x", 0, "boot//x" },
		{ "a/./b", 0, "a/./b" },
		{ "..foo", 0, "..foo" },
		{ "foo..", 0, "foo.." },
		{ "a/...", 0, "a/..." },
		{ "../etc/passwd", -EACCES, NULL },
		{ "a/../../x", -EACCES, NULL },
		{ "a/..", -EACCES, NULL },
		{ "..", -EACCES, NULL },
		{ "/../x", -EACCES, NULL },
		{ "/etc/passwd", 0, "etc/passwd" }, /* relative to the root */
		{ "a\tb", -EACCES, NULL },
		{ "a\nb", -EACCES, NULL },
		{ "a\x7f", -EACCES, NULL },
		{ "a\x1b[2J", -EACCES, NULL },
		{ "", -EINVAL, NULL },
		{ "/", -EINVAL, NULL },
		{ "///", -EINVAL, NULL },
	};
	char out[512];
	size_t i;
	int ret;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		ret = tftp_path_clean(cases[i].name, out, sizeof(out));
		if (ret != cases[i].err)
			fail_msg("'%s': %d, want %d", cases[i].name, ret,
				 cases[i].err);
		if (!ret)
			assert_string_equal(out, cases[i].want);
	}
}

static void test_clean_long(void **state)
{
	char name[PATH_MAX + 10], out[64];

	(void)state;
	memset(name, 'a', sizeof(name) - 1);
	name[sizeof(name) - 1] = '\0';
	assert_int_equal(tftp_path_clean(name, out, sizeof(out)),
			 -ENAMETOOLONG);
	/* "a\0b" arrives as "a": the NUL ends the name on the wire */
	assert_int_equal(tftp_path_clean("a\0b", out, sizeof(out)), 0);
	assert_string_equal(out, "a");
}

static char tmp[64];

static int tree_setup(void **state)
{
	char p[PATH_MAX];
	FILE *f;

	(void)state;
	strcpy(tmp, "/tmp/xbt-tftp-path.XXXXXX");
	if (!mkdtemp(tmp))
		return -1;
#define MK(fmt, ...) snprintf(p, sizeof(p), fmt, tmp, ##__VA_ARGS__)
	MK("%s/root");
	mkdir(p, 0755);
	MK("%s/root/sub");
	mkdir(p, 0755);
	MK("%s/root/52-54-00-aa-bb-07");
	mkdir(p, 0755);
	MK("%s/secret");
	f = fopen(p, "w");
	fputs("secret\n", f);
	fclose(f);
	MK("%s/root/shared");
	f = fopen(p, "w");
	fputs("shared\n", f);
	fclose(f);
	MK("%s/root/52-54-00-aa-bb-07/shared");
	f = fopen(p, "w");
	fputs("mine\n", f);
	fclose(f);
	MK("%s/root/escape_abs");
	symlink("/etc/passwd", p);
	MK("%s/root/sub/escape_rel");
	symlink("../../secret", p);
	MK("%s/root/inside");
	symlink("sub/../shared", p);
	MK("%s/root/fifo");
	mkfifo(p, 0644);
	return 0;
}

static int tree_teardown(void **state)
{
	char cmd[128];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmp);
	return system(cmd) ? -1 : 0;
}

static int rootfd(void)
{
	char p[PATH_MAX];

	snprintf(p, sizeof(p), "%s/root", tmp);
	return open(p, O_PATH | O_DIRECTORY | O_CLOEXEC);
}

static void expect_content(int fd, const char *want)
{
	char buf[64] = "";
	ssize_t n;

	assert_true(fd >= 0);
	n = read(fd, buf, sizeof(buf) - 1);
	assert_true(n >= 0);
	assert_string_equal(buf, want);
	close(fd);
}

static void test_open(void **state)
{
	static const uint8_t mac[6] = { 0x52, 0x54, 0, 0xaa, 0xbb, 0x07 };
	static const uint8_t other[6] = { 0x52, 0x54, 0, 0xaa, 0xbb, 0x08 };
	int root = rootfd();

	(void)state;
	assert_true(root >= 0);
	expect_content(tftp_path_open(root, NULL, "shared"), "shared\n");
	expect_content(tftp_path_open(root, mac, "shared"), "mine\n");
	expect_content(tftp_path_open(root, other, "shared"), "shared\n");
	expect_content(tftp_path_open(root, NULL, "inside"), "shared\n");
	assert_int_equal(tftp_path_open(root, NULL, "escape_abs"), -EACCES);
	assert_int_equal(tftp_path_open(root, NULL, "sub/escape_rel"),
			 -EACCES);
	assert_int_equal(tftp_path_open(root, NULL, "nosuch"), -ENOENT);
	assert_int_equal(tftp_path_open(root, mac, "nosuch"), -ENOENT);
	assert_int_equal(tftp_path_open(root, NULL, "sub"), -EACCES);
	assert_int_equal(tftp_path_open(root, NULL, "fifo"), -EACCES);
	assert_int_equal(tftp_path_open(root, NULL, "shared/x"), -ENOTDIR);
	close(root);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_clean_table),
		cmocka_unit_test(test_clean_long),
		cmocka_unit_test_setup_teardown(test_open, tree_setup,
						tree_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
