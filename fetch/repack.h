/*
 * Repacking a cache repository (fetch/repack.c): every fetch adds a pack
 * file to <gitdir>/objects/pack, and nothing else ever merges them.  Past
 * HUB_GIT_PACKS_MAX packs, hub_repack_run writes every object of the
 * repository into one new pack with libgit2's packbuilder and removes the
 * old packs.  cache/repack.c decides when (a thread of its own, after a
 * fetch); this module does it.
 *
 * Never while a fetch of that repository runs: it holds the fetch lock
 * (<gitdir>/hubfs-fetch.lock, fetch/gitdir.c) for the whole repack, taken
 * without waiting, so a repository being fetched is skipped (-EBUSY) and a
 * fetch that starts meanwhile waits for the repack to end.  Readers need no
 * lock: the new pack is complete (fsynced) before an old one is removed;
 * a reader that holds an old pack open keeps reading it (Linux keeps the
 * unlinked file), and one that misses an object rescans the pack directory
 * (libgit2 refreshes its pack list on a miss) and finds the new pack.
 */
#ifndef HUB_FETCH_REPACK_H
#define HUB_FETCH_REPACK_H

#include <stdbool.h>
#include <stddef.h>

/* The number of pack files (*.pack) in <gitdir>/objects/pack: 0 and *out,
 * or -errno of opening the directory (-ENOENT: no repository). */
int hub_repack_count(size_t *out, const char *gitdir);

/* If gitdir holds more than max packs, repack it into one.  *out_before
 * and *out_after: the pack counts before and after (equal when nothing
 * was done).  stop (may be NULL) is polled while the pack is built and
 * written: once true the repack is abandoned (-ECANCELED) and the old packs
 * stay.  0, -EBUSY (a fetch holds the repository), -ECANCELED, or another
 * -errno (logged with libgit2's message). */
int hub_repack_run(size_t *out_before, size_t *out_after, const char *gitdir, size_t max,
		   const bool *stop);

#endif
