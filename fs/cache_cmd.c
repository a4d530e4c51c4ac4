/*
 * `hubfs cache ls|du|verify ROOT|MOUNTPOINT`: what a cache root holds, how
 * much room it takes, and whether its complete weight files still match
 * the sha256 prefix of their names and its git repositories are sound
 * (every object readable and hashing to its id, every ref and recorded
 * commit present: fetch/odb.h's hub_odb_verify).  --repair removes a bad
 * weight file (hub_quota_drop_weight) and drops a bad repository whole
 * (hub_quota_forget, the same removal as `forget`): the next use fetches
 * it again.  This file does no cache I/O of its own (cache/inventory.h,
 * cache/quota.h do it).  fs/main.c hands over argv when
 * argv[1] is "cache"; the cache is read through cache/inventory.h (no
 * lock, no daemon needed: safe while mounted, on a root no daemon uses,
 * and by another user than the daemon's as far as file permissions allow).
 *
 * ROOT|MOUNTPOINT: a hubfs mount point is answered for its cache root (the
 * cache= line of its /.hubfs/options); anything else must be a cache root
 * (a directory holding hubfs/ or checkpoints/).
 *
 * Exit status: 0; 1 when verify found a bad file (removed or not) or the
 * root cannot be read; 2 for a usage error.  Names and URLs are printed
 * escaped (base/redact.h): nothing in a cache can reach the terminal.
 */
#include "fs/cache_cmd.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "base/files.h"
#include "base/limits.h"
#include "base/redact.h"
#include "cache/inventory.h"
#include "cache/quota.h"
#include "cache/weights.h"
#include "fetch/git.h"
#include "fetch/odb.h"

static void usage_line(const char *msg, const char *arg)
{
	fprintf(stderr, "hubfs: cache: %s%s%s (usage: hubfs cache ls|du [-b]|verify [--repair]|"
			"gc [--max SIZE]|forget OWNER/REPO ROOT|MOUNTPOINT)\n", msg, arg ? ": " : "",
		arg ? arg : "");
}

static void human(char *out, size_t n, uint64_t bytes)
{
	static const char *const units[] = { "B", "KiB", "MiB", "GiB", "TiB" };
	double v = (double)bytes;
	int u = 0;
	while (v >= 1024 && u < 4) {
		v /= 1024;
		u++;
	}
	snprintf(out, n, u ? "%.1f %s" : "%.0f %s", v, units[u]);
}

static void when(char *out, size_t n, double t)
{
	if (t <= 0) {
		snprintf(out, n, "never");
		return;
	}
	time_t s = (time_t)t;
	struct tm tm;
	gmtime_r(&s, &tm);
	strftime(out, n, "%Y-%m-%d %H:%M:%S UTC", &tm);
}

/* s escaped into a static buffer (one line, no control bytes). */
static const char *esc(const char *s, char *buf, size_t n)
{
	if (!s)
		return "-";
	if (hub_escape_text(buf, n, s) < 0)
		snprintf(buf, n, "?");
	return buf;
}

/* The cache root of a mount point (its /.hubfs/options' cache= line), or
 * path itself.  0 or -errno (with a message printed). */
static int resolve_root(char *out, size_t outsz, const char *path)
{
	char opt[PATH_MAX + 32];
	snprintf(opt, sizeof(opt), "%.*s/.hubfs/options", PATH_MAX, path);
	char *text;
	size_t len;
	if (!hub_file_read(&text, &len, opt, HUB_JSON_MAX)) {
		int rc = -ENOENT;
		for (char *line = text; line && *line;) {
			char *nl = memchr(line, '\n', len - (size_t)(line - text));
			if (nl)
				*nl = '\0';
			if (!strncmp(line, "cache=", 6) && strlen(line + 6) < outsz) {
				snprintf(out, outsz, "%s", line + 6);
				rc = 0;
				break;
			}
			line = nl ? nl + 1 : NULL;
		}
		free(text);
		if (rc)
			usage_line("a hubfs mount whose /.hubfs/options names no cache", path);
		return rc;
	}
	if (strlen(path) >= outsz) {
		usage_line("path too long", NULL);
		return -ENAMETOOLONG;
	}
	snprintf(out, outsz, "%s", path);
	return 0;
}

