/*
 * cmocka tests of the generated .hub/ view (fs/view.c) without a mount and
 * without a network: trees built from analysis JSON (hub_view_from_json, the
 * pure entry point) and through hub_view_build from a result pre-stored in a
 * temporary cache root (no Python: py is NULL, so a missing result is the
 * "analysis did not run" answer).  File contents byte for byte, weight file
 * names (the "~<FNV-1a 32 of the URL>" suffix when base names clash),
 * per-entrypoint weights, the view of a failed analysis, sorted children.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "base/files.h"
#include "cache/repo.h"
#include "fs/view.h"
#include "py/pyrt.h"

static const char SHA[] = "0123456789abcdef0123456789abcdef01234567";

/* FNV-1a 32, written out here so a change of the suffix's hash shows. */
static uint32_t fnv1a32(const char *s)
{
	uint32_t h = 2166136261u;
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		h ^= *p;
		h *= 16777619u;
	}
	return h;
}

static struct hub_view *from_json(const char *json)
{
	struct hub_view *v = NULL;
	assert_int_equal(hub_view_from_json(&v, SHA, json), 0);
	assert_non_null(v);
	return v;
}

/* The child `name` of dir, which must exist and be a dir/file as told. */
static const struct hub_view *kid(const struct hub_view *dir, const char *name, bool is_dir)
{
	assert_non_null(dir);
	assert_true(dir->dir);
	const struct hub_view *k = hub_view_child(dir, name);
	if (!k)
		fail_msg("no %s in %s", name, dir->name);
	assert_string_equal(k->name, name);
	assert_int_equal(k->dir, is_dir);
	return k;
}

/* A file's bytes are exactly `want` (no trailing NUL counted). */
static void file_is(const struct hub_view *dir, const char *name, const char *want)
{
	const struct hub_view *f = kid(dir, name, false);
	assert_null(f->url);
	assert_int_equal(f->n, 0);
	assert_int_equal(f->len, strlen(want));
	if (f->len)
		assert_memory_equal(f->data, want, f->len);
}

/* The names of dir's children, in order, are exactly names[] (NULL-ended). */
static void kids_are(const struct hub_view *dir, const char *const *names)
{
	size_t n = 0;
	while (names[n])
		n++;
	assert_true(dir->dir);
	if (dir->n != n) {
		for (size_t i = 0; i < dir->n; i++)
			print_message("  %s/%s\n", dir->name, dir->kids[i].name);
		fail_msg("%s: %zu children, want %zu", dir->name, dir->n, n);
	}
	for (size_t i = 0; i < n; i++)
		assert_string_equal(dir->kids[i].name, names[i]);
}

/* Every directory's children strictly sorted (strcmp) and found by
 * hub_view_child: what lookups and readdir offsets rely on. */
static void check_sorted(const struct hub_view *v)
{
	for (size_t i = 0; i < v->n; i++) {
		if (i)
			assert_true(strcmp(v->kids[i - 1].name, v->kids[i].name) < 0);
		assert_ptr_equal(hub_view_child(v, v->kids[i].name), &v->kids[i]);
		if (v->kids[i].dir)
			check_sorted(&v->kids[i]);
	}
}

static char *suffixed(const char *stem, const char *url, const char *ext)
{
	char *s;
	assert_true(asprintf(&s, "%s~%08x%s", stem, fnv1a32(url), ext) > 0);
	return s;
}

/* ---- files, byte for byte ---- */

