// SPDX-License-Identifier: GPL-2.0
/*
 * Runs one XBA_JOB_RUN script as a child process for the agent's event
 * loop. Every fd the runner opens is O_CLOEXEC, so a job never inherits
 * another job's pipes; the child gets only stdin (/dev/null), stdout and
 * stderr (the pipe) and fd 3 (the script). A CLOEXEC status pipe tells
 * job_run_start() whether exec worked, so a missing shell is an error
 * from start, not a mysterious exit code 127.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "job_run.h"
#include "log.h"

#define JOB_RUN_SCRIPT_FD 3
#define JOB_RUN_SCRIPT_PATH "/proc/self/fd/3"

uint64_t job_run_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

void job_run_init(struct job_run *j)
{
	memset(j, 0, sizeof(*j));
	j->shell = JOB_RUN_SHELL;
	j->grace_ms = JOB_RUN_GRACE_MS;
	j->out_fd = -1;
	j->pidfd = -1;
}

static void close_fd(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

/* A sealed memfd holding the script, so the job cannot rewrite it. */
static int script_memfd(const char *script, size_t len)
{
	size_t done = 0;
	int fd;

	fd = memfd_create("xboot-job", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (fd < 0)
		return -errno;
	while (done < len) {
		ssize_t n = write(fd, script + done, len - done);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			n = -errno;
			close(fd);
			return n;
		}
		done += n;
	}
	if (fcntl(fd, F_ADD_SEALS, F_SEAL_SEAL | F_SEAL_SHRINK |
		  F_SEAL_GROW | F_SEAL_WRITE) < 0)
		pr_debug("job_run: cannot seal the script: %s\n",
			 strerror(errno));
	return fd;
}

static bool args_valid(const char *script, const char *const args[],
		       int nargs)
{
	int i;

	if (!script || nargs < 0 || nargs > XBA_JOB_ARGS_MAX - 1)
		return false;
	if (nargs && !args)
		return false;
	for (i = 0; i < nargs; i++)
		if (!args[i])
			return false;
	return true;
}

/*
 * The child between fork and exec: only async-signal-safe calls. It
 * leaves the agent's signal mask and ignored signals behind (an agent that
 * ignores SIGPIPE must not pass that on to `yes | head`).
 */
static void __attribute__((noreturn))
child_exec(const char *shell, char *const argv[], int devnull, int out,
	   int script, int status)
{
	static const int sigs[] = { SIGPIPE, SIGTERM, SIGINT, SIGHUP,
				    SIGQUIT, SIGCHLD };
	struct sigaction sa = { .sa_handler = SIG_DFL };
	sigset_t none;
	unsigned int i;
	int err;

	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	for (i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
		sigaction(sigs[i], &sa, NULL);
	if (setsid() < 0)
		goto fail;
	/* script first: it may sit on fd 0..2 in a process started oddly */
	if (script != JOB_RUN_SCRIPT_FD &&
	    dup2(script, JOB_RUN_SCRIPT_FD) < 0)
		goto fail;
	if (script == JOB_RUN_SCRIPT_FD &&
	    fcntl(script, F_SETFD, 0) < 0)
		goto fail;
	if (dup2(devnull, 0) < 0 || dup2(out, 1) < 0 || dup2(out, 2) < 0)
		goto fail;
	execv(shell, argv);
fail:
	err = errno;
	if (write(status, &err, sizeof(err)) < 0)
		err = 0;
	_exit(127);
}

/* 0 when the child exec'd, or the errno it reported. */
static int exec_result(int status)
{
	int err = 0;
	ssize_t n;

	do
		n = read(status, &err, sizeof(err));
	while (n < 0 && errno == EINTR);
	return n == sizeof(err) ? -err : 0;
}

static int spawn(struct job_run *j, char *const argv[], int script)
{
	int out[2], status[2], devnull, err;
	pid_t pid;

	devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);
	if (devnull < 0)
		return -errno;
	if (pipe2(out, O_CLOEXEC) < 0) {
		err = -errno;
		goto err_devnull;
	}
	if (pipe2(status, O_CLOEXEC) < 0) {
		err = -errno;
		goto err_out;
	}
	pid = fork();
	if (pid < 0) {
		err = -errno;
		goto err_status;
	}
	if (pid == 0)
		child_exec(j->shell, argv, devnull, out[1], script, status[1]);

	close(status[1]);
	close(out[1]);
	close(devnull);
	err = exec_result(status[0]);
	close(status[0]);
	if (err) {
		close(out[0]);
		waitpid(pid, NULL, 0);
		return err;
	}
	j->pid = pid;
	j->out_fd = out[0];
	return 0;

err_status:
	close(status[0]);
	close(status[1]);
err_out:
	close(out[0]);
	close(out[1]);
err_devnull:
	close(devnull);
	return err;
}

