/* File helpers for the cache; see files.h.  No shared state, no locks.
 * Every file is opened with O_NOFOLLOW: a symlink planted in the cache
 * (by whoever could write there) never makes the daemon read or write a
 * file elsewhere as its own user; hub_cache_root_check refuses roots where
 * others can plant anything at all. */
#include "base/files.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

int hub_fsync_dir(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	int rc = fsync(fd) ? -errno : 0;
	close(fd);
	return rc;
}

static int fsync_parent(const char *path)
{
	char dir[PATH_MAX];
	const char *slash = strrchr(path, '/');
	if (!slash)
		return 0;
	size_t n = (size_t)(slash - path);
	if (n == 0)
		n = 1;
	if (n >= sizeof(dir))
		return -ENAMETOOLONG;
	memcpy(dir, path, n);
	dir[n] = '\0';
	return hub_fsync_dir(dir);
}

int hub_file_write_atomic(const char *path, const void *data, size_t len)
{
	char tmp[PATH_MAX];
	if (snprintf(tmp, sizeof(tmp), "%s.tmp.XXXXXX", path) >= (int)sizeof(tmp))
		return -ENAMETOOLONG;
	int fd = mkostemp(tmp, O_CLOEXEC);
	if (fd < 0)
		return -errno;
	/* mkostemp creates 0600; give the file the umask's permissions. */
	mode_t um = umask(0);
	umask(um);
	int rc = 0;
	if (fchmod(fd, 0666 & ~um))
		rc = -errno;
	const char *p = data;
	size_t left = len;
	while (!rc && left) {
		ssize_t w = write(fd, p, left);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			rc = w < 0 ? -errno : -EIO;
			break;
		}
		p += w;
		left -= (size_t)w;
	}
	if (!rc && fsync(fd))
		rc = -errno;
	if (close(fd) && !rc)
		rc = -errno;
	if (!rc && rename(tmp, path))
		rc = -errno;
	if (rc) {
		unlink(tmp);
		return rc;
	}
	return fsync_parent(path);
}

int hub_file_read(char **out, size_t *out_len, const char *path, size_t cap)
{
	*out = NULL;
	*out_len = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
	if (fd < 0)
		return -errno;
	struct stat st;
	if (fstat(fd, &st)) {
		int e = -errno;
		close(fd);
		return e;
	}
	if (!S_ISREG(st.st_mode)) {
		close(fd);
		return -EINVAL;
	}
	if ((size_t)st.st_size > cap) {
		close(fd);
		return -EFBIG;
	}
	char *buf = malloc((size_t)st.st_size + 1);
	if (!buf) {
		close(fd);
		return -ENOMEM;
	}
	size_t got = 0;
	while (got < (size_t)st.st_size) {
		ssize_t r = read(fd, buf + got, (size_t)st.st_size - got);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			int e = -errno;
			free(buf);
			close(fd);
			return e;
		}
		if (r == 0)
			break;
		got += (size_t)r;
	}
	close(fd);
	buf[got] = '\0';
	*out = buf;
	*out_len = got;
	return 0;
}

int hub_mkdir_p(const char *path)
{
	char buf[PATH_MAX];
	size_t n = strlen(path);
	if (n == 0 || n >= sizeof(buf))
		return -ENAMETOOLONG;
	memcpy(buf, path, n + 1);
	for (char *p = buf + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(buf, 0777) && errno != EEXIST)
			return -errno;
		*p = '/';
	}
	if (mkdir(buf, 0777) && errno != EEXIST)
		return -errno;
	return 0;
}

int hub_file_lock(const char *path)
{
	int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK, 0666);
	if (fd < 0)
		return -errno;
	while (flock(fd, LOCK_EX)) {
		if (errno != EINTR) {
			int e = -errno;
			close(fd);
			return e;
		}
	}
	return fd;
}

int hub_file_trylock(const char *path)
{
	int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK, 0666);
	if (fd < 0)
		return -errno;
	while (flock(fd, LOCK_EX | LOCK_NB)) {
		if (errno != EINTR) {
			int e = errno == EWOULDBLOCK ? -EBUSY : -errno;
			close(fd);
			return e;
		}
	}
	return fd;
}

void hub_file_unlock(int fd)
{
	if (fd >= 0) {
		flock(fd, LOCK_UN);
		close(fd);
	}
}

/* One directory of the root check: 0, or -EPERM with why in out. */
static int dir_safe(char *why, size_t whysz, const char *path, const struct stat *st)
{
	uid_t me = geteuid();
	if (!S_ISDIR(st->st_mode)) {
		snprintf(why, whysz, "%s is not a directory", path);
		return -ENOTDIR;
	}
	if (st->st_uid != me && st->st_uid != 0) {
		snprintf(why, whysz, "%s belongs to uid %u, not to this user (uid %u) nor root", path,
			 (unsigned)st->st_uid, (unsigned)me);
		return -EPERM;
	}
	bool others_write = st->st_mode & (S_IWGRP | S_IWOTH);
	/* sticky and ours: others may add entries but not replace or remove ours
	 * (the way /tmp is shared); the files hubfs needs are its own */
	if (others_write && !((st->st_mode & S_ISVTX) && st->st_uid == me)) {
		snprintf(why, whysz,
			 "%s is writable by %s (mode %04o): another user could plant files or "
			 "symlinks there",
			 path, st->st_mode & S_IWOTH ? "every user" : "its group",
			 (unsigned)(st->st_mode & 07777));
		return -EPERM;
	}
	return 0;
}

int hub_cache_root_check(char *why, size_t whysz, const char *root)
{
	why[0] = '\0';
	const char *sub[] = {"", "/hubfs", "/hubfs/repos", "/hubfs/weights", "/hubfs/analysis",
			     "/checkpoints"};
	for (size_t i = 0; i < sizeof(sub) / sizeof(sub[0]); i++) {
		char p[PATH_MAX];
		if (snprintf(p, sizeof(p), "%s%s", root, sub[i]) >= (int)sizeof(p)) {
			snprintf(why, whysz, "%s: path too long", root);
			return -ENAMETOOLONG;
		}
		struct stat st;
		if (lstat(p, &st)) {
			if (errno == ENOENT && i > 0)
				continue; /* created later, by us, with our umask */
			int e = -errno;
			snprintf(why, whysz, "%s: %s", p, strerror(errno));
			return e;
		}
		/* the root itself may be a symlink (to a bigger disk); inside, no */
		if (S_ISLNK(st.st_mode)) {
			if (i > 0) {
				snprintf(why, whysz, "%s is a symlink: refused inside the cache", p);
				return -EPERM;
			}
			if (stat(p, &st)) {
				int e = -errno;
				snprintf(why, whysz, "%s: %s", p, strerror(errno));
				return e;
			}
		}
		int rc = dir_safe(why, whysz, p, &st);
		if (rc)
			return rc;
	}
	return 0;
}

char *hub_path_join(const char *a, const char *b)
{
	char *s;
	return asprintf(&s, "%s/%s", a, b) < 0 ? NULL : s;
}
