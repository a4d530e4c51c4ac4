/*
 * The FUSE layer: libfuse's low-level operations on the namespace core
 * (fs/ns.h).  Each operation converts its arguments, asks the core, and
 * replies; no lock of the core is held across a fuse_reply_* (the core
 * returns with none held).  A reply the kernel did not take gives its
 * lookup counts back to the core (hub_ns_forget, hub_ns_list_release).
 *
 * Kernel caching (docs/design.md): OPEN and OPENDIR answer ENOSYS, so the
 * kernel never sends them (nor RELEASE, RELEASEDIR) again, keeps file pages
 * cached across opens (the fastest read path on libfuse 3.14) and caches
 * directory entries, revalidating a cached listing against the directory's
 * mtime.  Timeouts of entries and attributes come from the core.
 *
 * Also here: every mutating operation (EROFS), and the thread that drops
 * the kernel's pages of weight files whose bytes were discarded, or whose
 * end was served before its hash was verified (verify=stream, hub_read).
 */
#include "fs/ops.h"

#include <fcntl.h>
#include <limits.h>
#include <sys/statvfs.h>

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "base/limits.h"
#include "base/log.h"
#include "cache/weights.h"
#include "fs/ns.h"

struct hub_fs {
	struct hub_ns *ns;
	struct hub_weights *weights; /* set once before the loop starts */

	/* The invalidation notifier (weights whose bytes were discarded); its
	 * own leaf lock, never held with the core's nor across a notify. */
	struct fuse_session *se;
	pthread_t notifier;
	bool notifier_started;
	pthread_mutex_t nlock;
	pthread_cond_t ncond;
	bool nstop;                         /* nlock */
	char *pending[HUB_INVAL_QUEUE_MAX]; /* nlock: weight names */
	size_t npending;                    /* nlock */

	char bdi_ra[64];  /* /sys/class/bdi/M:N/read_ahead_kb, "" if unknown */
	bool bdi_tuned;   /* atomic: raised (or tried) once */
};

static void on_weight_discard(void *arg, const char *name /* the store key */);

static struct hub_fs *fs_of(fuse_req_t req)
{
	return fuse_req_userdata(req);
}

static uid_t uid_of(fuse_req_t req)
{
	return fuse_req_ctx(req)->uid;
}

static void entry_param(struct fuse_entry_param *ep, const struct hub_ns_entry *e)
{
	memset(ep, 0, sizeof(*ep));
	ep->ino = e->ino;
	ep->generation = e->generation;
	ep->attr = e->attr;
	ep->attr_timeout = e->attr_timeout;
	ep->entry_timeout = e->entry_timeout;
}

/* --------------------------------------------------------------- lookup */

/* ------------------------------------------------------- request sizes */

/* Read once: the mount option and INIT must give the kernel the same
 * value (the system's pipe-max-size may change between them). */
static pthread_once_t read_max_once = PTHREAD_ONCE_INIT;
static unsigned read_max = HUB_FUSE_READ_MAX;

static void read_max_init(void)
{
	FILE *f = fopen("/proc/sys/fs/pipe-max-size", "re");
	unsigned long pipe_max = 0;
	if (f) {
		if (fscanf(f, "%lu", &pipe_max) != 1)
			pipe_max = 0;
		fclose(f);
	}
	if (pipe_max >= (32u << 10) && pipe_max - (16u << 10) < read_max)
		read_max = (unsigned)(pipe_max - (16u << 10)) & ~4095u;
}

unsigned hub_fs_read_max(void)
{
	pthread_once(&read_max_once, read_max_init);
	return read_max;
}

/* A mount point as /proc/self/mountinfo writes it: ' ', '\t', '\n' and
 * '\\' as octal escapes. */
