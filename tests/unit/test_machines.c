// SPDX-License-Identifier: GPL-2.0
/*
 * The machines store: enrolment credentials (single use, expiry, bound to
 * a MAC), tokens, the classic job order and what stops it, job status
 * and the phases it moves, idempotent and capped output, the reliability
 * state, the event ring, and that all of it survives a restart and a
 * migration from a version 1 database.
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
#include <sys/stat.h>
#include <time.h>
#include <cmocka.h>
#include <json-c/json.h>
#include <sqlite3.h>

#include "log.h"
#include "machines.h"
#include "store.h"
#include "tmpdir.h"

static char tmpdir[] = "/tmp/xboot-test-machines.XXXXXX";

struct ctx {
	char dir[600];
	struct store *st;
	struct machines *m;
};

static void mac_make(uint8_t mac[6], int i)
{
	static const uint8_t base[6] = { 0x52, 0x54, 0x00, 0x00, 0x00, 0x00 };

	memcpy(mac, base, 6);
	mac[4] = i >> 8;
	mac[5] = i;
}

static void ctx_open(struct ctx *c, const char *name)
{
	snprintf(c->dir, sizeof(c->dir), "%s/%s", tmpdir, name);
	assert_int_equal(store_open(&c->st, c->dir), 0);
	assert_int_equal(machines_open(&c->m, c->st), 0);
}

static void ctx_close(struct ctx *c)
{
	machines_close(c->m);
	store_close(c->st);
}

static void ctx_reopen(struct ctx *c)
{
	ctx_close(c);
	assert_int_equal(store_open(&c->st, c->dir), 0);
	assert_int_equal(machines_open(&c->m, c->st), 0);
}

static void sql(struct ctx *c, const char *text)
{
	assert_int_equal(sqlite3_exec(store_db(c->st), text, NULL, NULL, NULL),
			 SQLITE_OK);
}

/* A string field of the machine's JSON, copied into out. */
static void machine_field(struct machines *m, const uint8_t mac[6],
			  const char *key, char *out, size_t size)
{
	struct json_object *o = machines_machine_json(m, mac), *v;

	assert_non_null(o);
	assert_true(json_object_object_get_ex(o, key, &v));
	snprintf(out, size, "%s", json_object_get_string(v));
	json_object_put(o);
}

static void assert_phase(struct machines *m, const uint8_t mac[6],
			 const char *want)
{
	char phase[32];

	machine_field(m, mac, "phase", phase, sizeof(phase));
	if (strcmp(phase, want))
		fail_msg("phase %s, want %s", phase, want);
}

static void assert_job_state(struct machines *m, uint64_t id, int state)
{
	struct job_rec j;

	assert_int_equal(machines_job_get(m, id, &j), 0);
	if (j.state != state)
		fail_msg("job %llu is %s, want %s", (unsigned long long)id,
			 job_state_name(j.state), job_state_name(state));
	job_rec_free(&j);
}

static uint64_t add_run(struct machines *m, const uint8_t mac[6], int step)
{
	const char *args[] = { "echo hello" };
	uint64_t id = 0;

	assert_int_equal(machines_job_add(m, mac, XBA_JOB_RUN, step, 30, args,
					  1, &id), 0);
	assert_true(id > 0);
	return id;
}

static void status(struct machines *m, const uint8_t mac[6], uint64_t id,
		   uint8_t state, int exit_code)
{
	struct agent_job_status st = { .id = id, .state = state };

	if (exit_code >= 0) {
		st.has_exit_code = true;
		st.exit_code = exit_code;
	}
	assert_int_equal(machines_job_status(m, mac, &st), 0);
}

/* Sends the machine's next job, expecting id, and runs it to state. */
static void run_next(struct machines *m, const uint8_t mac[6], uint64_t id,
		     uint32_t seq, uint8_t state)
{
	struct job_rec j;

	assert_int_equal(machines_job_next(m, mac, &j), 0);
	assert_int_equal(j.id, id);
	job_rec_free(&j);
	assert_int_equal(machines_job_sent(m, id, seq), 0);
	status(m, mac, id, XBA_JOB_STATE_ACCEPTED, -1);
	status(m, mac, id, state, state == XBA_JOB_STATE_DONE ? 0 : 1);
}

static void test_names(void **state)
{
	assert_string_equal(machine_phase_name(MPHASE_BOOTENV), "boot-env");
	assert_string_equal(job_state_name(JOB_TIMED_OUT), "timed-out");
	assert_string_equal(job_type_name(XBA_JOB_POWEROFF), "poweroff");
	assert_int_equal(job_type_from_name("kexec"), XBA_JOB_KEXEC);
	assert_int_equal(job_type_from_name("nope"), -EINVAL);
	assert_int_equal(job_step_from_name("post"), JOB_STEP_POST);
	assert_int_equal(job_step_from_name(NULL), -EINVAL);
	assert_int_equal(job_type_default_step(XBA_JOB_RUN), JOB_STEP_PRE);
	assert_int_equal(job_type_default_step(XBA_JOB_IMAGE_DEPLOY),
			 JOB_STEP_IMAGE);
	assert_int_equal(job_type_default_step(XBA_JOB_REBOOT),
			 JOB_STEP_FINAL);
	assert_true(job_state_finished(JOB_CANCELLED));
	assert_false(job_state_finished(JOB_RUNNING));
}

