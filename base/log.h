/*
 * Logging: one printf-checked macro that tests the level before formatting.
 * Sink: stderr when running in the foreground, syslog otherwise (fs/ installs
 * it as libfuse's log function too: hub_fs_log_attach).  Thread-safe (one
 * write(2)/syslog per message).
 */
#ifndef HUB_LOG_H
#define HUB_LOG_H

#include <stdbool.h>

enum hub_log_level { HUB_LOG_ERR = 3, HUB_LOG_WARN = 4, HUB_LOG_INFO = 6, HUB_LOG_DEBUG = 7 };

extern int hub_log_threshold;

void hub_log_init(bool foreground, bool debug);
void hub_log_write(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define hub_log(level, ...)                                                    \
	do {                                                                   \
		if ((level) <= hub_log_threshold)                              \
			hub_log_write((level), __VA_ARGS__);                   \
	} while (0)
#define hub_err(...) hub_log(HUB_LOG_ERR, __VA_ARGS__)
#define hub_warn(...) hub_log(HUB_LOG_WARN, __VA_ARGS__)
#define hub_info(...) hub_log(HUB_LOG_INFO, __VA_ARGS__)
#define hub_debug(...) hub_log(HUB_LOG_DEBUG, __VA_ARGS__)

#endif
