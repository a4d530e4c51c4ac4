/*
 * Unit tests for py/pyrt.c: the interpreter thread, its bounded queue,
 * timeouts and cancellation, bad input, many concurrent jobs, and
 * hub_py_free() with jobs pending.  Trees live in memory; a tree can make
 * its read of hubconf.py sleep or block until released, and counts calls.
 */
#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <cJSON.h>
#include <cmocka.h>

#include "base/limits.h"
#include "py/pyrt.h"
#include "py/pyrt_internal.h"

/* ------------------------------------------------------------ mem tree */

struct mem_file {
	const char *path;
	const char *data; /* NUL-terminated unless len is set */
	size_t len;
};

struct mem_tree {
	const struct mem_file *files;
	size_t n;
	int read_errno;          /* hubconf.py read fails with this */
	unsigned sleep_ms;       /* hubconf.py read sleeps */
	bool block;              /* hubconf.py read waits for release() */
	pthread_mutex_t mu;
	pthread_cond_t cv;
	bool entered, released;
	atomic_int calls;
};

static void tree_init(struct mem_tree *t, const struct mem_file *files, size_t n)
{
	memset(t, 0, sizeof(*t));
	t->files = files;
	t->n = n;
	pthread_mutex_init(&t->mu, NULL);
	pthread_cond_init(&t->cv, NULL);
}

static void tree_release(struct mem_tree *t)
{
	pthread_mutex_lock(&t->mu);
	t->released = true;
	pthread_cond_broadcast(&t->cv);
	pthread_mutex_unlock(&t->mu);
}

static void tree_wait_entered(struct mem_tree *t)
{
	pthread_mutex_lock(&t->mu);
	while (!t->entered)
		pthread_cond_wait(&t->cv, &t->mu);
	pthread_mutex_unlock(&t->mu);
}

static int mem_read(void *ctx, const char *path, char **out, size_t *out_len)
{
	struct mem_tree *t = ctx;
	atomic_fetch_add(&t->calls, 1);
	if (!strcmp(path, "hubconf.py")) {
		if (t->sleep_ms)
			usleep(t->sleep_ms * 1000);
		if (t->block) {
			pthread_mutex_lock(&t->mu);
			t->entered = true;
			pthread_cond_broadcast(&t->cv);
			while (!t->released)
				pthread_cond_wait(&t->cv, &t->mu);
			pthread_mutex_unlock(&t->mu);
		}
		if (t->read_errno)
			return -t->read_errno;
	}
	for (size_t i = 0; i < t->n; i++) {
		if (strcmp(t->files[i].path, path))
			continue;
		size_t len = t->files[i].len ? t->files[i].len : strlen(t->files[i].data);
		*out = malloc(len ? len : 1);
		if (!*out)
			return -ENOMEM;
		memcpy(*out, t->files[i].data, len);
		*out_len = len;
		return 0;
	}
	/* a directory? */
	size_t pl = strlen(path);
	for (size_t i = 0; i < t->n; i++)
		if (!strncmp(t->files[i].path, path, pl) && t->files[i].path[pl] == '/')
			return -EISDIR;
	return -ENOENT;
}

static int mem_list(void *ctx, const char *path, char ***out_names, size_t *out_n)
{
	struct mem_tree *t = ctx;
	size_t pl = strlen(path), n = 0;
	char **names = calloc(t->n + 1, sizeof(*names));
	bool found = pl == 0;
	atomic_fetch_add(&t->calls, 1);
	if (!names)
		return -ENOMEM;
	for (size_t i = 0; i < t->n; i++) {
		const char *p = t->files[i].path;
		if (pl) {
			if (strncmp(p, path, pl) || p[pl] != '/') {
				if (!strcmp(p, path)) {
					free(names);
					return -ENOTDIR;
				}
				continue;
			}
			p += pl + 1;
		}
		found = true;
		size_t len = strcspn(p, "/");
		bool dup = false;
		for (size_t j = 0; j < n; j++)
			dup = dup || (strlen(names[j]) == len && !strncmp(names[j], p, len));
		if (!dup)
			names[n++] = strndup(p, len);
	}
	if (!found) {
		free(names);
		return -ENOENT;
	}
	*out_names = names;
	*out_n = n;
	return 0;
}

static struct hub_tree_reader reader(struct mem_tree *t)
{
	struct hub_tree_reader r = {.ctx = t, .read_file = mem_read, .list_dir = mem_list};
	return r;
}

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ------------------------------------------------------------ helpers */

struct result {
	cJSON *root;
	cJSON *entrypoints, *dependencies, *errors;
};

