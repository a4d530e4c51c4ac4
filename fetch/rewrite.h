/*
 * URL rewrite rules (rewrite=FROM=TO), like git's url.<TO>.insteadOf <FROM>:
 * a URL starting with FROM is fetched from TO followed by the rest.  The
 * longest matching FROM wins; on a tie the earlier rule (the command line's,
 * which come before the config file's).  They apply to repository URLs (the
 * git_url template, hub_rewrite_git_url) and to weight URLs alike.
 *
 * Pure string logic, no I/O.  The rules are filled by fs/options.c and read
 * by cache/ and fetch/http.c (a URL a rule produced is the administrator's
 * target, trusted to be a private address: hub_rewrite_produced).
 */
#ifndef HUB_FETCH_REWRITE_H
#define HUB_FETCH_REWRITE_H

#include <stdbool.h>
#include <stddef.h>

#include "base/limits.h"

/* Where repositories come from when git_url= is not given. */
#define HUB_GIT_URL_DEFAULT "https://github.com/{owner}/{repo}.git"

struct hub_rewrite {
	char *from;
	char *to;
};

/* The rules, in the order given; owned (malloc'd strings) when filled by
 * hub_rewrite_add, freed by hub_rewrite_dispose.  Zero-initialised: none. */
struct hub_rewrites {
	struct hub_rewrite rule[HUB_REWRITE_MAX];
	size_t n;
};

/* Append the rule FROM=TO, FROM being from[0..from_len), both copied.
 * -ENOSPC when HUB_REWRITE_MAX rules are there already, -EINVAL for an empty
 * FROM, -ENAMETOOLONG when a side has HUB_URL_MAX bytes or more, -ENOMEM
 * (checked in that order); rules is unchanged on error. */
int hub_rewrite_add(struct hub_rewrites *rules, const char *from, size_t from_len, const char *to);

/* Free the rules' strings and empty the set. */
void hub_rewrite_dispose(struct hub_rewrites *rules);

/* out = url with the longest matching FROM replaced by its TO (no match,
 * or rules NULL: a copy of url).  Returns the length or -ENAMETOOLONG. */
int hub_rewrite_apply(char *out, size_t outsz, const struct hub_rewrites *rules, const char *url);

/* Whether url is what some rule makes of some URL (apply(FROM + rest) ==
 * url for a rule whose TO starts url): an administrator's target.  Anyone
 * can name FROM + rest, so this is exactly the set of URLs a rewrite can
 * produce.  False when rules is NULL or empty. */
bool hub_rewrite_produced(const struct hub_rewrites *rules, const char *url);

/* Expand the git_url template (every "{owner}" and "{repo}"; other braces
 * are literal; tmpl NULL: HUB_GIT_URL_DEFAULT), then apply the rules.
 * Returns the length or -ENAMETOOLONG. */
int hub_rewrite_git_url(char *out, size_t outsz, const char *tmpl,
			const struct hub_rewrites *rules, const char *owner, const char *repo);

#endif
