/*
 * libFuzzer target: option strings and the JSON config (fs/options.c).
 * The input's first byte chooses: even -> "-o <rest>" on the command line
 * (with a fixed mountpoint, no config file), odd -> <rest> as a config file
 * text through hub_options_apply_config.  Then the rewrite rules and the git
 * URL template are applied to a few URLs; results must fit and be strings.
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

static void exercise(const struct hub_options *o)
{
	static const char *urls[] = {"https://github.com/a/b.git", "http://x/y", "", "https://",
				     "https://download.pytorch.org/models/r.pth"};
	char out[HUB_URL_MAX];
	for (size_t i = 0; i < sizeof(urls) / sizeof(*urls); i++) {
		int n = hub_rewrite_apply(out, sizeof(out), &o->rewrites, urls[i]);
		if (n >= 0)
			CHECK((size_t)n == strlen(out));
	}
	int n = hub_rewrite_git_url(out, sizeof(out), o->git_url, &o->rewrites, "owner", "repo");
	if (n >= 0)
		CHECK(strlen(out) < sizeof(out));
	char root[4096];
	(void)hub_options_cache_root(root, sizeof(root), o, no_env);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	char *s = malloc(size);
	if (!s)
		return 0;
	memcpy(s, data + 1, size - 1);
	s[size - 1] = '\0';
	char err[512];
	struct hub_options o;
	if ((data[0] & 1) == 0) {
		char prog[] = "hubfs", dash_o[] = "-o", mnt[] = "/nonexistent-fuzz-mnt";
		char *argv[] = {prog, dash_o, s, mnt, NULL};
		if (hub_options_parse(&o, 4, argv, no_env, err, sizeof(err)) == 0) {
			exercise(&o);
			hub_options_dispose(&o);
		} else {
			CHECK(memchr(err, '\0', sizeof(err)));
		}
	} else {
		char prog[] = "hubfs", mnt[] = "/nonexistent-fuzz-mnt", dash_o[] = "-o",
		     cfg[] = "config=/nonexistent-fuzz-config.json";
		char *argv[] = {prog, dash_o, cfg, mnt, NULL};
		if (hub_options_parse(&o, 4, argv, no_env, err, sizeof(err)) == 0) {
			if (hub_options_apply_config(&o, s, size - 1, err, sizeof(err)) == 0)
				exercise(&o);
			hub_options_dispose(&o);
		}
	}
	free(s);
	return 0;
}