static void test_enrol(void **state)
{
	uint8_t macs[3][XBA_MAC_LEN], out[6];
	char cred[MACHINES_CRED_TEXT_MAX], old[MACHINES_CRED_TEXT_MAX];
	int64_t expires = 0;
	struct ctx c;
	size_t i;

	ctx_open(&c, "enrol");
	mac_make(macs[0], 1);
	mac_make(macs[1], 2);
	mac_make(macs[2], 3);

	assert_int_equal(machines_enrol_mint(c.m, macs[0], 0, cred, &expires),
			 0);
	assert_int_equal(strlen(cred), 32);
	for (i = 0; i < strlen(cred); i++)
		assert_non_null(strchr("ABCDEFGHIJKLMNOPQRSTUVWXYZ"
				       "abcdefghijklmnopqrstuvwxyz0123456789-_",
				       cred[i]));
	assert_true(expires > time(NULL) + MACHINES_ENROL_TTL_S - 10);
	/* another machine presenting it: refused, and not used up */
	assert_int_equal(machines_enrol_redeem(c.m, (uint8_t *)cred,
					       strlen(cred), &macs[1], 2, out),
			 -ENOENT);
	assert_int_equal(machines_enrol_redeem(c.m, (uint8_t *)cred,
					       strlen(cred), macs, 2, out), 0);
	assert_memory_equal(out, macs[0], 6);
	/* single use */
	assert_int_equal(machines_enrol_redeem(c.m, (uint8_t *)cred,
					       strlen(cred), macs, 1, out),
			 -EALREADY);
	/* one byte off, or a prefix: unknown */
	cred[5] ^= 1;
	assert_int_equal(machines_enrol_redeem(c.m, (uint8_t *)cred,
					       strlen(cred), macs, 1, out),
			 -ENOENT);
	assert_int_equal(machines_enrol_redeem(c.m, (uint8_t *)cred, 31, macs,
					       1, out), -ENOENT);
	assert_int_equal(machines_enrol_redeem(c.m, (uint8_t *)cred, 0, macs,
					       1, out), -ENOENT);

	/* a newer credential for the MAC replaces the unused older one */
	assert_int_equal(machines_enrol_mint(c.m, macs[1], 60, old, NULL), 0);
	assert_int_equal(machines_enrol_mint(c.m, macs[1], 60, cred, NULL), 0);
	assert_string_not_equal(old, cred);
	assert_int_equal(machines_enrol_redeem(c.m, (uint8_t *)old,
					       strlen(old), &macs[1], 1, out),
			 -ENOENT);
	assert_int_equal(machines_enrol_redeem(c.m, (uint8_t *)cred,
					       strlen(cred), &macs[1], 2, out),
			 0);
	assert_memory_equal(out, macs[1], 6);

	/* a short-lived credential (a script's) leaves a longer-lived one
	 * (a boot medium's) usable; a second long one replaces the first */
	assert_int_equal(machines_enrol_mint(c.m, macs[0], 86400, old, NULL), 0);
	assert_int_equal(machines_enrol_mint(c.m, macs[0], 60, cred, NULL), 0);
	assert_int_equal(machines_enrol_redeem(c.m, (uint8_t *)old,
					       strlen(old), &macs[0], 1, out),
			 0);
	assert_int_equal(machines_enrol_mint(c.m, macs[0], 86400, old, NULL), 0);
	assert_int_equal(machines_enrol_mint(c.m, macs[0], 86400, cred, NULL), 0);
	assert_int_equal(machines_enrol_redeem(c.m, (uint8_t *)old,
					       strlen(old), &macs[0], 1, out),
			 -ENOENT);

	/* expired */
	assert_int_equal(machines_enrol_mint(c.m, macs[2], 60, cred, NULL), 0);
	sql(&c, "UPDATE enrolments SET expires = 1 WHERE used_at = 0");
	assert_int_equal(machines_enrol_redeem(c.m, (uint8_t *)cred,
					       strlen(cred), &macs[2], 1, out),
			 -ENOENT);
	ctx_close(&c);
}

