// SPDX-License-Identifier: GPL-2.0
/*
 * The small shared helpers of userspace/lib: hex text (both ways, and a
 * table of strings hex_decode() must refuse), byte counts for people, the
 * job type names, and whole writes.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <sys/wait.h>
#include <cmocka.h>

#include "fd_io.h"
#include "hex.h"
#include "job_names.h"
#include "units.h"
#include "xboot/agent.h"

static void test_hex_roundtrip(void **state)
{
	const uint8_t in[] = { 0x00, 0x01, 0x7f, 0x80, 0xab, 0xff };
	uint8_t out[sizeof(in)];
	char text[2 * sizeof(in) + 1];

	(void)state;
	hex_encode(text, in, sizeof(in));
	assert_string_equal(text, "00017f80abff");
	assert_int_equal(hex_decode(out, text, sizeof(out)), 0);
	assert_memory_equal(out, in, sizeof(in));
	/* upper case is read too; only lower case is written */
	assert_int_equal(hex_decode(out, "00017F80ABFF", sizeof(out)), 0);
	assert_memory_equal(out, in, sizeof(in));
	hex_encode(text, in, 0);
	assert_string_equal(text, "");
}

static void test_hex_bad(void **state)
{
	/* each must be refused as 3 bytes, without reading past its NUL */
	static const char *const bad[] = {
		"", "0", "00", "0000", "00000", "00000g", "g00000",
		" 00000", "0x0000", "00 000", "-10000", "+10000",
	};
	uint8_t out[3];
	unsigned int i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(hex_decode(out, bad[i], sizeof(out)), -EINVAL);
	assert_int_equal(hex_digit('f'), 15);
	assert_int_equal(hex_digit('G'), -1);
	assert_int_equal(hex_digit('\0'), -1);
}

static void test_human_bytes(void **state)
{
	char buf[32];

	(void)state;
	human_bytes(buf, sizeof(buf), 0);
	assert_string_equal(buf, "0 B");
	human_bytes(buf, sizeof(buf), 1023);
	assert_string_equal(buf, "1023 B");
	human_bytes(buf, sizeof(buf), 1536);
	assert_string_equal(buf, "1.5 KiB");
	human_bytes(buf, sizeof(buf), 4.0 * (1ULL << 30));
	assert_string_equal(buf, "4.0 GiB");
	human_bytes(buf, sizeof(buf), 2048.0 * (1ULL << 40));
	assert_string_equal(buf, "2048.0 TiB");
}

static void test_job_names(void **state)
{
	int t;

	(void)state;
	for (t = 0; t < __XBA_JOB_LAST; t++) {
		if (!strcmp(xba_job_type_name(t), "unknown"))
			continue;
		assert_int_equal(xba_job_type_from_name(xba_job_type_name(t)),
				 t);
	}
	assert_string_equal(xba_job_type_name(XBA_JOB_IMAGE_DEPLOY),
			    "image-deploy");
	assert_string_equal(xba_job_type_name(-1), "unknown");
	assert_string_equal(xba_job_type_name(__XBA_JOB_LAST), "unknown");
	assert_int_equal(xba_job_type_from_name("nope"), -EINVAL);
	assert_int_equal(xba_job_type_from_name(NULL), -EINVAL);
}

static void test_write_full(void **state)
{
	static uint8_t big[256 << 10], back[sizeof(big)];
	size_t got = 0;
	ssize_t n;
	int fd[2];
	pid_t pid;
	int status;

	(void)state;
	memset(big, 0x5a, sizeof(big));
	assert_int_equal(pipe(fd), 0);
	/* larger than a pipe: the writes come back short */
	pid = fork();
	assert_true(pid >= 0);
	if (!pid) {
		close(fd[0]);
		_exit(write_full(fd[1], big, sizeof(big)) ? 1 : 0);
	}
	close(fd[1]);
	while ((n = read(fd[0], back + got, sizeof(back) - got)) > 0)
		got += n;
	close(fd[0]);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	assert_int_equal(got, sizeof(big));
	assert_memory_equal(back, big, sizeof(big));
	assert_int_equal(write_full(-1, big, 1), -EBADF);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_hex_roundtrip),
		cmocka_unit_test(test_hex_bad),
		cmocka_unit_test(test_human_bytes),
		cmocka_unit_test(test_job_names),
		cmocka_unit_test(test_write_full),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
