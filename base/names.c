/*
 * Names under the mount (see names.h).
 *
 * DESIGN: everything here is a pure function of its arguments: no I/O, no
 * allocation, no global state, so any FUSE worker may call it at any time.
 * The validators are deliberately strict: a name they reject answers ENOENT
 * without any network traffic, so shells and file managers probing ".git",
 * "autorun.inf" or "desktop.ini" never reach GitHub.
 *
 * One component of an owner directory is split at its first ':' or '@'
 * (neither can occur in a repository name):
 *   "repo"              HUB_NAME_REPO
 *   "repo:<encoded>"    HUB_NAME_REF, the ref %2F/%25-decoded, then checked
 *                       with git-check-ref-format's rules
 *   "repo@<40 hex>"     HUB_NAME_COMMIT, lowercase only, so that each commit
 *                       has exactly one name (the kernel caches by name)
 */
#include "base/names.h"

#include <errno.h>
#include <string.h>

/* A path component longer than this cannot exist (NAME_MAX on Linux). */
#define COMPONENT_MAX 255

static bool is_alnum(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

static bool is_hex(unsigned char c, bool lower_only)
{
	if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))
		return true;
	return !lower_only && c >= 'A' && c <= 'F';
}

static bool ends_with(const char *s, size_t len, const char *suffix)
{
	size_t n = strlen(suffix);
	return len >= n && memcmp(s + len - n, suffix, n) == 0;
}

bool hub_name_owner_valid(const char *name)
{
	if (!name)
		return false;
	size_t len = strnlen(name, HUB_OWNER_MAX + 1);
	if (len == 0 || len > HUB_OWNER_MAX)
		return false;
	if (name[0] == '-' || name[len - 1] == '-')
		return false;
	for (size_t i = 0; i < len; i++)
		if (!is_alnum((unsigned char)name[i]) && name[i] != '-')
			return false;
	return true;
}

bool hub_name_repo_valid(const char *name)
{
	if (!name)
		return false;
	size_t len = strnlen(name, HUB_REPO_MAX + 1);
	if (len == 0 || len > HUB_REPO_MAX)
		return false;
	if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
		return false;
	if (ends_with(name, len, ".git"))
		return false;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)name[i];
		if (!is_alnum(c) && c != '.' && c != '_' && c != '-')
			return false;
	}
	return true;
}

/*
 * git-check-ref-format --allow-onelevel, rule by rule (numbers as in its
 * manual page):
 *  1. no component begins with '.' or ends with ".lock"
 *  3. no ".."
 *  4. no control characters (< 0x20, 0x7f), space, '~', '^', ':'
 *  5. no '?', '*', '['
 *  6. does not begin or end with '/', no "//" (no empty component)
 *  7. does not end with '.'
 *  8. no "@{"
 *  9. is not "@"
 * 10. no '\'
 * Rule 2 (at least one '/') is what --allow-onelevel lifts: "main" is fine.
 * Bytes >= 0x80 are allowed, as git allows them.
 */
static bool ref_char_ok(unsigned char c)
{
	if (c < 0x20 || c == 0x7f)
		return false;
	return strchr(" ~^:?*[\\", c) == NULL;
}

static bool ref_component_ok(const char *comp, size_t len)
{
	if (len == 0) /* rule 6: leading, trailing or double '/' */
		return false;
	if (comp[0] == '.') /* rule 1 */
		return false;
	if (ends_with(comp, len, ".lock")) /* rule 1 */
		return false;
	return true;
}

