/*
 * DESIGN
 * Thin layer over libgit2 for the two network operations hubfs needs: list a
 * remote's refs (one connection, no objects; here) and fetch some refspecs,
 * shallow when asked, into a bare repository of the cache (git_fetch.c).
 * This file owns what every remote operation shares: its struct op, the
 * token, the credentials and transport options, the deadline and the
 * mapping of libgit2 errors; the smart transport wrapper is git_wire.c's.  The cache's bare
 * repository on disk (creation, fetch lock, shallow file) is gitdir.c's.
 *
 * Remotes are anonymous (no [remote] section is ever written) and skip git's
 * url.insteadOf: URL rewriting is hubfs's own `-o rewrite`.  Fetches never
 * prune, never follow tags and leave FETCH_HEAD empty (libgit2 1.8 still
 * creates it), so the only refs a fetch changes are its refspecs' targets.
 *
 * Bounds: connect and per-read timeouts are libgit2 globals set once in
 * hub_git_global_init (HUB_GIT_CONNECT_TIMEOUT_MS, HUB_GIT_IO_TIMEOUT_MS); the
 * whole fetch is bounded by HUB_GIT_FETCH_MAX_SECONDS, checked in the
 * progress callbacks (the server's sideband messages while it counts and
 * compresses, the indexer's progress while the pack arrives).  A server that
 * sends nothing at all is bounded by the read timeout.
 *
 * Errors: libgit2 reports an int code and a thread-local message.  The one
 * mapping to -errno is hub_git_errno(); it reads the message because libgit2
 * gives most network failures the generic code -1 (git daemon's "not
 * exported", HTTP status codes, refused connections).  Each failure is logged
 * once with the URL (credentials stripped) and libgit2's message: "does not
 * exist" at info level (an expected answer), everything else as a warning.
 *
 * GITHUB_TOKEN goes only where hub_git_token_allowed says (git.h): github.com
 * or a token_host=, judged on the URL this call fetches, i.e. after the
 * rewrite rules; the credentials callback checks the URL libgit2 hands it
 * again.  A 401 from a host that did not get the token is "not found", and
 * the log line says that the token was withheld.
 *
 * libgit2 1.8 bugs worked around, each where it is handled:
 *   - shallow fetch over git:// sends its wants twice (git_wire.c, wire_write);
 *   - upload-pack's "ERR not our ref" is reported as a protocol error
 *     (git_wire.c, sniff_err);
 *   - the shallow file keeps only the last fetch's roots (gitdir.c,
 *     hub_git_shallow_repair);
 *   - a 401 with a body breaks the credential replay (set_auth_header);
 *   - git_remote_fetch leaks custom headers when it fails to connect
 *     (git_fetch.c).
 *
 * Threads and locks: no state of ours is shared but two flags written once by
 * hub_git_global_init and the token hosts written once by
 * hub_git_set_token_hosts; each call owns its remote, repository and struct op
 * (the callbacks' payload), and libgit2's error message is thread-local.
 * No lock is taken here; fetches into one gitdir are serialized by
 * gitdir.c's flock on <gitdir>/hubfs-fetch.lock.
 */
#include "fetch/git.h"
#include "fetch/git_int.h"

#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <git2.h>
#include <git2/sys/errors.h>

#include "base/limits.h"
#include "base/log.h"
#include "base/redact.h"
#include "base/stop.h"

#define PEELED_SUFFIX "^{}"
#define TOKEN_USER "x-access-token"

static bool has_suffix(const char *s, size_t len, const char *suffix)
{
	size_t n = strlen(suffix);
	return len >= n && memcmp(s + len - n, suffix, n) == 0;
}

/*
 * The token goes out with the first request, as git does once a credential
 * helper knows it: GitHub answers a request without it with 401, which would
 * cost a round trip, and libgit2 1.8 then fails to replay the request when
 * that 401 had a body ("http parser error: invalid constant string").
 */
