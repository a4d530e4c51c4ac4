/*
 * cmocka tests of the namespace core (fs/ns.h) without a mount and without
 * libfuse: the path grammar on an offline cache holding one bare repository
 * made with the git command (as tests/unit/cache/test_cache.c does), names
 * that answer ENOENT at once, /.hubfs/, lookup counts and forget, inode
 * numbers, url_access=owner, symlink targets, reads and listing offsets.
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
#include <sys/statvfs.h>
#include <unistd.h>

#include <cmocka.h>

#include "tests/unit/repo_fixture.h"

#include "base/files.h"
#include "base/limits.h"
#include "cache/repo.h"
#include "fetch/git.h"
#include "fs/ns.h"
#include "fs/options.h"

struct fixture {
	char root[64];
	char sha[41];
	char tag_sha[41];
	struct hub_options opts;
	struct hub_cache *cache;
	struct hub_ns *ns;
};

/* <root>/hubfs/repos/alice/vision/git: main (2 commits), tag v1 on the
 * first, and a state.json recording both (offline: served from it). */
static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	strcpy(f->root, "/tmp/hubfs-test-ns-XXXXXX");
	assert_non_null(mkdtemp(f->root));
	hub_test_bare_repo(f->sha, f->tag_sha, f->root, "alice", "vision", HUB_TEST_TWO_COMMITS);
	char path[160];
	char json[512];
	snprintf(json, sizeof(json),
		 "{\"version\":1,\"head\":\"refs/heads/main\",\"head_time\":1,"
		 "\"refs\":{\"main\":{\"sha\":\"%s\",\"kind\":\"branch\",\"time\":1},"
		 "\"v1\":{\"sha\":\"%s\",\"kind\":\"tag\",\"time\":1}}}",
		 f->sha, f->tag_sha);
	snprintf(path, sizeof(path), "%s/hubfs/repos/alice/vision/state.json", f->root);
	assert_int_equal(hub_file_write_atomic(path, json, strlen(json)), 0);

	f->opts.git_url = "https://github.com/{owner}/{repo}.git";
	f->opts.offline = true;
	f->opts.ref_ttl = 60;
	f->opts.neg_ttl = 30;
	f->opts.url_access = HUB_URL_ACCESS_ALL;
	struct hub_cache_config cfg = { .offline = true, .ref_ttl = 60, .neg_ttl = 30,
					.git_url = f->opts.git_url };
	assert_int_equal(hub_cache_new(&f->cache, f->root, &cfg), 0);
	assert_int_equal(hub_ns_new(&f->ns, &f->opts, f->cache), 0);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	hub_ns_free(f->ns);
	hub_cache_free(f->cache);
	hub_test_sh("rm -rf %s", f->root);
	free(f);
	return 0;
}

/* A lookup that must find something. */
static uint64_t look(struct fixture *f, uint64_t parent, const char *name, struct hub_ns_entry *e)
{
	struct hub_ns_entry tmp;
	if (!e)
		e = &tmp;
	assert_int_equal(hub_ns_lookup(e, f->ns, parent, name, getuid()), 0);
	assert_true(e->ino != 0);
	assert_int_equal(e->attr.st_ino, e->ino);
	return e->ino;
}

/* A lookup that must answer a negative entry cached for ttl. */
static void negative(struct fixture *f, uint64_t parent, const char *name, double ttl)
{
	struct hub_ns_entry e;
	size_t before = hub_ns_count(f->ns);
	assert_int_equal(hub_ns_lookup(&e, f->ns, parent, name, getuid()), 0);
	assert_int_equal(e.ino, 0);
	assert_true(e.entry_timeout == ttl);
	assert_int_equal(hub_ns_count(f->ns), before); /* nothing made, nothing counted */
}

