/*
 * Directory listings of the namespace core (hub_ns_list, fs/ns.h).
 *
 * OPENDIR answers ENOSYS (fs/ops.c: the kernel then caches listings and
 * sends no OPENDIR per directory, which the warm walk of a tree pays for),
 * so readdir has no handle: each entry carries a cookie, the offset that
 * continues after it, and a call returns the entries whose cookies are
 * greater than its offset, in cookie order.  Immutable directories (commit
 * trees, .hub/, /.hubfs) number their entries (the cookie is the index + 1)
 * and are listed per call, commit trees from their cached listing without
 * copying names.  The root and owner directories change while they are
 * listed (repositories enter the cache): a listing that starts at offset 0
 * takes a snapshot, kept in a small ring (ns->snaps), and its cookies carry
 * the snapshot's generation, so the calls that continue the listing are
 * served from the same snapshot: one listing is the directory at one
 * moment, nothing skipped, repeated or added halfway (snap_listing).  The
 * rest of the cookie is a hash of the name, and entries are listed in that
 * order, so a listing whose snapshot left the ring still returns an entry
 * present throughout exactly once.
 * Locks: ns->snap_lock (a leaf) guards the ring; snapshots are reference
 * counted (the ring's, each list's), so one leaving the ring is freed after
 * the last list pointing into it.  ns->lock for readdirplus nodes only.
 */
#include "fs/ns_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/limits.h"
#include "base/names.h"
#include "base/strhash.h"
#include "fs/view.h"

struct snap_ent {
	uint64_t cookie; /* the offset that continues after this entry */
	const char *name;
	bool owned; /* name is a copy (else it points into a listing or view) */
	enum hub_ns_type type;
	const struct hub_tree_entry *te; /* tree dirs: nodes for readdirplus */
	const struct hub_view *view;
};

struct hub_ns_snap {
	struct snap_ent *e;
	size_t n, cap;
	struct hub_ns_node *dir; /* valid while the call that built it runs */
	uint64_t ino;            /* the directory's (kept listings: ns->snaps) */
	uint64_t gen;            /* kept listings: the generation in their cookies */
	uint64_t used;           /* ns->snap_lock: ns->snap_tick at the last call */
	bool done;               /* __atomic: a call returned its last entry */
	int refs;                /* __atomic: the ring's, and each list's */
};

static int snap_add_ref(struct hub_ns_snap *s, const char *name, enum hub_ns_type type, bool copy)
{
	if (s->n == s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 32;
		if (cap > HUB_DIR_ENTRIES_MAX)
			return -EFBIG;
		struct snap_ent *e = realloc(s->e, cap * sizeof(*e));
		if (!e)
			return -ENOMEM;
		s->e = e;
		s->cap = cap;
	}
	struct snap_ent *d = &s->e[s->n];
	memset(d, 0, sizeof(*d));
	d->name = copy ? strdup(name) : name;
	if (!d->name)
		return -ENOMEM;
	d->owned = copy;
	d->type = type;
	s->n++;
	return 0;
}

static int snap_add(struct hub_ns_snap *s, const char *name, enum hub_ns_type type)
{
	return snap_add_ref(s, name, type, true);
}

static void snap_free(struct hub_ns_snap *s)
{
	if (s && __atomic_sub_fetch(&s->refs, 1, __ATOMIC_ACQ_REL) > 0)
		return; /* still kept in ns->snaps, or used by a list */
	for (size_t i = 0; s && i < s->n; i++)
		if (s->e[i].owned)
			free((char *)s->e[i].name);
	if (s)
		free(s->e);
	free(s);
}

