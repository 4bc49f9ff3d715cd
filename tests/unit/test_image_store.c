// SPDX-License-Identifier: GPL-2.0
/*
 * The image store: an image is listed only once published (never while it
 * is staged, never after a writer died: the sweep removes what it left),
 * names are unique, remove and verify (a flipped data byte is found and
 * its chunk named), and import/export are byte-identical.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "fill_random.h"
#include "image_store.h"
#include "tmpdir.h"

#define CHUNK (64U * 1024)

static char tmpdir[] = "/tmp/xboot-test-image-store.XXXXXX";
static char store_dir[128];
static char raw_path[160];
static struct image_store *st;
static uint64_t rng = 0x243f6a8885a308d3ULL;

/* A raw disk file: random, a zero region of whole chunks, a short end. */
static size_t make_raw(const char *path)
{
	size_t size = 6 * CHUNK + 777;
	uint8_t *d = calloc(1, size);
	FILE *f;

	fill_random(&rng, d, 2 * CHUNK + 10);
	fill_random(&rng, d + 5 * CHUNK, CHUNK + 777);
	f = fopen(path, "w");
	assert_non_null(f);
	assert_int_equal(fwrite(d, 1, size, f), size);
	fclose(f);
	free(d);
	return size;
}

static int count_entries(const char *prefix)
{
	struct dirent *de;
	DIR *d = opendir(store_dir);
	int n = 0;

	assert_non_null(d);
	while ((de = readdir(d)))
		if (!strncmp(de->d_name, prefix, strlen(prefix)))
			n++;
	closedir(d);
	return n;
}

static size_t list_names(char names[][XBI_NAME_MAX + 1], size_t max)
{
	struct image_info *v;
	size_t n, i;

	assert_int_equal(image_store_list(st, &v, &n), 0);
	assert_true(n <= max);
	for (i = 0; i < n; i++)
		strcpy(names[i], v[i].name);
	free(v);
	return n;
}

static void files_equal(const char *a, const char *b)
{
	char cmd[512];

	snprintf(cmd, sizeof(cmd), "cmp -s %s %s", a, b);
	assert_int_equal(system(cmd), 0);
}

static void put_some(struct image_store_tx *tx, int n)
{
	struct image_writer *w = image_store_tx_writer(tx);
	struct image_err e;
	uint8_t buf[CHUNK];
	int i;

	for (i = 0; i < n; i++) {
		fill_random(&rng, buf, sizeof(buf));
		assert_int_equal(image_writer_put(w, i, buf, CHUNK, &e), 0);
	}
}

static void create(const char *name, struct image_store_tx **tx)
{
	struct image_meta meta = { .size = 4 * CHUNK, .capture_time = 1 };
	struct image_err e;

	assert_int_equal(
		image_store_create(st, name, &meta, CHUNK, 1, 1, tx, &e), 0);
}

static void test_publish_is_atomic(void **state)
{
	char names[8][XBI_NAME_MAX + 1];
	struct image_store_tx *tx, *tx2;
	struct image_info *v;
	struct image_err e;
	size_t n;

	(void)state;
	create("atomic", &tx);
	put_some(tx, 2);
	assert_int_equal(list_names(names, 8), 0);
	assert_int_equal(count_entries(".staging-atomic."), 1);
	/* a sweep leaves a staging directory whose writer is alive */
	assert_int_equal(image_store_sweep(st), 0);
	assert_int_equal(count_entries(".staging-atomic."), 1);
	/* a second writer of the same name loses at publish */
	create("atomic", &tx2);
	put_some(tx2, 1);
	assert_int_equal(image_store_publish(tx, &e), 0);
	assert_int_equal(image_store_publish(tx2, &e), -EEXIST);
	assert_string_equal(e.msg, "image atomic exists");
	assert_int_equal(count_entries(".staging-"), 0);
	/* and a third is refused up front */
	assert_int_equal(image_store_create(st, "atomic",
					    &(struct image_meta){ .size = 1 },
					    CHUNK, 1, 1, &tx2, &e),
			 -EEXIST);

	assert_int_equal(image_store_list(st, &v, &n), 0);
	assert_int_equal(n, 1);
	assert_string_equal(v[0].name, "atomic");
	assert_string_equal(v[0].error, "");
	assert_string_equal(v[0].meta.name, "atomic");
	assert_int_equal(v[0].meta.size, 4 * CHUNK);
	assert_int_equal(v[0].n_chunks, 4);
	assert_int_equal(v[0].n_holes, 2);
	assert_int_equal(v[0].chunk_size, CHUNK);
	free(v);
	assert_int_equal(image_store_verify(st, "atomic", &e), 0);

	/* abort leaves nothing */
	create("aborted", &tx);
	put_some(tx, 1);
	image_store_abort(tx);
	assert_int_equal(count_entries(".staging-"), 0);
	assert_int_equal(list_names(names, 8), 1);
	assert_int_equal(image_store_remove(st, "atomic", &e), 0);
}