static int load(struct hub_inventory *inv, const char *arg)
{
	char root[PATH_MAX];
	int rc = resolve_root(root, sizeof(root), arg);
	if (rc)
		return rc;
	rc = hub_inventory_load(inv, root);
	if (rc == -ENOENT)
		fprintf(stderr, "hubfs: cache: %s is neither a hubfs mount nor a cache root "
				"(no hubfs/ or checkpoints/ in it)\n", root);
	else if (rc)
		fprintf(stderr, "hubfs: cache: cannot read %s: %s\n", root, strerror(-rc));
	return rc;
}

/* ---- ls ---- */

static int cmd_ls(const struct hub_inventory *inv)
{
	char a[4 * PATH_MAX], b[4 * HUB_URL_MAX], h[32], t[64];
	printf("cache %s\n", esc(inv->root, a, sizeof(a)));
	printf("repositories: %zu\n", inv->nrepos);
	for (size_t i = 0; i < inv->nrepos; i++) {
		const struct hub_inv_repo *r = &inv->repos[i];
		char name[2 * NAME_MAX + 2];
		snprintf(name, sizeof(name), "%s/%s", r->owner, r->repo);
		human(h, sizeof(h), r->bytes);
		when(t, sizeof(t), r->last_use);
		printf("  repo %s  %s  last use %s\n", esc(name, a, sizeof(a)), h, t);
		if (r->head)
			printf("    HEAD %s\n", esc(r->head, a, sizeof(a)));
		for (size_t j = 0; j < r->nrefs; j++) {
			when(t, sizeof(t), r->refs[j].time);
			printf("    ref %s  %s  %s  resolved %s\n", esc(r->refs[j].ref, a, sizeof(a)),
			       r->refs[j].kind, r->refs[j].sha, t);
		}
		/* the distinct commits the refs name */
		bool first = true;
		for (size_t j = 0; j < r->nrefs; j++) {
			bool seen = false;
			for (size_t k = 0; k < j && !seen; k++)
				seen = !strcmp(r->refs[k].sha, r->refs[j].sha);
			if (seen)
				continue;
			printf("%s %s", first ? "    commits" : "", r->refs[j].sha);
			first = false;
		}
		if (!first)
			printf("\n");
	}
	printf("weights: %zu\n", inv->nweights);
	for (size_t i = 0; i < inv->nweights; i++) {
		const struct hub_inv_weight *w = &inv->weights[i];
		char size[32] = "?";
		if (w->size_known)
			human(size, sizeof(size), w->size);
		human(h, sizeof(h), w->bytes);
		when(t, sizeof(t), w->last_use);
		const char *state = !w->key[0] ? "checkpoint" : w->complete ? "complete" : "partial";
		printf("  weight %s  %s  size %s  on disk %s  last use %s", esc(w->name, a, sizeof(a)),
		       state, size, h, t);
		if (w->key[0])
			printf("  key %s%s", w->key, w->linked ? "  linked" : "");
		if (w->bad[0])
			printf("  failed %s", esc(w->bad, b, sizeof(b)));
		if (w->url)
			printf("  %s", esc(w->url, b, sizeof(b)));
		printf("\n");
	}
	return 0;
}

/* ---- du ---- */

static void du_line(bool exact, uint64_t bytes, const char *what)
{
	char h[32];
	if (exact)
		snprintf(h, sizeof(h), "%llu", (unsigned long long)bytes);
	else
		human(h, sizeof(h), bytes);
	printf("%s\t%s\n", h, what);
}

