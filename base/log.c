/* Log sink: stderr (foreground) or syslog; see log.h. */
#include "base/log.h"
#include "base/redact.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

int hub_log_threshold = HUB_LOG_WARN;
static bool use_stderr = true;

/* One message, one line: control characters in what is logged (a server's
 * error text, a name, a URL) are escaped (base/redact.h), so a log line can
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

void hub_log_init(bool foreground, bool debug)
{
	use_stderr = foreground;
	hub_log_threshold = debug ? HUB_LOG_DEBUG : HUB_LOG_INFO;
	if (!foreground)
		openlog("hubfs", LOG_PID, LOG_DAEMON);
}
