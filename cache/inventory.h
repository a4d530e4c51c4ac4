/*
 * A read-only inventory of a cache root, for `hubfs cache ls|du|verify`
 * (fs/cache_cmd.c): the cached repositories (owner/repo, the refs recorded
 * in state.json and the commits they name, bytes on disk, last use), the
 * weight files of the store (key, name, URL, complete or partial, bytes,
 * last use, whether checkpoints/<name> is their link) and the files of
 * checkpoints/ that are no store file's (torch.hub's own downloads).
 *
 * It reads the on-disk formats through cache/'s own readers (state.json:
 * hub_state_load; <key>.head: hw_sidecar_read) and takes no lock: every
 * file it reads is replaced atomically by its writers, so a mounted daemon
 * may go on while it runs; an entry that vanishes meanwhile is skipped.
 *
 * "Last use" is the newest access or modification time the filesystem
 * recorded for the entry's files: with relatime (Linux's default) an
 * access time moves at most once a day, with noatime never.
 */
#ifndef HUB_CACHE_INVENTORY_H
#define HUB_CACHE_INVENTORY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct hub_inv_ref {
	char *ref;        /* as the user named it: "main", "v1.0", a sha prefix */
	char sha[41];
	const char *kind; /* "branch", "tag", "commit", "other" (static) */
	double time;      /* when it was resolved (seconds since the epoch) */
};

struct hub_inv_repo {
	char *owner, *repo;
	char *head;       /* the remote's HEAD ("refs/heads/main"), or NULL */
	struct hub_inv_ref *refs;
	size_t nrefs;
	uint64_t bytes;   /* allocated on disk (st_blocks), the whole directory */
	double last_use;
};

struct hub_inv_weight {
	char key[65];     /* the store's name (sha256 of the URL); "" for a
			   * checkpoints/ file that is no store file's */
	char *name;       /* the file name torch.hub uses */
	char *url;        /* as recorded (no credentials, no query), or NULL */
	bool complete;    /* <key>.data (or the checkpoints/ file) */
	bool size_known;
	uint64_t size;    /* the file's true size */
	uint64_t bytes;   /* allocated on disk (.data or .part, plus records) */
	double last_use;
	bool linked;      /* checkpoints/<name> is this file (same inode) */
	char bad[48];     /* a recorded verification failure, or "" */
	char *path;       /* the complete file's path (.data or checkpoints/<name>), or NULL */
};

struct hub_inventory {
	char *root;
	struct hub_inv_repo *repos;  /* sorted by owner/repo */
	size_t nrepos;
	struct hub_inv_weight *weights; /* sorted by name, then key */
	size_t nweights;
	uint64_t analysis_bytes;     /* hubfs/analysis/ */
	uint64_t other_bytes;        /* the rest of hubfs/ (locks, records...) */
};

/* Read root's cache.  0, -ENOENT (root holds neither hubfs/ nor
 * checkpoints/), -ENOMEM or another -errno of opening root.  On error *out
 * holds nothing to dispose of. */
int hub_inventory_load(struct hub_inventory *out, const char *root);
void hub_inventory_dispose(struct hub_inventory *inv);

/* The sha256 (hex) of the file at path, read whole (`hubfs cache verify`):
 * 0 or -errno.  O_NOFOLLOW: a planted link is never followed. */
int hub_inventory_hash(char hex[65], const char *path);

#endif
