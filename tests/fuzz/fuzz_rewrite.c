/*
 * libFuzzer target: rewrite rules (fs/options.c, fetch/rewrite.c).  The input is
 * "FROM=TO\nURL": one rule from the command line, then one URL rewritten.
 * Invariants: a URL starting with FROM comes out starting with TO followed
 * by the rest; one that does not comes out unchanged.
 */
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/limits.h"
#include "fs/options.h"

/* assert() is compiled out (NDEBUG): an invariant broken must crash */
#define CHECK(x) ((x) ? (void)0 : (fprintf(stderr, "%s:%d: CHECK(%s) failed\n", __FILE__, __LINE__, #x), abort()))

static const char *no_env(const char *name)
{
	(void)name;
	return NULL;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1);
	if (!s)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';
	char *nl = strchr(s, '\n');
	/* ',' separates -o options and '\\' escapes (libfuse's rules): the
	 * rule must be taken literally for the checks below */
	if (!nl || strchr(s, ',') || strchr(s, '\\')) {
		free(s);
		return 0;
	}
	*nl = '\0';
	const char *url = nl + 1;
	char *opt = malloc(strlen(s) + 16);
	if (!opt) {
		free(s);
		return 0;
	}
	strcpy(opt, "rewrite=");
	strcat(opt, s);
	char prog[] = "hubfs", dash_o[] = "-o", mnt[] = "/nonexistent-fuzz-mnt", err[512];
	char *argv[] = {prog, dash_o, opt, mnt, NULL};
	struct hub_options o;
	if (hub_options_parse(&o, 4, argv, no_env, err, sizeof(err)) == 0) {
		char out[HUB_URL_MAX];
		int n = hub_rewrite_apply(out, sizeof(out), &o.rewrites, url);
		const char *eq = strchr(s, '=');
		if (n >= 0 && eq) {
			size_t flen = (size_t)(eq - s);
			const char *to = eq + 1;
			if (flen && !strncmp(url, s, flen)) {
				CHECK(!strncmp(out, to, strlen(to)));
				CHECK(!strcmp(out + strlen(to), url + flen));
			} else if (!flen || strncmp(url, s, flen)) {
				CHECK(!strcmp(out, url));
			}
		}
		hub_options_dispose(&o);
	}
	free(opt);
	free(s);
	return 0;
}
