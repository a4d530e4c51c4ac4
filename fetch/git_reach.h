/*
 * Is a commit published by its repository?  torch.hub accepts a ref that
 * names a branch or a tag, or a prefix of a branch's or tag's tip commit, and
 * refuses anything else unless skip_validation=True: GitHub serves a commit
 * that exists only in a fork under the upstream's name, so without the check
 * "owner/repo:<sha>" runs code the owner never published.  hubfs asks the
 * stronger-than-needed but cheaper-to-state question: is the commit reachable
 * from one of the branches and tags the remote advertises now (a tip, or an
 * ancestor of one)?  Answered with the git protocol only (no REST API).
 */
#ifndef HUB_FETCH_GIT_REACH_H
#define HUB_FETCH_GIT_REACH_H

#include <stdbool.h>

#include "base/limits.h"

struct hub_git_reach {
	bool reachable;
	/* when reachable: the branch or tag ("refs/heads/main") whose tip the
	 * commit is; "" when it is an ancestor of one (the walk does not say
	 * which) */
	char via[HUB_REF_MAX + 12];
};

/*
 * List url's refs; when sha (40 hex, lower case) is the tip of an advertised
 * refs/heads/ or refs/tags/ ref (peeled), answer at once.  Else fetch the
 * history of every branch and tag into gitdir (refs/hubfs/heads/ and
 * refs/hubfs/tags/; unshallowing a shallow repository, incremental after
 * the first time) and walk it from the advertised tips.  The commit itself
 * need not be in gitdir.  Bounded by max_seconds (the listing by the
 * connect and read timeouts): -ETIMEDOUT past it.  0 with *out filled, or
 * the -errno of fetch/git.h (-ENOENT: the repository does not exist).
 * The caller serializes it with its other fetches into gitdir.
 */
int hub_git_reach(struct hub_git_reach *out, const char *gitdir, const char *url, const char *sha,
		  int max_seconds);

#endif
