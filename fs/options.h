/*
 * Command line and config file: the FUSE glue's CLI.  argv and -o lists are
 * read with libfuse's option parser (fuse_opt_parse, fs/options.c, in
 * hubfsl); the config file, the option values and the cache root are
 * FUSE-free (fs/options_config.c, hubopts).  Environment and file reads go
 * through the parameters so unit tests can drive every path.
 * cache/ and fetch/ never see this struct: fs/main.c hands them their own
 * config structs built from it (cache/repo.h, fetch/http.h, fetch/rewrite.h).
 *
 * Precedence: command-line options override the config file; rewrite rules
 * and token hosts from both are kept (command line first); the longest
 * matching FROM wins, as with git's url.<base>.insteadOf (fetch/rewrite.h).
 */
#ifndef HUB_OPTIONS_H
#define HUB_OPTIONS_H

#include <stdbool.h>
#include <stddef.h>

#include "base/limits.h"
#include "fetch/rewrite.h"

enum hub_cmd { HUB_CMD_MOUNT, HUB_CMD_HELP, HUB_CMD_VERSION, HUB_CMD_STATUS };
enum hub_verify { HUB_VERIFY_STREAM, HUB_VERIFY_STRICT };
/* url_access=: who may use /.hubfs/url (the mount's owner is the daemon's uid). */
enum hub_url_access { HUB_URL_ACCESS_OWNER, HUB_URL_ACCESS_ALL };

/* Bits of hub_options.cli_set: options given on the command line, which the
 * config file must not override. */
enum hub_opt_bit {
	HUB_OPT_CACHE = 1u << 0,
	HUB_OPT_GIT_URL = 1u << 1,
	HUB_OPT_OFFLINE = 1u << 2,
	HUB_OPT_REF_TTL = 1u << 3,
	HUB_OPT_NEG_TTL = 1u << 4,
	HUB_OPT_VERIFY = 1u << 5,
	HUB_OPT_ALLOW_PRIVATE = 1u << 6,
	HUB_OPT_URL_ACCESS = 1u << 7,
	HUB_OPT_ANALYSIS_PATH = 1u << 8,
	HUB_OPT_PROXY = 1u << 9,
	HUB_OPT_CACHE_MAX = 1u << 10,
	HUB_OPT_EVICT_CKPT = 1u << 11,
};

struct hub_options {
	enum hub_cmd cmd;
	char *mountpoint;   /* MOUNTPOINT (or the status command's argument) */
	char *source;       /* SOURCE of the "hubfs SOURCE MOUNTPOINT" form, else NULL */
	bool foreground;    /* -f (also implied by -d) */
	bool debug;         /* -d */
	bool single_thread; /* -s */
	char *cache_dir;    /* cache=; NULL means "apply torch.hub's rule" */
	char *git_url;      /* git_url= template with {owner} and {repo}; never NULL after parse */
	/* proxy=: the HTTP(S) proxy of weight downloads (fetch/http.h); NULL:
	 * libcurl's environment (http_proxy, https_proxy, all_proxy, no_proxy). */
	char *proxy;
	/* cache_max=: the quota of the cache root as given ("20G", "10%"),
	 * checked and measured at mount (cache/quota.h); NULL: none. */
	char *cache_max;
	/* evict_checkpoints=all: checkpoints/ files torch.hub wrote itself are
	 * evicted too (default "ours": only hubfs's own links, with their
	 * store files). */
	bool evict_checkpoints_all;
	struct hub_rewrites rewrites; /* rewrite=, command line first, then the config's */
	/* token_host=: hosts besides github.com that may receive GITHUB_TOKEN
	 * (fetch/git.h), as given (a name or an IP address, no port);
	 * accumulates like rewrite, command line first. */
	char *token_host[HUB_TOKEN_HOST_MAX];
	size_t n_token_host;
	bool offline;
	/* allow_private: weight URLs may connect to loopback, private, link-local
	 * ... addresses (fetch/addr.h); without it only rewrite targets may. */
	bool allow_private;
	enum hub_url_access url_access; /* default owner */
	long ref_ttl; /* seconds */
	long neg_ttl; /* seconds */
	enum hub_verify verify;
	/* analysis_path=: installed-packages directories (a venv's or conda env's
	 * site-packages), ':'-separated absolute paths, that the analyser reads
	 * as source before the host's (docs/analysis.md); NULL if none. */
	char *analysis_path;
	char *config_path; /* config= or the default path if that file exists; NULL if none */
	unsigned cli_set;  /* HUB_OPT_* bits set by the command line */
	/* Options for libfuse itself (allow_other, default_permissions, ...), as
	 * argv for fuse_session_new: fuse_argv[0] is "hubfs", then "-o", "a,b". */
	char **fuse_argv;
	int fuse_argc;
};

/* Environment lookup, injectable for tests (getenv in production; NULL means getenv). */
typedef const char *(*hub_getenv_fn)(const char *name);

/* Parse argv (argv[0] is the program).  Reads the config file named by
 * config= or, when absent, $XDG_CONFIG_HOME/hubfs/config.json (falling back to
 * $HOME/.config) if that exists.  On error returns -EINVAL (or -errno of a
 * config read) and writes one line, without trailing newline, into err; *out
 * is then already disposed. */
int hub_options_parse(struct hub_options *out, int argc, char **argv, hub_getenv_fn env,
		      char *err, size_t errsz);
/* Apply a JSON config text (keys as the -o options; "rewrite" is a list of
 * "FROM=TO" strings or an object {FROM: TO}; "token_host" a list of host
 * names) without overriding options that the command line already set
 * (o->cli_set); its rewrite rules and token hosts are appended.
 * err as for hub_options_parse, messages start with "config: ". */
int hub_options_apply_config(struct hub_options *o, const char *json, size_t len, char *err,
			     size_t errsz);
/* Free everything the options own (the struct itself is the caller's). */
void hub_options_dispose(struct hub_options *o);

/* The cache root: cache= if set, else $TORCH_HOME/hub, else
 * $XDG_CACHE_HOME/torch/hub, else $HOME/.cache/torch/hub (torch.hub's rule). */
int hub_options_cache_root(char *out, size_t outsz, const struct hub_options *o, hub_getenv_fn env);

/* Print the usage text (for --help) to stdout. */
void hub_options_usage(const char *prog);

#endif
