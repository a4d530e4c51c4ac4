/*
 * DESIGN
 * hub_repack_run (fetch/repack.h): one new pack holding every object of a
 * cache repository, then the old packs removed.
 *
 *  1. the fetch lock, without waiting (gitdir.c's hub_git_trylock_fetch):
 *     no fetch writes a pack or the shallow file while we run;
 *  2. the names of the packs present now (the ones to remove later);
 *  3. every object id the object database lists (git_odb_foreach: packs
 *     and loose objects), inserted into a packbuilder one by one.  Not a
 *     walk from the refs: the cache's repositories are shallow, and an
 *     object no ref names may still be one a state.json resolution is
 *     about to name (resolutions are written after their fetch); keeping
 *     every object never loses one;
 *  4. git_packbuilder_write into objects/pack (libgit2's indexer writes a
 *     temporary file and renames it), then fsync of the new .pack, .idx and
 *     the directory: the new pack is durable before anything is removed;
 *  5. each old pack removed, its .idx first (libgit2 finds packs by their
 *     index: a pack without index is invisible, an index without its pack
 *     would be an error), then .pack, .rev, .mtimes, .keep, .promisor.
 *
 * A failure before 5 leaves the old packs untouched (and maybe the new
 * one next to them: a duplicate, harmless, merged by the next repack).
 * Thread-safe: no state; libgit2's own global init is assumed.
 */
#include "fetch/repack.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <git2.h>

#include "base/limits.h"
#include "base/log.h"
#include "fetch/git_int.h"

struct names {
	char **v;
	size_t n, cap;
};

static void names_free(struct names *s)
{
	for (size_t i = 0; i < s->n; i++)
		free(s->v[i]);
	free(s->v);
	s->v = NULL;
	s->n = s->cap = 0;
}

static bool ends_with(const char *s, const char *suffix)
{
	size_t n = strlen(s), m = strlen(suffix);
	return n >= m && !strcmp(s + n - m, suffix);
}

/* The "pack-<hash>" stems of the *.pack files in dir (out may be NULL: count only). */
static int list_packs(struct names *out, size_t *count, const char *dir)
{
	DIR *d = opendir(dir);
	if (!d)
		return -errno;
	int rc = 0;
	size_t n = 0;
	struct dirent *e;
	while (!rc && (e = readdir(d))) {
		if (strncmp(e->d_name, "pack-", 5) || !ends_with(e->d_name, ".pack"))
			continue;
		n++;
		if (!out)
			continue;
		if (out->n == out->cap) {
			size_t cap = out->cap ? 2 * out->cap : 32;
			char **v = realloc(out->v, cap * sizeof(*v));
			if (!v) {
				rc = -ENOMEM;
				break;
			}
			out->v = v;
			out->cap = cap;
		}
		out->v[out->n] = strndup(e->d_name, strlen(e->d_name) - 5);
		if (!out->v[out->n])
			rc = -ENOMEM;
		else
			out->n++;
	}
	closedir(d);
	if (count)
		*count = n;
	return rc;
}

int hub_repack_count(size_t *out, const char *gitdir)
{
	*out = 0;
	char dir[HUB_URL_MAX];
	if ((size_t)snprintf(dir, sizeof(dir), "%s/objects/pack", gitdir) >= sizeof(dir))
		return -ENAMETOOLONG;
	return list_packs(NULL, out, dir);
}

struct ids {
	git_oid *v;
	size_t n, cap;
	bool oom;
};

static int collect(const git_oid *id, void *payload)
{
	struct ids *s = payload;
	if (s->n == s->cap) {
		size_t cap = s->cap ? 2 * s->cap : 1024;
		git_oid *v = realloc(s->v, cap * sizeof(*v));
		if (!v) {
			s->oom = true;
			return -1;
		}
		s->v = v;
		s->cap = cap;
	}
	git_oid_cpy(&s->v[s->n++], id);
	return 0;
}

/* Abort the packbuilder (and its indexer) once *stop is set. */
static int build_progress(int stage, uint32_t current, uint32_t total, void *payload)
{
	(void)stage;
	(void)current;
	(void)total;
	const bool *stop = payload;
	return stop && __atomic_load_n(stop, __ATOMIC_RELAXED) ? -1 : 0;
}

static int write_progress(const git_indexer_progress *p, void *payload)
{
	(void)p;
	return build_progress(0, 0, 0, payload);
}

