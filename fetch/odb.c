/*
 * DESIGN
 * Reads of the cache's bare repositories for cache/repo.c, behind odb.h's
 * libgit2-free API: a struct hub_odb wraps one git_repository opened for
 * reads; ids cross as struct hub_oid, trees as plain arrays, blobs as
 * malloc'd copies (the caller's blob cache owns them, libgit2's object
 * cache does not have to outlive the call).  Failures are mapped by
 * hub_git_errno (git.c) with op NULL and logged here with the repository's
 * label, except "not found", which is an expected answer.
 *
 * Also here, because they are knowledge of libgit2 and of the repository
 * layout rather than caching policy: the refspecs hubfs fetches with (every
 * fetched ref lands under refs/hubfs/, so fetches never touch refs a user
 * might create) and the names of the files a killed fetch leaves behind.
 */
#include "fetch/odb.h"

#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/limits.h"
#include "base/files.h"
#include "base/log.h"
#include "fetch/git_int.h"

struct hub_odb {
	git_repository *git;
	char *label; /* "owner/repo", for the log */
};

/* Map (and log, unless not found) the current libgit2 failure. */
static int odb_errno(int gerr, const char *what, const struct hub_odb *o)
{
	if (gerr >= 0)
		return 0;
	const char *msg = hub_git_last_message();
	int rc = hub_git_errno(gerr, msg, NULL);
	if (rc != -ENOENT)
		hub_warn("%s: %s: %s", o->label, what, msg);
	return rc;
}

int hub_oid_from_hex(struct hub_oid *out, const char *hex)
{
	git_oid oid;
	if (strlen(hex) != GIT_OID_SHA1_HEXSIZE || git_oid_fromstr(&oid, hex))
		return -EINVAL;
	memcpy(out->id, oid.id, sizeof(out->id));
	return 0;
}

void hub_oid_to_hex(char out[41], const struct hub_oid *oid)
{
	git_oid g;
	memcpy(g.id, oid->id, sizeof(oid->id));
	git_oid_fmt(out, &g);
	out[40] = '\0';
}

static void to_git(git_oid *out, const struct hub_oid *oid)
{
	memset(out, 0, sizeof(*out));
	memcpy(out->id, oid->id, sizeof(oid->id));
}

int hub_odb_open(struct hub_odb **out, const char *gitdir, const char *label)
{
	*out = NULL;
	struct hub_odb *o = calloc(1, sizeof(*o));
	if (!o || !(o->label = strdup(label))) {
		free(o);
		return -ENOMEM;
	}
	if (hub_git_open_bare(&o->git, gitdir)) {
		free(o->label);
		free(o);
		return -ENOENT;
	}
	*out = o;
	return 0;
}

void hub_odb_close(struct hub_odb *o)
{
	if (!o)
		return;
	git_repository_free(o->git);
	free(o->label);
	free(o);
}

int hub_odb_has_commit(struct hub_odb *o, const struct hub_oid *commit)
{
	git_oid oid;
	to_git(&oid, commit);
	git_commit *c = NULL;
	git_tree *tree = NULL;
	int present = !git_commit_lookup(&c, o->git, &oid) && !git_commit_tree(&tree, c);
	git_tree_free(tree);
	git_commit_free(c);
	return present;
}

int hub_odb_find_prefix(struct hub_oid *out, struct hub_odb *o, const char *prefix)
{
	git_oid short_oid, full;
	size_t len = strlen(prefix);
	char lower[GIT_OID_SHA1_HEXSIZE + 1];
	if (len > GIT_OID_SHA1_HEXSIZE)
		return -ENOENT;
	for (size_t i = 0; i <= len; i++)
		lower[i] = (char)(prefix[i] >= 'A' && prefix[i] <= 'F' ? prefix[i] + 32 : prefix[i]);
	if (git_oid_fromstrn(&short_oid, lower, len))
		return -ENOENT;
	git_odb *odb = NULL;
	if (git_repository_odb(&odb, o->git))
		return -ENOENT;
	int rc = -ENOENT;
	int e = git_odb_exists_prefix(&full, odb, &short_oid, len);
	if (!e) {
		memcpy(out->id, full.id, sizeof(out->id));
		rc = 0;
	} else if (e == GIT_EAMBIGUOUS) {
		hub_warn("%s: commit prefix %s is ambiguous", o->label, prefix);
	}
	git_odb_free(odb);
	return rc;
}