static void parse_result(struct result *r, char *json)
{
	assert_non_null(json);
	r->root = cJSON_Parse(json);
	free(json);
	assert_non_null(r->root);
	r->entrypoints = cJSON_GetObjectItem(r->root, "entrypoints");
	r->dependencies = cJSON_GetObjectItem(r->root, "dependencies");
	r->errors = cJSON_GetObjectItem(r->root, "errors");
	assert_true(cJSON_IsArray(r->entrypoints));
	assert_true(cJSON_IsArray(r->dependencies));
	assert_true(cJSON_IsArray(r->errors));
}

static const cJSON *entry(const struct result *r, const char *name)
{
	const cJSON *e;
	cJSON_ArrayForEach(e, r->entrypoints)
	{
		const cJSON *n = cJSON_GetObjectItem(e, "name");
		if (cJSON_IsString(n) && !strcmp(n->valuestring, name))
			return e;
	}
	return NULL;
}

static const char *field(const cJSON *e, const char *key)
{
	const cJSON *v = cJSON_GetObjectItem(e, key);
	assert_true(cJSON_IsString(v));
	return v->valuestring;
}

static bool errors_contain(const struct result *r, const char *needle)
{
	const cJSON *e;
	cJSON_ArrayForEach(e, r->errors)
	{
		if (cJSON_IsString(e) && strstr(e->valuestring, needle))
			return true;
	}
	return false;
}

static void analyze_files(struct hub_py *py, const struct mem_file *files, size_t n,
			  struct result *r)
{
	struct mem_tree t;
	tree_init(&t, files, n);
	struct hub_tree_reader rd = reader(&t);
	char *json = NULL;
	assert_int_equal(hub_py_analyze(&json, py, &rd, 30.0), 0);
	parse_result(r, json);
}

static int setup(void **state)
{
	struct hub_py *py = NULL;
	int rc = hub_py_new(&py);
	if (rc)
		return -1;
	*state = py;
	return 0;
}

static int teardown(void **state)
{
	hub_py_free(*state);
	return 0;
}

/* ------------------------------------------------------------ tests */

static const char HUBCONF[] =
	"\"\"\"module doc\"\"\"\n"
	"dependencies = ['torch', 'numpy']\n"
	"import os\n"
	"from models.net import Net as RenamedNet\n"
	"def resnet(*, weights=None, progress=True, **kwargs):\n"
	"    \"\"\"Doc with \"quotes\", a tab\\t, unicode \xc3\xbc and\n"
	"       a raw indented line.\"\"\"\n"
	"_hidden = resnet\n"
	"CONST = 3\n";
static const char NET[] = "class Net:\n    'A net.'\n    def __init__(self, depth, width=64):\n        pass\n";

static void test_basic(void **state)
{
	const struct mem_file files[] = {
		{"hubconf.py", HUBCONF, 0}, {"models/net.py", NET, 0}, {"README.md", "x", 0}};
	struct result r;
	analyze_files(*state, files, 3, &r);
	assert_int_equal(cJSON_GetArraySize(r.errors), 0);
	assert_int_equal(cJSON_GetArraySize(r.entrypoints), 2);
	const cJSON *e = entry(&r, "resnet");
	assert_non_null(e);
	assert_string_equal(field(e, "help"), "Doc with \"quotes\", a tab\t, unicode \xc3\xbc and\n"
					      "       a raw indented line.");
	assert_string_equal(field(e, "signature"), "resnet(*, weights=None, progress=True, **kwargs)");
	e = entry(&r, "RenamedNet");
	assert_non_null(e);
	assert_string_equal(field(e, "help"), "A net.");
	assert_string_equal(field(e, "signature"), "RenamedNet(depth, width=64)");
	assert_int_equal(cJSON_GetArraySize(r.dependencies), 2);
	assert_string_equal(cJSON_GetArrayItem(r.dependencies, 1)->valuestring, "numpy");
	cJSON_Delete(r.root);
}

static void test_installed_package(void **state)
{
	const struct mem_file files[] = {
		{"hubconf.py", "from torch.hub import load_state_dict_from_url as load\n", 0}};
	struct result r;
	analyze_files(*state, files, 1, &r);
	const cJSON *e = entry(&r, "load");
	assert_non_null(e);
	assert_non_null(strstr(field(e, "help"), "Loads the Torch serialized object"));
	cJSON_Delete(r.root);
}

static void test_missing_hubconf(void **state)
{
	const struct mem_file files[] = {{"README.md", "hello", 0}};
	struct result r;
	analyze_files(*state, files, 1, &r);
	assert_int_equal(cJSON_GetArraySize(r.entrypoints), 0);
	assert_true(errors_contain(&r, "hubconf.py:0: no hubconf.py"));
	cJSON_Delete(r.root);
}

