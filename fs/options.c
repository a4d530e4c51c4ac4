/*
 * Command line, config file and URL rules (see options.h).
 *
 * DESIGN: hub_options_parse works in three steps.
 *  1. argv, left to right.  --help/--version anywhere win over everything
 *     else; "status" is only a command as argv[1].  -o lists are split at
 *     unescaped commas ("\," is a literal comma, as in libfuse); each hubfs
 *     option is applied to the struct and its bit recorded in cli_set,
 *     anything else is kept verbatim for libfuse.  A repeated option: the
 *     last one wins, except rewrite= which accumulates.
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

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define DEFAULT_GIT_URL "https://github.com/{owner}/{repo}.git"
/* TTLs are added to time_t clocks and handed to timers: INT_MAX seconds (68
 * years) means "forever" and keeps that arithmetic far from overflow. */
#define TTL_MAX INT_MAX

/* ---- small helpers ---------------------------------------------------- */

__attribute__((format(printf, 3, 4))) static void set_err(char *err, size_t errsz,
							   const char *fmt, ...)
{
	if (!err || errsz == 0)
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err, errsz, fmt, ap);
	va_end(ap);
	/* One line, whatever the user typed: no control characters. */
	for (char *p = err; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = '?';
}

static const char *sys_getenv(const char *name)
{
	return getenv(name);
}

static const char *env_nonempty(hub_getenv_fn env, const char *name)
{
	const char *v = env(name);
	return v && *v ? v : NULL;
}

/* Replace *slot with a copy of s[0..len). */
static int set_string(char **slot, const char *s, size_t len)
{
	char *copy = strndup(s, len);
	if (!copy)
		return -ENOMEM;
	free(*slot);
	*slot = copy;
	return 0;
}

/* a + "/" + b + "/" + c, skipping empty parts, with runs of '/' squashed
 * and no trailing '/' (except for "/" itself). */
static int path_join(char *out, size_t outsz, const char *a, const char *b, const char *c)
{
	const char *parts[] = {a, b, c};
	size_t w = 0;
	for (size_t i = 0; i < 3; i++) {
		if (!*parts[i])
			continue;
		if (w > 0 && out[w - 1] != '/') {
			if (w >= outsz)
				return -ENAMETOOLONG;
			out[w++] = '/';
		}
		for (const char *p = parts[i]; *p; p++) {
			if (*p == '/' && w > 0 && out[w - 1] == '/')
				continue;
			if (w >= outsz)
				return -ENAMETOOLONG;
			out[w++] = *p;
		}
	}
	while (w > 1 && out[w - 1] == '/')
		w--;
	if (w >= outsz)
		return -ENAMETOOLONG;
	out[w] = '\0';
	return (int)w;
}

/* Make path absolute: "~" and "~/x" from $HOME, relative paths against the
 * current directory. */
static int make_absolute(char *out, size_t outsz, const char *path, hub_getenv_fn env)
{
	if (path[0] == '~' && (path[1] == '\0' || path[1] == '/')) {
		const char *home = env_nonempty(env, "HOME");
		if (!home)
			return -ENOENT;
		return path_join(out, outsz, home, path + 1, "");
	}
	if (path[0] == '/')
		return path_join(out, outsz, path, "", "");
	char cwd[PATH_MAX];
	if (!getcwd(cwd, sizeof(cwd)))
		return -errno;
	return path_join(out, outsz, cwd, path, "");
}

/* Copy src[0..len) into a new string, turning "\c" into "c" (libfuse's
 * escaping of ',' inside -o lists). */
static char *unescape(const char *src, size_t len)
{
	char *out = malloc(len + 1);
	if (!out)
		return NULL;
	size_t n = 0;
	for (size_t i = 0; i < len; i++) {
		if (src[i] == '\\' && i + 1 < len)
			i++;
		out[n++] = src[i];
	}
	out[n] = '\0';
	return out;
}

/* ---- option values, shared by the command line and the config --------- */

/* Non-negative decimal seconds: no sign, no spaces, no suffix. */
static int parse_seconds(long *out, const char *s)
{
	if (*s < '0' || *s > '9')
		return -EINVAL;
	errno = 0;
	char *end;
	long v = strtol(s, &end, 10);
	if (errno || *end || v > TTL_MAX)
		return -EINVAL;
	*out = v;
	return 0;
}

