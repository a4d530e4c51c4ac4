/*
 * Weights: a file's state against the disk.  Its descriptors (part_fd and
 * the graveyard of replaced ones), what other processes left on disk
 * adopted into memory (N.head, N.ranges, <key>.data), the record writer
 * (fdatasync of N.part, then N.ranges), and the store's flusher thread.
 * Locks: every function here but the flusher's is called with f->lock held
 * (hw_flush_record drops it across the fdatasync); the flusher takes
 * w->lock to snapshot the table, then each f->lock.
 */
#include "cache/weights_internal.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/files.h"
#include "base/log.h"

/* ---- descriptors ---- */

static void graveyard_close(struct hub_weight *f)
{
	for (size_t i = 0; i < f->n_graveyard; i++)
		close(f->graveyard[i]);
	f->n_graveyard = 0;
}

void hw_pin_keep(struct hub_weights *w, int fd, int64_t read_s)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
	int64_t until = read_s + (int64_t)(hw_tuning().pin_s + 0.999);
	if (until <= (int64_t)ts.tv_sec) {
		close(fd);
		return;
	}
	pthread_mutex_lock(&w->pin_lock);
	if (w->npins == HUB_WEIGHTS_PINS_MAX) { /* full: the one expiring first goes */
		size_t k = 0;
		for (size_t i = 1; i < w->npins; i++)
			if (w->pins[i].until_s < w->pins[k].until_s)
				k = i;
		close(w->pins[k].fd);
		w->pins[k] = w->pins[--w->npins];
	}
	w->pins[w->npins].fd = fd;
	w->pins[w->npins].until_s = until;
	w->npins++;
	pthread_mutex_unlock(&w->pin_lock);
}

void hw_close_fds(struct hub_weight *f)
{
	__atomic_store_n(&f->ck_fast, 0, __ATOMIC_RELEASE);
	/* the pin outlives the entry: its life is pin_s after the last read,
	 * not the table's cap or the node's forget */
	if (f->ck_fd >= 0)
		hw_pin_keep(f->w, f->ck_fd, __atomic_load_n(&f->read_s, __ATOMIC_RELAXED));
	if (f->part_fd >= 0)
		close(f->part_fd);
	f->ck_fd = f->part_fd = -1;
	graveyard_close(f);
}

/* f->lock held.  Replace part_fd (it is kept open until the last put: a
 * reader may be reading through it right now). */
void hw_part_retire(struct hub_weight *f)
{
	f->hash_ok = false; /* it spoke of this part_fd's bytes */
	if (f->part_fd < 0)
		return;
	if (f->n_graveyard == sizeof(f->graveyard) / sizeof(f->graveyard[0])) {
		/* never more than a few resets; the oldest cannot be in use for long */
		close(f->graveyard[0]);
		memmove(&f->graveyard[0], &f->graveyard[1], (f->n_graveyard - 1) * sizeof(int));
		f->n_graveyard--;
	}
	f->graveyard[f->n_graveyard++] = f->part_fd;
	f->part_fd = -1;
}

/* f->lock held.  A thread is about to use part_fd with f->lock dropped
 * (a read, a far fetch, the holder's download). */
void hw_busy_enter(struct hub_weight *f)
{
	f->busy++;
}

/* f->lock held.  It is done: once no thread uses a part fd unlocked, the
 * retired ones are closed, so that the disk space of a removed N.part comes
 * back now rather than when the kernel forgets the inode. */
void hw_busy_leave(struct hub_weight *f)
{
	if (--f->busy == 0)
		graveyard_close(f);
}

/* f->lock held.  part_fd on the current N.part (created if `create`); a
 * new inode (another process reset the file) empties `have`. */
