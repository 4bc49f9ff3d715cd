// SPDX-License-Identifier: GPL-2.0
/*
 * The agent's job queue (userspace/agent/jobs.c) against a real session
 * queue: the frames a run job leaves (accepted, running, output at its
 * offsets, the final status with exit code and size), one job at a time,
 * a job sent again while queued, refused job types, a power job waiting
 * for the ACK of its status, kexec failures with their reason, and the
 * output left in the pipe while the send queue is full.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "jobs.h"

struct sent {
	int n;
	uint8_t type[64];
	struct agent_job_status st[64];
	uint64_t out_off[64];
	size_t out_len[64];
	char out[4096];
	size_t out_total;	/* all jobs' output, concatenated */
	size_t job_base;	/* where the current job's output starts */
};

/* Everything queued so far, decoded; the controller "ACKs" all of it. */
static void collect(struct sess *s, struct sent *out)
{
	struct agent_job_output o;
	struct agent_frame f;
	struct sess_frame *fr;
	int i;

	memset(out, 0, sizeof(*out));
	for (fr = s->head; fr; fr = fr->next) {
		assert_int_equal(agent_frame_parse(fr->data, fr->len, &f),
				 (ssize_t)fr->len);
		i = out->n++;
		assert_true(i < 64);
		out->type[i] = f.type;
		if (f.type == XBA_MSG_JOB_STATUS) {
			assert_int_equal(agent_parse_job_status(&f, &out->st[i]),
					 0);
		} else {
			assert_int_equal(f.type, XBA_MSG_JOB_OUTPUT);
			assert_int_equal(agent_parse_job_output(&f, &o), 0);
			out->out_off[i] = o.offset;
			out->out_len[i] = o.len;
			/* chunks in order; jobs one after the other */
			if (!o.offset)
				out->job_base = out->out_total;
			assert_int_equal(out->job_base + o.offset,
					 out->out_total);
			if (out->out_total + o.len <= sizeof(out->out))
				memcpy(out->out + out->out_total, o.data,
				       o.len);
			out->out_total += o.len;
		}
	}
}

/* Ticks until no job is running (bounded), as the event loop would. */
static void run_until_idle(struct jobs *j)
{
	uint64_t end = job_run_now_ms() + 10000;

	do {
		jobs_tick(j, job_run_now_ms());
		if (!j->cur && !j->head)
			return;
		usleep(2000);
	} while (job_run_now_ms() < end);
	fail_msg("jobs still running after 10 s");
}

static void job_of(struct agent_job *a, uint64_t id, uint16_t type,
		   unsigned int n, const char *const *args)
{
	unsigned int i;

	memset(a, 0, sizeof(*a));
	a->id = id;
	a->type = type;
	a->n_args = n;
	for (i = 0; i < n; i++)
		a->args[i] = args[i];
}

static void test_run_job(void **state)
{
	static const char *const args[] = { "echo out; echo err >&2; "
					    "printf %s \"$1\"; exit 7",
					    "arg1" };
	struct agent_job a;
	struct sent w;
	struct sess s;
	struct jobs j;

	(void)state;
	sess_init(&s);
	assert_int_equal(jobs_init(&j, &s, false), 0);
	job_of(&a, 42, XBA_JOB_RUN, 2, args);
	assert_int_equal(jobs_receive(&j, &a, job_run_now_ms()), 0);
	run_until_idle(&j);
	collect(&s, &w);
	assert_true(w.n >= 4);
	assert_int_equal(w.type[0], XBA_MSG_JOB_STATUS);
	assert_int_equal(w.st[0].id, 42);
	assert_int_equal(w.st[0].state, XBA_JOB_STATE_ACCEPTED);
	assert_int_equal(w.st[1].state, XBA_JOB_STATE_RUNNING);
	assert_int_equal(w.type[w.n - 1], XBA_MSG_JOB_STATUS);
	assert_int_equal(w.st[w.n - 1].state, XBA_JOB_STATE_FAILED);
	assert_true(w.st[w.n - 1].has_exit_code);
	assert_int_equal(w.st[w.n - 1].exit_code, 7);
	assert_true(w.st[w.n - 1].has_output_bytes);
	assert_int_equal(w.st[w.n - 1].output_bytes, 12);
	assert_int_equal(w.out_total, 12);
	assert_memory_equal(w.out, "out\nerr\narg1", 12);
	/* seqs are 1, 2, 3, ... in the order queued */
	assert_int_equal(s.head->seq, 1);
	assert_int_equal(s.tail->seq, (uint32_t)w.n);
	jobs_free(&j);
	sess_free(&s);
}

