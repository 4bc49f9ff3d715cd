// SPDX-License-Identifier: GPL-2.0
/*
 * The agent's job queue and the execution of each job type (jobs.h). A job
 * leaves a trace of reliable frames: JOB_STATUS accepted when it arrives,
 * running when it starts, its output in JOB_OUTPUT chunks at their byte
 * offsets, and a final JOB_STATUS; all of it waits in the session queue
 * until the controller has committed it.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/reboot.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <linux/kexec.h>

#include "agent_log.h"
#include "http_get.h"
#include "jobs.h"

#define JOBS_FBUF_LEN (128U << 10)
#define JOBS_READ_BUDGET 32 /* output chunks per tick, so ACKs get read */

static const char *const type_names[] = {
	[XBA_JOB_RUN] = "run",
	[XBA_JOB_REBOOT] = "reboot",
	[XBA_JOB_POWEROFF] = "poweroff",
	[XBA_JOB_KEXEC] = "kexec",
	[XBA_JOB_IMAGE_DEPLOY] = "image-deploy",
	[XBA_JOB_IMAGE_CAPTURE] = "image-capture",
};

const char *jobs_type_name(uint16_t type)
{
	if (type < sizeof(type_names) / sizeof(type_names[0]) &&
	    type_names[type])
		return type_names[type];
	return "unknown";
}

int jobs_init(struct jobs *j, struct sess *s, bool power_real)
{
	memset(j, 0, sizeof(*j));
	j->sess = s;
	j->power_real = power_real;
	j->fetch_pidfd = -1;
	j->fetch_err = -1;
	j->kernel_fd = -1;
	j->initrd_fd = -1;
	job_run_init(&j->run);
	j->fbuf = malloc(JOBS_FBUF_LEN);
	j->obuf = malloc(XBA_ATTR_VALUE_MAX);
	if (!j->fbuf || !j->obuf)
		return -ENOMEM;
	return 0;
}

static void job_free(struct job *job)
{
	unsigned int i;

	if (!job)
		return;
	for (i = 0; i < job->n_args; i++)
		free(job->args[i]);
	free(job);
}