static void test_files_byte_for_byte(void **state)
{
	(void)state;
	const char *json =
		"{\"entrypoints\":[{\"name\":\"model_a\","
		"\"help\":\"Docstring of model_a.\\n\\n    Indented.\\tTab \\u00fcn\\u00efc\\u00f6d\\u00e9 \\u2713\",\"signature\":\"model_a(x, y=1, *args, z, **kw)\","
		"\"weights\":[]},"
		"{\"name\":\"bare\"}],"
		"\"weights\":[],"
		"\"dependencies\":[\"torch\",\"scipy\",7,\"tqdm\"],"
		"\"errors\":[\"hubconf.py:12: cannot resolve name\",\"models/x.py: too large\"]}";
	struct hub_view *v = from_json(json);
	assert_string_equal(v->name, ".hub");
	assert_true(v->dir);
	kids_are(v, (const char *const[]){ "commit", "dependencies", "entrypoints", "errors",
					   "weights", NULL });
	file_is(v, "commit", "0123456789abcdef0123456789abcdef01234567\n");
	/* In the analyser's order, one per line; a non-string is skipped. */
	file_is(v, "dependencies", "torch\nscipy\ntqdm\n");
	file_is(v, "errors", "hubconf.py:12: cannot resolve name\nmodels/x.py: too large\n");

	const struct hub_view *eps = kid(v, "entrypoints", true);
	kids_are(eps, (const char *const[]){ "bare", "model_a", NULL });
	const struct hub_view *a = kid(eps, "model_a", true);
	kids_are(a, (const char *const[]){ "help", "signature", "weights", NULL });
	/* help: the docstring as is, UTF-8, no newline added */
	file_is(a, "help",
		"Docstring of model_a.\n\n    Indented.\tTab \xc3\xbc" "n\xc3\xaf" "c\xc3\xb6" "d\xc3\xa9 \xe2\x9c\x93");
	/* signature: one line */
	file_is(a, "signature", "model_a(x, y=1, *args, z, **kw)\n");
	assert_int_equal(kid(a, "weights", true)->n, 0);
	/* Missing help and signature: empty files, not absent ones. */
	const struct hub_view *b = kid(eps, "bare", true);
	file_is(b, "help", "");
	file_is(b, "signature", "");
	assert_int_equal(kid(v, "weights", true)->n, 0);
	check_sorted(v);
	hub_view_free(v);
}

static void test_clean_analysis_empty_files(void **state)
{
	(void)state;
	/* No "weights" at all (no weight scan): no weights/ directories. */
	struct hub_view *v = from_json("{\"entrypoints\":[{\"name\":\"m\",\"help\":\"\","
				       "\"signature\":\"()\"}],\"dependencies\":[],\"errors\":[]}");
	kids_are(v, (const char *const[]){ "commit", "dependencies", "entrypoints", "errors", NULL });
	file_is(v, "dependencies", "");
	file_is(v, "errors", ""); /* clean: empty */
	const struct hub_view *m = kid(kid(v, "entrypoints", true), "m", true);
	kids_are(m, (const char *const[]){ "help", "signature", NULL });
	file_is(m, "help", "");
	file_is(m, "signature", "()\n");
	hub_view_free(v);

	/* Keys absent altogether: still commit, dependencies, entrypoints, errors. */
	v = from_json("{}");
	kids_are(v, (const char *const[]){ "commit", "dependencies", "entrypoints", "errors", NULL });
	file_is(v, "dependencies", "");
	file_is(v, "errors", "");
	assert_int_equal(kid(v, "entrypoints", true)->n, 0);
	hub_view_free(v);
}

/* ---- weight file names ---- */

#define U_A "https://b.example/x/resnet18.pth"
#define U_B "https://a.example/y/resnet18.pth" /* first of the resnet18.pth URLs */
#define U_C "https://c.example/z/resnet18.pth?dl=1#frag"
#define U_D "https://d.example/model.tar.gz"
#define U_E "https://e.example/other/model.tar.gz"
#define U_F "https://f.example/solo.bin"