static void test_token(void **state)
{
	uint8_t tok[XBA_TOKEN_LEN], tok2[XBA_TOKEN_LEN], zero[XBA_TOKEN_LEN];
	uint8_t macs[2][XBA_MAC_LEN], out[6];
	struct ctx c;

	ctx_open(&c, "token");
	mac_make(macs[0], 1);
	mac_make(macs[1], 2);
	memset(zero, 0, sizeof(zero));
	assert_int_equal(machines_token_issue(c.m, macs[0], tok), 0);
	assert_memory_not_equal(tok, zero, sizeof(zero));
	assert_int_equal(machines_token_check(c.m, tok, macs, 1, out), 0);
	assert_memory_equal(out, macs[0], 6);
	/* held by a machine that does not have its MAC */
	assert_int_equal(machines_token_check(c.m, tok, &macs[1], 1, out),
			 -EPERM);
	assert_int_equal(machines_token_check(c.m, zero, macs, 2, out),
			 -ENOENT);
	/* a second machine's token is its own */
	assert_int_equal(machines_token_issue(c.m, macs[1], tok2), 0);
	assert_int_equal(machines_token_check(c.m, tok2, &macs[1], 1, out), 0);
	assert_memory_equal(out, macs[1], 6);
	/* reissue replaces */
	memcpy(tok2, tok, sizeof(tok));
	assert_int_equal(machines_token_issue(c.m, macs[0], tok), 0);
	assert_int_equal(machines_token_check(c.m, tok2, macs, 1, out),
			 -ENOENT);
	assert_int_equal(machines_token_check(c.m, tok, macs, 1, out), 0);
	assert_int_equal(machines_token_revoke(c.m, macs[0]), 0);
	assert_int_equal(machines_token_check(c.m, tok, macs, 1, out),
			 -ENOENT);
	ctx_close(&c);
}

static void test_job_add_invalid(void **state)
{
	const char *args[] = { "true" };
	uint8_t mac[6];
	uint64_t id;
	struct ctx c;

	ctx_open(&c, "invalid");
	mac_make(mac, 1);
	assert_int_equal(machines_job_add(c.m, mac, 0, 0, 0, args, 1, &id),
			 -EINVAL);
	assert_int_equal(machines_job_add(c.m, mac, __XBA_JOB_LAST, 0, 0, args,
					  1, &id), -EINVAL);
	assert_int_equal(machines_job_add(c.m, mac, XBA_JOB_RUN,
					  __JOB_STEP_MAX, 0, args, 1, &id),
			 -EINVAL);
	assert_int_equal(machines_job_add(c.m, mac, XBA_JOB_RUN, JOB_STEP_PRE,
					  0, NULL, 0, &id), -EINVAL);
	assert_int_equal(machines_job_add(c.m, mac, XBA_JOB_RUN, JOB_STEP_PRE,
					  0, args, XBA_JOB_ARGS_MAX + 1, &id),
			 -EINVAL);
	/* step 0: the type's own */
	assert_int_equal(machines_job_add(c.m, mac, XBA_JOB_REBOOT, 0, 0, NULL,
					  0, &id), 0);
	assert_int_equal(machines_job_get(c.m, id + 1, &(struct job_rec){ 0 }),
			 -ENOENT);
	ctx_close(&c);
}

static void test_job_sequence(void **state)
{
	uint64_t reboot, post, pre1, image, pre2, id;
	const char *img[] = { "http://x/img", "/dev/sda" };
	struct job_rec j;
	uint8_t mac[6];
	struct ctx c;

	ctx_open(&c, "sequence");
	mac_make(mac, 1);
	assert_int_equal(machines_job_next(c.m, mac, &j), -ENOENT);
	assert_int_equal(machines_job_add(c.m, mac, XBA_JOB_REBOOT,
					  JOB_STEP_FINAL, 0, NULL, 0, &reboot),
			 0);
	post = add_run(c.m, mac, JOB_STEP_POST);
	pre1 = add_run(c.m, mac, JOB_STEP_PRE);
	assert_int_equal(machines_job_add(c.m, mac, XBA_JOB_IMAGE_DEPLOY,
					  JOB_STEP_IMAGE, 600, img, 2, &image),
			 0);
	pre2 = add_run(c.m, mac, JOB_STEP_PRE);

	assert_int_equal(machines_job_next(c.m, mac, &j), 0);
	assert_int_equal(j.id, pre1);
	assert_int_equal(j.step, JOB_STEP_PRE);
	assert_int_equal(j.nargs, 1);
	assert_string_equal(j.args[0], "echo hello");
	assert_int_equal(j.timeout_s, 30);
	job_rec_free(&j);
	assert_int_equal(machines_job_sent(c.m, pre1, 1), 0);
	assert_job_state(c.m, pre1, JOB_SENT);
	/* one at a time, even for a job added to an earlier step */
	assert_int_equal(machines_job_next(c.m, mac, &j), -EBUSY);
	id = add_run(c.m, mac, JOB_STEP_PRE);
	assert_int_equal(machines_job_next(c.m, mac, &j), -EBUSY);
	assert_int_equal(machines_job_cancel(c.m, id), 0);
	status(c.m, mac, pre1, XBA_JOB_STATE_DONE, 0);

	run_next(c.m, mac, pre2, 2, XBA_JOB_STATE_DONE);
	assert_int_equal(machines_job_next(c.m, mac, &j), 0);
	assert_int_equal(j.id, image);
	assert_int_equal(j.nargs, 2);
	assert_string_equal(j.args[1], "/dev/sda");
	job_rec_free(&j);
	run_next(c.m, mac, image, 3, XBA_JOB_STATE_DONE);
	/* a failed job stops the sequence until retried */
	run_next(c.m, mac, post, 4, XBA_JOB_STATE_FAILED);
	assert_job_state(c.m, post, JOB_FAILED);
	assert_int_equal(machines_job_next(c.m, mac, &j), -ECANCELED);
	assert_phase(c.m, mac, "failed");
	assert_int_equal(machines_job_retry(c.m, post), 0);
	assert_job_state(c.m, post, JOB_QUEUED);
	assert_int_equal(machines_job_get(c.m, post, &j), 0);
	assert_int_equal(j.seq, 0);
	assert_false(j.has_exit_code);
	assert_int_equal(j.finished, 0);
	job_rec_free(&j);
	assert_int_equal(machines_job_retry(c.m, post), -EALREADY);
	/* timed out, then skipped by cancelling it */
	run_next(c.m, mac, post, 5, XBA_JOB_STATE_TIMED_OUT);
	assert_int_equal(machines_job_next(c.m, mac, &j), -ECANCELED);
	assert_int_equal(machines_job_cancel(c.m, post), 0);
	assert_job_state(c.m, post, JOB_CANCELLED);
	assert_int_equal(machines_job_cancel(c.m, post), -EALREADY);
	assert_int_equal(machines_job_cancel(c.m, pre1), -EALREADY);
	assert_int_equal(machines_job_next(c.m, mac, &j), 0);
	assert_int_equal(j.id, reboot);
	job_rec_free(&j);
	/* cancel a queued one: nothing left */
	assert_int_equal(machines_job_cancel(c.m, reboot), 0);
	assert_int_equal(machines_job_next(c.m, mac, &j), -ENOENT);
	assert_int_equal(machines_job_cancel(c.m, 9999), -ENOENT);
	ctx_close(&c);
}

