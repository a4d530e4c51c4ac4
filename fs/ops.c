/*
 * The FUSE layer: nodes, lookup counts and every low-level operation.
 *
 * DESIGN
 * - A node is one inode the kernel knows: the root, /.hubfs and its files,
 *   owner directories, the repo and ref symlinks, commit directories and
 *   everything below them (tree entries and the generated .hub/ view).
 *   Inode numbers are a hash of the path (path_ino): stable while mounted
 *   and across remounts, and never given to another file.
 * - Two hash tables index the nodes: by inode number, and by (parent,
 *   name).  fs->lock guards both tables, every node's nlookup and nkids, and
 *   the lazily filled fields (a tree directory's listing, a commit's view,
 *   a symlink's last target).  It is never held across I/O, libgit2, the
 *   network, or a fuse_reply_*: slow work (resolving a ref, listing a tree)
 *   runs unlocked and its result is published under the lock.
 * - Lifetime: a node lives while the kernel holds lookups on it (nlookup)
 *   or it has live children (nkids, each child holds its parent).  The last
 *   forget frees it and may free its parent in turn.  Lookup counts are
 *   exact: a failed reply undoes its count.
 * - Caching: commit trees are immutable, so their entries and attributes
 *   carry long timeouts, directories are opened with keep_cache and
 *   cache_readdir, and OPEN answers ENOSYS so the kernel never calls it
 *   again and keeps file pages cached (the fastest read path on libfuse
 *   3.14).  Branch symlinks carry short timeouts; the daemon applies ref_ttl.
 *   /.hubfs/ files are snapshots: each lookup makes a new inode, so the page
 *   cache can never show an old snapshot.
 */
#include "fs/ops.h"

#include <fcntl.h>
#include <limits.h>
#include <sys/statvfs.h>

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cache/repo.h"
#include "cache/weights.h"
#include "base/limits.h"
#include "base/log.h"
#include "base/names.h"
#include "base/redact.h"
#include "fs/view.h"

enum ntype {
	N_ROOT,
	N_CTL_DIR,   /* /.hubfs */
	N_CTL_FILE,  /* /.hubfs/<file>: a snapshot */
	N_OWNER,     /* /<owner> */
	N_REPO_LINK, /* /<owner>/<repo> -> <repo>:<default branch> */
	N_REF_LINK,  /* /<owner>/<repo>:<ref> -> <repo>@<sha> */
	N_COMMIT,    /* /<owner>/<repo>@<sha> */
	N_TREE,      /* a directory of a commit */
	N_FILE,      /* a regular file of a commit */
	N_SYMLINK,   /* a symlink of a commit */
	N_GITLINK,   /* a submodule: an empty directory */
	N_VIEW_DIR,  /* a directory of .hub/ */
	N_VIEW_FILE, /* a file of .hub/ */
	N_URL_DIR,   /* /.hubfs/url */
	N_RESOLVE_DIR, /* /.hubfs/resolve: <owner>%2F<repo>[:<ref>] resolved now */
	N_WEIGHT,    /* a weight file (.hub/.../weights/<name>, /.hubfs/url/<url>) */
};

/* What every node of one commit directory shares. */
struct commit {
	int refs; /* fs->lock */
	struct hub_repo *repo;
	char sha[41];
	struct hub_oid tree;
	int64_t time;
	struct hub_view *view; /* fs->lock; built on first access to .hub */
};

struct tree_list {
	struct hub_tree_entry *ents; /* sorted by strcmp of name */
	size_t n;
};

struct node {
	uint64_t ino;
	uint64_t nlookup; /* fs->lock */
	uint64_t nkids;   /* fs->lock */
	enum ntype type;
	struct node *parent;
	char *name;
	struct node *next_ino, *next_name; /* hash chains */
	bool in_name_table;

	struct hub_repo *repo; /* links, commit nodes */
	char *ref;             /* N_REF_LINK: decoded ref */
	bool immutable;        /* N_REF_LINK to a tag or commit */
	char *target;          /* links: last target (fs->lock) */

	struct commit *commit;  /* N_COMMIT and below */
	uint32_t mode;          /* tree entries: git mode */
	struct hub_oid oid;     /* tree entries */
	uint64_t size;          /* files, symlinks, snapshots */
	struct tree_list *list; /* N_COMMIT/N_TREE: listing (fs->lock) */

	struct timespec mtime;       /* N_ROOT, N_OWNER: the cache's last change */
	const struct hub_view *view; /* N_VIEW_*: inside commit->view */
	struct hub_weight *weight;   /* N_WEIGHT: a reference */
	char *data;                  /* N_CTL_FILE: snapshot */
};

struct hub_fs {
	const struct hub_options *opts;
	struct hub_cache *cache;
	struct hub_py *py;           /* set once before the loop starts */
	struct hub_weights *weights; /* set once before the loop starts */
	time_t mount_time;
	uid_t uid;
	gid_t gid;
	pthread_mutex_t lock;
	uint64_t next_snapshot;
	struct node **by_ino;
	struct node **by_name;
	size_t nbuckets; /* power of two */
	size_t count;
	struct node *root;

	/* The invalidation notifier (weights whose bytes were discarded); its
	 * own leaf lock, never held with fs->lock nor across a notify. */
	struct fuse_session *se;
	pthread_t notifier;
	bool notifier_started;
	pthread_mutex_t nlock;
	pthread_cond_t ncond;
	bool nstop;               /* nlock */
	char *pending[HUB_INVAL_QUEUE_MAX]; /* nlock: weight names */
	size_t npending;          /* nlock */
};

/* ---------------------------------------------------------------- tables */

static uint64_t hash_name(uint64_t parent, const char *name)
{
	uint64_t h = 1469598103934665603ull ^ parent;
	for (const unsigned char *p = (const unsigned char *)name; *p; p++)
		h = (h ^ *p) * 1099511628211ull;
	return h;
}

static size_t bucket_ino(const struct hub_fs *fs, uint64_t ino)
{
	return (size_t)((ino * 11400714819323198485ull) >> 20) & (fs->nbuckets - 1);
}

static size_t bucket_name(const struct hub_fs *fs, uint64_t parent, const char *name)
{
	return (size_t)hash_name(parent, name) & (fs->nbuckets - 1);
}

static void table_insert(struct hub_fs *fs, struct node *n, bool by_name);

/* Double the tables; fs->lock held. */
static void table_grow(struct hub_fs *fs)
{
	size_t old_n = fs->nbuckets;
	struct node **old_ino = fs->by_ino;
	struct node **ni = calloc(old_n * 2, sizeof(*ni));
	struct node **nn = calloc(old_n * 2, sizeof(*nn));
	if (!ni || !nn) {
		free(ni);
		free(nn);
		return; /* keep the smaller tables: slower, still correct */
	}
	free(fs->by_name);
	fs->by_ino = ni;
	fs->by_name = nn;
	fs->nbuckets = old_n * 2;
	fs->count = 0;
	for (size_t i = 0; i < old_n; i++) {
		for (struct node *n = old_ino[i], *next; n; n = next) {
			next = n->next_ino;
			table_insert(fs, n, n->in_name_table);
		}
	}
	free(old_ino);
}

static void table_insert(struct hub_fs *fs, struct node *n, bool by_name)
{
	size_t b = bucket_ino(fs, n->ino);
	n->next_ino = fs->by_ino[b];
	fs->by_ino[b] = n;
	n->in_name_table = by_name;
	if (by_name) {
		size_t c = bucket_name(fs, n->parent->ino, n->name);
		n->next_name = fs->by_name[c];
		fs->by_name[c] = n;
	}
	fs->count++;
}