static void mangle(char *out, size_t outsz, const char *path)
{
	size_t j = 0;
	for (const char *p = path; *p && j + 5 < outsz; p++) {
		if (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\\')
			j += (size_t)snprintf(out + j, outsz - j, "\\%03o", (unsigned char)*p);
		else
			out[j++] = *p;
	}
	out[j] = '\0';
}

void hub_fs_set_mountpoint(struct hub_fs *fs, const char *mountpoint)
{
	char want[PATH_MAX * 2];
	mangle(want, sizeof(want), mountpoint);
	FILE *f = fopen("/proc/self/mountinfo", "re");
	if (!f)
		return;
	char *line = NULL;
	size_t cap = 0;
	unsigned maj = 0, min = 0;
	bool found = false;
	while (getline(&line, &cap, f) > 0) {
		/* ID PARENT MAJ:MIN ROOT MOUNTPOINT ...; the last match is ours */
		unsigned a, b;
		int at = 0;
		if (sscanf(line, "%*u %*u %u:%u %*s %n", &a, &b, &at) != 2 || !at)
			continue;
		size_t n = strcspn(line + at, " ");
		if (n == strlen(want) && !strncmp(line + at, want, n) && strstr(line, " - fuse")) {
			maj = a;
			min = b;
			found = true;
		}
	}
	free(line);
	fclose(f);
	if (found)
		snprintf(fs->bdi_ra, sizeof(fs->bdi_ra), "/sys/class/bdi/%u:%u/read_ahead_kb", maj,
			 min);
	else
		hub_debug("readahead: %s not found in /proc/self/mountinfo", mountpoint);
}

/* At the first requests after INIT (which sets the readahead it was
 * offered, 128 KiB): raise it.  Once; a failure (not root) is logged. */
static void tune_readahead(struct hub_fs *fs)
{
	if (__atomic_load_n(&fs->bdi_tuned, __ATOMIC_RELAXED) ||
	    __atomic_exchange_n(&fs->bdi_tuned, true, __ATOMIC_ACQ_REL) || !fs->bdi_ra[0])
		return;
	int fd = open(fs->bdi_ra, O_WRONLY | O_CLOEXEC);
	char v[32];
	int n = snprintf(v, sizeof(v), "%u\n", (unsigned)HUB_FUSE_READAHEAD_KB);
	if (fd < 0 || write(fd, v, (size_t)n) != n)
		hub_debug("readahead: cannot set %s: %s (the kernel's default stays)", fs->bdi_ra,
			  strerror(errno));
	else
		hub_debug("readahead: %s = %u KiB", fs->bdi_ra, (unsigned)HUB_FUSE_READAHEAD_KB);
	if (fd >= 0)
		close(fd);
}

static void hub_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct hub_fs *fs = fs_of(req);
	tune_readahead(fs);
	struct hub_ns_entry e;
	int rc = hub_ns_lookup(&e, fs->ns, parent, name, uid_of(req));
	if (rc) {
		fuse_reply_err(req, -rc);
		return;
	}
	struct fuse_entry_param ep;
	entry_param(&ep, &e);
	if (fuse_reply_entry(req, &ep) && e.ino)
		hub_ns_forget(fs->ns, e.ino, 1); /* not taken: undo its count */
}

static void hub_forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup)
{
	hub_ns_forget(fs_of(req)->ns, ino, nlookup);
	fuse_reply_none(req);
}

static void hub_forget_multi(fuse_req_t req, size_t count, struct fuse_forget_data *forgets)
{
	struct hub_fs *fs = fs_of(req);
	for (size_t i = 0; i < count; i++)
		hub_ns_forget(fs->ns, forgets[i].ino, forgets[i].nlookup);
	fuse_reply_none(req);
}

/* ------------------------------------------------------- attrs and links */

static void hub_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	(void)fi;
	tune_readahead(fs_of(req));
	struct stat st;
	double ttl;
	int rc = hub_ns_getattr(&st, &ttl, fs_of(req)->ns, ino);
	if (rc)
		fuse_reply_err(req, -rc);
	else
		fuse_reply_attr(req, &st, ttl);
}

static void hub_readlink(fuse_req_t req, fuse_ino_t ino)
{
	char target[PATH_MAX];
	int rc = hub_ns_readlink(target, sizeof(target), fs_of(req)->ns, ino);
	if (rc)
		fuse_reply_err(req, -rc);
	else
		fuse_reply_readlink(req, target);
}

/* -------------------------------------------------------------- reading */