int hw_part_open(struct hub_weight *f, bool create)
{
	if (f->part_fd >= 0) {
		uint64_t id = hw_id_of_path(f->part_path);
		if (id == f->part_id)
			return 0;
		if (!create && id == 0)
			return 0; /* renamed into checkpoints/ or removed: keep reading the old one */
		hw_part_retire(f);
	}
	int fd = open(f->part_path, O_RDWR | O_CLOEXEC | O_NOFOLLOW | (create ? O_CREAT : 0), 0666);
	if (fd < 0 && create && errno == ENOENT) {
		hub_mkdir_p(f->w->dir);
		fd = open(f->part_path, O_RDWR | O_CLOEXEC | O_NOFOLLOW | O_CREAT, 0666);
	}
	if (fd < 0)
		return -errno;
	uint64_t id = hw_id_of_fd(fd);
	if (!id) {
		int rc = -errno;
		close(fd);
		return rc;
	}
	if (id != f->part_id && f->part_id) {
		hub_rset_clear(&f->have);
		f->hash_ok = false;
		f->dirty = false;
	}
	f->part_id = id;
	f->part_fd = fd;
	return 0;
}

/* f->lock held.  True when checkpoints/N exists (found once, then kept). */
bool hw_check_complete(struct hub_weight *f)
{
	if (f->complete)
		return true;
	struct stat st;
	if (lstat(f->ck_path, &st) == 0 && S_ISREG(st.st_mode)) {
		f->complete = true;
		f->size_known = true;
		f->size = (uint64_t)st.st_size;
		hw_wake(f);
	}
	return f->complete;
}

/* f->lock held: adopt the sidecar (size, ETag, a failed verification). */
void hw_adopt_sidecar(struct hub_weight *f)
{
	struct stamp s;
	hw_stamp_of(&s, f->head_path);
	if (hw_stamp_eq(&s, &f->head_seen))
		return;
	f->head_seen = s;
	struct sidecar sc;
	if (!s.exists || hw_sidecar_read(&sc, f->head_path))
		return;
	if (sc.size_known && (!f->size_known || f->size != sc.size || strcmp(f->etag, sc.etag))) {
		f->size_known = true;
		f->size = sc.size;
		snprintf(f->etag, sizeof(f->etag), "%s", sc.etag);
		f->head_done = true;
		hw_wake(f);
	}
	if (sc.bad[0] && real_now() < sc.bad_time + hw_tuning().bad_ttl_s) {
		/* another process discarded it: pages this mount served are void */
		if (!f->bad && f->w->on_discard)
			f->w->on_discard(f->w->on_discard_arg, f->key);
		f->bad = true;
		snprintf(f->bad_reason, sizeof(f->bad_reason), "%s", sc.bad);
		f->bad_until = sc.bad_time + hw_tuning().bad_ttl_s;
		hw_wake(f);
	}
	hw_sidecar_dispose(&sc);
}

/* f->lock held: merge what N.ranges claims for the current N.part. */
void hw_adopt_record(struct hub_weight *f, bool force)
{
	struct stamp s;
	hw_stamp_of(&s, f->rec_path);
	if (!force && hw_stamp_eq(&s, &f->rec_seen))
		return;
	f->rec_seen = s;
	if (!s.exists)
		return;
	struct record rec;
	hw_record_init(&rec);
	if (hw_record_read(&rec, f->rec_path) == 0) {
		if (!f->part_id)
			f->part_id = hw_id_of_path(f->part_path);
		if (hw_record_matches(f, &rec)) {
			if (f->size_known)
				hub_rset_clamp(&rec.r, f->size);
			uint64_t before = hub_rset_bytes(&f->have);
			hub_rset_union(&f->have, &rec.r);
			if (hub_rset_bytes(&f->have) != before) {
				f->progress_t = mono_now();
				hw_wake(f);
			}
		}
	}
	hub_rset_dispose(&rec.r);
}

/* f->lock held: the first use reads what is on disk (no network). */
void hw_load(struct hub_weight *f)
{
	if (f->loaded)
		return;
	f->loaded = true;
	if (hw_check_complete(f))
		return;
	hw_adopt_sidecar(f);
	f->part_id = hw_id_of_path(f->part_path);
	hw_adopt_record(f, true);
}
/* ---- the record writer ---- */

/* f->lock held (dropped inside).  Snapshot `have`, fdatasync N.part, then
 * write the record: it never claims a byte written after the sync. */
void hw_flush_record_final(struct hub_weight *f)
{
	/* A flush in progress (the flusher, in fdatasync) claims only its
	 * snapshot: wait for it, then record the rest.  Returning at once here
	 * left the bytes streamed during a slow fdatasync unrecorded when the
	 * download stopped (under disk load, up to megabytes), and a resume
	 * then counted on the holder's shared page for them. */
	while (f->flushing)
		pthread_cond_wait(&f->cond, &f->lock);
	hw_flush_record(f);
}

