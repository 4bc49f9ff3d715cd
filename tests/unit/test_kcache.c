// SPDX-License-Identifier: GPL-2.0
/*
 * The xboot.ko client without the module: kcache_open() says -ENOENT
 * cleanly (no socket left behind), and the reply parsers, fed crafted
 * generic netlink messages, take good replies and refuse a table of bad
 * ones (missing attributes, wrong sizes, unterminated or overlong paths,
 * truncated or trailing bytes, the wrong command). The round trip with the
 * module runs in the 6.1 VM (tests/vm/).
 */
#include <dirent.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <netlink/genl/genl.h>
#include <netlink/msg.h>

#include "kcache.h"

#define FAMILY 0x2a /* any id: the parsers leave the family to the caller */

static int open_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	int n = 0;

	assert_non_null(d);
	while (readdir(d))
		n++;
	closedir(d);
	return n;
}

static void test_open_without_module(void **state)
{
	struct kcache *kc = (struct kcache *)1;
	int before, i, ret;

	(void)state;
	ret = kcache_open(&kc, 1);
	if (!ret) {
		kcache_close(kc);
		skip(); /* xboot.ko is loaded here: the VM tests cover it */
	}
	assert_int_equal(ret, -ENOENT);
	assert_null(kc);
	before = open_fds();
	for (i = 0; i < 200; i++) {
		assert_int_equal(kcache_open(&kc, i & 1), -ENOENT);
		assert_null(kc);
	}
	assert_int_equal(open_fds(), before);
	kcache_close(NULL);
}

static void test_event_names(void **state)
{
	(void)state;
	assert_string_equal(kcache_event_name(XBOOT_EVENT_ADDED), "added");
	assert_string_equal(kcache_event_name(XBOOT_EVENT_CHANGED), "changed");
	assert_string_equal(kcache_event_name(XBOOT_EVENT_GONE), "gone");
	assert_string_equal(kcache_event_name(XBOOT_EVENT_REPLACED),
			    "replaced");
	assert_string_equal(kcache_event_name(XBOOT_EVENT_UNSPEC), "unknown");
	assert_string_equal(kcache_event_name(__XBOOT_EVENT_MAX), "unknown");
	assert_string_equal(kcache_event_name(0xffffffff), "unknown");
}

/* --- crafted messages -------------------------------------------------- */

enum mutation {
	M_NONE,
	M_OMIT,          /* leave attr out */
	M_WIDE,          /* attr as a u64 (u32) or with 12 bytes (u64) */
	M_NARROW,        /* attr with 2 bytes */
	M_PATH_NO_NUL,
	M_PATH_INNER_NUL,
	M_PATH_EMPTY,    /* no bytes at all */
	M_PATH_LONG,     /* 4096 characters: no room for the NUL */
	M_PATH_MAX,      /* 4095 characters and the NUL: fits */
	M_TRAILING,      /* 2 bytes after the last attribute */
	M_TRUNCATED,     /* the last attribute cut short */
	M_BAD_NLA_LEN,   /* an attribute header claiming 2 bytes */
	M_SHORT_GENL,    /* not even a genl header */
	M_WRONG_CMD,
	M_UNKNOWN_ATTR,  /* a newer module's attribute: ignored */
	M_PAD,           /* XBOOT_A_PAD, as nla_put_u64_64bit() adds */
};

struct attr_spec {
	int type;
	int u64;
	uint64_t value;
};

static const struct attr_spec file_attrs[] = {
	{ XBOOT_A_FILE_ID, 0, 7 },
	{ XBOOT_A_FILE_GEN, 0, 3 },
	{ XBOOT_A_FILE_PATH, 0, 0 },
	{ XBOOT_A_FILE_SIZE, 1, 1048577 },
	{ XBOOT_A_FILE_PAGES, 0, 257 },
	{ XBOOT_A_FILE_DEV, 1, 0x803 },
	{ XBOOT_A_FILE_INO, 1, 1234567890123ULL },
	{ XBOOT_A_FILE_BLOCKS, 1, 99 },
};

static const struct attr_spec stats_attrs[] = {
	{ XBOOT_A_STATS_FILES, 0, 2 },
	{ XBOOT_A_STATS_PINNED, 1, 8192 },
	{ XBOOT_A_STATS_BLOCKS, 1, 1000 },
	{ XBOOT_A_STATS_BYTES, 1, 512000 },
	{ XBOOT_A_STATS_MISSES, 1, 4 },
	{ XBOOT_A_STATS_DROPS, 1, 1 },
	{ XBOOT_A_STATS_PIN_LIMIT, 1, 1ULL << 30 },
};

