/*
 * Option values, the JSON config file, the struct's disposal and the cache
 * root (see options.h); FUSE-free.  The command line is fs/options.c.
 *
 * The config file's keys are the -o options;
 * "rewrite" is a list of "FROM=TO" strings or an object {FROM: TO},
 * "token_host" a list of host names.  Applied after the command line: an
 * option the command line set (o->cli_set) is validated but not overridden;
 * rewrite rules and token hosts are appended after the command line's.
 */
#include "fs/options_impl.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---- small helpers ---------------------------------------------------- */

void hub_opt_err(char *err, size_t errsz, const char *fmt, ...)
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

const char *hub_opt_sys_getenv(const char *name)
{
	return getenv(name);
}

const char *hub_opt_env(hub_getenv_fn env, const char *name)
{
	const char *v = env(name);
	return v && *v ? v : NULL;
}

int hub_opt_set_string(char **slot, const char *s, size_t len)
{
	char *copy = strndup(s, len);
	if (!copy)
		return -ENOMEM;
	free(*slot);
	*slot = copy;
	return 0;
}

int hub_opt_path_join(char *out, size_t outsz, const char *a, const char *b, const char *c)
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

int hub_opt_make_absolute(char *out, size_t outsz, const char *path, hub_getenv_fn env)
{
	if (path[0] == '~' && (path[1] == '\0' || path[1] == '/')) {
		const char *home = hub_opt_env(env, "HOME");
		if (!home)
			return -ENOENT;
		return hub_opt_path_join(out, outsz, home, path + 1, "");
	}
	if (path[0] == '/')
		return hub_opt_path_join(out, outsz, path, "", "");
	char cwd[PATH_MAX];
	if (!getcwd(cwd, sizeof(cwd)))
		return -errno;
	return hub_opt_path_join(out, outsz, cwd, path, "");
}

/* ---- option values, shared by the command line and the config --------- */

int hub_opt_parse_verify(enum hub_verify *out, const char *s)
{
	if (strcmp(s, "stream") == 0)
		*out = HUB_VERIFY_STREAM;
	else if (strcmp(s, "strict") == 0)
		*out = HUB_VERIFY_STRICT;
	else
		return -EINVAL;
	return 0;
}

int hub_opt_parse_url_access(enum hub_url_access *out, const char *s)
{
	if (strcmp(s, "owner") == 0)
		*out = HUB_URL_ACCESS_OWNER;
	else if (strcmp(s, "all") == 0)
		*out = HUB_URL_ACCESS_ALL;
	else
		return -EINVAL;
	return 0;
}

int hub_opt_check_value(const char *where, const char *name, const char *val, char *err,
			size_t errsz)
{
	if (!*val) {
		hub_opt_err(err, errsz, "%sempty value for %s", where, name);
		return -EINVAL;
	}
	if (strlen(val) >= HUB_URL_MAX) {
		hub_opt_err(err, errsz, "%svalue for %s is too long (at most %d bytes)", where, name,
			    HUB_URL_MAX - 1);
		return -EINVAL;
	}
	return 0;
}

int hub_opt_add_rewrite(struct hub_options *o, const char *where, const char *from,
			size_t from_len, const char *to, char *err, size_t errsz)
{
	int rc = hub_rewrite_add(&o->rewrites, from, from_len, to);
	if (rc == -ENOSPC)
		hub_opt_err(err, errsz, "%stoo many rewrite rules (at most %d)", where,
			    HUB_REWRITE_MAX);
	else if (rc == -EINVAL)
		hub_opt_err(err, errsz, "%sbad rewrite rule: empty FROM (expected FROM=TO)", where);
	else if (rc == -ENAMETOOLONG)
		hub_opt_err(err, errsz, "%srewrite rule is too long (at most %d bytes a side)", where,
			    HUB_URL_MAX - 1);
	else if (rc == -ENOMEM)
		hub_opt_err(err, errsz, "out of memory");
	if (rc == -ENOSPC || rc == -ENAMETOOLONG)
		rc = -EINVAL;
	return rc;
}

int hub_opt_add_rewrite_rule(struct hub_options *o, const char *where, const char *rule,
			     char *err, size_t errsz)
{
	const char *eq = strchr(rule, '=');
	if (!eq || eq == rule) {
		hub_opt_err(err, errsz, "%sbad rewrite rule: '%.200s' (expected FROM=TO)", where,
			    rule);
		return -EINVAL;
	}
	return hub_opt_add_rewrite(o, where, rule, (size_t)(eq - rule), eq + 1, err, errsz);
}

