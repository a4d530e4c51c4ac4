/*
 * The namespace core: hubfs's tree of inodes without libfuse.
 *
 *   /                                  owners that have cached repos, .hubfs
 *   /<owner>/<repo>                    -> <repo>:<default branch>
 *   /<owner>/<repo>:<ref>              -> <repo>@<sha>   (ref %-encoded)
 *   /<owner>/<repo>@<sha>/...          the commit's tree, plus .hub/ (fs/view.h)
 *   /.hubfs/{counters,downloads,options,stale,version}   snapshots
 *   /.hubfs/url/<url>                  any http(s) URL as a weight file
 *   /.hubfs/resolve/<owner>%2F<repo>[:<ref>]   "<sha>\n", resolved now
 *
 * Operations take plain inode numbers and names and answer 0 or -errno,
 * filling plain structs; fs/ops.c turns them into FUSE replies.  No libfuse
 * type or header here (the layer_check_ns link proves it).  The caller's
 * uid comes in where url_access=owner needs it.
 *
 * Lookup counts are exact: hub_ns_lookup and hub_ns_list(plus) count every
 * entry they return with a non-zero ino; an entry the kernel did not take
 * is given back (hub_ns_forget, hub_ns_list_release).
 *
 * Thread-safe: one internal lock, never held across I/O, and never held
 * when a function returns.
 */
#ifndef HUB_FS_NS_H
#define HUB_FS_NS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "cache/weights.h"
#include "fs/options.h"

struct hub_cache;
struct hub_ns;
struct hub_py;
struct hub_weights;

#define HUB_NS_ROOT_INO 1

/* An entry as lookup and readdirplus answer it.  ino 0: a negative entry,
 * to be cached for entry_timeout (nothing counted). */
struct hub_ns_entry {
	uint64_t ino;
	uint64_t generation;
	struct stat attr;
	double attr_timeout;
	double entry_timeout;
};

/* One entry of a listing: off is the offset of the next entry (what
 * readdir is asked for to continue after this one).  Without plus, or for
 * entries without attributes (entry.ino 0), only attr.st_ino
 * (HUB_NS_UNKNOWN_INO) and the type bits of attr.st_mode are set. */
struct hub_ns_dirent {
	const char *name;
	int64_t off;
	struct hub_ns_entry entry;
};

struct hub_ns_list {
	struct hub_ns_dirent *ents;
	size_t n;
	void *priv; /* the core's: names point into it */
};

/* d_ino of entries not yet known to the kernel (libfuse's high-level API
 * uses the same value); stat gives the real inode number. */
#define HUB_NS_UNKNOWN_INO 0xffffffffu

/* Bytes of a file: data/len is the slice asked for (len 0: end of file);
 * or, for a weight file (data NULL, fd >= 0), len bytes of fd at fd_off,
 * all on disk, for the caller to splice or pread (no copy through the
 * core).  Release with hub_ns_data_release. */
struct hub_ns_data {
	const void *data;
	size_t len;
	int fd;
	uint64_t fd_off;
	void *blob;                  /* the core's */
	struct hub_weight_span span; /* the core's */
};

/* opts and cache must outlive the namespace.  Files are owned by the
 * process's uid and gid (url_access=owner: that uid alone). */
int hub_ns_new(struct hub_ns **out, const struct hub_options *opts, struct hub_cache *cache);
/* Every node is freed: all lookups are void (after unmount). */
void hub_ns_free(struct hub_ns *ns);
/* The analyser for .hub/ views, the weight store for weight files and
 * /.hubfs/downloads: each set once, before the first operation. */
void hub_ns_set_py(struct hub_ns *ns, struct hub_py *py);
void hub_ns_set_weights(struct hub_ns *ns, struct hub_weights *weights);

/* name in directory parent, as uid.  0 with *out (counted when out->ino
 * is non-zero), or -errno (-ESTALE: parent unknown). */
int hub_ns_lookup(struct hub_ns_entry *out, struct hub_ns *ns, uint64_t parent, const char *name,
		  uid_t uid);
/* Drop count lookups of ino; the last frees it (and may free its parent). */
void hub_ns_forget(struct hub_ns *ns, uint64_t ino, uint64_t count);
int hub_ns_getattr(struct stat *st, double *timeout, struct hub_ns *ns, uint64_t ino);
/* access(2) of ino for uid/gid from the mode bits getattr shows: -EROFS
 * for W_OK, -EACCES when a bit is missing (root: only X_OK on a file
 * without any x bit). */
int hub_ns_access(struct hub_ns *ns, uint64_t ino, int mask, uid_t uid, gid_t gid);
/* statvfs of the cache root's filesystem, flagged read-only. */
struct statvfs;
int hub_ns_statfs(struct statvfs *out, struct hub_ns *ns);
/* A symlink's target into buf (NUL-terminated, cut to size - 1). */
int hub_ns_readlink(char *buf, size_t size, struct hub_ns *ns, uint64_t ino);
/* Up to size bytes at off of file ino, as uid. */
int hub_ns_read(struct hub_ns_data *out, struct hub_ns *ns, uint64_t ino, size_t size, int64_t off,
		uid_t uid);
void hub_ns_data_release(struct hub_ns_data *d);
/* The entries of directory ino after offset off (0: from the start; else
 * a dirent's off: the entries that follow it, stable while the directory
 * changes, see fs/ns_list.c), at most max of them, as uid; plus: with attributes where the core
 * has them (immutable directories), counted.  *out is never NULL on 0. */
int hub_ns_list(struct hub_ns_list **out, struct hub_ns *ns, uint64_t ino, int64_t off, size_t max,
		bool plus, uid_t uid);
/* Entries from index taken on were not given to the kernel: their counts
 * are undone.  Frees l. */
void hub_ns_list_release(struct hub_ns *ns, struct hub_ns_list *l, size_t taken);
/* Extended attribute name of ino: its length in *len, and the value in
 * buf unless size is 0 (-ERANGE when size < *len; -ENODATA: none). */
int hub_ns_getxattr(char *buf, size_t size, size_t *len, struct hub_ns *ns, uint64_t ino,
		    const char *name);
/* The inode numbers of every weight file of store key key (a weight file
 * can appear in many commits and under /.hubfs/url/), at most cap. */
size_t hub_ns_weight_inos(uint64_t *out, size_t cap, struct hub_ns *ns, const char *key);

/* An entry the kernel should drop: name in the directory parent. */
struct hub_ns_gone {
	uint64_t parent;
	char name[256];
};
/* The entries this mount handed out (repo and ref links, commit
 * directories) of repositories forgotten or evicted under it since the
 * previous call (cache/repo.h, hub_cache_changed_repos): at most cap.  I/O
 * (a stat per repository in memory); for the notifier thread, never a
 * request handler. */
size_t hub_ns_gone(struct hub_ns_gone *out, size_t cap, struct hub_ns *ns);
/* Live nodes, the root not included (/.hubfs/counters: inodes). */
size_t hub_ns_count(struct hub_ns *ns);

#endif
