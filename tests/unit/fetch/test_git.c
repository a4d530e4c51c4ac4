/*
 * Unit tests for fetch/git.c against real servers on 127.0.0.1: fixture
 * repositories made with the git command in a mkdtemp directory, served by
 * `git daemon` (git://), by git http-backend behind git_http_server.py
 * (http:// and, with a throwaway certificate, https://), and by path.
 * Servers are started with PR_SET_PDEATHSIG, so they die with this process
 * even when it crashes, and are killed in the group teardown otherwise.
 *
 * Covered: ls-remote (branches, annotated and lightweight tags, HEAD, no
 * HEAD), shallow fetch and later fetches into the same shallow repository,
 * unshallow, fetch by object id (allowed, refused, nonexistent), every
 * errno of the header's table, GITHUB_TOKEN over https, and concurrency
 * (init_bare racing on one path, fetches in parallel); git_reach.c's verdicts
 * (tips, ancestors, a shallow repository, a fork's commit, the deadline).
 */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <git2.h>

#include "fetch/git.h"
#include "fetch/git_reach.h"
#include "base/log.h"

#define PYTHON "/usr/bin/python3"
#define HTTP_SERVER HUBFS_SOURCE_DIR "/tests/unit/fetch/git_http_server.py"
#define MISSING_OID "1111111111111111111111111111111111111111"