static void table_remove(struct hub_fs *fs, struct node *n)
{
	struct node **pp = &fs->by_ino[bucket_ino(fs, n->ino)];
	while (*pp && *pp != n)
		pp = &(*pp)->next_ino;
	if (*pp)
		*pp = n->next_ino;
	if (n->in_name_table) {
		pp = &fs->by_name[bucket_name(fs, n->parent->ino, n->name)];
		while (*pp && *pp != n)
			pp = &(*pp)->next_name;
		if (*pp)
			*pp = n->next_name;
	}
	fs->count--;
}

/* fs->lock held. */
static struct node *find_ino(struct hub_fs *fs, fuse_ino_t ino)
{
	if (ino == FUSE_ROOT_ID)
		return fs->root;
	for (struct node *n = fs->by_ino[bucket_ino(fs, ino)]; n; n = n->next_ino)
		if (n->ino == ino)
			return n;
	return NULL;
}

static struct node *find_child(struct hub_fs *fs, struct node *parent, const char *name)
{
	for (struct node *n = fs->by_name[bucket_name(fs, parent->ino, name)]; n; n = n->next_name)
		if (n->parent == parent && !strcmp(n->name, name))
			return n;
	return NULL;
}

static struct hub_fs *fs_of(fuse_req_t req)
{
	return fuse_req_userdata(req);
}

/* Look the inode up; the kernel guarantees it is alive while it sends
 * requests for it, so the pointer stays valid after the lock is dropped. */
static struct node *get_node(struct hub_fs *fs, fuse_ino_t ino)
{
	pthread_mutex_lock(&fs->lock);
	struct node *n = find_ino(fs, ino);
	pthread_mutex_unlock(&fs->lock);
	return n;
}

/* ----------------------------------------------------------------- nodes */

static void commit_put(struct commit *c)
{
	/* fs->lock held */
	if (c && --c->refs == 0) {
		hub_view_free(c->view);
		free(c);
	}
}

static void node_free(struct node *n)
{
	if (n->list) {
		hub_tree_entries_free(n->list->ents, n->list->n);
		free(n->list);
	}
	commit_put(n->commit);
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
 * counter in the upper half, which hashes never produce.  fs->lock held. */
#define HUB_SNAPSHOT_INO (1ull << 63)

static uint64_t mix64(uint64_t x)
{
	x ^= x >> 30;
	x *= 0xbf58476d1ce4e5b9ull;
	x ^= x >> 27;
	x *= 0x94d049bb133111ebull;
	return x ^ (x >> 31);
}

static uint64_t path_ino(struct hub_fs *fs, const struct node *parent, const char *name)
{
	uint64_t h = mix64(hash_name(parent ? parent->ino : 0, name));
	for (;;) {
		uint64_t ino = h & (HUB_SNAPSHOT_INO - 1);
		if (ino > FUSE_ROOT_ID && !find_ino(fs, ino))
			return ino;
		h = mix64(h + 1);
	}
}

static uint64_t snapshot_ino(struct hub_fs *fs)
{
	return HUB_SNAPSHOT_INO | ++fs->next_snapshot;
}

/* Create a child node; fs->lock held.  Snapshot nodes are kept out of the
 * name table so every lookup makes a fresh one. */
static struct node *node_new(struct hub_fs *fs, struct node *parent, const char *name,
			     enum ntype type, bool by_name)
{
	struct node *n = calloc(1, sizeof(*n));
	if (!n || !(n->name = strdup(name))) {
		free(n);
		return NULL;
	}
	n->type = type;
	n->ino = by_name ? path_ino(fs, parent, name) : snapshot_ino(fs);
	n->parent = parent;
	if (parent) {
		parent->nkids++;
		n->commit = parent->commit;
		if (n->commit)
			n->commit->refs++;
		n->repo = parent->repo;
	}
	if (fs->count >= fs->nbuckets)
		table_grow(fs);
	table_insert(fs, n, by_name);
	return n;
}

/* Drop nlookup by count and free what became unreachable; fs->lock held. */
static void node_forget(struct hub_fs *fs, struct node *n, uint64_t count)
{
	n->nlookup = count > n->nlookup ? 0 : n->nlookup - count;
	while (n && n != fs->root && n->nlookup == 0 && n->nkids == 0) {
		struct node *parent = n->parent;
		table_remove(fs, n);
		node_free(n);
		if (parent)
			parent->nkids--;
		n = parent;
	}
}

/* ------------------------------------------------------------ attributes */

/* Fill st from a node; fs->lock held (reads target, size). */
static void node_stat(struct hub_fs *fs, const struct node *n, struct stat *st)
{
	memset(st, 0, sizeof(*st));
	st->st_ino = n->ino;
	st->st_uid = fs->uid;
	st->st_gid = fs->gid;
	st->st_nlink = 1;
	st->st_blksize = 4096;
	time_t t = n->commit ? (time_t)n->commit->time : fs->mount_time;
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
		break;
	default:
		st->st_mode = S_IFDIR | 0555;
		if (n->type == N_URL_DIR && fs->opts->url_access == HUB_URL_ACCESS_OWNER)
			st->st_mode = S_IFDIR | 0500; /* shows url_access=owner */
		st->st_nlink = n->type == N_GITLINK ? 2 : 1;
		break;
	}
	st->st_blocks = (st->st_size + 511) / 512;
}

/* Refresh a root or owner directory's mtime from the cache (I/O: call
 * without fs->lock).  The kernel compares it to decide whether its cached
 * listing of the directory is still good. */
static void dir_mtime(struct hub_fs *fs, struct node *n)
{
	if (n->type != N_ROOT && n->type != N_OWNER)
		return;
	struct timespec ts;
	hub_cache_mtime(&ts, fs->cache, n->type == N_OWNER ? n->name : NULL);
	if (ts.tv_sec < fs->mount_time) {
		ts.tv_sec = fs->mount_time;
		ts.tv_nsec = 0;
	}
	pthread_mutex_lock(&fs->lock);
	n->mtime = ts;
	pthread_mutex_unlock(&fs->lock);
}