static void test_job_status_phases(void **state)
{
	struct agent_job_status st = { 0 };
	struct in_addr ip = { .s_addr = htonl(0x0a000005) };
	uint8_t mac[6], other[6];
	uint64_t id, id2;
	struct job_rec j;
	char text[64];
	struct ctx c;

	ctx_open(&c, "status");
	mac_make(mac, 1);
	mac_make(other, 2);
	assert_int_equal(machines_phase(c.m, mac, MPHASE_OFFERED, NULL, &ip),
			 0);
	assert_phase(c.m, mac, "offered");
	machine_field(c.m, mac, "ip", text, sizeof(text));
	assert_string_equal(text, "10.0.0.5");
	assert_int_equal(machines_set_connected(c.m, mac, true, &ip), 0);
	assert_int_equal(machines_phase(c.m, mac, MPHASE_AGENT, "connected",
					NULL), 0);
	/* a DHCP renewal from the boot environment is not news */
	assert_int_equal(machines_phase(c.m, mac, MPHASE_BOUND, NULL, &ip), 0);
	assert_phase(c.m, mac, "agent");

	id = add_run(c.m, mac, JOB_STEP_PRE);
	id2 = add_run(c.m, mac, JOB_STEP_POST);
	assert_int_equal(machines_job_sent(c.m, id, 1), 0);
	assert_phase(c.m, mac, "running");
	machine_field(c.m, mac, "phase_detail", text, sizeof(text));
	assert_string_equal(text, "job 1 run");
	/* the status of another machine's job, or of no job */
	st.id = id;
	st.state = XBA_JOB_STATE_RUNNING;
	assert_int_equal(machines_job_status(c.m, other, &st), -ENOENT);
	st.id = 999;
	assert_int_equal(machines_job_status(c.m, mac, &st), -ENOENT);
	st.id = id;
	st.state = 77;
	assert_int_equal(machines_job_status(c.m, mac, &st), -EINVAL);

	status(c.m, mac, id, XBA_JOB_STATE_ACCEPTED, -1);
	assert_int_equal(machines_job_get(c.m, id, &j), 0);
	assert_int_equal(j.state, JOB_ACCEPTED);
	assert_true(j.started > 0);
	assert_int_equal(j.finished, 0);
	job_rec_free(&j);
	status(c.m, mac, id, XBA_JOB_STATE_RUNNING, -1);
	assert_job_state(c.m, id, JOB_RUNNING);
	assert_phase(c.m, mac, "running");
	st.state = XBA_JOB_STATE_DONE;
	st.has_exit_code = true;
	st.exit_code = 0;
	st.has_output_bytes = true;
	st.output_bytes = 11;
	assert_int_equal(machines_job_status(c.m, mac, &st), 0);
	assert_int_equal(machines_job_get(c.m, id, &j), 0);
	assert_int_equal(j.state, JOB_DONE);
	assert_true(j.finished >= j.started);
	assert_true(j.has_exit_code);
	assert_int_equal(j.exit_code, 0);
	assert_int_equal(j.output_bytes, 11);
	job_rec_free(&j);
	/* another job is queued: idle, not done */
	assert_phase(c.m, mac, "agent");
	/* a finished job's status is ignored */
	st.state = XBA_JOB_STATE_FAILED;
	assert_int_equal(machines_job_status(c.m, mac, &st), 0);
	assert_job_state(c.m, id, JOB_DONE);

	assert_int_equal(machines_job_sent(c.m, id2, 2), 0);
	assert_int_equal(machines_job_sent(c.m, id2, 2), 0); /* again */
	assert_int_equal(machines_job_sent(c.m, id2, 3), -EALREADY);
	status(c.m, mac, id2, XBA_JOB_STATE_DONE, 0);
	assert_phase(c.m, mac, "done");
	machine_field(c.m, mac, "phase_detail", text, sizeof(text));
	assert_string_equal(text, "job 2 run: done, exit 0");

	/* a failure, then an agent that restarted abandons what it had */
	id = add_run(c.m, mac, JOB_STEP_PRE);
	assert_phase(c.m, mac, "agent");
	assert_int_equal(machines_job_sent(c.m, id, 3), 0);
	st.id = id;
	st.state = XBA_JOB_STATE_FAILED;
	st.exit_code = 2;
	snprintf(st.text, sizeof(st.text), "disk full");
	assert_int_equal(machines_job_status(c.m, mac, &st), 0);
	assert_phase(c.m, mac, "failed");
	machine_field(c.m, mac, "phase_detail", text, sizeof(text));
	assert_string_equal(text, "job 3 run: failed, exit 2: disk full");
	assert_int_equal(machines_job_retry(c.m, id), 0);
	assert_int_equal(machines_job_sent(c.m, id, 4), 0);
	assert_int_equal(machines_jobs_abandon(c.m, mac, "agent restarted"),
			 1);
	assert_int_equal(machines_jobs_abandon(c.m, mac, "again"), 0);
	assert_int_equal(machines_job_get(c.m, id, &j), 0);
	assert_int_equal(j.state, JOB_FAILED);
	assert_string_equal(j.reason, "agent restarted");
	job_rec_free(&j);
	assert_phase(c.m, mac, "failed");
	/* the new agent connects: still stopped by the failed job */
	assert_int_equal(machines_phase(c.m, mac, MPHASE_AGENT, "connected",
					NULL), 0);
	assert_phase(c.m, mac, "failed");
	ctx_close(&c);
}

