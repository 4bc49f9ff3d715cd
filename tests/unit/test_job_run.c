// SPDX-License-Identifier: GPL-2.0
/*
 * The agent's `run` job runner against the real /bin/sh: exit codes,
 * merged stdout/stderr order, output larger than a pipe with contiguous
 * offsets, arguments, the timeout (SIGTERM to the group, SIGKILL after the
 * grace), signals as 128 + N, and clear errors for a missing shell or bad
 * arguments. Driven by one poll(2) loop, the way the agent will drive it.
 */
#include <errno.h>
#include <poll.h>
#include <setjmp.h>
#include <stdbool.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "job_run.h"

struct output {
	char *buf;
	size_t len;
	size_t cap;
};

static void output_add(struct output *o, const char *p, size_t n,
		       uint64_t off)
{
	assert_int_equal(off, o->len); /* offsets are contiguous */
	if (o->len + n + 1 > o->cap) {
		o->cap = (o->len + n + 1) * 2;
		o->buf = realloc(o->buf, o->cap);
		assert_non_null(o->buf);
	}
	memcpy(o->buf + o->len, p, n);
	o->len += n;
	o->buf[o->len] = '\0';
}

/* Reads in chunks of `chunk` bytes until the job is over; its state. */
static int run_loop(struct job_run *j, struct output *o, size_t chunk,
		    int *exit_code)
{
	uint64_t start = job_run_now_ms();
	char buf[65536];

	assert_true(chunk <= sizeof(buf));
	while (!job_run_finished(j)) {
		struct pollfd pfd[2] = {
			{ .fd = job_run_fd(j), .events = POLLIN },
			{ .fd = job_run_pidfd(j), .events = POLLIN },
		};
		int wait = job_run_poll(j, job_run_now_ms());
		uint64_t off;
		ssize_t n;

		if (job_run_finished(j))
			break;
		assert_true(poll(pfd, 2, wait) >= 0);
		while ((n = job_run_read(j, buf, chunk, &off)) > 0)
			output_add(o, buf, n, off);
		assert_true(n == 0 || n == -EAGAIN);
		assert_true(job_run_now_ms() - start < 10000);
	}
	assert_int_equal(j->out_off, o->len);
	return job_run_state(j, exit_code);
}

static int run_script(const char *script, const char *const args[],
		      int nargs, unsigned int timeout_ms, struct output *o,
		      int *exit_code)
{
	struct job_run j;
	int state;

	job_run_init(&j);
	assert_int_equal(job_run_start(&j, script, strlen(script), args,
				       nargs, timeout_ms), 0);
	state = run_loop(&j, o, 4096, exit_code);
	job_run_destroy(&j);
	return state;
}

static void test_exit_codes(void **state)
{
	struct output o = { 0 };
	int code = -1;

	assert_int_equal(run_script("exit 0\n", NULL, 0, 0, &o, &code),
			 XBA_JOB_STATE_DONE);
	assert_int_equal(code, 0);
	assert_int_equal(o.len, 0);
	assert_int_equal(run_script("echo hi; exit 3\n", NULL, 0, 5000, &o,
				    &code), XBA_JOB_STATE_FAILED);
	assert_int_equal(code, 3);
	assert_string_equal(o.buf, "hi\n");
	free(o.buf);
}

static void test_interleaved(void **state)
{
	struct output o = { 0 };
	int code;

	assert_int_equal(run_script("echo out1; echo err1 >&2; echo out2\n"
				    "echo err2 >&2; read x; echo \"r=$?\"\n",
				    NULL, 0, 5000, &o, &code),
			 XBA_JOB_STATE_DONE);
	/* stdin is /dev/null, so read fails rather than eating the script */
	assert_string_equal(o.buf, "out1\nerr1\nout2\nerr2\nr=1\n");
	free(o.buf);
}

static void test_large_output(void **state)
{
	/* 1 MiB: 16384 lines of 64 bytes, far beyond the pipe buffer */
	static const char script[] =
		"i=0; while [ $i -lt 16384 ]; do\n"
		"printf '%063d\\n' $i; i=$((i + 1)); done\n";
	struct output o = { 0 };
	struct job_run j;
	size_t i;
	int code;

	job_run_init(&j);
	assert_int_equal(job_run_start(&j, script, strlen(script), NULL, 0,
				       8000), 0);
	assert_int_equal(run_loop(&j, &o, 1000, &code), XBA_JOB_STATE_DONE);
	job_run_destroy(&j);
	assert_int_equal(o.len, 1 << 20);
	for (i = 0; i < 16384; i += 4093) {
		char want[65];

		snprintf(want, sizeof(want), "%063zu\n", i);
		assert_memory_equal(o.buf + i * 64, want, 64);
	}
	free(o.buf);
}