static void test_bad_inputs(void **state)
{
	static const char nul[] = "def a():\n    pass\n\0binary";
	size_t big_len = 10u << 20;
	char *big = malloc(big_len + 1);
	assert_non_null(big);
	memset(big, '[', big_len);
	big[big_len] = '\0';
	char deep[4096];
	memset(deep, '(', 2000);
	memset(deep + 2000, ')', 2000);
	deep[4000] = '\0';
	struct {
		struct mem_file file;
		const char *error;
	} cases[] = {
		{{"hubconf.py", "def broken(:\n    pass\n", 0}, "hubconf.py:1: SyntaxError"},
		{{"hubconf.py", nul, sizeof(nul) - 1}, "hubconf.py:3: source contains NUL bytes"},
		{{"hubconf.py", big, big_len}, "hubconf.py:0: file too large (10485760 bytes, limit 1048576)"},
		{{"hubconf.py", deep, 0}, "hubconf.py:1: brackets nested more than"},
		{{"hubconf.py", "def f():\n\tx = 1\n        return x\n", 0}, "hubconf.py:3: TabError"},
		{{"hubconf.py", "def f():\n    'caf\xe9'\n", 0}, "SyntaxError"},
		{{"hubconf.py", "# -*- coding: latin-1 -*-\ndef f():\n    'caf\xe9'\n", 0}, NULL},
		{{"hubconf.py/inner", "", 0}, "hubconf.py:0: hubconf.py is not a regular file"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct result r;
		double t0 = now();
		analyze_files(*state, &cases[i].file, 1, &r);
		assert_true(now() - t0 < 10.0);
		if (cases[i].error) {
			if (!errors_contain(&r, cases[i].error))
				fail_msg("case %zu: no error containing '%s'", i, cases[i].error);
			assert_int_equal(cJSON_GetArraySize(r.entrypoints), 0);
		} else {
			assert_int_equal(cJSON_GetArraySize(r.errors), 0);
			assert_string_equal(field(entry(&r, "f"), "help"), "caf\xc3\xa9");
		}
		cJSON_Delete(r.root);
	}
	free(big);
}

static void test_read_error(void **state)
{
	const struct mem_file files[] = {{"hubconf.py", "def a(): pass\n", 0}};
	struct mem_tree t;
	tree_init(&t, files, 1);
	t.read_errno = EIO;
	struct hub_tree_reader rd = reader(&t);
	char *json = NULL;
	struct result r;
	assert_int_equal(hub_py_analyze(&json, *state, &rd, 10.0), 0);
	parse_result(&r, json);
	assert_true(errors_contain(&r, "hubconf.py:0: cannot read: Input/output error"));
	cJSON_Delete(r.root);
}

static void test_version(void **state)
{
	(void)state;
	const char *v = hub_py_analysis_version();
	assert_non_null(v);
	assert_true(strlen(v) > 20 && strlen(v) < 128);
	assert_int_equal(strspn(v, "0123456789abcdef.-"), strlen(v));
	assert_ptr_equal(v, hub_py_analysis_version());
}

static void test_invalid_args(void **state)
{
	struct mem_tree t;
	tree_init(&t, NULL, 0);
	struct hub_tree_reader rd = reader(&t);
	char *json = (char *)1;
	assert_int_equal(hub_py_analyze(NULL, *state, &rd, 1.0), -EINVAL);
	assert_int_equal(hub_py_analyze(&json, NULL, &rd, 1.0), -EINVAL);
	assert_null(json);
	assert_int_equal(hub_py_analyze(&json, *state, NULL, 1.0), -EINVAL);
	assert_int_equal(hub_py_analyze(&json, *state, &rd, 0.0), -EINVAL);
	assert_int_equal(hub_py_analyze(&json, *state, &rd, -1.0), -EINVAL);
	rd.read_file = NULL;
	assert_int_equal(hub_py_analyze(&json, *state, &rd, 1.0), -EINVAL);
	assert_int_equal(hub_py_new(NULL), -EINVAL);
	struct hub_py *other = (struct hub_py *)1;
	assert_int_equal(hub_py_new(&other), -EBUSY); /* one interpreter per process */
	assert_null(other);
	hub_py_free(NULL);
}

/* A timed-out job waits for the callback in progress, then no callback of
 * it ever runs again, and the interpreter serves the next job. */
static void test_timeout_in_callback(void **state)
{
	const struct mem_file files[] = {{"hubconf.py", "from a import x\nfrom b import y\n", 0},
					 {"a.py", "def x(): pass\n", 0},
					 {"b.py", "def y(): pass\n", 0}};
	struct mem_tree t;
	tree_init(&t, files, 3);
	t.sleep_ms = 800;
	struct hub_tree_reader rd = reader(&t);
	char *json = NULL;
	double t0 = now();
	assert_int_equal(hub_py_analyze(&json, *state, &rd, 0.2), -ETIMEDOUT);
	double dt = now() - t0;
	assert_null(json);
	assert_true(dt >= 0.7 && dt < 3.0); /* waited for the sleeping callback */
	int calls = atomic_load(&t.calls);
	usleep(300 * 1000);
	assert_int_equal(atomic_load(&t.calls), calls);

	struct result r;
	analyze_files(*state, files, 3, &r);
	assert_non_null(entry(&r, "x"));
	assert_non_null(entry(&r, "y"));
	cJSON_Delete(r.root);
}

/* Many small repository modules; salt makes the contents (and so the AST
 * cache keys) differ between trees. */
static struct mem_file *many_modules(int mods, int defs, int salt)
{
	struct mem_file *files = calloc((size_t)mods + 1, sizeof(*files));
	char *hub = malloc((size_t)mods * 16 + 1), *p = hub;
	assert_non_null(files);
	assert_non_null(hub);
	for (int m = 0; m < mods; m++) {
		char *src = malloc((size_t)defs * 40 + 32), *q = src, *name = malloc(16);
		q += sprintf(q, "# salt %d\n", salt);
		for (int d = 0; d < defs; d++)
			q += sprintf(q, "def m%d_f%d(a=1):\n    'doc'\n", m, d);
		sprintf(name, "m%03d.py", m);
		files[m + 1] = (struct mem_file){name, src, 0};
		p += sprintf(p, "import m%03d\n", m);
	}
	files[0] = (struct mem_file){"hubconf.py", hub, 0};
	return files;
}

static void free_modules(struct mem_file *files, int mods)
{
	for (int m = 0; m < mods + 1; m++) {
		free((char *)files[m].data);
		if (m)
			free((char *)files[m].path);
	}
	free(files);
}

/* One analysis of many_modules(mods, defs, salt), which must succeed. */
static void analyze_modules(struct hub_py *py, int mods, int defs, int salt)
{
	struct mem_file *files = many_modules(mods, defs, salt);
	struct mem_tree t;
	tree_init(&t, files, (size_t)mods + 1);
	struct hub_tree_reader rd = reader(&t);
	char *json = NULL;
	assert_int_equal(hub_py_analyze(&json, py, &rd, 60.0), 0);
	free(json);
	free_modules(files, mods);
}

/* A long job (no long ast.parse in it): with the cooperative deadline
 * disabled only the job's cancel flag, polled by the scanner, can stop it. */
static void test_cancel_flag(void **state)
{
	struct hub_py *py = *state;
	enum { MODS = 300, DEFS = 400 }; /* full job > 0.8 s with the faster analyser */
	double t0 = now();
	analyze_modules(py, MODS, DEFS, 1);
	double full = now() - t0;
	print_message("      full job: %.2f s\n", full);
	assert_true(full > 0.8); /* long enough to tell a cancelled job apart */

	/* the interpreter frees a job's memory after answering (after_job):
	 * a small job first, so that the next one starts at once */
	const struct mem_file small[] = {{"hubconf.py", "def ok(): pass\n", 0}};
	struct result r;
	analyze_files(py, small, 1, &r);
	cJSON_Delete(r.root);

	unsigned long before = hub_py__flag_cancels(py);
	struct mem_file *cancel_files = many_modules(MODS, DEFS, 2);
	struct mem_tree t;
	tree_init(&t, cancel_files, MODS + 1);
	struct hub_tree_reader rd = reader(&t);
	char *json = NULL;
	hub_py__set_test_flags(py, HUB_PY_TEST_NO_COOP_DEADLINE);
	t0 = now();
	assert_int_equal(hub_py_analyze(&json, py, &rd, 0.2), -ETIMEDOUT);
	assert_true(now() - t0 < 0.6);
	hub_py__set_test_flags(py, 0);

	t0 = now();
	analyze_files(py, small, 1, &r);
	double dt = now() - t0;
	assert_non_null(entry(&r, "ok"));
	cJSON_Delete(r.root);
	print_message("      next job done %.3f s after the timeout\n", dt);
	assert_true(dt < full / 2);
	assert_int_equal(hub_py__flag_cancels(py), before + 1);
	free_modules(cancel_files, MODS);
}

/* The kB figure of the first line of /proc file `path` that matches
 * `line_fmt` (a sscanf format with one %ld), or -1. */
static long proc_kb(const char *path, const char *line_fmt)
{
	FILE *f = fopen(path, "r");
	char line[256];
	long kb = -1;
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, line_fmt, &kb) == 1)
			break;
	fclose(f);
	return kb;
}

