/*
 * SHA-256 (FIPS 180-4), for verifying weight files named torch's way
 * (name-<hex prefix of the sha256>.ext).  No OpenSSL: a portable C
 * compression function, and on x86-64 CPUs with the SHA extensions
 * (SHA-NI, e.g. Zen) a second one using them, chosen once at run time.
 * A context is plain data owned by the caller; no shared state besides the
 * choice of implementation (set once, read-only afterwards).
 */
#ifndef HUB_CACHE_SHA256_H
#define HUB_CACHE_SHA256_H

#include <stddef.h>
#include <stdint.h>

#define HUB_SHA256_LEN 32
#define HUB_SHA256_HEX_LEN 64

struct hub_sha256 {
	uint32_t h[8];
	uint64_t bytes;      /* total bytes hashed so far */
	uint8_t buf[64];     /* a partial block */
	size_t n;            /* bytes in buf */
};

void hub_sha256_init(struct hub_sha256 *c);
void hub_sha256_update(struct hub_sha256 *c, const void *data, size_t len);
/* Finish: c must be initialized again before reuse. */
void hub_sha256_final(uint8_t out[HUB_SHA256_LEN], struct hub_sha256 *c);
/* Lower-case hex of a digest, NUL-terminated. */
void hub_sha256_hex(char out[HUB_SHA256_HEX_LEN + 1], const uint8_t digest[HUB_SHA256_LEN]);

enum hub_sha256_impl { HUB_SHA256_AUTO, HUB_SHA256_PORTABLE, HUB_SHA256_SHANI };
/* For tests and benchmarks: force an implementation (AUTO picks SHA-NI when
 * the CPU has it).  -ENOTSUP when SHANI is asked for on a CPU without it.
 * Not thread-safe with concurrent hashing; call before any. */
int hub_sha256_use(enum hub_sha256_impl impl);
/* "sha-ni" or "portable": the implementation in use. */
const char *hub_sha256_impl_name(void);

#endif
