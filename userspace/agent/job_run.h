/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The agent's runner for XBA_JOB_RUN jobs: one shell script as a child
 * process, driven from the agent's single event loop. No threads and no
 * signal handlers: the caller polls job_run_fd() (output) and
 * job_run_pidfd() (exit), calls job_run_read() for JOB_OUTPUT chunks and
 * job_run_poll() to reap and to enforce the timeout.
 *
 * The script goes into a sealed memfd that the shell reads as
 * /proc/self/fd/3, so there is no temp file to clean up and the script's
 * stdin is /dev/null, not its own text. The shell runs in its own session
 * (so its process group is the job), with stdout and stderr into one pipe,
 * in the order the job wrote them.
 */
#ifndef XBOOT_AGENT_JOB_RUN_H
#define XBOOT_AGENT_JOB_RUN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "xboot/agent.h"

#define JOB_RUN_SHELL "/bin/sh"
#define JOB_RUN_GRACE_MS 2000U

struct job_run {
	/* settable after job_run_init(), before job_run_start() */
	const char *shell;
	unsigned int grace_ms;	/* SIGTERM to SIGKILL after a timeout */

	pid_t pid;		/* also the process group; 0 once reaped */
	int out_fd;		/* read end, non-blocking; -1 after EOF */
	int pidfd;		/* readable when the shell exits; -1 */
	uint64_t out_off;	/* output bytes read so far */
	uint64_t deadline_ms;	/* 0: no timeout */
	uint64_t kill_ms;	/* SIGKILL due; 0: SIGTERM not sent yet */
	bool timed_out;
	bool reaped;
	int exit_code;		/* shell convention: signal N is 128 + N */
	int signal;		/* the signal that ended it, or 0 */
};

/* Defaults: JOB_RUN_SHELL, JOB_RUN_GRACE_MS, nothing running. */
void job_run_init(struct job_run *j);

/*
 * Starts `shell script args...` ($1..$N are args) with a timeout counted
 * from now (0: none). 0, -EINVAL for bad arguments (no script, nargs
 * outside 0..XBA_JOB_ARGS_MAX - 1, a NULL arg), the errno of exec when the
 * shell cannot be run (-ENOENT for a missing one, -EACCES), or another
 * -errno of the syscalls. On failure nothing is left open or running.
 */
int job_run_start(struct job_run *j, const char *script, size_t len,
		  const char *const args[], int nargs, unsigned int timeout_ms);

/* The output pipe to poll for POLLIN (-1 after EOF). */
int job_run_fd(const struct job_run *j);
/* A pidfd that turns readable when the shell exits (-1 once reaped). */
int job_run_pidfd(const struct job_run *j);

/*
 * The next output chunk, at most len bytes, and its byte offset in the
 * job's output (XBA_A_OFFSET). Bytes read, 0 at EOF (all output read),
 * -EAGAIN when nothing is ready, or -errno. Output is bounded only by
 * what the caller reads: an unread pipe stops the job writing.
 */
ssize_t job_run_read(struct job_run *j, void *buf, size_t len,
		     uint64_t *offset);

/*
 * Reaps the shell if it exited and enforces the timeout: SIGTERM to the
 * whole process group when it expires, SIGKILL grace_ms later. When the
 * shell is gone, whatever it left running in its group is killed too, so
 * the pipe reaches EOF once drained. now_ms is CLOCK_MONOTONIC in ms
 * (job_run_now_ms()). Returns how many ms the caller may wait before the
 * next call (for poll(2)), or -1 when only the fds matter. -1 also
 * comes back once the shell is reaped: check job_run_finished() before
 * waiting, or a poll(2) on the closed pidfd with no timeout never ends.
 */
int job_run_poll(struct job_run *j, uint64_t now_ms);

/*
 * enum xba_job_state: RUNNING until the shell is reaped, then DONE (exit
 * 0), FAILED (nonzero exit or a signal) or TIMED_OUT. *exit_code, when
 * not NULL and the job ended, gets the shell-style code: the exit status,
 * or 128 + N for signal N (the wire's XBA_A_EXIT_CODE wants -N for a
 * signal: use job_run_wire_exit_code()).
 */
int job_run_state(const struct job_run *j, int *exit_code);

/* XBA_A_EXIT_CODE of an ended job: the status, or -N for signal N. */
int32_t job_run_wire_exit_code(const struct job_run *j);

/* True when the shell is reaped and all its output read. */
bool job_run_finished(const struct job_run *j);

/*
 * Kills what still runs (SIGKILL to the group), reaps the shell, closes
 * every fd. Safe on an initialized, started, failed or finished runner.
 */
void job_run_destroy(struct job_run *j);

uint64_t job_run_now_ms(void);

#endif /* XBOOT_AGENT_JOB_RUN_H */
