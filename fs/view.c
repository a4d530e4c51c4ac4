/* The .hub/ view; see view.h.  Built without locks: the caller publishes
 * the finished tree under its own lock. */
#include "fs/view.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/names.h"
#include "base/strhash.h"
#include "cache/analysis.h"
#include "cache/repo.h"
#include "cache/weights.h"

static void view_dispose(struct hub_view *v)
{
	free(v->name);
	free(v->data);
	free(v->url);
	for (size_t i = 0; i < v->n; i++)
		view_dispose(&v->kids[i]);
	free(v->kids);
}

void hub_view_free(struct hub_view *v)
{
	if (!v)
		return;
	view_dispose(v);
	free(v);
}

/* Append a child taking ownership of data; NULL on ENOMEM.  The caller
 * sorts the children when the directory is complete. */
static struct hub_view *add(struct hub_view *dir, const char *name, bool is_dir, char *data,
			    size_t len)
{
	if (dir->n == dir->cap) { /* doubling: 100,000 weights, not n^2 copies */
		size_t cap = dir->cap ? dir->cap * 2 : 8;
		struct hub_view *k = realloc(dir->kids, cap * sizeof(*k));
		if (!k) {
			free(data);
			return NULL;
		}
		dir->kids = k;
		dir->cap = cap;
	}
	struct hub_view *v = &dir->kids[dir->n];
	memset(v, 0, sizeof(*v));
	v->name = strdup(name);
	if (!v->name) {
		free(data);
		return NULL;
	}
	v->dir = is_dir;
	v->data = data;
	v->len = len;
	dir->n++;
	return v;
}

static struct hub_view *add_text(struct hub_view *dir, const char *name, const char *text)
{
	char *copy = strdup(text);
	return copy ? add(dir, name, false, copy, strlen(copy)) : NULL;
}

static int cmp_view(const void *a, const void *b)
{
	return strcmp(((const struct hub_view *)a)->name, ((const struct hub_view *)b)->name);
}

/* Sort a finished directory by name and drop repeated names (the first in
 * sorted order stays), so hub_view_child can bsearch it. */
static void sort_unique(struct hub_view *dir)
{
	if (dir->n < 2)
		return; /* kids may be NULL, which qsort must not see */
	qsort(dir->kids, dir->n, sizeof(*dir->kids), cmp_view);
	size_t u = 0;
	for (size_t i = 0; i < dir->n; i++) {
		if (u && !strcmp(dir->kids[u - 1].name, dir->kids[i].name))
			view_dispose(&dir->kids[i]);
		else
			dir->kids[u++] = dir->kids[i];
	}
	dir->n = u;
}

/* A JSON array of strings as lines ("a\nb\n"); "" when empty. */
static char *lines_of(const cJSON *arr)
{
	size_t len = 1;
	const cJSON *it;
	cJSON_ArrayForEach(it, arr)
	{
		if (cJSON_IsString(it))
			len += strlen(it->valuestring) + 1;
	}
	char *out = malloc(len);
	if (!out)
		return NULL;
	size_t at = 0;
	cJSON_ArrayForEach(it, arr)
	{
		if (!cJSON_IsString(it))
			continue;
		size_t n = strlen(it->valuestring);
		memcpy(out + at, it->valuestring, n);
		at += n;
		out[at++] = '\n';
	}
	out[at] = '\0';
	return out;
}

/* Weight URLs and their file names for one commit. */
struct wname {
	const char *url;
	char *name;
	bool clash; /* another URL before it has its base name */
};

/* A URL's base name and its index in the URL order (clash detection). */
struct bykey {
	char *name;
	size_t i;
};

static int cmp_bykey(const void *a, const void *b)
{
	const struct bykey *x = a, *y = b;
	int c = strcmp(x->name, y->name);
	return c ? c : x->i < y->i ? -1 : x->i > y->i;
}

static int cmp_wname(const void *a, const void *b)
{
	return strcmp(((const struct wname *)a)->url, ((const struct wname *)b)->url);
}

