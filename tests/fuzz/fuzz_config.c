// SPDX-License-Identifier: GPL-2.0
/*
 * libFuzzer target for the config parser: the input is a config file's
 * text; each line goes through the same split as config_load_file() into
 * config_set(), then the cross-key checks run on whatever was accepted.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "config.c"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	log_level = -1; /* config_validate() warns; keep the output quiet */
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const struct in_addr addr[1] = { { 0x0100000a } };   /* 10.0.0.1 */
	static const struct in_addr mask[1] = { { 0x00ffffff } };   /* /24 */
	struct cfg_error err;
	struct config cfg;
	char *text, *line, *next;

	if (size > 64 * 1024)
		return 0;
	text = malloc(size + 1);
	if (!text)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	config_init(&cfg);
	for (line = text; line; line = next) {
		next = strchr(line, '\n');
		if (next)
			*next++ = '\0';
		if (strlen(line) <= CFG_LINE_MAX)
			config_line(&cfg, line, "fuzz.conf:1", &err);
	}
	if (!config_validate(&cfg, &err))
		config_resolve(&cfg, addr, mask, 1, &err);
	config_free(&cfg);
	free(text);
	return 0;
}