static int cmd_du(const struct hub_inventory *inv, bool exact)
{
	uint64_t repos = 0, complete = 0, partial = 0, ck = 0;
	size_t ncomplete = 0, npartial = 0, nck = 0;
	for (size_t i = 0; i < inv->nrepos; i++)
		repos += inv->repos[i].bytes;
	for (size_t i = 0; i < inv->nweights; i++) {
		const struct hub_inv_weight *w = &inv->weights[i];
		if (!w->key[0]) {
			ck += w->bytes;
			nck++;
		} else if (w->complete) {
			complete += w->bytes;
			ncomplete++;
		} else {
			partial += w->bytes;
			npartial++;
		}
	}
	char what[128];
	snprintf(what, sizeof(what), "repositories (%zu)", inv->nrepos);
	du_line(exact, repos, what);
	snprintf(what, sizeof(what), "weights, complete (%zu)", ncomplete);
	du_line(exact, complete, what);
	snprintf(what, sizeof(what), "weights, partial (%zu)", npartial);
	du_line(exact, partial, what);
	snprintf(what, sizeof(what), "checkpoints/ files of torch.hub's own (%zu)", nck);
	du_line(exact, ck, what);
	du_line(exact, inv->analysis_bytes, "entrypoint analyses");
	du_line(exact, inv->other_bytes, "other (locks, records)");
	du_line(exact, repos + complete + partial + ck + inv->analysis_bytes + inv->other_bytes,
		"total");
	return 0;
}

/* ---- verify ---- */

static int cmd_verify(const struct hub_inventory *inv, bool fix)
{
	size_t ok = 0, bad = 0, skipped = 0, failed = 0;
	char a[4 * PATH_MAX];
	for (size_t i = 0; i < inv->nweights; i++) {
		const struct hub_inv_weight *w = &inv->weights[i];
		if (!w->complete || !w->path)
			continue;
		char prefix[65];
		hub_weights_hash_prefix(prefix, w->name);
		if (!prefix[0]) {
			skipped++;
			continue;
		}
		char hex[65];
		int rc = hub_inventory_hash(hex, w->path);
		if (rc) {
			printf("error %s: %s\n", esc(w->name, a, sizeof(a)), strerror(-rc));
			failed++;
			continue;
		}
		if (!strncmp(hex, prefix, strlen(prefix))) {
			printf("ok %s\n", esc(w->name, a, sizeof(a)));
			ok++;
			continue;
		}
		bad++;
		printf("BAD %s: sha256 %.16s... does not start with %s", esc(w->name, a, sizeof(a)),
		       hex, prefix);
		if (fix) {
			rc = hub_quota_drop_weight(inv->root, w);
			if (rc)
				printf("; not removed: %s", strerror(-rc));
			else
				printf("; removed (downloaded again on next use)");
		}
		printf("\n");
	}
	printf("verified %zu, bad %zu, unreadable %zu, without a hash in the name %zu\n", ok, bad,
	       failed, skipped);
	return bad || failed ? 1 : 0;
}

/* ---- gc, forget (cache/quota.h) ---- */

/* The max of the last round a mount ran on root (<root>/hubfs/quota.json),
 * 0 if none. */
static uint64_t recorded_max(const char *root)
{
	char path[PATH_MAX + 32];
	snprintf(path, sizeof(path), "%s/hubfs/quota.json", root);
	char *txt = NULL;
	size_t n = 0;
	unsigned long long v = 0;
	if (hub_file_read(&txt, &n, path, 4096) == 0) {
		const char *p = strstr(txt, "\"max\": ");
		if (p)
			v = strtoull(p + 7, NULL, 10);
		free(txt);
	}
	return v;
}

