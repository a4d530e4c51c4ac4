/*
 * Unit tests for fs/options.c: the command-line forms, -o lists and the
 * options passed through to libfuse, bad values, the JSON config file
 * (explicit and default path, precedence), rewrite rules and git_url
 * expansion (fetch/rewrite.h) on the parsed options,
 * and the cache root rule.  The environment is a fake table handed in as
 * hub_getenv_fn, so the real $HOME and its config are never read; config
 * files live in a temporary directory made per test.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
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

#include "fs/options.h"

/* ---- fake environment -------------------------------------------------- */

#define ENV_MAX 8
static const char *env_names[ENV_MAX];
static const char *env_values[ENV_MAX];

static const char *fake_env(const char *name)
{
	for (int i = 0; i < ENV_MAX; i++)
		if (env_names[i] && strcmp(env_names[i], name) == 0)
			return env_values[i];
	return NULL;
}

static void env_set(const char *name, const char *value)
{
	for (int i = 0; i < ENV_MAX; i++) {
		if (!env_names[i] || strcmp(env_names[i], name) == 0) {
			env_names[i] = name;
			env_values[i] = value;
			return;
		}
	}
	fail_msg("fake environment full");
}

/* ---- temporary directory ----------------------------------------------- */

static char tmpdir[64];

static int setup(void **state)
{
	(void)state;
	memset(env_names, 0, sizeof(env_names));
	memset(env_values, 0, sizeof(env_values));
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/hubfs-test-options-XXXXXX");
	return mkdtemp(tmpdir) ? 0 : -1;
}

static int teardown(void **state)
{
	(void)state;
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	return system(cmd) == 0 ? 0 : -1;
}

/* Write text to tmpdir/rel (creating directories); returns the static path. */
static const char *write_file(const char *rel, const char *text)
{
	static char path[PATH_MAX];
	snprintf(path, sizeof(path), "%s/%s", tmpdir, rel);
	for (char *p = path + strlen(tmpdir) + 1; *p; p++) {
		if (*p == '/') {
			*p = '\0';
			mkdir(path, 0700);
			*p = '/';
		}
	}
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	assert_int_equal(fclose(f), 0);
	return path;
}

/* ---- parse helpers ----------------------------------------------------- */

static char err[512];

/* hub_options_parse on a NULL-terminated list of arguments after "hubfs". */
static int parse(struct hub_options *o, ...)
{
	char *argv[64] = {"hubfs"};
	int argc = 1;
	va_list ap;
	va_start(ap, o);
	for (char *a; (a = va_arg(ap, char *));)
		argv[argc++] = a;
	va_end(ap);
	err[0] = '\0';
	return hub_options_parse(o, argc, argv, fake_env, err, sizeof(err));
}

/* After a failed parse: one line of error, and nothing left to free. */
static void assert_failed(const struct hub_options *o)
{
	assert_true(err[0] != '\0');
	assert_null(strchr(err, '\n'));
	assert_null(o->mountpoint);
	assert_null(o->git_url);
	assert_null(o->fuse_argv);
	assert_int_equal(o->rewrites.n, 0);
}

static void assert_fuse_argv(const struct hub_options *o, const char *opts)
{
	assert_non_null(o->fuse_argv);
	assert_string_equal(o->fuse_argv[0], "hubfs");
	if (!opts) {
		assert_int_equal(o->fuse_argc, 1);
		assert_null(o->fuse_argv[1]);
		return;
	}
	assert_int_equal(o->fuse_argc, 3);
	assert_string_equal(o->fuse_argv[1], "-o");
	assert_string_equal(o->fuse_argv[2], opts);
	assert_null(o->fuse_argv[3]);
}

/* ---- command line ------------------------------------------------------ */

static void test_minimal(void **state)
{
	(void)state;
	struct hub_options o;
	assert_int_equal(parse(&o, "/mnt/hub", NULL), 0);
	assert_int_equal(o.cmd, HUB_CMD_MOUNT);
	assert_string_equal(o.mountpoint, "/mnt/hub");
	assert_null(o.source);
	assert_false(o.foreground);
	assert_false(o.debug);
	assert_false(o.single_thread);
	assert_null(o.cache_dir);
	assert_string_equal(o.git_url, "https://github.com/{owner}/{repo}.git");
	assert_int_equal(o.rewrites.n, 0);
	assert_false(o.offline);
	assert_int_equal(o.ref_ttl, HUB_REF_TTL_DEFAULT);
	assert_int_equal(o.neg_ttl, HUB_NEG_TTL_DEFAULT);
	assert_int_equal(o.verify, HUB_VERIFY_STREAM);
	assert_null(o.config_path);
	assert_int_equal(o.cli_set, 0);
	assert_fuse_argv(&o, NULL);
	hub_options_dispose(&o);
	hub_options_dispose(&o); /* twice is harmless */
}

static void test_flags(void **state)
{
	(void)state;
	struct hub_options o;
	assert_int_equal(parse(&o, "-f", "/m", NULL), 0);
	assert_true(o.foreground);
	assert_false(o.debug);
	hub_options_dispose(&o);

	assert_int_equal(parse(&o, "-d", "/m", NULL), 0);
	assert_true(o.debug);
	assert_true(o.foreground); /* implied */
	assert_fuse_argv(&o, NULL);
	hub_options_dispose(&o);

	assert_int_equal(parse(&o, "/m", "-s", NULL), 0);
	assert_true(o.single_thread);
	assert_false(o.foreground);
	hub_options_dispose(&o);

	assert_int_equal(parse(&o, "-fs", "/m", NULL), 0);
	assert_true(o.foreground);
	assert_true(o.single_thread);
	hub_options_dispose(&o);
}

static void test_source_form(void **state)
{
	(void)state;
	struct hub_options o;
	/* as mount.fuse3 calls it: SOURCE MOUNTPOINT -o ... */
	assert_int_equal(parse(&o, "hubfs", "/mnt/hub", "-o", "rw,nosuid,nodev,cache=/c", NULL), 0);
	assert_int_equal(o.cmd, HUB_CMD_MOUNT);
	assert_string_equal(o.source, "hubfs");
	assert_string_equal(o.mountpoint, "/mnt/hub");
	assert_string_equal(o.cache_dir, "/c");
	assert_fuse_argv(&o, "rw,nosuid,nodev");
	hub_options_dispose(&o);
}

