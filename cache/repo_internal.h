/*
 * Inside cache/ only: the objects of cache/repo.c (struct hub_cache, struct
 * hub_repo) shared with resolve.c (resolution of refs), repo_state.c
 * (state.json: recorded resolutions),
 * blobs.c (the blob LRU) and repo_list.c (listing what is cached).  Lock
 * order and what each lock guards: repo.c.
 */
#ifndef HUB_CACHE_REPO_INTERNAL_H
#define HUB_CACHE_REPO_INTERNAL_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/htab.h"
#include "base/limits.h"
#include "cache/repo.h"
#include "fetch/odb.h"

enum hub_ref_kind { KIND_BRANCH, KIND_TAG, KIND_COMMIT, KIND_OTHER };

struct hub_state_ref {
	char *ref;
	char sha[41];
	enum hub_ref_kind kind;
	double time;
};

/* In-memory form of state.json. */
struct hub_state {
	char *head; /* "refs/heads/main" */
	double head_time;
	struct hub_state_ref *refs;
	size_t n, cap;
};

struct neg_entry {
	char *ref; /* "" for the repository itself */
	double until;
	struct neg_entry *next;
};

struct hub_repo {
	struct hub_cache *cache;
	char *owner, *name;
	char *dir, *gitdir, *statepath, *lockpath;
	pthread_mutex_t resolve_lock;
	struct neg_entry *neg;      /* resolve_lock */
	double remote_fail_until;  /* resolve_lock: serve stale without asking before this */
	pthread_mutex_t odb_lock;
	struct hub_odb *odb;        /* odb_lock; opened lazily */
	struct hub_repo *next;      /* cache->lock; most recently looked up first */
	/* the pin (hub_repo_touch): pin_lock is a leaf */
	pthread_mutex_t pin_lock;
	int pin_fd;                 /* pin_lock; -1: not pinned */
	double pin_checked;         /* pin_lock: when the path's identity was last checked */
	double pin_recorded;        /* pin_lock: when the use time was last written */
	int64_t touched_ms;         /* atomic: monotonic time of the last touch, in ms */
	bool pinned;                /* atomic: pin_fd >= 0 (the fast path's test) */
	uint64_t dir_seen;          /* pin_lock: the directory's inode when last checked
				     * (hub_cache_changed_repos); 0 never, 1 missing */
	int refs;                   /* atomic; taken under cache->lock (hub_cache_repo) */
};

struct blob_ent {
	struct hub_blob pub; /* first: hub_blob * converts back */
	struct hub_oid oid;
	int refs;            /* atomic; includes the LRU's own reference */
	bool in_lru;
	bool mapped;         /* pub.data is a mapping of an unlinked file (staged) */
	struct blob_ent *prev, *next; /* the LRU */
	struct hub_hnode link;         /* in cache->blobs */
};

struct stale_ent {
	char *key; /* "owner/repo:ref" */
	char sha[41];
	struct stale_ent *next;
};

/* The repack thread of one mount (repack.c): repositories a fetch wrote
 * into, checked for too many packs off the FUSE threads.  Its own lock,
 * a leaf: taken with no other lock held. */
struct hub_repack_queue {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	pthread_t thread;
	bool started;     /* lock */
	bool stop;        /* lock to set; read __atomic by the repack in flight */
	struct hub_repo *q[HUB_REPACK_QUEUE_MAX]; /* lock; each holds a reference */
	size_t n;         /* lock */
};

struct hub_cache {
	char *root;
	struct hub_cache_config cfg;
	pthread_mutex_t lock;
	struct hub_repo *repos;       /* lock */
	size_t n_repos;               /* lock */
	struct stale_ent *stale;
	struct blob_ent *lru_head, *lru_tail; /* head = most recent */
	struct hub_htab blobs; /* the LRU's entries by object id */
	size_t lru_bytes;    /* heap blobs in the LRU */
	size_t lru_staged;   /* staged (mapped) blobs in the LRU */
	bool stage_warned;   /* atomic: a staging failure was logged */
	struct hub_cache_stats stats; /* __atomic */
	struct hub_repack_queue repack;
	unsigned pins;       /* atomic: repositories pinned (the thread's wake-ups) */
};

/* ---- repo_state.c: state.json ---- */

void hub_state_dispose(struct hub_state *s);
/* The record of ref (as the user named it), NULL if none. */
struct hub_state_ref *hub_state_find(struct hub_state *s, const char *ref);
/* Add or replace the record of ref.  0 or -ENOMEM. */
int hub_state_set(struct hub_state *s, const char *ref, const char *sha, enum hub_ref_kind kind,
		  double t);
/* Keep the max most recent records (by time), drop the others. */
void hub_state_trim(struct hub_state *s, size_t max);
/* Read path into out (a missing or unreadable file reads as empty). */
int hub_state_load(struct hub_state *out, const char *path);
/* Replace path atomically with s. */
int hub_state_save(const struct hub_state *s, const char *path);

/* ---- repo.c ---- */

/* Open r's read handle of the object database; r->odb_lock held.  A
 * repository that cannot be opened reads as empty. */
int hub_repo_odb_open_locked(struct hub_repo *r);
/* 1 if sha is a commit whose root tree is present, 0 if not, -errno
 * (takes r->odb_lock). */
int hub_repo_commit_in_odb(struct hub_repo *r, const char *sha);

/* ---- repack.c: the repack thread ---- */

void hub_repack_queue_init(struct hub_cache *c);
/* Start the thread if it is not running (it also lets go of idle pins:
 * hub_cache_unpin_idle, every half pin_s while any is held). */
void hub_repack_thread_start(struct hub_cache *c);
/* After a fetch into r (its locks released): have the repack thread check
 * r's pack count (started on first use).  Never blocks on I/O. */
void hub_repack_queue_add(struct hub_repo *r);
/* Stop the thread (a repack in flight is abandoned) and give back the
 * queued references; before the repos are freed. */
void hub_repack_queue_fini(struct hub_cache *c);

/* ---- blobs.c: the blob LRU ---- */

/* Free every blob the LRU lists (hub_cache_free; no other user left). */
void hub_blobs_clear(struct hub_cache *c);

#endif