static void test_args(void **state)
{
	const char *const args[] = { "one", "two words", "" };
	struct output o = { 0 };
	int code;

	assert_int_equal(run_script("echo \"$#:$1:$2:$3.\"\n", args, 3, 5000,
				    &o, &code), XBA_JOB_STATE_DONE);
	assert_string_equal(o.buf, "3:one:two words:.\n");
	free(o.buf);
}

static pid_t pid_from(const struct output *o)
{
	long pid = 0;

	assert_non_null(o->buf);
	assert_int_equal(sscanf(o->buf, "child %ld", &pid), 1);
	assert_true(pid > 1);
	return pid;
}

/* Gone, or a zombie waiting for init: either way no longer running. */
static bool pid_dead(pid_t pid)
{
	char path[64], stat[256];
	FILE *f;
	bool zombie = false;

	if (kill(pid, 0) < 0)
		return true;
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	f = fopen(path, "r");
	if (!f)
		return true;
	if (fgets(stat, sizeof(stat), f)) {
		char *p = strrchr(stat, ')');

		zombie = p && (p[2] == 'Z' || p[2] == 'X');
	}
	fclose(f);
	return zombie;
}

static void test_timeout_kills_group(void **state)
{
	struct output o = { 0 };
	uint64_t start = job_run_now_ms();
	pid_t child;
	int code;

	assert_int_equal(run_script("sleep 30 & echo \"child $!\"; "
				    "sleep 30\n", NULL, 0, 300, &o, &code),
			 XBA_JOB_STATE_TIMED_OUT);
	assert_int_equal(code, 128 + SIGTERM);
	assert_true(job_run_now_ms() - start < 2000);
	child = pid_from(&o);
	/* killed and, orphaned to init (or reaped), gone soon after */
	for (int i = 0; i < 100 && !pid_dead(child); i++)
		usleep(10000);
	assert_true(pid_dead(child));
	free(o.buf);
}

static void test_ignores_sigterm(void **state)
{
	static const char script[] =
		"trap '' TERM; echo ready; "
		"while :; do sleep 0.05; done\n";
	struct output o = { 0 };
	uint64_t start = job_run_now_ms();
	struct job_run j;
	int code;

	job_run_init(&j);
	j.grace_ms = 500;
	assert_int_equal(job_run_start(&j, script, strlen(script), NULL, 0,
				       300), 0);
	assert_int_equal(run_loop(&j, &o, 4096, &code),
			 XBA_JOB_STATE_TIMED_OUT);
	assert_int_equal(code, 128 + SIGKILL);
	assert_int_equal(job_run_wire_exit_code(&j), -SIGKILL);
	assert_true(job_run_now_ms() - start >= 800);
	assert_string_equal(o.buf, "ready\n");
	job_run_destroy(&j);
	free(o.buf);
}

static void test_signal_exit(void **state)
{
	struct output o = { 0 };
	struct job_run j;
	int code;

	job_run_init(&j);
	assert_int_equal(job_run_start(&j, "kill -USR1 $$\n", 14, NULL, 0,
				       5000), 0);
	assert_int_equal(run_loop(&j, &o, 4096, &code),
			 XBA_JOB_STATE_FAILED);
	assert_int_equal(code, 128 + SIGUSR1);
	assert_int_equal(job_run_wire_exit_code(&j), -SIGUSR1);
	job_run_destroy(&j);
	free(o.buf);
}