static uint64_t commit_dir(struct fixture *f, uint64_t *owner)
{
	char name[64];
	*owner = look(f, HUB_NS_ROOT_INO, "alice", NULL);
	snprintf(name, sizeof(name), "vision@%s", f->sha);
	struct hub_ns_entry e;
	uint64_t ino = look(f, *owner, name, &e);
	assert_true(S_ISDIR(e.attr.st_mode));
	assert_true(e.entry_timeout == HUB_TTL_IMMUTABLE);
	return ino;
}

static void test_names_enoent_at_once(void **state)
{
	struct fixture *f = *state;
	/* Not owners: an hour's negative entry, no cache work. */
	negative(f, HUB_NS_ROOT_INO, ".git", HUB_TTL_NEG_INVALID);
	negative(f, HUB_NS_ROOT_INO, "autorun.inf", HUB_TTL_NEG_INVALID);
	negative(f, HUB_NS_ROOT_INO, "-bad", HUB_TTL_NEG_INVALID);
	negative(f, HUB_NS_ROOT_INO, "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", HUB_TTL_NEG_INVALID);
	/* Not repositories, refs or commits. */
	uint64_t owner = look(f, HUB_NS_ROOT_INO, "alice", NULL);
	negative(f, owner, ".git", HUB_TTL_NEG_INVALID);
	negative(f, owner, "x.git", HUB_TTL_NEG_INVALID);
	negative(f, owner, "vision@abc", HUB_TTL_NEG_INVALID);
	negative(f, owner, "vision:a..b", HUB_TTL_NEG_INVALID);
	/* A valid name missing upstream (offline: what is cached): ref TTL. */
	negative(f, owner, "HEAD", HUB_TTL_REF);
	/* Missing in an immutable tree: a day. */
	uint64_t c = commit_dir(f, &owner);
	negative(f, c, ".git", HUB_TTL_IMMUTABLE);
	negative(f, c, "HEAD", HUB_TTL_IMMUTABLE);
	negative(f, c, "autorun.inf", HUB_TTL_IMMUTABLE);
	/* A file is no directory. */
	struct hub_ns_entry e;
	uint64_t two = look(f, c, "two.txt", NULL);
	assert_int_equal(hub_ns_lookup(&e, f->ns, two, "x", getuid()), -ENOTDIR);
	/* An inode the core does not know. */
	assert_int_equal(hub_ns_lookup(&e, f->ns, 12345, "x", getuid()), -ESTALE);
}

