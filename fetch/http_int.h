/*
 * The insides of the HTTP client, shared by its three files and no one else:
 *   http.c         the client: libcurl's global init, tuning, the handle
 *                  pool and socket list, the retry loop, HEAD and GET
 *   http_xfer.c    one attempt: request options, the response's status and
 *                  headers, the body's checks, curl codes and statuses to errno
 *   http_policy.c  the address policy (which address a hop may connect to)
 * Locks: see http.c's DESIGN (h->lock guards the pool, the sockets and
 * `cancelled`; an xfer belongs to the thread running its request).
 */
#ifndef HUBFS_FETCH_HTTP_INT_H
#define HUBFS_FETCH_HTTP_INT_H

#include <curl/curl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "base/limits.h"
#include "base/redact.h"
#include "fetch/http.h"

/* ---- the client (http.c) ---- */

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


static inline bool hub_http_is_cancelled(struct hub_http *h)
{
	return __atomic_load_n(&h->cancelled, __ATOMIC_ACQUIRE);
}

/* A URL for the log: no user:password@, no query values, no control bytes. */
static inline void hub_http_url_for_log(char *out, size_t outsz, const char *url)
{
	hub_redact_url(out, outsz, url);
}

/* ---- one attempt (http_xfer.c) ---- */

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
	bool spoiled;      /* the attempt failed: the handle is not reused */
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


enum outcome { OUT_DONE, OUT_RETRY, OUT_FAIL };

/* http.c */
curl_socket_t hub_http_sock_open(struct hub_http *h, struct curl_sockaddr *a);
int hub_http_close_cb(void *clientp, curl_socket_t fd);

/* http_xfer.c: the options every request of a new handle shares (once per
 * handle; -ENOMEM if curl refuses one) */
int hub_http_handle_init(CURL *c, struct hub_http *h);
/* http_xfer.c: one attempt; fills *err on failure, *wait_s with Retry-After
 * (or -1), why with the reason for the log. */
enum outcome hub_http_attempt(struct xfer *x, CURL *c, const char *url,
			      const struct hub_http_tuning *t, bool head, int *err, long *wait_s,
			      char *why, size_t whysz);

/* http_policy.c */
bool hub_http_url_origin(const char *url, char *host, size_t hostsz, long *port);
curl_socket_t hub_http_open_cb(void *clientp, curlsocktype purpose, struct curl_sockaddr *a);
int hub_http_prereq_cb(void *clientp, char *ip, char *local_ip, int port, int local_port);

#endif