/* How long the kernel may trust a node's entry and attributes. */
static double node_ttl(const struct node *n)
{
	switch (n->type) {
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

/* Count a lookup of n and fill e; fs->lock held. */
static void entry_of(struct hub_fs *fs, struct node *n, struct fuse_entry_param *e)
{
	memset(e, 0, sizeof(*e));
	n->nlookup++;
	e->ino = n->ino;
	e->generation = 1;
	node_stat(fs, n, &e->attr);
	e->attr_timeout = e->entry_timeout = node_ttl(n);
	if (n->type == N_OWNER)
		e->entry_timeout = HUB_TTL_IMMUTABLE; /* every valid owner exists */
	if (n->parent && n->parent->type == N_URL_DIR && fs->opts->url_access == HUB_URL_ACCESS_OWNER)
		e->entry_timeout = 0; /* every path walk asks again: url_denied */
}

/* Reply with an entry; undo the count if the kernel did not take it. */
static void reply_entry(fuse_req_t req, struct hub_fs *fs, struct node *n)
{
	struct fuse_entry_param e;
	pthread_mutex_lock(&fs->lock);
	entry_of(fs, n, &e);
	pthread_mutex_unlock(&fs->lock);
	if (fuse_reply_entry(req, &e)) {
		pthread_mutex_lock(&fs->lock);
		node_forget(fs, n, 1);
		pthread_mutex_unlock(&fs->lock);
	}
}

static void reply_negative(fuse_req_t req, double ttl)
{
	struct fuse_entry_param e;
	memset(&e, 0, sizeof(e));
	e.entry_timeout = ttl;
	fuse_reply_entry(req, &e);
}

/* --------------------------------------------------------- /.hubfs files */

static const char *const ctl_names[] = { "counters", "downloads", "options", "stale", "version" };

static char *ctl_render(struct hub_fs *fs, const char *name)
{
	char *out = NULL;
	if (!strcmp(name, "version")) {
		if (asprintf(&out, "hubfs %s\n", HUBFS_VERSION) < 0)
			out = NULL;
	} else if (!strcmp(name, "options")) {
		/* every user reads this file: URLs without credentials or query
		 * (base/redact.h); token_host= values are plain host names */
		const struct hub_options *o = fs->opts;
		size_t cap = 2 * PATH_MAX + (o->n_rewrite * 2 + 1) * HUB_URL_MAX +
			     o->n_token_host * (HUB_HOST_MAX + 16);
		char *a = malloc(HUB_URL_MAX), *b = malloc(HUB_URL_MAX);
		out = a && b ? malloc(cap) : NULL;
		if (out) {
			hub_redact_url(a, HUB_URL_MAX, o->git_url);
			int len = snprintf(out, cap,
					   "cache=%s\ngit_url=%s\noffline=%d\nref_ttl=%ld\n"
					   "neg_ttl=%ld\nverify=%s\n",
					   hub_cache_root(fs->cache), a, o->offline, o->ref_ttl,
					   o->neg_ttl, o->verify == HUB_VERIFY_STRICT ? "strict" : "stream");
			for (size_t i = 0; i < o->n_rewrite && len > 0 && (size_t)len < cap; i++) {
				hub_redact_url(a, HUB_URL_MAX, o->rewrite[i].from);
				hub_redact_url(b, HUB_URL_MAX, o->rewrite[i].to);
				len += snprintf(out + len, cap - (size_t)len, "rewrite=%s=%s\n", a, b);
			}
			for (size_t i = 0; i < o->n_token_host && len > 0 && (size_t)len < cap; i++)
				len += snprintf(out + len, cap - (size_t)len, "token_host=%s\n",
						o->token_host[i]);
			if (len > 0 && (size_t)len < cap)
				snprintf(out + len, cap - (size_t)len, "allow_private=%d\nurl_access=%s\n",
					 o->allow_private,
					 o->url_access == HUB_URL_ACCESS_ALL ? "all" : "owner");
		}
		free(a);
		free(b);
	} else if (!strcmp(name, "counters")) {
		struct hub_cache_stats s;
		hub_cache_stats(&s, fs->cache);
		pthread_mutex_lock(&fs->lock);
		size_t nodes = fs->count;
		pthread_mutex_unlock(&fs->lock);
		if (asprintf(&out,
			     "ls_remote %llu\nfetches %llu\nfetch_failures %llu\nstale_served %llu\n"
			     "negative_hits %llu\ninodes %zu\n",
			     (unsigned long long)s.ls_remote, (unsigned long long)s.fetches,
			     (unsigned long long)s.fetch_failures, (unsigned long long)s.stale_served,
			     (unsigned long long)s.neg_hits, nodes) < 0)
			out = NULL;
	} else if (!strcmp(name, "stale")) {
		out = hub_cache_stale_report(fs->cache);
	} else if (!strcmp(name, "downloads")) {
		out = fs->weights ? hub_weights_status(fs->weights) : strdup("");
	}
	return out;
}

/* ------------------------------------------------------------- listings */

static int cmp_entry(const void *a, const void *b)
{
	return strcmp(((const struct hub_tree_entry *)a)->name,
		      ((const struct hub_tree_entry *)b)->name);
}

/* The listing of a commit or tree directory, loading it on first use. */
static int tree_listing(struct tree_list **out, struct hub_fs *fs, struct node *dir)
{
	pthread_mutex_lock(&fs->lock);
	struct tree_list *l = dir->list;
	pthread_mutex_unlock(&fs->lock);
	if (l) {
		*out = l;
		return 0;
	}
	const struct hub_oid *tree = dir->type == N_COMMIT ? &dir->commit->tree : &dir->oid;
	l = calloc(1, sizeof(*l));
	if (!l)
		return -ENOMEM;
	int rc = hub_repo_tree_list(&l->ents, &l->n, dir->repo, tree);
	if (rc) {
		free(l);
		return rc;
	}
	qsort(l->ents, l->n, sizeof(*l->ents), cmp_entry);
	pthread_mutex_lock(&fs->lock);
	if (dir->list) { /* another thread won */
		hub_tree_entries_free(l->ents, l->n);
		free(l);
	} else {
		dir->list = l;
	}
	*out = dir->list;
	pthread_mutex_unlock(&fs->lock);
	return 0;
}

static const struct hub_tree_entry *tree_find(const struct tree_list *l, const char *name)
{
	struct hub_tree_entry key = { .name = (char *)name };
	return bsearch(&key, l->ents, l->n, sizeof(*l->ents), cmp_entry);
}

static enum ntype entry_type(uint32_t mode)
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

/* Get or create the node for a tree entry of dir; fs->lock held. */
static struct node *tree_child(struct hub_fs *fs, struct node *dir, const struct hub_tree_entry *te)
{
	struct node *n = find_child(fs, dir, te->name);
	if (n)
		return n;
	n = node_new(fs, dir, te->name, entry_type(te->mode), true);
	if (n) {
		n->mode = te->mode;
		n->oid = te->oid;
		n->size = te->size;
	}
	return n;
}

/* The commit's .hub view, built on first use. */
static int commit_view(const struct hub_view **out, struct hub_fs *fs, struct commit *c)
{
	pthread_mutex_lock(&fs->lock);
	const struct hub_view *v = c->view;
	pthread_mutex_unlock(&fs->lock);
	if (v) {
		*out = v;
		return 0;
	}
	struct hub_view *built;
	int rc = hub_view_build(&built, fs->cache, fs->py, c->repo, c->sha, &c->tree);
	if (rc)
		return rc;
	pthread_mutex_lock(&fs->lock);
	if (c->view)
		hub_view_free(built);
	else
		c->view = built;
	*out = c->view;
	pthread_mutex_unlock(&fs->lock);
	return 0;
}

static void reply_resolve_error(fuse_req_t req, struct hub_fs *fs, int rc);

/* ------------------------------------------------------------- weights */

/* The node of a weight file named name in parent, for url: its size comes
 * from cache/weights.h (a HEAD request the first time). */
static int weight_node(struct node **out, struct hub_fs *fs, struct node *parent, const char *name,
		       const char *url)
{
	*out = NULL;
	if (!fs->weights)
		return -ENOSYS;
	struct hub_weight *w;
	int rc = hub_weights_get(&w, fs->weights, url);
	uint64_t size = 0;
	if (!rc)
		rc = hub_weight_size(&size, w);
	if (rc) {
		hub_weight_put(w);
		return rc;
	}
	pthread_mutex_lock(&fs->lock);
	struct node *n = find_child(fs, parent, name);
	if (!n && (n = node_new(fs, parent, name, N_WEIGHT, true))) {
		n->weight = w;
		w = NULL;
	}
	if (n)
		n->size = size;
	pthread_mutex_unlock(&fs->lock);
	hub_weight_put(w);
	*out = n;
	return n ? 0 : -ENOMEM;
}

/* /.hubfs/url/<url>: any http(s) URL as a weight file, '/' written %2F and
 * '%' written %25 (as refs are).  The Python helper reads weights that no
 * hubconf analysis found through here. */
/* url_access=owner: /.hubfs/url (lookups, listing, reads of its files) is
 * the mount owner's alone (the daemon's uid: whoever mounted), with or
 * without allow_other.  Checked per request (no default_permissions). */
static bool url_denied(fuse_req_t req, const struct hub_fs *fs)
{
	return fs->opts->url_access == HUB_URL_ACCESS_OWNER && fuse_req_ctx(req)->uid != fs->uid;
}

/* A weight's failure at lookup: ENOENT negative; what the download policy
 * refused (private address, https -> http) as itself; anything else EIO. */
static int weight_lookup_errno(int rc)
{
	if (rc == -EPERM || rc == -EPROTONOSUPPORT || rc == -ENAMETOOLONG)
		return -rc;
	return EIO;
}

static void lookup_url(fuse_req_t req, struct hub_fs *fs, struct node *dir, const char *name)
{
	char url[HUB_URL_MAX], base[256];
	if (hub_name_decode_ref(url, sizeof(url), name) < 0 ||
	    (strncmp(url, "http://", 7) && strncmp(url, "https://", 8)) ||
	    hub_weights_name(base, sizeof(base), url)) {
		reply_negative(req, HUB_TTL_NEG_INVALID);
		return;
	}
	struct node *n;
	int rc = weight_node(&n, fs, dir, name, url);
	if (rc == -ENOENT) {
		reply_resolve_error(req, fs, rc);
		return;
	}
	if (rc) {
		fuse_reply_err(req, weight_lookup_errno(rc));
		return;
	}
	reply_entry(req, fs, n);
}

/* /.hubfs/resolve/<owner>%2F<repo>[:<ref>]: a snapshot file holding
 * "<sha>\n", the ref resolved now (the remote asked whatever ref_ttl says;
 * no ref: the default branch).  The Python helper's force_reload; the
 * repo's <repo>:<ref> link then shows the new commit too. */
static void lookup_resolve(fuse_req_t req, struct hub_fs *fs, struct node *dir, const char *name)
{
	char owner[HUB_OWNER_MAX + 1];
	const char *sep = strstr(name, "%2F");
	struct hub_name hn;
	if (!sep || (size_t)(sep - name) > HUB_OWNER_MAX) {
		reply_negative(req, 0);
		return;
	}
	memcpy(owner, name, (size_t)(sep - name));
	owner[sep - name] = '\0';
	if (!hub_name_owner_valid(owner) || hub_name_parse(&hn, sep + 3) || hn.kind == HUB_NAME_COMMIT) {
		reply_negative(req, 0);
		return;
	}
	struct hub_repo *repo;
	int rc = hub_cache_repo(&repo, fs->cache, owner, hn.repo);
	char sha[41];
	if (!rc)
		rc = hub_repo_resolve_now(sha, repo, hn.kind == HUB_NAME_REF ? hn.ref : NULL);
	if (rc) {
		reply_resolve_error(req, fs, rc);
		return;
	}
	char *data = malloc(42);
	if (!data) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	snprintf(data, 42, "%s\n", sha);
	pthread_mutex_lock(&fs->lock);
	struct node *n = node_new(fs, dir, name, N_CTL_FILE, false);
	if (n) {
		n->data = data;
		n->size = strlen(data);
	}
	pthread_mutex_unlock(&fs->lock);
	if (!n) {
		free(data);
		fuse_reply_err(req, ENOMEM);
		return;
	}
	reply_entry(req, fs, n);
}

/* --------------------------------------------------------------- lookup */

/* The target of a repo or ref symlink, resolving as needed (may block on
 * the network).  Stores it in the node for getattr. */
static int link_target(struct hub_fs *fs, struct node *n)
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
			pthread_mutex_lock(&fs->lock);
			n->immutable = immutable;
			pthread_mutex_unlock(&fs->lock);
		}
	}
	if (rc)
		return rc;
	char *t = strdup(target);
	if (!t)
		return -ENOMEM;
	pthread_mutex_lock(&fs->lock);
	free(n->target);
	n->target = t;
	pthread_mutex_unlock(&fs->lock);
	return 0;
}

