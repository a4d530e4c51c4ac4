/*
 * Unit tests for the address-policy options of fs/options.c: allow_private
 * (a flag, or a JSON boolean) and url_access=owner|all (or a JSON string),
 * their defaults, bad values, and the command line winning over the config.
 * (tests/unit/util/test_options.c covers the other options; the environment
 * here is empty, so no config file is ever read from $HOME.)
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "fs/options.h"

static const char *no_env(const char *name)
{
	(void)name;
	return NULL;
}

static int parse(struct hub_options *o, const char *opts, char *err, size_t errsz)
{
	char *argv[] = {"hubfs", "-o", (char *)opts, "/mnt/x", NULL};
	return hub_options_parse(o, 4, argv, no_env, err, errsz);
}

static void test_defaults(void **state)
{
	(void)state;
	struct hub_options o;
	char err[256];
	assert_int_equal(parse(&o, "cache=/tmp/c", err, sizeof(err)), 0);
	assert_false(o.allow_private);
	assert_int_equal(o.url_access, HUB_URL_ACCESS_OWNER);
	hub_options_dispose(&o);
}

static void test_command_line(void **state)
{
	(void)state;
	struct hub_options o;
	char err[256];
	assert_int_equal(parse(&o, "cache=/tmp/c,allow_private,url_access=all", err, sizeof(err)), 0);
	assert_true(o.allow_private);
	assert_int_equal(o.url_access, HUB_URL_ACCESS_ALL);
	assert_true(o.cli_set & HUB_OPT_ALLOW_PRIVATE);
	assert_true(o.cli_set & HUB_OPT_URL_ACCESS);
	/* neither reaches libfuse */
	for (int i = 0; i < o.fuse_argc; i++) {
		assert_null(strstr(o.fuse_argv[i], "allow_private"));
		assert_null(strstr(o.fuse_argv[i], "url_access"));
	}
	hub_options_dispose(&o);
	assert_int_equal(parse(&o, "url_access=owner", err, sizeof(err)), 0);
	assert_int_equal(o.url_access, HUB_URL_ACCESS_OWNER);
	hub_options_dispose(&o);

	assert_int_equal(parse(&o, "allow_private=1", err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "allow_private takes no value"));
	assert_int_equal(parse(&o, "url_access=everyone", err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "url_access"));
	assert_int_equal(parse(&o, "url_access", err, sizeof(err)), -EINVAL);
}

static void test_config(void **state)
{
	(void)state;
	struct hub_options o;
	memset(&o, 0, sizeof(o));
	char err[256];
	const char *j = "{\"allow_private\": true, \"url_access\": \"all\"}";
	assert_int_equal(hub_options_apply_config(&o, j, strlen(j), err, sizeof(err)), 0);
	assert_true(o.allow_private);
	assert_int_equal(o.url_access, HUB_URL_ACCESS_ALL);

	/* the command line wins */
	memset(&o, 0, sizeof(o));
	o.cli_set = HUB_OPT_ALLOW_PRIVATE | HUB_OPT_URL_ACCESS;
	assert_int_equal(hub_options_apply_config(&o, j, strlen(j), err, sizeof(err)), 0);
	assert_false(o.allow_private);
	assert_int_equal(o.url_access, HUB_URL_ACCESS_OWNER);

	static const char *const bad[] = {
		"{\"allow_private\": 1}",
		"{\"allow_private\": \"yes\"}",
		"{\"url_access\": true}",
		"{\"url_access\": \"root\"}",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		memset(&o, 0, sizeof(o));
		assert_int_equal(hub_options_apply_config(&o, bad[i], strlen(bad[i]), err, sizeof(err)),
				 -EINVAL);
		assert_non_null(strstr(err, "config: "));
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_command_line),
		cmocka_unit_test(test_config),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
