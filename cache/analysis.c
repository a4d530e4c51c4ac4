/*
 * Per-commit analysis cache; see analysis.h.  No locks of its own: two
 * threads (or processes) analysing one commit at once both write the same
 * result atomically.  fs/ builds each commit's view once, so that is rare.
 */
#include "cache/analysis.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "base/files.h"
#include "cache/repo.h"
#include "base/limits.h"
#include "base/log.h"
#include "py/pyrt.h"

struct tree_ctx {
	struct hub_repo *repo;
	struct hub_oid root;
};

static int tree_read_file(void *ctx, const char *path, char **out, size_t *out_len)
{
	struct tree_ctx *t = ctx;
	struct hub_oid oid;
	uint32_t mode;
	*out = NULL;
	*out_len = 0;
	int rc = hub_repo_path_lookup(&oid, &mode, t->repo, &t->root, path);
	if (rc)
		return rc;
	if (mode == HUB_MODE_TREE || mode == HUB_MODE_GITLINK)
		return -EISDIR;
	/* A symlink is not a regular file: the analyser neither follows it
	 * nor parses its target text (docs/analysis.md, confinement). */
	if (mode == HUB_MODE_LINK)
		return -ELOOP;
	struct hub_blob *b;
	rc = hub_repo_blob_get(&b, t->repo, &oid);
	if (rc)
		return rc;
	char *copy = malloc(b->size ? b->size : 1);
	if (copy)
		memcpy(copy, b->data, b->size);
	*out_len = b->size;
	hub_blob_put(b);
	if (!copy)
		return -ENOMEM;
	*out = copy;
	return 0;
}

static int tree_list_dir(void *ctx, const char *path, char ***out_names, size_t *out_n)
{
	struct tree_ctx *t = ctx;
	struct hub_oid oid = t->root;
	*out_names = NULL;
	*out_n = 0;
	if (path[0]) {
		uint32_t mode;
		int rc = hub_repo_path_lookup(&oid, &mode, t->repo, &t->root, path);
		if (rc)
			return rc;
		if (mode != HUB_MODE_TREE)
			return -ENOTDIR;
	}
	struct hub_tree_entry *e;
	size_t n;
	int rc = hub_repo_tree_list(&e, &n, t->repo, &oid);
	if (rc)
		return rc;
	char **names = calloc(n ? n : 1, sizeof(*names));
	for (size_t i = 0; names && i < n; i++) {
		names[i] = e[i].name; /* take ownership */
		e[i].name = NULL;
	}
	hub_tree_entries_free(e, n);
	if (!names)
		return -ENOMEM;
	*out_names = names;
	*out_n = n;
	return 0;
}

/* A result standing for an analysis that could not run. */
static char *error_json(const char *why)
{
	cJSON *root = cJSON_CreateObject();
	cJSON_AddArrayToObject(root, "entrypoints");
	cJSON_AddArrayToObject(root, "dependencies");
	cJSON *errors = cJSON_AddArrayToObject(root, "errors");
	cJSON_AddItemToArray(errors, cJSON_CreateString(why));
	char *text = cJSON_PrintUnformatted(root);
	cJSON_Delete(root);
	return text;
}

/* <root>/hubfs/analysis and the result's path in it. */
static void result_path(char *dir, size_t dir_len, char *path, size_t path_len, struct hub_cache *c,
			const char *sha)
{
	snprintf(dir, dir_len, "%s/hubfs/analysis", hub_cache_root(c));
	/* Results of another analyser (an upgrade, other limits) are not reused. */
	snprintf(path, path_len, "%s/%.40s.%.120s.json", dir, sha, hub_py_analysis_version());
}

void hub_analysis_prepare(struct hub_cache *c, struct hub_py *py, const char *sha)
{
	char dir[4096], path[4096 + 200];
	struct stat st;
	if (!py)
		return;
	result_path(dir, sizeof(dir), path, sizeof(path), c, sha);
	if (stat(path, &st))
		hub_py_warm(py);
}

int hub_analysis_get(char **out_json, bool *out_persisted, struct hub_cache *c, struct hub_py *py,
		     struct hub_repo *r, const char *sha, const struct hub_oid *tree)
{
	*out_json = NULL;
	*out_persisted = false;
	char dir[4096], path[4096 + 200];
	result_path(dir, sizeof(dir), path, sizeof(path), c, sha);
	char *text;
	size_t len;
	if (!hub_file_read(&text, &len, path, HUB_JSON_MAX)) {
		cJSON *probe = cJSON_ParseWithLength(text, len);
		if (probe) {
			cJSON_Delete(probe);
			*out_json = text;
			*out_persisted = true;
			return 0;
		}
		hub_warn("%s: unreadable analysis result, analysing again", path);
		free(text);
	}
	struct tree_ctx ctx = { r, *tree };
	struct hub_tree_reader reader = { &ctx, tree_read_file, tree_list_dir };
	int rc = py ? hub_py_analyze(&text, py, &reader, HUB_ANALYSIS_TIMEOUT_S) : -ENOSYS;
	if (rc) {
		char why[160];
		snprintf(why, sizeof(why), "hubconf.py: analysis did not run: %s%s", strerror(-rc),
			 rc == -ETIMEDOUT ? " (time limit)" : "");
		hub_warn("%s: %s", sha, why);
		/* Not remembered: a full queue or a slow machine passes; the
		 * analyser's own budget already turns slow commits into partial
		 * answers that are remembered. */
		*out_json = error_json(why);
		return *out_json ? 0 : -ENOMEM;
	}
	if (!hub_analysis_is_final(text))
		hub_info("%s: analysis cut by its time budget: served, not stored (tried again later)",
			 sha);
	else if (!hub_mkdir_p(dir) && !hub_file_write_atomic(path, text, strlen(text)))
		*out_persisted = true;
	*out_json = text;
	return 0;
}

bool hub_analysis_is_final(const char *json)
{
	cJSON *doc = cJSON_Parse(json);
	if (!doc)
		return true; /* not ours to judge: refused when read back */
	bool final = true;
	const cJSON *cut = cJSON_GetObjectItemCaseSensitive(doc, "cut");
	if (cJSON_IsString(cut) && !strcmp(cut->valuestring, "time"))
		final = false;
	const cJSON *errors = cJSON_GetObjectItemCaseSensitive(doc, "errors");
	const cJSON *e;
	cJSON_ArrayForEach(e, errors)
	{
		if (cJSON_IsString(e) && strstr(e->valuestring, "(time budget)"))
			final = false;
	}
	cJSON_Delete(doc);
	return final;
}