/* An error from resolution: ENOENT becomes a negative entry cached for
 * neg_ttl; anything else (transient) is EIO and never cached. */
static void reply_resolve_error(fuse_req_t req, struct hub_fs *fs, int rc)
{
	if (rc == -ENOENT)
		reply_negative(req, fs->opts->offline ? HUB_TTL_REF : (double)fs->opts->neg_ttl);
	else
		fuse_reply_err(req, rc == -ENAMETOOLONG ? ENAMETOOLONG : EIO);
}

static void lookup_owner_entry(fuse_req_t req, struct hub_fs *fs, struct node *owner,
			       const char *name)
{
	struct hub_name hn;
	int rc = hub_name_parse(&hn, name);
	if (rc) {
		reply_negative(req, HUB_TTL_NEG_INVALID);
		return;
	}
	struct hub_repo *repo;
	rc = hub_cache_repo(&repo, fs->cache, owner->name, hn.repo);
	if (rc) {
		fuse_reply_err(req, -rc);
		return;
	}
	if (hn.kind == HUB_NAME_COMMIT) {
		rc = hub_repo_ensure_commit(repo, hn.ref);
		struct hub_oid tree;
		int64_t t = 0;
		if (!rc)
			rc = hub_repo_commit_info(&tree, &t, repo, hn.ref);
		if (rc) {
			reply_resolve_error(req, fs, rc);
			return;
		}
		pthread_mutex_lock(&fs->lock);
		struct node *n = find_child(fs, owner, name);
		if (!n) {
			struct commit *c = calloc(1, sizeof(*c));
			n = c ? node_new(fs, owner, name, N_COMMIT, true) : NULL;
			if (n) {
				c->refs = 1;
				c->repo = repo;
				memcpy(c->sha, hn.ref, 41);
				c->tree = tree;
				c->time = t;
				n->commit = c;
				n->repo = repo;
			} else {
				free(c);
			}
		}
		pthread_mutex_unlock(&fs->lock);
		if (!n) {
			fuse_reply_err(req, ENOMEM);
			return;
		}
		reply_entry(req, fs, n);
		return;
	}

	/* A symlink: resolve first (this is where the network is used). */
	char *ref = hn.kind == HUB_NAME_REF ? strdup(hn.ref) : NULL;
	if (hn.kind == HUB_NAME_REF && !ref) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	pthread_mutex_lock(&fs->lock);
	struct node *n = find_child(fs, owner, name);
	if (!n) {
		n = node_new(fs, owner, name, hn.kind == HUB_NAME_REPO ? N_REPO_LINK : N_REF_LINK,
			     true);
		if (n) {
			n->repo = repo;
			n->ref = ref;
			ref = NULL;
		}
	}
	/* Hold the node across the unlocked resolution. */
	if (n)
		n->nlookup++;
	pthread_mutex_unlock(&fs->lock);
	free(ref);
	if (!n) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	rc = link_target(fs, n);
	if (rc) {
		pthread_mutex_lock(&fs->lock);
		node_forget(fs, n, 1);
		pthread_mutex_unlock(&fs->lock);
		reply_resolve_error(req, fs, rc);
		return;
	}
	reply_entry(req, fs, n);
	pthread_mutex_lock(&fs->lock);
	node_forget(fs, n, 1);
	pthread_mutex_unlock(&fs->lock);
}

