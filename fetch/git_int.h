/*
 * Inside fetch/ only: what git.c (the session of a remote operation: token,
 * transport, error mapping; ls-remote), git_fetch.c (fetch), gitdir.c (the
 * cache's bare repository on disk) and odb.c (reads of that repository)
 * share.  Nothing outside fetch/ includes libgit2.
 */
#ifndef HUB_FETCH_GIT_INT_H
#define HUB_FETCH_GIT_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include <git2.h>
#include <git2/sys/transport.h>

/* ---- git.c: one remote operation ---- */

/* One remote operation: the payload of libgit2's callbacks. */
struct op {
	const char *what;     /* "ls-remote", "fetch": for the log */
	const char *url;
	const char *token;    /* GITHUB_TOKEN when hub_git_token_allowed(url), else NULL */
	bool token_withheld;  /* GITHUB_TOKEN is set but this URL may not have it */
	int cred_asked;       /* times the credentials callback ran */
	char auth[1600];      /* "Authorization: Basic ..." sent with each request */
	char *headers[1];
	git_strarray custom_headers; /* {headers, 1} when auth is set */
	struct timespec deadline; /* CLOCK_MONOTONIC; tv_sec 0 = none */
	bool deadline_hit;
	char remote_err[256];     /* the server's "ERR" packet, if any */
	git_smart_subtransport_definition def; /* for wire_transport */
};

/* The one mapping of libgit2 failures to -errno (git.c).  rc is libgit2's
 * return code, msg its message for this failure; op the remote operation,
 * NULL for a read of the local object database. */
int hub_git_errno(int rc, const char *msg, const struct op *op);

/* libgit2's message for this thread's last failure, never NULL. */
const char *hub_git_last_message(void);

/* Start op ("ls-remote", "fetch") on url: the token if url may have it, a
 * deadline max_seconds from now (0: none).  hub_git_op_dispose wipes it. */
void hub_git_op_init(struct op *op, const char *what, const char *url, int max_seconds);
void hub_git_op_dispose(struct op *op);

/* Map and log the current libgit2 failure (rc) of op at step; -errno. */
int hub_git_op_fail(const struct op *op, int rc, const char *step);
/* Log a failure that is not libgit2's (errno err); returns -err. */
int hub_git_op_fail_errno(const struct op *op, int err, const char *step);

/* The URL for the log (in buf): no credentials, query or control characters. */
const char *hub_git_url_for_log(char *buf, size_t size, const char *url);

/* Transport options of every connection of op (callbacks, proxy, token
 * header, redirects). */
void hub_git_connect_opts_init(git_remote_connect_options *copts, struct op *op);

/* An anonymous remote for url (no insteadOf, no default refspec); repo may
 * be NULL (ls-remote).  libgit2 codes. */
int hub_git_remote_create(git_remote **out, git_repository *repo, const char *url);

/* hub_git_fetch (git_fetch.c) bounded by max_seconds instead of
 * HUB_GIT_FETCH_MAX_SECONDS (git_reach.c's share of its own deadline). */
int hub_git_fetch_within(const char *gitdir, const char *url, const char *const *refspecs,
			 size_t n, int depth, int max_seconds);

/* libgit2 < 1.9 (cannot fetch shallow over a stateful connection). */
bool hub_git_need_shallow_fix(void);
/* git_wire.c: our transport for git:// and http(s):// set into cb (other
 * schemes keep libgit2's); the libgit2 < 1.9 shallow fix on or off (once,
 * by hub_git_global_init). */
void hub_git_wire_attach(git_remote_callbacks *cb, struct op *op);
void hub_git_wire_set_shallow_fix(bool on);

/* ---- gitdir.c: the cache's bare repository ---- */

/* Open gitdir as a bare repository, no search upwards (libgit2 codes). */
int hub_git_open_bare(git_repository **out, const char *gitdir);

/* Open the cache repository gitdir, creating it if need be; 0 or -errno
 * (logged; never -ENOENT). */
int hub_git_open_cache(git_repository **out, const char *gitdir);

/* flock <gitdir>/hubfs-fetch.lock exclusively: the fd to close, or -errno. */
int hub_git_lock_fetch(const char *gitdir);
/* The same lock, not waiting: the fd, -EBUSY when somebody holds it, or
 * -errno. */
int hub_git_trylock_fetch(const char *gitdir);

/* A set of object ids (the shallow file's roots). */
struct hub_git_oids {
	git_oid *v;
	size_t n, cap;
};

/* <gitdir>/shallow, sorted; a missing file is the empty set.  The caller
 * frees out->v. */
int hub_git_shallow_read(struct hub_git_oids *out, const char *gitdir);

/* After a fetch: merge the roots from before it (before) back into the
 * shallow file (libgit2 1.8 keeps only the last fetch's).  Logs failures. */
void hub_git_shallow_repair(git_repository *repo, const char *gitdir,
			    const struct hub_git_oids *before);

#endif
