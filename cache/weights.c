/*
 * Weight files: lazily downloaded, streamed, verified, shared; see weights.h.
 * Design, file formats and locks: the DESIGN comment of
 * cache/weights_internal.h, which also lists the files of this module.
 *
 * This file: the public API.  The store (new, free, the hash table of files
 * under w->lock, capped: unused files past HUB_WEIGHTS_FILES_MAX are
 * dropped, least recently looked up first), handles (get, put), reads and sizes (waiting on f->cond
 * under f->lock), state and /.hubfs/downloads (the ring of failures under
 * w->fail_lock), names and URL keys, and the process-wide tuning.
 */
#include "cache/weights_internal.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/cond.h"
#include "base/files.h"
#include "base/hash.h"
#include "base/log.h"
#include "base/redact.h"
#include "base/stop.h"
#include "base/strhash.h"
#include "fetch/rewrite.h"

/* ---- tuning ---- */

/* the defaults, from base/limits.h */
#define WEIGHTS_TUNING_DEFAULTS \
	{ \
		.far_bytes = HUB_WEIGHTS_FAR_BYTES, \
		.range_min = HUB_WEIGHTS_RANGE_MIN, \
		.range_max = HUB_WEIGHTS_RANGE_MAX, \
		.read_stall_s = HUB_WEIGHTS_READ_STALL_S, \
		.record_s = HUB_WEIGHTS_RECORD_S, \
		.poll_s = HUB_WEIGHTS_POLL_MS / 1000.0, \
		.retry_s = HUB_WEIGHTS_RETRY_S, \
		.bad_ttl_s = HUB_WEIGHTS_BAD_TTL_S, \
		.dl_max = HUB_WEIGHTS_DL_MAX, \
		.idle_s = HUB_WEIGHTS_IDLE_S, \
		.idle_finish = HUB_WEIGHTS_IDLE_FINISH, \
		.pin_s = HUB_WEIGHTS_PIN_S, \
		.head_bytes = HUB_WEIGHTS_HEAD_BYTES, \
	}

static struct hub_weights_tuning tuning = WEIGHTS_TUNING_DEFAULTS;
static pthread_mutex_t tuning_lock = PTHREAD_MUTEX_INITIALIZER;

void hub_weights_tuning_default(struct hub_weights_tuning *out)
{
	*out = (struct hub_weights_tuning)WEIGHTS_TUNING_DEFAULTS;
}

void hub_weights_set_tuning(const struct hub_weights_tuning *t)
{
	pthread_mutex_lock(&tuning_lock);
	tuning = *t;
	pthread_mutex_unlock(&tuning_lock);
}

struct hub_weights_tuning hw_tuning(void)
{
	pthread_mutex_lock(&tuning_lock);
	struct hub_weights_tuning t = tuning;
	pthread_mutex_unlock(&tuning_lock);
	return t;
}
/* URL for logs: no query (signed URLs carry credentials there). */
const char *hw_log_url(char *buf, size_t n, const char *url)
{
	hub_redact_url(buf, n, url); /* nor user:password@, nor control bytes */
	return buf;
}

/* URL for /.hubfs/downloads: as for logs (control bytes already escaped
 * there), and one field: its lines are space-separated. */
static const char *status_url(char *buf, size_t n, const char *url)
{
	hw_log_url(buf, n, url);
	for (char *p = buf; *p; p++)
		if (*p == ' ')
			*p = '?';
	return buf;
}
/* ---- names ---- */