int hub_opt_set_analysis_path(struct hub_options *o, const char *where, const char *val,
			      char *err, size_t errsz)
{
	if (hub_opt_check_value(where, "analysis_path", val, err, errsz) < 0)
		return -EINVAL;
	/* /.hubfs/options shows the value as one line */
	for (const char *s = val; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f) {
			hub_opt_err(err, errsz,
				    "%sbad value for analysis_path: control character 0x%02x",
				    where, (unsigned char)*s);
			return -EINVAL;
		}
	for (const char *s = val;;) {
		size_t n = strcspn(s, ":");
		if (n == 0 || s[0] != '/') { /* also an empty last component: "/a:" */
			hub_opt_err(err, errsz,
				    "%sbad value for analysis_path: '%.200s' (expected absolute "
				    "directories separated by ':')", where, val);
			return -EINVAL;
		}
		s += n;
		if (*s != ':')
			break;
		s++;
	}
	if (hub_opt_set_string(&o->analysis_path, val, strlen(val)) < 0) {
		hub_opt_err(err, errsz, "out of memory");
		return -EINVAL;
	}
	return 0;
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

int hub_opt_add_token_host(struct hub_options *o, const char *where, const char *host, char *err,
			   size_t errsz)
{
	if (!host_valid(host)) {
		hub_opt_err(err, errsz,
			    "%sbad value for token_host: '%.200s' (expected a host name or IP "
			    "address, without scheme, port or path)",
			    where, host);
		return -EINVAL;
	}
	if (o->n_token_host >= HUB_TOKEN_HOST_MAX) {
		hub_opt_err(err, errsz, "%stoo many token_host entries (at most %d)", where,
			    HUB_TOKEN_HOST_MAX);
		return -EINVAL;
	}
	char *copy = strdup(host);
	if (!copy) {
		hub_opt_err(err, errsz, "out of memory");
		return -ENOMEM;
	}
	o->token_host[o->n_token_host++] = copy;
	return 0;
}

/* ---- the struct ------------------------------------------------------- */

void hub_options_dispose(struct hub_options *o)
{
	if (!o)
		return;
	free(o->mountpoint);
	free(o->source);
	free(o->cache_dir);
	free(o->git_url);
	free(o->proxy);
	free(o->cache_max);
	free(o->config_path);
	free(o->analysis_path);
	hub_rewrite_dispose(&o->rewrites);
	for (size_t i = 0; i < o->n_token_host; i++)
		free(o->token_host[i]);
	if (o->fuse_argv)
		for (int i = 0; o->fuse_argv[i]; i++)
			free(o->fuse_argv[i]);
	free(o->fuse_argv);
	memset(o, 0, sizeof(*o));
}

int hub_options_cache_root(char *out, size_t outsz, const struct hub_options *o, hub_getenv_fn env)
{
	if (!env)
		env = hub_opt_sys_getenv;
	const char *v;
	char base[PATH_MAX];
	int rc;
	if (o && o->cache_dir)
		rc = hub_opt_path_join(base, sizeof(base), o->cache_dir, "", "");
	else if ((v = hub_opt_env(env, "TORCH_HOME")))
		rc = hub_opt_path_join(base, sizeof(base), v, "hub", "");
	else if ((v = hub_opt_env(env, "XDG_CACHE_HOME")))
		rc = hub_opt_path_join(base, sizeof(base), v, "torch/hub", "");
	else if ((v = hub_opt_env(env, "HOME")))
		rc = hub_opt_path_join(base, sizeof(base), v, ".cache/torch/hub", "");
	else
		return -ENOENT;
	if (rc < 0)
		return rc;
	rc = hub_opt_make_absolute(out, outsz, base, env);
	return rc < 0 ? rc : 0;
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
	if (!(d >= 0 && d <= HUB_OPT_TTL_MAX) || (double)(long)d != d)
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
				hub_opt_err(err, errsz, "%srewrite: list items must be \"FROM=TO\" strings",
					where);
				return -EINVAL;
			}
			int rc = hub_opt_add_rewrite_rule(o, where, rule->valuestring, err, errsz);
			if (rc < 0)
				return rc;
		}
		return 0;
	}
	if (cJSON_IsObject(item)) {
		cJSON_ArrayForEach(rule, item)
		{
			if (!cJSON_IsString(rule)) {
				hub_opt_err(err, errsz, "%srewrite: the value of '%.200s' must be a string",
					where, rule->string);
				return -EINVAL;
			}
			int rc = hub_opt_add_rewrite(o, where, rule->string, strlen(rule->string),
					     rule->valuestring, err, errsz);
			if (rc < 0)
				return rc;
		}
		return 0;
	}
	hub_opt_err(err, errsz, "%srewrite must be a list of \"FROM=TO\" or an object {FROM: TO}", where);
	return -EINVAL;
}

