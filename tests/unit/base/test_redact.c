/*
 * Unit tests for base/redact.c: URLs lose user information, query and
 * fragment (and keep scheme, host, port, path), strings curl refuses are
 * redacted by their text, control characters never get through, and small
 * buffers cut without leaking.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "base/redact.h"

struct row {
	const char *in;
	const char *out;
};

static void check_rows(int (*fn)(char *, size_t, const char *), const struct row *rows, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		char out[512];
		int rc = fn(out, sizeof(out), rows[i].in);
		if (rc != (int)strlen(rows[i].out) || strcmp(out, rows[i].out))
			fail_msg("row %zu '%s': got '%s' (%d), expected '%s'", i, rows[i].in, out, rc,
				 rows[i].out);
	}
}

#define CHECK_ROWS(fn, rows) check_rows(fn, rows, sizeof(rows) / sizeof(rows[0]))

static void test_urls(void **state)
{
	(void)state;
	static const struct row rows[] = {
		/* nothing to hide: as written */
		{"https://github.com/pytorch/vision.git", "https://github.com/pytorch/vision.git"},
		{"https://github.com/", "https://github.com/"},
		{"https://github.com", "https://github.com"},
		{"git://127.0.0.1:9418/alice/vision.git", "git://127.0.0.1:9418/alice/vision.git"},
		{"http://[::1]:8080/a/b.pth", "http://[::1]:8080/a/b.pth"},
		{"file:///srv/git/", "file:///srv/git/"},
		{"https://h/{owner}/{repo}.git", "https://h/{owner}/{repo}.git"},
		{"https://h/a/../b", "https://h/a/../b"}, /* the path as is */
		{"https://h/r@v1/x.pth", "https://h/r@v1/x.pth"}, /* '@' in a path is a path */
		/* user information */
		{"https://user:pa55word@mirror.local/", "https://***@mirror.local/"},
		{"https://user:pa55word@127.0.0.1:8443/{owner}/{repo}.git",
		 "https://***@127.0.0.1:8443/{owner}/{repo}.git"},
		{"https://x-access-token:ghp_abc@github.com/o/r.git", "https://***@github.com/o/r.git"},
		{"https://justauser@h/p", "https://***@h/p"},
		{"https://:onlypass@h/p", "https://***@h/p"},
		{"ssh://git@github.com/o/r.git", "ssh://***@github.com/o/r.git"},
		{"https://u%40x:p%3Aw@h/", "https://***@h/"},
		/* query and fragment */
		{"https://s3.example/w.pth?X-Amz-Signature=SECRETSIG&X-Amz-Credential=AK",
		 "https://s3.example/w.pth?***"},
		{"https://h/w.pth#token=SECRET", "https://h/w.pth#***"},
		{"https://h/w.pth?a=1#b", "https://h/w.pth?***#***"},
		{"https://u:p@h:99/w.pth?sig=S#f", "https://***@h:99/w.pth?***#***"},
		{"https://h?sig=S", "https://h?***"},
	};
	CHECK_ROWS(hub_redact_url, rows);
}

/* Strings libcurl does not take as URLs: still nothing before an '@'. */
static void test_not_urls(void **state)
{
	(void)state;
	static const struct row rows[] = {
		{"github.com/", "github.com/"},
		{"plain text", "plain text"},
		{"", ""},
		{"git@github.com:o/r.git", "***@github.com:o/r.git"},
		{"user:pw@host/path", "***@host/path"},
		{"https://user:pw@", "https://***@"},
		{"https://user:pa/ss@host/p", "https://***@host/p"}, /* bad port for curl */
		{"https://user:pw@host:notaport/x?q=S", "https://***@host:notaport/x?***"},
		{"https://h:bad/x#frag", "https://h:bad/x#***"},
		{"weird?token=S", "weird?***"},
		{"https://u:p@h\x1b[31m/x", "https://***@h\\x1b[31m/x"}, /* curl refuses ESC */
		{"https://h/a\nb?c\nd", "https://h/a\\x0ab?***"},
	};
	CHECK_ROWS(hub_redact_url, rows);
}

