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
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/reboot.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <linux/kexec.h>

#include "agent_log.h"
#include "hex.h"
#include "http_get.h"
#include "image_http.h"
#include "image_job.h"
#include "jobs.h"
#include "job_names.h"
#include "units.h"

#define JOBS_FBUF_LEN (128U << 10)
#define JOBS_READ_BUDGET 32 /* output chunks per tick, so ACKs get read */

const char *jobs_type_name(uint16_t type)
{
	return xba_job_type_name(type);
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
	/* an image job's last argument is its key */
	for (i = 0; i < job->n_args; i++) {
		explicit_bzero(job->args[i], strlen(job->args[i]));
		free(job->args[i]);
	}
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

static void image_run_free(struct image_run *r);

void jobs_free(struct jobs *j)
{
	struct job *job, *next;

	job_run_destroy(&j->run);
	fetch_reset(j);
	image_run_free(j->img);
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
	case XBA_JOB_IMAGE_DEPLOY:
		return a->n_args == IMAGE_HTTP_JOB_ARGS + 2 ? NULL :
		       "image-deploy job needs image, disk, URL and key";
	case XBA_JOB_IMAGE_CAPTURE:
		return a->n_args == IMAGE_HTTP_JOB_ARGS + 2 ? NULL :
		       "image-capture job needs disk, name, URL and key";
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

static void image_rekey(struct jobs *j, const struct agent_job *a);

int jobs_receive(struct jobs *j, const struct agent_job *a, uint64_t now)
{
	struct job tmp = { .id = a->id, .type = a->type };
	const char *why;
	struct job *job;

	if (pending(j, a->id)) {
		image_rekey(j, a);
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

/* --- image jobs --------------------------------------------------------- */

/*
 * An image job's transfer (include/xboot/image_http.h). The engine asks
 * for chunks (deploy) or hands them on (capture); one HTTP connection
 * carries them, a request at a time. A lost connection is not a failure:
 * the transfer starts again from what xbootd has (capture) or what the
 * engine still needs (deploy), until JOBS_IMAGE_RETRY_MS pass without a
 * single answer.
 */
#define IMG_FETCH_MAX 64	/* chunks asked for and not yet requested */
#define IMG_BATCH_MAX (32U << 20) /* frame bytes in one Range request */
#define IMG_WORKERS_MAX 4U

enum img_req {
	IMG_REQ_NONE,
	IMG_REQ_MANIFEST,
	IMG_REQ_DATA,
	IMG_REQ_START,
	IMG_REQ_CHUNK,
	IMG_REQ_FINISH,
};

struct img_fetch {
	uint32_t index;
	uint32_t clen;
	uint64_t off;
};

struct image_run {
	struct jobs *j;
	bool deploy;
	const char *disk;	/* into the job's args */
	const char *name;
	struct ihttp http;
	enum img_req req;	/* the request under way */
	uint64_t retry_at;	/* no request before (a backoff) */
	uint64_t ok_ms;	/* the last answer: JOBS_IMAGE_RETRY_MS */
	char last_err[64];	/* why the last request got no answer */
	unsigned int backoff_ms;
	uint64_t start_ms, deadline_ms;
	uint64_t progress_ms;	/* the next progress line */
	bool again;		/* the last step said IMAGE_STEP_AGAIN */
	bool finished;		/* the engine is done */

	/* deploy */
	struct image_deploy *dep;
	struct img_fetch q[IMG_FETCH_MAX]; /* asked, not yet requested */
	unsigned int nq;
	struct img_fetch batch[IMG_FETCH_MAX]; /* the request under way */
	unsigned int nbatch, nfed;
	size_t fed_off;		/* bytes of the batch's body consumed */

	/* capture */
	struct image_capture *cap;
	bool started;		/* start answered */
	uint32_t next;		/* xbootd's next chunk */
	uint8_t *frame;		/* the frame being uploaded */
	size_t frame_len, frame_cap;
	uint32_t frame_index, frame_raw;
	bool frame_held;
	unsigned int restarts;
	char body[256];		/* start and finish bodies */
};

static void image_run_free(struct image_run *r)
{
	if (!r)
		return;
	if (r->dep)
		image_deploy_free(r->dep);
	if (r->cap)
		image_capture_free(r->cap);
	ihttp_free(&r->http);
	free(r->frame);
	free(r);
}

static void job_output_line(struct jobs *j, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void job_output_line(struct jobs *j, const char *fmt, ...)
{
	struct agent_job_output o = { .id = j->cur->id };
	struct agent_msg m;
	char line[256];
	va_list ap;
	uint32_t seq;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(line, sizeof(line) - 1, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if (n > (int)sizeof(line) - 2)
		n = sizeof(line) - 2;
	line[n++] = '\n';
	agent_dbg("job %llu: %.*s", (unsigned long long)j->cur->id, n - 1,
		  line);
	o.offset = j->img_out_off;
	o.data = (const uint8_t *)line;
	o.len = n;
	seq = sess_next_seq(j->sess);
	agent_msg_init(&m, j->fbuf, JOBS_FBUF_LEN, XBA_MSG_JOB_OUTPUT, 0, seq);
	agent_build_job_output(&m, &o);
	if (queue_frame(j, &m, seq))
		j->img_out_off += n;
}

static void img_progress(struct image_run *r, bool force, uint64_t now)
{
	struct image_progress p;
	char done[32], total[32], rate[32];

	if (!force && (now < r->progress_ms || sess_queue_full(r->j->sess)))
		return;
	r->progress_ms = now + JOBS_PROGRESS_MS;
	if (r->dep)
		image_deploy_progress(r->dep, &p);
	else if (r->cap)
		image_capture_progress(r->cap, &p);
	else
		return;
	human_bytes(done, sizeof(done), p.bytes);
	human_bytes(total, sizeof(total), p.total);
	human_bytes(rate, sizeof(rate), p.rate);
	job_output_line(r->j, "%s: %u%% %s/%s %s/s%s",
			r->deploy ? "deploy" : "capture",
			p.total ? (unsigned int)(p.bytes * 100 / p.total) : 100,
			done, total, rate, p.verifying ? " (verifying)" : "");
}

/* The "error" text of a JSON answer, or "". */
static void answer_error(const struct ihttp *h, char *buf, size_t size)
{
	const char *p, *end = (const char *)h->rbuf + h->rlen;
	size_t n = 0;

	buf[0] = 0;
	p = h->rlen ? memmem(h->rbuf, h->rlen, "\"error\"", 7) : NULL;
	if (!p)
		return;
	p = memchr(p + 7, '"', end - p - 7);
	if (!p)
		return;
	for (p++; p < end && *p != '"' && n + 1 < size; p++)
		buf[n++] = (*p >= ' ' && *p < 127) ? *p : '?';
	buf[n] = 0;
}

/* "next" of a JSON answer: 0 or -EBADMSG. */
static int answer_next(const struct ihttp *h, uint32_t *next)
{
	char tmp[64];
	const char *p;
	size_t n = h->rlen < sizeof(tmp) * 4 ? h->rlen : sizeof(tmp) * 4;
	char *e;
	unsigned long v;

	p = n ? memmem(h->rbuf, n, "\"next\"", 6) : NULL;
	if (!p)
		return -EBADMSG;
	n = (const char *)h->rbuf + h->rlen - p;
	if (n >= sizeof(tmp))
		n = sizeof(tmp) - 1;
	memcpy(tmp, p, n);
	tmp[n] = 0;
	p = tmp + 6 + strspn(tmp + 6, " \t:");
	if (*p < '0' || *p > '9')
		return -EBADMSG;
	v = strtoul(p, &e, 10);
	if (v > UINT32_MAX)
		return -EBADMSG;
	*next = v;
	return 0;
}

/* Ends the image job: a final status, the engine and transfer freed. */
static void img_end_state(struct jobs *j, uint8_t state, const char *why)
{
	struct image_run *r = j->img;
	struct job *job = j->cur;
	struct status st = { .state = state, .has_bytes = true, .text = why };

	if (why) {
		agent_log("job %llu %s: failed: %s",
			  (unsigned long long)job->id,
			  jobs_type_name(job->type), why);
		job_output_line(j, "%s: failed: %s",
				r && r->deploy ? "deploy" : "capture", why);
	} else {
		agent_log("job %llu %s: done", (unsigned long long)job->id,
			  jobs_type_name(job->type));
	}
	st.bytes = j->img_out_off;
	send_status(j, job->id, &st);
	image_run_free(r);
	j->img = NULL;
	job_free(job);
	j->cur = NULL;
}

static void img_end(struct jobs *j, const char *why)
{
	img_end_state(j, why ? XBA_JOB_STATE_FAILED : XBA_JOB_STATE_DONE, why);
}

static void img_failf(struct jobs *j, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void img_failf(struct jobs *j, const char *fmt, ...)
{
	char why[XBA_TEXT_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	img_end(j, why);
}

/*
 * Is path, or a partition of it, mounted? A deploy over a mounted
 * filesystem would corrupt it under the kernel's feet.
 */
static bool target_mounted(const char *path)
{
	char line[1024], src[512], sys[64], real[PATH_MAX], devf[PATH_MAX + 8];
	char want[32], got[32];
	struct stat st, ms;
	bool hit = false;
	FILE *f, *d;

	if (stat(path, &st) || !S_ISBLK(st.st_mode))
		return false;
	snprintf(want, sizeof(want), "%u:%u", major(st.st_rdev),
		 minor(st.st_rdev));
	f = fopen("/proc/self/mounts", "re");
	if (!f)
		return false;
	while (!hit && fgets(line, sizeof(line), f)) {
		if (sscanf(line, "%511s", src) != 1 || src[0] != '/' ||
		    stat(src, &ms) || !S_ISBLK(ms.st_mode))
			continue;
		if (ms.st_rdev == st.st_rdev) {
			hit = true;
			break;
		}
		/* a partition's sysfs directory sits in its disk's */
		snprintf(sys, sizeof(sys), "/sys/dev/block/%u:%u",
			 major(ms.st_rdev), minor(ms.st_rdev));
		if (!realpath(sys, real))
			continue;
		snprintf(devf, sizeof(devf), "%s/../dev", real);
		d = fopen(devf, "re");
		if (!d)
			continue;
		if (fgets(got, sizeof(got), d)) {
			got[strcspn(got, "\n")] = 0;
			hit = !strcmp(got, want);
		}
		fclose(d);
	}
	fclose(f);
	return hit;
}

/* The connection is lost: back off, then ask again for what is missing. */
static void img_lost(struct image_run *r, int err, uint64_t now)
{
	if (err != -EAGAIN)
		snprintf(r->last_err, sizeof(r->last_err), "%s",
			 strerror(-err));
	agent_dbg("job %llu: image server: %s", (unsigned long long)
		  r->j->cur->id, r->last_err);
	ihttp_close(&r->http);
	r->req = IMG_REQ_NONE;
	r->retry_at = now + r->backoff_ms;
	r->backoff_ms = r->backoff_ms ? r->backoff_ms * 2 : 100;
	if (r->backoff_ms > 5000)
		r->backoff_ms = 5000;
	if (r->dep) {
		r->nq = 0;
		r->nbatch = 0;
		image_deploy_refetch(r->dep);
	}
	/* a capture says start again: xbootd tells where to go on from */
	r->started = false;
}

static void img_answered(struct image_run *r, uint64_t now)
{
	r->ok_ms = now;
	r->backoff_ms = 0;
	r->req = IMG_REQ_NONE;
	if (r->http.close_after)
		ihttp_close(&r->http);
}

/* --- deploy --- */

static int img_fetch(void *ctx, uint32_t index, uint64_t offset,
		     uint32_t clen)
{
	struct image_run *r = ctx;

	if (r->nq == IMG_FETCH_MAX)
		return -EAGAIN;
	r->q[r->nq++] = (struct img_fetch){ .index = index, .clen = clen,
					    .off = offset };
	return 0;
}

/* Asks for the queued chunks whose frames follow each other in one go. */
static int img_request_data(struct image_run *r, uint64_t now)
{
	uint64_t end, total;
	char range[64];
	unsigned int n;

	r->batch[0] = r->q[0];
	end = r->q[0].off + r->q[0].clen;
	total = r->q[0].clen;
	for (n = 1; n < r->nq; n++) {
		if (r->q[n].off != end || total + r->q[n].clen > IMG_BATCH_MAX)
			break;
		r->batch[n] = r->q[n];
		end += r->q[n].clen;
		total += r->q[n].clen;
	}
	r->nbatch = n;
	r->nfed = 0;
	r->fed_off = 0;
	memmove(r->q, r->q + n, (r->nq - n) * sizeof(r->q[0]));
	r->nq -= n;
	snprintf(range, sizeof(range), "Range: bytes=%llu-%llu\r\n",
		 (unsigned long long)r->batch[0].off,
		 (unsigned long long)end - 1);
	r->req = IMG_REQ_DATA;
	return ihttp_request(&r->http, "GET", "data", range, NULL, 0, now);
}

/* Feeds the frames of the batch that have arrived whole. */
static int img_feed(struct image_run *r)
{
	struct img_fetch *f;
	int err;

	if (r->http.state < IHTTP_BODY || r->http.status != 206)
		return 0;
	while (r->nfed < r->nbatch) {
		f = &r->batch[r->nfed];
		if (r->http.rlen - r->fed_off < f->clen)
			break;
		err = image_deploy_feed(r->dep, f->index,
					r->http.rbuf + r->fed_off, f->clen);
		if (err && err != -EALREADY)
			return err;
		r->fed_off += f->clen;
		r->nfed++;
	}
	return 0;
}

static int img_deploy_start(struct jobs *j, struct image_run *r)
{
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	struct image_deploy_opts o = {
		.verify = IMAGE_VERIFY_FAST,
		.depth = IMAGE_DEPTH_DEFAULT,
		.workers = cpus > IMG_WORKERS_MAX ? IMG_WORKERS_MAX :
			   cpus > 1 ? cpus : 0,
		.grow_file = true,
	};
	struct image_err e = { { 0 } };
	int err;

	err = image_deploy_new(&r->dep, r->http.rbuf, r->http.rlen, r->disk,
			       &o, img_fetch, r, &e);
	if (err) {
		img_failf(j, "%s", e.msg[0] ? e.msg : strerror(-err));
		return err;
	}
	job_output_line(j, "deploy: image %s onto %s, %u chunks, %s I/O",
			r->name, r->disk,
			image_deploy_manifest(r->dep)->n_chunks,
			image_deploy_direct(r->dep) ? "direct" : "buffered");
	return 0;
}

/* A complete answer to a deploy's request. 0, or the job has ended. */
static int img_deploy_answer(struct jobs *j, struct image_run *r,
			     uint64_t now)
{
	struct ihttp *h = &r->http;
	enum img_req req = r->req;
	char err[128];
	int ret;

	answer_error(h, err, sizeof(err));
	if (h->status == 401 || h->status == 503) {
		/* a key being replaced, a busy server: try again */
		snprintf(r->last_err, sizeof(r->last_err), "HTTP %d",
			 h->status);
		img_lost(r, -EAGAIN, now);
		return 0;
	}
	if (req == IMG_REQ_MANIFEST) {
		if (h->status != 200) {
			img_failf(j, "manifest of %s: HTTP %d%s%s", r->name,
				  h->status, err[0] ? ": " : "", err);
			return -EIO;
		}
		ret = img_deploy_start(j, r);
		img_answered(r, now);
		return ret;
	}
	if (h->status != 206) {
		img_failf(j, "chunk %u: HTTP %d%s%s", r->batch[0].index,
			  h->status, err[0] ? ": " : "", err);
		return -EIO;
	}
	if (r->nfed < r->nbatch) {
		/* a short answer: ask again for what did not come */
		img_lost(r, -EPROTO, now);
		return 0;
	}
	r->nbatch = 0;
	img_answered(r, now);
	return 0;
}

/* --- capture --- */

static int img_sink(void *ctx, uint32_t index, const void *frame,
		    size_t clen, uint32_t raw_len)
{
	struct image_run *r = ctx;
	uint8_t *b;

	if (r->started && index < r->next)
		return 0; /* stored before a dropped connection */
	if (r->frame_held)
		return -EAGAIN;
	if (clen > r->frame_cap) {
		b = realloc(r->frame, clen);
		if (!b)
			return -ENOMEM;
		r->frame = b;
		r->frame_cap = clen;
	}
	memcpy(r->frame, frame, clen);
	r->frame_len = clen;
	r->frame_index = index;
	r->frame_raw = raw_len;
	r->frame_held = true;
	return 0;
}

static int img_capture_new(struct jobs *j, struct image_run *r)
{
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	struct image_capture_opts o = {
		.depth = IMAGE_DEPTH_DEFAULT,
		.workers = cpus > IMG_WORKERS_MAX ? IMG_WORKERS_MAX :
			   cpus > 1 ? cpus : 0,
	};
	struct image_err e = { { 0 } };
	int err;

	err = image_capture_new(&r->cap, r->disk, &o, img_sink, r, &e);
	if (err) {
		r->cap = NULL;
		img_failf(j, "%s", e.msg[0] ? e.msg : strerror(-err));
		return err;
	}
	r->frame_held = false;
	r->finished = false;
	r->again = true;
	return 0;
}

static int img_request_capture(struct image_run *r, uint64_t now)
{
	struct image_capture_result res;
	char hdr[64], hex[2 * XBI_SHA256_LEN + 1], what[32];

	if (!r->started) {
		snprintf(r->body, sizeof(r->body),
			 "{\"size\": %llu, \"chunk_size\": %u}",
			 (unsigned long long)image_capture_size(r->cap),
			 image_capture_chunk_size(r->cap));
		r->req = IMG_REQ_START;
		return ihttp_request(&r->http, "POST", "start", NULL, r->body,
				     strlen(r->body), now);
	}
	if (r->frame_held) {
		snprintf(hdr, sizeof(hdr), IMAGE_HTTP_RAW_LENGTH ": %u\r\n",
			 r->frame_raw);
		snprintf(what, sizeof(what), "chunk/%u", r->frame_index);
		r->req = IMG_REQ_CHUNK;
		return ihttp_request(&r->http, "PUT", what, hdr, r->frame,
				     r->frame_len, now);
	}
	if (!r->finished)
		return 0;
	image_capture_result(r->cap, &res);
	hex_encode(hex, res.sha256, XBI_SHA256_LEN);
	snprintf(r->body, sizeof(r->body),
		 "{\"size\": %llu, \"sha256\": \"%s\", \"ptable\": \"%s\"}",
		 (unsigned long long)res.size, hex,
		 image_ptable_name(res.ptable));
	r->req = IMG_REQ_FINISH;
	return ihttp_request(&r->http, "POST", "finish", NULL, r->body,
			     strlen(r->body), now);
}

/* The capture must begin again from chunk 0 (xbootd lost its staging). */
static int img_capture_restart(struct jobs *j, struct image_run *r)
{
	struct image_progress p;

	image_capture_progress(r->cap, &p);
	if (!p.chunks && !r->frame_held)
		return 0;
	if (++r->restarts > 3) {
		img_failf(j, "capture of %s: xbootd lost it %u times",
			  r->name, r->restarts);
		return -EIO;
	}
	job_output_line(j, "capture: xbootd restarted the capture, from "
			"chunk 0");
	image_capture_free(r->cap);
	r->cap = NULL;
	return img_capture_new(j, r);
}

static int img_capture_answer(struct jobs *j, struct image_run *r,
			      uint64_t now)
{
	struct ihttp *h = &r->http;
	enum img_req req = r->req;
	char err[128];
	uint32_t next;

	answer_error(h, err, sizeof(err));
	if (h->status == 401 || h->status == 503) {
		snprintf(r->last_err, sizeof(r->last_err), "HTTP %d",
			 h->status);
		img_lost(r, -EAGAIN, now);
		return 0;
	}
	img_answered(r, now);
	switch (req) {
	case IMG_REQ_START:
		if ((h->status != 200 && h->status != 201) ||
		    answer_next(h, &next))
			break;
		if (h->status == 201 && img_capture_restart(j, r))
			return -EIO;
		r->started = true;
		r->next = next;
		if (r->frame_held && r->frame_index < next)
			r->frame_held = false;
		return 0;
	case IMG_REQ_CHUNK:
		if (h->status == 409 && !answer_next(h, &next) &&
		    next > r->frame_index) {
			r->next = next;
			r->frame_held = false;
			return 0;
		}
		if (h->status == 409) {
			r->started = false; /* no capture: start it again */
			return 0;
		}
		if (h->status != 200)
			break;
		if (!answer_next(h, &next))
			r->next = next;
		r->frame_held = false;
		return 0;
	case IMG_REQ_FINISH:
		if (h->status != 201)
			break;
		job_output_line(j, "capture: image %s stored: %.*s", r->name,
				(int)(h->rlen < 200 ? h->rlen : 200),
				(const char *)h->rbuf);
		img_end(j, NULL);
		return -EIO;
	default:
		break;
	}
	img_failf(j, "capture of %s: %s: HTTP %d%s%s", r->name,
		  req == IMG_REQ_START ? "start" : req == IMG_REQ_FINISH ?
		  "finish" : "chunk", h->status, err[0] ? ": " : "", err);
	return -EIO;
}

/* --- both --- */

static int img_begin(struct jobs *j, uint64_t now)
{
	struct job *job = j->cur;
	struct image_run *r;
	int err;

	job_state(j, job, XBA_JOB_STATE_RUNNING);
	j->img_out_off = 0;
	r = calloc(1, sizeof(*r));
	if (!r) {
		img_end(j, "out of memory");
		return -ENOMEM;
	}
	j->img = r;
	r->j = j;
	r->deploy = job->type == XBA_JOB_IMAGE_DEPLOY;
	r->disk = job->args[r->deploy ? 1 : 0];
	r->name = job->args[r->deploy ? 0 : 1];
	r->start_ms = now;
	r->ok_ms = now;
	r->progress_ms = now + JOBS_PROGRESS_MS;
	if (job->timeout_s)
		r->deadline_ms = now + job->timeout_s * 1000ULL;
	err = ihttp_init(&r->http, job->args[IMAGE_HTTP_JOB_ARG_URL],
			 job->args[IMAGE_HTTP_JOB_ARG_KEY]);
	explicit_bzero(job->args[IMAGE_HTTP_JOB_ARG_KEY],
		       strlen(job->args[IMAGE_HTTP_JOB_ARG_KEY]));
	if (err) {
		img_failf(j, "bad image URL %s",
			  job->args[IMAGE_HTTP_JOB_ARG_URL]);
		return err;
	}
	if (r->deploy && target_mounted(r->disk)) {
		img_failf(j, "%s is mounted: not deploying over it", r->disk);
		return -EBUSY;
	}
	if (!r->deploy) {
		err = img_capture_new(j, r);
		if (err)
			return err;
		job_output_line(j, "capture: %s as image %s, %llu bytes, "
				"%s I/O", r->disk, r->name,
				(unsigned long long)image_capture_size(r->cap),
				image_capture_direct(r->cap) ? "direct" :
				"buffered");
	}
	return 0;
}

/* Starts the next request when the connection is free. */
static int img_request(struct image_run *r, uint64_t now)
{
	if (ihttp_busy(&r->http) || now < r->retry_at)
		return 0;
	if (r->deploy && !r->dep) {
		r->req = IMG_REQ_MANIFEST;
		return ihttp_request(&r->http, "GET", "manifest", NULL, NULL,
				     0, now);
	}
	if (r->deploy)
		return r->nq ? img_request_data(r, now) : 0;
	return img_request_capture(r, now);
}

/* Moves the HTTP side on. 0, or the job has ended. */
static int img_io(struct jobs *j, struct image_run *r, uint64_t now)
{
	int ret, pass;

	for (pass = 0; pass < 4; pass++) {
		ret = img_request(r, now);
		if (ret) {
			img_lost(r, ret, now);
			break;
		}
		if (!ihttp_busy(&r->http) && r->http.state != IHTTP_COMPLETE)
			break;
		ret = ihttp_step(&r->http, now);
		/* bytes moving on a long request count as an answer */
		if (r->http.state > IHTTP_CONNECTING &&
		    r->http.last_io_ms > r->ok_ms)
			r->ok_ms = r->http.last_io_ms;
		if (r->req == IMG_REQ_DATA && img_feed(r)) {
			img_failf(j, "%s", image_deploy_error(r->dep));
			return -EIO;
		}
		if (ret < 0) {
			img_lost(r, ret, now);
			break;
		}
		if (ret == IHTTP_BUSY)
			break;
		r->http.state = IHTTP_IDLE;
		ret = r->deploy ? img_deploy_answer(j, r, now) :
				  img_capture_answer(j, r, now);
		if (ret)
			return ret;
	}
	if (now - r->ok_ms > JOBS_IMAGE_RETRY_MS) {
		img_failf(j, "image server %s:%u: no answer for %u s (%s)",
			  r->http.base.host, r->http.base.port,
			  JOBS_IMAGE_RETRY_MS / 1000,
			  r->last_err[0] ? r->last_err : "no reason");
		return -ETIMEDOUT;
	}
	return 0;
}

/* Moves the engine on. 0, or the job has ended. */
static int img_engine(struct jobs *j, struct image_run *r, uint64_t now)
{
	int ret;

	r->again = false;
	if (r->finished || (r->deploy && !r->dep))
		return 0;
	ret = r->dep ? image_deploy_step(r->dep) : image_capture_step(r->cap);
	if (ret == IMAGE_STEP_AGAIN)
		r->again = true;
	if (ret > 0)
		return 0;
	if (ret < 0) {
		img_failf(j, "%s", r->dep ? image_deploy_error(r->dep) :
				   image_capture_error(r->cap));
		return ret;
	}
	r->finished = true;
	if (r->deploy) {
		struct image_progress p;
		char total[32];

		image_deploy_progress(r->dep, &p);
		human_bytes(total, sizeof(total), p.total);
		job_output_line(j, "deploy: done, %s, %u chunks (%u holes), "
				"verified, in %.1f s", total, p.n_chunks,
				p.holes, (double)(now - r->start_ms) / 1000);
		img_end(j, NULL);
		return -EIO;
	}
	return 0;
}

/*
 * A JOB frame sent again carries the job's new key, which replaces the
 * old one on xbootd: the transfer goes on with it.
 */
static void image_rekey(struct jobs *j, const struct agent_job *a)
{
	struct job *job;

	if ((a->type != XBA_JOB_IMAGE_DEPLOY &&
	     a->type != XBA_JOB_IMAGE_CAPTURE) ||
	    a->n_args != IMAGE_HTTP_JOB_ARGS + 2)
		return;
	if (j->img && j->cur && j->cur->id == a->id) {
		ihttp_set_key(&j->img->http, a->args[IMAGE_HTTP_JOB_ARG_KEY]);
		return;
	}
	for (job = j->head; job; job = job->next) {
		char *key;

		if (job->id != a->id || job->n_args != a->n_args)
			continue;
		key = strdup(a->args[IMAGE_HTTP_JOB_ARG_KEY]);
		if (!key)
			return;
		explicit_bzero(job->args[IMAGE_HTTP_JOB_ARG_KEY],
			       strlen(job->args[IMAGE_HTTP_JOB_ARG_KEY]));
		free(job->args[IMAGE_HTTP_JOB_ARG_KEY]);
		job->args[IMAGE_HTTP_JOB_ARG_KEY] = key;
	}
}

static int img_pollfds(const struct image_run *r, struct pollfd *p)
{
	int n = 0, fd;
	short ev = 0;

	fd = r->dep ? image_deploy_pollfd(r->dep) :
	     r->cap ? image_capture_pollfd(r->cap) : -1;
	if (fd >= 0)
		p[n++] = (struct pollfd){ .fd = fd, .events = POLLIN };
	fd = ihttp_pollfd(&r->http, &ev);
	if (fd >= 0)
		p[n++] = (struct pollfd){ .fd = fd, .events = ev };
	return n;
}

static int img_tick(struct jobs *j, uint64_t now)
{
	struct image_run *r = j->img;
	int left;

	if (!r)
		return -1;
	if (r->deadline_ms && now >= r->deadline_ms) {
		img_end_state(j, XBA_JOB_STATE_TIMED_OUT, "timed out");
		return 0;
	}
	if (img_io(j, r, now) || img_engine(j, r, now) || img_io(j, r, now))
		return 0;
	img_progress(r, false, now);
	if (r->again || (!ihttp_busy(&r->http) && r->retry_at <= now &&
			 ((r->deploy && r->nq) ||
			  (!r->deploy && (r->frame_held || r->finished ||
					  !r->started)))))
		return 0;
	left = r->progress_ms > now ? (int)(r->progress_ms - now) : 0;
	if (r->retry_at > now && (int)(r->retry_at - now) < left)
		left = r->retry_at - now;
	return left;
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
		case XBA_JOB_IMAGE_DEPLOY:
		case XBA_JOB_IMAGE_CAPTURE:
			img_begin(j, now);
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
	else if (j->cur && j->img)
		wait = img_tick(j, now);
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
	if (j->img)
		n += img_pollfds(j->img, p + n);
	return n;
}
