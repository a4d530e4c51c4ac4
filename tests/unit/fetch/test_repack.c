/*
 * Unit tests for fetch/repack.c and hub_odb_verify (fetch/odb.c): a bare
 * repository made with the git command, given one pack per commit (git
 * repack after each), then merged by hub_repack_run: skipped while the fetch
 * lock is held (-EBUSY), abandoned when told to stop (-ECANCELED, old packs
 * kept), else one pack that git fsck accepts and that holds every object.
 * hub_odb_verify passes it and finds a damaged loose object, a damaged pack
 * and a ref to a missing commit.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include <cmocka.h>

#include "fetch/git.h"
#include "fetch/odb.h"
#include "fetch/repack.h"

#define NCOMMITS 5

static char pristine[64], dir[96], gitdir[128];
static int seq;

static void sh(const char *fmt, ...)
{
	char cmd[2048];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	assert_int_equal(system(cmd), 0);
}

static int out_of(char *buf, size_t n, const char *fmt, ...)
{
	char cmd[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	FILE *p = popen(cmd, "r");
	if (!p)
		return -1;
	size_t got = fread(buf, 1, n - 1, p);
	buf[got] = '\0';
	return pclose(p);
}

/* Once: a bare repository with NCOMMITS commits, one pack each, tag tN on
 * commit N; each test gets a copy of it. */
static int group_setup(void **state)
{
	(void)state;
	snprintf(pristine, sizeof(pristine), "/tmp/hubfs-repack-XXXXXX");
	if (!mkdtemp(pristine))
		return -1;
	char cmd[2048];
	snprintf(cmd, sizeof(cmd),
		 "set -e; cd %s; git init -q --bare bare.git; git init -q w; cd w; "
		 "for i in $(seq 1 %d); do seq 1 $((i * 500)) > f.txt; echo $i > n$i.txt; "
		 "git add -A; git -c user.name=t -c user.email=t@t -c commit.gpgsign=false "
		 "commit -qm c$i; git tag t$i; git push -q ../bare.git HEAD:refs/heads/main "
		 "refs/tags/t$i; git -C ../bare.git repack -q; done",
		 pristine, NCOMMITS);
	return system(cmd) == 0 ? 0 : -1;
}

static int group_teardown(void **state)
{
	(void)state;
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", pristine);
	return system(cmd) == 0 ? 0 : -1;
}

static int setup(void **state)
{
	(void)state;
	snprintf(dir, sizeof(dir), "%s/t%d", pristine, seq++);
	snprintf(gitdir, sizeof(gitdir), "%s/bare.git", dir);
	char cmd[512];
	snprintf(cmd, sizeof(cmd), "mkdir %s && cp -a %s/bare.git %s/w %s/", dir, pristine,
		 pristine, dir);
	return system(cmd) == 0 ? 0 : -1;
}

static int teardown(void **state)
{
	(void)state;
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	return system(cmd) == 0 ? 0 : -1;
}

static void test_count(void **state)
{
	(void)state;
	size_t n = 0;
	assert_int_equal(hub_repack_count(&n, gitdir), 0);
	assert_int_equal(n, NCOMMITS);
	assert_int_equal(hub_repack_count(&n, "/nonexistent/x.git"), -ENOENT);
}