static struct {
	char dir[64];          /* mkdtemp: srv/ holds the served repos */
	char srv[128];
	pid_t daemon, http, https;
	char git[128];         /* git://127.0.0.1:PORT */
	char http_url[128];    /* http://127.0.0.1:PORT, "" if no python */
	char https_url[128];   /* https://localhost:PORT, "" if no openssl */
	char cert[160];
	/* commit ids of a.git: master is c5, c4 is referenced by nothing */
	char c1[41], c2[41], c3[41], c4[41], c5[41], s2[41], tag_v1[41];
	char fork[42];         /* in fork.git's object store, reachable from no ref */
	int n;                 /* counter for fresh gitdir names */
} fx;

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Run a shell command built from fmt; its exit status. */
static int sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int sh(const char *fmt, ...)
{
	char cmd[4096];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	assert_true(n > 0 && (size_t)n < sizeof(cmd));
	int rc = system(cmd);
	return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

static void rev_parse(char out[41], const char *repo, const char *rev)
{
	char cmd[512];
	snprintf(cmd, sizeof(cmd), "git -C %s rev-parse %s", repo, rev);
	FILE *p = popen(cmd, "r");
	assert_non_null(p);
	assert_non_null(fgets(out, 41, p));
	pclose(p);
	assert_int_equal(strlen(out), 40);
}

static int free_port(void)
{
	int s = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof(a);
	assert_int_equal(bind(s, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(getsockname(s, (struct sockaddr *)&a, &len), 0);
	close(s);
	return ntohs(a.sin_port);
}

/* A socket listening on 127.0.0.1 that never accepts: a server that hangs. */
static int hanging_server(int *port)
{
	int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof(a);
	assert_int_equal(bind(s, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(listen(s, 16), 0);
	assert_int_equal(getsockname(s, (struct sockaddr *)&a, &len), 0);
	*port = ntohs(a.sin_port);
	return s;
}

static bool port_open(int port)
{
	int s = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port),
				.sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	bool ok = connect(s, (struct sockaddr *)&a, sizeof(a)) == 0;
	close(s);
	return ok;
}

static pid_t spawn(char *const argv[])
{
	pid_t parent = getpid();
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGTERM);
		if (getppid() != parent)
			_exit(1);
		int null = open("/dev/null", O_RDWR);
		dup2(null, STDIN_FILENO);
		dup2(null, STDOUT_FILENO);
		if (!getenv("TEST_GIT_VERBOSE"))
			dup2(null, STDERR_FILENO);
		execvp(argv[0], argv);
		_exit(127);
	}
	return pid;
}

static void stop(pid_t *pid)
{
	if (*pid > 0) {
		kill(*pid, SIGTERM);
		waitpid(*pid, NULL, 0);
		*pid = 0;
	}
}

/* Start git_http_server.py; the port it picked, or 0. */
static int start_http(pid_t *pid, const char *tag, bool tls)
{
	if (access(PYTHON, X_OK) < 0)
		return 0;
	char portfile[160], key[160];
	snprintf(portfile, sizeof(portfile), "%s/%s.port", fx.dir, tag);
	snprintf(key, sizeof(key), "%s/key.pem", fx.dir);
	char *argv[] = {PYTHON, HTTP_SERVER, fx.srv, portfile, "--tls", fx.cert, key, NULL};
	if (!tls)
		argv[4] = NULL;
	*pid = spawn(argv);
	for (int i = 0; i < 500; i++) {
		FILE *f = fopen(portfile, "r");
		int port = 0;
		if (f) {
			int got = fscanf(f, "%d", &port);
			fclose(f);
			if (got == 1 && port > 0)
				return port;
		}
		if (waitpid(*pid, NULL, WNOHANG) == *pid) {
			*pid = 0;
			return 0;
		}
		usleep(10000);
	}
	stop(pid);
	return 0;
}

static const char *new_gitdir(void)
{
	static char path[4][160];
	char *p = path[fx.n % 4];
	snprintf(p, sizeof(path[0]), "%s/cache/r%d.git", fx.dir, fx.n++);
	return p;
}

/*
 * a.git:  c1 - c2 - c3 - c4 - c5   master (HEAD), dev at c3
 *               \
 *                s1 - s2           side
 *         v1: annotated tag of c2; v2: lightweight tag of c1
 */
static const char make_repos[] =
	"set -e; cd %s; export GIT_CONFIG_NOSYSTEM=1 HOME=%s "
	"GIT_AUTHOR_NAME=t GIT_AUTHOR_EMAIL=t@t GIT_COMMITTER_NAME=t GIT_COMMITTER_EMAIL=t@t "
	"GIT_AUTHOR_DATE='1700000000 +0000' GIT_COMMITTER_DATE='1700000000 +0000'; "
	"git init -q -b master w; cd w; "
	"c() { head -c 30000 /dev/urandom | base64 > big; echo $1 > top; " /* no deltas */
	"git add -A; git commit -qm c$1; }; "
	"c 1; git tag v2; c 2; git tag -a v1 -m v1; git checkout -qb side; c s1; c s2; "
	"git checkout -q master; c 3; git branch dev; c 4; c 5; cd ..; "
	"git clone -q --bare w srv/a.git; git -C srv/a.git config uploadpack.allowAnySHA1InWant true; "
	"git clone -q --bare w srv/fork.git; git -C srv/fork.git config uploadpack.allowAnySHA1InWant true; "
	/* fork.git: a commit on top of master that no ref reaches (a fork's, as GitHub serves it) */
	"git -C srv/fork.git commit-tree -p master -m fork 'master^{tree}' > fork.id; "
	"git clone -q --bare w srv/strict.git; "
	"git clone -q --bare w srv/nohead.git; git -C srv/nohead.git symbolic-ref HEAD refs/heads/gone; "
	"openssl req -x509 -newkey rsa:2048 -nodes -keyout key.pem -out cert.pem -days 2 "
	"-subj /CN=localhost -addext subjectAltName=DNS:localhost >/dev/null 2>&1 || rm -f cert.pem";

static int group_setup(void **state)
{
	(void)state;
	snprintf(fx.dir, sizeof(fx.dir), "/tmp/hubfs-test-git-XXXXXX");
	assert_non_null(mkdtemp(fx.dir));
	snprintf(fx.srv, sizeof(fx.srv), "%s/srv", fx.dir);
	assert_int_equal(sh("mkdir -p %s/srv %s/cache", fx.dir, fx.dir), 0);
	assert_int_equal(sh(make_repos, fx.dir, fx.dir), 0);

	char w[128];
	snprintf(w, sizeof(w), "%s/w", fx.dir);
	rev_parse(fx.c1, w, "master~4");
	rev_parse(fx.c2, w, "master~3");
	rev_parse(fx.c3, w, "master~2");
	rev_parse(fx.c4, w, "master~1");
	rev_parse(fx.c5, w, "master");
	rev_parse(fx.s2, w, "side");
	rev_parse(fx.tag_v1, w, "v1");
	char forkid[128];
	snprintf(forkid, sizeof(forkid), "%s/fork.id", fx.dir);
	FILE *ff = fopen(forkid, "r");
	assert_non_null(ff);
	assert_non_null(fgets(fx.fork, sizeof(fx.fork), ff));
	fclose(ff);
	fx.fork[strcspn(fx.fork, "\n")] = '\0';
	assert_int_equal(strlen(fx.fork), 40);

	int port = free_port();
	char portarg[32], base[160];
	snprintf(portarg, sizeof(portarg), "--port=%d", port);
	snprintf(base, sizeof(base), "--base-path=%s", fx.srv);
	char *argv[] = {"git", "daemon", "--reuseaddr", base, "--export-all",
			"--listen=127.0.0.1", portarg, NULL};
	fx.daemon = spawn(argv);
	for (int i = 0; i < 500 && !port_open(port); i++)
		usleep(10000);
	assert_true(port_open(port));
	snprintf(fx.git, sizeof(fx.git), "git://127.0.0.1:%d", port);

	int hp = start_http(&fx.http, "http", false);
	if (hp)
		snprintf(fx.http_url, sizeof(fx.http_url), "http://127.0.0.1:%d", hp);
	snprintf(fx.cert, sizeof(fx.cert), "%s/cert.pem", fx.dir);
	int sp = access(fx.cert, R_OK) == 0 ? start_http(&fx.https, "https", true) : 0;
	if (sp)
		snprintf(fx.https_url, sizeof(fx.https_url), "https://localhost:%d", sp);

	unsetenv("GITHUB_TOKEN");
	assert_int_equal(hub_git_global_init(), 0);
	return 0;
}

static int group_teardown(void **state)
{
	(void)state;
	hub_git_global_shutdown();
	stop(&fx.daemon);
	stop(&fx.http);
	stop(&fx.https);
	if (fx.dir[0] && !getenv("TEST_GIT_KEEP"))
		sh("rm -rf %s", fx.dir);
	return 0;
}

static const struct hub_remote_ref *find(const struct hub_remote_refs *r, const char *name)
{
	for (size_t i = 0; i < r->n; i++)
		if (strcmp(r->refs[i].name, name) == 0)
			return &r->refs[i];
	return NULL;
}

static void check_a_refs(const char *url)
{
	struct hub_remote_refs r;
	assert_int_equal(hub_git_ls_remote(&r, url), 0);
	const struct hub_remote_ref *x;
	assert_non_null(x = find(&r, "refs/heads/master"));
	assert_string_equal(x->oid, fx.c5);
	assert_string_equal(x->peeled, "");
	assert_non_null(x = find(&r, "refs/heads/dev"));
	assert_string_equal(x->oid, fx.c3);
	assert_non_null(x = find(&r, "refs/heads/side"));
	assert_string_equal(x->oid, fx.s2);
	assert_non_null(x = find(&r, "refs/tags/v1")); /* annotated */
	assert_string_equal(x->oid, fx.tag_v1);
	assert_string_equal(x->peeled, fx.c2);
	assert_non_null(x = find(&r, "refs/tags/v2")); /* lightweight */
	assert_string_equal(x->oid, fx.c1);
	assert_string_equal(x->peeled, "");
	for (size_t i = 0; i < r.n; i++)
		assert_null(strstr(r.refs[i].name, "^{}"));
	assert_non_null(r.head);
	assert_string_equal(r.head, "refs/heads/master");
	hub_git_refs_dispose(&r);
	assert_null(r.refs);
	assert_int_equal(r.n, 0);
}

static void url(char *out, size_t size, const char *base, const char *repo)
{
	snprintf(out, size, "%s/%s", base, repo);
}

static void test_ls_remote_git(void **state)
{
	(void)state;
	char u[256];
	url(u, sizeof(u), fx.git, "a.git");
	check_a_refs(u);
}

static void test_ls_remote_path(void **state)
{
	(void)state;
	char u[256];
	url(u, sizeof(u), fx.srv, "a.git");
	check_a_refs(u);
	snprintf(u, sizeof(u), "file://%s/a.git", fx.srv);
	check_a_refs(u);
}

static void test_ls_remote_http(void **state)
{
	(void)state;
	if (!fx.http_url[0])
		skip();
	char u[256];
	url(u, sizeof(u), fx.http_url, "a.git");
	check_a_refs(u);
}

static void test_ls_remote_no_head(void **state)
{
	(void)state;
	char u[256];
	url(u, sizeof(u), fx.git, "nohead.git");
	struct hub_remote_refs r;
	assert_int_equal(hub_git_ls_remote(&r, u), 0);
	assert_null(r.head);
	assert_non_null(find(&r, "refs/heads/master"));
	hub_git_refs_dispose(&r);
}

/* Size of all packs of a repository. */
static long long pack_bytes(const char *gitdir)
{
	char path[256];
	snprintf(path, sizeof(path), "%s/objects/pack", gitdir);
	DIR *d = opendir(path);
	assert_non_null(d);
	long long total = 0;
	struct dirent *e;
	while ((e = readdir(d))) {
		size_t len = strlen(e->d_name);
		if (len > 5 && strcmp(e->d_name + len - 5, ".pack") == 0) {
			char p[600];
			struct stat st;
			snprintf(p, sizeof(p), "%s/%s", path, e->d_name);
			assert_int_equal(stat(p, &st), 0);
			total += st.st_size;
		}
	}
	closedir(d);
	return total;
}

static bool has_object(const char *gitdir, const char *hex)
{
	git_repository *repo;
	git_odb *odb;
	git_oid id;
	assert_int_equal(git_repository_open_bare(&repo, gitdir), 0);
	assert_int_equal(git_repository_odb(&odb, repo), 0);
	assert_int_equal(git_oid_fromstr(&id, hex), 0);
	bool ok = git_odb_exists(odb, &id);
	git_odb_free(odb);
	git_repository_free(repo);
	return ok;
}

static void assert_ref(const char *gitdir, const char *name, const char *hex)
{
	char got[41];
	rev_parse(got, gitdir, name);
	assert_string_equal(got, hex);
}

static bool shallow_has(const char *gitdir, const char *hex)
{
	return sh("grep -qx %s %s/shallow", hex, gitdir) == 0;
}

static bool fsck_ok(const char *gitdir)
{
	return sh("git -C %s fsck --connectivity-only >/dev/null 2>&1", gitdir) == 0;
}

static void check_shallow_fetch(const char *base)
{
	char u[256];
	url(u, sizeof(u), base, "a.git");
	const char *shallow = new_gitdir();
	const char *spec[] = {"+refs/heads/master:refs/hubfs/heads/master"};
	assert_int_equal(hub_git_fetch(shallow, u, spec, 1, 1), 0);
	assert_ref(shallow, "refs/hubfs/heads/master", fx.c5);
	assert_true(has_object(shallow, fx.c5));
	assert_false(has_object(shallow, fx.c4)); /* the parent: shallow indeed */
	assert_true(shallow_has(shallow, fx.c5));
	assert_true(fsck_ok(shallow));

	const char *full = new_gitdir();
	assert_int_equal(hub_git_fetch(full, u, spec, 1, 0), 0);
	assert_true(has_object(full, fx.c1));
	assert_int_equal(sh("test -e %s/shallow", full), 1);
	long long s = pack_bytes(shallow), f = pack_bytes(full);
	assert_true(s > 0 && s * 2 < f);
}

static void test_fetch_shallow_git(void **state)
{
	(void)state;
	check_shallow_fetch(fx.git);
}

static void test_fetch_shallow_http(void **state)
{
	(void)state;
	if (!fx.http_url[0])
		skip();
	check_shallow_fetch(fx.http_url);
}

/*
 * libgit2 1.8 keeps only the last fetch's roots in the shallow file; git.c
 * merges the earlier ones back.  Without that, master's tip loses its mark
 * after "side" is fetched and the third fetch fails ("object not found").
 */
static void test_fetch_shallow_then_other_refs(void **state)
{
	(void)state;
	char u[256];
	url(u, sizeof(u), fx.git, "a.git");
	const char *g = new_gitdir();
	const char *master[] = {"+refs/heads/master:refs/hubfs/heads/master"};
	const char *side[] = {"+refs/heads/side:refs/hubfs/heads/side"};
	const char *dev[] = {"+refs/heads/dev:refs/hubfs/heads/dev"};
	assert_int_equal(hub_git_fetch(g, u, master, 1, 1), 0);
	assert_int_equal(hub_git_fetch(g, u, side, 1, 1), 0);
	assert_true(shallow_has(g, fx.c5));
	assert_true(shallow_has(g, fx.s2));
	assert_true(fsck_ok(g));
	assert_int_equal(hub_git_fetch(g, u, dev, 1, 1), 0);
	assert_ref(g, "refs/hubfs/heads/dev", fx.c3);
	assert_true(shallow_has(g, fx.c3));
	assert_true(fsck_ok(g));
	/* A commit by id, whole history, into the shallow repository. */
	char spec[128];
	snprintf(spec, sizeof(spec), "%s:refs/hubfs/commits/%s", fx.c2, fx.c2);
	const char *c2[] = {spec};
	assert_int_equal(hub_git_fetch(g, u, c2, 1, 0), 0);
	assert_true(has_object(g, fx.c1));
	assert_true(fsck_ok(g));
	/* Unshallow: everything, no shallow file left. */
	assert_int_equal(hub_git_fetch(g, u, master, 1, -1), 0);
	assert_true(has_object(g, fx.c4));
	assert_int_equal(sh("test -e %s/shallow", g), 1);
	assert_true(fsck_ok(g));
}

static void test_fetch_oid(void **state)
{
	(void)state;
	char u[256], spec[128];
	url(u, sizeof(u), fx.git, "a.git");
	snprintf(spec, sizeof(spec), "%s:refs/hubfs/commits/%s", fx.c4, fx.c4);
	const char *specs[] = {spec};
	const char *g = new_gitdir();
	assert_int_equal(hub_git_fetch(g, u, specs, 1, 1), 0);
	char ref[128];
	snprintf(ref, sizeof(ref), "refs/hubfs/commits/%s", fx.c4);
	assert_ref(g, ref, fx.c4);
	assert_false(has_object(g, fx.c3));
	if (fx.http_url[0]) {
		url(u, sizeof(u), fx.http_url, "a.git");
		g = new_gitdir();
		assert_int_equal(hub_git_fetch(g, u, specs, 1, 1), 0);
		assert_ref(g, ref, fx.c4);
	}
	/* From a path: libgit2 cannot go shallow there and takes everything. */
	url(u, sizeof(u), fx.srv, "a.git");
	g = new_gitdir();
	assert_int_equal(hub_git_fetch(g, u, specs, 1, 1), 0);
	assert_ref(g, ref, fx.c4);
}

/* Without uploadpack.allowAnySHA1InWant: refused at once, no hang. */
static void test_fetch_oid_refused(void **state)
{
	(void)state;
	char u[256], spec[128];
	url(u, sizeof(u), fx.git, "strict.git");
	snprintf(spec, sizeof(spec), "%s:refs/hubfs/commits/%s", fx.c4, fx.c4);
	const char *specs[] = {spec};
	double t0 = now();
	assert_int_equal(hub_git_fetch(new_gitdir(), u, specs, 1, 1), -ENOTSUP);
	assert_true(now() - t0 < 5);
}

static void test_fetch_oid_missing(void **state)
{
	(void)state;
	char u[256];
	const char *specs[] = {MISSING_OID ":refs/hubfs/commits/" MISSING_OID};
	const char *bases[] = {fx.git, fx.http_url, fx.srv};
	for (size_t i = 0; i < 3; i++) {
		if (!bases[i][0])
			continue;
		url(u, sizeof(u), bases[i], "a.git");
		assert_int_equal(hub_git_fetch(new_gitdir(), u, specs, 1, 1), -ENOENT);
		assert_int_equal(hub_git_fetch(new_gitdir(), u, specs, 1, 0), -ENOENT);
	}
}

static void test_missing(void **state)
{
	(void)state;
	char u[256];
	struct hub_remote_refs r;
	const char *master[] = {"+refs/heads/master:refs/hubfs/heads/master"};
	const char *nope[] = {"+refs/heads/nope:refs/hubfs/heads/nope"};
	const char *bases[] = {fx.git, fx.http_url, fx.srv};
	for (size_t i = 0; i < 3; i++) {
		if (!bases[i][0])
			continue;
		url(u, sizeof(u), bases[i], "nope.git");
		assert_int_equal(hub_git_ls_remote(&r, u), -ENOENT);
		assert_null(r.refs);
		assert_int_equal(hub_git_fetch(new_gitdir(), u, master, 1, 1), -ENOENT);
		url(u, sizeof(u), bases[i], "a.git");
		assert_int_equal(hub_git_fetch(new_gitdir(), u, nope, 1, 1), -ENOENT);
	}
	/* A branch deleted upstream after it was fetched. */
	assert_int_equal(sh("git clone -q --bare %s/a.git %s/gone.git", fx.srv, fx.srv), 0);
	url(u, sizeof(u), fx.git, "gone.git");
	const char *g = new_gitdir();
	const char *side[] = {"+refs/heads/side:refs/hubfs/heads/side"};
	assert_int_equal(hub_git_fetch(g, u, side, 1, 1), 0);
	assert_int_equal(sh("git -C %s/gone.git branch -q -D side", fx.srv), 0);
	assert_int_equal(hub_git_fetch(g, u, side, 1, 1), -ENOENT);
	/* A directory that is not a repository. */
	assert_int_equal(hub_git_ls_remote(&r, fx.dir), -ENOENT);
	snprintf(u, sizeof(u), "file://%s/nope.git", fx.srv);
	assert_int_equal(hub_git_ls_remote(&r, u), -ENOENT);
}

static void test_http_errors(void **state)
{
	(void)state;
	if (!fx.http_url[0])
		skip();
	char u[256];
	struct hub_remote_refs r;
	const char *master[] = {"+refs/heads/master:refs/hubfs/heads/master"};
	snprintf(u, sizeof(u), "%s/status/500/a.git", fx.http_url);
	assert_int_equal(hub_git_ls_remote(&r, u), -EIO);
	assert_int_equal(hub_git_fetch(new_gitdir(), u, master, 1, 1), -EIO);
	snprintf(u, sizeof(u), "%s/status/503/a.git", fx.http_url);
	assert_int_equal(hub_git_ls_remote(&r, u), -EIO);
	snprintf(u, sizeof(u), "%s/status/429/a.git", fx.http_url);
	assert_int_equal(hub_git_ls_remote(&r, u), -EIO);
	snprintf(u, sizeof(u), "%s/status/404/a.git", fx.http_url);
	assert_int_equal(hub_git_ls_remote(&r, u), -ENOENT);
	/* 401 without a token: does not exist for us.  A token is never sent
	 * over plain http, so even with one this stays ENOENT. */
	snprintf(u, sizeof(u), "%s/auth/good/a.git", fx.http_url);
	assert_int_equal(hub_git_ls_remote(&r, u), -ENOENT);
	setenv("GITHUB_TOKEN", "good", 1);
	assert_int_equal(hub_git_ls_remote(&r, u), -ENOENT);
	unsetenv("GITHUB_TOKEN");
}

static void test_https_token(void **state)
{
	(void)state;
	if (!fx.https_url[0])
		skip();
	char u[256];
	struct hub_remote_refs r;
	snprintf(u, sizeof(u), "%s/a.git", fx.https_url);
	/* TLS is verified: our throwaway certificate is not trusted yet. */
	assert_int_equal(hub_git_ls_remote(&r, u), -EIO);
	assert_int_equal(git_libgit2_opts(GIT_OPT_SET_SSL_CERT_LOCATIONS, fx.cert, NULL), 0);
	check_a_refs(u);

	snprintf(u, sizeof(u), "%s/auth/good/a.git", fx.https_url);
	assert_int_equal(hub_git_ls_remote(&r, u), -ENOENT);
	setenv("GITHUB_TOKEN", "good", 1);
	/* localhost is not GitHub: the token stays home (401: not found) ... */
	assert_int_equal(hub_git_ls_remote(&r, u), -ENOENT);
	/* ... unless token_host= names it */
	const char *hosts[] = {"localhost"};
	assert_int_equal(hub_git_set_token_hosts(hosts, 1), 0);
	check_a_refs(u);
	const char *master[] = {"+refs/heads/master:refs/hubfs/heads/master"};
	const char *g = new_gitdir();
	assert_int_equal(hub_git_fetch(g, u, master, 1, 1), 0);
	assert_ref(g, "refs/hubfs/heads/master", fx.c5);
	setenv("GITHUB_TOKEN", "bad", 1);
	double t0 = now();
	assert_int_equal(hub_git_ls_remote(&r, u), -EACCES); /* once, no loop */
	assert_int_equal(hub_git_fetch(new_gitdir(), u, master, 1, 1), -EACCES);
	assert_true(now() - t0 < 5);
	unsetenv("GITHUB_TOKEN");
	assert_int_equal(hub_git_set_token_hosts(NULL, 0), 0);
}

static void test_connection_refused(void **state)
{
	(void)state;
	char u[256];
	struct hub_remote_refs r;
	const char *master[] = {"+refs/heads/master:refs/hubfs/heads/master"};
	int port = free_port(); /* nothing listens there any more */
	snprintf(u, sizeof(u), "git://127.0.0.1:%d/a.git", port);
	assert_int_equal(hub_git_ls_remote(&r, u), -ECONNREFUSED);
	assert_int_equal(hub_git_fetch(new_gitdir(), u, master, 1, 1), -ECONNREFUSED);
	snprintf(u, sizeof(u), "http://127.0.0.1:%d/a.git", port);
	assert_int_equal(hub_git_ls_remote(&r, u), -ECONNREFUSED);
}

/* A server that accepts (the kernel does) and never answers. */
static void test_timeout(void **state)
{
	(void)state;
	int port;
	int s = hanging_server(&port);
	assert_int_equal(git_libgit2_opts(GIT_OPT_SET_SERVER_CONNECT_TIMEOUT, 1000), 0);
	assert_int_equal(git_libgit2_opts(GIT_OPT_SET_SERVER_TIMEOUT, 1000), 0);
	char u[256];
	struct hub_remote_refs r;
	const char *master[] = {"+refs/heads/master:refs/hubfs/heads/master"};
	double t0 = now();
	snprintf(u, sizeof(u), "git://127.0.0.1:%d/a.git", port);
	assert_int_equal(hub_git_ls_remote(&r, u), -ETIMEDOUT);
	assert_int_equal(hub_git_fetch(new_gitdir(), u, master, 1, 1), -ETIMEDOUT);
	snprintf(u, sizeof(u), "http://127.0.0.1:%d/a.git", port);
	assert_int_equal(hub_git_ls_remote(&r, u), -ETIMEDOUT);
	double took = now() - t0;
	close(s);
	git_libgit2_opts(GIT_OPT_SET_SERVER_CONNECT_TIMEOUT, 10000);
	git_libgit2_opts(GIT_OPT_SET_SERVER_TIMEOUT, 30000);
	assert_true(took >= 2.5 && took < 10);
}

static void test_fetch_args(void **state)
{
	(void)state;
	char u[256], spec[128];
	url(u, sizeof(u), fx.git, "a.git");
	const char *master[] = {"+refs/heads/master:refs/hubfs/heads/master"};
	assert_int_equal(hub_git_fetch(new_gitdir(), u, master, 0, 1), -EINVAL);
	assert_int_equal(hub_git_fetch(new_gitdir(), u, master, 1, -2), -EINVAL);
	snprintf(spec, sizeof(spec), "%s:refs/hubfs/commits/x", fx.c4);
	for (char *p = spec; *p != ':'; p++)
		if (*p >= 'a' && *p <= 'f')
			*p = (char)(*p - 'a' + 'A');
	const char *upper[] = {spec};
	assert_int_equal(hub_git_fetch(new_gitdir(), u, upper, 1, 1), -EINVAL);
}

struct race {
	pthread_barrier_t *barrier;
	const char *gitdir;
	const char *url;
	const char *spec;
	int rc;
};

static void *race_init(void *arg)
{
	struct race *r = arg;
	pthread_barrier_wait(r->barrier);
	r->rc = hub_git_init_bare(r->gitdir);
	return NULL;
}

static void *race_fetch(void *arg)
{
	struct race *r = arg;
	const char *specs[] = {r->spec};
	pthread_barrier_wait(r->barrier);
	r->rc = hub_git_fetch(r->gitdir, r->url, specs, 1, 1);
	return NULL;
}

static void test_init_bare_race(void **state)
{
	(void)state;
	enum { N = 8 };
	char dir[160], gitdir[200];
	snprintf(dir, sizeof(dir), "%s/race", fx.dir);
	snprintf(gitdir, sizeof(gitdir), "%s/deep/er/x.git", dir);
	pthread_barrier_t b;
	pthread_barrier_init(&b, NULL, N);
	pthread_t t[N];
	struct race r[N];
	for (int i = 0; i < N; i++) {
		r[i] = (struct race){.barrier = &b, .gitdir = gitdir};
		pthread_create(&t[i], NULL, race_init, &r[i]);
	}
	for (int i = 0; i < N; i++) {
		pthread_join(t[i], NULL);
		assert_int_equal(r[i].rc, 0);
	}
	pthread_barrier_destroy(&b);
	git_repository *repo;
	assert_int_equal(git_repository_open_bare(&repo, gitdir), 0);
	assert_true(git_repository_is_bare(repo));
	git_repository_free(repo);
	/* No temporary directory left behind, and a second call is a no-op. */
	assert_int_equal(sh("test $(ls -A %s/deep/er | wc -l) -eq 1", dir), 0);
	assert_int_equal(hub_git_init_bare(gitdir), 0);
	/* Something else in the way. */
	snprintf(gitdir, sizeof(gitdir), "%s/notrepo", dir);
	assert_int_equal(sh("mkdir -p %s && touch %s/file", gitdir, gitdir), 0);
	assert_int_equal(hub_git_init_bare(gitdir), -EEXIST);
}

/* Fetches on different gitdirs from many threads, and two on one gitdir. */
static void test_parallel_fetches(void **state)
{
	(void)state;
	enum { N = 6 };
	char u[256];
	url(u, sizeof(u), fx.git, "a.git");
	static char dirs[N][160];
	const char *specs[] = {"+refs/heads/master:refs/hubfs/heads/master",
			       "+refs/heads/side:refs/hubfs/heads/side",
			       "+refs/heads/dev:refs/hubfs/heads/dev"};
	pthread_barrier_t b;
	pthread_barrier_init(&b, NULL, N);
	pthread_t t[N];
	struct race r[N];
	for (int i = 0; i < N; i++) {
		/* threads 0 and 1 share a gitdir */
		snprintf(dirs[i], sizeof(dirs[i]), "%s/cache/par%d.git", fx.dir, i == 1 ? 0 : i);
		r[i] = (struct race){.barrier = &b, .gitdir = dirs[i], .url = u,
				     .spec = specs[i % 3]};
		pthread_create(&t[i], NULL, race_fetch, &r[i]);
	}
	for (int i = 0; i < N; i++) {
		pthread_join(t[i], NULL);
		assert_int_equal(r[i].rc, 0);
	}
	pthread_barrier_destroy(&b);
	assert_ref(dirs[0], "refs/hubfs/heads/master", fx.c5);
	assert_ref(dirs[0], "refs/hubfs/heads/side", fx.s2);
	assert_true(fsck_ok(dirs[0]));
}

/* hub_git_reach: tips (branch, annotated and lightweight tag), ancestors
 * (also into a shallow repository), the fork's commit, the deadline. */
static void test_reach(void **state)
{
	(void)state;
	char u[256];
	url(u, sizeof(u), fx.git, "fork.git");
	struct hub_git_reach v;
	const char *g = new_gitdir();
	assert_int_equal(hub_git_reach(&v, g, u, fx.c5, 60), 0);
	assert_true(v.reachable);
	assert_string_equal(v.via, "refs/heads/master");
	assert_int_equal(hub_git_reach(&v, g, u, fx.c2, 60), 0); /* v1 peels to it */
	assert_true(v.reachable);
	assert_string_equal(v.via, "refs/tags/v1");
	assert_int_equal(hub_git_reach(&v, g, u, fx.c1, 60), 0); /* v2, and dev's root */
	assert_true(v.reachable);
	/* a shallow repository first: the fork's commit, depth 1, as hubfs
	 * fetches <repo>@<sha> */
	char spec[128];
	snprintf(spec, sizeof(spec), "%s:refs/hubfs/commits/%s", fx.fork, fx.fork);
	const char *specs[] = {spec};
	assert_int_equal(hub_git_fetch(g, u, specs, 1, 1), 0);
	assert_int_equal(hub_git_reach(&v, g, u, fx.c4, 60), 0); /* an ancestor of master */
	assert_true(v.reachable);
	assert_string_equal(v.via, "");
	assert_int_equal(hub_git_reach(&v, g, u, fx.fork, 60), 0);
	assert_false(v.reachable);
	/* side's first commit, from another fresh repository (nothing local) */
	char s1[41];
	char w[128];
	snprintf(w, sizeof(w), "%s/w", fx.dir);
	rev_parse(s1, w, "side~1");
	assert_int_equal(hub_git_reach(&v, new_gitdir(), u, s1, 60), 0);
	assert_true(v.reachable);
	/* no time left after the listing: a tip still answers, the rest times out */
	assert_int_equal(hub_git_reach(&v, new_gitdir(), u, fx.c5, 0), 0);
	assert_true(v.reachable);
	assert_int_equal(hub_git_reach(&v, new_gitdir(), u, fx.c3 /* dev */, 0), 0);
	assert_true(v.reachable);
	assert_int_equal(hub_git_reach(&v, new_gitdir(), u, fx.c4, 0), -ETIMEDOUT);
	assert_false(v.reachable);
	/* bad input, a repository that does not exist */
	assert_int_equal(hub_git_reach(&v, g, u, "c5", 60), -EINVAL);
	url(u, sizeof(u), fx.git, "nope.git");
	assert_int_equal(hub_git_reach(&v, new_gitdir(), u, fx.c5, 60), -ENOENT);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ls_remote_git),
		cmocka_unit_test(test_ls_remote_path),
		cmocka_unit_test(test_ls_remote_http),
		cmocka_unit_test(test_ls_remote_no_head),
		cmocka_unit_test(test_fetch_shallow_git),
		cmocka_unit_test(test_fetch_shallow_http),
		cmocka_unit_test(test_fetch_shallow_then_other_refs),
		cmocka_unit_test(test_fetch_oid),
		cmocka_unit_test(test_fetch_oid_refused),
		cmocka_unit_test(test_fetch_oid_missing),
		cmocka_unit_test(test_missing),
		cmocka_unit_test(test_http_errors),
		cmocka_unit_test(test_https_token),
		cmocka_unit_test(test_connection_refused),
		cmocka_unit_test(test_timeout),
		cmocka_unit_test(test_fetch_args),
		cmocka_unit_test(test_init_bare_race),
		cmocka_unit_test(test_parallel_fetches),
		cmocka_unit_test(test_reach),
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
