/*
 * Repository cache: the cache and repo objects, the object database handle,
 * trees and blobs.  Resolution of refs to commits (the policy: ttl, negative
 * entries, stale answers, when to list and fetch) is resolve.c's;
 * state.json's format repo_state.c's, the blob LRU blobs.c's, listing what
 * is cached repo_list.c's; the objects they share are in repo_internal.h.
 *
 * DESIGN
 * - struct hub_cache owns every struct hub_repo of a mount (created on first
 *   use, freed at unmount) and the blob LRU.  cache->lock guards the repo
 *   list, the stale list and the LRU; it is never held across I/O.
 * - Each repo has two locks:
 *     resolve_lock  held while deciding a resolution, across network I/O
 *                   (ls-remote, fetch).  Concurrent first lookups of one repo
 *                   queue here, and the second finds the first's answer:
 *                   that is the single flight.  Other repos are unaffected.
 *     odb_lock      guards the handle of the local repository used for
 *                   reads (fetch/odb.h: trees, blobs); held only for
 *                   in-memory/pack reads.
 * - Every libgit2 call is in fetch/ (git.h: ls-remote, fetch; odb.h: reads,
 *   the refs/hubfs/ refspecs); this file keeps the policy.
 *   Order: resolve_lock before odb_lock before cache->lock.
 * - Across processes (several mounts, one cache root) the file lock
 *   <repo>/lock serializes fetches and state.json updates; state.json is
 *   replaced atomically, so readers need no lock.
 * - A resolution reaches state.json only after its commit and root tree are
 *   readable from the object database.  A fetch killed midway leaves pack
 *   temp files (removed at the next fetch), never a dangling resolution.
 * - After each fetch the repository goes to the mount's repack thread
 *   (repack.c), which merges its packs past HUB_GIT_PACKS_MAX.
 * - Pins (hub_repo_touch): a shared flock on <repo>/use, held while
 *   mounted paths under the repository's commits are used and pin_s after;
 *   the quota's round takes it exclusively without waiting before it
 *   evicts.  pin_lock (per repo) is a leaf; hub_cache_unpin_idle takes it
 *   under cache->lock.  The repack thread calls that every half pin_s.
 */
#include "cache/repo.h"
#include "cache/repo_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "base/files.h"
#include "base/log.h"
#include "fetch/odb.h"

/* ---- cache and repo objects ---- */

int hub_cache_new(struct hub_cache **out, const char *root, const struct hub_cache_config *cfg)
{
	*out = NULL;
	struct hub_cache *c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	c->root = strdup(root);
	c->cfg = *cfg;
	if (!(c->cfg.pin_s > 0))
		c->cfg.pin_s = HUB_REPO_PIN_S;
	pthread_mutex_init(&c->lock, NULL);
	hub_repack_queue_init(c);
	if (!c->root || hub_htab_init(&c->blobs, HUB_BLOB_TABLE_INITIAL, HUB_BLOB_TABLE_MAX)) {
		hub_cache_free(c);
		return -ENOMEM;
	}
	*out = c;
	return 0;
}

static void repo_free(struct hub_repo *r)
{
	if (!r)
		return;
	for (struct neg_entry *n = r->neg, *nx; n; n = nx) {
		nx = n->next;
		free(n->ref);
		free(n);
	}
	hub_odb_close(r->odb);
	if (r->pin_fd >= 0) {
		close(r->pin_fd);
		__atomic_sub_fetch(&r->cache->pins, 1, __ATOMIC_RELAXED);
	}
	pthread_mutex_destroy(&r->pin_lock);
	pthread_mutex_destroy(&r->resolve_lock);
	pthread_mutex_destroy(&r->odb_lock);
	free(r->owner);
	free(r->name);
	free(r->dir);
	free(r->gitdir);
	free(r->statepath);
	free(r->lockpath);
	free(r);
}

void hub_cache_free(struct hub_cache *c)
{
	if (!c)
		return;
	hub_repack_queue_fini(c); /* before the repos it may hold */
	for (struct hub_repo *r = c->repos, *nx; r; r = nx) {
		nx = r->next;
		repo_free(r);
	}
	hub_blobs_clear(c);
	hub_htab_fini(&c->blobs);
	for (struct stale_ent *s = c->stale, *nx; s; s = nx) {
		nx = s->next;
		free(s->key);
		free(s);
	}
	pthread_mutex_destroy(&c->lock);
	free(c->root);
	free(c);
}

const char *hub_cache_root(const struct hub_cache *c)
{
	return c->root;
}