static int parse_verify(enum hub_verify *out, const char *s)
{
	if (strcmp(s, "stream") == 0)
		*out = HUB_VERIFY_STREAM;
	else if (strcmp(s, "strict") == 0)
		*out = HUB_VERIFY_STRICT;
	else
		return -EINVAL;
	return 0;
}

static int parse_url_access(enum hub_url_access *out, const char *s)
{
	if (strcmp(s, "owner") == 0)
		*out = HUB_URL_ACCESS_OWNER;
	else if (strcmp(s, "all") == 0)
		*out = HUB_URL_ACCESS_ALL;
	else
		return -EINVAL;
	return 0;
}

/* A string value of cache=, git_url= or config=: non-empty, bounded. */
static int check_value(const char *where, const char *name, const char *val, char *err,
		       size_t errsz)
{
	if (!*val) {
		set_err(err, errsz, "%sempty value for %s", where, name);
		return -EINVAL;
	}
	if (strlen(val) >= HUB_URL_MAX) {
		set_err(err, errsz, "%svalue for %s is too long (at most %d bytes)", where, name,
			HUB_URL_MAX - 1);
		return -EINVAL;
	}
	return 0;
}

/* Append the rule FROM=TO, where FROM is from[0..from_len). */
static int add_rewrite(struct hub_options *o, const char *where, const char *from,
		       size_t from_len, const char *to, char *err, size_t errsz)
{
	if (o->n_rewrite >= HUB_REWRITE_MAX) {
		set_err(err, errsz, "%stoo many rewrite rules (at most %d)", where,
			HUB_REWRITE_MAX);
		return -EINVAL;
	}
	if (from_len == 0) {
		set_err(err, errsz, "%sbad rewrite rule: empty FROM (expected FROM=TO)", where);
		return -EINVAL;
	}
	if (from_len >= HUB_URL_MAX || strlen(to) >= HUB_URL_MAX) {
		set_err(err, errsz, "%srewrite rule is too long (at most %d bytes a side)", where,
			HUB_URL_MAX - 1);
		return -EINVAL;
	}
	struct hub_rewrite *r = &o->rewrite[o->n_rewrite];
	r->from = strndup(from, from_len);
	r->to = strdup(to);
	if (!r->from || !r->to) {
		free(r->from);
		free(r->to);
		r->from = r->to = NULL;
		set_err(err, errsz, "out of memory");
		return -ENOMEM;
	}
	o->n_rewrite++;
	return 0;
}

/* "FROM=TO", split at the first '='. */
static int add_rewrite_rule(struct hub_options *o, const char *where, const char *rule,
			    char *err, size_t errsz)
{
	const char *eq = strchr(rule, '=');
	if (!eq || eq == rule) {
		set_err(err, errsz, "%sbad rewrite rule: '%.200s' (expected FROM=TO)", where, rule);
		return -EINVAL;
	}
	return add_rewrite(o, where, rule, (size_t)(eq - rule), eq + 1, err, errsz);
}

/* token_host=: a host name or an IP address (IPv6 bare or in brackets), no
 * scheme, port, path or user. */