static void lookup_tree_entry(fuse_req_t req, struct hub_fs *fs, struct node *dir,
			      const char *name)
{
	if (dir->type == N_COMMIT && !strcmp(name, ".hub")) {
		const struct hub_view *v;
		int rc = commit_view(&v, fs, dir->commit);
		if (rc) {
			fuse_reply_err(req, -rc);
			return;
		}
		pthread_mutex_lock(&fs->lock);
		struct node *n = find_child(fs, dir, name);
		if (!n && (n = node_new(fs, dir, name, N_VIEW_DIR, true)))
			n->view = v;
		pthread_mutex_unlock(&fs->lock);
		if (!n)
			fuse_reply_err(req, ENOMEM);
		else
			reply_entry(req, fs, n);
		return;
	}
	struct tree_list *l;
	int rc = tree_listing(&l, fs, dir);
	if (rc) {
		fuse_reply_err(req, rc == -ENOENT ? EIO : -rc);
		return;
	}
	const struct hub_tree_entry *te = tree_find(l, name);
	if (!te) {
		reply_negative(req, HUB_TTL_IMMUTABLE);
		return;
	}
	pthread_mutex_lock(&fs->lock);
	struct node *n = tree_child(fs, dir, te);
	pthread_mutex_unlock(&fs->lock);
	if (!n)
		fuse_reply_err(req, ENOMEM);
	else
		reply_entry(req, fs, n);
}

static void hub_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct hub_fs *fs = fs_of(req);
	struct node *p = get_node(fs, parent);
	if (!p) {
		fuse_reply_err(req, ESTALE);
		return;
	}
	struct node *n = NULL;
	switch (p->type) {
	case N_ROOT:
		pthread_mutex_lock(&fs->lock);
		if (!strcmp(name, ".hubfs")) {
			n = find_child(fs, p, name);
			if (!n)
				n = node_new(fs, p, name, N_CTL_DIR, true);
		} else if (hub_name_owner_valid(name)) {
			n = find_child(fs, p, name);
			if (!n)
				n = node_new(fs, p, name, N_OWNER, true);
		} else {
			pthread_mutex_unlock(&fs->lock);
			reply_negative(req, HUB_TTL_NEG_INVALID);
			return;
		}
		pthread_mutex_unlock(&fs->lock);
		break;
	case N_CTL_DIR: {
		if (!strcmp(name, "url") || !strcmp(name, "resolve")) {
			pthread_mutex_lock(&fs->lock);
			n = find_child(fs, p, name);
			if (!n)
				n = node_new(fs, p, name, name[0] == 'u' ? N_URL_DIR : N_RESOLVE_DIR, true);
			pthread_mutex_unlock(&fs->lock);
			break;
		}
		bool known = false;
		for (size_t i = 0; i < sizeof(ctl_names) / sizeof(*ctl_names); i++)
			known |= !strcmp(name, ctl_names[i]);
		char *data = known ? ctl_render(fs, name) : NULL;
		if (!known) {
			reply_negative(req, 0);
			return;
		}
		if (!data) {
			fuse_reply_err(req, ENOMEM);
			return;
		}
		pthread_mutex_lock(&fs->lock);
		n = node_new(fs, p, name, N_CTL_FILE, false);
		if (n) {
			n->data = data;
			n->size = strlen(data);
		} else {
			free(data);
		}
		pthread_mutex_unlock(&fs->lock);
		break;
	}
	case N_OWNER:
		lookup_owner_entry(req, fs, p, name);
		return;
	case N_COMMIT:
	case N_TREE:
		lookup_tree_entry(req, fs, p, name);
		return;
	case N_URL_DIR:
		if (url_denied(req, fs)) {
			fuse_reply_err(req, EACCES);
			return;
		}
		lookup_url(req, fs, p, name);
		return;
	case N_RESOLVE_DIR:
		lookup_resolve(req, fs, p, name);
		return;
	case N_VIEW_DIR: {
		const struct hub_view *v = hub_view_child(p->view, name);
		if (!v) {
			reply_negative(req, HUB_TTL_IMMUTABLE);
			return;
		}
		if (v->url) {
			int rc = weight_node(&n, fs, p, name, v->url);
			if (rc) {
				fuse_reply_err(req, rc == -ENOENT ? ENOENT : weight_lookup_errno(rc));
				return;
			}
			break;
		}
		pthread_mutex_lock(&fs->lock);
		n = find_child(fs, p, name);
		if (!n && (n = node_new(fs, p, name, v->dir ? N_VIEW_DIR : N_VIEW_FILE, true)))
			n->view = v;
		pthread_mutex_unlock(&fs->lock);
		break;
	}
	case N_GITLINK:
		reply_negative(req, HUB_TTL_IMMUTABLE);
		return;
	default:
		fuse_reply_err(req, ENOTDIR);
		return;
	}
	if (!n) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	dir_mtime(fs, n);
	reply_entry(req, fs, n);
}

static void hub_forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup)
{
	struct hub_fs *fs = fs_of(req);
	pthread_mutex_lock(&fs->lock);
	struct node *n = find_ino(fs, ino);
	if (n)
		node_forget(fs, n, nlookup);
	pthread_mutex_unlock(&fs->lock);
	fuse_reply_none(req);
}

static void hub_forget_multi(fuse_req_t req, size_t count, struct fuse_forget_data *forgets)
{
	struct hub_fs *fs = fs_of(req);
	pthread_mutex_lock(&fs->lock);
	for (size_t i = 0; i < count; i++) {
		struct node *n = find_ino(fs, forgets[i].ino);
		if (n)
			node_forget(fs, n, forgets[i].nlookup);
	}
	pthread_mutex_unlock(&fs->lock);
	fuse_reply_none(req);
}

/* ------------------------------------------------------- attrs and links */

static void hub_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	(void)fi;
	struct hub_fs *fs = fs_of(req);
	struct stat st;
	struct node *n = get_node(fs, ino);
	if (n)
		dir_mtime(fs, n);
	pthread_mutex_lock(&fs->lock);
	if (n)
		node_stat(fs, n, &st);
	double ttl = n ? node_ttl(n) : 0;
	pthread_mutex_unlock(&fs->lock);
	if (!n)
		fuse_reply_err(req, ESTALE);
	else
		fuse_reply_attr(req, &st, ttl);
}

static void hub_readlink(fuse_req_t req, fuse_ino_t ino)
{
	struct hub_fs *fs = fs_of(req);
	struct node *n = get_node(fs, ino);
	if (!n) {
		fuse_reply_err(req, ESTALE);
		return;
	}
	if (n->type == N_SYMLINK) {
		struct hub_blob *b;
		int rc = hub_repo_blob_get(&b, n->repo, &n->oid);
		if (rc) {
			fuse_reply_err(req, EIO);
			return;
		}
		char target[PATH_MAX];
		size_t len = b->size < sizeof(target) - 1 ? b->size : sizeof(target) - 1;
		memcpy(target, b->data, len);
		target[len] = '\0';
		hub_blob_put(b);
		fuse_reply_readlink(req, target);
		return;
	}
	if (n->type != N_REPO_LINK && n->type != N_REF_LINK) {
		fuse_reply_err(req, EINVAL);
		return;
	}
	int rc = link_target(fs, n);
	if (rc) {
		fuse_reply_err(req, rc == -ENOENT ? ENOENT : EIO);
		return;
	}
	char target[HUB_REPO_MAX + HUB_REF_MAX * 3 + 8];
	pthread_mutex_lock(&fs->lock);
	snprintf(target, sizeof(target), "%s", n->target);
	pthread_mutex_unlock(&fs->lock);
	fuse_reply_readlink(req, target);
}

