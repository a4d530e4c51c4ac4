/*
 * The cache quota (issue 16): cache_max=SIZE for a cache root, the eviction
 * round that keeps the root under it, and `hubfs cache forget`.
 *
 * A round (hub_quota_round) measures the whole root (repositories, weight
 * files, checkpoints/, analyses: cache/inventory.h, what the filesystem
 * says, never an in-memory guess) under <root>/hubfs/quota.lock (flock: one
 * round at a time among all daemons and `hubfs cache gc` on the root) and,
 * above max, removes abandoned partial downloads, then complete weight
 * files, least recently used first, then repositories no mount uses, down
 * to the low-water mark (HUB_QUOTA_LOW_PCT of max).  It writes what it saw
 * to <root>/hubfs/quota.json (replaced atomically).
 *
 * Never removed:
 *   - a weight file a daemon serves: it holds a shared flock on <key>.data
 *     while it reads it and HUB_WEIGHTS_PIN_S after (cache/weights.c); the
 *     round takes an exclusive flock without waiting and skips the file
 *     when it cannot;
 *   - a download in flight (its <key>.lock held by a downloader, in any
 *     process) or used within part_idle_s (HUB_QUOTA_PART_IDLE_S: a paused
 *     download a reader may come back to); an abandoned one (a killed
 *     daemon's, a reader gone for good) is the first candidate, removed with
 *     its range record and its lock file (whose shared page claims its
 *     bytes), so a later download starts afresh; a complete file whose
 *     <key>.lock is held (being published);
 *   - a repository a daemon pins (cache/repo.h, hub_repo_touch: a shared
 *     flock on <repo>/use while paths under its commits are used and pin_s
 *     after) or fetches into (<repo>/lock);
 *   - checkpoints/ files torch.hub wrote itself, unless evict_foreign.
 * checkpoints/<name> when it is the store file's own hard link (hubfs made
 * it) goes with the store file: otherwise removing the store file would
 * free nothing.
 * A file larger than max is served like any other; it is the first
 * candidate once nobody reads it, and the round logs why it is not kept.
 */
#ifndef HUB_CACHE_QUOTA_H
#define HUB_CACHE_QUOTA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct hub_quota;

struct hub_quota_policy {
	uint64_t max;       /* bytes; 0: no quota */
	uint64_t low;       /* evict down to this (<= max) */
	bool evict_foreign; /* checkpoints/ files torch.hub wrote are candidates too */
	double part_idle_s; /* a .part nobody holds and nobody used this long is
			     * abandoned: a candidate (HUB_QUOTA_PART_IDLE_S) */
};

/* What a round saw and did. */
struct hub_quota_result {
	uint64_t used_before, used_after;
	unsigned evicted, pinned; /* files removed; candidates skipped as in use */
	unsigned repos_evicted, repos_pinned; /* repositories removed; skipped as in use */
	uint64_t evicted_bytes;
};

/* "SIZE": a number with an optional K, M, G or T suffix (powers of 1024,
 * an optional trailing "B" or "iB"), or "N%" of the filesystem holding root
 * (1..100).  0 or -EINVAL (nonsense, zero, overflow), or -errno of statvfs
 * for a percentage.  why (may be NULL) says what was wrong. */
int hub_quota_parse_size(uint64_t *out, const char *s, const char *root, char *why,
			 size_t whysz);
/* max and its low-water mark into a policy. */
void hub_quota_policy_init(struct hub_quota_policy *out, uint64_t max, bool evict_foreign);

/* One round on root (see above); waits for a round in progress elsewhere.
 * 0, or -errno (the root unreadable, out of memory). */
int hub_quota_round(struct hub_quota_result *out, const char *root,
		    const struct hub_quota_policy *p);

/* A thread running a round every interval_s seconds (HUB_QUOTA_CHECK_S
 * unless tests lower it); no thread when p->max is 0 (*out NULL). */
int hub_quota_new(struct hub_quota **out, const char *root, const struct hub_quota_policy *p,
		    double interval_s);
void hub_quota_free(struct hub_quota *q);

/* Remove owner/repo from root: waits for its fetch lock (a fetch in
 * progress finishes first), moves the directory out of the tree (one
 * rename: a daemon never sees half a repository) and deletes it.  Safe
 * while mounted: a daemon that used it resolves it again on its next
 * lookup (cache/repo.c checks the directory's identity).  0, -ENOENT (not
 * cached), -EINVAL (not an owner/repo name), or -errno. */
int hub_quota_forget(const char *root, const char *owner, const char *repo);

struct hub_inv_weight; /* cache/inventory.h */
/* Remove a complete weight file the inventory listed (`hubfs cache verify
 * --repair` of a file that fails its hash): its <key>.data, and
 * checkpoints/<name> when that is the same inode; or a checkpoints/ file of
 * torch.hub's own.  A daemon reading it keeps its descriptor; its next
 * lookup downloads the file again.  0 or -errno. */
int hub_quota_drop_weight(const char *root, const struct hub_inv_weight *w);

#endif
