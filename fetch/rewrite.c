/*
 * URL rewrite rules and the git_url template (see rewrite.h).
 */
#include "fetch/rewrite.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int hub_rewrite_add(struct hub_rewrites *rules, const char *from, size_t from_len, const char *to)
{
	if (rules->n >= HUB_REWRITE_MAX)
		return -ENOSPC;
	if (from_len == 0)
		return -EINVAL;
	if (from_len >= HUB_URL_MAX || strlen(to) >= HUB_URL_MAX)
		return -ENAMETOOLONG;
	struct hub_rewrite *r = &rules->rule[rules->n];
	r->from = strndup(from, from_len);
	r->to = strdup(to);
	if (!r->from || !r->to) {
		free(r->from);
		free(r->to);
		r->from = r->to = NULL;
		return -ENOMEM;
	}
	rules->n++;
	return 0;
}

void hub_rewrite_dispose(struct hub_rewrites *rules)
{
	for (size_t i = 0; i < rules->n; i++) {
		free(rules->rule[i].from);
		free(rules->rule[i].to);
		rules->rule[i].from = rules->rule[i].to = NULL;
	}
	rules->n = 0;
}

int hub_rewrite_apply(char *out, size_t outsz, const struct hub_rewrites *rules, const char *url)
{
	const struct hub_rewrite *best = NULL;
	size_t best_len = 0;
	for (size_t i = 0; rules && i < rules->n; i++) {
		size_t n = strlen(rules->rule[i].from);
		/* strictly longer: on a tie the earlier rule (command line) wins */
		if (n > best_len && strncmp(url, rules->rule[i].from, n) == 0) {
			best = &rules->rule[i];
			best_len = n;
		}
	}
	int n = snprintf(out, outsz, "%s%s", best ? best->to : "", url + best_len);
	if (n < 0 || (size_t)n >= outsz)
		return -ENAMETOOLONG;
	return n;
}

bool hub_rewrite_produced(const struct hub_rewrites *rules, const char *url)
{
	for (size_t i = 0; rules && i < rules->n; i++) {
		const struct hub_rewrite *r = &rules->rule[i];
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
		if (hub_rewrite_apply(out, sizeof(out), rules, in) >= 0 && !strcmp(out, url))
			return true;
	}
	return false;
}

int hub_rewrite_git_url(char *out, size_t outsz, const char *tmpl,
			const struct hub_rewrites *rules, const char *owner, const char *repo)
{
	if (!tmpl)
		tmpl = HUB_GIT_URL_DEFAULT;
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
	return hub_rewrite_apply(out, outsz, rules, url);
}