/* kB of anonymous memory of this process mapped by transparent huge pages. */
static long anon_huge_kb(void)
{
	return proc_kb("/proc/self/smaps_rollup", "AnonHugePages: %ld kB");
}

/* The interpreter's small-object arenas come from huge-page chunks
 * (py/pyrt_arena.c): after a job that builds ~30 MB of ASTs, this process
 * has anonymous huge pages.  Skipped where the kernel has transparent huge
 * pages off.  Without the arena allocator neither pymalloc nor glibc
 * advises huge pages, and in the kernel's "madvise" mode there are none. */
static void test_arenas_on_huge_pages(void **state)
{
	char mode[128] = "";
	FILE *f = fopen("/sys/kernel/mm/transparent_hugepage/enabled", "r");
	if (f) {
		if (!fgets(mode, sizeof(mode), f))
			mode[0] = '\0';
		fclose(f);
	}
	if (!strstr(mode, "[madvise]") && !strstr(mode, "[always]")) {
		print_message("      transparent huge pages off (%s): skipped\n", mode[0] ? mode : "no sysfs file");
		skip();
	}
	long before = anon_huge_kb();
	analyze_modules(*state, 60, 400, 3);
	long after = anon_huge_kb();
	print_message("      anonymous huge pages: %ld kB before the job, %ld kB after\n", before, after);
	assert_true(after >= 2048);
}