static void test_escape(void **state)
{
	(void)state;
	static const struct row rows[] = {
		{"", ""},
		{"plain text, UTF-8: \xc3\xa9", "plain text, UTF-8: \xc3\xa9"},
		{"a\nb", "a\\x0ab"},
		{"\r\t\x1b[2J\x7f", "\\x0d\\x09\\x1b[2J\\x7f"},
		{"back\\slash", "back\\x5cslash"},
		{"\x01\x1f", "\\x01\\x1f"},
	};
	CHECK_ROWS(hub_escape_text, rows);
	/* every byte 1..255: no control byte out, and it decodes back */
	char in[256], out[1100];
	for (int i = 1; i < 256; i++)
		in[i - 1] = (char)i;
	in[255] = '\0';
	int n = hub_escape_text(out, sizeof(out), in);
	assert_true(n > 255);
	char back[256];
	size_t k = 0;
	for (int i = 0; i < n; i++) {
		unsigned char c = (unsigned char)out[i];
		assert_false(c < 0x20 || c == 0x7f);
		if (c == '\\') {
			unsigned v;
			assert_int_equal(sscanf(out + i, "\\x%2x", &v), 1);
			back[k++] = (char)v;
			i += 3;
		} else {
			back[k++] = (char)c;
		}
	}
	back[k] = '\0';
	assert_string_equal(back, in);
}

/* A buffer too small: -ENAMETOOLONG, NUL-terminated, never a secret, never
 * half an escape. */
static void test_escape_controls(void **state)
{
	(void)state;
	static const struct row rows[] = {
		{"a\nb\\c", "a\\x0ab\\c"},
		{"C:\\x1b is text\x1b[0m", "C:\\x1b is text\\x1b[0m"},
	};
	CHECK_ROWS(hub_escape_controls, rows);
	char out[4] = "jun";
	assert_int_equal(hub_escape_controls(out, sizeof(out), NULL), -EINVAL);
	assert_int_equal(hub_escape_controls(out, sizeof(out), "ab\n"), -ENAMETOOLONG);
	assert_string_equal(out, "ab");
}

static void test_small_buffers(void **state)
{
	(void)state;
	const char *url = "https://user:pa55word@mirror.local/some/long/path.pth?sig=SECRETSIG";
	char full[256];
	int n = hub_redact_url(full, sizeof(full), url);
	assert_string_equal(full, "https://***@mirror.local/some/long/path.pth?***");
	for (size_t sz = 1; sz <= (size_t)n; sz++) {
		char out[256];
		memset(out, 'Z', sizeof(out));
		assert_int_equal(hub_redact_url(out, sz, url), -ENAMETOOLONG);
		assert_true(strlen(out) < sz);
		assert_int_equal(strncmp(out, full, strlen(out)), 0);
		assert_null(strstr(out, "pa55"));
		assert_null(strstr(out, "SECRET"));
	}
	char exact[256];
	assert_int_equal(hub_redact_url(exact, (size_t)n + 1, url), n);
	assert_string_equal(exact, full);
	/* escapes are whole or absent */
	char e[6];
	assert_int_equal(hub_escape_text(e, sizeof(e), "ab\x1b"), -ENAMETOOLONG);
	assert_string_equal(e, "ab");
	assert_int_equal(hub_escape_text(e, sizeof(e), "a\x1b"), 5);
	assert_string_equal(e, "a\\x1b");
}

static void test_bad_arguments(void **state)
{
	(void)state;
	char out[16] = "junk";
	assert_int_equal(hub_redact_url(out, sizeof(out), NULL), -EINVAL);
	assert_string_equal(out, "");
	assert_int_equal(hub_redact_url(NULL, 16, "https://h/"), -EINVAL);
	assert_int_equal(hub_redact_url(out, 0, "https://h/"), -EINVAL);
	strcpy(out, "junk");
	assert_int_equal(hub_escape_text(out, sizeof(out), NULL), -EINVAL);
	assert_string_equal(out, "");
	assert_int_equal(hub_escape_text(NULL, 16, "x"), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_urls),
		cmocka_unit_test(test_not_urls),
		cmocka_unit_test(test_escape),
		cmocka_unit_test(test_escape_controls),
		cmocka_unit_test(test_small_buffers),
		cmocka_unit_test(test_bad_arguments),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
