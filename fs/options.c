/*
 * The command line, through libfuse's option parser (see options.h).  Option
 * values shared with the config file, the config file itself, disposal and
 * the cache root are in fs/options_config.c (FUSE-free); URL rewriting is
 * fetch/rewrite.c.
 *
 * DESIGN: hub_options_parse works in three steps.
 *  1. argv, through libfuse's option parser (fuse_opt_parse), left to right.
 *     libfuse splits -o lists at unescaped commas and unescapes them ("\,"
 *     is a literal comma, "\\" a backslash, "\NNN" an octal byte); "--"
 *     makes the rest positional.  Our templates (cli_opts) name hubfs's own
 *     options, each applied to the struct with its bit recorded in
 *     cli_set; anything else in an -o list is kept, escaped again, for
 *     libfuse.  An argument of argv itself (not an item of an -o list)
 *     is told apart by its pointer: -f, -d, -s (grouped too), --help and
 *     --version there, SOURCE and MOUNTPOINT.  A repeated option: the last
 *     one wins, except rewrite= and token_host= which accumulate.
 *     --help/--version anywhere win over everything else, errors too, so
 *     the first error is recorded and parsing goes on; "status" is only a
 *     command as argv[1].  A final -o without its list is found before
 *     libfuse sees it (it would print its own message).
 *  2. The config file (config=, else the default path if it exists) is
 *     applied with hub_options_apply_config, which skips every option whose
 *     bit is in cli_set and appends its rewrite rules after the command
 *     line's.  The config is fully validated even where it is overridden.
 *  3. Defaults for what is still unset, cache= made absolute (the daemon
 *     chdirs to "/" once it detaches), fuse_argv built.
 * Everything is owned by the struct and freed by hub_options_dispose; a
 * failed parse disposes the struct itself.  No global state: the environment
 * comes through the hub_getenv_fn parameter, so tests drive every path.
 */
#include "fs/options.h"

#include <errno.h>
#include <fuse_opt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fs/options_impl.h"

/* ---- seconds, as the command line writes them ------------------------- */

/* Non-negative decimal seconds: no sign, no spaces, no suffix. */
static int parse_seconds(long *out, const char *s)
{
	if (*s < '0' || *s > '9')
		return -EINVAL;
	errno = 0;
	char *end;
	long v = strtol(s, &end, 10);
	if (errno || *end || v > HUB_OPT_TTL_MAX)
		return -EINVAL;
	*out = v;
	return 0;
}

/* ---- the command line (fuse_opt_parse) --------------------------------- */

/* Keys of our templates; libfuse's own are negative (FUSE_OPT_KEY_OPT ...). */
enum cli_key {
	KEY_HELP,
	KEY_VERSION,
	KEY_CACHE,
	KEY_GIT_URL,
	KEY_REWRITE,
	KEY_TOKEN_HOST,
	KEY_OFFLINE,
	KEY_ALLOW_PRIVATE,
	KEY_URL_ACCESS,
	KEY_REF_TTL,
	KEY_NEG_TTL,
	KEY_VERIFY,
	KEY_CONFIG,
	KEY_ANALYSIS_PATH,
	KEY_PROXY,
	KEY_CACHE_MAX,
	KEY_EVICT_CKPT,
};

/* An option of ours matches "name" and "name=...": everything else (even
 * "cachex=1" or "offline_mode") is libfuse's business. */
