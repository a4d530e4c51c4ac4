/*
 * Unit tests for base/names.c: owner, repository and ref validity (table
 * driven, one row per rule), hex and sha checks, parsing one component of an
 * owner directory, and the ref encoding's round trip.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "base/names.h"

#define SHA "0123456789abcdef0123456789abcdef01234567"
#define SHA_UPPER "0123456789ABCDEF0123456789ABCDEF01234567"

struct name_case {
	const char *name;
	bool valid;
};

/* A string of n copies of c (n < sizeof buffer). */
static const char *repeat(char c, size_t n)
{
	static char buf[4][1024];
	static int next;
	char *b = buf[next++ % 4];
	assert_true(n < sizeof(buf[0]));
	memset(b, c, n);
	b[n] = '\0';
	return b;
}

static void check_table(bool (*fn)(const char *), const struct name_case *cases, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		bool got = fn(cases[i].name);
		if (got != cases[i].valid)
			fail_msg("case %zu '%s': expected %s", i, cases[i].name,
				 cases[i].valid ? "valid" : "invalid");
	}
}

#define CHECK_TABLE(fn, cases) check_table(fn, cases, sizeof(cases) / sizeof(cases[0]))

static void test_owner_valid(void **state)
{
	(void)state;
	const struct name_case cases[] = {
		{"a", true},
		{"pytorch", true},
		{"facebookresearch", true},
		{"HEAD", true}, /* syntactically a fine owner */
		{"a-b", true},
		{"a--b", true}, /* legacy accounts have these */
		{"A1", true},
		{"0", true},
		{repeat('x', 39), true},
		{repeat('x', 40), false},
		{"", false},
		{"-a", false},
		{"a-", false},
		{"-", false},
		{".git", false},
		{".", false},
		{"..", false},
		{"autorun.inf", false},
		{"desktop.ini", false},
		{"a_b", false},
		{"a.b", false},
		{"a b", false},
		{"a\nb", false},
		{"a/b", false},
		{"a:b", false},
		{"a@b", false},
		{"\xc3\xa9", false},
	};
	CHECK_TABLE(hub_name_owner_valid, cases);
	assert_false(hub_name_owner_valid(NULL));
}

static void test_repo_valid(void **state)
{
	(void)state;
	const struct name_case cases[] = {
		{"vision", true},
		{"a", true},
		{".github", true},
		{"HEAD", true},
		{"autorun.inf", true}, /* a legal repository name */
		{"my_repo-1.2", true},
		{"git", true},
		{"a.gi", true},
		{"x.git.y", true},
		{"...", true},
		{"-", true},
		{repeat('r', 100), true},
		{repeat('r', 101), false},
		{"", false},
		{".", false},
		{"..", false},
		{".git", false},
		{"vision.git", false},
		{"a:b", false},
		{"a@b", false},
		{"a/b", false},
		{"a b", false},
		{"a\nb", false},
		{"a%2Fb", false},
		{"a\\b", false},
		{"a~", false},
		{"\xc3\xa9", false},
	};
	CHECK_TABLE(hub_name_repo_valid, cases);
	assert_false(hub_name_repo_valid(NULL));
}

