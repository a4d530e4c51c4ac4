/*
 * Which network addresses a weight download may connect to: a pure
 * classifier of socket addresses (no I/O) and the check of this machine's
 * own interface addresses.
 *
 * "Public" is what the open Internet routes to a host that is not this one.
 * Everything else has a class word (for logs):
 *   IPv4  unspecified 0/8, private 10/8 172.16/12 192.168/16, shared 100.64/10
 *         (CGNAT), loopback 127/8, link-local 169.254/16 (cloud metadata),
 *         special 192.0.0/24, documentation 192.0.2/24 198.51.100/24
 *         203.0.113/24, benchmarking 198.18/15, relay 192.88.99/24 (6to4
 *         anycast), multicast 224/4, reserved 240/4 (and broadcast).
 *   IPv6  unspecified ::, loopback ::1, IPv4-compatible ::/96, discard 100::/64,
 *         documentation 2001:db8::/32, orchid 2001:10::/28 2001:20::/28,
 *         unique-local fc00::/7, link-local fe80::/10, site-local fec0::/10,
 *         multicast ff00::/8, local NAT64 64:ff9b:1::/48.  Forms that embed an
 *         IPv4 address are judged by it: IPv4-mapped ::ffff:a.b.c.d, NAT64
 *         64:ff9b::a.b.c.d, 6to4 2002:AABB:CCDD::, Teredo 2001::/32 (the
 *         client address, inverted, in the last 32 bits).
 *   other families (AF_UNIX, ...) are never public ("not-ip").
 */
#ifndef HUB_FETCH_ADDR_H
#define HUB_FETCH_ADDR_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

/* NULL when sa is public, else why not (a static word: "loopback", ...). */
const char *hub_addr_class(const struct sockaddr *sa);
static inline bool hub_addr_is_public(const struct sockaddr *sa)
{
	return hub_addr_class(sa) == NULL;
}

/* 1 when sa's IP is configured on one of this machine's interfaces (a
 * connection to it reaches local services bound to every address), 0 when
 * not, -errno when the interfaces cannot be listed. */
int hub_addr_is_local(const struct sockaddr *sa);

/* "a.b.c.d" or "v6", without port; "?" for other families. */
void hub_addr_str(char *out, size_t outsz, const struct sockaddr *sa);

#endif
