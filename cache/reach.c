/*
 * .hub/reachable of a commit: is it published by its repository (reachable
 * from a branch or tag the remote advertises; fetch/git_reach.h says why
 * this matters), as one line of text:
 *
 *   "reachable <ref>\n"     the tip of that branch or tag
 *   "reachable ancestor\n"  in the history of an advertised branch or tag
 *   "unreachable\n"         in none: a commit only a fork has, or one whose
 *                           branch was deleted
 *   "unknown <why>\n"       no verdict: offline, timeout, network, ...
 *
 * DESIGN
 * - A "reachable" verdict is kept in <repo>/reach/<sha> (atomic write) and
 *   served from there afterwards, offline included: the owner published
 *   that commit once, which is the property that matters.  "unreachable" and
 *   "unknown" are never kept: each lookup asks the remote again, so a commit
 *   that a branch later reaches is accepted then.
 * - The check fetches into the repository's bare git directory, so it takes
 *   the repo's cross-process lock (<repo>/lock) like every other fetch of
 *   cache/resolve.c (whose leftover cleaning must not run under a fetch); the
 *   lock also makes concurrent checks of one repo queue, the second reading
 *   the first's file.  No in-memory state, no other lock.
 */
#include "cache/reach.h"
#include "cache/repo_internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/files.h"
#include "base/limits.h"
#include "base/log.h"
#include "base/names.h"
#include "fetch/git_reach.h"
#include "fetch/rewrite.h"

static int kept(char **out, const char *path)
{
	size_t len;
	char *s = NULL;
	int rc = hub_file_read(&s, &len, path, 512);
	if (rc)
		return rc;
	if (strncmp(s, "reachable ", 10) || len < 12 || s[len - 1] != '\n' || memchr(s, '\0', len)) {
		free(s);
		return -ENOENT; /* not ours: ask again */
	}
	*out = s;
	return 0;
}

static const char *why(int rc)
{
	switch (rc) {
	case -ETIMEDOUT:
		return "timeout";
	case -ENOENT:
		return "not-found";
	case -EACCES:
		return "access-denied";
	case -ECONNREFUSED:
	case -EHOSTUNREACH:
	case -ENETUNREACH:
		return "network";
	case -ENOMEM:
		return "out-of-memory";
	case -EAGAIN:
		return "refs-moved";
	default:
		return "error";
	}
}

int hub_repo_reach(char **out, struct hub_repo *r, const char *sha)
{
	*out = NULL;
	if (!hub_name_is_full_sha(sha))
		return -EINVAL;
	char *path = NULL, *dir = NULL, *text = NULL;
	if (asprintf(&dir, "%s/reach", r->dir) < 0)
		dir = NULL;
	if (!dir || asprintf(&path, "%s/%s", dir, sha) < 0) {
		free(dir);
		return -ENOMEM;
	}
	int rc = kept(&text, path);
	if (rc == 0 || r->cache->cfg.offline) {
		if (rc)
			rc = asprintf(&text, "unknown offline\n") < 0 ? -ENOMEM : 0;
		goto out;
	}
	char url[HUB_URL_MAX];
	const struct hub_cache_config *cfg = &r->cache->cfg;
	int n = hub_rewrite_git_url(url, sizeof(url), cfg->git_url, cfg->rewrites, r->owner, r->name);
	int lfd = n < 0 ? n : hub_mkdir_p(dir);
	if (lfd == 0)
		lfd = hub_file_lock(r->lockpath);
	if (lfd < 0) {
		hub_err("%s/%s: reachability of %s: %s", r->owner, r->name, sha, strerror(-lfd));
		rc = asprintf(&text, "unknown %s\n", why(lfd)) < 0 ? -ENOMEM : 0;
		goto out;
	}
	if (kept(&text, path) == 0) { /* another check finished meanwhile */
		hub_file_unlock(lfd);
		rc = 0;
		goto out;
	}
	struct hub_git_reach v;
	rc = hub_git_reach(&v, r->gitdir, url, sha, HUB_REACH_MAX_SECONDS);
	hub_file_unlock(lfd);
	hub_repack_queue_add(r); /* its fetch of the history added a pack */
	if (rc) {
		hub_info("%s/%s: reachability of %s unknown: %s", r->owner, r->name, sha, strerror(-rc));
		rc = asprintf(&text, "unknown %s\n", why(rc)) < 0 ? -ENOMEM : 0;
	} else if (!v.reachable) {
		hub_info("%s/%s: %s is reachable from no branch or tag", r->owner, r->name, sha);
		rc = asprintf(&text, "unreachable\n") < 0 ? -ENOMEM : 0;
	} else {
		rc = asprintf(&text, "reachable %s\n", v.via[0] ? v.via : "ancestor") < 0 ? -ENOMEM : 0;
		int w = rc ? rc : hub_file_write_atomic(path, text, strlen(text));
		if (w && !rc)
			hub_warn("%s: cannot keep the verdict: %s", path, strerror(-w));
	}
out:
	if (rc) {
		text = NULL; /* asprintf leaves it undefined on failure */
	}
	free(path);
	free(dir);
	*out = text;
	return rc;
}