void hub_repo_put(struct hub_repo *r)
{
	if (r)
		__atomic_sub_fetch(&r->refs, 1, __ATOMIC_ACQ_REL);
}

/* c->lock held: past the HUB_REPOS_MAX most recently looked up, drop every
 * unused repo (one pass).  A repo's count only rises under c->lock, so one
 * seen at 0 here has no user and gets none. */
static struct hub_repo *repos_trim(struct hub_cache *c)
{
	struct hub_repo *dead = NULL;
	if (c->n_repos <= HUB_REPOS_MAX)
		return NULL;
	size_t pos = 0;
	for (struct hub_repo **pp = &c->repos; *pp;) {
		struct hub_repo *r = *pp;
		/* a pinned one stays: its pin's life is pin_s, not this cap */
		if (pos++ >= HUB_REPOS_MAX && __atomic_load_n(&r->refs, __ATOMIC_ACQUIRE) == 0 &&
		    !__atomic_load_n(&r->pinned, __ATOMIC_ACQUIRE)) {
			*pp = r->next;
			r->next = dead;
			dead = r;
			c->n_repos--;
		} else {
			pp = &r->next;
		}
	}
	return dead;
}

int hub_cache_repo(struct hub_repo **out, struct hub_cache *c, const char *owner, const char *name)
{
	*out = NULL;
	pthread_mutex_lock(&c->lock);
	for (struct hub_repo **pp = &c->repos; *pp; pp = &(*pp)->next) {
		struct hub_repo *r = *pp;
		if (!strcmp(r->owner, owner) && !strcmp(r->name, name)) {
			__atomic_add_fetch(&r->refs, 1, __ATOMIC_ACQ_REL);
			*pp = r->next; /* to the front */
			r->next = c->repos;
			c->repos = r;
			pthread_mutex_unlock(&c->lock);
			*out = r;
			return 0;
		}
	}
	struct hub_repo *r = calloc(1, sizeof(*r));
	struct hub_repo *dead = NULL;
	int rc = -ENOMEM;
	if (!r)
		goto out;
	r->cache = c;
	r->pin_fd = -1;
	pthread_mutex_init(&r->pin_lock, NULL);
	pthread_mutex_init(&r->resolve_lock, NULL);
	pthread_mutex_init(&r->odb_lock, NULL);
	r->owner = strdup(owner);
	r->name = strdup(name);
	if (!r->owner || !r->name ||
	    asprintf(&r->dir, "%s/hubfs/repos/%s/%s", c->root, owner, name) < 0) {
		r->dir = NULL;
		repo_free(r);
		goto out;
	}
	r->gitdir = hub_path_join(r->dir, "git");
	r->statepath = hub_path_join(r->dir, "state.json");
	r->lockpath = hub_path_join(r->dir, "lock");
	if (!r->gitdir || !r->statepath || !r->lockpath) {
		repo_free(r);
		goto out;
	}
	r->refs = 1;
	r->next = c->repos;
	c->repos = r;
	c->n_repos++;
	dead = repos_trim(c);
	*out = r;
	rc = 0;
out:
	pthread_mutex_unlock(&c->lock);
	for (struct hub_repo *nx; dead; dead = nx) {
		nx = dead->next;
		repo_free(dead);
	}
	return rc;
}

/* ---- pins ---- */

static double mono_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* The use file at r's path is the one fd holds. */
static bool pin_current(const struct hub_repo *r, int fd)
{
	char path[4096];
	struct stat a, b;
	if (snprintf(path, sizeof(path), "%s/" HUB_REPO_USE_FILE, r->dir) >= (int)sizeof(path))
		return false;
	return !fstat(fd, &a) && !stat(path, &b) && a.st_ino == b.st_ino && a.st_dev == b.st_dev;
}

/* Open <repo>/use (creating the directory) and hold a shared flock on it;
 * pin_lock held.  The round renames the directory while it holds the
 * exclusive lock: a file that is no longer at the path after the flock is
 * granted is let go and the new one taken.  The fd or -errno. */
static int pin_open(struct hub_repo *r)
{
	char path[4096];
	if (snprintf(path, sizeof(path), "%s/" HUB_REPO_USE_FILE, r->dir) >= (int)sizeof(path))
		return -ENAMETOOLONG;
	int rc = -EAGAIN;
	for (int i = 0; i < HUB_REPO_PIN_TRIES; i++) {
		rc = hub_mkdir_p(r->dir);
		if (rc)
			continue;
		int fd = open(path, O_RDONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0666);
		if (fd < 0) {
			rc = -errno; /* ENOENT: the directory went meanwhile */
			continue;
		}
		if (flock(fd, LOCK_SH)) {
			rc = -errno;
			close(fd);
			continue;
		}
		if (pin_current(r, fd))
			return fd;
		close(fd);
		rc = -EAGAIN;
	}
	return rc;
}

