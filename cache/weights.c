/*
 * Weight files: lazily downloaded, streamed, verified, shared; see weights.h.
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
 *            verifies it (adopt_checkpoint); it is never written over.
 * Every file here is opened O_NOFOLLOW: a planted symlink is not followed.
 * Per file, one downloader thread (started by the first read, owned by this
 * module, joined at the next start or at free) is either
 *   the holder: it holds N.lock and fetches the holes of N.part in order,
 *     from the start, one GET per hole, into N.part; then verifies (size,
 *     sha256 prefix), fsyncs and renames N.part to N.data.  For a
 *     name carrying a hash, a second thread (lower priority) computes the
 *     sha256 behind the download, reading N.part back from the page cache,
 *     so that hashing (slower than loopback HTTP) never slows the stream;
 *   a follower: another process holds N.lock; it watches N.ranges, N.head
 *     and the shared page every poll_s, and takes over when the flock is
 *     free (the holder finished, failed, or died: flock dies with it).
 * Readers never download sequentially themselves: they wait on f->cond until
 * their range is present, except that a range starting more than far_bytes
 * beyond the sequential stream is fetched by the reader itself with a Range
 * request (in-flight far ranges are listed so two readers do not fetch the
 * same one), into N.part, merged into the same set of present ranges.
 *
 * Locks
 *   w->lock     the hash table of files (files are never freed before the
 *               store, so pointers stay valid) and w->flusher state.
 *   w->fail_lock the ring of recent failures (a leaf).
 *   f->lock     everything of one file marked "f->lock" below; held for
 *               in-memory work and small metadata I/O, never across HTTP or
 *               bulk reads/writes.  f->cond is broadcast on every change of
 *               state (size known, complete, failed, far bytes, another
 *               process's bytes); the sequential stream broadcasts only when
 *               it passes f->wake_at, the lowest offset a waiter needs.
 *   Order: w->lock before f->lock before w->fail_lock.
 *   f->refs is atomic: the last put closes the file's descriptors.
 * A flusher thread per store rewrites records of files with new bytes every
 * record_s (so the sequential download never waits for an fsync), and merges
 * into memory what other processes recorded.
 */
#include "cache/weights.h"

#include <cjson/cJSON.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "base/files.h"
#include "base/stop.h"
#include "cache/sha256.h"
#include "fetch/http.h"
#include "base/limits.h"
#include "base/log.h"
#include "base/redact.h"

/* ---- tuning ---- */

static struct hub_weights_tuning tuning = {
	.far_bytes = HUB_WEIGHTS_FAR_BYTES,
	.range_min = HUB_WEIGHTS_RANGE_MIN,
	.range_max = HUB_WEIGHTS_RANGE_MAX,
	.read_stall_s = HUB_WEIGHTS_READ_STALL_S,
	.record_s = HUB_WEIGHTS_RECORD_S,
	.poll_s = HUB_WEIGHTS_POLL_MS / 1000.0,
	.retry_s = HUB_WEIGHTS_RETRY_S,
	.bad_ttl_s = HUB_WEIGHTS_BAD_TTL_S,
};
static pthread_mutex_t tuning_lock = PTHREAD_MUTEX_INITIALIZER;

void hub_weights_tuning_default(struct hub_weights_tuning *out)
{
	*out = (struct hub_weights_tuning){
		.far_bytes = HUB_WEIGHTS_FAR_BYTES,
		.range_min = HUB_WEIGHTS_RANGE_MIN,
		.range_max = HUB_WEIGHTS_RANGE_MAX,
		.read_stall_s = HUB_WEIGHTS_READ_STALL_S,
		.record_s = HUB_WEIGHTS_RECORD_S,
		.poll_s = HUB_WEIGHTS_POLL_MS / 1000.0,
		.retry_s = HUB_WEIGHTS_RETRY_S,
		.bad_ttl_s = HUB_WEIGHTS_BAD_TTL_S,
	};
}

void hub_weights_set_tuning(const struct hub_weights_tuning *t)
{
	pthread_mutex_lock(&tuning_lock);
	tuning = *t;
	pthread_mutex_unlock(&tuning_lock);
}

static struct hub_weights_tuning tun(void)
{
	pthread_mutex_lock(&tuning_lock);
	struct hub_weights_tuning t = tuning;
	pthread_mutex_unlock(&tuning_lock);
	return t;
}

/* ---- clocks ---- */

static double mono_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Verification failures are shared through files: wall clock. */
static double real_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void abs_deadline(struct timespec *ts, double secs)
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

/* ---- sets of byte ranges: sorted, disjoint, never adjacent ---- */

struct range {
	uint64_t a, b; /* [a, b) */
};

struct rset {
	struct range *v;
	size_t n, cap;
};

static void rset_dispose(struct rset *s)
{
	free(s->v);
	memset(s, 0, sizeof(*s));
}

static void rset_clear(struct rset *s)
{
	s->n = 0;
}