static void check_names(const struct hub_view *v)
{
	const struct hub_view *w = kid(v, "weights", true);
	char *a = suffixed("resnet18", U_A, ".pth");
	char *c = suffixed("resnet18", U_C, ".pth");
	char *e = suffixed("model", U_E, ".tar.gz"); /* before the first dot */
	/* Known values too, so the test does not only agree with itself. */
	assert_string_equal(a, "resnet18~5e21899a.pth");
	assert_string_equal(e, "model~cd31568e.tar.gz");
	/* Sorted by name ('.' < '~'); the first of each base name in URL
	 * order (U_B < U_A < U_C, U_D < U_E) keeps it plain. */
	const char *lo = strcmp(a, c) < 0 ? a : c, *hi = lo == a ? c : a;
	kids_are(w, (const char *const[]){ "model.tar.gz", e, "resnet18.pth", lo, hi, "solo.bin", NULL });
	struct {
		const char *name, *url;
	} m[] = { { "model.tar.gz", U_D }, { e, U_E }, { "resnet18.pth", U_B },
		  { a, U_A }, { c, U_C }, { "solo.bin", U_F } };
	for (size_t i = 0; i < sizeof(m) / sizeof(m[0]); i++) {
		const struct hub_view *f = kid(w, m[i].name, false);
		/* read through cache/weights.h by URL: no inline data */
		assert_non_null(f->url);
		assert_string_equal(f->url, m[i].url);
		assert_null(f->data);
		assert_int_equal(f->len, 0);
	}
	free(a);
	free(c);
	free(e);
}

static void test_weight_names(void **state)
{
	(void)state;
	/* Unsorted, one duplicate, strings and {"url":..} objects, and URLs
	 * without a usable base name (skipped). */
	struct hub_view *v = from_json(
		"{\"entrypoints\":[],\"weights\":[\"" U_A "\",{\"url\":\"" U_E "\"},\"" U_C
		"\",\"" U_F "\",\"https://x.example/dir/\",\"" U_B "\",{\"sha\":1},\"" U_D
		"\",\"" U_A "\",\"https://x.example/..\",42]}");
	check_names(v);
	check_sorted(v);
	hub_view_free(v);

	/* Stable: the same URLs in another order get the same names. */
	v = from_json("{\"weights\":[\"" U_F "\",\"" U_D "\",\"" U_C "\",\"" U_B "\",\"" U_A
		      "\",\"" U_E "\"]}");
	check_names(v);
	hub_view_free(v);

	/* Without the clash, a URL keeps its plain base name. */
	v = from_json("{\"weights\":[\"" U_A "\",\"" U_E "\"]}");
	const struct hub_view *w = kid(v, "weights", true);
	kids_are(w, (const char *const[]){ "model.tar.gz", "resnet18.pth", NULL });
	assert_string_equal(kid(w, "resnet18.pth", false)->url, U_A);
	assert_string_equal(kid(w, "model.tar.gz", false)->url, U_E);
	hub_view_free(v);
}

/* 100,000 weight URLs, two per base name: the clash check is not pairwise
 * (it took minutes), and the second of each pair gets the suffix. */
static void test_many_weights(void **state)
{
	(void)state;
	size_t n = 100000, cap = n * 48 + 64, at = 0;
	char *json = malloc(cap);
	assert_non_null(json);
	at += (size_t)snprintf(json + at, cap - at, "{\"weights\":[");
	for (size_t i = 0; i < n; i++)
		at += (size_t)snprintf(json + at, cap - at, "%s\"https://h%zu.example/w%zu.pth\"",
				       i ? "," : "", i, i / 2);
	snprintf(json + at, cap - at, "]}");
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	struct hub_view *v = from_json(json);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	double took = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	print_message("100,000 weight URLs named in %.2f s\n", took);
	assert_true(took < 20.0);
	const struct hub_view *w = kid(v, "weights", true);
	assert_int_equal(w->n, n);
	size_t plain = 0;
	for (size_t i = 0; i < w->n; i++)
		plain += strchr(w->kids[i].name, '~') == NULL;
	assert_int_equal(plain, n / 2); /* one of each pair keeps its name */
	hub_view_free(v);
	free(json);
}

/* ---- per-entrypoint weights ---- */

