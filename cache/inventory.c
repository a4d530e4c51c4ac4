/*
 * The inventory of a cache root (inventory.h): a directory walk of
 * hubfs/repos/<owner>/<repo>/, hubfs/weights/ and checkpoints/, reading
 * state.json and <key>.head with the store's own readers.  No locks, no
 * writes; everything found is copied into the caller's struct.
 */
#include "cache/inventory.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/hash.h"
#include "base/limits.h"
#include "cache/repo_internal.h"
#include "cache/weights.h"
#include "cache/weights_internal.h"

/* snprintf for paths: false when path did not fit (the entry is skipped). */
__attribute__((format(printf, 3, 4))) static bool pathf(char *out, size_t n, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int k = vsnprintf(out, n, fmt, ap);
	va_end(ap);
	return k >= 0 && (size_t)k < n;
}

static const char *const kind_str[] = { "branch", "tag", "commit", "other" };

static double newest(const struct stat *st)
{
	double a = (double)st->st_atim.tv_sec + st->st_atim.tv_nsec * 1e-9;
	double m = (double)st->st_mtim.tv_sec + st->st_mtim.tv_nsec * 1e-9;
	return a > m ? a : m;
}

static uint64_t allocated(const struct stat *st)
{
	return (uint64_t)st->st_blocks * 512u;
}

/* Bytes allocated under path and the newest time of its files (no symlink
 * followed, bounded depth: a cache holds no deep trees). */
static void walk(const char *path, int depth, uint64_t *bytes, double *last)
{
	struct stat st;
	if (lstat(path, &st))
		return;
	*bytes += allocated(&st);
	if (S_ISREG(st.st_mode) && newest(&st) > *last)
		*last = newest(&st);
	if (!S_ISDIR(st.st_mode) || depth > 16)
		return;
	DIR *d = opendir(path);
	if (!d)
		return;
	struct dirent *e;
	while ((e = readdir(d))) {
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		char sub[PATH_MAX];
		if (snprintf(sub, sizeof(sub), "%s/%s", path, e->d_name) < (int)sizeof(sub))
			walk(sub, depth + 1, bytes, last);
	}
	closedir(d);
}

/* ---- repositories ---- */

static int add_repo(struct hub_inventory *inv, size_t *cap, const char *dir, const char *owner,
		    const char *repo)
{
	if (inv->nrepos == *cap) {
		size_t n = *cap ? *cap * 2 : 16;
		struct hub_inv_repo *r = realloc(inv->repos, n * sizeof(*r));
		if (!r)
			return -ENOMEM;
		inv->repos = r;
		*cap = n;
	}
	struct hub_inv_repo *r = &inv->repos[inv->nrepos];
	memset(r, 0, sizeof(*r));
	r->owner = strdup(owner);
	r->repo = strdup(repo);
	inv->nrepos++; /* disposed of with the inventory from here on */
	if (!r->owner || !r->repo)
		return -ENOMEM;
	walk(dir, 0, &r->bytes, &r->last_use);
	char path[PATH_MAX];
	struct hub_state s;
	if (!pathf(path, sizeof(path), "%s/state.json", dir) || hub_state_load(&s, path))
		return 0; /* an unreadable record: the repo is still listed */
	if (s.head && !(r->head = strdup(s.head)))
		goto nomem;
	if (s.n) {
		r->refs = calloc(s.n, sizeof(*r->refs));
		if (!r->refs)
			goto nomem;
	}
	for (size_t i = 0; i < s.n; i++) {
		struct hub_inv_ref *f = &r->refs[r->nrefs];
		if (!(f->ref = strdup(s.refs[i].ref)))
			goto nomem;
		memcpy(f->sha, s.refs[i].sha, sizeof(f->sha));
		f->kind = kind_str[s.refs[i].kind <= KIND_OTHER ? s.refs[i].kind : KIND_OTHER];
		f->time = s.refs[i].time;
		r->nrefs++;
	}
	hub_state_dispose(&s);
	return 0;
nomem:
	hub_state_dispose(&s);
	return -ENOMEM;
}

static int load_repos(struct hub_inventory *inv, const char *root)
{
	char base[PATH_MAX];
	snprintf(base, sizeof(base), "%s/hubfs/repos", root);
	DIR *od = opendir(base);
	if (!od)
		return errno == ENOENT ? 0 : -errno;
	size_t cap = 0;
	int rc = 0;
	struct dirent *o;
	while (!rc && (o = readdir(od))) {
		if (o->d_name[0] == '.')
			continue;
		char odir[PATH_MAX];
		DIR *rd = pathf(odir, sizeof(odir), "%s/%s", base, o->d_name) ? opendir(odir) : NULL;
		if (!rd)
			continue;
		struct dirent *r;
		while (!rc && (r = readdir(rd))) {
			if (r->d_name[0] == '.')
				continue;
			char rdir[PATH_MAX];
			struct stat st;
			if (snprintf(rdir, sizeof(rdir), "%s/%s", odir, r->d_name) >= (int)sizeof(rdir) ||
			    lstat(rdir, &st) || !S_ISDIR(st.st_mode))
				continue;
			rc = add_repo(inv, &cap, rdir, o->d_name, r->d_name);
		}
		closedir(rd);
	}
	closedir(od);
	return rc;
}

