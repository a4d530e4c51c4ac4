/*
 * The cache quota: size parsing, eviction rounds, the daemon's round
 * thread, forget.  See cache/quota.h for the policy.
 *
 * Locks: <root>/hubfs/quota.lock (flock, exclusive) around a whole round,
 * across processes; per candidate, an exclusive flock taken without
 * waiting on <key>.data (readers hold it shared: cache/weights.c) and on
 * <key>.lock (the downloader's).  A repository's <repo>/lock (exclusive,
 * waited for) around forget's rename.  The thread's own state is q->lock.
 * No lock of any other module is taken.
 */

#include "cache/quota.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>
#include <ftw.h>

#include "base/cond.h"
#include "base/files.h"
#include "base/limits.h"
#include "base/log.h"
#include "base/names.h"
#include "base/redact.h"
#include "cache/inventory.h"
#include "cache/repo.h"

static void why_set(char *why, size_t n, const char *msg)
{
	if (why && n)
		snprintf(why, n, "%s", msg);
}

int hub_quota_parse_size(uint64_t *out, const char *s, const char *root, char *why,
			 size_t whysz)
{
	*out = 0;
	if (!s || !isdigit((unsigned char)s[0])) {
		why_set(why, whysz, "expected a size such as 500M, 20G or 10%");
		return -EINVAL;
	}
	errno = 0;
	char *end;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno || end == s) {
		why_set(why, whysz, "number out of range");
		return -EINVAL;
	}
	if (strcmp(end, "%") == 0) {
		if (v < 1 || v > 100) {
			why_set(why, whysz, "a percentage must be 1 to 100");
			return -EINVAL;
		}
		struct statvfs sv;
		if (!root || statvfs(root, &sv)) {
			int e = root ? -errno : -EINVAL;
			why_set(why, whysz, "cannot measure the cache's filesystem");
			return e;
		}
		unsigned __int128 fs = (unsigned __int128)sv.f_blocks * sv.f_frsize;
		*out = (uint64_t)(fs * v / 100);
		if (!*out) {
			why_set(why, whysz, "the filesystem has no room");
			return -EINVAL;
		}
		return 0;
	}
	unsigned shift = 0;
	const char *p = end;
	switch (*p) {
	case 'k': case 'K': shift = 10; p++; break;
	case 'm': case 'M': shift = 20; p++; break;
	case 'g': case 'G': shift = 30; p++; break;
	case 't': case 'T': shift = 40; p++; break;
	default: break;
	}
	if (shift && (strcmp(p, "iB") == 0 || strcmp(p, "B") == 0))
		p += strlen(p);
	else if (!shift && strcmp(p, "B") == 0)
		p++;
	if (*p) {
		why_set(why, whysz, "unknown unit (expected K, M, G, T or %)");
		return -EINVAL;
	}
	if (v == 0) {
		why_set(why, whysz, "a quota of 0 keeps nothing (omit cache_max for no quota)");
		return -EINVAL;
	}
	if (shift && v > (UINT64_MAX >> shift)) {
		why_set(why, whysz, "number out of range");
		return -EINVAL;
	}
	*out = (uint64_t)v << shift;
	return 0;
}

void hub_quota_policy_init(struct hub_quota_policy *out, uint64_t max, bool evict_foreign)
{
	out->max = max;
	out->low = (uint64_t)((unsigned __int128)max * HUB_QUOTA_LOW_PCT / 100);
	out->evict_foreign = evict_foreign;
	out->part_idle_s = HUB_QUOTA_PART_IDLE_S;
}

/* ---- a round ---- */

