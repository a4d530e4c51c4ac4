/*
 * The blob LRU of a struct hub_cache: blobs read from the object database,
 * shared by reference count (hub_repo_blob_get / hub_blob_put), kept up to
 * HUB_BLOB_CACHE_BYTES.  A blob over a quarter of that is staged: inflated
 * once into an unlinked file under <root>/hubfs/tmp/ and mapped read-only,
 * so its bytes live in the page cache (evictable) and its reads need no
 * inflating; up to HUB_BLOB_STAGED_MAX staged blobs stay in the LRU (an
 * evicted one's disk space is freed with its last reference).  When staging
 * fails (disk full), the blob is served from the heap and not kept.
 *
 * Locks: cache->lock guards the LRU list, its table (cache->blobs), lru_bytes,
 * and is never held across I/O; a blob missing from the LRU is read under
 * the repository's odb_lock (not holding cache->lock), then inserted.
 * Reference counts are atomic.  Blobs are freed outside cache->lock.
 */
#include "cache/repo_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "base/files.h"
#include "base/limits.h"
#include "base/log.h"

static void blob_free(struct blob_ent *b)
{
	if (b->mapped)
		munmap((void *)b->pub.data, b->pub.size);
	else
		free((void *)b->pub.data);
	free(b);
}

/* Write size bytes of data to an unlinked file under <root>/hubfs/tmp/ and
 * map it: *out the mapping.  0 or -errno (the caller keeps data then). */
static int stage(const char **out, struct hub_cache *c, const char *data, size_t size)
{
	char dir[4096];
	if (snprintf(dir, sizeof(dir), "%s/hubfs/tmp", c->root) >= (int)sizeof(dir))
		return -ENAMETOOLONG;
	int rc = hub_mkdir_p(dir);
	if (rc)
		return rc;
	int fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	if (fd < 0) {
		/* no O_TMPFILE here: a named file, unlinked at once */
		char tmpl[4200];
		snprintf(tmpl, sizeof(tmpl), "%s/blob-XXXXXX", dir);
		fd = mkostemp(tmpl, O_CLOEXEC);
		if (fd < 0)
			return -errno;
		unlink(tmpl);
	}
	for (size_t done = 0; done < size;) {
		ssize_t k = write(fd, data + done, size - done);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0) {
			rc = k < 0 ? -errno : -EIO;
			close(fd);
			return rc;
		}
		done += (size_t)k;
	}
	void *map = mmap(NULL, size, PROT_READ, MAP_SHARED, fd, 0);
	rc = map == MAP_FAILED ? -errno : 0;
	close(fd);
	if (!rc)
		*out = map;
	return rc;
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
	if (b->mapped)
		c->lru_staged--;
	else
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
		const char *map;
		int src;
		if (size > HUB_BLOB_CACHE_BYTES / 4) {
			if ((src = stage(&map, c, data, size)) == 0) {
				free(data);
				b->pub.data = map;
				b->mapped = true;
			} else if (!__atomic_exchange_n(&c->stage_warned, true, __ATOMIC_RELAXED)) {
				hub_warn("a blob of %zu bytes cannot be staged under %s/hubfs/tmp (%s): "
					 "big files are inflated again per read (said once)",
					 size, c->root, strerror(-src));
			}
		}
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
		if (b->mapped || b->pub.size <= HUB_BLOB_CACHE_BYTES / 4) {
			__atomic_add_fetch(&b->refs, 1, __ATOMIC_RELAXED);
			b->in_lru = true;
			hub_htab_insert(&c->blobs, &b->link, oid_hash(oid));
			lru_push(c, b);
			if (b->mapped)
				c->lru_staged++;
			else
				c->lru_bytes += b->pub.size;
		}
		/* the oldest past either budget: heap bytes, staged blobs */
		for (struct blob_ent *v = c->lru_tail, *pv;
		     v && ndead < 16 &&
		     (c->lru_bytes > HUB_BLOB_CACHE_BYTES || c->lru_staged > HUB_BLOB_STAGED_MAX);
		     v = pv) {
			pv = v->prev;
			bool over = v->mapped ? c->lru_staged > HUB_BLOB_STAGED_MAX
					      : c->lru_bytes > HUB_BLOB_CACHE_BYTES;
			if (!over)
				continue;
			struct blob_ent *x = lru_evict(c, v);
			if (x)
				dead[ndead++] = x;
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
