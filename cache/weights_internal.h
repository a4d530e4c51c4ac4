/*
 * cache/weights internals: the structures the weights files share and the
 * functions they call across files (prefix hw_).  Included only by
 * cache/weights*.c.
 *
 *   weights.c         the public API (weights.h): the store, its table of
 *                     files, handles, reads, sizes, state, status, names,
 *                     failures, tuning
 *   weights_disk.c    the on-disk formats: N.ranges (record), N.head
 *                     (sidecar), N.lock's shared page, inode identities,
 *                     leftover temporary files
 *   weights_record.c  a file's descriptors, what is on disk adopted into
 *                     memory, the record writer and the flusher thread
 *   weights_dl.c      the downloader thread: the holder (sequential stream,
 *                     sha256 of its stream) or a follower; HEAD
 *   weights_verify.c  verification and completion (finalize), publishing as
 *                     checkpoints/<name>, adopting a checkpoints/<name>
 *   weights_hash.c    the download's sha256 on a second thread, fed from
 *                     a ring of the downloader's buffers
 *   weights_far.c     far reads (a reader's own Range request)
 *   base/rset.c       the sets of byte ranges (struct hub_rset)
 *   base/hash.c       SHA-256 (libcrypto)
 *
 * DESIGN
 * Files, per URL, named N = the URL's key (url_key: sha256 of the URL
 * fetched), all under <root>/hubfs/weights/ except the last:
 *   N.data   the complete, verified file.
 *   N.part   the partial data, a sparse file written at the file's offsets.
 *   N.ranges the record of byte ranges present in N.part (text, replaced
 *            atomically).  It names N.part's identity (inode number and
 *            birth time), the size and the ETag: a record of another N.part
 *            or ETag claims nothing.  It is written only after an fdatasync
 *            of N.part that followed the snapshot of the ranges it claims,
 *            so it never claims a byte that was not written and synced,
 *            whatever the kill -9 or power-loss timing.  It is removed
 *            before N.part is renamed or removed, never after.
 *   N.head   the URL (query removed) and base name, HEAD results (size,
 *            ETag) and a failed verification with its time (JSON, replaced
 *            atomically); kept with N.data, to say what it is.
 *   N.lock   flock: held by the one process downloading N.  Its first page
 *            is mapped shared: the holder publishes there the range its
 *            sequential stream has written ([a, b), seqlock), so another
 *            process follows the download at memory speed instead of at the
 *            pace of record updates.
 *   <root>/checkpoints/<name>  torch.hub's name for the file: a second link
 *            to N.data, made when the name is free (publish).  A file there
 *            that is not ours is used only when <name>'s hash prefix
 *            verifies it (hw_adopt_checkpoint); it is never written over.
 * Every file here is opened O_NOFOLLOW: a planted symlink is not followed.
 * Per file, one downloader thread (started by the first read, owned by this
 * module: weights_dl.c, joined at the next start or at free) is either
 *   the holder: it holds N.lock and fetches the holes of N.part in order,
 *     from the start, one GET per hole, into N.part; then verifies (size,
 *     sha256 prefix), fsyncs and renames N.part to N.data.  For a
 *     name carrying a hash, the same thread computes the sha256 from the
 *     bytes it writes, as it writes them: a fresh download is verified
 *     without reading N.part back (only a resume's prefix and ranges a far
 *     read fetched are read back, once);
 *   a follower: another process holds N.lock; it watches N.ranges, N.head
 *     and the shared page every poll_s, and takes over when the flock is
 *     free (the holder finished, failed, or died: flock dies with it).
 * The size of a file nothing on disk describes is learned at its lookup
 * (hw_ensure_head) with a GET of its first head_bytes, written into N.part
 * like a far read's range (a HEAD where N.part cannot be written): the first
 * read of a cold file is served from those bytes and starts the download
 * thread behind them; the holder's first hole then starts at head_bytes (its
 * hash reads those bytes back once, from the page cache).
 * Readers never download sequentially themselves: they wait on f->cond until
 * their range is present, except that a range starting more than far_bytes
 * beyond the sequential stream is fetched by the reader itself with a Range
 * request (in-flight far ranges are listed so two readers do not fetch the
 * same one), into N.part, merged into the same set of present ranges.
 *
 * Locks
 *   w->lock     the hash table of files, w->flusher state, and each file's
 *               f->putting and f->used_t.  A file is freed before the store
 *               only by an eviction (evict_idle, weights.c: the table is
 *               capped at HUB_WEIGHTS_FILES_MAX), under w->lock, and only
 *               when nothing references it (refs == 0, putting == 0), no
 *               thread downloads it and nothing is left to write.  A
 *               reference is taken from 0 only under w->lock (a lookup, the
 *               table snapshot of hw_all_files), and the put that may drop
 *               the last one decrements under w->lock and marks the file
 *               f->putting while it finishes: so a pointer held with a
 *               reference stays valid.
 *   w->fail_lock the ring of recent failures (a leaf).
 *   f->lock     everything of one file marked "f->lock" below; held for
 *               in-memory work and small metadata I/O, never across HTTP or
 *               bulk reads/writes.  hw_wake(f) on every change of state
 *               (size known, complete, failed, far bytes, another process's
 *               bytes) broadcasts f->cond and wakes every reader waiting
 *               for bytes; the sequential stream wakes only the readers
 *               whose offset it passed (hw_wake_upto: each such reader
 *               waits on a condition of its own, listed in f->waiters, so
 *               a piece wakes the one read it completes, not every reader
 *               of the file; f->wake_at is the lowest offset listed).
 *   Order: w->lock before f->lock before w->fail_lock.
 *   Pins (the cache quota, cache/quota.h): ck_fd holds a shared flock on
 *   N.data while it is open; the flusher closes it once no read used it for
 *   pin_s (f->lock held, ck_fast cleared first, and only when no lock-free
 *   reader counts itself in f->fast_users and no slow reader is in
 *   f->readers), so another process's eviction round (exclusive flock,
 *   never waiting) skips files read recently through any mount.  The last
 *   use is N.data's atime, set with futimens at most every
 *   HUB_WEIGHTS_USE_RECORD_S per file.
 *   f->refs is atomic: the last put closes the file's descriptors (and
 *   makes the file evictable).
 * A flusher thread per store rewrites records of files with new bytes every
 * record_s (so the sequential download never waits for an fsync), and merges
 * into memory what other processes recorded.
 */
