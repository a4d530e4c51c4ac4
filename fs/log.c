/* Log sink: stderr (foreground) or syslog; see log.h. */
#include "fs/log.h"
#include "fs/redact.h"

#include <fuse_log.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

int hub_log_threshold = HUB_LOG_WARN;
static bool use_stderr = true;

/* One message, one line: control characters in what is logged (a server's
 * error text, a name, a URL) are escaped (fs/redact.h), so a log line can
 * never forge another line or reach a terminal's escape sequences. */
static void vlog(int level, const char *fmt, va_list ap)
{
	char msg[2048];
	if (vsnprintf(msg, sizeof(msg), fmt, ap) < 0)
		msg[0] = '\0';
	size_t n = strlen(msg);
	while (n > 0 && msg[n - 1] == '\n') /* the line's own end */
		msg[--n] = '\0';
	static const char prefix[] = "hubfs: ";
	char line[sizeof(prefix) + 4 * sizeof(msg) + 1];
	char *esc = line + sizeof(prefix) - 1;
	memcpy(line, prefix, sizeof(prefix) - 1);
	hub_escape_controls(esc, sizeof(line) - sizeof(prefix), msg); /* room for '\n' */
	if (!use_stderr) {
		syslog(level, "%s", esc);
		return;
	}
	size_t len = sizeof(prefix) - 1 + strlen(esc);
	line[len++] = '\n';
	ssize_t w = write(STDERR_FILENO, line, len);
	(void)w;
}

void hub_log_write(int level, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vlog(level, fmt, ap);
	va_end(ap);
}

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

void hub_log_init(bool foreground, bool debug)
{
	use_stderr = foreground;
	hub_log_threshold = debug ? HUB_LOG_DEBUG : HUB_LOG_INFO;
	if (!foreground)
		openlog("hubfs", LOG_PID, LOG_DAEMON);
	fuse_set_log_func(fuse_sink);
}
