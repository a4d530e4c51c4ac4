/*
 * A minimal read-only passthrough filesystem on libfuse's low-level API: the
 * baseline "any FUSE filesystem" for tests/bench/report.py.  It mirrors one
 * directory (flat or not) with the same caching choices hubfs makes for
 * immutable files (long entry/attr timeouts, keep_cache), one fd per open
 * file, and page-aligned read buffers, so a ratio hubfs/passthrough isolates
 * hubfs's own cost from FUSE's.
 *
 * Inodes are the source's st_ino; a path table (ino -> relative path) is
 * kept for the life of the mount (a benchmark mounts a few hundred files).
 * One lock guards the table; nothing else is shared.
 *
 *   hubfs-passthrough SOURCE_DIR MOUNTPOINT [-f] [-o ...]
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <fuse_lowlevel.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define TIMEOUT 3600.0

struct ent {
	fuse_ino_t ino;
	char *path; /* relative to the source, "" for the root */
};

static struct {
	int src;
	pthread_mutex_t lock;
	struct ent *v;
	size_t n, cap;
} pt = {.lock = PTHREAD_MUTEX_INITIALIZER};

/* The relative path of ino, copied into out; 0 or -ENOENT. */
static int path_of(char *out, size_t outsz, fuse_ino_t ino)
{
	if (ino == FUSE_ROOT_ID) {
		snprintf(out, outsz, ".");
		return 0;
	}
	int rc = -ENOENT;
	pthread_mutex_lock(&pt.lock);
	for (size_t i = 0; i < pt.n; i++)
		if (pt.v[i].ino == ino) {
			snprintf(out, outsz, "%s", pt.v[i].path);
			rc = 0;
			break;
		}
	pthread_mutex_unlock(&pt.lock);
	return rc;
}

static int remember(fuse_ino_t ino, const char *path)
{
	int rc = 0;
	pthread_mutex_lock(&pt.lock);
	for (size_t i = 0; i < pt.n; i++)
		if (pt.v[i].ino == ino)
			goto out;
	if (pt.n == pt.cap) {
		size_t cap = pt.cap ? pt.cap * 2 : 256;
		struct ent *v = realloc(pt.v, cap * sizeof(*v));
		if (!v) {
			rc = -ENOMEM;
			goto out;
		}
		pt.v = v;
		pt.cap = cap;
	}
	pt.v[pt.n].ino = ino;
	if (!(pt.v[pt.n].path = strdup(path)))
		rc = -ENOMEM;
	else
		pt.n++;
out:
	pthread_mutex_unlock(&pt.lock);
	return rc;
}

static fuse_ino_t ino_of(const struct stat *st)
{
	/* the source's root keeps FUSE's root id; others keep their own */
	return st->st_ino == FUSE_ROOT_ID ? (fuse_ino_t)0x7fffffffffffffffULL : st->st_ino;
}

static void pt_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	char dir[PATH_MAX], path[PATH_MAX];
	if (path_of(dir, sizeof(dir), parent)) {
		fuse_reply_err(req, ENOENT);
		return;
	}
	if (snprintf(path, sizeof(path), "%s/%s", dir, name) >= (int)sizeof(path)) {
		fuse_reply_err(req, ENAMETOOLONG);
		return;
	}
	struct fuse_entry_param e = {0};
	if (fstatat(pt.src, path, &e.attr, AT_SYMLINK_NOFOLLOW)) {
		fuse_reply_err(req, errno);
		return;
	}
	e.ino = ino_of(&e.attr);
	e.attr.st_ino = e.ino;
	e.attr_timeout = e.entry_timeout = TIMEOUT;
	if (remember(e.ino, path)) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	fuse_reply_entry(req, &e);
}

static void pt_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	(void)fi;
	char path[PATH_MAX];
	struct stat st;
	if (path_of(path, sizeof(path), ino) || fstatat(pt.src, path, &st, AT_SYMLINK_NOFOLLOW)) {
		fuse_reply_err(req, ENOENT);
		return;
	}
	st.st_ino = ino;
	fuse_reply_attr(req, &st, TIMEOUT);
}