/* index of the first range with b >= a (a range that touches or follows a) */
static size_t rset_lower(const struct rset *s, uint64_t a)
{
	size_t lo = 0, hi = s->n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (s->v[mid].b < a)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* Forget the smallest range (its bytes will be fetched again). */
static void rset_drop_smallest(struct rset *s)
{
	size_t k = 0;
	for (size_t i = 1; i < s->n; i++)
		if (s->v[i].b - s->v[i].a < s->v[k].b - s->v[k].a)
			k = i;
	memmove(&s->v[k], &s->v[k + 1], (s->n - k - 1) * sizeof(s->v[0]));
	s->n--;
}

static int rset_add(struct rset *s, uint64_t a, uint64_t b)
{
	if (a >= b)
		return 0;
	size_t i = rset_lower(s, a);
	size_t j = i;
	while (j < s->n && s->v[j].a <= b) {
		if (s->v[j].a < a)
			a = s->v[j].a;
		if (s->v[j].b > b)
			b = s->v[j].b;
		j++;
	}
	if (j > i) {
		/* merge [i, j) into one */
		s->v[i] = (struct range){a, b};
		memmove(&s->v[i + 1], &s->v[j], (s->n - j) * sizeof(s->v[0]));
		s->n -= j - i - 1;
		return 0;
	}
	if (s->n == s->cap) {
		size_t nc = s->cap ? s->cap * 2 : 16;
		struct range *nv = realloc(s->v, nc * sizeof(*nv));
		if (!nv)
			return -ENOMEM;
		s->v = nv;
		s->cap = nc;
	}
	memmove(&s->v[i + 1], &s->v[i], (s->n - i) * sizeof(s->v[0]));
	s->v[i] = (struct range){a, b};
	s->n++;
	if (s->n > HUB_WEIGHTS_RANGES_MAX)
		rset_drop_smallest(s);
	return 0;
}

static int rset_union(struct rset *dst, const struct rset *src)
{
	for (size_t i = 0; i < src->n; i++) {
		int rc = rset_add(dst, src->v[i].a, src->v[i].b);
		if (rc)
			return rc;
	}
	return 0;
}

static int rset_copy(struct rset *dst, const struct rset *src)
{
	rset_clear(dst);
	return rset_union(dst, src);
}

/* First offset in [a, b) not covered; b if all is. */
static uint64_t rset_first_missing(const struct rset *s, uint64_t a, uint64_t b)
{
	size_t i = rset_lower(s, a);
	if (i < s->n && s->v[i].a <= a)
		a = s->v[i].b;
	return a < b ? a : b;
}

static bool rset_covers(const struct rset *s, uint64_t a, uint64_t b)
{
	return a >= b || rset_first_missing(s, a, b) == b;
}

/* Start of the first range beginning after a; UINT64_MAX if none. */
static uint64_t rset_next_start(const struct rset *s, uint64_t a)
{
	size_t i = rset_lower(s, a);
	while (i < s->n && s->v[i].a <= a)
		i++;
	return i < s->n ? s->v[i].a : UINT64_MAX;
}

static uint64_t rset_bytes(const struct rset *s)
{
	uint64_t n = 0;
	for (size_t i = 0; i < s->n; i++)
		n += s->v[i].b - s->v[i].a;
	return n;
}

/* End of the range that starts at 0 (the contiguous prefix). */
static uint64_t rset_prefix(const struct rset *s)
{
	return s->n && s->v[0].a == 0 ? s->v[0].b : 0;
}

static void rset_clamp(struct rset *s, uint64_t size)
{
	while (s->n && s->v[s->n - 1].a >= size)
		s->n--;
	if (s->n && s->v[s->n - 1].b > size)
		s->v[s->n - 1].b = size;
}

/* ---- the shared page in N.lock ---- */

#define LIVE_MAGIC 0x31564c4255484bULL /* "KHUBLV1" */
#define LIVE_SIZE 4096

struct live_page {
	uint64_t magic;
	uint64_t seq; /* seqlock: odd while the holder writes */
	uint64_t id;  /* N.part's identity (id_of) */
	uint64_t a, b;
};

/* A seqlock without fences (ThreadSanitizer models no fences): the data
 * stores are releases, so a reader that sees any of them also sees the odd
 * seq stored before; the data loads are acquires, so the second seq load
 * cannot move before them.  On x86 all of these are plain moves. */
static void live_publish(struct live_page *p, uint64_t id, uint64_t a, uint64_t b)
{
	if (!p)
		return;
	uint64_t s = __atomic_load_n(&p->seq, __ATOMIC_RELAXED);
	__atomic_store_n(&p->seq, s | 1, __ATOMIC_RELAXED);
	__atomic_store_n(&p->id, id, __ATOMIC_RELEASE);
	__atomic_store_n(&p->a, a, __ATOMIC_RELEASE);
	__atomic_store_n(&p->b, b, __ATOMIC_RELEASE);
	__atomic_store_n(&p->magic, LIVE_MAGIC, __ATOMIC_RELEASE);
	__atomic_store_n(&p->seq, (s | 1) + 1, __ATOMIC_RELEASE);
}

static bool live_read(const struct live_page *p, uint64_t *id, uint64_t *a, uint64_t *b)
{
	if (!p)
		return false;
	for (int tries = 0; tries < 100; tries++) {
		uint64_t s1 = __atomic_load_n(&p->seq, __ATOMIC_ACQUIRE);
		if (s1 & 1)
			continue;
		uint64_t m = __atomic_load_n(&p->magic, __ATOMIC_ACQUIRE);
		*id = __atomic_load_n(&p->id, __ATOMIC_ACQUIRE);
		*a = __atomic_load_n(&p->a, __ATOMIC_ACQUIRE);
		*b = __atomic_load_n(&p->b, __ATOMIC_ACQUIRE);
		if (__atomic_load_n(&p->seq, __ATOMIC_RELAXED) == s1)
			return m == LIVE_MAGIC && *a <= *b;
	}
	return false;
}

/* ---- the store and its files ---- */

#define BUCKETS 256

struct fail_ent {
	char *name, *url;
	char key[HUB_WEIGHTS_KEY_LEN + 1];
	char reason[48];
};

struct hub_weights {
	char *root, *dir, *ckdir;
	const struct hub_options *opts;
	struct hub_http *http;
	bool stopping; /* __atomic */
	pthread_mutex_t lock;
	struct hub_weight *table[BUCKETS]; /* w->lock */
	pthread_cond_t flush_cond;         /* w->lock: wakes the flusher at free */
	pthread_t flusher;
	bool flusher_started;
	pthread_mutex_t fail_lock;
	struct fail_ent fails[HUB_WEIGHTS_FAILED_MAX]; /* fail_lock: ring */
	size_t fail_next;
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
	struct hub_weight *next; /* w->lock */
	char *url, *fetch_url, *name;
	char key[HUB_WEIGHTS_KEY_LEN + 1]; /* the store's name of this URL (url_key) */
	char *base;              /* sidecar files' base name: the key */
	char *ck_path;           /* the complete file in the store: <key>.data */
	char *pub_path;          /* torch.hub's name for it: checkpoints/<name> */
	char *part_path, *rec_path, *head_path, *lock_path;
	char hash_prefix[HUB_SHA256_HEX_LEN + 1]; /* "" when the name carries none */
	int refs;                                 /* __atomic */

	pthread_mutex_t lock;
	pthread_cond_t cond;
	/* --- f->lock --- */
	bool loaded;             /* sidecar and record read */
	bool complete;           /* <key>.data exists */
	int adopt;               /* checkpoints/N tried as this URL's file: 0 not yet,
				  * 1 a thread is hashing it, 2 done */
	int ck_fd, part_fd;      /* -1 until needed; closed by the last put */
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
	struct rset have;        /* bytes present in N.part (written) */
	struct rset inflight;    /* far reads being fetched in this process */
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
	char bad_reason[48];
	double bad_until;
	double progress_t;       /* mono time of the last new byte or state change */
	uint64_t wake_at;        /* a waiting reader needs the stream to reach this */
	uint64_t far_end, far_chunk;
	uint64_t rate_bytes;
	double rate_t0, rate, rate_t;
};

/* ---- small helpers ---- */

static bool stopping(const struct hub_weights *w)
{
	return __atomic_load_n(&w->stopping, __ATOMIC_ACQUIRE);
}

static int pwrite_full(int fd, const char *p, size_t n, uint64_t off)
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

static ssize_t pread_full(int fd, char *p, size_t n, uint64_t off)
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

static void stamp_of(struct stamp *s, const char *path)
{
	struct stat st;
	memset(s, 0, sizeof(*s));
	if (stat(path, &st) == 0) {
		s->exists = true;
		s->ino = st.st_ino;
		s->size = st.st_size;
		s->mtime = st.st_mtim;
	}
}

static bool stamp_eq(const struct stamp *a, const struct stamp *b)
{
	return a->exists == b->exists && a->ino == b->ino && a->size == b->size &&
	       a->mtime.tv_sec == b->mtime.tv_sec && a->mtime.tv_nsec == b->mtime.tv_nsec;
}

/* Identity of an inode instance: its number and, where the file system
 * keeps it, its birth time, so that a record naming an N.part that was
 * removed cannot match a later N.part that reuses the inode number. */
static uint64_t id_of(const struct statx *sx)
{
	uint64_t h = (uint64_t)sx->stx_ino * 0x9E3779B97F4A7C15ULL;
	if (sx->stx_mask & STATX_BTIME) {
		h ^= (uint64_t)sx->stx_btime.tv_sec * 1000000007ULL + sx->stx_btime.tv_nsec;
		h *= 0xff51afd7ed558ccdULL;
		h ^= h >> 33;
	}
	return h ? h : 1;
}

/* 0 when path does not exist. */
static uint64_t id_of_path(const char *path)
{
	struct statx sx;
	if (statx(AT_FDCWD, path, AT_SYMLINK_NOFOLLOW, STATX_INO | STATX_BTIME, &sx))
		return 0;
	return id_of(&sx);
}

static uint64_t id_of_fd(int fd)
{
	struct statx sx;
	if (statx(fd, "", AT_EMPTY_PATH, STATX_INO | STATX_BTIME, &sx))
		return 0;
	return id_of(&sx);
}

/* URL for logs: no query (signed URLs carry credentials there). */
static const char *log_url(char *buf, size_t n, const char *url)
{
	hub_redact_url(buf, n, url); /* nor user:password@, nor control bytes */
	return buf;
}

/* URL for /.hubfs/downloads: as for logs, and no byte a terminal would act
 * on (hubfs status prints it). */
static const char *status_url(char *buf, size_t n, const char *url)
{
	log_url(buf, n, url);
	for (char *p = buf; *p; p++)
		if ((unsigned char)*p < 0x21 || *p == 0x7f)
			*p = '?';
	return buf;
}

/* ---- names ---- */

int hub_weights_name(char *out, size_t outsz, const char *url)
{
	/* torch.hub: os.path.basename(urlparse(url).path) */
	const char *p = strstr(url, "://");
	p = p ? p + 3 : url;
	const char *path = p + strcspn(p, "/?#");
	size_t plen = strcspn(path, "?#");
	const char *slash = NULL;
	for (const char *q = path; q < path + plen; q++)
		if (*q == '/')
			slash = q;
	const char *base = slash ? slash + 1 : path;
	size_t n = (size_t)(path + plen - base);
	if (n == 0 || n > NAME_MAX || (n == 1 && base[0] == '.') ||
	    (n == 2 && base[0] == '.' && base[1] == '.'))
		return -EINVAL;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)base[i] < 0x20 || base[i] == 0x7f)
			return -EINVAL;
	if (n >= outsz)
		return -ENAMETOOLONG;
	memcpy(out, base, n);
	out[n] = '\0';
	return 0;
}

/* torch.hub's HASH_REGEX r'-([a-f0-9]*)\.', re.search: the first '-' followed
 * by lower-case hex digits and a '.'.  An empty group verifies nothing (as in
 * torch), and neither does a group longer than a digest. */
static void hash_prefix_of(char out[HUB_SHA256_HEX_LEN + 1], const char *name)
{
	out[0] = '\0';
	for (const char *p = strchr(name, '-'); p; p = strchr(p + 1, '-')) {
		const char *q = p + 1;
		while ((*q >= '0' && *q <= '9') || (*q >= 'a' && *q <= 'f'))
			q++;
		if (*q != '.')
			continue;
		size_t n = (size_t)(q - p - 1);
		if (n > HUB_SHA256_HEX_LEN) {
			/* no digest starts with it: torch fails such a file too */
			memset(out, 'x', 1);
			out[1] = '\0';
			return;
		}
		memcpy(out, p + 1, n);
		out[n] = '\0';
		return;
	}
}

/* The store's name of a URL: the first HUB_WEIGHTS_KEY_LEN hex digits of the
 * sha256 of the URL that is fetched (rewrite rules applied), without its
 * fragment (never sent to a server).  Two URLs that differ anywhere else,
 * query included, are two files. */
static void url_key(char out[HUB_WEIGHTS_KEY_LEN + 1], const char *fetch_url)
{
	size_t n = strcspn(fetch_url, "#");
	struct hub_sha256 c;
	uint8_t dig[HUB_SHA256_LEN];
	char hex[HUB_SHA256_HEX_LEN + 1];
	hub_sha256_init(&c);
	hub_sha256_update(&c, fetch_url, n);
	hub_sha256_final(dig, &c);
	hub_sha256_hex(hex, dig);
	memcpy(out, hex, HUB_WEIGHTS_KEY_LEN);
	out[HUB_WEIGHTS_KEY_LEN] = '\0';
}

/* ---- failures for /.hubfs/downloads ---- */

static void fail_note(struct hub_weights *w, const struct hub_weight *f, const char *reason)
{
	pthread_mutex_lock(&w->fail_lock);
	struct fail_ent *e = NULL;
	for (size_t i = 0; i < HUB_WEIGHTS_FAILED_MAX; i++)
		if (w->fails[i].name && !strcmp(w->fails[i].key, f->key))
			e = &w->fails[i];
	if (!e) {
		e = &w->fails[w->fail_next];
		w->fail_next = (w->fail_next + 1) % HUB_WEIGHTS_FAILED_MAX;
		free(e->name);
		free(e->url);
		e->name = strdup(f->name);
		e->url = strdup(f->url);
		snprintf(e->key, sizeof(e->key), "%s", f->key);
	}
	snprintf(e->reason, sizeof(e->reason), "%s", reason);
	pthread_mutex_unlock(&w->fail_lock);
}

static void fail_clear(struct hub_weights *w, const struct hub_weight *f)
{
	pthread_mutex_lock(&w->fail_lock);
	for (size_t i = 0; i < HUB_WEIGHTS_FAILED_MAX; i++) {
		struct fail_ent *e = &w->fails[i];
		if (e->name && !strcmp(e->key, f->key)) {
			free(e->name);
			free(e->url);
			e->name = e->url = NULL;
		}
	}
	pthread_mutex_unlock(&w->fail_lock);
}

static const char *reason_of(int err)
{
	switch (err) {
	case -ENOENT:
		return "not-found";
	case -EACCES:
		return "forbidden";
	case -ETIMEDOUT:
		return "timeout";
	case -ECONNREFUSED:
		return "connection-refused";
	case -EHOSTUNREACH:
	case -ENETUNREACH:
		return "unreachable";
	case -EPROTO:
		return "tls-error";
	case -ELOOP:
		return "too-many-redirects";
	case -ENETDOWN:
		return "offline";
	case -ENOSPC:
		return "disk-full";
	case -ESTALE:
		return "changed-upstream";
	case -EPERM:
		return "private-address";
	case -EPROTONOSUPPORT:
		return "insecure-redirect";
	default:
		return "io-error";
	}
}

/* ---- sidecar (N.head) ---- */

struct sidecar {
	char *url;
	bool size_known;
	uint64_t size;
	char etag[HUB_HTTP_HEADER_MAX];
	char bad[48];
	double bad_time;
};

static void sidecar_dispose(struct sidecar *s)
{
	free(s->url);
	memset(s, 0, sizeof(*s));
}

