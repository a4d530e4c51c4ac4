/*
 * The path grammar (fs/ns.h): which name in which directory is what, the
 * targets of repo and ref symlinks, and the bytes of files.  /.hubfs/ is
 * fs/ns_ctl.c.
 *
 * Every node a lookup here answers carries one count of its own (a hold,
 * taken under ns->lock), so that nothing frees it before hub_ns_lookup
 * counts the entry; hub_ns_lookup gives the hold back.
 */
#include "fs/ns_int.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/limits.h"
#include "base/names.h"
#include "cache/analysis.h"
#include "cache/reach.h"
#include "cache/weights.h"
#include "fs/view.h"

/* --------------------------------------------------------------- trees */

static int cmp_entry(const void *a, const void *b)
{
	return strcmp(((const struct hub_tree_entry *)a)->name,
		      ((const struct hub_tree_entry *)b)->name);
}

/* A blob of n's commit; a repository evicted or forgotten under the mount
 * (cache/quota.h) is fetched again (hub_repo_recover) and the read tried
 * once more, so the path still reads the same bytes. */
static int node_blob(struct hub_blob **out, struct hub_ns_node *n)
{
	int rc = hub_repo_blob_get(out, n->repo, &n->oid);
	if (rc && rc != -ENOMEM && n->commit && !hub_repo_recover(n->repo, n->commit->sha))
		rc = hub_repo_blob_get(out, n->repo, &n->oid);
	return rc;
}

/* The listing of a commit or tree directory, loading it on first use. */
int hub_ns_tree_get(struct hub_ns_tree **out, struct hub_ns *ns, struct hub_ns_node *dir)
{
	pthread_mutex_lock(&ns->lock);
	struct hub_ns_tree *l = dir->list;
	pthread_mutex_unlock(&ns->lock);
	if (l) {
		*out = l;
		return 0;
	}
	const struct hub_oid *tree = dir->type == N_COMMIT ? &dir->commit->tree : &dir->oid;
	l = calloc(1, sizeof(*l));
	if (!l)
		return -ENOMEM;
	int rc = hub_repo_tree_list(&l->ents, &l->n, dir->repo, tree);
	if (rc && rc != -ENOMEM && !hub_repo_recover(dir->repo, dir->commit->sha))
		rc = hub_repo_tree_list(&l->ents, &l->n, dir->repo, tree); /* evicted: fetched again */
	if (rc) {
		free(l);
		return rc;
	}
	qsort(l->ents, l->n, sizeof(*l->ents), cmp_entry);
	pthread_mutex_lock(&ns->lock);
	if (dir->list) { /* another thread won */
		hub_tree_entries_free(l->ents, l->n);
		free(l);
	} else {
		dir->list = l;
	}
	*out = dir->list;
	pthread_mutex_unlock(&ns->lock);
	return 0;
}

static const struct hub_tree_entry *tree_find(const struct hub_ns_tree *l, const char *name)
{
	struct hub_tree_entry key = { .name = (char *)name };
	return bsearch(&key, l->ents, l->n, sizeof(*l->ents), cmp_entry);
}

enum hub_ns_type hub_ns_tree_type(uint32_t mode)
{
	switch (mode) {
	case HUB_MODE_TREE:
		return N_TREE;
	case HUB_MODE_LINK:
		return N_SYMLINK;
	case HUB_MODE_GITLINK:
		return N_GITLINK;
	default:
		return N_FILE;
	}
}

struct hub_ns_node *hub_ns_tree_child(struct hub_ns *ns, struct hub_ns_node *dir,
				      const struct hub_tree_entry *te)
{
	struct hub_ns_node *n = hub_ns_node_child(ns, dir, te->name);
	if (n)
		return n;
	n = hub_ns_node_new(ns, dir, te->name, hub_ns_tree_type(te->mode), true);
	if (n) {
		n->mode = te->mode;
		n->oid = te->oid;
		n->size = te->size;
	}
	return n;
}

