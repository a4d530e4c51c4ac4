/*
 * The namespace core: nodes, their two tables, lookup counts, inode
 * numbers and attributes (fs/ns.h; the path grammar is fs/ns_paths.c).
 *
 * - A node is one inode the kernel knows: the root, /.hubfs and its files,
 *   owner directories, the repo and ref symlinks, commit directories and
 *   everything below them (tree entries and the generated .hub/ view).
 * - Two hash tables index the nodes: by inode number, and by (parent,
 *   name); ns->lock guards them (fs/ns_int.h).
 * - Lifetime: a node lives while the kernel holds lookups on it (nlookup)
 *   or it has live children (nkids, each child holds its parent).  The last
 *   forget frees it and may free its parent in turn.
 * - Caching: commit trees are immutable, so their entries and attributes
 *   carry long timeouts; branch symlinks carry short ones (the daemon
 *   applies ref_ttl); /.hubfs/ files are snapshots with timeout 0, and each
 *   lookup makes a new inode, so the page cache never shows an old one.
 */
#include "fs/ns_int.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "base/limits.h"
#include "base/log.h"
#include "base/strhash.h"
#include "cache/weights.h"
#include "fs/view.h"

/* ---------------------------------------------------------------- tables */

static void table_insert(struct hub_ns *ns, struct hub_ns_node *n, bool by_name)
{
	hub_htab_insert(&ns->by_ino, &n->by_ino, n->ino);
	n->in_name_table = by_name;
	if (by_name)
		hub_htab_insert(&ns->by_name, &n->by_name, hub_strhash64(n->parent->ino, n->name));
}

static void table_remove(struct hub_ns *ns, struct hub_ns_node *n)
{
	hub_htab_remove(&ns->by_ino, &n->by_ino);
	if (n->in_name_table)
		hub_htab_remove(&ns->by_name, &n->by_name);
}

struct hub_ns_node *hub_ns_node_find(struct hub_ns *ns, uint64_t ino)
{
	if (ino == HUB_NS_ROOT_INO)
		return ns->root;
	struct hub_hnode *l = hub_htab_first(&ns->by_ino, ino); /* the hash is the number */
	return l ? hub_container_of(l, struct hub_ns_node, by_ino) : NULL;
}

struct hub_ns_node *hub_ns_node_child(struct hub_ns *ns, struct hub_ns_node *parent,
				      const char *name)
{
	uint64_t h = hub_strhash64(parent->ino, name);
	for (struct hub_hnode *l = hub_htab_first(&ns->by_name, h); l; l = hub_htab_next(l, h)) {
		struct hub_ns_node *n = hub_container_of(l, struct hub_ns_node, by_name);
		if (n->parent == parent && !strcmp(n->name, name))
			return n;
	}
	return NULL;
}

/* The pointer stays valid after the lock is dropped: the kernel keeps the
 * inode alive while it sends requests for it. */
struct hub_ns_node *hub_ns_node_get(struct hub_ns *ns, uint64_t ino)
{
	pthread_mutex_lock(&ns->lock);
	struct hub_ns_node *n = hub_ns_node_find(ns, ino);
	pthread_mutex_unlock(&ns->lock);
	/* a path under a commit is in use: its repository is pinned against
	 * the quota (cache/repo.h); commit and repo never change on a node */
	if (n && n->commit)
		hub_repo_touch(n->repo);
	return n;
}

/* ----------------------------------------------------------------- nodes */

static void commit_put(struct hub_ns_commit *c)
{
	/* ns->lock held (hub_repo_put takes no lock) */
	if (c && --c->refs == 0) {
		hub_view_free(c->view);
		hub_repo_put(c->repo);
		free(c);
	}
}

static void node_free(struct hub_ns_node *n)
{
	if (n->list) {
		hub_tree_entries_free(n->list->ents, n->list->n);
		free(n->list);
	}
	commit_put(n->commit);
	if (n->type == N_REPO_LINK || n->type == N_REF_LINK)
		hub_repo_put(n->repo); /* links hold their repo (commits: through commit) */
	free(n->name);
	free(n->ref);
	free(n->target);
	free(n->data);
	hub_weight_put(n->weight);
	free(n);
}

