/*
 * hubfs entry point: parse the command line, check everything that can be
 * checked before mounting (mountpoint, cache root, /dev/fuse) so a bad setup
 * gives one clear line and mounts nothing, then mount and serve.
 *
 * Order matters: libfuse may fork into the background (fuse_daemonize), and
 * threads do not survive fork, so libgit2 and every worker thread start
 * after it.
 */
#include <errno.h>
#include <fcntl.h>
#include <fuse_lowlevel.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "base/files.h"
#include "cache/quota.h"
#include "cache/repo.h"
#include "cache/weights.h"
#include "fetch/git.h"
#include "base/limits.h"
#include "base/log.h"
#include "fs/cache_cmd.h"
#include "fs/fuse_log.h"
#include "fs/ops.h"
#include "fs/options.h"
#include "base/redact.h"
#include "base/stop.h"
#include "py/pyrt.h"

static void die_line(const char *fmt, const char *a, const char *b)
{
	fprintf(stderr, "hubfs: ");
	fprintf(stderr, fmt, a, b);
	fputc('\n', stderr);
}

static void human(char *out, size_t n, double bytes)
{
	static const char *const units[] = { "B", "KiB", "MiB", "GiB", "TiB" };
	int u = 0;
	while (bytes >= 1024 && u < 4) {
		bytes /= 1024;
		u++;
	}
	snprintf(out, n, u ? "%.1f %s" : "%.0f %s", bytes, units[u]);
}

/* text[0..len) line by line, each escaped (base/redact.h): nothing the
 * daemon reports (a URL, a file name) can move the cursor, recolour the
 * terminal or forge a line. */
static void print_escaped(const char *text, size_t len)
{
	const char *p = text, *end = text + len;
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);
		char *line = strndup(p, n);
		char *esc = malloc(4 * n + 1);
		if (line && esc && hub_escape_text(esc, 4 * n + 1, line) >= 0)
			printf("%s%s", esc, nl ? "\n" : "");
		free(line);
		free(esc);
		p += n + (nl ? 1 : 0);
	}
}

/* One progress bar per download line "name done total rate url". */
static void draw_downloads(const char *text)
{
	const char *line = text;
	while (*line) {
		const char *end = strchr(line, '\n');
		size_t len = end ? (size_t)(end - line) : strlen(line);
		char buf[HUB_URL_MAX + 512], name[256], url[HUB_URL_MAX];
		unsigned long long done, total;
		double rate;
		snprintf(buf, sizeof(buf), "%.*s", (int)len, line);
		if (sscanf(buf, "%255s %llu %llu %lf %4095s", name, &done, &total, &rate, url) == 5 &&
		    strcmp(name, "failed")) {
			char d[32], t[32], r[32];
			human(d, sizeof(d), (double)done);
			human(t, sizeof(t), (double)total);
			human(r, sizeof(r), rate);
			char ename[4 * sizeof(name)];
			hub_escape_text(ename, sizeof(ename), name);
			int width = 30, fill = total ? (int)(width * (double)done / (double)total) : 0;
			char bar[64];
			for (int i = 0; i < width; i++)
				bar[i] = i < fill ? '#' : '.';
			bar[width] = '\0';
			if (total)
				printf("%-40s [%s] %5.1f%%  %s / %s  %s/s\n", ename, bar,
				       100.0 * (double)done / (double)total, d, t, r);
			else
				printf("%-40s [%s]  %s  %s/s\n", ename, bar, d, r);
		} else if (len) {
			print_escaped(line, len);
			printf("\n");
		}
		line += len + (end ? 1 : 0);
	}
}

/* `hubfs status MOUNTPOINT`: what the daemon reports under /.hubfs/, with
 * downloads in flight drawn as progress bars. */
