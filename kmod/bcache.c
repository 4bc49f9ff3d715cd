// SPDX-License-Identifier: GPL-2.0
/*
 * The page-cache block cache. A registered file is opened, read into the
 * page cache, and every folio it spans is held with a reference so reclaim
 * cannot evict it; XDP and TC programs then copy blocks straight out of
 * those folios through the kfuncs (kfunc.c).
 *
 * Lifetime: the table (an xarray indexed by id) is read under RCU by the
 * kfuncs and the netlink dumps. Whoever removes an entry from the table
 * (FILE_DEL, the fsnotify handler, a replacing FILE_ADD, module exit) owns
 * its teardown, which runs from a workqueue after an RCU grace period. The
 * struct itself embeds the fsnotify mark and is freed by fsnotify's
 * free_mark callback, after fsnotify's own SRCU grace period, so neither an
 * XDP reader nor a running fsnotify handler can see it freed.
 *
 * Staleness: the fsnotify mark drops the file on any write, attribute
 * change, unlink, or rename. Because fsnotify reports a write only after it
 * is done, the kfuncs also compare the inode's size, mtime and ctime with
 * the values recorded at registration, before and after copying: see
 * bcache_copy().
 */
#include <linux/atomic.h>
#include <linux/fs.h>
#include <linux/fsnotify_backend.h>
#include <linux/highmem.h>
#include <linux/kdev_t.h>
#include <linux/module.h>
#include <linux/mutex.h>
#include <linux/namei.h>
#include <linux/pagemap.h>
#include <linux/percpu.h>
#include <linux/shmem_fs.h>
#include <linux/slab.h>
#include <linux/stat.h>
#include <linux/delay.h>
#include <linux/workqueue.h>
#include <linux/xarray.h>
#include <net/checksum.h>
#include <net/netlink.h>

#include <uapi/linux/xboot.h>

#include "bcache.h"
#include "compat.h"
#include "netlink.h"

static unsigned int max_pinned_mb = 256;
module_param(max_pinned_mb, uint, 0644);
MODULE_PARM_DESC(max_pinned_mb,
		 "Most page-cache memory the registered files may pin, in MiB (default 256)");

#define BCACHE_MASK (FS_MODIFY | FS_ATTRIB | FS_DELETE_SELF | FS_MOVE_SELF)

struct xb_file {
	/* First, so free_mark's container_of is the struct itself. */
	struct fsnotify_mark mark;
	bool mark_inited;
	bool mark_added;
	/* Set (never cleared) once the file must not be served any more. */
	bool dead;
	u32 drop_event;

	u32 id;
	u32 gen;
	u32 npages;
	u64 size;
	u64 dev;
	u64 ino;
	struct timespec64 mtime;
	struct timespec64 ctime;
	char *path;

	struct file *filp;
	struct address_space *mapping;
	/* One reference per page index: folios[i] holds page i. */
	struct folio **folios;
	bool pin_reserved;

	atomic64_t blocks;
	struct work_struct stale_work;
	struct rcu_work release_work;
};

struct bcache_counters {
	u64 blocks;
	u64 bytes;
	u64 misses;
};

/* Entries by id; lookups under RCU, stores under the xarray's lock. */
static DEFINE_XARRAY(bcache_files);
/* Serializes add and del: duplicate checks, ids, generations. */
static DEFINE_MUTEX(bcache_lock);
/* Ids and generations only ever grow, so an old id or generation can
 * never name a new file. next_id is also read locklessly by the kfuncs. */
static u32 bcache_next_id = 1;
static u32 bcache_next_gen = 1;
static atomic_t bcache_nfiles = ATOMIC_INIT(0);
static atomic64_t bcache_pinned = ATOMIC64_INIT(0);
static atomic64_t bcache_drops = ATOMIC64_INIT(0);
static struct bcache_counters __percpu *bcache_counters;
static struct fsnotify_group *bcache_group;
static struct workqueue_struct *bcache_wq;

