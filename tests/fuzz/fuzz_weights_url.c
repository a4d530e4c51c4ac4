/*
 * libFuzzer target: the weight-URL side of the daemon (/.hubfs/url/<name>):
 * the path component is decoded as the FUSE layer does (hub_name_decode_ref)
 * and named as torch.hub names checkpoints (hub_weights_name).  Invariants:
 * a name is a single path component, never "." or "..", no '/' or NUL.
 */
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cache/weights.h"
#include "base/limits.h"
#include "base/names.h"

/* assert() is compiled out (NDEBUG): an invariant broken must crash */
#define CHECK(x) ((x) ? (void)0 : (fprintf(stderr, "%s:%d: CHECK(%s) failed\n", __FILE__, __LINE__, #x), abort()))

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1);
	if (!s)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';
	static char url[HUB_URL_MAX];
	const char *u = s;
	if (hub_name_decode_ref(url, sizeof(url), s) >= 0)
		u = url;
	char name[256];
	if (hub_weights_name(name, sizeof(name), u) == 0) {
		CHECK(name[0] != '\0');
		CHECK(strchr(name, '/') == NULL);
		CHECK(strcmp(name, ".") && strcmp(name, ".."));
		for (const char *p = name; *p; p++)
			CHECK((unsigned char)*p >= 0x20 && *p != 0x7f);
	}
	free(s);
	return 0;
}