static int cmd_status(const char *mnt)
{
	static const char *const files[] = { "version", "downloads", "counters", "stale" };
	for (size_t i = 0; i < sizeof(files) / sizeof(*files); i++) {
		char path[PATH_MAX + 32];
		snprintf(path, sizeof(path), "%.*s/.hubfs/%s", PATH_MAX, mnt, files[i]);
		char *text;
		size_t len;
		int rc = hub_file_read(&text, &len, path, HUB_JSON_MAX);
		if (rc) {
			if (i == 0) {
				die_line("%s is not a hubfs mount (%s)", mnt, strerror(-rc));
				return 1;
			}
			continue;
		}
		if (i == 1) {
			printf("downloads:%s\n", len ? "" : " none in flight");
			draw_downloads(text);
		} else {
			if (i > 0 && len)
				printf("%s:\n", files[i]);
			print_escaped(text, len);
		}
		free(text);
	}
	return 0;
}

/* Refuse a root others can write into (hub_cache_root_check), create
 * <root>/hubfs and prove it is writable. */
static int check_cache(const char *root)
{
	char path[PATH_MAX + 32];
	if (strlen(root) >= PATH_MAX) {
		die_line("cache directory %s: %s", root, strerror(ENAMETOOLONG));
		return -ENAMETOOLONG;
	}
	char why[PATH_MAX + 200];
	int rc = hub_mkdir_p(root);
	/* checked before anything is created in it (a planted hubfs/ symlink),
	 * and again after (a umask that lets others write) */
	if (!rc && (rc = hub_cache_root_check(why, sizeof(why), root))) {
		die_line("cache directory refused: %s%s", why, "");
		return rc;
	}
	snprintf(path, sizeof(path), "%s/hubfs/repos", root);
	if (!rc)
		rc = hub_mkdir_p(path);
	if (rc) {
		die_line("cache directory %s is not usable: %s", root, strerror(-rc));
		return rc;
	}
	if ((rc = hub_cache_root_check(why, sizeof(why), root))) {
		die_line("cache directory refused: %s%s", why, "");
		return rc;
	}
	snprintf(path, sizeof(path), "%s/hubfs/.write-test", root);
	rc = hub_file_write_atomic(path, "", 0);
	unlink(path);
	if (rc)
		die_line("cache directory %s is not writable: %s", root, strerror(-rc));
	return rc;
}

static int check_mountpoint(const char *mnt)
{
	struct stat st;
	if (stat(mnt, &st)) {
		die_line("mountpoint %s: %s", mnt, strerror(errno));
		return -1;
	}
	if (!S_ISDIR(st.st_mode)) {
		die_line("mountpoint %s: %s", mnt, strerror(ENOTDIR));
		return -1;
	}
	int fd = open("/dev/fuse", O_RDWR | O_CLOEXEC);
	if (fd < 0) {
		die_line("cannot use /dev/fuse: %s%s", strerror(errno),
			 errno == ENOENT ? " (is the fuse module loaded?)" : "");
		return -1;
	}
	/* The FUSE device is character device 10:229. */
	bool ok = !fstat(fd, &st) && S_ISCHR(st.st_mode) && major(st.st_rdev) == 10 &&
		  minor(st.st_rdev) == 229;
	close(fd);
	if (!ok) {
		die_line("cannot use /dev/fuse: %s%s", "it is not the FUSE device (10:229)", "");
		return -1;
	}
	return 0;
}

/* libfuse's argv: the user's libfuse options plus ours. */
static int build_fuse_args(struct fuse_args *args, const struct hub_options *o)
{
	for (int i = 0; i < o->fuse_argc; i++)
		if (fuse_opt_add_arg(args, o->fuse_argv[i]))
			return -ENOMEM;
	if (args->argc == 0 && fuse_opt_add_arg(args, "hubfs"))
		return -ENOMEM;
	char opt[PATH_MAX + 64];
	/* Read-only for the kernel too; no default_permissions: every file is
	 * world-readable, and without it path walks need no GETATTR of the
	 * root and owner directories, whose attributes are never cached. */
	/* For tests only (tests/integration/test_erofs.py): without the
	 * kernel's "ro" every mutating call reaches fs/ops.c's handlers, which
	 * must answer EROFS themselves. */
	const char *rw = getenv("HUBFS_TEST_KERNEL_RW");
	bool kernel_ro = !(rw && !strcmp(rw, "1"));
	snprintf(opt, sizeof(opt), "-o%ssubtype=hubfs,fsname=%s", kernel_ro ? "ro," : "",
		 o->source ? o->source : "hubfs");
	if (fuse_opt_add_arg(args, opt))
		return -ENOMEM;
	if (o->debug && fuse_opt_add_arg(args, "-odebug"))
		return -ENOMEM;
	/* READ requests that fit a pipe (fs/ops.c hub_fs_read_max) */
	snprintf(opt, sizeof(opt), "-omax_read=%u", hub_fs_read_max());
	if (fuse_opt_add_arg(args, opt))
		return -ENOMEM;
	return 0;
}