/* A writer killed mid-image: nothing listed, and the sweep cleans up. */
static void test_interrupted_writer(void **state)
{
	char names[8][XBI_NAME_MAX + 1];
	struct image_store_tx *tx;
	struct image_store *st2;
	struct image_err e;
	char p[256];
	int status;
	pid_t pid;

	(void)state;
	pid = fork();
	assert_true(pid >= 0);
	if (!pid) {
		create("killed", &tx);
		put_some(tx, 3);
		_exit(0); /* no publish, no abort: as if killed */
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_int_equal(status, 0);
	assert_int_equal(list_names(names, 8), 0);
	assert_int_equal(count_entries(".staging-killed."), 1);
	/* opening the store (xbootd's start-up) sweeps */
	assert_int_equal(image_store_open(&st2, store_dir, &e), 0);
	assert_int_equal(count_entries(".staging-"), 0);
	image_store_close(st2);
	assert_int_equal(list_names(names, 8), 0);

	/* a removal interrupted after its rename */
	snprintf(p, sizeof(p), "%s/.removing-old.123456", store_dir);
	assert_int_equal(mkdir(p, 0755), 0);
	assert_int_equal(image_store_sweep(st), 1);
	assert_int_equal(count_entries(".removing-"), 0);
}

static void test_import_export_verify(void **state)
{
	char out[192], names[8][XBI_NAME_MAX + 1], path[256];
	struct image_handle *h;
	struct image_info *v;
	struct image_err e;
	struct image_chunk c;
	uint8_t comp[CHUNK + 1024], raw[CHUNK];
	size_t size, n;
	FILE *f;
	int fd;

	(void)state;
	size = make_raw(raw_path);
	assert_int_equal(
		image_store_import(st, raw_path, "disk1", CHUNK, 3, 1, &e), 0);
	assert_int_equal(image_store_import(st, raw_path, "disk1", CHUNK, 3, 1,
					    &e),
			 -EEXIST);
	assert_int_equal(image_store_import(st, "/nonexistent", "disk2", CHUNK,
					    3, 1, &e),
			 -ENOENT);
	assert_int_equal(image_store_import(st, raw_path, "../x", CHUNK, 3, 1,
					    &e),
			 -EINVAL);
	assert_int_equal(list_names(names, 8), 1);
	assert_int_equal(image_store_verify(st, "disk1", &e), 0);

	/* export to a new file, then over an existing larger one */
	snprintf(out, sizeof(out), "%s/out.raw", tmpdir);
	assert_int_equal(image_store_export(st, "disk1", out, &e), 0);
	files_equal(raw_path, out);
	f = fopen(out, "a");
	fputs("garbage that makes the file longer", f);
	fclose(f);
	assert_int_equal(image_store_export(st, "disk1", out, &e), 0);
	files_equal(raw_path, out);

	/* read one chunk through a handle */
	assert_int_equal(image_store_image_open(st, "disk1", &h, &e), 0);
	assert_int_equal(h->m.meta.size, size);
	assert_int_equal(h->m.n_holes, 2);
	assert_int_equal(image_handle_read_chunk(h, 6, comp, raw, &e), 0);
	image_chunk_get(&h->m, 2, &c);
	image_handle_close(h);

	/* flip one byte of chunk 2's frame: verify names the chunk, export
   * fails and leaves no file */
	snprintf(path, sizeof(path), "%s/disk1/data", store_dir);
	fd = open(path, O_RDWR);
	assert_true(fd >= 0);
	assert_int_equal(pread(fd, comp, 1, c.offset + c.clen / 2), 1);
	comp[0] ^= 0x01;
	assert_int_equal(pwrite(fd, comp, 1, c.offset + c.clen / 2), 1);
	assert_int_equal(image_store_verify(st, "disk1", &e), -EBADMSG);
	assert_non_null(strstr(e.msg, "chunk 2:"));
	snprintf(out, sizeof(out), "%s/out2.raw", tmpdir);
	assert_int_equal(image_store_export(st, "disk1", out, &e), -EBADMSG);
	assert_int_equal(access(out, F_OK), -1);

	/* a truncated data file */
	assert_int_equal(ftruncate(fd, c.offset), 0);
	close(fd);
	assert_int_equal(image_store_verify(st, "disk1", &e), -EBADMSG);
	assert_non_null(strstr(e.msg, "data file is"));
	/* a broken image is still listed, with its error, and removable */
	assert_int_equal(image_store_list(st, &v, &n), 0);
	assert_int_equal(n, 1);
	assert_non_null(strstr(v[0].error, "data file is"));
	free(v);
	assert_int_equal(image_store_remove(st, "disk1", &e), 0);
	assert_int_equal(image_store_remove(st, "disk1", &e), -ENOENT);
	assert_int_equal(count_entries(".removing-"), 0);
	assert_int_equal(list_names(names, 8), 0);
}

/* The manifest names its image: a directory renamed by hand is refused. */
static void test_name_mismatch_and_order(void **state)
{
	char a[256], b[256], names[8][XBI_NAME_MAX + 1];
	struct image_handle *h;
	struct image_err e;

	(void)state;
	make_raw(raw_path);
	assert_int_equal(image_store_import(st, raw_path, "zeta", 0, 1, 2, &e),
			 0);
	assert_int_equal(
		image_store_import(st, raw_path, "alpha", CHUNK, 1, 1, &e), 0);
	assert_int_equal(list_names(names, 8), 2);
	assert_string_equal(names[0], "alpha");
	assert_string_equal(names[1], "zeta");
	snprintf(a, sizeof(a), "%s/zeta", store_dir);
	snprintf(b, sizeof(b), "%s/beta", store_dir);
	assert_int_equal(rename(a, b), 0);
	assert_int_equal(image_store_image_open(st, "beta", &h, &e), -EINVAL);
	assert_non_null(strstr(e.msg, "names image \"zeta\""));
	assert_int_equal(image_store_image_open(st, "nope", &h, &e), -ENOENT);
	assert_int_equal(image_store_remove(st, "beta", &e), 0);
	assert_int_equal(image_store_remove(st, "alpha", &e), 0);
}

static int setup(void **state)
{
	struct image_err e;

	(void)state;
	if (tmpdir_make(tmpdir))
		return -1;
	snprintf(store_dir, sizeof(store_dir), "%s/images", tmpdir);
	snprintf(raw_path, sizeof(raw_path), "%s/disk.raw", tmpdir);
	return image_store_open(&st, store_dir, &e);
}

static int teardown(void **state)
{
	(void)state;
	image_store_close(st);
	return tmpdir_remove(tmpdir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_publish_is_atomic),
		cmocka_unit_test(test_interrupted_writer),
		cmocka_unit_test(test_import_export_verify),
		cmocka_unit_test(test_name_mismatch_and_order),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
