/*
 * The repository cache: one bare git repository per GitHub repository under
 * <root>/hubfs/repos/<owner>/<repo>/, a state file recording how refs were
 * resolved, and the rules for when to ask the remote again (ref_ttl, neg_ttl,
 * offline, serve-stale on transient failures).
 *
 *   <root>/hubfs/repos/<owner>/<repo>/git/         bare repository (libgit2)
 *   <root>/hubfs/repos/<owner>/<repo>/state.json   resolutions, remote HEAD
 *   <root>/hubfs/repos/<owner>/<repo>/lock         flock: fetch + state update
 *   <root>/hubfs/repos/<owner>/<repo>/use          flock shared: a daemon uses it
 *
 * A resolution is written to state.json only after its commit and tree are
 * in the object database, so a daemon killed mid-fetch leaves at worst
 * unreferenced pack temp files, never a ref pointing at missing objects.
 * fs/ sees no libgit2 type: object ids are struct hub_oid (fetch/odb.h).
 */
#ifndef HUB_CACHE_REPO_H
#define HUB_CACHE_REPO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "fetch/odb.h"

struct hub_rewrites; /* fetch/rewrite.h */

/* What the repository cache needs of the mount's options.  The strings and
 * the rules are the caller's and must outlive the cache; the struct itself
 * is copied by hub_cache_new. */
struct hub_cache_config {
	bool offline;     /* never ask a remote; serve what is cached */
	long ref_ttl;     /* seconds a branch's resolution is trusted */
	long neg_ttl;     /* seconds "no such repo/ref upstream" is remembered */
	const char *git_url; /* template with {owner} and {repo}; NULL: HUB_GIT_URL_DEFAULT */
	const struct hub_rewrites *rewrites; /* applied to the expanded git_url; NULL: none */
	double pin_s;     /* a used repository stays pinned this long; 0: HUB_REPO_PIN_S */
};

/* The file whose shared flock pins a repository (hub_repo_touch). */
#define HUB_REPO_USE_FILE "use"

/* The set of repositories of one mount: the cache root and its config. */
struct hub_cache;
/* One owner/repo; lives as long as the hub_cache that made it. */
struct hub_repo;

int hub_cache_new(struct hub_cache **out, const char *root, const struct hub_cache_config *cfg);
void hub_cache_free(struct hub_cache *c);
const char *hub_cache_root(const struct hub_cache *c);

/* Get (creating the in-memory object on first use) the repo owner/name: a
 * reference, given back with hub_repo_put.  No I/O; names must have been
 * validated with base/names.h.  Unused repos past HUB_REPOS_MAX are dropped
 * from memory, least recently looked up first. */
int hub_cache_repo(struct hub_repo **out, struct hub_cache *c, const char *owner, const char *name);
/* Give back a reference of hub_cache_repo (NULL: nothing).  No lock. */
void hub_repo_put(struct hub_repo *r);

/* Say that a mounted path uses r (a lookup, listing or read under one of
 * its commits): r stays pinned for pin_s after the last call.  The pin is
 * a shared flock on <repo>/use held by this process, so the quota's round
 * (any process on the root, cache/quota.h) never evicts a repository some
 * mount is using; it dies with the process.  Also records the last use
 * (the use file's times, at most every HUB_REPO_USE_RECORD_S).  Cheap when
 * called often: one atomic load while the pin is fresh.  A repository
 * evicted or forgotten meanwhile is pinned again under its new directory
 * (the path's identity is checked at most once a second). */
void hub_repo_touch(struct hub_repo *r);
/* The repositories in memory whose directory went away or was replaced
 * since the previous call (forgotten, evicted by the quota, maybe fetched
 * again meanwhile): up to cap of them, each a reference (hub_repo_put).
 * One stat per repository in memory (at most HUB_GONE_REPOS_MAX). */
size_t hub_cache_changed_repos(struct hub_repo **out, size_t cap, struct hub_cache *c);
/* Owner and name of r (valid while the reference is held). */
const char *hub_repo_owner(const struct hub_repo *r);
const char *hub_repo_name(const struct hub_repo *r);

/* Let go of the pins not touched for pin_s (the cache's background
 * thread calls this; tests and the free path too). */
void hub_cache_unpin_idle(struct hub_cache *c);

/* Owners with at least one repo in the cache; a malloc'd array of malloc'd names. */
int hub_cache_list_owners(char ***out, size_t *out_n, struct hub_cache *c);