#define OWN(name, key) FUSE_OPT_KEY(name, key), FUSE_OPT_KEY(name "=", key)
static const struct fuse_opt cli_opts[] = {
	FUSE_OPT_KEY("-h", KEY_HELP),
	FUSE_OPT_KEY("--help", KEY_HELP),
	FUSE_OPT_KEY("-V", KEY_VERSION),
	FUSE_OPT_KEY("--version", KEY_VERSION),
	OWN("cache", KEY_CACHE),
	OWN("git_url", KEY_GIT_URL),
	OWN("rewrite", KEY_REWRITE),
	OWN("token_host", KEY_TOKEN_HOST),
	OWN("offline", KEY_OFFLINE),
	OWN("allow_private", KEY_ALLOW_PRIVATE),
	OWN("url_access", KEY_URL_ACCESS),
	OWN("ref_ttl", KEY_REF_TTL),
	OWN("neg_ttl", KEY_NEG_TTL),
	OWN("verify", KEY_VERIFY),
	OWN("config", KEY_CONFIG),
	OWN("analysis_path", KEY_ANALYSIS_PATH),
	OWN("proxy", KEY_PROXY),
	OWN("cache_max", KEY_CACHE_MAX),
	OWN("evict_checkpoints", KEY_EVICT_CKPT),
	FUSE_OPT_END,
};
#undef OWN

struct cli {
	struct hub_options *o;
	int argc;
	char **argv;     /* the caller's, to tell its arguments from -o items */
	bool scan_only;  /* the status command: only --help and --version count */
	enum hub_cmd info; /* HUB_CMD_HELP or _VERSION once seen */
	int rc;          /* the first error (its message is in err) */
	const char *pos[2]; /* SOURCE, MOUNTPOINT */
	int npos;
	char *config;    /* config= */
	char *fuse_opts; /* pass-through options, comma-joined, escaped */
	char *err;
	size_t errsz;
};

/* Whether arg is an argument of argv itself rather than an item of an -o
 * list: libfuse hands the former to cli_proc as the very pointer of argv,
 * and the latter out of its own unescaped copy of the list. */
static bool from_argv(const struct cli *c, const char *arg)
{
	for (int i = 1; i < c->argc; i++)
		if (c->argv[i] == arg)
			return true;
	return false;
}

/* -f, -d, -s, possibly grouped ("-fd").  Returns false for anything else. */
static bool apply_flags(struct hub_options *o, const char *arg)
{
	if (arg[0] != '-' || arg[1] == '\0' || strspn(arg + 1, "fds") != strlen(arg + 1))
		return false;
	for (const char *p = arg + 1; *p; p++) {
		if (*p == 'f')
			o->foreground = true;
		else if (*p == 'd')
			o->debug = o->foreground = true;
		else
			o->single_thread = true;
	}
	return true;
}

static int add_positional(struct cli *c, const char *arg)
{
	if (c->npos == 2) {
		hub_opt_err(c->err, c->errsz, "unexpected argument: '%.200s'", arg);
		return -EINVAL;
	}
	c->pos[c->npos++] = arg;
	return 0;
}

/* A value-less option: offline, allow_private. */
static int apply_switch(struct cli *c, const char *opt, const char *val, bool *field,
			unsigned bit)
{
	if (val) {
		hub_opt_err(c->err, c->errsz, "%.*s takes no value: '%.200s'",
			    (int)(val - 1 - opt), opt, opt);
		return -EINVAL;
	}
	*field = true;
	c->o->cli_set |= bit;
	return 0;
}