static void output(struct machines *m, const uint8_t mac[6], uint64_t id,
		   uint64_t off, const char *data, int want)
{
	struct agent_job_output o = {
		.id = id, .offset = off, .data = (const uint8_t *)data,
		.len = strlen(data),
	};

	assert_int_equal(machines_job_output(m, mac, &o), want);
}

static void read_expect(struct machines *m, uint64_t id, uint64_t off,
			size_t max, const char *want)
{
	uint8_t *buf;
	size_t len;

	assert_int_equal(machines_job_output_read(m, id, off, max, &buf, &len),
			 0);
	assert_int_equal(len, strlen(want));
	assert_memory_equal(buf, want, len);
	free(buf);
}

static void test_output(void **state)
{
	uint8_t mac[6], other[6], *buf;
	struct job_rec j;
	struct ctx c;
	uint64_t id;
	size_t len;

	ctx_open(&c, "output");
	mac_make(mac, 1);
	mac_make(other, 2);
	id = add_run(c.m, mac, JOB_STEP_PRE);
	output(c.m, mac, id, 0, "hello", 0);
	output(c.m, mac, id, 5, " world", 0);
	output(c.m, mac, id, 0, "hello", 0); /* resent: stored once */
	output(c.m, other, id, 11, "!", -ENOENT);
	output(c.m, mac, 9999, 0, "x", -ENOENT);
	assert_int_equal(machines_job_get(c.m, id, &j), 0);
	assert_int_equal(j.output_stored, 11);
	job_rec_free(&j);
	read_expect(c.m, id, 0, 100, "hello world");
	read_expect(c.m, id, 3, 4, "lo w");
	read_expect(c.m, id, 7, 100, "orld");
	read_expect(c.m, id, 11, 100, "");
	assert_int_equal(machines_job_output_read(c.m, 9999, 0, 10, &buf,
						  &len), -ENOENT);

	/* the cap: past it dropped, across it cut */
	output(c.m, mac, id, MACHINES_OUTPUT_MAX, "dropped", 0);
	output(c.m, mac, id, MACHINES_OUTPUT_MAX - 3, "abcdef", 0);
	assert_int_equal(machines_job_get(c.m, id, &j), 0);
	assert_int_equal(j.output_stored, 14);
	job_rec_free(&j);
	read_expect(c.m, id, MACHINES_OUTPUT_MAX - 3, 100, "abc");
	read_expect(c.m, id, MACHINES_OUTPUT_MAX - 1, 100, "c");
	read_expect(c.m, id, MACHINES_OUTPUT_MAX, 100, "");
	/* a gap reads as the end */
	read_expect(c.m, id, 0, 100, "hello world");
	read_expect(c.m, id, 20, 100, "");

	/* a retry starts the output afresh */
	assert_int_equal(machines_job_sent(c.m, id, 1), 0);
	status(c.m, mac, id, XBA_JOB_STATE_FAILED, 1);
	assert_int_equal(machines_job_retry(c.m, id), 0);
	assert_int_equal(machines_job_get(c.m, id, &j), 0);
	assert_int_equal(j.output_stored, 0);
	job_rec_free(&j);
	ctx_close(&c);
}