static int sidecar_read(struct sidecar *out, const char *path)
{
	memset(out, 0, sizeof(*out));
	char *txt;
	size_t len;
	int rc = hub_file_read(&txt, &len, path, HUB_WEIGHTS_META_MAX);
	if (rc)
		return rc;
	cJSON *j = cJSON_ParseWithLength(txt, len);
	free(txt);
	if (!j)
		return -EINVAL;
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, "url");
	if (cJSON_IsString(v))
		out->url = strdup(v->valuestring);
	v = cJSON_GetObjectItemCaseSensitive(j, "size");
	if (cJSON_IsNumber(v) && v->valuedouble >= 0) {
		out->size_known = true;
		out->size = (uint64_t)v->valuedouble;
	}
	v = cJSON_GetObjectItemCaseSensitive(j, "etag");
	if (cJSON_IsString(v))
		snprintf(out->etag, sizeof(out->etag), "%s", v->valuestring);
	v = cJSON_GetObjectItemCaseSensitive(j, "bad");
	if (cJSON_IsString(v))
		snprintf(out->bad, sizeof(out->bad), "%s", v->valuestring);
	v = cJSON_GetObjectItemCaseSensitive(j, "bad_time");
	if (cJSON_IsNumber(v))
		out->bad_time = v->valuedouble;
	cJSON_Delete(j);
	return 0;
}

/* f->lock held.  Small: the lock is kept across the atomic write. */
static int sidecar_write(struct hub_weight *f, const char *bad)
{
	f->head_dirty = false;
	cJSON *j = cJSON_CreateObject();
	if (!j)
		return -ENOMEM;
	char u[HUB_URL_MAX];
	/* for people and `hubfs cache ls`: the file is named by the URL's digest,
	 * and the query may hold a signed URL's credentials */
	cJSON_AddStringToObject(j, "url", log_url(u, sizeof(u), f->url));
	cJSON_AddStringToObject(j, "name", f->name);
	if (f->size_known)
		cJSON_AddNumberToObject(j, "size", (double)f->size);
	cJSON_AddStringToObject(j, "etag", f->etag);
	if (bad) {
		cJSON_AddStringToObject(j, "bad", bad);
		cJSON_AddNumberToObject(j, "bad_time", real_now());
	}
	char *txt = cJSON_PrintUnformatted(j);
	cJSON_Delete(j);
	if (!txt)
		return -ENOMEM;
	int rc = hub_file_write_atomic(f->head_path, txt, strlen(txt));
	if (rc == -ENOENT && hub_mkdir_p(f->w->dir) == 0)
		rc = hub_file_write_atomic(f->head_path, txt, strlen(txt));
	free(txt);
	stamp_of(&f->head_seen, f->head_path);
	if (rc)
		hub_warn("weights: %s: cannot write %s: %s", f->name, f->head_path, strerror(-rc));
	return rc;
}

/* ---- record (N.ranges) ---- */

struct record {
	uint64_t id;
	bool size_known;
	uint64_t size;
	char etag[HUB_HTTP_HEADER_MAX];
	struct rset r;
};

static int record_read(struct record *out, const char *path)
{
	char *txt;
	size_t len;
	rset_clear(&out->r);
	int rc = hub_file_read(&txt, &len, path, HUB_WEIGHTS_META_MAX);
	if (rc)
		return rc;
	rc = -EINVAL;
	char *save = NULL;
	char *line = strtok_r(txt, "\n", &save);
	if (!line || strcmp(line, "hubfs-ranges 1"))
		goto out;
	bool have_id = false, have_size = false;
	out->etag[0] = '\0';
	while ((line = strtok_r(NULL, "\n", &save))) {
		unsigned long long a, b;
		if (sscanf(line, "id %llu", &a) == 1) {
			out->id = a;
			have_id = true;
		} else if (!strcmp(line, "size -")) {
			out->size_known = false;
			have_size = true;
		} else if (sscanf(line, "size %llu", &a) == 1) {
			out->size_known = true;
			out->size = a;
			have_size = true;
		} else if (!strncmp(line, "etag ", 5)) {
			snprintf(out->etag, sizeof(out->etag), "%s", line + 5);
		} else if (!strcmp(line, "etag")) {
			out->etag[0] = '\0';
		} else if (sscanf(line, "r %llu %llu", &a, &b) == 2 && a < b) {
			if (rset_add(&out->r, a, b))
				goto out;
		} else {
			goto out;
		}
	}
	if (have_id && have_size)
		rc = 0;
out:
	free(txt);
	if (rc)
		rset_clear(&out->r);
	return rc;
}

static int record_write(const char *path, uint64_t id, bool size_known, uint64_t size,
			const char *etag, const struct rset *r)
{
	size_t cap = 128 + strlen(etag) + r->n * 44;
	char *buf = malloc(cap);
	if (!buf)
		return -ENOMEM;
	size_t n = (size_t)snprintf(buf, cap, "hubfs-ranges 1\nid %llu\n", (unsigned long long)id);
	if (size_known)
		n += (size_t)snprintf(buf + n, cap - n, "size %llu\n", (unsigned long long)size);
	else
		n += (size_t)snprintf(buf + n, cap - n, "size -\n");
	n += (size_t)snprintf(buf + n, cap - n, "etag %s\n", etag);
	for (size_t i = 0; i < r->n; i++)
		n += (size_t)snprintf(buf + n, cap - n, "r %llu %llu\n", (unsigned long long)r->v[i].a,
				      (unsigned long long)r->v[i].b);
	int rc = hub_file_write_atomic(path, buf, n);
	free(buf);
	return rc;
}

/* Does a record describe the current N.part of this file? */
static bool record_matches(const struct hub_weight *f, const struct record *rec)
{
	return rec->id == f->part_id && rec->size_known == f->size_known &&
	       (!f->size_known || rec->size == f->size) && !strcmp(rec->etag, f->etag);
}

/* ---- descriptors ---- */

static void graveyard_close(struct hub_weight *f)
{
	for (size_t i = 0; i < f->n_graveyard; i++)
		close(f->graveyard[i]);
	f->n_graveyard = 0;
}

static void close_fds(struct hub_weight *f)
{
	if (f->ck_fd >= 0)
		close(f->ck_fd);
	if (f->part_fd >= 0)
		close(f->part_fd);
	f->ck_fd = f->part_fd = -1;
	graveyard_close(f);
}

/* f->lock held.  Replace part_fd (it is kept open until the last put: a
 * reader may be reading through it right now). */
static void part_retire(struct hub_weight *f)
{
	if (f->part_fd < 0)
		return;
	if (f->n_graveyard == sizeof(f->graveyard) / sizeof(f->graveyard[0])) {
		/* never more than a few resets; the oldest cannot be in use for long */
		close(f->graveyard[0]);
		memmove(&f->graveyard[0], &f->graveyard[1], (f->n_graveyard - 1) * sizeof(int));
		f->n_graveyard--;
	}
	f->graveyard[f->n_graveyard++] = f->part_fd;
	f->part_fd = -1;
}

/* f->lock held.  A thread is about to use part_fd with f->lock dropped
 * (a read, a far fetch, the holder's download). */
static void busy_enter(struct hub_weight *f)
{
	f->busy++;
}

/* f->lock held.  It is done: once no thread uses a part fd unlocked, the
 * retired ones are closed, so that the disk space of a removed N.part comes
 * back now rather than when the kernel forgets the inode. */
static void busy_leave(struct hub_weight *f)
{
	if (--f->busy == 0)
		graveyard_close(f);
}

/* f->lock held.  part_fd on the current N.part (created if `create`); a
 * new inode (another process reset the file) empties `have`. */
static int part_open(struct hub_weight *f, bool create)
{
	if (f->part_fd >= 0) {
		uint64_t id = id_of_path(f->part_path);
		if (id == f->part_id)
			return 0;
		if (!create && id == 0)
			return 0; /* renamed into checkpoints/ or removed: keep reading the old one */
		part_retire(f);
	}
	int fd = open(f->part_path, O_RDWR | O_CLOEXEC | O_NOFOLLOW | (create ? O_CREAT : 0), 0666);
	if (fd < 0 && create && errno == ENOENT) {
		hub_mkdir_p(f->w->dir);
		fd = open(f->part_path, O_RDWR | O_CLOEXEC | O_NOFOLLOW | O_CREAT, 0666);
	}
	if (fd < 0)
		return -errno;
	uint64_t id = id_of_fd(fd);
	if (!id) {
		int rc = -errno;
		close(fd);
		return rc;
	}
	if (id != f->part_id && f->part_id) {
		rset_clear(&f->have);
		f->dirty = false;
	}
	f->part_id = id;
	f->part_fd = fd;
	return 0;
}

/* f->lock held.  True when checkpoints/N exists (found once, then kept). */
static bool check_complete(struct hub_weight *f)
{
	if (f->complete)
		return true;
	struct stat st;
	if (lstat(f->ck_path, &st) == 0 && S_ISREG(st.st_mode)) {
		f->complete = true;
		f->size_known = true;
		f->size = (uint64_t)st.st_size;
		pthread_cond_broadcast(&f->cond);
	}
	return f->complete;
}

/* f->lock held: adopt the sidecar (size, ETag, a failed verification). */
static void adopt_sidecar(struct hub_weight *f)
{
	struct stamp s;
	stamp_of(&s, f->head_path);
	if (stamp_eq(&s, &f->head_seen))
		return;
	f->head_seen = s;
	struct sidecar sc;
	if (!s.exists || sidecar_read(&sc, f->head_path))
		return;
	if (sc.size_known && (!f->size_known || f->size != sc.size || strcmp(f->etag, sc.etag))) {
		f->size_known = true;
		f->size = sc.size;
		snprintf(f->etag, sizeof(f->etag), "%s", sc.etag);
		f->head_done = true;
		pthread_cond_broadcast(&f->cond);
	}
	if (sc.bad[0] && real_now() < sc.bad_time + tun().bad_ttl_s) {
		/* another process discarded it: pages this mount served are void */
		if (!f->bad && f->w->on_discard)
			f->w->on_discard(f->w->on_discard_arg, f->key);
		f->bad = true;
		snprintf(f->bad_reason, sizeof(f->bad_reason), "%s", sc.bad);
		f->bad_until = sc.bad_time + tun().bad_ttl_s;
		pthread_cond_broadcast(&f->cond);
	}
	sidecar_dispose(&sc);
}

