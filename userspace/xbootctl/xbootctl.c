// SPDX-License-Identifier: GPL-2.0
/*
 * xbootctl: the admin CLI. One HTTP request over xbootd's control socket
 * per command (control.h is the API); the JSON answer is printed as it is
 * (--json) or as a table. The `cache` commands talk to xboot.ko itself over
 * generic netlink (kcache.h), so they work with or without xbootd. The
 * image commands work on the image store themselves (image_store.h): the
 * store's directory comes from xbootd's GET /status, or --image-dir.
 *
 *   xbootctl [--control-socket=PATH] [--json] status|leases|stats
 *   xbootctl [--json] machines | machine MAC [disconnect|forget-token]
 *   xbootctl [--json] enrol MAC
 *   xbootctl [--json] jobs [MAC] | job show|output|cancel|retry ID
 *   xbootctl [--json] job add MAC TYPE [ARGS...] [--timeout=S]
 *            [--step=pre|image|post|final] [--script-file=FILE|-]
 *   xbootctl [--json] watch [--count=N] [--for=SECONDS] [--after=SEQ]
 *   xbootctl [--json] [--image-dir=DIR] images
 *   xbootctl [--json] [--image-dir=DIR] image import RAWFILE NAME
 *            [--chunk-size=SIZE] [--level=N] [--threads=N]
 *   xbootctl [--json] [--image-dir=DIR] image export NAME FILE |
 *            image verify NAME | image rm NAME
 *   xbootctl [--json] media create --type floppy|usb|iso --out FILE
 *            [--server ADDR[:PORT]] [--machine MAC] [--ip CIDR
 *            --gateway ADDR] [--kernel F --initrd F] [--ca F]
 *   xbootctl [--json] cache list|stats
 *   xbootctl cache add [--replace] PATH
 *   xbootctl cache del ID|PATH
 *
 * Exits 0 on success, 1 on any error (xbootd not running, xboot.ko not
 * loaded, an error answer: its message is printed).
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>
#include <json-c/json.h>
#include <openssl/evp.h>

#include "config.h"
#include "image_store.h"
#include "kcache.h"
#include "media_srv.h"
#include "xboot/agent.h"

#define RESPONSE_MAX (256 << 20)
#define IO_TIMEOUT_S 10
#define MAX_ARGS (XBA_JOB_ARGS_MAX + 3) /* job add MAC TYPE ARGS... */
#define SCRIPT_MAX (XBA_ATTR_VALUE_MAX - 1)
#define WATCH_POLL_MS 500

struct opts {
	const char *socket;
	const char *command;
	const char *args[MAX_ARGS]; /* after the command */
	int nargs;
	int json;
	int replace;
	/* job add */
	const char *timeout;
	const char *step;
	const char *script_file;
	/* watch */
	const char *count;
	const char *for_s;
	const char *after;
	/* images */
	const char *image_dir;
	const char *chunk_size;
	const char *level;
	const char *threads;
	/* media create */
	const char *type;
	const char *out;
	const char *server;
	const char *machine;
	const char *ip;
	const char *gateway;
	const char *kernel;
	const char *initrd;
	const char *ca;
};

/* How long to wait for xbootd's answer; media create waits for a build. */
static int io_timeout_s = IO_TIMEOUT_S;

static void usage(FILE *out)
{
	fprintf(out,
		"Usage: xbootctl [--control-socket=PATH] [--json] COMMAND\n"
		"Talk to a running xbootd.\n\n"
		"Commands:\n"
		"  status           interfaces, XDP mode, TFTP block source, lease counts, agents\n"
		"  leases           every lease: MAC, address, state, expiry, host name\n"
		"  stats            DHCP, XDP, TFTP, HTTP and agent counters\n"
		"  machines         every machine: phase, agent, inventory, current job\n"
		"  machine MAC      one machine: inventory (NICs, disks) and its jobs\n"
		"  machine MAC disconnect    end its agent session (the agent reconnects)\n"
		"  machine MAC forget-token  forget its token: it must enrol again\n"
		"  enrol MAC        mint a single-use enrolment credential; prints it\n"
		"  jobs [MAC]       every job, or one machine's\n"
		"  job add MAC TYPE [ARGS...]  queue a job (run, reboot, poweroff, kexec,\n"
		"                   image-deploy NAME DISK, image-capture DISK NAME); for\n"
		"                   run, ARGS[0] is the shell script; prints the job id\n"
		"  job show ID      the job and its output\n"
		"  job output ID    the job's output, raw\n"
		"  job cancel ID    cancel a job that is queued, running, failed or timed out\n"
		"  job retry ID     queue a failed, timed-out or cancelled job again\n"
		"  watch            follow phases and job progress, one line per event:\n"
		"                   TIME MAC PHASE [job ID] DETAIL\n"
		"  cache list       files in xboot.ko's page-cache block cache\n"
		"  cache add PATH   register a file (relative: to the current directory)\n"
		"  cache del ID|PATH  unregister a file\n"
		"  cache stats      xboot.ko's counters\n"
		"  images           every image: NAME SIZE STORED RATIO CHUNKS PTABLE CAPTURED SOURCE\n"
		"  image import RAWFILE NAME  a raw disk image (file or block device) into the store\n"
		"  image export NAME FILE     the image back to raw bytes in FILE (a file or a\n"
		"                   block device), byte-identical to what was imported\n"
		"  image verify NAME  read every chunk and check its hashes, then the image's\n"
		"  image rm NAME    remove the image\n"
		"  media create --type floppy|usb|iso --out FILE  a boot medium for a machine\n"
		"                   that cannot PXE boot, built and written by xbootd\n\n"
		"The cache commands talk to xboot.ko directly and need CAP_NET_ADMIN.\n"
		"The image commands read and write the image store themselves; its directory\n"
		"comes from the running xbootd (its image-dir), or --image-dir without it.\n\n"
		"Options:\n"
		"  --control-socket=PATH  xbootd's socket (default %s)\n"
		"  --json                 print the answer as JSON (watch: one event per line)\n"
		"  --timeout=S            job add: the job's timeout in seconds (0: none)\n"
		"  --step=STEP            job add: pre, image, post or final (default: by type)\n"
		"  --script-file=FILE     job add run: the script from FILE ('-': stdin)\n"
		"  --count=N              watch: stop after N events\n"
		"  --for=SECONDS          watch: stop after this long\n"
		"  --after=SEQ            watch: start after event SEQ (0: every event kept)\n"
		"                         instead of now\n"
		"  --replace              cache add: replace an entry of the same path\n"
		"  --image-dir=DIR        the image store, instead of asking xbootd\n"
		"  --chunk-size=SIZE      image import: chunk size, 64K to 64M, a power of two\n"
		"                         (default 4M)\n"
		"  --level=N              image import: zstd level, %d to %d (default 3)\n"
		"  --threads=N            image import: zstd worker threads per chunk\n"
		"  --type=TYPE            media create: floppy, usb or iso\n"
		"  --out=FILE             media create: the image to write (xbootd writes it)\n"
		"  --server=ADDR[:PORT]   media create: the xbootd the medium reaches\n"
		"                         (default: xbootd's address and HTTP port)\n"
		"  --machine=MAC          media create: the machine it is for (usb, iso: with\n"
		"                         the agent service on, a 30-day enrolment credential)\n"
		"  --ip=CIDR --gateway=ADDR  media create: a static address instead of DHCP\n"
		"  --kernel=F --initrd=F  media create (usb, iso): the boot environment\n"
		"                         (default: HTTP-ROOT/boot/default/{vmlinuz,initrd.img})\n"
		"  --ca=F                 media create (usb, iso): the CA the agent pins\n"
		"                         (default: xbootd's agent CA)\n"
		"  --                     what follows are arguments, even if they start with -\n"
		"  -h, --help             this text\n",
		XBOOTD_DEFAULT_CONTROL_SOCKET, XBI_LEVEL_MIN, XBI_LEVEL_MAX);
}

/* cache list|stats, cache add PATH, cache del ID|PATH */
static int cache_args_check(const struct opts *o)
{
	const char *sub = o->nargs ? o->args[0] : "";
	int want;

	if (!strcmp(sub, "list") || !strcmp(sub, "stats"))
		want = 1;
	else if (!strcmp(sub, "add") || !strcmp(sub, "del"))
		want = 2;
	else {
		fprintf(stderr, "xbootctl: cache: list, add PATH, del ID|PATH or stats\n");
		return -1;
	}
	if (o->nargs != want) {
		fprintf(stderr, "xbootctl: cache %s: %s\n", sub,
			o->nargs < want ? "which file?" : "too many arguments");
		return -1;
	}
	return 0;
}

/* job add MAC TYPE [ARGS...] | job show|output|cancel|retry ID */
static int job_args_check(const struct opts *o)
{
	const char *sub = o->nargs ? o->args[0] : "";

	if (!strcmp(sub, "add")) {
		if (o->nargs >= 3)
			return 0;
		fprintf(stderr, "xbootctl: job add MAC TYPE [ARGS...]\n");
		return -1;
	}
	if (strcmp(sub, "show") && strcmp(sub, "output") &&
	    strcmp(sub, "cancel") && strcmp(sub, "retry")) {
		fprintf(stderr, "xbootctl: job: add, show, output, cancel or retry\n");
		return -1;
	}
	if (o->nargs != 2) {
		fprintf(stderr, "xbootctl: job %s ID\n", sub);
		return -1;
	}
	return 0;
}

/* image import RAWFILE NAME | image export NAME FILE | image verify|rm NAME */
static int image_args_check(const struct opts *o)
{
	const char *sub = o->nargs ? o->args[0] : "";
	const char *use;
	int want;

	if (!strcmp(sub, "import")) {
		want = 3;
		use = "image import RAWFILE NAME";
	} else if (!strcmp(sub, "export")) {
		want = 3;
		use = "image export NAME FILE";
	} else if (!strcmp(sub, "verify") || !strcmp(sub, "rm")) {
		want = 2;
		use = !strcmp(sub, "rm") ? "image rm NAME" : "image verify NAME";
	} else {
		fprintf(stderr, "xbootctl: image: import, export, verify or rm\n");
		return -1;
	}
	if (o->nargs != want) {
		fprintf(stderr, "xbootctl: %s\n", use);
		return -1;
	}
	return 0;
}

/* media create */
static int media_args_check(const struct opts *o)
{
	if (o->nargs != 1 || strcmp(o->args[0], "create")) {
		fprintf(stderr, "xbootctl: media create --type floppy|usb|iso --out FILE [...] (see --help)\n");
		return -1;
	}
	if (!o->type || !o->out) {
		fprintf(stderr, "xbootctl: media create: --type floppy|usb|iso and --out FILE are required\n");
		return -1;
	}
	return 0;
}

/* How many arguments each command takes, at least and at most. */
static const struct {
	const char *name;
	int min, max;
} commands[] = {
	{ "status", 0, 0 },	{ "leases", 0, 0 },   { "stats", 0, 0 },
	{ "machines", 0, 0 },	{ "machine", 1, 2 },  { "enrol", 1, 1 },
	{ "jobs", 0, 1 },	{ "watch", 0, 0 },    { "images", 0, 0 },
};