#ifndef HUB_CACHE_WEIGHTS_INTERNAL_H
#define HUB_CACHE_WEIGHTS_INTERNAL_H

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#include "base/htab.h"
#include "base/hash.h"
#include "base/limits.h"
#include "base/rset.h"
#include "cache/weights.h"
#include "fetch/http.h"

/* ---- the shared page in N.lock ---- */

#define LIVE_MAGIC 0x32564c4255484bULL /* "KHUBLV2" */
#define LIVE_SIZE 4096

/* [a, b) was written to N.part by the holder, not necessarily synced: valid
 * only while the kernel that holds those writes in its page cache runs.  A
 * page from another boot (a power loss or crash after the writes, before
 * their writeback) is ignored: only N.ranges, written after an fdatasync,
 * survives a reboot.  (Without the boot check a resume after a power loss
 * took [a, b) as present: bytes that may never have reached the disk.) */
struct live_page {
	uint64_t magic;
	uint64_t seq; /* seqlock: odd while the holder writes */
	uint64_t id;  /* N.part's identity (id_of) */
	uint64_t a, b;
	uint64_t boot; /* the kernel's boot id (hw_boot_id) when written */
};

/* ---- the store and its files ---- */


struct fail_ent {
	char *name, *url;
	char key[HUB_WEIGHTS_KEY_LEN + 1];
	char reason[48];
};