static void test_ref_valid(void **state)
{
	(void)state;
	const struct name_case cases[] = {
		{"main", true},
		{"master", true},
		{"feature/x", true},
		{"refs/tags/v1", true},
		{"refs/heads/main", true},
		{"v0.14.1", true},
		{"HEAD", true},
		{"abc", true},
		{"a@b", true},
		{"@x", true},
		{"a{b}", true},
		{"a%b", true},
		{"x-y_z+1,2", true},
		{"a/b/c", true},
		{"a.lockx", true},
		{"lock", true},
		{"\xc3\xa9t\xc3\xa9", true}, /* bytes >= 0x80 are allowed */
		{repeat('r', 255), true},
		{repeat('r', 256), false},
		{"", false},
		/* rule 1: component starting with '.' or ending with ".lock" */
		{".hidden", false},
		{"a/.b", false},
		{"a/./b", false},
		{"a.lock", false},
		{"a.lock/b", false},
		{"refs/heads/x.lock", false},
		{".lock", false},
		/* rule 3: ".." */
		{"a..b", false},
		{"..", false},
		{"a/../b", false},
		/* rule 4: control characters, space, '~', '^', ':' */
		{"a\x01" "b", false},
		{"a\x1f", false},
		{"a\x7f", false},
		{"a\tb", false},
		{"a\nb", false},
		{"a b", false},
		{"a~1", false},
		{"a^", false},
		{"a^{commit}", false},
		{"a:b", false},
		/* rule 5: '?', '*', '[' */
		{"a?", false},
		{"a*", false},
		{"refs/heads/*", false},
		{"a[b", false},
		/* rule 6: leading or trailing '/', "//" */
		{"/a", false},
		{"a/", false},
		{"a//b", false},
		{"/", false},
		/* rule 7: trailing '.' */
		{"a.", false},
		{"a/b.", false},
		/* rule 8: "@{" */
		{"a@{1}", false},
		{"@{", false},
		{"@{-1}", false},
		/* rule 9: "@" alone */
		{"@", false},
		/* rule 10: backslash */
		{"a\\b", false},
	};
	CHECK_TABLE(hub_name_ref_valid, cases);
	assert_false(hub_name_ref_valid(NULL));
}

static void test_hex_prefix(void **state)
{
	(void)state;
	const struct name_case cases[] = {
		{"abcdef0", true},
		{"ABCDEF0", true},
		{"AbCdEf0123", true},
		{SHA, true},
		{SHA_UPPER, true},
		{"abcdef", false}, /* 6 < HUB_SHA_MIN */
		{SHA "0", false},  /* 41 */
		{"abcdefg", false},
		{"abc def0", false},
		{"", false},
		{"0x12345678", false},
	};
	CHECK_TABLE(hub_name_is_hex_prefix, cases);
	assert_false(hub_name_is_hex_prefix(NULL));
}

static void test_full_sha(void **state)
{
	(void)state;
	const struct name_case cases[] = {
		{SHA, true},
		{repeat('0', 40), true},
		{SHA_UPPER, false},
		{"0123456789abcdef0123456789abcdef0123456", false},   /* 39 */
		{"0123456789abcdef0123456789abcdef012345678", false}, /* 41 */
		{"0123456789abcdef0123456789abcdef0123456g", false},
		{"abcdef0", false},
		{"", false},
	};
	CHECK_TABLE(hub_name_is_full_sha, cases);
	assert_false(hub_name_is_full_sha(NULL));
}

/* ---- hub_name_parse ---------------------------------------------------- */

struct parse_ok {
	const char *component;
	enum hub_name_kind kind;
	const char *repo;
	const char *ref;
};

static void test_parse_ok(void **state)
{
	(void)state;
	const struct parse_ok cases[] = {
		{"vision", HUB_NAME_REPO, "vision", ""},
		{"HEAD", HUB_NAME_REPO, "HEAD", ""},
		{".github", HUB_NAME_REPO, ".github", ""},
		{"vision:v0.14.1", HUB_NAME_REF, "vision", "v0.14.1"},
		{"vision:main", HUB_NAME_REF, "vision", "main"},
		{"vision:abc", HUB_NAME_REF, "vision", "abc"},
		{"vision:abcdef0", HUB_NAME_REF, "vision", "abcdef0"}, /* a sha prefix is a ref */
		{"vision:feature%2Fx", HUB_NAME_REF, "vision", "feature/x"},
		{"vision:feature%2fx", HUB_NAME_REF, "vision", "feature/x"},
		{"vision:refs%2Ftags%2Fv1", HUB_NAME_REF, "vision", "refs/tags/v1"},
		{"vision:100%25", HUB_NAME_REF, "vision", "100%"},
		{"vision:a@b", HUB_NAME_REF, "vision", "a@b"},
		{"vision@" SHA, HUB_NAME_COMMIT, "vision", SHA},
		{"my_repo-1.2@" SHA, HUB_NAME_COMMIT, "my_repo-1.2", SHA},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct hub_name n;
		int rc = hub_name_parse(&n, cases[i].component);
		if (rc != 0)
			fail_msg("'%s': rc %d", cases[i].component, rc);
		assert_int_equal(n.kind, cases[i].kind);
		assert_string_equal(n.repo, cases[i].repo);
		assert_string_equal(n.ref, cases[i].ref);
	}
}