/* -------------------------------------------------------------- reading */

static void hub_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	(void)ino;
	if ((fi->flags & O_ACCMODE) != O_RDONLY || (fi->flags & O_TRUNC)) {
		fuse_reply_err(req, EROFS);
		return;
	}
	/* No per-open state is needed: ENOSYS makes the kernel skip OPEN and
	 * RELEASE from now on and keep the page cache (see DESIGN). */
	fuse_reply_err(req, ENOSYS);
}

static void reply_slice(fuse_req_t req, const char *data, size_t len, size_t size, off_t off)
{
	if (off < 0 || (size_t)off >= len) {
		fuse_reply_buf(req, NULL, 0);
		return;
	}
	size_t n = len - (size_t)off < size ? len - (size_t)off : size;
	fuse_reply_buf(req, data + off, n);
}

static void hub_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		     struct fuse_file_info *fi)
{
	(void)fi;
	struct hub_fs *fs = fs_of(req);
	struct node *n = get_node(fs, ino);
	if (!n) {
		fuse_reply_err(req, ESTALE);
		return;
	}
	switch (n->type) {
	case N_FILE: {
		struct hub_blob *b;
		int rc = hub_repo_blob_get(&b, n->repo, &n->oid);
		if (rc) {
			fuse_reply_err(req, EIO);
			return;
		}
		reply_slice(req, b->data, b->size, size, off);
		hub_blob_put(b);
		return;
	}
	case N_VIEW_FILE:
		reply_slice(req, n->view->data, n->view->len, size, off);
		return;
	case N_CTL_FILE:
		reply_slice(req, n->data, n->size, size, off);
		return;
	case N_WEIGHT: {
		if (n->parent && n->parent->type == N_URL_DIR && url_denied(req, fs)) {
			fuse_reply_err(req, EACCES); /* an entry the owner looked up */
			return;
		}
		void *buf = NULL;
		if (posix_memalign(&buf, 4096, size ? size : 1)) {
			fuse_reply_err(req, ENOMEM);
			return;
		}
		ssize_t got = hub_weight_read(buf, size, off, n->weight);
		if (got < 0)
			fuse_reply_err(req, (int)-got);
		else
			fuse_reply_buf(req, buf, (size_t)got);
		free(buf);
		return;
	}
	default:
		fuse_reply_err(req, EISDIR);
	}
}

/* ------------------------------------------------------------ directories */

/* d_ino of entries not yet known to the kernel (libfuse's high-level API
 * uses the same value); stat gives the real inode number. */
#define HUB_UNKNOWN_INO 0xffffffffu

struct dirent_snap {
	const char *name;
	bool owned; /* name is a copy (else it points into a listing or view) */
	enum ntype type; /* for d_type */
	const struct hub_tree_entry *te; /* tree dirs: create nodes in readdirplus */
	const struct hub_view *view;
};

struct dir_snap {
	struct dirent_snap *e;
	size_t n, cap;
	struct node *dir;
};

static int snap_add_ref(struct dir_snap *s, const char *name, enum ntype type, bool copy)
{
	if (s->n == s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 32;
		if (cap > HUB_DIR_ENTRIES_MAX)
			return -EFBIG;
		struct dirent_snap *e = realloc(s->e, cap * sizeof(*e));
		if (!e)
			return -ENOMEM;
		s->e = e;
		s->cap = cap;
	}
	struct dirent_snap *d = &s->e[s->n];
	memset(d, 0, sizeof(*d));
	d->name = copy ? strdup(name) : name;
	if (!d->name)
		return -ENOMEM;
	d->owned = copy;
	d->type = type;
	s->n++;
	return 0;
}

static int snap_add(struct dir_snap *s, const char *name, enum ntype type)
{
	return snap_add_ref(s, name, type, true);
}

static void snap_free(struct dir_snap *s)
{
	for (size_t i = 0; s && i < s->n; i++)
		if (s->e[i].owned)
			free((char *)s->e[i].name);
	if (s)
		free(s->e);
	free(s);
}

