/*
 * The namespace core's insides, shared by fs/ns.c (nodes, tables, inode
 * numbers, attributes), fs/ns_paths.c (the path grammar, links, reads),
 * fs/ns_ctl.c (/.hubfs/) and fs/ns_list.c (listings).  Not for fs/ops.c.
 *
 * ns->lock guards both node tables, every node's nlookup and nkids, and the
 * lazily filled fields (a tree directory's listing, a commit's view, a
 * symlink's last target).  It is never held across I/O, libgit2, the
 * network, or a return to the caller: slow work runs unlocked and its
 * result is published under the lock; a thread that loses the race frees
 * its copy.
 */
#ifndef HUB_FS_NS_INT_H
#define HUB_FS_NS_INT_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "base/htab.h"
#include "cache/repo.h"
#include "fs/ns.h"

struct hub_view;
struct hub_weight;

enum hub_ns_type {
	N_ROOT,
	N_CTL_DIR,     /* /.hubfs */
	N_CTL_FILE,    /* /.hubfs/<file>: a snapshot */
	N_OWNER,       /* /<owner> */
	N_REPO_LINK,   /* /<owner>/<repo> -> <repo>:<default branch> */
	N_REF_LINK,    /* /<owner>/<repo>:<ref> -> <repo>@<sha> */
	N_COMMIT,      /* /<owner>/<repo>@<sha> */
	N_TREE,        /* a directory of a commit */
	N_FILE,        /* a regular file of a commit */
	N_SYMLINK,     /* a symlink of a commit */
	N_GITLINK,     /* a submodule: an empty directory */
	N_VIEW_DIR,    /* a directory of .hub/ */
	N_VIEW_FILE,   /* a file of .hub/ */
	N_URL_DIR,     /* /.hubfs/url */
	N_RESOLVE_DIR, /* /.hubfs/resolve: <owner>%2F<repo>[:<ref>] resolved now */
	N_WEIGHT,      /* a weight file (.hub/.../weights/<name>, /.hubfs/url/<url>) */
};

/* What every node of one commit directory shares. */
struct hub_ns_commit {
	int refs; /* ns->lock */
	struct hub_repo *repo;
	char sha[41];
	struct hub_oid tree;
	int64_t time;
	struct hub_view *view; /* ns->lock; built on first access to .hub */
};

struct hub_ns_tree {
	struct hub_tree_entry *ents; /* sorted by strcmp of name */
	size_t n;
};

struct hub_ns_node {
	uint64_t ino;
	uint64_t nlookup; /* ns->lock */
	uint64_t nkids;   /* ns->lock */
	enum hub_ns_type type;
	struct hub_ns_node *parent;
	char *name;
	struct hub_hnode by_ino, by_name; /* links in ns->by_ino, ns->by_name */
	bool in_name_table;

	struct hub_repo *repo; /* links, commit nodes */
	char *ref;             /* N_REF_LINK: decoded ref */
	bool immutable;        /* N_REF_LINK to a tag or commit */
	char *target;          /* links: last target (ns->lock) */

	struct hub_ns_commit *commit; /* N_COMMIT and below */
	uint32_t mode;                /* tree entries: git mode */
	struct hub_oid oid;           /* tree entries */
	uint64_t size;                /* files, symlinks, snapshots */
	struct hub_ns_tree *list;     /* N_COMMIT/N_TREE: listing (ns->lock) */

	struct timespec mtime;       /* N_ROOT, N_OWNER: the cache's last change */
	const struct hub_view *view; /* N_VIEW_*: inside commit->view */
	struct hub_weight *weight;   /* N_WEIGHT: a reference */
	uint64_t present;            /* N_WEIGHT: bytes on disk (ns->lock) */
	bool complete;               /* N_WEIGHT: complete and verified (ns->lock) */
	char *data;                  /* N_CTL_FILE: snapshot */
};

struct hub_ns {
	const struct hub_options *opts;
	struct hub_cache *cache;
	struct hub_py *py;           /* set once before the first operation */
	struct hub_weights *weights; /* set once before the first operation */
	time_t mount_time;
	uid_t uid;
	gid_t gid;
	pthread_mutex_t lock;
	/* listings of the root and owner directories kept for the calls that
	 * continue them (fs/ns_list.c); snap_lock is a leaf */
	pthread_mutex_t snap_lock;
	struct hub_ns_snap *snaps[HUB_NS_LIST_SNAPS]; /* snap_lock: a ring */
	uint64_t snap_tick;                           /* snap_lock: LRU clock */
	uint64_t snap_gen;                            /* snap_lock */
	uint64_t next_snapshot;
	struct hub_htab by_ino;  /* every node but the root, by inode number */
	struct hub_htab by_name; /* path nodes, by parent and name */
	struct hub_ns_node *root;
};

