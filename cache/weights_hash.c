/*
 * Weights: the download's sha256 on a second thread, fed from the
 * downloader's own buffers (no read-back of N.part).
 *
 * The downloader thread (weights_dl.c, seq_sink) copies the bytes it writes,
 * in file order, into a ring of HUB_WEIGHTS_HASH_BUFS buffers of
 * HUB_WEIGHTS_HASH_BUF bytes; a full buffer is handed to the hasher thread,
 * which hashes it into d->sha while the downloader fills the next one, and
 * gives it back.  When every buffer is handed over the downloader waits for
 * one (the memory stays bounded, the hash never falls more than the ring
 * behind).  Before anyone else touches d->sha (a read-back of bytes the
 * stream did not write, the final digest, a restart, the end of the
 * download) the downloader calls hw_hash_drain: the partial buffer is handed
 * over and the ring emptied, so d->sha covers exactly [0, d->hashed).
 *
 * The ring is made at the first byte fed, the thread at the first full
 * buffer: a file smaller than one buffer is hashed by the downloader itself
 * at the drain (no thread).  Without memory or a thread, the downloader
 * hashes inline (correct, only slower).
 *
 * Locks: hz->lock guards queued, first and quit; hz->cond is broadcast on
 * every change of them.  A buffer that is queued belongs to the hasher, the
 * one being filled (hz->fill) to the downloader.  d->sha belongs to the
 * hasher while a buffer is queued, to the downloader once queued == 0 (seen
 * under hz->lock).  No other lock is taken here (f->lock may be held by the
 * caller of hw_hash_drain: the wait is for at most the ring's bytes to be
 * hashed, about a millisecond).
 */
#include "cache/weights_internal.h"

#include <stdlib.h>
#include <string.h>

#include "base/log.h"

struct hw_hasher {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	pthread_t thread;
	struct hub_sha256 *sha; /* &d->sha */
	unsigned first;         /* hz->lock: oldest queued buffer */
	unsigned queued;        /* hz->lock: buffers handed to the hasher */
	bool quit;              /* hz->lock: the hasher exits */
	bool running;           /* downloader: the thread was started */
	bool no_thread;         /* downloader: it could not be: hash inline */
	unsigned fill;          /* downloader: the buffer it fills */
	size_t fill_len;        /* downloader: bytes in it */
	size_t len[HUB_WEIGHTS_HASH_BUFS]; /* set before a buffer is queued */
	double waited;          /* downloader: seconds it waited for a buffer */
	char *buf[HUB_WEIGHTS_HASH_BUFS];
};

static void *hasher_main(void *arg)
{
	struct hw_hasher *hz = arg;
	pthread_mutex_lock(&hz->lock);
	for (;;) {
		while (!hz->queued && !hz->quit)
			pthread_cond_wait(&hz->cond, &hz->lock);
		if (hz->quit)
			break;
		unsigned i = hz->first;
		pthread_mutex_unlock(&hz->lock);
		hub_sha256_update(hz->sha, hz->buf[i], hz->len[i]);
		pthread_mutex_lock(&hz->lock);
		hz->first = (hz->first + 1) % HUB_WEIGHTS_HASH_BUFS;
		hz->queued--;
		pthread_cond_broadcast(&hz->cond);
	}
	pthread_mutex_unlock(&hz->lock);
	return NULL;
}

static void hasher_free(struct hw_hasher *hz)
{
	for (unsigned i = 0; i < HUB_WEIGHTS_HASH_BUFS; i++)
		free(hz->buf[i]);
	free(hz);
}

/* The ring, at the first byte fed (its pages are touched only as they
 * fill: a small file costs what it writes).  false: hash inline. */
