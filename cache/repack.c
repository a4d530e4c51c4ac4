/*
 * DESIGN
 * The repack thread of one mount: after each fetch, resolve.c hands the
 * repository here (hub_repack_queue_add, from the thread that fetched, its
 * locks released); this thread counts the repository's packs and, past
 * HUB_GIT_PACKS_MAX, repacks it into one (fetch/repack.h).  So no FUSE
 * handler ever waits for a repack of its own making, and a repack never
 * runs during a fetch of the same repository: hub_repack_run takes the
 * fetch lock without waiting and skips a repository being fetched (the
 * fetch's own hand-over queues it again).  It first takes the repository's
 * own lock (<repo>/lock, the one fetches and state.json updates take
 * across processes), also without waiting: under it a fetch removes
 * libgit2's temporary packs, which the repack's pack is while written.  A fetch that starts during a
 * repack waits for it (the fetch lock), across processes too.
 *
 * After a repack the mount's read handle of that repository is closed
 * (under odb_lock), so it lets go of the old, unlinked packs; the next
 * read opens the new one.
 *
 * The same thread lets go of repositories' idle pins (repo.c,
 * hub_cache_unpin_idle): while any is held it wakes every half pin_s.
 *
 * Locks: queue->lock (a leaf) guards the queue and the started and stop
 * flags; a queued repository holds a reference (taken under cache->lock,
 * as every reference is), so it stays in memory until the thread is done
 * with it.  The thread runs at nice HUB_PY_START_NICE: a repack yields
 * the CPU to readers.
 */
#include "cache/repo_internal.h"

#include <errno.h>
#include <string.h>
#include <time.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "base/files.h"
#include "base/log.h"
#include "fetch/repack.h"

void hub_repack_queue_init(struct hub_cache *c)
{
	struct hub_repack_queue *q = &c->repack;
	pthread_mutex_init(&q->lock, NULL);
	pthread_cond_init(&q->cond, NULL);
}

/* r's lock, trying again while it is busy (bounded; see
 * HUB_REPACK_RETRY_MS); q->lock not held.  The fd, or -errno (-EBUSY, or
 * -ECANCELED once the thread is told to stop). */
static int lock_repo(struct hub_repack_queue *q, struct hub_repo *r)
{
	int lfd = hub_file_trylock(r->lockpath);
	for (int i = 0; lfd == -EBUSY && i < HUB_REPACK_RETRIES; i++) {
		struct timespec until;
		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_nsec += (long)HUB_REPACK_RETRY_MS * 1000000L;
		until.tv_sec += until.tv_nsec / 1000000000L;
		until.tv_nsec %= 1000000000L;
		pthread_mutex_lock(&q->lock);
		while (!q->stop && pthread_cond_timedwait(&q->cond, &q->lock, &until) != ETIMEDOUT)
			;
		bool stop = q->stop;
		pthread_mutex_unlock(&q->lock);
		if (stop)
			return -ECANCELED;
		lfd = hub_file_trylock(r->lockpath);
	}
	return lfd;
}

