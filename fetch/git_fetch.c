/*
 * hub_git_fetch: fetch refspecs from a remote into the cache's bare
 * repository (created if need be), shallow when asked, and check that every
 * source was advertised and every destination written.  The session (struct
 * op, token, transport, error mapping) is git.c's; the repository on disk
 * (creation, lock, shallow file) gitdir.c's.
 *
 * Locks: the whole fetch, shallow repair included, holds gitdir.c's flock on
 * <gitdir>/hubfs-fetch.lock (one fetch per gitdir across threads and
 * processes).  No state of its own.
 */
#include "fetch/git.h"
#include "fetch/git_int.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <git2.h>

#include "base/limits.h"
#include "base/log.h"

static bool starts_with(const char *s, const char *prefix)
{
	return strncmp(s, prefix, strlen(prefix)) == 0;
}

static bool is_hex_oid(const char *s, size_t len)
{
	if (len != GIT_OID_SHA1_HEXSIZE)
		return false;
	for (size_t i = 0; i < len; i++)
		if (!s[i] || !strchr("0123456789abcdefABCDEF", s[i]))
			return false;
	return true;
}

/*
 * After a fetch, each non-glob refspec's destination must exist: libgit2
 * fetches nothing, silently, for a source ref the remote does not have.
 */
static int check_destinations(git_repository *repo, const struct op *op,
			      const char *const *refspecs, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		git_refspec *spec = NULL;
		if (git_refspec_parse(&spec, refspecs[i], 1) < 0)
			continue; /* libgit2 already accepted it for the fetch */
		const char *dst = git_refspec_dst(spec);
		const char *src = git_refspec_src(spec);
		bool check = dst && *dst && !strchr(dst, '*');
		git_oid oid;
		int rc = check ? git_reference_name_to_id(&oid, repo, dst) : 0;
		if (rc == GIT_ENOTFOUND) {
			char buf[HUB_URL_MAX];
			hub_info("git fetch %s: %s not found upstream",
				 hub_git_url_for_log(buf, sizeof(buf), op->url), src ? src : "?");
		}
		git_refspec_free(spec);
		if (rc == GIT_ENOTFOUND)
			return -ENOENT;
		if (rc < 0)
			return hub_git_op_fail(op, rc, "check refs");
	}
	return 0;
}

/*
 * Before a fetch: each "refs/..." source must be advertised.  Else libgit2
 * fetches nothing, says nothing, and a target left by an earlier fetch would
 * pass for an answer after the ref was deleted upstream.
 */
static int check_sources(git_remote *remote, const struct op *op, const char *const *refspecs,
			 size_t n)
{
	const git_remote_head **heads = NULL;
	size_t nh = 0;
	if (git_remote_ls(&heads, &nh, remote) < 0)
		return 0; /* the fetch will tell */
	int err = 0;
	for (size_t i = 0; err == 0 && i < n; i++) {
		git_refspec *spec = NULL;
		if (git_refspec_parse(&spec, refspecs[i], 1) < 0)
			continue; /* the fetch will tell */
		const char *src = git_refspec_src(spec);
		if (src && starts_with(src, "refs/") && !strchr(src, '*')) {
			size_t k = 0;
			while (k < nh && strcmp(heads[k]->name, src) != 0)
				k++;
			if (k == nh) {
				char buf[HUB_URL_MAX];
				hub_info("git fetch %s: %s not found upstream",
					 hub_git_url_for_log(buf, sizeof(buf), op->url), src);
				err = -ENOENT;
			}
		}
		git_refspec_free(spec);
	}
	return err;
}

/* ssh://, git+ssh://, ssh+git://, user@host:path: stateful like git://. */
static bool is_ssh_url(const char *url)
{
	if (strstr(url, "://"))
		return strncasecmp(url, "ssh://", 6) == 0 || strncasecmp(url, "git+ssh://", 10) == 0 ||
		       strncasecmp(url, "ssh+git://", 10) == 0;
	const char *colon = strchr(url, ':');
	const char *slash = strchr(url, '/');
	return colon && (!slash || colon < slash);
}