static int snap_owner(struct hub_ns_snap *s, struct hub_ns *ns, const char *owner)
{
	struct hub_cached_repo *repos;
	size_t n;
	int rc = hub_cache_list_repos(&repos, &n, ns->cache, owner);
	for (size_t i = 0; !rc && i < n; i++) {
		char name[HUB_REPO_MAX + 3 * HUB_REF_MAX + 8], enc[3 * HUB_REF_MAX + 1];
		if (repos[i].head)
			rc = snap_add(s, repos[i].name, N_REPO_LINK);
		for (size_t j = 0; !rc && j < repos[i].n_refs; j++) {
			if (hub_name_encode_ref(enc, sizeof(enc), repos[i].refs[j].ref) < 0)
				continue;
			snprintf(name, sizeof(name), "%s:%s", repos[i].name, enc);
			rc = snap_add(s, name, N_REF_LINK);
		}
		for (size_t j = 0; !rc && j < repos[i].n_commits; j++) {
			snprintf(name, sizeof(name), "%s@%s", repos[i].name, repos[i].commits[j]);
			rc = snap_add(s, name, N_COMMIT);
		}
	}
	hub_cache_repos_free(repos, n);
	return rc;
}

static enum hub_ns_type view_type(const struct hub_view *v)
{
	return v->dir ? N_VIEW_DIR : v->url ? N_WEIGHT : N_VIEW_FILE;
}

/* The entries of directory d, from offset 0. */
static int snap_build(struct hub_ns_snap **out, struct hub_ns *ns, struct hub_ns_node *d)
{
	*out = NULL;
	struct hub_ns_snap *s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->dir = d;
	s->ino = d->ino;
	s->refs = 1;
	int rc = snap_add_ref(s, ".", N_TREE, false);
	if (!rc)
		rc = snap_add_ref(s, "..", N_TREE, false);
	switch (d->type) {
	case N_ROOT: {
		char **owners;
		size_t n;
		if (!rc)
			rc = snap_add_ref(s, ".hubfs", N_CTL_DIR, false);
		if (!rc && !(rc = hub_cache_list_owners(&owners, &n, ns->cache))) {
			for (size_t i = 0; i < n; i++) {
				if (!rc)
					rc = snap_add(s, owners[i], N_OWNER);
				free(owners[i]);
			}
			free(owners);
		}
		break;
	}
	case N_CTL_DIR:
		for (size_t i = 0; !rc && i < hub_ns_ctl_count; i++)
			rc = snap_add_ref(s, hub_ns_ctl_names[i], N_CTL_FILE, false);
		if (!rc)
			rc = snap_add_ref(s, "url", N_URL_DIR, false);
		if (!rc)
			rc = snap_add_ref(s, "resolve", N_RESOLVE_DIR, false);
		break;
	case N_URL_DIR:
	case N_RESOLVE_DIR:
		break;
	case N_OWNER:
		if (!rc)
			rc = snap_owner(s, ns, d->name);
		break;
	case N_COMMIT:
	case N_TREE: {
		struct hub_ns_tree *l;
		if (!rc && d->type == N_COMMIT)
			rc = snap_add_ref(s, ".hub", N_VIEW_DIR, false);
		if (!rc)
			rc = hub_ns_tree_get(&l, ns, d);
		for (size_t i = 0; !rc && i < l->n; i++) {
			rc = snap_add_ref(s, l->ents[i].name, hub_ns_tree_type(l->ents[i].mode),
					  false);
			if (!rc)
				s->e[s->n - 1].te = &l->ents[i];
		}
		break;
	}
	case N_VIEW_DIR:
		for (size_t i = 0; !rc && i < d->view->n; i++) {
			rc = snap_add_ref(s, d->view->kids[i].name, view_type(&d->view->kids[i]),
					  false);
			if (!rc)
				s->e[s->n - 1].view = &d->view->kids[i];
		}
		break;
	case N_GITLINK:
		break;
	default:
		rc = -ENOTDIR;
	}
	if (rc) {
		snap_free(s);
		return rc == -ENOENT ? -EIO : rc;
	}
	*out = s;
	return 0;
}

/* A name's cookie in a directory that changes: the listing's generation
 * (a kept snapshot, see hub_ns_list) in bits 40-62, a hash of the name in
 * bits 0-39 (3 and up: "." is 1, ".." 2); below 2^63 (the kernel's offsets
 * are signed). */
#define COOKIE_HASH_BITS 40
#define COOKIE_HASH_MASK ((UINT64_C(1) << COOKIE_HASH_BITS) - 1)
#define COOKIE_GEN_MAX ((UINT64_C(1) << (63 - COOKIE_HASH_BITS)) - 1)