static void set_auth_header(struct op *op)
{
	static const char b64[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	char plain[1100];
	int n = snprintf(plain, sizeof(plain), "%s:%s", TOKEN_USER, op->token);
	if (n < 0 || (size_t)n >= sizeof(plain))
		return; /* absurdly long: the credentials callback still has it */
	char *o = op->auth + sprintf(op->auth, "Authorization: Basic ");
	for (int i = 0; i < n; i += 3) {
		unsigned v = (unsigned char)plain[i] << 16;
		if (i + 1 < n)
			v |= (unsigned char)plain[i + 1] << 8;
		if (i + 2 < n)
			v |= (unsigned char)plain[i + 2];
		*o++ = b64[(v >> 18) & 63];
		*o++ = b64[(v >> 12) & 63];
		*o++ = i + 1 < n ? b64[(v >> 6) & 63] : '=';
		*o++ = i + 2 < n ? b64[v & 63] : '=';
	}
	*o = '\0';
	op->headers[0] = op->auth;
	op->custom_headers.strings = op->headers;
	op->custom_headers.count = 1;
}

/* token_host= hosts (hub_git_set_token_hosts), written before any fetch. */
static char **token_hosts;
static size_t n_token_hosts;

int hub_git_set_token_hosts(const char *const *hosts, size_t n)
{
	for (size_t i = 0; i < n_token_hosts; i++)
		free(token_hosts[i]);
	free(token_hosts);
	token_hosts = NULL;
	n_token_hosts = 0;
	if (n == 0)
		return 0;
	token_hosts = calloc(n, sizeof(*token_hosts));
	if (!token_hosts)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		if (!(token_hosts[i] = strdup(hosts[i]))) {
			n_token_hosts = i;
			hub_git_set_token_hosts(NULL, 0);
			return -ENOMEM;
		}
	}
	n_token_hosts = n;
	return 0;
}

/* A host for comparison: without IPv6 brackets and a final '.'; false if
 * it does not fit. */
static bool host_key(char *out, size_t outsz, const char *host)
{
	size_t n = strlen(host);
	if (n >= 2 && host[0] == '[' && host[n - 1] == ']') {
		host++;
		n -= 2;
	}
	if (n > 1 && host[n - 1] == '.')
		n--;
	if (n == 0 || n >= outsz)
		return false;
	memcpy(out, host, n);
	out[n] = '\0';
	return true;
}

static bool host_is(const char *key, const char *host)
{
	char other[HUB_HOST_MAX + 3];
	return host_key(other, sizeof(other), host) && strcasecmp(key, other) == 0;
}

bool hub_git_token_allowed(const char *url, const char *const *hosts, size_t n)
{
	if (!url || strncasecmp(url, "https://", 8) != 0)
		return false;
	/* Bytes that URL parsers read in different ways (libgit2 has its own):
	 * no token rather than a guess.  '%' in the authority likewise. */
	for (const unsigned char *p = (const unsigned char *)url; *p; p++)
		if (*p <= 0x20 || *p >= 0x7f || *p == '\\')
			return false;
	const char *auth = url + 8;
	if (memchr(auth, '%', strcspn(auth, "/?#")))
		return false;
	CURLU *u = curl_url();
	if (!u)
		return false;
	char *scheme = NULL, *user = NULL, *pass = NULL, *host = NULL;
	char key[HUB_HOST_MAX + 3];
	bool ok = curl_url_set(u, CURLUPART_URL, url, CURLU_NON_SUPPORT_SCHEME) == CURLUE_OK &&
		  curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) == CURLUE_OK &&
		  strcasecmp(scheme, "https") == 0 &&
		  curl_url_get(u, CURLUPART_USER, &user, 0) == CURLUE_NO_USER &&
		  curl_url_get(u, CURLUPART_PASSWORD, &pass, 0) == CURLUE_NO_PASSWORD &&
		  curl_url_get(u, CURLUPART_HOST, &host, 0) == CURLUE_OK &&
		  host_key(key, sizeof(key), host);
	bool allowed = ok && host_is(key, HUB_GIT_TOKEN_HOST);
	for (size_t i = 0; ok && !allowed && i < n; i++)
		allowed = hosts[i] && host_is(key, hosts[i]);
	curl_free(scheme);
	curl_free(user);
	curl_free(pass);
	curl_free(host);
	curl_url_cleanup(u);
	return allowed;
}

static bool token_allowed(const char *url)
{
	return hub_git_token_allowed(url, (const char *const *)token_hosts, n_token_hosts);
}

void hub_git_op_init(struct op *op, const char *what, const char *url, int max_seconds)
{
	memset(op, 0, sizeof(*op));
	op->what = what;
	op->url = url;
	const char *token = getenv("GITHUB_TOKEN");
	if (token && *token && token_allowed(url)) {
		op->token = token;
		set_auth_header(op);
	} else if (token && *token) {
		op->token_withheld = true;
	}
	if (max_seconds > 0) {
		clock_gettime(CLOCK_MONOTONIC, &op->deadline);
		op->deadline.tv_sec += max_seconds;
	}
}