static void test_hubfs_dir(void **state)
{
	struct fixture *f = *state;
	struct hub_ns_entry e;
	uint64_t ctl = look(f, HUB_NS_ROOT_INO, ".hubfs", &e);
	assert_true(S_ISDIR(e.attr.st_mode));
	assert_int_equal(look(f, HUB_NS_ROOT_INO, ".hubfs", NULL), ctl);

	struct hub_ns_list *l;
	assert_int_equal(hub_ns_list(&l, f->ns, ctl, 0, 100, false, getuid()), 0);
	const char *want[] = { ".", "..", "counters", "downloads", "options", "stale", "version",
			       "url", "resolve" };
	assert_int_equal(l->n, 9);
	for (size_t i = 0; i < l->n; i++) {
		assert_string_equal(l->ents[i].name, want[i]);
		assert_int_equal(l->ents[i].off, (int64_t)i + 1);
	}
	assert_true(S_ISREG(l->ents[2].entry.attr.st_mode));
	assert_true(S_ISDIR(l->ents[7].entry.attr.st_mode));
	assert_int_equal(l->ents[2].entry.attr.st_ino, HUB_NS_UNKNOWN_INO);
	hub_ns_list_release(f->ns, l, l->n);

	/* Snapshots: a new inode per lookup (upper half), timeout 0. */
	uint64_t v1 = look(f, ctl, "version", &e);
	assert_true(e.entry_timeout == 0 && e.attr_timeout == 0);
	assert_true(v1 >> 63);
	uint64_t v2 = look(f, ctl, "version", NULL);
	assert_true(v1 != v2);
	struct hub_ns_data d;
	assert_int_equal(hub_ns_read(&d, f->ns, v1, 4096, 0, getuid()), 0);
	char want_v[64];
	snprintf(want_v, sizeof(want_v), "hubfs %s\n", HUBFS_VERSION);
	assert_int_equal(d.len, strlen(want_v));
	assert_memory_equal(d.data, want_v, d.len);
	hub_ns_data_release(&d);
	assert_int_equal(hub_ns_read(&d, f->ns, v1, 4096, 3, getuid()), 0);
	assert_int_equal(d.len, strlen(want_v) - 3);
	hub_ns_data_release(&d);
	assert_int_equal(hub_ns_read(&d, f->ns, v1, 4096, 4096, getuid()), 0);
	assert_int_equal(d.len, 0);
	hub_ns_data_release(&d);

	uint64_t opt = look(f, ctl, "options", &e);
	assert_int_equal(hub_ns_read(&d, f->ns, opt, 65536, 0, getuid()), 0);
	assert_non_null(memmem(d.data, d.len, "offline=1\n", 10));
	assert_non_null(memmem(d.data, d.len, "url_access=all\n", 15));
	hub_ns_data_release(&d);

	/* counters counts live nodes (rendered before its own node is made) */
	size_t live = hub_ns_count(f->ns);
	uint64_t cnt = look(f, ctl, "counters", NULL);
	char line[32];
	snprintf(line, sizeof(line), "inodes %zu\n", live);
	assert_int_equal(hub_ns_read(&d, f->ns, cnt, 65536, 0, getuid()), 0);
	assert_non_null(memmem(d.data, d.len, line, strlen(line)));
	hub_ns_data_release(&d);

	negative(f, ctl, "nope", 0);
	/* forget frees a snapshot */
	live = hub_ns_count(f->ns);
	hub_ns_forget(f->ns, v2, 1);
	assert_int_equal(hub_ns_count(f->ns), live - 1);
	assert_int_equal(hub_ns_getattr(&e.attr, &e.attr_timeout, f->ns, v2), -ESTALE);

	/* resolve/: offline, the recorded resolution */
	uint64_t res = look(f, ctl, "resolve", NULL);
	uint64_t r = look(f, res, "alice%2Fvision:v1", NULL);
	assert_int_equal(hub_ns_read(&d, f->ns, r, 4096, 0, getuid()), 0);
	assert_int_equal(d.len, 41);
	assert_memory_equal(d.data, f->tag_sha, 40);
	hub_ns_data_release(&d);
	negative(f, res, "alice-vision", 0);
	negative(f, res, "alice%2Fvision@0123456789012345678901234567890123456789", 0);
}

static void test_counts_and_forget(void **state)
{
	struct fixture *f = *state;
	size_t base = hub_ns_count(f->ns);
	assert_int_equal(base, 0); /* the root is not counted */
	uint64_t owner = look(f, HUB_NS_ROOT_INO, "alice", NULL);
	assert_int_equal(look(f, HUB_NS_ROOT_INO, "alice", NULL), owner);
	assert_int_equal(hub_ns_count(f->ns), 1);
	hub_ns_forget(f->ns, owner, 1);
	assert_int_equal(hub_ns_count(f->ns), 1); /* one lookup left */
	hub_ns_forget(f->ns, owner, 1);
	assert_int_equal(hub_ns_count(f->ns), 0);
	/* the same path gets the same number again */
	assert_int_equal(look(f, HUB_NS_ROOT_INO, "alice", NULL), owner);

	/* A child holds its parent: forgetting the parent first keeps it. */
	uint64_t c = commit_dir(f, &owner); /* alice looked up twice now */
	uint64_t pkg = look(f, c, "pkg", NULL);
	uint64_t a = look(f, pkg, "a.py", NULL);
	assert_int_equal(hub_ns_count(f->ns), 4);
	hub_ns_forget(f->ns, owner, 2);
	hub_ns_forget(f->ns, c, 1);
	hub_ns_forget(f->ns, pkg, 1);
	assert_int_equal(hub_ns_count(f->ns), 4);
	struct stat st;
	double ttl;
	assert_int_equal(hub_ns_getattr(&st, &ttl, f->ns, pkg), 0);
	hub_ns_forget(f->ns, a, 1); /* the last: the chain goes */
	assert_int_equal(hub_ns_count(f->ns), 0);
	assert_int_equal(hub_ns_getattr(&st, &ttl, f->ns, pkg), -ESTALE);
	/* forgetting what is unknown, or too much, is harmless */
	hub_ns_forget(f->ns, 999, 1);
	owner = look(f, HUB_NS_ROOT_INO, "alice", NULL);
	hub_ns_forget(f->ns, owner, 10);
	assert_int_equal(hub_ns_count(f->ns), 0);
	/* the root is never freed */
	hub_ns_forget(f->ns, HUB_NS_ROOT_INO, 5);
	assert_int_equal(hub_ns_getattr(&st, &ttl, f->ns, HUB_NS_ROOT_INO), 0);
	assert_true(S_ISDIR(st.st_mode));
}

