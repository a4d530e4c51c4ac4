/*
 * libFuzzer target: the path/name/ref parser (base/names.c).  Any byte string
 * as an owner-directory component and as a ref; invariants checked:
 * encode(decode(x)) decodes back to the same ref, a parsed REF/COMMIT name
 * has a valid repo part, a valid ref contains no NUL-terminated surprises.
 */
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

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

	(void)hub_name_owner_valid(s);
	(void)hub_name_is_hex_prefix(s);
	(void)hub_name_is_full_sha(s);
	struct hub_name hn;
	if (hub_name_parse(&hn, s) == 0) {
		CHECK(hub_name_repo_valid(hn.repo));
		if (hn.kind == HUB_NAME_COMMIT)
			CHECK(hub_name_is_full_sha(hn.ref) || hub_name_is_hex_prefix(hn.ref));
		CHECK(strlen(hn.ref) <= HUB_REF_MAX);
	}
	char dec[3 * HUB_REF_MAX + 1], enc[3 * HUB_REF_MAX + 1], back[3 * HUB_REF_MAX + 1];
	if (hub_name_decode_ref(dec, sizeof(dec), s) >= 0) {
		int n = hub_name_encode_ref(enc, sizeof(enc), dec);
		if (n >= 0) {
			CHECK(strchr(enc, '/') == NULL);
			CHECK(hub_name_decode_ref(back, sizeof(back), enc) >= 0);
			CHECK(strcmp(back, dec) == 0);
		}
	}
	if (hub_name_ref_valid(s)) {
		int n = hub_name_encode_ref(enc, sizeof(enc), s);
		if (n >= 0) {
			CHECK(hub_name_decode_ref(back, sizeof(back), enc) >= 0);
			CHECK(strcmp(back, s) == 0);
		}
	}
	free(s);
	return 0;
}