/* The URL for the log: no credentials, query or control characters. */
const char *hub_git_url_for_log(char *buf, size_t size, const char *url)
{
	hub_redact_url(buf, size, url);
	return buf;
}

/* Does msg contain the description of errno e ("Connection refused")? */
static bool msg_has_errno(const char *msg, int e)
{
	const char *desc = strerrordesc_np(e);
	return desc && strcasestr(msg, desc) != NULL;
}

/* An HTTP status code in libgit2's "unexpected http status code: 404". */
static int http_status(const char *msg)
{
	const char *p = strcasestr(msg, "status code: ");
	if (!p)
		return 0;
	return atoi(p + strlen("status code: "));
}

/*
 * The one mapping of libgit2 failures to -errno (table in git.h; git_int.h).
 * rc is libgit2's return code, msg its message for this failure, op the
 * remote operation or NULL for a read of the local object database (odb.c).
 * "Does not exist" must be told apart from "could not ask": only the former
 * may become ENOENT, which the caller remembers.
 */
int hub_git_errno(int rc, const char *msg, const struct op *op)
{
	if (!op) {
		/* A read of the local object database: no network words. */
		(void)msg;
		switch (rc) {
		case GIT_ENOTFOUND:
		case GIT_EAMBIGUOUS:
			return -ENOENT;
		case GIT_EBUFS:
			return -ENAMETOOLONG;
		default:
			return -EIO;
		}
	}
	if (op->deadline_hit)
		return -ETIMEDOUT;
	if (rc == GIT_TIMEOUT)
		return -ETIMEDOUT;
	if (rc == GIT_EAUTH)
		/* 401: without a token GitHub answers so for private and
		 * missing repos alike, which are the same thing to us. */
		return op && op->cred_asked > 0 && op->token ? -EACCES : -ENOENT;

	static const char *const missing[] = {
		"repository not exported", /* git daemon */
		"repository not found",    /* GitHub, gitea, gitlab */
		"could not find repository", /* libgit2, local path */
		"does not appear to be a git repository", /* git over ssh */
		"not our ref",     /* upload-pack: unknown object id wanted */
		"target oid for the reference doesn't exist", /* local: same */
		"no such repository",
	};
	for (size_t i = 0; i < sizeof(missing) / sizeof(missing[0]); i++)
		if (strcasestr(msg, missing[i]))
			return -ENOENT;

	switch (http_status(msg)) {
	case 0:
		break;
	case 401:
		return op && op->token ? -EACCES : -ENOENT;
	case 403:
		return -EACCES;
	case 404:
	case 410:
		return -ENOENT;
	default:
		return -EIO; /* 429, 5xx, ... : transient */
	}

	static const int net[] = {ECONNREFUSED, EHOSTUNREACH, ENETUNREACH, ETIMEDOUT};
	for (size_t i = 0; i < sizeof(net) / sizeof(net[0]); i++)
		if (msg_has_errno(msg, net[i]))
			return -net[i];
	if (strcasestr(msg, "timed out"))
		return -ETIMEDOUT;
	if (strcasestr(msg, "failed to resolve address"))
		return -EHOSTUNREACH; /* DNS: transient as far as we can tell */
	if (strcasestr(msg, "failed to resolve path") && msg_has_errno(msg, ENOENT))
		return -ENOENT; /* file:// URL of a path that does not exist */
	if (strcasestr(msg, "unsupported URL protocol") && op && !strstr(op->url, "://") &&
	    access(op->url, F_OK) < 0 && errno == ENOENT)
		return -ENOENT; /* libgit2's answer for a local path that does not exist */
	if (strcasestr(msg, "cannot fetch a specific object"))
		return -ENOTSUP; /* the server allows no object ids in want */
	return -EIO;
}

const char *hub_git_last_message(void)
{
	const git_error *e = git_error_last();
	return e && e->message ? e->message : "?";
}