static bool host_valid(const char *h)
{
	size_t n = strlen(h);
	if (n == 0 || n > HUB_HOST_MAX)
		return false;
	static const char ip6[] = "0123456789abcdefABCDEF:.";
	if (h[0] == '[')
		return n > 2 && h[n - 1] == ']' && strspn(h + 1, ip6) == n - 2;
	if (strchr(h, ':')) /* bare IPv6 needs two colons: "host:443" is not one */
		return strspn(h, ip6) == n && strchr(h, ':') != strrchr(h, ':');
	return strspn(h, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-_") == n;
}

/* Append one token_host= host. */
static int add_token_host(struct hub_options *o, const char *where, const char *host, char *err,
			  size_t errsz)
{
	if (!host_valid(host)) {
		set_err(err, errsz,
			"%sbad value for token_host: '%.200s' (expected a host name or IP address, "
			"without scheme, port or path)",
			where, host);
		return -EINVAL;
	}
	if (o->n_token_host >= HUB_TOKEN_HOST_MAX) {
		set_err(err, errsz, "%stoo many token_host entries (at most %d)", where,
			HUB_TOKEN_HOST_MAX);
		return -EINVAL;
	}
	char *copy = strdup(host);
	if (!copy) {
		set_err(err, errsz, "out of memory");
		return -ENOMEM;
	}
	o->token_host[o->n_token_host++] = copy;
	return 0;
}

/* ---- the command line -------------------------------------------------- */

struct cli {
	struct hub_options *o;
	char *config;    /* config= */
	char *fuse_opts; /* pass-through options, comma-joined, still escaped */
	size_t fuse_len;
	char *err;
	size_t errsz;
};

static int keep_for_fuse(struct cli *c, const char *tok, size_t len)
{
	char *grown = realloc(c->fuse_opts, c->fuse_len + len + 2);
	if (!grown)
		return -ENOMEM;
	c->fuse_opts = grown;
	if (c->fuse_len)
		grown[c->fuse_len++] = ',';
	memcpy(grown + c->fuse_len, tok, len);
	c->fuse_len += len;
	grown[c->fuse_len] = '\0';
	return 0;
}

/* Names of hubfs's own options; anything else goes to libfuse. */
static const char *const own_options[] = {"cache",   "git_url", "rewrite", "offline",   "ref_ttl",
					  "neg_ttl", "verify",  "config",  "token_host",
					  "allow_private", "url_access"};

static bool is_own_option(const char *key, size_t klen)
{
	for (size_t i = 0; i < sizeof(own_options) / sizeof(own_options[0]); i++)
		if (strlen(own_options[i]) == klen && memcmp(own_options[i], key, klen) == 0)
			return true;
	return false;
}

/* One hubfs option, unescaped: "key" or "key=value". */
static int apply_cli_option(struct cli *c, const char *opt)
{
	struct hub_options *o = c->o;
	const char *eq = strchr(opt, '=');
	const char *val = eq ? eq + 1 : NULL;
	char key[16];
	snprintf(key, sizeof(key), "%.*s", eq ? (int)(eq - opt) : (int)strlen(opt), opt);

	if (strcmp(key, "offline") == 0) {
		if (val) {
			set_err(c->err, c->errsz, "offline takes no value: '%.200s'", opt);
			return -EINVAL;
		}
		o->offline = true;
		o->cli_set |= HUB_OPT_OFFLINE;
		return 0;
	}
	if (strcmp(key, "allow_private") == 0) {
		if (val) {
			set_err(c->err, c->errsz, "allow_private takes no value: '%.200s'", opt);
			return -EINVAL;
		}
		o->allow_private = true;
		o->cli_set |= HUB_OPT_ALLOW_PRIVATE;
		return 0;
	}
	if (!val) {
		set_err(c->err, c->errsz, "missing value for %s (expected %s=...)", key, key);
		return -EINVAL;
	}
	if (strcmp(key, "rewrite") == 0)
		return add_rewrite_rule(o, "", val, c->err, c->errsz);
	if (strcmp(key, "token_host") == 0)
		return add_token_host(o, "", val, c->err, c->errsz);
	if (strcmp(key, "ref_ttl") == 0 || strcmp(key, "neg_ttl") == 0) {
		bool ref = key[0] == 'r';
		if (parse_seconds(ref ? &o->ref_ttl : &o->neg_ttl, val) < 0) {
			set_err(c->err, c->errsz, "bad value for %s: '%.200s' (expected seconds)",
				key, val);
			return -EINVAL;
		}
		o->cli_set |= ref ? HUB_OPT_REF_TTL : HUB_OPT_NEG_TTL;
		return 0;
	}
	if (strcmp(key, "url_access") == 0) {
		if (parse_url_access(&o->url_access, val) < 0) {
			set_err(c->err, c->errsz,
				"bad value for url_access: '%.200s' (expected owner or all)", val);
			return -EINVAL;
		}
		o->cli_set |= HUB_OPT_URL_ACCESS;
		return 0;
	}
	if (strcmp(key, "verify") == 0) {
		if (parse_verify(&o->verify, val) < 0) {
			set_err(c->err, c->errsz,
				"bad value for verify: '%.200s' (expected stream or strict)", val);
			return -EINVAL;
		}
		o->cli_set |= HUB_OPT_VERIFY;
		return 0;
	}
	/* cache=, git_url=, config= */
	int rc = check_value("", key, val, c->err, c->errsz);
	if (rc < 0)
		return rc;
	if (strcmp(key, "cache") == 0) {
		rc = set_string(&o->cache_dir, val, strlen(val));
		o->cli_set |= HUB_OPT_CACHE;
	} else if (strcmp(key, "git_url") == 0) {
		rc = set_string(&o->git_url, val, strlen(val));
		o->cli_set |= HUB_OPT_GIT_URL;
	} else {
		rc = set_string(&c->config, val, strlen(val));
	}
	if (rc < 0)
		set_err(c->err, c->errsz, "out of memory");
	return rc;
}

/* One -o argument: a comma-separated list, "\," escaping a comma. */
static int apply_option_list(struct cli *c, const char *list)
{
	const char *p = list;
	while (*p) {
		size_t len = 0;
		while (p[len] && p[len] != ',')
			len += (p[len] == '\\' && p[len + 1]) ? 2 : 1;
		if (len > 0) {
			size_t klen = strcspn(p, "=,");
			if (klen > len)
				klen = len;
			int rc;
			if (is_own_option(p, klen)) {
				char *opt = unescape(p, len);
				rc = opt ? apply_cli_option(c, opt) : -ENOMEM;
				free(opt);
			} else {
				rc = keep_for_fuse(c, p, len);
			}
			if (rc == -ENOMEM)
				set_err(c->err, c->errsz, "out of memory");
			if (rc < 0)
				return rc;
		}
		p += len;
		if (*p == ',')
			p++;
	}
	return 0;
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

/* --help or --version anywhere before "--" decides the command. */
static enum hub_cmd scan_info_command(int argc, char **argv)
{
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--") == 0)
			break;
		if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0)
			return HUB_CMD_HELP;
		if (strcmp(argv[i], "-V") == 0 || strcmp(argv[i], "--version") == 0)
			return HUB_CMD_VERSION;
		if (strcmp(argv[i], "-o") == 0)
			i++; /* its argument is not a flag */
	}
	return HUB_CMD_MOUNT;
}