static void test_queue_and_duplicates(void **state)
{
	static const char *const slow[] = { "sleep 0.2; echo one" };
	static const char *const fast[] = { "echo two" };
	struct agent_job a;
	struct sent w;
	struct sess s;
	struct jobs j;
	int i, done = 0;

	(void)state;
	sess_init(&s);
	assert_int_equal(jobs_init(&j, &s, false), 0);
	job_of(&a, 1, XBA_JOB_RUN, 1, slow);
	jobs_receive(&j, &a, job_run_now_ms());
	/* the same job again while it runs: ignored */
	jobs_receive(&j, &a, job_run_now_ms());
	job_of(&a, 2, XBA_JOB_RUN, 1, fast);
	jobs_receive(&j, &a, job_run_now_ms());
	/* and while it waits its turn */
	jobs_receive(&j, &a, job_run_now_ms());
	run_until_idle(&j);
	collect(&s, &w);
	/* accepted 1, running 1, accepted 2, output 1, done 1, running 2,
	 * output 2, done 2: job 2 starts only after job 1 is done */
	for (i = 0; i < w.n; i++) {
		if (w.type[i] != XBA_MSG_JOB_STATUS)
			continue;
		if (w.st[i].state == XBA_JOB_STATE_DONE)
			done++;
		if (w.st[i].id == 2 && w.st[i].state == XBA_JOB_STATE_RUNNING)
			assert_int_equal(done, 1);
		if (w.st[i].state == XBA_JOB_STATE_ACCEPTED)
			assert_true(w.st[i].id == 1 ? i == 0 : i == 2);
	}
	assert_int_equal(done, 2);
	assert_int_equal(w.out_total, strlen("one\ntwo\n"));
	/* a finished job sent again (a retry) runs again */
	jobs_receive(&j, &a, job_run_now_ms());
	run_until_idle(&j);
	collect(&s, &w);
	assert_int_equal(w.st[w.n - 1].id, 2);
	assert_int_equal(w.st[w.n - 1].state, XBA_JOB_STATE_DONE);
	jobs_free(&j);
	sess_free(&s);
}

static void test_refused_jobs(void **state)
{
	static const char *const kexec_args[] = { "/nonexistent/vmlinuz", "",
						  "console=ttyS0" };
	static const char *const rel[] = { "vmlinuz", "", "" };
	struct agent_job a;
	struct sent w;
	struct sess s;
	struct jobs j;

	(void)state;
	sess_init(&s);
	assert_int_equal(jobs_init(&j, &s, false), 0);
	job_of(&a, 1, XBA_JOB_IMAGE_DEPLOY, 0, NULL);
	jobs_receive(&j, &a, job_run_now_ms());
	job_of(&a, 2, 77, 0, NULL);
	jobs_receive(&j, &a, job_run_now_ms());
	job_of(&a, 3, XBA_JOB_RUN, 0, NULL);
	jobs_receive(&j, &a, job_run_now_ms());
	job_of(&a, 4, XBA_JOB_KEXEC, 1, kexec_args);
	jobs_receive(&j, &a, job_run_now_ms());
	job_of(&a, 5, XBA_JOB_KEXEC, 3, kexec_args);
	jobs_receive(&j, &a, job_run_now_ms());
	job_of(&a, 6, XBA_JOB_KEXEC, 3, rel);
	jobs_receive(&j, &a, job_run_now_ms());
	run_until_idle(&j);
	collect(&s, &w);
	assert_int_equal(w.n, 10);
	assert_int_equal(w.st[0].state, XBA_JOB_STATE_FAILED);
	assert_string_equal(w.st[0].text,
			    "job type not supported by this agent");
	assert_string_equal(w.st[1].text,
			    "job type not supported by this agent");
	assert_string_equal(w.st[2].text, "run job without a script");
	assert_string_equal(w.st[3].text,
			    "kexec job needs kernel, initrd and cmdline");
	/* 5: accepted, running, failed with the file's error */
	assert_int_equal(w.st[4].state, XBA_JOB_STATE_ACCEPTED);
	assert_int_equal(w.st[6].state, XBA_JOB_STATE_FAILED);
	assert_non_null(strstr(w.st[6].text, "/nonexistent/vmlinuz"));
	assert_non_null(strstr(w.st[6].text, "No such file"));
	assert_int_equal(w.st[9].id, 6);
	assert_non_null(strstr(w.st[9].text, "not an absolute path"));
	assert_int_equal(jobs_power_due(&j, job_run_now_ms()), 0);
	jobs_free(&j);
	sess_free(&s);
}

