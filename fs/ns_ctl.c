/*
 * /.hubfs/: the control directory of the namespace core (fs/ns.h).
 *
 *   counters, downloads, options, stale, version   snapshots, rendered at
 *       each lookup into a new node (timeout 0): the page cache never shows
 *       an old one
 *   url/<url>       any http(s) URL as a weight file, '/' written %2F and
 *       '%' written %25 (as refs are); url_access=owner: the mount owner's
 *   resolve/<owner>%2F<repo>[:<ref>]   a snapshot of "<sha>\n", the ref
 *       resolved now
 *
 * Weight file nodes (here and in .hub/) are made here too.
 */
#include "fs/ns_int.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/limits.h"
#include "base/names.h"
#include "base/redact.h"
#include "cache/weights.h"

const char *const hub_ns_ctl_names[] = { "counters", "downloads", "options", "stale", "version" };
const size_t hub_ns_ctl_count = sizeof(hub_ns_ctl_names) / sizeof(*hub_ns_ctl_names);

/* options: every user reads this file: URLs without credentials or query
 * (base/redact.h); token_host= values are plain host names. */
static char *render_options(const struct hub_ns *ns)
{
	const struct hub_options *o = ns->opts;
	char *out = NULL;
	size_t len = 0;
	char *a = malloc(HUB_URL_MAX), *b = malloc(HUB_URL_MAX);
	FILE *m = a && b ? open_memstream(&out, &len) : NULL;
	if (m) {
		hub_redact_url(a, HUB_URL_MAX, o->git_url);
		fprintf(m, "cache=%s\ngit_url=%s\noffline=%d\nref_ttl=%ld\nneg_ttl=%ld\nverify=%s\n",
			hub_cache_root(ns->cache), a, o->offline, o->ref_ttl, o->neg_ttl,
			o->verify == HUB_VERIFY_STRICT ? "strict" : "stream");
		for (size_t i = 0; i < o->rewrites.n; i++) {
			hub_redact_url(a, HUB_URL_MAX, o->rewrites.rule[i].from);
			hub_redact_url(b, HUB_URL_MAX, o->rewrites.rule[i].to);
			fprintf(m, "rewrite=%s=%s\n", a, b);
		}
		if (o->proxy) {
			hub_redact_url(a, HUB_URL_MAX, o->proxy);
			fprintf(m, "proxy=%s\n", a);
		}
		if (o->cache_max)
			fprintf(m, "cache_max=%s\nevict_checkpoints=%s\n", o->cache_max,
				o->evict_checkpoints_all ? "all" : "ours");
		for (size_t i = 0; i < o->n_token_host; i++)
			fprintf(m, "token_host=%s\n", o->token_host[i]);
		fprintf(m, "allow_private=%d\nurl_access=%s\n", o->allow_private,
			o->url_access == HUB_URL_ACCESS_ALL ? "all" : "owner");
		/* the installed-packages directories the analysis models, as
		 * given (absolute paths, ':'-separated; empty: none) */
		fprintf(m, "analysis_path=%s\n", o->analysis_path ? o->analysis_path : "");
		if (fclose(m)) {
			free(out);
			out = NULL;
		}
	}
	free(a);
	free(b);
	return out;
}

static char *render(struct hub_ns *ns, const char *name)
{
	char *out = NULL;
	if (!strcmp(name, "version")) {
		if (asprintf(&out, "hubfs %s\n", HUBFS_VERSION) < 0)
			out = NULL;
	} else if (!strcmp(name, "options")) {
		out = render_options(ns);
	} else if (!strcmp(name, "counters")) {
		struct hub_cache_stats s;
		hub_cache_stats(&s, ns->cache);
		size_t nodes = hub_ns_count(ns);
		size_t wfiles = ns->weights ? hub_weights_count(ns->weights) : 0;
		if (asprintf(&out,
			     "ls_remote %llu\nfetches %llu\nfetch_failures %llu\nstale_served %llu\n"
			     "negative_hits %llu\ninodes %zu\nweight_files %zu\n",
			     (unsigned long long)s.ls_remote, (unsigned long long)s.fetches,
			     (unsigned long long)s.fetch_failures, (unsigned long long)s.stale_served,
			     (unsigned long long)s.neg_hits, nodes, wfiles) < 0)
			out = NULL;
	} else if (!strcmp(name, "stale")) {
		out = hub_cache_stale_report(ns->cache);
	} else if (!strcmp(name, "downloads")) {
		out = ns->weights ? hub_weights_status(ns->weights) : strdup("");
	}
	return out;
}

/* A new snapshot node name in dir holding data (taken), held. */
static int snapshot(struct hub_ns_found *out, struct hub_ns *ns, struct hub_ns_node *dir,
		    const char *name, char *data)
{
	pthread_mutex_lock(&ns->lock);
	struct hub_ns_node *n = hub_ns_node_new(ns, dir, name, N_CTL_FILE, false);
	if (n) {
		n->data = data;
		n->size = strlen(data);
		n->nlookup++;
	}
	pthread_mutex_unlock(&ns->lock);
	if (!n) {
		free(data);
		return -ENOMEM;
	}
	out->node = n;
	return 0;
}

int hub_ns_ctl_snapshot(struct hub_ns_found *out, struct hub_ns *ns, struct hub_ns_node *dir,
			const char *name, char *data)
{
	return snapshot(out, ns, dir, name, data);
}

