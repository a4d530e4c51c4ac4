/*
 * Unit tests for fetch/odb.c: a bare repository made with the git command
 * in a mkdtemp directory, read through the libgit2-free API (commits,
 * trees with sizes and normalized modes, paths, blobs, prefixes), the
 * refs/hubfs/ refspecs and the removal of a killed fetch's leftovers.
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
#include <unistd.h>

#include <cmocka.h>

#include "fetch/git.h"
#include "fetch/odb.h"

static char dir[64], gitdir[128], head[41];

static void sh(const char *fmt, ...)
{
	char cmd[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	assert_int_equal(system(cmd), 0);
}

static int group_setup(void **state)
{
	(void)state;
	hub_git_global_init();
	snprintf(dir, sizeof(dir), "/tmp/hubfs-odb-XXXXXX");
	if (!mkdtemp(dir))
		return -1;
	snprintf(gitdir, sizeof(gitdir), "%s/bare.git", dir);
	sh("cd %s && git init -q w && cd w && printf 'hello\\n' > a.txt && mkdir -p d && "
	   "printf '#!/bin/sh\\n' > d/run.sh && chmod +x d/run.sh && ln -s a.txt link && "
	   "git add . && git -c user.name=t -c user.email=t@t -c commit.gpgsign=false "
	   "commit -q -m one && git clone -q --bare . %s",
	   dir, gitdir);
	char cmd[256];
	snprintf(cmd, sizeof(cmd), "git -C %s rev-parse HEAD", gitdir);
	FILE *p = popen(cmd, "r");
	if (!p || !fgets(head, sizeof(head), p))
		return -1;
	pclose(p);
	return 0;
}

static int group_teardown(void **state)
{
	(void)state;
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	if (system(cmd)) {
	}
	hub_git_global_shutdown();
	return 0;
}

static void test_oid_hex(void **state)
{
	(void)state;
	struct hub_oid oid;
	char hex[41];
	assert_int_equal(hub_oid_from_hex(&oid, head), 0);
	hub_oid_to_hex(hex, &oid);
	assert_string_equal(hex, head);
	assert_int_equal(hub_oid_from_hex(&oid, "abc"), -EINVAL);
	assert_int_equal(hub_oid_from_hex(&oid, "zz34567890123456789012345678901234567890"), -EINVAL);
}

static void test_open_missing(void **state)
{
	(void)state;
	struct hub_odb *o = NULL;
	char p[160];
	snprintf(p, sizeof(p), "%s/none.git", dir);
	assert_int_equal(hub_odb_open(&o, p, "x/y"), -ENOENT);
	assert_null(o);
	hub_odb_close(NULL);
}

static void test_reads(void **state)
{
	(void)state;
	struct hub_odb *o;
	assert_int_equal(hub_odb_open(&o, gitdir, "o/r"), 0);
	struct hub_oid commit, tree, found;
	assert_int_equal(hub_oid_from_hex(&commit, head), 0);
	assert_int_equal(hub_odb_has_commit(o, &commit), 1);
	int64_t t = 0;
	assert_int_equal(hub_odb_commit_info(&tree, &t, o, &commit), 0);
	assert_true(t > 0);
	assert_int_equal(hub_odb_has_commit(o, &tree), 0); /* a tree is no commit */

	char prefix[8];
	memcpy(prefix, head, 7);
	prefix[7] = '\0';
	for (char *c = prefix; *c; c++)
		if (*c >= 'a' && *c <= 'f')
			*c = (char)(*c - 32); /* upper case is accepted */
	assert_int_equal(hub_odb_find_prefix(&found, o, prefix), 0);
	assert_memory_equal(found.id, commit.id, 20);
	assert_int_equal(hub_odb_find_prefix(&found, o, "0000000"), -ENOENT);

	struct hub_tree_entry *e;
	size_t n;
	assert_int_equal(hub_odb_tree_list(&e, &n, o, &tree), 0);
	assert_int_equal(n, 3);
	assert_string_equal(e[0].name, "a.txt");
	assert_int_equal(e[0].mode, HUB_MODE_BLOB);
	assert_int_equal(e[0].size, 6);
	assert_string_equal(e[1].name, "d");
	assert_int_equal(e[1].mode, HUB_MODE_TREE);
	assert_int_equal(e[1].size, 0);
	assert_string_equal(e[2].name, "link");
	assert_int_equal(e[2].mode, HUB_MODE_LINK);
	assert_int_equal(e[2].size, 5);
	struct hub_oid blob = e[0].oid;
	hub_tree_entries_free(e, n);
	assert_int_equal(hub_odb_tree_list(&e, &n, o, &blob), -ENOENT); /* not a tree */

	struct hub_oid id;
	uint32_t mode;
	assert_int_equal(hub_odb_path_lookup(&id, &mode, o, &tree, "d/run.sh"), 0);
	assert_int_equal(mode, HUB_MODE_EXEC);
	assert_int_equal(hub_odb_path_lookup(&id, &mode, o, &tree, "d/none"), -ENOENT);

	char *data;
	size_t size;
	assert_int_equal(hub_odb_blob_read(&data, &size, o, &blob), 0);
	assert_int_equal(size, 6);
	assert_memory_equal(data, "hello\n", 6);
	free(data);
	assert_int_equal(hub_odb_blob_read(&data, &size, o, &tree), -ENOENT);
	hub_odb_close(o);
}

static void test_wants(void **state)
{
	(void)state;
	struct hub_odb_want w;
	hub_odb_want_ref(&w, "refs/heads/main");
	assert_int_equal(w.n, 1);
	assert_int_equal(w.depth, 1);
	assert_string_equal(w.specs[0], "+refs/heads/main:refs/hubfs/heads/main");
	hub_odb_want_commit(&w, head);
	char spec[128];
	snprintf(spec, sizeof(spec), "%s:refs/hubfs/commits/%s", head, head);
	assert_string_equal(w.specs[0], spec);
	assert_int_equal(w.depth, 1);
	hub_odb_want_all(&w, gitdir);
	assert_int_equal(w.n, 2);
	assert_string_equal(w.specs[0], "+refs/heads/*:refs/hubfs/heads/*");
	assert_string_equal(w.specs[1], "+refs/tags/*:refs/hubfs/tags/*");
	assert_int_equal(w.depth, 0);
	sh("touch %s/shallow", gitdir);
	hub_odb_want_all(&w, gitdir);
	assert_int_equal(w.depth, -1); /* unshallow */
	sh("rm %s/shallow", gitdir);
}

static void test_leftovers(void **state)
{
	(void)state;
	sh("mkdir -p %s/objects/pack && cd %s && touch objects/pack/pack_git2_x "
	   "objects/pack/tmp_y objects/pack/z.lock objects/pack/keep.pack shallow.lock "
	   "packed-refs.lock config.lock FETCH_HEAD.lock",
	   gitdir, gitdir);
	hub_odb_clean_leftovers(gitdir);
	sh("cd %s && test ! -e objects/pack/pack_git2_x && test ! -e objects/pack/tmp_y && "
	   "test ! -e objects/pack/z.lock && test -e objects/pack/keep.pack && "
	   "test ! -e shallow.lock && test ! -e packed-refs.lock && test ! -e config.lock && "
	   "test ! -e FETCH_HEAD.lock && rm objects/pack/keep.pack",
	   gitdir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_oid_hex),
		cmocka_unit_test(test_open_missing),
		cmocka_unit_test(test_reads),
		cmocka_unit_test(test_wants),
		cmocka_unit_test(test_leftovers),
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