static bool ring_make(struct dl *d)
{
	if (d->hz)
		return true;
	if (d->hz_failed)
		return false;
	struct hw_hasher *hz = calloc(1, sizeof(*hz));
	bool ok = hz != NULL;
	for (unsigned i = 0; ok && i < HUB_WEIGHTS_HASH_BUFS; i++)
		ok = (hz->buf[i] = malloc(HUB_WEIGHTS_HASH_BUF)) != NULL;
	if (!ok) {
		hub_warn("weights: %s: no memory for the hash ring: hashing inline", d->f->name);
		if (hz)
			hasher_free(hz);
		d->hz_failed = true;
		return false;
	}
	hz->sha = &d->sha;
	pthread_mutex_init(&hz->lock, NULL);
	pthread_cond_init(&hz->cond, NULL);
	d->hz = hz;
	return true;
}

/* The downloader: hand the buffer it filled to the hasher (started at the
 * first one).  Without a thread, the buffer is hashed here. */
static void hand_over(struct dl *d, struct hw_hasher *hz)
{
	if (!hz->running && !hz->no_thread) {
		int rc = pthread_create(&hz->thread, NULL, hasher_main, hz);
		if (rc) {
			hub_warn("weights: %s: no hasher thread (%s): hashing inline", d->f->name,
				 strerror(rc));
			hz->no_thread = true;
		} else {
			hz->running = true;
		}
	}
	if (!hz->running) {
		hub_sha256_update(&d->sha, hz->buf[hz->fill], hz->fill_len);
		hz->fill_len = 0;
		return;
	}
	hz->len[hz->fill] = hz->fill_len;
	pthread_mutex_lock(&hz->lock);
	hz->queued++;
	pthread_cond_broadcast(&hz->cond);
	pthread_mutex_unlock(&hz->lock);
	hz->fill = (hz->fill + 1) % HUB_WEIGHTS_HASH_BUFS;
	hz->fill_len = 0;
}

/* The downloader: wait until the hasher has no more than `most` buffers. */
static void wait_queued(struct hw_hasher *hz, unsigned most)
{
	pthread_mutex_lock(&hz->lock);
	if (hz->queued > most) {
		double t0 = mono_now();
		while (hz->queued > most)
			pthread_cond_wait(&hz->cond, &hz->lock);
		hz->waited += mono_now() - t0;
	}
	pthread_mutex_unlock(&hz->lock);
}

void hw_hash_feed(struct dl *d, const char *p, size_t n)
{
	if (!ring_make(d)) {
		hub_sha256_update(&d->sha, p, n);
		return;
	}
	struct hw_hasher *hz = d->hz;
	while (n) {
		if (hz->fill_len == 0 && hz->running)
			wait_queued(hz, HUB_WEIGHTS_HASH_BUFS - 1); /* hz->fill is free */
		size_t k = HUB_WEIGHTS_HASH_BUF - hz->fill_len;
		if (k > n)
			k = n;
		memcpy(hz->buf[hz->fill] + hz->fill_len, p, k);
		hz->fill_len += k;
		p += k;
		n -= k;
		if (hz->fill_len == HUB_WEIGHTS_HASH_BUF)
			hand_over(d, hz);
	}
}

void hw_hash_drain(struct dl *d)
{
	struct hw_hasher *hz = d->hz;
	if (!hz)
		return;
	if (hz->fill_len)
		hand_over(d, hz);
	if (hz->running)
		wait_queued(hz, 0);
}

void hw_hash_stop(struct dl *d)
{
	struct hw_hasher *hz = d->hz;
	if (!hz)
		return;
	if (hz->running) {
		pthread_mutex_lock(&hz->lock);
		hz->quit = true;
		pthread_cond_broadcast(&hz->cond);
		pthread_mutex_unlock(&hz->lock);
		pthread_join(hz->thread, NULL);
	}
	if (hz->waited > 0.001)
		hub_debug("weights: %s: sha256: the download waited %.3f s for the hasher",
			  d->f->name, hz->waited);
	pthread_mutex_destroy(&hz->lock);
	pthread_cond_destroy(&hz->cond);
	hasher_free(hz);
	d->hz = NULL;
}