/* f->lock held: merge what N.ranges claims for the current N.part. */
static void adopt_record(struct hub_weight *f, bool force)
{
	struct stamp s;
	stamp_of(&s, f->rec_path);
	if (!force && stamp_eq(&s, &f->rec_seen))
		return;
	f->rec_seen = s;
	if (!s.exists)
		return;
	struct record rec = {0};
	if (record_read(&rec, f->rec_path) == 0) {
		if (!f->part_id)
			f->part_id = id_of_path(f->part_path);
		if (record_matches(f, &rec)) {
			if (f->size_known)
				rset_clamp(&rec.r, f->size);
			uint64_t before = rset_bytes(&f->have);
			rset_union(&f->have, &rec.r);
			if (rset_bytes(&f->have) != before) {
				f->progress_t = mono_now();
				pthread_cond_broadcast(&f->cond);
			}
		}
	}
	rset_dispose(&rec.r);
}

/* f->lock held: the first use reads what is on disk (no network). */
static void load(struct hub_weight *f)
{
	if (f->loaded)
		return;
	f->loaded = true;
	if (check_complete(f))
		return;
	adopt_sidecar(f);
	f->part_id = id_of_path(f->part_path);
	adopt_record(f, true);
}

/* ---- checkpoints/N as this URL's file ---- */

/* sha256 of the regular file open at fd (whole), as hex.  0 or -errno. */
static int hash_fd(char hex[HUB_SHA256_HEX_LEN + 1], int fd, const struct hub_weights *w)
{
	char *buf = NULL;
	if (posix_memalign((void **)&buf, 4096, HUB_WEIGHTS_IO_BUFFER))
		return -ENOMEM;
	struct hub_sha256 c;
	hub_sha256_init(&c);
	uint64_t off = 0;
	int rc = 0;
	for (;;) {
		if (stopping(w)) {
			rc = -ECANCELED;
			break;
		}
		ssize_t got = pread_full(fd, buf, HUB_WEIGHTS_IO_BUFFER, off);
		if (got < 0) {
			rc = (int)got;
			break;
		}
		if (got == 0)
			break;
		hub_sha256_update(&c, buf, (size_t)got);
		off += (uint64_t)got;
	}
	free(buf);
	if (!rc) {
		uint8_t dig[HUB_SHA256_LEN];
		hub_sha256_final(dig, &c);
		hub_sha256_hex(hex, dig);
	}
	return rc;
}

/* f->lock held (dropped while hashing).  A file at checkpoints/N that hubfs
 * did not download for this URL (torch.hub's, or another URL's of the same
 * name) serves this URL only when N carries a hash prefix and the file's
 * sha256 starts with it: then it becomes <key>.data (a second link, no
 * copy).  Anything else there is never read for this URL.  Once per handle;
 * concurrent callers wait for the first. */
