/*
 * Sets of byte ranges (rset.h): a sorted array, binary search for the
 * first range touching an offset.  No lock, no shared state.
 */
#include "base/rset.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

void hub_rset_init(struct hub_rset *s, size_t max)
{
	memset(s, 0, sizeof(*s));
	s->max = max;
}

void hub_rset_dispose(struct hub_rset *s)
{
	size_t max = s->max;
	free(s->v);
	hub_rset_init(s, max);
}

void hub_rset_clear(struct hub_rset *s)
{
	s->n = 0;
}

/* index of the first range with b >= a (a range that touches or follows a) */
static size_t lower(const struct hub_rset *s, uint64_t a)
{
	size_t lo = 0, hi = s->n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (s->v[mid].b < a)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* Forget the smallest range (its bytes will be fetched again). */
static void drop_smallest(struct hub_rset *s)
{
	size_t k = 0;
	for (size_t i = 1; i < s->n; i++)
		if (s->v[i].b - s->v[i].a < s->v[k].b - s->v[k].a)
			k = i;
	memmove(&s->v[k], &s->v[k + 1], (s->n - k - 1) * sizeof(s->v[0]));
	s->n--;
}

int hub_rset_add(struct hub_rset *s, uint64_t a, uint64_t b)
{
	if (a >= b)
		return 0;
	size_t i = lower(s, a);
	size_t j = i;
	while (j < s->n && s->v[j].a <= b) {
		if (s->v[j].a < a)
			a = s->v[j].a;
		if (s->v[j].b > b)
			b = s->v[j].b;
		j++;
	}
	if (j > i) {
		/* merge [i, j) into one */
		s->v[i] = (struct hub_range){a, b};
		memmove(&s->v[i + 1], &s->v[j], (s->n - j) * sizeof(s->v[0]));
		s->n -= j - i - 1;
		return 0;
	}
	if (s->n == s->cap) {
		size_t nc = s->cap ? s->cap * 2 : 16;
		struct hub_range *nv = realloc(s->v, nc * sizeof(*nv));
		if (!nv)
			return -ENOMEM;
		s->v = nv;
		s->cap = nc;
	}
	memmove(&s->v[i + 1], &s->v[i], (s->n - i) * sizeof(s->v[0]));
	s->v[i] = (struct hub_range){a, b};
	s->n++;
	if (s->max && s->n > s->max)
		drop_smallest(s);
	return 0;
}

int hub_rset_union(struct hub_rset *dst, const struct hub_rset *src)
{
	for (size_t i = 0; i < src->n; i++) {
		int rc = hub_rset_add(dst, src->v[i].a, src->v[i].b);
		if (rc)
			return rc;
	}
	return 0;
}

int hub_rset_copy(struct hub_rset *dst, const struct hub_rset *src)
{
	hub_rset_clear(dst);
	return hub_rset_union(dst, src);
}

uint64_t hub_rset_first_missing(const struct hub_rset *s, uint64_t a, uint64_t b)
{
	size_t i = lower(s, a);
	if (i < s->n && s->v[i].a <= a)
		a = s->v[i].b;
	return a < b ? a : b;
}

bool hub_rset_covers(const struct hub_rset *s, uint64_t a, uint64_t b)
{
	return a >= b || hub_rset_first_missing(s, a, b) == b;
}

uint64_t hub_rset_next_start(const struct hub_rset *s, uint64_t a)
{
	size_t i = lower(s, a);
	while (i < s->n && s->v[i].a <= a)
		i++;
	return i < s->n ? s->v[i].a : UINT64_MAX;
}

uint64_t hub_rset_bytes(const struct hub_rset *s)
{
	uint64_t n = 0;
	for (size_t i = 0; i < s->n; i++)
		n += s->v[i].b - s->v[i].a;
	return n;
}

uint64_t hub_rset_prefix(const struct hub_rset *s)
{
	return s->n && s->v[0].a == 0 ? s->v[0].b : 0;
}

void hub_rset_clamp(struct hub_rset *s, uint64_t size)
{
	while (s->n && s->v[s->n - 1].a >= size)
		s->n--;
	if (s->n && s->v[s->n - 1].b > size)
		s->v[s->n - 1].b = size;
}