static void hub_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	(void)ino;
	if ((fi->flags & O_ACCMODE) != O_RDONLY || (fi->flags & O_TRUNC)) {
		fuse_reply_err(req, EROFS);
		return;
	}
	/* No per-open state is needed: ENOSYS makes the kernel skip OPEN and
	 * RELEASE from now on and keep the page cache (see the top). */
	fuse_reply_err(req, ENOSYS);
}

static void hub_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		     struct fuse_file_info *fi)
{
	(void)fi;
	struct hub_fs *fs = fs_of(req); /* req is gone after the reply */
	struct hub_ns_data d;
	int rc = hub_ns_read(&d, fs->ns, ino, size, off, uid_of(req));
	if (rc) {
		fuse_reply_err(req, -rc);
		return;
	}
	if (d.fd >= 0) {
		/* Weight bytes on disk: handed to the kernel by splice (libfuse
		 * moves the file's pages through a pipe, FUSE_CAP_SPLICE_WRITE),
		 * no copy through this process; libfuse falls back to a read
		 * where splice is not available. */
		struct fuse_bufvec bv = FUSE_BUFVEC_INIT(d.len);
		bv.buf[0].flags = FUSE_BUF_IS_FD | FUSE_BUF_FD_SEEK | FUSE_BUF_FD_RETRY;
		bv.buf[0].fd = d.fd;
		bv.buf[0].pos = (off_t)d.fd_off;
		fuse_reply_data(req, &bv, FUSE_BUF_SPLICE_MOVE);
	} else {
		fuse_reply_buf(req, d.data, d.len);
	}
	/* verify=stream: the end of a hash-named file served before its
	 * verdict is not left in the page cache (OPEN answers ENOSYS: the
	 * kernel keeps pages across opens), else a later cat or cp would end
	 * with those pages and never ask for the final read that waits for the
	 * verdict.  Queued after the reply, which put the pages there. */
	if (d.span.unverified_end && d.span.f)
		on_weight_discard(fs, hub_weight_key(d.span.f));
	hub_ns_data_release(&d);
}

/* ------------------------------------------------------------ directories */

/* Like OPEN, OPENDIR answers ENOSYS: the kernel stops sending OPENDIR and
 * RELEASEDIR and caches every directory's entries; it revalidates a cached
 * listing against the directory's mtime, which for the root and owner
 * directories is the cache's last change.  (A handle per open directory,
 * to hold a snapshot of the root and owner listings, would cost a round
 * trip for every directory opened on the mount: listings are snapshots by
 * the generation in their cookies instead, fs/ns_list.c.) */
static void hub_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	(void)ino, (void)fi;
	fuse_reply_err(req, ENOSYS);
}

static void do_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, bool plus)
{
	struct hub_fs *fs = fs_of(req);
	/* The most entries size can hold: each takes at least the room of a
	 * one-letter name (libfuse answers that size for a NULL buffer). */
	size_t least = plus ? fuse_add_direntry_plus(req, NULL, 0, ".", NULL, 0)
			    : fuse_add_direntry(req, NULL, 0, ".", NULL, 0);
	struct hub_ns_list *l;
	int rc = hub_ns_list(&l, fs->ns, ino, off, size / (least ? least : 1), plus, uid_of(req));
	if (rc) {
		fuse_reply_err(req, -rc);
		return;
	}
	char *buf = malloc(size ? size : 1);
	if (!buf) {
		hub_ns_list_release(fs->ns, l, 0);
		fuse_reply_err(req, ENOMEM);
		return;
	}
	size_t used = 0, taken = 0;
	for (; taken < l->n; taken++) {
		const struct hub_ns_dirent *d = &l->ents[taken];
		size_t need;
		if (plus) {
			struct fuse_entry_param ep;
			entry_param(&ep, &d->entry);
			need = fuse_add_direntry_plus(req, buf + used, size - used, d->name, &ep,
						      (off_t)d->off);
		} else {
			need = fuse_add_direntry(req, buf + used, size - used, d->name,
						 &d->entry.attr, (off_t)d->off);
		}
		if (need > size - used)
			break;
		used += need;
	}
	if (fuse_reply_buf(req, buf, used))
		taken = 0; /* the kernel took none: undo every count */
	hub_ns_list_release(fs->ns, l, taken);
	free(buf);
}