void hub_repo_touch(struct hub_repo *r)
{
	double now = mono_s();
	double last = (double)__atomic_load_n(&r->touched_ms, __ATOMIC_RELAXED) / 1e3;
	if (__atomic_load_n(&r->pinned, __ATOMIC_ACQUIRE) && now - last < HUB_REPO_PIN_CHECK_S)
		return;
	pthread_mutex_lock(&r->pin_lock);
	__atomic_store_n(&r->touched_ms, (int64_t)(now * 1e3), __ATOMIC_RELAXED);
	if (r->pin_fd >= 0 && now - r->pin_checked >= HUB_REPO_PIN_CHECK_S) {
		r->pin_checked = now;
		if (!pin_current(r, r->pin_fd)) { /* forgotten or evicted: pin the new one */
			close(r->pin_fd);
			r->pin_fd = -1;
			__atomic_store_n(&r->pinned, false, __ATOMIC_RELEASE);
			__atomic_sub_fetch(&r->cache->pins, 1, __ATOMIC_RELAXED);
		}
	}
	bool started = false;
	if (r->pin_fd < 0) {
		int fd = pin_open(r);
		if (fd < 0) {
			hub_debug("%s/%s: cannot pin: %s", r->owner, r->name, strerror(-fd));
		} else {
			r->pin_fd = fd;
			r->pin_checked = now;
			struct stat ds;
			if (r->dir_seen <= 1 && !stat(r->dir, &ds))
				r->dir_seen = (uint64_t)ds.st_ino; /* hub_cache_changed_repos */
			r->pin_recorded = 0;
			__atomic_store_n(&r->pinned, true, __ATOMIC_RELEASE);
			__atomic_add_fetch(&r->cache->pins, 1, __ATOMIC_RELAXED);
			started = true;
		}
	}
	if (r->pin_fd >= 0 && (r->pin_recorded == 0 || now - r->pin_recorded >= HUB_REPO_USE_RECORD_S)) {
		r->pin_recorded = now;
		futimens(r->pin_fd, NULL); /* last use, for the round's LRU order */
	}
	pthread_mutex_unlock(&r->pin_lock);
	if (started)
		hub_repack_thread_start(r->cache); /* it lets go of idle pins */
}

void hub_cache_unpin_idle(struct hub_cache *c)
{
	double now = mono_s();
	pthread_mutex_lock(&c->lock);
	for (struct hub_repo *r = c->repos; r; r = r->next) {
		if (!__atomic_load_n(&r->pinned, __ATOMIC_ACQUIRE))
			continue;
		pthread_mutex_lock(&r->pin_lock);
		if (r->pin_fd >= 0 &&
		    now - (double)__atomic_load_n(&r->touched_ms, __ATOMIC_RELAXED) / 1e3 >=
			    c->cfg.pin_s) {
			close(r->pin_fd);
			r->pin_fd = -1;
			__atomic_store_n(&r->pinned, false, __ATOMIC_RELEASE);
			__atomic_sub_fetch(&c->pins, 1, __ATOMIC_RELAXED);
		}
		pthread_mutex_unlock(&r->pin_lock);
	}
	pthread_mutex_unlock(&c->lock);
}

const char *hub_repo_owner(const struct hub_repo *r)
{
	return r->owner;
}

const char *hub_repo_name(const struct hub_repo *r)
{
	return r->name;
}

size_t hub_cache_changed_repos(struct hub_repo **out, size_t cap, struct hub_cache *c)
{
	struct hub_repo *v[HUB_GONE_REPOS_MAX];
	size_t n = 0, k = 0;
	pthread_mutex_lock(&c->lock);
	for (struct hub_repo *r = c->repos; r && n < HUB_GONE_REPOS_MAX; r = r->next) {
		__atomic_add_fetch(&r->refs, 1, __ATOMIC_ACQ_REL);
		v[n++] = r;
	}
	pthread_mutex_unlock(&c->lock);
	for (size_t i = 0; i < n; i++) {
		struct hub_repo *r = v[i];
		struct stat st;
		uint64_t now = stat(r->dir, &st) ? 1 : (uint64_t)st.st_ino;
		pthread_mutex_lock(&r->pin_lock);
		/* gone or replaced: it was there (a real inode) and is not now */
		bool changed = r->dir_seen > 1 && now != r->dir_seen;
		r->dir_seen = now;
		pthread_mutex_unlock(&r->pin_lock);
		if (changed) {
			/* its packs were unlinked: the next read opens what is there
			 * now and, missing the commit, fetches it again */
			pthread_mutex_lock(&r->odb_lock);
			hub_odb_close(r->odb);
			r->odb = NULL;
			pthread_mutex_unlock(&r->odb_lock);
		}
		if (changed && k < cap)
			out[k++] = r;
		else
			hub_repo_put(r);
	}
	return k;
}

