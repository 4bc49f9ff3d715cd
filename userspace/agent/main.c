// SPDX-License-Identifier: GPL-2.0
/* xboot-agent: placeholder until the agent's main loop lands. */
#include <stdio.h>

int main(void)
{
	fprintf(stderr, "xboot-agent: not built yet\n");
	return 1;
}