static void hub_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
			struct fuse_file_info *fi)
{
	(void)fi;
	do_readdir(req, ino, size, off, false);
}

static void hub_readdirplus(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
			    struct fuse_file_info *fi)
{
	(void)fi;
	do_readdir(req, ino, size, off, true);
}

/* Extended attributes of weight files (hub_ns_getxattr). */
static void hub_getxattr(fuse_req_t req, fuse_ino_t ino, const char *name, size_t size)
{
	char *buf = size ? malloc(size) : NULL;
	size_t len;
	int rc = size && !buf ? -ENOMEM : hub_ns_getxattr(buf, size, &len, fs_of(req)->ns, ino, name);
	if (rc)
		fuse_reply_err(req, -rc);
	else if (size == 0)
		fuse_reply_xattr(req, len);
	else
		fuse_reply_buf(req, buf, len);
	free(buf);
}

/* ---------------------------------------------------------- everything else */

static void hub_statfs(fuse_req_t req, fuse_ino_t ino)
{
	(void)ino;
	struct statvfs sv;
	int rc = hub_ns_statfs(&sv, fs_of(req)->ns);
	if (rc)
		fuse_reply_err(req, -rc);
	else
		fuse_reply_statfs(req, &sv);
}

static void hub_access(fuse_req_t req, fuse_ino_t ino, int mask)
{
	const struct fuse_ctx *c = fuse_req_ctx(req);
	fuse_reply_err(req, -hub_ns_access(fs_of(req)->ns, ino, mask, c->uid, c->gid));
}

/* Every mutating operation: read-only filesystem. */
static void erofs_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr, int to_set,
			  struct fuse_file_info *fi)
{
	(void)ino, (void)attr, (void)to_set, (void)fi;
	fuse_reply_err(req, EROFS);
}
static void erofs_mknod(fuse_req_t req, fuse_ino_t p, const char *name, mode_t mode, dev_t rdev)
{
	(void)p, (void)name, (void)mode, (void)rdev;
	fuse_reply_err(req, EROFS);
}
static void erofs_mkdir(fuse_req_t req, fuse_ino_t p, const char *name, mode_t mode)
{
	(void)p, (void)name, (void)mode;
	fuse_reply_err(req, EROFS);
}
static void erofs_unlink(fuse_req_t req, fuse_ino_t p, const char *name)
{
	(void)p, (void)name;
	fuse_reply_err(req, EROFS);
}
static void erofs_symlink(fuse_req_t req, const char *link, fuse_ino_t p, const char *name)
{
	(void)link, (void)p, (void)name;
	fuse_reply_err(req, EROFS);
}
static void erofs_rename(fuse_req_t req, fuse_ino_t p, const char *name, fuse_ino_t np,
			 const char *nname, unsigned int flags)
{
	(void)p, (void)name, (void)np, (void)nname, (void)flags;
	fuse_reply_err(req, EROFS);
}
static void erofs_link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t np, const char *nname)
{
	(void)ino, (void)np, (void)nname;
	fuse_reply_err(req, EROFS);
}
static void erofs_write(fuse_req_t req, fuse_ino_t ino, const char *buf, size_t size, off_t off,
			struct fuse_file_info *fi)
{
	(void)ino, (void)buf, (void)size, (void)off, (void)fi;
	fuse_reply_err(req, EROFS);
}
static void erofs_setxattr(fuse_req_t req, fuse_ino_t ino, const char *name, const char *value,
			   size_t size, int flags)
{
	(void)ino, (void)name, (void)value, (void)size, (void)flags;
	fuse_reply_err(req, EROFS);
}
static void erofs_removexattr(fuse_req_t req, fuse_ino_t ino, const char *name)
{
	(void)ino, (void)name;
	fuse_reply_err(req, EROFS);
}
static void erofs_create(fuse_req_t req, fuse_ino_t p, const char *name, mode_t mode,
			 struct fuse_file_info *fi)
{
	(void)p, (void)name, (void)mode, (void)fi;
	fuse_reply_err(req, EROFS);
}
static void erofs_fallocate(fuse_req_t req, fuse_ino_t ino, int mode, off_t off, off_t len,
			    struct fuse_file_info *fi)
{
	(void)ino, (void)mode, (void)off, (void)len, (void)fi;
	fuse_reply_err(req, EROFS);
}

