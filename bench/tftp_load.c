// SPDX-License-Identifier: GPL-2.0
/*
 * tftp_load: many concurrent lockstep TFTP clients in one process, for the
 * TFTP benchmark (bench/tftp.sh).
 *
 * Each of --clients clients owns one UDP socket and fetches --file (RRQ
 * octet, blksize, tsize) with one block in flight and an ACK per DATA block,
 * as PXE firmware does: again and again until --seconds have passed, or
 * with --once a single time each (a boot storm), stopping when all are
 * finished or at --seconds, whichever comes first. A transfer counts
 * as done when the last (short) block arrives and the byte count equals
 * --size; it counts as failed on an ERROR packet, a wrong size or content,
 * or after --retries retransmissions of the last packet without an answer
 * (a timeout). Transfers still running at the deadline are abandoned and
 * counted apart: they are neither done nor failed, but their bytes count
 * in the throughput, which is every DATA byte accepted in order.
 *
 * One epoll loop, no threads: on a 2-core machine the server under test
 * gets the other core.
 *
 * Output: one line of key=value pairs on stdout, for the script to parse.
 * Exit 0 when it ran (failures are data, not errors), 2 on bad usage, 1 on
 * a setup error.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/time.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define OP_RRQ 1
#define OP_DATA 3
#define OP_ACK 4
#define OP_ERROR 5
#define OP_OACK 6
#define PKT_MAX 65536
#define CLIENTS_MAX 10000

struct client {
	int fd;
	bool running;
	bool connected;  /* to the server's transfer port (its TID) */
	uint16_t next;   /* block number expected next */
	unsigned int blk; /* negotiated block size: 512 until an OACK says */
	uint64_t got;    /* bytes of this transfer */
	double last_tx;  /* when the last packet left */
	int retries;
	uint8_t last[600]; /* the last packet sent, for retransmission */
	size_t last_len;
};

struct opts {
	struct sockaddr_in server;
	const char *file;
	unsigned int clients;
	unsigned int blksize;
	uint64_t size;
	double seconds;
	double timeout;
	int retries;
	bool once;
	const uint8_t *ref; /* --verify: the file's expected content */
};

struct totals {
	uint64_t done, failed, timeouts, errors, bad_size, bad_data, abandoned;
	uint64_t bytes, started;
};

static struct opts o = {
	.clients = 50,
	.blksize = 512,
	.seconds = 5,
	.timeout = 1,
	.retries = 5,
};
static struct totals t;

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void send_last(struct client *c)
{
	ssize_t n;

	if (c->connected)
		n = send(c->fd, c->last, c->last_len, 0);
	else
		n = sendto(c->fd, c->last, c->last_len, 0,
			   (struct sockaddr *)&o.server, sizeof(o.server));
	/* A lost send is a lost packet: the timeout resends it. */
	(void)n;
	c->last_tx = now();
}

/* A fresh socket per transfer: a new TID, as a rebooting client has. */
static int start(struct client *c, int ep)
{
	struct epoll_event ev = { .events = EPOLLIN };
	char bs[16];
	size_t len;
	int n;

	c->fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (c->fd < 0)
		return -errno;
	ev.data.ptr = c;
	if (epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev) < 0) {
		close(c->fd);
		return -errno;
	}
	snprintf(bs, sizeof(bs), "%u", o.blksize);
	c->last[0] = 0;
	c->last[1] = OP_RRQ;
	len = 2;
	n = snprintf((char *)c->last + len, sizeof(c->last) - len,
		     "%s%coctet%cblksize%c%s%ctsize%c0", o.file, 0, 0, 0, bs, 0, 0);
	c->last_len = len + n + 1;
	c->running = true;
	c->connected = false;
	c->next = 1;
	c->blk = 512;
	c->got = 0;
	c->retries = 0;
	t.started++;
	send_last(c);
	return 0;
}

static void stop(struct client *c, int ep)
{
	epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
	close(c->fd);
	c->fd = -1;
	c->running = false;
}

static void ack(struct client *c, uint16_t block)
{
	c->last[0] = 0;
	c->last[1] = OP_ACK;
	c->last[2] = block >> 8;
	c->last[3] = block & 0xff;
	c->last_len = 4;
	c->retries = 0;
	send_last(c);
}

static void finish(struct client *c, int ep, uint64_t *counter)
{
	(*counter)++;
	if (counter != &t.done)
		t.failed++;
	stop(c, ep);
}

/*
 * The OACK's blksize, if any: the server may grant less than asked (a
 * missing option means 512). Anything malformed fails the transfer.
 */
static int oack_blksize(const uint8_t *p, size_t n, unsigned int *blk)
{
	const char *s = (const char *)p + 2, *end = (const char *)p + n;

	while (s < end) {
		const char *name = s, *val;
		size_t nl = strnlen(name, end - name);

		if (name + nl >= end)
			return -EINVAL;
		val = name + nl + 1;
		if (val >= end || val + strnlen(val, end - val) >= end)
			return -EINVAL;
		if (!strcasecmp(name, "blksize")) {
			unsigned long v = strtoul(val, NULL, 10);

			if (v < 8 || v > o.blksize)
				return -EINVAL;
			*blk = v;
		}
		s = val + strlen(val) + 1;
	}
	return 0;
}