static u64 bcache_pin_limit(void)
{
	return (u64)READ_ONCE(max_pinned_mb) << 20;
}

static u64 bcache_pin_bytes(const struct xb_file *f)
{
	return (u64)f->npages << PAGE_SHIFT;
}

/* Reserve before pinning, so concurrent adds cannot overshoot the limit. */
static int bcache_pin_reserve(u64 bytes)
{
	if (atomic64_add_return(bytes, &bcache_pinned) > bcache_pin_limit()) {
		atomic64_sub(bytes, &bcache_pinned);
		return -ENOSPC;
	}
	return 0;
}

static void bcache_pin_unreserve(u64 bytes)
{
	atomic64_sub(bytes, &bcache_pinned);
}

/* Checked under bcache_lock, the only place files are added. */
static int bcache_files_room(void)
{
	return atomic_read(&bcache_nfiles) >= XBOOT_FILES_MAX ? -ENOSPC : 0;
}

static void bcache_info(const struct xb_file *f, struct xb_file_info *info)
{
	info->id = f->id;
	info->gen = f->gen;
	info->pages = f->npages;
	info->size = f->size;
	info->dev = f->dev;
	info->ino = f->ino;
	info->blocks = atomic64_read(&f->blocks);
	info->path = f->path;
}

static void bcache_free_mem(struct xb_file *f)
{
	kfree(f->path);
	kfree(f);
}

/* fsnotify's last reference to the mark: nothing can see f any more. */
static void bcache_free_mark(struct fsnotify_mark *mark)
{
	bcache_free_mem(container_of(mark, struct xb_file, mark));
}

static void bcache_free(struct xb_file *f)
{
	if (f->mark_added)
		fsnotify_destroy_mark(&f->mark, bcache_group);
	if (f->mark_inited)
		fsnotify_put_mark(&f->mark);
	else
		bcache_free_mem(f);
}

static void bcache_unpin(struct xb_file *f)
{
	u32 i;

	if (f->folios) {
		for (i = 0; i < f->npages && f->folios[i]; i++)
			folio_put(f->folios[i]);
		kvfree(f->folios);
		f->folios = NULL;
	}
	if (f->pin_reserved)
		bcache_pin_unreserve(bcache_pin_bytes(f));
	f->pin_reserved = false;
}

/* Undo everything but the table entry and the event; frees f. */
static void bcache_destroy(struct xb_file *f)
{
	cancel_work_sync(&f->stale_work);
	bcache_unpin(f);
	if (f->filp)
		fput(f->filp);
	bcache_free(f);
}

static void bcache_release_work(struct work_struct *work)
{
	struct xb_file *f = container_of(to_rcu_work(work), struct xb_file,
					 release_work);
	struct xb_file_info info;

	if (f->drop_event) {
		bcache_info(f, &info);
		xb_genl_notify(f->drop_event, &info);
	}
	bcache_destroy(f);
}

/* Take f out of the table; true for the one caller that did. */
static bool bcache_unpublish(struct xb_file *f)
{
	if (xa_cmpxchg(&bcache_files, f->id, f, NULL, 0) != f)
		return false;
	atomic_dec(&bcache_nfiles);
	return true;
}

/*
 * Stop serving f at once and tear it down once no reader can hold it;
 * true for the one caller that took it out of the table. Callable from
 * any context but hard IRQ: the fsnotify handler runs in the writer's
 * context, possibly under the inode lock, so no sleeping locks here.
 * Event XBOOT_EVENT_UNSPEC tears down without telling anyone.
 */