static void test_inode_numbers(void **state)
{
	struct fixture *f = *state;
	uint64_t owner;
	uint64_t c = commit_dir(f, &owner);
	uint64_t inos[6];
	const char *names[] = { "pkg", "two.txt", "run.sh", "link" };
	for (size_t i = 0; i < 4; i++)
		inos[i] = look(f, c, names[i], NULL);
	inos[4] = c;
	inos[5] = owner;
	for (size_t i = 0; i < 6; i++) {
		assert_true(inos[i] > HUB_NS_ROOT_INO && !(inos[i] >> 63));
		for (size_t j = 0; j < i; j++)
			assert_true(inos[i] != inos[j]);
	}
	/* After everything is forgotten, the same paths get the same numbers. */
	for (size_t i = 0; i < 4; i++)
		hub_ns_forget(f->ns, inos[i], 1);
	hub_ns_forget(f->ns, c, 1);
	hub_ns_forget(f->ns, owner, 1);
	assert_int_equal(hub_ns_count(f->ns), 0);
	uint64_t owner2;
	assert_int_equal(commit_dir(f, &owner2), c);
	assert_int_equal(owner2, owner);
	assert_int_equal(look(f, c, "two.txt", NULL), inos[1]);
	/* A second mount of the same cache numbers paths the same way. */
	struct hub_ns *other;
	assert_int_equal(hub_ns_new(&other, &f->opts, f->cache), 0);
	struct hub_ns_entry e;
	assert_int_equal(hub_ns_lookup(&e, other, HUB_NS_ROOT_INO, "alice", getuid()), 0);
	assert_int_equal(e.ino, owner);
	hub_ns_free(other);
}

