/*
 * FNV-1a string hashes, the one definition: bucket choice of in-memory hash
 * tables, and short stable tags derived from names (the ~xxxxxxxx suffix of
 * a weight file name, inode numbers from a parent's number and a name).
 * Not cryptographic: nothing where an adversary's collision would matter
 * beyond a slower lookup or a rehash (use base/hash.h's SHA-256 for that).
 */
#ifndef HUB_BASE_STRHASH_H
#define HUB_BASE_STRHASH_H

#include <stdint.h>

/* 32-bit FNV-1a of s. */
static inline uint32_t hub_strhash(const char *s)
{
	uint32_t h = 2166136261u;
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		h ^= *p;
		h *= 16777619u;
	}
	return h;
}

/* 64-bit FNV-1a of s, its offset basis mixed with seed (0: plain FNV-1a). */
static inline uint64_t hub_strhash64(uint64_t seed, const char *s)
{
	uint64_t h = 1469598103934665603ull ^ seed;
	for (const unsigned char *p = (const unsigned char *)s; *p; p++)
		h = (h ^ *p) * 1099511628211ull;
	return h;
}

#endif