static const struct attr_spec event_attrs[] = {
	{ XBOOT_A_EVENT, 0, XBOOT_EVENT_CHANGED },
	{ XBOOT_A_FILE_ID, 0, 7 },
	{ XBOOT_A_FILE_GEN, 0, 3 },
	{ XBOOT_A_FILE_PATH, 0, 0 },
};

#define PATH "/srv/tftp/undionly.kpxe"

static void put_path(struct nl_msg *msg, enum mutation m)
{
	static char big[4097];

	switch (m) {
	case M_PATH_NO_NUL:
		assert_int_equal(nla_put(msg, XBOOT_A_FILE_PATH, 4, "/abc"), 0);
		break;
	case M_PATH_INNER_NUL:
		assert_int_equal(nla_put(msg, XBOOT_A_FILE_PATH, 6, "/a\0bc"),
				 0);
		break;
	case M_PATH_EMPTY:
		assert_int_equal(nla_put(msg, XBOOT_A_FILE_PATH, 0, NULL), 0);
		break;
	case M_PATH_LONG:
	case M_PATH_MAX:
		memset(big, 'a', sizeof(big));
		big[0] = '/';
		big[m == M_PATH_LONG ? 4096 : 4095] = '\0';
		assert_int_equal(nla_put_string(msg, XBOOT_A_FILE_PATH, big), 0);
		break;
	default:
		assert_int_equal(nla_put_string(msg, XBOOT_A_FILE_PATH, PATH), 0);
		break;
	}
}

static void put_attr(struct nl_msg *msg, const struct attr_spec *a,
		     enum mutation m, int target)
{
	uint8_t wide[12] = { 0 };

	if (a->type == XBOOT_A_FILE_PATH)
		return put_path(msg, m);
	if (a->type == target && m == M_OMIT)
		return;
	if (a->type == target && m == M_WIDE)
		assert_int_equal(nla_put(msg, a->type, a->u64 ? 12 : 8, wide), 0);
	else if (a->type == target && m == M_NARROW)
		assert_int_equal(nla_put(msg, a->type, 2, wide), 0);
	else if (a->u64)
		assert_int_equal(nla_put_u64(msg, a->type, a->value), 0);
	else
		assert_int_equal(nla_put_u32(msg, a->type, (uint32_t)a->value),
				 0);
}

/* A message of command cmd with attrs, mutated by m (on target). */
static struct nl_msg *craft(uint8_t cmd, const struct attr_spec *attrs,
			    size_t n, enum mutation m, int target)
{
	struct nl_msg *msg = nlmsg_alloc_size(16384);
	uint8_t junk[4] = { 0xde, 0xad, 0xbe, 0xef };
	struct nlattr bad = { .nla_len = 2, .nla_type = XBOOT_A_FILE_ID };
	struct nlmsghdr *nlh;
	size_t i;

	assert_non_null(msg);
	if (m == M_WRONG_CMD)
		cmd = cmd == XBOOT_CMD_FILE_GET ? XBOOT_CMD_FILE_ADD :
						  XBOOT_CMD_FILE_GET;
	assert_non_null(genlmsg_put(msg, 0, 1, FAMILY, 0, 0, cmd,
				    XBOOT_GENL_VERSION));
	if (m == M_PAD)
		assert_int_equal(nla_put(msg, XBOOT_A_PAD, 0, NULL), 0);
	for (i = 0; i < n; i++)
		put_attr(msg, &attrs[i], m, target);
	if (m == M_UNKNOWN_ATTR)
		assert_int_equal(nla_put_u32(msg, XBOOT_A_MAX + 5, 1), 0);
	if (m == M_BAD_NLA_LEN)
		assert_int_equal(nlmsg_append(msg, &bad, sizeof(bad), 0), 0);
	if (m == M_TRAILING)
		assert_int_equal(nlmsg_append(msg, junk, 2, 0), 0);
	nlh = nlmsg_hdr(msg);
	if (m == M_TRUNCATED)
		nlh->nlmsg_len -= 3;
	if (m == M_SHORT_GENL)
		nlh->nlmsg_len = NLMSG_HDRLEN + 2;
	return msg;
}

struct bad_case {
	const char *name;
	enum mutation m;
	int target;
	int want; /* 0 or -EBADMSG */
};