static uint64_t entry_cookie(uint64_t gen, const char *name)
{
	uint64_t h = 3 + (hub_strhash64(0, name) >> (64 - COOKIE_HASH_BITS + 1));
	return gen << COOKIE_HASH_BITS | h;
}

static int cookie_cmp(const void *a, const void *b)
{
	const struct snap_ent *x = a, *y = b;
	if (x->cookie != y->cookie)
		return x->cookie < y->cookie ? -1 : 1;
	return strcmp(x->name, y->name);
}

static bool hashed(const struct hub_ns_node *d)
{
	return d->type == N_ROOT || d->type == N_OWNER;
}

/* Give s its cookies: indexes for immutable directories, generation and
 * name hash, in that order, for the root and owner directories.  Two names
 * with one hash (rare) get consecutive cookies, ordered by name. */
static void snap_cookies(struct hub_ns_snap *s, uint64_t gen)
{
	bool h = hashed(s->dir);
	s->gen = gen;
	for (size_t i = 0; i < s->n; i++)
		s->e[i].cookie = !h || i < 2 ? i + 1 : entry_cookie(gen, s->e[i].name);
	if (!h || s->n <= 3)
		return;
	qsort(s->e + 2, s->n - 2, sizeof(*s->e), cookie_cmp);
	for (size_t i = 3; i < s->n; i++)
		if (s->e[i].cookie <= s->e[i - 1].cookie)
			s->e[i].cookie = s->e[i - 1].cookie + 1;
}

/* The root and owner directories' listings are kept (ns->snaps, a ring of
 * HUB_NS_LIST_SNAPS under ns->snap_lock, a leaf) and found again by the
 * generation in a cookie: a listing that started at offset 0 goes on from
 * the same snapshot, whatever entered the cache since, so it is the
 * directory at one moment.  A snapshot no longer kept (more listings than
 * the ring holds) is rebuilt from the cache under the cookie's generation:
 * the name hashes in the cookies still order it, so an entry present for
 * the whole listing is returned exactly once.  Returns a reference. */
static int snap_listing(struct hub_ns_snap **out, struct hub_ns *ns, struct hub_ns_node *d,
			int64_t off)
{
	*out = NULL;
	uint64_t gen = off > 2 ? (uint64_t)off >> COOKIE_HASH_BITS : 0;
	pthread_mutex_lock(&ns->snap_lock);
	for (size_t i = 0; gen && i < HUB_NS_LIST_SNAPS; i++) {
		struct hub_ns_snap *k = ns->snaps[i];
		if (k && k->gen == gen && k->ino == d->ino) {
			__atomic_add_fetch(&k->refs, 1, __ATOMIC_ACQ_REL);
			k->used = ++ns->snap_tick;
			*out = k; /* k->dir is not used again (not immutable) */
			break;
		}
	}
	if (!*out && !gen) {
		if (++ns->snap_gen > COOKIE_GEN_MAX)
			ns->snap_gen = 1;
		gen = ns->snap_gen;
	}
	pthread_mutex_unlock(&ns->snap_lock);
	if (*out)
		return 0;
	struct hub_ns_snap *s;
	int rc = snap_build(&s, ns, d);
	if (rc)
		return rc;
	snap_cookies(s, gen);
	__atomic_add_fetch(&s->refs, 1, __ATOMIC_ACQ_REL); /* the ring's */
	/* its slot: a free one, else one whose listing reached its end, else
	 * the least recently continued (listings in progress keep theirs) */
	pthread_mutex_lock(&ns->snap_lock);
	size_t slot = 0;
	for (size_t i = 0; i < HUB_NS_LIST_SNAPS; i++) {
		struct hub_ns_snap *k = ns->snaps[i], *best = ns->snaps[slot];
		if (!best)
			break;
		if (!k) {
			slot = i;
			break;
		}
		bool kd = __atomic_load_n(&k->done, __ATOMIC_ACQUIRE);
		bool bd = __atomic_load_n(&best->done, __ATOMIC_ACQUIRE);
		if ((kd && !bd) || (kd == bd && k->used < best->used))
			slot = i;
	}
	struct hub_ns_snap *old = ns->snaps[slot];
	ns->snaps[slot] = s;
	s->used = ++ns->snap_tick;
	pthread_mutex_unlock(&ns->snap_lock);
	snap_free(old);
	*out = s;
	return 0;
}

