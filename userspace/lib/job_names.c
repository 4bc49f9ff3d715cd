// SPDX-License-Identifier: GPL-2.0
/*
 * One table of job type names for xbootd and the agent, so a type added to
 * include/xboot/agent.h is named once.
 */
#include <errno.h>
#include <string.h>

#include "xboot/agent.h"
#include "job_names.h"

static const char *const type_names[__XBA_JOB_LAST] = {
	[XBA_JOB_RUN] = "run",
	[XBA_JOB_REBOOT] = "reboot",
	[XBA_JOB_POWEROFF] = "poweroff",
	[XBA_JOB_KEXEC] = "kexec",
	[XBA_JOB_IMAGE_DEPLOY] = "image-deploy",
	[XBA_JOB_IMAGE_CAPTURE] = "image-capture",
};

/* "unknown" for a type this build has no name for. */
const char *xba_job_type_name(int type)
{
	if (type < 0 || type >= __XBA_JOB_LAST || !type_names[type])
		return "unknown";
	return type_names[type];
}

/* The type called name, or -EINVAL (name NULL included). */
int xba_job_type_from_name(const char *name)
{
	int i;

	for (i = 0; name && i < __XBA_JOB_LAST; i++)
		if (type_names[i] && !strcmp(type_names[i], name))
			return i;
	return -EINVAL;
}