/* A lookup's outcome inside the core: a node to count and answer, a
 * negative entry (node NULL, rc 0) with its timeout, or rc -errno. */
struct hub_ns_found {
	struct hub_ns_node *node;
	double neg_ttl;
};

/* ns_list.c: frees the kept listings (hub_ns_free) */
void hub_ns_list_fini(struct hub_ns *ns);

/* ns.c; "locked": ns->lock held by the caller */
struct hub_ns_node *hub_ns_node_find(struct hub_ns *ns, uint64_t ino);  /* locked */
struct hub_ns_node *hub_ns_node_child(struct hub_ns *ns, struct hub_ns_node *parent,
				      const char *name);               /* locked */
/* Snapshot nodes (by_name false) are kept out of the name table so every
 * lookup makes a fresh one. */
struct hub_ns_node *hub_ns_node_new(struct hub_ns *ns, struct hub_ns_node *parent,
				    const char *name, enum hub_ns_type type,
				    bool by_name);                     /* locked */
void hub_ns_node_forget(struct hub_ns *ns, struct hub_ns_node *n, uint64_t count); /* locked */
/* The node of ino, or NULL; the kernel keeps it alive while it asks. */
struct hub_ns_node *hub_ns_node_get(struct hub_ns *ns, uint64_t ino);
/* Count a lookup of n and fill e. locked */
void hub_ns_node_entry(struct hub_ns_entry *e, struct hub_ns *ns, struct hub_ns_node *n);
/* Refresh a root or owner directory's mtime from the cache (I/O: unlocked). */
void hub_ns_node_mtime(struct hub_ns *ns, struct hub_ns_node *n);
/* That, and a weight file's bytes present (unlocked). */
void hub_ns_node_refresh(struct hub_ns *ns, struct hub_ns_node *n);
/* The type bits of st_mode for a node type. */
mode_t hub_ns_type_mode(enum hub_ns_type t);
/* url_access=owner: /.hubfs/url is the mount owner's alone. */
bool hub_ns_url_denied(const struct hub_ns *ns, uid_t uid);

/* ns_paths.c */
int hub_ns_tree_get(struct hub_ns_tree **out, struct hub_ns *ns, struct hub_ns_node *dir);
enum hub_ns_type hub_ns_tree_type(uint32_t mode);
struct hub_ns_node *hub_ns_tree_child(struct hub_ns *ns, struct hub_ns_node *dir,
				      const struct hub_tree_entry *te); /* locked */
int hub_ns_paths_lookup(struct hub_ns_found *out, struct hub_ns *ns, struct hub_ns_node *p,
			const char *name, uid_t uid);
/* A resolution error as a lookup's outcome: ENOENT is a negative entry
 * cached for neg_ttl; anything else (transient) is EIO, never cached. */
int hub_ns_paths_resolve_error(struct hub_ns_found *out, const struct hub_ns *ns, int rc);

/* ns_ctl.c */
extern const char *const hub_ns_ctl_names[];
extern const size_t hub_ns_ctl_count;
int hub_ns_ctl_lookup(struct hub_ns_found *out, struct hub_ns *ns, struct hub_ns_node *p,
		      const char *name, uid_t uid);
/* The node of a weight file named name in parent, for url (its size may
 * take a HEAD request: unlocked). */
int hub_ns_ctl_weight(struct hub_ns_node **out, struct hub_ns *ns, struct hub_ns_node *parent,
		      const char *name, const char *url);
int hub_ns_ctl_weight_errno(int rc);
/* A new snapshot node (N_CTL_FILE, timeout 0) name in dir holding data
 * (taken, also on failure), held. */
int hub_ns_ctl_snapshot(struct hub_ns_found *out, struct hub_ns *ns, struct hub_ns_node *dir,
			const char *name, char *data);
/* .hub/reachable: a snapshot rendered at each lookup (cache/reach.h); like
 * /.hubfs/resolve/ names, not listed (a listing never waits for the remote). */
#define HUB_NS_REACHABLE "reachable"

#endif
