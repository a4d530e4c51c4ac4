/*
 * Resolution of refs to commits, the policy half of the repository cache
 * (repo.c holds the objects): ttl rules, negative entries, stale answers,
 * when to list the remote and what to fetch, and recording answers in
 * state.json.  Locks: everything here runs with the repo's resolve_lock
 * held (the single flight of repo.c's DESIGN); odb_lock and cache->lock are
 * taken inside it, in that order, never across network I/O.
 */
#include "cache/repo.h"
#include "cache/repo_internal.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "base/files.h"
#include "base/log.h"
#include "base/names.h"
#include "base/redact.h"
#include "fetch/git.h"
#include "fetch/odb.h"
#include "fetch/rewrite.h"

/* Wall-clock seconds with sub-second precision: resolutions are shared
 * through state.json between processes, so the clock must be CLOCK_REALTIME,
 * and ttl checks must not round a resolution's age up by a second. */
static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void stat_inc(struct hub_cache *c, uint64_t *field)
{
	(void)c;
	__atomic_add_fetch(field, 1, __ATOMIC_RELAXED);
}

/* ---- negative cache (resolve_lock held) ---- */

static bool neg_hit(struct hub_repo *r, const char *ref)
{
	double now = now_s();
	for (struct neg_entry *n = r->neg; n; n = n->next) {
		if (n->until > now && (!n->ref[0] || !strcmp(n->ref, ref))) {
			stat_inc(r->cache, &r->cache->stats.neg_hits);
			return true;
		}
	}
	return false;
}

static void neg_add(struct hub_repo *r, const char *ref)
{
	double until = now_s() + (double)r->cache->cfg.neg_ttl;
	struct neg_entry **pp = &r->neg;
	/* Drop expired entries, any previous entry for this ref, and the
	 * oldest past HUB_NEG_MAX (the list is newest first). */
	size_t kept = 0;
	while (*pp) {
		struct neg_entry *n = *pp;
		if (n->until <= now_s() || !strcmp(n->ref, ref) || kept >= HUB_NEG_MAX - 1) {
			*pp = n->next;
			free(n->ref);
			free(n);
		} else {
			pp = &n->next;
			kept++;
		}
	}
	struct neg_entry *n = calloc(1, sizeof(*n));
	if (!n || !(n->ref = strdup(ref))) {
		free(n);
		return;
	}
	n->until = until;
	n->next = r->neg;
	r->neg = n;
}

/* ---- stale report ---- */

static void stale_mark(struct hub_repo *r, const char *ref, const char *sha, bool stale)
{
	struct hub_cache *c = r->cache;
	char *key;
	if (asprintf(&key, "%s/%s:%s", r->owner, r->name, ref) < 0)
		return;
	pthread_mutex_lock(&c->lock);
	struct stale_ent **pp = &c->stale;
	while (*pp && strcmp((*pp)->key, key))
		pp = &(*pp)->next;
	if (stale && !*pp) {
		struct stale_ent *s = calloc(1, sizeof(*s));
		if (s) {
			s->key = key;
			key = NULL;
			memcpy(s->sha, sha, 41);
			s->next = c->stale;
			c->stale = s;
		}
	} else if (!stale && *pp) {
		struct stale_ent *s = *pp;
		*pp = s->next;
		free(s->key);
		free(s);
	}
	pthread_mutex_unlock(&c->lock);
	free(key);
}

/* ---- the local object database ---- */

/* Find a commit by hex prefix in the local odb.  0 and out filled, -ENOENT. */
static int odb_prefix(char out[41], struct hub_repo *r, const char *prefix)
{
	pthread_mutex_lock(&r->odb_lock);
	int rc = -ENOENT;
	struct hub_oid full;
	if (!hub_repo_odb_open_locked(r) && !hub_odb_find_prefix(&full, r->odb, prefix)) {
		hub_oid_to_hex(out, &full);
		rc = 0;
	}
	pthread_mutex_unlock(&r->odb_lock);
	if (!rc && hub_repo_commit_in_odb(r, out) != 1)
		rc = -ENOENT;
	return rc;
}