static void *repack_main(void *arg)
{
	struct hub_cache *c = arg;
	struct hub_repack_queue *q = &c->repack;
	/* This thread only (Linux: a thread's nice value is its own). */
	setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid), HUB_PY_START_NICE);
	pthread_mutex_lock(&q->lock);
	for (;;) {
		while (!q->stop && q->n == 0) {
			if (!__atomic_load_n(&c->pins, __ATOMIC_RELAXED)) {
				pthread_cond_wait(&q->cond, &q->lock);
				continue;
			}
			/* pins held: wake every half pin_s to let go of idle ones */
			struct timespec until;
			clock_gettime(CLOCK_REALTIME, &until);
			double half = c->cfg.pin_s / 2;
			until.tv_sec += (time_t)half;
			until.tv_nsec += (long)((half - (double)(time_t)half) * 1e9);
			until.tv_sec += until.tv_nsec / 1000000000L;
			until.tv_nsec %= 1000000000L;
			if (pthread_cond_timedwait(&q->cond, &q->lock, &until) == ETIMEDOUT) {
				pthread_mutex_unlock(&q->lock);
				hub_cache_unpin_idle(c); /* cache->lock: not under q->lock */
				pthread_mutex_lock(&q->lock);
			}
		}
		if (q->stop)
			break;
		struct hub_repo *r = q->q[0];
		memmove(q->q, q->q + 1, --q->n * sizeof(q->q[0]));
		pthread_mutex_unlock(&q->lock);

		/* The repository's lock too: a fetch removes libgit2's temporary
		 * packs (a killed fetch's) under it before it takes the fetch lock,
		 * and the repack's new pack is one until it is complete. */
		size_t before = 0, after = 0;
		int lfd = hub_repack_count(&before, r->gitdir);
		if (lfd == 0 && before <= HUB_GIT_PACKS_MAX)
			lfd = -EALREADY; /* the common case: nothing to do, no lock */
		else if (lfd == 0)
			lfd = lock_repo(q, r);
		int rc = lfd < 0 ? lfd
				 : hub_repack_run(&before, &after, r->gitdir, HUB_GIT_PACKS_MAX,
						  &q->stop);
		hub_file_unlock(lfd);
		if (!rc && after < before) {
			pthread_mutex_lock(&r->odb_lock);
			hub_odb_close(r->odb);
			r->odb = NULL;
			pthread_mutex_unlock(&r->odb_lock);
		} else if (rc == -EBUSY) {
			hub_debug("%s/%s: %zu packs, not repacked: a fetch is running", r->owner,
				  r->name, before);
		} else if (rc && rc != -EALREADY && rc != -ECANCELED && rc != -ENOENT) {
			hub_warn("%s/%s: repack of %zu packs failed: %s", r->owner, r->name, before,
				 strerror(-rc));
		}
		hub_repo_put(r);
		pthread_mutex_lock(&q->lock);
	}
	pthread_mutex_unlock(&q->lock);
	return NULL;
}

/* q->lock held. */
static void start_locked(struct hub_cache *c)
{
	struct hub_repack_queue *q = &c->repack;
	if (q->started || q->stop)
		return;
	int e = pthread_create(&q->thread, NULL, repack_main, c);
	if (e)
		hub_warn("cannot start the repack thread: %s", strerror(e));
	q->started = !e;
}

void hub_repack_thread_start(struct hub_cache *c)
{
	struct hub_repack_queue *q = &c->repack;
	pthread_mutex_lock(&q->lock);
	start_locked(c);
	pthread_cond_signal(&q->cond); /* a thread in an untimed wait starts its timed one */
	pthread_mutex_unlock(&q->lock);
}

void hub_repack_queue_add(struct hub_repo *r)
{
	struct hub_cache *c = r->cache;
	struct hub_repack_queue *q = &c->repack;
	pthread_mutex_lock(&c->lock);
	__atomic_add_fetch(&r->refs, 1, __ATOMIC_ACQ_REL);
	pthread_mutex_unlock(&c->lock);

	bool queued = false;
	pthread_mutex_lock(&q->lock);
	bool dup = false;
	for (size_t i = 0; i < q->n && !dup; i++)
		dup = q->q[i] == r;
	if (!q->stop && !dup && q->n < HUB_REPACK_QUEUE_MAX) {
		start_locked(c);
		if (q->started) {
			q->q[q->n++] = r;
			queued = true;
			pthread_cond_signal(&q->cond);
		}
	}
	pthread_mutex_unlock(&q->lock);
	if (!queued)
		hub_repo_put(r);
}

void hub_repack_queue_fini(struct hub_cache *c)
{
	struct hub_repack_queue *q = &c->repack;
	pthread_mutex_lock(&q->lock);
	__atomic_store_n(&q->stop, true, __ATOMIC_RELAXED);
	bool started = q->started;
	pthread_cond_broadcast(&q->cond);
	pthread_mutex_unlock(&q->lock);
	if (started)
		pthread_join(q->thread, NULL);
	for (size_t i = 0; i < q->n; i++)
		hub_repo_put(q->q[i]);
	q->n = 0;
	pthread_cond_destroy(&q->cond);
	pthread_mutex_destroy(&q->lock);
}
