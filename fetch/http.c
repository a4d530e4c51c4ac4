/*
 * HTTP client for weight files; see http.h for the contract.  Three files
 * (fetch/http_int.h): this one, the client and its retry loop;
 * http_xfer.c, one attempt; http_policy.c, the address policy.
 *
 * DESIGN
 * - struct hub_http owns a pool of idle easy handles (each keeps its own
 *   connection cache, so consecutive requests to one server reuse a
 *   connection: libcurl does not support sharing connections between
 *   threads) and the list of every socket its handles have open.
 *   h->lock guards the pool, the socket list and `cancelled`; it is held for
 *   list operations only, never across a transfer.  h->cond wakes backoff
 *   sleeps on cancel.
 * - Cancel: sets `cancelled`, shuts down every open socket (the blocked
 *   poll() inside curl returns at once) and wakes sleepers; the progress
 *   callback also checks the flag.  Sockets are opened and closed through
 *   curl's open/close-socket callbacks under h->lock, so a shutdown never
 *   hits a descriptor number that was closed and reused elsewhere.
 * - Handles: the options every request shares are set once, when a handle
 *   is made (hub_http_handle_init); setup() sets what varies per request.
 *   A handle whose attempt failed in any way (setup or transfer) is
 *   discarded and the next attempt gets a new one: libcurl 7.88 keeps state
 *   from some failures (after a DNS failure it refuses CURLOPT_BUFFERSIZE
 *   on the reset handle), so one failure costs one attempt, never the
 *   client's later requests.
 * - One request = attempts.  Each attempt is one curl_easy_perform with a
 *   Range starting at the first byte not yet delivered.  The status and
 *   headers are those of the last response (redirects and 1xx responses do
 *   not count), read from libcurl's header store (curl_easy_header,
 *   CURLINFO_RETRY_AFTER); the body's first byte
 *   checks status, Content-Range, Content-Length and ETag against what the
 *   caller expects before anything reaches the sink.  A 200 to a ranged
 *   request (Range ignored) is delivered from offset 0: offsets given to the
 *   sink are always the file's, so a wrong byte can never land at a wrong
 *   place.
 * - Retry rule: 5xx, 408, 429, cut or stalled transfers are retried with
 *   jittered exponential backoff (Retry-After honoured, capped); an attempt
 *   that delivered new bytes resets the count of failed attempts.
 * - curl codes and HTTP statuses become errnos in http_errno() and
 *   status_errno() only.
 * - Address policy (http.h): each attempt carries a struct policy (private
 *   addresses allowed at all; the request URL a rewrite target, and then its
 *   host:port).  hop_allowed() judges one connection of one hop: the hop's
 *   URL is curl's CURLINFO_EFFECTIVE_URL (updated before a redirect
 *   connects), the address the one being connected.  It runs in open_cb
 *   (before connect(): a refused address gets no packet, and curl moves on
 *   to the next address of the answer) and in prereq_cb (before each request,
 *   also on a reused connection, which open_cb never sees).  A refusal is
 *   recorded in the xfer and becomes -EPERM (or -EPROTONOSUPPORT for a
 *   downgrade) once curl gives up, whatever curl code it gave up with.
 *   https -> http redirects are refused by curl itself when the request is
 *   https (CURLOPT_REDIR_PROTOCOLS_STR) and by hop_allowed for longer chains.
 * - libcurl is initialized once per process (pthread_once) with an allocator
 *   that page-aligns large blocks: the 512 KiB receive buffer then starts on
 *   a page boundary (copies into buffers 8-24 bytes past a page were 3.5-6x
 *   slower: docs/design.md, "Measured facts of the machine").
 */
#include "fetch/http_int.h"

#include <curl/curl.h>
#include <errno.h>
#include <limits.h>
#include <malloc.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "base/cond.h"
#include "base/log.h"
#include "fetch/rewrite.h"

#ifndef HUBFS_VERSION
#define HUBFS_VERSION "0"
#endif

