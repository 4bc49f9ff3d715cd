// SPDX-License-Identifier: GPL-2.0
/*
 * libFuzzer target for what a TFTP client sends: any bytes go through the
 * request parser (RRQ/WRQ with options) and the reply parser (ACK/ERROR);
 * an accepted request is negotiated against a few path MTUs, its OACK
 * built, and its file name run through the path sanitizer. The netascii
 * converter gets the same bytes in blocks of a size the input chooses.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../userspace/xbootd/tftp_path.c"
#include "../../userspace/xbootd/tftp_proto.c"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_request(const struct tftp_request *rq)
{
	static const uint32_t mtus[] = { 8, 512, 1468, TFTP_BLKSIZE_MAX };
	struct tftp_params p;
	char rel[TFTP_NAME_MAX];
	uint8_t oack[128];
	size_t i, n;

	if (strlen(rq->name) >= TFTP_NAME_MAX)
		abort();
	for (i = 0; i < sizeof(mtus) / sizeof(mtus[0]); i++) {
		tftp_negotiate(rq, mtus[i], 64, rq->tsize, &p);
		if (p.blksize < TFTP_BLKSIZE_MIN ||
		    p.blksize > TFTP_BLKSIZE_MAX || !p.window || p.window > 64)
			abort();
		/* a negotiated blksize is capped; the default 512 is not */
		if ((p.ack & TFTP_OPT_BLKSIZE) && p.blksize > mtus[i])
			abort();
		n = tftp_build_oack(oack, sizeof(oack), &p);
		if (n > sizeof(oack))
			abort();
	}
	if (!tftp_path_clean(rq->name, rel, sizeof(rel)) &&
	    (rel[0] == '/' || has_dotdot(rel)))
		abort();
}

static void check_netascii(const uint8_t *data, size_t size)
{
	uint8_t out[64];
	size_t used, off = 0, total = 0, n;
	int pend = -1;

	if (!size)
		return;
	while (off < size || pend >= 0) {
		n = tftp_netascii(data + off, size - off, &used, out,
				  1 + data[0] % sizeof(out), &pend);
		if (!n)
			abort();
		off += used;
		total += n;
	}
	if (total < size || total > 2 * size)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct tftp_request rq;
	const char *why;
	uint16_t blk;

	if (!tftp_parse_request(data, size, &rq, &why))
		check_request(&rq);
	else if (!why)
		abort();
	tftp_parse_reply(data, size, &blk);
	check_netascii(data, size);
	return 0;
}