/* kB resident in this process (VmRSS), or -1. */
static long rss_kb(void)
{
	return proc_kb("/proc/self/status", "VmRSS: %ld kB");
}

/* Wait up to `seconds` for rss_kb() to reach (rise) or fall to `kb`. */
static long wait_rss(long kb, bool rise, double seconds)
{
	double end = now() + seconds;
	long r = rss_kb();
	while ((rise ? r < kb : r > kb) && now() < end) {
		usleep(20000);
		r = rss_kb();
	}
	return r;
}

/* hub_py_warm (py/pyrt_arena.c's warming): the interpreter thread makes
 * HUB_PY_WARM_BYTES resident while idle, a job then runs on it and answers
 * right, and what no job used goes back once the hold time passes. */
static void test_warm(void **state)
{
	struct hub_py *py = *state;
	struct rlimit rl;
	if (geteuid() != 0 && (getrlimit(RLIMIT_NICE, &rl) || rl.rlim_cur < 20)) {
		/* py/pyrt.c warms only where the thread can come back from nice 19 */
		print_message("      not root and RLIMIT_NICE below 20: no warming here, skipped\n");
		skip();
	}
	hub_py__set_warm_hold(py, 1.0);
	/* free arenas kept resident by earlier jobs count towards the target */
	long rise = (long)((HUB_PY_WARM_BYTES - HUB_PY_ARENA_KEEP) >> 10) * 9 / 10;
	long base = rss_kb();
	hub_py_warm(py);
	long warm = wait_rss(base + rise, true, 20);
	print_message("      resident: %ld MiB before, %ld MiB after hub_py_warm\n", base >> 10, warm >> 10);
	assert_true(warm - base >= rise);
	long cooled = wait_rss(base + (16 << 10), false, 20);
	print_message("      %ld MiB once the hold time passed\n", cooled >> 10);
	assert_true(cooled <= base + (16 << 10));

	/* warmed again, then a job allocates from it (spare chunks first) */
	hub_py_warm(py);
	wait_rss(base + rise, true, 20);
	analyze_modules(py, 60, 400, 3);
	hub_py__set_warm_hold(py, HUB_PY_WARM_HOLD_S);
	hub_py_warm(NULL); /* accepted */
}

/* many_modules, each module's last def imported into hubconf.py: `mods`
 * entrypoints, each found only by evaluating its module. */
static void analyze_imported(struct hub_py *py, int mods, int defs, int salt, struct result *r)
{
	struct mem_file *files = many_modules(mods, defs, salt);
	char *hub = malloc((size_t)mods * 48 + 1), *p = hub;
	assert_non_null(hub);
	for (int m = 0; m < mods; m++)
		p += sprintf(p, "from m%03d import m%d_f%d\n", m, m, defs - 1);
	free((char *)files[0].data);
	files[0].data = hub;
	analyze_files(py, files, (size_t)mods + 1, r);
	free_modules(files, mods);
}

/* While a job runs, a helper thread makes the arena memory it is about to
 * use resident (py_arena_ahead): it does so for a job building ~80 MB of
 * ASTs, not at all with the test flag that turns it off, and the job's
 * answer is the same either way (the helper writes only pages no arena
 * was carved from, fenced off while it writes them). */