static void test_tree_and_links(void **state)
{
	struct fixture *f = *state;
	struct hub_ns_entry e;
	char buf[256];
	uint64_t owner = look(f, HUB_NS_ROOT_INO, "alice", &e);
	assert_true(S_ISDIR(e.attr.st_mode));
	assert_true(e.attr_timeout == HUB_TTL_OWNER_ATTR);

	/* the repo: -> the default branch */
	uint64_t repo = look(f, owner, "vision", &e);
	assert_true(S_ISLNK(e.attr.st_mode));
	assert_true(e.entry_timeout == HUB_TTL_REF);
	assert_int_equal(hub_ns_readlink(buf, sizeof(buf), f->ns, repo), 0);
	assert_string_equal(buf, "vision:main");
	assert_int_equal(e.attr.st_size, strlen("vision:main"));

	/* a branch: short timeout; a tag: immutable */
	char want[64];
	uint64_t br = look(f, owner, "vision:main", &e);
	assert_true(S_ISLNK(e.attr.st_mode));
	assert_true(e.entry_timeout == HUB_TTL_REF);
	assert_int_equal(hub_ns_readlink(buf, sizeof(buf), f->ns, br), 0);
	snprintf(want, sizeof(want), "vision@%s", f->sha);
	assert_string_equal(buf, want);
	uint64_t tag = look(f, owner, "vision:v1", &e);
	assert_true(e.entry_timeout == HUB_TTL_IMMUTABLE);
	assert_int_equal(hub_ns_readlink(buf, sizeof(buf), f->ns, tag), 0);
	snprintf(want, sizeof(want), "vision@%s", f->tag_sha);
	assert_string_equal(buf, want);
	/* cut to the buffer */
	assert_int_equal(hub_ns_readlink(buf, 7, f->ns, tag), 0);
	assert_string_equal(buf, "vision");
	struct hub_ns_entry ne;
	assert_int_equal(hub_ns_lookup(&ne, f->ns, owner, "vision:nope", getuid()), 0);
	assert_int_equal(ne.ino, 0);

	/* the commit's tree */
	uint64_t c = commit_dir(f, &owner);
	uint64_t link = look(f, c, "link", &e);
	assert_true(S_ISLNK(e.attr.st_mode));
	assert_int_equal(hub_ns_readlink(buf, sizeof(buf), f->ns, link), 0);
	assert_string_equal(buf, "pkg/a.py");
	assert_int_equal(hub_ns_readlink(buf, sizeof(buf), f->ns, c), -EINVAL);
	assert_int_equal(hub_ns_readlink(buf, sizeof(buf), f->ns, 4242), -ESTALE);
	uint64_t run = look(f, c, "run.sh", &e);
	assert_int_equal(e.attr.st_mode, S_IFREG | 0555);
	(void)run;
	uint64_t pkg = look(f, c, "pkg", &e);
	assert_true(S_ISDIR(e.attr.st_mode));
	uint64_t a = look(f, pkg, "a.py", &e);
	assert_int_equal(e.attr.st_mode, S_IFREG | 0444);
	assert_int_equal(e.attr.st_size, 9);
	assert_int_equal(e.attr.st_mtim.tv_sec, 1672628645); /* the commit's time */
	struct hub_ns_data d;
	assert_int_equal(hub_ns_read(&d, f->ns, a, 4096, 0, getuid()), 0);
	assert_int_equal(d.len, 9);
	assert_memory_equal(d.data, "print(1)\n", 9);
	hub_ns_data_release(&d);
	assert_int_equal(hub_ns_read(&d, f->ns, a, 2, 7, getuid()), 0);
	assert_int_equal(d.len, 2);
	assert_memory_equal(d.data, ")\n", 2);
	hub_ns_data_release(&d);
	assert_int_equal(hub_ns_read(&d, f->ns, pkg, 10, 0, getuid()), -EISDIR);
	/* no extended attributes but on weight files */
	size_t len;
	assert_int_equal(hub_ns_getxattr(buf, sizeof(buf), &len, f->ns, a, "user.hubfs.url"),
			 -ENODATA);
}