static void test_option_list(void **state)
{
	(void)state;
	struct hub_options o;
	assert_int_equal(parse(&o, "-o",
			       "cache=/var/cache/hub,offline,ref_ttl=5,neg_ttl=0,verify=strict,"
			       "git_url=file:///srv/{owner}/{repo}",
			       "/m", NULL),
			 0);
	assert_string_equal(o.cache_dir, "/var/cache/hub");
	assert_true(o.offline);
	assert_int_equal(o.ref_ttl, 5);
	assert_int_equal(o.neg_ttl, 0);
	assert_int_equal(o.verify, HUB_VERIFY_STRICT);
	assert_string_equal(o.git_url, "file:///srv/{owner}/{repo}");
	assert_int_equal(o.cli_set, HUB_OPT_CACHE | HUB_OPT_OFFLINE | HUB_OPT_REF_TTL |
					    HUB_OPT_NEG_TTL | HUB_OPT_VERIFY | HUB_OPT_GIT_URL);
	assert_fuse_argv(&o, NULL);
	hub_options_dispose(&o);

	/* attached form, and verify=stream */
	assert_int_equal(parse(&o, "-overify=stream", "/m", NULL), 0);
	assert_int_equal(o.verify, HUB_VERIFY_STREAM);
	assert_int_equal(o.cli_set, HUB_OPT_VERIFY);
	hub_options_dispose(&o);

	/* empty items are ignored */
	assert_int_equal(parse(&o, "-o", ",offline,,", "/m", NULL), 0);
	assert_true(o.offline);
	assert_fuse_argv(&o, NULL);
	hub_options_dispose(&o);
}

static void test_fuse_passthrough(void **state)
{
	(void)state;
	struct hub_options o;
	assert_int_equal(parse(&o, "-o", "allow_other", "-oro,default_permissions", "/m", "-o",
			       "offline,fsname=hub,subtype=hubfs,max_read=131072,nosuid,nodev", NULL),
			 0);
	assert_true(o.offline);
	assert_fuse_argv(&o, "allow_other,ro,default_permissions,fsname=hub,subtype=hubfs,"
			     "max_read=131072,nosuid,nodev");
	hub_options_dispose(&o);

	/* names that merely start like ours are libfuse's business */
	assert_int_equal(parse(&o, "-o", "cachex=1,offline_mode,kernel_cache", "/m", NULL), 0);
	assert_null(o.cache_dir);
	assert_false(o.offline);
	assert_fuse_argv(&o, "cachex=1,offline_mode,kernel_cache");
	hub_options_dispose(&o);
}

static void test_escaped_comma(void **state)
{
	(void)state;
	struct hub_options o;
	assert_int_equal(parse(&o, "-o", "fsname=a\\,b,cache=/x\\,y,rewrite=a=b\\,c", "/m", NULL),
			 0);
	assert_string_equal(o.cache_dir, "/x,y");
	assert_int_equal(o.rewrites.n, 1);
	assert_string_equal(o.rewrites.rule[0].to, "b,c");
	assert_fuse_argv(&o, "fsname=a\\,b"); /* left escaped for libfuse */
	hub_options_dispose(&o);
}

static void test_rewrite_option(void **state)
{
	(void)state;
	struct hub_options o;
	assert_int_equal(parse(&o, "-o",
			       "rewrite=https://github.com/=file:///srv/git/,rewrite=a=b=c,rewrite=x=",
			       "/m", NULL),
			 0);
	assert_int_equal(o.rewrites.n, 3);
	assert_string_equal(o.rewrites.rule[0].from, "https://github.com/");
	assert_string_equal(o.rewrites.rule[0].to, "file:///srv/git/");
	assert_string_equal(o.rewrites.rule[1].from, "a"); /* split at the first '=' */
	assert_string_equal(o.rewrites.rule[1].to, "b=c");
	assert_string_equal(o.rewrites.rule[2].from, "x");
	assert_string_equal(o.rewrites.rule[2].to, "");
	hub_options_dispose(&o);
}

static void test_duplicates(void **state)
{
	(void)state;
	struct hub_options o;
	/* the last of a repeated option wins; rewrite accumulates */
	assert_int_equal(parse(&o, "-o", "ref_ttl=1,ref_ttl=2", "-o", "cache=/a", "-o", "cache=/b",
			       "-o", "verify=strict,verify=stream", "-o", "offline,offline", "-o",
			       "rewrite=a=1,rewrite=a=2", "-f", "-f", "/m", NULL),
			 0);
	assert_int_equal(o.ref_ttl, 2);
	assert_string_equal(o.cache_dir, "/b");
	assert_int_equal(o.verify, HUB_VERIFY_STREAM);
	assert_true(o.offline);
	assert_int_equal(o.rewrites.n, 2);
	assert_true(o.foreground);
	hub_options_dispose(&o);
}

static void test_status(void **state)
{
	(void)state;
	struct hub_options o;
	assert_int_equal(parse(&o, "status", "/mnt/hub", NULL), 0);
	assert_int_equal(o.cmd, HUB_CMD_STATUS);
	assert_string_equal(o.mountpoint, "/mnt/hub");
	assert_non_null(o.git_url);
	hub_options_dispose(&o);

	assert_int_equal(parse(&o, "status", NULL), -EINVAL);
	assert_string_equal(err, "missing mountpoint");
	assert_failed(&o);

	assert_int_equal(parse(&o, "status", "/a", "/b", NULL), -EINVAL);
	assert_string_equal(err, "unexpected argument: '/b'");
	assert_failed(&o);

	/* "status" after an option is a SOURCE, not the command */
	assert_int_equal(parse(&o, "-f", "status", "/m", NULL), 0);
	assert_int_equal(o.cmd, HUB_CMD_MOUNT);
	assert_string_equal(o.source, "status");
	hub_options_dispose(&o);
}

static void test_help_version(void **state)
{
	(void)state;
	struct hub_options o;
	const struct {
		const char *arg;
		enum hub_cmd cmd;
	} cases[] = {{"--help", HUB_CMD_HELP},
		     {"-h", HUB_CMD_HELP},
		     {"--version", HUB_CMD_VERSION},
		     {"-V", HUB_CMD_VERSION}};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		assert_int_equal(parse(&o, cases[i].arg, NULL), 0);
		assert_int_equal(o.cmd, cases[i].cmd);
		hub_options_dispose(&o);
		/* wins over anything else on the line */
		assert_int_equal(parse(&o, "/m", "--bogus", "-o", "ref_ttl=x", cases[i].arg, NULL),
				 0);
		assert_int_equal(o.cmd, cases[i].cmd);
		hub_options_dispose(&o);
	}
	/* after "--" it is a mountpoint */
	assert_int_equal(parse(&o, "--", "--help", NULL), 0);
	assert_int_equal(o.cmd, HUB_CMD_MOUNT);
	assert_string_equal(o.mountpoint, "--help");
	hub_options_dispose(&o);
	/* the argument of -o is not a flag */
	assert_int_equal(parse(&o, "-o", "-h", "/m", NULL), 0);
	assert_int_equal(o.cmd, HUB_CMD_MOUNT);
	assert_fuse_argv(&o, "-h");
	hub_options_dispose(&o);
}