/* One DATA block: in order, a duplicate (ACK lost: ACK again), or junk. */
static void on_data(struct client *c, int ep, const uint8_t *p, size_t n)
{
	uint16_t block = (uint16_t)(p[2] << 8 | p[3]);
	size_t len = n - 4;

	if (block != c->next) {
		if (block == (uint16_t)(c->next - 1))
			ack(c, block);
		return;
	}
	if (len > c->blk || c->got + len > o.size) {
		finish(c, ep, &t.bad_size);
		return;
	}
	if (o.ref && memcmp(o.ref + c->got, p + 4, len)) {
		finish(c, ep, &t.bad_data);
		return;
	}
	c->got += len;
	t.bytes += len;
	ack(c, block);
	c->next++;
	if (len < c->blk) {
		if (c->got == o.size)
			finish(c, ep, &t.done);
		else
			finish(c, ep, &t.bad_size);
	}
}

static bool first_answer(const struct sockaddr_in *from, const uint8_t *p,
			 size_t n)
{
	int op = p[0] << 8 | p[1];

	if (from->sin_addr.s_addr != o.server.sin_addr.s_addr)
		return false;
	return op == OP_OACK || op == OP_ERROR ||
	       (op == OP_DATA && n >= 4 && p[2] == 0 && p[3] == 1);
}

static void on_readable(struct client *c, int ep)
{
	static uint8_t buf[PKT_MAX];
	struct sockaddr_in from;
	socklen_t flen = sizeof(from);
	ssize_t n;

	while (c->running) {
		n = recvfrom(c->fd, buf, sizeof(buf), 0, (struct sockaddr *)&from,
			     &flen);
		if (n < 0)
			return;
		if (n < 4)
			continue;
		if (!c->connected) {
			/* The first answer names the server's TID. A port
			 * reused from an earlier transfer can still get that
			 * transfer's late blocks: only an answer to this
			 * request (OACK, DATA 1, ERROR) from the server may
			 * name it. */
			if (!first_answer(&from, buf, n))
				continue;
			if (connect(c->fd, (struct sockaddr *)&from, flen) < 0)
				continue;
			c->connected = true;
		}
		switch (buf[1] | buf[0] << 8) {
		case OP_DATA:
			on_data(c, ep, buf, n);
			break;
		case OP_OACK:
			if (c->next != 1)
				break;
			if (oack_blksize(buf, n, &c->blk)) {
				finish(c, ep, &t.errors);
				break;
			}
			ack(c, 0);
			break;
		case OP_ERROR:
			finish(c, ep, &t.errors);
			break;
		}
	}
}

static void on_timeouts(struct client *cs, int ep, double when)
{
	unsigned int i;

	for (i = 0; i < o.clients; i++) {
		struct client *c = &cs[i];

		if (!c->running || when - c->last_tx < o.timeout)
			continue;
		if (++c->retries > o.retries) {
			finish(c, ep, &t.timeouts);
			continue;
		}
		send_last(c);
	}
}

static int raise_nofile(unsigned int need)
{
	struct rlimit r;

	if (getrlimit(RLIMIT_NOFILE, &r) < 0)
		return -errno;
	if (r.rlim_cur >= need)
		return 0;
	r.rlim_cur = need;
	if (r.rlim_max < need)
		r.rlim_max = need;
	return setrlimit(RLIMIT_NOFILE, &r) < 0 ? -errno : 0;
}

static int load_ref(const char *path)
{
	struct stat st;
	void *m;
	int fd;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0 || (uint64_t)st.st_size != o.size) {
		close(fd);
		return -EINVAL;
	}
	m = o.size ? mmap(NULL, o.size, PROT_READ, MAP_PRIVATE, fd, 0) : NULL;
	close(fd);
	if (m == MAP_FAILED)
		return -errno;
	o.ref = m;
	return 0;
}

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: tftp_load --server=IP[:PORT] --file=NAME --size=BYTES [options]\n"
		"  --clients=N     concurrent clients (default 50)\n"
		"  --blksize=N     blksize option, 8..65464 (default 512)\n"
		"  --seconds=S     run this long (default 5)\n"
		"  --timeout=S     retransmit after S seconds (default 1)\n"
		"  --retries=N     give up after N retransmissions (default 5)\n"
		"  --verify=PATH   compare every block with this local copy\n"
		"  --once          one transfer per client, then stop\n");
}

static int parse_server(const char *s)
{
	char host[64];
	const char *colon = strchr(s, ':');
	size_t n = colon ? (size_t)(colon - s) : strlen(s);
	unsigned long port = 69;

	if (n >= sizeof(host))
		return -EINVAL;
	memcpy(host, s, n);
	host[n] = 0;
	if (colon) {
		char *end;

		port = strtoul(colon + 1, &end, 10);
		if (*end || !port || port > 65535)
			return -EINVAL;
	}
	o.server.sin_family = AF_INET;
	o.server.sin_port = htons(port);
	return inet_pton(AF_INET, host, &o.server.sin_addr) == 1 ? 0 : -EINVAL;
}