static void test_entrypoint_weights(void **state)
{
	(void)state;
	char *a = suffixed("resnet18", U_A, ".pth");
	struct hub_view *v = from_json(
		"{\"weights\":[\"" U_A "\",\"" U_B "\",\"" U_F "\"],"
		"\"entrypoints\":["
		"{\"name\":\"r18\",\"weights\":[\"" U_A "\"]},"
		"{\"name\":\"both\",\"weights\":[{\"url\":\"" U_F "\"},\"" U_B "\",\"" U_A "\",\"" U_B "\"]},"
		"{\"name\":\"none\",\"weights\":[]},"
		/* a URL the repository's list lacks is not invented */
		"{\"name\":\"stray\",\"weights\":[\"https://z.example/stray.pth\"]}]}");
	const struct hub_view *eps = kid(v, "entrypoints", true);
	kids_are(eps, (const char *const[]){ "both", "none", "r18", "stray", NULL });
	/* The same name as in .hub/weights (the repo-wide clash decides it). */
	const struct hub_view *w = kid(kid(eps, "r18", true), "weights", true);
	kids_are(w, (const char *const[]){ a, NULL });
	assert_string_equal(w->kids[0].url, U_A);
	w = kid(kid(eps, "both", true), "weights", true);
	kids_are(w, (const char *const[]){ "resnet18.pth", a, "solo.bin", NULL });
	assert_string_equal(kid(w, "resnet18.pth", false)->url, U_B);
	assert_string_equal(kid(w, a, false)->url, U_A);
	assert_string_equal(kid(w, "solo.bin", false)->url, U_F);
	assert_int_equal(kid(kid(eps, "none", true), "weights", true)->n, 0);
	assert_int_equal(kid(kid(eps, "stray", true), "weights", true)->n, 0);
	kids_are(kid(v, "weights", true), (const char *const[]){ "resnet18.pth", a, "solo.bin", NULL });
	check_sorted(v);
	hub_view_free(v);
	free(a);
}

/* ---- alternatives: what only another value of an argument selects ---- */

static void test_entrypoint_alternatives(void **state)
{
	(void)state;
	struct hub_view *v = from_json(
		"{\"weights\":[\"" U_B "\",\"" U_F "\"],"
		"\"entrypoints\":["
		"{\"name\":\"alt\",\"weights\":[\"" U_B "\"],\"alternatives\":[\"" U_F "\"]},"
		"{\"name\":\"plain\",\"weights\":[\"" U_B "\"],\"alternatives\":[]}]}");
	const struct hub_view *eps = kid(v, "entrypoints", true);
	const struct hub_view *e = kid(eps, "alt", true);
	kids_are(e, (const char *const[]){ "alternatives", "help", "signature", "weights", NULL });
	kids_are(kid(e, "weights", true), (const char *const[]){ "resnet18.pth", NULL });
	const struct hub_view *a = kid(e, "alternatives", true);
	kids_are(a, (const char *const[]){ "solo.bin", NULL });
	assert_string_equal(a->kids[0].url, U_F);
	/* none: no alternatives/ directory */
	kids_are(kid(eps, "plain", true), (const char *const[]){ "help", "signature", "weights", NULL });
	check_sorted(v);
	hub_view_free(v);
}

/* ---- loads: torch.hub.load of another repository's entrypoint ---- */

