/*
 * hub_git_reach (git_reach.h): whether a commit is reachable from the
 * branches and tags a remote advertises.
 *
 * DESIGN
 * 1. ls-remote (git.c): one round trip.  A commit that is the peeled tip of
 *    a refs/heads/ or refs/tags/ ref is reachable: no objects are fetched.
 * 2. Otherwise fetch every branch and tag with its whole history into the
 *    cache's bare repository (the refspecs fetch_all of cache/repo.c uses,
 *    so nothing is stored twice; a shallow repository is unshallowed, and
 *    gitdir.c's repair keeps only the roots whose parents are still
 *    missing).  After the first time this is an incremental fetch.
 * 3. Walk the history from the advertised tips (not from local refs, which
 *    may be stale) and stop at the commit.  libgit2 treats the shallow
 *    file's roots as parentless, so the walk never follows a missing parent.
 * The whole check has one deadline: the fetch gets what is left of it, the
 * walk looks at the clock every HUB_REACH_WALK_CHECK commits.  No state;
 * the caller serializes fetches into gitdir (cache/reach.c takes the repo's
 * lock, git_fetch.c the gitdir's flock).
 */
#include "fetch/git_reach.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>

#include <git2.h>

#include "base/limits.h"
#include "base/log.h"
#include "fetch/git.h"
#include "fetch/git_int.h"

static double mono_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static bool published(const char *name)
{
	return !strncmp(name, "refs/heads/", 11) || !strncmp(name, "refs/tags/", 10);
}

/* A shallow repository has a non-empty <gitdir>/shallow. */
static bool is_shallow(const char *gitdir)
{
	char path[HUB_URL_MAX];
	struct stat st;
	if ((size_t)snprintf(path, sizeof(path), "%s/shallow", gitdir) >= sizeof(path))
		return false;
	return stat(path, &st) == 0 && st.st_size > 0;
}

/* Walk gitdir's history from tips; *out_found when target is met.  0,
 * -ETIMEDOUT past deadline, or -errno. */
static int walk(bool *out_found, const char *gitdir, const git_oid *target, const git_oid *tips,
		size_t n, double deadline)
{
	*out_found = false;
	git_repository *repo = NULL;
	git_revwalk *w = NULL;
	int rc = hub_git_open_bare(&repo, gitdir);
	if (rc == 0)
		rc = git_revwalk_new(&w, repo);
	if (rc < 0) {
		int err = hub_git_errno(rc, hub_git_last_message(), NULL);
		hub_warn("reach %s: cannot open: %s", gitdir, hub_git_last_message());
		git_repository_free(repo);
		return err == -ENOENT ? -EIO : err;
	}
	size_t pushed = 0;
	int err = 0;
	git_odb *odb = NULL;
	if (git_repository_odb(&odb, repo) < 0)
		err = -EIO;
	for (size_t i = 0; !err && i < n; i++) {
		if (git_revwalk_push(w, &tips[i]) == 0) {
			pushed++;
		} else if (!git_odb_exists(odb, &tips[i])) {
			/* advertised but not fetched (the ref moved between the
			 * listing and the fetch): no verdict, never "unreachable" */
			hub_info("reach %s: tip %s missing after the fetch", gitdir,
				 git_oid_tostr_s(&tips[i]));
			err = -EAGAIN;
		} else {
			/* a tag of a tree or a blob has no history */
			hub_debug("reach %s: tip %s not walked: %s", gitdir,
				  git_oid_tostr_s(&tips[i]), hub_git_last_message());
		}
	}
	git_odb_free(odb);
	git_oid id;
	size_t k = 0;
	while (!err && pushed && (rc = git_revwalk_next(&id, w)) == 0) {
		if (git_oid_equal(&id, target)) {
			*out_found = true;
			break;
		}
		if (++k % HUB_REACH_WALK_CHECK == 0 && mono_s() > deadline) {
			err = -ETIMEDOUT;
			break;
		}
	}
	if (pushed && !*out_found && !err && rc != GIT_ITEROVER) {
		hub_warn("reach %s: walk failed: %s", gitdir, hub_git_last_message());
		err = hub_git_errno(rc, hub_git_last_message(), NULL);
		if (err == -ENOENT)
			err = -EIO; /* an object the fetch should have brought */
	}
	git_revwalk_free(w);
	git_repository_free(repo);
	return err;
}

int hub_git_reach(struct hub_git_reach *out, const char *gitdir, const char *url, const char *sha,
		  int max_seconds)
{
	memset(out, 0, sizeof(*out));
	git_oid target;
	if (strlen(sha) != GIT_OID_SHA1_HEXSIZE || git_oid_fromstr(&target, sha) < 0)
		return -EINVAL;
	double deadline = mono_s() + max_seconds;
	struct hub_remote_refs ls = {0};
	int rc = hub_git_ls_remote(&ls, url);
	if (rc)
		return rc;
	git_oid *tips = calloc(ls.n ? ls.n : 1, sizeof(*tips));
	size_t nt = 0;
	if (!tips) {
		hub_git_refs_dispose(&ls);
		return -ENOMEM;
	}
	for (size_t i = 0; i < ls.n && !out->reachable; i++) {
		const struct hub_remote_ref *e = &ls.refs[i];
		const char *c = e->peeled[0] ? e->peeled : e->oid;
		if (!published(e->name) || git_oid_fromstr(&tips[nt], c) < 0)
			continue;
		if (git_oid_equal(&tips[nt], &target)) {
			out->reachable = true;
			snprintf(out->via, sizeof(out->via), "%s", e->name);
		}
		nt++;
	}
	hub_git_refs_dispose(&ls);
	if (out->reachable || nt == 0)
		goto out;
	int left = (int)(deadline - mono_s());
	if (left < 1) {
		rc = -ETIMEDOUT;
		goto out;
	}
	static const char *const specs[] = { "+refs/heads/*:refs/hubfs/heads/*",
					     "+refs/tags/*:refs/hubfs/tags/*" };
	rc = hub_git_fetch_within(gitdir, url, specs, 2, is_shallow(gitdir) ? -1 : 0, left);
	if (rc == 0)
		rc = walk(&out->reachable, gitdir, &target, tips, nt, deadline);
out:
	free(tips);
	if (rc == -ETIMEDOUT)
		hub_info("reach %s: no verdict within %d s", gitdir, max_seconds);
	return rc;
}
