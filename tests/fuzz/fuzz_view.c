/*
 * libFuzzer target: the hubconf analyser's C side, the JSON result the
 * embedded scanner returns (and the cache stores on disk) turned into the
 * .hub/ view (fs/view.c).  A stored file may be corrupt or hostile: it must
 * give a view or an error, never a crash, and the view's names must be
 * single path components.
 */
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fs/view.h"

/* assert() is compiled out (NDEBUG): an invariant broken must crash */
#define CHECK(x) ((x) ? (void)0 : (fprintf(stderr, "%s:%d: CHECK(%s) failed\n", __FILE__, __LINE__, #x), abort()))

static void check(const struct hub_view *v, int depth)
{
	CHECK(depth < 16);
	for (size_t i = 0; i < v->n; i++) {
		const struct hub_view *k = &v->kids[i];
		CHECK(k->name && k->name[0] && !strchr(k->name, '/'));
		CHECK(strcmp(k->name, ".") && strcmp(k->name, ".."));
		if (i)
			CHECK(strcmp(v->kids[i - 1].name, k->name) < 0);
		CHECK(hub_view_child(v, k->name) == k);
		if (k->dir)
			check(k, depth + 1);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1);
	if (!s)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';
	struct hub_view *v = NULL;
	if (hub_view_from_json(&v, "0123456789abcdef0123456789abcdef01234567", s) == 0 && v) {
		check(v, 0);
		hub_view_free(v);
	}
	free(s);
	return 0;
}