static bool bcache_kill(struct xb_file *f, u32 event)
{
	bool won;

	WRITE_ONCE(f->dead, true);
	/* Pairs with the barrier in bcache_publish(): either it sees dead,
	 * or we see the entry in the table. */
	smp_mb();
	/* The read section lets bcache_exit() wait for a kill in flight
	 * to have queued its work. */
	rcu_read_lock();
	won = bcache_unpublish(f);
	if (won) {
		if (event == XBOOT_EVENT_CHANGED || event == XBOOT_EVENT_GONE)
			atomic64_inc(&bcache_drops);
		f->drop_event = event;
		queue_rcu_work(bcache_wq, &f->release_work);
	}
	rcu_read_unlock();
	return won;
}

/* A kfunc saw the inode change before fsnotify told us: drop it from
 * process context (the kfunc runs in softirq). */
static void bcache_stale_work(struct work_struct *work)
{
	bcache_kill(container_of(work, struct xb_file, stale_work),
		    XBOOT_EVENT_CHANGED);
}

static int bcache_fsnotify_event(struct fsnotify_mark *mark, u32 mask,
				 struct inode *inode, struct inode *dir,
				 const struct qstr *name, u32 cookie)
{
	struct xb_file *f = container_of(mark, struct xb_file, mark);
	u32 event = XBOOT_EVENT_CHANGED;

	/* Unlink and rename-over show up as FS_ATTRIB on the old inode
	 * (its link count changed); DELETE_SELF cannot come while we hold
	 * the file open, but costs nothing to handle. */
	if (mask & (FS_DELETE_SELF | FS_MOVE_SELF))
		event = XBOOT_EVENT_GONE;
	else if ((mask & FS_ATTRIB) && inode && !inode->i_nlink)
		event = XBOOT_EVENT_GONE;
	bcache_kill(f, event);
	return 0;
}

static const struct fsnotify_ops bcache_fsnotify_ops = {
	.handle_inode_event = bcache_fsnotify_event,
	.free_mark = bcache_free_mark,
};

static struct xb_file *bcache_file_alloc(const char *path)
{
	struct xb_file *f = kzalloc(sizeof(*f), GFP_KERNEL);

	if (!f)
		return NULL;
	f->path = kstrdup(path, GFP_KERNEL);
	if (!f->path) {
		kfree(f);
		return NULL;
	}
	atomic64_set(&f->blocks, 0);
	INIT_WORK(&f->stale_work, bcache_stale_work);
	INIT_RCU_WORK(&f->release_work, bcache_release_work);
	return f;
}

static int bcache_open(struct xb_file *f, struct netlink_ext_ack *extack)
{
	struct inode *inode;
	struct kstat stat;
	int err;

	f->filp = filp_open(f->path, O_RDONLY | O_LARGEFILE, 0);
	if (IS_ERR(f->filp)) {
		err = PTR_ERR(f->filp);
		f->filp = NULL;
		NL_SET_ERR_MSG(extack, "cannot open the file");
		return err;
	}
	inode = file_inode(f->filp);
	if (!S_ISREG(inode->i_mode)) {
		NL_SET_ERR_MSG(extack, "not a regular file");
		return -EINVAL;
	}
	/* The cache reads through ->read_folio (tmpfs has its own way);
	 * DAX and pseudo files have no page cache to hold. */
	f->mapping = f->filp->f_mapping;
	if (IS_DAX(inode) ||
	    (!f->mapping->a_ops->read_folio && !shmem_mapping(f->mapping))) {
		NL_SET_ERR_MSG(extack, "the file system has no page cache for this file");
		return -EINVAL;
	}
	err = vfs_getattr(&f->filp->f_path, &stat, STATX_INO | STATX_SIZE,
			  AT_STATX_SYNC_AS_STAT);
	if (err) {
		NL_SET_ERR_MSG(extack, "cannot stat the file");
		return err;
	}
	f->dev = new_encode_dev(stat.dev);
	f->ino = stat.ino;
	return 0;
}