int hub_weights_name(char *out, size_t outsz, const char *url)
{
	/* torch.hub: os.path.basename(urlparse(url).path).  Written out rather
	 * than through curl_url: urlparse takes a URL without a scheme as a
	 * path, keeps "..", spaces and bytes curl refuses, and never decodes;
	 * curl_url would give other names for such URLs than torch.hub. */
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

void hub_weights_hash_prefix(char out[65], const char *name)
{
	hash_prefix_of(out, name);
}

/* The store's name of a URL: the first HUB_WEIGHTS_KEY_LEN hex digits of the
 * sha256 of the URL that is fetched (rewrite rules applied), without its
 * fragment (never sent to a server).  Two URLs that differ anywhere else,
 * query included, are two files. */
static int url_key(char out[HUB_WEIGHTS_KEY_LEN + 1], const char *fetch_url)
{
	char hex[HUB_SHA256_HEX_LEN + 1];
	int rc = hub_sha256_hex_of(hex, fetch_url, strcspn(fetch_url, "#"));
	if (rc)
		return rc;
	memcpy(out, hex, HUB_WEIGHTS_KEY_LEN);
	out[HUB_WEIGHTS_KEY_LEN] = '\0';
	return 0;
}

/* ---- failures for /.hubfs/downloads ---- */

void hw_fail_note(struct hub_weights *w, const struct hub_weight *f, const char *reason)
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

void hw_fail_clear(struct hub_weights *w, const struct hub_weight *f)
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

const char *hw_reason_of(int err)
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
/* ---- public API ---- */

int hub_weights_new(struct hub_weights **out, const char *root,
		    const struct hub_weights_config *cfg)
{
	*out = NULL;
	struct hub_weights *w = calloc(1, sizeof(*w));
	if (!w)
		return -ENOMEM;
	if (cfg)
		w->cfg = *cfg;
	pthread_mutex_init(&w->lock, NULL);
	pthread_mutex_init(&w->fail_lock, NULL);
	pthread_mutex_init(&w->pin_lock, NULL);
	hub_cond_init_mono(&w->flush_cond); /* deadlines: hw_abs_deadline */
	int rc = -ENOMEM;
	w->root = strdup(root);
	if (hub_htab_init(&w->table, HUB_WEIGHTS_TABLE_INITIAL, 0))
		goto fail;
	if (!w->root || asprintf(&w->dir, "%s/hubfs/weights", root) < 0 ||
	    asprintf(&w->ckdir, "%s/checkpoints", root) < 0) {
		w->dir = w->ckdir = NULL;
		goto fail;
	}
	rc = hub_http_new(&w->http);
	if (rc)
		goto fail;
	hub_http_set_policy(w->http, w->cfg.allow_private, w->cfg.rewrites);
	if ((rc = hub_http_set_proxy(w->http, w->cfg.proxy)))
		goto fail;
	/* what the first lookup of a file would pay once, paid now: a pooled
	 * curl handle, OpenSSL's digest (the URL key), the store's directory */
	if ((rc = hub_http_prepare(w->http)))
		goto fail;
	hub_sha256_prepare();
	if (!w->cfg.offline)
		hub_mkdir_p(w->dir); /* may fail (read-only cache): found at use */
	rc = pthread_create(&w->flusher, NULL, hw_flusher_main, w);
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

/* The file of key; w->lock held. */
static struct hub_weight *table_find(struct hub_weights *w, const char *key, uint64_t h)
{
	for (struct hub_hnode *l = hub_htab_first(&w->table, h); l; l = hub_htab_next(l, h)) {
		struct hub_weight *f = hub_container_of(l, struct hub_weight, link);
		if (!strcmp(f->key, key))
			return f;
	}
	return NULL;
}

static void weight_free(struct hub_weight *f)
{
	hw_close_fds(f);
	hub_rset_dispose(&f->have);
	free(f->inflight.v);
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
	hub_rset_init(&f->have, HUB_WEIGHTS_RANGES_MAX);
	pthread_mutex_init(&f->lock, NULL);
	hub_cond_init_mono(&f->cond);
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

/* w->lock held: f can be dropped from memory (nothing would be lost: its
 * state is on disk, read again at the next lookup).  f->lock is only tried:
 * whoever holds it is using f. */
static bool evictable(struct hub_weight *f)
{
	if (__atomic_load_n(&f->refs, __ATOMIC_ACQUIRE) || f->putting)
		return false;
	if (pthread_mutex_trylock(&f->lock))
		return false;
	bool idle = !f->thread_running && !f->dirty && !f->flushing && !f->busy &&
		    !f->readers && !f->head_busy && f->adopt != 1 && !f->inflight.n &&
		    !f->head_dirty;
	pthread_mutex_unlock(&f->lock);
	return idle;
}

static int by_used(const void *a, const void *b)
{
	double x = (*(struct hub_weight *const *)a)->used_t;
	double y = (*(struct hub_weight *const *)b)->used_t;
	return x < y ? -1 : x > y;
}

/* w->lock held, the table over HUB_WEIGHTS_FILES_MAX: drop the least
 * recently looked up unused files, down to three quarters of the cap (so
 * the scan, O(n), runs once per quarter of the cap of new lookups).  Files
 * in use are kept, whatever their number. */
static void evict_idle(struct hub_weights *w)
{
	size_t keep = HUB_WEIGHTS_FILES_MAX - HUB_WEIGHTS_FILES_MAX / 4;
	struct hub_weight **v = malloc(w->table.n * sizeof(*v));
	if (!v)
		return;
	size_t n = 0;
	HUB_HTAB_EACH(&w->table, l) {
		struct hub_weight *f = hub_container_of(l, struct hub_weight, link);
		if (evictable(f))
			v[n++] = f;
	}
	qsort(v, n, sizeof(*v), by_used);
	for (size_t i = 0; i < n && w->table.n > keep; i++) {
		struct hub_weight *f = v[i];
		hub_htab_remove(&w->table, &f->link);
		/* a finished downloader is past its put (refs == 0, putting == 0):
		 * the join does not wait for work */
		if (f->thread_joinable)
			pthread_join(f->thread, NULL);
		weight_free(f);
		w->evicted++;
	}
	free(v);
}

size_t hub_weights_count(struct hub_weights *w)
{
	pthread_mutex_lock(&w->lock);
	size_t n = w->table.n;
	pthread_mutex_unlock(&w->lock);
	return n;
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
	if (hub_rewrite_apply(fetch, sizeof(fetch), w->cfg.rewrites, url) < 0)
		return -ENAMETOOLONG;
	if (url_key(key, fetch))
		return -ENOMEM;
	pthread_mutex_lock(&w->lock);
	uint64_t h = hub_strhash64(0, key);
	struct hub_weight *f = table_find(w, key, h);
	if (!f) {
		f = weight_new(w, url, fetch, key, name);
		if (!f) {
			pthread_mutex_unlock(&w->lock);
			return -ENOMEM;
		}
		hub_htab_insert(&w->table, &f->link, h);
	}
	__atomic_add_fetch(&f->refs, 1, __ATOMIC_ACQ_REL);
	f->used_t = mono_now();
	if (w->table.n > HUB_WEIGHTS_FILES_MAX)
		evict_idle(w); /* f is referenced: kept */
	pthread_mutex_unlock(&w->lock);
	*out = f;
	return 0;
}

void hw_put(struct hub_weight *f)
{
	struct hub_weights *w = f->w;
	int r = __atomic_load_n(&f->refs, __ATOMIC_ACQUIRE);
	while (r > 1)
		if (__atomic_compare_exchange_n(&f->refs, &r, r - 1, false, __ATOMIC_ACQ_REL,
						__ATOMIC_ACQUIRE))
			return; /* not the last */
	/* maybe the last: decrement under w->lock and stay marked putting
	 * until done with f, so that no eviction frees it under this put */
	pthread_mutex_lock(&w->lock);
	if (__atomic_sub_fetch(&f->refs, 1, __ATOMIC_ACQ_REL) != 0) {
		pthread_mutex_unlock(&w->lock);
		return;
	}
	f->putting++;
	pthread_mutex_unlock(&w->lock);
	pthread_mutex_lock(&f->lock);
	if (__atomic_load_n(&f->refs, __ATOMIC_ACQUIRE) == 0 && !f->thread_running) {
		if (f->dirty)
			hw_flush_record_final(f);
		if (__atomic_load_n(&f->refs, __ATOMIC_ACQUIRE) == 0)
			hw_close_fds(f);
	}
	pthread_mutex_unlock(&f->lock);
	pthread_mutex_lock(&w->lock);
	f->putting--;
	pthread_mutex_unlock(&w->lock);
}

void hub_weight_put(struct hub_weight *f)
{
	if (f)
		hw_put(f);
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
	double last = f->progress_t > since ? f->progress_t : since;
	double left = last + t->read_stall_s - mono_now();
	if (left <= 0)
		return -ETIMEDOUT;
	struct timespec ts;
	hw_abs_deadline(&ts, left < 1.0 ? left : 1.0);
	/* on a condition of its own: the stream wakes this reader when it
	 * passes need, not at every piece another reader waits for */
	struct hw_waiter me = {.need = need, .next = f->waiters};
	hub_cond_init_mono(&me.cond);
	f->waiters = &me;
	if (need < f->wake_at)
		f->wake_at = need;
	pthread_cond_timedwait(&me.cond, &f->lock, &ts);
	uint64_t low = UINT64_MAX;
	for (struct hw_waiter **pp = &f->waiters; *pp;) {
		if (*pp == &me) {
			*pp = me.next;
			continue;
		}
		if ((*pp)->need < low)
			low = (*pp)->need;
		pp = &(*pp)->next;
	}
	f->wake_at = low;
	pthread_cond_destroy(&me.cond);
	return 0;
}

void hw_wake(struct hub_weight *f)
{
	pthread_cond_broadcast(&f->cond);
	for (struct hw_waiter *w = f->waiters; w; w = w->next)
		pthread_cond_signal(&w->cond);
}

void hw_wake_upto(struct hub_weight *f, uint64_t end)
{
	uint64_t low = UINT64_MAX;
	for (struct hw_waiter *w = f->waiters; w; w = w->next) {
		if (w->need <= end) {
			w->need = UINT64_MAX; /* woken: not again, not counted */
			pthread_cond_signal(&w->cond);
		} else if (w->need < low) {
			low = w->need;
		}
	}
	f->wake_at = low;
}

int hub_weight_size(uint64_t *out, struct hub_weight *f)
{
	*out = 0;
	struct hub_weights_tuning t = hw_tuning();
	bool offline = f->w->cfg.offline;
	int rc = 0;
	double since = mono_now();
	pthread_mutex_lock(&f->lock);
	f->readers++;
	hw_load(f);
	hw_adopt_checkpoint(f);
	for (;;) {
		if (hw_check_complete(f) || f->size_known) {
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
			rc = hw_ensure_head(f);
			if (rc) {
				f->err = rc;
				f->err_until = mono_now() + t.retry_s;
				hw_fail_note(f->w, f, hw_reason_of(rc));
				break;
			}
			continue;
		}
		/* the size request gave no size: the download will tell */
		if ((rc = hw_ensure_thread(f)) == -EBUSY)
			f->progress_t = mono_now(); /* queued: not a stall */
		else if (rc)
			break;
		if ((rc = wait_change(f, since, &t, UINT64_MAX)))
			break;
	}
	f->readers--;
	f->read_t = mono_now();
	pthread_mutex_unlock(&f->lock);
	return rc;
}

void hub_weight_state(char *out, size_t outsz, struct hub_weight *f)
{
	pthread_mutex_lock(&f->lock);
	hw_load(f);
	bool complete = hw_check_complete(f);
	bool bad = f->bad && real_now() < f->bad_until;
	int err = recent_error(f);
	char reason[48];
	snprintf(reason, sizeof(reason), "%s", bad ? f->bad_reason : hw_reason_of(err));
	pthread_mutex_unlock(&f->lock);
	if (complete)
		snprintf(out, outsz, "complete");
	else if (bad || err)
		snprintf(out, outsz, "failed %s", reason[0] ? reason : "io-error");
	else
		snprintf(out, outsz, "pending");
}

uint64_t hub_weight_present(bool *out_complete, struct hub_weight *f)
{
	pthread_mutex_lock(&f->lock);
	hw_load(f);
	bool complete = hw_check_complete(f);
	uint64_t n = complete ? f->size : hub_rset_bytes(&f->have);
	pthread_mutex_unlock(&f->lock);
	*out_complete = complete;
	return n;
}

int hub_weight_complete(struct hub_weight *f)
{
	pthread_mutex_lock(&f->lock);
	int c = hw_check_complete(f);
	pthread_mutex_unlock(&f->lock);
	return c;
}

/* f->lock held: how far the sequential download has got. */
static uint64_t stream_front(const struct hub_weight *f)
{
	return f->holder && f->streaming ? f->seq_pos
	       : f->live_valid		 ? f->live_b
					 : hub_rset_prefix(&f->have);
}

static int weight_span(struct hub_weight_span *out, size_t size, off_t off, struct hub_weight *f);

/* The complete file, opened with its pin: a shared flock (an eviction
 * round's exclusive one excludes it; cache/quota.c).  A file evicted
 * between the open and the flock has no link left: ENOENT, as if the open
 * had not found it.  The fd, or -1 with errno set. */
static int open_pinned(const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return -1;
	while (flock(fd, LOCK_SH)) {
		if (errno != EINTR) {
			int e = errno;
			close(fd);
			errno = e;
			return -1;
		}
	}
	struct stat st;
	if (fstat(fd, &st) || st.st_nlink == 0) {
		close(fd);
		errno = ENOENT;
		return -1;
	}
	return fd;
}

/* A read of the complete file through fd: the pin's clock, and N.data's
 * access time as its last use (for the quota's LRU order), set at most
 * every HUB_WEIGHTS_USE_RECORD_S per file.  No lock. */
static void note_use(struct hub_weight *f, int fd)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
	if (__atomic_load_n(&f->read_s, __ATOMIC_RELAXED) != (int64_t)ts.tv_sec)
		__atomic_store_n(&f->read_s, (int64_t)ts.tv_sec, __ATOMIC_RELAXED);
	clock_gettime(CLOCK_REALTIME_COARSE, &ts);
	int64_t now = (int64_t)ts.tv_sec;
	int64_t last = __atomic_load_n(&f->used_s, __ATOMIC_RELAXED);
	if (now - last >= HUB_WEIGHTS_USE_RECORD_S &&
	    __atomic_compare_exchange_n(&f->used_s, &last, now, false, __ATOMIC_RELAXED,
					__ATOMIC_RELAXED)) {
		const struct timespec t[2] = {{.tv_nsec = UTIME_NOW}, {.tv_nsec = UTIME_OMIT}};
		futimens(fd, t);
	}
}

void hw_pin_published(struct hub_weight *f)
{
	if (f->ck_fd >= 0 || !f->size_known)
		return;
	int fd = open_pinned(f->ck_path);
	if (fd < 0)
		return; /* the next read opens it (or finds it gone) */
	f->ck_fd = fd;
	f->ck_size = f->size;
	note_use(f, fd);
	__atomic_store_n(&f->ck_fast, 1, __ATOMIC_RELEASE);
}

/* Reads in progress and the time of the last one keep the file's download
 * going (nobody_reads, weights_dl.c): a span counts as a reader until it is
 * released. */
int hub_weight_span(struct hub_weight_span *out, size_t size, off_t off, struct hub_weight *f)
{
	memset(out, 0, sizeof(*out));
	out->fd = -1;
	__atomic_add_fetch(&f->fast_users, 1, __ATOMIC_SEQ_CST);
	if (off >= 0 && __atomic_load_n(&f->ck_fast, __ATOMIC_SEQ_CST)) {
		/* complete and open: no lock, no bookkeeping (no download to
		 * keep going); ck_fd stays open while fast_users counts us
		 * (hw_unpin_idle closes it only when nobody does) */
		uint64_t o = (uint64_t)off;
		out->fd = f->ck_fd;
		out->off = o;
		uint64_t n = f->ck_size;
		out->len = o >= n ? 0 : size > n - o ? (size_t)(n - o) : size;
		out->fast = f;
		note_use(f, out->fd);
		return 0;
	}
	__atomic_sub_fetch(&f->fast_users, 1, __ATOMIC_SEQ_CST);
	pthread_mutex_lock(&f->lock);
	f->readers++;
	pthread_mutex_unlock(&f->lock);
	int rc = weight_span(out, size, off, f);
	if (rc) {
		pthread_mutex_lock(&f->lock);
		f->readers--;
		f->read_t = mono_now();
		pthread_mutex_unlock(&f->lock);
		return rc;
	}
	out->f = f;
	return 0;
}

/* A span of a file still downloading was served: start the writeback of
 * the cache file's pages HUB_WEIGHTS_WRITEBACK_LAG behind it and drop
 * the clean ones HUB_WEIGHTS_DROP_LAG behind it (see base/limits.h).  The
 * kernel drops only pages already on disk, so a later read of that range
 * reads the same bytes back from the disk.  Not done for a complete file:
 * torch.hub and other mounts read those pages too. */
static void drop_behind(int fd, uint64_t off, size_t len)
{
	if (off >= HUB_WEIGHTS_WRITEBACK_LAG)
		(void)sync_file_range(fd, (off_t)(off - HUB_WEIGHTS_WRITEBACK_LAG), (off_t)len,
				      SYNC_FILE_RANGE_WRITE);
	if (off >= HUB_WEIGHTS_DROP_LAG)
		(void)posix_fadvise(fd, (off_t)(off - HUB_WEIGHTS_DROP_LAG), (off_t)len,
				    POSIX_FADV_DONTNEED);
}

void hub_weight_span_release(struct hub_weight_span *s)
{
	if (s->fast)
		__atomic_sub_fetch(&s->fast->fast_users, 1, __ATOMIC_SEQ_CST);
	struct hub_weight *f = s->f;
	if (f) { /* NULL: a complete file's span, nothing held */
		if (s->fd >= 0 && s->len) /* the fd stays open while we count in readers */
			drop_behind(s->fd, s->off, s->len);
		pthread_mutex_lock(&f->lock);
		if (s->busy)
			hw_busy_leave(f);
		if (s->start && !recent_error(f)) {
			int rc = hw_ensure_thread(f);
			if (rc && rc != -EBUSY)
				hub_debug("weights: %s: download not started: %s", f->name,
					  strerror(-rc));
		}
		f->readers--;
		f->read_t = mono_now();
		pthread_mutex_unlock(&f->lock);
	}
	memset(s, 0, sizeof(*s));
	s->fd = -1;
}

ssize_t hub_weight_read(char *buf, size_t size, off_t off, struct hub_weight *f)
{
	struct hub_weight_span s;
	int rc = hub_weight_span(&s, size, off, f);
	if (rc)
		return rc;
	ssize_t got = s.len ? pread_full(s.fd, buf, s.len, s.off) : 0;
	hub_weight_span_release(&s);
	return got;
}

/* The span of [off, off + size) clipped at EOF, once its bytes are on disk
 * (see hub_weight_span); out->f is set by the caller. */
static int weight_span(struct hub_weight_span *out, size_t size, off_t off, struct hub_weight *f)
{
	if (off < 0)
		return -EINVAL;
	struct hub_weights_tuning t = hw_tuning();
	bool offline = f->w->cfg.offline;
	bool strict = f->w->cfg.strict;
	uint64_t o = (uint64_t)off;
	double since = mono_now();
	int rc;
	pthread_mutex_lock(&f->lock);
	hw_load(f);
	hw_adopt_checkpoint(f);
	for (;;) {
		uint64_t need = UINT64_MAX;
		if (hw_check_complete(f)) {
			if (f->ck_fd < 0) {
				f->ck_fd = open_pinned(f->ck_path);
				if (f->ck_fd < 0 && errno == ENOENT) {
					/* removed from checkpoints/ by hand, evicted or
					 * forgotten by another process: download it again */
					f->complete = false;
					f->loaded = false;
					hub_rset_clear(&f->have);
					hw_part_retire(f);
					f->part_id = 0;
					hw_load(f);
					continue;
				}
				if (f->ck_fd < 0) {
					rc = -errno;
					break;
				}
				/* a holder killed between its rename and its link
				 * into checkpoints/ left the file unpublished */
				struct stat pst;
				if (lstat(f->pub_path, &pst) && errno == ENOENT)
					hw_publish(f);
			}
			/* ck_fd stays open until the last put or until
			 * hw_unpin_idle (never while f->readers counts us): no
			 * busy count.  ck_size is written only before ck_fast is
			 * set (the lock-free readers read it after) */
			note_use(f, f->ck_fd);
			if (!__atomic_load_n(&f->ck_fast, __ATOMIC_ACQUIRE)) {
				f->ck_size = f->size;
				__atomic_store_n(&f->ck_fast, 1, __ATOMIC_RELEASE);
			}
			out->fd = f->ck_fd;
			out->off = o;
			out->len = o >= f->size ? 0 : size > f->size - o ? (size_t)(f->size - o) : size;
			pthread_mutex_unlock(&f->lock);
			return 0;
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
		/* verify=stream: a read that reaches the end of a file whose name
		 * carries a hash, and is not far ahead of the download (a reader
		 * going through the file, not torch reading the zip directory
		 * first), waits for the verdict: cat and cp of a corrupt file
		 * fail instead of ending with every byte and status 0. */
		bool verdict = false;
		if (f->size_known && !strict) {
			uint64_t end = size > f->size - o ? f->size : o + size;
			verdict = f->hash_prefix[0] && end == f->size &&
				  o < stream_front(f) + t.far_bytes;
			if ((!verdict || f->hash_ok) && hub_rset_covers(&f->have, o, end)) {
				if (f->part_fd < 0 && (rc = hw_part_open(f, false))) {
					if (rc == -ENOENT && hw_check_complete(f))
						continue; /* renamed meanwhile */
					break;
				}
				bool whole = hub_rset_covers(&f->have, 0, f->size);
				if (!f->thread_running && !f->thread_joinable && !recent_error(f) &&
				    (whole || (!offline && hub_rset_bytes(&f->have) <= t.head_bytes &&
					       end < f->size))) {
					/* the lookup's first bytes (hw_ensure_head):
					 * served, and the download starts behind them
					 * as it would have for this first read, once
					 * they are (at the release: the reply goes
					 * before a new thread competes for the CPU); a
					 * file the lookup's GET got whole (no larger
					 * than head_bytes) still needs its holder,
					 * which finds nothing missing and finalizes it
					 * (else it stayed an N.part, never published) */
					out->start = true;
				}
				/* busy until the span is released: the fd is not
				 * closed while the caller reads or splices from it */
				hw_busy_enter(f);
				HW_FIRST_STEP(f, "its bytes served");
				f->first_t = 0;
				out->busy = true;
				out->unverified_end = f->hash_prefix[0] && end == f->size && end > o &&
						      !f->hash_ok;
				out->fd = f->part_fd;
				out->off = o;
				out->len = (size_t)(end - o);
				pthread_mutex_unlock(&f->lock);
				return 0;
			}
		}
		if (!f->size_known && offline && !f->thread_running) {
			rc = -ENOENT;
			break;
		}
		if (!f->thread_running) {
			if (!f->first_t && hub_rset_bytes(&f->have) == 0) {
				f->first_t = mono_now();
				hub_debug("weights: %s: first read: [%llu, +%zu) asks for the download",
					  f->name, (unsigned long long)o, size);
			}
			if ((rc = hw_ensure_thread(f)) == -EBUSY) {
				/* queued behind dl_max downloads: wait, not a stall */
				f->progress_t = mono_now();
				if ((rc = wait_change(f, since, &t, UINT64_MAX)))
					break;
				continue;
			}
			if (rc)
				break;
			continue; /* the lock may have been dropped */
		}
		if (f->size_known && !strict && !offline) {
			uint64_t end = size > f->size - o ? f->size : o + size;
			uint64_t miss = hub_rset_first_missing(&f->have, o, end);
			uint64_t front = stream_front(f);
			if (miss < end && miss >= front + t.far_bytes &&
			    !hw_inflight_covers(f, miss)) {
				if ((rc = hw_far_fetch(f, miss, end, &t)))
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
	HUB_HTAB_EACH(&w->table, l) {
		struct hub_weight *f = hub_container_of(l, struct hub_weight, link);
		pthread_mutex_lock(&f->lock);
		if (f->thread_running && !f->complete) {
			double rate = now - f->rate_t < 3.0 ? f->rate : 0;
			char u[HUB_URL_MAX];
			fprintf(m, "%s %llu %llu %llu %s\n", f->name,
				(unsigned long long)hub_rset_bytes(&f->have),
				(unsigned long long)(f->size_known ? f->size : 0),
				(unsigned long long)rate, status_url(u, sizeof(u), f->url));
		}
		pthread_mutex_unlock(&f->lock);
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
	if (fclose(m)) {
		free(buf);
		return NULL;
	}
	return buf;
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
	struct hub_weight **v = hw_all_files(w, &n);
	for (size_t i = 0; v && i < n; i++) {
		struct hub_weight *f = v[i];
		pthread_mutex_lock(&f->lock);
		hw_wake(f);
		bool join = f->thread_joinable;
		pthread_t t = f->thread;
		f->thread_joinable = false;
		pthread_mutex_unlock(&f->lock);
		if (join)
			pthread_join(t, NULL);
	}
	for (size_t i = 0; v && i < n; i++)
		hw_put(v[i]);
	free(v);
	if (w->flusher_started) {
		pthread_mutex_lock(&w->lock);
		pthread_cond_broadcast(&w->flush_cond);
		pthread_mutex_unlock(&w->lock);
		pthread_join(w->flusher, NULL);
	}
	/* what the cancelled downloads wrote stays claimed for the resume */
	hw_flush_all(w, true);
	HUB_HTAB_EACH(&w->table, l)
		weight_free(hub_container_of(l, struct hub_weight, link));
	hub_htab_fini(&w->table);
	for (size_t i = 0; i < HUB_WEIGHTS_FAILED_MAX; i++) {
		free(w->fails[i].name);
		free(w->fails[i].url);
	}
	hub_http_free(w->http);
	pthread_mutex_destroy(&w->lock);
	pthread_mutex_destroy(&w->fail_lock);
	for (size_t i = 0; i < w->npins; i++)
		close(w->pins[i].fd);
	pthread_mutex_destroy(&w->pin_lock);
	pthread_cond_destroy(&w->flush_cond);
	free(w->root);
	free(w->dir);
	free(w->ckdir);
	free(w);
}
