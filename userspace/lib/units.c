// SPDX-License-Identifier: GPL-2.0
/*
 * Byte counts in binary units, one way everywhere, so the agent's progress
 * line and xbootd's job log read the same.
 */
#include <stdio.h>

#include "units.h"

/* "512 B", "1.2 GiB": whole bytes, else one decimal; TiB at the most. */
void human_bytes(char *buf, size_t size, double v)
{
	static const char *const unit[] = { "B", "KiB", "MiB", "GiB", "TiB" };
	unsigned int i = 0;

	while (v >= 1024 && i < 4) {
		v /= 1024;
		i++;
	}
	snprintf(buf, size, i ? "%.1f %s" : "%.0f %s", v, unit[i]);
}