/* Every way of getting a file reply wrong that the parser must see. */
static const struct bad_case file_cases[] = {
	{ "good", M_NONE, 0, 0 },
	{ "no id", M_OMIT, XBOOT_A_FILE_ID, -EBADMSG },
	{ "no gen", M_OMIT, XBOOT_A_FILE_GEN, -EBADMSG },
	{ "no size", M_OMIT, XBOOT_A_FILE_SIZE, -EBADMSG },
	{ "no pages", M_OMIT, XBOOT_A_FILE_PAGES, -EBADMSG },
	{ "no dev", M_OMIT, XBOOT_A_FILE_DEV, -EBADMSG },
	{ "no ino", M_OMIT, XBOOT_A_FILE_INO, -EBADMSG },
	{ "no blocks", M_OMIT, XBOOT_A_FILE_BLOCKS, -EBADMSG },
	{ "id of 8 bytes", M_WIDE, XBOOT_A_FILE_ID, -EBADMSG },
	{ "id of 2 bytes", M_NARROW, XBOOT_A_FILE_ID, -EBADMSG },
	{ "size of 12 bytes", M_WIDE, XBOOT_A_FILE_SIZE, -EBADMSG },
	{ "size of 2 bytes", M_NARROW, XBOOT_A_FILE_SIZE, -EBADMSG },
	{ "ino of 12 bytes", M_WIDE, XBOOT_A_FILE_INO, -EBADMSG },
	{ "path without NUL", M_PATH_NO_NUL, 0, -EBADMSG },
	{ "path with an inner NUL", M_PATH_INNER_NUL, 0, -EBADMSG },
	{ "path of no bytes", M_PATH_EMPTY, 0, -EBADMSG },
	{ "path of 4096 characters", M_PATH_LONG, 0, -EBADMSG },
	{ "path of 4095 characters", M_PATH_MAX, 0, 0 },
	{ "trailing bytes", M_TRAILING, 0, -EBADMSG },
	{ "truncated attribute", M_TRUNCATED, 0, -EBADMSG },
	{ "attribute length 2", M_BAD_NLA_LEN, 0, -EBADMSG },
	{ "no genl header", M_SHORT_GENL, 0, -EBADMSG },
	{ "wrong command", M_WRONG_CMD, 0, -EBADMSG },
	{ "unknown attribute", M_UNKNOWN_ATTR, 0, 0 },
	{ "pad attribute", M_PAD, 0, 0 },
};

static void test_parse_file_table(void **state)
{
	struct kcache_file *f = malloc(sizeof(*f));
	struct nl_msg *msg;
	size_t i;
	int ret;

	(void)state;
	assert_non_null(f);
	for (i = 0; i < sizeof(file_cases) / sizeof(file_cases[0]); i++) {
		const struct bad_case *c = &file_cases[i];

		msg = craft(XBOOT_CMD_FILE_GET, file_attrs,
			    sizeof(file_attrs) / sizeof(file_attrs[0]), c->m,
			    c->target);
		ret = kcache_parse_file(nlmsg_hdr(msg), XBOOT_CMD_FILE_GET, f);
		if (ret != c->want)
			fail_msg("file reply '%s': got %d, want %d", c->name,
				 ret, c->want);
		nlmsg_free(msg);
	}
	free(f);
}

static void test_parse_file_values(void **state)
{
	struct kcache_file *f = malloc(sizeof(*f));
	struct nl_msg *msg;

	(void)state;
	assert_non_null(f);
	msg = craft(XBOOT_CMD_FILE_ADD, file_attrs,
		    sizeof(file_attrs) / sizeof(file_attrs[0]), M_NONE, 0);
	assert_int_equal(kcache_parse_file(nlmsg_hdr(msg), XBOOT_CMD_FILE_ADD,
					   f), 0);
	assert_int_equal(f->id, 7);
	assert_int_equal(f->gen, 3);
	assert_int_equal(f->size, 1048577);
	assert_int_equal(f->pages, 257);
	assert_int_equal(f->dev, 0x803);
	assert_int_equal(f->ino, 1234567890123ULL);
	assert_int_equal(f->blocks, 99);
	assert_string_equal(f->path, PATH);
	/* An ADD reply is not a GET reply. */
	assert_int_equal(kcache_parse_file(nlmsg_hdr(msg), XBOOT_CMD_FILE_GET,
					   f), -EBADMSG);
	nlmsg_free(msg);
	free(f);
}