int job_run_start(struct job_run *j, const char *script, size_t len,
		  const char *const args[], int nargs, unsigned int timeout_ms)
{
	char *argv[XBA_JOB_ARGS_MAX + 2];
	int script_fd, err, i;

	if (!args_valid(script, args, nargs) || !j->shell || j->pid)
		return -EINVAL;
	script_fd = script_memfd(script, len);
	if (script_fd < 0)
		return script_fd;

	argv[0] = (char *)j->shell;
	argv[1] = (char *)JOB_RUN_SCRIPT_PATH;
	for (i = 0; i < nargs; i++)
		argv[i + 2] = (char *)args[i];
	argv[nargs + 2] = NULL;

	err = spawn(j, argv, script_fd);
	close(script_fd);
	if (err) {
		pr_warn("job_run: cannot run %s: %s\n", j->shell,
			strerror(-err));
		return err;
	}
	if (fcntl(j->out_fd, F_SETFL, O_NONBLOCK) < 0)
		pr_warn("job_run: O_NONBLOCK: %s\n", strerror(errno));
	/*
	 * pidfd_open() fds are always close-on-exec. Without one (a kernel
	 * before 5.3) job_run_poll() asks to be called every 100 ms instead.
	 */
	j->pidfd = syscall(SYS_pidfd_open, j->pid, 0);
	j->deadline_ms = timeout_ms ? job_run_now_ms() + timeout_ms : 0;
	pr_debug("job_run: pid %d started, timeout %u ms\n", j->pid,
		 timeout_ms);
	return 0;
}

int job_run_fd(const struct job_run *j)
{
	return j->out_fd;
}

int job_run_pidfd(const struct job_run *j)
{
	return j->pidfd;
}

ssize_t job_run_read(struct job_run *j, void *buf, size_t len,
		     uint64_t *offset)
{
	ssize_t n;

	if (j->out_fd < 0)
		return 0;
	do
		n = read(j->out_fd, buf, len);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return errno == EWOULDBLOCK ? -EAGAIN : -errno;
	if (n == 0) {
		close_fd(&j->out_fd);
		return 0;
	}
	*offset = j->out_off;
	j->out_off += n;
	return n;
}

static void job_kill(struct job_run *j, int sig)
{
	if (j->pid > 0 && kill(-j->pid, sig) < 0 && errno != ESRCH)
		pr_warn("job_run: kill %d: %s\n", -j->pid, strerror(errno));
}

static void job_reaped(struct job_run *j, int status)
{
	if (WIFSIGNALED(status)) {
		j->signal = WTERMSIG(status);
		j->exit_code = 128 + j->signal;
	} else {
		j->exit_code = WEXITSTATUS(status);
	}
	/* leftovers in the group would hold the pipe open forever */
	job_kill(j, SIGKILL);
	j->reaped = true;
	j->pid = 0;
	close_fd(&j->pidfd);
	pr_debug("job_run: exit code %d%s\n", j->exit_code,
		 j->timed_out ? " (timed out)" : "");
}

static bool job_try_reap(struct job_run *j)
{
	int status;
	pid_t r;

	if (j->pid <= 0)
		return j->reaped;
	do
		r = waitpid(j->pid, &status, WNOHANG);
	while (r < 0 && errno == EINTR);
	if (r == j->pid)
		job_reaped(j, status);
	return j->reaped;
}

static int ms_until(uint64_t due, uint64_t now)
{
	if (due <= now)
		return 0;
	return due - now > INT_MAX ? INT_MAX : (int)(due - now);
}

int job_run_poll(struct job_run *j, uint64_t now_ms)
{
	if (job_try_reap(j) || j->pid <= 0)
		return -1;
	if (j->kill_ms) {
		if (now_ms >= j->kill_ms) {
			job_kill(j, SIGKILL);
			/* the next poll reaps; keep it coming soon */
			return 10;
		}
		return ms_until(j->kill_ms, now_ms);
	}
	if (!j->deadline_ms)
		return j->pidfd >= 0 ? -1 : 100;
	if (now_ms < j->deadline_ms)
		return ms_until(j->deadline_ms, now_ms);
	pr_info("job_run: pid %d timed out, SIGTERM", j->pid);
	j->timed_out = true;
	job_kill(j, SIGTERM);
	j->kill_ms = now_ms + j->grace_ms;
	return j->grace_ms > INT_MAX ? INT_MAX : (int)j->grace_ms;
}

int job_run_state(const struct job_run *j, int *exit_code)
{
	if (!j->reaped)
		return XBA_JOB_STATE_RUNNING;
	if (exit_code)
		*exit_code = j->exit_code;
	if (j->timed_out)
		return XBA_JOB_STATE_TIMED_OUT;
	return j->exit_code ? XBA_JOB_STATE_FAILED : XBA_JOB_STATE_DONE;
}

int32_t job_run_wire_exit_code(const struct job_run *j)
{
	return j->signal ? -j->signal : j->exit_code;
}

bool job_run_finished(const struct job_run *j)
{
	return j->reaped && j->out_fd < 0;
}

void job_run_destroy(struct job_run *j)
{
	int status;

	if (j->pid > 0) {
		job_kill(j, SIGKILL);
		while (waitpid(j->pid, &status, 0) < 0 && errno == EINTR)
			;
		j->pid = 0;
	}
	close_fd(&j->out_fd);
	close_fd(&j->pidfd);
}