/* Inode numbers.  A node's number is a hash of its parent's number and its
 * name, so it is a hash of its path: the same file (a commit's path, a
 * ref) gets the same number again after the kernel forgot it, and after a
 * remount, and no other file ever gets it (a collision with a live node is
 * resolved by rehashing).  Snapshots of /.hubfs files take numbers from a
 * counter in the upper half, which hashes never produce.  ns->lock held. */
#define HUB_SNAPSHOT_INO (1ull << 63)

static uint64_t mix64(uint64_t x)
{
	x ^= x >> 30;
	x *= 0xbf58476d1ce4e5b9ull;
	x ^= x >> 27;
	x *= 0x94d049bb133111ebull;
	return x ^ (x >> 31);
}

static uint64_t path_ino(struct hub_ns *ns, const struct hub_ns_node *parent, const char *name)
{
	uint64_t h = mix64(hub_strhash64(parent ? parent->ino : 0, name));
	for (;;) {
		uint64_t ino = h & (HUB_SNAPSHOT_INO - 1);
		if (ino > HUB_NS_ROOT_INO && !hub_ns_node_find(ns, ino))
			return ino;
		h = mix64(h + 1);
	}
}

static uint64_t snapshot_ino(struct hub_ns *ns)
{
	return HUB_SNAPSHOT_INO | ++ns->next_snapshot;
}

struct hub_ns_node *hub_ns_node_new(struct hub_ns *ns, struct hub_ns_node *parent,
				    const char *name, enum hub_ns_type type, bool by_name)
{
	struct hub_ns_node *n = calloc(1, sizeof(*n));
	if (!n || !(n->name = strdup(name))) {
		free(n);
		return NULL;
	}
	n->type = type;
	n->ino = by_name ? path_ino(ns, parent, name) : snapshot_ino(ns);
	n->parent = parent;
	if (parent) {
		parent->nkids++;
		n->commit = parent->commit;
		if (n->commit)
			n->commit->refs++;
		n->repo = parent->repo;
	}
	table_insert(ns, n, by_name);
	return n;
}

/* Drop nlookup by count and free what became unreachable. */
void hub_ns_node_forget(struct hub_ns *ns, struct hub_ns_node *n, uint64_t count)
{
	n->nlookup = count > n->nlookup ? 0 : n->nlookup - count;
	while (n && n != ns->root && n->nlookup == 0 && n->nkids == 0) {
		struct hub_ns_node *parent = n->parent;
		table_remove(ns, n);
		node_free(n);
		if (parent)
			parent->nkids--;
		n = parent;
	}
}

/* ------------------------------------------------------------ attributes */

/* Fill st from a node; ns->lock held (reads target, size). */
static void node_stat(struct hub_ns *ns, const struct hub_ns_node *n, struct stat *st)
{
	memset(st, 0, sizeof(*st));
	st->st_ino = n->ino;
	st->st_uid = ns->uid;
	st->st_gid = ns->gid;
	st->st_nlink = 1;
	st->st_blksize = 4096;
	time_t t = n->commit ? (time_t)n->commit->time : ns->mount_time;
	st->st_mtim.tv_sec = st->st_ctim.tv_sec = st->st_atim.tv_sec = t;
	if (n->type == N_ROOT || n->type == N_OWNER)
		st->st_mtim = st->st_ctim = n->mtime;
	switch (n->type) {
	case N_REPO_LINK:
	case N_REF_LINK:
		st->st_mode = S_IFLNK | 0777;
		st->st_size = n->target ? (off_t)strlen(n->target) : 0;
		break;
	case N_SYMLINK:
		st->st_mode = S_IFLNK | 0777;
		st->st_size = (off_t)n->size;
		break;
	case N_FILE:
		st->st_mode = S_IFREG | (n->mode == HUB_MODE_EXEC ? 0555 : 0444);
		st->st_size = (off_t)n->size;
		break;
	case N_VIEW_FILE:
		st->st_mode = S_IFREG | 0444;
		st->st_size = (off_t)n->view->len;
		break;
	case N_CTL_FILE:
		st->st_mode = S_IFREG | 0444;
		st->st_size = (off_t)n->size;
		st->st_mtim.tv_sec = st->st_ctim.tv_sec = time(NULL);
		break;
	case N_WEIGHT:
		st->st_mode = S_IFREG | 0444;
		st->st_size = (off_t)n->size;
		/* du counts what is on disk: the bytes downloaded so far */
		st->st_blocks = (blkcnt_t)((n->present + 511) / 512);
		return;
	default:
		st->st_mode = S_IFDIR | 0555;
		if (n->type == N_URL_DIR && ns->opts->url_access == HUB_URL_ACCESS_OWNER)
			st->st_mode = S_IFDIR | 0500; /* shows url_access=owner */
		st->st_nlink = n->type == N_GITLINK ? 2 : 1;
		break;
	}
	st->st_blocks = (st->st_size + 511) / 512;
}