static int parse_args(int argc, char **argv, const char **verify)
{
	static const struct option lo[] = {
		{ "server", required_argument, NULL, 's' },
		{ "file", required_argument, NULL, 'f' },
		{ "size", required_argument, NULL, 'z' },
		{ "clients", required_argument, NULL, 'c' },
		{ "blksize", required_argument, NULL, 'b' },
		{ "seconds", required_argument, NULL, 't' },
		{ "timeout", required_argument, NULL, 'T' },
		{ "retries", required_argument, NULL, 'r' },
		{ "verify", required_argument, NULL, 'v' },
		{ "once", no_argument, NULL, 'o' },
		{ "help", no_argument, NULL, 'h' },
		{},
	};
	bool have_server = false;
	int c;

	while ((c = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
		switch (c) {
		case 's':
			if (parse_server(optarg))
				return -EINVAL;
			have_server = true;
			break;
		case 'f': o.file = optarg; break;
		case 'z': o.size = strtoull(optarg, NULL, 10); break;
		case 'c': o.clients = strtoul(optarg, NULL, 10); break;
		case 'b': o.blksize = strtoul(optarg, NULL, 10); break;
		case 't': o.seconds = strtod(optarg, NULL); break;
		case 'T': o.timeout = strtod(optarg, NULL); break;
		case 'r': o.retries = atoi(optarg); break;
		case 'v': *verify = optarg; break;
		case 'o': o.once = true; break;
		case 'h': usage(stdout); exit(0);
		default: return -EINVAL;
		}
	}
	if (!have_server || !o.file || strlen(o.file) > 400 || !o.clients ||
	    o.clients > CLIENTS_MAX || o.blksize < 8 || o.blksize > 65464 ||
	    o.seconds <= 0 || o.seconds > 600 || o.timeout <= 0 || o.retries < 0)
		return -EINVAL;
	return 0;
}

int main(int argc, char **argv)
{
	struct epoll_event evs[256];
	const char *verify = NULL;
	struct rusage ru;
	struct client *cs;
	double t0, end, last_scan, elapsed;
	unsigned int i;
	int ep, n, err;

	if (parse_args(argc, argv, &verify)) {
		usage(stderr);
		return 2;
	}
	if (verify && (err = load_ref(verify))) {
		fprintf(stderr, "tftp_load: %s: %s (size must be --size)\n", verify,
			strerror(-err));
		return 1;
	}
	err = raise_nofile(o.clients + 64);
	if (err)
		fprintf(stderr, "tftp_load: cannot raise RLIMIT_NOFILE: %s\n", strerror(-err));
	cs = calloc(o.clients, sizeof(*cs));
	ep = epoll_create1(EPOLL_CLOEXEC);
	if (!cs || ep < 0) {
		perror("tftp_load");
		return 1;
	}
	t0 = now();
	end = t0 + o.seconds;
	last_scan = t0;
	for (i = 0; i < o.clients; i++) {
		err = start(&cs[i], ep);
		if (err) {
			fprintf(stderr, "tftp_load: client %u: %s\n", i, strerror(-err));
			return 1;
		}
	}
	for (;;) {
		double tnow = now();

		if (tnow >= end)
			break;
		n = epoll_wait(ep, evs, 256, 50);
		for (int k = 0; k < n; k++)
			on_readable(evs[k].data.ptr, ep);
		tnow = now();
		if (tnow - last_scan >= 0.05) {
			on_timeouts(cs, ep, tnow);
			last_scan = tnow;
		}
		if (tnow >= end)
			break;
		if (o.once) {
			for (i = 0; i < o.clients && !cs[i].running; i++)
				;
			if (i == o.clients)
				break;
			continue;
		}
		/* A finished client starts its next transfer at once. */
		for (i = 0; i < o.clients; i++) {
			if (!cs[i].running && start(&cs[i], ep))
				break;
		}
	}
	elapsed = now() - t0;
	for (i = 0; i < o.clients; i++) {
		if (cs[i].running) {
			t.abandoned++;
			stop(&cs[i], ep);
		}
	}
	getrusage(RUSAGE_SELF, &ru);
	printf("clients=%u blksize=%u seconds=%.3f cpu=%.2f started=%llu done=%llu failed=%llu "
	       "timeouts=%llu errors=%llu bad_size=%llu bad_data=%llu abandoned=%llu "
	       "bytes=%llu mbps=%.2f\n",
	       o.clients, o.blksize, elapsed,
	       ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 +
		       ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6,
	       (unsigned long long)t.started,
	       (unsigned long long)t.done, (unsigned long long)t.failed,
	       (unsigned long long)t.timeouts, (unsigned long long)t.errors,
	       (unsigned long long)t.bad_size, (unsigned long long)t.bad_data,
	       (unsigned long long)t.abandoned, (unsigned long long)t.bytes,
	       t.bytes / elapsed / 1e6);
	return 0;
}
