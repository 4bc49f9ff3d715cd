// SPDX-License-Identifier: GPL-2.0
/* Leveled logging to stderr with a timestamp; see log.h. */
#include <stdio.h>
#include <time.h>

#include "log.h"

int log_level = LOG_LVL_INFO;

static const char *const level_names[] = { "error", "warn", "info", "debug" };

void log_vmsg(int level, const char *fmt, va_list ap)
{
	struct timespec ts;
	struct tm tm;
	char stamp[32];

	if (level > log_level)
		return;
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	strftime(stamp, sizeof(stamp), "%H:%M:%S", &tm);
	fprintf(stderr, "%s.%03ld %s: ", stamp, ts.tv_nsec / 1000000,
		level_names[level < 0 ? 0 : level > 3 ? 3 : level]);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
}

void log_msg(int level, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vmsg(level, fmt, ap);
	va_end(ap);
}

int log_ratelimit_ok(struct log_ratelimit *rl)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	if (ts.tv_sec - rl->window_start >= 5) {
		if (rl->missed)
			log_msg(LOG_LVL_WARN, "%d similar messages suppressed",
				rl->missed);
		rl->window_start = ts.tv_sec;
		rl->count = 0;
		rl->missed = 0;
	}
	if (rl->count++ < rl->burst)
		return 1;
	rl->missed++;
	return 0;
}