/* Another entry with the same path or inode, by id; 0 for none. */
static u32 bcache_find_dup(const struct xb_file *f)
{
	struct xb_file *e;
	unsigned long id;
	u32 dup = 0;

	rcu_read_lock();
	xa_for_each(&bcache_files, id, e) {
		if ((e->dev == f->dev && e->ino == f->ino) ||
		    !strcmp(e->path, f->path)) {
			dup = e->id;
			break;
		}
	}
	rcu_read_unlock();
	return dup;
}

static int bcache_reserve(struct xb_file *f, struct netlink_ext_ack *extack)
{
	u64 size = i_size_read(file_inode(f->filp));

	if (size > XBOOT_FILE_SIZE_MAX) {
		NL_SET_ERR_MSG(extack, "file larger than XBOOT_FILE_SIZE_MAX");
		return -EFBIG;
	}
	if (bcache_files_room()) {
		NL_SET_ERR_MSG(extack, "XBOOT_FILES_MAX files already registered");
		return -ENOSPC;
	}
	f->npages = DIV_ROUND_UP(size, PAGE_SIZE);
	if (bcache_pin_reserve(bcache_pin_bytes(f))) {
		NL_SET_ERR_MSG(extack, "the pin limit (max_pinned_mb) would be passed");
		return -ENOSPC;
	}
	f->pin_reserved = true;
	return 0;
}

static int bcache_watch(struct xb_file *f, struct netlink_ext_ack *extack)
{
	int err;

	fsnotify_init_mark(&f->mark, bcache_group);
	f->mark_inited = true;
	f->mark.mask = BCACHE_MASK;
	err = fsnotify_add_inode_mark(&f->mark, file_inode(f->filp), 0);
	if (err) {
		NL_SET_ERR_MSG(extack, "cannot watch the file for changes");
		return err;
	}
	f->mark_added = true;
	return 0;
}

/*
 * File systems only update mtime/ctime when current_time() has moved since
 * the last update, so a write landing in the same clock tick as the one
 * before registration would leave both unchanged and slip past the kfuncs'
 * identity check. Wait (bounded: coarse file systems tick in seconds) until
 * the clock has moved past both; any later write then changes them.
 */
static void bcache_wait_clock(struct inode *inode)
{
	struct timespec64 now, mtime, ctime;
	int waited;

	for (waited = 0; waited < 2100; waited += 5) {
		now = current_time(inode);
		mtime = xb_inode_mtime(inode);
		ctime = xb_inode_ctime(inode);
		if (!timespec64_equal(&now, &mtime) &&
		    !timespec64_equal(&now, &ctime))
			return;
		msleep(5);
	}
}

static void bcache_snapshot(struct xb_file *f)
{
	struct inode *inode = file_inode(f->filp);

	f->size = i_size_read(inode);
	f->mtime = xb_inode_mtime(inode);
	f->ctime = xb_inode_ctime(inode);
}

static bool bcache_same_inode(const struct xb_file *f)
{
	struct inode *inode = f->mapping->host;
	struct timespec64 mtime = xb_inode_mtime(inode);
	struct timespec64 ctime = xb_inode_ctime(inode);

	return i_size_read(inode) == f->size &&
	       timespec64_equal(&mtime, &f->mtime) &&
	       timespec64_equal(&ctime, &f->ctime);
}

/* Page index's folio, uptodate, with a reference for the caller. */
static struct folio *bcache_read_folio(struct xb_file *f, pgoff_t index)
{
	struct page *page;

	if (!shmem_mapping(f->mapping))
		return read_mapping_folio(f->mapping, index, f->filp);
	page = shmem_read_mapping_page_gfp(f->mapping, index,
					   mapping_gfp_mask(f->mapping));
	return IS_ERR(page) ? ERR_CAST(page) : page_folio(page);
}