struct hub_weights {
	char *root, *dir, *ckdir;
	struct hub_weights_config cfg; /* a copy (cfg.rewrites is the caller's) */
	struct hub_http *http;
	bool stopping; /* __atomic */
	pthread_mutex_t lock;
	struct hub_htab table; /* w->lock: files by key (<= HUB_WEIGHTS_FILES_MAX unused) */
	unsigned long evicted; /* w->lock: files dropped from the table */
	unsigned dl_running;   /* w->lock: downloader threads (<= tuning dl_max) */
	pthread_cond_t flush_cond;         /* w->lock: wakes the flusher at free */
	pthread_t flusher;
	bool flusher_started;
	pthread_mutex_t fail_lock;
	struct fail_ent fails[HUB_WEIGHTS_FAILED_MAX]; /* fail_lock: ring */
	size_t fail_next;
	/* pins outliving their table entry (hw_close_fds): the descriptor of a
	 * complete file read less than pin_s ago, kept open (its shared flock
	 * is the quota's pin) until its expiry; hw_unpin_idle closes expired
	 * ones.  pin_lock is a leaf (taken under f->lock and w->lock). */
	pthread_mutex_t pin_lock;
	struct { int fd; int64_t until_s; } pins[HUB_WEIGHTS_PINS_MAX]; /* pin_lock */
	size_t npins;                                                   /* pin_lock */
	/* set once before use: told of every discarded file (see weights.h) */
	void (*on_discard)(void *arg, const char *name);
	void *on_discard_arg;
};

/* Stamp of a small file, to re-read it only when it changed. */
struct stamp {
	ino_t ino;
	off_t size;
	struct timespec mtime;
	bool exists;
};

struct hub_weight {
	struct hub_weights *w;
	struct hub_hnode link; /* in w->table; w->lock */
	char *url, *fetch_url, *name;
	char key[HUB_WEIGHTS_KEY_LEN + 1]; /* the store's name of this URL (url_key) */
	char *base;              /* sidecar files' base name: the key */
	char *ck_path;           /* the complete file in the store: <key>.data */
	char *pub_path;          /* torch.hub's name for it: checkpoints/<name> */
	char *part_path, *rec_path, *head_path, *lock_path;
	char hash_prefix[HUB_SHA256_HEX_LEN + 1]; /* "" when the name carries none */
	int refs;                                 /* __atomic; from 0 only under w->lock */
	unsigned putting;        /* w->lock: last puts still using f (hw_put) */
	double used_t;           /* w->lock: mono time of the last lookup (LRU) */