static void adopt_checkpoint(struct hub_weight *f)
{
	while (f->adopt == 1)
		pthread_cond_wait(&f->cond, &f->lock);
	if (f->adopt == 2 || f->complete)
		return;
	f->adopt = 2;
	if (!f->hash_prefix[0] || !strcmp(f->hash_prefix, "x") || f->bad)
		return;
	int fd = open(f->pub_path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
	if (fd < 0)
		return;
	struct stat st;
	if (fstat(fd, &st) || !S_ISREG(st.st_mode)) {
		close(fd);
		return;
	}
	f->adopt = 1;
	pthread_mutex_unlock(&f->lock);
	char hex[HUB_SHA256_HEX_LEN + 1] = "";
	int rc = hash_fd(hex, fd, f->w);
	bool ok = !rc && !strncmp(hex, f->hash_prefix, strlen(f->hash_prefix));
	int lrc = 0;
	if (ok) {
		/* link the inode we hashed, not whatever the name holds now */
		char proc[64];
		snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
		lrc = hub_mkdir_p(f->w->dir);
		if (!lrc && linkat(AT_FDCWD, proc, AT_FDCWD, f->ck_path, AT_SYMLINK_FOLLOW) &&
		    errno != EEXIST)
			lrc = -errno;
		if (!lrc)
			hub_fsync_dir(f->w->dir);
	}
	close(fd);
	pthread_mutex_lock(&f->lock);
	f->adopt = 2;
	if (ok && !lrc) {
		hub_info("weights: %s: checkpoints/%s verifies (sha256 %s): used for this URL", f->name,
			 f->name, hex);
		check_complete(f);
	} else if (ok) {
		hub_warn("weights: %s: checkpoints/%s verifies but cannot be linked into the store: %s",
			 f->name, f->name, strerror(-lrc));
	} else if (!rc) {
		hub_warn("weights: %s: checkpoints/%s is not this URL's file (sha256 %.16s... does not "
			 "start with %s): not used", f->name, f->name, hex, f->hash_prefix);
	}
	pthread_cond_broadcast(&f->cond);
}

/* ---- the record writer ---- */

/* f->lock held (dropped inside).  Snapshot `have`, fdatasync N.part, then
 * write the record: it never claims a byte written after the sync. */
static void flush_record(struct hub_weight *f)
{
	if (f->head_dirty && !f->complete)
		sidecar_write(f, NULL);
	if (!f->dirty || f->part_fd < 0 || f->flushing)
		return;
	struct rset snap = {0};
	if (rset_copy(&snap, &f->have)) {
		rset_dispose(&snap);
		return;
	}
	f->dirty = false;
	f->flushing = true;
	f->flushed_t = mono_now();
	int fd = dup(f->part_fd);
	uint64_t id = f->part_id, size = f->size;
	bool size_known = f->size_known;
	char etag[HUB_HTTP_HEADER_MAX];
	snprintf(etag, sizeof(etag), "%s", f->etag);
	pthread_mutex_unlock(&f->lock);

	int rc = fd < 0 ? -errno : 0;
	if (!rc && fdatasync(fd))
		rc = -errno;
	if (fd >= 0)
		close(fd);
	if (!rc) {
		struct record rec = {0};
		if (record_read(&rec, f->rec_path) == 0 && rec.id == id &&
		    rec.size_known == size_known && rec.size == size && !strcmp(rec.etag, etag))
			rset_union(&snap, &rec.r);
		rset_dispose(&rec.r);
		struct stat st;
		if (stat(f->ck_path, &st) == 0)
			rc = 0; /* completed meanwhile (by another process): no record */
		else
			rc = record_write(f->rec_path, id, size_known, size, etag, &snap);
	}

	pthread_mutex_lock(&f->lock);
	f->flushing = false;
	pthread_cond_broadcast(&f->cond);
	if (rc) {
		f->dirty = true;
		hub_warn("weights: %s: cannot update %s: %s", f->name, f->rec_path, strerror(-rc));
	} else {
		stamp_of(&f->rec_seen, f->rec_path);
		if (id == f->part_id) {
			/* what other processes recorded */
			uint64_t before = rset_bytes(&f->have);
			rset_union(&f->have, &snap);
			if (rset_bytes(&f->have) != before)
				pthread_cond_broadcast(&f->cond);
		}
	}
	rset_dispose(&snap);
}

/* f->lock held: remove N.ranges, first waiting for a record write in
 * progress (it would otherwise put the record back after us). */
static void record_remove(struct hub_weight *f)
{
	while (f->flushing)
		pthread_cond_wait(&f->cond, &f->lock);
	f->dirty = false;
	unlink(f->rec_path);
}

/* f->lock held, N.lock held (or the file given up).  N.part is removed,
 * its record first (a record never outlives its N.part); nothing of it
 * counts any more. */
static void part_remove(struct hub_weight *f)
{
	record_remove(f);
	unlink(f->part_path);
	part_retire(f);
	rset_clear(&f->have);
}

/* ---- progress ---- */

/* f->lock held: count new bytes for the rate shown in the status. */
static void note_bytes(struct hub_weight *f, size_t n)
{
	double now = mono_now();
	f->progress_t = now;
	if (!f->rate_t0)
		f->rate_t0 = now;
	f->rate_bytes += n;
	if (now - f->rate_t0 >= 1.0) {
		f->rate = (double)f->rate_bytes / (now - f->rate_t0);
		f->rate_t = now;
		f->rate_t0 = now;
		f->rate_bytes = 0;
	}
}

/* ---- HEAD ---- */

/* f->lock held (dropped across the request).  One HEAD at a time per file. */
static int ensure_head(struct hub_weight *f)
{
	while (f->head_busy)
		pthread_cond_wait(&f->cond, &f->lock);
	if (f->head_done || f->size_known)
		return 0;
	if (f->w->opts && f->w->opts->offline)
		return -ENOENT;
	f->head_busy = true;
	pthread_mutex_unlock(&f->lock);
	struct hub_http_meta *m = malloc(sizeof(*m));
	int rc = m ? hub_http_head(m, f->w->http, f->fetch_url) : -ENOMEM;
	pthread_mutex_lock(&f->lock);
	f->head_busy = false;
	if (rc == 0) {
		f->head_done = true;
		if (m->size_known && !f->size_known) {
			f->size_known = true;
			f->size = m->size;
			snprintf(f->etag, sizeof(f->etag), "%s", m->etag);
			f->head_dirty = true;
		}
	}
	free(m);
	pthread_cond_broadcast(&f->cond);
	return rc;
}

/* ---- the downloader thread ---- */

/* The sha256 of a download is computed by its own thread, reading back
 * from the page cache behind the download (at a lower priority): the
 * download itself never waits for hashing, which is slower than loopback
 * HTTP here (SHA-NI ~0.9 GB/s). */
struct hasher {
	struct hub_weight *f;
	int fd;            /* a dup of part_fd */
	uint64_t size;
	struct hub_sha256 sha;
	uint64_t hashed;   /* sha covers [0, hashed); the hasher's until joined */
	bool stop;         /* f->lock */
	bool running;
	int rc;
	pthread_t thread;
};

struct dl {
	struct hub_weight *f;
	int lock_fd;
	struct live_page *live;
	bool hashing;
	struct hasher hs;
	uint64_t hole_a;   /* start of the current GET */
	int fd;            /* part_fd at the GET's start (kept open by f) */
};

static void *hasher_main(void *arg)
{
	struct hasher *h = arg;
	struct hub_weight *f = h->f;
	char *buf = NULL;
	if (posix_memalign((void **)&buf, 4096, HUB_WEIGHTS_IO_BUFFER)) {
		h->rc = -ENOMEM;
		return NULL;
	}
	/* behind the readers and the download: it only has to finish by the end */
	setpriority(PRIO_PROCESS, (id_t)gettid(), 10);
	pthread_mutex_lock(&f->lock);
	while (!h->stop && !stopping(f->w) && h->hashed < h->size) {
		uint64_t avail = rset_prefix(&f->have);
		if (avail > h->size)
			avail = h->size;
		if (avail <= h->hashed) {
			uint64_t need = h->hashed + (4u << 20);
			if (need < f->wake_at)
				f->wake_at = need;
			struct timespec ts;
			abs_deadline(&ts, 0.1);
			pthread_cond_timedwait(&f->cond, &f->lock, &ts);
			continue;
		}
		pthread_mutex_unlock(&f->lock);
		while (h->hashed < avail) {
			size_t want = avail - h->hashed < HUB_WEIGHTS_IO_BUFFER
					      ? (size_t)(avail - h->hashed)
					      : HUB_WEIGHTS_IO_BUFFER;
			ssize_t got = pread_full(h->fd, buf, want, h->hashed);
			if (got <= 0) {
				h->rc = got < 0 ? (int)got : -EIO;
				break;
			}
			hub_sha256_update(&h->sha, buf, (size_t)got);
			h->hashed += (uint64_t)got;
		}
		pthread_mutex_lock(&f->lock);
		if (h->rc)
			break;
	}
	pthread_mutex_unlock(&f->lock);
	free(buf);
	return NULL;
}

/* f->lock held. */
static void hasher_start(struct dl *d)
{
	struct hasher *h = &d->hs;
	struct hub_weight *f = d->f;
	memset(h, 0, sizeof(*h));
	h->f = f;
	h->fd = -1;
	if (!d->hashing || !f->size_known || f->part_fd < 0)
		return;
	hub_sha256_init(&h->sha);
	h->size = f->size;
	h->fd = dup(f->part_fd);
	if (h->fd < 0)
		return;
	if (pthread_create(&h->thread, NULL, hasher_main, h) == 0)
		h->running = true;
}

/* f->lock held (dropped to join).  stop: abandon; else let it finish. */
static void hasher_join(struct dl *d, bool stop)
{
	struct hasher *h = &d->hs;
	if (h->running) {
		if (stop) {
			h->stop = true;
			pthread_cond_broadcast(&d->f->cond);
		}
		pthread_mutex_unlock(&d->f->lock);
		pthread_join(h->thread, NULL);
		pthread_mutex_lock(&d->f->lock);
		h->running = false;
	}
	if (stop && h->fd >= 0) {
		close(h->fd);
		h->fd = -1;
	}
}

static void dl_unlock_file(struct dl *d)
{
	if (d->live)
		munmap(d->live, LIVE_SIZE);
	d->live = NULL;
	if (d->lock_fd >= 0)
		close(d->lock_fd); /* releases the flock */
	d->lock_fd = -1;
}

/* f->lock held.  1: this process now holds N.lock; 0: another one does. */
static int try_hold(struct dl *d)
{
	struct hub_weight *f = d->f;
	for (int tries = 0; tries < 8; tries++) {
		if (d->lock_fd < 0) {
			int fd = open(f->lock_path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0666);
			if (fd < 0 && errno == ENOENT) {
				hub_mkdir_p(f->w->dir);
				fd = open(f->lock_path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0666);
			}
			if (fd < 0)
				return -errno;
			struct stat st;
			if (fstat(fd, &st) == 0 && st.st_size < LIVE_SIZE && ftruncate(fd, LIVE_SIZE))
				hub_debug("weights: %s: ftruncate: %s", f->lock_path, strerror(errno));
			void *p = mmap(NULL, LIVE_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
			d->live = p == MAP_FAILED ? NULL : p;
			d->lock_fd = fd;
		}
		if (flock(d->lock_fd, LOCK_EX | LOCK_NB)) {
			if (errno == EWOULDBLOCK || errno == EINTR)
				return 0;
			return -errno;
		}
		/* the lock file may have been unlinked by a holder that finished
		 * between our open and our flock: only the file at the path counts */
		struct stat a, b;
		if (fstat(d->lock_fd, &a) == 0 && stat(f->lock_path, &b) == 0 && a.st_ino == b.st_ino)
			return 1;
		dl_unlock_file(d);
		if (check_complete(f))
			return 0;
	}
	return -EAGAIN;
}

/* f->lock held.  Follow another process's download. */
static void follow(struct dl *d)
{
	struct hub_weight *f = d->f;
	adopt_sidecar(f);
	uint64_t pid = id_of_path(f->part_path);
	if (pid && pid != f->part_id) {
		/* a new N.part (reset by the holder): nothing of the old one counts */
		part_retire(f);
		rset_clear(&f->have);
		f->dirty = false;
		f->part_id = pid;
		adopt_record(f, true);
	} else {
		adopt_record(f, false);
	}
	uint64_t id, a, b;
	if (live_read(d->live, &id, &a, &b) && id == f->part_id && f->part_id) {
		if (f->size_known && b > f->size)
			b = f->size;
		f->live_valid = true;
		f->live_b = b;
		if (!rset_covers(&f->have, a, b)) {
			/* written by the holder: readable now, recorded by the holder */
			rset_add(&f->have, a, b);
			f->progress_t = mono_now();
			pthread_cond_broadcast(&f->cond);
		}
	} else {
		f->live_valid = false;
	}
}

static int seq_meta(void *ctx, const struct hub_http_meta *m)
{
	struct dl *d = ctx;
	struct hub_weight *f = d->f;
	pthread_mutex_lock(&f->lock);
	if (!f->size_known && m->size_known) {
		/* learned from the GET (no size from HEAD) */
		f->size_known = true;
		f->size = m->size;
		snprintf(f->etag, sizeof(f->etag), "%s", m->etag);
		f->head_dirty = true;
		pthread_cond_broadcast(&f->cond);
	}
	pthread_mutex_unlock(&f->lock);
	return 0;
}

static int seq_sink(void *ctx, uint64_t off, const char *data, size_t len)
{
	struct dl *d = ctx;
	struct hub_weight *f = d->f;
	uint64_t end = off + len;
	if (stopping(f->w))
		return -ECANCELED;
	pthread_mutex_lock(&f->lock);
	bool present = rset_covers(&f->have, off, end);
	pthread_mutex_unlock(&f->lock);
	if (present) {
		/* a far read or another process got here first: next hole */
		return off >= d->hole_a ? HUB_HTTP_STOP : 0;
	}
	int rc = pwrite_full(d->fd, data, len, off);
	if (rc) {
		hub_err("weights: %s: write: %s", f->name, strerror(-rc));
		return rc;
	}
	pthread_mutex_lock(&f->lock);
	rset_add(&f->have, off, end);
	f->dirty = true;
	if (off >= d->hole_a) {
		f->seq_pos = end;
		live_publish(d->live, f->part_id, d->hole_a, end);
	}
	note_bytes(f, len);
	/* wake readers only when one of them can go on (not for every piece) */
	if (end >= f->wake_at) {
		f->wake_at = UINT64_MAX;
		pthread_cond_broadcast(&f->cond);
	}
	pthread_mutex_unlock(&f->lock);
	return 0;
}

/* f->lock held.  Upstream changed (ETag or size): start over in a new N.part. */
static int reset_partial(struct dl *d)
{
	struct hub_weight *f = d->f;
	char u[512];
	hub_warn("weights: %s changed upstream (%s): downloading it again", f->name,
		 log_url(u, sizeof(u), f->url));
	hasher_join(d, true);
	part_remove(f);
	f->size_known = false;
	f->head_done = false;
	f->etag[0] = '\0';
	int rc = ensure_head(f);
	if (rc)
		return rc;
	rc = part_open(f, true);
	if (rc)
		return rc;
	hasher_start(d);
	pthread_cond_broadcast(&f->cond);
	return 0;
}

/* Remove the temporary files of atomic writes of N.ranges and N.head
 * ("N.ranges.tmp.XXXXXX") that a killed process left, older than max_age
 * seconds (0: all; only once the download is over, when no other process
 * writes them any more). */
static void remove_temps(struct hub_weight *f, double max_age)
{
	DIR *dir = opendir(f->w->dir);
	if (!dir)
		return;
	const char *kinds[] = {".ranges.tmp.", ".head.tmp."};
	size_t bl = strlen(f->base);
	double now = real_now();
	struct dirent *e;
	while ((e = readdir(dir))) {
		if (strncmp(e->d_name, f->base, bl))
			continue;
		for (int k = 0; k < 2; k++) {
			size_t kl = strlen(kinds[k]);
			const char *rest = e->d_name + bl + kl;
			/* mkostemp's six characters, nothing more (not another name's file) */
			if (strncmp(e->d_name + bl, kinds[k], kl) || strlen(rest) != 6 ||
			    strchr(rest, '.'))
				continue;
			struct stat st;
			if (max_age > 0 && (fstatat(dirfd(dir), e->d_name, &st, 0) ||
					    now - (double)st.st_mtime < max_age))
				continue;
			unlinkat(dirfd(dir), e->d_name, 0);
		}
	}
	closedir(dir);
}

/* f->lock held: discard a file that failed verification. */
static void mark_bad(struct hub_weight *f, const char *reason)
{
	part_remove(f);
	f->bad = true;
	snprintf(f->bad_reason, sizeof(f->bad_reason), "%s", reason);
	f->bad_until = real_now() + tun().bad_ttl_s;
	sidecar_write(f, reason);
	pthread_cond_broadcast(&f->cond);
	if (f->w->on_discard)
		f->w->on_discard(f->w->on_discard_arg, f->key);
}

/* f->lock held.  torch.hub looks for checkpoints/N: when that name is free,
 * it becomes a second link to <key>.data (no copy), so that torch.hub uses
 * what hubfs downloaded.  A name already taken is left alone (it may be
 * another URL's file, or torch.hub's); hubfs never reads it for this URL
 * unless its hash prefix verifies (adopt_checkpoint). */
static void publish(struct hub_weight *f)
{
	struct hub_weights *w = f->w;
	if (hub_mkdir_p(w->ckdir))
		return;
	if (link(f->ck_path, f->pub_path) == 0) {
		hub_fsync_dir(w->ckdir);
		return;
	}
	if (errno == EEXIST)
		hub_debug("weights: %s: checkpoints/%s is taken; the file stays in the store only",
			  f->name, f->name);
	else
		hub_info("weights: %s: cannot link checkpoints/%s: %s (torch.hub will not see it)",
			 f->name, f->name, strerror(errno));
}

/* f->lock held (dropped while hashing).  All bytes present: verify, sync,
 * move to <key>.data, publish as checkpoints/N. */
static int finalize(struct dl *d)
{
	struct hub_weight *f = d->f;
	struct hub_weights *w = f->w;
	uint64_t size = f->size;
	int fd = f->part_fd;
	char hex[HUB_SHA256_HEX_LEN + 1] = "";
	char why[200] = "";
	/* the hasher ends by itself once everything is present */
	hasher_join(d, false);
	struct hasher *h = &d->hs;
	pthread_mutex_unlock(&f->lock);

	int rc = 0;
	struct stat st;
	if (fstat(fd, &st)) {
		rc = -errno;
	} else if ((uint64_t)st.st_size != size) {
		snprintf(why, sizeof(why), "size-mismatch: %llu bytes, expected %llu",
			 (unsigned long long)st.st_size, (unsigned long long)size);
	}
	if (!rc && !why[0] && d->hashing) {
		if (h->fd < 0) {
			/* no hasher (size was unknown at the start): hash here */
			hub_sha256_init(&h->sha);
			h->hashed = 0;
		}
		char *buf = NULL;
		if (h->hashed < size && posix_memalign((void **)&buf, 4096, HUB_WEIGHTS_IO_BUFFER)) {
			rc = -ENOMEM;
		} else {
			while (h->hashed < size && !stopping(w)) {
				size_t want = size - h->hashed < HUB_WEIGHTS_IO_BUFFER
						      ? (size_t)(size - h->hashed)
						      : HUB_WEIGHTS_IO_BUFFER;
				ssize_t got = pread_full(fd, buf, want, h->hashed);
				if (got <= 0) {
					rc = got < 0 ? (int)got : -EIO;
					break;
				}
				hub_sha256_update(&h->sha, buf, (size_t)got);
				h->hashed += (uint64_t)got;
			}
			free(buf);
			if (stopping(w))
				rc = -ECANCELED;
		}
		if (!rc) {
			uint8_t dig[HUB_SHA256_LEN];
			hub_sha256_final(dig, &h->sha);
			hub_sha256_hex(hex, dig);
			if (strncmp(hex, f->hash_prefix, strlen(f->hash_prefix)))
				snprintf(why, sizeof(why), "sha256-mismatch: %s does not start with %s", hex,
					 f->hash_prefix);
		}
	}
	if (!rc && !why[0] && fsync(fd))
		rc = -errno;

	pthread_mutex_lock(&f->lock);
	if (rc)
		return rc;
	char u[512];
	if (why[0]) {
		hub_err("weights: %s (%s): verification failed, %s; the bytes are discarded",
			f->name, log_url(u, sizeof(u), f->url), why);
		*strchr(why, ':') = '\0';
		mark_bad(f, why);
		fail_note(w, f, why);
		return -EIO;
	}
	/* the record goes first: a record must never outlive its N.part (nor
	 * name the inode that becomes <key>.data) */
	record_remove(f);
	if (check_complete(f)) {
		/* another mount on this cache finished it meanwhile */
		unlink(f->part_path);
	} else {
		if (rename(f->part_path, f->ck_path)) {
			rc = -errno;
			f->dirty = true;
			return rc;
		}
		hub_fsync_dir(w->dir);
		f->complete = true;
	}
	publish(f);
	/* N.head stays: it tells people (and `hubfs cache`) which URL <key>.data is */
	sidecar_write(f, NULL);
	remove_temps(f, 0);
	unlink(f->lock_path); /* we hold it: the next holder checks the path's inode */
	fail_clear(w, f);
	pthread_cond_broadcast(&f->cond);
	hub_info("weights: %s complete (%llu bytes%s%s)", f->name, (unsigned long long)size,
		 d->hashing ? ", sha256 " : "", d->hashing ? hex : "");
	return 0;
}

/* f->lock held.  The holder's work. */
static int hold_inner(struct dl *d)
{
	struct hub_weight *f = d->f;
	struct hub_weights *w = f->w;
	bool offline = w->opts && w->opts->offline;
	int restarts = 0;
	uint64_t last_a = UINT64_MAX;
	/* what the previous holder (maybe killed) left: records and its stream */
	follow(d);
	remove_temps(f, 60);
	if (!f->size_known && !offline) {
		int rc = ensure_head(f);
		if (rc)
			return rc;
	}
	if (f->bad)
		return -EIO;
	int rc = part_open(f, true);
	if (rc)
		return rc;
	d->hashing = f->hash_prefix[0] != '\0';
	hasher_start(d);
	for (;;) {
		if (stopping(w))
			return -ECANCELED;
		if (check_complete(f))
			return 0;
		uint64_t limit = f->size_known ? f->size : UINT64_MAX;
		uint64_t a = rset_first_missing(&f->have, 0, limit);
		if (f->size_known && a >= f->size)
			return finalize(d);
		if (offline) {
			hub_warn("weights: %s: offline, %llu bytes missing", f->name,
				 (unsigned long long)(f->size_known ? f->size - rset_bytes(&f->have) : 0));
			return -ENETDOWN;
		}
		if (a == last_a) {
			/* a successful GET that did not fill its hole: never loop on it */
			hub_err("weights: %s: the server did not send bytes from %llu", f->name,
				(unsigned long long)a);
			return -EIO;
		}
		uint64_t b = rset_next_start(&f->have, a);
		if (b == UINT64_MAX || (f->size_known && b >= f->size))
			b = 0; /* to the end */
		d->hole_a = a;
		d->fd = f->part_fd;
		f->seq_pos = a;
		f->streaming = true;
		if (!f->dirty)
			f->flushed_t = mono_now(); /* the first record record_s from now */
		live_publish(d->live, f->part_id, a, a);
		struct hub_http_get g = {
			.url = f->fetch_url,
			.off = a,
			.end = b,
			.size_known = f->size_known,
			.size = f->size,
			.etag = f->etag,
			.sink = seq_sink,
			.meta = seq_meta,
			.ctx = d,
		};
		char etag[HUB_HTTP_HEADER_MAX];
		snprintf(etag, sizeof(etag), "%s", f->etag);
		g.etag = etag;
		struct hub_http_meta *m = malloc(sizeof(*m));
		if (!m)
			return -ENOMEM;
		pthread_mutex_unlock(&f->lock);
		rc = hub_http_get(m, w->http, &g);
		pthread_mutex_lock(&f->lock);
		f->streaming = false;
		if (rc == 0 && !f->size_known && m->size_known && b == 0) {
			/* no length anywhere: the end of the body was the end */
			f->size_known = true;
			f->size = m->size;
			f->head_dirty = true;
			pthread_cond_broadcast(&f->cond);
		}
		free(m);
		if (rc == -ESTALE) {
			if (++restarts > 2)
				return -EIO;
			rc = reset_partial(d);
			if (rc)
				return rc;
			last_a = UINT64_MAX;
			continue;
		}
		if (rc)
			return rc;
		last_a = rset_first_missing(&f->have, 0, f->size_known ? f->size : UINT64_MAX) == a
				 ? a
				 : UINT64_MAX;
		if (!f->size_known) {
			hub_err("weights: %s: the server gave no size", f->name);
			return -EIO;
		}
	}
}

static int hold(struct dl *d)
{
	d->hs.fd = -1;
	int rc = hold_inner(d);
	hasher_join(d, true);
	return rc;
}

static void weight_put_internal(struct hub_weight *f);

/* f->lock held, N.lock held, the download over.  The disk is full: N.part
 * is removed rather than kept for a resume, so that the space it holds
 * comes back to the rest of the cache (clones, analyses, other weights) at
 * once, as torch.hub removes its temporary file.  The next attempt starts
 * from byte 0. */
static void discard_partial(struct hub_weight *f)
{
	uint64_t had = rset_bytes(&f->have);
	part_remove(f);
	f->live_valid = false;
	pthread_cond_broadcast(&f->cond);
	hub_warn("weights: %s: disk full: removed the partial download (%llu bytes)", f->name,
		 (unsigned long long)had);
}

static void *dl_main(void *arg)
{
	struct hub_weight *f = arg;
	struct hub_weights *w = f->w;
	struct dl d = {.f = f, .lock_fd = -1, .fd = -1};
	int rc = 0;
	pthread_mutex_lock(&f->lock);
	for (;;) {
		if (stopping(w)) {
			rc = -ECANCELED;
			break;
		}
		if (check_complete(f) || f->bad)
			break;
		rc = try_hold(&d);
		if (rc < 0) {
			hub_warn("weights: %s: cannot lock %s: %s", f->name, f->lock_path, strerror(-rc));
			break;
		}
		if (rc == 1) {
			f->holder = true;
			f->live_valid = false;
			f->dirty = true; /* record what a dead holder left */
			busy_enter(f);
			rc = hold(&d);
			if (rc == -ENOSPC)
				discard_partial(f);
			else
				flush_record(f);
			busy_leave(f);
			f->holder = false;
			f->streaming = false;
			break;
		}
		follow(&d);
		struct timespec ts;
		abs_deadline(&ts, tun().poll_s);
		pthread_cond_timedwait(&f->cond, &f->lock, &ts);
	}
	dl_unlock_file(&d);
	if (rc < 0 && rc != -ECANCELED) {
		f->err = rc;
		f->err_until = mono_now() + tun().retry_s;
		if (!f->bad)
			fail_note(w, f, reason_of(rc));
	}
	f->thread_running = false;
	f->live_valid = false;
	pthread_cond_broadcast(&f->cond);
	pthread_mutex_unlock(&f->lock);
	weight_put_internal(f);
	return NULL;
}

/* f->lock held (may be dropped to join a finished thread). */
static int ensure_thread(struct hub_weight *f)
{
	while (!f->thread_running && f->thread_joinable) {
		pthread_t t = f->thread;
		f->thread_joinable = false;
		pthread_mutex_unlock(&f->lock);
		pthread_join(t, NULL);
		pthread_mutex_lock(&f->lock);
	}
	if (f->thread_running)
		return 0;
	if (stopping(f->w))
		return -ECANCELED;
	__atomic_add_fetch(&f->refs, 1, __ATOMIC_ACQ_REL);
	f->thread_running = true;
	f->err = 0;
	f->progress_t = mono_now();
	int rc = pthread_create(&f->thread, NULL, dl_main, f);
	if (rc) {
		f->thread_running = false;
		__atomic_sub_fetch(&f->refs, 1, __ATOMIC_ACQ_REL); /* the caller holds one */
		hub_err("weights: %s: cannot start a thread: %s", f->name, strerror(rc));
		return -rc;
	}
	f->thread_joinable = true;
	return 0;
}

/* ---- far reads ---- */

struct far {
	struct hub_weight *f;
	int fd;
};

static int far_sink(void *ctx, uint64_t off, const char *data, size_t len)
{
	struct far *c = ctx;
	struct hub_weight *f = c->f;
	if (stopping(f->w))
		return -ECANCELED;
	pthread_mutex_lock(&f->lock);
	bool present = rset_covers(&f->have, off, off + len);
	pthread_mutex_unlock(&f->lock);
	if (present)
		return 0;
	int rc = pwrite_full(c->fd, data, len, off);
	if (rc)
		return rc;
	pthread_mutex_lock(&f->lock);
	rset_add(&f->have, off, off + len);
	f->dirty = true;
	note_bytes(f, len);
	pthread_cond_broadcast(&f->cond);
	pthread_mutex_unlock(&f->lock);
	return 0;
}

static bool inflight_covers(const struct hub_weight *f, uint64_t off)
{
	for (size_t i = 0; i < f->inflight.n; i++)
		if (f->inflight.v[i].a <= off && off < f->inflight.v[i].b)
			return true;
	return false;
}

static void inflight_remove(struct hub_weight *f, uint64_t a, uint64_t b)
{
	for (size_t i = 0; i < f->inflight.n; i++) {
		if (f->inflight.v[i].a == a && f->inflight.v[i].b == b) {
			memmove(&f->inflight.v[i], &f->inflight.v[i + 1],
				(f->inflight.n - i - 1) * sizeof(f->inflight.v[0]));
			f->inflight.n--;
			return;
		}
	}
}

/* f->lock held (dropped across the request).  Fetch [a, ...) for a read
 * far ahead of the sequential download. */
static int far_fetch(struct hub_weight *f, uint64_t a, uint64_t end,
		     const struct hub_weights_tuning *t)
{
	uint64_t chunk = t->range_min;
	if (a == f->far_end && f->far_chunk) {
		chunk = f->far_chunk * 2;
		if (chunk > t->range_max)
			chunk = t->range_max;
	}
	uint64_t b = a + chunk > end ? a + chunk : end;
	if (b > f->size)
		b = f->size;
	uint64_t nx = rset_next_start(&f->have, a);
	if (nx < b)
		b = nx;
	for (size_t i = 0; i < f->inflight.n; i++)
		if (f->inflight.v[i].a > a && f->inflight.v[i].a < b)
			b = f->inflight.v[i].a;
	int rc = part_open(f, true);
	if (rc)
		return rc;
	/* the in-flight list is not merged: append */
	if (f->inflight.n == f->inflight.cap) {
		size_t nc = f->inflight.cap ? f->inflight.cap * 2 : 8;
		struct range *nv = realloc(f->inflight.v, nc * sizeof(*nv));
		if (!nv)
			return -ENOMEM;
		f->inflight.v = nv;
		f->inflight.cap = nc;
	}
	f->inflight.v[f->inflight.n++] = (struct range){a, b};
	f->far_end = b;
	f->far_chunk = chunk;
	struct far c = {.f = f, .fd = f->part_fd};
	char etag[HUB_HTTP_HEADER_MAX];
	snprintf(etag, sizeof(etag), "%s", f->etag);
	struct hub_http_get g = {
		.url = f->fetch_url,
		.off = a,
		.end = b,
		.size_known = true,
		.size = f->size,
		.etag = etag,
		.sink = far_sink,
		.ctx = &c,
	};
	hub_debug("weights: %s: far read, fetching %llu-%llu", f->name, (unsigned long long)a,
		  (unsigned long long)b);
	busy_enter(f);
	pthread_mutex_unlock(&f->lock);
	rc = hub_http_get(NULL, f->w->http, &g);
	pthread_mutex_lock(&f->lock);
	busy_leave(f);
	inflight_remove(f, a, b);
	pthread_cond_broadcast(&f->cond);
	if (rc == -ESTALE)
		rc = -EIO; /* the downloader starts over; this read fails */
	return rc;
}

/* ---- public API ---- */

int hub_weights_new(struct hub_weights **out, const char *root, const struct hub_options *opts);

static void *flusher_main(void *arg);

int hub_weights_new(struct hub_weights **out, const char *root, const struct hub_options *opts)
{
	*out = NULL;
	struct hub_weights *w = calloc(1, sizeof(*w));
	if (!w)
		return -ENOMEM;
	w->opts = opts;
	pthread_mutex_init(&w->lock, NULL);
	pthread_mutex_init(&w->fail_lock, NULL);
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&w->flush_cond, &ca);
	pthread_condattr_destroy(&ca);
	int rc = -ENOMEM;
	w->root = strdup(root);
	if (!w->root || asprintf(&w->dir, "%s/hubfs/weights", root) < 0 ||
	    asprintf(&w->ckdir, "%s/checkpoints", root) < 0) {
		w->dir = w->ckdir = NULL;
		goto fail;
	}
	rc = hub_http_new(&w->http);
	if (rc)
		goto fail;
	hub_http_set_options(w->http, opts); /* address policy: allow_private, rewrite targets */
	rc = pthread_create(&w->flusher, NULL, flusher_main, w);
	if (rc) {
		rc = -rc;
		goto fail;
	}
	w->flusher_started = true;
	*out = w;
	return 0;
fail:
	hub_weights_free(w);
	return rc;
}

static struct hub_weight **bucket(struct hub_weights *w, const char *name)
{
	uint32_t h = 2166136261u;
	for (const char *p = name; *p; p++) {
		h ^= (unsigned char)*p;
		h *= 16777619u;
	}
	return &w->table[h % BUCKETS];
}

static void weight_free(struct hub_weight *f)
{
	close_fds(f);
	rset_dispose(&f->have);
	rset_dispose(&f->inflight);
	pthread_mutex_destroy(&f->lock);
	pthread_cond_destroy(&f->cond);
	free(f->url);
	free(f->fetch_url);
	free(f->name);
	free(f->base);
	free(f->ck_path);
	free(f->pub_path);
	free(f->part_path);
	free(f->rec_path);
	free(f->head_path);
	free(f->lock_path);
	free(f);
}

static struct hub_weight *weight_new(struct hub_weights *w, const char *url, const char *fetch,
				     const char *key, const char *name)
{
	struct hub_weight *f = calloc(1, sizeof(*f));
	if (!f)
		return NULL;
	f->w = w;
	f->ck_fd = f->part_fd = -1;
	f->wake_at = UINT64_MAX;
	pthread_mutex_init(&f->lock, NULL);
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&f->cond, &ca);
	pthread_condattr_destroy(&ca);
	const char *base = key;
	snprintf(f->key, sizeof(f->key), "%s", key);
	f->url = strdup(url);
	f->name = strdup(name);
	f->base = strdup(base);
	if (!f->url || !f->name || !f->base || !(f->fetch_url = strdup(fetch)) ||
	    asprintf(&f->ck_path, "%s/%s.data", w->dir, base) < 0 ||
	    asprintf(&f->pub_path, "%s/%s", w->ckdir, name) < 0 ||
	    asprintf(&f->part_path, "%s/%s.part", w->dir, base) < 0 ||
	    asprintf(&f->rec_path, "%s/%s.ranges", w->dir, base) < 0 ||
	    asprintf(&f->head_path, "%s/%s.head", w->dir, base) < 0 ||
	    asprintf(&f->lock_path, "%s/%s.lock", w->dir, base) < 0) {
		weight_free(f);
		return NULL;
	}
	hash_prefix_of(f->hash_prefix, name);
	return f;
}

