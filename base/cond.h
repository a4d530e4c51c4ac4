/*
 * Condition variables whose timed waits count on CLOCK_MONOTONIC, the
 * clock every deadline in hubfs is taken from (a wall-clock step must not
 * stretch or cut a wait).
 */
#ifndef HUB_BASE_COND_H
#define HUB_BASE_COND_H

#include <pthread.h>

/* pthread_cond_init with a CLOCK_MONOTONIC attribute.  0 or -errno. */
int hub_cond_init_mono(pthread_cond_t *cv);

#endif
