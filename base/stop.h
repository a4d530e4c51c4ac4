/*
 * The process-wide "stopping" flag: set by SIGTERM/SIGINT/SIGHUP (chained in
 * front of libfuse's own handlers), read by long waits (a libgit2 transfer,
 * a read waiting for weight bytes) so that they end at once and libfuse's
 * join of its worker threads does not wait for them.
 */
#ifndef HUB_FS_STOP_H
#define HUB_FS_STOP_H

#include <stdbool.h>

/* Install the handlers; call after fuse_set_signal_handlers.  0 or -errno. */
int hub_stop_install(void);
/* Restore what hub_stop_install replaced. */
void hub_stop_uninstall(void);
/* Async-signal-safe. */
void hub_stop_request(void);
bool hub_stop_requested(void);

#endif