int hub_weights_get(struct hub_weight **out, struct hub_weights *w, const char *url)
{
	*out = NULL;
	char name[NAME_MAX + 1];
	int rc = hub_weights_name(name, sizeof(name), url);
	if (rc)
		return rc == -ENAMETOOLONG ? -EINVAL : rc;
	if (strlen(url) >= HUB_URL_MAX)
		return -ENAMETOOLONG;
	char fetch[HUB_URL_MAX], key[HUB_WEIGHTS_KEY_LEN + 1];
	if (hub_options_rewrite(fetch, sizeof(fetch), w->opts, url) < 0)
		return -ENAMETOOLONG;
	url_key(key, fetch);
	pthread_mutex_lock(&w->lock);
	struct hub_weight **b = bucket(w, key), *f;
	for (f = *b; f; f = f->next)
		if (!strcmp(f->key, key))
			break;
	if (!f) {
		f = weight_new(w, url, fetch, key, name);
		if (!f) {
			pthread_mutex_unlock(&w->lock);
			return -ENOMEM;
		}
		f->next = *b;
		*b = f;
	}
	__atomic_add_fetch(&f->refs, 1, __ATOMIC_ACQ_REL);
	pthread_mutex_unlock(&w->lock);
	*out = f;
	return 0;
}

static void weight_put_internal(struct hub_weight *f)
{
	if (__atomic_sub_fetch(&f->refs, 1, __ATOMIC_ACQ_REL) != 0)
		return;
	pthread_mutex_lock(&f->lock);
	if (__atomic_load_n(&f->refs, __ATOMIC_ACQUIRE) == 0 && !f->thread_running) {
		if (f->dirty)
			flush_record(f);
		if (__atomic_load_n(&f->refs, __ATOMIC_ACQUIRE) == 0)
			close_fds(f);
	}
	pthread_mutex_unlock(&f->lock);
}