/* The kernel compares a root or owner directory's mtime to decide whether
 * its cached listing of the directory is still good. */
void hub_ns_node_mtime(struct hub_ns *ns, struct hub_ns_node *n)
{
	if (n->type != N_ROOT && n->type != N_OWNER)
		return;
	struct timespec ts;
	hub_cache_mtime(&ts, ns->cache, n->type == N_OWNER ? n->name : NULL);
	if (ts.tv_sec < ns->mount_time) {
		ts.tv_sec = ns->mount_time;
		ts.tv_nsec = 0;
	}
	pthread_mutex_lock(&ns->lock);
	n->mtime = ts;
	pthread_mutex_unlock(&ns->lock);
}

/* A weight file's bytes present, for st_blocks (the store's lock: unlocked). */
static void node_present(struct hub_ns *ns, struct hub_ns_node *n)
{
	if (n->type != N_WEIGHT || !n->weight)
		return;
	bool complete;
	uint64_t present = hub_weight_present(&complete, n->weight);
	pthread_mutex_lock(&ns->lock);
	n->present = present;
	n->complete = complete;
	pthread_mutex_unlock(&ns->lock);
}

void hub_ns_node_refresh(struct hub_ns *ns, struct hub_ns_node *n)
{
	hub_ns_node_mtime(ns, n);
	node_present(ns, n);
}

/* How long the kernel may trust a node's entry and attributes. */
static double node_ttl(const struct hub_ns_node *n)
{
	switch (n->type) {
	case N_WEIGHT:
		/* st_blocks grows while the file downloads */
		return n->complete ? HUB_TTL_IMMUTABLE : HUB_TTL_REF;
	case N_ROOT:
	case N_OWNER:
		return HUB_TTL_OWNER_ATTR;
	case N_CTL_DIR:
		return HUB_TTL_IMMUTABLE;
	case N_CTL_FILE:
		return 0;
	case N_REPO_LINK:
		return HUB_TTL_REF;
	case N_REF_LINK:
		return n->immutable ? HUB_TTL_IMMUTABLE : HUB_TTL_REF;
	default:
		return HUB_TTL_IMMUTABLE;
	}
}

void hub_ns_node_entry(struct hub_ns_entry *e, struct hub_ns *ns, struct hub_ns_node *n)
{
	memset(e, 0, sizeof(*e));
	n->nlookup++;
	e->ino = n->ino;
	e->generation = 1;
	node_stat(ns, n, &e->attr);
	e->attr_timeout = e->entry_timeout = node_ttl(n);
	if (n->type == N_OWNER)
		e->entry_timeout = HUB_TTL_IMMUTABLE; /* every valid owner exists */
	if (n->parent && n->parent->type == N_URL_DIR && ns->opts->url_access == HUB_URL_ACCESS_OWNER)
		e->entry_timeout = 0; /* every path walk asks again: url_denied */
}

mode_t hub_ns_type_mode(enum hub_ns_type t)
{
	switch (t) {
	case N_REPO_LINK:
	case N_REF_LINK:
	case N_SYMLINK:
		return S_IFLNK;
	case N_FILE:
	case N_VIEW_FILE:
	case N_CTL_FILE:
	case N_WEIGHT:
		return S_IFREG;
	default:
		return S_IFDIR;
	}
}

