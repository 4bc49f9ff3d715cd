// SPDX-License-Identifier: GPL-2.0
/*
 * Self-tests of the block cache's logic, built into debug modules
 * (make kmod XBOOT_DEBUG=1) and run at load: a failure fails the load.
 * Included by bcache.c so they can reach its internals; they use entries
 * with no file behind them, so nothing here touches a file system.
 */

static bool __init bcache_selftest_expect(bool ok, const char *what, int *fails)
{
	if (!ok) {
		pr_err("selftest: %s: FAIL\n", what);
		(*fails)++;
	}
	return ok;
}

#define EXPECT(cond) bcache_selftest_expect((cond), #cond, &fails)

static struct xb_file *__init bcache_selftest_file(const char *path, u64 size)
{
	struct xb_file *f = bcache_file_alloc(path);

	if (!f)
		return NULL;
	f->size = size;
	f->npages = DIV_ROUND_UP(size, PAGE_SIZE);
	f->dev = 1;
	f->ino = size + 1;
	return f;
}

/* Wait until every queued teardown has run. */
static void __init bcache_selftest_settle(void)
{
	synchronize_rcu();
	rcu_barrier();
	flush_workqueue(bcache_wq);
}

static int __init bcache_selftest_pins(void)
{
	unsigned int saved = max_pinned_mb;
	u64 base = atomic64_read(&bcache_pinned);
	int fails = 0;

	max_pinned_mb = 1;
	EXPECT(bcache_pin_limit() == 1 << 20);
	EXPECT(bcache_pin_reserve(512 << 10) == 0);
	EXPECT(bcache_pin_reserve(512 << 10) == 0);
	EXPECT(bcache_pin_reserve(1) == -ENOSPC);
	EXPECT(atomic64_read(&bcache_pinned) == base + (1 << 20));
	bcache_pin_unreserve(512 << 10);
	EXPECT(bcache_pin_reserve(PAGE_SIZE) == 0);
	bcache_pin_unreserve(512 << 10);
	bcache_pin_unreserve(PAGE_SIZE);
	EXPECT(atomic64_read(&bcache_pinned) == base);
	max_pinned_mb = 0;
	EXPECT(bcache_pin_reserve(1) == -ENOSPC);
	EXPECT(bcache_pin_reserve(0) == 0);
	max_pinned_mb = saved;
	return fails;
}

static int __init bcache_selftest_table(void)
{
	struct xb_file *a, *b;
	u32 a_id, a_gen, b_id;
	int fails = 0;

	a = bcache_selftest_file("/selftest/a", 3 * PAGE_SIZE + 1);
	b = bcache_selftest_file("/selftest/b", 100);
	if (!EXPECT(a && b))
		goto out;
	EXPECT(bcache_insert(a, NULL) == 0);
	a_id = a->id;
	a_gen = a->gen;
	EXPECT(atomic_read(&bcache_nfiles) == 1);
	EXPECT(xa_load(&bcache_files, a_id) == a);

	/* Lookup answers of the kfuncs. */
	EXPECT(bcache_check(a, a_id, a_gen, 0, 1) == 0);
	EXPECT(bcache_check(a, a_id, a_gen + 1, 0, 1) == -ESTALE);
	EXPECT(bcache_check(a, a_id, a_gen, a->size, 1) == -ERANGE);
	EXPECT(bcache_check(a, a_id, a_gen, a->size - 1, 1) == 0);
	EXPECT(bcache_check(a, a_id, a_gen, U64_MAX, 2) == -ERANGE);
	EXPECT(bcache_check(NULL, 0, 0, 0, 1) == -ENOENT);
	EXPECT(bcache_check(NULL, a_id + 100, 0, 0, 1) == -ENOENT);

	/* Duplicates by path and by inode. */
	b->dev = a->dev;
	b->ino = a->ino;
	EXPECT(bcache_find_dup(b) == a_id);
	b->ino = a->ino + 1;
	EXPECT(bcache_find_dup(b) == 0);
	kfree(b->path);
	b->path = kstrdup("/selftest/a", GFP_KERNEL);
	EXPECT(b->path && bcache_find_dup(b) == a_id);

	/* A dropped id is stale, never unknown, and never handed out
	 * again; generations only grow. */
	rcu_read_lock(); /* a stays readable until we are done looking */
	EXPECT(bcache_kill(a, XBOOT_EVENT_CHANGED));
	EXPECT(READ_ONCE(a->dead));
	EXPECT(xa_load(&bcache_files, a_id) == NULL);
	EXPECT(atomic_read(&bcache_nfiles) == 0);
	EXPECT(atomic64_read(&bcache_drops) == 1);
	EXPECT(bcache_check(NULL, a_id, a_gen, 0, 1) == -ESTALE);
	EXPECT(!bcache_kill(a, XBOOT_EVENT_CHANGED)); /* a second is a no-op */
	EXPECT(atomic64_read(&bcache_drops) == 1);
	rcu_read_unlock();
	EXPECT(bcache_find_dup(b) == 0);
	EXPECT(bcache_insert(b, NULL) == 0);
	b_id = b->id;
	EXPECT(b_id > a_id && b->gen > a_gen);
	EXPECT(bcache_kill_id(b_id, XBOOT_EVENT_REMOVED) == 0);
	EXPECT(bcache_kill_id(b_id, XBOOT_EVENT_REMOVED) == -ENOENT);
	EXPECT(atomic64_read(&bcache_drops) == 1);
	bcache_selftest_settle();
	return fails;
out:
	if (a)
		bcache_free_mem(a);
	if (b)
		bcache_free_mem(b);
	return fails;
}

/* XBOOT_FILES_MAX entries fit, one more does not. */
static int __init bcache_selftest_limits(void)
{
	struct xb_file *f;
	unsigned long id;
	int fails = 0, i;

	for (i = 0; i < XBOOT_FILES_MAX; i++) {
		f = bcache_selftest_file("/selftest/n", PAGE_SIZE);
		if (!EXPECT(f && bcache_insert(f, NULL) == 0))
			break;
	}
	EXPECT(atomic_read(&bcache_nfiles) == XBOOT_FILES_MAX);
	EXPECT(bcache_files_room() == -ENOSPC);
	rcu_read_lock();
	xa_for_each(&bcache_files, id, f)
		bcache_kill(f, XBOOT_EVENT_REMOVED);
	rcu_read_unlock();
	bcache_selftest_settle();
	EXPECT(atomic_read(&bcache_nfiles) == 0);
	EXPECT(xa_empty(&bcache_files));
	EXPECT(bcache_files_room() == 0);
	return fails;
}

int __init bcache_selftest(void)
{
	int fails;

	fails = bcache_selftest_pins();
	fails += bcache_selftest_table();
	fails += bcache_selftest_limits();
	/* Nothing outside saw these entries: start the numbers afresh. */
	bcache_next_id = 1;
	bcache_next_gen = 1;
	atomic64_set(&bcache_drops, 0);
	if (fails) {
		pr_err("selftest: %d check(s) failed\n", fails);
		return -EINVAL;
	}
	pr_info("selftest: block cache: pass\n");
	return 0;
}