static void test_ahead(void **state)
{
	struct hub_py *py = *state;
	enum { MODS = 300, DEFS = 400 }; /* ~3.6 MB of source: ~130 MB of ASTs */
	struct result off, on;

	/* nothing resident ahead but the free arenas earlier jobs left
	 * (HUB_PY_ARENA_KEEP at most): the job needs more than those */
	hub_py__cool(py);
	size_t before = hub_py__ahead_made(py);
	analyze_imported(py, MODS, DEFS, 12, &on);
	size_t made = hub_py__ahead_made(py) - before;
	print_message("      %zu MiB made resident beside the job\n", made >> 20);
	assert_true(made >= (16u << 20));

	hub_py__cool(py);
	hub_py__set_test_flags(py, HUB_PY_TEST_NO_AHEAD);
	before = hub_py__ahead_made(py);
	analyze_imported(py, MODS, DEFS, 11, &off); /* other bytes: parsed, not cached */
	assert_int_equal(hub_py__ahead_made(py), before);
	hub_py__set_test_flags(py, 0);

	assert_int_equal(cJSON_GetArraySize(on.entrypoints), MODS);
	assert_int_equal(cJSON_GetArraySize(off.entrypoints), MODS);
	char name[32];
	for (int m = 0; m < MODS; m++) {
		snprintf(name, sizeof(name), "m%d_f%d", m, DEFS - 1);
		assert_non_null(entry(&off, name));
		const cJSON *e = entry(&on, name);
		assert_non_null(e);
		assert_string_equal(field(e, "help"), "doc");
	}
	cJSON_Delete(off.root);
	cJSON_Delete(on.root);
}

/* 100k entrypoints: truncated to the cap, with an errors line. */
static void test_100k_entrypoints(void **state)
{
	size_t n = 100000, len = 0;
	char *src = malloc(n * 8 + 64);
	assert_non_null(src);
	for (size_t i = 0; i < n; i++)
		len += (size_t)sprintf(src + len, "f%05zu=", i);
	len += (size_t)sprintf(src + len, "lambda a=1: 0\n");
	assert_true(len < HUB_PY_SOURCE_MAX);
	const struct mem_file files[] = {{"hubconf.py", src, len}};
	struct result r;
	double t0 = now();
	analyze_files(*state, files, 1, &r);
	print_message("      100k entrypoints: %.2f s\n", now() - t0);
	assert_int_equal(cJSON_GetArraySize(r.entrypoints), HUB_PY_ENTRYPOINTS_MAX);
	assert_string_equal(field(entry(&r, "f00000"), "signature"), "f00000(a=1)");
	assert_true(errors_contain(&r, "more than 10000 entrypoints"));
	cJSON_Delete(r.root);
	free(src);
}

struct worker {
	struct hub_py *py;
	struct mem_tree *tree; /* NULL: own small tree */
	int id, jobs, rc, ok;
	double timeout;
};

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	for (int j = 0; j < w->jobs; j++) {
		char src[128], name[32];
		snprintf(name, sizeof(name), "w%d_j%d", w->id, j);
		snprintf(src, sizeof(src), "def %s(a=%d):\n    '%s'\n", name, j, name);
		struct mem_file f = {"hubconf.py", src, 0};
		struct mem_tree own;
		struct mem_tree *t = w->tree;
		if (!t) {
			tree_init(&own, &f, 1);
			t = &own;
		}
		struct hub_tree_reader rd = reader(t);
		char *json = NULL;
		w->rc = hub_py_analyze(&json, w->py, &rd, w->timeout);
		if (w->rc)
			return NULL;
		if (!w->tree && json && strstr(json, name))
			w->ok++;
		free(json);
	}
	return NULL;
}

static void test_many_jobs(void **state)
{
	enum { THREADS = 8, JOBS = 25 };
	pthread_t th[THREADS];
	struct worker w[THREADS];
	for (int i = 0; i < THREADS; i++) {
		w[i] = (struct worker){.py = *state, .id = i, .jobs = JOBS, .timeout = 60.0};
		assert_int_equal(pthread_create(&th[i], NULL, worker_main, &w[i]), 0);
	}
	for (int i = 0; i < THREADS; i++) {
		pthread_join(th[i], NULL);
		assert_int_equal(w[i].rc, 0);
		assert_int_equal(w[i].ok, JOBS);
	}
}

/* The interpreter thread held in a blocker job's tree callback, and n
 * workers of one job each queued behind it (hub_py__queued == n).  The
 * caller releases q->blocker, then joins with queue_join. */