static const struct bad_case stats_cases[] = {
	{ "good", M_NONE, 0, 0 },
	{ "no files", M_OMIT, XBOOT_A_STATS_FILES, -EBADMSG },
	{ "no pinned", M_OMIT, XBOOT_A_STATS_PINNED, -EBADMSG },
	{ "no blocks", M_OMIT, XBOOT_A_STATS_BLOCKS, -EBADMSG },
	{ "no bytes", M_OMIT, XBOOT_A_STATS_BYTES, -EBADMSG },
	{ "no misses", M_OMIT, XBOOT_A_STATS_MISSES, -EBADMSG },
	{ "no drops", M_OMIT, XBOOT_A_STATS_DROPS, -EBADMSG },
	{ "no pin limit", M_OMIT, XBOOT_A_STATS_PIN_LIMIT, -EBADMSG },
	{ "files of 8 bytes", M_WIDE, XBOOT_A_STATS_FILES, -EBADMSG },
	{ "pinned of 2 bytes", M_NARROW, XBOOT_A_STATS_PINNED, -EBADMSG },
	{ "trailing bytes", M_TRAILING, 0, -EBADMSG },
	{ "truncated attribute", M_TRUNCATED, 0, -EBADMSG },
	{ "no genl header", M_SHORT_GENL, 0, -EBADMSG },
	{ "pad attribute", M_PAD, 0, 0 },
};

static void test_parse_stats_table(void **state)
{
	struct kcache_stats st;
	struct nl_msg *msg;
	size_t i;
	int ret;

	(void)state;
	for (i = 0; i < sizeof(stats_cases) / sizeof(stats_cases[0]); i++) {
		const struct bad_case *c = &stats_cases[i];

		msg = craft(XBOOT_CMD_STATS_GET, stats_attrs,
			    sizeof(stats_attrs) / sizeof(stats_attrs[0]), c->m,
			    c->target);
		ret = kcache_parse_stats(nlmsg_hdr(msg), &st);
		if (ret != c->want)
			fail_msg("stats reply '%s': got %d, want %d", c->name,
				 ret, c->want);
		if (!ret) {
			assert_int_equal(st.files, 2);
			assert_int_equal(st.pinned, 8192);
			assert_int_equal(st.blocks, 1000);
			assert_int_equal(st.bytes, 512000);
			assert_int_equal(st.misses, 4);
			assert_int_equal(st.drops, 1);
			assert_int_equal(st.pin_limit, 1ULL << 30);
		}
		nlmsg_free(msg);
	}
	/* A file reply is not statistics. */
	msg = craft(XBOOT_CMD_FILE_GET, stats_attrs,
		    sizeof(stats_attrs) / sizeof(stats_attrs[0]), M_NONE, 0);
	assert_int_equal(kcache_parse_stats(nlmsg_hdr(msg), &st), -EBADMSG);
	nlmsg_free(msg);
}

static const struct bad_case event_cases[] = {
	{ "good", M_NONE, 0, 0 },
	{ "no event", M_OMIT, XBOOT_A_EVENT, -EBADMSG },
	{ "no id", M_OMIT, XBOOT_A_FILE_ID, -EBADMSG },
	{ "no gen", M_OMIT, XBOOT_A_FILE_GEN, -EBADMSG },
	{ "event of 2 bytes", M_NARROW, XBOOT_A_EVENT, -EBADMSG },
	{ "path without NUL", M_PATH_NO_NUL, 0, -EBADMSG },
	{ "truncated attribute", M_TRUNCATED, 0, -EBADMSG },
	{ "unknown attribute", M_UNKNOWN_ATTR, 0, 0 },
};

static void test_parse_event_table(void **state)
{
	struct kcache_event *ev = malloc(sizeof(*ev));
	struct nl_msg *msg;
	size_t i;
	int ret;

	(void)state;
	assert_non_null(ev);
	for (i = 0; i < sizeof(event_cases) / sizeof(event_cases[0]); i++) {
		const struct bad_case *c = &event_cases[i];

		msg = craft(XBOOT_CMD_FILE_EVENT, event_attrs,
			    sizeof(event_attrs) / sizeof(event_attrs[0]), c->m,
			    c->target);
		ret = kcache_parse_event(nlmsg_hdr(msg), ev);
		if (ret != c->want)
			fail_msg("event '%s': got %d, want %d", c->name, ret,
				 c->want);
		if (!ret) {
			assert_int_equal(ev->event, XBOOT_EVENT_CHANGED);
			assert_int_equal(ev->id, 7);
			assert_int_equal(ev->gen, 3);
			assert_string_equal(ev->path, PATH);
		}
		nlmsg_free(msg);
	}
	free(ev);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_open_without_module),
		cmocka_unit_test(test_event_names),
		cmocka_unit_test(test_parse_file_table),
		cmocka_unit_test(test_parse_file_values),
		cmocka_unit_test(test_parse_stats_table),
		cmocka_unit_test(test_parse_event_table),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