static void test_errors(void **state)
{
	const char *const bad[] = { "a", NULL };
	const char *many[XBA_JOB_ARGS_MAX] = { 0 };
	struct job_run j;

	job_run_init(&j);
	j.shell = "/nonexistent/sh";
	assert_int_equal(job_run_start(&j, "exit 0\n", 7, NULL, 0, 0),
			 -ENOENT);
	assert_int_equal(job_run_fd(&j), -1);
	job_run_destroy(&j);

	job_run_init(&j);
	j.shell = "/dev/null"; /* not executable */
	assert_int_equal(job_run_start(&j, "exit 0\n", 7, NULL, 0, 0),
			 -EACCES);
	job_run_destroy(&j);

	job_run_init(&j);
	assert_int_equal(job_run_start(&j, NULL, 0, NULL, 0, 0), -EINVAL);
	assert_int_equal(job_run_start(&j, "", 0, bad, 2, 0), -EINVAL);
	assert_int_equal(job_run_start(&j, "", 0, NULL, 1, 0), -EINVAL);
	assert_int_equal(job_run_start(&j, "", 0, bad, -1, 0), -EINVAL);
	for (int i = 0; i < XBA_JOB_ARGS_MAX; i++)
		many[i] = "x";
	assert_int_equal(job_run_start(&j, "", 0, many, XBA_JOB_ARGS_MAX, 0),
			 -EINVAL);
	job_run_destroy(&j);
}

/* A caller that stops reading: destroy still kills, reaps and closes. */
static void test_destroy_unread(void **state)
{
	static const char script[] = "while :; do echo spam; done\n";
	struct job_run j;
	pid_t pid;

	job_run_init(&j);
	assert_int_equal(job_run_start(&j, script, strlen(script), NULL, 0,
				       0), 0);
	pid = j.pid;
	usleep(50000);
	assert_int_equal(job_run_state(&j, NULL), XBA_JOB_STATE_RUNNING);
	job_run_destroy(&j);
	assert_int_equal(kill(pid, 0), -1);
	assert_int_equal(job_run_fd(&j), -1);
	assert_int_equal(job_run_pidfd(&j), -1);
}

/*
 * The caller reads nothing until the shell has exited, and a background
 * child still holds the pipe: reaping kills it, so the drain reaches EOF.
 */
static void test_drain_after_exit(void **state)
{
	static const char script[] = "sleep 30 & echo left; exit 5\n";
	uint64_t start = job_run_now_ms();
	struct output o = { 0 };
	struct job_run j;
	char buf[256];
	uint64_t off;
	ssize_t n;
	int code;

	job_run_init(&j);
	assert_int_equal(job_run_start(&j, script, strlen(script), NULL, 0,
				       0), 0);
	while (job_run_state(&j, &code) == XBA_JOB_STATE_RUNNING) {
		struct pollfd pfd = { .fd = job_run_pidfd(&j),
				      .events = POLLIN };

		assert_true(job_run_now_ms() - start < 5000);
		/* no deadline: the pidfd says when to poll again */
		assert_int_equal(job_run_poll(&j, job_run_now_ms()), -1);
		if (job_run_state(&j, NULL) == XBA_JOB_STATE_RUNNING)
			assert_true(poll(&pfd, 1, 1000) >= 0);
	}
	assert_int_equal(code, 5);
	while ((n = job_run_read(&j, buf, sizeof(buf), &off)) != 0) {
		assert_true(n > 0 || n == -EAGAIN);
		if (n > 0)
			output_add(&o, buf, n, off);
		else
			usleep(1000);
		assert_true(job_run_now_ms() - start < 5000);
	}
	assert_true(job_run_finished(&j));
	assert_string_equal(o.buf, "left\n");
	job_run_destroy(&j);
	free(o.buf);
}

static int count_fds(void)
{
	char path[64];
	int n = 0;

	for (int fd = 0; fd < 1024; fd++) {
		snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
		n += access(path, F_OK) == 0;
	}
	return n;
}

/* Runs last: everything above closed what it opened. */
static void test_no_fd_leak(void **state)
{
	struct output o = { 0 };
	struct job_run j;
	int before = count_fds(), code;

	assert_int_equal(run_script("echo x\n", NULL, 0, 1000, &o, &code),
			 XBA_JOB_STATE_DONE);
	job_run_init(&j);
	j.shell = "/nonexistent/sh";
	assert_int_equal(job_run_start(&j, "", 0, NULL, 0, 0), -ENOENT);
	job_run_destroy(&j);
	assert_int_equal(count_fds(), before);
	free(o.buf);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_exit_codes),
		cmocka_unit_test(test_interleaved),
		cmocka_unit_test(test_large_output),
		cmocka_unit_test(test_args),
		cmocka_unit_test(test_timeout_kills_group),
		cmocka_unit_test(test_ignores_sigterm),
		cmocka_unit_test(test_signal_exit),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_destroy_unread),
		cmocka_unit_test(test_drain_after_exit),
		cmocka_unit_test(test_no_fd_leak),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
