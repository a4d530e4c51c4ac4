/*
 * HTTP client for weight files; see http.h for the contract.
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
#include "fetch/http.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <curl/curl.h>
#include <errno.h>
#include <limits.h>
#include <malloc.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "fetch/addr.h"
#include "base/log.h"
#include "fetch/rewrite.h"
#include "base/redact.h"

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

struct sock_ent {
	curl_socket_t fd;
	struct sock_ent *next;
};

struct hub_http {
	pthread_mutex_t lock;
	pthread_cond_t cond;          /* backoff sleeps; signalled on cancel */
	bool cancelled;               /* lock (also read unlocked by the progress callback) */
	CURL *pool[HUB_HTTP_POOL_MAX]; /* lock: idle handles */
	size_t npool;
	struct sock_ent *socks;       /* lock: sockets open by this client's handles */
	struct hub_http_stats stats;  /* __atomic */
	char *cainfo, *capath;        /* extra trust anchors from the environment, or NULL */
	const struct hub_rewrites *rewrites; /* set once before use: their targets are trusted */
	bool allow_private;             /* set once before use */
};

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
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_mutex_init(&h->lock, NULL);
	pthread_cond_init(&h->cond, &ca);
	pthread_condattr_destroy(&ca);
	h->cainfo = env_dup("CURL_CA_BUNDLE", "SSL_CERT_FILE");
	h->capath = env_dup("SSL_CERT_DIR", NULL);
	*out = h;
	return 0;
}

