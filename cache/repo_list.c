/*
 * Listing what the cache holds on disk (for the namespace's directories
 * that list cached owners and repositories): the owner and repository
 * directories below the cache root, their mtimes, and each repository's
 * recorded refs (from state.json) whose commits are present.
 *
 * Locks: none held here besides what hub_cache_repo and
 * hub_repo_commit_in_odb take (cache->lock, odb_lock, briefly); state.json
 * is read without a lock (it is replaced atomically).
 */
#include "cache/repo_internal.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "base/limits.h"
#include "base/log.h"
#include "base/names.h"

static int list_subdirs(char ***out, size_t *out_n, const char *path, bool (*valid)(const char *))
{
	*out = NULL;
	*out_n = 0;
	DIR *d = opendir(path);
	if (!d)
		return errno == ENOENT ? 0 : -errno;
	char **v = NULL;
	size_t n = 0;
	struct dirent *de;
	int rc = 0;
	while ((de = readdir(d))) {
		if (!valid(de->d_name))
			continue;
		char **nv = realloc(v, (n + 1) * sizeof(*v));
		if (!nv || !(nv[n] = strdup(de->d_name))) {
			v = nv ? nv : v;
			rc = -ENOMEM;
			break;
		}
		v = nv;
		n++;
	}
	closedir(d);
	if (rc) {
		for (size_t i = 0; i < n; i++)
			free(v[i]);
		free(v);
		return rc;
	}
	*out = v;
	*out_n = n;
	return 0;
}

int hub_cache_list_owners(char ***out, size_t *out_n, struct hub_cache *c)
{
	char *path;
	if (asprintf(&path, "%s/hubfs/repos", c->root) < 0)
		return -ENOMEM;
	int rc = list_subdirs(out, out_n, path, hub_name_owner_valid);
	free(path);
	return rc;
}

static void newer(struct timespec *out, const char *path)
{
	struct stat st;
	if (stat(path, &st))
		return;
	if (st.st_mtim.tv_sec > out->tv_sec ||
	    (st.st_mtim.tv_sec == out->tv_sec && st.st_mtim.tv_nsec > out->tv_nsec))
		*out = st.st_mtim;
}

void hub_cache_mtime(struct timespec *out, struct hub_cache *c, const char *owner)
{
	out->tv_sec = 0;
	out->tv_nsec = 0;
	char *dir;
	if (asprintf(&dir, "%s/hubfs/repos%s%s", c->root, owner ? "/" : "", owner ? owner : "") < 0)
		return;
	newer(out, dir);
	DIR *d = owner ? opendir(dir) : NULL;
	struct dirent *de;
	while (d && (de = readdir(d))) {
		char *p;
		if (de->d_name[0] == '.' || asprintf(&p, "%s/%s/state.json", dir, de->d_name) < 0)
			continue;
		newer(out, p);
		free(p);
	}
	if (d)
		closedir(d);
	free(dir);
}

static int cmp_sha(const void *a, const void *b)
{
	return memcmp(a, b, 41);
}

int hub_cache_list_repos(struct hub_cached_repo **out, size_t *out_n, struct hub_cache *c,
			 const char *owner)
{
	*out = NULL;
	*out_n = 0;
	char *path;
	if (asprintf(&path, "%s/hubfs/repos/%s", c->root, owner) < 0)
		return -ENOMEM;
	char **names;
	size_t n;
	int rc = list_subdirs(&names, &n, path, hub_name_repo_valid);
	free(path);
	if (rc)
		return rc;
	struct hub_cached_repo *v = calloc(n ? n : 1, sizeof(*v));
	if (!v) {
		for (size_t i = 0; i < n; i++)
			free(names[i]);
		free(names);
		return -ENOMEM;
	}
	size_t m = 0;
	for (size_t i = 0; i < n; i++) {
		struct hub_repo *r;
		struct hub_state st;
		if (hub_cache_repo(&r, c, owner, names[i]))
			r = NULL;
		int lrc = r ? hub_state_load(&st, r->statepath) : -ENOMEM;
		hub_repo_put(r); /* the path is all this needed */
		if (lrc || (!st.head && !st.n)) {
			if (!lrc)
				hub_state_dispose(&st);
			free(names[i]);
			continue;
		}
		struct hub_cached_repo *cr = &v[m++];
		cr->name = names[i];
		if (st.head && !strncmp(st.head, "refs/heads/", 11))
			cr->head = strdup(st.head + 11);
		cr->refs = calloc(st.n ? st.n : 1, sizeof(*cr->refs));
		cr->commits = calloc(st.n ? st.n : 1, sizeof(*cr->commits));
		for (size_t j = 0; cr->refs && cr->commits && j < st.n; j++) {
			struct hub_cached_ref *ref = &cr->refs[cr->n_refs];
			ref->ref = strdup(st.refs[j].ref);
			if (!ref->ref)
				continue;
			memcpy(ref->sha, st.refs[j].sha, 41);
			ref->mutable_ = st.refs[j].kind == KIND_BRANCH || st.refs[j].kind == KIND_OTHER;
			cr->n_refs++;
			memcpy(cr->commits[cr->n_commits++], st.refs[j].sha, 41);
		}
		if (cr->commits) {
			qsort(cr->commits, cr->n_commits, 41, cmp_sha);
			size_t u = 0;
			for (size_t j = 0; j < cr->n_commits; j++)
				if (!u || memcmp(cr->commits[u - 1], cr->commits[j], 41))
					memcpy(cr->commits[u++], cr->commits[j], 41);
			cr->n_commits = u;
		}
		hub_state_dispose(&st);
	}
	free(names);
	*out = v;
	*out_n = m;
	return 0;
}

void hub_cache_repos_free(struct hub_cached_repo *repos, size_t n)
{
	for (size_t i = 0; repos && i < n; i++) {
		free(repos[i].name);
		free(repos[i].head);
		for (size_t j = 0; j < repos[i].n_refs; j++)
			free(repos[i].refs[j].ref);
		free(repos[i].refs);
		free(repos[i].commits);
	}
	free(repos);
}
