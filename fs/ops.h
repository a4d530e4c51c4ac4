/*
 * The FUSE layer: hubfs's namespace on libfuse's low-level API.
 */
#ifndef HUB_FS_OPS_H
#define HUB_FS_OPS_H

#include <fuse_lowlevel.h>

#include "fs/options.h"

struct hub_cache;
struct hub_fs;

/* The filesystem state handed to fuse_session_new as userdata.  opts and
 * cache must outlive it. */
int hub_fs_new(struct hub_fs **out, const struct hub_options *opts, struct hub_cache *cache);
/* Frees every node (all lookups are void after unmount). */
void hub_fs_free(struct hub_fs *fs);
const struct fuse_lowlevel_ops *hub_fs_ops(void);

#endif