static void test_missing_mountpoint(void **state)
{
	(void)state;
	struct hub_options o;
	assert_int_equal(parse(&o, NULL), -EINVAL);
	assert_string_equal(err, "missing mountpoint");
	assert_failed(&o);
	assert_int_equal(parse(&o, "-f", "-o", "offline", NULL), -EINVAL);
	assert_string_equal(err, "missing mountpoint");
	assert_failed(&o);
	assert_int_equal(parse(&o, "", NULL), -EINVAL);
	assert_string_equal(err, "missing mountpoint");
	assert_failed(&o);
}

static void test_bad_arguments(void **state)
{
	(void)state;
	struct hub_options o;
	assert_int_equal(parse(&o, "--bogus", "/m", NULL), -EINVAL);
	assert_string_equal(err, "unknown argument: '--bogus'");
	assert_failed(&o);
	assert_int_equal(parse(&o, "/m", "-x", NULL), -EINVAL);
	assert_string_equal(err, "unknown argument: '-x'");
	assert_failed(&o);
	assert_int_equal(parse(&o, "/m", "-o", NULL), -EINVAL);
	assert_string_equal(err, "missing argument to -o");
	assert_failed(&o);
	assert_int_equal(parse(&o, "a", "b", "c", NULL), -EINVAL);
	assert_string_equal(err, "unexpected argument: 'c'");
	assert_failed(&o);

	/* "--" ends the options; "-" is a plain argument */
	assert_int_equal(parse(&o, "--", "-weird", NULL), 0);
	assert_string_equal(o.mountpoint, "-weird");
	hub_options_dispose(&o);
	assert_int_equal(parse(&o, "-", NULL), 0);
	assert_string_equal(o.mountpoint, "-");
	hub_options_dispose(&o);
}

static void test_bad_values(void **state)
{
	(void)state;
	const struct {
		const char *opt;
		const char *msg; /* exact, or NULL for "some line" */
	} cases[] = {
		{"ref_ttl=x", "bad value for ref_ttl: 'x' (expected seconds)"},
		{"ref_ttl=-1", "bad value for ref_ttl: '-1' (expected seconds)"},
		{"ref_ttl=+5", NULL},
		{"ref_ttl= 5", NULL},
		{"ref_ttl=5s", NULL},
		{"ref_ttl=1.5", NULL},
		{"ref_ttl=", NULL},
		{"ref_ttl", "missing value for ref_ttl (expected ref_ttl=...)"},
		{"neg_ttl=99999999999999999999", NULL},
		{"neg_ttl=abc", "bad value for neg_ttl: 'abc' (expected seconds)"},
		{"verify=maybe", "bad value for verify: 'maybe' (expected stream or strict)"},
		{"verify=", NULL},
		{"offline=1", NULL},
		{"cache=", "empty value for cache"},
		{"cache", NULL},
		{"git_url=", "empty value for git_url"},
		{"config=", "empty value for config"},
		{"rewrite=nofrom", "bad rewrite rule: 'nofrom' (expected FROM=TO)"},
		{"rewrite==x", NULL},
		{"rewrite=", NULL},
		{"rewrite", NULL},
		{"ref_ttl=a\nb", NULL},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct hub_options o;
		int rc = parse(&o, "-o", cases[i].opt, "/m", NULL);
		if (rc != -EINVAL)
			fail_msg("'%s': rc %d", cases[i].opt, rc);
		assert_failed(&o);
		if (cases[i].msg)
			assert_string_equal(err, cases[i].msg);
	}
}

static void test_too_many_rewrites(void **state)
{
	(void)state;
	static char list[HUB_REWRITE_MAX * 16 + 16];
	size_t n = 0;
	for (int i = 0; i < HUB_REWRITE_MAX; i++)
		n += (size_t)snprintf(list + n, sizeof(list) - n, "%srewrite=f%d=t", i ? "," : "", i);
	struct hub_options o;
	assert_int_equal(parse(&o, "-o", list, "/m", NULL), 0);
	assert_int_equal(o.rewrites.n, HUB_REWRITE_MAX);
	hub_options_dispose(&o);

	snprintf(list + n, sizeof(list) - n, ",rewrite=one=more");
	assert_int_equal(parse(&o, "-o", list, "/m", NULL), -EINVAL);
	assert_non_null(strstr(err, "too many rewrite rules"));
	assert_failed(&o);
}

static void test_cache_absolute(void **state)
{
	(void)state;
	char cwd[PATH_MAX], want[PATH_MAX + 32];
	assert_non_null(getcwd(cwd, sizeof(cwd)));
	struct hub_options o;

	assert_int_equal(parse(&o, "-o", "cache=rel/dir/", "/m", NULL), 0);
	snprintf(want, sizeof(want), "%s/rel/dir", cwd);
	assert_string_equal(o.cache_dir, want);
	hub_options_dispose(&o);

	env_set("HOME", "/home/u");
	assert_int_equal(parse(&o, "-o", "cache=~/c", "/m", NULL), 0);
	assert_string_equal(o.cache_dir, "/home/u/c");
	hub_options_dispose(&o);

	assert_int_equal(parse(&o, "-o", "cache=/a//b/", "/m", NULL), 0);
	assert_string_equal(o.cache_dir, "/a/b");
	hub_options_dispose(&o);
}