/* The commit's .hub view, built on first use. */
static int commit_view(const struct hub_view **out, struct hub_ns *ns, struct hub_ns_commit *c)
{
	pthread_mutex_lock(&ns->lock);
	const struct hub_view *v = c->view;
	pthread_mutex_unlock(&ns->lock);
	if (v) {
		*out = v;
		return 0;
	}
	struct hub_view *built;
	int rc = hub_view_build(&built, ns->cache, ns->py, c->repo, c->sha, &c->tree);
	if (rc)
		return rc;
	pthread_mutex_lock(&ns->lock);
	if (c->view)
		hub_view_free(built);
	else
		c->view = built;
	*out = c->view;
	pthread_mutex_unlock(&ns->lock);
	return 0;
}

/* ---------------------------------------------------------------- links */

/* The target of a repo or ref symlink, resolving as needed (may block on
 * the network).  Stores it in the node for getattr. */
static int link_target(struct hub_ns *ns, struct hub_ns_node *n)
{
	char target[HUB_REPO_MAX + HUB_REF_MAX * 3 + 8];
	int rc;
	if (n->type == N_REPO_LINK) {
		char branch[HUB_REF_MAX + 1], enc[3 * HUB_REF_MAX + 1];
		rc = hub_repo_default_branch(branch, sizeof(branch), n->repo);
		if (!rc) {
			int len = hub_name_encode_ref(enc, sizeof(enc), branch);
			rc = len < 0 ? len : 0;
		}
		if (!rc)
			snprintf(target, sizeof(target), "%s:%s", n->parent ? n->name : "", enc);
	} else {
		char sha[41];
		bool immutable = false;
		const char *repo = n->name;
		size_t rlen = strcspn(repo, ":");
		rc = hub_repo_resolve(sha, &immutable, NULL, n->repo, n->ref);
		if (!rc) {
			snprintf(target, sizeof(target), "%.*s@%s", (int)rlen, repo, sha);
			pthread_mutex_lock(&ns->lock);
			n->immutable = immutable;
			pthread_mutex_unlock(&ns->lock);
		}
	}
	if (rc)
		return rc;
	char *t = strdup(target);
	if (!t)
		return -ENOMEM;
	pthread_mutex_lock(&ns->lock);
	free(n->target);
	n->target = t;
	pthread_mutex_unlock(&ns->lock);
	return 0;
}

int hub_ns_paths_resolve_error(struct hub_ns_found *out, const struct hub_ns *ns, int rc)
{
	out->node = NULL;
	if (rc == -ENOENT) {
		out->neg_ttl = ns->opts->offline ? HUB_TTL_REF : (double)ns->opts->neg_ttl;
		return 0;
	}
	return rc == -ENAMETOOLONG ? -ENAMETOOLONG : -EIO;
}

/* --------------------------------------------------------------- lookup */

/* The child name of p, made with type if new; held.  ns->lock held. */
static struct hub_ns_node *held_child(struct hub_ns *ns, struct hub_ns_node *p, const char *name,
				      enum hub_ns_type type)
{
	struct hub_ns_node *n = hub_ns_node_child(ns, p, name);
	if (!n)
		n = hub_ns_node_new(ns, p, name, type, true);
	if (n)
		n->nlookup++;
	return n;
}