/* ------------------------------------------------------------- weights */

int hub_ns_ctl_weight(struct hub_ns_node **out, struct hub_ns *ns, struct hub_ns_node *parent,
		      const char *name, const char *url)
{
	*out = NULL;
	if (!ns->weights)
		return -ENOSYS;
	struct hub_weight *w;
	int rc = hub_weights_get(&w, ns->weights, url);
	uint64_t size = 0;
	if (!rc)
		rc = hub_weight_size(&size, w);
	if (rc) {
		hub_weight_put(w);
		return rc;
	}
	pthread_mutex_lock(&ns->lock);
	struct hub_ns_node *n = hub_ns_node_child(ns, parent, name);
	if (!n && (n = hub_ns_node_new(ns, parent, name, N_WEIGHT, true))) {
		n->weight = w;
		w = NULL;
	}
	if (n) {
		n->size = size;
		n->nlookup++; /* held */
	}
	pthread_mutex_unlock(&ns->lock);
	hub_weight_put(w);
	*out = n;
	return n ? 0 : -ENOMEM;
}

/* A weight's failure at lookup: ENOENT negative; what the download policy
 * refused (private address, https -> http) as itself; anything else EIO.
 * A positive errno. */
int hub_ns_ctl_weight_errno(int rc)
{
	if (rc == -EPERM || rc == -EPROTONOSUPPORT || rc == -ENAMETOOLONG)
		return -rc;
	return EIO;
}

/* /.hubfs/url/<url>.  The Python helper reads weights that no hubconf
 * analysis found through here. */
static int lookup_url(struct hub_ns_found *out, struct hub_ns *ns, struct hub_ns_node *dir,
		      const char *name)
{
	char url[HUB_URL_MAX], base[256];
	if (hub_name_decode_ref(url, sizeof(url), name) < 0 ||
	    (strncmp(url, "http://", 7) && strncmp(url, "https://", 8)) ||
	    hub_weights_name(base, sizeof(base), url)) {
		out->neg_ttl = HUB_TTL_NEG_INVALID;
		return 0;
	}
	int rc = hub_ns_ctl_weight(&out->node, ns, dir, name, url);
	if (rc == -ENOENT)
		return hub_ns_paths_resolve_error(out, ns, rc);
	return rc ? -hub_ns_ctl_weight_errno(rc) : 0;
}

/* /.hubfs/resolve/<owner>%2F<repo>[:<ref>] (no ref: the default branch),
 * the remote asked whatever ref_ttl says.  The Python helper's
 * force_reload; the repo's <repo>:<ref> link then shows the new commit too. */
static int lookup_resolve(struct hub_ns_found *out, struct hub_ns *ns, struct hub_ns_node *dir,
			  const char *name)
{
	char owner[HUB_OWNER_MAX + 1];
	const char *sep = strstr(name, "%2F");
	struct hub_name hn;
	if (!sep || (size_t)(sep - name) > HUB_OWNER_MAX)
		return 0; /* negative, timeout 0 */
	memcpy(owner, name, (size_t)(sep - name));
	owner[sep - name] = '\0';
	if (!hub_name_owner_valid(owner) || hub_name_parse(&hn, sep + 3) ||
	    hn.kind == HUB_NAME_COMMIT)
		return 0;
	struct hub_repo *repo;
	int rc = hub_cache_repo(&repo, ns->cache, owner, hn.repo);
	char sha[41];
	if (!rc) {
		rc = hub_repo_resolve_now(sha, repo, hn.kind == HUB_NAME_REF ? hn.ref : NULL);
		hub_repo_put(repo);
	}
	if (rc)
		return hub_ns_paths_resolve_error(out, ns, rc);
	char *data = malloc(42);
	if (!data)
		return -ENOMEM;
	snprintf(data, 42, "%s\n", sha);
	return snapshot(out, ns, dir, name, data);
}

int hub_ns_ctl_lookup(struct hub_ns_found *out, struct hub_ns *ns, struct hub_ns_node *p,
		      const char *name, uid_t uid)
{
	out->node = NULL;
	out->neg_ttl = 0;
	if (p->type == N_URL_DIR)
		return hub_ns_url_denied(ns, uid) ? -EACCES : lookup_url(out, ns, p, name);
	if (p->type == N_RESOLVE_DIR)
		return lookup_resolve(out, ns, p, name);
	/* /.hubfs */
	if (!strcmp(name, "url") || !strcmp(name, "resolve")) {
		pthread_mutex_lock(&ns->lock);
		struct hub_ns_node *n = hub_ns_node_child(ns, p, name);
		if (!n)
			n = hub_ns_node_new(ns, p, name, name[0] == 'u' ? N_URL_DIR : N_RESOLVE_DIR,
					    true);
		if (n)
			n->nlookup++;
		pthread_mutex_unlock(&ns->lock);
		out->node = n;
		return n ? 0 : -ENOMEM;
	}
	bool known = false;
	for (size_t i = 0; i < hub_ns_ctl_count; i++)
		known |= !strcmp(name, hub_ns_ctl_names[i]);
	if (!known)
		return 0; /* negative, timeout 0 */
	char *data = render(ns, name);
	if (!data)
		return -ENOMEM;
	return snapshot(out, ns, p, name, data);
}
