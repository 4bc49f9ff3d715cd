/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The agent's jobs: the ones the controller sent, run one at a time in
 * the order they came, with their JOB_STATUS and JOB_OUTPUT frames put on
 * the session's reliable queue (so they survive a dropped connection).
 * run jobs go through job_run.h; kexec jobs fetch their files in a child
 * process (an HTTP download must not stall heartbeats) and load them with
 * kexec_file_load(); image-deploy and image-capture jobs run the imaging
 * engines (image_job.h) on this loop and move their chunks over HTTP
 * (image_http.h, include/xboot/image_http.h); reboot, poweroff and a
 * loaded kexec end in a power action that the event loop carries out
 * once the controller has acknowledged the job's final status (or a few
 * seconds have passed).
 */
#ifndef XBOOT_AGENT_JOBS_H
#define XBOOT_AGENT_JOBS_H

#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "agent_proto.h"
#include "job_run.h"
#include "session.h"

/* Output beyond this is counted in OUTPUT_BYTES but not sent. */
#define JOBS_OUTPUT_MAX (16ULL << 20)
/* How long a power action waits for the ACK of its job's final status. */
#define JOBS_POWER_ACK_MS 5000U
/* How long a kexec job may take to fetch its kernel and initrd. */
#define JOBS_FETCH_MS 300000U
/* run: output, pidfd; kexec: pidfd; image: the engine's fd, the socket */
#define JOBS_POLLFDS 5
/* Image jobs: an image server unreachable this long fails the job. */
#define JOBS_IMAGE_RETRY_MS 120000U
/* Image jobs: at most one progress line in this interval. */
#define JOBS_PROGRESS_MS 1000U

struct job {
	struct job *next;
	uint64_t id;
	uint16_t type;
	uint32_t timeout_s;
	unsigned int n_args;
	char *args[XBA_JOB_ARGS_MAX];
};

struct image_run;

struct jobs {
	struct sess *sess;
	bool power_real;	/* false: --power=exit */

	struct job *head, *tail; /* accepted, waiting their turn */
	struct job *cur;	/* running, or NULL */
	struct job_run run;	/* cur's process, for a run job */

	/* a kexec job's fetch: a child filling memfds */
	pid_t fetch_pid;
	int fetch_pidfd;
	int fetch_err;		/* read end of the child's error text */
	int kernel_fd, initrd_fd;

	/* the power action due once the final status is acknowledged */
	uint16_t power;		/* XBA_JOB_REBOOT/POWEROFF/KEXEC, or 0 */
	uint32_t power_seq;	/* the seq of that final JOB_STATUS */
	uint64_t power_deadline;

	struct image_run *img;	/* cur's transfer, for an image job */
	uint64_t img_out_off;	/* cur's output bytes, for an image job */

	uint8_t *fbuf;		/* frame being built */
	uint8_t *obuf;		/* output chunk being read */
};

int jobs_init(struct jobs *j, struct sess *s, bool power_real);
void jobs_free(struct jobs *j);

/* A new JOB from the controller: accept, refuse or ignore it. */
int jobs_receive(struct jobs *j, const struct agent_job *job, uint64_t now);

/*
 * Moves the jobs on: reads output (unless the send queue is full), reaps,
 * enforces timeouts, finishes and starts jobs. How many ms until it wants
 * to run again without an fd event, or -1.
 */
int jobs_tick(struct jobs *j, uint64_t now);
/* Adds the fds to wait on to p (room for JOBS_POLLFDS): how many. */
int jobs_pollfds(const struct jobs *j, struct pollfd *p);

/* The power action to carry out now (its job type), or 0. */
uint16_t jobs_power_due(const struct jobs *j, uint64_t now);
/* Carries it out: sync, then reboot(2). Returns only on failure (-errno). */
int jobs_power_act(struct jobs *j);

const char *jobs_type_name(uint16_t type);

#endif /* XBOOT_AGENT_JOBS_H */