/* One of our options, unescaped: "name" or "name=value". */
static int apply_own(struct cli *c, enum cli_key key, const char *opt)
{
	struct hub_options *o = c->o;
	const char *eq = strchr(opt, '=');
	const char *val = eq ? eq + 1 : NULL;
	char name[32];
	snprintf(name, sizeof(name), "%.*s", eq ? (int)(eq - opt) : (int)strlen(opt), opt);

	if (key == KEY_OFFLINE)
		return apply_switch(c, opt, val, &o->offline, HUB_OPT_OFFLINE);
	if (key == KEY_ALLOW_PRIVATE)
		return apply_switch(c, opt, val, &o->allow_private, HUB_OPT_ALLOW_PRIVATE);
	if (!val) {
		hub_opt_err(c->err, c->errsz, "missing value for %s (expected %s=...)", name, name);
		return -EINVAL;
	}
	switch (key) {
	case KEY_REWRITE:
		return hub_opt_add_rewrite_rule(o, "", val, c->err, c->errsz);
	case KEY_TOKEN_HOST:
		return hub_opt_add_token_host(o, "", val, c->err, c->errsz);
	case KEY_REF_TTL:
	case KEY_NEG_TTL:
		if (parse_seconds(key == KEY_REF_TTL ? &o->ref_ttl : &o->neg_ttl, val) < 0) {
			hub_opt_err(c->err, c->errsz, "bad value for %s: '%.200s' (expected seconds)",
				    name, val);
			return -EINVAL;
		}
		o->cli_set |= key == KEY_REF_TTL ? HUB_OPT_REF_TTL : HUB_OPT_NEG_TTL;
		return 0;
	case KEY_URL_ACCESS:
		if (hub_opt_parse_url_access(&o->url_access, val) < 0) {
			hub_opt_err(c->err, c->errsz,
				    "bad value for url_access: '%.200s' (expected owner or all)", val);
			return -EINVAL;
		}
		o->cli_set |= HUB_OPT_URL_ACCESS;
		return 0;
	case KEY_VERIFY:
		if (hub_opt_parse_verify(&o->verify, val) < 0) {
			hub_opt_err(c->err, c->errsz,
				    "bad value for verify: '%.200s' (expected stream or strict)", val);
			return -EINVAL;
		}
		o->cli_set |= HUB_OPT_VERIFY;
		return 0;
	case KEY_EVICT_CKPT:
		if (strcmp(val, "ours") && strcmp(val, "all")) {
			hub_opt_err(c->err, c->errsz,
				    "bad value for evict_checkpoints: '%.200s' (expected ours or all)",
				    val);
			return -EINVAL;
		}
		o->evict_checkpoints_all = val[0] == 'a';
		o->cli_set |= HUB_OPT_EVICT_CKPT;
		return 0;
	case KEY_ANALYSIS_PATH:
		if (hub_opt_set_analysis_path(o, "", val, c->err, c->errsz) < 0)
			return -EINVAL;
		o->cli_set |= HUB_OPT_ANALYSIS_PATH;
		return 0;
	default: /* cache=, git_url=, proxy=, cache_max=, config= */
		break;
	}
	int rc = hub_opt_check_value("", name, val, c->err, c->errsz);
	if (rc < 0)
		return rc;
	if (key == KEY_CACHE) {
		rc = hub_opt_set_string(&o->cache_dir, val, strlen(val));
		o->cli_set |= HUB_OPT_CACHE;
	} else if (key == KEY_GIT_URL) {
		rc = hub_opt_set_string(&o->git_url, val, strlen(val));
		o->cli_set |= HUB_OPT_GIT_URL;
	} else if (key == KEY_PROXY) {
		rc = hub_opt_set_string(&o->proxy, val, strlen(val));
		o->cli_set |= HUB_OPT_PROXY;
	} else if (key == KEY_CACHE_MAX) {
		rc = hub_opt_set_string(&o->cache_max, val, strlen(val));
		o->cli_set |= HUB_OPT_CACHE_MAX;
	} else {
		rc = hub_opt_set_string(&c->config, val, strlen(val));
	}
	if (rc < 0)
		hub_opt_err(c->err, c->errsz, "out of memory");
	return rc;
}

/* An argument of argv starting with '-' that no template took. */
static int apply_argv_option(struct cli *c, const char *arg)
{
	if (arg[1] == '\0') /* "-" is a plain argument */
		return add_positional(c, arg);
	if (!apply_flags(c->o, arg)) {
		hub_opt_err(c->err, c->errsz, "unknown argument: '%.200s'", arg);
		return -EINVAL;
	}
	return 0;
}

/* fuse_opt_parse's callback.  Returns 0 (discard) always: what libfuse
 * should see is gathered in c->fuse_opts, errors in c->rc. */