static void test_parse_enoent(void **state)
{
	(void)state;
	const char *cases[] = {
		"",
		".",
		"..",
		".git",
		"vision.git",
		"vision.git:main",
		"vi sion",
		"vision\n",
		"a/b",
		"vision:",           /* empty ref */
		"HEAD:",             /* empty ref */
		":main",             /* empty repo */
		"@" SHA,             /* empty repo */
		"vision:a%2",        /* truncated escape */
		"vision:a%",         /* truncated escape */
		"vision:a%zz",       /* unknown escape */
		"vision:a%2Gb",      /* unknown escape */
		"vision:a%41",       /* not produced by the encoder */
		"vision:a..b",       /* bad ref */
		"vision:%2Fa",       /* leading '/' */
		"vision:a%2F",       /* trailing '/' */
		"vision:a%2F%2Fb",   /* "//" */
		"vision:ma\nin",     /* control character */
		"vision:a:b",        /* ':' in a ref */
		"vision:.hidden",    /* component starts with '.' */
		"vision:x.lock",     /* ".lock" */
		"vision:@",          /* "@" */
		"vision:a@{1}",      /* "@{" */
		"vision@",           /* no sha */
		"vision@abcdef0",    /* short sha */
		"vision@" SHA_UPPER, /* uppercase sha */
		"vision@" SHA "0",   /* 41 digits */
		"vision@" SHA ":main",
		"vision@main",
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct hub_name n;
		memset(&n, 0x5a, sizeof(n));
		int rc = hub_name_parse(&n, cases[i]);
		if (rc != -ENOENT)
			fail_msg("case %zu '%s': rc %d, expected -ENOENT", i, cases[i], rc);
		/* nothing of a rejected name is left behind */
		assert_string_equal(n.repo, "");
		assert_string_equal(n.ref, "");
	}
	struct hub_name n;
	assert_int_equal(hub_name_parse(&n, NULL), -ENOENT);
}

static void test_parse_lengths(void **state)
{
	(void)state;
	struct hub_name n;
	char comp[600];

	/* repo of 100 characters is fine, 101 is not a repo */
	snprintf(comp, sizeof(comp), "%s", repeat('r', 100));
	assert_int_equal(hub_name_parse(&n, comp), 0);
	assert_int_equal(strlen(n.repo), 100);
	snprintf(comp, sizeof(comp), "%s", repeat('r', 101));
	assert_int_equal(hub_name_parse(&n, comp), -ENOENT);
	snprintf(comp, sizeof(comp), "%s:main", repeat('r', 101));
	assert_int_equal(hub_name_parse(&n, comp), -ENOENT);

	/* a component of 255 bytes parses, 256 is too long for a name */
	snprintf(comp, sizeof(comp), "vision:%s", repeat('x', 248));
	assert_int_equal(strlen(comp), 255);
	assert_int_equal(hub_name_parse(&n, comp), 0);
	assert_int_equal(strlen(n.ref), 248);
	snprintf(comp, sizeof(comp), "vision:%s", repeat('x', 249));
	assert_int_equal(hub_name_parse(&n, comp), -ENAMETOOLONG);
	snprintf(comp, sizeof(comp), "%s", repeat('r', 599));
	assert_int_equal(hub_name_parse(&n, comp), -ENAMETOOLONG);
}

/* ---- encoding ---------------------------------------------------------- */

static void test_encode(void **state)
{
	(void)state;
	char buf[64];
	assert_int_equal(hub_name_encode_ref(buf, sizeof(buf), "main"), 4);
	assert_string_equal(buf, "main");
	assert_int_equal(hub_name_encode_ref(buf, sizeof(buf), "feature/x"), 11);
	assert_string_equal(buf, "feature%2Fx");
	assert_int_equal(hub_name_encode_ref(buf, sizeof(buf), "a%b"), 5);
	assert_string_equal(buf, "a%25b");
	assert_int_equal(hub_name_encode_ref(buf, sizeof(buf), "refs/tags/v1"), 16);
	assert_string_equal(buf, "refs%2Ftags%2Fv1");
	assert_int_equal(hub_name_encode_ref(buf, sizeof(buf), ""), 0);
	assert_string_equal(buf, "");

	/* exact fit, one byte short */
	assert_int_equal(hub_name_encode_ref(buf, 6, "a/b"), 5);
	assert_string_equal(buf, "a%2Fb");
	assert_int_equal(hub_name_encode_ref(buf, 5, "a/b"), -ENAMETOOLONG);
	assert_int_equal(hub_name_encode_ref(buf, 4, "abc"), 3);
	assert_int_equal(hub_name_encode_ref(buf, 3, "abc"), -ENAMETOOLONG);
	assert_int_equal(hub_name_encode_ref(buf, 0, ""), -ENAMETOOLONG);
}

