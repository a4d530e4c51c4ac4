/*
 * The cache's local git repository, read without libgit2 types: open a bare
 * repository, read commits, trees and blobs, find a commit by hex prefix,
 * and the refspecs hubfs fetches with (into refs/hubfs/).  With fetch/git.h
 * this is the only way into libgit2; its failures become errnos in
 * fetch/git.c's hub_git_errno (for these reads: a missing or ambiguous
 * object -ENOENT, a name too long -ENAMETOOLONG, anything else -EIO,
 * logged with libgit2's message).
 *
 * A struct hub_odb is not thread-safe: its user serializes calls on one
 * handle (cache/repo.c's odb_lock).  Packs that a fetch wrote after the
 * handle was opened become visible once it is closed and opened again.
 */
#ifndef HUB_FETCH_ODB_H
#define HUB_FETCH_ODB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/limits.h"

/* A git object id (SHA-1). */
struct hub_oid {
	unsigned char id[20];
};

/* 40 hex digits (either case) -> oid; -EINVAL if not exactly that. */
int hub_oid_from_hex(struct hub_oid *out, const char *hex);
/* oid -> 40 lower-case hex digits and a NUL. */
void hub_oid_to_hex(char out[41], const struct hub_oid *oid);

/* Git file modes as stored in trees. */
#define HUB_MODE_TREE 0040000
#define HUB_MODE_BLOB 0100644
#define HUB_MODE_EXEC 0100755
#define HUB_MODE_LINK 0120000
#define HUB_MODE_GITLINK 0160000

struct hub_tree_entry {
	char *name;
	uint32_t mode;     /* one of HUB_MODE_* */
	struct hub_oid oid;
	uint64_t size;     /* blob size (files and symlinks); 0 otherwise */
};
void hub_tree_entries_free(struct hub_tree_entry *e, size_t n);

struct hub_odb;

/* Open the bare repository gitdir for reads.  label ("owner/repo") prefixes
 * the log lines of failures.  -ENOENT if it cannot be opened (never
 * created, or damaged by a crash during init): it reads as empty. */
int hub_odb_open(struct hub_odb **out, const char *gitdir, const char *label);
void hub_odb_close(struct hub_odb *o);

/* 1 if commit is a commit whose root tree is present, else 0. */
int hub_odb_has_commit(struct hub_odb *o, const struct hub_oid *commit);

/* The object whose id starts with the hex digits prefix (4..40, either
 * case): 0 and *out, -ENOENT if none or several (the latter logged). */
int hub_odb_find_prefix(struct hub_oid *out, struct hub_odb *o, const char *prefix);

/* A commit's root tree and committer time. */
int hub_odb_commit_info(struct hub_oid *out_tree, int64_t *out_time, struct hub_odb *o,
			const struct hub_oid *commit);

/* One tree, blob sizes included, sorted by name (git order).  Modes are
 * normalized to HUB_MODE_*; more than HUB_DIR_ENTRIES_MAX entries: -EFBIG. */
int hub_odb_tree_list(struct hub_tree_entry **out, size_t *out_n, struct hub_odb *o,
		      const struct hub_oid *tree);

/* The entry at path ("a/b/c") below tree: its id and raw mode. */
int hub_odb_path_lookup(struct hub_oid *out, uint32_t *out_mode, struct hub_odb *o,
			const struct hub_oid *tree, const char *path);

/* A blob's contents, copied into malloc'd memory (*out_data, at least one
 * byte allocated) of *out_size bytes. */
int hub_odb_blob_read(char **out_data, size_t *out_size, struct hub_odb *o,
		      const struct hub_oid *blob);

/* ---- checking a whole repository (`hubfs cache verify`) ---- */

/* What hub_odb_verify found. */
struct hub_odb_verdict {
	size_t objects;    /* objects read */
	size_t refs;       /* refs and commits checked */
	size_t bad;        /* problems found: 0 for a sound repository */
	char first[256];   /* the first problem, one line (libgit2's message) */
};

/* A git fsck of the cache repository gitdir, as far as hubfs needs one:
 * every object the object database lists (packs and loose objects) is
 * read, which inflates it (zlib's checksum) and checks its id against the
 * hash of its contents; every ref and each of commits[0..n) (40 hex digits,
 * the commits state.json names) must name a commit whose root tree is
 * present.  Connectivity below the root trees is not walked (the reads
 * already found every object that is there; a shallow repository lacks
 * history by design).  0 with *out filled (out->bad counts problems),
 * -ENOENT when gitdir is no repository, -ENOMEM. */
int hub_odb_verify(struct hub_odb_verdict *out, const char *gitdir, const char *const *commits,
		   size_t n);

/* ---- fetching into the cache's repository (with hub_git_fetch) ---- */

/* What hub_git_fetch is asked for: refspecs into refs/hubfs/ and a depth. */
struct hub_odb_want {
	const char *specs[2];
	size_t n;
	int depth;
	char buf[2 * HUB_REF_MAX + 64];
};
/* One full ref name ("refs/heads/x", "refs/tags/x", ...), shallow, into
 * refs/hubfs/<name without refs/>. */
void hub_odb_want_ref(struct hub_odb_want *w, const char *fullref);
/* One commit by its 40 hex digits, shallow, into refs/hubfs/commits/<sha>. */
void hub_odb_want_commit(struct hub_odb_want *w, const char *sha);
/* The whole history of every branch and tag (unshallowing gitdir if it is
 * shallow): for commits that are no ref's tip and that the server will
 * not send by id. */
void hub_odb_want_all(struct hub_odb_want *w, const char *gitdir);

/* Remove what a fetch killed midway may have left in gitdir (libgit2's
 * temporary packs and lock files).  Call with the repository's lock held,
 * before the next fetch. */
void hub_odb_clean_leftovers(const char *gitdir);

#endif
