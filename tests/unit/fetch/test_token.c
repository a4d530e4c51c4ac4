/*
 * Unit tests for the GITHUB_TOKEN decision of fetch/git.c
 * (hub_git_token_allowed): which URLs may carry the token, judged on the
 * host of the URL fetched, with and without token_host= hosts.  Pure: no
 * network, no libgit2 initialisation.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "fetch/git.h"

struct row {
	const char *url;
	bool allowed;
};

static void check(const struct row *rows, size_t n, const char *const *hosts, size_t nh)
{
	for (size_t i = 0; i < n; i++)
		if (hub_git_token_allowed(rows[i].url, hosts, nh) != rows[i].allowed)
			fail_msg("row %zu '%s': expected %s", i, rows[i].url,
				 rows[i].allowed ? "allowed" : "refused");
}

#define CHECK(rows, hosts, nh) check(rows, sizeof(rows) / sizeof(rows[0]), hosts, nh)

static void test_github_only_by_default(void **state)
{
	(void)state;
	static const struct row rows[] = {
		{"https://github.com/pytorch/vision.git", true},
		{"https://GitHub.COM/pytorch/vision.git", true},
		{"HTTPS://github.com/pytorch/vision.git", true},
		{"https://github.com:443/o/r.git", true},
		{"https://github.com./o/r.git", true},
		{"https://github.com", true},
		/* plain http, other schemes: never */
		{"http://github.com/o/r.git", false},
		{"git://github.com/o/r.git", false},
		{"ssh://git@github.com/o/r.git", false},
		{"file:///srv/github.com/o/r.git", false},
		/* other hosts, look-alikes, subdomains */
		{"https://127.0.0.1:8443/o/r.git", false},
		{"https://mirror.local/github.com/o/r.git", false},
		{"https://github.com.evil.example/o/r.git", false},
		{"https://evilgithub.com/o/r.git", false},
		{"https://api.github.com/repos/o/r", false},
		{"https://gist.github.com/o/r.git", false},
		{"https://raw.githubusercontent.com/o/r/main/x", false},
		/* the host is what follows the user information */
		{"https://github.com@evil.example/o/r.git", false},
		{"https://github.com:443@evil.example/o/r.git", false},
		/* a URL with its own credentials gets no token */
		{"https://user:pw@github.com/o/r.git", false},
		{"https://x-access-token@github.com/o/r.git", false},
		/* what URL parsers may read two ways: no token */
		{"https://evil.example\\@github.com/o/r.git", false},
		{"https://github.com\\@evil.example/o/r.git", false},
		{"https://git%68ub.com/o/r.git", false},
		{"https://github.com /o/r.git", false},
		{"https://github.com\t/o/r.git", false},
		{"https://github.com/o/r.git\n", false},
		{"https://\xc4\xa3ithub.com/o/r.git", false},
		{"", false},
		{"github.com/o/r.git", false},
		{"https://", false},
		{NULL, false},
	};
	CHECK(rows, NULL, 0);
}

static void test_token_hosts(void **state)
{
	(void)state;
	const char *hosts[] = {"127.0.0.1", "GHE.corp.example", "[::1]", "fe80::2", "dot.example."};
	static const struct row rows[] = {
		{"https://github.com/o/r.git", true}, /* GitHub stays */
		{"https://127.0.0.1:8443/o/r.git", true},
		{"https://127.0.0.1/o/r.git", true},
		{"https://ghe.corp.example/o/r.git", true},
		{"https://[::1]:8443/o/r.git", true},
		{"https://[fe80::2]/o/r.git", true},
		{"https://dot.example/o/r.git", true},
		{"http://127.0.0.1:8443/o/r.git", false}, /* https only */
		{"https://127.0.0.2/o/r.git", false},
		{"https://sub.ghe.corp.example/o/r.git", false},
		{"https://corp.example/o/r.git", false},
		{"https://u:p@127.0.0.1/o/r.git", false},
		{"https://[::2]/o/r.git", false},
	};
	CHECK(rows, hosts, sizeof(hosts) / sizeof(hosts[0]));
	/* NULL entries are skipped */
	const char *with_null[] = {NULL, "127.0.0.1"};
	assert_true(hub_git_token_allowed("https://127.0.0.1/x", with_null, 2));
}

/* The stored hosts (token_host=) are copies; setting again replaces them. */
static void test_set_token_hosts(void **state)
{
	(void)state;
	char host[] = "mirror.example";
	const char *hosts[] = {host};
	assert_int_equal(hub_git_set_token_hosts(hosts, 1), 0);
	host[0] = 'X'; /* the caller's buffer may change */
	assert_int_equal(hub_git_set_token_hosts(NULL, 0), 0);
	assert_int_equal(hub_git_set_token_hosts(hosts, 1), 0);
	assert_int_equal(hub_git_set_token_hosts(NULL, 0), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_github_only_by_default),
		cmocka_unit_test(test_token_hosts),
		cmocka_unit_test(test_set_token_hosts),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