/* hubfs cache gc [--max SIZE] ROOT|MOUNTPOINT */
static int cmd_gc(int argc, char **argv)
{
	const char *max_s = NULL, *path = NULL;
	bool all = false;
	for (int i = 2; i < argc; i++) {
		if (!strcmp(argv[i], "--max") && i + 1 < argc)
			max_s = argv[++i];
		else if (!strncmp(argv[i], "--max=", 6))
			max_s = argv[i] + 6;
		else if (!strcmp(argv[i], "--evict-checkpoints=all"))
			all = true;
		else if (argv[i][0] == '-' || path) {
			usage_line("unexpected argument", argv[i]);
			return 2;
		} else
			path = argv[i];
	}
	if (!path || !*path) {
		usage_line("missing ROOT or MOUNTPOINT", NULL);
		return 2;
	}
	char root[PATH_MAX], why[128];
	if (resolve_root(root, sizeof(root), path))
		return 1;
	uint64_t max = 0;
	if (max_s) {
		if (hub_quota_parse_size(&max, max_s, root, why, sizeof(why))) {
			usage_line("bad value for --max", why);
			return 2;
		}
	} else if (!(max = recorded_max(root))) {
		usage_line("no quota recorded for this root (no mount with cache_max=): give --max",
			   NULL);
		return 2;
	}
	struct hub_quota_policy p;
	hub_quota_policy_init(&p, max, all);
	/* for tests only: a shorter idle bound of abandoned downloads */
	if (getenv("HUBFS_TEST_PART_IDLE_S"))
		p.part_idle_s = atof(getenv("HUBFS_TEST_PART_IDLE_S"));
	struct hub_quota_result r;
	int rc = hub_quota_round(&r, root, &p);
	if (rc) {
		fprintf(stderr, "hubfs: cache: gc of %s failed: %s\n", root, strerror(-rc));
		return 1;
	}
	printf("used %llu bytes, max %llu, low-water mark %llu\n"
	       "evicted %u file(s), %u repositories, %llu bytes; in use (kept): %u file(s), "
	       "%u repositories; now %llu bytes\n",
	       (unsigned long long)r.used_before, (unsigned long long)p.max,
	       (unsigned long long)p.low, r.evicted, r.repos_evicted,
	       (unsigned long long)r.evicted_bytes, r.pinned, r.repos_pinned,
	       (unsigned long long)r.used_after);
	return 0;
}

/* hubfs cache forget OWNER/REPO ROOT|MOUNTPOINT */
static int cmd_forget(int argc, char **argv)
{
	if (argc != 4 || argv[2][0] == '-' || argv[3][0] == '-') {
		usage_line(argc < 4 ? "missing OWNER/REPO or ROOT" : "unexpected argument",
			   argc > 4 ? argv[4] : NULL);
		return 2;
	}
	char owner[NAME_MAX + 1];
	const char *slash = strchr(argv[2], '/');
	if (!slash || (size_t)(slash - argv[2]) > NAME_MAX || strchr(slash + 1, '/')) {
		usage_line("expected OWNER/REPO", argv[2]);
		return 2;
	}
	snprintf(owner, sizeof(owner), "%.*s", (int)(slash - argv[2]), argv[2]);
	char root[PATH_MAX];
	if (resolve_root(root, sizeof(root), argv[3]))
		return 1;
	int rc = hub_quota_forget(root, owner, slash + 1);
	char a[4 * NAME_MAX + 8];
	if (rc == -EINVAL) {
		usage_line("not an OWNER/REPO name", esc(argv[2], a, sizeof(a)));
		return 2;
	}
	if (rc) {
		fprintf(stderr, "hubfs: cache: forget %s: %s\n", esc(argv[2], a, sizeof(a)),
			rc == -ENOENT ? "not in this cache" : strerror(-rc));
		return 1;
	}
	printf("forgot %s\n", esc(argv[2], a, sizeof(a)));
	return 0;
}

/* ---- verify: the repositories ---- */

/* git fsck of each repository (fetch/odb.h's hub_odb_verify), the commits
 * its state.json names included.  *bad_out: repositories found bad. */
