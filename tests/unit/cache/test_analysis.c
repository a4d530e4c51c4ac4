/*
 * cmocka tests of the per-commit analysis cache (cache/analysis.c) without
 * a network: a result stored at <root>/hubfs/analysis/<sha>.<version>.json
 * is used as is; a corrupt, truncated, oversized or non-regular one
 * (symlink, FIFO, directory) is refused and the commit analysed again; a
 * result of another analyser version or another commit is not used.  Most
 * tests pass no analyser (py NULL), so a refused result shows as the
 * not-persisted "analysis did not run" answer; one group runs the embedded
 * analyser over a bare repository made with the git command, for the
 * store/load round trip.
 */
#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "tests/unit/repo_fixture.h"

#include "base/files.h"
#include "base/limits.h"
#include "cache/analysis.h"
#include "cache/repo.h"
#include "fetch/git.h"
#include "py/pyrt.h"

static const char SHA[] = "89abcdef0123456789abcdef0123456789abcdef";
static const char STORED[] =
	"{\"entrypoints\":[{\"name\":\"stored\",\"help\":\"From disk.\",\"signature\":\"()\","
	"\"weights\":[]}],\"weights\":[],\"dependencies\":[\"torch\"],\"errors\":[]}";

struct fixture {
	char root[64];
	char sha[41];
	struct hub_cache_config opts;
	struct hub_cache *cache;
	struct hub_py *py; /* NULL but in the round-trip group */
	struct hub_oid tree;
	char dir[256];
	char path[512]; /* the result path of f->sha */
};

static void set_paths(struct fixture *f)
{
	snprintf(f->dir, sizeof(f->dir), "%s/hubfs/analysis", f->root);
	snprintf(f->path, sizeof(f->path), "%s/%s.%s.json", f->dir, f->sha,
		 hub_py_analysis_version());
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	strcpy(f->root, "/tmp/hubfs-test-analysis-XXXXXX");
	assert_non_null(mkdtemp(f->root));
	strcpy(f->sha, SHA);
	f->opts.offline = true;
	assert_int_equal(hub_cache_new(&f->cache, f->root, &f->opts), 0);
	set_paths(f);
	assert_int_equal(hub_mkdir_p(f->dir), 0);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	hub_cache_free(f->cache);
	hub_py_free(f->py);
	hub_test_sh("rm -rf %s", f->root);
	free(f);
	return 0;
}

static void store(const char *path, const void *data, size_t len)
{
	assert_int_equal(hub_file_write_atomic(path, data, len), 0);
}

/* The same in place, without the fsync of the atomic write (many files). */
static void put(const char *path, const void *data, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW, 0644);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, data, len), (ssize_t)len);
	assert_int_equal(close(fd), 0);
}

/* hub_analysis_get on f's commit. */
static char *get(struct fixture *f, bool *persisted)
{
	char *json = NULL;
	*persisted = true;
	assert_int_equal(hub_analysis_get(&json, persisted, f->cache, f->py, NULL, f->sha, &f->tree),
			 0);
	assert_non_null(json);
	return json;
}

/* The stored result was not used: without an analyser, the answer is the
 * not-persisted "did not run" result (so a later call tries again). */
static void assert_refused(struct fixture *f)
{
	bool persisted;
	char *json = get(f, &persisted);
	assert_false(persisted);
	cJSON *doc = cJSON_Parse(json);
	assert_non_null(doc);
	const cJSON *eps = cJSON_GetObjectItemCaseSensitive(doc, "entrypoints");
	assert_true(cJSON_IsArray(eps));
	assert_int_equal(cJSON_GetArraySize(eps), 0);
	const cJSON *errs = cJSON_GetObjectItemCaseSensitive(doc, "errors");
	assert_int_equal(cJSON_GetArraySize(errs), 1);
	char want[200];
	snprintf(want, sizeof(want), "hubconf.py: analysis did not run: %s", strerror(ENOSYS));
	assert_string_equal(cJSON_GetArrayItem(errs, 0)->valuestring, want);
	cJSON_Delete(doc);
	free(json);
}

static void assert_loaded(struct fixture *f, const char *want)
{
	bool persisted = false;
	char *json = get(f, &persisted);
	assert_true(persisted);
	assert_string_equal(json, want);
	free(json);
}

/* ---- without an analyser ---- */

static void test_nothing_stored(void **state)
{
	struct fixture *f = *state;
	assert_refused(f);
	/* The failure is not written down. */
	struct stat st;
	assert_int_equal(lstat(f->path, &st), -1);
	assert_int_equal(errno, ENOENT);
}

static void test_stored_is_used(void **state)
{
	struct fixture *f = *state;
	store(f->path, STORED, strlen(STORED));
	assert_loaded(f, STORED); /* byte for byte, and no analyser was needed */
	assert_loaded(f, STORED);
}