static int parse_argv(struct cli *c, int argc, char **argv)
{
	struct hub_options *o = c->o;
	const char *pos[2];
	int npos = 0;
	bool only_positional = false;

	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (only_positional || a[0] != '-' || a[1] == '\0') {
			if (npos == 2) {
				set_err(c->err, c->errsz, "unexpected argument: '%.200s'", a);
				return -EINVAL;
			}
			pos[npos++] = a;
		} else if (strcmp(a, "--") == 0) {
			only_positional = true;
		} else if (a[1] == 'o') {
			const char *list = a[2] ? a + 2 : i + 1 < argc ? argv[++i] : NULL;
			if (!list) {
				set_err(c->err, c->errsz, "missing argument to -o");
				return -EINVAL;
			}
			int rc = apply_option_list(c, list);
			if (rc < 0)
				return rc;
		} else if (!apply_flags(o, a)) {
			set_err(c->err, c->errsz, "unknown argument: '%.200s'", a);
			return -EINVAL;
		}
	}
	if (npos == 0 || !*pos[npos - 1]) {
		set_err(c->err, c->errsz, "missing mountpoint");
		return -EINVAL;
	}
	if (npos == 2 && set_string(&o->source, pos[0], strlen(pos[0])) < 0)
		goto nomem;
	if (set_string(&o->mountpoint, pos[npos - 1], strlen(pos[npos - 1])) < 0)
		goto nomem;
	return 0;
nomem:
	set_err(c->err, c->errsz, "out of memory");
	return -ENOMEM;
}

/* ---- the config file --------------------------------------------------- */

