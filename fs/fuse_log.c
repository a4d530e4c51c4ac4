/* libfuse's log messages through hubfs's log (base/log.h): the one piece of
 * logging that knows libfuse, so that base/ stays FUSE-free. */
#include "fs/fuse_log.h"

#include <fuse_log.h>
#include <stdio.h>

#include "base/log.h"

/* libfuse writes one message in several calls ("unknown option(s): `",
 * "-o ", "x'\n"): gather the pieces per thread until the newline. */
static _Thread_local char fuse_line[1024];
static _Thread_local size_t fuse_len;

static void fuse_sink(enum fuse_log_level level, const char *fmt, va_list ap)
{
	if ((int)level > hub_log_threshold)
		return;
	int n = vsnprintf(fuse_line + fuse_len, sizeof(fuse_line) - fuse_len, fmt, ap);
	if (n > 0)
		fuse_len += (size_t)n < sizeof(fuse_line) - fuse_len ? (size_t)n
								   : sizeof(fuse_line) - fuse_len - 1;
	if (fuse_len == 0 || (fuse_line[fuse_len - 1] != '\n' && fuse_len < sizeof(fuse_line) - 1))
		return;
	while (fuse_len && fuse_line[fuse_len - 1] == '\n')
		fuse_line[--fuse_len] = '\0';
	hub_log_write((int)level, "%s", fuse_line);
	fuse_len = 0;
}

void hub_fs_log_attach(void)
{
	fuse_set_log_func(fuse_sink);
}