void hw_flush_record(struct hub_weight *f)
{
	if (f->head_dirty && !f->complete)
		hw_sidecar_write(f, NULL);
	if (!f->dirty || f->part_fd < 0 || f->flushing)
		return;
	struct hub_rset snap;
	hub_rset_init(&snap, HUB_WEIGHTS_RANGES_MAX);
	if (hub_rset_copy(&snap, &f->have)) {
		hub_rset_dispose(&snap);
		return;
	}
	f->dirty = false;
	f->flushing = true;
	f->flushed_t = mono_now();
	int fd = dup(f->part_fd);
	uint64_t id = f->part_id, size = f->size;
	bool size_known = f->size_known;
	char etag[HUB_HTTP_HEADER_MAX];
	snprintf(etag, sizeof(etag), "%s", f->etag);
	pthread_mutex_unlock(&f->lock);

	int rc = fd < 0 ? -errno : 0;
	if (!rc && fdatasync(fd))
		rc = -errno;
	if (fd >= 0)
		close(fd);
	if (!rc) {
		struct record rec;
		hw_record_init(&rec);
		if (hw_record_read(&rec, f->rec_path) == 0 && rec.id == id &&
		    rec.size_known == size_known && rec.size == size && !strcmp(rec.etag, etag))
			hub_rset_union(&snap, &rec.r);
		hub_rset_dispose(&rec.r);
		struct stat st;
		if (stat(f->ck_path, &st) == 0)
			rc = 0; /* completed meanwhile (by another process): no record */
		else
			rc = hw_record_write(f->rec_path, id, size_known, size, etag, &snap);
	}

	pthread_mutex_lock(&f->lock);
	f->flushing = false;
	hw_wake(f);
	if (rc) {
		f->dirty = true;
		hub_warn("weights: %s: cannot update %s: %s", f->name, f->rec_path, strerror(-rc));
	} else {
		hw_stamp_of(&f->rec_seen, f->rec_path);
		if (id == f->part_id) {
			/* what other processes recorded */
			uint64_t before = hub_rset_bytes(&f->have);
			hub_rset_union(&f->have, &snap);
			if (hub_rset_bytes(&f->have) != before)
				hw_wake(f);
		}
	}
	hub_rset_dispose(&snap);
}

/* f->lock held: remove N.ranges, first waiting for a record write in
 * progress (it would otherwise put the record back after us). */
void hw_record_remove(struct hub_weight *f)
{
	while (f->flushing)
		pthread_cond_wait(&f->cond, &f->lock);
	f->dirty = false;
	unlink(f->rec_path);
}

/* f->lock held, N.lock held (or the file given up).  N.part is removed,
 * its record first (a record never outlives its N.part); nothing of it
 * counts any more. */
void hw_part_remove(struct hub_weight *f)
{
	hw_record_remove(f);
	unlink(f->part_path);
	hw_part_retire(f);
	hub_rset_clear(&f->have);
}
/* ---- progress ---- */

/* f->lock held: count new bytes for the rate shown in the status. */
void hw_note_bytes(struct hub_weight *f, size_t n)
{
	double now = mono_now();
	f->progress_t = now;
	if (!f->rate_t0)
		f->rate_t0 = now;
	f->rate_bytes += n;
	if (now - f->rate_t0 >= 1.0) {
		f->rate = (double)f->rate_bytes / (now - f->rate_t0);
		f->rate_t = now;
		f->rate_t0 = now;
		f->rate_bytes = 0;
	}
}
/* ---- the flusher ---- */

/* Snapshot of the table, each file referenced (an eviction frees only
 * unreferenced files): the caller puts each. */