	pthread_mutex_t lock;
	pthread_cond_t cond;
	/* --- f->lock --- */
	bool loaded;             /* sidecar and record read */
	bool complete;           /* <key>.data exists */
	int adopt;               /* checkpoints/N tried as this URL's file: 0 not yet,
				  * 1 a thread is hashing it, 2 done */
	int ck_fd, part_fd;      /* -1 until needed; closed by the last put (ck_fd
				  * also by hw_unpin_idle; it holds N.data's
				  * shared flock, the quota's pin) */
	int ck_fast;             /* __atomic (release after ck_fd, size are set):
				  * ck_fd is open on the complete file, reads
				  * take no lock (hub_weight_span); cleared
				  * before ck_fd is closed */
	uint64_t ck_size;        /* the size for those reads, set before ck_fast */
	int fast_users;          /* __atomic: lock-free reads using ck_fd right now */
	int64_t read_s;          /* __atomic: mono seconds of the last read (pin) */
	int64_t used_s;          /* __atomic: real seconds N.data's atime was last set */
	uint64_t part_id;        /* identity of part_fd's inode (records must name it) */
	int graveyard[8];        /* replaced part fds, closed when no thread uses
				  * a part fd with f->lock dropped (busy == 0),
				  * else by the last put */
	size_t n_graveyard;
	unsigned busy;           /* threads using part fds with f->lock dropped */
	bool size_known;
	uint64_t size;
	char etag[HUB_HTTP_HEADER_MAX];
	bool head_busy, head_done;
	bool head_dirty;         /* N.head to be written (by the flusher: an fsync
				  * must not delay the first byte) */
	struct hub_rset have;    /* bytes present in N.part (written) */
	struct {                 /* far reads being fetched in this process: a list */
		struct hub_range *v;  /* (not a set: not merged, removed one by one) */
		size_t n, cap;
	} inflight;
	bool dirty;              /* `have` holds bytes not in N.ranges yet */
	bool flushing;           /* a record write is running (f->lock dropped) */
	double flushed_t;        /* mono time of the last record write */
	struct stamp rec_seen, head_seen;
	bool thread_running, thread_joinable;
	pthread_t thread;
	bool holder;             /* this process downloads (holds N.lock) */
	bool streaming;          /* the holder's GET is running; seq_pos valid */
	uint64_t seq_pos;        /* next byte of the holder's stream */
	bool live_valid;         /* follower: the holder's stream, from the page */
	uint64_t live_b;
	int err;                 /* last failure (transient), fails reads until err_until */
	double err_until;
	bool bad;                /* failed verification: EIO until bad_until (real time) */
	bool hash_ok;            /* holder: every byte of part_fd present and its sha256
				  * matched; the fsync and rename still to come.  The
				  * verdict a read of the end waits for (weight_span) */
	char bad_reason[48];
	double bad_until;
	double progress_t;       /* mono time of the last new byte or state change */
	uint64_t wake_at;        /* a waiting reader needs the stream to reach this */
	struct hw_waiter *waiters; /* readers waiting for bytes (wait_change) */
	uint64_t far_end, far_chunk;
	uint64_t rate_bytes;
	double rate_t0, rate, rate_t;
	unsigned readers;        /* reads and size waits in progress */
	double read_t;           /* mono time the last of them ended */
	bool idle_stop;          /* the holder stopped: no reader for idle_s */
	double first_t;          /* the first read's timeline (debug log only):
				  * mono time the read that started the
				  * download came in, 0 once it was served */
};

/* f->lock held.  Debug log of a step of the first read of a cold file, in
 * ms since it came in (tests/bench/bench_first_byte.py --log reads them). */
#define HW_FIRST_STEP(f, what)                                                              \
	do {                                                                                \
		double t0_ = (f)->first_t;                                                  \
		if (t0_ > 0)                                                                \
			hub_debug("weights: %s: first read: %s at +%.3f ms", (f)->name, (what), \
				  (mono_now() - t0_) * 1e3);                                \
	} while (0)

/* ---- on-disk formats (weights_disk.c) ---- */

/* N.head */
struct sidecar {
	char *url;
	bool size_known;
	uint64_t size;
	char etag[HUB_HTTP_HEADER_MAX];
	char bad[48];
	double bad_time;
};

/* N.ranges */
struct record {
	uint64_t id;
	bool size_known;
	uint64_t size;
	char etag[HUB_HTTP_HEADER_MAX];
	struct hub_rset r;
};

/* ---- the downloader thread ---- */

struct hw_hasher;

struct dl {
	struct hub_weight *f;
	int lock_fd;
	struct live_page *live;
	bool hashing;      /* the name carries a hash prefix: sha256 is computed */
	/* The sha256 of the download, computed from the bytes this thread's
	 * stream writes, in order, as it writes them (no read-back): copied
	 * into a ring hashed by a second thread (weights_hash.c).  Bytes it did
	 * not write (a resume's prefix, a far read's range) are read back from
	 * N.part once, when the hash reaches them (hw_hash_catchup).  hashed
	 * counts the bytes fed; d->sha covers them all after hw_hash_drain. */
	struct hub_sha256 sha;
	bool sha_live;     /* sha initialised (disposed by hold) */
	uint64_t hashed;   /* sha covers [0, hashed) */
	uint64_t reread;   /* bytes of those read back from N.part */
	struct hw_hasher *hz; /* the hasher thread and its ring (weights_hash.c) */
	bool hz_failed;    /* no memory for the ring: hashed inline */
	uint64_t hole_a;   /* start of the current GET */
	int fd;            /* part_fd at the GET's start (kept open by f) */
};

/* ---- clocks ---- */

static inline double mono_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Verification failures are shared through files: wall clock. */
static inline double real_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* A reader waiting for the stream to reach need (weights.c wait_change),
 * on its own stack: listed in f->waiters while it waits. */