static int command_args_check(const struct opts *o)
{
	size_t i;

	if (!strcmp(o->command, "cache"))
		return cache_args_check(o);
	if (!strcmp(o->command, "job"))
		return job_args_check(o);
	if (!strcmp(o->command, "image"))
		return image_args_check(o);
	if (!strcmp(o->command, "media"))
		return media_args_check(o);
	for (i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
		if (strcmp(o->command, commands[i].name))
			continue;
		if (o->nargs < commands[i].min) {
			fprintf(stderr, "xbootctl: %s: which machine? (see --help)\n",
				o->command);
			return -1;
		}
		if (o->nargs > commands[i].max) {
			fprintf(stderr, "xbootctl: unexpected '%s' (see --help)\n",
				o->args[commands[i].max]);
			return -1;
		}
		if (o->nargs == 2 && strcmp(o->args[1], "disconnect") &&
		    strcmp(o->args[1], "forget-token")) {
			fprintf(stderr, "xbootctl: machine MAC: disconnect or forget-token\n");
			return -1;
		}
		return 0;
	}
	fprintf(stderr, "xbootctl: unknown command '%s' (see --help)\n",
		o->command);
	return -1;
}

/* "--name=value" or "--name value": 1 with *val set, 0 if a isn't it. */
static int opt_value(int argc, char **argv, int *i, const char *name,
		     const char **val)
{
	size_t n = strlen(name);
	const char *a = argv[*i];

	if (strncmp(a, name, n))
		return 0;
	if (a[n] == '=') {
		*val = a + n + 1;
		return 1;
	}
	if (a[n] || *i + 1 >= argc)
		return 0;
	*val = argv[++*i];
	return 1;
}

static int parse_args(int argc, char **argv, struct opts *o)
{
	int i, dashdash = 0;

	for (i = 1; i < argc; i++) {
		const char *a = argv[i];

		if (dashdash || a[0] != '-' || !a[1]) {
			if (!o->command) {
				o->command = a;
			} else if (o->nargs < MAX_ARGS) {
				o->args[o->nargs++] = a;
			} else {
				fprintf(stderr, "xbootctl: too many arguments\n");
				return -1;
			}
		} else if (!strcmp(a, "--")) {
			dashdash = 1;
		} else if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
			usage(stdout);
			exit(0);
		} else if (!strcmp(a, "--json")) {
			o->json = 1;
		} else if (!strcmp(a, "--replace")) {
			o->replace = 1;
		} else if (opt_value(argc, argv, &i, "--control-socket",
				     &o->socket) ||
			   opt_value(argc, argv, &i, "--timeout", &o->timeout) ||
			   opt_value(argc, argv, &i, "--step", &o->step) ||
			   opt_value(argc, argv, &i, "--script-file",
				     &o->script_file) ||
			   opt_value(argc, argv, &i, "--count", &o->count) ||
			   opt_value(argc, argv, &i, "--for", &o->for_s) ||
			   opt_value(argc, argv, &i, "--after", &o->after) ||
			   opt_value(argc, argv, &i, "--image-dir",
				     &o->image_dir) ||
			   opt_value(argc, argv, &i, "--chunk-size",
				     &o->chunk_size) ||
			   opt_value(argc, argv, &i, "--level", &o->level) ||
			   opt_value(argc, argv, &i, "--threads",
				     &o->threads) ||
			   opt_value(argc, argv, &i, "--type", &o->type) ||
			   opt_value(argc, argv, &i, "--out", &o->out) ||
			   opt_value(argc, argv, &i, "--server", &o->server) ||
			   opt_value(argc, argv, &i, "--machine",
				     &o->machine) ||
			   opt_value(argc, argv, &i, "--ip", &o->ip) ||
			   opt_value(argc, argv, &i, "--gateway",
				     &o->gateway) ||
			   opt_value(argc, argv, &i, "--kernel", &o->kernel) ||
			   opt_value(argc, argv, &i, "--initrd", &o->initrd) ||
			   opt_value(argc, argv, &i, "--ca", &o->ca)) {
			continue;
		} else {
			fprintf(stderr, "xbootctl: unexpected '%s' (see --help)\n",
				a);
			return -1;
		}
	}
	if (!o->command) {
		usage(stderr);
		return -1;
	}
	return command_args_check(o);
}