static void test_usage(void **state)
{
	(void)state;
	char path[PATH_MAX];
	snprintf(path, sizeof(path), "%s/usage.txt", tmpdir);
	fflush(stdout);
	int saved = dup(STDOUT_FILENO);
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	assert_true(saved >= 0 && fd >= 0);
	dup2(fd, STDOUT_FILENO);
	close(fd);
	hub_options_usage("hubfs");
	fflush(stdout);
	dup2(saved, STDOUT_FILENO);
	close(saved);

	static char text[8192];
	FILE *f = fopen(path, "r");
	assert_non_null(f);
	size_t n = fread(text, 1, sizeof(text) - 1, f);
	fclose(f);
	text[n] = '\0';
	const char *must[] = {"Usage: hubfs", "status MOUNTPOINT", "--help", "--version",
			      "-f",           "-d",                "-s",     "-o",
			      "cache=DIR",    "git_url=TEMPLATE",  "rewrite=FROM=TO",
			      "offline",      "ref_ttl=SECONDS",   "neg_ttl=SECONDS",
			      "verify=stream|strict", "config=FILE", "allow_other",
			      "token_host=HOST",
			      "fusermount3 -u"};
	for (size_t i = 0; i < sizeof(must) / sizeof(must[0]); i++)
		if (!strstr(text, must[i]))
			fail_msg("usage lacks '%s'", must[i]);
}

/* ---- config file ------------------------------------------------------- */

static void test_config_all_keys(void **state)
{
	(void)state;
	const char *path = write_file(
		"all.json", "{\n"
			    "  \"cache\": \"/c\",\n"
			    "  \"git_url\": \"file:///g/{owner}/{repo}\",\n"
			    "  \"rewrite\": [\"a=b\", \"c=d=e\"],\n"
			    "  \"offline\": true,\n"
			    "  \"ref_ttl\": 5,\n"
			    "  \"neg_ttl\": 7,\n"
			    "  \"verify\": \"strict\"\n"
			    "}\n");
	char opt[PATH_MAX + 16];
	snprintf(opt, sizeof(opt), "config=%s", path);
	struct hub_options o;
	assert_int_equal(parse(&o, "-o", opt, "/m", NULL), 0);
	assert_string_equal(o.config_path, path);
	assert_string_equal(o.cache_dir, "/c");
	assert_string_equal(o.git_url, "file:///g/{owner}/{repo}");
	assert_int_equal(o.rewrites.n, 2);
	assert_string_equal(o.rewrites.rule[0].from, "a");
	assert_string_equal(o.rewrites.rule[0].to, "b");
	assert_string_equal(o.rewrites.rule[1].from, "c");
	assert_string_equal(o.rewrites.rule[1].to, "d=e");
	assert_true(o.offline);
	assert_int_equal(o.ref_ttl, 5);
	assert_int_equal(o.neg_ttl, 7);
	assert_int_equal(o.verify, HUB_VERIFY_STRICT);
	assert_fuse_argv(&o, NULL); /* config= is ours, not libfuse's */
	hub_options_dispose(&o);
}

static void test_config_rewrite_object(void **state)
{
	(void)state;
	const char *path = write_file(
		"obj.json", "{\"rewrite\": {\"https://github.com/\": \"file:///m/\", \"x=y\": \"z\"}}");
	char opt[PATH_MAX + 16];
	snprintf(opt, sizeof(opt), "config=%s", path);
	struct hub_options o;
	assert_int_equal(parse(&o, "-o", opt, "/m", NULL), 0);
	assert_int_equal(o.rewrites.n, 2);
	assert_string_equal(o.rewrites.rule[0].from, "https://github.com/");
	assert_string_equal(o.rewrites.rule[0].to, "file:///m/");
	assert_string_equal(o.rewrites.rule[1].from, "x=y"); /* '=' is fine in the object form */
	assert_string_equal(o.rewrites.rule[1].to, "z");
	hub_options_dispose(&o);
}

static void test_config_precedence(void **state)
{
	(void)state;
	const char *path = write_file("prec.json",
				      "{\"cache\": \"/cfg\", \"ref_ttl\": 9, \"neg_ttl\": 7,"
				      " \"verify\": \"strict\", \"offline\": false,"
				      " \"git_url\": \"file:///cfg/{repo}\","
				      " \"rewrite\": [\"a=cfg\", \"b=cfg\"]}");
	char opt[PATH_MAX + 16];
	snprintf(opt, sizeof(opt), "config=%s", path);
	struct hub_options o;
	/* config= first: the options after it still win */
	assert_int_equal(parse(&o, "-o", opt, "-o",
			       "cache=/cli,ref_ttl=1,verify=stream,offline,rewrite=a=cli", "/m",
			       NULL),
			 0);
	assert_string_equal(o.cache_dir, "/cli");
	assert_int_equal(o.ref_ttl, 1);
	assert_int_equal(o.neg_ttl, 7); /* not on the command line: from the config */
	assert_int_equal(o.verify, HUB_VERIFY_STREAM);
	assert_true(o.offline);
	assert_string_equal(o.git_url, "file:///cfg/{repo}");
	/* rules: command line first, then the config's */
	assert_int_equal(o.rewrites.n, 3);
	assert_string_equal(o.rewrites.rule[0].to, "cli");
	assert_string_equal(o.rewrites.rule[1].to, "cfg");
	assert_string_equal(o.rewrites.rule[2].to, "cfg");
	char url[64];
	assert_int_equal(hub_rewrite_apply(url, sizeof(url), &o.rewrites, "a/x"), 5);
	assert_string_equal(url, "cli/x"); /* equal FROM: the command line's rule */
	assert_int_equal(hub_rewrite_apply(url, sizeof(url), &o.rewrites, "b/x"), 5);
	assert_string_equal(url, "cfg/x");
	hub_options_dispose(&o);
}