struct unacked {
	uint64_t ids[8];
	int n;
};

static int unacked_fn(const struct job_rec *j, void *arg)
{
	struct unacked *u = arg;

	u->ids[u->n++] = j->id;
	return 0;
}

static void test_session(void **state)
{
	struct machine_session s, s2;
	struct unacked u = { .n = 0 };
	uint64_t a, b, d;
	uint8_t mac[6];
	struct ctx c;

	ctx_open(&c, "session");
	mac_make(mac, 1);
	assert_int_equal(machines_session_get(c.m, mac, &s), 0);
	assert_false(s.has_boot_id);
	assert_int_equal(s.tx_seq + s.acked_seq + s.rx_seq, 0);
	memset(&s, 0, sizeof(s));
	s.has_boot_id = true;
	memset(s.boot_id, 0xab, sizeof(s.boot_id));
	s.tx_seq = 0xfffffff0U;
	s.acked_seq = 4;
	s.rx_seq = 3;
	assert_int_equal(machines_session_put(c.m, mac, &s), 0);
	assert_int_equal(machines_session_get(c.m, mac, &s2), 0);
	assert_memory_equal(&s, &s2, sizeof(s));

	/* JOBs to resend: in flight, after the agent's resume point, in
	 * seq order */
	a = add_run(c.m, mac, JOB_STEP_PRE);
	b = add_run(c.m, mac, JOB_STEP_PRE);
	d = add_run(c.m, mac, JOB_STEP_PRE);
	assert_int_equal(machines_job_sent(c.m, a, 7), 0);
	status(c.m, mac, a, XBA_JOB_STATE_DONE, 0);
	assert_int_equal(machines_job_sent(c.m, d, 8), 0);
	assert_int_equal(machines_job_sent(c.m, b, 9), 0);
	assert_int_equal(machines_job_foreach_unacked(c.m, mac, 6, unacked_fn,
						      &u), 0);
	assert_int_equal(u.n, 2);
	assert_int_equal(u.ids[0], d);
	assert_int_equal(u.ids[1], b);
	u.n = 0;
	assert_int_equal(machines_job_foreach_unacked(c.m, mac, 8, unacked_fn,
						      &u), 0);
	assert_int_equal(u.n, 1);
	assert_int_equal(u.ids[0], b);
	ctx_close(&c);
}

static int64_t jint(struct json_object *o, const char *key)
{
	struct json_object *v;

	assert_true(json_object_object_get_ex(o, key, &v));
	return json_object_get_int64(v);
}

static void test_events(void **state)
{
	struct json_object *o, *evs, *e, *v;
	uint8_t mac[6];
	char detail[32];
	struct ctx c;
	uint64_t base;
	int i, n = MACHINES_EVENTS + 10;

	ctx_open(&c, "events");
	mac_make(mac, 1);
	base = machines_event_seq(c.m);
	assert_int_equal(base, 0);
	assert_int_equal(machines_phase(c.m, mac, MPHASE_OFFERED, NULL, NULL),
			 0);
	/* unchanged: no event */
	assert_int_equal(machines_phase(c.m, mac, MPHASE_OFFERED, NULL, NULL),
			 0);
	assert_int_equal(machines_event_seq(c.m), 1);
	o = machines_events_json(c.m, 0, 10);
	assert_int_equal(jint(o, "seq"), 1);
	assert_int_equal(jint(o, "lost"), 0);
	assert_true(json_object_object_get_ex(o, "events", &evs));
	assert_int_equal(json_object_array_length(evs), 1);
	e = json_object_array_get_idx(evs, 0);
	assert_true(json_object_object_get_ex(e, "mac", &v));
	assert_string_equal(json_object_get_string(v), "52:54:00:00:00:01");
	assert_true(json_object_object_get_ex(e, "phase", &v));
	assert_string_equal(json_object_get_string(v), "offered");
	json_object_put(o);

	store_begin(c.st);
	for (i = 0; i < n; i++) {
		snprintf(detail, sizeof(detail), "file %d", i);
		assert_int_equal(machines_phase(c.m, mac, MPHASE_BOOT_FILE,
						detail, NULL), 0);
	}
	assert_int_equal(store_commit(c.st), 0);
	assert_int_equal(machines_event_seq(c.m), n + 1);
	/* the first 11 fell off the ring */
	o = machines_events_json(c.m, 0, 3);
	assert_int_equal(jint(o, "lost"), n + 1 - MACHINES_EVENTS);
	assert_true(json_object_object_get_ex(o, "events", &evs));
	assert_int_equal(json_object_array_length(evs), 3);
	e = json_object_array_get_idx(evs, 0);
	assert_int_equal(jint(e, "seq"), n + 2 - MACHINES_EVENTS);
	assert_true(json_object_object_get_ex(e, "detail", &v));
	assert_string_equal(json_object_get_string(v), "file 10");
	assert_int_equal(jint(o, "seq"), n + 4 - MACHINES_EVENTS);
	json_object_put(o);
	/* caught up */
	o = machines_events_json(c.m, n + 1, 100);
	assert_int_equal(jint(o, "seq"), n + 1);
	assert_true(json_object_object_get_ex(o, "events", &evs));
	assert_int_equal(json_object_array_length(evs), 0);
	json_object_put(o);
	/* a client of an earlier run (seq from before a restart) */
	o = machines_events_json(c.m, n + 1000, 1);
	assert_int_equal(jint(o, "lost"), n + 1 - MACHINES_EVENTS);
	json_object_put(o);
	ctx_close(&c);
}