static void close_fd(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

static void fetch_reset(struct jobs *j)
{
	if (j->fetch_pid > 0) {
		kill(j->fetch_pid, SIGKILL);
		waitpid(j->fetch_pid, NULL, 0);
	}
	j->fetch_pid = 0;
	close_fd(&j->fetch_pidfd);
	close_fd(&j->fetch_err);
	close_fd(&j->kernel_fd);
	close_fd(&j->initrd_fd);
}

void jobs_free(struct jobs *j)
{
	struct job *job, *next;

	job_run_destroy(&j->run);
	fetch_reset(j);
	job_free(j->cur);
	for (job = j->head; job; job = next) {
		next = job->next;
		job_free(job);
	}
	free(j->fbuf);
	free(j->obuf);
	memset(j, 0, sizeof(*j));
}

/* Queues a finished frame from fbuf: its seq, or 0 when out of memory. */
static uint32_t queue_frame(struct jobs *j, struct agent_msg *m, uint32_t seq)
{
	ssize_t len = agent_msg_finish(m);

	if (len < 0 || sess_queue(j->sess, j->fbuf, len)) {
		/* cannot happen with our sizes; say so rather than hang */
		agent_log("cannot queue a frame: %s",
			  strerror(len < 0 ? (int)-len : ENOMEM));
		return 0;
	}
	return seq;
}

struct status {
	uint8_t state;
	bool has_exit;
	int32_t exit_code;
	bool has_bytes;
	uint64_t bytes;
	const char *text;
};

static uint32_t send_status(struct jobs *j, uint64_t id,
			    const struct status *st)
{
	struct agent_job_status s = {
		.id = id,
		.state = st->state,
		.has_exit_code = st->has_exit,
		.exit_code = st->exit_code,
		.has_output_bytes = st->has_bytes,
		.output_bytes = st->bytes,
	};
	uint32_t seq = sess_next_seq(j->sess);
	struct agent_msg m;

	if (st->text)
		snprintf(s.text, sizeof(s.text), "%s", st->text);
	agent_msg_init(&m, j->fbuf, JOBS_FBUF_LEN, XBA_MSG_JOB_STATUS, 0, seq);
	agent_build_job_status(&m, &s);
	return queue_frame(j, &m, seq);
}

static uint32_t job_state(struct jobs *j, const struct job *job,
			  uint8_t state)
{
	static const char *const names[] = {
		[XBA_JOB_STATE_ACCEPTED] = "accepted",
		[XBA_JOB_STATE_RUNNING] = "running",
		[XBA_JOB_STATE_DONE] = "done",
	};

	agent_log("job %llu %s: %s", (unsigned long long)job->id,
		  jobs_type_name(job->type), names[state]);
	return send_status(j, job->id, &(struct status){ .state = state });
}

static uint32_t job_failed(struct jobs *j, const struct job *job,
			   const char *why)
{
	agent_log("job %llu %s: failed: %s", (unsigned long long)job->id,
		  jobs_type_name(job->type), why);
	return send_status(j, job->id, &(struct status){
		.state = XBA_JOB_STATE_FAILED, .text = why });
}

/*
 * Is this job queued or running? A JOB frame sent again (a controller
 * resending after a reconnect) is caught by its seq already; this catches
 * the same job arriving in a new frame while the first is not finished.
 * A finished job's id may come back: that is the operator's retry.
 */
static bool pending(const struct jobs *j, uint64_t id)
{
	const struct job *job;

	if (j->cur && j->cur->id == id)
		return true;
	for (job = j->head; job; job = job->next)
		if (job->id == id)
			return true;
	return false;
}

/* Why the agent cannot run this job, or NULL when it can. */
static const char *job_check(const struct agent_job *a)
{
	switch (a->type) {
	case XBA_JOB_RUN:
		return a->n_args ? NULL : "run job without a script";
	case XBA_JOB_REBOOT:
	case XBA_JOB_POWEROFF:
		return NULL;
	case XBA_JOB_KEXEC:
		return a->n_args == 3 ? NULL :
		       "kexec job needs kernel, initrd and cmdline";
	default:
		return "job type not supported by this agent";
	}
}

static struct job *job_copy(const struct agent_job *a)
{
	struct job *job = calloc(1, sizeof(*job));
	unsigned int i;

	if (!job)
		return NULL;
	job->id = a->id;
	job->type = a->type;
	job->timeout_s = a->timeout_s;
	for (i = 0; i < a->n_args; i++) {
		job->args[i] = strdup(a->args[i]);
		if (!job->args[i]) {
			job_free(job);
			return NULL;
		}
		job->n_args = i + 1;
	}
	return job;
}

int jobs_receive(struct jobs *j, const struct agent_job *a, uint64_t now)
{
	struct job tmp = { .id = a->id, .type = a->type };
	const char *why;
	struct job *job;

	if (pending(j, a->id)) {
		agent_log("job %llu %s: queued or running already, not again",
			  (unsigned long long)a->id, jobs_type_name(a->type));
		return 0;
	}
	why = job_check(a);
	if (why) {
		job_failed(j, &tmp, why);
		return 0;
	}
	job = job_copy(a);
	if (!job) {
		job_failed(j, &tmp, "out of memory");
		return -ENOMEM;
	}
	job_state(j, job, XBA_JOB_STATE_ACCEPTED);
	if (j->tail)
		j->tail->next = job;
	else
		j->head = job;
	j->tail = job;
	jobs_tick(j, now);
	return 0;
}

/* --- run jobs ----------------------------------------------------------- */

static void run_start(struct jobs *j, uint64_t now)
{
	struct job *job = j->cur;
	char why[128];
	int err;

	job_run_init(&j->run);
	err = job_run_start(&j->run, job->args[0], strlen(job->args[0]),
			    (const char *const *)job->args + 1,
			    job->n_args - 1, job->timeout_s * 1000U);
	if (err) {
		snprintf(why, sizeof(why), "cannot start the script: %s",
			 strerror(-err));
		job_failed(j, job, why);
		job_free(j->cur);
		j->cur = NULL;
		return;
	}
	job_state(j, job, XBA_JOB_STATE_RUNNING);
}

static void run_output(struct jobs *j)
{
	struct agent_job_output o = { .id = j->cur->id, .data = j->obuf };
	struct agent_msg m;
	uint64_t off;
	uint32_t seq;
	ssize_t n;
	int budget;

	for (budget = JOBS_READ_BUDGET; budget; budget--) {
		if (sess_queue_full(j->sess))
			return; /* backpressure: the job waits on its pipe */
		n = job_run_read(&j->run, j->obuf, XBA_ATTR_VALUE_MAX, &off);
		if (n <= 0)
			return;
		if (off >= JOBS_OUTPUT_MAX)
			continue; /* counted in OUTPUT_BYTES, not sent */
		if ((uint64_t)n > JOBS_OUTPUT_MAX - off)
			n = JOBS_OUTPUT_MAX - off;
		o.offset = off;
		o.len = n;
		seq = sess_next_seq(j->sess);
		agent_msg_init(&m, j->fbuf, JOBS_FBUF_LEN, XBA_MSG_JOB_OUTPUT,
			       0, seq);
		agent_build_job_output(&m, &o);
		queue_frame(j, &m, seq);
	}
}

static void run_finish(struct jobs *j)
{
	struct job *job = j->cur;
	struct status st = {
		.state = job_run_state(&j->run, NULL),
		.has_exit = true,
		.exit_code = job_run_wire_exit_code(&j->run),
		.has_bytes = true,
		.bytes = j->run.out_off,
	};
	const char *what = st.state == XBA_JOB_STATE_DONE ? "done" :
			   st.state == XBA_JOB_STATE_TIMED_OUT ? "timed out" :
			   "failed";

	if (st.state == XBA_JOB_STATE_TIMED_OUT)
		st.text = "timed out";
	agent_log("job %llu run: %s exit %d, %llu output bytes",
		  (unsigned long long)job->id, what, st.exit_code,
		  (unsigned long long)st.bytes);
	send_status(j, job->id, &st);
	job_run_destroy(&j->run);
	job_run_init(&j->run);
	job_free(job);
	j->cur = NULL;
}

static int run_tick(struct jobs *j, uint64_t now)
{
	int wait;

	run_output(j);
	wait = job_run_poll(&j->run, now);
	if (job_run_finished(&j->run)) {
		run_finish(j);
		return 0;
	}
	return wait;
}

/* --- power jobs --------------------------------------------------------- */

static void power_arm(struct jobs *j, uint16_t type, uint32_t seq,
		      uint64_t now)
{
	j->power = type;
	j->power_seq = seq;
	j->power_deadline = now + JOBS_POWER_ACK_MS;
}

static void power_start(struct jobs *j, uint64_t now)
{
	uint32_t seq = job_state(j, j->cur, XBA_JOB_STATE_DONE);

	power_arm(j, j->cur->type, seq, now);
	job_free(j->cur);
	j->cur = NULL;
}

uint16_t jobs_power_due(const struct jobs *j, uint64_t now)
{
	if (!j->power)
		return 0;
	if (j->sess->acked_seq >= j->power_seq || now >= j->power_deadline)
		return j->power;
	return 0;
}

int jobs_power_act(struct jobs *j)
{
	int cmd = j->power == XBA_JOB_POWEROFF ? RB_POWER_OFF :
		  j->power == XBA_JOB_KEXEC ? RB_KEXEC : RB_AUTOBOOT;

	if (!j->power_real)
		return 0;
	sync();
	if (reboot(cmd))
		return -errno;
	return 0;
}

/* --- kexec jobs --------------------------------------------------------- */

static bool is_url(const char *s)
{
	return !strncmp(s, "http://", 7);
}

/* An fd with the file's bytes: opened, or a memfd the fetch fills. */
static int kexec_source(const char *what, const char *src, bool *fetch,
			char *why, size_t whylen)
{
	int fd;

	if (is_url(src)) {
		fd = memfd_create(what, MFD_CLOEXEC);
		*fetch = true;
	} else if (src[0] == '/') {
		fd = open(src, O_RDONLY | O_CLOEXEC);
	} else {
		snprintf(why, whylen, "%s: not an absolute path or http:// URL",
			 what);
		return -EINVAL;
	}
	if (fd < 0)
		snprintf(why, whylen, "%s: %s: %s", what, src, strerror(errno));
	return fd < 0 ? -errno : fd;
}

/* The child: fills the memfds from their URLs, says why it failed. */
static void __attribute__((noreturn)) kexec_fetch_child(struct jobs *j,
							int err_fd)
{
	const char *what[2] = { "kernel", "initrd" };
	int fds[2] = { j->kernel_fd, j->initrd_fd };
	char why[200], msg[256];
	int i;

	for (i = 0; i < 2; i++) {
		if (!is_url(j->cur->args[i]))
			continue;
		if (http_get(j->cur->args[i], fds[i], JOBS_FETCH_MS, why,
			     sizeof(why)) < 0) {
			snprintf(msg, sizeof(msg), "%s: %s: %s", what[i],
				 j->cur->args[i], why);
			if (write(err_fd, msg, strlen(msg)) < 0)
				_exit(2);
			_exit(1);
		}
	}
	_exit(0);
}

static void kexec_fail(struct jobs *j, const char *why)
{
	job_failed(j, j->cur, why);
	fetch_reset(j);
	job_free(j->cur);
	j->cur = NULL;
}

/* The files are there: load them (unless --power=exit), arm the kexec. */
static void kexec_load(struct jobs *j, uint64_t now)
{
	const char *cmdline = j->cur->args[2];
	unsigned long flags = j->initrd_fd < 0 ? KEXEC_FILE_NO_INITRAMFS : 0;
	char why[160];
	uint32_t seq;

	lseek(j->kernel_fd, 0, SEEK_SET);
	if (j->initrd_fd >= 0)
		lseek(j->initrd_fd, 0, SEEK_SET);
	if (j->power_real &&
	    syscall(SYS_kexec_file_load, j->kernel_fd, j->initrd_fd,
		    strlen(cmdline) + 1, cmdline, flags)) {
		snprintf(why, sizeof(why), "kexec_file_load: %s",
			 strerror(errno));
		kexec_fail(j, why);
		return;
	}
	fetch_reset(j);
	seq = job_state(j, j->cur, XBA_JOB_STATE_DONE);
	power_arm(j, XBA_JOB_KEXEC, seq, now);
	job_free(j->cur);
	j->cur = NULL;
}

static void kexec_start(struct jobs *j, uint64_t now)
{
	struct job *job = j->cur;
	bool fetch = false;
	char why[200];
	int pfd[2];

	job_state(j, job, XBA_JOB_STATE_RUNNING);
	j->kernel_fd = kexec_source("kernel", job->args[0], &fetch, why,
				    sizeof(why));
	if (j->kernel_fd < 0)
		goto err;
	if (job->args[1][0]) {
		j->initrd_fd = kexec_source("initrd", job->args[1], &fetch,
					    why, sizeof(why));
		if (j->initrd_fd < 0)
			goto err;
	}
	if (!fetch) {
		kexec_load(j, now);
		return;
	}
	if (pipe2(pfd, O_CLOEXEC | O_NONBLOCK)) {
		snprintf(why, sizeof(why), "pipe: %s", strerror(errno));
		goto err;
	}
	j->fetch_pid = fork();
	if (j->fetch_pid == 0) {
		close(pfd[0]);
		kexec_fetch_child(j, pfd[1]);
	}
	close(pfd[1]);
	j->fetch_err = pfd[0];
	if (j->fetch_pid < 0) {
		j->fetch_pid = 0;
		snprintf(why, sizeof(why), "fork: %s", strerror(errno));
		goto err;
	}
	j->fetch_pidfd = syscall(SYS_pidfd_open, j->fetch_pid, 0);
	return;
err:
	kexec_fail(j, why);
}

static int kexec_tick(struct jobs *j, uint64_t now)
{
	char why[256];
	ssize_t n;
	int status;
	pid_t r;

	if (!j->fetch_pid)
		return -1;
	r = waitpid(j->fetch_pid, &status, WNOHANG);
	if (r == 0)
		/* without a pidfd (old kernel), look again soon */
		return j->fetch_pidfd < 0 ? 100 : -1;
	j->fetch_pid = 0;
	if (r > 0 && WIFEXITED(status) && WEXITSTATUS(status) == 0) {
		kexec_load(j, now);
		return 0;
	}
	n = read(j->fetch_err, why, sizeof(why) - 1);
	why[n > 0 ? n : 0] = 0;
	kexec_fail(j, n > 0 ? why : "fetching the files failed");
	return 0;
}

/* --- the queue ---------------------------------------------------------- */

static void start_next(struct jobs *j, uint64_t now)
{
	while (!j->cur && !j->power && j->head) {
		j->cur = j->head;
		j->head = j->cur->next;
		if (!j->head)
			j->tail = NULL;
		j->cur->next = NULL;
		switch (j->cur->type) {
		case XBA_JOB_RUN:
			run_start(j, now);
			break;
		case XBA_JOB_KEXEC:
			kexec_start(j, now);
			break;
		default:
			power_start(j, now);
			break;
		}
	}
}

int jobs_tick(struct jobs *j, uint64_t now)
{
	int wait = -1;

	if (j->cur && j->cur->type == XBA_JOB_RUN)
		wait = run_tick(j, now);
	else if (j->cur && j->cur->type == XBA_JOB_KEXEC)
		wait = kexec_tick(j, now);
	if (!j->cur) {
		start_next(j, now);
		/* a new run job may have output at once: come back */
		if (j->cur)
			wait = 0;
	}
	if (j->power) {
		int left = j->power_deadline > now ?
			   (int)(j->power_deadline - now) : 0;

		wait = wait < 0 || left < wait ? left : wait;
	}
	return wait;
}

int jobs_pollfds(const struct jobs *j, struct pollfd *p)
{
	int n = 0;

	if (j->cur && j->cur->type == XBA_JOB_RUN) {
		if (job_run_fd(&j->run) >= 0 && !sess_queue_full(j->sess))
			p[n++] = (struct pollfd){ .fd = job_run_fd(&j->run),
						  .events = POLLIN };
		if (job_run_pidfd(&j->run) >= 0)
			p[n++] = (struct pollfd){ .fd = job_run_pidfd(&j->run),
						  .events = POLLIN };
	}
	if (j->fetch_pidfd >= 0)
		p[n++] = (struct pollfd){ .fd = j->fetch_pidfd,
					  .events = POLLIN };
	return n;
}