static void test_version_in_name(void **state)
{
	struct fixture *f = *state;
	/* The version names the scanner, so it is a safe file name part. */
	const char *ver = hub_py_analysis_version();
	assert_true(strlen(ver) > 16);
	assert_int_equal(strspn(ver, "0123456789abcdef.-"), strlen(ver));
	char path[600];
	/* Another analyser's result, an unversioned one, another commit's. */
	snprintf(path, sizeof(path), "%s/%s.0000000000000000-0000000000000000.json", f->dir, f->sha);
	store(path, STORED, strlen(STORED));
	snprintf(path, sizeof(path), "%s/%s.json", f->dir, f->sha);
	store(path, STORED, strlen(STORED));
	snprintf(path, sizeof(path), "%s/%s.%s.json", f->dir,
		 "0000000000000000000000000000000000000000", ver);
	store(path, STORED, strlen(STORED));
	snprintf(path, sizeof(path), "%s/%s.%sx.json", f->dir, f->sha, ver);
	store(path, STORED, strlen(STORED));
	assert_refused(f);
	/* ... and under the version's name it is. */
	store(f->path, STORED, strlen(STORED));
	assert_loaded(f, STORED);
}

static void test_corrupt_refused(void **state)
{
	struct fixture *f = *state;
	const char *bad[] = { "", "not json", "{\"entrypoints\":[}", "\x89PNG\r\n\x1a\n", "{\"a\":\"\xff" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		store(f->path, bad[i], strlen(bad[i]));
		assert_refused(f);
	}
	/* Every truncation of a stored result (a crash mid-write without the
	 * atomic rename, a full disk) is refused. */
	size_t n = strlen(STORED);
	for (size_t len = 0; len < n; len++) {
		put(f->path, STORED, len);
		assert_refused(f);
	}
	store(f->path, STORED, n);
	assert_loaded(f, STORED);
}

static void test_oversized_refused(void **state)
{
	struct fixture *f = *state;
	/* A valid result padded with blanks beyond HUB_JSON_MAX is not read. */
	size_t big = (size_t)HUB_JSON_MAX + 1, n = strlen(STORED);
	char *buf = malloc(big);
	assert_non_null(buf);
	memset(buf, ' ', big);
	memcpy(buf, STORED, n);
	store(f->path, buf, big);
	assert_refused(f);
	/* at the limit it is */
	store(f->path, buf, big - 1);
	bool persisted = false;
	char *json = get(f, &persisted);
	assert_true(persisted);
	assert_int_equal(strlen(json), big - 1);
	assert_memory_equal(json, buf, big - 1);
	free(json);
	free(buf);
}

static void test_symlink_not_followed(void **state)
{
	struct fixture *f = *state;
	char target[600];
	snprintf(target, sizeof(target), "%s/elsewhere.json", f->root);
	store(target, STORED, strlen(STORED));
	assert_int_equal(symlink(target, f->path), 0);
	assert_refused(f);
	/* still the link, the target untouched */
	struct stat st;
	assert_int_equal(lstat(f->path, &st), 0);
	assert_true(S_ISLNK(st.st_mode));
	char *text;
	size_t len;
	assert_int_equal(hub_file_read(&text, &len, target, 4096), 0);
	assert_string_equal(text, STORED);
	free(text);
}

static void test_fifo_not_opened(void **state)
{
	struct fixture *f = *state;
	assert_int_equal(mkfifo(f->path, 0600), 0);
	/* A blocking open of a FIFO without a writer would hang here: the
	 * alarm kills the test instead. */
	alarm(20);
	assert_refused(f);
	alarm(0);
	struct stat st;
	assert_int_equal(lstat(f->path, &st), 0);
	assert_true(S_ISFIFO(st.st_mode));
}

static void test_directory_refused(void **state)
{
	struct fixture *f = *state;
	assert_int_equal(mkdir(f->path, 0700), 0);
	assert_refused(f);
}

/* ---- with the embedded analyser: store, then load ---- */

static int setup_repo(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	strcpy(f->root, "/tmp/hubfs-test-analysis-XXXXXX");
	assert_non_null(mkdtemp(f->root));
	hub_test_bare_repo(f->sha, NULL, f->root, "alice", "tiny",
			   "printf 'dependencies = [\"torch\"]\\n\\n\\ndef tiny(pretrained=False):\\n"
			   "    \"\"\"A tiny model.\"\"\"\\n    return None\\n' > hubconf.py; "
			   "git add -A; git commit -qm one");
	f->opts.offline = true;
	assert_int_equal(hub_cache_new(&f->cache, f->root, &f->opts), 0);
	set_paths(f);
	assert_int_equal(hub_py_new(&f->py), 0);
	*state = f;
	return 0;
}