/* ---- tuning ---- */

/* the defaults, from base/limits.h */
#define HTTP_TUNING_DEFAULTS \
	{ \
		.connect_timeout_ms = HUB_HTTP_CONNECT_TIMEOUT_MS, \
		.stall_s = HUB_HTTP_STALL_S, \
		.retries = HUB_HTTP_RETRIES, \
		.backoff_base_ms = HUB_HTTP_BACKOFF_BASE_MS, \
		.backoff_max_ms = HUB_HTTP_BACKOFF_MAX_MS, \
		.retry_after_max_s = HUB_HTTP_RETRY_AFTER_MAX_S, \
	}

static struct hub_http_tuning tuning = HTTP_TUNING_DEFAULTS;
static pthread_mutex_t tuning_lock = PTHREAD_MUTEX_INITIALIZER;

void hub_http_tuning_default(struct hub_http_tuning *out)
{
	*out = (struct hub_http_tuning)HTTP_TUNING_DEFAULTS;
}

void hub_http_set_tuning(const struct hub_http_tuning *t)
{
	pthread_mutex_lock(&tuning_lock);
	tuning = *t;
	pthread_mutex_unlock(&tuning_lock);
}

static struct hub_http_tuning get_tuning(void)
{
	pthread_mutex_lock(&tuning_lock);
	struct hub_http_tuning t = tuning;
	pthread_mutex_unlock(&tuning_lock);
	return t;
}

/* ---- global init: libcurl with page-aligned large blocks ---- */

#define ALIGN_FROM (64u << 10)

static void *al_malloc(size_t n)
{
	if (n >= ALIGN_FROM) {
		void *p;
		return posix_memalign(&p, 4096, n) ? NULL : p;
	}
	return malloc(n);
}

static void *al_calloc(size_t nmemb, size_t size)
{
	if (size && nmemb > SIZE_MAX / size)
		return NULL;
	size_t n = nmemb * size;
	if (n >= ALIGN_FROM) {
		void *p = al_malloc(n);
		if (p)
			memset(p, 0, n);
		return p;
	}
	return calloc(nmemb, size);
}

/* curl sets its receive buffer's size with realloc: keep large blocks aligned. */
static void *al_realloc(void *p, size_t n)
{
	if (n < ALIGN_FROM || !p)
		return p ? realloc(p, n) : al_malloc(n);
	size_t old = malloc_usable_size(p);
	if (old >= n && ((uintptr_t)p & 4095) == 0)
		return p;
	void *q = al_malloc(n);
	if (!q)
		return NULL;
	memcpy(q, p, old < n ? old : n);
	free(p);
	return q;
}

static pthread_once_t global_once = PTHREAD_ONCE_INIT;
static CURLcode global_rc = CURLE_FAILED_INIT;

static void global_init(void)
{
	global_rc = curl_global_init_mem(CURL_GLOBAL_ALL, al_malloc, free, al_realloc, strdup,
					 al_calloc);
	if (global_rc != CURLE_OK)
		hub_err("libcurl: global init failed: %s", curl_easy_strerror(global_rc));
}

/* ---- the client ---- */

/* The CA bundle and directory the user's environment names, as curl, git
 * and Python's ssl honour them (a mirror or proxy with a private CA).
 * Verification stays on; only the trust anchors change. */
static char *env_dup(const char *a, const char *b)
{
	const char *v = getenv(a);
	if ((!v || !*v) && b)
		v = getenv(b);
	return v && *v ? strdup(v) : NULL;
}

int hub_http_new(struct hub_http **out)
{
	*out = NULL;
	pthread_once(&global_once, global_init);
	if (global_rc != CURLE_OK)
		return -EIO;
	struct hub_http *h = calloc(1, sizeof(*h));
	if (!h)
		return -ENOMEM;
	pthread_mutex_init(&h->lock, NULL);
	hub_cond_init_mono(&h->cond);
	h->cainfo = env_dup("CURL_CA_BUNDLE", "SSL_CERT_FILE");
	h->capath = env_dup("SSL_CERT_DIR", NULL);
	hub_http_find_proxies(h);
	*out = h;
	return 0;
}