void hub_http_free(struct hub_http *h)
{
	if (!h)
		return;
	for (size_t i = 0; i < h->npool; i++)
		curl_easy_cleanup(h->pool[i]); /* closes its sockets through close_cb */
	while (h->socks) {
		struct sock_ent *s = h->socks;
		h->socks = s->next;
		free(s);
	}
	pthread_mutex_destroy(&h->lock);
	pthread_cond_destroy(&h->cond);
	free(h->cainfo);
	free(h->capath);
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

static bool is_cancelled(struct hub_http *h)
{
	return __atomic_load_n(&h->cancelled, __ATOMIC_ACQUIRE);
}

void hub_http_stats(struct hub_http_stats *out, struct hub_http *h)
{
	out->requests = __atomic_load_n(&h->stats.requests, __ATOMIC_RELAXED);
	out->retries = __atomic_load_n(&h->stats.retries, __ATOMIC_RELAXED);
	out->bytes = __atomic_load_n(&h->stats.bytes, __ATOMIC_RELAXED);
}

/* A socket for curl, on the client's list (open_cb, once the policy agreed). */
static curl_socket_t sock_open(struct hub_http *h, struct curl_sockaddr *a)
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

static int close_cb(void *clientp, curl_socket_t fd)
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
		curl_easy_reset(c); /* keeps the connection cache */
	else
		c = curl_easy_init();
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

/* ---- one attempt ---- */

/* The address policy of one request (see DESIGN). */
struct policy {
	bool allow_private;
	bool trusted;        /* the URL is a rewrite target: its host:port may be private */
	char host[256];      /*   that host (as in the URL) */
	long port;           /*   and port */
};

struct xfer {
	struct hub_http *h;
	CURL *c;
	const struct policy *pol;
	const struct hub_http_get *req; /* NULL for HEAD */
	uint64_t from;                  /* Range start of this attempt */
	uint64_t end;                   /* one past the last byte wanted; 0: to the end */
	/* the last response's status and headers (read_response) */
	long status;
	bool have_len;
	uint64_t len;
	char etag[HUB_HTTP_HEADER_MAX];
	char crange[HUB_HTTP_HEADER_MAX];
	char retry_after[64];
	bool has_retry_after;
	char location[HUB_URL_MAX];
	bool accept_ranges;
	/* the policy: hops seen, a refusal */
	bool https_seen;
	int refused;       /* -EPERM or -EPROTONOSUPPORT: why curl gave up */
	char refused_why[320];
	bool spoiled;      /* the handle must not be reused (see attempt) */
	/* the body */
	bool body_started;
	bool body_error;   /* a non-2xx body: aborted */
	uint64_t pos;      /* file offset of the next body byte */
	uint64_t first;    /* file offset of the body's first byte */
	bool done;         /* everything wanted arrived (or the sink stopped) */
	int sink_rc;       /* < 0: the sink or a check aborted */
	/* stall detection (progress callback) */
	long stall_s;
	curl_off_t last_dn;
	double last_rx;
	bool stalled;
	struct hub_http_meta meta;
};

/* Strip W/ and compare: a weak and a strong tag of the same value match. */
static bool etag_equal(const char *a, const char *b)
{
	if (!strncmp(a, "W/", 2))
		a += 2;
	if (!strncmp(b, "W/", 2))
		b += 2;
	return !strcmp(a, b);
}

static void copy_header_value(char *dst, size_t dstsz, const char *v, size_t n)
{
	while (n && isspace((unsigned char)*v)) {
		v++;
		n--;
	}
	while (n && isspace((unsigned char)v[n - 1]))
		n--;
	if (n >= dstsz)
		n = dstsz - 1;
	memcpy(dst, v, n);
	dst[n] = '\0';
}

static bool parse_u64(const char *s, uint64_t *out)
{
	if (!isdigit((unsigned char)*s))
		return false;
	char *e;
	errno = 0;
	unsigned long long v = strtoull(s, &e, 10);
	if (errno || *e)
		return false;
	*out = v;
	return true;
}

/* The value of header name in response number req of the transfer (a
 * repeated header counts by its last occurrence), trimmed and cut to
 * dstsz - 1 bytes; false and "" if that response has none. */
static bool header_get(CURL *c, int req, const char *name, char *dst, size_t dstsz)
{
	struct curl_header *h = NULL;
	dst[0] = '\0';
	if (curl_easy_header(c, name, 0, CURLH_HEADER, req, &h) != CURLHE_OK)
		return false;
	if (h->amount > 1 &&
	    curl_easy_header(c, name, h->amount - 1, CURLH_HEADER, req, &h) != CURLHE_OK)
		return false;
	copy_header_value(dst, dstsz, h->value, strlen(h->value));
	return true;
}

/* The number of the last response whose headers arrived, for
 * curl_easy_header.  curl numbers requests per handle, not per transfer,
 * and counts a request it starts for a redirect before it has an answer
 * (or refuses the redirect's protocol), so its "-1" may name a request
 * without headers: then the highest number curl knows is found (galloping
 * search) and the ones below it are tried. */
static int last_response(CURL *c)
{
	if (curl_easy_nextheader(c, CURLH_HEADER, -1, NULL))
		return -1;
	struct curl_header *h;
	int lo = 0, hi = 1; /* lo: a request curl knows; hi: one it does not */
	while (curl_easy_header(c, "Date", 0, CURLH_HEADER, hi, &h) != CURLHE_NOREQUEST) {
		if (hi > INT_MAX / 2)
			return -1;
		lo = hi;
		hi *= 2;
	}
	while (hi - lo > 1) {
		int mid = lo + (hi - lo) / 2;
		if (curl_easy_header(c, "Date", 0, CURLH_HEADER, mid, &h) != CURLHE_NOREQUEST)
			lo = mid;
		else
			hi = mid;
	}
	for (int i = lo - 1; i >= 0 && i >= lo - 2 * HUB_HTTP_MAX_REDIRS - 8; i--)
		if (curl_easy_nextheader(c, CURLH_HEADER, i, NULL))
			return i;
	return -1;
}

/* The status and the headers hubfs uses of the last response, from curl's
 * own header store: at the first body byte and when the transfer ended. */
static void read_response(struct xfer *x)
{
	long status = 0;
	curl_easy_getinfo(x->c, CURLINFO_RESPONSE_CODE, &status);
	x->status = status;
	x->have_len = false;
	x->len = 0;
	x->etag[0] = x->crange[0] = x->location[0] = '\0';
	x->has_retry_after = false;
	x->accept_ranges = false;
	if (status <= 0)
		return; /* no response: nothing of an earlier transfer is read */
	int req = last_response(x->c);
	char tmp[32];
	if (header_get(x->c, req, "Content-Length", tmp, sizeof(tmp)))
		x->have_len = parse_u64(tmp, &x->len);
	header_get(x->c, req, "ETag", x->etag, sizeof(x->etag));
	header_get(x->c, req, "Content-Range", x->crange, sizeof(x->crange));
	header_get(x->c, req, "Location", x->location, sizeof(x->location));
	x->has_retry_after =
		header_get(x->c, req, "Retry-After", x->retry_after, sizeof(x->retry_after));
	if (header_get(x->c, req, "Accept-Ranges", tmp, sizeof(tmp)))
		x->accept_ranges = !strcasecmp(tmp, "bytes");
}

/* Content-Range: "bytes A-B/TOTAL", TOTAL "*" when unknown; a 416 sends
 * "bytes" with "*" in place of A-B, which gives a = b = UINT64_MAX. */
static bool parse_content_range(const char *s, uint64_t *a, uint64_t *b, bool *total_known,
				uint64_t *total)
{
	if (strncasecmp(s, "bytes", 5))
		return false;
	s += 5;
	while (*s == ' ')
		s++;
	char *e;
	if (*s == '*') {
		*a = *b = UINT64_MAX;
		s++;
	} else {
		if (!isdigit((unsigned char)*s))
			return false;
		*a = strtoull(s, &e, 10);
		if (*e != '-' || !isdigit((unsigned char)e[1]))
			return false;
		*b = strtoull(e + 1, &e, 10);
		if (*b < *a)
			return false;
		s = e;
	}
	if (*s != '/')
		return false;
	s++;
	if (*s == '*' && !s[1]) {
		*total_known = false;
		return true;
	}
	if (!isdigit((unsigned char)*s))
		return false;
	*total = strtoull(s, &e, 10);
	if (*e)
		return false;
	*total_known = true;
	return *a == UINT64_MAX || *b < *total;
}

/* Log-safe URL: without its query (signed URLs carry credentials there). */
static void url_for_log(char *out, size_t outsz, const char *url)
{
	hub_redact_url(out, outsz, url); /* and no user:password@, no control bytes */
}

/* ---- the address policy ---- */

/* Host (as curl parses it: IPv6 in brackets) and port (the scheme's default
 * when none) of url. */
static bool url_origin(const char *url, char *host, size_t hostsz, long *port)
{
	CURLU *u = curl_url();
	if (!u)
		return false;
	char *hs = NULL, *ps = NULL;
	bool ok = !curl_url_set(u, CURLUPART_URL, url, 0) && !curl_url_get(u, CURLUPART_HOST, &hs, 0) &&
		  !curl_url_get(u, CURLUPART_PORT, &ps, CURLU_DEFAULT_PORT) && strlen(hs) < hostsz;
	if (ok) {
		snprintf(host, hostsz, "%s", hs);
		*port = strtol(ps, NULL, 10);
	}
	curl_free(hs);
	curl_free(ps);
	curl_url_cleanup(u);
	return ok;
}

__attribute__((format(printf, 3, 4))) static void refuse(struct xfer *x, int err, const char *fmt,
							  ...)
{
	char why[sizeof(x->refused_why)];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	hub_info("http: %s", why);
	if (!x->refused) {
		x->refused = err;
		snprintf(x->refused_why, sizeof(x->refused_why), "%s", why);
	}
}

/* May this hop (curl's current URL) connect to sa?  Records a refusal. */
static bool hop_allowed(struct xfer *x, const struct sockaddr *sa)
{
	const struct policy *p = x->pol;
	char *hop = NULL;
	curl_easy_getinfo(x->c, CURLINFO_EFFECTIVE_URL, &hop);
	char u[512];
	url_for_log(u, sizeof(u), hop ? hop : "?");
	if (hop && !strncasecmp(hop, "https://", 8)) {
		x->https_seen = true;
	} else if (x->https_seen) {
		refuse(x, -EPROTONOSUPPORT, "redirect to %s refused: https is never downgraded to http",
		       u);
		return false;
	}
	if (p->allow_private)
		return true;
	const char *cls = hub_addr_class(sa);
	if (!cls) {
		int local = hub_addr_is_local(sa);
		if (local == 0)
			return true;
		cls = local > 0 ? "local-interface" : "unverifiable";
	}
	if (p->trusted) {
		char host[256];
		long port;
		if (hop && url_origin(hop, host, sizeof(host), &port) && port == p->port &&
		    !strcasecmp(host, p->host))
			return true;
	}
	char a[INET6_ADDRSTRLEN];
	hub_addr_str(a, sizeof(a), sa);
	refuse(x, -EPERM, "refused to connect to %s (%s address, not public) for %s%s", a, cls, u,
	       p->trusted ? " (not the rewrite target's host:port)" : "; see allow_private");
	return false;
}

/* Every socket curl opens: the policy first. */
static curl_socket_t open_cb(void *clientp, curlsocktype purpose, struct curl_sockaddr *a)
{
	struct xfer *x = clientp;
	(void)purpose;
	if (!hop_allowed(x, &a->addr))
		return CURL_SOCKET_BAD;
	return sock_open(x->h, a);
}

/* Before each request, on a new or a reused connection: the policy again,
 * with the address connected. */
static int prereq_cb(void *clientp, char *ip, char *local_ip, int port, int local_port)
{
	struct xfer *x = clientp;
	(void)local_ip, (void)port, (void)local_port;
	struct sockaddr_storage ss;
	memset(&ss, 0, sizeof(ss));
	char buf[INET6_ADDRSTRLEN + 1];
	snprintf(buf, sizeof(buf), "%.*s", (int)strcspn(ip, "%"), ip); /* no zone */
	struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
	if (inet_pton(AF_INET, buf, &s4->sin_addr) == 1)
		ss.ss_family = AF_INET;
	else if (inet_pton(AF_INET6, buf, &s6->sin6_addr) == 1)
		ss.ss_family = AF_INET6;
	else
		ss.ss_family = AF_UNSPEC;
	return hop_allowed(x, (struct sockaddr *)&ss) ? CURL_PREREQFUNC_OK : CURL_PREREQFUNC_ABORT;
}

/* The first body byte of a response: check it against the request. */
static int body_begin(struct xfer *x)
{
	const struct hub_http_get *r = x->req;
	struct hub_http_meta *m = &x->meta;
	m->etag[0] = '\0';
	snprintf(m->etag, sizeof(m->etag), "%s", x->etag);
	if (x->status == 206) {
		uint64_t a, b, total = 0;
		bool tk = false;
		if (!parse_content_range(x->crange, &a, &b, &tk, &total) || a == UINT64_MAX) {
			hub_warn("http: bad Content-Range \"%s\"", x->crange);
			return -EIO;
		}
		if (a > x->from) {
			hub_warn("http: Content-Range \"%s\" starts after the requested %llu",
				 x->crange, (unsigned long long)x->from);
			return -EIO;
		}
		if (x->have_len && x->len != b - a + 1) {
			hub_warn("http: Content-Length %llu does not match Content-Range \"%s\"",
				 (unsigned long long)x->len, x->crange);
			return -EIO;
		}
		if (tk) {
			if (r->size_known && total != r->size)
				return -ESTALE;
			m->size_known = true;
			m->size = total;
		}
		m->ranges = true;
		x->first = a;
	} else {
		/* 200: the whole file, whatever Range said */
		if (x->have_len) {
			if (r->size_known && x->len != r->size)
				return -ESTALE;
			m->size_known = true;
			m->size = x->len;
		}
		if (x->from)
			hub_debug("http: server ignored Range (200 for bytes %llu-)",
				  (unsigned long long)x->from);
		x->first = 0;
	}
	if (r->etag && r->etag[0] && x->etag[0] && !etag_equal(r->etag, x->etag))
		return -ESTALE;
	x->pos = x->first;
	if (r->meta)
		return r->meta(r->ctx, m);
	return 0;
}

static size_t write_cb(char *data, size_t size, size_t n, void *ud)
{
	struct xfer *x = ud;
	size_t len = size * n;
	if (!x->req)
		return len; /* HEAD: no body expected */
	if (!x->body_started) {
		x->body_started = true;
		read_response(x);
		if (x->status != 200 && x->status != 206) {
			x->body_error = true;
			return 0;
		}
		int rc = body_begin(x);
		if (rc < 0) {
			x->sink_rc = rc;
			return 0;
		}
	}
	__atomic_add_fetch(&x->h->stats.bytes, len, __ATOMIC_RELAXED);
	size_t give = len;
	if (x->end && x->pos + give > x->end)
		give = x->pos >= x->end ? 0 : (size_t)(x->end - x->pos);
	if (x->meta.size_known && x->pos + give > x->meta.size) {
		/* more than the announced total: never deliver past it */
		give = x->pos >= x->meta.size ? 0 : (size_t)(x->meta.size - x->pos);
	}
	if (give) {
		int rc = x->req->sink(x->req->ctx, x->pos, data, give);
		x->pos += give;
		if (rc < 0) {
			x->sink_rc = rc;
			return 0;
		}
		if (rc == HUB_HTTP_STOP) {
			x->done = true;
			return 0;
		}
	}
	if (give < len || (x->end && x->pos >= x->end)) {
		/* all that was wanted arrived; the rest of the body is not needed */
		x->done = true;
		return give == len ? len : 0;
	}
	return len;
}

static double mono_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Called about once a second when idle: cancellation, and the stall timeout
 * (no byte for stall_s).  CURLOPT_LOW_SPEED_* averages over ~5 s, so a stall
 * right after a fast burst would be seen only seconds late. */
static int progress_cb(void *ud, curl_off_t dt, curl_off_t dn, curl_off_t ut, curl_off_t un)
{
	struct xfer *x = ud;
	(void)dt;
	(void)ut;
	(void)un;
	if (is_cancelled(x->h))
		return 1;
	double now = mono_now();
	if (dn != x->last_dn || x->last_rx == 0) {
		x->last_dn = dn;
		x->last_rx = now;
	} else if (now - x->last_rx >= (double)x->stall_s) {
		x->stalled = true;
		return 1;
	}
	return 0;
}

/* HTTP status -> errno; *retry set when worth another attempt. */
static int status_errno(long status, bool *retry)
{
	*retry = false;
	if (status == 404 || status == 410)
		return -ENOENT;
	if (status == 401 || status == 403)
		return -EACCES;
	if (status == 408 || status == 429 || status >= 500) {
		*retry = true;
		return -EIO;
	}
	return -EIO;
}

/* curl code -> errno; *retry set for broken transfers. */
static int http_errno(CURLcode cc, CURL *c, bool got_response, bool *retry)
{
	*retry = false;
	long oserr = 0;
	switch (cc) {
	case CURLE_OK:
		return 0;
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_COULDNT_RESOLVE_PROXY:
		return -EHOSTUNREACH;
	case CURLE_COULDNT_CONNECT:
		curl_easy_getinfo(c, CURLINFO_OS_ERRNO, &oserr);
		if (oserr == ENETUNREACH)
			return -ENETUNREACH;
		if (oserr == EHOSTUNREACH)
			return -EHOSTUNREACH;
		if (oserr == ETIMEDOUT)
			return -ETIMEDOUT;
		return -ECONNREFUSED;
	case CURLE_OPERATION_TIMEDOUT:
		/* a connect timeout is final; a stall after connecting is retried */
		*retry = got_response;
		if (!got_response) {
			curl_off_t ct = 0;
			curl_easy_getinfo(c, CURLINFO_CONNECT_TIME_T, &ct);
			*retry = ct > 0;
		}
		return -ETIMEDOUT;
	case CURLE_PARTIAL_FILE:
	case CURLE_RECV_ERROR:
	case CURLE_SEND_ERROR:
	case CURLE_GOT_NOTHING:
	case CURLE_HTTP2:
	case CURLE_HTTP2_STREAM:
	case CURLE_HTTP3:
	case CURLE_QUIC_CONNECT_ERROR:
		*retry = true;
		return -EIO;
	case CURLE_SSL_CONNECT_ERROR:
	case CURLE_PEER_FAILED_VERIFICATION:
	case CURLE_SSL_CERTPROBLEM:
	case CURLE_SSL_CIPHER:
	case CURLE_SSL_CACERT_BADFILE:
	case CURLE_SSL_ISSUER_ERROR:
	case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
	case CURLE_SSL_INVALIDCERTSTATUS:
	case CURLE_SSL_CRL_BADFILE:
		return -EPROTO;
	case CURLE_TOO_MANY_REDIRECTS:
		return -ELOOP;
	case CURLE_ABORTED_BY_CALLBACK:
		return -ECANCELED;
	case CURLE_OUT_OF_MEMORY:
		return -ENOMEM;
	case CURLE_URL_MALFORMAT:
	case CURLE_UNSUPPORTED_PROTOCOL:
		return -EINVAL;
	default:
		return -EIO;
	}
}

static int setup(CURL *c, struct xfer *x, const char *url, const struct hub_http_tuning *t,
		 bool head)
{
	char range[64] = "";
	CURLcode cc = CURLE_OK;
#define SET(opt, val)                                                                   \
	do {                                                                            \
		if (cc == CURLE_OK)                                                     \
			cc = curl_easy_setopt(c, opt, val);                             \
	} while (0)
	x->c = c;
	SET(CURLOPT_URL, url);
	SET(CURLOPT_PROTOCOLS_STR, "http,https");
	/* never from https to http (longer chains: hop_allowed) */
	SET(CURLOPT_REDIR_PROTOCOLS_STR, strncasecmp(url, "https://", 8) ? "http,https" : "https");
	SET(CURLOPT_FOLLOWLOCATION, 1L);
	SET(CURLOPT_MAXREDIRS, (long)HUB_HTTP_MAX_REDIRS);
	SET(CURLOPT_SSL_VERIFYPEER, 1L);
	SET(CURLOPT_SSL_VERIFYHOST, 2L);
	if (x->h->cainfo)
		SET(CURLOPT_CAINFO, x->h->cainfo);
	if (x->h->capath)
		SET(CURLOPT_CAPATH, x->h->capath);
	SET(CURLOPT_NOSIGNAL, 1L);
	SET(CURLOPT_CONNECTTIMEOUT_MS, t->connect_timeout_ms);
	SET(CURLOPT_BUFFERSIZE, (long)HUB_HTTP_BUFFER_SIZE);
	SET(CURLOPT_TCP_KEEPALIVE, 1L);
	SET(CURLOPT_USERAGENT, "hubfs/" HUBFS_VERSION);
	SET(CURLOPT_WRITEFUNCTION, write_cb);
	SET(CURLOPT_WRITEDATA, x);
	SET(CURLOPT_NOPROGRESS, 0L);
	SET(CURLOPT_XFERINFOFUNCTION, progress_cb);
	SET(CURLOPT_XFERINFODATA, x);
	SET(CURLOPT_OPENSOCKETFUNCTION, open_cb);
	SET(CURLOPT_OPENSOCKETDATA, x);
	SET(CURLOPT_PREREQFUNCTION, prereq_cb);
	SET(CURLOPT_PREREQDATA, x);
	SET(CURLOPT_CLOSESOCKETFUNCTION, close_cb);
	SET(CURLOPT_CLOSESOCKETDATA, x->h);
	if (head) {
		SET(CURLOPT_NOBODY, 1L);
	} else {
		SET(CURLOPT_HTTPGET, 1L);
		if (x->from || x->end) {
			if (x->end)
				snprintf(range, sizeof(range), "%llu-%llu", (unsigned long long)x->from,
					 (unsigned long long)(x->end - 1));
			else
				snprintf(range, sizeof(range), "%llu-", (unsigned long long)x->from);
			SET(CURLOPT_RANGE, range);
		}
	}
#undef SET
	return cc == CURLE_OK ? 0 : -ENOMEM;
}

/* Retry-After of the last response in seconds: curl parses it (delta
 * seconds or an HTTP date, CURLINFO_RETRY_AFTER); -1 if absent or bad. */
static long retry_after_s(const struct xfer *x)
{
	if (!x->has_retry_after || !x->retry_after[0])
		return -1;
	curl_off_t s = 0;
	if (curl_easy_getinfo(x->c, CURLINFO_RETRY_AFTER, &s) != CURLE_OK)
		return -1;
	if (s > 0)
		return s > 86400 * 365 ? 86400L * 365 : (long)s;
	/* 0 (or a date in the past): curl says the same for a value it could
	 * not parse, which is no answer */
	uint64_t z;
	return parse_u64(x->retry_after, &z) || curl_getdate(x->retry_after, NULL) >= 0 ? 0 : -1;
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

enum outcome { OUT_DONE, OUT_RETRY, OUT_FAIL };

/* One attempt; fills *err on failure, *wait_s with Retry-After (or -1). */
static enum outcome attempt(struct xfer *x, CURL *c, const char *url,
			    const struct hub_http_tuning *t, bool head, int *err, long *wait_s,
			    char *why, size_t whysz)
{
	*err = 0;
	*wait_s = -1;
	why[0] = '\0';
	if (setup(c, x, url, t, head)) {
		*err = -ENOMEM;
		return OUT_FAIL;
	}
	__atomic_add_fetch(&x->h->stats.requests, 1, __ATOMIC_RELAXED);
	x->stall_s = t->stall_s;
	CURLcode cc = curl_easy_perform(c);
	read_response(x);
	if (cc == CURLE_ABORTED_BY_CALLBACK && x->stalled && !is_cancelled(x->h)) {
		*err = -ETIMEDOUT;
		snprintf(why, whysz, "no data for %ld s", t->stall_s);
		return OUT_RETRY;
	}
	if (is_cancelled(x->h)) {
		*err = -ECANCELED;
		snprintf(why, whysz, "cancelled");
		return OUT_FAIL;
	}
	if (x->refused && cc != CURLE_OK) {
		/* curl gave up because the policy refused (every address); a
		 * fresh handle next time, whatever state curl left this one in */
		x->spoiled = true;
		*err = x->refused;
		snprintf(why, whysz, "%s", x->refused_why);
		return OUT_FAIL;
	}
	/* libcurl 7.88 keeps its receive buffer after refusing a redirect's
	 * protocol, and then refuses CURLOPT_BUFFERSIZE on the reset handle */
	x->spoiled = cc == CURLE_UNSUPPORTED_PROTOCOL;
	if (cc == CURLE_UNSUPPORTED_PROTOCOL && x->status >= 300 && x->status < 400 &&
	    !strncasecmp(x->location, "http://", 7)) {
		/* curl refused to follow (CURLOPT_REDIR_PROTOCOLS_STR "https") */
		char u[512];
		url_for_log(u, sizeof(u), x->location);
		*err = -EPROTONOSUPPORT;
		snprintf(why, whysz, "redirect to %.300s refused: https is never downgraded to http", u);
		return OUT_FAIL;
	}
	if (x->sink_rc < 0) {
		*err = x->sink_rc;
		snprintf(why, whysz, "%s", x->sink_rc == -ESTALE ? "file changed upstream (ETag or size)"
								  : "aborted by the receiver");
		return OUT_FAIL;
	}
	if (x->done)
		return OUT_DONE;
	bool retry;
	if (x->body_error || (cc == CURLE_OK && (x->status < 200 || x->status >= 300))) {
		if (x->status == 416 && x->req) {
			/* Range Not Satisfiable: fine when the range starts at the end */
			uint64_t a, b, total = 0;
			bool tk = false;
			if (parse_content_range(x->crange, &a, &b, &tk, &total) && tk &&
			    x->from >= total) {
				x->meta.size_known = true;
				x->meta.size = total;
				return OUT_DONE;
			}
		}
		*err = status_errno(x->status, &retry);
		*wait_s = retry_after_s(x);
		snprintf(why, whysz, "HTTP %ld", x->status);
		return retry ? OUT_RETRY : OUT_FAIL;
	}
	if (cc != CURLE_OK) {
		*err = http_errno(cc, c, x->status > 0, &retry);
		snprintf(why, whysz, "%s", curl_easy_strerror(cc));
		return retry ? OUT_RETRY : OUT_FAIL;
	}
	if (head)
		return OUT_DONE;
	/* a clean end of body */
	if (!x->body_started) {
		/* empty body: an empty file */
		if (x->status == 200 && (!x->have_len || x->len == 0)) {
			x->meta.size_known = true;
			x->meta.size = 0;
			if (x->req->size_known && x->req->size != 0) {
				*err = -ESTALE;
				snprintf(why, whysz, "file changed upstream (empty)");
				return OUT_FAIL;
			}
			return OUT_DONE;
		}
		if (x->status == 206 || x->status == 200) {
			*err = -EIO;
			snprintf(why, whysz, "empty body");
			return OUT_RETRY;
		}
	}
	if (x->meta.size_known) {
		uint64_t want = x->end && x->end < x->meta.size ? x->end : x->meta.size;
		if (x->pos >= want)
			return OUT_DONE;
		*err = -EIO;
		snprintf(why, whysz, "body ended at %llu of %llu", (unsigned long long)x->pos,
			 (unsigned long long)want);
		return OUT_RETRY;
	}
	/* no length anywhere: the end of the body is the end of the file (for a
	 * 206 without total, a range cut short by the server ends at the end) */
	x->meta.size_known = true;
	x->meta.size = x->pos;
	if (x->req->size_known && x->req->size != x->pos) {
		*err = -EIO;
		snprintf(why, whysz, "body ended at %llu of %llu", (unsigned long long)x->pos,
			 (unsigned long long)x->req->size);
		return OUT_RETRY;
	}
	return OUT_DONE;
}

static void log_failure(const char *verb, const char *url, int err, const char *why, int attempts)
{
	char u[512];
	url_for_log(u, sizeof(u), url);
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
		pol.trusted = url_origin(url, pol.host, sizeof(pol.host), &pol.port);
	int fails = 0, attempts = 0, err = 0;
	char why[400] = "";
	uint64_t resume = x->req ? x->req->off : 0, best = resume;
	for (;;) {
		if (is_cancelled(h)) {
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
		enum outcome o = attempt(x, c, url, &t, head, &err, &wait_s, why, sizeof(why));
		if (o == OUT_DONE) {
			err = 0;
			break;
		}
		if (o == OUT_FAIL)
			break;
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
		url_for_log(u, sizeof(u), url);
		hub_info("http: %s %s: %s; retrying from byte %llu in %ld ms", head ? "HEAD" : "GET",
			 u, why, (unsigned long long)resume, ms);
		if (backoff_sleep(h, ms)) {
			err = -ECANCELED;
			break;
		}
	}
	if (!err) {
		char *eff = NULL;
		curl_easy_getinfo(c, CURLINFO_EFFECTIVE_URL, &eff);
		if (eff)
			snprintf(x->meta.url, sizeof(x->meta.url), "%s", eff);
	}
	if (err)
		log_failure(head ? "HEAD" : "GET", url, err, why, attempts);
	if (x->spoiled)
		curl_easy_cleanup(c);
	else
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
