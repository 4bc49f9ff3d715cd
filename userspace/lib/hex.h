/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Lower-case hex text for digests and tokens, as the HTTP/JSON APIs and the
 * token file carry them.
 */
#ifndef XBOOT_HEX_H
#define XBOOT_HEX_H

#include <stddef.h>
#include <stdint.h>

int hex_digit(char c);
void hex_encode(char *out, const uint8_t *p, size_t n);
int hex_decode(uint8_t *out, const char *s, size_t n);

#endif
