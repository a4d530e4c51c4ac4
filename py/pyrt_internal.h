/*
 * Test hooks of pyrt.c, for tests/unit/py only (fs/ must not use them).
 */
#ifndef HUB_PY_PYRT_INTERNAL_H
#define HUB_PY_PYRT_INTERNAL_H

#include "py/pyrt.h"

/* Do not pass the caller's deadline to the Python scanner, so that only the
 * job's cancel flag can stop a timed-out job. */
#define HUB_PY_TEST_NO_COOP_DEADLINE 0x1u

/* No helper thread making memory resident beside the job (py_arena_ahead). */
#define HUB_PY_TEST_NO_AHEAD 0x2u

/* Flags for jobs submitted from now on. */
void hub_py__set_test_flags(struct hub_py *py, unsigned flags);

/* Hold memory made resident by hub_py_warm() this long (instead of
 * HUB_PY_WARM_HOLD_S) from the next warm-up on. */
void hub_py__set_warm_hold(struct hub_py *py, double seconds);

/* Jobs waiting in the queue now. */
size_t hub_py__queued(struct hub_py *py);

/* Give back now the arena memory made resident ahead and not used (what
 * the idle thread does HUB_PY_WARM_HOLD_S after the last job or warm-up);
 * only while no job runs.  The bytes given back. */
size_t hub_py__cool(struct hub_py *py);

/* Bytes the helpers of jobs made resident beside them, so far. */
size_t hub_py__ahead_made(struct hub_py *py);

/* after_job() calls (the collection after a job) so far. */
unsigned long hub_py__gc_runs(struct hub_py *py);

/* Jobs stopped inside the interpreter after being cancelled, so far. */
unsigned long hub_py__flag_cancels(struct hub_py *py);

#endif
