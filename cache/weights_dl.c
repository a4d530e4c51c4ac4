/*
 * Weights: the downloader thread of a file (one at a time, started by a
 * read through hw_ensure_thread, joined at the next start or at free).  It
 * is the holder (holds N.lock, streams the holes of N.part in order with
 * one GET each, hashing what it writes as it writes it (on the hasher
 * thread of weights_hash.c), then hw_finalize)
 * or a follower (watches another process's download and takes over when
 * N.lock is free).  Also the size request (hw_ensure_head).  Locks: f->lock held except
 * across HTTP and bulk I/O; the stream's sink takes it per piece.  The
 * download's sha256 (d->sha) is this thread's alone: no lock.
 */
#include "cache/weights_internal.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>

#include "base/files.h"
#include "base/log.h"

/* ---- HEAD ---- */

/* f->lock held (dropped across the request).  One at a time per file: the
 * size (and ETag) of a file nothing on disk describes, from a GET of its
 * first head_bytes, which stay in N.part (or a HEAD: head_bytes 0). */
int hw_ensure_head(struct hub_weight *f)
{
	while (f->head_busy)
		pthread_cond_wait(&f->cond, &f->lock);
	if (f->head_done || f->size_known)
		return 0;
	if (f->w->cfg.offline)
		return -ENOENT;
	f->head_busy = true;
	struct hub_http_meta *m = malloc(sizeof(*m));
	int rc = m ? 1 : -ENOMEM;
	uint64_t n = hw_tuning().head_bytes;
	if (m && n) {
		/* a GET of the first bytes, kept in N.part (hw_head_fetch);
		 * where N.part cannot be written, a HEAD */
		rc = hw_head_fetch(m, f, n);
		if (rc == -EROFS || rc == -EACCES || rc == -ENOSPC || rc == -EDQUOT)
			rc = 1;
	}
	if (rc == 1) {
		pthread_mutex_unlock(&f->lock);
		double t0 = mono_now();
		rc = hub_http_head(m, f->w->http, f->fetch_url);
		hub_debug("weights: %s: HEAD in %.3f ms", f->name, (mono_now() - t0) * 1e3);
		pthread_mutex_lock(&f->lock);
	}
	f->head_busy = false;
	if (rc == 0) {
		f->head_done = true;
		if (m->size_known && !f->size_known) {
			f->size_known = true;
			f->size = m->size;
			snprintf(f->etag, sizeof(f->etag), "%s", m->etag);
			f->head_dirty = true;
		}
	}
	free(m);
	hw_wake(f);
	return rc;
}
/* ---- the downloader thread ---- */

static void dl_unlock_file(struct dl *d)
{
	if (d->live)
		munmap(d->live, LIVE_SIZE);
	d->live = NULL;
	if (d->lock_fd >= 0)
		close(d->lock_fd); /* releases the flock */
	d->lock_fd = -1;
}