static int fsync_path(const char *path, bool dir)
{
	int fd = open(path, (dir ? O_RDONLY | O_DIRECTORY : O_RDONLY) | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	int rc = fsync(fd) ? -errno : 0;
	close(fd);
	return rc;
}

/* Remove the pack stem ("pack-<hash>") from dir: index first. */
static void remove_pack(const char *dir, const char *stem)
{
	static const char *const ext[] = { ".idx", ".pack", ".rev", ".mtimes", ".keep",
					   ".promisor" };
	for (size_t i = 0; i < sizeof(ext) / sizeof(ext[0]); i++) {
		char path[HUB_URL_MAX];
		if ((size_t)snprintf(path, sizeof(path), "%s/%s%s", dir, stem, ext[i]) >= sizeof(path))
			continue;
		if (unlink(path) && errno != ENOENT)
			hub_warn("repack: cannot remove %s: %s", path, strerror(errno));
	}
}

static int fail(const char *gitdir, const char *step, int rc)
{
	const char *msg = hub_git_last_message();
	int e = hub_git_errno(rc, msg, NULL);
	hub_warn("repack %s: %s: %s", gitdir, step, msg);
	return e == -ENOENT ? -EIO : e;
}

/* With the fetch lock held. */
static int repack_locked(size_t *out_after, const char *gitdir, const char *dir,
			 const struct names *old, const bool *stop)
{
	git_repository *repo = NULL;
	git_odb *odb = NULL;
	git_packbuilder *pb = NULL;
	struct ids ids = {0};
	int err = 0;
	int rc = hub_git_open_bare(&repo, gitdir);
	if (rc < 0)
		return fail(gitdir, "open", rc);
	if ((rc = git_repository_odb(&odb, repo)) < 0) {
		err = fail(gitdir, "object database", rc);
		goto out;
	}
	if ((rc = git_odb_foreach(odb, collect, &ids)) < 0) {
		err = ids.oom ? -ENOMEM : fail(gitdir, "list objects", rc);
		goto out;
	}
	if ((rc = git_packbuilder_new(&pb, repo)) < 0) {
		err = fail(gitdir, "packbuilder", rc);
		goto out;
	}
	git_packbuilder_set_threads(pb, 1);
	git_packbuilder_set_callbacks(pb, build_progress, (void *)stop);
	for (size_t i = 0; i < ids.n && !err; i++) {
		/* Skips an id already inserted (one object in several packs). */
		rc = git_packbuilder_insert(pb, &ids.v[i], NULL);
		if (stop && __atomic_load_n(stop, __ATOMIC_RELAXED))
			err = -ECANCELED; /* maybe through build_progress's -1 */
		else if (rc < 0)
			err = fail(gitdir, "insert", rc);
	}
	if (err)
		goto out;
	rc = git_packbuilder_write(pb, dir, 0, write_progress, (void *)stop);
	if (rc < 0) {
		err = stop && __atomic_load_n(stop, __ATOMIC_RELAXED) ? -ECANCELED
								       : fail(gitdir, "write", rc);
		goto out;
	}
	const char *name = git_packbuilder_name(pb);
	char stem[128], path[HUB_URL_MAX];
	snprintf(stem, sizeof(stem), "pack-%s", name ? name : "");
	static const char *const ext[] = { ".pack", ".idx" };
	for (size_t i = 0; i < 2 && !err; i++) {
		if ((size_t)snprintf(path, sizeof(path), "%s/%s%s", dir, stem, ext[i]) >= sizeof(path))
			err = -ENAMETOOLONG;
		else
			err = fsync_path(path, false);
	}
	if (!err)
		err = fsync_path(dir, true);
	if (err) {
		hub_warn("repack %s: new pack %s not durable: %s", gitdir, stem, strerror(-err));
		goto out;
	}
	for (size_t i = 0; i < old->n; i++)
		if (strcmp(old->v[i], stem))
			remove_pack(dir, old->v[i]);
	fsync_path(dir, true);
	err = hub_repack_count(out_after, gitdir);
	hub_info("repack %s: %zu packs into one (%zu objects)", gitdir, old->n,
		 (size_t)git_packbuilder_object_count(pb));
out:
	git_packbuilder_free(pb);
	git_odb_free(odb);
	git_repository_free(repo);
	free(ids.v);
	return err;
}

int hub_repack_run(size_t *out_before, size_t *out_after, const char *gitdir, size_t max,
		   const bool *stop)
{
	*out_before = *out_after = 0;
	char dir[HUB_URL_MAX];
	if ((size_t)snprintf(dir, sizeof(dir), "%s/objects/pack", gitdir) >= sizeof(dir))
		return -ENAMETOOLONG;
	size_t n;
	int rc = list_packs(NULL, &n, dir);
	if (rc)
		return rc;
	*out_before = *out_after = n;
	if (n <= max)
		return 0;
	int lockfd = hub_git_trylock_fetch(gitdir);
	if (lockfd < 0)
		return lockfd;
	struct names old = {0};
	rc = list_packs(&old, &n, dir); /* again, under the lock */
	*out_before = *out_after = n;
	if (!rc && n > max)
		rc = repack_locked(out_after, gitdir, dir, &old, stop);
	names_free(&old);
	close(lockfd);
	return rc;
}
