/*
 * The one hash table: intrusive, chained, growing.  A member struct
 * hub_hnode in each element links it; the element's hash (the caller's: a
 * base/strhash.h value, an inode number mixed, an object id's first bytes)
 * is kept in the link, so growing never calls back, and a lookup compares
 * keys only where hashes are equal:
 *
 *   for (struct hub_hnode *l = hub_htab_first(&t, h); l; l = hub_htab_next(l, h)) {
 *           struct thing *x = hub_container_of(l, struct thing, link);
 *           if (key_equal(x, key)) return x;
 *   }
 *
 * No locks: the owner's lock guards its table (each user says which).  An
 * element may be in several tables through several links (fs/ns.c's nodes:
 * by inode number and by parent and name).
 */
#ifndef HUBFS_BASE_HTAB_H
#define HUBFS_BASE_HTAB_H

#include <stddef.h>
#include <stdint.h>

#define hub_container_of(ptr, type, member) ((type *)((char *)(ptr) - offsetof(type, member)))

struct hub_hnode {
	struct hub_hnode *next;
	uint64_t hash;
};

struct hub_htab {
	struct hub_hnode **b;
	size_t nb; /* buckets, a power of two */
	size_t n;  /* elements */
	size_t max_nb; /* growth stops there (0: no bound) */
	unsigned shift; /* 64 - log2(nb): a bucket is the top bits of hash * phi */
};

/* An empty table of nbuckets (rounded up to a power of two) buckets that
 * doubles when it holds more elements than buckets, up to max_nb buckets
 * (0: no bound).  0 or -ENOMEM. */
int hub_htab_init(struct hub_htab *t, size_t nbuckets, size_t max_nb);
/* Frees the buckets, not the elements. */
void hub_htab_fini(struct hub_htab *t);
/* Link n with hash.  Never fails: when doubling finds no memory the table
 * stays as it is (longer chains, still correct). */
void hub_htab_insert(struct hub_htab *t, struct hub_hnode *n, uint64_t hash);
/* Unlink n, which must be in t. */
void hub_htab_remove(struct hub_htab *t, struct hub_hnode *n);
/* The first (then next) linked element whose hash is hash, or NULL. */
struct hub_hnode *hub_htab_first(const struct hub_htab *t, uint64_t hash);
struct hub_hnode *hub_htab_next(const struct hub_hnode *n, uint64_t hash);
/* Every element, in no order; the element l may be unlinked (or freed)
 * inside the loop body:
 *   HUB_HTAB_EACH(&t, l) { struct thing *x = hub_container_of(l, ...); }  */
#define HUB_HTAB_EACH(t, l)                                                               \
	for (size_t hub_i_ = 0; hub_i_ < (t)->nb; hub_i_++)                                  \
		for (struct hub_hnode *l = (t)->b[hub_i_], *hub_nx_;                            \
		     l && (hub_nx_ = l->next, 1); l = hub_nx_)

#endif
