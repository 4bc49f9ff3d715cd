/* SPDX-License-Identifier: GPL-2.0 */
/*
 * A unit test's scratch directory: made from a mkdtemp() template in the
 * group's setup, removed with all it holds in its teardown. nftw() rather
 * than "rm -rf" through system(): no shell, and no path quoting to get wrong.
 */
#ifndef XBOOT_TEST_TMPDIR_H
#define XBOOT_TEST_TMPDIR_H

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>

/* Fills in the template's XXXXXX and makes the directory. 0, or -1. */
static inline int tmpdir_make(char *tmpl)
{
	return mkdtemp(tmpl) ? 0 : -1;
}

static inline int tmpdir_remove_one(const char *path, const struct stat *st,
				    int flag, struct FTW *ftw)
{
	return remove(path);
}

/* path and everything below it, deepest first, links not followed. 0, -1. */
static inline int tmpdir_remove(const char *path)
{
	return nftw(path, tmpdir_remove_one, 16, FTW_DEPTH | FTW_PHYS);
}

#endif