static void test_config_errors(void **state)
{
	(void)state;
	const struct {
		const char *json;
		const char *msg; /* substring of err */
	} cases[] = {
		{"{\"bogus\": 1}", "unknown key 'bogus'"},
		{"{\"config\": \"/x\"}", "unknown key 'config'"},
		{"{\"cache\": \"/c\",}", "invalid JSON"},
		{"{\n\n\"cache\" \"/c\"}", "invalid JSON near line 3"},
		{"", "invalid JSON"},
		{"{} x", "trailing data"},
		{"[1]", "expected a JSON object"},
		{"{\"ref_ttl\": \"5\"}", "ref_ttl"},
		{"{\"ref_ttl\": -1}", "ref_ttl"},
		{"{\"neg_ttl\": 1.5}", "neg_ttl"},
		{"{\"neg_ttl\": 1e30}", "neg_ttl"},
		{"{\"offline\": \"yes\"}", "offline"},
		{"{\"offline\": 1}", "offline"},
		{"{\"cache\": 1}", "cache must be a string"},
		{"{\"cache\": \"\"}", "empty value for cache"},
		{"{\"git_url\": null}", "git_url must be a string"},
		{"{\"verify\": \"x\"}", "bad value for verify: 'x'"},
		{"{\"rewrite\": \"a=b\"}", "rewrite must be"},
		{"{\"rewrite\": [1]}", "rewrite"},
		{"{\"rewrite\": [\"ab\"]}", "bad rewrite rule: 'ab'"},
		{"{\"rewrite\": [\"=b\"]}", "bad rewrite rule"},
		{"{\"rewrite\": {\"a\": 1}}", "rewrite"},
		{"{\"rewrite\": {\"\": \"b\"}}", "empty FROM"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const char *path = write_file("bad.json", cases[i].json);
		char opt[PATH_MAX + 16];
		snprintf(opt, sizeof(opt), "config=%s", path);
		struct hub_options o;
		int rc = parse(&o, "-o", opt, "/m", NULL);
		if (rc != -EINVAL || !strstr(err, cases[i].msg))
			fail_msg("case %zu %s: rc %d, err '%s'", i, cases[i].json, rc, err);
		assert_non_null(strstr(err, path)); /* names the file */
		assert_failed(&o);
	}
}

static void test_config_unreadable(void **state)
{
	(void)state;
	struct hub_options o;
	char opt[PATH_MAX + 32];
	snprintf(opt, sizeof(opt), "config=%s/missing.json", tmpdir);
	assert_int_equal(parse(&o, "-o", opt, "/m", NULL), -ENOENT);
	assert_non_null(strstr(err, "cannot read config"));
	assert_non_null(strstr(err, "missing.json"));
	assert_failed(&o);

	snprintf(opt, sizeof(opt), "config=%s", tmpdir); /* a directory */
	assert_int_equal(parse(&o, "-o", opt, "/m", NULL), -EISDIR);
	assert_failed(&o);
}

static void test_config_too_large(void **state)
{
	(void)state;
	char path[PATH_MAX];
	snprintf(path, sizeof(path), "%s/big.json", tmpdir);
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fputc('{', f);
	for (size_t i = 1; i < HUB_JSON_MAX; i++)
		fputc(' ', f);
	fputs("}\n", f); /* HUB_JSON_MAX + 1 bytes */
	assert_int_equal(fclose(f), 0);
	char opt[PATH_MAX + 16];
	snprintf(opt, sizeof(opt), "config=%s", path);
	struct hub_options o;
	assert_int_equal(parse(&o, "-o", opt, "/m", NULL), -EFBIG);
	assert_non_null(strstr(err, "larger than"));
	assert_failed(&o);

	/* exactly HUB_JSON_MAX bytes is still fine */
	assert_int_equal(truncate(path, HUB_JSON_MAX - 1), 0);
	f = fopen(path, "a");
	fputc('}', f);
	fclose(f);
	assert_int_equal(parse(&o, "-o", opt, "/m", NULL), 0);
	hub_options_dispose(&o);
}

static void test_config_default_path(void **state)
{
	(void)state;
	struct hub_options o;
	char xdg[PATH_MAX], home[PATH_MAX], want[PATH_MAX + 32];
	snprintf(xdg, sizeof(xdg), "%s/xdg", tmpdir);
	snprintf(home, sizeof(home), "%s/home", tmpdir);

	/* nothing there: no config, no error */
	env_set("XDG_CONFIG_HOME", xdg);
	env_set("HOME", home);
	assert_int_equal(parse(&o, "/m", NULL), 0);
	assert_null(o.config_path);
	hub_options_dispose(&o);

	/* $HOME/.config is not consulted when $XDG_CONFIG_HOME is set */
	write_file("home/.config/hubfs/config.json", "{\"ref_ttl\": 11}");
	assert_int_equal(parse(&o, "/m", NULL), 0);
	assert_null(o.config_path);
	assert_int_equal(o.ref_ttl, HUB_REF_TTL_DEFAULT);
	hub_options_dispose(&o);

	/* $XDG_CONFIG_HOME/hubfs/config.json */
	write_file("xdg/hubfs/config.json", "{\"ref_ttl\": 42}");
	assert_int_equal(parse(&o, "/m", NULL), 0);
	snprintf(want, sizeof(want), "%s/hubfs/config.json", xdg);
	assert_string_equal(o.config_path, want);
	assert_int_equal(o.ref_ttl, 42);
	hub_options_dispose(&o);

	/* empty $XDG_CONFIG_HOME: $HOME/.config */
	env_set("XDG_CONFIG_HOME", "");
	assert_int_equal(parse(&o, "/m", NULL), 0);
	snprintf(want, sizeof(want), "%s/.config/hubfs/config.json", home);
	assert_string_equal(o.config_path, want);
	assert_int_equal(o.ref_ttl, 11);
	hub_options_dispose(&o);

	/* config= replaces the default one */
	const char *other = write_file("other.json", "{\"neg_ttl\": 3}");
	char opt[PATH_MAX + 16];
	snprintf(opt, sizeof(opt), "config=%s", other);
	assert_int_equal(parse(&o, "-o", opt, "/m", NULL), 0);
	assert_string_equal(o.config_path, other);
	assert_int_equal(o.ref_ttl, HUB_REF_TTL_DEFAULT);
	assert_int_equal(o.neg_ttl, 3);
	hub_options_dispose(&o);

	/* a broken default config is an error, but not for status or --help */
	write_file("home/.config/hubfs/config.json", "{\"nope\": 1}");
	assert_int_equal(parse(&o, "/m", NULL), -EINVAL);
	assert_non_null(strstr(err, "unknown key 'nope'"));
	assert_failed(&o);
	assert_int_equal(parse(&o, "status", "/m", NULL), 0);
	hub_options_dispose(&o);
	assert_int_equal(parse(&o, "--help", NULL), 0);
	hub_options_dispose(&o);

	/* no HOME and no XDG_CONFIG_HOME: no config */
	env_set("HOME", NULL);
	assert_int_equal(parse(&o, "/m", NULL), 0);
	assert_null(o.config_path);
	hub_options_dispose(&o);
}

static void test_config_relative_paths(void **state)
{
	(void)state;
	char cwd[PATH_MAX], want[PATH_MAX + 32];
	assert_non_null(getcwd(cwd, sizeof(cwd)));
	env_set("HOME", tmpdir);
	write_file("rel.json", "{\"cache\": \"relcache\"}");
	struct hub_options o;
	/* config=~/rel.json; its relative cache is made absolute */
	assert_int_equal(parse(&o, "-o", "config=~/rel.json", "/m", NULL), 0);
	snprintf(want, sizeof(want), "%s/rel.json", tmpdir);
	assert_string_equal(o.config_path, want);
	snprintf(want, sizeof(want), "%s/relcache", cwd);
	assert_string_equal(o.cache_dir, want);
	hub_options_dispose(&o);
}

static void test_apply_config_direct(void **state)
{
	(void)state;
	struct hub_options o;
	memset(&o, 0, sizeof(o));
	o.ref_ttl = 3;
	o.cli_set = HUB_OPT_REF_TTL;
	const char *json = "{\"ref_ttl\": 9, \"neg_ttl\": 8, \"offline\": true}";
	assert_int_equal(hub_options_apply_config(&o, json, strlen(json), err, sizeof(err)), 0);
	assert_int_equal(o.ref_ttl, 3);
	assert_int_equal(o.neg_ttl, 8);
	assert_true(o.offline);

	/* length is honoured: only the first 2 bytes, "{}" */
	const char *two = "{}garbage";
	assert_int_equal(hub_options_apply_config(&o, two, 2, err, sizeof(err)), 0);

	assert_int_equal(hub_options_apply_config(&o, "{\"x\":1}", 7, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "config: unknown key 'x'");
	assert_int_equal(hub_options_apply_config(&o, "{}", HUB_JSON_MAX + 1, err, sizeof(err)),
			 -EFBIG);

	/* rewrite rules count against one limit, whichever their source */
	static char big[HUB_REWRITE_MAX * 16 + 32];
	size_t n = (size_t)snprintf(big, sizeof(big), "{\"rewrite\": [");
	for (int i = 0; i <= HUB_REWRITE_MAX; i++)
		n += (size_t)snprintf(big + n, sizeof(big) - n, "%s\"f%d=t\"", i ? "," : "", i);
	snprintf(big + n, sizeof(big) - n, "]}");
	assert_int_equal(hub_options_apply_config(&o, big, strlen(big), err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "config: too many rewrite rules (at most 64)");
	assert_int_equal(o.rewrites.n, HUB_REWRITE_MAX);
	hub_options_dispose(&o);
}

/* ---- URLs and the cache root ------------------------------------------- */

static void test_rewrite_longest(void **state)
{
	(void)state;
	struct hub_options o;
	assert_int_equal(parse(&o, "-o",
			       "rewrite=https://github.com/=https://mirror/,"
			       "rewrite=https://github.com/pytorch/=file:///local/,"
			       "rewrite=https://=http://",
			       "/m", NULL),
			 0);
	char out[128];
	const struct {
		const char *in, *want;
	} cases[] = {
		{"https://github.com/pytorch/vision.git", "file:///local/vision.git"},
		{"https://github.com/other/x.git", "https://mirror/other/x.git"},
		{"https://example.com/w.pth", "http://example.com/w.pth"},
		{"http://example.com/w.pth", "http://example.com/w.pth"},
		{"https://github.com/", "https://mirror/"},
		{"", ""},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int n = hub_rewrite_apply(out, sizeof(out), &o.rewrites, cases[i].in);
		assert_string_equal(out, cases[i].want);
		assert_int_equal(n, strlen(cases[i].want));
	}
	assert_int_equal(hub_rewrite_apply(out, 16, &o.rewrites, "https://github.com/a/b"),
			 -ENAMETOOLONG);
	assert_int_equal(hub_rewrite_apply(out, 5, NULL, "abcd"), 4); /* no rules */
	assert_int_equal(hub_rewrite_apply(out, 4, NULL, "abcd"), -ENAMETOOLONG);
	hub_options_dispose(&o);
}

static void test_git_url(void **state)
{
	(void)state;
	struct hub_options o;
	char out[HUB_URL_MAX];
	assert_int_equal(parse(&o, "/m", NULL), 0);
	assert_int_equal(hub_rewrite_git_url(out, sizeof(out), o.git_url, &o.rewrites, "pytorch",
					     "vision"),
			 strlen("https://github.com/pytorch/vision.git"));
	assert_string_equal(out, "https://github.com/pytorch/vision.git");
	hub_options_dispose(&o);

	/* every occurrence; unknown braces are literal; then the rewrite rules */
	assert_int_equal(parse(&o, "-o",
			       "git_url=https://h/{owner}/{repo}/{repo}.git?{own}{repo,"
			       "rewrite=https://h/=file:///srv/",
			       "/m", NULL),
			 0);
	assert_true(hub_rewrite_git_url(out, sizeof(out), o.git_url, &o.rewrites, "a", "b") > 0);
	assert_string_equal(out, "file:///srv/a/b/b.git?{own}{repo");
	hub_options_dispose(&o);

	/* too long after expansion */
	static char owner[3000];
	memset(owner, 'o', sizeof(owner) - 1);
	assert_int_equal(parse(&o, "-o", "git_url={owner}{owner}", "/m", NULL), 0);
	assert_int_equal(hub_rewrite_git_url(out, sizeof(out), o.git_url, &o.rewrites, owner, "r"),
			 -ENAMETOOLONG);
	assert_int_equal(hub_rewrite_git_url(out, 8, NULL, NULL, "a", "b"), -ENAMETOOLONG);
	assert_true(hub_rewrite_git_url(out, sizeof(out), NULL, NULL, "a", "b") > 0); /* default */
	assert_string_equal(out, "https://github.com/a/b.git");
	hub_options_dispose(&o);
}

static void test_cache_root(void **state)
{
	(void)state;
	char out[PATH_MAX], cwd[PATH_MAX], want[PATH_MAX + 32];
	assert_non_null(getcwd(cwd, sizeof(cwd)));
	struct hub_options o;
	memset(&o, 0, sizeof(o));

	/* nothing at all */
	assert_int_equal(hub_options_cache_root(out, sizeof(out), &o, fake_env), -ENOENT);

	env_set("HOME", "/h");
	assert_int_equal(hub_options_cache_root(out, sizeof(out), &o, fake_env), 0);
	assert_string_equal(out, "/h/.cache/torch/hub");

	env_set("XDG_CACHE_HOME", "/x/");
	assert_int_equal(hub_options_cache_root(out, sizeof(out), &o, fake_env), 0);
	assert_string_equal(out, "/x/torch/hub");

	env_set("TORCH_HOME", "/t");
	assert_int_equal(hub_options_cache_root(out, sizeof(out), &o, fake_env), 0);
	assert_string_equal(out, "/t/hub");

	env_set("TORCH_HOME", ""); /* empty counts as unset */
	assert_int_equal(hub_options_cache_root(out, sizeof(out), &o, fake_env), 0);
	assert_string_equal(out, "/x/torch/hub");

	env_set("TORCH_HOME", "~/th"); /* torch.hub expands '~' */
	assert_int_equal(hub_options_cache_root(out, sizeof(out), &o, fake_env), 0);
	assert_string_equal(out, "/h/th/hub");

	env_set("TORCH_HOME", "relative");
	assert_int_equal(hub_options_cache_root(out, sizeof(out), &o, fake_env), 0);
	snprintf(want, sizeof(want), "%s/relative/hub", cwd);
	assert_string_equal(out, want);

	/* cache= wins over all of them, and is used as is (no "/hub") */
	o.cache_dir = "/explicit/";
	assert_int_equal(hub_options_cache_root(out, sizeof(out), &o, fake_env), 0);
	assert_string_equal(out, "/explicit");
	assert_int_equal(hub_options_cache_root(out, 10, &o, fake_env), 0); /* '/' dropped */
	assert_string_equal(out, "/explicit");
	assert_int_equal(hub_options_cache_root(out, 9, &o, fake_env), -ENAMETOOLONG);
	o.cache_dir = "~/c";
	assert_int_equal(hub_options_cache_root(out, sizeof(out), &o, fake_env), 0);
	assert_string_equal(out, "/h/c");
	o.cache_dir = NULL;

	/* does not fit */
	env_set("TORCH_HOME", "/t");
	assert_int_equal(hub_options_cache_root(out, 6, &o, fake_env), -ENAMETOOLONG);
	assert_int_equal(hub_options_cache_root(out, 7, &o, fake_env), 0);
	assert_string_equal(out, "/t/hub");

	/* and through parse */
	assert_int_equal(parse(&o, "-o", "cache=/from/cli", "/m", NULL), 0);
	assert_int_equal(hub_options_cache_root(out, sizeof(out), &o, fake_env), 0);
	assert_string_equal(out, "/from/cli");
	hub_options_dispose(&o);
}

/* ---- analysis_path ---------------------------------------------------- */

static void test_analysis_path(void **state)
{
	(void)state;
	struct hub_options o;
	assert_int_equal(parse(&o, "-o", "analysis_path=/opt/venv/lib/site-packages:/src/timm", "/m",
			       NULL),
			 0);
	assert_string_equal(o.analysis_path, "/opt/venv/lib/site-packages:/src/timm");
	hub_options_dispose(&o);

	/* the command line wins over the config */
	const char *path = write_file("ap.json", "{\"analysis_path\": \"/from/config\"}");
	char arg[PATH_MAX + 64];
	snprintf(arg, sizeof(arg), "config=%s", path);
	assert_int_equal(parse(&o, "-o", arg, "/m", NULL), 0);
	assert_string_equal(o.analysis_path, "/from/config");
	hub_options_dispose(&o);
	snprintf(arg, sizeof(arg), "config=%s,analysis_path=/cli", path);
	assert_int_equal(parse(&o, "-o", arg, "/m", NULL), 0);
	assert_string_equal(o.analysis_path, "/cli");
	hub_options_dispose(&o);

	static const char *const bad[] = {
		"analysis_path=", "analysis_path", "analysis_path=relative/dir",
		"analysis_path=/a::/b", "analysis_path=/a:b", "analysis_path=/a:",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (parse(&o, "-o", bad[i], "/m", NULL) != -EINVAL)
			fail_msg("'%s' was accepted", bad[i]);
		assert_failed(&o);
	}
	/* a control character (one line of /.hubfs/options): from a config */
	const char *nlcfg = write_file("ap3.json", "{\"analysis_path\": \"/a\\nb\"}");
	snprintf(arg, sizeof(arg), "config=%s", nlcfg);
	assert_int_equal(parse(&o, "-o", arg, "/m", NULL), -EINVAL);
	assert_non_null(strstr(err, "control character 0x0a"));
	const char *badcfg = write_file("ap2.json", "{\"analysis_path\": [\"/a\"]}");
	snprintf(arg, sizeof(arg), "config=%s", badcfg);
	assert_int_equal(parse(&o, "-o", arg, "/m", NULL), -EINVAL);
	assert_non_null(strstr(err, "analysis_path must be a string"));
}

/* ---- token_host ------------------------------------------------------- */

static void test_token_host_option(void **state)
{
	(void)state;
	struct hub_options o;
	assert_int_equal(parse(&o, "-o", "token_host=ghe.example.com,token_host=127.0.0.1", "-o",
			       "token_host=[::1],token_host=fe80::1,token_host=my_host-1.local", "/m",
			       NULL),
			 0);
	assert_int_equal(o.n_token_host, 5);
	assert_string_equal(o.token_host[0], "ghe.example.com");
	assert_string_equal(o.token_host[1], "127.0.0.1");
	assert_string_equal(o.token_host[2], "[::1]");
	assert_string_equal(o.token_host[3], "fe80::1");
	assert_string_equal(o.token_host[4], "my_host-1.local");
	assert_null(o.fuse_argv[1]); /* ours, not libfuse's */
	hub_options_dispose(&o);

	/* config after the command line, both kept */
	const char *path = write_file("th.json", "{\"token_host\": [\"a.example\", \"b.example\"]}");
	char arg[PATH_MAX + 16];
	snprintf(arg, sizeof(arg), "config=%s,token_host=cli.example", path);
	assert_int_equal(parse(&o, "-o", arg, "/m", NULL), 0);
	assert_int_equal(o.n_token_host, 3);
	assert_string_equal(o.token_host[0], "cli.example");
	assert_string_equal(o.token_host[1], "a.example");
	assert_string_equal(o.token_host[2], "b.example");
	hub_options_dispose(&o);
}

static void test_token_host_bad(void **state)
{
	(void)state;
	static const char *const bad[] = {
		"token_host=",
		"token_host",
		"token_host=https://github.com",
		"token_host=github.com/",
		"token_host=github.com:443",
		"token_host=user@github.com",
		"token_host=a b",
		"token_host=[::1",
		"token_host=[g::1]",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct hub_options o;
		if (parse(&o, "-o", bad[i], "/m", NULL) != -EINVAL)
			fail_msg("'%s' was accepted", bad[i]);
		assert_failed(&o);
		assert_int_equal(o.n_token_host, 0);
	}
	struct hub_options o;
	assert_int_equal(parse(&o, "-o", "token_host=github.com:443", "/m", NULL), -EINVAL);
	assert_non_null(strstr(err, "bad value for token_host: 'github.com:443'"));

	char list[4096];
	size_t n = 0;
	for (int i = 0; i < HUB_TOKEN_HOST_MAX + 1; i++)
		n += (size_t)snprintf(list + n, sizeof(list) - n, "%stoken_host=h%d", i ? "," : "", i);
	assert_int_equal(parse(&o, "-o", list, "/m", NULL), -EINVAL);
	assert_non_null(strstr(err, "too many token_host entries"));

	static const char *const bad_json[] = {
		"{\"token_host\": \"github.com\"}",
		"{\"token_host\": [1]}",
		"{\"token_host\": [\"https://x/\"]}",
	};
	for (size_t i = 0; i < sizeof(bad_json) / sizeof(bad_json[0]); i++) {
		assert_int_equal(parse(&o, "/m", NULL), 0);
		err[0] = '\0';
		if (hub_options_apply_config(&o, bad_json[i], strlen(bad_json[i]), err, sizeof(err)) !=
		    -EINVAL)
			fail_msg("config %s was accepted", bad_json[i]);
		assert_non_null(strstr(err, "token_host"));
		hub_options_dispose(&o);
	}
}

/* proxy=: command line, config key, precedence, bad values */
static void test_proxy_option(void **state)
{
	(void)state;
	struct hub_options o;
	assert_int_equal(parse(&o, "-o", "proxy=http://squid:3128,allow_other", "/m", NULL), 0);
	assert_string_equal(o.proxy, "http://squid:3128");
	assert_int_equal(o.cli_set, HUB_OPT_PROXY);
	assert_fuse_argv(&o, "allow_other");
	hub_options_dispose(&o);

	assert_int_equal(parse(&o, "/m", NULL), 0);
	assert_null(o.proxy);
	hub_options_dispose(&o);

	const char *path = write_file("proxy.json", "{\"proxy\": \"http://cfg:1\"}");
	char opt[PATH_MAX + 16];
	snprintf(opt, sizeof(opt), "config=%s", path);
	assert_int_equal(parse(&o, "-o", opt, "/m", NULL), 0);
	assert_string_equal(o.proxy, "http://cfg:1");
	hub_options_dispose(&o);
	assert_int_equal(parse(&o, "-o", opt, "-o", "proxy=http://cli:2", "/m", NULL), 0);
	assert_string_equal(o.proxy, "http://cli:2");
	hub_options_dispose(&o);

	assert_int_equal(parse(&o, "-o", "proxy=", "/m", NULL), -EINVAL);
	assert_failed(&o);
	assert_non_null(strstr(err, "empty value for proxy"));
	assert_int_equal(parse(&o, "-o", "proxy", "/m", NULL), -EINVAL);
	assert_failed(&o);
	assert_non_null(strstr(err, "missing value for proxy"));
	path = write_file("proxy_bad.json", "{\"proxy\": 3}");
	snprintf(opt, sizeof(opt), "config=%s", path);
	assert_int_equal(parse(&o, "-o", opt, "/m", NULL), -EINVAL);
	assert_failed(&o);
	assert_non_null(strstr(err, "proxy must be a string"));
}

/* cache_max= and evict_checkpoints=: command line, config keys, precedence,
 * bad values (cache_max's value itself is checked at mount: fs/main.c) */
static void test_quota_options(void **state)
{
	(void)state;
	struct hub_options o;
	assert_int_equal(parse(&o, "-o", "cache_max=20G,evict_checkpoints=all", "/m", NULL), 0);
	assert_string_equal(o.cache_max, "20G");
	assert_true(o.evict_checkpoints_all);
	assert_int_equal(o.cli_set, HUB_OPT_CACHE_MAX | HUB_OPT_EVICT_CKPT);
	hub_options_dispose(&o);

	assert_int_equal(parse(&o, "/m", NULL), 0);
	assert_null(o.cache_max);
	assert_false(o.evict_checkpoints_all);
	hub_options_dispose(&o);

	const char *path = write_file("quota.json",
				      "{\"cache_max\": \"10%\", \"evict_checkpoints\": \"all\"}");
	char opt[PATH_MAX + 16];
	snprintf(opt, sizeof(opt), "config=%s", path);
	assert_int_equal(parse(&o, "-o", opt, "/m", NULL), 0);
	assert_string_equal(o.cache_max, "10%");
	assert_true(o.evict_checkpoints_all);
	hub_options_dispose(&o);
	assert_int_equal(parse(&o, "-o", opt, "-o", "cache_max=1T,evict_checkpoints=ours", "/m",
			       NULL), 0);
	assert_string_equal(o.cache_max, "1T");
	assert_false(o.evict_checkpoints_all);
	hub_options_dispose(&o);

	assert_int_equal(parse(&o, "-o", "evict_checkpoints=some", "/m", NULL), -EINVAL);
	assert_failed(&o);
	assert_non_null(strstr(err, "evict_checkpoints"));
	assert_int_equal(parse(&o, "-o", "cache_max", "/m", NULL), -EINVAL);
	assert_failed(&o);
	assert_non_null(strstr(err, "missing value for cache_max"));
	path = write_file("quota_bad.json", "{\"cache_max\": 3}");
	snprintf(opt, sizeof(opt), "config=%s", path);
	assert_int_equal(parse(&o, "-o", opt, "/m", NULL), -EINVAL);
	assert_failed(&o);
	assert_non_null(strstr(err, "cache_max must be a string"));
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
	const struct CMUnitTest tests[] = {
		T(test_minimal),
		T(test_flags),
		T(test_source_form),
		T(test_option_list),
		T(test_fuse_passthrough),
		T(test_escaped_comma),
		T(test_rewrite_option),
		T(test_duplicates),
		T(test_status),
		T(test_help_version),
		T(test_missing_mountpoint),
		T(test_bad_arguments),
		T(test_bad_values),
		T(test_too_many_rewrites),
		T(test_cache_absolute),
		T(test_usage),
		T(test_config_all_keys),
		T(test_config_rewrite_object),
		T(test_config_precedence),
		T(test_config_errors),
		T(test_config_unreadable),
		T(test_config_too_large),
		T(test_config_default_path),
		T(test_config_relative_paths),
		T(test_apply_config_direct),
		T(test_rewrite_longest),
		T(test_git_url),
		T(test_cache_root),
		T(test_token_host_option),
		T(test_analysis_path),
		T(test_token_host_bad),
		T(test_proxy_option),
		T(test_quota_options),
	};
#undef T
	return cmocka_run_group_tests(tests, NULL, NULL);
}