/* /<owner>/<name>: <repo>, <repo>:<ref>, <repo>@<sha>. */
static int lookup_owner_entry(struct hub_ns_found *out, struct hub_ns *ns,
			      struct hub_ns_node *owner, const char *name)
{
	struct hub_name hn;
	if (hub_name_parse(&hn, name)) {
		out->neg_ttl = HUB_TTL_NEG_INVALID;
		return 0;
	}
	struct hub_repo *repo;
	int rc = hub_cache_repo(&repo, ns->cache, owner->name, hn.repo);
	if (rc)
		return rc;
	/* repo is a reference (hub_cache_repo): a new node keeps it, else it
	 * is given back. */
	if (hn.kind == HUB_NAME_COMMIT) {
		/* its .hub/ view will likely be asked for next: the analyser
		 * gets ready meanwhile.  Not while refs resolve: the fetch runs
		 * then, and warming beside it, even at the lowest priority, took
		 * a repository's first `ls` from 0.40-0.43 s to 0.48 s
		 * (docs/analysis.md) */
		hub_analysis_prepare(ns->cache, ns->py, hn.ref);
		rc = hub_repo_ensure_commit(repo, hn.ref);
		struct hub_oid tree;
		int64_t t = 0;
		if (!rc)
			rc = hub_repo_commit_info(&tree, &t, repo, hn.ref);
		if (rc) {
			hub_repo_put(repo);
			return hub_ns_paths_resolve_error(out, ns, rc);
		}
		bool kept = false;
		pthread_mutex_lock(&ns->lock);
		struct hub_ns_node *n = hub_ns_node_child(ns, owner, name);
		if (!n) {
			struct hub_ns_commit *c = calloc(1, sizeof(*c));
			n = c ? hub_ns_node_new(ns, owner, name, N_COMMIT, true) : NULL;
			if (n) {
				c->refs = 1;
				c->repo = repo;
				kept = true;
				memcpy(c->sha, hn.ref, 41);
				c->tree = tree;
				c->time = t;
				n->commit = c;
				n->repo = repo;
			} else {
				free(c);
			}
		}
		if (n)
			n->nlookup++;
		pthread_mutex_unlock(&ns->lock);
		if (!kept)
			hub_repo_put(repo);
		out->node = n;
		return n ? 0 : -ENOMEM;
	}

	/* A symlink: resolve first (this is where the network is used). */
	char *ref = hn.kind == HUB_NAME_REF ? strdup(hn.ref) : NULL;
	if (hn.kind == HUB_NAME_REF && !ref) {
		hub_repo_put(repo);
		return -ENOMEM;
	}
	bool kept = false;
	pthread_mutex_lock(&ns->lock);
	struct hub_ns_node *n = hub_ns_node_child(ns, owner, name);
	if (!n) {
		n = hub_ns_node_new(ns, owner, name,
				    hn.kind == HUB_NAME_REPO ? N_REPO_LINK : N_REF_LINK, true);
		if (n) {
			n->repo = repo;
			kept = true;
			n->ref = ref;
			ref = NULL;
		}
	}
	/* Hold the node across the unlocked resolution. */
	if (n)
		n->nlookup++;
	pthread_mutex_unlock(&ns->lock);
	if (!kept)
		hub_repo_put(repo);
	free(ref);
	if (!n)
		return -ENOMEM;
	rc = link_target(ns, n);
	if (rc) {
		pthread_mutex_lock(&ns->lock);
		hub_ns_node_forget(ns, n, 1);
		pthread_mutex_unlock(&ns->lock);
		return hub_ns_paths_resolve_error(out, ns, rc);
	}
	out->node = n;
	return 0;
}

/* A name in a commit or tree directory (.hub in a commit). */
static int lookup_tree_entry(struct hub_ns_found *out, struct hub_ns *ns, struct hub_ns_node *dir,
			     const char *name)
{
	if (dir->type == N_COMMIT && !strcmp(name, ".hub")) {
		const struct hub_view *v;
		int rc = commit_view(&v, ns, dir->commit);
		if (rc)
			return rc;
		pthread_mutex_lock(&ns->lock);
		struct hub_ns_node *n = hub_ns_node_child(ns, dir, name);
		if (!n && (n = hub_ns_node_new(ns, dir, name, N_VIEW_DIR, true)))
			n->view = v;
		if (n)
			n->nlookup++;
		pthread_mutex_unlock(&ns->lock);
		out->node = n;
		return n ? 0 : -ENOMEM;
	}
	struct hub_ns_tree *l;
	int rc = hub_ns_tree_get(&l, ns, dir);
	if (rc)
		return rc == -ENOENT ? -EIO : rc;
	const struct hub_tree_entry *te = tree_find(l, name);
	if (!te) {
		out->neg_ttl = HUB_TTL_IMMUTABLE;
		return 0;
	}
	pthread_mutex_lock(&ns->lock);
	struct hub_ns_node *n = hub_ns_tree_child(ns, dir, te);
	if (n)
		n->nlookup++;
	pthread_mutex_unlock(&ns->lock);
	out->node = n;
	return n ? 0 : -ENOMEM;
}

