/*
 * Weights: far reads, and the lookup's first bytes.  A read starting more
 * than far_bytes beyond the sequential stream fetches its own range with a
 * Range request into N.part (in-flight ranges are listed so that two readers
 * do not fetch the same one).  The lookup of a file of unknown size GETs its
 * first head_bytes into N.part the same way (hw_head_fetch): the response
 * gives the size, and the first read finds its bytes on disk.  Locks: called
 * with f->lock held, dropped across the request; the sink takes it per piece.
 */
#include "cache/weights_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"

/* ---- far reads ---- */

struct far {
	struct hub_weight *f;
	int fd;
	bool meta_seen;            /* hw_head_fetch: the response's header */
	struct hub_http_meta meta;
};

static int far_sink(void *ctx, uint64_t off, const char *data, size_t len)
{
	struct far *c = ctx;
	struct hub_weight *f = c->f;
	if (stopping(f->w))
		return -ECANCELED;
	pthread_mutex_lock(&f->lock);
	bool present = hub_rset_covers(&f->have, off, off + len);
	pthread_mutex_unlock(&f->lock);
	if (present)
		return 0;
	int rc = pwrite_full(c->fd, data, len, off);
	if (rc)
		return rc;
	pthread_mutex_lock(&f->lock);
	hub_rset_add(&f->have, off, off + len);
	f->dirty = true;
	hw_note_bytes(f, len);
	hw_wake(f);
	pthread_mutex_unlock(&f->lock);
	return 0;
}

bool hw_inflight_covers(const struct hub_weight *f, uint64_t off)
{
	for (size_t i = 0; i < f->inflight.n; i++)
		if (f->inflight.v[i].a <= off && off < f->inflight.v[i].b)
			return true;
	return false;
}

static void inflight_remove(struct hub_weight *f, uint64_t a, uint64_t b)
{
	for (size_t i = 0; i < f->inflight.n; i++) {
		if (f->inflight.v[i].a == a && f->inflight.v[i].b == b) {
			memmove(&f->inflight.v[i], &f->inflight.v[i + 1],
				(f->inflight.n - i - 1) * sizeof(f->inflight.v[0]));
			f->inflight.n--;
			return;
		}
	}
}

/* f->lock held (dropped across the request).  Fetch [a, ...) for a read
 * far ahead of the sequential download. */
int hw_far_fetch(struct hub_weight *f, uint64_t a, uint64_t end,
		     const struct hub_weights_tuning *t)
{
	uint64_t chunk = t->range_min;
	if (a == f->far_end && f->far_chunk) {
		chunk = f->far_chunk * 2;
		if (chunk > t->range_max)
			chunk = t->range_max;
	}
	uint64_t b = a + chunk > end ? a + chunk : end;
	if (b > f->size)
		b = f->size;
	uint64_t nx = hub_rset_next_start(&f->have, a);
	if (nx < b)
		b = nx;
	for (size_t i = 0; i < f->inflight.n; i++)
		if (f->inflight.v[i].a > a && f->inflight.v[i].a < b)
			b = f->inflight.v[i].a;
	int rc = hw_part_open(f, true);
	if (rc)
		return rc;
	/* the in-flight list is not merged: append */
	if (f->inflight.n == f->inflight.cap) {
		size_t nc = f->inflight.cap ? f->inflight.cap * 2 : 8;
		struct hub_range *nv = realloc(f->inflight.v, nc * sizeof(*nv));
		if (!nv)
			return -ENOMEM;
		f->inflight.v = nv;
		f->inflight.cap = nc;
	}
	f->inflight.v[f->inflight.n++] = (struct hub_range){a, b};
	f->far_end = b;
	f->far_chunk = chunk;
	struct far c = {.f = f, .fd = f->part_fd};
	char etag[HUB_HTTP_HEADER_MAX];
	snprintf(etag, sizeof(etag), "%s", f->etag);
	struct hub_http_get g = {
		.url = f->fetch_url,
		.off = a,
		.end = b,
		.size_known = true,
		.size = f->size,
		.etag = etag,
		.sink = far_sink,
		.ctx = &c,
	};
	hub_debug("weights: %s: far read, fetching %llu-%llu", f->name, (unsigned long long)a,
		  (unsigned long long)b);
	hw_busy_enter(f);
	pthread_mutex_unlock(&f->lock);
	rc = hub_http_get(NULL, f->w->http, &g);
	pthread_mutex_lock(&f->lock);
	hw_busy_leave(f);
	inflight_remove(f, a, b);
	hw_wake(f);
	if (rc == -ESTALE)
		rc = -EIO; /* the downloader starts over; this read fails */
	return rc;
}


/* ---- the lookup's first bytes ---- */

static int head_meta(void *ctx, const struct hub_http_meta *m)
{
	struct far *c = ctx;
	/* the size and ETag of the response whose bytes the sink writes */
	c->meta = *m;
	c->meta_seen = true;
	return 0;
}

int hw_head_fetch(struct hub_http_meta *out, struct hub_weight *f, uint64_t n)
{
	memset(out, 0, sizeof(*out));
	double t0 = mono_now();
	int rc = hw_part_open(f, true);
	if (rc)
		return rc;
	double t1 = mono_now();
	struct far *c = calloc(1, sizeof(*c)); /* holds a meta: not on the stack */
	if (!c)
		return -ENOMEM;
	c->f = f;
	c->fd = f->part_fd;
	struct hub_http_get g = {
		.url = f->fetch_url,
		.off = 0,
		.end = n,
		.sink = far_sink,
		.meta = head_meta,
		.ctx = c,
	};
	hw_busy_enter(f);
	pthread_mutex_unlock(&f->lock);
	double t2 = mono_now();
	rc = hub_http_get(out, f->w->http, &g);
	hub_debug("weights: %s: size: N.part open in %.3f ms, GET of the first %llu bytes in %.3f ms",
		  f->name, (t1 - t0) * 1e3, (unsigned long long)n, (mono_now() - t2) * 1e3);
	pthread_mutex_lock(&f->lock);
	hw_busy_leave(f);
	if (rc == 0 && c->meta_seen) {
		/* the size as the response said it (out has the last response's) */
		out->size_known = c->meta.size_known;
		out->size = c->meta.size;
		snprintf(out->etag, sizeof(out->etag), "%s", c->meta.etag);
	}
	free(c);
	hw_wake(f);
	return rc;
}