static const char *weight_url(const cJSON *it)
{
	if (cJSON_IsString(it))
		return it->valuestring;
	const cJSON *u = cJSON_GetObjectItemCaseSensitive(it, "url");
	return cJSON_IsString(u) ? u->valuestring : NULL;
}

/* Name every distinct URL of the "weights" list; sorted by URL. */
static int name_weights(struct wname **out, size_t *out_n, const cJSON *list)
{
	size_t n = 0, cap = (size_t)cJSON_GetArraySize(list);
	struct wname *w = calloc(cap ? cap : 1, sizeof(*w));
	if (!w)
		return -ENOMEM;
	const cJSON *it;
	cJSON_ArrayForEach(it, list)
	{
		const char *url = weight_url(it);
		char name[256];
		if (url && hub_weights_name(name, sizeof(name), url) == 0)
			w[n++].url = url;
	}
	qsort(w, n, sizeof(*w), cmp_wname);
	size_t u = 0;
	for (size_t i = 0; i < n; i++)
		if (!u || strcmp(w[u - 1].url, w[i].url))
			w[u++] = w[i];
	n = u;
	/* A URL clashes when one sorted before it has its base name: sorted
	 * by (name, index), every entry of a run of one name but the first.
	 * O(n log n): the list is as long as the analysis output allows. */
	struct bykey *k = calloc(n ? n : 1, sizeof(*k));
	if (!k) {
		free(w);
		return -ENOMEM;
	}
	bool oom = false;
	for (size_t i = 0; i < n; i++) {
		char name[256];
		hub_weights_name(name, sizeof(name), w[i].url);
		oom |= !(k[i].name = strdup(name));
		k[i].i = i;
	}
	if (!oom) {
		qsort(k, n, sizeof(*k), cmp_bykey);
		for (size_t i = 1; i < n; i++)
			if (!strcmp(k[i].name, k[i - 1].name))
				w[k[i].i].clash = true;
	}
	for (size_t i = 0; i < n; i++)
		free(k[i].name);
	free(k);
	if (oom) {
		free(w);
		return -ENOMEM;
	}
	for (size_t i = 0; i < n; i++) {
		char name[256];
		hub_weights_name(name, sizeof(name), w[i].url);
		if (w[i].clash) {
			char *dot = strchr(name, '.');
			size_t stem = dot ? (size_t)(dot - name) : strlen(name);
			if (asprintf(&w[i].name, "%.*s~%08x%s", (int)stem, name, hub_strhash(w[i].url),
				     dot ? dot : "") < 0)
				w[i].name = NULL;
		} else {
			w[i].name = strdup(name);
		}
		if (!w[i].name) {
			for (size_t j = 0; j < i; j++)
				free(w[j].name);
			free(w);
			return -ENOMEM;
		}
	}
	*out = w;
	*out_n = n;
	return 0;
}

static const struct wname *find_weight(const struct wname *w, size_t n, const char *url)
{
	struct wname key = { .url = url };
	return bsearch(&key, w, n, sizeof(*w), cmp_wname);
}

/* loads: one line per torch.hub.load(other_repo, model) the entrypoint
 * reaches, the path of that entrypoint in this mount:
 * "/<owner>/<repo>[:<ref>]/.hub/entrypoints/<model>\n" (the ref encoded as
 * a path component).  Items whose names could not be paths here are
 * skipped.  NULL with *len 0 when there is none; -ENOMEM in *rc. */
static bool load_model_valid(const char *m)
{
	if (!*m || !strcmp(m, ".") || !strcmp(m, "..") || strlen(m) > 255 /* NAME_MAX */)
		return false;
	for (const unsigned char *p = (const unsigned char *)m; *p; p++)
		if (*p < 0x20 || *p == 0x7f || *p == '/')
			return false;
	return true;
}

