/*
 * Internal to fs/options.c (the command line, through libfuse's parser) and
 * fs/options_config.c (FUSE-free: option values, the JSON config file, the
 * struct's disposal and the cache root).  Error messages go into
 * err (one line, control characters replaced); `where` is their prefix
 * ("" on the command line, "FILE: " in a config).
 */
#ifndef HUB_OPTIONS_IMPL_H
#define HUB_OPTIONS_IMPL_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>

#include "fs/options.h"

/* TTLs are added to time_t clocks and handed to timers: INT_MAX seconds (68
 * years) means "forever" and keeps that arithmetic far from overflow. */
#define HUB_OPT_TTL_MAX INT_MAX

__attribute__((format(printf, 3, 4))) void hub_opt_err(char *err, size_t errsz,
							const char *fmt, ...);
/* getenv, the default hub_getenv_fn. */
const char *hub_opt_sys_getenv(const char *name);
/* env(name) when set and non-empty, else NULL. */
const char *hub_opt_env(hub_getenv_fn env, const char *name);
/* Replace *slot with a copy of s[0..len). */
int hub_opt_set_string(char **slot, const char *s, size_t len);
/* a + "/" + b + "/" + c, skipping empty parts, runs of '/' squashed, no
 * trailing '/' (except for "/" itself). */
int hub_opt_path_join(char *out, size_t outsz, const char *a, const char *b, const char *c);
/* "~" and "~/x" from $HOME, relative paths against the current directory. */
int hub_opt_make_absolute(char *out, size_t outsz, const char *path, hub_getenv_fn env);

int hub_opt_parse_verify(enum hub_verify *out, const char *s);
int hub_opt_parse_url_access(enum hub_url_access *out, const char *s);
/* A string value of cache=, git_url= or config=: non-empty, bounded. */
int hub_opt_check_value(const char *where, const char *name, const char *val, char *err,
			size_t errsz);
/* Append the rule FROM=TO, FROM being from[0..from_len). */
int hub_opt_add_rewrite(struct hub_options *o, const char *where, const char *from,
			size_t from_len, const char *to, char *err, size_t errsz);
/* "FROM=TO", split at the first '='. */
int hub_opt_add_rewrite_rule(struct hub_options *o, const char *where, const char *rule,
			     char *err, size_t errsz);
/* analysis_path=: ':'-separated absolute directories; -EINVAL (message in
 * err) for an empty, relative or over-long value. */
int hub_opt_set_analysis_path(struct hub_options *o, const char *where, const char *val,
			      char *err, size_t errsz);
/* Append one token_host= host. */
int hub_opt_add_token_host(struct hub_options *o, const char *where, const char *host,
			   char *err, size_t errsz);

/* Read and apply the config (fs/options_config.c): explicit_path must be
 * readable; without it the default path is used when that file exists. */
int hub_opt_load_config(struct hub_options *o, const char *explicit_path, hub_getenv_fn env,
			char *err, size_t errsz);

#endif
