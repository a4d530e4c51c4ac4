/*
 * The git transport of every remote operation (fetch/git.c's sessions use
 * it through hub_git_wire_attach): libgit2's smart subtransport for git://
 * and http(s):// behind a stream that watches the bytes.  No locks: a
 * stream belongs to the operation (struct op) that opened it.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <git2.h>
#include <git2/sys/errors.h>
#include <git2/sys/transport.h>

#include "fetch/git_int.h"

/*
 * Our own smart transport for git:// and http(s)://: libgit2's subtransport
 * behind a stream that watches the bytes, for two reasons.
 *
 * 1. libgit2 before 1.9 cannot fetch shallow over a stateful connection
 *    (git://): git_smart__negotiate_fetch() sends "want ... deepen N", reads
 *    the server's shallow list, then sends the same wants again in front of
 *    its "have"/"done" lines.  Right for stateless HTTP, where each request
 *    starts over; on git:// upload-pack dies with "expected SHA1 list, got
 *    'want ...'" and the fetch fails with a broken pipe.  The stream drops
 *    such a repeat: on a stateful stream, a write that starts with the bytes
 *    of the first write, when that was a deepen request.  A libgit2 without
 *    the bug never sends one, so the filter is then inert.
 * 2. When upload-pack refuses a want ("ERR upload-pack: not our ref X": the
 *    commit does not exist upstream), libgit2 1.8 reports "unexpected packet
 *    type" or a broken pipe and drops the server's words; hub_git_errno needs
 *    them to answer ENOENT instead of EIO.  The stream keeps an "ERR" packet
 *    that starts a response in op->remote_err.
 */
static bool need_shallow_fix; /* libgit2 < 1.9; set once by hub_git_global_init */

void hub_git_wire_set_shallow_fix(bool on)
{
	need_shallow_fix = on;
}

bool hub_git_need_shallow_fix(void)
{
	return need_shallow_fix;
}

struct wire_sub;

struct wire_stream {
	git_smart_subtransport_stream parent;
	git_smart_subtransport_stream *inner;
	struct wire_sub *owner; /* NULL once the subtransport let go of us */
	char *first;            /* a deepen request, while it may be repeated */
	size_t first_len;
	unsigned writes;
	bool response_start;    /* the next read starts a server response */
};

struct wire_sub {
	git_smart_subtransport parent;
	git_smart_subtransport *inner;
	struct op *op;
	bool stateful;
	struct wire_stream *stream; /* wraps inner's current stream */
};

static void sniff_err(struct op *op, const char *buf, size_t len)
{
	/* "XXXXERR message": four hex digits of length, then the payload. */
	if (len < 8 || memcmp(buf + 4, "ERR ", 4) != 0)
		return;
	char hex[5] = {buf[0], buf[1], buf[2], buf[3], '\0'};
	char *end;
	unsigned long pkt = strtoul(hex, &end, 16);
	if (*end || pkt < 8)
		return;
	size_t n = (pkt < len ? pkt : len) - 8;
	if (n >= sizeof(op->remote_err))
		n = sizeof(op->remote_err) - 1;
	memcpy(op->remote_err, buf + 8, n);
	while (n > 0 && (op->remote_err[n - 1] == '\n' || op->remote_err[n - 1] == '\r'))
		n--;
	op->remote_err[n] = '\0';
}

static int wire_read(git_smart_subtransport_stream *s, char *buf, size_t size, size_t *got)
{
	struct wire_stream *ws = (struct wire_stream *)s;
	int rc = ws->inner->read(ws->inner, buf, size, got);
	if (rc == 0 && *got > 0 && ws->response_start) {
		ws->response_start = false;
		if (ws->owner)
			sniff_err(ws->owner->op, buf, *got);
	}
	return rc;
}

static bool is_deepen_request(const char *buf, size_t len)
{
	return len > 9 && memcmp(buf + 4, "want ", 5) == 0 && memmem(buf, len, "deepen ", 7);
}