/* A name in a directory of .hub/. */
static int lookup_view_entry(struct hub_ns_found *out, struct hub_ns *ns, struct hub_ns_node *p,
			     const char *name)
{
	if (p->parent && p->parent->type == N_COMMIT && !strcmp(name, HUB_NS_REACHABLE)) {
		char *text;
		int rc = hub_repo_reach(&text, p->commit->repo, p->commit->sha);
		return rc ? rc : hub_ns_ctl_snapshot(out, ns, p, name, text);
	}
	const struct hub_view *v = hub_view_child(p->view, name);
	if (!v) {
		out->neg_ttl = HUB_TTL_IMMUTABLE;
		return 0;
	}
	if (v->url) {
		int rc = hub_ns_ctl_weight(&out->node, ns, p, name, v->url);
		return rc == -ENOENT ? -ENOENT : rc ? -hub_ns_ctl_weight_errno(rc) : 0;
	}
	pthread_mutex_lock(&ns->lock);
	struct hub_ns_node *n = hub_ns_node_child(ns, p, name);
	if (!n && (n = hub_ns_node_new(ns, p, name, v->dir ? N_VIEW_DIR : N_VIEW_FILE, true)))
		n->view = v;
	if (n)
		n->nlookup++;
	pthread_mutex_unlock(&ns->lock);
	out->node = n;
	return n ? 0 : -ENOMEM;
}

int hub_ns_paths_lookup(struct hub_ns_found *out, struct hub_ns *ns, struct hub_ns_node *p,
			const char *name, uid_t uid)
{
	out->node = NULL;
	out->neg_ttl = 0;
	switch (p->type) {
	case N_ROOT: {
		enum hub_ns_type t;
		if (!strcmp(name, ".hubfs")) {
			t = N_CTL_DIR;
		} else if (hub_name_owner_valid(name)) {
			t = N_OWNER;
		} else {
			out->neg_ttl = HUB_TTL_NEG_INVALID;
			return 0;
		}
		pthread_mutex_lock(&ns->lock);
		out->node = held_child(ns, p, name, t);
		pthread_mutex_unlock(&ns->lock);
		return out->node ? 0 : -ENOMEM;
	}
	case N_CTL_DIR:
	case N_URL_DIR:
	case N_RESOLVE_DIR:
		return hub_ns_ctl_lookup(out, ns, p, name, uid);
	case N_OWNER:
		return lookup_owner_entry(out, ns, p, name);
	case N_COMMIT:
	case N_TREE:
		return lookup_tree_entry(out, ns, p, name);
	case N_VIEW_DIR:
		return lookup_view_entry(out, ns, p, name);
	case N_GITLINK:
		out->neg_ttl = HUB_TTL_IMMUTABLE;
		return 0;
	default:
		return -ENOTDIR;
	}
}

/* ------------------------------------------------------------ readlink */

int hub_ns_readlink(char *buf, size_t size, struct hub_ns *ns, uint64_t ino)
{
	struct hub_ns_node *n = hub_ns_node_get(ns, ino);
	if (!n)
		return -ESTALE;
	if (size == 0)
		return -ERANGE;
	if (n->type == N_SYMLINK) {
		struct hub_blob *b;
		if (node_blob(&b, n))
			return -EIO;
		size_t len = b->size < size - 1 ? b->size : size - 1;
		memcpy(buf, b->data, len);
		buf[len] = '\0';
		hub_blob_put(b);
		return 0;
	}
	if (n->type != N_REPO_LINK && n->type != N_REF_LINK)
		return -EINVAL;
	int rc = link_target(ns, n);
	if (rc)
		return rc == -ENOENT ? -ENOENT : -EIO;
	pthread_mutex_lock(&ns->lock);
	snprintf(buf, size, "%s", n->target);
	pthread_mutex_unlock(&ns->lock);
	return 0;
}