static void test_power_waits_for_ack(void **state)
{
	static const char *const after[] = { "echo never" };
	uint64_t now = job_run_now_ms();
	struct agent_job a;
	struct sent w;
	struct sess s;
	struct jobs j;

	(void)state;
	sess_init(&s);
	assert_int_equal(jobs_init(&j, &s, false), 0);
	job_of(&a, 9, XBA_JOB_POWEROFF, 0, NULL);
	jobs_receive(&j, &a, now);
	job_of(&a, 10, XBA_JOB_RUN, 1, after);
	jobs_receive(&j, &a, now);
	jobs_tick(&j, now);
	collect(&s, &w);
	/* accepted 9, done 9, accepted 10; 10 never starts */
	assert_int_equal(w.n, 3);
	assert_int_equal(w.st[1].state, XBA_JOB_STATE_DONE);
	assert_int_equal(j.power, XBA_JOB_POWEROFF);
	assert_null(j.cur);
	/* not before the ACK of its done status ... */
	assert_int_equal(jobs_power_due(&j, now + 10), 0);
	assert_int_equal(sess_ack(&s, 1), 0);
	assert_int_equal(jobs_power_due(&j, now + 10), 0);
	assert_int_equal(sess_ack(&s, 2), 0);
	assert_int_equal(jobs_power_due(&j, now + 10), XBA_JOB_POWEROFF);
	/* ... or the deadline */
	s.acked_seq = 0;
	assert_int_equal(jobs_power_due(&j, now + JOBS_POWER_ACK_MS),
			 XBA_JOB_POWEROFF);
	/* --power=exit: the act is a no-op that succeeds */
	assert_int_equal(jobs_power_act(&j), 0);
	jobs_free(&j);
	sess_free(&s);
}

static void test_backpressure(void **state)
{
	static const char *const args[] = { "head -c 300000 /dev/zero" };
	uint64_t end;
	struct agent_job a;
	struct sent w;
	struct sess s;
	struct jobs j;
	struct pollfd p[JOBS_POLLFDS];

	(void)state;
	sess_init(&s);
	assert_int_equal(jobs_init(&j, &s, false), 0);
	/* as if 32 MiB waited for the controller's ACK */
	s.queued_bytes += SESS_QUEUE_CAP;
	job_of(&a, 1, XBA_JOB_RUN, 1, args);
	jobs_receive(&j, &a, job_run_now_ms());
	end = job_run_now_ms() + 300;
	while (job_run_now_ms() < end) {
		jobs_tick(&j, job_run_now_ms());
		usleep(5000);
	}
	/* the output pipe is not even polled, the job is stuck writing */
	assert_non_null(j.cur);
	assert_int_equal(jobs_pollfds(&j, p), 1); /* the pidfd only */
	assert_int_equal(p[0].fd, job_run_pidfd(&j.run));
	collect(&s, &w);
	assert_int_equal(w.out_total, 0);
	/* the ACK comes: everything flows, nothing is lost */
	s.queued_bytes -= SESS_QUEUE_CAP;
	run_until_idle(&j);
	collect(&s, &w);
	assert_int_equal(w.out_total, 300000);
	assert_int_equal(w.st[w.n - 1].state, XBA_JOB_STATE_DONE);
	assert_int_equal(w.st[w.n - 1].output_bytes, 300000);
	jobs_free(&j);
	sess_free(&s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_run_job),
		cmocka_unit_test(test_queue_and_duplicates),
		cmocka_unit_test(test_refused_jobs),
		cmocka_unit_test(test_power_waits_for_ack),
		cmocka_unit_test(test_backpressure),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