static char *loads_text(const cJSON *loads, int *rc)
{
	char *out = NULL;
	size_t len = 0;
	*rc = 0;
	FILE *m = open_memstream(&out, &len);
	if (!m) {
		*rc = -ENOMEM;
		return NULL;
	}
	const cJSON *it;
	cJSON_ArrayForEach(it, loads)
	{
		const cJSON *repo = cJSON_GetObjectItemCaseSensitive(it, "repo");
		const cJSON *ref = cJSON_GetObjectItemCaseSensitive(it, "ref");
		const cJSON *model = cJSON_GetObjectItemCaseSensitive(it, "entrypoint");
		if (!cJSON_IsString(repo) || !cJSON_IsString(model) ||
		    !load_model_valid(model->valuestring))
			continue;
		char owner[HUB_REPO_MAX + 1], name[HUB_REPO_MAX + 1], eref[3 * HUB_REF_MAX + 1];
		const char *slash = strchr(repo->valuestring, '/');
		if (!slash || (size_t)(slash - repo->valuestring) > HUB_REPO_MAX ||
		    strlen(slash + 1) > HUB_REPO_MAX)
			continue;
		memcpy(owner, repo->valuestring, (size_t)(slash - repo->valuestring));
		owner[slash - repo->valuestring] = '\0';
		strcpy(name, slash + 1);
		if (!hub_name_owner_valid(owner) || !hub_name_repo_valid(name))
			continue;
		eref[0] = '\0';
		if (cJSON_IsString(ref) && (!hub_name_ref_valid(ref->valuestring) ||
					    hub_name_encode_ref(eref, sizeof(eref), ref->valuestring) < 0))
			continue;
		fprintf(m, "/%s/%s%s%s/.hub/entrypoints/%s\n", owner, name, eref[0] ? ":" : "", eref,
			model->valuestring);
	}
	if (fclose(m)) {
		*rc = -ENOMEM;
		return NULL;
	}
	if (!len) {
		free(out);
		return NULL;
	}
	return out;
}

/* A directory `dname` (weights/, alternatives/) of weight files: the URLs
 * in list (all of them when list is NULL). */
static int add_weights_dir(struct hub_view *parent, const char *dname, const struct wname *w,
			   size_t n, const cJSON *list)
{
	struct hub_view *dir = add(parent, dname, true, NULL, 0);
	if (!dir)
		return -ENOMEM;
	const cJSON *it;
	size_t i = 0;
	for (it = list ? list->child : NULL;; it = it ? it->next : NULL) {
		const struct wname *e;
		if (list) {
			if (!it)
				break;
			e = weight_url(it) ? find_weight(w, n, weight_url(it)) : NULL;
			if (!e)
				continue;
		} else {
			if (i == n)
				break;
			e = &w[i++];
		}
		struct hub_view *f = add(dir, e->name, false, NULL, 0);
		if (!f || !(f->url = strdup(e->url)))
			return -ENOMEM;
	}
	sort_unique(dir);
	return 0;
}

static int add_entrypoints(struct hub_view *root, const cJSON *eps, const struct wname *w,
			   size_t nw, bool weights)
{
	struct hub_view *dir = add(root, "entrypoints", true, NULL, 0);
	if (!dir)
		return -ENOMEM;
	const cJSON *ep;
	cJSON_ArrayForEach(ep, eps)
	{
		const cJSON *name = cJSON_GetObjectItemCaseSensitive(ep, "name");
		const cJSON *help = cJSON_GetObjectItemCaseSensitive(ep, "help");
		const cJSON *sig = cJSON_GetObjectItemCaseSensitive(ep, "signature");
		if (!cJSON_IsString(name) || !name->valuestring[0] || strchr(name->valuestring, '/') ||
		    !strcmp(name->valuestring, ".") || !strcmp(name->valuestring, ".."))
			continue;
		struct hub_view *e = add(dir, name->valuestring, true, NULL, 0);
		if (!e)
			return -ENOMEM;
		char *line = NULL;
		if (cJSON_IsString(sig) && asprintf(&line, "%s\n", sig->valuestring) < 0)
			return -ENOMEM;
		if (!add_text(e, "help", cJSON_IsString(help) ? help->valuestring : "") ||
		    (line ? !add(e, "signature", false, line, strlen(line))
			  : !add_text(e, "signature", "")))
			return -ENOMEM;
		const cJSON *ew = cJSON_GetObjectItemCaseSensitive(ep, "weights");
		if (weights && add_weights_dir(e, "weights", w, nw, cJSON_IsArray(ew) ? ew : NULL))
			return -ENOMEM;
		/* alternatives/: files only another value of an argument selects
		 * (docs/analysis.md); weights/ is what the default call downloads.
		 * Present only when there are some. */
		const cJSON *ea = cJSON_GetObjectItemCaseSensitive(ep, "alternatives");
		if (weights && cJSON_IsArray(ea) && cJSON_GetArraySize(ea) > 0 &&
		    add_weights_dir(e, "alternatives", w, nw, ea))
			return -ENOMEM;
		const cJSON *el = cJSON_GetObjectItemCaseSensitive(ep, "loads");
		if (cJSON_IsArray(el)) {
			int lrc;
			char *lt = loads_text(el, &lrc);
			if (lrc)
				return lrc;
			if (lt && !add(e, "loads", false, lt, strlen(lt)))
				return -ENOMEM;
		}
		sort_unique(e);
	}
	sort_unique(dir); /* names are unique in a Python namespace; repeats dropped all the same */
	return 0;
}