static void odb_refresh(struct hub_repo *r)
{
	pthread_mutex_lock(&r->odb_lock);
	/* Packs written by the fetch (another handle, maybe another process)
	 * become visible on reopen. */
	hub_odb_close(r->odb);
	r->odb = NULL;
	pthread_mutex_unlock(&r->odb_lock);
}

/* ---- network (resolve_lock held) ---- */

static int remote_url(char *out, size_t outsz, struct hub_repo *r)
{
	const struct hub_cache_config *cfg = &r->cache->cfg;
	int n = hub_rewrite_git_url(out, outsz, cfg->git_url, cfg->rewrites, r->owner, r->name);
	return n < 0 ? n : 0;
}

static int ls_remote(struct hub_remote_refs *out, struct hub_repo *r)
{
	char url[HUB_URL_MAX];
	int rc = remote_url(url, sizeof(url), r);
	if (rc)
		return rc;
	stat_inc(r->cache, &r->cache->stats.ls_remote);
	rc = hub_git_ls_remote(out, url);
	if (rc) {
		char safe[HUB_URL_MAX];
		hub_redact_url(safe, sizeof(safe), url);
		hub_info("%s/%s: listing %s failed: %s", r->owner, r->name, safe, strerror(-rc));
	}
	return rc;
}

/* Fetch refspecs; takes the cross-process lock.  The caller verifies. */
static int fetch(struct hub_repo *r, const struct hub_odb_want *w)
{
	char url[HUB_URL_MAX];
	int rc = remote_url(url, sizeof(url), r);
	if (rc)
		return rc;
	rc = hub_mkdir_p(r->dir);
	if (rc) {
		hub_err("%s: cannot create: %s", r->dir, strerror(-rc));
		return rc;
	}
	int lfd = hub_file_lock(r->lockpath);
	if (lfd < 0) {
		hub_err("%s: cannot lock: %s", r->lockpath, strerror(-lfd));
		return lfd;
	}
	hub_odb_clean_leftovers(r->gitdir);
	rc = hub_git_init_bare(r->gitdir);
	if (rc == 0) {
		stat_inc(r->cache, &r->cache->stats.fetches);
		char safe[HUB_URL_MAX];
		hub_redact_url(safe, sizeof(safe), url);
		hub_info("%s/%s: fetching %s from %s", r->owner, r->name, w->specs[0], safe);
		rc = hub_git_fetch(r->gitdir, url, w->specs, w->n, w->depth);
	}
	if (rc)
		stat_inc(r->cache, &r->cache->stats.fetch_failures);
	hub_file_unlock(lfd);
	odb_refresh(r);
	if (rc == 0)
		hub_repack_queue_add(r); /* each fetch adds a pack */
	return rc;
}

/* Fetch one full ref name (refs/heads/x, refs/tags/x, ...) shallow. */
static int fetch_ref(struct hub_repo *r, const char *fullref)
{
	struct hub_odb_want w;
	hub_odb_want_ref(&w, fullref);
	return fetch(r, &w);
}

static int fetch_sha(struct hub_repo *r, const char *sha)
{
	struct hub_odb_want w;
	hub_odb_want_commit(&w, sha);
	return fetch(r, &w);
}

/* ---- resolution ---- */

static const struct hub_remote_ref *ls_find(const struct hub_remote_refs *ls, const char *full)
{
	for (size_t i = 0; i < ls->n; i++)
		if (!strcmp(ls->refs[i].name, full))
			return &ls->refs[i];
	return NULL;
}

static const char *ref_commit(const struct hub_remote_ref *e)
{
	return e->peeled[0] ? e->peeled : e->oid;
}

static bool is_fresh(const struct hub_repo *r, const struct hub_state_ref *e, bool force)
{
	if (e->kind == KIND_TAG || e->kind == KIND_COMMIT)
		return true;
	return !force && now_s() - e->time < r->cache->cfg.ref_ttl;
}