static int verify_repos(size_t *bad_out, const struct hub_inventory *inv, bool fix)
{
	size_t ok = 0, bad = 0;
	char a[4 * PATH_MAX];
	*bad_out = 0;
	int rc = hub_git_global_init();
	if (rc) {
		printf("error: libgit2 cannot start: %s\n", strerror(-rc));
		return rc;
	}
	for (size_t i = 0; i < inv->nrepos; i++) {
		const struct hub_inv_repo *r = &inv->repos[i];
		char name[2 * NAME_MAX + 2], dir[PATH_MAX], gitdir[PATH_MAX];
		snprintf(name, sizeof(name), "%s/%s", r->owner, r->repo);
		if ((size_t)snprintf(dir, sizeof(dir), "%s/hubfs/repos/%s", inv->root, name) >=
			    sizeof(dir) ||
		    (size_t)snprintf(gitdir, sizeof(gitdir), "%s/git", dir) >= sizeof(gitdir))
			continue;
		const char **shas = calloc(r->nrefs + 1, sizeof(*shas));
		if (!shas) {
			hub_git_global_shutdown();
			return -ENOMEM;
		}
		for (size_t j = 0; j < r->nrefs; j++)
			shas[j] = r->refs[j].sha;
		struct hub_odb_verdict v;
		rc = hub_odb_verify(&v, gitdir, shas, r->nrefs);
		free(shas);
		if (rc == -ENOENT && r->nrefs == 0)
			continue; /* nothing fetched yet, nothing recorded */
		if (rc == -ENOENT) {
			v.bad = 1;
			snprintf(v.first, sizeof(v.first), "state.json names %zu refs but there is "
				 "no git repository", r->nrefs);
		} else if (rc) {
			hub_git_global_shutdown();
			return rc;
		}
		if (!v.bad) {
			printf("ok repo %s (%zu objects, %zu refs)\n", esc(name, a, sizeof(a)),
			       v.objects, v.refs);
			ok++;
			continue;
		}
		bad++;
		char why[4 * sizeof(v.first)];
		printf("BAD repo %s: %s", esc(name, a, sizeof(a)), esc(v.first, why, sizeof(why)));
		if (v.bad > 1)
			printf(" (and %zu more problems)", v.bad - 1);
		if (fix) {
			rc = hub_quota_forget(inv->root, r->owner, r->repo);
			if (rc)
				printf("; not removed: %s", strerror(-rc));
			else
				printf("; removed (fetched again on next use)");
		}
		printf("\n");
	}
	printf("repositories verified %zu, bad %zu\n", ok, bad);
	hub_git_global_shutdown();
	*bad_out = bad;
	return 0;
}

int hub_cache_cmd(int argc, char **argv)
{
	if (argc >= 2 && !strcmp(argv[1], "gc"))
		return cmd_gc(argc, argv);
	if (argc >= 2 && !strcmp(argv[1], "forget"))
		return cmd_forget(argc, argv);

	if (argc < 2) {
		usage_line("missing subcommand", NULL);
		return 2;
	}
	const char *sub = argv[1];
	bool exact = false, fix = false;
	const char *path = NULL;
	for (int i = 2; i < argc; i++) {
		if (!strcmp(sub, "du") && !strcmp(argv[i], "-b"))
			exact = true;
		else if (!strcmp(sub, "verify") && !strcmp(argv[i], "--repair"))
			fix = true;
		else if (argv[i][0] == '-' || path) {
			usage_line("unexpected argument", argv[i]);
			return 2;
		} else
			path = argv[i];
	}
	if (strcmp(sub, "ls") && strcmp(sub, "du") && strcmp(sub, "verify")) {
		usage_line("unknown subcommand", sub);
		return 2;
	}
	if (!path || !*path) {
		usage_line("missing ROOT or MOUNTPOINT", NULL);
		return 2;
	}
	struct hub_inventory inv;
	if (load(&inv, path))
		return 1;
	int status;
	if (!strcmp(sub, "ls"))
		status = cmd_ls(&inv);
	else if (!strcmp(sub, "du"))
		status = cmd_du(&inv, exact);
	else {
		status = cmd_verify(&inv, fix);
		size_t bad_repos;
		if (verify_repos(&bad_repos, &inv, fix) || bad_repos)
			status = 1;
	}
	hub_inventory_dispose(&inv);
	if (fflush(stdout) || ferror(stdout))
		status = 1;
	return status;
}
