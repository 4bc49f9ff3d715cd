/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Logging for xboot's userspace, kernel-style: pr_err/pr_warn/pr_info/
 * pr_debug with a process-wide level raised by each -v. libbpf's messages go
 * through log_libbpf() one level lower than they claim.
 */
#ifndef XBOOT_LOG_H
#define XBOOT_LOG_H

#include <stdarg.h>

enum log_level {
	LOG_LVL_ERR = 0,
	LOG_LVL_WARN,
	LOG_LVL_INFO,
	LOG_LVL_DEBUG,
};

extern int log_level;

void log_msg(int level, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
void log_vmsg(int level, const char *fmt, va_list ap);
/* Drops repeats: at most `burst` lines per 5 s for this call site. */
#define pr_ratelimited(level, fmt, ...)                                      \
	do {                                                                 \
		static struct log_ratelimit __rl = { .burst = 10 };          \
		if (log_ratelimit_ok(&__rl))                                 \
			log_msg(level, fmt, ##__VA_ARGS__);                  \
	} while (0)

struct log_ratelimit {
	long window_start;
	int burst;
	int count;
	int missed;
};
int log_ratelimit_ok(struct log_ratelimit *rl);

#define pr_err(fmt, ...) log_msg(LOG_LVL_ERR, fmt, ##__VA_ARGS__)
#define pr_warn(fmt, ...) log_msg(LOG_LVL_WARN, fmt, ##__VA_ARGS__)
#define pr_info(fmt, ...) log_msg(LOG_LVL_INFO, fmt, ##__VA_ARGS__)
#define pr_debug(fmt, ...)                                                   \
	do {                                                                 \
		if (log_level >= LOG_LVL_DEBUG)                              \
			log_msg(LOG_LVL_DEBUG, fmt, ##__VA_ARGS__);          \
	} while (0)
#define pr_warn_ratelimited(fmt, ...)                                        \
	pr_ratelimited(LOG_LVL_WARN, fmt, ##__VA_ARGS__)
#define pr_debug_ratelimited(fmt, ...)                                       \
	do {                                                                 \
		if (log_level >= LOG_LVL_DEBUG)                              \
			pr_ratelimited(LOG_LVL_DEBUG, fmt, ##__VA_ARGS__);   \
	} while (0)

#endif /* XBOOT_LOG_H */