int hub_odb_commit_info(struct hub_oid *out_tree, int64_t *out_time, struct hub_odb *o,
			const struct hub_oid *commit)
{
	git_oid oid;
	to_git(&oid, commit);
	git_commit *c = NULL;
	int rc = odb_errno(git_commit_lookup(&c, o->git, &oid), "commit lookup", o);
	if (!rc) {
		memcpy(out_tree->id, git_commit_tree_id(c)->id, sizeof(out_tree->id));
		*out_time = (int64_t)git_commit_time(c);
	}
	git_commit_free(c);
	return rc;
}

void hub_tree_entries_free(struct hub_tree_entry *e, size_t n)
{
	for (size_t i = 0; e && i < n; i++)
		free(e[i].name);
	free(e);
}

int hub_odb_tree_list(struct hub_tree_entry **out, size_t *out_n, struct hub_odb *o,
		      const struct hub_oid *tree_id)
{
	*out = NULL;
	*out_n = 0;
	git_oid oid;
	to_git(&oid, tree_id);
	git_tree *tree = NULL;
	git_odb *odb = NULL;
	int rc = odb_errno(git_tree_lookup(&tree, o->git, &oid), "tree lookup", o);
	if (!rc)
		rc = odb_errno(git_repository_odb(&odb, o->git), "odb", o);
	size_t n = rc ? 0 : git_tree_entrycount(tree);
	if (!rc && n > HUB_DIR_ENTRIES_MAX)
		rc = -EFBIG;
	struct hub_tree_entry *v = rc ? NULL : calloc(n ? n : 1, sizeof(*v));
	if (!rc && !v)
		rc = -ENOMEM;
	for (size_t i = 0; !rc && i < n; i++) {
		const git_tree_entry *te = git_tree_entry_byindex(tree, i);
		v[i].name = strdup(git_tree_entry_name(te));
		if (!v[i].name) {
			rc = -ENOMEM;
			break;
		}
		v[i].mode = (uint32_t)git_tree_entry_filemode_raw(te);
		memcpy(v[i].oid.id, git_tree_entry_id(te)->id, sizeof(v[i].oid.id));
		if (v[i].mode == HUB_MODE_BLOB || v[i].mode == HUB_MODE_EXEC ||
		    v[i].mode == HUB_MODE_LINK || (v[i].mode & 0170000) == 0100000) {
			size_t len = 0;
			git_object_t type;
			rc = odb_errno(git_odb_read_header(&len, &type, odb, git_tree_entry_id(te)),
				       "blob header", o);
			v[i].size = len;
			if ((v[i].mode & 0170000) == 0100000 && v[i].mode != HUB_MODE_EXEC)
				v[i].mode = HUB_MODE_BLOB; /* old 100664 etc. */
		} else if (v[i].mode != HUB_MODE_TREE && v[i].mode != HUB_MODE_GITLINK) {
			v[i].mode = HUB_MODE_BLOB;
		}
	}
	git_odb_free(odb);
	git_tree_free(tree);
	if (rc) {
		hub_tree_entries_free(v, n);
		return rc;
	}
	*out = v;
	*out_n = n;
	return 0;
}