static int lock_nb(const char *path, int flags)
{
	int fd = open(path, flags | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
	if (fd < 0)
		return -errno;
	if (flock(fd, LOCK_EX | LOCK_NB)) {
		int e = -errno;
		close(fd);
		return e == -EWOULDBLOCK ? -EBUSY : e;
	}
	return fd;
}

static void unlink_key_file(const char *dir, const char *key, const char *ext)
{
	char p[PATH_MAX];
	if (snprintf(p, sizeof(p), "%s/%s.%s", dir, key, ext) < (int)sizeof(p))
		unlink(p);
}

/* Remove one candidate: 0, -EBUSY when in use, or -errno. */
static int evict_one(const char *root, const struct hub_inv_weight *wt, bool *freed_link)
{
	*freed_link = false;
	if (!wt->path)
		return -ENOENT;
	int fd = lock_nb(wt->path, O_RDONLY);
	if (fd < 0)
		return fd;
	int lfd = -1;
	char dir[PATH_MAX], lockp[PATH_MAX];
	snprintf(dir, sizeof(dir), "%s/hubfs/weights", root);
	if (wt->key[0]) {
		if (snprintf(lockp, sizeof(lockp), "%s/%s.lock", dir, wt->key) >=
		    (int)sizeof(lockp)) {
			close(fd);
			return -ENAMETOOLONG;
		}
		lfd = lock_nb(lockp, O_RDWR);
		if (lfd == -EBUSY) {
			close(fd);
			return -EBUSY; /* being downloaded or published */
		}
	}
	struct stat a, b;
	int rc = 0;
	if (fstat(fd, &a) || lstat(wt->path, &b) || a.st_ino != b.st_ino || a.st_dev != b.st_dev) {
		rc = -ESTALE; /* replaced meanwhile: the next round sees it */
		goto out;
	}
	if (wt->key[0] && wt->linked && wt->name) {
		char ck[PATH_MAX];
		struct stat c;
		if (snprintf(ck, sizeof(ck), "%s/checkpoints/%s", root, wt->name) < (int)sizeof(ck) &&
		    lstat(ck, &c) == 0 && c.st_ino == a.st_ino && c.st_dev == a.st_dev) {
			unlink(ck);
			*freed_link = true;
		}
	}
	if (unlink(wt->path) && errno != ENOENT)
		rc = -errno;
	if (!rc && wt->key[0]) {
		unlink_key_file(dir, wt->key, "head");
		unlink_key_file(dir, wt->key, "ranges");
	}
out:
	if (lfd >= 0)
		close(lfd);
	close(fd); /* a reader blocked on its shared flock now finds nlink 0 */
	return rc;
}

static int remove_repo(const char *root, const char *owner, const char *repo, bool wait);

/* Remove an abandoned partial download: 0, -EBUSY when a downloader holds
 * its lock (in flight, any process), or -errno.  Its lock file goes too,
 * while held here: its shared page claims the bytes of this .part, and a
 * later holder must not adopt them for a new one. */
static int evict_part(const char *root, const struct hub_inv_weight *wt)
{
	char dir[PATH_MAX], lockp[PATH_MAX];
	snprintf(dir, sizeof(dir), "%s/hubfs/weights", root);
	if (snprintf(lockp, sizeof(lockp), "%s/%s.lock", dir, wt->key) >= (int)sizeof(lockp))
		return -ENAMETOOLONG;
	int lfd = lock_nb(lockp, O_RDWR);
	if (lfd < 0 && lfd != -ENOENT)
		return lfd;
	unlink_key_file(dir, wt->key, "part");
	unlink_key_file(dir, wt->key, "ranges");
	if (lfd >= 0) {
		unlink(lockp);
		close(lfd);
	}
	return 0;
}

struct cand {
	const struct hub_inv_weight *w;
	bool huge;
	bool part; /* an abandoned partial download */
};

static int cand_cmp(const void *pa, const void *pb)
{
	const struct cand *a = pa, *b = pb;
	if (a->part != b->part)
		return a->part ? -1 : 1;
	if (a->huge != b->huge)
		return a->huge ? -1 : 1;
	if (a->w->last_use != b->w->last_use)
		return a->w->last_use < b->w->last_use ? -1 : 1;
	return strcmp(a->w->key, b->w->key);
}

static uint64_t inv_total(const struct hub_inventory *inv)
{
	uint64_t t = inv->analysis_bytes + inv->other_bytes;
	for (size_t i = 0; i < inv->nrepos; i++)
		t += inv->repos[i].bytes;
	for (size_t i = 0; i < inv->nweights; i++)
		t += inv->weights[i].bytes;
	return t;
}

static void write_record(const char *root, const struct hub_quota_policy *p,
			 const struct hub_quota_result *r)
{
	char path[PATH_MAX], buf[512];
	snprintf(path, sizeof(path), "%s/hubfs/quota.json", root);
	int n = snprintf(buf, sizeof(buf),
			 "{\"time\": %lld, \"max\": %llu, \"low\": %llu, \"used_before\": %llu, "
			 "\"used_after\": %llu, \"evicted\": %u, \"evicted_bytes\": %llu, "
			 "\"pinned\": %u, \"repos_evicted\": %u, \"repos_pinned\": %u}\n",
			 (long long)time(NULL), (unsigned long long)p->max,
			 (unsigned long long)p->low, (unsigned long long)r->used_before,
			 (unsigned long long)r->used_after, r->evicted,
			 (unsigned long long)r->evicted_bytes, r->pinned, r->repos_evicted,
			 r->repos_pinned);
	if (n > 0 && (size_t)n < sizeof(buf))
		hub_file_write_atomic(path, buf, (size_t)n);
}

static int repo_cmp(const void *pa, const void *pb)
{
	const struct hub_inv_repo *a = *(const struct hub_inv_repo *const *)pa;
	const struct hub_inv_repo *b = *(const struct hub_inv_repo *const *)pb;
	if (a->last_use != b->last_use)
		return a->last_use < b->last_use ? -1 : 1;
	int k = strcmp(a->owner, b->owner);
	return k ? k : strcmp(a->repo, b->repo);
}

/* Weights did not bring the root under the low-water mark: repositories
 * go too, least recently used first, none that a daemon pins (uses) or
 * fetches into.  Returns the bytes used after. */
static uint64_t evict_repos(struct hub_quota_result *out, const char *root,
			    const struct hub_inventory *inv, uint64_t target, uint64_t used)
{
	const struct hub_inv_repo **v = calloc(inv->nrepos ? inv->nrepos : 1, sizeof(*v));
	if (!v)
		return used;
	for (size_t i = 0; i < inv->nrepos; i++)
		v[i] = &inv->repos[i];
	qsort(v, inv->nrepos, sizeof(*v), repo_cmp);
	for (size_t i = 0; i < inv->nrepos && used > target; i++) {
		char name[2 * 256 + 2], esc[4 * sizeof(name)];
		snprintf(name, sizeof(name), "%s/%s", v[i]->owner, v[i]->repo);
		hub_escape_text(esc, sizeof(esc), name);
		int e = remove_repo(root, v[i]->owner, v[i]->repo, false);
		if (e == -EBUSY) {
			out->repos_pinned++;
			continue;
		}
		if (e) {
			hub_debug("quota: repository %s not evicted: %s", esc, strerror(-e));
			continue;
		}
		used = used > v[i]->bytes ? used - v[i]->bytes : 0;
		out->repos_evicted++;
		out->evicted_bytes += v[i]->bytes;
		hub_info("quota: evicted repository %s (%llu bytes, least recently used; fetched "
			 "again on its next use)", esc, (unsigned long long)v[i]->bytes);
	}
	free(v);
	return used;
}

int hub_quota_round(struct hub_quota_result *out, const char *root,
		    const struct hub_quota_policy *p)
{
	memset(out, 0, sizeof(*out));
	char lockp[PATH_MAX];
	snprintf(lockp, sizeof(lockp), "%s/hubfs", root);
	if (hub_mkdir_p(lockp))
		return -errno ? -errno : -EIO;
	snprintf(lockp, sizeof(lockp), "%s/hubfs/quota.lock", root);
	int qfd = hub_file_lock(lockp);
	if (qfd < 0)
		return qfd;
	struct hub_inventory inv;
	int rc = hub_inventory_load(&inv, root);
	if (rc) {
		hub_file_unlock(qfd);
		return rc;
	}
	uint64_t used = inv_total(&inv);
	out->used_before = used;
	/* The filesystem may fill before the root reaches max (it holds other
	 * things, or max is above its size): with less free than the
	 * headroom between max and the low-water mark, the round frees what
	 * is missing (a download that hit ENOSPC finds room next time). */
	uint64_t target = p->low, headroom = p->max - p->low, avail = UINT64_MAX;
	struct statvfs sv;
	if (p->max && !statvfs(root, &sv))
		avail = (uint64_t)sv.f_bavail * sv.f_frsize;
	bool disk_full = p->max && avail < headroom;
	if (disk_full && used - (used < headroom - avail ? used : headroom - avail) < target)
		target = used - (used < headroom - avail ? used : headroom - avail);
	if (p->max && (used > p->max || disk_full)) {
		struct cand *c = calloc(inv.nweights ? inv.nweights : 1, sizeof(*c));
		size_t n = 0;
		if (!c) {
			rc = -ENOMEM;
			goto done;
		}
		for (size_t i = 0; i < inv.nweights; i++) {
			const struct hub_inv_weight *w = &inv.weights[i];
			if (!w->complete && w->key[0] && w->last_use > 0 &&
			    (double)time(NULL) - w->last_use >= p->part_idle_s) {
				c[n].w = w;
				c[n].part = true;
				n++;
				continue;
			}
			if (!w->complete || !w->path)
				continue; /* downloads: in flight or paused lately */
			if (!w->key[0] && !p->evict_foreign)
				continue; /* torch.hub's own file */
			c[n].w = w;
			c[n].huge = w->bytes > p->max;
			n++;
		}
		qsort(c, n, sizeof(*c), cand_cmp);
		for (size_t i = 0; i < n && used > target; i++) {
			const struct hub_inv_weight *w = c[i].w;
			char name[256];
			hub_escape_text(name, sizeof(name), w->name ? w->name : w->key);
			bool link = false;
			int e = c[i].part ? evict_part(root, w) : evict_one(root, w, &link);
			if (c[i].part && e == -EBUSY)
				continue; /* in flight after all */
			if (e == -EBUSY) {
				out->pinned++;
				if (c[i].huge)
					hub_info("quota: %s (%llu bytes) is larger than cache_max "
						 "(%llu): served while in use, not kept",
						 name, (unsigned long long)w->bytes,
						 (unsigned long long)p->max);
				continue;
			}
			if (e) {
				hub_debug("quota: %s not evicted: %s", name, strerror(-e));
				continue;
			}
			used = used > w->bytes ? used - w->bytes : 0;
			out->evicted++;
			out->evicted_bytes += w->bytes;
			if (c[i].part)
				hub_info("quota: removed the abandoned partial download of %s (%llu "
					 "bytes, unused for %.0f s, no downloader)", name,
					 (unsigned long long)w->bytes, (double)time(NULL) - w->last_use);
			else if (c[i].huge)
				hub_info("quota: evicted %s: %llu bytes is larger than cache_max "
					 "(%llu), not kept", name, (unsigned long long)w->bytes,
					 (unsigned long long)p->max);
			else
				hub_info("quota: evicted %s (%llu bytes, least recently used)%s", name,
					 (unsigned long long)w->bytes,
					 link ? " with its checkpoints/ link" : "");
		}
		free(c);
		if (used > target)
			used = evict_repos(out, root, &inv, target, used);
		if (disk_full)
			hub_info("quota: the cache's filesystem has %llu bytes free, less than the "
				 "%llu between cache_max and its low-water mark: evicted down to %llu "
				 "bytes", (unsigned long long)avail, (unsigned long long)headroom,
				 (unsigned long long)used);
		if (used > p->max)
			hub_info("quota: cache at %llu bytes, above cache_max %llu: %u file(s) and "
				 "%u repositories in use, downloads are not evicted",
				 (unsigned long long)used, (unsigned long long)p->max, out->pinned,
				 out->repos_pinned);
	}
done:
	out->used_after = used;
	/* not every 5 s of every mount (each write is an fsync): when the round
	 * did something or found the root over the quota, and the first time */
	char rec[PATH_MAX + 32];
	snprintf(rec, sizeof(rec), "%s/hubfs/quota.json", root);
	if (out->used_before > p->max || disk_full || out->evicted || out->repos_evicted || access(rec, F_OK))
		write_record(root, p, out);
	hub_inventory_dispose(&inv);
	hub_file_unlock(qfd);
	return rc;
}

/* ---- the daemon's thread ---- */

struct hub_quota {
	char *root;
	struct hub_quota_policy p;
	double interval;
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool stop; /* q->lock */
};

static void *quota_main(void *arg)
{
	struct hub_quota *q = arg;
	pthread_mutex_lock(&q->lock);
	while (!q->stop) {
		struct timespec ts;
		clock_gettime(CLOCK_MONOTONIC, &ts);
		time_t whole = (time_t)q->interval;
		ts.tv_sec += whole;
		ts.tv_nsec += (long)((q->interval - (double)whole) * 1e9);
		if (ts.tv_nsec >= 1000000000L) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000L;
		}
		pthread_cond_timedwait(&q->cond, &q->lock, &ts);
		if (q->stop)
			break;
		pthread_mutex_unlock(&q->lock);
		struct hub_quota_result r;
		int rc = hub_quota_round(&r, q->root, &q->p);
		if (rc)
			hub_debug("quota: round failed: %s", strerror(-rc));
		pthread_mutex_lock(&q->lock);
	}
	pthread_mutex_unlock(&q->lock);
	return NULL;
}