static void sample_inventory(struct agent_inventory *inv)
{
	memset(inv, 0, sizeof(*inv));
	strcpy(inv->vendor, "QEMU");
	strcpy(inv->product, "Standard PC");
	strcpy(inv->serial, "S123");
	inv->cpus = 4;
	inv->memory_bytes = 2ULL << 30;
	inv->n_nics = 1;
	mac_make(inv->nics[0].mac, 1);
	strcpy(inv->nics[0].name, "eth0");
	inv->nics[0].speed_mbps = 1000;
	inv->n_disks = 2;
	strcpy(inv->disks[0].name, "vda");
	inv->disks[0].size = 8ULL << 30;
	inv->disks[0].rotational = -1;
	strcpy(inv->disks[1].name, "sda");
	inv->disks[1].size = 1ULL << 30;
	strcpy(inv->disks[1].model, "QEMU HARDDISK");
	inv->disks[1].rotational = 1;
}

/* Everything written, a restart, and everything found again. */
static void test_restart(void **state)
{
	struct agent_inventory inv;
	struct agent_hello h = { 0 };
	struct machine_session s = { .tx_seq = 5, .rx_seq = 9 }, s2;
	uint8_t tok[XBA_TOKEN_LEN], macs[1][XBA_MAC_LEN], out[6];
	struct json_object *o, *v, *inv_o, *disks, *jobs;
	char cred[MACHINES_CRED_TEXT_MAX], text[64];
	struct job_rec j;
	struct ctx c;
	uint64_t id;

	ctx_open(&c, "restart");
	mac_make(macs[0], 1);
	sample_inventory(&inv);
	assert_int_equal(machines_enrol_mint(c.m, macs[0], 0, cred, NULL), 0);
	assert_int_equal(machines_token_issue(c.m, macs[0], tok), 0);
	assert_int_equal(machines_session_put(c.m, macs[0], &s), 0);
	assert_int_equal(machines_inventory_put(c.m, macs[0], &inv), 0);
	strcpy(h.agent_version, "xboot-agent 1.0");
	h.has_uuid = true;
	for (id = 0; id < XBA_UUID_LEN; id++)
		h.uuid[id] = id;
	assert_int_equal(machines_hello_put(c.m, macs[0], &h), 0);
	id = add_run(c.m, macs[0], JOB_STEP_PRE);
	assert_int_equal(machines_job_sent(c.m, id, 5), 0);
	status(c.m, macs[0], id, XBA_JOB_STATE_RUNNING, -1);
	output(c.m, macs[0], id, 0, "partial", 0);

	ctx_reopen(&c);
	assert_int_equal(machines_token_check(c.m, tok, macs, 1, out), 0);
	assert_int_equal(machines_enrol_redeem(c.m, (uint8_t *)cred,
					       strlen(cred), macs, 1, out), 0);
	assert_int_equal(machines_session_get(c.m, macs[0], &s2), 0);
	assert_int_equal(s2.tx_seq, 5);
	assert_int_equal(s2.rx_seq, 9);
	assert_int_equal(machines_job_get(c.m, id, &j), 0);
	assert_int_equal(j.state, JOB_RUNNING);
	assert_int_equal(j.seq, 5);
	assert_int_equal(j.output_stored, 7);
	job_rec_free(&j);
	read_expect(c.m, id, 0, 100, "partial");
	assert_phase(c.m, macs[0], "running");
	/* the agent resumes its session: its job is still running */
	assert_int_equal(machines_phase(c.m, macs[0], MPHASE_AGENT,
					"agent connected", NULL), 0);
	assert_phase(c.m, macs[0], "running");

	o = machines_machine_json(c.m, macs[0]);
	assert_non_null(o);
	assert_int_equal(jint(o, "cpus"), 4);
	assert_int_equal(jint(o, "memory_bytes"), 2LL << 30);
	assert_int_equal(jint(o, "disks"), 2);
	assert_true(json_object_object_get_ex(o, "vendor", &v));
	assert_string_equal(json_object_get_string(v), "QEMU");
	assert_true(json_object_object_get_ex(o, "inventory", &inv_o));
	assert_true(json_object_object_get_ex(inv_o, "system_uuid", &v));
	assert_string_equal(json_object_get_string(v),
			    "00010203-0405-0607-0809-0a0b0c0d0e0f");
	assert_true(json_object_object_get_ex(inv_o, "agent_version", &v));
	assert_string_equal(json_object_get_string(v), "xboot-agent 1.0");
	assert_true(json_object_object_get_ex(inv_o, "disks", &disks));
	assert_int_equal(json_object_array_length(disks), 2);
	v = json_object_array_get_idx(disks, 1);
	assert_int_equal(jint(v, "size"), 1LL << 30);
	assert_true(json_object_object_get_ex(v, "rotational", &v));
	assert_true(json_object_get_boolean(v));
	assert_true(json_object_object_get_ex(o, "jobs", &jobs));
	assert_int_equal(json_object_array_length(jobs), 1);
	v = json_object_array_get_idx(jobs, 0);
	assert_true(json_object_object_get_ex(v, "state", &v));
	assert_string_equal(json_object_get_string(v), "running");
	json_object_put(o);

	o = machines_list_json(c.m);
	assert_true(json_object_object_get_ex(o, "machines", &v));
	assert_int_equal(json_object_array_length(v), 1);
	v = json_object_array_get_idx(v, 0);
	assert_true(json_object_object_get_ex(v, "jobs", &jobs));
	assert_int_equal(jint(jobs, "running"), 1);
	assert_true(json_object_object_get_ex(v, "job", &v));
	assert_int_equal(jint(v, "id"), id);
	json_object_put(o);

	o = machines_jobs_json(c.m, NULL);
	assert_true(json_object_object_get_ex(o, "jobs", &jobs));
	assert_int_equal(json_object_array_length(jobs), 1);
	v = json_object_array_get_idx(jobs, 0);
	assert_int_equal(jint(v, "output_stored"), 7);
	assert_true(json_object_object_get_ex(v, "mac", &v));
	snprintf(text, sizeof(text), "%s", json_object_get_string(v));
	assert_string_equal(text, "52:54:00:00:00:01");
	json_object_put(o);
	assert_null(machines_machine_json(c.m, (uint8_t[6]){ 1 }));
	ctx_close(&c);
}

