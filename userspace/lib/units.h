/* SPDX-License-Identifier: GPL-2.0 */
/* Sizes and rates for people: progress lines and listings. */
#ifndef XBOOT_UNITS_H
#define XBOOT_UNITS_H

#include <stddef.h>

void human_bytes(char *buf, size_t size, double v);

#endif
