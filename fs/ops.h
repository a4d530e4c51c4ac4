/*
 * The FUSE layer: hubfs's namespace on libfuse's low-level API.
 */
#ifndef HUB_FS_OPS_H
#define HUB_FS_OPS_H

#include <fuse_lowlevel.h>

#include "fs/options.h"

struct hub_cache;
struct hub_fs;
struct hub_py;
struct hub_weights;

/* The filesystem state handed to fuse_session_new as userdata.  opts and
 * cache must outlive it. */
int hub_fs_new(struct hub_fs **out, const struct hub_options *opts, struct hub_cache *cache);
/* The analyser for .hub/ views; set once, before the session loop starts
 * (the interpreter thread must start after fuse_daemonize). */
void hub_fs_set_py(struct hub_fs *fs, struct hub_py *py);
/* The weight store for weight files and /.hubfs/downloads; same rule.
 * Starts the thread that invalidates the kernel's pages of weight files
 * whose bytes were discarded (through se).  0 or -errno. */
int hub_fs_set_weights(struct hub_fs *fs, struct hub_weights *weights, struct fuse_session *se);
/* Stops that thread; call before the session is destroyed (also done by
 * hub_fs_free). */
void hub_fs_stop(struct hub_fs *fs);
/* Frees every node (all lookups are void after unmount). */
void hub_fs_free(struct hub_fs *fs);
const struct fuse_lowlevel_ops *hub_fs_ops(void);

/* The largest READ to ask of the kernel (HUB_FUSE_READ_MAX, lowered to fit
 * the system's largest pipe): for the "max_read" mount option and INIT. */
unsigned hub_fs_read_max(void);

/* After the mount, before the loop, with the mount point resolved before
 * the mount (resolving it after would stat the mount's root, a request
 * nothing answers yet): the mount's device, found in
 * /proc/self/mountinfo, whose readahead the first request after INIT
 * raises to HUB_FUSE_READAHEAD_KB (base/limits.h).  Not found or not
 * root: the kernel's default stays (logged at debug). */
void hub_fs_set_mountpoint(struct hub_fs *fs, const char *mountpoint);

#endif
