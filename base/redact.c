/*
 * URLs without credentials and text without control characters (see
 * redact.h).
 *
 * DESIGN: one output sink that escapes as it copies, so every byte that
 * reaches out went through the escape and a cut (out too small) never leaves
 * half of a secret: secrets are never copied in the first place, only the
 * parts that are kept.  A URL is split by libcurl's parser (curl_url, the
 * same parser the weight downloads use); only when it refuses the string is
 * the text split by hand, and then conservatively (the last '@' ahead of the
 * query ends the user information, wherever the slashes are).
 */
#include "base/redact.h"

#include <curl/curl.h>
#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <string.h>

struct sink {
	char *out;
	size_t cap; /* bytes of out, the NUL included */
	size_t len;
	bool full;  /* something did not fit: nothing more is written */
	bool keep_backslash; /* hub_escape_controls */
};

static bool needs_escape(const struct sink *s, unsigned char c)
{
	return c < 0x20 || c == 0x7f || (c == '\\' && !s->keep_backslash);
}

static void put(struct sink *s, const char *p, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	for (size_t i = 0; i < n && !s->full; i++) {
		unsigned char c = (unsigned char)p[i];
		size_t need = needs_escape(s, c) ? 4 : 1;
		if (s->len + need >= s->cap) {
			s->full = true;
			break;
		}
		if (need == 1) {
			s->out[s->len++] = (char)c;
		} else {
			s->out[s->len++] = '\\';
			s->out[s->len++] = 'x';
			s->out[s->len++] = hex[c >> 4];
			s->out[s->len++] = hex[c & 15];
		}
	}
	s->out[s->len] = '\0';
}

static void put_str(struct sink *s, const char *p)
{
	put(s, p, strlen(p));
}

static int sink_result(const struct sink *s)
{
	return s->full || s->len > INT_MAX ? -ENAMETOOLONG : (int)s->len;
}

/* By libcurl's parse; false when curl does not take url as a URL. */
static bool redact_parsed(struct sink *s, const char *url)
{
	const char *sep = strstr(url, "://");
	if (!sep)
		return false;
	CURLU *u = curl_url();
	if (!u)
		return false;
	char *scheme = NULL, *user = NULL, *pass = NULL, *opts = NULL, *host = NULL,
	     *zone = NULL, *port = NULL, *path = NULL, *query = NULL, *frag = NULL;
	bool ok = false;
	unsigned flags = CURLU_NON_SUPPORT_SCHEME | CURLU_PATH_AS_IS | CURLU_ALLOW_SPACE;
	if (curl_url_set(u, CURLUPART_URL, url, flags) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK)
		goto out;
	/* absent parts stay NULL */
	curl_url_get(u, CURLUPART_USER, &user, 0);
	curl_url_get(u, CURLUPART_PASSWORD, &pass, 0);
	curl_url_get(u, CURLUPART_OPTIONS, &opts, 0);
	curl_url_get(u, CURLUPART_HOST, &host, 0);
	curl_url_get(u, CURLUPART_ZONEID, &zone, 0);
	curl_url_get(u, CURLUPART_PORT, &port, 0);
	curl_url_get(u, CURLUPART_PATH, &path, 0);
	curl_url_get(u, CURLUPART_QUERY, &query, 0);
	curl_url_get(u, CURLUPART_FRAGMENT, &frag, 0);

	put_str(s, scheme);
	put_str(s, "://");
	if (user || pass || opts)
		put_str(s, "***@");
	if (host) {
		size_t hl = strlen(host);
		if (zone && hl > 1 && host[hl - 1] == ']') {
			put(s, host, hl - 1);
			put_str(s, "%25");
			put_str(s, zone);
			put_str(s, "]");
		} else {
			put_str(s, host);
		}
	}
	if (port) {
		put_str(s, ":");
		put_str(s, port);
	}
	/* curl reports "/" for a URL without a path; a rule's FROM such as
	 * "https://github.com" is shown as written.  curl took the authority,
	 * so it holds no '/': the first one starts the path. */
	const char *rest = sep + 3;
	if (path && rest[strcspn(rest, "/?#")] == '/')
		put_str(s, path);
	if (query)
		put_str(s, "?***");
	if (frag)
		put_str(s, "#***");
	ok = true;
out:
	curl_free(scheme);
	curl_free(user);
	curl_free(pass);
	curl_free(opts);
	curl_free(host);
	curl_free(zone);
	curl_free(port);
	curl_free(path);
	curl_free(query);
	curl_free(frag);
	curl_url_cleanup(u);
	return ok;
}

/* Not a URL for curl: by the text, erring on the side of hiding. */
static void redact_text(struct sink *s, const char *url)
{
	const char *sep = strstr(url, "://");
	const char *start = sep ? sep + 3 : url;
	const char *end = start + strcspn(start, "?#"); /* end of scheme, authority, path */
	const char *at = NULL;
	for (const char *p = start; p < end; p++)
		if (*p == '@')
			at = p;
	put(s, url, (size_t)(start - url));
	if (at) {
		put_str(s, "***@");
		start = at + 1;
	}
	put(s, start, (size_t)(end - start));
	if (*end == '?')
		put_str(s, "?***");
	if (*end && strchr(end, '#'))
		put_str(s, "#***");
}

int hub_redact_url(char *out, size_t outsz, const char *url)
{
	if (!out || outsz == 0)
		return -EINVAL;
	out[0] = '\0';
	if (!url)
		return -EINVAL;
	struct sink s = {.out = out, .cap = outsz};
	if (!redact_parsed(&s, url)) {
		s.len = 0;
		s.full = false;
		out[0] = '\0';
		redact_text(&s, url);
	}
	return sink_result(&s);
}

int hub_escape_text(char *out, size_t outsz, const char *str)
{
	if (!out || outsz == 0)
		return -EINVAL;
	out[0] = '\0';
	if (!str)
		return -EINVAL;
	struct sink s = {.out = out, .cap = outsz};
	put_str(&s, str);
	return sink_result(&s);
}

int hub_escape_controls(char *out, size_t outsz, const char *str)
{
	if (!out || outsz == 0)
		return -EINVAL;
	out[0] = '\0';
	if (!str)
		return -EINVAL;
	struct sink s = {.out = out, .cap = outsz, .keep_backslash = true};
	put_str(&s, str);
	return sink_result(&s);
}