void hub_http_free(struct hub_http *h)
{
	if (!h)
		return;
	for (size_t i = 0; i < h->npool; i++)
		curl_easy_cleanup(h->pool[i]); /* closes its sockets through hub_http_close_cb */
	while (h->socks) {
		struct sock_ent *s = h->socks;
		h->socks = s->next;
		free(s);
	}
	pthread_mutex_destroy(&h->lock);
	pthread_cond_destroy(&h->cond);
	free(h->cainfo);
	free(h->capath);
	free(h->proxy);
	free(h);
}

void hub_http_cancel(struct hub_http *h)
{
	pthread_mutex_lock(&h->lock);
	__atomic_store_n(&h->cancelled, true, __ATOMIC_RELEASE);
	for (struct sock_ent *s = h->socks; s; s = s->next)
		shutdown(s->fd, SHUT_RDWR);
	pthread_cond_broadcast(&h->cond);
	pthread_mutex_unlock(&h->lock);
}

void hub_http_set_policy(struct hub_http *h, bool allow_private,
			 const struct hub_rewrites *rewrites)
{
	h->rewrites = rewrites;
	h->allow_private = allow_private;
}

int hub_http_set_proxy(struct hub_http *h, const char *url)
{
	free(h->proxy);
	h->proxy = NULL;
	if (url && *url && !(h->proxy = strdup(url)))
		return -ENOMEM;
	hub_http_find_proxies(h);
	return 0;
}

void hub_http_stats(struct hub_http_stats *out, struct hub_http *h)
{
	out->requests = __atomic_load_n(&h->stats.requests, __ATOMIC_RELAXED);
	out->retries = __atomic_load_n(&h->stats.retries, __ATOMIC_RELAXED);
	out->bytes = __atomic_load_n(&h->stats.bytes, __ATOMIC_RELAXED);
}

/* A socket for curl, on the client's list (hub_http_open_cb, once the policy agreed). */
curl_socket_t hub_http_sock_open(struct hub_http *h, struct curl_sockaddr *a)
{
	struct sock_ent *e = malloc(sizeof(*e));
	if (!e)
		return CURL_SOCKET_BAD;
	curl_socket_t fd = socket(a->family, a->socktype | SOCK_CLOEXEC, a->protocol);
	if (fd == CURL_SOCKET_BAD) {
		free(e);
		return CURL_SOCKET_BAD;
	}
	pthread_mutex_lock(&h->lock);
	if (h->cancelled) {
		pthread_mutex_unlock(&h->lock);
		close(fd);
		free(e);
		return CURL_SOCKET_BAD;
	}
	e->fd = fd;
	e->next = h->socks;
	h->socks = e;
	pthread_mutex_unlock(&h->lock);
	return fd;
}

int hub_http_close_cb(void *clientp, curl_socket_t fd)
{
	struct hub_http *h = clientp;
	pthread_mutex_lock(&h->lock);
	for (struct sock_ent **p = &h->socks; *p; p = &(*p)->next) {
		if ((*p)->fd == fd) {
			struct sock_ent *e = *p;
			*p = e->next;
			free(e);
			break;
		}
	}
	int rc = close(fd);
	pthread_mutex_unlock(&h->lock);
	return rc;
}

static CURL *handle_get(struct hub_http *h)
{
	CURL *c = NULL;
	pthread_mutex_lock(&h->lock);
	if (h->npool)
		c = h->pool[--h->npool];
	pthread_mutex_unlock(&h->lock);
	if (c)
		return c; /* with its connection cache; setup() sets what varies */
	c = curl_easy_init();
	if (c && hub_http_handle_init(c, h)) {
		curl_easy_cleanup(c);
		c = NULL;
	}
	return c;
}