char *hub_cache_stale_report(struct hub_cache *c)
{
	char *out = NULL;
	size_t len = 0;
	FILE *m = open_memstream(&out, &len);
	if (!m)
		return NULL;
	pthread_mutex_lock(&c->lock);
	for (struct stale_ent *s = c->stale; s; s = s->next)
		fprintf(m, "%s %s\n", s->key, s->sha);
	pthread_mutex_unlock(&c->lock);
	if (fclose(m)) {
		free(out);
		return NULL;
	}
	return out;
}

void hub_cache_stats(struct hub_cache_stats *out, struct hub_cache *c)
{
	out->ls_remote = __atomic_load_n(&c->stats.ls_remote, __ATOMIC_RELAXED);
	out->fetches = __atomic_load_n(&c->stats.fetches, __ATOMIC_RELAXED);
	out->fetch_failures = __atomic_load_n(&c->stats.fetch_failures, __ATOMIC_RELAXED);
	out->stale_served = __atomic_load_n(&c->stats.stale_served, __ATOMIC_RELAXED);
	out->neg_hits = __atomic_load_n(&c->stats.neg_hits, __ATOMIC_RELAXED);
}

/* ---- the object database (odb_lock) ---- */

/* Open the read handle; odb_lock held.  A repository that cannot be opened
 * (never created, or damaged by a crash during init) reads as empty. */
int hub_repo_odb_open_locked(struct hub_repo *r)
{
	if (r->odb)
		return 0;
	char label[HUB_OWNER_MAX + HUB_REPO_MAX + 2];
	snprintf(label, sizeof(label), "%s/%s", r->owner, r->name);
	return hub_odb_open(&r->odb, r->gitdir, label);
}

/* 1 if sha is a commit whose root tree is present, 0 if not, -errno. */
int hub_repo_commit_in_odb(struct hub_repo *r, const char *sha)
{
	struct hub_oid oid;
	if (hub_oid_from_hex(&oid, sha))
		return 0;
	pthread_mutex_lock(&r->odb_lock);
	int present = 0;
	if (!hub_repo_odb_open_locked(r))
		present = hub_odb_has_commit(r->odb, &oid);
	pthread_mutex_unlock(&r->odb_lock);
	return present;
}

/* ---- trees and blobs ---- */

int hub_repo_commit_info(struct hub_oid *out_tree, int64_t *out_time, struct hub_repo *r,
			 const char *sha)
{
	struct hub_oid oid;
	if (hub_oid_from_hex(&oid, sha))
		return -ENOENT;
	pthread_mutex_lock(&r->odb_lock);
	int rc = hub_repo_odb_open_locked(r);
	if (!rc)
		rc = hub_odb_commit_info(out_tree, out_time, r->odb, &oid);
	pthread_mutex_unlock(&r->odb_lock);
	return rc;
}

int hub_repo_tree_list(struct hub_tree_entry **out, size_t *out_n, struct hub_repo *r,
		       const struct hub_oid *tree_id)
{
	*out = NULL;
	*out_n = 0;
	pthread_mutex_lock(&r->odb_lock);
	int rc = hub_repo_odb_open_locked(r);
	if (!rc)
		rc = hub_odb_tree_list(out, out_n, r->odb, tree_id);
	pthread_mutex_unlock(&r->odb_lock);
	return rc;
}

int hub_repo_path_lookup(struct hub_oid *out, uint32_t *out_mode, struct hub_repo *r,
			 const struct hub_oid *root_tree, const char *path)
{
	pthread_mutex_lock(&r->odb_lock);
	int rc = hub_repo_odb_open_locked(r);
	if (!rc)
		rc = hub_odb_path_lookup(out, out_mode, r->odb, root_tree, path);
	pthread_mutex_unlock(&r->odb_lock);
	return rc;
}

