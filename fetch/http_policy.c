/*
 * The address policy of HTTP requests (http.h says what it allows; http.c's
 * DESIGN where it runs): hop_allowed() judges one connection of one hop,
 * from curl's open-socket callback (before connect) and its pre-request
 * callback (also on a reused connection).  A refusal is recorded in the
 * xfer; the attempt turns it into -EPERM or -EPROTONOSUPPORT.  No locks:
 * the xfer belongs to the thread running its request.
 */
#include "fetch/http_int.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include "base/log.h"
#include "fetch/addr.h"

/* Host (as curl parses it: IPv6 in brackets) and port (the scheme's default
 * when none) of url. */
bool hub_http_url_origin(const char *url, char *host, size_t hostsz, long *port)
{
	CURLU *u = curl_url();
	if (!u)
		return false;
	char *hs = NULL, *ps = NULL;
	bool ok = !curl_url_set(u, CURLUPART_URL, url, 0) && !curl_url_get(u, CURLUPART_HOST, &hs, 0) &&
		  !curl_url_get(u, CURLUPART_PORT, &ps, CURLU_DEFAULT_PORT) && strlen(hs) < hostsz;
	if (ok) {
		snprintf(host, hostsz, "%s", hs);
		*port = strtol(ps, NULL, 10);
	}
	curl_free(hs);
	curl_free(ps);
	curl_url_cleanup(u);
	return ok;
}

__attribute__((format(printf, 3, 4))) static void refuse(struct xfer *x, int err, const char *fmt,
							  ...)
{
	char why[sizeof(x->refused_why)];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	hub_info("http: %s", why);
	if (!x->refused) {
		x->refused = err;
		snprintf(x->refused_why, sizeof(x->refused_why), "%s", why);
	}
}

/* May this hop (curl's current URL) connect to sa?  Records a refusal. */
static bool hop_allowed(struct xfer *x, const struct sockaddr *sa)
{
	const struct policy *p = x->pol;
	char *hop = NULL;
	curl_easy_getinfo(x->c, CURLINFO_EFFECTIVE_URL, &hop);
	char u[512];
	hub_http_url_for_log(u, sizeof(u), hop ? hop : "?");
	if (hop && !strncasecmp(hop, "https://", 8)) {
		x->https_seen = true;
	} else if (x->https_seen) {
		refuse(x, -EPROTONOSUPPORT, "redirect to %s refused: https is never downgraded to http",
		       u);
		return false;
	}
	if (p->allow_private)
		return true;
	const char *cls = hub_addr_class(sa);
	if (!cls) {
		int local = hub_addr_is_local(sa);
		if (local == 0)
			return true;
		cls = local > 0 ? "local-interface" : "unverifiable";
	}
	if (p->trusted) {
		char host[256];
		long port;
		if (hop && hub_http_url_origin(hop, host, sizeof(host), &port) && port == p->port &&
		    !strcasecmp(host, p->host))
			return true;
	}
	char a[INET6_ADDRSTRLEN];
	hub_addr_str(a, sizeof(a), sa);
	refuse(x, -EPERM, "refused to connect to %s (%s address, not public) for %s%s", a, cls, u,
	       p->trusted ? " (not the rewrite target's host:port)" : "; see allow_private");
	return false;
}

/* Every socket curl opens: the policy first. */
curl_socket_t hub_http_open_cb(void *clientp, curlsocktype purpose, struct curl_sockaddr *a)
{
	struct xfer *x = clientp;
	(void)purpose;
	if (!hop_allowed(x, &a->addr))
		return CURL_SOCKET_BAD;
	return hub_http_sock_open(x->h, a);
}

/* Before each request, on a new or a reused connection: the policy again,
 * with the address connected. */
int hub_http_prereq_cb(void *clientp, char *ip, char *local_ip, int port, int local_port)
{
	struct xfer *x = clientp;
	(void)local_ip, (void)port, (void)local_port;
	struct sockaddr_storage ss;
	memset(&ss, 0, sizeof(ss));
	char buf[INET6_ADDRSTRLEN + 1];
	snprintf(buf, sizeof(buf), "%.*s", (int)strcspn(ip, "%"), ip); /* no zone */
	struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
	if (inet_pton(AF_INET, buf, &s4->sin_addr) == 1)
		ss.ss_family = AF_INET;
	else if (inet_pton(AF_INET6, buf, &s6->sin6_addr) == 1)
		ss.ss_family = AF_INET6;
	else
		ss.ss_family = AF_UNSPEC;
	return hop_allowed(x, (struct sockaddr *)&ss) ? CURL_PREREQFUNC_OK : CURL_PREREQFUNC_ABORT;
}

