/*
 * pyrt: the embedded CPython interpreter that analyses hubconf.py.
 *
 * One interpreter runs on one thread owned by this module; callers (FUSE
 * workers) hand it jobs through a bounded queue and wait with a timeout.
 * Python objects never leave py/: a job's result is JSON text.  No
 * repository code is ever executed: see docs/analysis.md.
 *
 * Errors are 0 or -errno.  Thread-safe: any number of threads may call
 * hub_py_analyze() on one handle at once.  One handle may exist per process
 * at a time (CPython has one runtime); a new one may be made after
 * hub_py_free().
 */
#ifndef HUB_PY_PYRT_H
#define HUB_PY_PYRT_H

#include <stddef.h>

struct hub_py;

/* Installed-packages directories the analyser reads before the host's
 * (analysis_path=): ':'-separated absolute paths, or NULL for none.  Call
 * before hub_py_new*() and hub_py_analysis_version() (which it enters):
 * later calls return -EBUSY.  -ENOMEM, -EINVAL for a relative path. */
int hub_py_set_path(const char *dirs);

/* Start the interpreter thread and wait until CPython is initialised and the
 * scanner is loaded.  -EBUSY if another handle exists, -ENOMEM, -EIO if the
 * interpreter cannot start (logged), -errno of pthread_create. */
int hub_py_new(struct hub_py **out);
/* The same without waiting (the daemon answers requests while CPython
 * starts, ~100 ms): jobs submitted meanwhile queue, and fail with the start's
 * error if the interpreter cannot start.  Errors are those of creating the
 * thread. */
int hub_py_new_async(struct hub_py **out);

/* Stop: queued jobs fail with -ECANCELED, the running one is cancelled, the
 * interpreter is finalized on its own thread and joined.  Returns after every
 * hub_py_analyze() call in progress has returned.  Accepts NULL and a handle
 * whose start failed.  No call on py may start after hub_py_free() begins. */
void hub_py_free(struct hub_py *py);

/*
 * A commit tree, read through callbacks that run ON THE INTERPRETER THREAD.
 * Paths are relative, '/'-separated, "" is the root.  Once hub_py_analyze()
 * has returned (even with -ETIMEDOUT) no callback of that job runs again, so
 * ctx may be freed; a timed-out call waits for a callback in progress, which
 * should therefore not block for long.
 */
struct hub_tree_reader {
	void *ctx;
	/* 0 and a malloc'd buffer (freed by pyrt; NULL allowed when the length
	 * is 0), -ENOENT if absent, -EISDIR for directories, other -errno. */
	int (*read_file)(void *ctx, const char *path, char **out, size_t *out_len);
	/* 0 and a malloc'd array of malloc'd names (all freed by pyrt),
	 * -ENOENT/-ENOTDIR, other -errno. */
	int (*list_dir)(void *ctx, const char *path, char ***out_names, size_t *out_n);
};

/*
 * Analyse the tree's hubconf.py: what torch.hub.list() and torch.hub.help()
 * would return, found without running it.  On 0, *out_json is a malloc'd
 * NUL-terminated ASCII JSON text
 *   {"entrypoints":[{"name":..,"help":..,"signature":..,"weights":[url,..]}],
 *    "weights":[url,..],"dependencies":[..],"errors":["file:line: reason",..]}
 * (errors empty when the analysis is complete; a broken hubconf.py is a
 * successful analysis with no entrypoints and an errors line).
 * -EINVAL bad arguments or timeout_s <= 0; -EAGAIN the queue is full;
 * -ETIMEDOUT the job did not finish within timeout_s seconds: it is
 * abandoned (cancelled inside the interpreter, which stays usable);
 * -ECANCELED hub_py_free() started; -ENOMEM; -EIO an unexpected failure
 * inside the interpreter (logged).
 */
int hub_py_analyze(char **out_json, struct hub_py *py, const struct hub_tree_reader *tree,
		   double timeout_s);

/* An analysis is likely to follow (a commit whose analysis is not on disk
 * was opened): the interpreter thread makes the memory an analysis
 * allocates resident meanwhile, at the lowest priority, while it has no
 * job (see pyrt_arena.c).  Returns at once; cheap when nothing is left to
 * do.  Accepts NULL. */
void hub_py_warm(struct hub_py *py);

/* Identifies the analysis: the embedded scanner's SHA-256 prefix and the
 * limits of base/limits.h, e.g. "3f2a9c1e07b4d6a8-1048576-100-10000-1000-...",
 * made of [0-9a-f.-] only (usable in a file name).  A persisted result is
 * valid only for the same version (and the same installed packages, whose
 * sources it may have read).  Static string; thread-safe. */
const char *hub_py_analysis_version(void);

#endif
