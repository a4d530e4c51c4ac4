/*
 * `hubfs cache SUBCOMMAND ROOT|MOUNTPOINT` (fs/cache_cmd.c): ls, du [-b],
 * verify [--repair] of a cache root, mounted or not.
 */
#ifndef HUB_FS_CACHE_CMD_H
#define HUB_FS_CACHE_CMD_H

/* argv[0] is "cache", argv[1] the subcommand.  Prints to stdout, errors
 * (one line) to stderr; returns the exit status (0, 1, or 2 for usage). */
int hub_cache_cmd(int argc, char **argv);

#endif