int hub_view_from_json(struct hub_view **out, const char *sha, const char *json)
{
	*out = NULL;
	struct hub_view *root = calloc(1, sizeof(*root));
	if (!root || !(root->name = strdup(".hub"))) {
		free(root);
		return -ENOMEM;
	}
	root->dir = true;
	cJSON *doc = cJSON_Parse(json);
	char commit[42];
	memcpy(commit, sha, 40);
	commit[40] = '\n';
	commit[41] = '\0';
	int rc = add_text(root, "commit", commit) ? 0 : -ENOMEM;
	char *deps = rc ? NULL : lines_of(cJSON_GetObjectItemCaseSensitive(doc, "dependencies"));
	if (!rc && (!deps || !add(root, "dependencies", false, deps, strlen(deps))))
		rc = -ENOMEM;
	/* weights/ directories exist once the analyser reports weights. */
	const cJSON *wl = cJSON_GetObjectItemCaseSensitive(doc, "weights");
	struct wname *w = NULL;
	size_t nw = 0;
	if (!rc && cJSON_IsArray(wl))
		rc = name_weights(&w, &nw, wl);
	if (!rc)
		rc = add_entrypoints(root, cJSON_GetObjectItemCaseSensitive(doc, "entrypoints"), w,
				     nw, cJSON_IsArray(wl));
	if (!rc && cJSON_IsArray(wl))
		rc = add_weights_dir(root, "weights", w, nw, NULL);
	for (size_t i = 0; i < nw; i++)
		free(w[i].name);
	free(w);
	char *errs = NULL;
	if (!rc) {
		errs = doc ? lines_of(cJSON_GetObjectItemCaseSensitive(doc, "errors"))
			   : strdup("hubfs: the analysis result is not valid JSON\n");
		if (!errs || !add(root, "errors", false, errs, strlen(errs)))
			rc = -ENOMEM;
	}
	cJSON_Delete(doc);
	if (rc) {
		hub_view_free(root);
		return rc;
	}
	sort_unique(root);
	*out = root;
	return 0;
}

int hub_view_build(struct hub_view **out, struct hub_cache *cache, struct hub_py *py,
		   struct hub_repo *repo, const char *sha, const struct hub_oid *tree)
{
	char *json;
	bool persisted;
	int rc = hub_analysis_get(&json, &persisted, cache, py, repo, sha, tree);
	if (rc)
		return rc;
	rc = hub_view_from_json(out, sha, json);
	free(json);
	return rc;
}

const struct hub_view *hub_view_child(const struct hub_view *dir, const char *name)
{
	if (!dir || !dir->n)
		return NULL;
	struct hub_view key = { .name = (char *)name };
	return bsearch(&key, dir->kids, dir->n, sizeof(*dir->kids), cmp_view);
}