int hub_quota_new(struct hub_quota **out, const char *root, const struct hub_quota_policy *p,
		    double interval_s)
{
	*out = NULL;
	if (!p->max)
		return 0;
	struct hub_quota *q = calloc(1, sizeof(*q));
	if (!q || !(q->root = strdup(root))) {
		free(q);
		return -ENOMEM;
	}
	q->p = *p;
	q->interval = interval_s > 0 ? interval_s : HUB_QUOTA_CHECK_S;
	pthread_mutex_init(&q->lock, NULL);
	hub_cond_init_mono(&q->cond);
	int e = pthread_create(&q->thread, NULL, quota_main, q);
	if (e) {
		pthread_mutex_destroy(&q->lock);
		pthread_cond_destroy(&q->cond);
		free(q->root);
		free(q);
		return -e;
	}
	*out = q;
	return 0;
}

void hub_quota_free(struct hub_quota *q)
{
	if (!q)
		return;
	pthread_mutex_lock(&q->lock);
	q->stop = true;
	pthread_cond_broadcast(&q->cond);
	pthread_mutex_unlock(&q->lock);
	pthread_join(q->thread, NULL);
	pthread_mutex_destroy(&q->lock);
	pthread_cond_destroy(&q->cond);
	free(q->root);
	free(q);
}