/* Map and log the current libgit2 failure of op; returns -errno. */
int hub_git_op_fail(const struct op *op, int rc, const char *step)
{
	const git_error *e = git_error_last();
	const char *msg = e && e->message && *e->message ? e->message : "unknown error";
	char both[512];
	if (op->remote_err[0] && !strstr(msg, op->remote_err)) {
		snprintf(both, sizeof(both), "%s (server: %s)", msg, op->remote_err);
		msg = both;
	}
	int err = hub_git_errno(rc, msg, op);
	char buf[HUB_URL_MAX];
	const char *url = hub_git_url_for_log(buf, sizeof(buf), op->url);
	/* libgit2 quotes a URL it cannot parse ("malformed URL '...'"): the
	 * log gets the redacted one */
	char safe[HUB_URL_MAX + 512];
	const char *hit = op->url[0] ? strstr(msg, op->url) : NULL;
	if (hit) {
		snprintf(safe, sizeof(safe), "%.*s%s%s", (int)(hit - msg), msg, url,
			 hit + strlen(op->url));
		msg = safe;
	}
	if (op->deadline_hit)
		hub_warn("git %s %s: %s: gave up after %d s (%s)", op->what, url, step,
			 HUB_GIT_FETCH_MAX_SECONDS, msg);
	else if (err == -ENOENT)
		hub_info("git %s %s: %s: not found upstream: %s (libgit2 %d)%s", op->what, url,
			 step, msg, rc,
			 op->token_withheld && op->cred_asked > 0
				 ? "; GITHUB_TOKEN was not sent: not a token host (token_host=)"
				 : "");
	else
		hub_warn("git %s %s: %s: %s (libgit2 %d, %s)", op->what, url, step, msg, rc,
			 strerrorname_np(-err));
	return err;
}

/* A failure that is not libgit2's (allocation, file system). */
int hub_git_op_fail_errno(const struct op *op, int err, const char *step)
{
	char buf[HUB_URL_MAX];
	hub_warn("git %s %s: %s: %s", op->what, hub_git_url_for_log(buf, sizeof(buf), op->url), step,
		 strerror(err));
	return -err;
}

static bool past_deadline(struct op *op)
{
	if (hub_stop_requested()) { /* SIGTERM: end the transfer now (base/stop.h) */
		git_error_set_str(GIT_ERROR_NET, "hubfs is stopping");
		return true;
	}
	if (op->deadline.tv_sec == 0)
		return false;
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	if (now.tv_sec > op->deadline.tv_sec ||
	    (now.tv_sec == op->deadline.tv_sec && now.tv_nsec >= op->deadline.tv_nsec)) {
		op->deadline_hit = true;
		git_error_set_str(GIT_ERROR_NET, "fetch deadline exceeded");
		return true;
	}
	return false;
}

static int cb_sideband(const char *str, int len, void *payload)
{
	(void)str;
	(void)len;
	return past_deadline(payload) ? -1 : 0;
}

static int cb_transfer(const git_indexer_progress *stats, void *payload)
{
	(void)stats;
	return past_deadline(payload) ? -1 : 0;
}

/* The token once, then give up: libgit2 asks again after every 401. */
static int cb_credentials(git_credential **out, const char *url, const char *username,
			  unsigned int allowed, void *payload)
{
	struct op *op = payload;
	(void)username;
	op->cred_asked++;
	if (!op->token || !(allowed & GIT_CREDENTIAL_USERPASS_PLAINTEXT))
		return GIT_PASSTHROUGH; /* libgit2: "no callback set", GIT_EAUTH */
	if (url && !token_allowed(url)) {
		op->token_withheld = true; /* where libgit2 went is not a token host */
		return GIT_PASSTHROUGH;
	}
	if (op->cred_asked > 1 || op->auth[0]) {
		git_error_set_str(GIT_ERROR_HTTP, "GITHUB_TOKEN was refused");
		return GIT_EAUTH;
	}
	return git_credential_userpass_plaintext_new(out, TOKEN_USER, op->token);
}

static void callbacks_init(git_remote_callbacks *cb, struct op *op)
{
	git_remote_init_callbacks(cb, GIT_REMOTE_CALLBACKS_VERSION);
	cb->credentials = cb_credentials;
	cb->sideband_progress = cb_sideband;
	cb->transfer_progress = cb_transfer;
	cb->payload = op;
	/* certificate_check stays NULL: libgit2 then refuses invalid certificates. */
	hub_git_wire_attach(cb, op);
}

/* Transport options of every connection: proxies as git finds them
 * (http.proxy, https_proxy, no_proxy), the token's header, redirects. */
void hub_git_connect_opts_init(git_remote_connect_options *copts, struct op *op)
{
	git_remote_connect_options_init(copts, GIT_REMOTE_CONNECT_OPTIONS_VERSION);
	callbacks_init(&copts->callbacks, op);
	copts->proxy_opts.type = GIT_PROXY_AUTO;
	/* GitHub redirects renamed repositories within github.com; a token
	 * never follows a redirect to another host. */
	copts->follow_redirects =
		op->auth[0] ? GIT_REMOTE_REDIRECT_NONE : GIT_REMOTE_REDIRECT_INITIAL;
	copts->custom_headers = op->custom_headers;
}

