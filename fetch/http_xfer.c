/*
 * One attempt of an HTTP request (http.c runs the attempts): the request's
 * options on an easy handle, the last response's status and headers from
 * libcurl's header store, the checks of the body's first byte against what
 * the caller expects, stall detection, and the one mapping of curl codes
 * and HTTP statuses to errno (http.h lists it).  An xfer belongs to the
 * thread running its request; no locks here.
 */
#include "fetch/http_int.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "base/log.h"

#ifndef HUBFS_VERSION
#define HUBFS_VERSION "0"
#endif

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
	if (hub_http_is_cancelled(x->h))
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

/* curl_easy_setopt until the first failure (cc, c in scope) */
#define SET(opt, val)                                                                   \
	do {                                                                            \
		if (cc == CURLE_OK)                                                     \
			cc = curl_easy_setopt(c, opt, val);                             \
	} while (0)

/* What every request of a handle shares, set once when the handle is made
 * (http_int.h).  A handle is never curl_easy_reset: libcurl 7.88 refuses
 * CURLOPT_BUFFERSIZE on a handle reset after some failures (a DNS failure,
 * a refused redirect), and a handle whose attempt failed is discarded
 * anyway (hub_http_attempt). */
int hub_http_handle_init(CURL *c, struct hub_http *h)
{
	CURLcode cc = CURLE_OK;
	SET(CURLOPT_PROTOCOLS_STR, "http,https");
	SET(CURLOPT_FOLLOWLOCATION, 1L);
	SET(CURLOPT_MAXREDIRS, (long)HUB_HTTP_MAX_REDIRS);
	SET(CURLOPT_SSL_VERIFYPEER, 1L);
	SET(CURLOPT_SSL_VERIFYHOST, 2L);
	if (h->cainfo)
		SET(CURLOPT_CAINFO, h->cainfo);
	if (h->capath)
		SET(CURLOPT_CAPATH, h->capath);
	SET(CURLOPT_NOSIGNAL, 1L);
	SET(CURLOPT_BUFFERSIZE, (long)HUB_HTTP_BUFFER_SIZE);
	SET(CURLOPT_TCP_KEEPALIVE, 1L);
	SET(CURLOPT_USERAGENT, "hubfs/" HUBFS_VERSION);
	SET(CURLOPT_WRITEFUNCTION, write_cb);
	SET(CURLOPT_NOPROGRESS, 0L);
	SET(CURLOPT_XFERINFOFUNCTION, progress_cb);
	SET(CURLOPT_OPENSOCKETFUNCTION, hub_http_open_cb);
	SET(CURLOPT_PREREQFUNCTION, hub_http_prereq_cb);
	SET(CURLOPT_CLOSESOCKETFUNCTION, hub_http_close_cb);
	SET(CURLOPT_CLOSESOCKETDATA, h);
	if (cc != CURLE_OK)
		hub_warn("http: cannot set up a handle: %s", curl_easy_strerror(cc));
	return cc == CURLE_OK ? 0 : -ENOMEM;
}

/* What this request sets: every option a previous request on the handle
 * may have set differently. */
static int setup(CURL *c, struct xfer *x, const char *url, const struct hub_http_tuning *t,
		 bool head)
{
	char range[64] = "";
	CURLcode cc = CURLE_OK;
	x->c = c;
	SET(CURLOPT_URL, url);
	/* never from https to http (longer chains: hop_allowed) */
	SET(CURLOPT_REDIR_PROTOCOLS_STR, strncasecmp(url, "https://", 8) ? "http,https" : "https");
	SET(CURLOPT_CONNECTTIMEOUT_MS, t->connect_timeout_ms);
	SET(CURLOPT_WRITEDATA, x);
	SET(CURLOPT_XFERINFODATA, x);
	SET(CURLOPT_OPENSOCKETDATA, x);
	SET(CURLOPT_PREREQDATA, x);
	if (head) {
		SET(CURLOPT_NOBODY, 1L);
	} else {
		SET(CURLOPT_HTTPGET, 1L); /* also NOBODY off */
		if (x->from || x->end) {
			if (x->end)
				snprintf(range, sizeof(range), "%llu-%llu", (unsigned long long)x->from,
					 (unsigned long long)(x->end - 1));
			else
				snprintf(range, sizeof(range), "%llu-", (unsigned long long)x->from);
		}
	}
	SET(CURLOPT_RANGE, range[0] ? range : NULL);
	if (cc != CURLE_OK)
		hub_warn("http: cannot set up a request: %s", curl_easy_strerror(cc));
	return cc == CURLE_OK ? 0 : -ENOMEM;
}
#undef SET

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

/* One attempt (http_int.h). */
enum outcome hub_http_attempt(struct xfer *x, CURL *c, const char *url,
			    const struct hub_http_tuning *t, bool head, int *err, long *wait_s,
			    char *why, size_t whysz)
{
	*err = 0;
	*wait_s = -1;
	why[0] = '\0';
	if (setup(c, x, url, t, head)) {
		x->spoiled = true;
		*err = -ENOMEM;
		return OUT_FAIL;
	}
	__atomic_add_fetch(&x->h->stats.requests, 1, __ATOMIC_RELAXED);
	x->stall_s = t->stall_s;
	CURLcode cc = curl_easy_perform(c);
	read_response(x);
	/* A handle whose transfer failed is not reused, whatever the failure
	 * (a DNS failure, a cut, a refused redirect, a stop by the receiver):
	 * libcurl may keep state from it that spoils the next request, so a
	 * failure costs that one attempt, never the next ones. */
	x->spoiled = cc != CURLE_OK;
	if (cc == CURLE_ABORTED_BY_CALLBACK && x->stalled && !hub_http_is_cancelled(x->h)) {
		*err = -ETIMEDOUT;
		snprintf(why, whysz, "no data for %ld s", t->stall_s);
		return OUT_RETRY;
	}
	if (hub_http_is_cancelled(x->h)) {
		*err = -ECANCELED;
		snprintf(why, whysz, "cancelled");
		return OUT_FAIL;
	}
	if (x->refused && cc != CURLE_OK) {
		/* curl gave up because the policy refused (every address) */
		*err = x->refused;
		snprintf(why, whysz, "%s", x->refused_why);
		return OUT_FAIL;
	}
	if (cc == CURLE_UNSUPPORTED_PROTOCOL && x->status >= 300 && x->status < 400 &&
	    !strncasecmp(x->location, "http://", 7)) {
		/* curl refused to follow (CURLOPT_REDIR_PROTOCOLS_STR "https") */
		char u[512];
		hub_http_url_for_log(u, sizeof(u), x->location);
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

