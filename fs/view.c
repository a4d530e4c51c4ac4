/* The .hub/ view; see view.h.  Built without locks: the caller publishes
 * the finished tree under its own lock. */
#include "fs/view.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

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

/* Append a child; returns it, or NULL on ENOMEM.  Children are added in
 * sorted order by the builders below. */
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

int hub_view_build(struct hub_view **out, struct hub_repo *repo, const char *sha,
		   const struct hub_oid *tree)
{
	(void)repo;
	(void)tree;
	*out = NULL;
	struct hub_view *root = calloc(1, sizeof(*root));
	if (!root || !(root->name = strdup(".hub"))) {
		free(root);
		return -ENOMEM;
	}
	root->dir = true;
	char *commit = malloc(42);
	if (commit) {
		memcpy(commit, sha, 40);
		commit[40] = '\n';
		commit[41] = '\0';
	}
	if (!commit || !add(root, "commit", false, commit, 41)) {
		hub_view_free(root);
		return -ENOMEM;
	}
	*out = root;
	return 0;
}

const struct hub_view *hub_view_child(const struct hub_view *dir, const char *name)
{
	for (size_t i = 0; dir && i < dir->n; i++)
		if (!strcmp(dir->kids[i].name, name))
			return &dir->kids[i];
	return NULL;
}