static void test_listings(void **state)
{
	struct fixture *f = *state;
	uint64_t owner;
	uint64_t c = commit_dir(f, &owner);
	struct hub_ns_list *l;
	const char *want[] = { ".", "..", ".hub", "link", "pkg", "run.sh", "two.txt" };
	assert_int_equal(hub_ns_list(&l, f->ns, c, 0, 100, false, getuid()), 0);
	assert_int_equal(l->n, 7);
	for (size_t i = 0; i < l->n; i++) {
		assert_string_equal(l->ents[i].name, want[i]);
		assert_int_equal(l->ents[i].off, (int64_t)i + 1);
		assert_int_equal(l->ents[i].entry.ino, 0);
	}
	assert_true(S_ISLNK(l->ents[3].entry.attr.st_mode));
	assert_true(S_ISDIR(l->ents[4].entry.attr.st_mode));
	assert_true(S_ISREG(l->ents[6].entry.attr.st_mode));
	hub_ns_list_release(f->ns, l, l->n);

	/* from an offset, at most max; past the end: nothing */
	assert_int_equal(hub_ns_list(&l, f->ns, c, 4, 2, false, getuid()), 0);
	assert_int_equal(l->n, 2);
	assert_string_equal(l->ents[0].name, "pkg");
	assert_int_equal(l->ents[0].off, 5);
	assert_string_equal(l->ents[1].name, "run.sh");
	assert_int_equal(l->ents[1].off, 6);
	hub_ns_list_release(f->ns, l, l->n);
	assert_int_equal(hub_ns_list(&l, f->ns, c, 7, 100, false, getuid()), 0);
	assert_int_equal(l->n, 0);
	hub_ns_list_release(f->ns, l, 0);

	/* plus: tree entries come with attributes, counted; those not taken
	 * are given back */
	size_t live = hub_ns_count(f->ns);
	assert_int_equal(hub_ns_list(&l, f->ns, c, 0, 100, true, getuid()), 0);
	assert_int_equal(l->ents[0].entry.ino, 0); /* "." */
	assert_int_equal(l->ents[2].entry.ino, 0); /* .hub: looked up */
	for (size_t i = 3; i < 7; i++) {
		assert_true(l->ents[i].entry.ino != 0);
		assert_int_equal(l->ents[i].entry.attr.st_ino, l->ents[i].entry.ino);
		assert_true(l->ents[i].entry.entry_timeout == HUB_TTL_IMMUTABLE);
	}
	uint64_t pkg = l->ents[4].entry.ino;
	assert_int_equal(hub_ns_count(f->ns), live + 4);
	hub_ns_list_release(f->ns, l, 5); /* took up to "pkg" */
	assert_int_equal(hub_ns_count(f->ns), live + 2);
	struct hub_ns_entry e;
	assert_int_equal(look(f, c, "pkg", &e), pkg); /* same node, same number */
	hub_ns_forget(f->ns, pkg, 2);
	assert_int_equal(hub_ns_count(f->ns), live + 1);

	/* the owner directory lists what the cache holds */
	assert_int_equal(hub_ns_list(&l, f->ns, owner, 0, 100, true, getuid()), 0);
	bool repo = false, main_ref = false;
	for (size_t i = 0; i < l->n; i++) {
		repo |= !strcmp(l->ents[i].name, "vision") && S_ISLNK(l->ents[i].entry.attr.st_mode);
		main_ref |= !strcmp(l->ents[i].name, "vision:main");
		assert_int_equal(l->ents[i].entry.ino, 0); /* mutable: no attributes */
	}
	assert_true(repo && main_ref);
	hub_ns_list_release(f->ns, l, l->n);
	/* the root: .hubfs and the owners */
	assert_int_equal(hub_ns_list(&l, f->ns, HUB_NS_ROOT_INO, 0, 100, false, getuid()), 0);
	assert_int_equal(l->n, 4);
	assert_string_equal(l->ents[0].name, ".");
	assert_string_equal(l->ents[1].name, "..");
	/* hash order (stable cookies): either way round */
	assert_true((!strcmp(l->ents[2].name, ".hubfs") && !strcmp(l->ents[3].name, "alice")) ||
		    (!strcmp(l->ents[3].name, ".hubfs") && !strcmp(l->ents[2].name, "alice")));
	hub_ns_list_release(f->ns, l, l->n);
	/* not a directory */
	uint64_t two = look(f, c, "two.txt", NULL);
	assert_int_equal(hub_ns_list(&l, f->ns, two, 0, 100, false, getuid()), -ENOTDIR);
}

/* state.json of alice/vision with main, v1 and the branches b<first>..
 * b<last> (all on main's commit). */