static int fetch(struct op *op, const char *gitdir, const char *const *refspecs, size_t n,
		 int depth)
{
	git_repository *repo = NULL;
	git_remote *remote = NULL;
	struct hub_git_oids before = {0};
	int lockfd = -1;
	int err = hub_git_open_cache(&repo, gitdir);
	if (err < 0)
		return err;
	git_repository_free(repo); /* opened again once locked, for the shallow roots */
	repo = NULL;
	lockfd = hub_git_lock_fetch(gitdir);
	if (lockfd < 0) {
		err = hub_git_op_fail_errno(op, -lockfd, "lock");
		goto out;
	}
	err = hub_git_open_cache(&repo, gitdir);
	if (err < 0)
		goto out;
	err = hub_git_shallow_read(&before, gitdir);
	if (err < 0) {
		err = hub_git_op_fail_errno(op, -err, "read shallow");
		goto out;
	}
	int rc = hub_git_remote_create(&remote, repo, op->url);
	if (rc < 0) {
		err = hub_git_op_fail(op, rc, "bad url");
		goto out;
	}

	/* Connect first: git_remote_fetch() of libgit2 1.8 leaks its copy of
	 * custom_headers when its own connect fails (401, 404 ...). */
	git_remote_connect_options copts;
	hub_git_connect_opts_init(&copts, op);
	git_fetch_options fo = GIT_FETCH_OPTIONS_INIT;
	fo.callbacks = copts.callbacks;
	fo.proxy_opts = copts.proxy_opts;
	fo.follow_redirects = copts.follow_redirects;
	fo.custom_headers = copts.custom_headers;
	fo.prune = GIT_FETCH_NO_PRUNE;
	fo.update_fetchhead = 0;
	fo.download_tags = GIT_REMOTE_DOWNLOAD_TAGS_NONE;
	fo.depth = depth < 0 ? GIT_FETCH_DEPTH_UNSHALLOW : depth;
	git_strarray specs = {(char **)refspecs, n};
	rc = git_remote_connect_ext(remote, GIT_DIRECTION_FETCH, &copts);
	if (rc == 0) {
		err = check_sources(remote, op, refspecs, n);
		if (err < 0)
			goto out;
		rc = git_remote_fetch(remote, &specs, &fo, "hubfs: fetch");
	}
	if (rc == GIT_ENOTSUPPORTED && depth > 0) {
		/* The local transport cannot fetch shallow: take everything. */
		hub_debug("git fetch %s: shallow unsupported, fetching full history", gitdir);
		fo.depth = GIT_FETCH_DEPTH_FULL;
		rc = git_remote_fetch(remote, &specs, &fo, "hubfs: fetch");
	}
	if (rc < 0)
		err = hub_git_op_fail(op, rc, "fetch"); /* before libgit2's message is replaced */
	if (before.n > 0 || depth != 0)
		hub_git_shallow_repair(repo, gitdir, &before);
	if (err == 0)
		err = check_destinations(repo, op, refspecs, n);
out:
	git_remote_free(remote);
	git_repository_free(repo);
	if (lockfd >= 0)
		close(lockfd);
	free(before.v);
	return err;
}

int hub_git_fetch(const char *gitdir, const char *url, const char *const *refspecs, size_t n,
		  int depth)
{
	return hub_git_fetch_within(gitdir, url, refspecs, n, depth, HUB_GIT_FETCH_MAX_SECONDS);
}

int hub_git_fetch_within(const char *gitdir, const char *url, const char *const *refspecs,
			 size_t n, int depth, int max_seconds)
{
	struct op op;
	hub_git_op_init(&op, "fetch", url, max_seconds);
	int err = 0;
	if (n == 0 || depth < -1)
		err = hub_git_op_fail_errno(&op, EINVAL, "arguments");
	for (size_t i = 0; err == 0 && i < n; i++) {
		/* An object id wanted: upload-pack wants it in lower case. */
		const char *colon = strchr(refspecs[i], ':');
		const char *src = refspecs[i] + (refspecs[i][0] == '+');
		if (colon && is_hex_oid(src, (size_t)(colon - src)) &&
		    strcspn(src, "ABCDEF") < (size_t)(colon - src))
			err = hub_git_op_fail_errno(&op, EINVAL, "upper-case object id");
	}
	if (err == 0 && depth > 0 && hub_git_need_shallow_fix() && is_ssh_url(url)) {
		/* The bug wire_write works around for git://, over ssh, where
		 * we cannot reach the bytes: take the whole history. */
		char buf[HUB_URL_MAX];
		hub_debug("git fetch %s: libgit2 < 1.9 cannot fetch shallow over ssh",
			  hub_git_url_for_log(buf, sizeof(buf), url));
		depth = 0;
	}
	if (err == 0)
		err = fetch(&op, gitdir, refspecs, n, depth);
	hub_git_op_dispose(&op);
	return err;
}
