/*
 * Directory listings of the namespace core (hub_ns_list, hub_ns_opendir,
 * fs/ns.h).
 *
 * Each entry carries a cookie, the offset that continues after it; a call
 * returns the entries whose cookies are greater than its offset, in cookie
 * order.  Immutable directories (commit trees, .hub/, /.hubfs) number their
 * entries (the cookie is the index + 1) and are listed per call, from the
 * tree's cached listing without copying names.  The root and owner
 * directories change while they are listed (repositories enter the cache):
 * a directory handle (hub_ns_opendir, the FUSE layer's OPENDIR) holds a
 * snapshot of the listing, taken at open and again at a rewind, that every
 * readdir of the handle is served from, so one listing is the directory at
 * one moment: nothing skipped, repeated, or added halfway.  Their cookies
 * are a hash of the name (entry_cookie), listed in that order, so that a
 * call without a handle (rebuilding the listing) and a seek to a cookie of
 * another snapshot still continue after that name.
 * Locks: a handle's lock guards its snapshot pointer; snapshots are
 * reference counted (the handle and each list that points into it), so a
 * rewind never frees names a list still points to.  ns->lock is taken for
 * readdirplus nodes only.
 */
#include "fs/ns_int.h"

#include <errno.h>
#include <pthread.h>
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

struct snap {
	struct snap_ent *e;
	size_t n, cap;
	struct hub_ns_node *dir;
	int refs; /* __atomic: a directory handle's, and each list's from it */
};

/* A directory handle (OPENDIR) of the root or an owner directory: the
 * snapshot its readdir calls are served from. */
struct hub_ns_dir {
	pthread_mutex_t lock;
	struct snap *s; /* lock: replaced at a rewind (offset 0 after entries) */
	bool served;    /* lock: s gave entries */
};

static int snap_add_ref(struct snap *s, const char *name, enum hub_ns_type type, bool copy)
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

static int snap_add(struct snap *s, const char *name, enum hub_ns_type type)
{
	return snap_add_ref(s, name, type, true);
}

static void snap_free(struct snap *s)
{
	if (s && __atomic_sub_fetch(&s->refs, 1, __ATOMIC_ACQ_REL) > 0)
		return; /* still used by a handle or a list */
	for (size_t i = 0; s && i < s->n; i++)
		if (s->e[i].owned)
			free((char *)s->e[i].name);
	if (s)
		free(s->e);
	free(s);
}

static int snap_owner(struct snap *s, struct hub_ns *ns, const char *owner)
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
static int snap_build(struct snap **out, struct hub_ns *ns, struct hub_ns_node *d)
{
	*out = NULL;
	struct snap *s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->dir = d;
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

/* A name's cookie in a directory that changes: 3 and up ("." is 1, ".." 2),
 * below 2^63 (the kernel's offsets are signed). */
static uint64_t entry_cookie(const char *name)
{
	return 3 + (hub_strhash64(0, name) >> 2);
}

static int cookie_cmp(const void *a, const void *b)
{
	const struct snap_ent *x = a, *y = b;
	if (x->cookie != y->cookie)
		return x->cookie < y->cookie ? -1 : 1;
	return strcmp(x->name, y->name);
}

/* Give s its cookies: indexes for immutable directories, name hashes in
 * hash order for the root and owner directories.  Two names with one hash
 * (rare) get consecutive cookies, ordered by name. */
static void snap_cookies(struct snap *s)
{
	bool hashed = s->dir->type == N_ROOT || s->dir->type == N_OWNER;
	for (size_t i = 0; i < s->n; i++)
		s->e[i].cookie = !hashed || i < 2 ? i + 1 : entry_cookie(s->e[i].name);
	if (!hashed || s->n <= 3)
		return;
	qsort(s->e + 2, s->n - 2, sizeof(*s->e), cookie_cmp);
	for (size_t i = 3; i < s->n; i++)
		if (s->e[i].cookie <= s->e[i - 1].cookie)
			s->e[i].cookie = s->e[i - 1].cookie + 1;
}

/* The node a readdirplus entry describes, for immutable directories only
 * (elsewhere entries carry no attributes and the kernel looks them up).
 * ns->lock held. */
static struct hub_ns_node *plus_node(struct hub_ns *ns, struct snap *s, struct snap_ent *e)
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

/* The snapshot a directory handle serves (a reference), rebuilt when its
 * listing starts again after it gave entries (rewinddir: the directory as
 * it is now, as a new opendir would see it). */
static int dir_snap(struct snap **out, struct hub_ns *ns, struct hub_ns_dir *h, int64_t off)
{
	*out = NULL;
	pthread_mutex_lock(&h->lock);
	int rc = 0;
	if (off == 0 && h->served) {
		struct snap *s;
		if (!(rc = snap_build(&s, ns, h->s->dir))) {
			snap_cookies(s);
			snap_free(h->s);
			h->s = s;
			h->served = false;
		}
	}
	if (!rc) {
		h->served = true;
		__atomic_add_fetch(&h->s->refs, 1, __ATOMIC_ACQ_REL);
		*out = h->s;
	}
	pthread_mutex_unlock(&h->lock);
	return rc;
}

int hub_ns_opendir(struct hub_ns_dir **out, struct hub_ns *ns, uint64_t ino, uid_t uid)
{
	*out = NULL;
	struct hub_ns_node *d = hub_ns_node_get(ns, ino);
	if (!d)
		return -ESTALE;
	if (d->type == N_URL_DIR && hub_ns_url_denied(ns, uid))
		return -EACCES;
	if (d->type != N_ROOT && d->type != N_OWNER)
		return 0; /* immutable (or always empty): listed per call */
	struct hub_ns_dir *h = calloc(1, sizeof(*h));
	if (!h)
		return -ENOMEM;
	int rc = snap_build(&h->s, ns, d);
	if (rc) {
		free(h);
		return rc;
	}
	snap_cookies(h->s);
	pthread_mutex_init(&h->lock, NULL);
	*out = h;
	return 0;
}

void hub_ns_releasedir(struct hub_ns_dir *h)
{
	if (!h)
		return;
	snap_free(h->s);
	pthread_mutex_destroy(&h->lock);
	free(h);
}

int hub_ns_list(struct hub_ns_list **out, struct hub_ns *ns, uint64_t ino, int64_t off, size_t max,
		bool plus, uid_t uid)
{
	return hub_ns_list_dir(out, ns, ino, NULL, off, max, plus, uid);
}

int hub_ns_list_dir(struct hub_ns_list **out, struct hub_ns *ns, uint64_t ino,
		    struct hub_ns_dir *h, int64_t off, size_t max, bool plus, uid_t uid)
{
	*out = NULL;
	struct hub_ns_node *d = hub_ns_node_get(ns, ino);
	if (!d)
		return -ESTALE;
	if (d->type == N_URL_DIR && hub_ns_url_denied(ns, uid))
		return -EACCES;
	struct snap *s;
	int rc = h ? dir_snap(&s, ns, h, off) : snap_build(&s, ns, d);
	if (rc)
		return rc;
	if (!h)
		snap_cookies(s);
	size_t first = 0;
	while (first < s->n && off > 0 && s->e[first].cookie <= (uint64_t)off)
		first++;
	size_t n = s->n - first < max ? s->n - first : max;
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
