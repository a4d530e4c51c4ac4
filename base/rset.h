/*
 * Sets of byte ranges [a, b): sorted, disjoint, never adjacent (adding a
 * range merges it with every range it overlaps or touches).  Pure data, no
 * I/O, no lock: the caller serializes.  The fields are readable (v[0..n)
 * in order); change them only through these functions.
 *
 * A set may be bounded (max ranges): when an add would leave more than max
 * ranges, the smallest range is forgotten (its bytes counted as missing
 * again), so that a pathological pattern of far reads cannot grow a set,
 * or the record written from it, without bound.
 */
#ifndef HUB_BASE_RSET_H
#define HUB_BASE_RSET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct hub_range {
	uint64_t a, b; /* [a, b) */
};

struct hub_rset {
	struct hub_range *v;
	size_t n, cap;
	size_t max; /* 0: unbounded */
};

/* An empty set holding at most max ranges (0: unbounded).  A zeroed struct
 * is an empty unbounded set. */
void hub_rset_init(struct hub_rset *s, size_t max);
/* Frees the ranges; s is then empty (and keeps its bound). */
void hub_rset_dispose(struct hub_rset *s);
void hub_rset_clear(struct hub_rset *s);
/* Add [a, b) (nothing when a >= b): 0 or -ENOMEM (s unchanged). */
int hub_rset_add(struct hub_rset *s, uint64_t a, uint64_t b);
/* dst |= src: 0 or -ENOMEM (dst then holds part of src). */
int hub_rset_union(struct hub_rset *dst, const struct hub_rset *src);
/* dst = src (within dst's bound): 0 or -ENOMEM. */
int hub_rset_copy(struct hub_rset *dst, const struct hub_rset *src);
/* First offset in [a, b) not covered; b if all of it is. */
uint64_t hub_rset_first_missing(const struct hub_rset *s, uint64_t a, uint64_t b);
/* Is all of [a, b) covered?  (true when a >= b) */
bool hub_rset_covers(const struct hub_rset *s, uint64_t a, uint64_t b);
/* Start of the first range beginning after a; UINT64_MAX if none. */
uint64_t hub_rset_next_start(const struct hub_rset *s, uint64_t a);
/* Bytes covered. */
uint64_t hub_rset_bytes(const struct hub_rset *s);
/* End of the range that starts at 0 (the contiguous prefix); 0 if none. */
uint64_t hub_rset_prefix(const struct hub_rset *s);
/* Remove everything at or beyond size. */
void hub_rset_clamp(struct hub_rset *s, uint64_t size);

#endif