struct hw_waiter {
	uint64_t need;
	pthread_cond_t cond;
	struct hw_waiter *next;
};
/* f->lock held: wake everyone waiting on f (f->cond and every listed
 * reader), on any change of the file's state. */
void hw_wake(struct hub_weight *f);
/* f->lock held: the stream reached end: wake the readers that needed no
 * more; f->wake_at becomes the lowest need left. */
void hw_wake_upto(struct hub_weight *f, uint64_t end);

static inline void hw_abs_deadline(struct timespec *ts, double secs)
{
	clock_gettime(CLOCK_MONOTONIC, ts);
	if (secs < 0)
		secs = 0;
	time_t whole = (time_t)secs;
	ts->tv_sec += whole;
	ts->tv_nsec += (long)((secs - (double)whole) * 1e9);
	if (ts->tv_nsec >= 1000000000L) {
		ts->tv_sec++;
		ts->tv_nsec -= 1000000000L;
	}
}

/* ---- small helpers ---- */

static inline bool stopping(const struct hub_weights *w)
{
	return __atomic_load_n(&w->stopping, __ATOMIC_ACQUIRE);
}

static inline int pwrite_full(int fd, const char *p, size_t n, uint64_t off)
{
	while (n) {
		ssize_t k = pwrite(fd, p, n, (off_t)off);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			return k < 0 ? -errno : -EIO;
		p += k;
		n -= (size_t)k;
		off += (uint64_t)k;
	}
	return 0;
}

static inline ssize_t pread_full(int fd, char *p, size_t n, uint64_t off)
{
	size_t got = 0;
	while (got < n) {
		ssize_t k = pread(fd, p + got, n - got, (off_t)(off + got));
		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0)
			return -errno;
		if (k == 0)
			break;
		got += (size_t)k;
	}
	return (ssize_t)got;
}

/* ---- functions shared across the weights files ---- */

/* weights.c */
struct hub_weights_tuning hw_tuning(void);
/* URL for logs: no query (signed URLs carry credentials there). */
const char *hw_log_url(char *buf, size_t n, const char *url);
/* The ring of failures for /.hubfs/downloads (w->fail_lock, a leaf). */
void hw_fail_note(struct hub_weights *w, const struct hub_weight *f, const char *reason);
void hw_fail_clear(struct hub_weights *w, const struct hub_weight *f);
const char *hw_reason_of(int err);
/* Drop a reference (the downloader's, a lookup's, a snapshot's); the last
 * closes the descriptors.  No lock held. */
void hw_put(struct hub_weight *f);

/* weights_disk.c (no lock unless said) */
void hw_stamp_of(struct stamp *s, const char *path);
bool hw_stamp_eq(const struct stamp *a, const struct stamp *b);
uint64_t hw_id_of_path(const char *path);
uint64_t hw_id_of_fd(int fd);
/* 64 bits of /proc/sys/kernel/random/boot_id (0 if unreadable: then no
 * live page is trusted). */
uint64_t hw_boot_id(void);
void hw_live_publish(struct live_page *p, uint64_t id, uint64_t a, uint64_t b);
bool hw_live_read(const struct live_page *p, uint64_t *id, uint64_t *a, uint64_t *b);
int hw_sidecar_read(struct sidecar *out, const char *path);
void hw_sidecar_dispose(struct sidecar *s);
int hw_sidecar_write(struct hub_weight *f, const char *bad); /* f->lock held */
void hw_record_init(struct record *rec);
int hw_record_read(struct record *out, const char *path);
int hw_record_write(const char *path, uint64_t id, bool size_known, uint64_t size,
		    const char *etag, const struct hub_rset *r);
bool hw_record_matches(const struct hub_weight *f, const struct record *rec);
void hw_remove_temps(struct hub_weight *f, double max_age);