static int bcache_pin(struct xb_file *f, struct netlink_ext_ack *extack)
{
	struct folio *folio;
	u32 i;

	/* The size may have moved since bcache_reserve(); never pin more
	 * than was reserved. */
	if (DIV_ROUND_UP(f->size, PAGE_SIZE) != f->npages) {
		NL_SET_ERR_MSG(extack, "the file changed while being registered");
		return -EAGAIN;
	}
	if (!f->npages)
		return 0;
	f->folios = kvcalloc(f->npages, sizeof(*f->folios), GFP_KERNEL);
	if (!f->folios)
		return -ENOMEM;
	for (i = 0; i < f->npages; i++) {
		folio = bcache_read_folio(f, i);
		if (IS_ERR(folio)) {
			NL_SET_ERR_MSG(extack, "cannot read the file");
			return PTR_ERR(folio);
		}
		f->folios[i] = folio;
		if (fatal_signal_pending(current))
			return -EINTR;
		cond_resched();
	}
	return 0;
}

/* Give f an id and a generation and put it in the table. */
static int bcache_insert(struct xb_file *f, struct netlink_ext_ack *extack)
{
	int err;

	if (bcache_next_id == U32_MAX || bcache_next_gen == U32_MAX) {
		NL_SET_ERR_MSG(extack, "file ids exhausted; reload the module");
		return -ENOSPC;
	}
	f->id = bcache_next_id;
	f->gen = bcache_next_gen;
	err = xa_insert(&bcache_files, f->id, f, GFP_KERNEL);
	if (err)
		return err;
	WRITE_ONCE(bcache_next_id, f->id + 1);
	bcache_next_gen++;
	atomic_inc(&bcache_nfiles);
	return 0;
}

static int bcache_publish(struct xb_file *f, struct netlink_ext_ack *extack)
{
	int err;

	err = bcache_insert(f, extack);
	if (err)
		return err;
	/* An event between the mark and the insert found nothing to drop;
	 * it left f->dead behind instead. Pairs with bcache_kill(). */
	smp_mb();
	if (!READ_ONCE(f->dead) && bcache_same_inode(f))
		return 0;
	NL_SET_ERR_MSG(extack, "the file changed while being registered");
	/* If the handler unpublished it, it also owns the teardown. */
	if (!bcache_unpublish(f))
		return -EINPROGRESS;
	/* A kfunc may have found it by id meanwhile. */
	synchronize_rcu();
	return -EAGAIN;
}

/* Drop the entry with this id (REPLACED or REMOVED); -ENOENT if none. */
static int bcache_kill_id(u32 id, u32 event)
{
	struct xb_file *f;
	int err = -ENOENT;

	rcu_read_lock();
	f = xa_load(&bcache_files, id);
	if (f && bcache_kill(f, event))
		err = 0;
	rcu_read_unlock();
	return err;
}

static int bcache_add_locked(struct xb_file *f, u32 flags,
			     struct netlink_ext_ack *extack)
{
	u32 dup;
	int err;

	err = bcache_open(f, extack);
	if (err)
		return err;
	dup = bcache_find_dup(f);
	if (dup && !(flags & XBOOT_FILE_F_REPLACE)) {
		NL_SET_ERR_MSG(extack, "path or inode already registered");
		return -EEXIST;
	}
	err = bcache_reserve(f, extack);
	if (err)
		return err;
	/* Watch first, then record: no change can fall between the two. */
	err = bcache_watch(f, extack);
	if (err)
		return err;
	bcache_wait_clock(file_inode(f->filp));
	bcache_snapshot(f);
	err = bcache_pin(f, extack);
	if (err)
		return err;
	err = bcache_publish(f, extack);
	if (err)
		return err;
	if (dup)
		bcache_kill_id(dup, XBOOT_EVENT_REPLACED);
	return 0;
}

int bcache_add(const char *path, u32 flags, bcache_fill_fn fill, void *arg,
	       struct netlink_ext_ack *extack)
{
	struct xb_file_info info;
	struct xb_file *f;
	int err;

