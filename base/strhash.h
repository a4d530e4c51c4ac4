/*
 * A string hash for in-memory hash tables (bucket choice): 32-bit FNV-1a.
 * Not for anything an adversary could exploit beyond slower lookups, nor
 * for anything stored (use base/hash.h's SHA-256 for that).
 */
#ifndef HUB_BASE_STRHASH_H
#define HUB_BASE_STRHASH_H

#include <stdint.h>

static inline uint32_t hub_strhash(const char *s)
{
	uint32_t h = 2166136261u;
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		h ^= *p;
		h *= 16777619u;
	}
	return h;
}

#endif
