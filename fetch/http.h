/*
 * HTTP(S) client for weight files, on libcurl easy handles: HEAD, and GET of
 * a byte range streamed into a callback, with redirects followed, TLS
 * verified, connect and stall timeouts, and retries with jittered
 * exponential backoff that resume by Range from the last byte delivered.
 * URLs are used as given: rewrite rules are the caller's (hub_rewrite_apply).
 *
 * Address policy (hub_http_set_policy): every connection, the first and
 * each one after a redirect, and each address of a DNS answer, is checked
 * where the socket is opened, on the address actually connected (so DNS
 * rebinding cannot get around it), and again before each request on a
 * reused connection.  Only public addresses (fetch/addr.h) are allowed,
 * unless:
 *   - allow_private is set: any address;
 *   - the request URL is a rewrite target (hub_rewrite_produced: the
 *     administrator's rule produced it): its own host:port may be private,
 *     and so may redirects to that same host:port; a redirect elsewhere
 *     must be public.
 * Redirects never go from https to http (also not http -> https -> http).
 * Proxy: hub_http_set_proxy's URL, else libcurl's environment (http_proxy,
 * https_proxy, all_proxy; no_proxy in both cases).  The proxy is the
 * administrator's, like a rewrite target: a connection to one of its
 * addresses at its port is allowed even when that address is private;
 * through a proxy there is no other connection to check (the proxy
 * connects to the target).
 *
 * The one place where curl codes and HTTP statuses become errnos:
 *   -ENOENT        404, 410
 *   -EACCES        401, 403
 *   -EIO           5xx or 429 after the retries, other 4xx, a body shorter
 *                  than announced after the retries, a bad Content-Range
 *   -ETIMEDOUT     connect timeout, or stalls after the retries
 *   -ECONNREFUSED, -EHOSTUNREACH (also DNS failure), -ENETUNREACH
 *   -EPROTO        TLS handshake or certificate verification failed
 *   -ELOOP         too many redirects
 *   -ESTALE        the file changed upstream: ETag or total size differ from
 *                  the expected ones (the caller restarts from scratch)
 *   -ECANCELED     hub_http_cancel() was called
 *   -EINVAL        malformed or unsupported URL
 *   -EPERM         the address policy refused a connection (loopback,
 *                  private, link-local... address; logged with host and
 *                  address)
 *   -EPROTONOSUPPORT  a redirect from https to http was refused
 *   -ENOMEM
 * and a sink's own -errno.  Failures are logged (warning) with the reason;
 * -ENOENT at info level.
 *
 * Thread-safe: any number of threads may run requests on one client at once.
 */
#ifndef HUB_FETCH_HTTP_H
#define HUB_FETCH_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/limits.h"

struct hub_http;
struct hub_rewrites;

/* A client: a pool of easy handles (connections kept for reuse) and a
 * cancel switch. */
int hub_http_new(struct hub_http **out);
/* Frees the client; no request may be running (cancel and wait first). */
void hub_http_free(struct hub_http *h);
/* Abort every running request (its sockets are shut down, backoff sleeps
 * wake) and make later ones fail: they return -ECANCELED.  Async-safe with
 * respect to the requests; returns at once. */
void hub_http_cancel(struct hub_http *h);
/* The address policy (above): allow_private, and the rewrite rules whose
 * targets are trusted (fetch/rewrite.h; NULL: none), which must outlive the
 * client.  Without a call, only public addresses are allowed and nothing is
 * a rewrite target.  Call before any request. */
void hub_http_set_policy(struct hub_http *h, bool allow_private,
			 const struct hub_rewrites *rewrites);

/* Weight downloads go through the proxy at url ("http://host:port",
 * "https://...", "socks5h://..."; no port: 1080) instead of the
 * environment's; NULL or "": the environment's.  Copied.  Call before any
 * request.  Returns 0 or -ENOMEM. */
int hub_http_set_proxy(struct hub_http *h, const char *url);

/* Create a pooled handle now, after the setters: the first handle of a
 * process costs ~0.7 ms (libcurl's set-up, its code paged in), which a
 * daemon pays at start rather than in the first request it serves (the
 * first byte of a cold file).  Optional; 0 or -ENOMEM. */
int hub_http_prepare(struct hub_http *h);

/* What a response says about the file. */
struct hub_http_meta {
	bool size_known;
	uint64_t size;                      /* total size of the file */
	char etag[HUB_HTTP_HEADER_MAX];     /* "" when the server sent none */
	char url[HUB_URL_MAX];              /* after redirects */
	bool ranges;                        /* the server honours Range */
};

/* HEAD url.  When the HEAD is refused (403/405/501: signed URLs often are)
 * or gives no size, a GET of bytes 0-0 is tried for Content-Range. */
int hub_http_head(struct hub_http_meta *out, struct hub_http *h, const char *url);

/* Receives body bytes: `off` is the offset of data[0] in the file.  Offsets
 * only grow within one response, but a retry may start again lower, and a
 * server that ignores Range sends the file from offset 0: bytes before the
 * requested offset are delivered too (they are the file's bytes; the sink
 * may keep or ignore them).  Returns 0 to go on, HUB_HTTP_STOP to end the
 * request successfully now, or -errno to abort it with that error. */
#define HUB_HTTP_STOP 1
typedef int (*hub_http_sink_fn)(void *ctx, uint64_t off, const char *data, size_t len);
/* Called once per response before its first body byte (also on retries),
 * with what the response says; may be NULL.  Returns 0 or -errno (abort). */
typedef int (*hub_http_meta_fn)(void *ctx, const struct hub_http_meta *m);

struct hub_http_get {
	const char *url;
	uint64_t off;            /* first byte wanted */
	uint64_t end;            /* one past the last byte wanted; 0: to the end of the file */
	bool size_known;         /* the caller knows the file's size: */
	uint64_t size;           /*   a response with another total fails -ESTALE */
	const char *etag;        /* expected ETag, or NULL/"": another one fails -ESTALE */
	hub_http_sink_fn sink;
	hub_http_meta_fn meta;
	void *ctx;
};

/* GET [off, end) of a file, retrying and resuming as the header says, until
 * every byte of the range was delivered (or the file ended: with no size
 * known and no `end`, a clean end of body is the end of the file).
 * *out_meta (may be NULL) receives the last response's metadata; its size is
 * also learned from the end of a body when the server sent no length. */
int hub_http_get(struct hub_http_meta *out_meta, struct hub_http *h,
		 const struct hub_http_get *req);

/* Timeouts and retry policy.  Defaults from base/limits.h; tests lower them
 * with hub_http_set_tuning (process-wide, call before any request). */
struct hub_http_tuning {
	long connect_timeout_ms;
	long stall_s;            /* no byte for this long: the transfer is broken */
	int retries;             /* attempts without progress */
	long backoff_base_ms;
	long backoff_max_ms;
	long retry_after_max_s;
};
void hub_http_tuning_default(struct hub_http_tuning *out);
void hub_http_set_tuning(const struct hub_http_tuning *t);

/* Counters of one client, for tests and /.hubfs/. */
struct hub_http_stats {
	uint64_t requests;       /* HTTP requests sent (each attempt counts) */
	uint64_t retries;
	uint64_t bytes;          /* body bytes received */
};
void hub_http_stats(struct hub_http_stats *out, struct hub_http *h);

#endif