struct hub_weight **hw_all_files(struct hub_weights *w, size_t *n)
{
	size_t cap = 0, k = 0;
	struct hub_weight **v = NULL;
	pthread_mutex_lock(&w->lock);
	cap = w->table.n;
	v = malloc((cap ? cap : 1) * sizeof(*v));
	if (v) {
		HUB_HTAB_EACH(&w->table, l) {
			struct hub_weight *f = hub_container_of(l, struct hub_weight, link);
			__atomic_add_fetch(&f->refs, 1, __ATOMIC_ACQ_REL);
			v[k++] = f;
		}
	}
	pthread_mutex_unlock(&w->lock);
	*n = k;
	return v;
}

void hw_flush_all(struct hub_weights *w, bool force)
{
	size_t n;
	struct hub_weight **v = hw_all_files(w, &n);
	if (!v)
		return;
	double rec_s = hw_tuning().record_s;
	for (size_t i = 0; i < n; i++) {
		struct hub_weight *f = v[i];
		pthread_mutex_lock(&f->lock);
		if (f->head_dirty && !f->complete && !f->bad)
			hw_sidecar_write(f, NULL);
		if (force && f->dirty && f->part_fd >= 0)
			hw_flush_record_final(f);
		else if (f->dirty && f->part_fd >= 0 && mono_now() - f->flushed_t >= rec_s)
			hw_flush_record(f);
		else if (f->holder && f->part_fd >= 0)
			hw_adopt_record(f, false); /* what followers fetched */
		pthread_mutex_unlock(&f->lock);
		hw_put(f);
	}
	free(v);
}

void hw_unpin_idle(struct hub_weights *w)
{
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC_COARSE, &now);
	pthread_mutex_lock(&w->pin_lock);
	for (size_t i = 0; i < w->npins;) {
		if (w->pins[i].until_s <= (int64_t)now.tv_sec) {
			close(w->pins[i].fd);
			w->pins[i] = w->pins[--w->npins];
		} else {
			i++;
		}
	}
	pthread_mutex_unlock(&w->pin_lock);
	size_t n;
	struct hub_weight **v = hw_all_files(w, &n);
	if (!v)
		return;
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
	double pin_s = hw_tuning().pin_s;
	for (size_t i = 0; i < n; i++) {
		struct hub_weight *f = v[i];
		if (__atomic_load_n(&f->ck_fast, __ATOMIC_RELAXED) == 0 ||
		    (double)(ts.tv_sec - __atomic_load_n(&f->read_s, __ATOMIC_RELAXED)) < pin_s) {
			/* nothing pinned (or a slow path owns it), or read lately */
			hw_put(f);
			continue;
		}
		pthread_mutex_lock(&f->lock);
		if (f->ck_fd >= 0 && f->readers == 0) {
			/* Dekker with hub_weight_span's fast path: it counts itself
			 * in fast_users before it loads ck_fast */
			__atomic_store_n(&f->ck_fast, 0, __ATOMIC_SEQ_CST);
			if (__atomic_load_n(&f->fast_users, __ATOMIC_SEQ_CST) == 0) {
				close(f->ck_fd); /* the shared flock goes with it */
				f->ck_fd = -1;
				/* the download's descriptor of the same inode (N.part
				 * became N.data) goes too: else a file the quota evicts
				 * keeps its disk space until the kernel forgets the node */
				if (f->complete && f->part_fd >= 0 && !f->busy &&
				    !f->thread_running && !f->dirty && !f->flushing) {
					close(f->part_fd);
					f->part_fd = -1;
					graveyard_close(f);
				}
			} else {
				__atomic_store_n(&f->ck_fast, 1, __ATOMIC_SEQ_CST);
			}
		}
		pthread_mutex_unlock(&f->lock);
		hw_put(f);
	}
	free(v);
}

void *hw_flusher_main(void *arg)
{
	struct hub_weights *w = arg;
	pthread_mutex_lock(&w->lock);
	while (!stopping(w)) {
		struct timespec ts;
		double rec_s = hw_tuning().record_s;
		hw_abs_deadline(&ts, rec_s / 4 > 0.5 ? 0.5 : rec_s / 4);
		pthread_cond_timedwait(&w->flush_cond, &w->lock, &ts);
		if (stopping(w))
			break;
		pthread_mutex_unlock(&w->lock);
		hw_flush_all(w, false);
		hw_unpin_idle(w);
		pthread_mutex_lock(&w->lock);
	}
	pthread_mutex_unlock(&w->lock);
	return NULL;
}