/* ---- weights ---- */

static struct hub_inv_weight *weight_slot(struct hub_inventory *inv, size_t *cap)
{
	if (inv->nweights == *cap) {
		size_t n = *cap ? *cap * 2 : 32;
		struct hub_inv_weight *w = realloc(inv->weights, n * sizeof(*w));
		if (!w)
			return NULL;
		inv->weights = w;
		*cap = n;
	}
	struct hub_inv_weight *w = &inv->weights[inv->nweights++];
	memset(w, 0, sizeof(*w));
	return w;
}

static bool is_key(const char *s, size_t n)
{
	if (n == 0 || n > 64)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	return true;
}

/* One store key: <key>.data|.part|.ranges|.head|.lock. */
static int add_weight(struct hub_inventory *inv, size_t *cap, const char *root, const char *dir,
		      const char *key)
{
	struct hub_inv_weight *w = weight_slot(inv, cap);
	if (!w)
		return -ENOMEM;
	snprintf(w->key, sizeof(w->key), "%s", key);
	static const char *const ext[] = { "data", "part", "ranges", "head", "lock" };
	struct stat data_st = { 0 };
	for (size_t i = 0; i < sizeof(ext) / sizeof(*ext); i++) {
		char p[PATH_MAX];
		struct stat st;
		if (!pathf(p, sizeof(p), "%s/%s.%s", dir, key, ext[i]) || lstat(p, &st) ||
		    !S_ISREG(st.st_mode))
			continue;
		w->bytes += allocated(&st);
		if (i <= 1 && newest(&st) > w->last_use)
			w->last_use = newest(&st);
		if (i == 0) {
			w->complete = true;
			w->size_known = true;
			w->size = (uint64_t)st.st_size;
			data_st = st;
			if (!(w->path = strdup(p)))
				return -ENOMEM;
		}
	}
	char hp[PATH_MAX];
	struct sidecar sc;
	if (pathf(hp, sizeof(hp), "%s/%s.head", dir, key) && !hw_sidecar_read(&sc, hp)) {
		if (sc.url) {
			w->url = sc.url;
			sc.url = NULL;
		}
		if (!w->complete && sc.size_known) {
			w->size_known = true;
			w->size = sc.size;
		}
		snprintf(w->bad, sizeof(w->bad), "%s", sc.bad);
		hw_sidecar_dispose(&sc);
	}
	char name[NAME_MAX + 1];
	if (w->url && !hub_weights_name(name, sizeof(name), w->url)) {
		if (!(w->name = strdup(name)))
			return -ENOMEM;
		char ck[PATH_MAX];
		struct stat st;
		w->linked = w->complete && pathf(ck, sizeof(ck), "%s/checkpoints/%s", root, name) &&
			    !lstat(ck, &st) && st.st_ino == data_st.st_ino &&
			    st.st_dev == data_st.st_dev;
	} else if (!(w->name = strdup("?"))) {
		return -ENOMEM;
	}
	return 0;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int load_store(struct hub_inventory *inv, size_t *cap, const char *root)
{
	char dir[PATH_MAX];
	snprintf(dir, sizeof(dir), "%s/hubfs/weights", root);
	DIR *d = opendir(dir);
	if (!d)
		return errno == ENOENT ? 0 : -errno;
	/* the distinct keys, sorted (one entry per key, whatever its files) */
	char **keys = NULL;
	size_t n = 0, kcap = 0;
	int rc = 0;
	struct dirent *e;
	while (!rc && (e = readdir(d))) {
		const char *dot = strchr(e->d_name, '.');
		if (!dot || !is_key(e->d_name, (size_t)(dot - e->d_name)))
			continue;
		if (n == kcap) {
			kcap = kcap ? kcap * 2 : 64;
			char **k = realloc(keys, kcap * sizeof(*k));
			if (!k) {
				rc = -ENOMEM;
				break;
			}
			keys = k;
		}
		if (!(keys[n] = strndup(e->d_name, (size_t)(dot - e->d_name))))
			rc = -ENOMEM;
		else
			n++;
	}
	closedir(d);
	if (n)
		qsort(keys, n, sizeof(*keys), cmp_str);
	for (size_t i = 0; i < n && !rc; i++)
		if (i == 0 || strcmp(keys[i], keys[i - 1]))
			rc = add_weight(inv, cap, root, dir, keys[i]);
	for (size_t i = 0; i < n; i++)
		free(keys[i]);
	free(keys);
	return rc;
}

/* checkpoints/ files that are no store file's: torch.hub's downloads. */
static int load_checkpoints(struct hub_inventory *inv, size_t *cap, const char *root)
{
	char dir[PATH_MAX];
	snprintf(dir, sizeof(dir), "%s/checkpoints", root);
	DIR *d = opendir(dir);
	if (!d)
		return errno == ENOENT ? 0 : -errno;
	size_t nstore = inv->nweights;
	int rc = 0;
	struct dirent *e;
	while (!rc && (e = readdir(d))) {
		char p[PATH_MAX];
		struct stat st;
		if (e->d_name[0] == '.' ||
		    snprintf(p, sizeof(p), "%s/%s", dir, e->d_name) >= (int)sizeof(p) ||
		    lstat(p, &st) || !S_ISREG(st.st_mode))
			continue;
		bool ours = false;
		for (size_t i = 0; i < nstore && !ours; i++)
			ours = inv->weights[i].linked && !strcmp(inv->weights[i].name, e->d_name);
		if (ours)
			continue;
		struct hub_inv_weight *w = weight_slot(inv, cap);
		if (!w)
			return -ENOMEM;
		w->complete = w->size_known = true;
		w->size = (uint64_t)st.st_size;
		w->bytes = allocated(&st);
		w->last_use = newest(&st);
		if (!(w->name = strdup(e->d_name)) || !(w->path = strdup(p)))
			rc = -ENOMEM;
	}
	closedir(d);
	return rc;
}

static int cmp_repo(const void *a, const void *b)
{
	const struct hub_inv_repo *x = a, *y = b;
	int c = strcmp(x->owner, y->owner);
	return c ? c : strcmp(x->repo, y->repo);
}

static int cmp_weight(const void *a, const void *b)
{
	const struct hub_inv_weight *x = a, *y = b;
	int c = strcmp(x->name, y->name);
	return c ? c : strcmp(x->key, y->key);
}

int hub_inventory_load(struct hub_inventory *out, const char *root)
{
	memset(out, 0, sizeof(*out));
	char p[PATH_MAX];
	struct stat st;
	bool any = false;
	snprintf(p, sizeof(p), "%s/hubfs", root);
	any |= !stat(p, &st) && S_ISDIR(st.st_mode);
	snprintf(p, sizeof(p), "%s/checkpoints", root);
	any |= !stat(p, &st) && S_ISDIR(st.st_mode);
	if (!any)
		return stat(root, &st) ? -errno : -ENOENT;
	if (!(out->root = strdup(root)))
		return -ENOMEM;
	size_t wcap = 0;
	int rc = load_repos(out, root);
	if (!rc)
		rc = load_store(out, &wcap, root);
	if (!rc)
		rc = load_checkpoints(out, &wcap, root);
	if (rc) {
		hub_inventory_dispose(out);
		return rc;
	}
	double unused = 0;
	snprintf(p, sizeof(p), "%s/hubfs/analysis", root);
	walk(p, 0, &out->analysis_bytes, &unused);
	/* the rest of hubfs/: everything but repos/, weights/ and analysis/ */
	snprintf(p, sizeof(p), "%s/hubfs", root);
	DIR *d = opendir(p);
	if (d) {
		struct dirent *e;
		while ((e = readdir(d))) {
			if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..") ||
			    !strcmp(e->d_name, "repos") || !strcmp(e->d_name, "weights") ||
			    !strcmp(e->d_name, "analysis"))
				continue;
			char sub[PATH_MAX];
			if (snprintf(sub, sizeof(sub), "%s/%s", p, e->d_name) < (int)sizeof(sub))
				walk(sub, 0, &out->other_bytes, &unused);
		}
		closedir(d);
	}
	if (out->nrepos)
		qsort(out->repos, out->nrepos, sizeof(*out->repos), cmp_repo);
	if (out->nweights)
		qsort(out->weights, out->nweights, sizeof(*out->weights), cmp_weight);
	return 0;
}

