/*
 * hubfs-analyze: run hub_py_analyze() over a plain directory and print the
 * JSON (the parity tests compare it with the real torch.hub).
 *
 *   hubfs-analyze [-d] [-t SECONDS] [-n REPEAT] DIR
 *
 * -n repeats the analysis (one interpreter) and prints timings to stderr.
 * The directory is read as the daemon reads a commit: regular files only,
 * symbolic links not followed, FIFOs and devices never opened.
 * Exit status: 0 and JSON on stdout, 1 and a message on failure.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "base/log.h"
#include "py/pyrt.h"

struct dir_tree {
	int root_fd;
};

/* Relative, no "..", no empty components except the root "". */
static int safe_path(const char *p)
{
	if (p[0] == '/')
		return 0;
	const char *s = p;
	while (*s) {
		const char *e = strchr(s, '/');
		size_t n = e ? (size_t)(e - s) : strlen(s);
		if (n == 0 || (n == 2 && s[0] == '.' && s[1] == '.') || (n == 1 && s[0] == '.'))
			return 0;
		s += n;
		if (*s == '/')
			s++;
	}
	return 1;
}

/*
 * fd of the directory holding path's last component (parent) or of path
 * itself, walked from the root one name at a time without following
 * symbolic links, as the daemon's tree reader never does: the analyser reads
 * regular files of the tree only (docs/analysis.md, confinement).
 */
static int walk(const struct dir_tree *t, const char *path, int parent, const char **out_last)
{
	int fd = openat(t->root_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	const char *s = path;
	char name[256];
	while (*s) {
		const char *e = strchr(s, '/');
		size_t n = e ? (size_t)(e - s) : strlen(s);
		if (parent && !e) {
			*out_last = s;
			return fd;
		}
		if (n >= sizeof(name)) {
			close(fd);
			return -ENAMETOOLONG;
		}
		memcpy(name, s, n);
		name[n] = '\0';
		int nfd = openat(fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
		int err = errno;
		close(fd);
		if (nfd < 0)
			return err == ELOOP ? -ENOTDIR : -err;
		fd = nfd;
		s += n;
		if (*s == '/')
			s++;
	}
	if (parent) {
		close(fd);
		return -EISDIR;
	}
	return fd;
}

/* Regular files only, never blocking: a link is ELOOP, a FIFO, device or
 * socket ENXIO, checked before the open and again on the descriptor. */
static int read_file(void *ctx, const char *path, char **out, size_t *out_len)
{
	struct dir_tree *t = ctx;
	struct stat st, st2;
	const char *last = NULL;
	if (!path[0] || !safe_path(path))
		return -ENOENT;
	int dfd = walk(t, path, 1, &last);
	if (dfd < 0)
		return dfd;
	if (fstatat(dfd, last, &st, AT_SYMLINK_NOFOLLOW) < 0) {
		int e = errno;
		close(dfd);
		return -e;
	}
	if (!S_ISREG(st.st_mode)) {
		close(dfd);
		return S_ISDIR(st.st_mode) ? -EISDIR : S_ISLNK(st.st_mode) ? -ELOOP : -ENXIO;
	}
	int fd = openat(dfd, last, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
	int err = errno;
	close(dfd);
	if (fd < 0)
		return -err;
	if (fstat(fd, &st2) < 0 || !S_ISREG(st2.st_mode) || st2.st_ino != st.st_ino ||
	    st2.st_dev != st.st_dev) {
		close(fd);
		return -ENXIO;
	}
	size_t cap = (size_t)st2.st_size, len = 0;
	char *buf = malloc(cap ? cap : 1);
	if (!buf) {
		close(fd);
		return -ENOMEM;
	}
	while (len < cap) {
		ssize_t r = read(fd, buf + len, cap - len);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		len += (size_t)r;
	}
	close(fd);
	*out = buf;
	*out_len = len;
	return 0;
}

static int list_dir(void *ctx, const char *path, char ***out_names, size_t *out_n)
{
	struct dir_tree *t = ctx;
	if (path[0] && !safe_path(path))
		return -ENOENT;
	int fd = walk(t, path, 0, NULL);
	if (fd < 0)
		return fd;
	DIR *d = fdopendir(fd);
	if (!d) {
		close(fd);
		return -errno;
	}
	size_t n = 0, cap = 16;
	char **names = malloc(cap * sizeof(*names));
	struct dirent *de;
	while (names && (de = readdir(d))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if (n == cap) {
			char **nn = realloc(names, 2 * cap * sizeof(*names));
			if (!nn)
				break;
			names = nn;
			cap *= 2;
		}
		names[n] = strdup(de->d_name);
		if (names[n])
			n++;
	}
	closedir(d);
	if (!names)
		return -ENOMEM;
	*out_names = names;
	*out_n = n;
	return 0;
}

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	double timeout = 60.0;
	int repeat = 1, opt, debug = 0;
	while ((opt = getopt(argc, argv, "dt:n:")) != -1) {
		if (opt == 't')
			timeout = atof(optarg);
		else if (opt == 'n')
			repeat = atoi(optarg);
		else if (opt == 'd')
			debug = 1;
		else
			goto usage;
	}
	if (optind != argc - 1 || repeat < 1)
		goto usage;
	hub_log_init(true, debug);

	struct dir_tree t;
	t.root_fd = open(argv[optind], O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (t.root_fd < 0) {
		fprintf(stderr, "hubfs-analyze: %s: %s\n", argv[optind], strerror(errno));
		return 1;
	}
	struct hub_py *py;
	double t0 = now();
	int rc = hub_py_new(&py);
	if (rc) {
		fprintf(stderr, "hubfs-analyze: cannot start the interpreter: %s\n", strerror(-rc));
		return 1;
	}
	double t1 = now();
	struct hub_tree_reader tree = {.ctx = &t, .read_file = read_file, .list_dir = list_dir};
	char *json = NULL;
	for (int i = 0; i < repeat; i++) {
		double a = now();
		free(json);
		json = NULL;
		rc = hub_py_analyze(&json, py, &tree, timeout);
		if (repeat > 1)
			fprintf(stderr, "run %d: %.1f ms\n", i + 1, (now() - a) * 1e3);
		if (rc)
			break;
	}
	if (repeat > 1)
		fprintf(stderr, "interpreter start: %.1f ms\n", (t1 - t0) * 1e3);
	hub_py_free(py);
	close(t.root_fd);
	if (rc) {
		fprintf(stderr, "hubfs-analyze: %s\n", strerror(-rc));
		return 1;
	}
	fputs(json, stdout);
	fputc('\n', stdout);
	free(json);
	return 0;
usage:
	fprintf(stderr, "usage: hubfs-analyze [-d] [-t SECONDS] [-n REPEAT] DIR\n");
	return 1;
}
