/*
 * Text that leaves the daemon for other eyes (the log, /.hubfs/ files,
 * `hubfs status`): URLs without their credentials, and any string without
 * control characters.  Pure functions, thread-safe, no allocation kept.
 *
 * Both write a NUL-terminated string into out (outsz > 0) and return its
 * length, or -ENAMETOOLONG when it did not fit (out then holds as much as
 * fit, cut between two escapes, still redacted), or -EINVAL for NULL
 * arguments (out, when usable, is then "").
 */
#ifndef HUB_FS_REDACT_H
#define HUB_FS_REDACT_H

#include <stddef.h>

/*
 * url for people: scheme, host, port and path kept; user name and password
 * become "***@" (so a reader sees that credentials were configured), a
 * query becomes "?***" and a fragment "#***".  Parsed with libcurl's URL
 * parser (any scheme: https, git, ssh, file ...).  Something that is not a
 * URL (curl refuses it: a rewrite prefix with a bad port, "user@host:path",
 * a bare string) is redacted by its text: everything before the last '@'
 * ahead of any '?' or '#' (after "scheme://" when there is one) becomes
 * "***@", and query and fragment are dropped as above.  The result is also
 * escaped as by hub_escape_text, so it is always one line.
 */
int hub_redact_url(char *out, size_t outsz, const char *url);

/*
 * s with every byte below 0x20, 0x7f (DEL) and the backslash written as
 * \xNN (two lower-case hex digits): the result never holds a newline, a
 * carriage return or an ESC, and decodes unambiguously.  Other bytes
 * (UTF-8 included) are copied.
 */
int hub_escape_text(char *out, size_t outsz, const char *s);

/* As hub_escape_text but the backslash is kept: for the log, whose lines
 * often hold text already escaped (a redacted URL), not escaped twice. */
int hub_escape_controls(char *out, size_t outsz, const char *s);

#endif
