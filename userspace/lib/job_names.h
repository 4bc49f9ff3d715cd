/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The names of the agent protocol's job types (enum xba_job_type), as
 * xbootctl takes them and both xbootd and the agent log them.
 */
#ifndef XBOOT_JOB_NAMES_H
#define XBOOT_JOB_NAMES_H

const char *xba_job_type_name(int type);
int xba_job_type_from_name(const char *name);

#endif
