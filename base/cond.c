/* See cond.h. */
#include "base/cond.h"

#include <time.h>

int hub_cond_init_mono(pthread_cond_t *cv)
{
	pthread_condattr_t a;
	int rc = pthread_condattr_init(&a);
	if (rc)
		return -rc;
	rc = pthread_condattr_setclock(&a, CLOCK_MONOTONIC);
	if (!rc)
		rc = pthread_cond_init(cv, &a);
	pthread_condattr_destroy(&a);
	return -rc;
}