void hub_weight_put(struct hub_weight *f)
{
	if (f)
		weight_put_internal(f);
}

const char *hub_weight_name(const struct hub_weight *f)
{
	return f->name;
}

const char *hub_weight_key(const struct hub_weight *f)
{
	return f->key;
}

const char *hub_weight_url(const struct hub_weight *f)
{
	return f->url;
}

/* f->lock held: a transient failure still fresh (reads fail at once). */
static int recent_error(const struct hub_weight *f)
{
	if (f->err && !f->thread_running && mono_now() < f->err_until)
		return f->err;
	return 0;
}

/* f->lock held: wait for a change; -ETIMEDOUT after read_stall_s without progress. */
static int wait_change(struct hub_weight *f, double since, const struct hub_weights_tuning *t,
		       uint64_t need)
{
	if (hub_stop_requested()) /* SIGTERM: libfuse joins this thread (base/stop.h) */
		return -EIO;
	if (need < f->wake_at)
		f->wake_at = need;
	double last = f->progress_t > since ? f->progress_t : since;
	double left = last + t->read_stall_s - mono_now();
	if (left <= 0)
		return -ETIMEDOUT;
	struct timespec ts;
	abs_deadline(&ts, left < 1.0 ? left : 1.0);
	pthread_cond_timedwait(&f->cond, &f->lock, &ts);
	return 0;
}