static void test_round_trip(void **state)
{
	struct fixture *f = *state;
	struct hub_repo *r;
	assert_int_equal(hub_cache_repo(&r, f->cache, "alice", "tiny"), 0);
	int64_t when;
	assert_int_equal(hub_repo_commit_info(&f->tree, &when, r, f->sha), 0);

	/* First call: analysed, and stored (the analysis directory made). */
	char *first = NULL;
	bool persisted = false;
	assert_int_equal(hub_analysis_get(&first, &persisted, f->cache, f->py, r, f->sha, &f->tree), 0);
	assert_true(persisted);
	cJSON *doc = cJSON_Parse(first);
	assert_non_null(doc);
	const cJSON *eps = cJSON_GetObjectItemCaseSensitive(doc, "entrypoints");
	assert_int_equal(cJSON_GetArraySize(eps), 1);
	const cJSON *ep = cJSON_GetArrayItem(eps, 0);
	assert_string_equal(cJSON_GetObjectItemCaseSensitive(ep, "name")->valuestring, "tiny");
	assert_string_equal(cJSON_GetObjectItemCaseSensitive(ep, "help")->valuestring,
			    "A tiny model.");
	const cJSON *deps = cJSON_GetObjectItemCaseSensitive(doc, "dependencies");
	assert_int_equal(cJSON_GetArraySize(deps), 1);
	assert_string_equal(cJSON_GetArrayItem(deps, 0)->valuestring, "torch");
	cJSON_Delete(doc);

	/* On disk, a regular file at <sha>.<version>.json, the same bytes. */
	struct stat st;
	assert_int_equal(lstat(f->path, &st), 0);
	assert_true(S_ISREG(st.st_mode));
	char *text;
	size_t len;
	assert_int_equal(hub_file_read(&text, &len, f->path, HUB_JSON_MAX), 0);
	assert_int_equal(len, strlen(first));
	assert_string_equal(text, first);
	free(text);

	/* Loaded back without the analyser. */
	struct hub_py *py = f->py;
	f->py = NULL;
	assert_loaded(f, first);
	/* It is what is on disk that is served, not a new analysis. */
	store(f->path, STORED, strlen(STORED));
	f->py = py;
	char *json = NULL;
	assert_int_equal(hub_analysis_get(&json, &persisted, f->cache, f->py, r, f->sha, &f->tree), 0);
	assert_true(persisted);
	assert_string_equal(json, STORED);
	free(json);

	/* A truncated result is analysed again and replaced. */
	store(f->path, first, strlen(first) / 2);
	json = NULL;
	assert_int_equal(hub_analysis_get(&json, &persisted, f->cache, f->py, r, f->sha, &f->tree), 0);
	assert_true(persisted);
	assert_string_equal(json, first);
	free(json);
	assert_int_equal(hub_file_read(&text, &len, f->path, HUB_JSON_MAX), 0);
	assert_string_equal(text, first);
	free(text);

	/* A symlink at the path is not written through: the target stays. */
	char target[600];
	snprintf(target, sizeof(target), "%s/elsewhere.json", f->root);
	store(target, "{}", 2);
	assert_int_equal(unlink(f->path), 0);
	assert_int_equal(symlink(target, f->path), 0);
	json = NULL;
	assert_int_equal(hub_analysis_get(&json, &persisted, f->cache, f->py, r, f->sha, &f->tree), 0);
	assert_string_equal(json, first);
	free(json);
	assert_int_equal(hub_file_read(&text, &len, target, 4096), 0);
	assert_string_equal(text, "{}");
	free(text);
	free(first);
}

/* A result cut by the wall-clock budget is not final (load-dependent); one
 * cut by steps, or complete, is. */
static void test_final_or_not(void **state)
{
	(void)state;
	assert_true(hub_analysis_is_final("{\"entrypoints\":[],\"errors\":[]}"));
	assert_true(hub_analysis_is_final("{\"cut\":\"steps\",\"errors\":"
					  "[\"hubconf.py:0: analysis stopped (step budget)\"]}"));
	assert_false(hub_analysis_is_final("{\"cut\":\"time\"}"));
	assert_false(hub_analysis_is_final(
		"{\"errors\":[\"x\",\"hubconf.py:0: analysis stopped after 10 s (time budget)\"]}"));
}

/* libgit2 once for the group (it cannot be initialised again after a
 * shutdown), as tests/unit/cache/test_cache.c does. */
static int git_setup(void **state)
{
	(void)state;
	return hub_git_global_init();
}

static int git_teardown(void **state)
{
	(void)state;
	hub_git_global_shutdown();
	return 0;
}

int main(void)
{
	const struct CMUnitTest no_py[] = {
		cmocka_unit_test_setup_teardown(test_nothing_stored, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stored_is_used, setup, teardown),
		cmocka_unit_test_setup_teardown(test_version_in_name, setup, teardown),
		cmocka_unit_test_setup_teardown(test_corrupt_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_oversized_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_symlink_not_followed, setup, teardown),
		cmocka_unit_test_setup_teardown(test_fifo_not_opened, setup, teardown),
		cmocka_unit_test_setup_teardown(test_directory_refused, setup, teardown),
		cmocka_unit_test(test_final_or_not),
	};
	const struct CMUnitTest with_py[] = {
		cmocka_unit_test_setup_teardown(test_round_trip, setup_repo, teardown),
	};
	int failed = cmocka_run_group_tests_name("analysis results on disk", no_py, NULL, NULL);
	failed += cmocka_run_group_tests_name("analysis store and load", with_py, git_setup,
					     git_teardown);
	return failed;
}