/* A resolution to record. */
struct rec {
	const char *ref;
	const char *sha;
	enum hub_ref_kind kind;
};

/* The name a user would write for a listed ref, and its kind:
 * "refs/heads/x" -> "x"; "refs/tags/x" -> "x" unless a branch x hides it. */
static struct rec rec_of(const struct hub_remote_ref *e, const struct hub_remote_refs *ls)
{
	struct rec rc = { e->name, ref_commit(e), KIND_OTHER };
	if (!strncmp(e->name, "refs/heads/", 11)) {
		rc.ref = e->name + 11;
		rc.kind = KIND_BRANCH;
	} else if (!strncmp(e->name, "refs/tags/", 10)) {
		char branch[HUB_REF_MAX + 16];
		snprintf(branch, sizeof(branch), "refs/heads/%s", e->name + 10);
		if (!ls_find(ls, branch))
			rc.ref = e->name + 10;
		rc.kind = KIND_TAG;
	}
	return rc;
}

/* Record resolutions (and the remote HEAD, if not NULL) under the
 * cross-process lock, merging with what other processes wrote meanwhile.
 * Every sha must be present in the object database. */
static int record(struct hub_repo *r, const struct rec *recs, size_t n, const char *head)
{
	int rc = hub_mkdir_p(r->dir);
	if (rc)
		return rc;
	int lfd = hub_file_lock(r->lockpath);
	if (lfd < 0)
		return lfd;
	struct hub_state st;
	rc = hub_state_load(&st, r->statepath);
	for (size_t i = 0; !rc && i < n; i++)
		rc = hub_state_set(&st, recs[i].ref, recs[i].sha, recs[i].kind, now_s());
	hub_state_trim(&st, HUB_STATE_REFS_MAX);
	if (!rc && head) {
		char *h = strdup(head);
		if (!h) {
			rc = -ENOMEM;
		} else {
			free(st.head);
			st.head = h;
			st.head_time = now_s();
		}
	}
	if (!rc)
		rc = hub_state_save(&st, r->statepath);
	if (rc)
		hub_err("%s: cannot write: %s", r->statepath, strerror(-rc));
	hub_state_dispose(&st);
	hub_file_unlock(lfd);
	return rc;
}

/* Record ref (as the user named it) and, from the same listing, the
 * default branch and the listed ref that names the same commit, when their
 * commits are present: later lookups of those names need no network. */
static void record_with_listing(struct hub_repo *r, const char *ref, const char *sha,
				enum hub_ref_kind kind, const struct hub_remote_refs *ls,
				const struct hub_remote_ref *tip)
{
	struct rec recs[3] = { { ref, sha, kind } };
	size_t n = 1;
	if (tip && strcmp(rec_of(tip, ls).ref, ref))
		recs[n++] = rec_of(tip, ls);
	const struct hub_remote_ref *head = ls->head ? ls_find(ls, ls->head) : NULL;
	if (head && head != tip && strcmp(rec_of(head, ls).ref, ref) &&
	    hub_repo_commit_in_odb(r, ref_commit(head)) == 1)
		recs[n++] = rec_of(head, ls);
	record(r, recs, n, ls->head);
}

/* Make sure the commit of a listed ref is present. */
static int ensure_fetched(struct hub_repo *r, const char *fullref, const char *sha)
{
	if (hub_repo_commit_in_odb(r, sha) == 1)
		return 0;
	int rc = fetch_ref(r, fullref);
	if (rc)
		return rc;
	if (hub_repo_commit_in_odb(r, sha) != 1) {
		hub_err("%s/%s: fetched %s but commit %s is missing", r->owner, r->name, fullref, sha);
		return -EIO;
	}
	return 0;
}