int main(int argc, char **argv)
{
	struct hub_options opts;
	char err[512];
	/* `hubfs cache ...`: its own arguments (fs/cache_cmd.c) */
	if (argc > 1 && strcmp(argv[1], "cache") == 0)
		return hub_cache_cmd(argc - 1, argv + 1);
	if (hub_options_parse(&opts, argc, argv, NULL, err, sizeof(err))) {
		fprintf(stderr, "hubfs: %s (see hubfs --help)\n", err);
		hub_options_dispose(&opts);
		return 2;
	}
	int status = 1;
	switch (opts.cmd) {
	case HUB_CMD_HELP:
		hub_options_usage(argv[0]);
		hub_options_dispose(&opts);
		return 0;
	case HUB_CMD_VERSION:
		printf("hubfs %s (libfuse %s)\n", HUBFS_VERSION, fuse_pkgversion());
		hub_options_dispose(&opts);
		return 0;
	case HUB_CMD_STATUS:
		status = cmd_status(opts.mountpoint);
		hub_options_dispose(&opts);
		return status;
	case HUB_CMD_MOUNT:
		break;
	}

	char root[PATH_MAX];
	struct fuse_args args = FUSE_ARGS_INIT(0, NULL);
	struct fuse_session *se = NULL;
	struct hub_cache *cache = NULL;
	struct hub_fs *fs = NULL;
	struct hub_py *py = NULL;
	struct hub_weights *weights = NULL;
	struct hub_quota *quota = NULL;
	bool mounted = false, git_up = false;

	hub_log_init(true, opts.debug);
	hub_fs_log_attach();
	if (hub_options_cache_root(root, sizeof(root), &opts, NULL) < 0) {
		die_line("cannot determine the cache directory%s%s", "", "");
		goto out;
	}
	if (check_mountpoint(opts.mountpoint) || check_cache(root))
		goto out;
	struct hub_quota_policy qpol;
	hub_quota_policy_init(&qpol, 0, opts.evict_checkpoints_all);
	if (opts.cache_max) {
		uint64_t max;
		char why[128];
		if (hub_quota_parse_size(&max, opts.cache_max, root, why, sizeof(why))) {
			char v[256];
			hub_escape_text(v, sizeof(v), opts.cache_max);
			fprintf(stderr, "hubfs: bad value for cache_max: '%s' (%s)\n", v, why);
			goto out;
		}
		hub_quota_policy_init(&qpol, max, opts.evict_checkpoints_all);
	}
	/* for tests only: a shorter idle bound of abandoned downloads */
	if (getenv("HUBFS_TEST_PART_IDLE_S"))
		qpol.part_idle_s = atof(getenv("HUBFS_TEST_PART_IDLE_S"));
	if (build_fuse_args(&args, &opts))
		goto out;
	struct hub_cache_config ccfg = {
		.offline = opts.offline,
		.ref_ttl = opts.ref_ttl,
		.neg_ttl = opts.neg_ttl,
		.git_url = opts.git_url,
		.rewrites = &opts.rewrites,
		/* for tests only (as below): shorter pins than HUB_REPO_PIN_S */
		.pin_s = getenv("HUBFS_TEST_PIN_S") ? atof(getenv("HUBFS_TEST_PIN_S")) : 0,
	};
	/* before anything asks for the analysis version, which it enters */
	if (hub_py_set_path(opts.analysis_path)) {
		hub_err("analysis_path: cannot use '%s'", opts.analysis_path);
		goto out;
	}
	if (hub_cache_new(&cache, root, &ccfg) || hub_fs_new(&fs, &opts, cache))
		goto out;
	se = fuse_session_new(&args, hub_fs_ops(), sizeof(*hub_fs_ops()), fs);
	if (!se)
		goto out; /* libfuse printed why (e.g. an unknown option) */
	if (fuse_set_signal_handlers(se))
		goto out;
	/* in front of libfuse's handlers: long waits see the stop at once */
	if (hub_stop_install())
		goto out;
	char mp_real[PATH_MAX]; /* resolved now: after the mount it is ours */
	const char *mp = realpath(opts.mountpoint, mp_real) ? mp_real : opts.mountpoint;
	if (fuse_session_mount(se, opts.mountpoint))
		goto out; /* libfuse printed why */
	mounted = true;
	hub_fs_set_mountpoint(fs, mp);
	hub_log_init(opts.foreground, opts.debug);
	hub_fs_log_attach();
	if (fuse_daemonize(opts.foreground))
		goto out;
	if (hub_git_global_init()) {
		hub_err("libgit2 initialisation failed");
		goto out;
	}
	git_up = true;
	if (hub_git_set_token_hosts((const char *const *)opts.token_host, opts.n_token_host)) {
		hub_err("out of memory");
		goto out;
	}
	/* not waited for: CPython starts while the first requests are answered */
	if (hub_py_new_async(&py)) /* logged; .hub/errors will say the analyser is missing */
		py = NULL;
	hub_fs_set_py(fs, py);
	struct hub_weights_config wcfg = {
		.offline = opts.offline,
		.strict = opts.verify == HUB_VERIFY_STRICT,
		.allow_private = opts.allow_private,
		.rewrites = &opts.rewrites,
		.proxy = opts.proxy,
	};
	/* For tests only (tests/integration/test_quota.py): shorter pins and
	 * rounds than HUB_WEIGHTS_PIN_S and HUB_QUOTA_CHECK_S. */
	const char *tpin = getenv("HUBFS_TEST_PIN_S"), *tq = getenv("HUBFS_TEST_QUOTA_S");
	if (tpin) {
		struct hub_weights_tuning t;
		hub_weights_tuning_default(&t);
		t.pin_s = atof(tpin);
		hub_weights_set_tuning(&t);
	}
	if (hub_weights_new(&weights, root, &wcfg)) {
		hub_err("cannot start the weight store under %s", root);
		goto out;
	}
	if (hub_fs_set_weights(fs, weights, se)) {
		hub_err("cannot start the page invalidation thread");
		goto out;
	}
	if (hub_quota_new(&quota, root, &qpol, tq ? atof(tq) : HUB_QUOTA_CHECK_S)) {
		hub_err("cannot start the cache quota thread");
		goto out;
	}
	hub_info("mounted on %s, cache %s", opts.mountpoint, root);

	if (opts.single_thread) {
		/* > 0: the signal (SIGTERM, SIGINT, SIGHUP) that stopped it: a clean exit */
		status = fuse_session_loop(se) < 0 ? 1 : 0;
	} else {
		struct fuse_loop_config *cfg = fuse_loop_cfg_create();
		if (!cfg)
			goto out;
		fuse_loop_cfg_set_max_threads(cfg, HUB_FUSE_MAX_THREADS);
		status = fuse_session_loop_mt(se, cfg) < 0 ? 1 : 0; /* as above */
		fuse_loop_cfg_destroy(cfg);
	}
out:
	if (mounted)
		fuse_session_unmount(se);
	/* after the unmount (se's fd closed: a late notify fails at once),
	 * before se is destroyed (the notifier uses it) */
	hub_fs_stop(fs);
	if (se) {
		hub_stop_uninstall();
		fuse_remove_signal_handlers(se);
		fuse_session_destroy(se);
	}
	hub_quota_free(quota);
	hub_py_free(py);
	hub_fs_free(fs); /* drops its references to weight files */
	hub_weights_free(weights);
	hub_cache_free(cache);
	if (git_up)
		hub_git_global_shutdown();
	fuse_opt_free_args(&args);
	hub_options_dispose(&opts);
	return status;
}