struct leases {
	int n;
	struct lease_rec rec;
};

static int lease_fn(const struct lease_rec *rec, void *arg)
{
	struct leases *l = arg;

	l->rec = *rec;
	l->n++;
	return 0;
}

/* A database written by a schema version 1 xbootd keeps its leases. */
static void test_migration(void **state)
{
	char dir[700], path[760], text[64];
	struct leases l = { 0 };
	struct ctx c;
	sqlite3 *db;
	int version = 0;
	sqlite3_stmt *s;

	snprintf(dir, sizeof(dir), "%s/v1", tmpdir);
	snprintf(path, sizeof(path), "%s/xboot.db", dir);
	assert_int_equal(mkdir(dir, 0700), 0);
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db,
		"CREATE TABLE leases (ip INTEGER PRIMARY KEY,"
		" mac BLOB NOT NULL,"
		" state INTEGER NOT NULL, expires INTEGER NOT NULL,"
		" hostname TEXT NOT NULL DEFAULT '', client_id BLOB);"
		"CREATE INDEX leases_mac ON leases(mac);"
		"INSERT INTO leases VALUES (167772170,"
		" x'525400000001', 2, 1900000000, 'node1', NULL);"
		"PRAGMA user_version=1;", NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);

	ctx_open(&c, "v1");
	assert_int_equal(store_lease_foreach(c.st, lease_fn, &l), 0);
	assert_int_equal(l.n, 1);
	assert_int_equal(ntohl(l.rec.ip.s_addr), 167772170);
	assert_string_equal(l.rec.hostname, "node1");
	assert_int_equal(sqlite3_prepare_v2(store_db(c.st),
					    "PRAGMA user_version", -1, &s,
					    NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(s), SQLITE_ROW);
	version = sqlite3_column_int(s, 0);
	sqlite3_finalize(s);
	assert_int_equal(version, 2);
	/* the machine the lease names: its address and hostname show */
	add_run(c.m, l.rec.mac, JOB_STEP_PRE);
	machine_field(c.m, l.rec.mac, "hostname", text, sizeof(text));
	assert_string_equal(text, "node1");
	machine_field(c.m, l.rec.mac, "ip", text, sizeof(text));
	assert_string_equal(text, "10.0.0.10");
	ctx_close(&c);
}

static int setup(void **state)
{
	log_level = LOG_LVL_ERR - 1;
	return tmpdir_make(tmpdir);
}

static int teardown(void **state)
{
	return tmpdir_remove(tmpdir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_enrol),
		cmocka_unit_test(test_token),
		cmocka_unit_test(test_job_add_invalid),
		cmocka_unit_test(test_job_sequence),
		cmocka_unit_test(test_job_status_phases),
		cmocka_unit_test(test_output),
		cmocka_unit_test(test_session),
		cmocka_unit_test(test_events),
		cmocka_unit_test(test_restart),
		cmocka_unit_test(test_migration),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