static int cli_proc(void *data, const char *arg, int key, struct fuse_args *outargs)
{
	(void)outargs;
	struct cli *c = data;
	bool own_arg = from_argv(c, arg);
	if ((key == KEY_HELP || key == KEY_VERSION) && own_arg) {
		if (c->info == HUB_CMD_MOUNT)
			c->info = key == KEY_HELP ? HUB_CMD_HELP : HUB_CMD_VERSION;
		return 0;
	}
	if (c->scan_only || c->rc < 0)
		return 0;
	int rc = 0;
	if (key == FUSE_OPT_KEY_NONOPT)
		rc = add_positional(c, arg);
	else if (own_arg)
		rc = apply_argv_option(c, arg);
	else if (key >= 0 && key != KEY_HELP && key != KEY_VERSION)
		rc = apply_own(c, (enum cli_key)key, arg);
	else if (*arg && fuse_opt_add_opt_escaped(&c->fuse_opts, arg) < 0) /* "" is skipped */
		rc = -ENOMEM;
	if (rc == -ENOMEM)
		hub_opt_err(c->err, c->errsz, "out of memory");
	if (rc < 0)
		c->rc = rc;
	return 0;
}

/* Whether argv ends with an -o that has no list: libfuse would print its
 * own message for it, so it is kept from libfuse and reported here. */
static bool dangling_o(int argc, char **argv)
{
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--") == 0)
			return false;
		if (strcmp(argv[i], "-o") == 0 && ++i == argc)
			return true;
	}
	return false;
}

/* Step 1: argv into c (and c->o). */
static int parse_argv(struct cli *c, int argc, char **argv)
{
	bool dangling = dangling_o(argc, argv);
	struct fuse_args args = FUSE_ARGS_INIT(dangling ? argc - 1 : argc, argv);
	c->argc = args.argc;
	c->argv = argv;
	int rc = fuse_opt_parse(&args, c, cli_opts, cli_proc);
	fuse_opt_free_args(&args);
	if (rc < 0 && c->rc == 0) {
		hub_opt_err(c->err, c->errsz, "out of memory");
		c->rc = -ENOMEM;
	}
	if (c->info != HUB_CMD_MOUNT || c->scan_only || c->rc < 0)
		return c->rc;
	if (dangling) {
		hub_opt_err(c->err, c->errsz, "missing argument to -o");
		return -EINVAL;
	}
	struct hub_options *o = c->o;
	if (c->npos == 0 || !*c->pos[c->npos - 1]) {
		hub_opt_err(c->err, c->errsz, "missing mountpoint");
		return -EINVAL;
	}
	if (c->npos == 2 && hub_opt_set_string(&o->source, c->pos[0], strlen(c->pos[0])) < 0)
		goto nomem;
	if (hub_opt_set_string(&o->mountpoint, c->pos[c->npos - 1], strlen(c->pos[c->npos - 1])) < 0)
		goto nomem;
	return 0;
nomem:
	hub_opt_err(c->err, c->errsz, "out of memory");
	return -ENOMEM;
}

/* "hubfs status MOUNTPOINT": exactly one argument, taken as it is. */
static int parse_status(struct hub_options *o, int argc, char **argv, char *err, size_t errsz)
{
	o->cmd = HUB_CMD_STATUS;
	if (argc < 3 || !*argv[2]) {
		hub_opt_err(err, errsz, "missing mountpoint");
		return -EINVAL;
	}
	if (argc > 3) {
		hub_opt_err(err, errsz, "unexpected argument: '%.200s'", argv[3]);
		return -EINVAL;
	}
	if (hub_opt_set_string(&o->mountpoint, argv[2], strlen(argv[2])) < 0) {
		hub_opt_err(err, errsz, "out of memory");
		return -ENOMEM;
	}
	return 0;
}

/* ---- parse ------------------------------------------------------------- */

static int build_fuse_argv(struct hub_options *o, char *fuse_opts)
{
	o->fuse_argv = calloc(4, sizeof(char *));
	if (!o->fuse_argv)
		return -ENOMEM;
	o->fuse_argv[0] = strdup("hubfs");
	if (!o->fuse_argv[0])
		return -ENOMEM;
	o->fuse_argc = 1;
	if (!fuse_opts)
		return 0;
	o->fuse_argv[1] = strdup("-o");
	if (!o->fuse_argv[1])
		return -ENOMEM;
	o->fuse_argv[2] = fuse_opts; /* ownership moves to the struct */
	o->fuse_argc = 3;
	return 0;
}