void hub_ns_list_fini(struct hub_ns *ns)
{
	for (size_t i = 0; i < HUB_NS_LIST_SNAPS; i++) {
		snap_free(ns->snaps[i]);
		ns->snaps[i] = NULL;
	}
}

/* The node a readdirplus entry describes, for immutable directories only
 * (elsewhere entries carry no attributes and the kernel looks them up).
 * ns->lock held. */
static struct hub_ns_node *plus_node(struct hub_ns *ns, struct hub_ns_snap *s, struct snap_ent *e)
{
	if (e->te)
		return hub_ns_tree_child(ns, s->dir, e->te);
	/* Weight files need their size, which may take a HEAD request: not
	 * under the lock; the kernel looks them up instead. */
	if (e->view && s->dir->type == N_VIEW_DIR && !e->view->url) {
		struct hub_ns_node *n = hub_ns_node_child(ns, s->dir, e->name);
		if (!n && (n = hub_ns_node_new(ns, s->dir, e->name,
					       e->view->dir ? N_VIEW_DIR : N_VIEW_FILE, true)))
			n->view = e->view;
		return n;
	}
	return NULL;
}

int hub_ns_list(struct hub_ns_list **out, struct hub_ns *ns, uint64_t ino, int64_t off, size_t max,
		bool plus, uid_t uid)
{
	*out = NULL;
	struct hub_ns_node *d = hub_ns_node_get(ns, ino);
	if (!d)
		return -ESTALE;
	if (d->type == N_URL_DIR && hub_ns_url_denied(ns, uid))
		return -EACCES;
	struct hub_ns_snap *s;
	int rc = hashed(d) ? snap_listing(&s, ns, d, off) : snap_build(&s, ns, d);
	if (rc)
		return rc;
	if (!hashed(d))
		snap_cookies(s, 0);
	size_t first = 0;
	while (first < s->n && off > 0 && s->e[first].cookie <= (uint64_t)off)
		first++;
	size_t n = s->n - first < max ? s->n - first : max;
	if (first + n == s->n)
		__atomic_store_n(&s->done, true, __ATOMIC_RELEASE); /* its slot may go */
	struct hub_ns_list *l = calloc(1, sizeof(*l));
	if (l && n && !(l->ents = calloc(n, sizeof(*l->ents)))) {
		free(l);
		l = NULL;
	}
	if (!l) {
		snap_free(s);
		return -ENOMEM;
	}
	l->priv = s;
	pthread_mutex_lock(&ns->lock);
	for (size_t k = 0; k < n; k++) {
		size_t i = first + k;
		struct snap_ent *e = &s->e[i];
		struct hub_ns_dirent *de = &l->ents[k];
		de->name = e->name;
		de->off = (int64_t)e->cookie;
		struct hub_ns_node *nd = plus && i >= 2 ? plus_node(ns, s, e) : NULL;
		if (nd) {
			hub_ns_node_entry(&de->entry, ns, nd);
		} else {
			de->entry.attr.st_ino = HUB_NS_UNKNOWN_INO;
			de->entry.attr.st_mode = hub_ns_type_mode(e->type);
		}
	}
	pthread_mutex_unlock(&ns->lock);
	l->n = n;
	*out = l;
	return 0;
}

void hub_ns_list_release(struct hub_ns *ns, struct hub_ns_list *l, size_t taken)
{
	if (!l)
		return;
	bool any = false;
	for (size_t i = taken; i < l->n && !any; i++)
		any = l->ents[i].entry.ino != 0;
	if (any) {
		pthread_mutex_lock(&ns->lock);
		for (size_t i = taken; i < l->n; i++) {
			struct hub_ns_node *n =
				l->ents[i].entry.ino ? hub_ns_node_find(ns, l->ents[i].entry.ino) : NULL;
			if (n)
				hub_ns_node_forget(ns, n, 1);
		}
		pthread_mutex_unlock(&ns->lock);
	}
	free(l->ents);
	snap_free(l->priv);
	free(l);
}