static int wire_write(git_smart_subtransport_stream *s, const char *buf, size_t len)
{
	struct wire_stream *ws = (struct wire_stream *)s;
	bool stateful = ws->owner && ws->owner->stateful;
	if (ws->writes++ == 0) {
		if (stateful && need_shallow_fix && is_deepen_request(buf, len)) {
			ws->first = malloc(len);
			if (!ws->first) {
				git_error_set_oom();
				return -1;
			}
			memcpy(ws->first, buf, len);
			ws->first_len = len;
		}
	} else if (ws->first) {
		if (len >= ws->first_len && memcmp(buf, ws->first, ws->first_len) == 0) {
			buf += ws->first_len;
			len -= ws->first_len;
		}
		free(ws->first);
		ws->first = NULL;
	}
	ws->response_start = true;
	return len ? ws->inner->write(ws->inner, buf, len) : 0;
}

static void wire_stream_release(struct wire_stream *ws)
{
	if (ws->owner)
		ws->owner->stream = NULL;
	free(ws->first);
	free(ws);
}

static void wire_stream_free(git_smart_subtransport_stream *s)
{
	struct wire_stream *ws = (struct wire_stream *)s;
	ws->inner->free(ws->inner);
	wire_stream_release(ws);
}

static int wire_action(git_smart_subtransport_stream **out, git_smart_subtransport *sub,
		       const char *url, git_smart_service_t action)
{
	struct wire_sub *wsub = (struct wire_sub *)sub;
	git_smart_subtransport_stream *inner = NULL;
	int rc = wsub->inner->action(&inner, wsub->inner, url, action);
	if (rc < 0)
		return rc;
	/* Stateful: UPLOADPACK hands out the stream of UPLOADPACK_LS again,
	 * and libgit2 asserts that it gets the same stream back. */
	if (wsub->stream && wsub->stream->inner == inner) {
		*out = &wsub->stream->parent;
		return 0;
	}
	struct wire_stream *ws = calloc(1, sizeof(*ws));
	if (!ws) {
		inner->free(inner);
		git_error_set_oom();
		return -1;
	}
	ws->parent.subtransport = sub;
	ws->parent.read = wire_read;
	ws->parent.write = wire_write;
	ws->parent.free = wire_stream_free;
	ws->inner = inner;
	ws->owner = wsub;
	ws->response_start = true;
	if (wsub->stream)
		wsub->stream->owner = NULL; /* an older stream libgit2 still holds */
	wsub->stream = ws;
	*out = &ws->parent;
	return 0;
}

static int wire_close(git_smart_subtransport *sub)
{
	struct wire_sub *wsub = (struct wire_sub *)sub;
	/* libgit2's close frees its current stream if libgit2 has not. */
	int rc = wsub->inner->close(wsub->inner);
	if (wsub->stream)
		wire_stream_release(wsub->stream);
	return rc;
}

static void wire_free(git_smart_subtransport *sub)
{
	struct wire_sub *wsub = (struct wire_sub *)sub;
	wsub->inner->free(wsub->inner);
	if (wsub->stream)
		wire_stream_release(wsub->stream);
	free(wsub);
}

static int wire_subtransport(git_smart_subtransport **out, git_transport *owner, void *param)
{
	struct op *op = param;
	struct wire_sub *wsub = calloc(1, sizeof(*wsub));
	if (!wsub) {
		git_error_set_oom();
		return -1;
	}
	wsub->op = op;
	wsub->stateful = !op->def.rpc;
	int rc = wsub->stateful ? git_smart_subtransport_git(&wsub->inner, owner, NULL)
				: git_smart_subtransport_http(&wsub->inner, owner, NULL);
	if (rc < 0) {
		free(wsub);
		return rc;
	}
	wsub->parent.action = wire_action;
	wsub->parent.close = wire_close;
	wsub->parent.free = wire_free;
	*out = &wsub->parent;
	return 0;
}

/* A git_transport_cb; param is the callbacks' payload, our op. */
static int wire_transport(git_transport **out, git_remote *owner, void *param)
{
	struct op *op = param;
	return git_transport_smart(out, owner, &op->def);
}

void hub_git_wire_attach(git_remote_callbacks *cb, struct op *op)
{
	bool git = strncasecmp(op->url, "git://", 6) == 0;
	if (git || strncasecmp(op->url, "http://", 7) == 0 ||
	    strncasecmp(op->url, "https://", 8) == 0) {
		op->def.callback = wire_subtransport;
		op->def.rpc = !git;
		op->def.param = op;
		cb->transport = wire_transport;
	}
}