static void test_entrypoint_loads(void **state)
{
	(void)state;
	struct hub_view *v = from_json(
		"{\"weights\":[],\"entrypoints\":["
		"{\"name\":\"midas\",\"weights\":[],\"loads\":["
		"{\"repo\":\"facebookresearch/WSL-Images\",\"ref\":null,\"entrypoint\":\"r101\"},"
		"{\"repo\":\"o/r\",\"ref\":\"feature/x\",\"entrypoint\":\"net\"},"
		/* not paths of this mount: skipped */
		"{\"repo\":\"../etc\",\"entrypoint\":\"x\"},{\"repo\":\"o/r\",\"entrypoint\":\"../x\"},"
		"{\"repo\":\"o/r\",\"ref\":\"a..b\",\"entrypoint\":\"x\"},{\"repo\":\"o/r\",\"entrypoint\":\"a\\nb\"},"
		"{\"repo\":\"o\",\"entrypoint\":\"x\"},{\"repo\":5}]},"
		"{\"name\":\"bad_only\",\"weights\":[],\"loads\":[{\"repo\":\"../x\",\"entrypoint\":\"x\"}]},"
		"{\"name\":\"plain\",\"weights\":[]}]}");
	const struct hub_view *eps = kid(v, "entrypoints", true);
	const struct hub_view *e = kid(eps, "midas", true);
	kids_are(e, (const char *const[]){ "help", "loads", "signature", "weights", NULL });
	file_is(e, "loads",
		"/facebookresearch/WSL-Images/.hub/entrypoints/r101\n"
		"/o/r:feature%2Fx/.hub/entrypoints/net\n");
	/* nothing usable, or no loads: no file */
	kids_are(kid(eps, "bad_only", true), (const char *const[]){ "help", "signature", "weights", NULL });
	kids_are(kid(eps, "plain", true), (const char *const[]){ "help", "signature", "weights", NULL });
	check_sorted(v);
	hub_view_free(v);
}

/* ---- sorting and names ---- */

static void test_sorted_children(void **state)
{
	(void)state;
	struct hub_view *v = from_json(
		"{\"entrypoints\":["
		"{\"name\":\"zeta\",\"help\":\"z\"},{\"name\":\"beta\"},{\"name\":\"Alpha\"},"
		"{\"name\":\"alpha\"},{\"name\":\"_private_ok\"},{\"name\":\"beta\",\"help\":\"again\"},"
		"{\"name\":\"\"},{\"name\":\".\"},{\"name\":\"..\"},{\"name\":\"a/b\"},{\"name\":5},{}],"
		"\"weights\":[\"https://h/zz.pt\",\"https://h/AA.pt\",\"https://h/mm.pt\"]}");
	const struct hub_view *eps = kid(v, "entrypoints", true);
	/* strcmp order; unusable names dropped; a repeated name once */
	kids_are(eps, (const char *const[]){ "Alpha", "_private_ok", "alpha", "beta", "zeta", NULL });
	file_is(kid(eps, "zeta", true), "help", "z");
	kids_are(kid(v, "weights", true), (const char *const[]){ "AA.pt", "mm.pt", "zz.pt", NULL });
	assert_null(hub_view_child(eps, "gamma"));
	assert_null(hub_view_child(eps, "a/b"));
	assert_null(hub_view_child(eps, ".."));
	assert_null(hub_view_child(kid(eps, "beta", true), "nope"));
	check_sorted(v);
	hub_view_free(v);
}

/* ---- a failed analysis ---- */

static void test_not_json(void **state)
{
	(void)state;
	struct hub_view *v = from_json("{\"entrypoints\":[{\"name\":\"m\"}");
	kids_are(v, (const char *const[]){ "commit", "dependencies", "entrypoints", "errors", NULL });
	assert_int_equal(kid(v, "entrypoints", true)->n, 0);
	file_is(v, "dependencies", "");
	file_is(v, "errors", "hubfs: the analysis result is not valid JSON\n");
	file_is(v, "commit", "0123456789abcdef0123456789abcdef01234567\n");
	hub_view_free(v);
}

struct fixture {
	char root[64];
	struct hub_cache_config opts;
	struct hub_cache *cache;
	char path[512]; /* where the result of SHA is stored */
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	strcpy(f->root, "/tmp/hubfs-test-view-XXXXXX");
	assert_non_null(mkdtemp(f->root));
	f->opts.offline = true;
	assert_int_equal(hub_cache_new(&f->cache, f->root, &f->opts), 0);
	snprintf(f->path, sizeof(f->path), "%s/hubfs/analysis/%s.%s.json", f->root, SHA,
		 hub_py_analysis_version());
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	hub_cache_free(f->cache);
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", f->root);
	assert_int_equal(system(cmd), 0);
	free(f);
	return 0;
}