/* Resolve a hex prefix online; ls may be NULL (listing failed). */
static int resolve_sha(char out[41], const struct hub_remote_ref **out_tip, struct hub_repo *r,
		       const char *prefix, const struct hub_remote_refs *ls)
{
	*out_tip = NULL;
	if (!odb_prefix(out, r, prefix))
		return 0;
	size_t len = strlen(prefix);
	const struct hub_remote_ref *match = NULL;
	for (size_t i = 0; ls && i < ls->n; i++) {
		if (!strncasecmp(ref_commit(&ls->refs[i]), prefix, len)) {
			if (match && strcmp(ref_commit(match), ref_commit(&ls->refs[i])))
				return -ENOENT; /* ambiguous */
			match = &ls->refs[i];
		}
	}
	if (match) {
		int rc = ensure_fetched(r, match->name, ref_commit(match));
		if (rc)
			return rc;
		memcpy(out, ref_commit(match), 41);
		*out_tip = match;
		return 0;
	}
	if (!ls)
		return -EIO;
	/* A full id may name any commit: ask the server for it.  A shorter
	 * prefix that no advertised tip has is refused: finding it would take
	 * every branch's and tag's whole history, for any made-up prefix. */
	if (len == 40 && fetch_sha(r, prefix) == 0 && !odb_prefix(out, r, prefix))
		return 0;
	return -ENOENT;
}

/* force (force_reload): a branch is asked of the remote now, and a remote
 * failure is an error, never the recorded answer.  The flag is this call's
 * alone: a concurrent resolution cannot end it early. */
