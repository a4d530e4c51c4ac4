/*
 * state.json of one cached repository: the recorded resolutions (ref as the
 * user named it -> commit, kind, time) and the remote HEAD, in memory as
 * struct hub_state.  Reading and writing only; what to record and when a
 * record is fresh is repo.c's policy.
 *
 * Locks: none here.  Writers hold the repository's cross-process file lock
 * (<repo>/lock, taken in repo.c); the file is replaced atomically
 * (hub_file_write_atomic), so readers need no lock.
 */
#include "cache/repo_internal.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "base/files.h"
#include "base/limits.h"
#include "base/log.h"
#include "base/names.h"

static const char *const kind_names[] = { "branch", "tag", "commit", "other" };

void hub_state_dispose(struct hub_state *s)
{
	free(s->head);
	for (size_t i = 0; i < s->n; i++)
		free(s->refs[i].ref);
	free(s->refs);
	memset(s, 0, sizeof(*s));
}

struct hub_state_ref *hub_state_find(struct hub_state *s, const char *ref)
{
	for (size_t i = 0; i < s->n; i++)
		if (!strcmp(s->refs[i].ref, ref))
			return &s->refs[i];
	return NULL;
}

/* Append or replace; find false: ref is known to be new (loading a JSON
 * object, whose keys cJSON hands over once each: no quadratic search). */
static int state_put(struct hub_state *s, const char *ref, const char *sha, enum hub_ref_kind kind,
		     double t, bool find)
{
	struct hub_state_ref *e = find ? hub_state_find(s, ref) : NULL;
	if (!e) {
		if (s->n == s->cap) {
			size_t cap = s->cap ? s->cap * 2 : 16;
			struct hub_state_ref *n = realloc(s->refs, cap * sizeof(*n));
			if (!n)
				return -ENOMEM;
			s->refs = n;
			s->cap = cap;
		}
		e = &s->refs[s->n];
		e->ref = strdup(ref);
		if (!e->ref)
			return -ENOMEM;
		s->n++;
	}
	memcpy(e->sha, sha, 41);
	e->kind = kind;
	e->time = t;
	return 0;
}

int hub_state_set(struct hub_state *s, const char *ref, const char *sha, enum hub_ref_kind kind,
		  double t)
{
	return state_put(s, ref, sha, kind, t, true);
}

static int newest_first(const void *a, const void *b)
{
	const struct hub_state_ref *x = a, *y = b;
	return x->time > y->time ? -1 : x->time < y->time ? 1 : strcmp(x->ref, y->ref);
}

void hub_state_trim(struct hub_state *s, size_t max)
{
	if (s->n <= max)
		return;
	qsort(s->refs, s->n, sizeof(*s->refs), newest_first);
	for (size_t i = max; i < s->n; i++)
		free(s->refs[i].ref);
	s->n = max;
}

int hub_state_load(struct hub_state *out, const char *path)
{
	memset(out, 0, sizeof(*out));
	char *text;
	size_t len;
	int rc = hub_file_read(&text, &len, path, HUB_JSON_MAX);
	if (rc == -ENOENT)
		return 0;
	if (rc)
		return rc;
	cJSON *root = cJSON_ParseWithLength(text, len);
	free(text);
	if (!root) {
		hub_warn("%s: unreadable state file, ignoring it", path);
		return 0;
	}
	const cJSON *head = cJSON_GetObjectItemCaseSensitive(root, "head");
	if (cJSON_IsString(head) && hub_name_ref_valid(head->valuestring)) {
		out->head = strdup(head->valuestring);
		const cJSON *ht = cJSON_GetObjectItemCaseSensitive(root, "head_time");
		out->head_time = cJSON_IsNumber(ht) ? ht->valuedouble : 0;
	}
	const cJSON *refs = cJSON_GetObjectItemCaseSensitive(root, "refs");
	const cJSON *it;
	cJSON_ArrayForEach(it, refs)
	{
		const cJSON *sha = cJSON_GetObjectItemCaseSensitive(it, "sha");
		const cJSON *kind = cJSON_GetObjectItemCaseSensitive(it, "kind");
		const cJSON *t = cJSON_GetObjectItemCaseSensitive(it, "time");
		if (!it->string || !cJSON_IsString(sha) || !hub_name_is_full_sha(sha->valuestring) ||
		    !cJSON_IsString(kind) || !cJSON_IsNumber(t))
			continue;
		enum hub_ref_kind k = KIND_OTHER;
		for (int i = 0; i < 4; i++)
			if (!strcmp(kind->valuestring, kind_names[i]))
				k = (enum hub_ref_kind)i;
		/* keys of one object: new each (a duplicate, from a hand edit,
		 * is shadowed by the first) */
		if (state_put(out, it->string, sha->valuestring, k, t->valuedouble, false)) {
			cJSON_Delete(root);
			hub_state_dispose(out);
			return -ENOMEM;
		}
	}
	cJSON_Delete(root);
	return 0;
}

int hub_state_save(const struct hub_state *s, const char *path)
{
	cJSON *root = cJSON_CreateObject();
	if (!root)
		return -ENOMEM;
	cJSON_AddNumberToObject(root, "version", 1);
	if (s->head) {
		cJSON_AddStringToObject(root, "head", s->head);
		cJSON_AddNumberToObject(root, "head_time", s->head_time);
	}
	cJSON *refs = cJSON_AddObjectToObject(root, "refs");
	for (size_t i = 0; refs && i < s->n; i++) {
		cJSON *e = cJSON_AddObjectToObject(refs, s->refs[i].ref);
		if (!e)
			break;
		cJSON_AddStringToObject(e, "sha", s->refs[i].sha);
		cJSON_AddStringToObject(e, "kind", kind_names[s->refs[i].kind]);
		cJSON_AddNumberToObject(e, "time", s->refs[i].time);
	}
	char *text = cJSON_PrintUnformatted(root);
	cJSON_Delete(root);
	if (!text)
		return -ENOMEM;
	int rc = hub_file_write_atomic(path, text, strlen(text));
	free(text);
	return rc;
}