void hub_git_op_dispose(struct op *op)
{
	explicit_bzero(op->auth, sizeof(op->auth));
}

static bool sigpipe_ignored; /* by hub_git_global_init, to be undone */

/* OpenSSL's default trust locations on Debian (X509_get_default_cert_file
 * and _dir), compared by real path. */
#define HUB_OPENSSL_CERT_FILE "/usr/lib/ssl/cert.pem"
#define HUB_OPENSSL_CERT_DIR "/usr/lib/ssl/certs"

static bool same_file(const char *a, const char *b)
{
	char ra[PATH_MAX], rb[PATH_MAX];
	return realpath(a, ra) && realpath(b, rb) && !strcmp(ra, rb);
}

int hub_git_global_init(void)
{
	/* libgit2 stamps reflog entries with localtime_r, and glibc sets its
	 * time-zone state up lazily, on the first call, under a lock of its own
	 * that ThreadSanitizer cannot see (it reports the first calls from two
	 * threads as a race).  Set it up here, before any thread of ours runs:
	 * later calls only read it. */
	tzset();
	int rc = git_libgit2_init();
	if (rc < 0) {
		const git_error *e = git_error_last();
		hub_err("libgit2 init failed: %s", e && e->message ? e->message : "?");
		return -EIO;
	}
	if (git_libgit2_opts(GIT_OPT_SET_SERVER_CONNECT_TIMEOUT, HUB_GIT_CONNECT_TIMEOUT_MS) < 0 ||
	    git_libgit2_opts(GIT_OPT_SET_SERVER_TIMEOUT, HUB_GIT_IO_TIMEOUT_MS) < 0 ||
	    git_libgit2_opts(GIT_OPT_SET_MWINDOW_FILE_LIMIT, (size_t)HUB_GIT_PACK_FILES_MAX) < 0 ||
	    git_libgit2_opts(GIT_OPT_SET_USER_AGENT,
			     "hubfs/" HUBFS_VERSION " libgit2/" LIBGIT2_VERSION) < 0) {
		const git_error *e = git_error_last();
		hub_err("libgit2 options: %s", e && e->message ? e->message : "?");
		git_libgit2_shutdown();
		return -EIO;
	}
	/* The CA bundle or directory the environment names (as for curl, git
	 * and Python): a mirror with a private CA.  Verification stays on.
	 * Locations that are OpenSSL's defaults anyway are not set again:
	 * libgit2 loads a directory eagerly (every certificate, ~200 ms here),
	 * and machines often export the defaults. */
	const char *cafile = getenv("GIT_SSL_CAINFO");
	if (!cafile || !*cafile)
		cafile = getenv("SSL_CERT_FILE");
	const char *cadir = getenv("SSL_CERT_DIR");
	cafile = cafile && *cafile && !same_file(cafile, HUB_OPENSSL_CERT_FILE) ? cafile : NULL;
	cadir = cadir && *cadir && !same_file(cadir, HUB_OPENSSL_CERT_DIR) ? cadir : NULL;
	if ((cafile || cadir) &&
	    git_libgit2_opts(GIT_OPT_SET_SSL_CERT_LOCATIONS, cafile, cadir) < 0) {
		const git_error *e = git_error_last();
		hub_warn("libgit2: cannot use the CA locations of the environment (%s, %s): %s",
			 cafile ? cafile : "-", cadir ? cadir : "-", e && e->message ? e->message : "?");
	}
	int major = 0, minor = 0, rev = 0;
	git_libgit2_version(&major, &minor, &rev);
	hub_git_wire_set_shallow_fix(major < 1 || (major == 1 && minor < 9));
	/* A server that closes early makes libgit2 write to a dead socket:
	 * that must be an error, not the death of the daemon. */
	struct sigaction sa;
	if (sigaction(SIGPIPE, NULL, &sa) == 0 && sa.sa_handler == SIG_DFL) {
		signal(SIGPIPE, SIG_IGN);
		sigpipe_ignored = true;
	}
	if (!(git_libgit2_features() & GIT_FEATURE_HTTPS))
		hub_warn("libgit2 was built without https support: https remotes will fail");
	return 0;
}