/* url_access=owner: /.hubfs/url (lookups, listing, reads of its files) is
 * the mount owner's alone (the daemon's uid: whoever mounted), with or
 * without allow_other.  Checked per request (no default_permissions). */
bool hub_ns_url_denied(const struct hub_ns *ns, uid_t uid)
{
	return ns->opts->url_access == HUB_URL_ACCESS_OWNER && uid != ns->uid;
}

/* ------------------------------------------------------------ operations */

int hub_ns_lookup(struct hub_ns_entry *out, struct hub_ns *ns, uint64_t parent, const char *name,
		  uid_t uid)
{
	memset(out, 0, sizeof(*out));
	struct hub_ns_node *p = hub_ns_node_get(ns, parent);
	if (!p)
		return -ESTALE;
	struct hub_ns_found f = { NULL, 0 };
	int rc = hub_ns_paths_lookup(&f, ns, p, name, uid);
	if (rc)
		return rc;
	if (!f.node) {
		out->entry_timeout = f.neg_ttl;
		return 0;
	}
	/* f.node carries one count of its own (the hold across unlocked work):
	 * count the entry, then give the hold back. */
	hub_ns_node_refresh(ns, f.node);
	if (f.node->commit)
		hub_repo_touch(f.node->repo);
	pthread_mutex_lock(&ns->lock);
	hub_ns_node_entry(out, ns, f.node);
	hub_ns_node_forget(ns, f.node, 1);
	pthread_mutex_unlock(&ns->lock);
	return 0;
}

void hub_ns_forget(struct hub_ns *ns, uint64_t ino, uint64_t count)
{
	pthread_mutex_lock(&ns->lock);
	struct hub_ns_node *n = hub_ns_node_find(ns, ino);
	if (n)
		hub_ns_node_forget(ns, n, count);
	pthread_mutex_unlock(&ns->lock);
}

int hub_ns_getattr(struct stat *st, double *timeout, struct hub_ns *ns, uint64_t ino)
{
	struct hub_ns_node *n = hub_ns_node_get(ns, ino);
	if (!n)
		return -ESTALE;
	hub_ns_node_refresh(ns, n);
	pthread_mutex_lock(&ns->lock);
	node_stat(ns, n, st);
	*timeout = node_ttl(n);
	pthread_mutex_unlock(&ns->lock);
	return 0;
}

/* No default_permissions (docs/design.md): the kernel asks here, and the
 * answer follows the mode bits getattr shows, as a local filesystem's
 * would.  Only the caller's primary group is considered. */
int hub_ns_access(struct hub_ns *ns, uint64_t ino, int mask, uid_t uid, gid_t gid)
{
	struct stat st;
	double ttl;
	int rc = hub_ns_getattr(&st, &ttl, ns, ino);
	if (rc)
		return rc;
	if (mask & W_OK)
		return -EROFS;
	mode_t m = st.st_mode;
	if (uid == 0) {
		/* root reads anything; executes what has an x bit (or a directory) */
		if ((mask & X_OK) && !S_ISDIR(m) && !(m & (S_IXUSR | S_IXGRP | S_IXOTH)))
			return -EACCES;
		return 0;
	}
	mode_t bits = uid == st.st_uid ? (m >> 6) : gid == st.st_gid ? (m >> 3) : m;
	if ((mask & R_OK) && !(bits & 4))
		return -EACCES;
	if ((mask & X_OK) && !(bits & 1))
		return -EACCES;
	return 0;
}

/* The figures of the filesystem holding the cache root (df shows where the
 * downloads go), read-only. */
int hub_ns_statfs(struct statvfs *out, struct hub_ns *ns)
{
	memset(out, 0, sizeof(*out));
	if (statvfs(hub_cache_root(ns->cache), out))
		return -errno;
	out->f_flag |= ST_RDONLY;
	out->f_namemax = 255;
	return 0;
}