/* When the cache's listing of owner (NULL: of the owners) last changed:
 * the newest mtime of the directories and state files that make it. */
void hub_cache_mtime(struct timespec *out, struct hub_cache *c, const char *owner);

/* What the cache knows of one owner's repos, for readdir of /<owner>/. */
struct hub_cached_ref {
	char *ref;       /* as the user named it: "main", "v1.0", "refs/tags/x", "abc1234" */
	char sha[41];
	bool mutable_;   /* a branch (re-resolved after ref_ttl) */
};
struct hub_cached_repo {
	char *name;
	char *head;      /* default branch short name, NULL if never resolved */
	struct hub_cached_ref *refs;
	size_t n_refs;
	char (*commits)[41]; /* distinct commits present, sorted */
	size_t n_commits;
};
int hub_cache_list_repos(struct hub_cached_repo **out, size_t *out_n, struct hub_cache *c,
			 const char *owner);
void hub_cache_repos_free(struct hub_cached_repo *repos, size_t n);

/* The default branch's short name ("main"), from the remote's HEAD (cached
 * for ref_ttl).  -ENOENT: repo does not exist; -EIO etc: transient and
 * nothing cached. */
int hub_repo_default_branch(char *out, size_t outsz, struct hub_repo *r);

/* Resolve a ref as the user wrote it (branch, tag, "refs/..." name, or a
 * 7..40 hex commit prefix) to a commit present in the cache, fetching it if
 * needed.  *out_immutable is false for branches.  *out_stale (may be NULL) is
 * set when a cached answer is served because the remote failed. */
int hub_repo_resolve(char out_sha[41], bool *out_immutable, bool *out_stale, struct hub_repo *r,
		     const char *ref);

/* hub_repo_resolve (ref NULL: the default branch), asking the remote now
 * for a branch and for HEAD whatever ref_ttl says (force_reload).  Tags and
 * commits are immutable and not asked again; offline, the cache answers.
 * Never a cached branch: a remote failure (even within
 * HUB_REMOTE_RETRY_SECONDS of another) is -EIO.  The forcing is this call's
 * own; concurrent resolutions neither end it nor are forced by it. */
int hub_repo_resolve_now(char out_sha[41], struct hub_repo *r, const char *ref);

/* Make sure the commit <sha> (40 hex) is present, fetching it if allowed.
 * -ENOENT if it does not exist (or offline and absent). */
int hub_repo_ensure_commit(struct hub_repo *r, const char *sha);

/* After a read of sha's objects failed: close the read handle and make
 * sure the commit is present again (its repository may have been evicted
 * by the quota or forgotten: fetched again, as hub_repo_ensure_commit).
 * 0 when the read is worth trying again, or -errno. */
int hub_repo_recover(struct hub_repo *r, const char *sha);

/* Commit metadata: its root tree and committer time. */
int hub_repo_commit_info(struct hub_oid *out_tree, int64_t *out_time, struct hub_repo *r,
			 const char *sha);

/* Trees: struct hub_tree_entry and HUB_MODE_* (fetch/odb.h). */
/* List one tree, sizes included.  Entries are sorted by name (git order). */
int hub_repo_tree_list(struct hub_tree_entry **out, size_t *out_n, struct hub_repo *r,
		       const struct hub_oid *tree);
/* hub_tree_entries_free (fetch/odb.h) frees the list. */

/* Blob contents, shared and reference counted (an LRU keeps recent ones). */
struct hub_blob {
	const char *data;
	size_t size;
};
int hub_repo_blob_get(struct hub_blob **out, struct hub_repo *r, const struct hub_oid *oid);
void hub_blob_put(struct hub_blob *b);

/* Path of a file in one commit (for the analyser): the blob id and mode.
 * -ENOENT if absent. */
int hub_repo_path_lookup(struct hub_oid *out, uint32_t *out_mode, struct hub_repo *r,
			 const struct hub_oid *root_tree, const char *path);

/* Counters for /.hubfs/. */
struct hub_cache_stats {
	uint64_t ls_remote, fetches, fetch_failures, stale_served, neg_hits;
};
void hub_cache_stats(struct hub_cache_stats *out, struct hub_cache *c);
/* Stale resolutions being served, one "owner/repo:ref sha" per line (malloc'd). */
char *hub_cache_stale_report(struct hub_cache *c);

#endif