/* -------------------------------------------------------------- reading */

static void slice(struct hub_ns_data *out, const char *data, size_t len, size_t size, int64_t off)
{
	if (off < 0 || (uint64_t)off >= len)
		return;
	out->data = data + off;
	out->len = len - (size_t)off < size ? len - (size_t)off : size;
}

int hub_ns_read(struct hub_ns_data *out, struct hub_ns *ns, uint64_t ino, size_t size, int64_t off,
		uid_t uid)
{
	memset(out, 0, sizeof(*out));
	out->fd = -1;
	struct hub_ns_node *n = hub_ns_node_get(ns, ino);
	if (!n)
		return -ESTALE;
	switch (n->type) {
	case N_FILE: {
		struct hub_blob *b;
		if (node_blob(&b, n))
			return -EIO;
		out->blob = b;
		slice(out, b->data, b->size, size, off);
		return 0;
	}
	case N_VIEW_FILE:
		slice(out, n->view->data, n->view->len, size, off);
		return 0;
	case N_CTL_FILE:
		slice(out, n->data, n->size, size, off);
		return 0;
	case N_WEIGHT: {
		if (n->parent && n->parent->type == N_URL_DIR && hub_ns_url_denied(ns, uid))
			return -EACCES; /* an entry the owner looked up */
		int rc = hub_weight_span(&out->span, size, off, n->weight);
		if (rc) {
			out->span.f = NULL;
			return rc;
		}
		out->fd = out->span.len ? out->span.fd : -1;
		out->fd_off = out->span.off;
		out->len = out->span.len;
		return 0;
	}
	default:
		return -EISDIR;
	}
}

void hub_ns_data_release(struct hub_ns_data *d)
{
	if (d->blob)
		hub_blob_put(d->blob);
	hub_weight_span_release(&d->span);
	memset(d, 0, sizeof(*d));
	d->fd = -1;
}

/* --------------------------------------------------------------- xattrs */

/* Extended attributes of a weight file, for the Python helper:
 *   user.hubfs.state  its per-URL verdict ("complete", "failed <reason>",
 *                     "pending"; hub_weight_state), awaited before a
 *                     hash-named file's bytes are used;
 *   user.hubfs.url    the URL it is, so that a user who may not use
 *                     /.hubfs/url (url_access=owner) finds a repo's weight
 *                     under its commit's .hub/weights/.  The URL is the
 *                     repo's own text there, and under /.hubfs/url the
 *                     file's name: nothing a reader does not know already.
 * Not cached by the kernel: each call asks the store.  Others: ENODATA. */
int hub_ns_getxattr(char *buf, size_t size, size_t *len, struct hub_ns *ns, uint64_t ino,
		    const char *name)
{
	*len = 0;
	struct hub_ns_node *n = hub_ns_node_get(ns, ino);
	if (!n)
		return -ESTALE;
	bool is_state = !strcmp(name, "user.hubfs.state"), is_url = !strcmp(name, "user.hubfs.url");
	if (n->type != N_WEIGHT || !n->weight || !(is_state || is_url))
		return -ENODATA;
	char state[96];
	const char *val = state;
	if (is_state)
		hub_weight_state(state, sizeof(state), n->weight);
	else
		val = hub_weight_url(n->weight); /* the handle lives as long as the node */
	*len = strlen(val);
	if (size == 0)
		return 0;
	if (size < *len)
		return -ERANGE;
	memcpy(buf, val, *len);
	return 0;
}