/* Step 3: defaults, absolute cache path, fuse_argv. */
static int finish(struct cli *c, hub_getenv_fn env)
{
	struct hub_options *o = c->o;
	if (!o->git_url &&
	    hub_opt_set_string(&o->git_url, HUB_GIT_URL_DEFAULT, strlen(HUB_GIT_URL_DEFAULT)) < 0)
		goto nomem;
	if (o->cache_dir) {
		char abs[PATH_MAX];
		int rc = hub_opt_make_absolute(abs, sizeof(abs), o->cache_dir, env);
		if (rc < 0) {
			hub_opt_err(c->err, c->errsz, "bad value for cache: '%.200s': %s",
				    o->cache_dir, strerror(-rc));
			return -EINVAL;
		}
		if (hub_opt_set_string(&o->cache_dir, abs, strlen(abs)) < 0)
			goto nomem;
	}
	if (build_fuse_argv(o, c->fuse_opts) < 0)
		goto nomem;
	c->fuse_opts = NULL;
	return 0;
nomem:
	hub_opt_err(c->err, c->errsz, "out of memory");
	return -ENOMEM;
}

static void init_defaults(struct hub_options *o)
{
	memset(o, 0, sizeof(*o));
	o->ref_ttl = HUB_REF_TTL_DEFAULT;
	o->neg_ttl = HUB_NEG_TTL_DEFAULT;
	o->verify = HUB_VERIFY_STREAM;
}

int hub_options_parse(struct hub_options *out, int argc, char **argv, hub_getenv_fn env,
		      char *err, size_t errsz)
{
	init_defaults(out);
	if (!env)
		env = hub_opt_sys_getenv;
	if (err && errsz)
		err[0] = '\0';

	bool status = argc > 1 && strcmp(argv[1], "status") == 0;
	struct cli c = {.o = out, .scan_only = status, .err = err, .errsz = errsz};
	int rc = parse_argv(&c, argc, argv);
	if (c.info != HUB_CMD_MOUNT) {
		/* --help, --version: nothing else matters */
		free(c.fuse_opts);
		c.fuse_opts = NULL;
		hub_options_dispose(out);
		init_defaults(out);
		out->cmd = c.info;
		if (err && errsz)
			err[0] = '\0';
		rc = 0;
	} else if (status) {
		rc = parse_status(out, argc, argv, err, errsz);
	} else if (rc == 0) {
		rc = hub_opt_load_config(out, c.config, env, err, errsz);
	}
	if (rc == 0)
		rc = finish(&c, env);

	free(c.config);
	free(c.fuse_opts);
	if (rc < 0)
		hub_options_dispose(out);
	return rc;
}