static void handle_put(struct hub_http *h, CURL *c)
{
	pthread_mutex_lock(&h->lock);
	if (h->npool < HUB_HTTP_POOL_MAX && !h->cancelled) {
		h->pool[h->npool++] = c;
		c = NULL;
	}
	pthread_mutex_unlock(&h->lock);
	if (c)
		curl_easy_cleanup(c);
}

int hub_http_prepare(struct hub_http *h)
{
	CURL *c = handle_get(h);
	if (!c)
		return -ENOMEM;
	handle_put(h, c);
	return 0;
}

/* Sleep ms unless the client is cancelled; -ECANCELED then. */
static int backoff_sleep(struct hub_http *h, long ms)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	ts.tv_sec += ms / 1000;
	ts.tv_nsec += (ms % 1000) * 1000000L;
	if (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	int rc = 0;
	pthread_mutex_lock(&h->lock);
	while (!h->cancelled) {
		if (pthread_cond_timedwait(&h->cond, &h->lock, &ts) == ETIMEDOUT)
			break;
	}
	if (h->cancelled)
		rc = -ECANCELED;
	pthread_mutex_unlock(&h->lock);
	return rc;
}

static long jitter_ms(long base, long cap, int n)
{
	long d = base;
	for (int i = 1; i < n && d < cap; i++)
		d *= 2;
	if (d > cap)
		d = cap;
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	unsigned seed = (unsigned)ts.tv_nsec ^ (unsigned)(uintptr_t)&ts;
	/* full jitter in [d/2, d] */
	return d / 2 + (long)(rand_r(&seed) % (unsigned)(d / 2 + 1));
}

static void log_failure(const char *verb, const char *url, int err, const char *why, int attempts)
{
	char u[512];
	hub_http_url_for_log(u, sizeof(u), url);
	if (err == -ENOENT)
		hub_info("http: %s %s: not found (%s)", verb, u, why);
	else if (err != -ECANCELED)
		hub_warn("http: %s %s: %s (%s, after %d attempt%s)", verb, u, strerror(-err), why,
			 attempts, attempts == 1 ? "" : "s");
}


/* Run attempts until done, a final failure, or the retries are spent. */
static int run(struct hub_http *h, struct xfer *x, const char *url, bool head)
{
	struct hub_http_tuning t = get_tuning();
	CURL *c = handle_get(h);
	if (!c)
		return -ENOMEM;
	struct policy pol = {.allow_private = h->allow_private};
	if (!pol.allow_private && hub_rewrite_produced(h->rewrites, url))
		pol.trusted = hub_http_url_origin(url, pol.host, sizeof(pol.host), &pol.port);
	int fails = 0, attempts = 0, err = 0;
	char why[400] = "";
	uint64_t resume = x->req ? x->req->off : 0, best = resume;
	for (;;) {
		if (hub_http_is_cancelled(h)) {
			err = -ECANCELED;
			break;
		}
		/* fresh per-attempt state; metadata learned so far is kept */
		struct hub_http_meta keep = x->meta;
		const struct hub_http_get *req = x->req;
		struct hub_http *hh = x->h;
		memset(x, 0, sizeof(*x));
		x->h = hh;
		x->pol = &pol;
		x->req = req;
		x->meta = keep;
		x->from = resume;
		x->end = req ? req->end : 0;
		long wait_s;
		attempts++;
		enum outcome o = hub_http_attempt(x, c, url, &t, head, &err, &wait_s, why, sizeof(why));
		if (o == OUT_DONE) {
			err = 0;
			break;
		}
		if (o == OUT_FAIL)
			break;
		if (x->spoiled) { /* the next attempt on a new handle */
			curl_easy_cleanup(c);
			c = handle_get(h);
			if (!c) {
				err = -ENOMEM;
				break;
			}
		}
		/* progress: bytes delivered past the best point so far */
		bool progress = false;
		if (x->body_started && x->pos > best) {
			progress = true;
			best = x->pos;
		}
		if (x->body_started && x->first <= resume && x->pos > resume)
			resume = x->pos;
		fails = progress ? 0 : fails + 1;
		if (fails >= t.retries) {
			if (err == -ETIMEDOUT)
				snprintf(why + strlen(why), sizeof(why) - strlen(why), ", stalled");
			break;
		}
		long ms;
		if (wait_s >= 0) {
			if (wait_s > t.retry_after_max_s) {
				snprintf(why + strlen(why), sizeof(why) - strlen(why),
					 ", Retry-After %lds is too long", wait_s);
				break;
			}
			ms = wait_s * 1000;
		} else {
			ms = jitter_ms(t.backoff_base_ms, t.backoff_max_ms, fails ? fails : 1);
		}
		__atomic_add_fetch(&h->stats.retries, 1, __ATOMIC_RELAXED);
		char u[512];
		hub_http_url_for_log(u, sizeof(u), url);
		hub_info("http: %s %s: %s; retrying from byte %llu in %ld ms", head ? "HEAD" : "GET",
			 u, why, (unsigned long long)resume, ms);
		if (backoff_sleep(h, ms)) {
			err = -ECANCELED;
			break;
		}
	}
	if (!err && c) {
		char *eff = NULL;
		curl_easy_getinfo(c, CURLINFO_EFFECTIVE_URL, &eff);
		if (eff)
			snprintf(x->meta.url, sizeof(x->meta.url), "%s", eff);
	}
	if (err)
		log_failure(head ? "HEAD" : "GET", url, err, why, attempts);
	if (c && x->spoiled)
		curl_easy_cleanup(c);
	else if (c)
		handle_put(h, c);
	return err;
}