/* hub_view_build without an analyser and without a stored result: the
 * analysis failed, so no entrypoints and an errors line. */
static void test_build_failed_analysis(void **state)
{
	struct fixture *f = *state;
	struct hub_oid tree;
	memset(&tree, 0, sizeof(tree)); /* never read: py is NULL */
	struct hub_view *v = NULL;
	assert_int_equal(hub_view_build(&v, f->cache, NULL, NULL, SHA, &tree), 0);
	assert_non_null(v);
	kids_are(v, (const char *const[]){ "commit", "dependencies", "entrypoints", "errors", NULL });
	assert_int_equal(kid(v, "entrypoints", true)->n, 0);
	file_is(v, "dependencies", "");
	file_is(v, "commit", "0123456789abcdef0123456789abcdef01234567\n");
	char want[256];
	snprintf(want, sizeof(want), "hubconf.py: analysis did not run: %s\n", strerror(ENOSYS));
	file_is(v, "errors", want);
	hub_view_free(v);
	/* not remembered */
	struct stat st;
	assert_int_not_equal(lstat(f->path, &st), 0);
}

/* hub_view_build from a stored result: the view of that JSON. */
static void test_build_from_stored(void **state)
{
	struct fixture *f = *state;
	char dir[256];
	snprintf(dir, sizeof(dir), "%s/hubfs/analysis", f->root);
	assert_int_equal(hub_mkdir_p(dir), 0);
	const char *json = "{\"entrypoints\":[{\"name\":\"resnet\",\"help\":\"Res.\","
			   "\"signature\":\"(pretrained=False)\",\"weights\":[\"" U_A "\"]}],"
			   "\"weights\":[\"" U_B "\",\"" U_A "\"],\"dependencies\":[\"torch\"],"
			   "\"errors\":[]}";
	assert_int_equal(hub_file_write_atomic(f->path, json, strlen(json)), 0);
	struct hub_oid tree;
	memset(&tree, 0, sizeof(tree));
	struct hub_view *v = NULL;
	assert_int_equal(hub_view_build(&v, f->cache, NULL, NULL, SHA, &tree), 0);
	kids_are(v, (const char *const[]){ "commit", "dependencies", "entrypoints", "errors",
					   "weights", NULL });
	file_is(v, "dependencies", "torch\n");
	file_is(v, "errors", "");
	const struct hub_view *r = kid(kid(v, "entrypoints", true), "resnet", true);
	file_is(r, "help", "Res.");
	file_is(r, "signature", "(pretrained=False)\n");
	kids_are(kid(r, "weights", true), (const char *const[]){ "resnet18~5e21899a.pth", NULL });
	kids_are(kid(v, "weights", true),
		 (const char *const[]){ "resnet18.pth", "resnet18~5e21899a.pth", NULL });
	check_sorted(v);
	hub_view_free(v);
}

int main(void)
{
	const struct CMUnitTest pure[] = {
		cmocka_unit_test(test_files_byte_for_byte),
		cmocka_unit_test(test_clean_analysis_empty_files),
		cmocka_unit_test(test_weight_names),
		cmocka_unit_test(test_many_weights),
		cmocka_unit_test(test_entrypoint_weights),
		cmocka_unit_test(test_entrypoint_alternatives),
		cmocka_unit_test(test_entrypoint_loads),
		cmocka_unit_test(test_sorted_children),
		cmocka_unit_test(test_not_json),
	};
	const struct CMUnitTest build[] = {
		cmocka_unit_test_setup_teardown(test_build_failed_analysis, setup, teardown),
		cmocka_unit_test_setup_teardown(test_build_from_stored, setup, teardown),
	};
	int failed = cmocka_run_group_tests_name("view from JSON", pure, NULL, NULL);
	failed += cmocka_run_group_tests_name("view build", build, NULL, NULL);
	return failed;
}
