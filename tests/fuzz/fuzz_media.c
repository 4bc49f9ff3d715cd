// SPDX-License-Identifier: GPL-2.0
/*
 * libFuzzer target for boot media requests (media.c): the input is a
 * media_spec's fields separated by NUL bytes (type, server, machine, ip,
 * gateway, enrolment credential, kernel arguments, ca), so a field may
 * hold a newline. A spec that media_plan_make() accepts goes through the
 * three script generators, and every line they write must start with one
 * of the commands we write: a field that smuggled in a line of its own
 * (an iPXE or GRUB command of the requester's choosing) aborts. No tool
 * runs: media_create() is not called.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "media.c"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FIELDS 8

/* Every line of text starts with one of starts[]. */
static void lines_check(const char *text, const char *const *starts)
{
	const char *line = text, *nl;
	int i, ok;

	while (*line) {
		ok = 0;
		for (i = 0; starts[i]; i++)
			if (!strncmp(line, starts[i], strlen(starts[i])))
				ok = 1;
		if (!ok)
			abort();
		nl = strchr(line, '\n');
		if (!nl)
			break;
		line = nl + 1;
	}
}

static const char *const ipxe_starts[] = {
	"#", "set ", "iseq ", ":", "echo ", "ifopen ", "dhcp ", "chain ",
	"sleep ", "goto ", NULL,
};
static const char *const syslinux_starts[] = {
	"SERIAL ", "#", "DEFAULT ", "PROMPT ", "TIMEOUT ", "LABEL ",
	"\tKERNEL ", "\tINITRD ", NULL,
};
static const char *const grub_starts[] = {
	"echo ", "search ", "linux ", "initrd ", "boot", NULL,
};

static void texts_check(const struct media_plan *plan,
			const struct media_spec *spec)
{
	char *t;

	t = media_ipxe_script(plan);
	if (t)
		lines_check(t, ipxe_starts);
	free(t);
	t = media_syslinux_cfg(plan);
	if (t)
		lines_check(t, syslinux_starts);
	free(t);
	t = media_grub_cfg(plan, spec);
	if (t)
		lines_check(t, grub_starts);
	free(t);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *f[FIELDS] = { 0 };
	struct media_spec spec;
	struct media_plan plan;
	enum media_type type;
	char err[MEDIA_ERR_MAX];
	char *buf, *p;
	size_t i, n = 0;

	if (size > 4096)
		return 0;
	buf = malloc(size + 1);
	if (!buf)
		return 0;
	memcpy(buf, data, size);
	buf[size] = '\0';
	for (p = buf; n < FIELDS && p <= buf + size; p += strlen(p) + 1)
		f[n++] = p;
	for (i = 0; i < n; i++)
		if (!*f[i])
			f[i] = NULL; /* "not given" */
	/* a type media_type_parse() knows, or any number */
	if (!f[0] || media_type_parse(f[0], &type))
		type = f[0] ? (enum media_type)(unsigned char)f[0][0] : 0;
	spec = (struct media_spec){
		.type = type,
		.out = "/nonexistent/fuzz.img",
		.server = f[1],
		.mac = f[2],
		.ip = f[3],
		.gateway = f[4],
		.enrol = f[5],
		.kernel_args = f[6],
		.ca = f[7],
		.kernel = "/boot/vmlinuz",
		.initrd = "/boot/initrd.img",
	};
	err[0] = '\0';
	if (!media_plan_make(&spec, &plan, err, sizeof(err)))
		texts_check(&plan, &spec);
	else if (!err[0])
		abort(); /* a refusal always says why */
	free(buf);
	return 0;
}
