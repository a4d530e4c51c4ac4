/*
 * Names under the mount: which path components can be GitHub owners,
 * repositories, refs and commits, and how refs are written in one component
 * ("%2F" for '/', "%25" for '%').  Pure functions, no I/O, no allocation.
 */
#ifndef HUB_NAMES_H
#define HUB_NAMES_H

#include <stdbool.h>
#include <stddef.h>

#include "base/limits.h"

/* GitHub owner: 1..39 of [A-Za-z0-9-], not starting or ending with '-'. */
bool hub_name_owner_valid(const char *name);
/* GitHub repository: 1..100 of [A-Za-z0-9._-], not "." or "..", not ending
 * in ".git" (GitHub strips it), no ':' or '@' (they separate refs/commits). */
bool hub_name_repo_valid(const char *name);
/* A full ref name or a short one ("main", "feature/x", "refs/tags/v1"), by
 * git-check-ref-format's rules (no "..", no component starting with '.', no
 * control chars or ' ~^:?*[\', not ending in '/' or ".lock", no "@{", not "@"). */
bool hub_name_ref_valid(const char *ref);
/* 7..40 lowercase or uppercase hex digits. */
bool hub_name_is_hex_prefix(const char *s);
/* Exactly 40 lowercase hex digits. */
bool hub_name_is_full_sha(const char *s);

enum hub_name_kind {
	HUB_NAME_REPO,   /* "repo"            -> symlink to the default branch */
	HUB_NAME_REF,    /* "repo:ref"        -> symlink to a commit */
	HUB_NAME_COMMIT, /* "repo@<40 hex>"   -> directory of that commit */
};

struct hub_name {
	enum hub_name_kind kind;
	char repo[HUB_REPO_MAX + 1];
	char ref[HUB_REF_MAX + 1]; /* decoded ref (kind REF) or sha (kind COMMIT); "" for REPO */
};

/* Parse one component of an owner directory.  Returns 0, or -ENOENT when the
 * component cannot name anything (bad repo name, bad ref, bad escape, short
 * or non-hex sha after '@'); -ENAMETOOLONG when too long. */
int hub_name_parse(struct hub_name *out, const char *component);

/* Write a ref as one path component: '/' -> "%2F", '%' -> "%25".
 * Returns the length, or -ENAMETOOLONG if it does not fit in outsz. */
int hub_name_encode_ref(char *out, size_t outsz, const char *ref);
/* Inverse of hub_name_encode_ref ("%2f" accepted too).  Any other '%'
 * sequence is -ENOENT (it could not have been produced by the encoder). */
int hub_name_decode_ref(char *out, size_t outsz, const char *component);

#endif