void hub_git_global_shutdown(void)
{
	hub_git_set_token_hosts(NULL, 0);
	git_libgit2_shutdown();
	if (sigpipe_ignored) {
		signal(SIGPIPE, SIG_DFL);
		sigpipe_ignored = false;
	}
}

void hub_git_refs_dispose(struct hub_remote_refs *refs)
{
	if (!refs)
		return;
	for (size_t i = 0; i < refs->n; i++)
		free(refs->refs[i].name);
	free(refs->refs);
	free(refs->head);
	memset(refs, 0, sizeof(*refs));
}

/* The ref "name" (without "^{}", namelen bytes) among the first n of refs. */
static struct hub_remote_ref *find_ref(struct hub_remote_ref *refs, size_t n, const char *name,
				       size_t namelen)
{
	/* git advertises "tag^{}" right after "tag": look there first. */
	for (size_t i = n; i-- > 0;) {
		if (strlen(refs[i].name) == namelen && memcmp(refs[i].name, name, namelen) == 0)
			return &refs[i];
	}
	return NULL;
}

/* Copy the advertisement into out, folding "X^{}" into X's peeled. */
static int fill_refs(struct hub_remote_refs *out, const git_remote_head **heads, size_t n)
{
	out->refs = calloc(n ? n : 1, sizeof(*out->refs));
	if (!out->refs)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		const char *name = heads[i]->name;
		size_t len = strlen(name);
		if (has_suffix(name, len, PEELED_SUFFIX)) {
			struct hub_remote_ref *base =
				find_ref(out->refs, out->n, name, len - strlen(PEELED_SUFFIX));
			if (base)
				git_oid_tostr(base->peeled, sizeof(base->peeled), &heads[i]->oid);
			continue;
		}
		struct hub_remote_ref *r = &out->refs[out->n];
		r->name = strdup(name);
		if (!r->name)
			return -ENOMEM;
		git_oid_tostr(r->oid, sizeof(r->oid), &heads[i]->oid);
		r->peeled[0] = '\0';
		out->n++;
	}
	return 0;
}

int hub_git_remote_create(git_remote **out, git_repository *repo, const char *url)
{
	git_remote_create_options opts = GIT_REMOTE_CREATE_OPTIONS_INIT;
	opts.repository = repo;
	opts.flags = GIT_REMOTE_CREATE_SKIP_INSTEADOF | GIT_REMOTE_CREATE_SKIP_DEFAULT_FETCHSPEC;
	return git_remote_create_with_opts(out, url, &opts);
}

static int ls_remote(struct hub_remote_refs *out, struct op *op)
{
	git_remote *remote = NULL;
	git_buf head = {0};
	const git_remote_head **heads = NULL;
	size_t n = 0;
	int err = 0;

	int rc = hub_git_remote_create(&remote, NULL, op->url);
	if (rc < 0) {
		err = hub_git_op_fail(op, rc, "bad url");
		goto out;
	}
	git_remote_connect_options copts;
	hub_git_connect_opts_init(&copts, op);
	rc = git_remote_connect_ext(remote, GIT_DIRECTION_FETCH, &copts);
	if (rc < 0) {
		err = hub_git_op_fail(op, rc, "connect");
		goto out;
	}
	rc = git_remote_ls(&heads, &n, remote);
	if (rc < 0) {
		err = hub_git_op_fail(op, rc, "list refs");
		goto out;
	}
	err = fill_refs(out, heads, n);
	if (err < 0) {
		err = hub_git_op_fail_errno(op, -err, "list refs");
		goto out;
	}
	rc = git_remote_default_branch(&head, remote);
	if (rc == 0) {
		out->head = strdup(head.ptr);
		if (!out->head)
			err = hub_git_op_fail_errno(op, ENOMEM, "HEAD");
	} else if (rc != GIT_ENOTFOUND) {
		err = hub_git_op_fail(op, rc, "HEAD");
	}
out:
	git_buf_dispose(&head);
	if (remote) {
		git_remote_disconnect(remote);
		git_remote_free(remote);
	}
	if (err < 0)
		hub_git_refs_dispose(out);
	return err;
}

int hub_git_ls_remote(struct hub_remote_refs *out, const char *url)
{
	memset(out, 0, sizeof(*out));
	struct op op;
	hub_git_op_init(&op, "ls-remote", url, HUB_GIT_FETCH_MAX_SECONDS);
	int err = ls_remote(out, &op);
	hub_git_op_dispose(&op);
	return err;
}
