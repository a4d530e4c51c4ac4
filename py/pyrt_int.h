/*
 * What pyrt.c (the interpreter thread, the queue, the public API) and
 * pyrt_tree.c (the tree callbacks the scanner calls) share.  Locking: see
 * pyrt.c's LOCKING: py->mu guards the fields marked (mu).
 */
#ifndef HUB_PY_PYRT_INT_H
#define HUB_PY_PYRT_INT_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "base/limits.h"
#include "py/pyrt.h"

enum job_state { JOB_QUEUED, JOB_RUNNING, JOB_DONE };

struct py_job {
	int refs;                   /* (mu) caller + queue/py thread */
	enum job_state state;       /* (mu) */
	bool cancelled;             /* (mu) caller gave up, or shutdown */
	bool shutdown;              /* (mu) cancelled by hub_py_free */
	bool in_callback;           /* (mu) py thread is inside a tree callback */
	atomic_int cancel;          /* == cancelled; read by the py thread without mu */
	int rc;                     /* (mu) result, valid when JOB_DONE */
	char *json;                 /* (mu) result, valid when JOB_DONE and rc == 0 */
	pthread_cond_t cv;          /* signalled on state and in_callback changes */
	/* immutable after submission */
	struct hub_tree_reader tree;
	double deadline;            /* CLOCK_MONOTONIC seconds */
	uint64_t seq;
	unsigned flags;
	struct hub_py *py;
};

struct hub_py {
	pthread_mutex_t mu;
	pthread_cond_t cv;          /* work for the py thread; users dropping to 0 */
	struct py_job *queue[HUB_PY_QUEUE_MAX]; /* (mu) ring */
	size_t head, count;         /* (mu) */
	struct py_job *running;     /* (mu) */
	uint64_t next_seq;          /* (mu) */
	bool stopping;              /* (mu) */
	bool started;               /* (mu) py thread finished its start-up */
	bool warm_wanted;           /* (mu) hub_py_warm() asked, not yet done */
	double warm_hold_s;         /* (mu) HUB_PY_WARM_HOLD_S, or a test's */
	int start_rc;               /* (mu) its result */
	int users;                  /* (mu) callers inside hub_py_analyze */
	unsigned test_flags;        /* (mu) */
	unsigned long flag_cancels; /* (mu) jobs stopped by their cancel flag */
	unsigned gc_deferred;       /* py thread only: jobs run since the last after_job */
	unsigned long gc_runs;      /* (mu) after_job calls so far (tests) */
	size_t ahead_made;          /* (mu) bytes jobs' helpers made resident (tests) */
	bool thread_created;
	pthread_t thread;
	/* (py thread) */
	PyObject *analyze_fn;
	PyObject *after_fn; /* hubscan.after_job: the last job's memory, freed off the clock */
	PyObject *cancelled_exc;
};

/* The callables a job hands the scanner (read, listdir, cancelled), bound
 * to the job through a capsule that is cleared when the job ends: one that
 * Python kept alive past its job raises instead of touching a freed job.
 * Py thread only. */
struct job_ref;
struct py_tree_fns {
	PyObject *cap, *read, *listdir, *cancelled;
	struct job_ref *ref;
};
/* 0, or -ENOMEM with a Python error set (what was made is released by
 * hub_py_tree_fns_release all the same). */
int hub_py_tree_fns_new(struct py_tree_fns *out, struct py_job *job);
/* Detach the job and drop the callables. */
void hub_py_tree_fns_release(struct py_tree_fns *f);

/* pyrt_arena.c: pymalloc's arenas from huge-page chunks; called on the
 * interpreter thread after Py_InitializeFromConfig. */
void py_arena_install(void);
/* Make arena memory resident ahead of a job until `want` bytes are (free
 * arenas kept resident count), a slice at a time, stopping as soon as
 * stop(arg) is true (a job came): the bytes made resident now.
 * Interpreter thread, between jobs. */
size_t py_arena_warm(size_t want, bool (*stop)(void *), void *arg);
/* While a job runs, on a helper thread of its own: keep `lead` bytes of
 * arena memory resident ahead of the job's allocations (the rest of the
 * current chunk, then spare chunks), a huge page at a time, until
 * stop(arg) is true and py_arena_ahead_wake() was called: the bytes made
 * resident.  The page being written is fenced off: arena_alloc waits for
 * it rather than carve into it. */
size_t py_arena_ahead(size_t lead, bool (*stop)(void *), void *arg);
/* Wake py_arena_ahead to look at stop() again. */
void py_arena_ahead_wake(void);
/* Give back what py_arena_warm made resident and no job has used: the
 * bytes given back. */
size_t py_arena_cool(void);

#endif
