/*
 * The cache's bare repository on disk, below libgit2's remote operations:
 * creating it (hub_git_init_bare, atomic by rename), opening it, the
 * per-gitdir fetch lock and the repair of the shallow file after a fetch.
 *
 * Locks: hub_git_lock_fetch takes flock(2) on <gitdir>/hubfs-fetch.lock,
 * which serializes fetches into one gitdir across threads and processes
 * (git_fetch.c holds it for the whole fetch, shallow repair included).
 * Nothing else here keeps state; creation races are settled by rename(2).
 */
#include "fetch/git.h"
#include "fetch/git_int.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <git2.h>

#include "base/limits.h"
#include "base/log.h"

/* The process umask, read without changing it (Linux 4.7+), else 022. */
static mode_t umask_now(void)
{
	FILE *f = fopen("/proc/self/status", "re");
	char line[128];
	unsigned mask = 022;
	while (f && fgets(line, sizeof(line), f))
		if (sscanf(line, "Umask: %o", &mask) == 1)
			break;
	if (f)
		fclose(f);
	return (mode_t)mask;
}

static int rm_entry(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
	(void)st;
	(void)type;
	(void)ftw;
	return remove(path) < 0 ? -1 : 0;
}

int hub_git_open_bare(git_repository **out, const char *gitdir)
{
	return git_repository_open_ext(out, gitdir,
				       GIT_REPOSITORY_OPEN_NO_SEARCH | GIT_REPOSITORY_OPEN_BARE,
				       NULL);
}

/* mkdir -p of the directory that will hold path's last component. */
static int mkdir_parent(const char *path)
{
	char buf[HUB_URL_MAX];
	if ((size_t)snprintf(buf, sizeof(buf), "%s", path) >= sizeof(buf))
		return -ENAMETOOLONG;
	char *slash = strrchr(buf, '/');
	if (!slash || slash == buf)
		return 0;
	*slash = '\0';
	for (char *p = buf + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(buf, 0777) < 0 && errno != EEXIST)
			return -errno;
		*p = '/';
	}
	return mkdir(buf, 0777) < 0 && errno != EEXIST ? -errno : 0;
}

/*
 * Initialize in a private sibling directory (hidden, from mkdtemp), then
 * rename(2) it to gitdir: rename is atomic and fails if gitdir is a non-empty
 * directory, so of two racing processes exactly one publishes its repository,
 * the other removes its copy, and nobody ever opens a half-made one.
 */