	f = bcache_file_alloc(path);
	if (!f)
		return -ENOMEM;
	mutex_lock(&bcache_lock);
	err = bcache_add_locked(f, flags, extack);
	if (!err)
		bcache_info(f, &info);
	mutex_unlock(&bcache_lock);
	if (err == -EINPROGRESS)
		return -EAGAIN; /* being torn down by bcache_kill() */
	if (err) {
		bcache_destroy(f);
		return err;
	}
	/* f may be dropped from here on; info is our own copy, but its path
	 * is f's: the caller's string is the same bytes. */
	info.path = path;
	xb_genl_notify(XBOOT_EVENT_ADDED, &info);
	return fill(&info, arg);
}

/* Synchronous: once it returns, the folios are released and the pin
 * accounting says so. */
int bcache_del(u32 id)
{
	int err;

	mutex_lock(&bcache_lock);
	err = bcache_kill_id(id, XBOOT_EVENT_REMOVED);
	mutex_unlock(&bcache_lock);
	if (!err) {
		rcu_barrier();
		flush_workqueue(bcache_wq);
	}
	return err;
}

int bcache_get(u32 id, bcache_fill_fn fill, void *arg)
{
	struct xb_file_info info;
	struct xb_file *f;
	int err = -ENOENT;

	rcu_read_lock();
	f = xa_load(&bcache_files, id);
	if (f) {
		bcache_info(f, &info);
		err = fill(&info, arg);
	}
	rcu_read_unlock();
	return err;
}

/* Fill from id *next on; on a fill error, *next is where to resume. */
int bcache_walk(unsigned long *next, bcache_fill_fn fill, void *arg)
{
	struct xb_file_info info;
	struct xb_file *f;
	unsigned long id;
	int err = 0;

	rcu_read_lock();
	xa_for_each_start(&bcache_files, id, f, *next) {
		bcache_info(f, &info);
		err = fill(&info, arg);
		if (err) {
			*next = id;
			break;
		}
	}
	if (!err)
		*next = ULONG_MAX;
	rcu_read_unlock();
	return err;
}

void bcache_stats(struct xb_stats *stats)
{
	const struct bcache_counters *c;
	int cpu;

	memset(stats, 0, sizeof(*stats));
	stats->files = atomic_read(&bcache_nfiles);
	stats->pinned = atomic64_read(&bcache_pinned);
	stats->drops = atomic64_read(&bcache_drops);
	stats->pin_limit = bcache_pin_limit();
	for_each_possible_cpu(cpu) {
		c = per_cpu_ptr(bcache_counters, cpu);
		stats->blocks += READ_ONCE(c->blocks);
		stats->bytes += READ_ONCE(c->bytes);
		stats->misses += READ_ONCE(c->misses);
	}
}

void bcache_count_miss(void)
{
	this_cpu_inc(bcache_counters->misses);
}

/* -ENOENT for an id never handed out, -ESTALE for one since dropped or a
 * generation that is not the file's. */
static int bcache_check(const struct xb_file *f, u32 id, u32 gen, u64 offset,
			u32 len)
{
	if (!f)
		return id && id < READ_ONCE(bcache_next_id) ? -ESTALE : -ENOENT;
	if (f->gen != gen || READ_ONCE(f->dead))
		return -ESTALE;
	if (offset > f->size || len > f->size - offset)
		return -ERANGE;
	return 0;
}

static int bcache_copy_folios(const struct xb_file *f, u64 offset, u32 len,
			      void *dst, __wsum *sum)
{
	struct folio *folio;
	u32 done, n;
	void *src;

	for (done = 0; done < len; done += n) {
		folio = f->folios[offset >> PAGE_SHIFT];
		/* Truncation takes the folio out of the mapping. */
		if (READ_ONCE(folio->mapping) != f->mapping)
			return -ESTALE;
		n = min_t(u32, len - done, PAGE_SIZE - offset_in_page(offset));
		src = kmap_local_folio(folio, offset_in_folio(folio, offset));
		memcpy(dst + done, src, n);
		*sum = csum_block_add(*sum, csum_partial(src, n, 0), done);
		kunmap_local(src);
		offset += n;
	}
	return 0;
}