struct queued {
	struct mem_file files[1]; /* the blocker's tree (tree_init keeps a pointer) */
	struct mem_tree blocker;
	struct worker bw;
	pthread_t bt;
	int n;
	pthread_t th[HUB_PY_QUEUE_MAX];
	struct worker w[HUB_PY_QUEUE_MAX];
};

static void queue_behind_blocker(struct queued *q, struct hub_py *py, const char *hubconf, int n)
{
	assert_true(n <= HUB_PY_QUEUE_MAX);
	q->files[0] = (struct mem_file){"hubconf.py", hubconf, 0};
	tree_init(&q->blocker, q->files, 1);
	q->blocker.block = true;
	q->bw = (struct worker){.py = py, .tree = &q->blocker, .id = 999, .jobs = 1, .timeout = 60.0};
	assert_int_equal(pthread_create(&q->bt, NULL, worker_main, &q->bw), 0);
	tree_wait_entered(&q->blocker); /* the py thread is busy now */
	q->n = n;
	for (int i = 0; i < n; i++) {
		q->w[i] = (struct worker){.py = py, .id = i, .jobs = 1, .timeout = 60.0};
		assert_int_equal(pthread_create(&q->th[i], NULL, worker_main, &q->w[i]), 0);
	}
	for (int k = 0; k < 5000 && hub_py__queued(py) < (size_t)n; k++)
		usleep(1000);
	assert_int_equal(hub_py__queued(py), n);
}

/* Join the blocker and the workers; every one answered when ok_all. */
static void queue_join(struct queued *q, bool ok_all)
{
	pthread_join(q->bt, NULL);
	if (ok_all)
		assert_int_equal(q->bw.rc, 0);
	for (int i = 0; i < q->n; i++) {
		pthread_join(q->th[i], NULL);
		if (ok_all) {
			assert_int_equal(q->w[i].rc, 0);
			assert_int_equal(q->w[i].ok, 1);
		}
	}
}

static void test_queue_full(void **state)
{
	struct hub_py *py = *state;
	const struct mem_file files[] = {{"hubconf.py", "def a(): pass\n", 0}};
	static struct queued q;
	queue_behind_blocker(&q, py, "def a(): pass\n", HUB_PY_QUEUE_MAX);

	struct mem_tree t;
	tree_init(&t, files, 1);
	struct hub_tree_reader rd = reader(&t);
	char *json = NULL;
	double t0 = now();
	assert_int_equal(hub_py_analyze(&json, py, &rd, 10.0), -EAGAIN);
	assert_true(now() - t0 < 0.5);
	assert_null(json);

	tree_release(&q.blocker);
	queue_join(&q, true);
}

/* The collection after a job waits while others are queued: a burst of
 * N jobs behind a blocked one collects at most every
 * HUB_PY_GC_DEFER_JOBS + 1 jobs and after the last; a lone job collects. */
static void test_gc_deferred_while_queued(void **state)
{
	struct hub_py *py = *state;
	enum { N = 6 };
	static struct queued q;
	unsigned long before = hub_py__gc_runs(py);
	queue_behind_blocker(&q, py, "def a(): pass\n", N);
	tree_release(&q.blocker);
	queue_join(&q, true);
	/* the last job's collection runs after its caller has the answer */
	for (int k = 0; k < 5000 && hub_py__gc_runs(py) == before; k++)
		usleep(1000);
	unsigned long runs = hub_py__gc_runs(py) - before;
	assert_true(runs >= 1);
	assert_true(runs <= (N + 1) / (HUB_PY_GC_DEFER_JOBS + 1) + 1);
	assert_true(runs < N + 1);

	struct worker lone = {.py = py, .id = 77, .jobs = 1, .timeout = 60.0};
	before = hub_py__gc_runs(py);
	worker_main(&lone);
	assert_int_equal(lone.rc, 0);
	for (int k = 0; k < 5000 && hub_py__gc_runs(py) == before; k++)
		usleep(1000);
	assert_int_equal(hub_py__gc_runs(py) - before, 1);
}

static void *release_later(void *arg)
{
	usleep(300 * 1000);
	tree_release(arg);
	return NULL;
}

/* hub_py_free() with one job running (blocked in a callback) and others
 * queued: every caller returns, queued ones with -ECANCELED. */