static int snap_owner(struct dir_snap *s, struct hub_fs *fs, const char *owner)
{
	struct hub_cached_repo *repos;
	size_t n;
	int rc = hub_cache_list_repos(&repos, &n, fs->cache, owner);
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

static enum ntype view_type(const struct hub_view *v)
{
	return v->dir ? N_VIEW_DIR : v->url ? N_WEIGHT : N_VIEW_FILE;
}

/* The entries of directory d, from offset 0.  Commit trees list from their
 * cached listing without copying names; the root and owner directories are
 * read from the cache each time (the kernel caches them, see dir_mtime). */
static int dir_build(struct dir_snap **out, struct hub_fs *fs, struct node *d)
{
	*out = NULL;
	struct dir_snap *s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->dir = d;
	int rc = snap_add_ref(s, ".", N_TREE, false);
	if (!rc)
		rc = snap_add_ref(s, "..", N_TREE, false);
	switch (d->type) {
	case N_ROOT: {
		char **owners;
		size_t n;
		if (!rc)
			rc = snap_add_ref(s, ".hubfs", N_CTL_DIR, false);
		if (!rc && !(rc = hub_cache_list_owners(&owners, &n, fs->cache))) {
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
		for (size_t i = 0; !rc && i < sizeof(ctl_names) / sizeof(*ctl_names); i++)
			rc = snap_add_ref(s, ctl_names[i], N_CTL_FILE, false);
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
			rc = snap_owner(s, fs, d->name);
		break;
	case N_COMMIT:
	case N_TREE: {
		struct tree_list *l;
		if (!rc && d->type == N_COMMIT)
			rc = snap_add_ref(s, ".hub", N_VIEW_DIR, false);
		if (!rc)
			rc = tree_listing(&l, fs, d);
		for (size_t i = 0; !rc && i < l->n; i++) {
			rc = snap_add_ref(s, l->ents[i].name, entry_type(l->ents[i].mode), false);
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

/* Like OPEN, OPENDIR answers ENOSYS: the kernel stops sending OPENDIR and
 * RELEASEDIR and caches every directory's entries (FOPEN_CACHE_DIR); it
 * revalidates a cached listing against the directory's mtime, which for the
 * root and owner directories is the cache's last change (dir_mtime). */
static void hub_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	(void)ino, (void)fi;
	fuse_reply_err(req, ENOSYS);
}

static mode_t dtype_mode(enum ntype t)
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

/* The node a readdirplus entry describes, for immutable directories only
 * (elsewhere entries carry no attributes and the kernel looks them up).
 * fs->lock held. */
static struct node *plus_node(struct hub_fs *fs, struct dir_snap *s, struct dirent_snap *e)
{
	if (e->te)
		return tree_child(fs, s->dir, e->te);
	/* Weight files need their size, which may take a HEAD request: not
	 * under the lock; the kernel looks them up instead. */
	if (e->view && s->dir->type == N_VIEW_DIR && !e->view->url) {
		struct node *n = find_child(fs, s->dir, e->name);
		if (!n && (n = node_new(fs, s->dir, e->name, e->view->dir ? N_VIEW_DIR : N_VIEW_FILE,
					true)))
			n->view = e->view;
		return n;
	}
	return NULL;
}

static void do_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		       struct fuse_file_info *fi, bool plus)
{
	(void)fi;
	struct hub_fs *fs = fs_of(req);
	struct node *d = get_node(fs, ino);
	if (!d) {
		fuse_reply_err(req, ESTALE);
		return;
	}
	if (d->type == N_URL_DIR && url_denied(req, fs)) {
		fuse_reply_err(req, EACCES);
		return;
	}
	struct dir_snap *s;
	int rc = dir_build(&s, fs, d);
	if (rc) {
		fuse_reply_err(req, -rc);
		return;
	}
	char *buf = malloc(size);
	if (!buf) {
		snap_free(s);
		fuse_reply_err(req, ENOMEM);
		return;
	}
	size_t used = 0;
	/* Nodes counted in this reply, to undo if the reply fails. */
	struct node **counted = plus ? calloc(s->n + 1, sizeof(*counted)) : NULL;
	size_t ncounted = 0;
	pthread_mutex_lock(&fs->lock);
	for (size_t i = off < 0 ? 0 : (size_t)off; i < s->n; i++) {
		struct dirent_snap *e = &s->e[i];
		size_t need;
		if (plus) {
			struct fuse_entry_param ep;
			memset(&ep, 0, sizeof(ep));
			bool dot = i < 2;
			struct node *n = dot || !counted ? NULL : plus_node(fs, s, e);
			if (n) {
				entry_of(fs, n, &ep);
			} else {
				ep.attr.st_ino = HUB_UNKNOWN_INO;
				ep.attr.st_mode = dtype_mode(e->type);
			}
			need = fuse_add_direntry_plus(req, buf + used, size - used, e->name, &ep,
						      (off_t)i + 1);
			if (need > size - used) {
				if (n)
					node_forget(fs, n, 1);
				break;
			}
			if (n)
				counted[ncounted++] = n;
		} else {
			struct stat st;
			memset(&st, 0, sizeof(st));
			st.st_ino = HUB_UNKNOWN_INO;
			st.st_mode = dtype_mode(e->type);
			need = fuse_add_direntry(req, buf + used, size - used, e->name, &st,
						 (off_t)i + 1);
			if (need > size - used)
				break;
		}
		used += need;
	}
	pthread_mutex_unlock(&fs->lock);
	if (fuse_reply_buf(req, buf, used) && ncounted) {
		pthread_mutex_lock(&fs->lock);
		for (size_t i = 0; i < ncounted; i++)
			node_forget(fs, counted[i], 1);
		pthread_mutex_unlock(&fs->lock);
	}
	free(counted);
	free(buf);
	snap_free(s);
}

static void hub_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
			struct fuse_file_info *fi)
{
	do_readdir(req, ino, size, off, fi, false);
}

static void hub_readdirplus(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
			    struct fuse_file_info *fi)
{
	do_readdir(req, ino, size, off, fi, true);
}

/* ---------------------------------------------------------- everything else */

static void hub_statfs(fuse_req_t req, fuse_ino_t ino)
{
	(void)ino;
	struct statvfs sv;
	memset(&sv, 0, sizeof(sv));
	sv.f_bsize = 4096;
	sv.f_frsize = 4096;
	sv.f_namemax = 255;
	sv.f_flag = ST_RDONLY;
	fuse_reply_statfs(req, &sv);
}

static void hub_access(fuse_req_t req, fuse_ino_t ino, int mask)
{
	(void)ino;
	fuse_reply_err(req, (mask & W_OK) ? EROFS : 0);
}

/* Every mutating operation: read-only filesystem. */
static void erofs_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr, int to_set,
			  struct fuse_file_info *fi)
{
	(void)ino, (void)attr, (void)to_set, (void)fi;
	fuse_reply_err(req, EROFS);
}
static void erofs_mknod(fuse_req_t req, fuse_ino_t p, const char *name, mode_t mode, dev_t rdev)
{
	(void)p, (void)name, (void)mode, (void)rdev;
	fuse_reply_err(req, EROFS);
}
static void erofs_mkdir(fuse_req_t req, fuse_ino_t p, const char *name, mode_t mode)
{
	(void)p, (void)name, (void)mode;
	fuse_reply_err(req, EROFS);
}
static void erofs_unlink(fuse_req_t req, fuse_ino_t p, const char *name)
{
	(void)p, (void)name;
	fuse_reply_err(req, EROFS);
}
static void erofs_symlink(fuse_req_t req, const char *link, fuse_ino_t p, const char *name)
{
	(void)link, (void)p, (void)name;
	fuse_reply_err(req, EROFS);
}
static void erofs_rename(fuse_req_t req, fuse_ino_t p, const char *name, fuse_ino_t np,
			 const char *nname, unsigned int flags)
{
	(void)p, (void)name, (void)np, (void)nname, (void)flags;
	fuse_reply_err(req, EROFS);
}
static void erofs_link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t np, const char *nname)
{
	(void)ino, (void)np, (void)nname;
	fuse_reply_err(req, EROFS);
}
static void erofs_write(fuse_req_t req, fuse_ino_t ino, const char *buf, size_t size, off_t off,
			struct fuse_file_info *fi)
{
	(void)ino, (void)buf, (void)size, (void)off, (void)fi;
	fuse_reply_err(req, EROFS);
}
static void erofs_setxattr(fuse_req_t req, fuse_ino_t ino, const char *name, const char *value,
			   size_t size, int flags)
{
	(void)ino, (void)name, (void)value, (void)size, (void)flags;
	fuse_reply_err(req, EROFS);
}
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
static void hub_getxattr(fuse_req_t req, fuse_ino_t ino, const char *name, size_t size)
{
	struct hub_fs *fs = fs_of(req);
	struct node *n = get_node(fs, ino);
	if (!n) {
		fuse_reply_err(req, ESTALE);
		return;
	}
	bool is_state = !strcmp(name, "user.hubfs.state"), is_url = !strcmp(name, "user.hubfs.url");
	if (n->type != N_WEIGHT || !n->weight || !(is_state || is_url)) {
		fuse_reply_err(req, ENODATA);
		return;
	}
	char state[96];
	const char *val = state;
	if (is_state)
		hub_weight_state(state, sizeof(state), n->weight);
	else
		val = hub_weight_url(n->weight); /* the handle lives as long as the node */
	size_t len = strlen(val);
	if (size == 0)
		fuse_reply_xattr(req, len);
	else if (size < len)
		fuse_reply_err(req, ERANGE);
	else
		fuse_reply_buf(req, val, len);
}

static void erofs_removexattr(fuse_req_t req, fuse_ino_t ino, const char *name)
{
	(void)ino, (void)name;
	fuse_reply_err(req, EROFS);
}
static void erofs_create(fuse_req_t req, fuse_ino_t p, const char *name, mode_t mode,
			 struct fuse_file_info *fi)
{
	(void)p, (void)name, (void)mode, (void)fi;
	fuse_reply_err(req, EROFS);
}
static void erofs_fallocate(fuse_req_t req, fuse_ino_t ino, int mode, off_t off, off_t len,
			    struct fuse_file_info *fi)
{
	(void)ino, (void)mode, (void)off, (void)len, (void)fi;
	fuse_reply_err(req, EROFS);
}

static void hub_init(void *userdata, struct fuse_conn_info *conn)
{
	(void)userdata;
	if (conn->capable & FUSE_CAP_PARALLEL_DIROPS)
		conn->want |= FUSE_CAP_PARALLEL_DIROPS;
	/* Ref symlinks move: their targets must not be cached. */
	conn->want &= ~FUSE_CAP_CACHE_SYMLINKS;
	conn->want &= ~FUSE_CAP_WRITEBACK_CACHE;
}

static const struct fuse_lowlevel_ops ops = {
	.init = hub_init,
	.lookup = hub_lookup,
	.forget = hub_forget,
	.forget_multi = hub_forget_multi,
	.getattr = hub_getattr,
	.readlink = hub_readlink,
	.open = hub_open,
	.read = hub_read,
	.opendir = hub_opendir,
	.readdir = hub_readdir,
	.readdirplus = hub_readdirplus,
	.statfs = hub_statfs,
	.access = hub_access,
	.setattr = erofs_setattr,
	.mknod = erofs_mknod,
	.mkdir = erofs_mkdir,
	.unlink = erofs_unlink,
	.rmdir = erofs_unlink,
	.symlink = erofs_symlink,
	.rename = erofs_rename,
	.link = erofs_link,
	.write = erofs_write,
	.setxattr = erofs_setxattr,
	.getxattr = hub_getxattr,
	.removexattr = erofs_removexattr,
	.create = erofs_create,
	.fallocate = erofs_fallocate,
};

void hub_fs_set_py(struct hub_fs *fs, struct hub_py *py)
{
	fs->py = py;
}

/* ------------------------------------------------------------ notifier */

/* Called by the weight store with a file's lock held: only queue.  A full
 * queue drops the name with a log line (the cap is far above any real
 * burst of verification failures). */
static void on_weight_discard(void *arg, const char *name /* the store key */)
{
	struct hub_fs *fs = arg;
	pthread_mutex_lock(&fs->nlock);
	bool queued = false;
	for (size_t i = 0; i < fs->npending && !queued; i++)
		queued = !strcmp(fs->pending[i], name);
	if (!queued && fs->npending < HUB_INVAL_QUEUE_MAX) {
		char *copy = strdup(name);
		if (copy)
			fs->pending[fs->npending++] = copy;
		queued = copy != NULL;
	}
	pthread_cond_signal(&fs->ncond);
	pthread_mutex_unlock(&fs->nlock);
	if (!queued)
		hub_err("weights: %s: cannot queue the invalidation of its pages", name);
}

/* The inode numbers of every weight node of the URL whose store key is key
 * (a weight file can appear in many commits and under /.hubfs/url/).
 * fs->lock held. */
static size_t weight_inos(uint64_t *out, size_t cap, struct hub_fs *fs, const char *key)
{
	size_t n = 0;
	for (size_t i = 0; i < fs->nbuckets; i++)
		for (struct node *x = fs->by_ino[i]; x; x = x->next_ino)
			if (x->type == N_WEIGHT && x->weight && !strcmp(hub_weight_key(x->weight), key) &&
			    n < cap)
				out[n++] = x->ino;
	return n;
}

/* Drops the kernel's pages of discarded weight files, so that a byte served
 * before verification failed is never served again from the page cache.
 * A thread of its own: the kernel's invalidation waits for pages locked by
 * reads in flight, which FUSE workers must be free to answer. */
static void *notifier_main(void *arg)
{
	struct hub_fs *fs = arg;
	uint64_t inos[64];
	pthread_mutex_lock(&fs->nlock);
	for (;;) {
		while (!fs->nstop && !fs->npending)
			pthread_cond_wait(&fs->ncond, &fs->nlock);
		if (fs->nstop)
			break;
		char *name = fs->pending[--fs->npending];
		pthread_mutex_unlock(&fs->nlock);

		pthread_mutex_lock(&fs->lock);
		size_t n = weight_inos(inos, sizeof(inos) / sizeof(inos[0]), fs, name);
		pthread_mutex_unlock(&fs->lock);
		for (size_t i = 0; i < n; i++) {
			int rc = fuse_lowlevel_notify_inval_inode(fs->se, (fuse_ino_t)inos[i], 0, 0);
			hub_debug("weights: %s: pages of inode %llu invalidated (%d)", name,
				  (unsigned long long)inos[i], rc);
		}
		free(name);
		pthread_mutex_lock(&fs->nlock);
	}
	pthread_mutex_unlock(&fs->nlock);
	return NULL;
}

int hub_fs_set_weights(struct hub_fs *fs, struct hub_weights *weights, struct fuse_session *se)
{
	fs->weights = weights;
	fs->se = se;
	int rc = pthread_create(&fs->notifier, NULL, notifier_main, fs);
	if (rc)
		return -rc;
	fs->notifier_started = true;
	hub_weights_set_discard_hook(weights, on_weight_discard, fs);
	return 0;
}

void hub_fs_stop(struct hub_fs *fs)
{
	if (!fs || !fs->notifier_started)
		return;
	pthread_mutex_lock(&fs->nlock);
	fs->nstop = true;
	pthread_cond_signal(&fs->ncond);
	pthread_mutex_unlock(&fs->nlock);
	pthread_join(fs->notifier, NULL);
	fs->notifier_started = false;
	if (fs->weights)
		hub_weights_set_discard_hook(fs->weights, NULL, NULL);
}

const struct fuse_lowlevel_ops *hub_fs_ops(void)
{
	return &ops;
}

int hub_fs_new(struct hub_fs **out, const struct hub_options *opts, struct hub_cache *cache)
{
	*out = NULL;
	struct hub_fs *fs = calloc(1, sizeof(*fs));
	if (!fs)
		return -ENOMEM;
	fs->opts = opts;
	fs->cache = cache;
	fs->mount_time = time(NULL);
	fs->uid = getuid();
	fs->gid = getgid();
	pthread_mutex_init(&fs->lock, NULL);
	pthread_mutex_init(&fs->nlock, NULL);
	pthread_cond_init(&fs->ncond, NULL);
	fs->nbuckets = 1024;
	fs->by_ino = calloc(fs->nbuckets, sizeof(*fs->by_ino));
	fs->by_name = calloc(fs->nbuckets, sizeof(*fs->by_name));
	fs->root = calloc(1, sizeof(*fs->root));
	if (!fs->by_ino || !fs->by_name || !fs->root || !(fs->root->name = strdup(""))) {
		hub_fs_free(fs);
		return -ENOMEM;
	}
	fs->root->ino = FUSE_ROOT_ID;
	fs->root->type = N_ROOT;
	fs->root->nlookup = 1;
	*out = fs;
	return 0;
}

void hub_fs_free(struct hub_fs *fs)
{
	if (!fs)
		return;
	hub_fs_stop(fs);
	for (size_t i = 0; i < fs->npending; i++)
		free(fs->pending[i]);
	pthread_cond_destroy(&fs->ncond);
	pthread_mutex_destroy(&fs->nlock);
	/* After unmount every node is unreachable: free them all. */
	for (size_t i = 0; fs->by_ino && i < fs->nbuckets; i++) {
		for (struct node *n = fs->by_ino[i], *next; n; n = next) {
			next = n->next_ino;
			node_free(n);
		}
	}
	if (fs->root) {
		free(fs->root->name);
		free(fs->root);
	}
	free(fs->by_ino);
	free(fs->by_name);
	pthread_mutex_destroy(&fs->lock);
	free(fs);
}