/* weights_record.c (f->lock held for all) */
void hw_close_fds(struct hub_weight *f);
void hw_part_retire(struct hub_weight *f);
void hw_busy_enter(struct hub_weight *f);
void hw_busy_leave(struct hub_weight *f);
int hw_part_open(struct hub_weight *f, bool create);
bool hw_check_complete(struct hub_weight *f);
void hw_adopt_sidecar(struct hub_weight *f);
void hw_adopt_record(struct hub_weight *f, bool force);
void hw_load(struct hub_weight *f);
void hw_flush_record(struct hub_weight *f);
/* The same, after waiting for a flush in progress: everything written so
 * far is recorded (the end of a download, the last put, the store's free). */
void hw_flush_record_final(struct hub_weight *f);
void hw_record_remove(struct hub_weight *f);
void hw_part_remove(struct hub_weight *f);
void hw_note_bytes(struct hub_weight *f, size_t n);
/* no lock held: */
/* A snapshot of the table, each file referenced: hw_put each, free v. */
struct hub_weight **hw_all_files(struct hub_weights *w, size_t *n);
void hw_flush_all(struct hub_weights *w, bool force);
/* Hand a complete file's pinned descriptor (ck_fd) to w's pin list until
 * read_s + pin_s, or close it when that is past.  Any lock may be held
 * (pin_lock is a leaf). */
void hw_pin_keep(struct hub_weights *w, int fd, int64_t read_s);
/* Close the complete files' descriptors no read used for pin_s: their
 * shared flocks go, an eviction round may remove them. */
void hw_unpin_idle(struct hub_weights *w);
void *hw_flusher_main(void *arg);

/* weights.c, f->lock held: the complete file just published, opened with
 * its pin, so that an eviction round cannot take it between the download's
 * end and its readers' next read (they would download it again). */
void hw_pin_published(struct hub_weight *f);
/* f->lock held: checkpoints/N as a second link to <key>.data when that name
 * is free (weights_verify.c; also when a complete file is first opened:
 * a holder killed between its rename and this link left none). */
void hw_publish(struct hub_weight *f);

/* weights_dl.c (f->lock held) */
int hw_ensure_head(struct hub_weight *f);
/* Start the file's downloader thread unless it runs: 0, -EBUSY when
 * tuning dl_max downloads run already (wait and call again), or -errno. */
int hw_ensure_thread(struct hub_weight *f);
/* weights_verify.c, the downloader thread's hash (d->sha: no lock) */
/* Start (or restart, from byte 0) the download's sha256 (in memory: f->lock
 * may be held).  0 or -errno. */
int hw_hash_reset(struct dl *d);
/* Bring the hash up to `to` by reading [d->hashed, to) back from fd (f->lock
 * not held: bulk reads).  0, -ECANCELED, -EIO (the file ends before to) or
 * -errno. */
int hw_hash_catchup(struct dl *d, int fd, uint64_t to);

/* weights_hash.c, the downloader thread only (no lock needed; f->lock may
 * be held: the waits are for the ring's few buffers to be hashed) */
/* Hash [p, p + n), the next bytes after d->hashed (the caller advances
 * it): copied into the ring, hashed by the hasher thread. */
void hw_hash_feed(struct dl *d, const char *p, size_t n);
/* Wait until everything fed is in d->sha (before reading or finishing it). */
void hw_hash_drain(struct dl *d);
/* Stop the hasher thread, free the ring (before d->sha is disposed). */
void hw_hash_stop(struct dl *d);

/* weights_verify.c (f->lock held) */
void hw_adopt_checkpoint(struct hub_weight *f);
int hw_finalize(struct dl *d);

/* weights_far.c (f->lock held) */
bool hw_inflight_covers(const struct hub_weight *f, uint64_t off);
int hw_far_fetch(struct hub_weight *f, uint64_t a, uint64_t end,
		 const struct hub_weights_tuning *t);
/* The lookup's GET of the first n bytes of a file of unknown size, into
 * N.part (present ranges like a far read's); *out: the response's size (if
 * it gave one) and ETag.  0 or -errno. */
int hw_head_fetch(struct hub_http_meta *out, struct hub_weight *f, uint64_t n);

#endif