/* ---- removing a repository (forget, verify --repair, the round) ---- */

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)ftw;
	if (flag == FTW_DP)
		rmdir(path);
	else
		unlink(path);
	return 0;
}

/* Move <root>/hubfs/repos/<owner>/<repo> out of the tree (one rename: a
 * daemon never sees half a repository) and delete it.  wait: take the
 * repository's lock waiting (forget, repair: a fetch in progress finishes
 * first) and ignore pins; otherwise (a round) take its lock and its use
 * file's lock without waiting: -EBUSY while a fetch runs or any daemon
 * uses the repository (cache/repo.h, hub_repo_touch). */
static int remove_repo(const char *root, const char *owner, const char *repo, bool wait)
{
	if (!hub_name_owner_valid(owner) || !hub_name_repo_valid(repo))
		return -EINVAL;
	char dir[PATH_MAX], lockp[PATH_MAX], usep[PATH_MAX], tmpd[PATH_MAX], gone[PATH_MAX];
	if (snprintf(dir, sizeof(dir), "%s/hubfs/repos/%s/%s", root, owner, repo) >=
	    (int)sizeof(dir))
		return -ENAMETOOLONG;
	struct stat st;
	if (lstat(dir, &st))
		return -errno;
	if (!S_ISDIR(st.st_mode))
		return -ENOTDIR;
	static unsigned seq;
	if (snprintf(lockp, sizeof(lockp), "%s/lock", dir) >= (int)sizeof(lockp) ||
	    snprintf(usep, sizeof(usep), "%s/" HUB_REPO_USE_FILE, dir) >= (int)sizeof(usep) ||
	    snprintf(tmpd, sizeof(tmpd), "%s/hubfs/tmp", root) >= (int)sizeof(tmpd) ||
	    snprintf(gone, sizeof(gone), "%s/forget.%ld.%u.%s.%s", tmpd, (long)getpid(),
		     __atomic_add_fetch(&seq, 1, __ATOMIC_RELAXED), owner, repo) >=
		    (int)sizeof(gone))
		return -ENAMETOOLONG;
	if (hub_mkdir_p(tmpd))
		return -EIO;
	int lfd = wait ? hub_file_lock(lockp) : hub_file_trylock(lockp);
	if (lfd < 0)
		return lfd;
	int ufd = -1;
	if (!wait) {
		/* O_CREAT: a repository no daemon ever pinned has no use file */
		ufd = open(usep, O_RDONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0666);
		if (ufd < 0 || flock(ufd, LOCK_EX | LOCK_NB)) {
			int e = ufd < 0 ? -errno : (errno == EWOULDBLOCK ? -EBUSY : -errno);
			if (ufd >= 0)
				close(ufd);
			hub_file_unlock(lfd);
			return e;
		}
	}
	int rc = rename(dir, gone) ? -errno : 0;
	if (ufd >= 0)
		close(ufd); /* a daemon blocked on its shared flock finds the path gone */
	hub_file_unlock(lfd);
	if (rc)
		return rc;
	nftw(gone, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	char parent[PATH_MAX];
	snprintf(parent, sizeof(parent), "%s/hubfs/repos/%s", root, owner);
	rmdir(parent); /* the owner's last repository: fails otherwise, fine */
	return 0;
}

int hub_quota_forget(const char *root, const char *owner, const char *repo)
{
	return remove_repo(root, owner, repo, true);
}

int hub_quota_drop_weight(const char *root, const struct hub_inv_weight *w)
{
	struct stat st;
	if (!w->path)
		return -ENOENT;
	if (lstat(w->path, &st))
		return -errno;
	if (w->key[0] && w->name) {
		char ck[PATH_MAX];
		struct stat cs;
		if (snprintf(ck, sizeof(ck), "%s/checkpoints/%s", root, w->name) < (int)sizeof(ck) &&
		    !lstat(ck, &cs) && cs.st_ino == st.st_ino && cs.st_dev == st.st_dev && unlink(ck))
			return -errno;
	}
	return unlink(w->path) ? -errno : 0;
}