int hub_git_init_bare(const char *gitdir)
{
	git_repository *repo = NULL;
	if (hub_git_open_bare(&repo, gitdir) == 0) {
		git_repository_free(repo);
		return 0;
	}
	size_t len = strlen(gitdir);
	while (len > 1 && gitdir[len - 1] == '/')
		len--;
	const char *base = gitdir + len;
	while (base > gitdir && base[-1] != '/')
		base--;
	char tmp[HUB_URL_MAX];
	if ((size_t)snprintf(tmp, sizeof(tmp), "%.*s.%.*s.tmp-XXXXXX", (int)(base - gitdir),
			     gitdir, (int)(gitdir + len - base), base) >= sizeof(tmp)) {
		hub_warn("git init %s: %s", gitdir, strerror(ENAMETOOLONG));
		return -ENAMETOOLONG;
	}
	int err = mkdir_parent(tmp);
	if (err == 0 && !mkdtemp(tmp))
		err = -errno;
	if (err < 0) {
		hub_warn("git init %s: %s", gitdir, strerror(-err));
		return err;
	}
	chmod(tmp, 0777 & ~umask_now()); /* mkdtemp makes it 0700 */

	git_repository_init_options opts = GIT_REPOSITORY_INIT_OPTIONS_INIT;
	opts.flags = GIT_REPOSITORY_INIT_BARE | GIT_REPOSITORY_INIT_NO_REINIT;
	opts.mode = GIT_REPOSITORY_INIT_SHARED_UMASK;
	int rc = git_repository_init_ext(&repo, tmp, &opts);
	git_repository_free(repo);
	repo = NULL;
	if (rc < 0) {
		const git_error *e = git_error_last();
		hub_warn("git init %s: %s", tmp, e && e->message ? e->message : "?");
		nftw(tmp, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
		return -EIO;
	}
	if (rename(tmp, gitdir) < 0) {
		int e = errno;
		nftw(tmp, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
		if (e != EEXIST && e != ENOTEMPTY) {
			hub_warn("git init %s: rename: %s", gitdir, strerror(e));
			return -e;
		}
		/* Somebody else was first, or something else is in the way. */
	}
	if (hub_git_open_bare(&repo, gitdir) < 0) {
		hub_warn("git init %s: exists but is not a git repository", gitdir);
		err = -EEXIST;
	}
	git_repository_free(repo);
	return err;
}

/*
 * The shallow file.  libgit2 1.8 rewrites <gitdir>/shallow with the roots of
 * the last fetch only: after "master" at depth 1 and then "side" at depth 1,
 * master's tip is no longer marked shallow, git fsck reports a broken link
 * and the next fetch fails ("object not found - no match for id", from the
 * walk of local refs it advertises as "have").  So the roots from before a
 * fetch are merged back: a root stays while one of its parents is missing.
 */
static int oids_add(struct hub_git_oids *set, const git_oid *id)
{
	if (set->n == set->cap) {
		size_t cap = set->cap ? 2 * set->cap : 16;
		git_oid *v = realloc(set->v, cap * sizeof(*v));
		if (!v)
			return -ENOMEM;
		set->v = v;
		set->cap = cap;
	}
	git_oid_cpy(&set->v[set->n++], id);
	return 0;
}

static int oid_qsort_cmp(const void *a, const void *b)
{
	return git_oid_cmp(a, b);
}

static void oids_sort_unique(struct hub_git_oids *set)
{
	if (set->n == 0)
		return;
	qsort(set->v, set->n, sizeof(*set->v), oid_qsort_cmp);
	size_t k = 1;
	for (size_t i = 1; i < set->n; i++)
		if (!git_oid_equal(&set->v[i], &set->v[k - 1]))
			git_oid_cpy(&set->v[k++], &set->v[i]);
	set->n = k;
}

static bool oids_equal(const struct hub_git_oids *a, const struct hub_git_oids *b)
{
	if (a->n != b->n)
		return false;
	for (size_t i = 0; i < a->n; i++)
		if (!git_oid_equal(&a->v[i], &b->v[i]))
			return false;
	return true;
}

/* <gitdir>/shallow, sorted; a missing file is the empty set. */
int hub_git_shallow_read(struct hub_git_oids *out, const char *gitdir)
{
	char path[HUB_URL_MAX];
	if ((size_t)snprintf(path, sizeof(path), "%s/shallow", gitdir) >= sizeof(path))
		return -ENAMETOOLONG;
	FILE *f = fopen(path, "re");
	if (!f)
		return errno == ENOENT ? 0 : -errno;
	char line[128]; /* 40 hex digits, or 64 for sha256, and a newline */
	int err = 0;
	while (err == 0 && fgets(line, sizeof(line), f)) {
		git_oid id;
		line[strcspn(line, "\r\n")] = '\0';
		if (git_oid_fromstr(&id, line) == 0)
			err = oids_add(out, &id);
	}
	if (err == 0 && ferror(f))
		err = -EIO;
	fclose(f);
	oids_sort_unique(out);
	return err;
}

static int shallow_write(const char *gitdir, const struct hub_git_oids *roots)
{
	char path[HUB_URL_MAX], lock[HUB_URL_MAX];
	if ((size_t)snprintf(path, sizeof(path), "%s/shallow", gitdir) >= sizeof(path) ||
	    (size_t)snprintf(lock, sizeof(lock), "%s/shallow.lock", gitdir) >= sizeof(lock))
		return -ENAMETOOLONG;
	if (roots->n == 0)
		return unlink(path) < 0 && errno != ENOENT ? -errno : 0;
	/* git's protocol: create the lock exclusively, rename it over. */
	FILE *f = NULL;
	int fd = open(lock, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
	if (fd < 0 || !(f = fdopen(fd, "w"))) {
		int e = errno;
		if (fd >= 0) {
			close(fd);
			unlink(lock);
		}
		return -e;
	}
	char hex[GIT_OID_MAX_HEXSIZE + 1];
	for (size_t i = 0; i < roots->n; i++)
		fprintf(f, "%s\n", git_oid_tostr(hex, sizeof(hex), &roots->v[i]));
	if (fclose(f) != 0 || rename(lock, path) < 0) {
		int e = errno;
		unlink(lock);
		return -e;
	}
	return 0;
}

/* Is id a commit we have with a parent we do not have? */
static bool is_shallow_boundary(git_odb *odb, const git_oid *id)
{
	git_odb_object *obj = NULL;
	if (git_odb_read(&obj, odb, id) < 0 || git_odb_object_type(obj) != GIT_OBJECT_COMMIT) {
		git_odb_object_free(obj);
		return false;
	}
	const char *p = git_odb_object_data(obj);
	const char *end = p + git_odb_object_size(obj);
	bool missing = false;
	/* The header: "tree X\n", then "parent X\n" lines. */
	while (p < end && *p != '\n' && !missing) {
		const char *eol = memchr(p, '\n', (size_t)(end - p));
		if (!eol)
			break;
		git_oid parent;
		if ((size_t)(eol - p) == 7 + GIT_OID_SHA1_HEXSIZE && memcmp(p, "parent ", 7) == 0 &&
		    git_oid_fromstrn(&parent, p + 7, GIT_OID_SHA1_HEXSIZE) == 0)
			missing = !git_odb_exists(odb, &parent);
		p = eol + 1;
	}
	git_odb_object_free(obj);
	return missing;
}

/* Merge the roots from before the fetch back into the shallow file. */
void hub_git_shallow_repair(git_repository *repo, const char *gitdir,
			    const struct hub_git_oids *before)
{
	struct hub_git_oids now = {0}, keep = {0};
	git_odb *odb = NULL;
	int err = hub_git_shallow_read(&now, gitdir);
	if (err == 0 && git_repository_odb(&odb, repo) < 0)
		err = -EIO;
	for (size_t i = 0; err == 0 && i < before->n + now.n; i++) {
		const git_oid *id = i < before->n ? &before->v[i] : &now.v[i - before->n];
		if (is_shallow_boundary(odb, id))
			err = oids_add(&keep, id);
	}
	if (err == 0) {
		oids_sort_unique(&keep);
		if (!oids_equal(&keep, &now))
			err = shallow_write(gitdir, &keep);
	}
	if (err < 0)
		hub_warn("git fetch %s: cannot repair the shallow file: %s", gitdir,
			 strerror(-err));
	git_odb_free(odb);
	free(now.v);
	free(keep.v);
}

/*
 * One fetch at a time per gitdir, across threads and processes: libgit2's
 * shallow file update and our repair of it are read-modify-write.  flock(2)
 * locks belong to the open file description, so each call opens its own.
 */
/* <gitdir>/hubfs-fetch.lock opened and flock'ed with op (LOCK_EX, maybe
 * | LOCK_NB): the fd, or -errno (-EBUSY when LOCK_NB finds it held). */
static int lock_fetch(const char *gitdir, int op)
{
	char path[HUB_URL_MAX];
	if ((size_t)snprintf(path, sizeof(path), "%s/hubfs-fetch.lock", gitdir) >= sizeof(path))
		return -ENAMETOOLONG;
	int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0666);
	if (fd < 0)
		return -errno;
	while (flock(fd, op) < 0) {
		if (errno != EINTR) {
			int e = errno == EWOULDBLOCK ? EBUSY : errno;
			close(fd);
			return -e;
		}
	}
	return fd;
}

int hub_git_lock_fetch(const char *gitdir)
{
	return lock_fetch(gitdir, LOCK_EX);
}

int hub_git_trylock_fetch(const char *gitdir)
{
	return lock_fetch(gitdir, LOCK_EX | LOCK_NB);
}

/* Open the cache repository gitdir, creating it if need be. */
int hub_git_open_cache(git_repository **out, const char *gitdir)
{
	int rc = hub_git_open_bare(out, gitdir);
	if (rc == GIT_ENOTFOUND) {
		int err = hub_git_init_bare(gitdir);
		if (err < 0)
			return err;
		rc = hub_git_open_bare(out, gitdir);
	}
	if (rc < 0) {
		/* Our cache, not the upstream: never ENOENT. */
		const git_error *e = git_error_last();
		hub_warn("git: cannot open %s: %s", gitdir, e && e->message ? e->message : "?");
		return -EIO;
	}
	return 0;
}
