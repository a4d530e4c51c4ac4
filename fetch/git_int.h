/*
 * Inside fetch/ only: what git.c (the remote side) and odb.c (the cache's
 * local repository) share.  Nothing outside fetch/ includes libgit2.
 */
#ifndef HUB_FETCH_GIT_INT_H
#define HUB_FETCH_GIT_INT_H

#include <git2.h>

struct op;

/* The one mapping of libgit2 failures to -errno (git.c).  rc is libgit2's
 * return code, msg its message for this failure; op the remote operation,
 * NULL for a read of the local object database. */
int hub_git_errno(int rc, const char *msg, const struct op *op);

/* libgit2's message for this thread's last failure, never NULL. */
const char *hub_git_last_message(void);

/* Open gitdir as a bare repository, no search upwards (libgit2 codes). */
int hub_git_open_bare(git_repository **out, const char *gitdir);

#endif
