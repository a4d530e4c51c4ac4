/*
 * The generated .hub/ view of one commit: a small immutable tree of
 * synthetic directories and files, built once per commit on first access and
 * shared by every node of that commit directory.
 *
 *   .hub/commit                        "<sha>\n"
 *   .hub/dependencies                  hubconf's `dependencies`, one per line
 *   .hub/entrypoints/<name>/help       the docstring, as torch.hub.help() returns it
 *   .hub/entrypoints/<name>/signature  one line
 *   .hub/entrypoints/<name>/weights/   the weight files that entrypoint downloads
 *   .hub/weights/                      every weight file the repo's code refers to
 *   .hub/errors                        why analysis failed or is partial; empty when clean
 *
 * Weight files are named like torch.hub's checkpoints (the URL's basename);
 * when two URLs share a basename, all but the first in sorted order get the
 * URL's hash before the extension ("model~1a2b3c4d.pth"): stable per commit.
 */
#ifndef HUB_FS_VIEW_H
#define HUB_FS_VIEW_H

#include <stdbool.h>
#include <stddef.h>

struct hub_cache;
struct hub_py;
struct hub_repo;
struct hub_oid;

struct hub_view {
	char *name;
	bool dir;
	char *data; /* files */
	size_t len;
	char *url; /* weight files: read through cache/weights.h, not data */
	struct hub_view *kids; /* dirs: sorted by name (strcmp) */
	size_t n;
	size_t cap; /* private: room in kids while the view is built */
};

/* Build the view of commit sha (root tree `tree`), analysing it if needed. */
int hub_view_build(struct hub_view **out, struct hub_cache *cache, struct hub_py *py,
		   struct hub_repo *repo, const char *sha, const struct hub_oid *tree);
/* The view of an analysis result (JSON text as cache/analysis.h returns). */
int hub_view_from_json(struct hub_view **out, const char *sha, const char *json);
void hub_view_free(struct hub_view *v);
/* Child by name, or NULL. */
const struct hub_view *hub_view_child(const struct hub_view *dir, const char *name);

#endif