static void hub_init(void *userdata, struct fuse_conn_info *conn)
{
	(void)userdata;
	if (conn->capable & FUSE_CAP_PARALLEL_DIROPS)
		conn->want |= FUSE_CAP_PARALLEL_DIROPS;
	/* Reads of weight files are spliced from the cache file (hub_read). */
	if (conn->capable & FUSE_CAP_SPLICE_WRITE)
		conn->want |= FUSE_CAP_SPLICE_WRITE;
	if (conn->capable & FUSE_CAP_SPLICE_MOVE)
		conn->want |= FUSE_CAP_SPLICE_MOVE;
	/* Request sizes: libfuse 3.14 asks for max_pages 256 (1 MiB, its
	 * buffers' size); max_read keeps a reply within a pipe (also given as
	 * the max_read mount option, fs/main.c); the readahead offered is the
	 * most INIT can keep, raised after INIT (tune_readahead). */
	conn->max_read = hub_fs_read_max();
	/* Ref symlinks move: their targets must not be cached. */
	conn->want &= ~FUSE_CAP_CACHE_SYMLINKS;
	conn->want &= ~FUSE_CAP_WRITEBACK_CACHE;
}

static const struct fuse_lowlevel_ops ops = {
	.init = hub_init,
	.lookup = hub_lookup,
	.forget = hub_forget,
	.forget_multi = hub_forget_multi,
	.getattr = hub_getattr,
	.readlink = hub_readlink,
	.open = hub_open,
	.read = hub_read,
	.opendir = hub_opendir,
	.readdir = hub_readdir,
	.readdirplus = hub_readdirplus,
	.statfs = hub_statfs,
	.access = hub_access,
	.setattr = erofs_setattr,
	.mknod = erofs_mknod,
	.mkdir = erofs_mkdir,
	.unlink = erofs_unlink,
	.rmdir = erofs_unlink,
	.symlink = erofs_symlink,
	.rename = erofs_rename,
	.link = erofs_link,
	.write = erofs_write,
	.setxattr = erofs_setxattr,
	.getxattr = hub_getxattr,
	.removexattr = erofs_removexattr,
	.create = erofs_create,
	.fallocate = erofs_fallocate,
};

void hub_fs_set_py(struct hub_fs *fs, struct hub_py *py)
{
	hub_ns_set_py(fs->ns, py);
}

/* ------------------------------------------------------------ notifier */

/* Called by the weight store with a file's lock held: only queue.  A full
 * queue drops the name with a log line (the cap is far above any real
 * burst of verification failures). */
static void on_weight_discard(void *arg, const char *name /* the store key */)
{
	struct hub_fs *fs = arg;
	pthread_mutex_lock(&fs->nlock);
	bool queued = false;
	for (size_t i = 0; i < fs->npending && !queued; i++)
		queued = !strcmp(fs->pending[i], name);
	if (!queued && fs->npending < HUB_INVAL_QUEUE_MAX) {
		char *copy = strdup(name);
		if (copy)
			fs->pending[fs->npending++] = copy;
		queued = copy != NULL;
	}
	pthread_cond_signal(&fs->ncond);
	pthread_mutex_unlock(&fs->nlock);
	if (!queued)
		hub_err("weights: %s: cannot queue the invalidation of its pages", name);
}

/* The kernel's entries of repositories removed from the cache under the
 * mount: dropped, so that the next lookup reaches the daemon (which
 * fetches the repository again) instead of the kernel answering from an
 * entry cached for a day. */