void hub_inventory_dispose(struct hub_inventory *inv)
{
	for (size_t i = 0; i < inv->nrepos; i++) {
		struct hub_inv_repo *r = &inv->repos[i];
		free(r->owner);
		free(r->repo);
		free(r->head);
		for (size_t j = 0; j < r->nrefs; j++)
			free(r->refs[j].ref);
		free(r->refs);
	}
	free(inv->repos);
	for (size_t i = 0; i < inv->nweights; i++) {
		free(inv->weights[i].name);
		free(inv->weights[i].url);
		free(inv->weights[i].path);
	}
	free(inv->weights);
	free(inv->root);
	memset(inv, 0, sizeof(*inv));
}

int hub_inventory_hash(char hex[65], const char *path)
{
	int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	struct hub_sha256 c;
	int rc = hub_sha256_init(&c);
	char *buf = rc ? NULL : malloc(HUB_VERIFY_CHUNK);
	if (!rc && !buf) {
		hub_sha256_dispose(&c);
		rc = -ENOMEM;
	}
	while (!rc) {
		ssize_t n = read(fd, buf, HUB_VERIFY_CHUNK);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = -errno;
			hub_sha256_dispose(&c);
			break;
		}
		if (n == 0) {
			uint8_t d[HUB_SHA256_LEN];
			rc = hub_sha256_final(d, &c);
			if (!rc)
				hub_sha256_hex(hex, d);
			break;
		}
		hub_sha256_update(&c, buf, (size_t)n);
	}
	free(buf);
	close(fd);
	return rc;
}