int hub_weight_size(uint64_t *out, struct hub_weight *f)
{
	*out = 0;
	struct hub_weights_tuning t = tun();
	bool offline = f->w->opts && f->w->opts->offline;
	int rc = 0;
	double since = mono_now();
	pthread_mutex_lock(&f->lock);
	load(f);
	adopt_checkpoint(f);
	for (;;) {
		if (check_complete(f) || f->size_known) {
			*out = f->size;
			break;
		}
		if ((rc = recent_error(f)))
			break;
		if (offline) {
			rc = -ENOENT;
			break;
		}
		if (!f->head_done) {
			rc = ensure_head(f);
			if (rc) {
				f->err = rc;
				f->err_until = mono_now() + t.retry_s;
				fail_note(f->w, f, reason_of(rc));
				break;
			}
			continue;
		}
		/* HEAD gave no size: the download will tell */
		if ((rc = ensure_thread(f)))
			break;
		if ((rc = wait_change(f, since, &t, UINT64_MAX)))
			break;
	}
	pthread_mutex_unlock(&f->lock);
	return rc;
}

void hub_weight_state(char *out, size_t outsz, struct hub_weight *f)
{
	pthread_mutex_lock(&f->lock);
	load(f);
	bool complete = check_complete(f);
	bool bad = f->bad && real_now() < f->bad_until;
	int err = recent_error(f);
	char reason[48];
	snprintf(reason, sizeof(reason), "%s", bad ? f->bad_reason : reason_of(err));
	pthread_mutex_unlock(&f->lock);
	if (complete)
		snprintf(out, outsz, "complete");
	else if (bad || err)
		snprintf(out, outsz, "failed %s", reason[0] ? reason : "io-error");
	else
		snprintf(out, outsz, "pending");
}

int hub_weight_complete(struct hub_weight *f)
{
	pthread_mutex_lock(&f->lock);
	int c = check_complete(f);
	pthread_mutex_unlock(&f->lock);
	return c;
}

ssize_t hub_weight_read(char *buf, size_t size, off_t off, struct hub_weight *f)
{
	if (off < 0)
		return -EINVAL;
	struct hub_weights_tuning t = tun();
	bool offline = f->w->opts && f->w->opts->offline;
	bool strict = f->w->opts && f->w->opts->verify == HUB_VERIFY_STRICT;
	uint64_t o = (uint64_t)off;
	double since = mono_now();
	ssize_t rc;
	pthread_mutex_lock(&f->lock);
	load(f);
	adopt_checkpoint(f);
	for (;;) {
		uint64_t need = UINT64_MAX;
		if (check_complete(f)) {
			if (f->ck_fd < 0) {
				f->ck_fd = open(f->ck_path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
				if (f->ck_fd < 0 && errno == ENOENT) {
					/* removed from checkpoints/ by hand: download it again */
					f->complete = false;
					f->loaded = false;
					rset_clear(&f->have);
					part_retire(f);
					f->part_id = 0;
					load(f);
					continue;
				}
				if (f->ck_fd < 0) {
					rc = -errno;
					break;
				}
			}
			int fd = f->ck_fd;
			pthread_mutex_unlock(&f->lock);
			return pread_full(fd, buf, size, o);
		}
		if (f->bad) {
			if (real_now() < f->bad_until) {
				rc = -EIO;
				break;
			}
			f->bad = false; /* the ban expired: try again */
		}
		if ((rc = recent_error(f)))
			break;
		if (f->size_known && o >= f->size) {
			rc = 0;
			break;
		}
		if (f->size_known && !strict) {
			uint64_t end = size > f->size - o ? f->size : o + size;
			if (rset_covers(&f->have, o, end)) {
				if (f->part_fd < 0 && (rc = part_open(f, false))) {
					if (rc == -ENOENT && check_complete(f))
						continue; /* renamed meanwhile */
					break;
				}
				int fd = f->part_fd;
				busy_enter(f);
				pthread_mutex_unlock(&f->lock);
				rc = pread_full(fd, buf, (size_t)(end - o), o);
				pthread_mutex_lock(&f->lock);
				busy_leave(f);
				pthread_mutex_unlock(&f->lock);
				return rc;
			}
		}
		if (!f->size_known && offline && !f->thread_running) {
			rc = -ENOENT;
			break;
		}
		if (!f->thread_running) {
			if ((rc = ensure_thread(f)))
				break;
			continue; /* the lock may have been dropped */
		}
		if (f->size_known && !strict && !offline) {
			uint64_t end = size > f->size - o ? f->size : o + size;
			uint64_t miss = rset_first_missing(&f->have, o, end);
			uint64_t front = f->holder && f->streaming ? f->seq_pos
					 : f->live_valid		  ? f->live_b
									  : rset_prefix(&f->have);
			if (miss >= front + t.far_bytes && !inflight_covers(f, miss)) {
				if ((rc = far_fetch(f, miss, end, &t)))
					break;
				continue;
			}
			need = end;
		}
		if ((rc = wait_change(f, since, &t, need)))
			break;
	}
	pthread_mutex_unlock(&f->lock);
	return rc;
}

char *hub_weights_status(struct hub_weights *w)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *m = open_memstream(&buf, &len);
	if (!m)
		return NULL;
	double now = mono_now();
	pthread_mutex_lock(&w->lock);
	for (size_t i = 0; i < BUCKETS; i++) {
		for (struct hub_weight *f = w->table[i]; f; f = f->next) {
			pthread_mutex_lock(&f->lock);
			if (f->thread_running && !f->complete) {
				double rate = now - f->rate_t < 3.0 ? f->rate : 0;
				char u[HUB_URL_MAX];
				fprintf(m, "%s %llu %llu %llu %s\n", f->name,
					(unsigned long long)rset_bytes(&f->have),
					(unsigned long long)(f->size_known ? f->size : 0),
					(unsigned long long)rate, status_url(u, sizeof(u), f->url));
			}
			pthread_mutex_unlock(&f->lock);
		}
	}
	pthread_mutex_unlock(&w->lock);
	pthread_mutex_lock(&w->fail_lock);
	for (size_t k = 0; k < HUB_WEIGHTS_FAILED_MAX; k++) {
		const struct fail_ent *e = &w->fails[(w->fail_next + k) % HUB_WEIGHTS_FAILED_MAX];
		char u[HUB_URL_MAX];
		if (e->name)
			fprintf(m, "failed %s %s %s\n", e->name, e->reason, status_url(u, sizeof(u), e->url));
	}
	pthread_mutex_unlock(&w->fail_lock);
	fclose(m);
	return buf;
}

/* ---- the flusher ---- */

/* Snapshot of the table (files are never freed before the store). */
static struct hub_weight **all_files(struct hub_weights *w, size_t *n)
{
	size_t cap = 0, k = 0;
	struct hub_weight **v = NULL;
	pthread_mutex_lock(&w->lock);
	for (size_t i = 0; i < BUCKETS; i++)
		for (struct hub_weight *f = w->table[i]; f; f = f->next)
			cap++;
	v = malloc((cap ? cap : 1) * sizeof(*v));
	if (v)
		for (size_t i = 0; i < BUCKETS; i++)
			for (struct hub_weight *f = w->table[i]; f; f = f->next)
				v[k++] = f;
	pthread_mutex_unlock(&w->lock);
	*n = k;
	return v;
}

static void flush_all(struct hub_weights *w, bool force)
{
	size_t n;
	struct hub_weight **v = all_files(w, &n);
	if (!v)
		return;
	double rec_s = tun().record_s;
	for (size_t i = 0; i < n; i++) {
		struct hub_weight *f = v[i];
		pthread_mutex_lock(&f->lock);
		if (f->head_dirty && !f->complete && !f->bad)
			sidecar_write(f, NULL);
		if (f->dirty && f->part_fd >= 0 && (force || mono_now() - f->flushed_t >= rec_s))
			flush_record(f);
		else if (f->holder && f->part_fd >= 0)
			adopt_record(f, false); /* what followers fetched */
		pthread_mutex_unlock(&f->lock);
	}
	free(v);
}

static void *flusher_main(void *arg)
{
	struct hub_weights *w = arg;
	pthread_mutex_lock(&w->lock);
	while (!stopping(w)) {
		struct timespec ts;
		double rec_s = tun().record_s;
		abs_deadline(&ts, rec_s / 4 > 0.5 ? 0.5 : rec_s / 4);
		pthread_cond_timedwait(&w->flush_cond, &w->lock, &ts);
		if (stopping(w))
			break;
		pthread_mutex_unlock(&w->lock);
		flush_all(w, false);
		pthread_mutex_lock(&w->lock);
	}
	pthread_mutex_unlock(&w->lock);
	return NULL;
}

void hub_weights_set_discard_hook(struct hub_weights *w, void (*cb)(void *arg, const char *name),
				  void *arg)
{
	w->on_discard = cb;
	w->on_discard_arg = arg;
}

void hub_weights_free(struct hub_weights *w)
{
	if (!w)
		return;
	__atomic_store_n(&w->stopping, true, __ATOMIC_RELEASE);
	if (w->http)
		hub_http_cancel(w->http);
	size_t n = 0;
	struct hub_weight **v = all_files(w, &n);
	for (size_t i = 0; v && i < n; i++) {
		struct hub_weight *f = v[i];
		pthread_mutex_lock(&f->lock);
		pthread_cond_broadcast(&f->cond);
		bool join = f->thread_joinable;
		pthread_t t = f->thread;
		f->thread_joinable = false;
		pthread_mutex_unlock(&f->lock);
		if (join)
			pthread_join(t, NULL);
	}
	free(v);
	if (w->flusher_started) {
		pthread_mutex_lock(&w->lock);
		pthread_cond_broadcast(&w->flush_cond);
		pthread_mutex_unlock(&w->lock);
		pthread_join(w->flusher, NULL);
	}
	/* what the cancelled downloads wrote stays claimed for the resume */
	flush_all(w, true);
	for (size_t i = 0; i < BUCKETS; i++) {
		while (w->table[i]) {
			struct hub_weight *f = w->table[i];
			w->table[i] = f->next;
			weight_free(f);
		}
	}
	for (size_t i = 0; i < HUB_WEIGHTS_FAILED_MAX; i++) {
		free(w->fails[i].name);
		free(w->fails[i].url);
	}
	hub_http_free(w->http);
	pthread_mutex_destroy(&w->lock);
	pthread_mutex_destroy(&w->fail_lock);
	pthread_cond_destroy(&w->flush_cond);
	free(w->root);
	free(w->dir);
	free(w->ckdir);
	free(w);
}