void hub_options_usage(const char *prog)
{
	if (!prog || !*prog)
		prog = "hubfs";
	printf("Usage: %s [-f] [-d] [-s] [-o OPTION[,OPTION...]] MOUNTPOINT\n"
	       "       %s SOURCE MOUNTPOINT [-o OPTION[,OPTION...]]   (mount.fuse3, fstab)\n"
	       "       %s status MOUNTPOINT\n"
	       "       %s cache ls|du [-b]|verify [--repair]|gc [--max SIZE]|forget OWNER/REPO\n"
	       "             ROOT|MOUNTPOINT\n"
	       "       %s --help | --version\n"
	       "\n"
	       "Mount PyTorch Hub read-only at MOUNTPOINT: /OWNER/REPO, /OWNER/REPO:REF and\n"
	       "/OWNER/REPO@SHA, fetched on first access into a cache shared with torch.hub.\n"
	       "Unmount with: fusermount3 -u MOUNTPOINT\n"
	       "\n"
	       "Commands:\n"
	       "  status MOUNTPOINT      show the downloads in flight as progress bars\n"
	       "  cache ls ROOT|MNT      the cache's repositories, refs, commits, weights, sizes,\n"
	       "                         last use (a mount point: its cache root)\n"
	       "  cache du [-b] ROOT|MNT room taken, by kind (-b: in bytes)\n"
	       "  cache verify [--repair] ROOT|MNT\n"
	       "                         re-hash complete weight files named name-<sha256\n"
	       "                         prefix>.ext; --repair removes the bad ones\n"
	       "  cache gc [--max SIZE] ROOT|MNT\n"
	       "                         one eviction round now (cache_max's policy; default\n"
	       "                         SIZE: the cache_max a mount last applied to ROOT)\n"
	       "  cache forget OWNER/REPO ROOT|MNT\n"
	       "                         remove a repository from the cache (safe while mounted)\n"
	       "\n"
	       "Flags:\n"
	       "  -f                     stay in the foreground, log to stderr\n"
	       "  -d                     debug logging (implies -f)\n"
	       "  -s                     single-threaded\n"
	       "  -o OPTION[,OPTION...]  options below, and libfuse's own (allow_other, ...);\n"
	       "                         write a comma inside a value as \\,\n"
	       "  -h, --help             print this help\n"
	       "  -V, --version          print the version\n"
	       "\n"
	       "Options:\n"
	       "  cache=DIR              cache root (default: $TORCH_HOME/hub,\n"
	       "                         else $XDG_CACHE_HOME/torch/hub, else ~/.cache/torch/hub)\n"
	       "  git_url=TEMPLATE       where repositories come from; {owner} and {repo} are\n"
	       "                         replaced (default: %s)\n"
	       "  rewrite=FROM=TO        fetch URLs starting with FROM from TO instead, like git's\n"
	       "                         insteadOf; repeatable, the longest FROM wins\n"
	       "  token_host=HOST        also send GITHUB_TOKEN to HOST (https only; default:\n"
	       "                         github.com alone); repeatable\n"
	       "  proxy=URL              fetch weight files through this HTTP(S) proxy (default:\n"
	       "                         libcurl's http_proxy, https_proxy, all_proxy, no_proxy)\n"
	       "  cache_max=SIZE         keep the cache root under SIZE (K, M, G, T suffixes, or\n"
	       "                         N%% of its filesystem): least recently used weight\n"
	       "                         files are evicted down to %d%% of it (default: no limit)\n"
	       "  evict_checkpoints=ours|all  evict only hubfs's own checkpoints/ links (default)\n"
	       "                         or torch.hub's own files there too\n"
	       "  offline                make no network request; serve only what is cached\n"
	       "  allow_private          weight URLs may reach loopback, private and link-local\n"
	       "                         addresses (default: only rewrite= targets may)\n"
	       "  url_access=owner|all   who may read /.hubfs/url/: the mount's owner (default)\n"
	       "                         or every user\n"
	       "  ref_ttl=SECONDS        how long a branch resolution is trusted (default %d)\n"
	       "  neg_ttl=SECONDS        how long \"does not exist\" is remembered (default %d)\n"
	       "  verify=stream|strict   strict holds reads of a weight file until its hash is\n"
	       "                         verified (default stream)\n"
	       "  analysis_path=DIR[:DIR...]\n"
	       "                         site-packages directories (a venv's, a conda env's)\n"
	       "                         whose packages the entrypoint analysis reads as source,\n"
	       "                         before the host's\n"
	       "  config=FILE            JSON file with the same keys (\"rewrite\": [\"FROM=TO\"] or\n"
	       "                         {\"FROM\": \"TO\"}, \"token_host\": [\"HOST\"]); the\n"
	       "                         command line wins over it\n"
	       "                         (default: $XDG_CONFIG_HOME/hubfs/config.json,\n"
	       "                         else ~/.config/hubfs/config.json, if it exists)\n",
	       prog, prog, prog, prog, prog, HUB_GIT_URL_DEFAULT, HUB_QUOTA_LOW_PCT,
	       HUB_REF_TTL_DEFAULT, HUB_NEG_TTL_DEFAULT);
}