static void test_decode(void **state)
{
	(void)state;
	char buf[64];
	assert_int_equal(hub_name_decode_ref(buf, sizeof(buf), "feature%2Fx"), 9);
	assert_string_equal(buf, "feature/x");
	assert_int_equal(hub_name_decode_ref(buf, sizeof(buf), "feature%2fx"), 9);
	assert_string_equal(buf, "feature/x");
	assert_int_equal(hub_name_decode_ref(buf, sizeof(buf), "%25%2F"), 2);
	assert_string_equal(buf, "%/");
	assert_int_equal(hub_name_decode_ref(buf, sizeof(buf), "%252F"), 3);
	assert_string_equal(buf, "%2F");
	assert_int_equal(hub_name_decode_ref(buf, sizeof(buf), ""), 0);
	assert_string_equal(buf, "");

	const char *bad[] = {"%", "%2", "a%", "%41", "%2g", "%2 ", "%%", "%5F", "%2e"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (hub_name_decode_ref(buf, sizeof(buf), bad[i]) != -ENOENT)
			fail_msg("'%s' should not decode", bad[i]);

	assert_int_equal(hub_name_decode_ref(buf, 4, "a%2Fb"), 3);
	assert_string_equal(buf, "a/b");
	assert_int_equal(hub_name_decode_ref(buf, 3, "a%2Fb"), -ENAMETOOLONG);
	assert_int_equal(hub_name_decode_ref(buf, 0, ""), -ENAMETOOLONG);
}

static void test_round_trip(void **state)
{
	(void)state;
	const char *refs[] = {"main",      "feature/x", "a%b",         "refs/tags/v1", "%2F",
			      "a/b%c/d/e", "",          "100%/%25/%2F", "\xc3\xa9/x"};
	for (size_t i = 0; i < sizeof(refs) / sizeof(refs[0]); i++) {
		char enc[128], dec[128];
		int n = hub_name_encode_ref(enc, sizeof(enc), refs[i]);
		assert_true(n >= 0);
		assert_int_equal((size_t)n, strlen(enc));
		assert_null(strchr(enc, '/')); /* one path component */
		int m = hub_name_decode_ref(dec, sizeof(dec), enc);
		assert_int_equal((size_t)m, strlen(refs[i]));
		assert_string_equal(dec, refs[i]);
	}
}

/* Every valid ref, encoded, parses back as "repo:<encoded>". */
static void test_parse_encoded(void **state)
{
	(void)state;
	const char *refs[] = {"feature/x", "refs/tags/v1.0", "a%b/c", "release/2024-01"};
	for (size_t i = 0; i < sizeof(refs) / sizeof(refs[0]); i++) {
		char enc[128], comp[160];
		assert_true(hub_name_encode_ref(enc, sizeof(enc), refs[i]) > 0);
		snprintf(comp, sizeof(comp), "vision:%s", enc);
		struct hub_name n;
		assert_int_equal(hub_name_parse(&n, comp), 0);
		assert_int_equal(n.kind, HUB_NAME_REF);
		assert_string_equal(n.ref, refs[i]);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_owner_valid),   cmocka_unit_test(test_repo_valid),
		cmocka_unit_test(test_ref_valid),     cmocka_unit_test(test_hex_prefix),
		cmocka_unit_test(test_full_sha),      cmocka_unit_test(test_parse_ok),
		cmocka_unit_test(test_parse_enoent),  cmocka_unit_test(test_parse_lengths),
		cmocka_unit_test(test_encode),        cmocka_unit_test(test_decode),
		cmocka_unit_test(test_round_trip),    cmocka_unit_test(test_parse_encoded),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