static int control_connect(const char *path)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	struct timeval tv = { .tv_sec = io_timeout_s };
	int fd;

	if (strlen(path) >= sizeof(sun.sun_path)) {
		fprintf(stderr, "xbootctl: %s: path too long\n", path);
		return -1;
	}
	strcpy(sun.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		perror("xbootctl: socket");
		return -1;
	}
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	if (connect(fd, (struct sockaddr *)&sun, sizeof(sun))) {
		fprintf(stderr, "xbootctl: cannot connect to %s: %s - is xbootd running?\n",
			path, strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
}

static int send_all(int fd, const char *buf, size_t len)
{
	ssize_t n;

	while (len) {
		n = send(fd, buf, len, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		buf += n;
		len -= n;
	}
	return 0;
}

/* Everything until xbootd closes the connection; NUL-terminated. */
static char *recv_all(int fd, size_t *len)
{
	size_t cap = 65536, n = 0;
	char *buf = malloc(cap), *grown;
	ssize_t r;

	while (buf) {
		if (n + 1 == cap) {
			if (cap >= RESPONSE_MAX) {
				free(buf);
				errno = EFBIG;
				return NULL;
			}
			grown = realloc(buf, cap * 2);
			if (!grown)
				break;
			buf = grown;
			cap *= 2;
		}
		r = recv(fd, buf + n, cap - n - 1, 0);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			break;
		if (r == 0) {
			buf[n] = '\0';
			*len = n;
			return buf;
		}
		n += r;
	}
	free(buf);
	return NULL;
}

/* GET path; the parsed JSON body and the HTTP status, or NULL. */

struct answer {
	int status;
	int json;	/* Content-Type: application/json */
	char *body;	/* NUL-terminated, in buf after the head */
	size_t len;
	char *buf;
};

/* METHOD path with an optional body (POST: Content-Length even when
 * empty). 0 with *a filled in, or -1 after saying why. */
static int http_call(const char *sock, const char *method, const char *path,
		     const char *body, struct answer *a)
{
	size_t blen = body ? strlen(body) : 0, len = 0;
	char head[512], *end;
	int fd, n;

	fd = control_connect(sock);
	if (fd < 0)
		return -1;
	if (!strcmp(method, "POST"))
		n = snprintf(head, sizeof(head),
			     "POST %s HTTP/1.1\r\nHost: xbootd\r\n"
			     "Connection: close\r\n"
			     "Content-Type: application/json\r\n"
			     "Content-Length: %zu\r\n\r\n", path, blen);
	else
		n = snprintf(head, sizeof(head),
			     "%s %s HTTP/1.1\r\nHost: xbootd\r\n"
			     "Connection: close\r\n\r\n", method, path);
	if (n < 0 || (size_t)n >= sizeof(head)) {
		fprintf(stderr, "xbootctl: %s: request too long\n", path);
		close(fd);
		return -1;
	}
	if (send_all(fd, head, n) || (blen && send_all(fd, body, blen))) {
		fprintf(stderr, "xbootctl: %s: send: %s\n", sock, strerror(errno));
		close(fd);
		return -1;
	}
	a->buf = recv_all(fd, &len);
	close(fd);
	if (!a->buf) {
		fprintf(stderr, "xbootctl: %s: receive: %s\n", sock,
			strerror(errno));
		return -1;
	}
	end = strstr(a->buf, "\r\n\r\n");
	if (sscanf(a->buf, "HTTP/1.%*d %d", &a->status) != 1 || !end) {
		fprintf(stderr, "xbootctl: %s: not an HTTP answer\n", sock);
		free(a->buf);
		return -1;
	}
	*end = '\0';
	a->json = !!strcasestr(a->buf, "Content-Type: application/json");
	a->body = end + 4;
	a->len = len - (a->body - a->buf);
	return 0;
}

/*
 * METHOD path [body] for a JSON answer: the parsed body when the status is
 * 2xx; else NULL after printing xbootd's error message. *status (may be
 * NULL) gets the status, 0 when there was no answer.
 */
static struct json_object *api(const struct opts *o, const char *method,
			       const char *path, const char *body,
			       int *status)
{
	struct json_object *j = NULL, *err;
	struct answer a;

	if (status)
		*status = 0;
	if (http_call(o->socket, method, path, body, &a))
		return NULL;
	if (status)
		*status = a.status;
	if (a.json)
		j = json_tokener_parse(a.body);
	if (!j) {
		fprintf(stderr, "xbootctl: %s %s: xbootd answered %d, not JSON\n",
			method, path, a.status);
	} else if (a.status < 200 || a.status > 299) {
		fprintf(stderr, "xbootctl: %s\n",
			json_object_object_get_ex(j, "error", &err) ?
				json_object_get_string(err) :
				"xbootd refused the request");
		json_object_put(j);
		j = NULL;
	}
	free(a.buf);
	return j;
}

static void print_json(struct json_object *o)
{
	printf("%s\n", json_object_to_json_string_ext(
			       o, JSON_C_TO_STRING_PRETTY |
					  JSON_C_TO_STRING_NOSLASHESCAPE));
}

/* --- tables ------------------------------------------------------------ */

/* The value as text; "-" when it is missing, null or "". */
static const char *get_str(struct json_object *o, const char *key)
{
	struct json_object *v;
	const char *s;

	if (!o || !json_object_object_get_ex(o, key, &v) || !v)
		return "-";
	s = json_object_get_string(v);
	return s && *s ? s : "-";
}

static int64_t get_int(struct json_object *o, const char *key)
{
	struct json_object *v;

	if (!o || !json_object_object_get_ex(o, key, &v))
		return 0;
	return json_object_get_int64(v);
}

static void fmt_duration(int64_t s, char *buf, size_t size)
{
	if (s < 3600)
		snprintf(buf, size, "%dm%02ds", (int)(s / 60), (int)(s % 60));
	else if (s < 86400)
		snprintf(buf, size, "%dh%02dm", (int)(s / 3600),
			 (int)(s % 3600 / 60));
	else
		snprintf(buf, size, "%dd%02dh", (int)(s / 86400),
			 (int)(s % 86400 / 3600));
}

static const char *block_source_name(const char *src)
{
	if (!strcmp(src, "kfunc"))
		return "kfunc (xboot.ko)";
	return strcmp(src, "-") ? src : "off";
}

static void print_status(struct json_object *o)
{
	struct json_object *ifs, *ls, *it, *ag;
	char up[32];
	size_t i;

	fmt_duration(get_int(o, "uptime_s"), up, sizeof(up));
	printf("xbootd %s, mode %s, up %s\n\n", get_str(o, "version"),
	       get_str(o, "mode"), up);
	printf("%-16s %7s  %-18s  %-17s  %s\n", "INTERFACE", "IFINDEX",
	       "ADDRESS", "MAC", "XDP");
	if (json_object_object_get_ex(o, "interfaces", &ifs))
		for (i = 0; i < json_object_array_length(ifs); i++) {
			it = json_object_array_get_idx(ifs, i);
			printf("%-16s %7lld  %-18s  %-17s  %s\n",
			       get_str(it, "name"),
			       (long long)get_int(it, "ifindex"),
			       get_str(it, "address"), get_str(it, "mac"),
			       get_str(it, "xdp"));
		}
	printf("\nTFTP block source: %s\n",
	       block_source_name(get_str(o, "tftp_block_source")));
	if (json_object_object_get_ex(o, "leases", &ls))
		printf("\nleases: %lld bound, %lld offered, %lld declined, %lld free, %lld queued for XDP\n",
		       (long long)get_int(ls, "bound"),
		       (long long)get_int(ls, "offered"),
		       (long long)get_int(ls, "declined"),
		       (long long)get_int(ls, "free"),
		       (long long)get_int(ls, "queued"));
	if (json_object_object_get_ex(o, "agents", &ag)) {
		if (get_int(ag, "port"))
			printf("agents: port %lld, %lld connected\n",
			       (long long)get_int(ag, "port"),
			       (long long)get_int(ag, "active"));
		else
			printf("agents: off\n");
	}
	if (*get_str(o, "image_dir") == '/')
		printf("images: %s\n", get_str(o, "image_dir"));
}

static void print_leases(struct json_object *o)
{
	struct json_object *arr, *l;
	time_t now = time(NULL);
	int64_t left;
	char exp[32];
	size_t i, n = 0;

	if (!json_object_object_get_ex(o, "leases", &arr))
		return;
	n = json_object_array_length(arr);
	printf("%-17s  %-15s  %-8s  %-10s  %s\n", "MAC", "IP", "STATE",
	       "EXPIRES", "HOSTNAME");
	for (i = 0; i < n; i++) {
		l = json_object_array_get_idx(arr, i);
		left = get_int(l, "expires") - now;
		if (left < 0)
			snprintf(exp, sizeof(exp), "expired");
		else if (left > 10LL * 365 * 86400)
			snprintf(exp, sizeof(exp), "never");
		else
			fmt_duration(left, exp, sizeof(exp));
		printf("%-17s  %-15s  %-8s  %-10s  %s\n", get_str(l, "mac"),
		       get_str(l, "ip"), get_str(l, "state"), exp,
		       get_str(l, "hostname"));
	}
	printf("%zu lease%s\n", n, n == 1 ? "" : "s");
}

static void print_counters(struct json_object *o, const char *title)
{
	struct json_object *group;
	int any = 0;

	printf("%s:\n", title);
	if (json_object_object_get_ex(o, title, &group)) {
		json_object_object_foreach(group, key, val) {
			printf("  %-20s %lld\n", key,
			       (long long)json_object_get_int64(val));
			any = 1;
		}
	}
	if (!any)
		printf("  (off)\n");
}

static void print_stats(struct json_object *o)
{
	print_counters(o, "dhcp");
	print_counters(o, "xdp");
	print_counters(o, "tftp");
	print_counters(o, "http");
	print_counters(o, "agent");
}


/* --- machines, jobs, events --------------------------------------------- */

static int has_value(struct json_object *o, const char *key)
{
	struct json_object *v;

	return json_object_object_get_ex(o, key, &v) && v;
}

/* 8589934592 -> "8.0G" */
static const char *fmt_bytes(uint64_t n, char *buf, size_t size)
{
	static const char units[] = "BKMGTPE";
	double v = n;
	int u = 0;

	while (v >= 1024 && u < 6) {
		v /= 1024;
		u++;
	}
	if (!u)
		snprintf(buf, size, "%lluB", (unsigned long long)n);
	else
		snprintf(buf, size, "%.1f%c", v, units[u]);
	return buf;
}

/* Epoch seconds as one token: the time of day for the last day, else the
 * date; "-" for null or 0. */
static const char *fmt_when(struct json_object *o, const char *key,
			    char *buf, size_t size)
{
	time_t t = get_int(o, key), now = time(NULL);
	struct tm tm;

	if (!t)
		return "-";
	localtime_r(&t, &tm);
	strftime(buf, size, now - t < 86400 && t - now < 86400 ? "%H:%M:%S" :
		 "%Y-%m-%d", &tm);
	return buf;
}

/* A full local time, for details. */
static const char *fmt_stamp(struct json_object *o, const char *key,
			     char *buf, size_t size)
{
	time_t t = get_int(o, key);
	struct tm tm;

	if (!t)
		return "-";
	localtime_r(&t, &tm);
	strftime(buf, size, "%Y-%m-%d %H:%M:%S", &tm);
	return buf;
}

/* The time of day, for watch. */
static const char *fmt_clock(struct json_object *o, const char *key,
			     char *buf, size_t size)
{
	time_t t = get_int(o, key);
	struct tm tm;

	localtime_r(&t, &tm);
	strftime(buf, size, "%H:%M:%S", &tm);
	return buf;
}

static const char *fmt_exit(struct json_object *j, char *buf, size_t size)
{
	int code;

	if (!has_value(j, "exit_code"))
		return "-";
	/* the wire form: -N for signal N */
	code = (int)get_int(j, "exit_code");
	if (code < 0)
		snprintf(buf, size, "sig%u", -(unsigned int)code);
	else
		snprintf(buf, size, "%d", code);
	return buf;
}

static void print_machines(struct json_object *o)
{
	struct json_object *arr, *m, *job;
	char vp[64], mem[16], jb[40];
	size_t i, n = 0;

	printf("%-17s  %-15s  %-9s  %-9s  %-24s  %4s  %6s  %5s  %s\n", "MAC",
	       "IP", "PHASE", "CONNECTED", "VENDOR/PRODUCT", "CPUS", "MEM",
	       "DISKS", "JOB");
	if (json_object_object_get_ex(o, "machines", &arr))
		n = json_object_array_length(arr);
	for (i = 0; i < n; i++) {
		m = json_object_array_get_idx(arr, i);
		if (*get_str(m, "vendor") != '-' || *get_str(m, "product") != '-')
			snprintf(vp, 25, "%s/%s", get_str(m, "vendor"),
				 get_str(m, "product"));
		else
			snprintf(vp, sizeof(vp), "-");
		if (json_object_object_get_ex(m, "job", &job) && job)
			snprintf(jb, sizeof(jb), "%lld %s",
				 (long long)get_int(job, "id"),
				 get_str(job, "state"));
		else
			snprintf(jb, sizeof(jb), "-");
		printf("%-17s  %-15s  %-9s  %-9s  %-24s  %4lld  %6s  %5lld  %s\n",
		       get_str(m, "mac"),
		       /* no lease: where its agent connects from */
		       *get_str(m, "ip") != '-' ? get_str(m, "ip") :
						  get_str(m, "peer"),
		       get_str(m, "phase"),
		       get_int(m, "connected") ? "yes" : "no", vp,
		       (long long)get_int(m, "cpus"),
		       get_int(m, "memory_bytes") ?
			       fmt_bytes(get_int(m, "memory_bytes"), mem,
					 sizeof(mem)) : "-",
		       (long long)get_int(m, "disks"), jb);
	}
	printf("%zu machine%s\n", n, n == 1 ? "" : "s");
}

static void print_jobs_table(struct json_object *arr, const char *indent)
{
	char ex[24], cr[32], fi[32];
	struct json_object *j;
	size_t i, n = arr ? json_object_array_length(arr) : 0;

	printf("%s%6s  %-17s  %-5s  %-13s  %-9s  %5s  %-10s  %s\n", indent,
	       "ID", "MAC", "STEP", "TYPE", "STATE", "EXIT", "CREATED",
	       "FINISHED");
	for (i = 0; i < n; i++) {
		j = json_object_array_get_idx(arr, i);
		printf("%s%6lld  %-17s  %-5s  %-13s  %-9s  %5s  %-10s  %s\n",
		       indent, (long long)get_int(j, "id"), get_str(j, "mac"),
		       get_str(j, "step"), get_str(j, "type"),
		       get_str(j, "state"), fmt_exit(j, ex, sizeof(ex)),
		       fmt_when(j, "created", cr, sizeof(cr)),
		       fmt_when(j, "finished", fi, sizeof(fi)));
	}
}

static void print_jobs(struct json_object *o)
{
	struct json_object *arr = NULL;
	size_t n;

	json_object_object_get_ex(o, "jobs", &arr);
	print_jobs_table(arr, "");
	n = arr ? json_object_array_length(arr) : 0;
	printf("%zu job%s\n", n, n == 1 ? "" : "s");
}

static void print_nics(struct json_object *inv)
{
	struct json_object *arr, *e;
	char speed[24];
	size_t i, n = 0;

	if (json_object_object_get_ex(inv, "nics", &arr))
		n = json_object_array_length(arr);
	printf("\nNICs:\n");
	if (!n) {
		printf("  (none reported)\n");
		return;
	}
	printf("  %-16s  %-17s  %s\n", "NAME", "MAC", "SPEED");
	for (i = 0; i < n; i++) {
		e = json_object_array_get_idx(arr, i);
		if (get_int(e, "speed_mbps") > 0)
			snprintf(speed, sizeof(speed), "%lld Mb/s",
				 (long long)get_int(e, "speed_mbps"));
		else
			snprintf(speed, sizeof(speed), "-");
		printf("  %-16s  %-17s  %s\n", get_str(e, "name"),
		       get_str(e, "mac"), speed);
	}
}

static void print_disks(struct json_object *inv)
{
	struct json_object *arr, *e, *rot;
	char human[16];
	size_t i, n = 0;

	if (json_object_object_get_ex(inv, "disks", &arr))
		n = json_object_array_length(arr);
	printf("\nDisks:\n");
	if (!n) {
		printf("  (none reported)\n");
		return;
	}
	printf("  %-12s  %14s  %7s  %-10s  %-24s  %s\n", "NAME", "SIZE_BYTES",
	       "SIZE", "ROTATIONAL", "MODEL", "SERIAL");
	for (i = 0; i < n; i++) {
		e = json_object_array_get_idx(arr, i);
		rot = NULL;
		json_object_object_get_ex(e, "rotational", &rot);
		printf("  %-12s  %14lld  %7s  %-10s  %-24s  %s\n",
		       get_str(e, "name"), (long long)get_int(e, "size"),
		       fmt_bytes(get_int(e, "size"), human, sizeof(human)),
		       !rot ? "-" : json_object_get_boolean(rot) ? "yes" : "no",
		       get_str(e, "model"), get_str(e, "serial"));
	}
}

static void print_machine(struct json_object *o)
{
	struct json_object *inv = NULL, *jobs = NULL;
	char since[32], mem[16];

	printf("machine %s\n", get_str(o, "mac"));
	printf("  %-13s %s\n", "ip", get_str(o, "ip"));
	printf("  %-13s %s\n", "hostname", get_str(o, "hostname"));
	printf("  %-13s %s since %s%s%s\n", "phase", get_str(o, "phase"),
	       fmt_stamp(o, "phase_since", since, sizeof(since)),
	       *get_str(o, "phase_detail") != '-' ? ": " : "",
	       *get_str(o, "phase_detail") != '-' ? get_str(o, "phase_detail") :
						  "");
	printf("  %-13s %s%s%s\n", "connected",
	       get_int(o, "connected") ? "yes" : "no",
	       get_int(o, "connected") ? ", from " : "",
	       get_int(o, "connected") ? get_str(o, "peer") : "");
	json_object_object_get_ex(o, "inventory", &inv);
	printf("  %-13s %s\n", "vendor", get_str(o, "vendor"));
	printf("  %-13s %s\n", "product", get_str(o, "product"));
	printf("  %-13s %s\n", "serial", get_str(o, "serial"));
	printf("  %-13s %s\n", "system uuid", get_str(inv, "system_uuid"));
	printf("  %-13s %s\n", "agent", get_str(inv, "agent_version"));
	printf("  %-13s %s\n", "boot id", get_str(inv, "boot_id"));
	printf("  %-13s %lld\n", "cpus", (long long)get_int(o, "cpus"));
	if (get_int(o, "memory_bytes"))
		printf("  %-13s %s (%lld bytes)\n", "memory",
		       fmt_bytes(get_int(o, "memory_bytes"), mem, sizeof(mem)),
		       (long long)get_int(o, "memory_bytes"));
	else
		printf("  %-13s -\n", "memory");
	print_nics(inv);
	print_disks(inv);
	printf("\nJobs:\n");
	json_object_object_get_ex(o, "jobs", &jobs);
	if (jobs && json_object_is_type(jobs, json_type_array) &&
	    json_object_array_length(jobs))
		print_jobs_table(jobs, "  ");
	else
		printf("  (none)\n");
}

/* MAC as the API wants it in a path: checked here for a clear message. */
static int mac_arg(const char *s, char out[18])
{
	unsigned int b[6];
	char tail;

	if (sscanf(s, "%2x:%2x:%2x:%2x:%2x:%2x%c", &b[0], &b[1], &b[2], &b[3],
		   &b[4], &b[5], &tail) != 6 &&
	    (strlen(s) != 12 || strspn(s, "0123456789abcdefABCDEF") != 12 ||
	     sscanf(s, "%2x%2x%2x%2x%2x%2x", &b[0], &b[1], &b[2], &b[3], &b[4],
		    &b[5]) != 6) &&
	    sscanf(s, "%2x-%2x-%2x-%2x-%2x-%2x%c", &b[0], &b[1], &b[2], &b[3],
		   &b[4], &b[5], &tail) != 6) {
		fprintf(stderr, "xbootctl: '%s' is not a MAC address (aa:bb:cc:dd:ee:ff)\n",
			s);
		return -1;
	}
	snprintf(out, 18, "%02x:%02x:%02x:%02x:%02x:%02x", b[0], b[1], b[2],
		 b[3], b[4], b[5]);
	return 0;
}

static int id_arg(const char *s, unsigned long long *id)
{
	char *end;

	errno = 0;
	*id = isdigit((unsigned char)*s) ? strtoull(s, &end, 10) : 0;
	if (!*id || errno || *end) {
		fprintf(stderr, "xbootctl: '%s' is not a job id\n", s);
		return -1;
	}
	return 0;
}

/* GET path, printed with print (or as JSON). */
static int cmd_show(const struct opts *o, const char *path,
		    void (*print)(struct json_object *o))
{
	struct json_object *j = api(o, "GET", path, NULL, NULL);

	if (!j)
		return 1;
	if (o->json)
		print_json(j);
	else
		print(j);
	json_object_put(j);
	return 0;
}

static int cmd_machine(const struct opts *o)
{
	struct json_object *j;
	char mac[18], path[64];

	if (mac_arg(o->args[0], mac))
		return 1;
	if (o->nargs == 1) {
		snprintf(path, sizeof(path), "/machines/%s", mac);
		return cmd_show(o, path, print_machine);
	}
	snprintf(path, sizeof(path), "/machines/%s/%s", mac, o->args[1]);
	j = api(o, "POST", path, "", NULL);
	if (!j)
		return 1;
	if (o->json)
		print_json(j);
	else if (!strcmp(o->args[1], "disconnect"))
		printf("%s: agent session ended\n", mac);
	else
		printf("%s: token forgotten; the machine must enrol again\n",
		       mac);
	json_object_put(j);
	return 0;
}

static int cmd_enrol(const struct opts *o)
{
	struct json_object *j;
	char mac[18], path[64];

	if (mac_arg(o->args[0], mac))
		return 1;
	snprintf(path, sizeof(path), "/machines/%s/enrol", mac);
	j = api(o, "POST", path, "", NULL);
	if (!j)
		return 1;
	if (o->json)
		print_json(j);
	else
		printf("%s\n", get_str(j, "credential"));
	json_object_put(j);
	return 0;
}

static int cmd_jobs(const struct opts *o)
{
	char mac[18], path[64];

	if (!o->nargs)
		return cmd_show(o, "/jobs", print_jobs);
	if (mac_arg(o->args[0], mac))
		return 1;
	snprintf(path, sizeof(path), "/jobs?mac=%s", mac);
	return cmd_show(o, path, print_jobs);
}

/* The whole of FILE ('-': stdin), NUL-terminated, at most SCRIPT_MAX. */
static char *read_script(const char *file)
{
	int fd = strcmp(file, "-") ? open(file, O_RDONLY | O_CLOEXEC) : 0;
	size_t len = 0;
	char *buf;
	ssize_t n;

	if (fd < 0) {
		fprintf(stderr, "xbootctl: %s: %s\n", file, strerror(errno));
		return NULL;
	}
	buf = malloc(SCRIPT_MAX + 2);
	while (buf && (n = read(fd, buf + len, SCRIPT_MAX + 1 - len)) != 0) {
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			fprintf(stderr, "xbootctl: %s: %s\n", file,
				strerror(errno));
			free(buf);
			buf = NULL;
			break;
		}
		len += n;
		if (len > SCRIPT_MAX) {
			fprintf(stderr, "xbootctl: %s: longer than %d bytes\n",
				file, SCRIPT_MAX);
			free(buf);
			buf = NULL;
		}
	}
	if (fd)
		close(fd);
	if (buf)
		buf[len] = '\0';
	return buf;
}

/* The body of POST /jobs from the command line; NULL after an error. */
static struct json_object *job_body(const struct opts *o, const char *mac)
{
	struct json_object *b = json_object_new_object();
	struct json_object *args = json_object_new_array();
	char *script, *end;
	unsigned long t;
	int i;

	json_object_object_add(b, "mac", json_object_new_string(mac));
	json_object_object_add(b, "type", json_object_new_string(o->args[2]));
	json_object_object_add(b, "args", args);
	if (o->step)
		json_object_object_add(b, "step",
				       json_object_new_string(o->step));
	if (o->timeout) {
		errno = 0;
		t = isdigit((unsigned char)*o->timeout) ?
			    strtoul(o->timeout, &end, 10) : ULONG_MAX;
		if (t == ULONG_MAX || errno || *end || t > UINT32_MAX) {
			fprintf(stderr, "xbootctl: --timeout: '%s' is not a number of seconds\n",
				o->timeout);
			goto err;
		}
		json_object_object_add(b, "timeout_s",
				       json_object_new_int64(t));
	}
	if (o->script_file) {
		script = read_script(o->script_file);
		if (!script)
			goto err;
		json_object_array_add(args, json_object_new_string(script));
		free(script);
	}
	for (i = 3; i < o->nargs; i++)
		json_object_array_add(args, json_object_new_string(o->args[i]));
	return b;
err:
	json_object_put(b);
	return NULL;
}

static int cmd_job_add(const struct opts *o)
{
	struct json_object *b, *j, *job;
	char mac[18];

	if (mac_arg(o->args[1], mac))
		return 1;
	b = job_body(o, mac);
	if (!b)
		return 1;
	j = api(o, "POST", "/jobs",
		json_object_to_json_string_ext(b, JSON_C_TO_STRING_PLAIN |
					       JSON_C_TO_STRING_NOSLASHESCAPE),
		NULL);
	json_object_put(b);
	if (!j)
		return 1;
	if (o->json)
		print_json(j);
	else if (json_object_object_get_ex(j, "job", &job))
		printf("%lld\n", (long long)get_int(job, "id"));
	json_object_put(j);
	return 0;
}

/* The job's stored output into *a (a->body, a->len). */
static int job_output_get(const struct opts *o, unsigned long long id,
			  struct answer *a)
{
	struct json_object *j, *err;
	char path[64];

	snprintf(path, sizeof(path), "/jobs/%llu/output", id);
	if (http_call(o->socket, "GET", path, NULL, a))
		return -1;
	if (a->status == 200)
		return 0;
	j = a->json ? json_tokener_parse(a->body) : NULL;
	fprintf(stderr, "xbootctl: %s\n",
		j && json_object_object_get_ex(j, "error", &err) ?
			json_object_get_string(err) : "no output");
	json_object_put(j);
	free(a->buf);
	return -1;
}

static void print_job(struct json_object *j)
{
	struct json_object *args = NULL;
	char ex[24], t[32];
	size_t i, n;

	printf("job %lld: %s on %s, step %s\n", (long long)get_int(j, "id"),
	       get_str(j, "type"), get_str(j, "mac"), get_str(j, "step"));
	printf("  %-9s %s\n", "state", get_str(j, "state"));
	printf("  %-9s %s\n", "exit", fmt_exit(j, ex, sizeof(ex)));
	if (*get_str(j, "reason") != '-')
		printf("  %-9s %s\n", "reason", get_str(j, "reason"));
	if (get_int(j, "timeout_s"))
		printf("  %-9s %lld s\n", "timeout",
		       (long long)get_int(j, "timeout_s"));
	else
		printf("  %-9s none\n", "timeout");
	printf("  %-9s %s\n", "created", fmt_stamp(j, "created", t, sizeof(t)));
	printf("  %-9s %s\n", "started", fmt_stamp(j, "started", t, sizeof(t)));
	printf("  %-9s %s\n", "finished",
	       fmt_stamp(j, "finished", t, sizeof(t)));
	printf("  %-9s %lld bytes (%lld kept)\n", "output",
	       (long long)get_int(j, "output_bytes"),
	       (long long)get_int(j, "output_stored"));
	json_object_object_get_ex(j, "args", &args);
	n = args ? json_object_array_length(args) : 0;
	for (i = 0; i < n; i++)
		printf("  args[%zu]   %s\n", i, json_object_get_string(
			       json_object_array_get_idx(args, i)));
}

static int cmd_job(const struct opts *o)
{
	const char *sub = o->args[0];
	struct json_object *j, *job = NULL;
	unsigned long long id;
	struct answer a;
	char path[64];

	if (!strcmp(sub, "add"))
		return cmd_job_add(o);
	if (id_arg(o->args[1], &id))
		return 1;
	if (!strcmp(sub, "output")) {
		if (job_output_get(o, id, &a))
			return 1;
		fwrite(a.body, 1, a.len, stdout);
		free(a.buf);
		return fflush(stdout) ? 1 : 0;
	}
	if (!strcmp(sub, "show"))
		snprintf(path, sizeof(path), "/jobs/%llu", id);
	else
		snprintf(path, sizeof(path), "/jobs/%llu/%s", id, sub);
	j = api(o, strcmp(sub, "show") ? "POST" : "GET", path,
		strcmp(sub, "show") ? "" : NULL, NULL);
	if (!j)
		return 1;
	json_object_object_get_ex(j, "job", &job);
	if (!strcmp(sub, "show")) {
		if (job_output_get(o, id, &a)) {
			json_object_put(j);
			return 1;
		}
		if (o->json) {
			json_object_object_add(j, "output",
					       json_object_new_string_len(
						       a.body, a.len));
			print_json(j);
		} else {
			print_job(job);
			printf("--- output ---\n");
			fwrite(a.body, 1, a.len, stdout);
			if (a.len && a.body[a.len - 1] != '\n')
				printf("\n");
		}
		free(a.buf);
	} else if (o->json) {
		print_json(j);
	} else {
		printf("job %llu: %s\n", id, get_str(job, "state"));
	}
	json_object_put(j);
	return 0;
}

/* ---- watch ---- */

/* SIGINT or SIGTERM: watch stops, an image operation gives up cleanly */
static volatile sig_atomic_t interrupted;

static void on_sigint(int sig)
{
	interrupted = 1;
}

/* "1.5 GiB" -> bytes; 0 when the text is not a size. */
static double size_value(double v, const char *unit)
{
	static const char *const units[] = { "B", "KiB", "MiB", "GiB", "TiB" };
	double mult = 1;
	size_t i;

	for (i = 0; i < sizeof(units) / sizeof(units[0]); i++, mult *= 1024)
		if (!strcmp(unit, units[i]))
			return v * mult;
	return 0;
}

/*
 * An image transfer's progress ("...: 1.2 GiB of 4.0 GiB, 110.5 MiB/s")
 * as a bar, "[#######.............]  35%", into buf; "" for any other
 * detail.
 */
static void progress_bar(const char *detail, char *buf, size_t size)
{
	char u1[8], u2[8], bar[21];
	const char *p = strstr(detail, ": ");
	double done, total, f;
	int n;

	buf[0] = '\0';
	if (!p || sscanf(p + 2, "%lf %7s of %lf %7[A-Za-z]", &done, u1,
			 &total, u2) != 4)
		return;
	done = size_value(done, u1);
	total = size_value(total, u2);
	if (total <= 0 || done < 0)
		return;
	f = done / total > 1 ? 1 : done / total;
	n = (int)(f * 20 + 0.5);
	memset(bar, '#', n);
	memset(bar + n, '.', 20 - n);
	bar[20] = '\0';
	snprintf(buf, size, "[%s] %3d%% ", bar, (int)(f * 100));
}

static int watch_print(const struct opts *o, struct json_object *e)
{
	char bar[40];
	char t[32], job[32];
	const char *detail;
	int n;

	if (o->json) {
		printf("%s\n", json_object_to_json_string_ext(
			e, JSON_C_TO_STRING_PLAIN |
				   JSON_C_TO_STRING_NOSLASHESCAPE));
	} else {
		printf("%s %s %s", fmt_clock(e, "time", t, sizeof(t)),
		       get_str(e, "mac"), get_str(e, "phase"));
		detail = get_str(e, "detail");
		if (has_value(e, "job")) {
			n = snprintf(job, sizeof(job), "job %lld",
				     (long long)get_int(e, "job"));
			printf(" %s", job);
			/* the detail often starts with the same words */
			if (!strncmp(detail, job, n) && detail[n] == ' ')
				detail += n + 1;
		}
		progress_bar(detail, bar, sizeof(bar));
		if (bar[0])	/* "...img1: [####....]  35% 1.4 GiB of 4.0 GiB" */
			printf(" %.*s%s%s", (int)(strstr(detail, ": ") + 2 - detail),
			       detail, bar, strstr(detail, ": ") + 2);
		else if (*detail && strcmp(detail, "-"))
			printf(" %s", detail);
		printf("\n");
	}
	return fflush(stdout);
}

static double mono_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* A nonnegative number option; -1 when absent, -2 when bad. */
static double num_opt(const char *name, const char *v)
{
	char *end;
	double d;

	if (!v)
		return -1;
	errno = 0;
	d = strtod(v, &end);
	if (errno || *end || end == v || d < 0) {
		fprintf(stderr, "xbootctl: %s: '%s' is not a number\n", name, v);
		return -2;
	}
	return d;
}

/* One poll: print the events after *after. -1: xbootd did not answer. */
static int watch_poll(const struct opts *o, uint64_t *after, long *left)
{
	struct json_object *j, *arr = NULL;
	char path[80];
	size_t i, n;

	snprintf(path, sizeof(path), "/events?after=%llu&max=1024",
		 (unsigned long long)*after);
	j = api(o, "GET", path, NULL, NULL);
	if (!j)
		return -1;
	if (get_int(j, "lost"))
		fprintf(stderr, "xbootctl: watch: %lld events lost\n",
			(long long)get_int(j, "lost"));
	json_object_object_get_ex(j, "events", &arr);
	n = arr ? json_object_array_length(arr) : 0;
	for (i = 0; i < n && *left; i++) {
		watch_print(o, json_object_array_get_idx(arr, i));
		if (*left > 0)
			--*left;
	}
	*after = get_int(j, "seq");
	json_object_put(j);
	return 0;
}

static int cmd_watch(const struct opts *o)
{
	struct sigaction sa = { .sa_handler = on_sigint };
	double count = num_opt("--count", o->count);
	double secs = num_opt("--for", o->for_s);
	double start = mono_s(), wait, rest;
	double after = num_opt("--after", o->after);
	long left = count < 0 ? -1 : (long)count;
	struct json_object *j;
	uint64_t seq;

	if (count == -2 || secs == -2 || after == -2)
		return 1;
	if (after < 0) {
		/* from now on */
		j = api(o, "GET", "/events?max=0", NULL, NULL);
		if (!j)
			return 1;
		seq = get_int(j, "seq");
		json_object_put(j);
	} else {
		seq = (uint64_t)after;
	}
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	while (left && !interrupted) {
		/* xbootd may be restarting: keep asking until the end */
		watch_poll(o, &seq, &left);
		if (!left || interrupted)
			break;
		wait = WATCH_POLL_MS / 1000.0;
		if (secs >= 0) {
			rest = start + secs - mono_s();
			if (rest <= 0)
				break;
			if (wait > rest)
				wait = rest;
		}
		usleep((useconds_t)(wait * 1e6));
	}
	return 0;
}

/* --- images: the store, read and written here ------------------------------ */

/*
 * Import, export and verify move gigabytes, so they run here and not in
 * xbootd, whose one loop must keep answering DHCP. They go through the
 * image store (image_store.h) as xbootd would: a new image is written in a
 * locked staging directory and appears under its name by one rename, so
 * xbootd's GET /images (which reads the directory on each request) lists
 * it at once and never half-made, and xbootd's start-up sweep leaves a
 * running import alone.
 */

/* The store's directory: --image-dir, else the running xbootd's. */
#define NO_XBOOTD_HINT \
	"xbootctl: without xbootd, name the image store with --image-dir=DIR\n"

static int image_dir_get(const struct opts *o, char *out, size_t size)
{
	struct json_object *j;
	const char *dir;
	int ret = 0, status;

	if (o->image_dir) {
		snprintf(out, size, "%s", o->image_dir);
		return 0;
	}
	j = api(o, "GET", "/status", NULL, &status);
	if (!j) {
		if (!status)
			fprintf(stderr, NO_XBOOTD_HINT);
		return -1;
	}
	dir = get_str(j, "image_dir");
	if (*dir == '/') {
		snprintf(out, size, "%s", dir);
	} else {
		fprintf(stderr, "xbootctl: this xbootd names no image store: give --image-dir=DIR\n");
		ret = -1;
	}
	json_object_put(j);
	return ret;
}

/* Only an import may create the store's directory: a mistyped
 * --image-dir should not leave an empty store behind. */
static int images_open(const struct opts *o, bool create,
		       struct image_store **s)
{
	struct image_err e = { "" };
	char dir[PATH_MAX];
	struct stat st;

	if (image_dir_get(o, dir, sizeof(dir)))
		return -1;
	if (!create && (stat(dir, &st) || !S_ISDIR(st.st_mode))) {
		fprintf(stderr, "xbootctl: no image store at %s\n", dir);
		return -1;
	}
	if (image_store_open(s, dir, &e)) {
		fprintf(stderr, "xbootctl: image store %s: %s\n", dir, e.msg);
		return -1;
	}
	return 0;
}

/* "image NAME: why", unless the store's message names the image itself. */
static int image_err(const char *name, const char *msg)
{
	char own[XBI_NAME_MAX + 16];
	const char *m = msg;
	size_t n;

	if (!strncmp(m, "no ", 3))
		m += 3;
	n = snprintf(own, sizeof(own), "image %s", name);
	if (!strncmp(m, own, n) && (!m[n] || m[n] == ' ' || m[n] == ':'))
		fprintf(stderr, "xbootctl: %s\n", msg);
	else
		fprintf(stderr, "xbootctl: image %s: %s\n", name, msg);
	return 1;
}

/* The same object as xbootd's GET /images (control.h). */
static struct json_object *image_info_json(const struct image_info *in)
{
	static const uint8_t zero_mac[XBI_MAC_LEN];
	struct json_object *o = json_object_new_object();
	char mac[18], hex[2 * XBI_SHA256_LEN + 1];
	const uint8_t *m = in->meta.mac;
	int i;

	json_object_object_add(o, "name", json_object_new_string(in->name));
	json_object_object_add(o, "broken",
			       json_object_new_boolean(!!in->error[0]));
	if (in->error[0]) {
		json_object_object_add(o, "error",
				       json_object_new_string(in->error));
		return o;
	}
	json_object_object_add(o, "size", json_object_new_int64(in->meta.size));
	json_object_object_add(o, "stored",
			       json_object_new_int64(in->data_size));
	json_object_object_add(o, "chunks",
			       json_object_new_int64(in->n_chunks));
	json_object_object_add(o, "holes", json_object_new_int64(in->n_holes));
	json_object_object_add(o, "chunk_size",
			       json_object_new_int64(in->chunk_size));
	json_object_object_add(o, "ptable", json_object_new_string(
			       image_ptable_name(in->meta.ptable)));
	json_object_object_add(o, "level",
			       json_object_new_int64(in->meta.level));
	json_object_object_add(o, "captured",
			       json_object_new_int64(in->meta.capture_time));
	snprintf(mac, sizeof(mac), "%02x:%02x:%02x:%02x:%02x:%02x", m[0], m[1],
		 m[2], m[3], m[4], m[5]);
	json_object_object_add(o, "source",
			       memcmp(m, zero_mac, XBI_MAC_LEN) ?
				       json_object_new_string(mac) : NULL);
	for (i = 0; i < XBI_SHA256_LEN; i++)
		snprintf(hex + 2 * i, 3, "%02x", in->sha256[i]);
	json_object_object_add(o, "sha256", json_object_new_string(hex));
	return o;
}

static void image_info_from(const struct image_handle *h, const char *name,
			    struct image_info *in)
{
	memset(in, 0, sizeof(*in));
	snprintf(in->name, sizeof(in->name), "%s", name);
	in->meta = h->m.meta;
	in->chunk_size = h->m.chunk_size;
	in->n_chunks = h->m.n_chunks;
	in->n_holes = h->m.n_holes;
	in->data_size = h->m.data_size;
	memcpy(in->sha256, h->m.sha256, XBI_SHA256_LEN);
}

/* "3.4x": how much smaller the store's copy is; "-" for all holes. */
static const char *fmt_ratio(struct json_object *im, char *buf, size_t size)
{
	int64_t stored = get_int(im, "stored");

	if (stored <= 0)
		return "-";
	snprintf(buf, size, "%.1fx", (double)get_int(im, "size") / stored);
	return buf;
}

static void print_images(struct json_object *o)
{
	char sz[16], st[16], ratio[16], when[32];
	struct json_object *arr, *im;
	size_t i, n = 0;

	printf("%-24s  %7s  %7s  %6s  %7s  %-6s  %-19s  %s\n", "NAME", "SIZE",
	       "STORED", "RATIO", "CHUNKS", "PTABLE", "CAPTURED", "SOURCE");
	if (json_object_object_get_ex(o, "images", &arr))
		n = json_object_array_length(arr);
	for (i = 0; i < n; i++) {
		im = json_object_array_get_idx(arr, i);
		if (get_int(im, "broken")) {
			printf("%-24s  broken: %s\n", get_str(im, "name"),
			       get_str(im, "error"));
			continue;
		}
		printf("%-24s  %7s  %7s  %6s  %7lld  %-6s  %-19s  %s\n",
		       get_str(im, "name"),
		       fmt_bytes(get_int(im, "size"), sz, sizeof(sz)),
		       fmt_bytes(get_int(im, "stored"), st, sizeof(st)),
		       fmt_ratio(im, ratio, sizeof(ratio)),
		       (long long)get_int(im, "chunks"), get_str(im, "ptable"),
		       fmt_stamp(im, "captured", when, sizeof(when)),
		       has_value(im, "source") ? get_str(im, "source") :
						 "file");
	}
	printf("%zu image%s in %s\n", n, n == 1 ? "" : "s",
	       get_str(o, "image_dir"));
}

/* xbootctl images: from xbootd, or from --image-dir without it. */
static int cmd_images(const struct opts *o)
{
	struct json_object *j, *arr;
	struct image_store *s;
	struct image_info *v;
	size_t i, n;
	int ret;

	if (!o->image_dir) {
		j = api(o, "GET", "/images", NULL, &ret);
		if (!j && !ret)
			fprintf(stderr, NO_XBOOTD_HINT);
		if (!j)
			return 1;
		goto print;
	}
	if (images_open(o, false, &s))
		return 1;
	ret = image_store_list(s, &v, &n);
	if (ret) {
		fprintf(stderr, "xbootctl: image store %s: %s\n",
			image_store_path(s), strerror(-ret));
		image_store_close(s);
		return 1;
	}
	j = json_object_new_object();
	arr = json_object_new_array();
	for (i = 0; i < n; i++)
		json_object_array_add(arr, image_info_json(&v[i]));
	free(v);
	json_object_object_add(j, "image_dir", json_object_new_string(
			       image_store_path(s)));
	json_object_object_add(j, "images", arr);
	image_store_close(s);
print:
	if (o->json)
		print_json(j);
	else
		print_images(j);
	json_object_put(j);
	return 0;
}

/* Progress on stderr, when it is a terminal: bytes, rate and ETA. */
struct progress {
	const char *what;
	const char *name;
	uint64_t total, done;
	double start, last;
	bool on, shown;
};

static void progress_init(struct progress *p, const char *what,
			  const char *name, uint64_t total)
{
	memset(p, 0, sizeof(*p));
	p->what = what;
	p->name = name;
	p->total = total;
	p->on = isatty(STDERR_FILENO);
	p->start = mono_s();
}

static void progress_show(struct progress *p, uint64_t done)
{
	char a[16], b[16], r[16], eta[32] = "-";
	double now = mono_s(), rate;

	p->done = done;
	if (!p->on || (now - p->last < 0.25 && done < p->total))
		return;
	p->last = now;
	rate = now > p->start ? done / (now - p->start) : 0;
	if (rate > 0 && done < p->total)
		fmt_duration((p->total - done) / rate, eta, sizeof(eta));
	fprintf(stderr, "\r%s %s: %s of %s (%3d%%), %s/s, ETA %s   ", p->what,
		p->name, fmt_bytes(done, a, sizeof(a)),
		fmt_bytes(p->total, b, sizeof(b)),
		p->total ? (int)(done * 100 / p->total) : 100,
		fmt_bytes(rate, r, sizeof(r)), eta);
	p->shown = true;
}

/* Ends the progress line, so what follows starts on its own. */
static void progress_end(struct progress *p)
{
	if (p->shown)
		fputc('\n', stderr);
	p->shown = false;
}

static int parse_int_opt(const char *name, const char *v, long min, long max,
			 long *out)
{
	char *end;

	if (!v)
		return 0;
	errno = 0;
	*out = strtol(v, &end, 10);
	if (errno || end == v || *end || *out < min || *out > max) {
		fprintf(stderr, "xbootctl: %s: '%s' is not a number from %ld to %ld\n",
			name, v, min, max);
		return -1;
	}
	return 0;
}

/* 4194304, 4096K, 4M or 4MiB; the writer checks it is a power of two. */
static int parse_chunk_size(const char *v, uint32_t *out)
{
	unsigned long long n;
	char *end;

	*out = 0;
	if (!v)
		return 0;
	errno = 0;
	n = isdigit((unsigned char)*v) ? strtoull(v, &end, 10) : 0;
	if (!errno && n) {
		if (*end == 'K' || *end == 'k')
			n <<= 10, end++;
		else if (*end == 'M' || *end == 'm')
			n <<= 20, end++;
		if (!strcmp(end, "iB") || !strcmp(end, "B"))
			end += strlen(end);
	}
	if (errno || !n || *end || n > UINT32_MAX) {
		fprintf(stderr, "xbootctl: --chunk-size: '%s' is not a size (like 4M, 1M, 64K)\n",
			v);
		return -1;
	}
	*out = n;
	return 0;
}

/* A file's length or a block device's size. */
static int raw_size(int fd, uint64_t *size, struct image_err *e)
{
	struct stat st;

	if (fstat(fd, &st))
		return image_fail(e, -errno, "stat: %s", strerror(errno));
	if (S_ISREG(st.st_mode)) {
		*size = st.st_size;
		return 0;
	}
	if (S_ISBLK(st.st_mode)) {
		if (ioctl(fd, BLKGETSIZE64, size))
			return image_fail(e, -errno, "device size: %s",
					  strerror(errno));
		return 0;
	}
	return image_fail(e, -EINVAL, "neither a file nor a block device");
}

static int pread_all(int fd, void *buf, size_t len, uint64_t off,
		     struct image_err *e)
{
	ssize_t n;

	while (len) {
		n = pread(fd, buf, len, off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return image_fail(e, -errno, "read at byte %llu: %s",
					  (unsigned long long)off,
					  strerror(errno));
		if (!n)
			return image_fail(e, -ENODATA,
					  "the source ends early, at byte %llu",
					  (unsigned long long)off);
		buf = (char *)buf + n;
		off += n;
		len -= n;
	}
	return 0;
}

static int pwrite_all(int fd, const void *buf, size_t len, uint64_t off,
		      struct image_err *e)
{
	ssize_t n;

	while (len) {
		n = pwrite(fd, buf, len, off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return image_fail(e, n ? -errno : -EIO,
					  "write at byte %llu: %s",
					  (unsigned long long)off,
					  n ? strerror(errno) : "no progress");
		buf = (const char *)buf + n;
		off += n;
		len -= n;
	}
	return 0;
}

static void on_interrupt(int sig)
{
	interrupted = 1;
}

/* SIGINT and SIGTERM end a long operation cleanly (no staging left). */
static void catch_interrupts(void)
{
	struct sigaction sa = { .sa_handler = on_interrupt };

	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
}

/* Every chunk of the source into the staged image's writer. */
static int import_chunks(struct image_store_tx *tx, int fd, uint64_t size,
			 struct progress *p, struct image_err *e)
{
	struct image_writer *w = image_store_tx_writer(tx);
	uint32_t cs = image_writer_chunk_size(w);
	uint8_t *buf = malloc(cs);
	uint64_t off;
	size_t len;
	int err = 0;

	if (!buf)
		return image_fail(e, -ENOMEM, "out of memory");
	for (off = 0; off < size && !err; off += len) {
		len = size - off < cs ? size - off : cs;
		err = pread_all(fd, buf, len, off, e);
		if (!err)
			err = image_writer_put(w, off / cs, buf, len, e);
		if (!err && interrupted)
			err = image_fail(e, -EINTR, "interrupted");
		progress_show(p, off + len);
	}
	free(buf);
	return err;
}

static void print_image_summary(const char *verb, const struct image_info *in)
{
	char sz[16], st[16], cs[16], ratio[16] = "-";
	int i;

	if (in->data_size)
		snprintf(ratio, sizeof(ratio), "%.1fx",
			 (double)in->meta.size / in->data_size);
	printf("%s %s: %s in %u chunks of %s (%u hole%s), stored %s (%s), partition table %s\n",
	       verb, in->name, fmt_bytes(in->meta.size, sz, sizeof(sz)),
	       in->n_chunks, fmt_bytes(in->chunk_size, cs, sizeof(cs)),
	       in->n_holes, in->n_holes == 1 ? "" : "s",
	       fmt_bytes(in->data_size, st, sizeof(st)), ratio,
	       image_ptable_name(in->meta.ptable));
	printf("sha256 ");
	for (i = 0; i < XBI_SHA256_LEN; i++)
		printf("%02x", in->sha256[i]);
	printf("\n");
}

/* The published image, read back from the store, as the answer. */
static int import_report(const struct opts *o, struct image_store *s,
			 const char *name)
{
	struct image_err e = { "" };
	struct image_handle *h;
	struct json_object *j;
	struct image_info in;

	if (image_store_image_open(s, name, &h, &e))
		return image_err(name, e.msg);
	image_info_from(h, name, &in);
	image_handle_close(h);
	if (!o->json) {
		print_image_summary("imported", &in);
		return 0;
	}
	j = json_object_new_object();
	json_object_object_add(j, "image", image_info_json(&in));
	print_json(j);
	json_object_put(j);
	return 0;
}

static int cmd_image_import(const struct opts *o)
{
	const char *src = o->args[1], *name = o->args[2];
	struct image_err e = { "" };
	struct image_meta meta = { 0 };
	struct image_store_tx *tx;
	struct image_store *s;
	long level = 0, threads = 0;
	struct progress p;
	uint32_t chunk;
	int fd, err;

	if (parse_chunk_size(o->chunk_size, &chunk) ||
	    parse_int_opt("--level", o->level, XBI_LEVEL_MIN, XBI_LEVEL_MAX,
			  &level) ||
	    parse_int_opt("--threads", o->threads, 0, 256, &threads))
		return 1;
	if (!image_name_valid(name))
		return image_err(name, "bad name: use 1 to 64 of A-Z a-z 0-9 . _ -, not starting with '.'");
	fd = open(src, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		snprintf(e.msg, sizeof(e.msg), "%s: %s", src, strerror(errno));
		return image_err(name, e.msg);
	}
	err = raw_size(fd, &meta.size, &e);
	if (err) {
		close(fd);
		fprintf(stderr, "xbootctl: image %s: %s: %s\n", name, src,
			e.msg);
		return 1;
	}
	if (images_open(o, true, &s)) {
		close(fd);
		return 1;
	}
	meta.capture_time = time(NULL);
	catch_interrupts();
	err = image_store_create(s, name, &meta, chunk, level, threads, &tx,
				 &e);
	if (!err) {
		progress_init(&p, "import", name, meta.size);
		err = import_chunks(tx, fd, meta.size, &p, &e);
		if (err)
			image_store_abort(tx);
		else
			err = image_store_publish(tx, &e);
		progress_end(&p);
	}
	close(fd);
	if (err)
		image_err(name, e.msg);
	else
		err = import_report(o, s, name);
	image_store_close(s);
	return err ? 1 : 0;
}

/*
 * Reads every chunk, which checks its frame and both hashes against the
 * manifest, and the whole image's SHA-256 at the end; with fd >= 0 writes
 * each one there (holes only where the target is not sparse).
 */
static int image_walk(struct image_handle *h, int fd, bool sparse,
		      struct progress *p, struct image_err *e)
{
	const struct image_manifest *m = &h->m;
	uint8_t *comp, *raw, md[XBI_SHA256_LEN];
	EVP_MD_CTX *sha = EVP_MD_CTX_new();
	struct image_chunk c;
	uint64_t off = 0;
	uint32_t i;
	int err = 0;

	comp = malloc(image_frame_bound(m->chunk_size));
	raw = malloc(m->chunk_size);
	if (!comp || !raw || !sha ||
	    !EVP_DigestInit_ex(sha, EVP_sha256(), NULL))
		err = image_fail(e, -ENOMEM, "out of memory");
	for (i = 0; !err && i < m->n_chunks; i++) {
		image_chunk_get(m, i, &c);
		err = image_handle_read_chunk(h, i, comp, raw, e);
		if (!err && fd >= 0 && (c.clen || !sparse))
			err = pwrite_all(fd, raw, c.len, off, e);
		if (!err && interrupted)
			err = image_fail(e, -EINTR, "interrupted at chunk %u",
					 i);
		EVP_DigestUpdate(sha, raw, c.len);
		off += c.len;
		progress_show(p, off);
	}
	if (!err) {
		EVP_DigestFinal_ex(sha, md, NULL);
		if (memcmp(md, m->sha256, XBI_SHA256_LEN))
			err = image_fail(e, -EBADMSG,
					 "every chunk is good but the image's SHA-256 does not match");
	}
	EVP_MD_CTX_free(sha);
	free(comp);
	free(raw);
	return err;
}

/* A device is written in place; a regular file beside its target, then
 * renamed over it, so a failed export leaves no half-written file. */
static int export_open(const char *path, uint64_t size, char *tmp,
		       size_t tmp_size, bool *direct, struct image_err *e)
{
	uint64_t dev_size;
	struct stat st;
	int fd;

	*direct = !stat(path, &st) && !S_ISREG(st.st_mode);
	if (*direct) {
		fd = open(path, O_WRONLY | O_CLOEXEC);
		if (fd < 0)
			return image_fail(e, -errno, "%s: %s", path,
					  strerror(errno));
		if (S_ISBLK(st.st_mode) && !raw_size(fd, &dev_size, e) &&
		    dev_size < size) {
			close(fd);
			return image_fail(e, -ENOSPC,
					  "%s holds %llu bytes, the image %llu",
					  path, (unsigned long long)dev_size,
					  (unsigned long long)size);
		}
		return fd;
	}
	if ((size_t)snprintf(tmp, tmp_size, "%s.xboot-partial", path) >=
	    tmp_size)
		return image_fail(e, -ENAMETOOLONG, "%s: path too long", path);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return image_fail(e, -errno, "%s: %s", tmp, strerror(errno));
	/* holes stay holes: the file is sized first, zeros never written */
	if (ftruncate(fd, size)) {
		close(fd);
		unlink(tmp);
		return image_fail(e, -errno, "%s: %s", tmp, strerror(errno));
	}
	return fd;
}

static int cmd_image_export(const struct opts *o)
{
	const char *name = o->args[1], *path = o->args[2];
	struct image_err e = { "" };
	struct json_object *j;
	struct image_handle *h;
	struct image_store *s;
	char tmp[PATH_MAX];
	struct progress p;
	bool direct;
	int fd, err;

	if (images_open(o, false, &s))
		return 1;
	err = image_store_image_open(s, name, &h, &e);
	if (err)
		goto out;
	fd = export_open(path, h->m.meta.size, tmp, sizeof(tmp), &direct, &e);
	if (fd < 0) {
		err = fd;
		goto out_handle;
	}
	catch_interrupts();
	progress_init(&p, "export", name, h->m.meta.size);
	err = image_walk(h, fd, !direct, &p, &e);
	progress_end(&p);
	if (!err && fsync(fd))
		err = image_fail(&e, -errno, "%s: sync: %s", path,
				 strerror(errno));
	close(fd);
	if (!err && !direct && rename(tmp, path))
		err = image_fail(&e, -errno, "%s: %s", path, strerror(errno));
	if (err && !direct)
		unlink(tmp);
	if (!err && o->json) {
		j = json_object_new_object();
		json_object_object_add(j, "name", json_object_new_string(name));
		json_object_object_add(j, "file", json_object_new_string(path));
		json_object_object_add(j, "bytes",
				       json_object_new_int64(h->m.meta.size));
		print_json(j);
		json_object_put(j);
	} else if (!err) {
		printf("exported %s to %s: %llu bytes, every chunk and the image's SHA-256 checked\n",
		       name, path, (unsigned long long)h->m.meta.size);
	}
out_handle:
	image_handle_close(h);
out:
	image_store_close(s);
	return err ? image_err(name, e.msg) : 0;
}

static int cmd_image_verify(const struct opts *o)
{
	const char *name = o->args[1];
	struct image_err e = { "" };
	struct image_handle *h;
	struct image_store *s;
	struct json_object *j;
	struct progress p;
	int err;

	if (images_open(o, false, &s))
		return 1;
	err = image_store_image_open(s, name, &h, &e);
	if (err)
		goto out;
	catch_interrupts();
	progress_init(&p, "verify", name, h->m.meta.size);
	err = image_walk(h, -1, false, &p, &e);
	progress_end(&p);
	if (!err && o->json) {
		j = json_object_new_object();
		json_object_object_add(j, "name", json_object_new_string(name));
		json_object_object_add(j, "chunks",
				       json_object_new_int64(h->m.n_chunks));
		json_object_object_add(j, "verified",
				       json_object_new_boolean(1));
		print_json(j);
		json_object_put(j);
	} else if (!err) {
		printf("%s: %u chunks and the image's SHA-256 verified\n", name,
		       h->m.n_chunks);
	}
	image_handle_close(h);
out:
	image_store_close(s);
	return err ? image_err(name, e.msg) : 0;
}

static int cmd_image_rm(const struct opts *o)
{
	const char *name = o->args[1];
	struct image_err e = { "" };
	struct image_store *s;
	struct json_object *j;
	int err;

	if (images_open(o, false, &s))
		return 1;
	err = image_store_remove(s, name, &e);
	image_store_close(s);
	if (err)
		return image_err(name, e.msg);
	if (o->json) {
		j = json_object_new_object();
		json_object_object_add(j, "name", json_object_new_string(name));
		json_object_object_add(j, "removed",
				       json_object_new_boolean(1));
		print_json(j);
		json_object_put(j);
	} else {
		printf("removed %s\n", name);
	}
	return 0;
}

static int cmd_image(const struct opts *o)
{
	const char *sub = o->args[0];

	if (!strcmp(sub, "import"))
		return cmd_image_import(o);
	if (!strcmp(sub, "export"))
		return cmd_image_export(o);
	if (!strcmp(sub, "verify"))
		return cmd_image_verify(o);
	return cmd_image_rm(o);
}

/* --- cache: xboot.ko over generic netlink -------------------------------- */

static int cache_fail(const char *what, int err)
{
	if (err == -EPERM || err == -EACCES)
		fprintf(stderr, "xbootctl: cache %s: needs CAP_NET_ADMIN\n", what);
	else
		fprintf(stderr, "xbootctl: cache %s: %s\n", what, strerror(-err));
	return 1;
}

static int cache_open(struct kcache **kc)
{
	int ret = kcache_open(kc, 0);

	if (ret == -ENOENT)
		fprintf(stderr, "xbootctl: xboot.ko is not loaded\n");
	else if (ret)
		cache_fail("open", ret);
	return ret;
}

/*
 * PATH made absolute against the current directory, with "." and ".."
 * taken out and slashes folded, but symlinks kept: xbootd knows the files
 * under its tftp-root by the names they have there.
 */
static int abs_path(const char *in, char *out, size_t size)
{
	char buf[PATH_MAX * 2], *p, *save = NULL;
	size_t n = 0, len;

	if (in[0] == '/')
		snprintf(buf, sizeof(buf), "%s", in);
	else if (!getcwd(buf, PATH_MAX) ||
		 (size_t)snprintf(buf + strlen(buf), sizeof(buf) - strlen(buf),
				  "/%s", in) >= sizeof(buf) - strlen(buf))
		return -ENAMETOOLONG;
	out[0] = '\0';
	for (p = strtok_r(buf, "/", &save); p; p = strtok_r(NULL, "/", &save)) {
		if (!strcmp(p, "."))
			continue;
		if (!strcmp(p, "..")) {
			while (n && out[n - 1] != '/')
				n--;
			n = n ? n - 1 : 0;
			out[n] = '\0';
			continue;
		}
		len = strlen(p);
		if (n + 1 + len + 1 > size)
			return -ENAMETOOLONG;
		out[n++] = '/';
		memcpy(out + n, p, len + 1);
		n += len;
	}
	if (!n)
		snprintf(out, size, "/");
	return 0;
}

static struct json_object *file_json(const struct kcache_file *f)
{
	struct json_object *o = json_object_new_object();

	json_object_object_add(o, "id", json_object_new_int64(f->id));
	json_object_object_add(o, "gen", json_object_new_int64(f->gen));
	json_object_object_add(o, "size", json_object_new_int64(f->size));
	json_object_object_add(o, "pages", json_object_new_int64(f->pages));
	json_object_object_add(o, "blocks", json_object_new_int64(f->blocks));
	json_object_object_add(o, "dev", json_object_new_int64(f->dev));
	json_object_object_add(o, "ino", json_object_new_int64(f->ino));
	json_object_object_add(o, "path", json_object_new_string(f->path));
	return o;
}

static void print_file_row(const struct kcache_file *f)
{
	printf("%6u %6u %12llu %8u %10llu  %s\n", f->id, f->gen,
	       (unsigned long long)f->size, f->pages,
	       (unsigned long long)f->blocks, f->path);
}

struct list_out {
	struct json_object *arr; /* NULL: a table */
	int n;
};

static int list_one(void *arg, const struct kcache_file *f)
{
	struct list_out *lo = arg;

	if (lo->arr)
		json_object_array_add(lo->arr, file_json(f));
	else
		print_file_row(f);
	lo->n++;
	return 0;
}

static int cache_list(struct kcache *kc, int json)
{
	struct list_out lo = { .arr = json ? json_object_new_array() : NULL };
	struct json_object *o;
	int ret;

	if (!json)
		printf("%6s %6s %12s %8s %10s  %s\n", "ID", "GEN", "SIZE",
		       "PAGES", "BLOCKS", "PATH");
	ret = kcache_list(kc, list_one, &lo);
	if (ret) {
		json_object_put(lo.arr);
		return cache_fail("list", ret);
	}
	if (json) {
		o = json_object_new_object();
		json_object_object_add(o, "files", lo.arr);
		print_json(o);
		json_object_put(o);
	} else {
		printf("%d file%s\n", lo.n, lo.n == 1 ? "" : "s");
	}
	return 0;
}

static int cache_add(struct kcache *kc, const char *arg, int replace,
		     int json)
{
	char path[PATH_MAX];
	struct kcache_file *f = malloc(sizeof(*f));
	struct json_object *o;
	int ret;

	if (!f)
		return cache_fail("add", -ENOMEM);
	ret = abs_path(arg, path, sizeof(path));
	if (!ret)
		ret = kcache_add(kc, path, replace ? XBOOT_FILE_F_REPLACE : 0,
				 f);
	if (ret == -EEXIST)
		fprintf(stderr, "xbootctl: cache add: %s is already registered (--replace to register it again)\n",
			path);
	else if (ret)
		cache_fail("add", ret);
	else if (json) {
		o = file_json(f);
		print_json(o);
		json_object_put(o);
	} else {
		printf("added %s: id %u, generation %u, %llu bytes in %u pages\n",
		       f->path, f->id, f->gen, (unsigned long long)f->size,
		       f->pages);
	}
	free(f);
	return ret ? 1 : 0;
}

struct find_path {
	const char *path;
	uint32_t id;
};

static int find_one(void *arg, const struct kcache_file *f)
{
	struct find_path *fp = arg;

	if (strcmp(f->path, fp->path))
		return 0;
	fp->id = f->id;
	return 1;
}

/* An all-digit argument is an id; anything else a path to look up. */
static int cache_del(struct kcache *kc, const char *arg)
{
	char path[PATH_MAX], *end;
	struct find_path fp = { .path = path };
	unsigned long id;
	int ret;

	errno = 0;
	id = isdigit((unsigned char)arg[0]) ? strtoul(arg, &end, 10) : 0;
	if (id && !*end && !errno && id <= UINT32_MAX) {
		fp.id = (uint32_t)id;
		snprintf(path, sizeof(path), "id %lu", id);
	} else {
		ret = abs_path(arg, path, sizeof(path));
		if (ret)
			return cache_fail("del", ret);
		ret = kcache_list(kc, find_one, &fp);
		if (ret < 0)
			return cache_fail("del", ret);
	}
	ret = fp.id ? kcache_del(kc, fp.id) : -ENOENT;
	if (ret == -ENOENT) {
		fprintf(stderr, "xbootctl: cache del: %s is not registered\n",
			path);
		return 1;
	}
	if (ret)
		return cache_fail("del", ret);
	printf("removed %s\n", path);
	return 0;
}

static int cache_stats(struct kcache *kc, int json)
{
	struct kcache_stats st;
	struct json_object *o;
	int ret;

	ret = kcache_stats(kc, &st);
	if (ret)
		return cache_fail("stats", ret);
	if (!json) {
		printf("xboot.ko:\n");
		printf("  %-20s %u\n", "files", st.files);
		printf("  %-20s %llu\n", "pinned_bytes", (unsigned long long)st.pinned);
		printf("  %-20s %llu\n", "pin_limit_bytes", (unsigned long long)st.pin_limit);
		printf("  %-20s %llu\n", "blocks", (unsigned long long)st.blocks);
		printf("  %-20s %llu\n", "bytes", (unsigned long long)st.bytes);
		printf("  %-20s %llu\n", "misses", (unsigned long long)st.misses);
		printf("  %-20s %llu\n", "drops", (unsigned long long)st.drops);
		return 0;
	}
	o = json_object_new_object();
	json_object_object_add(o, "files", json_object_new_int64(st.files));
	json_object_object_add(o, "pinned_bytes", json_object_new_int64(st.pinned));
	json_object_object_add(o, "pin_limit_bytes", json_object_new_int64(st.pin_limit));
	json_object_object_add(o, "blocks", json_object_new_int64(st.blocks));
	json_object_object_add(o, "bytes", json_object_new_int64(st.bytes));
	json_object_object_add(o, "misses", json_object_new_int64(st.misses));
	json_object_object_add(o, "drops", json_object_new_int64(st.drops));
	print_json(o);
	json_object_put(o);
	return 0;
}

static int cache_command(const struct opts *o)
{
	const char *sub = o->args[0];
	struct kcache *kc;
	int ret;

	if (cache_open(&kc))
		return 1;
	if (!strcmp(sub, "list"))
		ret = cache_list(kc, o->json);
	else if (!strcmp(sub, "add"))
		ret = cache_add(kc, o->args[1], o->replace, o->json);
	else if (!strcmp(sub, "del"))
		ret = cache_del(kc, o->args[1]);
	else
		ret = cache_stats(kc, o->json);
	kcache_close(kc);
	return ret;
}

/* --- media ------------------------------------------------------------- */

/* A path option made absolute: xbootd, not we, opens it. */
static int media_path(struct json_object *b, const char *key,
		      const char *val)
{
	char path[PATH_MAX];

	if (!val)
		return 0;
	if (!*val || abs_path(val, path, sizeof(path))) {
		fprintf(stderr, "xbootctl: --%s '%s': not a usable path\n", key,
			val);
		return -1;
	}
	json_object_object_add(b, key, json_object_new_string(path));
	return 0;
}

static struct json_object *media_body(const struct opts *o)
{
	struct json_object *b = json_object_new_object();
	const struct {
		const char *key, *val;
	} strs[] = {
		{ "type", o->type },	   { "server", o->server },
		{ "machine", o->machine }, { "ip", o->ip },
		{ "gateway", o->gateway },
	};
	size_t i;

	for (i = 0; i < sizeof(strs) / sizeof(strs[0]); i++)
		if (strs[i].val)
			json_object_object_add(
				b, strs[i].key,
				json_object_new_string(strs[i].val));
	if (media_path(b, "out", o->out) ||
	    media_path(b, "kernel", o->kernel) ||
	    media_path(b, "initrd", o->initrd) || media_path(b, "ca", o->ca)) {
		json_object_put(b);
		return NULL;
	}
	return b;
}

static void print_media(struct json_object *m)
{
	char size[32], when[32];
	const char *mac = get_str(m, "machine");
	time_t t = get_int(m, "credential_expires");

	if (!strcmp(mac, "-"))
		mac = "any machine";

	printf("%s: %s image, %s (sha256 %s)\n", get_str(m, "out"),
	       get_str(m, "type"),
	       fmt_bytes(get_int(m, "size"), size, sizeof(size)),
	       get_str(m, "sha256"));
	printf("  reaches %s for %s\n", get_str(m, "server"), mac);
	if (t && strftime(when, sizeof(when), "%Y-%m-%d %H:%M",
			  localtime(&t)))
		printf("  carries a single-use enrolment credential for %s, valid until %s:\n"
		       "  keep it like a password\n", mac, when);
}

static int cmd_media(const struct opts *o)
{
	struct json_object *b, *j, *m;

	b = media_body(o);
	if (!b)
		return 1;
	io_timeout_s = MEDIA_SRV_TIMEOUT_S + 30;
	j = api(o, "POST", "/media",
		json_object_to_json_string_ext(b, JSON_C_TO_STRING_PLAIN |
					       JSON_C_TO_STRING_NOSLASHESCAPE),
		NULL);
	json_object_put(b);
	if (!j)
		return 1;
	if (o->json)
		print_json(j);
	else if (json_object_object_get_ex(j, "media", &m))
		print_media(m);
	json_object_put(j);
	return 0;
}

int main(int argc, char **argv)
{
	struct opts o = { .socket = XBOOTD_DEFAULT_CONTROL_SOCKET };
	char path[32];

	if (parse_args(argc, argv, &o))
		return 1;
	if (!strcmp(o.command, "cache"))
		return cache_command(&o);
	if (!strcmp(o.command, "machines"))
		return cmd_show(&o, "/machines", print_machines);
	if (!strcmp(o.command, "machine"))
		return cmd_machine(&o);
	if (!strcmp(o.command, "enrol"))
		return cmd_enrol(&o);
	if (!strcmp(o.command, "jobs"))
		return cmd_jobs(&o);
	if (!strcmp(o.command, "job"))
		return cmd_job(&o);
	if (!strcmp(o.command, "watch"))
		return cmd_watch(&o);
	if (!strcmp(o.command, "images"))
		return cmd_images(&o);
	if (!strcmp(o.command, "image"))
		return cmd_image(&o);
	if (!strcmp(o.command, "media"))
		return cmd_media(&o);
	snprintf(path, sizeof(path), "/%s", o.command);
	if (!strcmp(o.command, "status"))
		return cmd_show(&o, path, print_status);
	if (!strcmp(o.command, "leases"))
		return cmd_show(&o, path, print_leases);
	return cmd_show(&o, path, print_stats);
}
