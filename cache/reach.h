/*
 * Whether a commit is published by its repository: the text of
 * .hub/reachable (format and policy: cache/reach.c; the check itself:
 * fetch/git_reach.h).
 */
#ifndef HUB_CACHE_REACH_H
#define HUB_CACHE_REACH_H

struct hub_repo;

/* The verdict on commit sha (40 hex) of r as one malloc'd line ending in
 * '\n'.  May take up to HUB_REACH_MAX_SECONDS of network (not under any
 * lock of the caller's).  A failure to decide is a verdict ("unknown
 * <why>"), not an error: 0, or -ENOMEM / -EINVAL. */
int hub_repo_reach(char **out, struct hub_repo *r, const char *sha);

#endif
