/*
 * Address classes for the private-address policy of weight downloads (see
 * addr.h).  DESIGN: one table of IPv4 prefixes; IPv6 is judged by its own
 * special prefixes, and every IPv6 form that carries an IPv4 address (mapped,
 * NAT64, 6to4, Teredo) by that address, so that ::ffff:127.0.0.1 is loopback
 * too.  hub_addr_is_local lists the interfaces (getifaddrs) on each call:
 * connections are few and an address may be added at any time.
 */
#include "fetch/addr.h"

#include <arpa/inet.h>
#include <errno.h>
#include <ifaddrs.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

struct v4net {
	uint32_t net;
	unsigned bits;
	const char *why;
};

#define V4(a, b, c, d) (((uint32_t)(a) << 24) | ((uint32_t)(b) << 16) | ((uint32_t)(c) << 8) | (uint32_t)(d))

static const struct v4net v4_special[] = {
	{V4(0, 0, 0, 0), 8, "unspecified"},
	{V4(10, 0, 0, 0), 8, "private"},
	{V4(100, 64, 0, 0), 10, "shared"},
	{V4(127, 0, 0, 0), 8, "loopback"},
	{V4(169, 254, 0, 0), 16, "link-local"},
	{V4(172, 16, 0, 0), 12, "private"},
	{V4(192, 0, 0, 0), 24, "special"},
	{V4(192, 0, 2, 0), 24, "documentation"},
	{V4(192, 88, 99, 0), 24, "relay"},
	{V4(192, 168, 0, 0), 16, "private"},
	{V4(198, 18, 0, 0), 15, "benchmarking"},
	{V4(198, 51, 100, 0), 24, "documentation"},
	{V4(203, 0, 113, 0), 24, "documentation"},
	{V4(224, 0, 0, 0), 4, "multicast"},
	{V4(240, 0, 0, 0), 4, "reserved"}, /* 255.255.255.255 (broadcast) included */
};

/* a: host order. */
static const char *v4_class(uint32_t a)
{
	for (size_t i = 0; i < sizeof(v4_special) / sizeof(v4_special[0]); i++) {
		uint32_t mask = ~(uint32_t)0 << (32 - v4_special[i].bits);
		if ((a & mask) == v4_special[i].net)
			return v4_special[i].why;
	}
	return NULL;
}

static uint32_t be32_at(const uint8_t *p)
{
	return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

static bool zero(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i])
			return false;
	return true;
}

static const char *v6_class(const uint8_t *b)
{
	static const uint8_t loop[16] = {[15] = 1};
	if (zero(b, 16))
		return "unspecified";
	if (!memcmp(b, loop, 16))
		return "loopback";
	if (zero(b, 10) && b[10] == 0xff && b[11] == 0xff) /* ::ffff:a.b.c.d */
		return v4_class(be32_at(b + 12));
	if (zero(b, 12)) /* ::a.b.c.d, deprecated IPv4-compatible */
		return "ipv4-compatible";
	if (b[0] == 0x00 && b[1] == 0x64 && b[2] == 0xff && b[3] == 0x9b) {
		if (zero(b + 4, 8)) /* 64:ff9b::/96, well-known NAT64 */
			return v4_class(be32_at(b + 12));
		if (b[4] == 0x00 && b[5] == 0x01) /* 64:ff9b:1::/48, local NAT64 */
			return "nat64-local";
	}
	if (b[0] == 0x01 && b[1] == 0x00 && zero(b + 2, 6)) /* 100::/64 */
		return "discard";
	if (b[0] == 0x20 && b[1] == 0x01) {
		if (b[2] == 0x0d && b[3] == 0xb8)
			return "documentation";
		if (b[2] == 0x00 && (b[3] & 0xf0) == 0x10)
			return "orchid";
		if (b[2] == 0x00 && (b[3] & 0xf0) == 0x20)
			return "orchid";
		if (b[2] == 0x00 && b[3] == 0x00) /* Teredo: the client, inverted */
			return v4_class(~be32_at(b + 12));
	}
	if (b[0] == 0x20 && b[1] == 0x02) /* 6to4 2002:AABB:CCDD::/48 */
		return v4_class(be32_at(b + 2));
	if ((b[0] & 0xfe) == 0xfc)
		return "unique-local";
	if (b[0] == 0xfe && (b[1] & 0xc0) == 0x80)
		return "link-local";
	if (b[0] == 0xfe && (b[1] & 0xc0) == 0xc0)
		return "site-local";
	if (b[0] == 0xff)
		return "multicast";
	return NULL;
}

const char *hub_addr_class(const struct sockaddr *sa)
{
	if (!sa)
		return "not-ip";
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *s = (const struct sockaddr_in *)sa;
		return v4_class(ntohl(s->sin_addr.s_addr));
	}
	if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *s = (const struct sockaddr_in6 *)sa;
		return v6_class(s->sin6_addr.s6_addr);
	}
	return "not-ip";
}

int hub_addr_is_local(const struct sockaddr *sa)
{
	if (!sa || (sa->sa_family != AF_INET && sa->sa_family != AF_INET6))
		return 0;
	/* the raw address; an IPv4-mapped IPv6 address reaches the IPv4 one */
	int family = sa->sa_family;
	uint8_t want[16];
	size_t len;
	if (family == AF_INET) {
		memcpy(want, &((const struct sockaddr_in *)sa)->sin_addr, 4);
		len = 4;
	} else {
		const struct in6_addr *a6 = &((const struct sockaddr_in6 *)sa)->sin6_addr;
		if (IN6_IS_ADDR_V4MAPPED(a6)) {
			family = AF_INET;
			memcpy(want, a6->s6_addr + 12, 4);
			len = 4;
		} else {
			memcpy(want, a6->s6_addr, 16);
			len = 16;
		}
	}
	struct ifaddrs *ifs;
	if (getifaddrs(&ifs))
		return -errno;
	int found = 0;
	for (struct ifaddrs *i = ifs; i && !found; i = i->ifa_next) {
		const struct sockaddr *a = i->ifa_addr;
		if (!a || a->sa_family != family)
			continue;
		const void *have = family == AF_INET
					   ? (const void *)&((const struct sockaddr_in *)a)->sin_addr
					   : (const void *)&((const struct sockaddr_in6 *)a)->sin6_addr;
		found = !memcmp(have, want, len);
	}
	freeifaddrs(ifs);
	return found;
}

void hub_addr_str(char *out, size_t outsz, const struct sockaddr *sa)
{
	const void *a = NULL;
	if (sa && sa->sa_family == AF_INET)
		a = &((const struct sockaddr_in *)sa)->sin_addr;
	else if (sa && sa->sa_family == AF_INET6)
		a = &((const struct sockaddr_in6 *)sa)->sin6_addr;
	if (!a || !inet_ntop(sa->sa_family, a, out, (socklen_t)outsz))
		snprintf(out, outsz, "?");
}