static int resolve_locked(char out[41], bool *out_immutable, bool *out_stale, struct hub_repo *r,
			  const char *ref, bool force)
{
	const struct hub_cache_config *o = &r->cache->cfg;
	struct hub_state st;
	int rc = hub_state_load(&st, r->statepath);
	if (rc)
		return rc;
	struct hub_state_ref *e = hub_state_find(&st, ref);
	/* "refs/heads/x" is the branch recorded as "x"; "refs/tags/x" the tag. */
	if (!e && !strncmp(ref, "refs/heads/", 11) && (e = hub_state_find(&st, ref + 11)) &&
	    e->kind != KIND_BRANCH)
		e = NULL;
	if (!e && !strncmp(ref, "refs/tags/", 10) && (e = hub_state_find(&st, ref + 10)) &&
	    e->kind != KIND_TAG)
		e = NULL;
	/* A commit prefix is one name whatever its case: recorded, remembered
	 * missing and matched in lower case (a branch or tag spelled in upper
	 * case hex still finds its own record first). */
	bool hex = hub_name_is_hex_prefix(ref);
	char lower[41] = "";
	if (hex) {
		for (size_t i = 0; ref[i]; i++)
			lower[i] = (char)tolower((unsigned char)ref[i]);
		lower[strlen(ref)] = '\0';
		if (!e && strcmp(lower, ref) && (e = hub_state_find(&st, lower)) &&
		    e->kind != KIND_COMMIT)
			e = NULL;
	}
	const char *neg_key = hex ? lower : ref;
	if (e && hub_repo_commit_in_odb(r, e->sha) != 1)
		e = NULL; /* recorded but objects gone: resolve again */

	if (e && (o->offline || is_fresh(r, e, force) || (!force && now_s() < r->remote_fail_until))) {
		memcpy(out, e->sha, 41);
		*out_immutable = e->kind == KIND_TAG || e->kind == KIND_COMMIT;
		if (!is_fresh(r, e, force) && !o->offline) {
			*out_stale = true;
			stat_inc(r->cache, &r->cache->stats.stale_served);
		}
		hub_state_dispose(&st);
		return 0;
	}
	if (o->offline) {
		hub_state_dispose(&st);
		if (hex && !odb_prefix(out, r, lower)) {
			*out_immutable = true;
			return 0;
		}
		return -ENOENT;
	}
	if (neg_hit(r, neg_key)) {
		hub_state_dispose(&st);
		return -ENOENT;
	}

	struct hub_remote_refs ls = { 0 };
	rc = ls_remote(&ls, r);
	if (rc == -ENOENT) {
		neg_add(r, "");
		hub_state_dispose(&st);
		return -ENOENT;
	}
	if (rc) {
		/* Transient: serve what we had, never call it ENOENT. */
		r->remote_fail_until = now_s() + HUB_REMOTE_RETRY_SECONDS;
		if (e && !force) {
			memcpy(out, e->sha, 41);
			*out_immutable = false;
			*out_stale = true;
			stat_inc(r->cache, &r->cache->stats.stale_served);
			stale_mark(r, ref, e->sha, true);
			hub_warn("%s/%s: serving cached %s=%s: remote failed: %s", r->owner, r->name,
				 ref, e->sha, strerror(-rc));
			hub_state_dispose(&st);
			return 0;
		}
		if (hex && !force && !odb_prefix(out, r, lower)) {
			*out_immutable = true;
			hub_state_dispose(&st);
			return 0;
		}
		hub_state_dispose(&st);
		return rc < 0 ? -EIO : rc;
	}
	r->remote_fail_until = 0;
	hub_state_dispose(&st);

	char full[HUB_REF_MAX + 16];
	const struct hub_remote_ref *hit = NULL;
	enum hub_ref_kind kind = KIND_OTHER;
	static const struct {
		const char *prefix;
		enum hub_ref_kind kind;
	} order[] = { { "refs/heads/", KIND_BRANCH }, { "refs/tags/", KIND_TAG } };
	for (size_t i = 0; !hit && i < 2; i++) {
		snprintf(full, sizeof(full), "%s%s", order[i].prefix, ref);
		hit = ls_find(&ls, full);
		kind = order[i].kind;
	}
	if (!hit && !strncmp(ref, "refs/", 5)) {
		hit = ls_find(&ls, ref);
		snprintf(full, sizeof(full), "%s", ref);
		kind = !strncmp(ref, "refs/heads/", 11) ? KIND_BRANCH
		       : !strncmp(ref, "refs/tags/", 10) ? KIND_TAG
							 : KIND_OTHER;
	}
	const struct hub_remote_ref *tip = NULL;
	char sha[41];
	if (hit) {
		memcpy(sha, ref_commit(hit), 41);
		rc = ensure_fetched(r, full, sha);
	} else if (hex) {
		rc = resolve_sha(sha, &tip, r, lower, &ls);
		kind = KIND_COMMIT;
		ref = lower;
	} else {
		rc = -ENOENT;
	}
	if (rc == -ENOENT) {
		hub_info("%s/%s: no ref or commit %s upstream", r->owner, r->name, ref);
		neg_add(r, neg_key);
	}
	if (!rc) {
		record_with_listing(r, ref, sha, kind, &ls, hit ? hit : tip);
		stale_mark(r, ref, sha, false);
		memcpy(out, sha, 41);
		*out_immutable = kind == KIND_TAG || kind == KIND_COMMIT;
	}
	hub_git_refs_dispose(&ls);
	return rc;
}

int hub_repo_resolve(char out_sha[41], bool *out_immutable, bool *out_stale, struct hub_repo *r,
		     const char *ref)
{
	bool stale = false, immutable = false;
	if (!hub_name_ref_valid(ref) && !hub_name_is_hex_prefix(ref))
		return -ENOENT;
	pthread_mutex_lock(&r->resolve_lock);
	int rc = resolve_locked(out_sha, &immutable, &stale, r, ref, false);
	pthread_mutex_unlock(&r->resolve_lock);
	if (out_stale)
		*out_stale = stale;
	if (out_immutable)
		*out_immutable = immutable;
	return rc;
}

static int default_branch_locked(char *out, size_t outsz, struct hub_repo *r, bool force);

