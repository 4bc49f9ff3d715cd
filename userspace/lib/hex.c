// SPDX-License-Identifier: GPL-2.0
/*
 * Hex encoding shared by xbootd and the agent, so that a digest the agent
 * prints is spelled the way xbootd parses it.
 */
#include <errno.h>

#include "hex.h"

/* The value of one hex digit, either case; -1 for anything else. */
int hex_digit(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* n bytes as 2n lower-case digits and a NUL: out holds 2n + 1. */
void hex_encode(char *out, const uint8_t *p, size_t n)
{
	static const char digits[] = "0123456789abcdef";
	size_t i;

	for (i = 0; i < n; i++) {
		out[2 * i] = digits[p[i] >> 4];
		out[2 * i + 1] = digits[p[i] & 0xf];
	}
	out[2 * n] = '\0';
}

/*
 * The first 2n characters of s as n bytes. It stops at the first non-digit
 * (a NUL included), so a short string fails rather than reads past its end;
 * whether anything may follow is the caller's business. 0 or -EINVAL.
 */
int hex_decode(uint8_t *out, const char *s, size_t n)
{
	int hi, lo;
	size_t i;

	for (i = 0; i < n; i++) {
		hi = hex_digit(s[2 * i]);
		if (hi < 0)
			return -EINVAL;
		lo = hex_digit(s[2 * i + 1]);
		if (lo < 0)
			return -EINVAL;
		out[i] = hi << 4 | lo;
	}
	return 0;
}