/* The file changed under us: refuse from now on, drop it soon. */
static void bcache_mark_stale(struct xb_file *f)
{
	if (READ_ONCE(f->dead))
		return;
	WRITE_ONCE(f->dead, true);
	queue_work(bcache_wq, &f->stale_work);
}

/*
 * Writers change what bcache_same_inode() looks at before they change the
 * bytes: a write updates mtime/ctime (file_modified()) before copying into
 * the folios, and truncate sets i_size before it zeroes or drops folios. So
 * checking before and again after the copy (a seqlock-style read) means a
 * copy that overlapped any write or truncate is refused with -ESTALE, even
 * though fsnotify only hears of it once the write is done. A truncate
 * followed by a rewrite to the same size still changes mtime, and the
 * truncated folios leave the mapping; either refuses the copy, and the
 * entry is dropped for good rather than re-validated, because a half
 * rewritten file must never be served.
 */
static int bcache_copy_checked(struct xb_file *f, u64 offset, u32 len,
			       void *dst, __wsum *sum)
{
	int err = -ESTALE;

	if (bcache_same_inode(f)) {
		err = bcache_copy_folios(f, offset, len, dst, sum);
		smp_rmb(); /* the bytes before the second look */
		if (!err && !bcache_same_inode(f))
			err = -ESTALE;
	}
	if (err) {
		bcache_mark_stale(f);
		return err;
	}
	atomic64_inc(&f->blocks);
	return 0;
}

int bcache_copy(u32 id, u32 gen, u64 offset, u32 len, void *dst, u32 *csum)
{
	__wsum sum = (__force __wsum)*csum;
	struct xb_file *f;
	int err;

	rcu_read_lock();
	f = xa_load(&bcache_files, id);
	err = bcache_check(f, id, gen, offset, len);
	if (!err)
		err = bcache_copy_checked(f, offset, len, dst, &sum);
	rcu_read_unlock();

	if (err) {
		this_cpu_inc(bcache_counters->misses);
		return err;
	}
	this_cpu_inc(bcache_counters->blocks);
	this_cpu_add(bcache_counters->bytes, len);
	*csum = (__force u32)sum;
	return len;
}

int bcache_init(void)
{
	bcache_counters = alloc_percpu(struct bcache_counters);
	if (!bcache_counters)
		return -ENOMEM;
	bcache_wq = alloc_workqueue("xboot", 0, 0);
	if (!bcache_wq)
		goto err_wq;
	/* DUPS: a replacing add watches the inode before the old entry's
	 * mark is gone. */
	bcache_group = fsnotify_alloc_group(&bcache_fsnotify_ops,
					    FSNOTIFY_GROUP_DUPS);
	if (IS_ERR(bcache_group))
		goto err_group;
	return 0;

err_group:
	destroy_workqueue(bcache_wq);
err_wq:
	free_percpu(bcache_counters);
	return -ENOMEM;
}

void bcache_exit(void)
{
	struct xb_file *f;
	unsigned long id;

	rcu_read_lock();
	xa_for_each(&bcache_files, id, f)
		bcache_kill(f, XBOOT_EVENT_UNSPEC);
	rcu_read_unlock();
	/* The handler may still be dropping entries: wait for its rcu work
	 * to be queued, then for all of it to run. */
	synchronize_rcu();
	rcu_barrier();
	flush_workqueue(bcache_wq);
	destroy_workqueue(bcache_wq);
	fsnotify_put_group(bcache_group);
	/* free_mark (our code) runs from fsnotify's destroy work. */
	fsnotify_wait_marks_destroyed();
	xa_destroy(&bcache_files);
	free_percpu(bcache_counters);
}

#ifdef XBOOT_SELFTEST
#include "selftest.c"
#endif
