/*
 * pyrt: the embedded CPython interpreter thread and its job queue.
 *
 * DESIGN
 *   One thread ("py thread") owns CPython: it initialises it (isolated
 *   config: no signal handlers, no site, no bytecode writes), imports the
 *   scanner, the package py/analysis/hubscan, from its sources compiled
 *   into the binary (generated header hubscan_py.h; see load_scanner()),
 *   hands it the limits of base/limits.h, then serves jobs from a bounded
 *   FIFO until hub_py_free(), and finalizes CPython itself.  It holds
 *   the GIL for its whole life: no other thread ever touches Python.  It is
 *   created with every signal blocked, so the daemon's (libfuse's) handlers
 *   run on other threads and never interrupt a tree callback with EINTR.
 *
 *   A caller (hub_py_analyze) enqueues a job and waits on the job's condition
 *   variable until the job is done or its deadline passes.  On timeout (or
 *   hub_py_free) the job is marked cancelled and abandoned.  Cancellation is
 *   cooperative, and reaches the Python code three ways, each raising
 *   hubscan.Cancelled, a BaseException the scanner never catches:
 *     1. the scanner gets the caller's deadline and compares it with
 *        time.monotonic() (CLOCK_MONOTONIC, as here) in Job.tick(), called
 *        for every statement, parsed file, import, decorator and call it
 *        evaluates and every name it classifies;
 *     2. tick() also polls job->cancel (an atomic, no lock) through the
 *        `cancelled` callable every 64 ticks: hub_py_free() stops a job
 *        whose deadline is far away;
 *     3. every tree callback refuses to run once the job is cancelled.
 *   The longest step without a tick is one ast.parse() of at most
 *   HUB_PY_SOURCE_MAX bytes (about 1.5 s here); the scanner's other loops
 *   over one file's AST are bounded by the same cap.
 *   Not used, and why: Py_AddPendingCall() from a non-Python thread does
 *   not set the eval breaker in CPython 3.9-3.11 (python/cpython#95820), so
 *   the call would only run when the py thread next drops the GIL, which it
 *   never does; PyErr_SetInterrupt() does nothing without Python's SIGINT
 *   handler, which the isolated config (libfuse owns signals) leaves out.
 *
 *   Tree callbacks run on the py thread.  Each one is bracketed by
 *   job->in_callback under py->mu and refused once the job is cancelled, and
 *   a timed-out caller waits until no callback is in progress: after
 *   hub_py_analyze() returns, the caller's tree ctx is never touched again.
 *
 * LOCKING
 *   py->mu guards every field marked (mu) in struct hub_py and struct py_job.
 *   Fields marked (py thread) are used by the py thread only.  A job is
 *   referenced by its caller and by the queue/py thread (refs, under mu) and
 *   freed by whoever drops the last reference.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include "py/pyrt.h"
#include "py/pyrt_int.h"
#include "py/pyrt_internal.h"
#include "base/limits.h"

#include <assert.h>
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "base/cond.h"
#include "base/log.h"
#include "hubscan_py.h" /* generated: hubscan_modules[], HUBSCAN_SHA256 */

/* The one live handle (CPython has one runtime per process). */
static pthread_mutex_t live_mu = PTHREAD_MUTEX_INITIALIZER;
static struct hub_py *live_py; /* (live_mu) */