static void write_state(struct fixture *f, int first, int last)
{
	size_t cap = 64 * 1024, len = 0;
	char *json = malloc(cap);
	len += (size_t)snprintf(json + len, cap - len,
				"{\"version\":1,\"head\":\"refs/heads/main\",\"head_time\":1,"
				"\"refs\":{\"main\":{\"sha\":\"%s\",\"kind\":\"branch\",\"time\":1},"
				"\"v1\":{\"sha\":\"%s\",\"kind\":\"tag\",\"time\":1}",
				f->sha, f->tag_sha);
	for (int i = first; i <= last; i++)
		len += (size_t)snprintf(json + len, cap - len,
					",\"b%03d\":{\"sha\":\"%s\",\"kind\":\"branch\",\"time\":1}",
					i, f->sha);
	len += (size_t)snprintf(json + len, cap - len, "}}");
	char path[160];
	snprintf(path, sizeof(path), "%s/hubfs/repos/alice/vision/state.json", f->root);
	assert_int_equal(hub_file_write_atomic(path, json, len), 0);
	free(json);
}

/* An owner directory listed a few entries per call while refs enter and
 * leave the cache between calls: every entry present the whole time comes
 * exactly once (index offsets skipped or repeated them). */
static void test_listing_while_cache_changes(void **state)
{
	struct fixture *f = *state;
	uint64_t owner = look(f, HUB_NS_ROOT_INO, "alice", NULL);
	write_state(f, 100, 199); /* b100..b199 stay throughout */
	int seen[1000] = { 0 };
	int64_t off = 0;
	int round = 0;
	for (;;) {
		struct hub_ns_list *l;
		assert_int_equal(hub_ns_list(&l, f->ns, owner, off, 7, false, getuid()), 0);
		if (l->n == 0) {
			hub_ns_list_release(f->ns, l, 0);
			break;
		}
		for (size_t i = 0; i < l->n; i++) {
			int k;
			if (sscanf(l->ents[i].name, "vision:b%d", &k) == 1)
				seen[k]++;
			assert_true(l->ents[i].off > off);
		}
		off = l->ents[l->n - 1].off;
		hub_ns_list_release(f->ns, l, l->n);
		/* between calls: 200 refs come (b000..b099, b200..b299) or go */
		round++;
		write_state(f, round % 2 ? 0 : 100, round % 2 ? 299 : 199);
		assert_true(round < 200);
	}
	for (int k = 100; k < 200; k++)
		assert_int_equal(seen[k], 1);
	for (int k = 0; k < 1000; k++)
		assert_true(seen[k] <= 1);
}

/* access(2) from the mode bits; statfs of the cache root's filesystem. */
static void test_access_and_statfs(void **state)
{
	struct fixture *f = *state;
	uint64_t owner;
	uint64_t c = commit_dir(f, &owner);
	uint64_t run = look(f, c, "run.sh", NULL), two = look(f, c, "two.txt", NULL);
	uid_t me = getuid();
	gid_t my = getgid();
	assert_int_equal(hub_ns_access(f->ns, run, X_OK, me, my), 0);
	assert_int_equal(hub_ns_access(f->ns, two, X_OK, me, my), -EACCES);
	assert_int_equal(hub_ns_access(f->ns, two, X_OK, 0, 0), -EACCES);
	assert_int_equal(hub_ns_access(f->ns, two, X_OK, 4242, 4242), -EACCES);
	assert_int_equal(hub_ns_access(f->ns, run, X_OK, 4242, 4242), 0);
	assert_int_equal(hub_ns_access(f->ns, two, R_OK, 4242, 4242), 0);
	assert_int_equal(hub_ns_access(f->ns, two, F_OK, 4242, 4242), 0);
	assert_int_equal(hub_ns_access(f->ns, two, W_OK, me, my), -EROFS);
	assert_int_equal(hub_ns_access(f->ns, c, X_OK | R_OK, 4242, 4242), 0);
	assert_int_equal(hub_ns_access(f->ns, 123456789, R_OK, me, my), -ESTALE);

	struct statvfs sv, want;
	assert_int_equal(hub_ns_statfs(&sv, f->ns), 0);
	assert_int_equal(statvfs(f->root, &want), 0);
	assert_true(sv.f_blocks > 0 && sv.f_blocks == want.f_blocks);
	assert_int_equal(sv.f_frsize, want.f_frsize);
	assert_true(sv.f_flag & ST_RDONLY);
	assert_int_equal(sv.f_namemax, 255);
}

