/*
 * Small file helpers for the cache: atomic replace (temp file in the same
 * directory, fsync, rename, fsync of the directory), capped whole-file reads,
 * mkdir -p.  Files are created 0666 and directories 0777, so the user's umask
 * decides the final permissions (a shared cache stays shared).
 */
#ifndef HUB_CACHE_FILES_H
#define HUB_CACHE_FILES_H

#include <stddef.h>
#include <sys/types.h>

/* Replace path with data atomically.  0 or -errno. */
int hub_file_write_atomic(const char *path, const void *data, size_t len);
/* Read a whole file of at most cap bytes into a malloc'd, NUL-terminated
 * buffer.  -ENOENT, -EFBIG when larger than cap, other -errno. */
int hub_file_read(char **out, size_t *out_len, const char *path, size_t cap);
/* fsync a directory (after a rename or unlink in it).  0 or -errno. */
int hub_fsync_dir(const char *dir);
/* Whether root is safe to serve from when other users may read the mount:
 * root, and hubfs/, hubfs/{repos,weights,analysis} and checkpoints/ where
 * they exist, must be directories owned by this user (or root) that no other
 * user can write to, except sticky directories owned by this user (root
 * itself may be a symlink to such a directory; nothing inside may be).  0,
 * or -errno with a one-line reason in why. */
int hub_cache_root_check(char *why, size_t whysz, const char *root);
/* "a/b" in a malloc'd string, or NULL when out of memory. */
char *hub_path_join(const char *a, const char *b);
/* mkdir -p with mode 0777 (minus umask).  0 or -errno. */
int hub_mkdir_p(const char *path);
/* Open (creating) path and take an exclusive flock on it; returns the fd or -errno. */
int hub_file_lock(const char *path);
/* The same without waiting: the fd, -EBUSY when another holds it, or -errno. */
int hub_file_trylock(const char *path);
void hub_file_unlock(int fd);

#endif