int hub_odb_path_lookup(struct hub_oid *out, uint32_t *out_mode, struct hub_odb *o,
			const struct hub_oid *root, const char *path)
{
	git_oid oid;
	to_git(&oid, root);
	git_tree *tree = NULL;
	git_tree_entry *te = NULL;
	int rc = odb_errno(git_tree_lookup(&tree, o->git, &oid), "tree lookup", o);
	if (!rc)
		rc = odb_errno(git_tree_entry_bypath(&te, tree, path), "path lookup", o);
	if (!rc) {
		memcpy(out->id, git_tree_entry_id(te)->id, sizeof(out->id));
		*out_mode = (uint32_t)git_tree_entry_filemode_raw(te);
	}
	git_tree_entry_free(te);
	git_tree_free(tree);
	return rc;
}

int hub_odb_blob_read(char **out_data, size_t *out_size, struct hub_odb *o,
		      const struct hub_oid *blob_id)
{
	*out_data = NULL;
	*out_size = 0;
	git_oid oid;
	to_git(&oid, blob_id);
	git_blob *blob = NULL;
	int rc = odb_errno(git_blob_lookup(&blob, o->git, &oid), "blob lookup", o);
	if (!rc) {
		size_t size = (size_t)git_blob_rawsize(blob);
		char *data = malloc(size ? size : 1);
		if (!data) {
			rc = -ENOMEM;
		} else {
			memcpy(data, git_blob_rawcontent(blob), size);
			*out_data = data;
			*out_size = size;
		}
	}
	git_blob_free(blob);
	return rc;
}

/* ---- fetching into the cache's repository ---- */

void hub_odb_want_ref(struct hub_odb_want *w, const char *fullref)
{
	snprintf(w->buf, sizeof(w->buf), "+%s:refs/hubfs/%s", fullref, fullref + 5);
	w->specs[0] = w->buf;
	w->n = 1;
	w->depth = 1;
}

void hub_odb_want_commit(struct hub_odb_want *w, const char *sha)
{
	snprintf(w->buf, sizeof(w->buf), "%s:refs/hubfs/commits/%s", sha, sha);
	w->specs[0] = w->buf;
	w->n = 1;
	w->depth = 1;
}

void hub_odb_want_all(struct hub_odb_want *w, const char *gitdir)
{
	w->specs[0] = "+refs/heads/*:refs/hubfs/heads/*";
	w->specs[1] = "+refs/tags/*:refs/hubfs/tags/*";
	w->n = 2;
	char *p = hub_path_join(gitdir, "shallow");
	bool shallow = p && access(p, F_OK) == 0;
	free(p);
	w->depth = shallow ? -1 : 0;
}

void hub_odb_clean_leftovers(const char *gitdir)
{
	char *packdir;
	if (asprintf(&packdir, "%s/objects/pack", gitdir) < 0)
		return;
	DIR *d = opendir(packdir);
	if (d) {
		struct dirent *de;
		while ((de = readdir(d))) {
			if (!strncmp(de->d_name, "pack_git2_", 10) || strstr(de->d_name, ".lock") ||
			    (!strncmp(de->d_name, "tmp_", 4))) {
				char *p = hub_path_join(packdir, de->d_name);
				if (p) {
					hub_debug("removing leftover %s", p);
					unlink(p);
					free(p);
				}
			}
		}
		closedir(d);
	}
	free(packdir);
	static const char *const locks[] = { "shallow.lock", "packed-refs.lock", "config.lock",
					     "FETCH_HEAD.lock" };
	for (size_t i = 0; i < sizeof(locks) / sizeof(*locks); i++) {
		char *p = hub_path_join(gitdir, locks[i]);
		if (p) {
			unlink(p);
			free(p);
		}
	}
}

/* ---- hub_odb_verify ---- */

struct verify_ctx {
	struct hub_odb_verdict *out;
	git_odb *odb;
};

__attribute__((format(printf, 2, 3))) static void verdict_bad(struct hub_odb_verdict *out,
							    const char *fmt, ...)
{
	if (out->bad++ == 0) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(out->first, sizeof(out->first), fmt, ap);
		va_end(ap);
	}
}

