/* SPDX-License-Identifier: GPL-2.0 */
/*
 * xboot-agent's own log lines: "xboot-agent: ..." on stderr, which /init
 * sends to the console and tests grep. They are the agent's user
 * interface, so they carry no timestamp or level (the shared log.h
 * format is for daemons); --debug adds the per-frame lines.
 */
#ifndef XBOOT_AGENT_LOG_H
#define XBOOT_AGENT_LOG_H

#include <stdbool.h>
#include <stdio.h>

extern bool agent_debug;

#define agent_log(fmt, ...)                                                  \
	fprintf(stderr, "xboot-agent: " fmt "\n", ##__VA_ARGS__)
#define agent_dbg(fmt, ...)                                                  \
	do {                                                                 \
		if (agent_debug)                                             \
			agent_log(fmt, ##__VA_ARGS__);                       \
	} while (0)

#endif /* XBOOT_AGENT_LOG_H */