static void test_url_access(void **state)
{
	struct fixture *f = *state;
	uid_t me = getuid(), other = me + 1;
	struct hub_ns_entry e;
	struct hub_ns_list *l;
	uint64_t ctl = look(f, HUB_NS_ROOT_INO, ".hubfs", NULL);

	/* all: anyone; an invalid URL name is an hour's negative entry */
	uint64_t url = look(f, ctl, "url", &e);
	assert_int_equal(e.attr.st_mode, S_IFDIR | 0555);
	assert_int_equal(hub_ns_lookup(&e, f->ns, url, "not-a-url", other), 0);
	assert_int_equal(e.ino, 0);
	assert_true(e.entry_timeout == HUB_TTL_NEG_INVALID);
	assert_int_equal(hub_ns_list(&l, f->ns, url, 0, 100, false, other), 0);
	assert_int_equal(l->n, 2);
	hub_ns_list_release(f->ns, l, l->n);
	/* no weight store: a URL cannot be served */
	assert_int_equal(hub_ns_lookup(&e, f->ns, url, "https:%2F%2Fexample.com%2Fm.pth", me),
			 -EIO);

	/* owner: the mount owner's alone */
	f->opts.url_access = HUB_URL_ACCESS_OWNER;
	struct stat st;
	double ttl;
	assert_int_equal(hub_ns_getattr(&st, &ttl, f->ns, url), 0);
	assert_int_equal(st.st_mode, S_IFDIR | 0500);
	assert_int_equal(hub_ns_lookup(&e, f->ns, url, "not-a-url", other), -EACCES);
	assert_int_equal(hub_ns_list(&l, f->ns, url, 0, 100, false, other), -EACCES);
	assert_int_equal(hub_ns_lookup(&e, f->ns, url, "not-a-url", me), 0);
	assert_int_equal(e.ino, 0);
	assert_int_equal(hub_ns_list(&l, f->ns, url, 0, 100, true, me), 0);
	hub_ns_list_release(f->ns, l, l->n);
	/* the rest of /.hubfs is everyone's */
	uint64_t v = look(f, ctl, "version", NULL);
	struct hub_ns_data d;
	assert_int_equal(hub_ns_read(&d, f->ns, v, 100, 0, other), 0);
	hub_ns_data_release(&d);
	assert_int_equal(hub_ns_lookup(&e, f->ns, ctl, "options", other), 0);
	assert_true(e.ino != 0);
	f->opts.url_access = HUB_URL_ACCESS_ALL;
}

static int group_setup(void **state)
{
	(void)state;
	return hub_git_global_init();
}

static int group_teardown(void **state)
{
	(void)state;
	hub_git_global_shutdown();
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_names_enoent_at_once, setup, teardown),
		cmocka_unit_test_setup_teardown(test_hubfs_dir, setup, teardown),
		cmocka_unit_test_setup_teardown(test_counts_and_forget, setup, teardown),
		cmocka_unit_test_setup_teardown(test_inode_numbers, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tree_and_links, setup, teardown),
		cmocka_unit_test_setup_teardown(test_listings, setup, teardown),
		cmocka_unit_test_setup_teardown(test_url_access, setup, teardown),
		cmocka_unit_test_setup_teardown(test_listing_while_cache_changes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_access_and_statfs, setup, teardown),
	};
	/* libgit2 initialised once for the group, as in test_cache.c */
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