static int verify_object(const git_oid *id, void *payload)
{
	struct verify_ctx *v = payload;
	char hex[GIT_OID_MAX_HEXSIZE + 1];
	git_oid_tostr(hex, sizeof(hex), id);
	git_odb_object *obj = NULL;
	int rc = git_odb_read(&obj, v->odb, id);
	v->out->objects++;
	if (rc < 0) {
		verdict_bad(v->out, "object %s: %s", hex, hub_git_last_message());
		return 0;
	}
	/* libgit2 checks the id when strict hash verification is on (its
	 * default); hash again so the check does not hang on that option. */
	git_oid again;
	if (git_odb_hash(&again, git_odb_object_data(obj), git_odb_object_size(obj),
			 git_odb_object_type(obj)) < 0 ||
	    !git_oid_equal(&again, id))
		verdict_bad(v->out, "object %s: contents do not hash to its id", hex);
	git_odb_object_free(obj);
	return 0;
}

/* name's target (a ref name or a 40-hex commit) is a commit with its tree. */
static void verify_commitish(struct hub_odb_verdict *out, git_repository *repo, const char *what,
			     const git_oid *id)
{
	char hex[GIT_OID_MAX_HEXSIZE + 1];
	git_oid_tostr(hex, sizeof(hex), id);
	git_object *obj = NULL, *peeled = NULL;
	git_tree *tree = NULL;
	out->refs++;
	int rc = git_object_lookup(&obj, repo, id, GIT_OBJECT_ANY);
	if (rc == 0)
		rc = git_object_peel(&peeled, obj, GIT_OBJECT_COMMIT);
	if (rc == GIT_EPEEL)
		rc = 0; /* a tag of a tree or blob: present is all it can be */
	else if (rc == 0)
		rc = git_commit_tree(&tree, (git_commit *)peeled);
	if (rc < 0)
		verdict_bad(out, "%s -> %s: %s", what, hex, hub_git_last_message());
	git_tree_free(tree);
	git_object_free(peeled);
	git_object_free(obj);
}

int hub_odb_verify(struct hub_odb_verdict *out, const char *gitdir, const char *const *commits,
		   size_t n)
{
	memset(out, 0, sizeof(*out));
	git_repository *repo = NULL;
	if (hub_git_open_bare(&repo, gitdir) < 0)
		return -ENOENT;
	git_odb *odb = NULL;
	git_reference_iterator *it = NULL;
	if (git_repository_odb(&odb, repo) < 0) {
		verdict_bad(out, "object database: %s", hub_git_last_message());
		goto done;
	}
	struct verify_ctx v = {out, odb};
	int rc = git_odb_foreach(odb, verify_object, &v);
	if (rc < 0)
		verdict_bad(out, "listing objects: %s", hub_git_last_message());
	if (git_reference_iterator_new(&it, repo) < 0) {
		verdict_bad(out, "refs: %s", hub_git_last_message());
	} else {
		git_reference *ref;
		while ((rc = git_reference_next(&ref, it)) == 0) {
			git_reference *res = NULL;
			const char *name = git_reference_name(ref);
			if (git_reference_resolve(&res, ref) < 0) {
				out->refs++;
				verdict_bad(out, "ref %s: %s", name, hub_git_last_message());
			} else {
				verify_commitish(out, repo, name, git_reference_target(res));
			}
			git_reference_free(res);
			git_reference_free(ref);
		}
		if (rc != GIT_ITEROVER)
			verdict_bad(out, "refs: %s", hub_git_last_message());
	}
	for (size_t i = 0; i < n; i++) {
		git_oid id;
		if (git_oid_fromstr(&id, commits[i]) < 0) {
			out->refs++;
			verdict_bad(out, "commit %.40s: not an object id", commits[i]);
			continue;
		}
		verify_commitish(out, repo, "state.json", &id);
	}
done:
	git_reference_iterator_free(it);
	git_odb_free(odb);
	git_repository_free(repo);
	return 0;
}
