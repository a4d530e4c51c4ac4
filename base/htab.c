/*
 * The one hash table (htab.h).  Buckets are picked by Fibonacci hashing
 * (the top bits of hash * 2^64/phi), so callers' hashes need not be mixed
 * (sequential inode numbers spread as well as FNV values).  No locks.
 */
#include "base/htab.h"

#include <errno.h>
#include <stdlib.h>

static size_t bucket(const struct hub_htab *t, uint64_t hash)
{
	return (size_t)((hash * 11400714819323198485ull) >> t->shift);
}

static unsigned shift_for(size_t nb)
{
	unsigned bits = 0;
	while (((size_t)1 << bits) < nb)
		bits++;
	return 64 - bits;
}

int hub_htab_init(struct hub_htab *t, size_t nbuckets, size_t max_nb)
{
	size_t nb = 2;
	while (nb < nbuckets)
		nb *= 2;
	t->b = calloc(nb, sizeof(*t->b));
	if (!t->b)
		return -ENOMEM;
	t->nb = nb;
	t->n = 0;
	t->max_nb = max_nb;
	t->shift = shift_for(nb);
	return 0;
}

void hub_htab_fini(struct hub_htab *t)
{
	free(t->b);
	t->b = NULL;
	t->nb = t->n = 0;
}

static void grow(struct hub_htab *t)
{
	size_t nb = t->nb * 2;
	struct hub_hnode **b = calloc(nb, sizeof(*b));
	if (!b)
		return;
	struct hub_htab old = *t;
	t->b = b;
	t->nb = nb;
	t->shift = shift_for(nb);
	for (size_t i = 0; i < old.nb; i++) {
		for (struct hub_hnode *n = old.b[i], *nx; n; n = nx) {
			nx = n->next;
			size_t k = bucket(t, n->hash);
			n->next = t->b[k];
			t->b[k] = n;
		}
	}
	free(old.b);
}

void hub_htab_insert(struct hub_htab *t, struct hub_hnode *n, uint64_t hash)
{
	if (t->n >= t->nb && (!t->max_nb || t->nb < t->max_nb))
		grow(t);
	size_t k = bucket(t, hash);
	n->hash = hash;
	n->next = t->b[k];
	t->b[k] = n;
	t->n++;
}

void hub_htab_remove(struct hub_htab *t, struct hub_hnode *n)
{
	struct hub_hnode **pp = &t->b[bucket(t, n->hash)];
	while (*pp && *pp != n)
		pp = &(*pp)->next;
	if (*pp) {
		*pp = n->next;
		n->next = NULL;
		t->n--;
	}
}

struct hub_hnode *hub_htab_first(const struct hub_htab *t, uint64_t hash)
{
	struct hub_hnode *n = t->b[bucket(t, hash)];
	while (n && n->hash != hash)
		n = n->next;
	return n;
}

struct hub_hnode *hub_htab_next(const struct hub_hnode *n, uint64_t hash)
{
	struct hub_hnode *x = n->next;
	while (x && x->hash != hash)
		x = x->next;
	return x;
}