static void test_free_with_jobs_pending(void **state)
{
	(void)state;
	struct hub_py *py = NULL;
	assert_int_equal(hub_py_new(&py), 0);
	enum { N = 10 };
	static struct queued q;
	queue_behind_blocker(&q, py, "import os\ndef a(): pass\n", N);

	pthread_t rt;
	assert_int_equal(pthread_create(&rt, NULL, release_later, &q.blocker), 0);
	double t0 = now();
	hub_py_free(py); /* returns once every caller above has returned */
	assert_true(now() - t0 < 10.0);
	pthread_join(rt, NULL);
	queue_join(&q, false);
	assert_true(q.bw.rc == -ECANCELED || q.bw.rc == 0);
	for (int i = 0; i < N; i++)
		assert_int_equal(q.w[i].rc, -ECANCELED);
}

static void test_restart(void **state)
{
	(void)state;
	for (int i = 0; i < 2; i++) {
		struct hub_py *py = NULL;
		assert_int_equal(hub_py_new(&py), 0);
		const struct mem_file files[] = {{"hubconf.py", "def again(): 'yes'\n", 0}};
		struct result r;
		analyze_files(py, files, 1, &r);
		assert_string_equal(field(entry(&r, "again"), "help"), "yes");
		cJSON_Delete(r.root);
		hub_py_free(py);
	}
}

/* The nice value of each thread of this process; returns how many. */
static int thread_nices(int *out, int max)
{
	DIR *d = opendir("/proc/self/task");
	assert_non_null(d);
	int n = 0;
	struct dirent *e;
	while ((e = readdir(d)) && n < max) {
		if (e->d_name[0] == '.')
			continue;
		char path[300], buf[1024];
		snprintf(path, sizeof(path), "/proc/self/task/%s/stat", e->d_name);
		FILE *f = fopen(path, "r");
		if (!f)
			continue; /* the thread ended */
		size_t k = fread(buf, 1, sizeof(buf) - 1, f);
		fclose(f);
		buf[k] = '\0';
		const char *p = strrchr(buf, ')'); /* the name may hold spaces */
		assert_non_null(p);
		/* fields from 3 (state) on; nice is field 19 */
		long v = 0;
		for (int field = 3; field <= 19 && p; field++) {
			p = strchr(p + 1, ' ');
			if (p && field == 19)
				v = strtol(p + 1, NULL, 10);
		}
		assert_non_null(p);
		out[n++] = (int)v;
	}
	closedir(d);
	return n;
}

/* CPython starts at HUB_PY_START_NICE (a fresh mount's first reads go
 * first), and the thread gets its priority back afterwards (as root). */
static void test_start_priority(void **state)
{
	(void)state;
	int base = getpriority(PRIO_PROCESS, 0);
	struct hub_py *py = NULL;
	assert_int_equal(hub_py_new_async(&py), 0);
	bool seen = false;
	int nices[64];
	for (int i = 0; i < 2000 && !seen; i++) {
		int n = thread_nices(nices, 64);
		for (int k = 0; k < n; k++)
			seen |= nices[k] == HUB_PY_START_NICE;
		if (!seen)
			usleep(500);
	}
	assert_true(seen); /* start-up takes ~100 ms of CPU: it cannot be missed */
	const struct mem_file files[] = {{"hubconf.py", "def prio(): 'p'\n", 0}};
	struct result r;
	analyze_files(py, files, 1, &r); /* waits for the start */
	assert_string_equal(field(entry(&r, "prio"), "help"), "p");
	cJSON_Delete(r.root);
	if (geteuid() == 0) {
		int n = thread_nices(nices, 64);
		for (int k = 0; k < n; k++)
			assert_int_equal(nices[k], base);
	}
	hub_py_free(py);
}

int main(void)
{
	const struct CMUnitTest with_py[] = {
		cmocka_unit_test(test_basic),
		cmocka_unit_test(test_installed_package),
		cmocka_unit_test(test_missing_hubconf),
		cmocka_unit_test(test_bad_inputs),
		cmocka_unit_test(test_read_error),
		cmocka_unit_test(test_invalid_args),
		cmocka_unit_test(test_version),
		cmocka_unit_test(test_timeout_in_callback),
		cmocka_unit_test(test_cancel_flag),
		cmocka_unit_test(test_arenas_on_huge_pages),
		cmocka_unit_test(test_warm),
		cmocka_unit_test(test_ahead),
		cmocka_unit_test(test_100k_entrypoints),
		cmocka_unit_test(test_many_jobs),
		cmocka_unit_test(test_queue_full),
		cmocka_unit_test(test_gc_deferred_while_queued),
	};
	const struct CMUnitTest own_py[] = {
		cmocka_unit_test(test_free_with_jobs_pending),
		cmocka_unit_test(test_restart),
		cmocka_unit_test(test_start_priority),
	};
	int failed = cmocka_run_group_tests_name("pyrt", with_py, setup, teardown);
	failed += cmocka_run_group_tests_name("pyrt lifecycle", own_py, NULL, NULL);
	return failed;
}