static void test_repack_merges_into_one(void **state)
{
	(void)state;
	char before[4096], after[4096];
	assert_int_equal(out_of(before, sizeof(before),
				"git --git-dir %s rev-list --objects --all | sort", gitdir), 0);
	size_t b, a;
	/* at or under the limit: nothing */
	assert_int_equal(hub_repack_run(&b, &a, gitdir, NCOMMITS, NULL), 0);
	assert_int_equal(b, NCOMMITS);
	assert_int_equal(a, NCOMMITS);

	/* a fetch holds the repository: skipped, packs untouched */
	char lock[160];
	snprintf(lock, sizeof(lock), "%s/hubfs-fetch.lock", gitdir);
	int fd = open(lock, O_RDWR | O_CREAT, 0666);
	assert_true(fd >= 0);
	assert_int_equal(flock(fd, LOCK_EX), 0);
	assert_int_equal(hub_repack_run(&b, &a, gitdir, 2, NULL), -EBUSY);
	close(fd);
	size_t n;
	assert_int_equal(hub_repack_count(&n, gitdir), 0);
	assert_int_equal(n, NCOMMITS);

	/* told to stop: abandoned, old packs kept */
	bool stop = true;
	assert_int_equal(hub_repack_run(&b, &a, gitdir, 2, &stop), -ECANCELED);
	assert_int_equal(hub_repack_count(&n, gitdir), 0);
	assert_true(n >= NCOMMITS);

	stop = false;
	assert_int_equal(hub_repack_run(&b, &a, gitdir, 2, &stop), 0);
	assert_true(b >= NCOMMITS);
	assert_int_equal(a, 1);
	assert_int_equal(hub_repack_count(&n, gitdir), 0);
	assert_int_equal(n, 1);
	sh("git --git-dir %s fsck --strict --no-dangling 2>&1", gitdir);
	assert_int_equal(out_of(after, sizeof(after),
				"git --git-dir %s rev-list --objects --all | sort", gitdir), 0);
	assert_string_equal(before, after);
	for (int i = 1; i <= NCOMMITS; i++)
		sh("test \"$(git --git-dir %s show t%d:n%d.txt)\" = %d", gitdir, i, i, i);

	struct hub_odb_verdict v;
	assert_int_equal(hub_odb_verify(&v, gitdir, NULL, 0), 0);
	assert_int_equal(v.bad, 0);
	assert_true(v.objects >= 3 * NCOMMITS);
	assert_true(v.refs >= NCOMMITS + 1);
}

static void test_verify_finds_damage(void **state)
{
	(void)state;
	struct hub_odb_verdict v;
	assert_int_equal(hub_odb_verify(&v, "/nonexistent/x.git", NULL, 0), -ENOENT);

	/* a commit state.json names that is not there */
	const char *missing[] = { "0123456789012345678901234567890123456789" };
	assert_int_equal(hub_odb_verify(&v, gitdir, missing, 1), 0);
	assert_int_equal(v.bad, 1);
	assert_non_null(strstr(v.first, "state.json"));

	/* a loose object whose bytes changed (one byte flipped mid-file) */
	char sha[64];
	assert_int_equal(out_of(sha, sizeof(sha), "cd %s/w && echo loose-one > l.txt && "
				"git --git-dir %s hash-object -w l.txt", dir, gitdir), 0);
	sha[strcspn(sha, "\n")] = '\0';
	assert_int_equal(hub_odb_verify(&v, gitdir, NULL, 0), 0);
	assert_int_equal(v.bad, 0);
	sh("f=%s/objects/%.2s/%s; chmod u+w $f; "
	   "python3 -c \"import sys; p=sys.argv[1]; b=bytearray(open(p,'rb').read()); "
	   "b[len(b)//2]^=0xff; open(p,'wb').write(b)\" $f", gitdir, sha, sha + 2);
	assert_int_equal(hub_odb_verify(&v, gitdir, NULL, 0), 0);
	assert_true(v.bad >= 1);
	assert_non_null(strstr(v.first, sha));
	sh("rm -f %s/objects/%.2s/%s", gitdir, sha, sha + 2);
	assert_int_equal(hub_odb_verify(&v, gitdir, NULL, 0), 0);
	assert_int_equal(v.bad, 0);

	/* the pack: one byte flipped in the middle of its data */
	sh("p=$(ls %s/objects/pack/*.pack); chmod u+w $p; "
	   "python3 -c \"import sys; p=sys.argv[1]; b=bytearray(open(p,'rb').read()); "
	   "b[len(b)//2]^=0xff; open(p,'wb').write(b)\" $p", gitdir);
	assert_int_equal(hub_odb_verify(&v, gitdir, NULL, 0), 0);
	assert_true(v.bad >= 1);
}

int main(void)
{
	hub_git_global_init();
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_count, setup, teardown),
		cmocka_unit_test_setup_teardown(test_repack_merges_into_one, setup, teardown),
		cmocka_unit_test_setup_teardown(test_verify_finds_damage, setup, teardown),
	};
	int rc = cmocka_run_group_tests(tests, group_setup, group_teardown);
	hub_git_global_shutdown();
	return rc;
}
