/*
 * libgit2 for hubfs: list a remote's refs and fetch one ref's history
 * (shallow) into a bare repository in the cache.  The one place where
 * libgit2 errors become errnos (see hub_git_errno in git.c):
 *   -ENOENT      the repository or ref does not exist upstream (git daemon's
 *                "not exported", HTTP 404, 401 without a token)
 *   -EACCES      authentication refused with credentials given
 *   -ETIMEDOUT   connect or read timeout, or the whole-fetch deadline
 *   -ECONNREFUSED, -EHOSTUNREACH, -ENETUNREACH  network
 *   -ENOTSUP     fetch by object id refused by a server that allows no ids in
 *                "want" (git daemon without uploadpack.allowAnySHA1InWant):
 *                the commit may exist; fetch its branches instead
 *   -EIO         anything else (5xx, protocol errors, corrupt packs)
 * Every failure is logged with libgit2's message.  Thread-safe: no shared
 * state besides libgit2's own global init.
 */
#ifndef HUB_FETCH_GIT_H
#define HUB_FETCH_GIT_H

#include <stdbool.h>
#include <stddef.h>

struct hub_remote_ref {
	char *name;       /* full name: "refs/heads/main", "refs/tags/v1" */
	char oid[41];     /* what the ref points at (for an annotated tag: the tag object) */
	char peeled[41];  /* the commit an annotated tag peels to; "" if not a tag object */
};

struct hub_remote_refs {
	struct hub_remote_ref *refs; /* as advertised, "HEAD" included */
	size_t n;
	char *head; /* the remote HEAD's target, e.g. "refs/heads/master"; NULL if none */
};

/* Once per process, before any other call (sets timeouts, TLS, ...). */
int hub_git_global_init(void);
void hub_git_global_shutdown(void);

/*
 * GITHUB_TOKEN.  Set in the environment, it authenticates https requests to
 * GitHub's git host, github.com, and to the hosts named by
 * hub_git_set_token_hosts (token_host=), nothing else: the decision is made
 * on the host of the URL actually fetched (after rewrite rules), so a rule
 * that sends github.com's URLs to a mirror does not send the token there.
 * It goes out with the first request (an Authorization header) and then
 * redirects are not followed; never over http, never to a URL that carries
 * its own user name or password.
 */
#define HUB_GIT_TOKEN_HOST "github.com"

/* May the token go with a request to url?  Pure: https, no user
 * information, and a host equal (ASCII case-insensitive, a final '.' and
 * IPv6 brackets ignored, any port) to HUB_GIT_TOKEN_HOST or one of hosts[0..n). */
bool hub_git_token_allowed(const char *url, const char *const *hosts, size_t n);

/* The token hosts of token_host= (copied).  Call once before any
 * ls-remote or fetch (not thread-safe against them); hub_git_global_shutdown
 * forgets them.  0 or -ENOMEM. */
int hub_git_set_token_hosts(const char *const *hosts, size_t n);

/* Connect and list refs (one round trip, no objects).  GITHUB_TOKEN from the
 * environment authenticates as described above. */
int hub_git_ls_remote(struct hub_remote_refs *out, const char *url);
void hub_git_refs_dispose(struct hub_remote_refs *refs);

/* Create gitdir as a bare repository if it does not exist yet. */
int hub_git_init_bare(const char *gitdir);

/* Fetch into the bare repository gitdir from url.  refspecs are git
 * refspecs ("+refs/heads/main:refs/hubfs/heads/main") or object ids
 * ("<40 hex>:refs/hubfs/commits/<40 hex>").  depth > 0 fetches shallow,
 * 0 the whole history, -1 unshallows.  Bounded by HUB_GIT_* limits. */
int hub_git_fetch(const char *gitdir, const char *url, const char *const *refspecs, size_t n,
		  int depth);

#endif
