// SPDX-License-Identifier: GPL-2.0
/*
 * mkmedia: media.c from the command line, so the VM tests can build boot
 * media before `xbootctl media create` exists. The options are the ones
 * that command will take, plus the boot environment's files.
 *
 *   mkmedia --type floppy|usb|iso --out FILE --server ADDR [--machine MAC]
 *           [--ip CIDR [--gateway ADDR]] [--kernel F --initrd F] [--ca F]
 *           [--enrol CRED] [--append ARGS]
 *
 * usb and iso default to build/bootenv/{vmlinuz,initrd.img}.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "media.h"

static void usage(void)
{
	fprintf(stderr,
		"usage: mkmedia --type floppy|usb|iso --out FILE --server ADDR\n"
		"               [--machine MAC] [--ip CIDR [--gateway ADDR]]\n"
		"               [--kernel FILE --initrd FILE] [--ca FILE]\n"
		"               [--enrol CRED] [--append KERNEL-ARGS]\n");
	exit(1);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "type", required_argument, NULL, 't' },
		{ "out", required_argument, NULL, 'o' },
		{ "server", required_argument, NULL, 's' },
		{ "machine", required_argument, NULL, 'm' },
		{ "ip", required_argument, NULL, 'i' },
		{ "gateway", required_argument, NULL, 'g' },
		{ "kernel", required_argument, NULL, 'k' },
		{ "initrd", required_argument, NULL, 'r' },
		{ "ca", required_argument, NULL, 'c' },
		{ "enrol", required_argument, NULL, 'e' },
		{ "append", required_argument, NULL, 'a' },
		{ NULL, 0, NULL, 0 },
	};
	struct media_spec spec = { .type = -1 };
	char err[MEDIA_ERR_MAX];
	const char *type = NULL;
	int opt;

	while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (opt) {
		case 't': type = optarg; break;
		case 'o': spec.out = optarg; break;
		case 's': spec.server = optarg; break;
		case 'm': spec.mac = optarg; break;
		case 'i': spec.ip = optarg; break;
		case 'g': spec.gateway = optarg; break;
		case 'k': spec.kernel = optarg; break;
		case 'r': spec.initrd = optarg; break;
		case 'c': spec.ca = optarg; break;
		case 'e': spec.enrol = optarg; break;
		case 'a': spec.kernel_args = optarg; break;
		default: usage();
		}
	}
	if (optind != argc || !type)
		usage();
	if (media_type_parse(type, &spec.type)) {
		fprintf(stderr, "mkmedia: unknown media type '%s' (floppy, usb or iso)\n",
			type);
		return 1;
	}
	if (spec.type != MEDIA_FLOPPY && !spec.kernel && !spec.initrd) {
		spec.kernel = "build/bootenv/vmlinuz";
		spec.initrd = "build/bootenv/initrd.img";
	}
	if (media_create(&spec, err, sizeof(err))) {
		fprintf(stderr, "mkmedia: %s\n", err);
		return 1;
	}
	return 0;
}