/* Read a whole file of at most HUB_JSON_MAX bytes into a new buffer. */
static int read_small_file(char **out, size_t *outlen, const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	size_t cap = 4096, len = 0;
	char *buf = malloc(cap);
	int rc = buf ? 0 : -ENOMEM;
	while (rc == 0) {
		if (len == cap) {
			if (cap > HUB_JSON_MAX) {
				rc = -EFBIG;
				break;
			}
			char *grown = realloc(buf, cap * 2);
			if (!grown) {
				rc = -ENOMEM;
				break;
			}
			buf = grown;
			cap *= 2;
		}
		ssize_t n = read(fd, buf + len, cap - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			rc = -errno;
		else if (n == 0)
			break;
		else
			len += (size_t)n;
		if (len > HUB_JSON_MAX)
			rc = -EFBIG;
	}
	close(fd);
	if (rc < 0) {
		free(buf);
		return rc;
	}
	*out = buf;
	*outlen = len;
	return 0;
}

/* ttl keys: a JSON number that is a non-negative integer. */
static bool json_seconds(long *out, const cJSON *item)
{
	if (!cJSON_IsNumber(item))
		return false;
	double d = item->valuedouble;
	if (!(d >= 0 && d <= TTL_MAX) || (double)(long)d != d)
		return false;
	*out = (long)d;
	return true;
}

static int config_rewrite(struct hub_options *o, const char *where, const cJSON *item, char *err,
			  size_t errsz)
{
	const cJSON *rule;
	if (cJSON_IsArray(item)) {
		cJSON_ArrayForEach(rule, item)
		{
			if (!cJSON_IsString(rule)) {
				set_err(err, errsz, "%srewrite: list items must be \"FROM=TO\" strings",
					where);
				return -EINVAL;
			}
			int rc = add_rewrite_rule(o, where, rule->valuestring, err, errsz);
			if (rc < 0)
				return rc;
		}
		return 0;
	}
	if (cJSON_IsObject(item)) {
		cJSON_ArrayForEach(rule, item)
		{
			if (!cJSON_IsString(rule)) {
				set_err(err, errsz, "%srewrite: the value of '%.200s' must be a string",
					where, rule->string);
				return -EINVAL;
			}
			int rc = add_rewrite(o, where, rule->string, strlen(rule->string),
					     rule->valuestring, err, errsz);
			if (rc < 0)
				return rc;
		}
		return 0;
	}
	set_err(err, errsz, "%srewrite must be a list of \"FROM=TO\" or an object {FROM: TO}", where);
	return -EINVAL;
}

/* "token_host": a list of host names, appended after the command line's. */
static int config_token_host(struct hub_options *o, const char *where, const cJSON *item,
			     char *err, size_t errsz)
{
	if (!cJSON_IsArray(item)) {
		set_err(err, errsz, "%stoken_host must be a list of host names", where);
		return -EINVAL;
	}
	const cJSON *h;
	cJSON_ArrayForEach(h, item)
	{
		if (!cJSON_IsString(h)) {
			set_err(err, errsz, "%stoken_host: list items must be strings", where);
			return -EINVAL;
		}
		int rc = add_token_host(o, where, h->valuestring, err, errsz);
		if (rc < 0)
			return rc;
	}
	return 0;
}

/* One key of the config object. */
static int config_key(struct hub_options *o, const char *where, const cJSON *item, char *err,
		      size_t errsz)
{
	const char *key = item->string;
	bool str_key = strcmp(key, "cache") == 0 || strcmp(key, "git_url") == 0 ||
		       strcmp(key, "verify") == 0;
	if (str_key && !cJSON_IsString(item)) {
		set_err(err, errsz, "%s%s must be a string", where, key);
		return -EINVAL;
	}

	if (strcmp(key, "rewrite") == 0)
		return config_rewrite(o, where, item, err, errsz);
	if (strcmp(key, "token_host") == 0)
		return config_token_host(o, where, item, err, errsz);
	if (strcmp(key, "offline") == 0) {
		if (!cJSON_IsBool(item)) {
			set_err(err, errsz, "%soffline must be true or false", where);
			return -EINVAL;
		}
		if (!(o->cli_set & HUB_OPT_OFFLINE))
			o->offline = cJSON_IsTrue(item);
		return 0;
	}
	if (strcmp(key, "allow_private") == 0) {
		if (!cJSON_IsBool(item)) {
			set_err(err, errsz, "%sallow_private must be true or false", where);
			return -EINVAL;
		}
		if (!(o->cli_set & HUB_OPT_ALLOW_PRIVATE))
			o->allow_private = cJSON_IsTrue(item);
		return 0;
	}
	if (strcmp(key, "url_access") == 0) {
		enum hub_url_access v;
		if (!cJSON_IsString(item) || parse_url_access(&v, item->valuestring) < 0) {
			set_err(err, errsz, "%surl_access must be \"owner\" or \"all\"", where);
			return -EINVAL;
		}
		if (!(o->cli_set & HUB_OPT_URL_ACCESS))
			o->url_access = v;
		return 0;
	}
	if (strcmp(key, "ref_ttl") == 0 || strcmp(key, "neg_ttl") == 0) {
		bool ref = key[0] == 'r';
		long v;
		if (!json_seconds(&v, item)) {
			set_err(err, errsz, "%sbad value for %s (expected a number of seconds)", where,
				key);
			return -EINVAL;
		}
		if (!(o->cli_set & (ref ? HUB_OPT_REF_TTL : HUB_OPT_NEG_TTL)))
			*(ref ? &o->ref_ttl : &o->neg_ttl) = v;
		return 0;
	}
	if (strcmp(key, "verify") == 0) {
		enum hub_verify v;
		if (parse_verify(&v, item->valuestring) < 0) {
			set_err(err, errsz,
				"%sbad value for verify: '%.200s' (expected stream or strict)", where,
				item->valuestring);
			return -EINVAL;
		}
		if (!(o->cli_set & HUB_OPT_VERIFY))
			o->verify = v;
		return 0;
	}
	if (str_key) { /* cache, git_url */
		int rc = check_value(where, key, item->valuestring, err, errsz);
		if (rc < 0)
			return rc;
		bool cache = key[0] == 'c';
		if (o->cli_set & (cache ? HUB_OPT_CACHE : HUB_OPT_GIT_URL))
			return 0;
		rc = set_string(cache ? &o->cache_dir : &o->git_url, item->valuestring,
				strlen(item->valuestring));
		if (rc < 0)
			set_err(err, errsz, "out of memory");
		return rc;
	}
	set_err(err, errsz, "%sunknown key '%.200s'", where, key);
	return -EINVAL;
}

/* apply_config with "NAME: " in front of its error messages. */
static int apply_config_named(struct hub_options *o, const char *name, const char *json,
			      size_t len, char *err, size_t errsz)
{
	char where[PATH_MAX + 4];
	snprintf(where, sizeof(where), "%s: ", name);

	if (len > HUB_JSON_MAX) {
		set_err(err, errsz, "%slarger than %u bytes", where, HUB_JSON_MAX);
		return -EFBIG;
	}
	const char *end = NULL;
	cJSON *root = cJSON_ParseWithLengthOpts(json, len, &end, false);
	if (!root) {
		size_t line = 1;
		for (const char *p = json; end && p < end && p < json + len; p++)
			line += *p == '\n';
		set_err(err, errsz, "%sinvalid JSON near line %zu", where, line);
		return -EINVAL;
	}
	int rc = 0;
	while (end < json + len && *end && strchr(" \t\r\n", *end))
		end++;
	if (end < json + len) {
		set_err(err, errsz, "%strailing data after the JSON object", where);
		rc = -EINVAL;
	} else if (!cJSON_IsObject(root)) {
		set_err(err, errsz, "%sexpected a JSON object", where);
		rc = -EINVAL;
	}
	const cJSON *item;
	cJSON_ArrayForEach(item, root)
	{
		if (rc < 0)
			break;
		rc = config_key(o, where, item, err, errsz);
	}
	cJSON_Delete(root);
	return rc;
}

int hub_options_apply_config(struct hub_options *o, const char *json, size_t len, char *err,
			     size_t errsz)
{
	return apply_config_named(o, "config", json, len, err, errsz);
}

/* The default config path, or "" when there is none. */
static void default_config_path(char *out, size_t outsz, hub_getenv_fn env)
{
	const char *xdg = env_nonempty(env, "XDG_CONFIG_HOME");
	const char *home = env_nonempty(env, "HOME");
	out[0] = '\0';
	if ((xdg && path_join(out, outsz, xdg, "hubfs", "config.json") < 0) ||
	    (!xdg && home && path_join(out, outsz, home, ".config/hubfs", "config.json") < 0))
		out[0] = '\0';
}

/* Read and apply the config: an explicit one must be readable, the default
 * one is skipped when it does not exist. */
static int load_config(struct hub_options *o, const char *explicit_path, hub_getenv_fn env,
		       char *err, size_t errsz)
{
	char path[PATH_MAX];
	if (explicit_path) {
		int rc = make_absolute(path, sizeof(path), explicit_path, env);
		if (rc < 0) {
			set_err(err, errsz, "bad config path '%.200s': %s", explicit_path,
				strerror(-rc));
			return rc;
		}
	} else {
		default_config_path(path, sizeof(path), env);
		if (!path[0])
			return 0;
	}

	char *json = NULL;
	size_t len = 0;
	int rc = read_small_file(&json, &len, path);
	if (rc == -ENOENT && !explicit_path)
		return 0;
	if (rc == -EFBIG) {
		set_err(err, errsz, "%.200s: config larger than %u bytes", path, HUB_JSON_MAX);
		return rc;
	}
	if (rc < 0) {
		set_err(err, errsz, "cannot read config %.200s: %s", path, strerror(-rc));
		return rc;
	}
	rc = set_string(&o->config_path, path, strlen(path));
	if (rc == 0)
		rc = apply_config_named(o, path, json, len, err, errsz);
	else
		set_err(err, errsz, "out of memory");
	free(json);
	return rc;
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
	if (!o->git_url && set_string(&o->git_url, DEFAULT_GIT_URL, strlen(DEFAULT_GIT_URL)) < 0)
		goto nomem;
	if (o->cache_dir) {
		char abs[PATH_MAX];
		int rc = make_absolute(abs, sizeof(abs), o->cache_dir, env);
		if (rc < 0) {
			set_err(c->err, c->errsz, "bad value for cache: '%.200s': %s", o->cache_dir,
				strerror(-rc));
			return -EINVAL;
		}
		if (set_string(&o->cache_dir, abs, strlen(abs)) < 0)
			goto nomem;
	}
	if (build_fuse_argv(o, c->fuse_opts) < 0)
		goto nomem;
	c->fuse_opts = NULL;
	return 0;
nomem:
	set_err(c->err, c->errsz, "out of memory");
	return -ENOMEM;
}

int hub_options_parse(struct hub_options *out, int argc, char **argv, hub_getenv_fn env,
		      char *err, size_t errsz)
{
	memset(out, 0, sizeof(*out));
	out->ref_ttl = HUB_REF_TTL_DEFAULT;
	out->neg_ttl = HUB_NEG_TTL_DEFAULT;
	out->verify = HUB_VERIFY_STREAM;
	if (!env)
		env = sys_getenv;
	if (err && errsz)
		err[0] = '\0';

	struct cli c = {.o = out, .err = err, .errsz = errsz};
	int rc = 0;
	out->cmd = scan_info_command(argc, argv);
	if (out->cmd != HUB_CMD_MOUNT) {
		/* --help, --version: nothing else matters */
	} else if (argc > 1 && strcmp(argv[1], "status") == 0) {
		out->cmd = HUB_CMD_STATUS;
		if (argc < 3 || !*argv[2]) {
			set_err(err, errsz, "missing mountpoint");
			rc = -EINVAL;
		} else if (argc > 3) {
			set_err(err, errsz, "unexpected argument: '%.200s'", argv[3]);
			rc = -EINVAL;
		} else if (set_string(&out->mountpoint, argv[2], strlen(argv[2])) < 0) {
			set_err(err, errsz, "out of memory");
			rc = -ENOMEM;
		}
	} else {
		rc = parse_argv(&c, argc, argv);
		if (rc == 0)
			rc = load_config(out, c.config, env, err, errsz);
	}
	if (rc == 0)
		rc = finish(&c, env);

	free(c.config);
	free(c.fuse_opts);
	if (rc < 0)
		hub_options_dispose(out);
	return rc;
}

void hub_options_dispose(struct hub_options *o)
{
	if (!o)
		return;
	free(o->mountpoint);
	free(o->source);
	free(o->cache_dir);
	free(o->git_url);
	free(o->config_path);
	for (size_t i = 0; i < o->n_rewrite; i++) {
		free(o->rewrite[i].from);
		free(o->rewrite[i].to);
	}
	for (size_t i = 0; i < o->n_token_host; i++)
		free(o->token_host[i]);
	if (o->fuse_argv)
		for (int i = 0; o->fuse_argv[i]; i++)
			free(o->fuse_argv[i]);
	free(o->fuse_argv);
	memset(o, 0, sizeof(*o));
}

/* ---- URLs and paths ---------------------------------------------------- */

int hub_options_cache_root(char *out, size_t outsz, const struct hub_options *o, hub_getenv_fn env)
{
	if (!env)
		env = sys_getenv;
	const char *v;
	char base[PATH_MAX];
	int rc;
	if (o && o->cache_dir)
		rc = path_join(base, sizeof(base), o->cache_dir, "", "");
	else if ((v = env_nonempty(env, "TORCH_HOME")))
		rc = path_join(base, sizeof(base), v, "hub", "");
	else if ((v = env_nonempty(env, "XDG_CACHE_HOME")))
		rc = path_join(base, sizeof(base), v, "torch/hub", "");
	else if ((v = env_nonempty(env, "HOME")))
		rc = path_join(base, sizeof(base), v, ".cache/torch/hub", "");
	else
		return -ENOENT;
	if (rc < 0)
		return rc;
	rc = make_absolute(out, outsz, base, env);
	return rc < 0 ? rc : 0;
}

int hub_options_rewrite(char *out, size_t outsz, const struct hub_options *o, const char *url)
{
	const struct hub_rewrite *best = NULL;
	size_t best_len = 0;
	for (size_t i = 0; o && i < o->n_rewrite; i++) {
		size_t n = strlen(o->rewrite[i].from);
		/* strictly longer: on a tie the earlier rule (command line) wins */
		if (n > best_len && strncmp(url, o->rewrite[i].from, n) == 0) {
			best = &o->rewrite[i];
			best_len = n;
		}
	}
	int n = snprintf(out, outsz, "%s%s", best ? best->to : "", url + best_len);
	if (n < 0 || (size_t)n >= outsz)
		return -ENAMETOOLONG;
	return n;
}

bool hub_options_rewritten(const struct hub_options *o, const char *url)
{
	for (size_t i = 0; o && i < o->n_rewrite; i++) {
		const struct hub_rewrite *r = &o->rewrite[i];
		size_t tl = strlen(r->to);
		if (strncmp(url, r->to, tl))
			continue;
		/* the URL this rule would have rewritten into url, rewritten by
		 * the longest match: url again only if this rule (or an equal
		 * one) is the one that applies */
		char in[HUB_URL_MAX], out[HUB_URL_MAX];
		int n = snprintf(in, sizeof(in), "%s%s", r->from, url + tl);
		if (n < 0 || (size_t)n >= sizeof(in))
			continue;
		if (hub_options_rewrite(out, sizeof(out), o, in) >= 0 && !strcmp(out, url))
			return true;
	}
	return false;
}

int hub_options_git_url(char *out, size_t outsz, const struct hub_options *o, const char *owner,
			const char *repo)
{
	const char *tmpl = o && o->git_url ? o->git_url : DEFAULT_GIT_URL;
	char url[HUB_URL_MAX];
	size_t n = 0;
	for (const char *p = tmpl; *p;) {
		const char *piece = p;
		size_t plen = 1;
		if (strncmp(p, "{owner}", 7) == 0) {
			piece = owner;
			plen = strlen(owner);
			p += 7;
		} else if (strncmp(p, "{repo}", 6) == 0) {
			piece = repo;
			plen = strlen(repo);
			p += 6;
		} else {
			p++;
		}
		if (n + plen >= sizeof(url))
			return -ENAMETOOLONG;
		memcpy(url + n, piece, plen);
		n += plen;
	}
	url[n] = '\0';
	return hub_options_rewrite(out, outsz, o, url);
}

void hub_options_usage(const char *prog)
{
	if (!prog || !*prog)
		prog = "hubfs";
	printf("Usage: %s [-f] [-d] [-s] [-o OPTION[,OPTION...]] MOUNTPOINT\n"
	       "       %s SOURCE MOUNTPOINT [-o OPTION[,OPTION...]]   (mount.fuse3, fstab)\n"
	       "       %s status MOUNTPOINT\n"
	       "       %s --help | --version\n"
	       "\n"
	       "Mount PyTorch Hub read-only at MOUNTPOINT: /OWNER/REPO, /OWNER/REPO:REF and\n"
	       "/OWNER/REPO@SHA, fetched on first access into a cache shared with torch.hub.\n"
	       "Unmount with: fusermount3 -u MOUNTPOINT\n"
	       "\n"
	       "Commands:\n"
	       "  status MOUNTPOINT      show the downloads in flight as progress bars\n"
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
	       "  offline                make no network request; serve only what is cached\n"
	       "  allow_private          weight URLs may reach loopback, private and link-local\n"
	       "                         addresses (default: only rewrite= targets may)\n"
	       "  url_access=owner|all   who may read /.hubfs/url/: the mount's owner (default)\n"
	       "                         or every user\n"
	       "  ref_ttl=SECONDS        how long a branch resolution is trusted (default %d)\n"
	       "  neg_ttl=SECONDS        how long \"does not exist\" is remembered (default %d)\n"
	       "  verify=stream|strict   strict holds reads of a weight file until its hash is\n"
	       "                         verified (default stream)\n"
	       "  config=FILE            JSON file with the same keys (\"rewrite\": [\"FROM=TO\"] or\n"
	       "                         {\"FROM\": \"TO\"}, \"token_host\": [\"HOST\"]); the\n"
	       "                         command line wins over it\n"
	       "                         (default: $XDG_CONFIG_HOME/hubfs/config.json,\n"
	       "                         else ~/.config/hubfs/config.json, if it exists)\n",
	       prog, prog, prog, prog, DEFAULT_GIT_URL, HUB_REF_TTL_DEFAULT, HUB_NEG_TTL_DEFAULT);
}
