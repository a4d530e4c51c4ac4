/*
 * The unit tests' bare-repository fixture, one copy for every suite that
 * needs a cache holding a real git repository (tests/unit/cache, fs):
 * a work tree made by a shell script with fixed dates and identity, cloned
 * bare as <root>/hubfs/repos/<owner>/<repo>/git, as hubfs's cache keeps it.
 * Include after <cmocka.h>.
 */
#ifndef HUBFS_TESTS_UNIT_REPO_FIXTURE_H
#define HUBFS_TESTS_UNIT_REPO_FIXTURE_H

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Run a shell command built like printf; its exit status. */
__attribute__((format(printf, 1, 2), unused)) static int hub_test_sh(const char *fmt, ...)
{
	char cmd[4096];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	return system(cmd);
}

/* The first line of path, without its newline (the test fails without one). */
__attribute__((unused)) static void hub_test_read_line(char *out, size_t n, const char *path)
{
	FILE *f = fopen(path, "r");
	assert_non_null(f);
	assert_non_null(fgets(out, (int)n, f));
	fclose(f);
	out[strcspn(out, "\n")] = '\0';
}

/* In the directory root: a work tree w/ built by script (run in w/ after
 * `git init -b main`; it makes the commits), cloned bare as
 * root/hubfs/repos/owner/repo/git.  out_sha gets HEAD; out_tag (may be NULL)
 * what the tag v1 names, which the script must then create. */
__attribute__((unused)) static void hub_test_bare_repo(char out_sha[41], char *out_tag,
						       const char *root, const char *owner,
						       const char *repo, const char *script)
{
	int rc = hub_test_sh("set -e; cd %s; export GIT_AUTHOR_DATE='2023-01-02T03:04:05Z' "
			     "GIT_COMMITTER_DATE='2023-01-02T03:04:05Z' GIT_AUTHOR_NAME=t "
			     "GIT_AUTHOR_EMAIL=t@t GIT_COMMITTER_NAME=t GIT_COMMITTER_EMAIL=t@t; "
			     "git init -q -b main w; cd w; %s; git rev-parse HEAD > ../sha; %s"
			     "mkdir -p ../hubfs/repos/%s/%s; "
			     "git clone -q --bare . ../hubfs/repos/%s/%s/git",
			     root, script, out_tag ? "git rev-parse v1 > ../tag; " : "", owner, repo,
			     owner, repo);
	assert_int_equal(rc, 0);
	char path[4096];
	snprintf(path, sizeof(path), "%s/sha", root);
	hub_test_read_line(out_sha, 41, path);
	assert_int_equal(strlen(out_sha), 40);
	if (out_tag) {
		snprintf(path, sizeof(path), "%s/tag", root);
		hub_test_read_line(out_tag, 41, path);
	}
}

/* The tree both tests/unit/cache/test_cache.c and tests/unit/fs/test_ns.c
 * browse: main (2 commits: pkg/a.py, an executable run.sh, a symlink; then
 * two.txt), tag v1 on the first. */
#define HUB_TEST_TWO_COMMITS                                                              \
	"mkdir -p pkg; printf 'print(1)\\n' > pkg/a.py; "                                 \
	"printf '#!/bin/sh\\n' > run.sh; chmod +x run.sh; ln -s pkg/a.py link; "          \
	"git add -A; git commit -qm one; git tag v1; echo two > two.txt; git add -A; "    \
	"git commit -qm two"

#endif