size_t hub_ns_weight_inos(uint64_t *out, size_t cap, struct hub_ns *ns, const char *key)
{
	size_t n = 0;
	pthread_mutex_lock(&ns->lock);
	HUB_HTAB_EACH(&ns->by_ino, l) {
		struct hub_ns_node *x = hub_container_of(l, struct hub_ns_node, by_ino);
		if (x->type == N_WEIGHT && x->weight && !strcmp(hub_weight_key(x->weight), key) &&
		    n < cap)
			out[n++] = x->ino;
	}
	pthread_mutex_unlock(&ns->lock);
	return n;
}

size_t hub_ns_gone(struct hub_ns_gone *out, size_t cap, struct hub_ns *ns)
{
	struct hub_repo *ch[64];
	size_t nch = hub_cache_changed_repos(ch, sizeof(ch) / sizeof(ch[0]), ns->cache);
	if (!nch)
		return 0;
	size_t n = 0;
	pthread_mutex_lock(&ns->lock);
	HUB_HTAB_EACH(&ns->by_ino, l) {
		struct hub_ns_node *x = hub_container_of(l, struct hub_ns_node, by_ino);
		if ((x->type != N_COMMIT && x->type != N_REPO_LINK && x->type != N_REF_LINK) ||
		    !x->parent || n >= cap || strlen(x->name) >= sizeof(out->name))
			continue;
		for (size_t i = 0; i < nch; i++) {
			if (x->repo == ch[i]) {
				out[n].parent = x->parent->ino;
				strcpy(out[n].name, x->name);
				n++;
				break;
			}
		}
	}
	pthread_mutex_unlock(&ns->lock);
	for (size_t i = 0; i < nch; i++) {
		hub_info("%s/%s: removed from the cache under the mount (forget or quota): "
			 "the kernel's entries of it are dropped", hub_repo_owner(ch[i]),
			 hub_repo_name(ch[i]));
		hub_repo_put(ch[i]);
	}
	return n;
}

size_t hub_ns_count(struct hub_ns *ns)
{
	pthread_mutex_lock(&ns->lock);
	size_t n = ns->by_ino.n;
	pthread_mutex_unlock(&ns->lock);
	return n;
}

void hub_ns_set_py(struct hub_ns *ns, struct hub_py *py)
{
	ns->py = py;
}

void hub_ns_set_weights(struct hub_ns *ns, struct hub_weights *weights)
{
	ns->weights = weights;
}

int hub_ns_new(struct hub_ns **out, const struct hub_options *opts, struct hub_cache *cache)
{
	*out = NULL;
	struct hub_ns *ns = calloc(1, sizeof(*ns));
	if (!ns)
		return -ENOMEM;
	ns->opts = opts;
	ns->cache = cache;
	ns->mount_time = time(NULL);
	ns->uid = getuid();
	ns->gid = getgid();
	pthread_mutex_init(&ns->lock, NULL);
	pthread_mutex_init(&ns->snap_lock, NULL);
	ns->root = calloc(1, sizeof(*ns->root));
	if (hub_htab_init(&ns->by_ino, HUB_NS_TABLE_INITIAL, 0) ||
	    hub_htab_init(&ns->by_name, HUB_NS_TABLE_INITIAL, 0) || !ns->root ||
	    !(ns->root->name = strdup(""))) {
		hub_ns_free(ns);
		return -ENOMEM;
	}
	ns->root->ino = HUB_NS_ROOT_INO;
	ns->root->type = N_ROOT;
	ns->root->nlookup = 1;
	*out = ns;
	return 0;
}

void hub_ns_free(struct hub_ns *ns)
{
	if (!ns)
		return;
	/* After unmount every node is unreachable: free them all. */
	HUB_HTAB_EACH(&ns->by_ino, l)
		node_free(hub_container_of(l, struct hub_ns_node, by_ino));
	if (ns->root) {
		free(ns->root->name);
		free(ns->root);
	}
	hub_ns_list_fini(ns);
	hub_htab_fini(&ns->by_ino);
	hub_htab_fini(&ns->by_name);
	pthread_mutex_destroy(&ns->lock);
	pthread_mutex_destroy(&ns->snap_lock);
	free(ns);
}