/* "token_host": a list of host names, appended after the command line's. */
static int config_token_host(struct hub_options *o, const char *where, const cJSON *item,
			     char *err, size_t errsz)
{
	if (!cJSON_IsArray(item)) {
		hub_opt_err(err, errsz, "%stoken_host must be a list of host names", where);
		return -EINVAL;
	}
	const cJSON *h;
	cJSON_ArrayForEach(h, item)
	{
		if (!cJSON_IsString(h)) {
			hub_opt_err(err, errsz, "%stoken_host: list items must be strings", where);
			return -EINVAL;
		}
		int rc = hub_opt_add_token_host(o, where, h->valuestring, err, errsz);
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
	if (strcmp(key, "cache_max") == 0) {
		if (!cJSON_IsString(item) || !item->valuestring[0]) {
			hub_opt_err(err, errsz, "%scache_max must be a string such as \"20G\" or \"10%%\"",
				    where);
			return -EINVAL;
		}
		if (o->cli_set & HUB_OPT_CACHE_MAX)
			return 0;
		int rc = hub_opt_set_string(&o->cache_max, item->valuestring,
					    strlen(item->valuestring));
		if (rc < 0)
			hub_opt_err(err, errsz, "out of memory");
		return rc;
	}
	if (strcmp(key, "evict_checkpoints") == 0) {
		if (!cJSON_IsString(item) || (strcmp(item->valuestring, "ours") &&
					      strcmp(item->valuestring, "all"))) {
			hub_opt_err(err, errsz, "%sevict_checkpoints must be \"ours\" or \"all\"", where);
			return -EINVAL;
		}
		if (!(o->cli_set & HUB_OPT_EVICT_CKPT))
			o->evict_checkpoints_all = item->valuestring[0] == 'a';
		return 0;
	}
	bool str_key = strcmp(key, "cache") == 0 || strcmp(key, "git_url") == 0 ||
		       strcmp(key, "proxy") == 0 || strcmp(key, "verify") == 0;
	if (str_key && !cJSON_IsString(item)) {
		hub_opt_err(err, errsz, "%s%s must be a string", where, key);
		return -EINVAL;
	}

	if (strcmp(key, "rewrite") == 0)
		return config_rewrite(o, where, item, err, errsz);
	if (strcmp(key, "token_host") == 0)
		return config_token_host(o, where, item, err, errsz);
	if (strcmp(key, "offline") == 0) {
		if (!cJSON_IsBool(item)) {
			hub_opt_err(err, errsz, "%soffline must be true or false", where);
			return -EINVAL;
		}
		if (!(o->cli_set & HUB_OPT_OFFLINE))
			o->offline = cJSON_IsTrue(item);
		return 0;
	}
	if (strcmp(key, "allow_private") == 0) {
		if (!cJSON_IsBool(item)) {
			hub_opt_err(err, errsz, "%sallow_private must be true or false", where);
			return -EINVAL;
		}
		if (!(o->cli_set & HUB_OPT_ALLOW_PRIVATE))
			o->allow_private = cJSON_IsTrue(item);
		return 0;
	}
	if (strcmp(key, "url_access") == 0) {
		enum hub_url_access v;
		if (!cJSON_IsString(item) || hub_opt_parse_url_access(&v, item->valuestring) < 0) {
			hub_opt_err(err, errsz, "%surl_access must be \"owner\" or \"all\"", where);
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
			hub_opt_err(err, errsz, "%sbad value for %s (expected a number of seconds)", where,
				key);
			return -EINVAL;
		}
		if (!(o->cli_set & (ref ? HUB_OPT_REF_TTL : HUB_OPT_NEG_TTL)))
			*(ref ? &o->ref_ttl : &o->neg_ttl) = v;
		return 0;
	}
	if (strcmp(key, "verify") == 0) {
		enum hub_verify v;
		if (hub_opt_parse_verify(&v, item->valuestring) < 0) {
			hub_opt_err(err, errsz,
				"%sbad value for verify: '%.200s' (expected stream or strict)", where,
				item->valuestring);
			return -EINVAL;
		}
		if (!(o->cli_set & HUB_OPT_VERIFY))
			o->verify = v;
		return 0;
	}
	if (strcmp(key, "analysis_path") == 0) {
		if (!cJSON_IsString(item)) {
			hub_opt_err(err, errsz, "%sanalysis_path must be a string", where);
			return -EINVAL;
		}
		if (o->cli_set & HUB_OPT_ANALYSIS_PATH)
			return 0;
		return hub_opt_set_analysis_path(o, where, item->valuestring, err, errsz);
	}
	if (str_key) { /* cache, git_url, proxy */
		int rc = hub_opt_check_value(where, key, item->valuestring, err, errsz);
		if (rc < 0)
			return rc;
		unsigned bit = key[0] == 'c' ? HUB_OPT_CACHE
			       : key[0] == 'g' ? HUB_OPT_GIT_URL : HUB_OPT_PROXY;
		if (o->cli_set & bit)
			return 0;
		char **field = bit == HUB_OPT_CACHE ? &o->cache_dir
			       : bit == HUB_OPT_GIT_URL ? &o->git_url : &o->proxy;
		rc = hub_opt_set_string(field, item->valuestring, strlen(item->valuestring));
		if (rc < 0)
			hub_opt_err(err, errsz, "out of memory");
		return rc;
	}
	hub_opt_err(err, errsz, "%sunknown key '%.200s'", where, key);
	return -EINVAL;
}

/* apply_config with "NAME: " in front of its error messages. */
static int apply_config_named(struct hub_options *o, const char *name, const char *json,
			      size_t len, char *err, size_t errsz)
{
	char where[PATH_MAX + 4];
	snprintf(where, sizeof(where), "%s: ", name);

	if (len > HUB_JSON_MAX) {
		hub_opt_err(err, errsz, "%slarger than %u bytes", where, HUB_JSON_MAX);
		return -EFBIG;
	}
	const char *end = NULL;
	cJSON *root = cJSON_ParseWithLengthOpts(json, len, &end, false);
	if (!root) {
		size_t line = 1;
		for (const char *p = json; end && p < end && p < json + len; p++)
			line += *p == '\n';
		hub_opt_err(err, errsz, "%sinvalid JSON near line %zu", where, line);
		return -EINVAL;
	}
	int rc = 0;
	while (end < json + len && *end && strchr(" \t\r\n", *end))
		end++;
	if (end < json + len) {
		hub_opt_err(err, errsz, "%strailing data after the JSON object", where);
		rc = -EINVAL;
	} else if (!cJSON_IsObject(root)) {
		hub_opt_err(err, errsz, "%sexpected a JSON object", where);
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
	const char *xdg = hub_opt_env(env, "XDG_CONFIG_HOME");
	const char *home = hub_opt_env(env, "HOME");
	out[0] = '\0';
	if ((xdg && hub_opt_path_join(out, outsz, xdg, "hubfs", "config.json") < 0) ||
	    (!xdg && home && hub_opt_path_join(out, outsz, home, ".config/hubfs", "config.json") < 0))
		out[0] = '\0';
}

/* Read and apply the config: an explicit one must be readable, the default
 * one is skipped when it does not exist. */
int hub_opt_load_config(struct hub_options *o, const char *explicit_path, hub_getenv_fn env,
		       char *err, size_t errsz)
{
	char path[PATH_MAX];
	if (explicit_path) {
		int rc = hub_opt_make_absolute(path, sizeof(path), explicit_path, env);
		if (rc < 0) {
			hub_opt_err(err, errsz, "bad config path '%.200s': %s", explicit_path,
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
		hub_opt_err(err, errsz, "%.200s: config larger than %u bytes", path, HUB_JSON_MAX);
		return rc;
	}
	if (rc < 0) {
		hub_opt_err(err, errsz, "cannot read config %.200s: %s", path, strerror(-rc));
		return rc;
	}
	rc = hub_opt_set_string(&o->config_path, path, strlen(path));
	if (rc == 0)
		rc = apply_config_named(o, path, json, len, err, errsz);
	else
		hub_opt_err(err, errsz, "out of memory");
	free(json);
	return rc;
}