static void notify_gone(struct hub_fs *fs)
{
	static struct hub_ns_gone gone[HUB_GONE_ENTRIES_MAX]; /* this thread's alone */
	size_t n = hub_ns_gone(gone, HUB_GONE_ENTRIES_MAX, fs->ns);
	for (size_t i = 0; i < n; i++) {
		int rc = fuse_lowlevel_notify_inval_entry(fs->se, (fuse_ino_t)gone[i].parent,
							  gone[i].name, strlen(gone[i].name));
		hub_debug("entry %s of inode %llu invalidated (%d)", gone[i].name,
			  (unsigned long long)gone[i].parent, rc);
	}
}

/* Drops the kernel's pages of discarded weight files, so that a byte served
 * before verification failed is never served again from the page cache.
 * A thread of its own: the kernel's invalidation waits for pages locked by
 * reads in flight, which FUSE workers must be free to answer. */
static void *notifier_main(void *arg)
{
	struct hub_fs *fs = arg;
	uint64_t inos[64];
	pthread_mutex_lock(&fs->nlock);
	for (;;) {
		while (!fs->nstop && !fs->npending) {
			struct timespec until;
			clock_gettime(CLOCK_REALTIME, &until);
			until.tv_sec += HUB_GONE_CHECK_S;
			if (pthread_cond_timedwait(&fs->ncond, &fs->nlock, &until) != ETIMEDOUT)
				continue;
			/* repositories forgotten or evicted under the mount: the
			 * kernel drops its entries (no lock held across a notify) */
			pthread_mutex_unlock(&fs->nlock);
			notify_gone(fs);
			pthread_mutex_lock(&fs->nlock);
		}
		if (fs->nstop)
			break;
		char *name = fs->pending[--fs->npending];
		pthread_mutex_unlock(&fs->nlock);

		size_t n = hub_ns_weight_inos(inos, sizeof(inos) / sizeof(inos[0]), fs->ns, name);
		for (size_t i = 0; i < n; i++) {
			int rc = fuse_lowlevel_notify_inval_inode(fs->se, (fuse_ino_t)inos[i], 0, 0);
			hub_debug("weights: %s: pages of inode %llu invalidated (%d)", name,
				  (unsigned long long)inos[i], rc);
		}
		free(name);
		pthread_mutex_lock(&fs->nlock);
	}
	pthread_mutex_unlock(&fs->nlock);
	return NULL;
}

int hub_fs_set_weights(struct hub_fs *fs, struct hub_weights *weights, struct fuse_session *se)
{
	fs->weights = weights;
	hub_ns_set_weights(fs->ns, weights);
	fs->se = se;
	int rc = pthread_create(&fs->notifier, NULL, notifier_main, fs);
	if (rc)
		return -rc;
	fs->notifier_started = true;
	hub_weights_set_discard_hook(weights, on_weight_discard, fs);
	return 0;
}

void hub_fs_stop(struct hub_fs *fs)
{
	if (!fs || !fs->notifier_started)
		return;
	pthread_mutex_lock(&fs->nlock);
	fs->nstop = true;
	pthread_cond_signal(&fs->ncond);
	pthread_mutex_unlock(&fs->nlock);
	pthread_join(fs->notifier, NULL);
	fs->notifier_started = false;
	if (fs->weights)
		hub_weights_set_discard_hook(fs->weights, NULL, NULL);
}

const struct fuse_lowlevel_ops *hub_fs_ops(void)
{
	return &ops;
}

int hub_fs_new(struct hub_fs **out, const struct hub_options *opts, struct hub_cache *cache)
{
	*out = NULL;
	struct hub_fs *fs = calloc(1, sizeof(*fs));
	if (!fs)
		return -ENOMEM;
	int rc = hub_ns_new(&fs->ns, opts, cache);
	if (rc) {
		free(fs);
		return rc;
	}
	pthread_mutex_init(&fs->nlock, NULL);
	pthread_cond_init(&fs->ncond, NULL);
	*out = fs;
	return 0;
}

void hub_fs_free(struct hub_fs *fs)
{
	if (!fs)
		return;
	hub_fs_stop(fs);
	for (size_t i = 0; i < fs->npending; i++)
		free(fs->pending[i]);
	pthread_cond_destroy(&fs->ncond);
	pthread_mutex_destroy(&fs->nlock);
	hub_ns_free(fs->ns); /* after unmount every node is unreachable */
	free(fs);
}
