/*
 * The blob LRU of a struct hub_cache: blobs read from the object database,
 * shared by reference count (hub_repo_blob_get / hub_blob_put), kept up to
 * HUB_BLOB_CACHE_BYTES (blobs over a quarter of that are not kept).
 *
 * Locks: cache->lock guards the LRU list, the hash buckets and lru_bytes,
 * and is never held across I/O; a blob missing from the LRU is read under
 * the repository's odb_lock (not holding cache->lock), then inserted.
 * Reference counts are atomic.  Blobs are freed outside cache->lock.
 */
#include "cache/repo_internal.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "base/limits.h"

static void blob_free(struct blob_ent *b)
{
	free((void *)b->pub.data);
	free(b);
}

void hub_blobs_clear(struct hub_cache *c)
{
	for (struct blob_ent *b = c->lru_head, *nx; b; b = nx) {
		nx = b->next;
		blob_free(b);
	}
}

/* An object id is a SHA-1 (or -256): its first bytes are as good a hash as any. */
static uint64_t oid_hash(const struct hub_oid *oid)
{
	uint64_t h;
	memcpy(&h, oid->id, sizeof(h));
	return h;
}

/* The LRU's entry for oid; cache->lock held. */
static struct blob_ent *blob_find(struct hub_cache *c, const struct hub_oid *oid)
{
	uint64_t h = oid_hash(oid);
	for (struct hub_hnode *l = hub_htab_first(&c->blobs, h); l; l = hub_htab_next(l, h)) {
		struct blob_ent *b = hub_container_of(l, struct blob_ent, link);
		if (!memcmp(b->oid.id, oid->id, 20))
			return b;
	}
	return NULL;
}

/* cache->lock held. */
static void lru_unlink(struct hub_cache *c, struct blob_ent *b)
{
	if (b->prev)
		b->prev->next = b->next;
	else
		c->lru_head = b->next;
	if (b->next)
		b->next->prev = b->prev;
	else
		c->lru_tail = b->prev;
	b->prev = b->next = NULL;
}

static void lru_push(struct hub_cache *c, struct blob_ent *b)
{
	b->next = c->lru_head;
	b->prev = NULL;
	if (c->lru_head)
		c->lru_head->prev = b;
	c->lru_head = b;
	if (!c->lru_tail)
		c->lru_tail = b;
}

/* Drop the LRU's reference to b; cache->lock held.  Returns b if it must be
 * freed by the caller (after unlocking). */
static struct blob_ent *lru_evict(struct hub_cache *c, struct blob_ent *b)
{
	lru_unlink(c, b);
	hub_htab_remove(&c->blobs, &b->link);
	b->in_lru = false;
	c->lru_bytes -= b->pub.size;
	return __atomic_sub_fetch(&b->refs, 1, __ATOMIC_ACQ_REL) == 0 ? b : NULL;
}

int hub_repo_blob_get(struct hub_blob **out, struct hub_repo *r, const struct hub_oid *oid)
{
	struct hub_cache *c = r->cache;
	*out = NULL;
	pthread_mutex_lock(&c->lock);
	struct blob_ent *hit = blob_find(c, oid);
	if (hit) {
		__atomic_add_fetch(&hit->refs, 1, __ATOMIC_RELAXED);
		lru_unlink(c, hit);
		lru_push(c, hit);
		pthread_mutex_unlock(&c->lock);
		*out = &hit->pub;
		return 0;
	}
	pthread_mutex_unlock(&c->lock);

	pthread_mutex_lock(&r->odb_lock);
	char *data = NULL;
	size_t size = 0;
	int rc = hub_repo_odb_open_locked(r);
	if (!rc)
		rc = hub_odb_blob_read(&data, &size, r->odb, oid);
	pthread_mutex_unlock(&r->odb_lock);
	struct blob_ent *b = NULL;
	if (!rc && !(b = calloc(1, sizeof(*b)))) {
		free(data);
		rc = -ENOMEM;
	}
	if (!rc) {
		b->pub.data = data;
		b->pub.size = size;
		b->oid = *oid;
		b->refs = 1;
	}
	if (rc)
		return rc;

	/* Insert unless another thread did meanwhile; evict to the budget. */
	struct blob_ent *dead[16];
	size_t ndead = 0;
	pthread_mutex_lock(&c->lock);
	struct blob_ent *other = blob_find(c, oid);
	if (other) {
		__atomic_add_fetch(&other->refs, 1, __ATOMIC_RELAXED);
		*out = &other->pub;
		dead[ndead++] = b;
	} else {
		*out = &b->pub;
		if (b->pub.size <= HUB_BLOB_CACHE_BYTES / 4) {
			__atomic_add_fetch(&b->refs, 1, __ATOMIC_RELAXED);
			b->in_lru = true;
			hub_htab_insert(&c->blobs, &b->link, oid_hash(oid));
			lru_push(c, b);
			c->lru_bytes += b->pub.size;
		}
		while (c->lru_bytes > HUB_BLOB_CACHE_BYTES && c->lru_tail && ndead < 16) {
			struct blob_ent *v = lru_evict(c, c->lru_tail);
			if (v)
				dead[ndead++] = v;
		}
	}
	pthread_mutex_unlock(&c->lock);
	for (size_t i = 0; i < ndead; i++)
		blob_free(dead[i]);
	return 0;
}

void hub_blob_put(struct hub_blob *pub)
{
	if (!pub)
		return;
	struct blob_ent *b = (struct blob_ent *)pub;
	/* The LRU holds a reference while the blob is listed, so reaching 0
	 * here means it is no longer reachable from the cache. */
	if (__atomic_sub_fetch(&b->refs, 1, __ATOMIC_ACQ_REL) == 0)
		blob_free(b);
}
