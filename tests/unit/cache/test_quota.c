/*
 * Unit tests for cache/quota.c: cache_max sizes (suffixes, percentages of
 * a real filesystem, nonsense refused with a reason), the low-water mark,
 * and a round on a scratch cache root: least recently used complete files
 * go first, a file holding a shared flock (a reader's pin) is kept, a
 * partial download is never a candidate, hubfs's own checkpoints/ link goes
 * with its store file and torch.hub's own file stays.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <fcntl.h>
#include <time.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <cmocka.h>

#include "base/files.h"
#include "cache/quota.h"

static void test_sizes(void **state)
{
	(void)state;
	uint64_t v;
	char why[128];
	assert_int_equal(hub_quota_parse_size(&v, "512", NULL, why, sizeof(why)), 0);
	assert_int_equal(v, 512);
	assert_int_equal(hub_quota_parse_size(&v, "7M", NULL, why, sizeof(why)), 0);
	assert_int_equal(v, 7u << 20);
	assert_int_equal(hub_quota_parse_size(&v, "20GiB", NULL, why, sizeof(why)), 0);
	assert_int_equal(v, 20ull << 30);
	assert_int_equal(hub_quota_parse_size(&v, "2TB", NULL, why, sizeof(why)), 0);
	assert_int_equal(v, 2ull << 40);
	assert_int_equal(hub_quota_parse_size(&v, "3k", NULL, why, sizeof(why)), 0);
	assert_int_equal(v, 3072);
	struct statvfs sv;
	assert_int_equal(statvfs("/tmp", &sv), 0);
	assert_int_equal(hub_quota_parse_size(&v, "50%", "/tmp", why, sizeof(why)), 0);
	uint64_t fs = (uint64_t)sv.f_blocks * sv.f_frsize;
	assert_true(v == fs / 2 || v + 1 == fs / 2 || v == fs / 2 + 1);
	static const char *const bad[] = { "", "banana", "0", "0G", "-3G", "5X", "7 M", "M",
					   "200%", "0%", "10%%", "99999999999T",
					   "184467440737095516160", "1.5G", "7MM" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		why[0] = '\0';
		assert_int_equal(hub_quota_parse_size(&v, bad[i], "/tmp", why, sizeof(why)), -EINVAL);
		assert_true(why[0] != '\0');
	}
	struct hub_quota_policy p;
	hub_quota_policy_init(&p, 1000, false);
	assert_int_equal(p.low, 900);
}

static char root[64];

static void put(const char *rel, size_t n, time_t atime)
{
	char path[256];
	snprintf(path, sizeof(path), "%s/%s", root, rel);
	char *buf = malloc(n);
	assert_non_null(buf);
	memset(buf, 'x', n);
	assert_int_equal(hub_file_write_atomic(path, buf, n), 0);
	free(buf);
	struct timespec t[2] = {{.tv_sec = atime}, {.tv_sec = atime}};
	assert_int_equal(utimensat(AT_FDCWD, path, t, 0), 0);
}

static bool exists(const char *rel)
{
	char path[256];
	snprintf(path, sizeof(path), "%s/%s", root, rel);
	return access(path, F_OK) == 0;
}

static void test_round(void **state)
{
	(void)state;
	snprintf(root, sizeof(root), "/tmp/hubfs-quota-XXXXXX");
	assert_non_null(mkdtemp(root));
	char d[128];
	snprintf(d, sizeof(d), "%s/hubfs/weights", root);
	assert_int_equal(hub_mkdir_p(d), 0);
	snprintf(d, sizeof(d), "%s/checkpoints", root);
	assert_int_equal(hub_mkdir_p(d), 0);
	const size_t M = 1 << 20;
	time_t now = time(NULL);
	/* a: oldest, pinned; b: next, linked as checkpoints/b.pth; c: newest;
	 * p: a partial download, oldest of all; t: torch.hub's own, old */
	put("hubfs/weights/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.data", M, now - 500);
	put("hubfs/weights/bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb.data", M, now - 400);
	put("hubfs/weights/cccccccccccccccccccccccccccccccc.data", M, now - 100);
	put("hubfs/weights/dddddddddddddddddddddddddddddddd.part", M, now - 900);
	put("checkpoints/t.pth", M, now - 800);
	char a[256], b[256];
	snprintf(a, sizeof(a), "%s/hubfs/weights/bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb.data", root);
	snprintf(b, sizeof(b), "%s/checkpoints/b.pth", root);
	assert_int_equal(link(a, b), 0);
	static const char head[] = "{\"url\": \"https://example.com/b.pth\", \"name\": \"b.pth\", "
				   "\"size\": 1048576, \"etag\": \"\"}";
	snprintf(a, sizeof(a), "%s/hubfs/weights/bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb.head", root);
	assert_int_equal(hub_file_write_atomic(a, head, sizeof(head) - 1), 0);
	snprintf(a, sizeof(a), "%s/hubfs/weights/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.data", root);
	int pin = open(a, O_RDONLY);
	assert_true(pin >= 0);
	assert_int_equal(flock(pin, LOCK_SH), 0);

	/* 5 MiB used: max 3.5 MiB, low 3.15: b and c must go, a is pinned */
	struct hub_quota_policy p;
	hub_quota_policy_init(&p, 7 * M / 2, false);
	struct hub_quota_result r;
	assert_int_equal(hub_quota_round(&r, root, &p), 0);
	assert_true(r.used_before >= 5 * M);
	assert_int_equal(r.pinned, 1);
	assert_int_equal(r.evicted, 2);
	assert_true(exists("hubfs/weights/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.data"));
	assert_false(exists("hubfs/weights/bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb.data"));
	assert_false(exists("checkpoints/b.pth"));
	assert_false(exists("hubfs/weights/bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb.head"));
	assert_false(exists("hubfs/weights/cccccccccccccccccccccccccccccccc.data"));
	assert_true(exists("hubfs/weights/dddddddddddddddddddddddddddddddd.part"));
	assert_true(exists("checkpoints/t.pth"));
	assert_true(exists("hubfs/quota.json"));

	/* the pin gone: a goes; torch.hub's file only with evict_foreign */
	close(pin);
	hub_quota_policy_init(&p, M, false);
	assert_int_equal(hub_quota_round(&r, root, &p), 0);
	assert_false(exists("hubfs/weights/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.data"));
	assert_true(exists("checkpoints/t.pth"));
	hub_quota_policy_init(&p, M, true);
	assert_int_equal(hub_quota_round(&r, root, &p), 0);
	assert_false(exists("checkpoints/t.pth"));
	assert_true(exists("hubfs/weights/dddddddddddddddddddddddddddddddd.part"));

	/* forget */
	snprintf(d, sizeof(d), "%s/hubfs/repos/alice/vision/git", root);
	assert_int_equal(hub_mkdir_p(d), 0);
	put("hubfs/repos/alice/vision/state.json", 10, now);
	assert_int_equal(hub_quota_forget(root, "alice", "nothere"), -ENOENT);
	assert_int_equal(hub_quota_forget(root, "..", "vision"), -EINVAL);
	assert_int_equal(hub_quota_forget(root, "alice", "vision"), 0);
	assert_false(exists("hubfs/repos/alice/vision"));

	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
	assert_int_equal(system(cmd), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sizes),
		cmocka_unit_test(test_round),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