int hub_repo_resolve_now(char out_sha[41], struct hub_repo *r, const char *ref)
{
	char branch[HUB_REF_MAX + 1];
	bool immutable, stale = false;
	if (ref && !hub_name_ref_valid(ref) && !hub_name_is_hex_prefix(ref))
		return -ENOENT;
	/* One hold of resolve_lock for both steps: the answer is the remote's
	 * now, whatever other resolutions run meanwhile. */
	pthread_mutex_lock(&r->resolve_lock);
	int rc = 0;
	if (!ref) {
		rc = default_branch_locked(branch, sizeof(branch), r, true);
		ref = branch;
	}
	if (!rc)
		rc = resolve_locked(out_sha, &immutable, &stale, r, ref, true);
	pthread_mutex_unlock(&r->resolve_lock);
	return rc;
}

int hub_repo_default_branch(char *out, size_t outsz, struct hub_repo *r)
{
	pthread_mutex_lock(&r->resolve_lock);
	int rc = default_branch_locked(out, outsz, r, false);
	pthread_mutex_unlock(&r->resolve_lock);
	return rc;
}

/* resolve_lock held; force: as resolve_locked's. */
static int default_branch_locked(char *out, size_t outsz, struct hub_repo *r, bool force)
{
	const struct hub_cache_config *o = &r->cache->cfg;
	struct hub_state st;
	int rc = hub_state_load(&st, r->statepath);
	char *head = NULL;
	if (rc)
		goto out;
	bool fresh = st.head && !force && now_s() - st.head_time < o->ref_ttl;
	if (st.head && (fresh || o->offline || (!force && now_s() < r->remote_fail_until))) {
		head = strdup(st.head);
	} else if (o->offline) {
		rc = -ENOENT;
	} else if (neg_hit(r, "")) {
		rc = -ENOENT;
	} else {
		struct hub_remote_refs ls = { 0 };
		rc = ls_remote(&ls, r);
		if (rc == -ENOENT) {
			neg_add(r, "");
		} else if (rc) {
			r->remote_fail_until = now_s() + HUB_REMOTE_RETRY_SECONDS;
			if (st.head && !force) {
				head = strdup(st.head);
				rc = 0;
				stat_inc(r->cache, &r->cache->stats.stale_served);
			} else {
				rc = -EIO;
			}
		} else if (!ls.head || strncmp(ls.head, "refs/heads/", 11)) {
			hub_warn("%s/%s: remote has no HEAD branch", r->owner, r->name);
			rc = -ENOENT;
		} else {
			head = strdup(ls.head);
			/* Only remember the repo once it really holds something:
			 * record HEAD together with the branch it names. */
			const struct hub_remote_ref *tip = ls_find(&ls, ls.head);
			if (tip && !ensure_fetched(r, ls.head, ref_commit(tip)))
				record_with_listing(r, ls.head + 11, ref_commit(tip), KIND_BRANCH,
						    &ls, tip);
			else
				record(r, NULL, 0, ls.head);
		}
		hub_git_refs_dispose(&ls);
	}
	if (!rc && !head)
		rc = -ENOMEM;
	if (!rc) {
		const char *shortname = !strncmp(head, "refs/heads/", 11) ? head + 11 : head;
		if (strlen(shortname) >= outsz)
			rc = -ENAMETOOLONG;
		else
			strcpy(out, shortname);
	}
out:
	free(head);
	hub_state_dispose(&st);
	return rc;
}

int hub_repo_ensure_commit(struct hub_repo *r, const char *sha)
{
	if (!hub_name_is_full_sha(sha))
		return -ENOENT;
	if (hub_repo_commit_in_odb(r, sha) == 1)
		return 0;
	char out[41];
	bool imm, stale;
	/* Resolving the full sha as a ref fetches it and records it. */
	int rc = hub_repo_resolve(out, &imm, &stale, r, sha);
	if (!rc && strcmp(out, sha))
		rc = -ENOENT;
	return rc;
}


int hub_repo_recover(struct hub_repo *r, const char *sha)
{
	odb_refresh(r); /* packs of a directory renamed away are let go */
	int rc = hub_repo_ensure_commit(r, sha);
	if (!rc)
		hub_info("%s/%s: %.12s read again from a fresh handle of the repository (evicted "
			 "or forgotten meanwhile, fetched again if so)", r->owner, r->name, sha);
	return rc;
}