/* f->lock held.  1: this process now holds N.lock; 0: another one does. */
static int try_hold(struct dl *d)
{
	struct hub_weight *f = d->f;
	for (int tries = 0; tries < 8; tries++) {
		if (d->lock_fd < 0) {
			int fd = open(f->lock_path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0666);
			if (fd < 0 && errno == ENOENT) {
				hub_mkdir_p(f->w->dir);
				fd = open(f->lock_path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0666);
			}
			if (fd < 0)
				return -errno;
			struct stat st;
			if (fstat(fd, &st) == 0 && st.st_size < LIVE_SIZE && ftruncate(fd, LIVE_SIZE))
				hub_debug("weights: %s: ftruncate: %s", f->lock_path, strerror(errno));
			void *p = mmap(NULL, LIVE_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
			d->live = p == MAP_FAILED ? NULL : p;
			d->lock_fd = fd;
		}
		if (flock(d->lock_fd, LOCK_EX | LOCK_NB)) {
			if (errno == EWOULDBLOCK || errno == EINTR)
				return 0;
			return -errno;
		}
		/* the lock file may have been unlinked by a holder that finished
		 * between our open and our flock: only the file at the path counts */
		struct stat a, b;
		if (fstat(d->lock_fd, &a) == 0 && stat(f->lock_path, &b) == 0 && a.st_ino == b.st_ino)
			return 1;
		dl_unlock_file(d);
		if (hw_check_complete(f))
			return 0;
	}
	return -EAGAIN;
}

/* f->lock held.  Follow another process's download. */
static void follow(struct dl *d)
{
	struct hub_weight *f = d->f;
	hw_adopt_sidecar(f);
	uint64_t pid = hw_id_of_path(f->part_path);
	if (pid && pid != f->part_id) {
		/* a new N.part (reset by the holder): nothing of the old one counts */
		hw_part_retire(f);
		hub_rset_clear(&f->have);
		f->dirty = false;
		f->part_id = pid;
		hw_adopt_record(f, true);
	} else {
		hw_adopt_record(f, false);
	}
	uint64_t id, a, b;
	if (hw_live_read(d->live, &id, &a, &b) && id == f->part_id && f->part_id) {
		if (f->size_known && b > f->size)
			b = f->size;
		f->live_valid = true;
		f->live_b = b;
		if (!hub_rset_covers(&f->have, a, b)) {
			/* written by the holder: readable now, recorded by the holder */
			hub_rset_add(&f->have, a, b);
			f->progress_t = mono_now();
			hw_wake(f);
		}
	} else {
		f->live_valid = false;
	}
}

static int seq_meta(void *ctx, const struct hub_http_meta *m)
{
	struct dl *d = ctx;
	struct hub_weight *f = d->f;
	pthread_mutex_lock(&f->lock);
	if (!f->size_known && m->size_known) {
		/* learned from the GET (no size from HEAD) */
		f->size_known = true;
		f->size = m->size;
		snprintf(f->etag, sizeof(f->etag), "%s", m->etag);
		f->head_dirty = true;
		hw_wake(f);
	}
	pthread_mutex_unlock(&f->lock);
	return 0;
}

/* f->lock held.  No reader has asked anything of f for idle_s and more
 * than idle_finish bytes are missing: the holder stops (f->idle_stop). */
static bool nobody_reads(struct hub_weight *f)
{
	struct hub_weights_tuning t = hw_tuning();
	if (f->readers || !(t.idle_s > 0) || mono_now() - f->read_t < t.idle_s || !f->size_known)
		return false;
	uint64_t have = hub_rset_bytes(&f->have);
	if (have >= f->size || f->size - have <= t.idle_finish)
		return false;
	f->idle_stop = true;
	return true;
}

static int seq_sink(void *ctx, uint64_t off, const char *data, size_t len)
{
	struct dl *d = ctx;
	struct hub_weight *f = d->f;
	uint64_t end = off + len;
	if (stopping(f->w))
		return -ECANCELED;
	pthread_mutex_lock(&f->lock);
	bool present = hub_rset_covers(&f->have, off, end);
	pthread_mutex_unlock(&f->lock);
	if (present) {
		/* a far read or another process got here first: next hole */
		return off >= d->hole_a ? HUB_HTTP_STOP : 0;
	}
	int rc = pwrite_full(d->fd, data, len, off);
	if (rc) {
		hub_err("weights: %s: write: %s", f->name, strerror(-rc));
		return rc;
	}
	if (d->sha_live && off <= d->hashed && end > d->hashed) {
		/* the bytes just written, next in order: hashed from memory (by
		 * the hasher thread, from a copy in its ring) */
		hw_hash_feed(d, data + (d->hashed - off), (size_t)(end - d->hashed));
		d->hashed = end;
	}
	pthread_mutex_lock(&f->lock);
	if (off == d->hole_a)
		HW_FIRST_STEP(f, "first bytes of the GET written");
	hub_rset_add(&f->have, off, end);
	f->dirty = true;
	if (off >= d->hole_a) {
		f->seq_pos = end;
		hw_live_publish(d->live, f->part_id, d->hole_a, end);
	}
	hw_note_bytes(f, len);
	/* wake readers only when one of them can go on (not for every piece) */
	if (end >= f->wake_at)
		hw_wake_upto(f, end);
	bool idle = nobody_reads(f);
	pthread_mutex_unlock(&f->lock);
	return idle ? HUB_HTTP_STOP : 0;
}

/* f->lock held.  Upstream changed (ETag or size): start over in a new N.part. */
static int reset_partial(struct dl *d)
{
	struct hub_weight *f = d->f;
	char u[512];
	hub_warn("weights: %s changed upstream (%s): downloading it again", f->name,
		 hw_log_url(u, sizeof(u), f->url));
	hw_part_remove(f);
	f->size_known = false;
	f->head_done = false;
	f->etag[0] = '\0';
	int rc = hw_ensure_head(f);
	if (rc)
		return rc;
	rc = hw_part_open(f, true);
	if (rc)
		return rc;
	if (d->hashing && (rc = hw_hash_reset(d)))
		return rc;
	hw_wake(f);
	return 0;
}

/* f->lock held, N.lock held.  The holder's download: the holes of N.part
 * in order, one GET each, then hw_finalize. */
static int hold_inner(struct dl *d)
{
	struct hub_weight *f = d->f;
	struct hub_weights *w = f->w;
	bool offline = w->cfg.offline;
	int restarts = 0;
	uint64_t last_a = UINT64_MAX;
	/* what the previous holder (maybe killed) left: records and its stream */
	HW_FIRST_STEP(f, "N.lock held");
	follow(d);
	HW_FIRST_STEP(f, "records read");
	if (!f->size_known && !offline) {
		int rc = hw_ensure_head(f);
		if (rc)
			return rc;
	}
	if (f->bad)
		return -EIO;
	int rc = hw_part_open(f, true);
	if (rc)
		return rc;
	HW_FIRST_STEP(f, "N.part open");
	d->hashing = f->hash_prefix[0] != '\0';
	if (d->hashing && (rc = hw_hash_reset(d)))
		return rc;
	for (;;) {
		if (stopping(w))
			return -ECANCELED;
		if (hw_check_complete(f))
			return 0;
		uint64_t limit = f->size_known ? f->size : UINT64_MAX;
		uint64_t a = hub_rset_first_missing(&f->have, 0, limit);
		if (f->size_known && a >= f->size)
			return hw_finalize(d);
		if (offline) {
			hub_warn("weights: %s: offline, %llu bytes missing", f->name,
				 (unsigned long long)(f->size_known ? f->size - hub_rset_bytes(&f->have) : 0));
			return -ENETDOWN;
		}
		if (a == last_a) {
			/* a successful GET that did not fill its hole: never loop on it */
			hub_err("weights: %s: the server did not send bytes from %llu", f->name,
				(unsigned long long)a);
			return -EIO;
		}
		uint64_t b = hub_rset_next_start(&f->have, a);
		if (b == UINT64_MAX || (f->size_known && b >= f->size))
			b = 0; /* to the end */
		d->fd = f->part_fd;
		if (d->sha_live && d->hashed < a) {
			/* bytes before the hole this thread's stream did not write (a
			 * resume's prefix, a far read's range): read back once, so that
			 * the stream's bytes continue the hash */
			int fd = d->fd;
			pthread_mutex_unlock(&f->lock);
			rc = hw_hash_catchup(d, fd, a);
			pthread_mutex_lock(&f->lock);
			if (rc)
				return rc;
			continue; /* the state may have changed meanwhile */
		}
		d->hole_a = a;
		f->seq_pos = a;
		f->streaming = true;
		if (!f->dirty)
			f->flushed_t = mono_now(); /* the first record record_s from now */
		hw_live_publish(d->live, f->part_id, a, a);
		struct hub_http_get g = {
			.url = f->fetch_url,
			.off = a,
			.end = b,
			.size_known = f->size_known,
			.size = f->size,
			.etag = f->etag,
			.sink = seq_sink,
			.meta = seq_meta,
			.ctx = d,
		};
		char etag[HUB_HTTP_HEADER_MAX];
		snprintf(etag, sizeof(etag), "%s", f->etag);
		g.etag = etag;
		struct hub_http_meta *m = malloc(sizeof(*m));
		if (!m)
			return -ENOMEM;
		HW_FIRST_STEP(f, "GET starts");
		pthread_mutex_unlock(&f->lock);
		rc = hub_http_get(m, w->http, &g);
		pthread_mutex_lock(&f->lock);
		f->streaming = false;
		if (f->idle_stop || (rc == 0 && nobody_reads(f))) {
			free(m);
			hub_info("weights: %s: no reader for %g s: download paused at %llu of %llu bytes "
				 "(resumes at the next read)",
				 f->name, hw_tuning().idle_s,
				 (unsigned long long)hub_rset_bytes(&f->have),
				 (unsigned long long)f->size);
			return 0;
		}
		if (rc == 0 && !f->size_known && m->size_known && b == 0) {
			/* no length anywhere: the end of the body was the end */
			f->size_known = true;
			f->size = m->size;
			f->head_dirty = true;
			hw_wake(f);
		}
		free(m);
		if (rc == -ESTALE) {
			if (++restarts > 2)
				return -EIO;
			rc = reset_partial(d);
			if (rc)
				return rc;
			last_a = UINT64_MAX;
			continue;
		}
		if (rc)
			return rc;
		last_a = hub_rset_first_missing(&f->have, 0, f->size_known ? f->size : UINT64_MAX) == a
				 ? a
				 : UINT64_MAX;
		if (!f->size_known) {
			hub_err("weights: %s: the server gave no size", f->name);
			return -EIO;
		}
	}
}

static int hold(struct dl *d)
{
	int rc = hold_inner(d);
	/* a killed holder's temporary files: looked for when the download
	 * stops, not before its GET (a scan of the store's directory that the
	 * first read of a cold file would wait for) */
	hw_remove_temps(d->f, 60);
	hw_hash_stop(d);
	if (d->sha_live)
		hub_sha256_dispose(&d->sha);
	d->sha_live = false;
	return rc;
}

/* f->lock held, N.lock held, the download over.  The disk is full: N.part
 * is removed rather than kept for a resume, so that the space it holds
 * comes back to the rest of the cache (clones, analyses, other weights) at
 * once, as torch.hub removes its temporary file.  The next attempt starts
 * from byte 0. */
static void discard_partial(struct hub_weight *f)
{
	uint64_t had = hub_rset_bytes(&f->have);
	hw_part_remove(f);
	f->live_valid = false;
	hw_wake(f);
	hub_warn("weights: %s: disk full: removed the partial download (%llu bytes)", f->name,
		 (unsigned long long)had);
}

static void *dl_main(void *arg)
{
	struct hub_weight *f = arg;
	struct hub_weights *w = f->w;
	struct dl d = {.f = f, .lock_fd = -1, .fd = -1};
	int rc = 0;
	pthread_mutex_lock(&f->lock);
	HW_FIRST_STEP(f, "download thread runs");
	for (;;) {
		if (stopping(w)) {
			rc = -ECANCELED;
			break;
		}
		if (hw_check_complete(f) || f->bad)
			break;
		rc = try_hold(&d);
		if (rc < 0) {
			hub_warn("weights: %s: cannot lock %s: %s", f->name, f->lock_path, strerror(-rc));
			break;
		}
		if (rc == 1) {
			f->holder = true;
			f->live_valid = false;
			f->dirty = true; /* record what a dead holder left */
			hw_busy_enter(f);
			rc = hold(&d);
			if (rc == -ENOSPC)
				discard_partial(f);
			else
				hw_flush_record_final(f);
			hw_busy_leave(f);
			f->holder = false;
			f->streaming = false;
			break;
		}
		follow(&d);
		if (!f->readers && hw_tuning().idle_s > 0 &&
		    mono_now() - f->read_t > hw_tuning().idle_s)
			break; /* nobody here waits for the other process's download */
		struct timespec ts;
		hw_abs_deadline(&ts, hw_tuning().poll_s);
		pthread_cond_timedwait(&f->cond, &f->lock, &ts);
	}
	dl_unlock_file(&d);
	if (rc < 0 && rc != -ECANCELED) {
		f->err = rc;
		f->err_until = mono_now() + hw_tuning().retry_s;
		if (!f->bad)
			hw_fail_note(w, f, hw_reason_of(rc));
	}
	f->thread_running = false;
	f->live_valid = false;
	__atomic_sub_fetch(&w->dl_running, 1, __ATOMIC_ACQ_REL);
	hw_wake(f);
	pthread_mutex_unlock(&f->lock);
	hw_put(f);
	return NULL;
}

/* f->lock held (may be dropped to join a finished thread). */
int hw_ensure_thread(struct hub_weight *f)
{
	while (!f->thread_running && f->thread_joinable) {
		pthread_t t = f->thread;
		f->thread_joinable = false;
		pthread_mutex_unlock(&f->lock);
		pthread_join(t, NULL);
		pthread_mutex_lock(&f->lock);
	}
	if (f->thread_running)
		return 0;
	if (stopping(f->w))
		return -ECANCELED;
	/* a slot among the store's dl_max running downloads (an atomic count:
	 * w->lock may not be taken under f->lock) */
	unsigned max = hw_tuning().dl_max;
	unsigned cur = __atomic_load_n(&f->w->dl_running, __ATOMIC_ACQUIRE);
	do {
		if (max && cur >= max)
			return -EBUSY;
	} while (!__atomic_compare_exchange_n(&f->w->dl_running, &cur, cur + 1, false,
					      __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE));
	__atomic_add_fetch(&f->refs, 1, __ATOMIC_ACQ_REL);
	f->thread_running = true;
	f->err = 0;
	f->idle_stop = false;
	f->progress_t = f->read_t = mono_now();
	int rc = pthread_create(&f->thread, NULL, dl_main, f);
	if (rc) {
		__atomic_sub_fetch(&f->w->dl_running, 1, __ATOMIC_ACQ_REL);
		f->thread_running = false;
		__atomic_sub_fetch(&f->refs, 1, __ATOMIC_ACQ_REL); /* the caller holds one */
		hub_err("weights: %s: cannot start a thread: %s", f->name, strerror(rc));
		return -rc;
	}
	f->thread_joinable = true;
	return 0;
}