bool hub_name_ref_valid(const char *ref)
{
	if (!ref)
		return false;
	size_t len = strnlen(ref, HUB_REF_MAX + 1);
	if (len == 0 || len > HUB_REF_MAX)
		return false;
	if (strcmp(ref, "@") == 0) /* rule 9 */
		return false;
	if (ref[len - 1] == '.') /* rule 7 */
		return false;
	for (size_t i = 0; i < len; i++) {
		if (!ref_char_ok((unsigned char)ref[i])) /* rules 4, 5, 10 */
			return false;
		if (ref[i] == '.' && ref[i + 1] == '.') /* rule 3 */
			return false;
		if (ref[i] == '@' && ref[i + 1] == '{') /* rule 8 */
			return false;
	}
	const char *comp = ref;
	for (;;) {
		const char *slash = strchr(comp, '/');
		size_t clen = slash ? (size_t)(slash - comp) : strlen(comp);
		if (!ref_component_ok(comp, clen))
			return false;
		if (!slash)
			return true;
		comp = slash + 1;
	}
}

static bool all_hex(const char *s, size_t min, size_t max, bool lower_only)
{
	if (!s)
		return false;
	size_t len = strnlen(s, max + 1);
	if (len < min || len > max)
		return false;
	for (size_t i = 0; i < len; i++)
		if (!is_hex((unsigned char)s[i], lower_only))
			return false;
	return true;
}

bool hub_name_is_hex_prefix(const char *s)
{
	return all_hex(s, HUB_SHA_MIN, 40, false);
}

bool hub_name_is_full_sha(const char *s)
{
	return all_hex(s, 40, 40, true);
}

int hub_name_encode_ref(char *out, size_t outsz, const char *ref)
{
	size_t n = 0;
	for (const char *p = ref; *p; p++) {
		const char *piece = *p == '/' ? "%2F" : *p == '%' ? "%25" : NULL;
		size_t plen = piece ? 3 : 1;
		if (n + plen >= outsz)
			return -ENAMETOOLONG;
		if (piece)
			memcpy(out + n, piece, 3);
		else
			out[n] = *p;
		n += plen;
	}
	if (n >= outsz)
		return -ENAMETOOLONG;
	out[n] = '\0';
	return (int)n;
}

int hub_name_decode_ref(char *out, size_t outsz, const char *component)
{
	size_t n = 0;
	for (const char *p = component; *p; p++) {
		char c = *p;
		if (c == '%') {
			if (p[1] == '2' && (p[2] == 'F' || p[2] == 'f'))
				c = '/';
			else if (p[1] == '2' && p[2] == '5')
				c = '%';
			else
				return -ENOENT;
			p += 2;
		}
		if (n + 1 >= outsz)
			return -ENAMETOOLONG;
		out[n++] = c;
	}
	if (n >= outsz)
		return -ENAMETOOLONG;
	out[n] = '\0';
	return (int)n;
}

int hub_name_parse(struct hub_name *out, const char *component)
{
	memset(out, 0, sizeof(*out));
	if (!component)
		return -ENOENT;
	size_t len = strnlen(component, COMPONENT_MAX + 1);
	if (len > COMPONENT_MAX)
		return -ENAMETOOLONG;

	size_t rlen = strcspn(component, ":@");
	if (rlen == 0 || rlen > HUB_REPO_MAX)
		return -ENOENT;
	memcpy(out->repo, component, rlen);
	out->repo[rlen] = '\0';
	if (!hub_name_repo_valid(out->repo))
		goto fail;

	const char *rest = component + rlen;
	if (*rest == '\0') {
		out->kind = HUB_NAME_REPO;
		return 0;
	}
	if (*rest == '@') {
		if (!hub_name_is_full_sha(rest + 1))
			goto fail;
		out->kind = HUB_NAME_COMMIT;
		memcpy(out->ref, rest + 1, 41);
		return 0;
	}
	/* ':' -- decoding cannot overflow: the decoded ref is never longer
	 * than the component, and the component fits in out->ref. */
	if (hub_name_decode_ref(out->ref, sizeof(out->ref), rest + 1) < 0 ||
	    !hub_name_ref_valid(out->ref))
		goto fail;
	out->kind = HUB_NAME_REF;
	return 0;

fail:
	memset(out, 0, sizeof(*out));
	return -ENOENT;
}
