/* The .hub/ view; see view.h.  Built without locks: the caller publishes
 * the finished tree under its own lock. */
#include "fs/view.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cache/analysis.h"
#include "cache/repo.h"

static void view_dispose(struct hub_view *v)
{
	free(v->name);
	free(v->data);
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
	struct hub_view *k = realloc(dir->kids, (dir->n + 1) * sizeof(*k));
	if (!k) {
		free(data);
		return NULL;
	}
	dir->kids = k;
	struct hub_view *v = &k[dir->n];
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

static int add_entrypoints(struct hub_view *root, const cJSON *eps)
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
	}
	qsort(dir->kids, dir->n, sizeof(*dir->kids), cmp_view);
	/* Names are unique in a Python namespace; drop repeats all the same. */
	size_t u = 0;
	for (size_t i = 0; i < dir->n; i++) {
		if (u && !strcmp(dir->kids[u - 1].name, dir->kids[i].name))
			view_dispose(&dir->kids[i]);
		else
			dir->kids[u++] = dir->kids[i];
	}
	dir->n = u;
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
	if (!rc)
		rc = add_entrypoints(root, cJSON_GetObjectItemCaseSensitive(doc, "entrypoints"));
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
	qsort(root->kids, root->n, sizeof(*root->kids), cmp_view);
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