/* ---- HEAD ---- */

static int probe_sink(void *ctx, uint64_t off, const char *data, size_t len)
{
	(void)ctx;
	(void)off;
	(void)data;
	(void)len;
	return HUB_HTTP_STOP;
}

int hub_http_head(struct hub_http_meta *out, struct hub_http *h, const char *url)
{
	memset(out, 0, sizeof(*out));
	struct xfer x = {.h = h};
	int rc = run(h, &x, url, true);
	bool head_ok = rc == 0 && x.status >= 200 && x.status < 300;
	if (head_ok && x.have_len) {
		out->size_known = true;
		out->size = x.len;
		snprintf(out->etag, sizeof(out->etag), "%s", x.etag);
		snprintf(out->url, sizeof(out->url), "%s", x.meta.url[0] ? x.meta.url : url);
		out->ranges = x.accept_ranges;
		return 0;
	}
	if (!head_ok && x.status != 400 && x.status != 403 && x.status != 405 && x.status != 501)
		return rc;
	/* a refused HEAD (signed URLs often refuse it) or one without a size:
	 * GET bytes 0-0 and read the total from Content-Range */
	hub_debug("http: HEAD gave %s; probing with a 1-byte GET",
		  head_ok ? "no Content-Length" : "an error");
	struct hub_http_get g = {.url = url, .off = 0, .end = 1, .sink = probe_sink};
	int grc = hub_http_get(out, h, &g);
	if (grc == 0 && head_ok && !out->etag[0])
		snprintf(out->etag, sizeof(out->etag), "%s", x.etag);
	return grc;
}

/* ---- GET ---- */

int hub_http_get(struct hub_http_meta *out_meta, struct hub_http *h,
		 const struct hub_http_get *req)
{
	struct xfer x = {.h = h, .req = req};
	if (req->size_known) {
		x.meta.size_known = true;
		x.meta.size = req->size;
	}
	if (req->etag)
		snprintf(x.meta.etag, sizeof(x.meta.etag), "%s", req->etag);
	int rc = 0;
	if (req->end && req->end <= req->off)
		rc = 0; /* nothing wanted */
	else if (req->size_known && req->off >= req->size)
		rc = 0;
	else
		rc = run(h, &x, req->url, false);
	if (out_meta)
		*out_meta = x.meta;
	return rc;
}