static double mono_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static struct timespec mono_ts(double t)
{
	struct timespec ts;
	if (t > 1e15)
		t = 1e15;
	ts.tv_sec = (time_t)t;
	ts.tv_nsec = (long)((t - (double)ts.tv_sec) * 1e9);
	if (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	if (ts.tv_nsec < 0)
		ts.tv_nsec = 0;
	return ts;
}

/* Drop a reference; frees the job on the last one.  Called with py->mu held. */
static void job_unref_locked(struct py_job *job)
{
	assert(job->refs > 0);
	if (--job->refs > 0)
		return;
	pthread_cond_destroy(&job->cv);
	free(job->json);
	free(job);
}

/* Mark a job cancelled.  Called with py->mu held. */
static void job_cancel_locked(struct py_job *job, bool shutdown)
{
	job->cancelled = true;
	job->shutdown = job->shutdown || shutdown;
	atomic_store(&job->cancel, 1);
}

static void job_finish_locked(struct py_job *job, int rc, char *json)
{
	job->state = JOB_DONE;
	job->rc = rc;
	job->json = json;
	pthread_cond_broadcast(&job->cv);
}

/* ------------------------------------------------------- Python side */

/* Map the pending Python exception to -errno (the one place that does). */
static int py_exception_errno(struct hub_py *py, struct py_job *job)
{
	int rc = -EIO;
	PyObject *type, *value, *tb;
	PyErr_Fetch(&type, &value, &tb);
	PyErr_NormalizeException(&type, &value, &tb);
	if (type == NULL)
		return -EIO;
	if (py->cancelled_exc && PyErr_GivenExceptionMatches(type, py->cancelled_exc)) {
		pthread_mutex_lock(&py->mu);
		rc = job->shutdown ? -ECANCELED : -ETIMEDOUT;
		if (job->cancelled)
			py->flag_cancels++;
		pthread_mutex_unlock(&py->mu);
	} else if (PyErr_GivenExceptionMatches(type, PyExc_MemoryError)) {
		rc = -ENOMEM;
	} else if (PyErr_GivenExceptionMatches(type, PyExc_TimeoutError)) {
		rc = -ETIMEDOUT;
	} else if (PyErr_GivenExceptionMatches(type, PyExc_OSError) && value) {
		PyObject *e = PyObject_GetAttrString(value, "errno");
		long v = e && PyLong_Check(e) ? PyLong_AsLong(e) : 0;
		Py_XDECREF(e);
		rc = v > 0 && v < 4096 ? -(int)v : -EIO;
	}
	if (rc == -EIO || rc == -ENOMEM) {
		PyObject *s = value ? PyObject_Str(value) : NULL;
		const char *msg = s ? PyUnicode_AsUTF8(s) : NULL;
		hub_err("py: analysis failed: %s: %s", ((PyTypeObject *)type)->tp_name,
			msg ? msg : "?");
		Py_XDECREF(s);
	}
	Py_XDECREF(type);
	Py_XDECREF(value);
	Py_XDECREF(tb);
	PyErr_Clear();
	return rc;
}

/*
 * The limits the scanner applies, handed to it once at start (its
 * limits.py holds no value; base/limits.h is their only definition).  Key:
 * the macro's name without HUB_PY_, lower case (url_max: HUB_URL_MAX), as
 * tests/analysis/conftest.py reads them too; the scanner refuses to start
 * without one it needs.  Every value is an integer below 2^53 or
 * (real) a number of seconds, so a double holds it exactly.
 */
static const struct py_limit {
	const char *key;
	double value;
	bool real; /* a float in Python, else an int */
} py_limits[] = {
	{"source_max", HUB_PY_SOURCE_MAX, false},
	{"depth_max", HUB_PY_DEPTH_MAX, false},
	{"entrypoints_max", HUB_PY_ENTRYPOINTS_MAX, false},
	{"modules_max", HUB_PY_MODULES_MAX, false},
	{"bytes_max", HUB_PY_BYTES_MAX, false},
	{"errors_max", HUB_PY_ERRORS_MAX, false},
	{"call_depth", HUB_PY_CALL_DEPTH, false},
	{"job_seconds", HUB_PY_JOB_SECONDS, true},
	{"steps_max", HUB_PY_STEPS_MAX, false},
	{"ast_cache_bytes", HUB_PY_AST_CACHE_BYTES, false},
	{"ast_cache_file_max", HUB_PY_AST_CACHE_FILE_MAX, false},
	{"expr_depth", HUB_PY_EXPR_DEPTH, false},
	{"call_nest", HUB_PY_CALL_NEST, false},
	{"class_depth", HUB_PY_CLASS_DEPTH, false},
	{"weight_def_depth", HUB_PY_WEIGHT_DEF_DEPTH, false},
	{"url_max", HUB_URL_MAX, false},
	{"const_depth", HUB_PY_CONST_DEPTH, false},
	{"const_nest", HUB_PY_CONST_NEST, false},
	{"const_items", HUB_PY_CONST_ITEMS, false},
	{"const_str", HUB_PY_CONST_STR, false},
	{"const_str_op", HUB_PY_CONST_STR_OP, false},
	{"const_format_max", HUB_PY_CONST_FORMAT_MAX, false},
	{"const_field_digits", HUB_PY_CONST_FIELD_DIGITS, false},
	{"const_mul_bits", HUB_PY_CONST_MUL_BITS, false},
};

/* analysis_path= (hub_py_set_path): copied once, before the interpreter
 * starts and before the version is computed; never changed afterwards. */
static char *extra_path;
static bool extra_path_frozen;
static pthread_mutex_t extra_path_mu = PTHREAD_MUTEX_INITIALIZER;

int hub_py_set_path(const char *dirs)
{
	if (dirs && dirs[0] != '/')
		return -EINVAL;
	for (const char *s = dirs; s && (s = strchr(s, ':')) != NULL; s++)
		if (s[1] != '/') /* every component absolute, none empty */
			return -EINVAL;
	char *copy = dirs ? strdup(dirs) : NULL;
	if (dirs && !copy)
		return -ENOMEM;
	pthread_mutex_lock(&extra_path_mu);
	if (extra_path_frozen) {
		pthread_mutex_unlock(&extra_path_mu);
		free(copy);
		return -EBUSY;
	}
	free(extra_path);
	extra_path = copy;
	pthread_mutex_unlock(&extra_path_mu);
	return 0;
}

static const char *extra_path_freeze(void)
{
	pthread_mutex_lock(&extra_path_mu);
	extra_path_frozen = true;
	pthread_mutex_unlock(&extra_path_mu);
	return extra_path ? extra_path : "";
}

static PyObject *make_limits(void)
{
	PyObject *d = PyDict_New();
	for (size_t i = 0; d && i < sizeof(py_limits) / sizeof(py_limits[0]); i++) {
		const struct py_limit *l = &py_limits[i];
		PyObject *v = l->real ? PyFloat_FromDouble(l->value) : PyLong_FromDouble(l->value);
		if (!v || PyDict_SetItemString(d, l->key, v) < 0)
			Py_CLEAR(d);
		Py_XDECREF(v);
	}
	return d;
}

/*
 * The import hook of the embedded scanner: a meta path finder that knows
 * only the modules of hubscan_modules[] (given as SOURCES: name ->
 * (is_package, file, source bytes)) and runs their embedded source, so the
 * package is imported like any other (relative imports, in the order its
 * modules need each other) without a file read from disk.  It comes first
 * on sys.meta_path, so no file named like the package on sys.path (the
 * host's installed packages) is ever imported instead; any other name is
 * left to the interpreter's own finders.  Code objects are named
 * <hubfs:hubscan/FILE>: linecache never looks for them on disk.
 */
static const char embed_finder_py[] =
	"import sys\n"
	"from importlib.machinery import ModuleSpec\n"
	"class EmbeddedFinder:\n"
	"    def __init__(self, sources):\n"
	"        self.sources = sources\n"
	"    def find_spec(self, name, path=None, target=None):\n"
	"        m = self.sources.get(name)\n"
	"        if m is None:\n"
	"            return None\n"
	"        return ModuleSpec(name, self, origin='<hubfs:hubscan/%s>' % m[1], is_package=m[0])\n"
	"    def create_module(self, spec):\n"
	"        return None\n"
	"    def exec_module(self, module):\n"
	"        is_package, file, source = self.sources[module.__name__]\n"
	"        code = compile(source, '<hubfs:hubscan/%s>' % file, 'exec', dont_inherit=True)\n"
	"        exec(code, module.__dict__)\n"
	"sys.meta_path.insert(0, EmbeddedFinder(SOURCES))\n";

/* Install the import hook and import the package.  New reference, or NULL
 * with a Python exception set. */
static PyObject *load_scanner(void)
{
	PyObject *sources = PyDict_New(), *globals = PyDict_New(), *mod = NULL, *name = NULL;
	int rc = sources && globals ? 0 : -1;
	for (size_t i = 0; !rc && i < sizeof(hubscan_modules) / sizeof(hubscan_modules[0]); i++) {
		const struct hubscan_module *m = &hubscan_modules[i];
		PyObject *t = Py_BuildValue("(Osy)", m->is_package ? Py_True : Py_False, m->file,
					    m->source);
		rc = t ? PyDict_SetItemString(sources, m->name, t) : -1;
		Py_XDECREF(t);
	}
	if (!rc)
		rc = PyDict_SetItemString(globals, "SOURCES", sources);
	if (!rc) {
		name = PyUnicode_FromString("hubfs.pyrt");
		rc = name ? PyDict_SetItemString(globals, "__name__", name) : -1;
	}
	if (!rc) {
		PyObject *r = PyRun_String(embed_finder_py, Py_file_input, globals, globals);
		rc = r ? 0 : -1;
		Py_XDECREF(r);
	}
	if (!rc)
		mod = PyImport_ImportModule("hubscan");
	Py_XDECREF(name);
	Py_XDECREF(globals);
	Py_XDECREF(sources);
	return mod;
}

static void log_py_error(const char *what)
{
	PyObject *type, *value, *tb;
	PyErr_Fetch(&type, &value, &tb);
	PyObject *s = value ? PyObject_Str(value) : NULL;
	const char *msg = s ? PyUnicode_AsUTF8(s) : NULL;
	hub_err("py: %s: %s: %s", what, type ? ((PyTypeObject *)type)->tp_name : "?",
		msg ? msg : "?");
	Py_XDECREF(s);
	Py_XDECREF(type);
	Py_XDECREF(value);
	Py_XDECREF(tb);
	PyErr_Clear();
}

/* Initialise CPython on this thread and load the scanner.  0 or -errno. */
static int interp_start(struct hub_py *py)
{
	PyConfig cfg;
	PyStatus st;
	PyConfig_InitIsolatedConfig(&cfg);
	cfg.install_signal_handlers = 0; /* libfuse owns the signals */
	cfg.site_import = 0;             /* no .pth files run, no user site */
	cfg.write_bytecode = 0;
	cfg.user_site_directory = 0;
	cfg.use_environment = 0;
	cfg.parse_argv = 0;
	cfg.faulthandler = 0;
	cfg.buffered_stdio = 0;
	cfg.quiet = 1;
	st = Py_InitializeFromConfig(&cfg);
	PyConfig_Clear(&cfg);
	if (PyStatus_Exception(st)) {
		hub_err("py: cannot start the Python interpreter: %s%s%s",
			st.func ? st.func : "", st.func ? ": " : "",
			st.err_msg ? st.err_msg : "unknown error");
		return -EIO;
	}
	py_arena_install(); /* pymalloc's arenas on huge pages (pyrt_arena.c) */
	PyObject *mod = load_scanner();
	if (!mod) {
		log_py_error("cannot load the embedded scanner (hubscan)");
		return -EIO;
	}
	PyObject *init = PyObject_GetAttrString(mod, "embedded_init");
	PyObject *limits = init ? make_limits() : NULL;
	PyObject *r = limits ? PyObject_CallFunction(init, "Ois", limits, HUB_PY_RECURSION_LIMIT,
						     extra_path_freeze()) : NULL;
	Py_XDECREF(limits);
	Py_XDECREF(init);
	py->analyze_fn = r ? PyObject_GetAttrString(mod, "analyze_json") : NULL;
	py->cancelled_exc = r ? PyObject_GetAttrString(mod, "Cancelled") : NULL;
	py->after_fn = r ? PyObject_GetAttrString(mod, "after_job") : NULL;
	Py_DECREF(mod);
	if (!r || !py->analyze_fn || !py->cancelled_exc || !py->after_fn) {
		Py_XDECREF(r);
		log_py_error("cannot set up the embedded scanner (hubscan)");
		return -EIO;
	}
	if (hub_log_threshold >= HUB_LOG_DEBUG) {
		PyObject *s = PyObject_Str(r);
		hub_debug("py: interpreter up, sys.path = %s", s ? PyUnicode_AsUTF8(s) : "?");
		Py_XDECREF(s);
		PyErr_Clear();
	}
	Py_DECREF(r);
	return 0;
}

static void interp_stop(struct hub_py *py)
{
	if (!Py_IsInitialized())
		return;
	Py_CLEAR(py->analyze_fn);
	Py_CLEAR(py->after_fn);
	Py_CLEAR(py->cancelled_exc);
	if (Py_FinalizeEx() < 0)
		hub_warn("py: errors while finalizing the interpreter");
}

/* The helper thread of a running job (py_arena_ahead): while the job
 * parses and evaluates on this thread, the other CPU makes the arena
 * memory it is about to use resident, so the job does not stop at each
 * fresh huge page (docs/analysis.md, "Memory made resident beside the
 * job").  At the lowest priority: it may have only CPU nothing else
 * wants; a thread of its own, so that it never has to come back. */
struct ahead {
	atomic_bool done;
	size_t made;
};

static bool ahead_stop(void *arg)
{
	return atomic_load(&((struct ahead *)arg)->done);
}

static void *ahead_thread(void *arg)
{
	struct ahead *ah = arg;
	(void)setpriority(PRIO_PROCESS, (id_t)gettid(), HUB_PY_WARM_NICE);
	ah->made = py_arena_ahead(HUB_PY_AHEAD_BYTES, ahead_stop, ah);
	return NULL;
}

/* Run one job; the bytes its helper made resident. */
static size_t run_job(struct hub_py *py, struct py_job *job)
{
	struct ahead ah = {.made = 0};
	atomic_init(&ah.done, false);
	pthread_t aht;
	bool ah_on = !(job->flags & HUB_PY_TEST_NO_AHEAD) &&
		     pthread_create(&aht, NULL, ahead_thread, &ah) == 0;
	PyObject *dl = NULL, *res = NULL;
	char *json = NULL;
	int rc = 0;
	struct py_tree_fns fns;
	int brc = hub_py_tree_fns_new(&fns, job);
	if (job->flags & HUB_PY_TEST_NO_COOP_DEADLINE) {
		dl = Py_None;
		Py_INCREF(dl);
	} else {
		dl = PyFloat_FromDouble(job->deadline);
	}
	if (!brc && dl)
		res = PyObject_CallFunctionObjArgs(py->analyze_fn, fns.read, fns.listdir, Py_None, dl,
						   Py_None, fns.cancelled, NULL);
	if (res) {
		Py_ssize_t n = 0;
		const char *s = PyUnicode_Check(res) ? PyUnicode_AsUTF8AndSize(res, &n) : NULL;
		if (s) {
			json = malloc((size_t)n + 1);
			if (json) {
				memcpy(json, s, (size_t)n);
				json[n] = '\0';
			} else {
				rc = -ENOMEM;
			}
		} else {
			rc = PyErr_Occurred() ? py_exception_errno(py, job) : -EIO;
		}
	} else {
		rc = PyErr_Occurred() ? py_exception_errno(py, job) : -EIO;
	}
	if (brc)
		rc = brc;
	hub_py_tree_fns_release(&fns);
	Py_XDECREF(res);
	Py_XDECREF(dl);
	PyErr_Clear();
	if (ah_on) {
		atomic_store(&ah.done, true);
		py_arena_ahead_wake();
		pthread_join(aht, NULL);
		if (ah.made)
			hub_debug("py: %zu MiB made resident beside the job", ah.made >> 20);
	}

	pthread_mutex_lock(&py->mu);
	py->ahead_made += ah.made;
	py->running = NULL;
	job_finish_locked(job, rc, json);
	job_unref_locked(job);
	/* The caller has its answer: now free the job's objects (the cyclic
	 * collection over a large repository's takes ~1 s of CPU).  A job
	 * already waiting goes first: its caller would wait that second for
	 * nothing.  At most HUB_PY_GC_DEFER_JOBS jobs in a row are run so,
	 * which bounds the garbage kept; the last job of a burst collects. */
	bool defer = py->count > 0 && !py->stopping && py->gc_deferred < HUB_PY_GC_DEFER_JOBS;
	if (!defer)
		py->gc_runs++;
	pthread_mutex_unlock(&py->mu);
	if (defer) {
		py->gc_deferred++;
		return ah.made;
	}
	py->gc_deferred = 0;
	PyObject *done = PyObject_CallNoArgs(py->after_fn);
	if (!done)
		log_py_error("after_job failed");
	Py_XDECREF(done);
	PyErr_Clear();
	return ah.made;
}

/* Warming runs at the lowest priority (HUB_PY_WARM_NICE): it is worth
 * only the CPU nothing else wants (measured while it still overlapped the
 * fetch of refs: at nice 0 it took a repository's first `ls` from
 * 0.41-0.52 s to 0.55-1.03 s).  Only where the thread can come back to
 * its priority afterwards (root or CAP_SYS_NICE, or an RLIMIT_NICE that
 * allows it): false, and no warming, elsewhere.  *out_prio: the priority
 * to come back to (warm_nice_end). */
static bool warm_nice(int *out_prio, pid_t tid)
{
	errno = 0;
	int prio = getpriority(PRIO_PROCESS, (id_t)tid);
	if (errno)
		return false;
	*out_prio = prio;
	if (prio >= HUB_PY_WARM_NICE)
		return true;
	struct rlimit rl;
	bool back = geteuid() == 0 ||
		    (!getrlimit(RLIMIT_NICE, &rl) &&
		     (rl.rlim_cur == RLIM_INFINITY || 20 - (long)rl.rlim_cur <= prio));
	return back && !setpriority(PRIO_PROCESS, (id_t)tid, HUB_PY_WARM_NICE);
}

static void warm_nice_end(pid_t tid, int prio)
{
	if (setpriority(PRIO_PROCESS, (id_t)tid, prio))
		hub_warn("py: the interpreter thread keeps nice %d after warming: %s", HUB_PY_WARM_NICE,
			 strerror(errno));
}

/* py_arena_warm's question between slices: has a job (or the end) come? */
static bool warm_stop(void *arg)
{
	struct hub_py *py = arg;
	pthread_mutex_lock(&py->mu);
	bool stop = py->count > 0 || py->stopping;
	pthread_mutex_unlock(&py->mu);
	return stop;
}

/* CPython's start-up (~100 ms of CPU) runs at a lower priority: on a fresh
 * mount it would otherwise take a core from the first lookups and reads,
 * which on a 2-CPU machine doubled a cold file's time to first byte.  The
 * old priority is restored after it when the process may raise priorities
 * (root, CAP_SYS_NICE); otherwise the thread keeps the lower one, which
 * only matters while the CPUs are busy with other work. */
static void *py_thread(void *arg)
{
	struct hub_py *py = arg;
	pid_t tid = gettid();
	errno = 0;
	int prio = getpriority(PRIO_PROCESS, (id_t)tid);
	bool reniced = !errno && prio < HUB_PY_START_NICE &&
		       setpriority(PRIO_PROCESS, (id_t)tid, HUB_PY_START_NICE) == 0;
	int rc = interp_start(py);
	if (reniced && setpriority(PRIO_PROCESS, (id_t)tid, prio))
		hub_debug("py: the interpreter thread keeps nice %d: %s", HUB_PY_START_NICE,
			  strerror(errno));

	pthread_mutex_lock(&py->mu);
	py->started = true;
	py->start_rc = rc;
	pthread_cond_broadcast(&py->cv);
	double warm_until = 0; /* memory made resident ahead is held until then */
	for (;;) {
		while (!py->stopping && py->count == 0 && !py->warm_wanted) {
			if (!warm_until) {
				pthread_cond_wait(&py->cv, &py->mu);
				continue;
			}
			struct timespec ts = mono_ts(warm_until);
			if (pthread_cond_timedwait(&py->cv, &py->mu, &ts) == ETIMEDOUT &&
			    mono_now() >= warm_until) {
				warm_until = 0;
				pthread_mutex_unlock(&py->mu);
				size_t n = py_arena_cool();
				hub_debug("py: %zu MiB made resident for an analysis that did not come: "
					  "given back", n >> 20);
				pthread_mutex_lock(&py->mu);
			}
		}
		if (py->count == 0 && py->warm_wanted && !py->stopping) {
			/* a commit was opened: its analysis will likely follow
			 * (hub_py_warm); this thread is idle meanwhile */
			py->warm_wanted = false;
			pthread_mutex_unlock(&py->mu);
			int prio;
			bool warmed = !rc && warm_nice(&prio, tid);
			if (warmed) {
				size_t n = py_arena_warm(HUB_PY_WARM_BYTES, warm_stop, py);
				warm_nice_end(tid, prio);
				if (n)
					hub_debug("py: %zu MiB of arena memory made resident ahead", n >> 20);
			}
			pthread_mutex_lock(&py->mu);
			if (warmed)
				warm_until = mono_now() + py->warm_hold_s;
			continue;
		}
		if (py->count == 0)
			break; /* stopping */
		struct py_job *job = py->queue[py->head];
		py->head = (py->head + 1) % HUB_PY_QUEUE_MAX;
		py->count--;
		if (job->cancelled || rc) {
			job_finish_locked(job, rc ? rc : (job->shutdown ? -ECANCELED : -ETIMEDOUT), NULL);
			job_unref_locked(job);
			continue;
		}
		job->state = JOB_RUNNING;
		py->running = job;
		pthread_mutex_unlock(&py->mu);
		size_t ahead = run_job(py, job);
		pthread_mutex_lock(&py->mu);
		if (ahead) /* what the job left unused goes back after the hold */
			warm_until = mono_now() + py->warm_hold_s;
	}
	pthread_mutex_unlock(&py->mu);
	interp_stop(py);
	return NULL;
}

/* ------------------------------------------------------------ public API */

static int py_new(struct hub_py **out, bool wait);

int hub_py_new(struct hub_py **out)
{
	return py_new(out, true);
}

int hub_py_new_async(struct hub_py **out)
{
	return py_new(out, false);
}

static int py_new(struct hub_py **out, bool wait)
{
	struct hub_py *py;
	pthread_attr_t attr;
	int rc;

	if (!out)
		return -EINVAL;
	*out = NULL;
	py = calloc(1, sizeof(*py));
	if (!py)
		return -ENOMEM;
	py->warm_hold_s = HUB_PY_WARM_HOLD_S;
	pthread_mutex_lock(&live_mu);
	if (live_py) {
		pthread_mutex_unlock(&live_mu);
		free(py);
		return -EBUSY;
	}
	live_py = py;
	pthread_mutex_unlock(&live_mu);

	pthread_mutex_init(&py->mu, NULL);
	rc = hub_cond_init_mono(&py->cv);
	if (rc) {
		pthread_mutex_destroy(&py->mu);
		pthread_mutex_lock(&live_mu);
		live_py = NULL;
		pthread_mutex_unlock(&live_mu);
		free(py);
		return rc;
	}
	rc = -pthread_attr_init(&attr);
	if (!rc)
		rc = -pthread_attr_setstacksize(&attr, HUB_PY_STACK_SIZE);
	if (!rc) {
		sigset_t all, old;
		sigfillset(&all);
		pthread_sigmask(SIG_SETMASK, &all, &old); /* inherited by the py thread */
		rc = -pthread_create(&py->thread, &attr, py_thread, py);
		pthread_sigmask(SIG_SETMASK, &old, NULL);
		pthread_attr_destroy(&attr);
	}
	if (rc) {
		hub_err("py: cannot start the interpreter thread: %s", strerror(-rc));
		hub_py_free(py);
		return rc;
	}
	py->thread_created = true;
	if (!wait) {
		*out = py;
		return 0;
	}

	pthread_mutex_lock(&py->mu);
	while (!py->started)
		pthread_cond_wait(&py->cv, &py->mu);
	rc = py->start_rc;
	pthread_mutex_unlock(&py->mu);
	if (rc) {
		hub_py_free(py);
		return rc;
	}
	*out = py;
	return 0;
}

void hub_py_free(struct hub_py *py)
{
	if (!py)
		return;
	pthread_mutex_lock(&py->mu);
	py->stopping = true;
	while (py->count > 0) {
		struct py_job *job = py->queue[py->head];
		py->head = (py->head + 1) % HUB_PY_QUEUE_MAX;
		py->count--;
		job_cancel_locked(job, true);
		job_finish_locked(job, -ECANCELED, NULL);
		job_unref_locked(job);
	}
	if (py->running)
		job_cancel_locked(py->running, true);
	pthread_cond_broadcast(&py->cv);
	pthread_mutex_unlock(&py->mu);

	if (py->thread_created)
		pthread_join(py->thread, NULL);

	pthread_mutex_lock(&py->mu);
	while (py->users > 0)
		pthread_cond_wait(&py->cv, &py->mu);
	pthread_mutex_unlock(&py->mu);

	pthread_mutex_lock(&live_mu);
	if (live_py == py)
		live_py = NULL;
	pthread_mutex_unlock(&live_mu);
	pthread_cond_destroy(&py->cv);
	pthread_mutex_destroy(&py->mu);
	free(py);
}

void hub_py_warm(struct hub_py *py)
{
	if (!py)
		return;
	pthread_mutex_lock(&py->mu);
	if (!py->stopping && !py->warm_wanted) {
		py->warm_wanted = true;
		pthread_cond_broadcast(&py->cv);
	}
	pthread_mutex_unlock(&py->mu);
}

int hub_py_analyze(char **out_json, struct hub_py *py, const struct hub_tree_reader *tree,
		   double timeout_s)
{
	struct py_job *job;
	struct timespec ts;
	int rc;

	if (!out_json)
		return -EINVAL;
	*out_json = NULL;
	if (!py || !tree || !tree->read_file || !tree->list_dir || !(timeout_s > 0) ||
	    isnan(timeout_s))
		return -EINVAL;
	job = calloc(1, sizeof(*job));
	if (!job)
		return -ENOMEM;
	rc = hub_cond_init_mono(&job->cv);
	if (rc) {
		free(job);
		return rc;
	}
	job->tree = *tree;
	job->py = py;
	job->refs = 2;
	job->state = JOB_QUEUED;
	job->deadline = mono_now() + (timeout_s > 1e9 ? 1e9 : timeout_s);

	pthread_mutex_lock(&py->mu);
	if (py->stopping || py->start_rc) {
		rc = py->start_rc ? py->start_rc : -ECANCELED;
		pthread_mutex_unlock(&py->mu);
		pthread_cond_destroy(&job->cv);
		free(job);
		return rc;
	}
	if (py->count >= HUB_PY_QUEUE_MAX) {
		pthread_mutex_unlock(&py->mu);
		pthread_cond_destroy(&job->cv);
		free(job);
		return -EAGAIN;
	}
	job->seq = ++py->next_seq;
	job->flags = py->test_flags;
	py->queue[(py->head + py->count) % HUB_PY_QUEUE_MAX] = job;
	py->count++;
	py->users++;
	pthread_cond_broadcast(&py->cv);

	ts = mono_ts(job->deadline);
	while (job->state != JOB_DONE) {
		int w = pthread_cond_timedwait(&job->cv, &py->mu, &ts);
		if (w == ETIMEDOUT)
			break;
	}
	if (job->state == JOB_DONE) {
		rc = job->rc;
		*out_json = job->json;
		job->json = NULL;
	} else {
		/* Abandon: nothing of this job may reach the caller's tree again. */
		job_cancel_locked(job, false);
		rc = -ETIMEDOUT;
		while (job->in_callback)
			pthread_cond_wait(&job->cv, &py->mu);
	}
	job_unref_locked(job);
	if (--py->users == 0)
		pthread_cond_broadcast(&py->cv);
	pthread_mutex_unlock(&py->mu);
	return rc;
}

void hub_py__set_warm_hold(struct hub_py *py, double seconds)
{
	pthread_mutex_lock(&py->mu);
	py->warm_hold_s = seconds;
	pthread_mutex_unlock(&py->mu);
}

void hub_py__set_test_flags(struct hub_py *py, unsigned flags)
{
	pthread_mutex_lock(&py->mu);
	py->test_flags = flags;
	pthread_mutex_unlock(&py->mu);
}

unsigned long hub_py__flag_cancels(struct hub_py *py)
{
	pthread_mutex_lock(&py->mu);
	unsigned long n = py->flag_cancels;
	pthread_mutex_unlock(&py->mu);
	return n;
}

size_t hub_py__cool(struct hub_py *py)
{
	(void)py;
	return py_arena_cool();
}

size_t hub_py__ahead_made(struct hub_py *py)
{
	pthread_mutex_lock(&py->mu);
	size_t n = py->ahead_made;
	pthread_mutex_unlock(&py->mu);
	return n;
}

unsigned long hub_py__gc_runs(struct hub_py *py)
{
	pthread_mutex_lock(&py->mu);
	unsigned long n = py->gc_runs;
	pthread_mutex_unlock(&py->mu);
	return n;
}

size_t hub_py__queued(struct hub_py *py)
{
	pthread_mutex_lock(&py->mu);
	size_t n = py->count;
	pthread_mutex_unlock(&py->mu);
	return n;
}

static char version_buf[192];
static pthread_once_t version_once = PTHREAD_ONCE_INIT;

/* The scanner's sources' hash, then a hash (FNV-1a, 64 bits) of every limit
 * it is given: a result computed by another scanner or under other limits
 * is not reused. */
static void version_init(void)
{
	uint64_t h = 0xcbf29ce484222325ull;
	for (size_t i = 0; i < sizeof(py_limits) / sizeof(py_limits[0]); i++) {
		char buf[96];
		int n = snprintf(buf, sizeof(buf), "%s=%.17g;", py_limits[i].key, py_limits[i].value);
		for (int j = 0; j < n && j < (int)sizeof(buf) - 1; j++) {
			h ^= (unsigned char)buf[j];
			h *= 0x100000001b3ull;
		}
	}
	/* the directories named by analysis_path= change what is found */
	for (const char *p = extra_path_freeze(); *p; p++) {
		h ^= (unsigned char)*p;
		h *= 0x100000001b3ull;
	}
	snprintf(version_buf, sizeof(version_buf), "%.16s-%016llx", HUBSCAN_SHA256, (unsigned long long)h);
}

const char *hub_py_analysis_version(void)
{
	pthread_once(&version_once, version_init);
	return version_buf;
}