static void pt_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	char path[PATH_MAX];
	if (path_of(path, sizeof(path), ino)) {
		fuse_reply_err(req, ENOENT);
		return;
	}
	if ((fi->flags & O_ACCMODE) != O_RDONLY) {
		fuse_reply_err(req, EROFS);
		return;
	}
	int fd = openat(pt.src, path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		fuse_reply_err(req, errno);
		return;
	}
	fi->fh = (uint64_t)fd;
	fi->keep_cache = 1;
	if (fuse_reply_open(req, fi))
		close(fd);
}

static void pt_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, struct fuse_file_info *fi)
{
	(void)ino;
	void *buf;
	if (posix_memalign(&buf, 4096, size ? size : 1)) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	ssize_t got = pread((int)fi->fh, buf, size, off);
	if (got < 0)
		fuse_reply_err(req, errno);
	else
		fuse_reply_buf(req, buf, (size_t)got);
	free(buf);
}

static void pt_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	(void)ino;
	close((int)fi->fh);
	fuse_reply_err(req, 0);
}

static void pt_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, struct fuse_file_info *fi)
{
	(void)fi;
	char path[PATH_MAX];
	if (path_of(path, sizeof(path), ino)) {
		fuse_reply_err(req, ENOENT);
		return;
	}
	int fd = openat(pt.src, path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *d = fd < 0 ? NULL : fdopendir(fd);
	if (!d) {
		if (fd >= 0)
			close(fd);
		fuse_reply_err(req, errno);
		return;
	}
	char *buf = malloc(size);
	size_t used = 0;
	off_t i = 0;
	struct dirent *de;
	while (buf && (de = readdir(d))) {
		if (i++ < off)
			continue;
		struct stat st = {.st_ino = de->d_ino, .st_mode = (mode_t)(de->d_type << 12)};
		size_t n = fuse_add_direntry(req, buf + used, size - used, de->d_name, &st, i);
		if (n > size - used)
			break;
		used += n;
	}
	closedir(d);
	if (!buf)
		fuse_reply_err(req, ENOMEM);
	else
		fuse_reply_buf(req, buf, used);
	free(buf);
}

static const struct fuse_lowlevel_ops ops = {
	.lookup = pt_lookup,
	.getattr = pt_getattr,
	.open = pt_open,
	.read = pt_read,
	.release = pt_release,
	.readdir = pt_readdir,
};

int main(int argc, char **argv)
{
	if (argc < 3) {
		fprintf(stderr, "usage: %s SOURCE_DIR MOUNTPOINT [-f] [-o OPT]\n", argv[0]);
		return 2;
	}
	pt.src = open(argv[1], O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (pt.src < 0) {
		perror(argv[1]);
		return 1;
	}
	const char *mnt = argv[2];
	struct fuse_args args = FUSE_ARGS_INIT(0, NULL);
	fuse_opt_add_arg(&args, argv[0]);
	fuse_opt_add_arg(&args, "-oro,fsname=hubfs-passthrough");
	for (int i = 3; i < argc; i++)
		if (strcmp(argv[i], "-f")) /* always in the foreground */
			fuse_opt_add_arg(&args, argv[i]);
	struct fuse_session *se = fuse_session_new(&args, &ops, sizeof(ops), NULL);
	int rc = 1;
	if (se && !fuse_set_signal_handlers(se) && !fuse_session_mount(se, mnt)) {
		struct fuse_loop_config *cfg = fuse_loop_cfg_create();
		rc = fuse_session_loop_mt(se, cfg) ? 1 : 0;
		fuse_loop_cfg_destroy(cfg);
		fuse_session_unmount(se);
	}
	if (se) {
		fuse_remove_signal_handlers(se);
		fuse_session_destroy(se);
	}
	fuse_opt_free_args(&args);
	for (size_t i = 0; i < pt.n; i++)
		free(pt.v[i].path);
	free(pt.v);
	close(pt.src);
	return rc;
}
