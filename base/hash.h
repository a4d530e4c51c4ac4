/*
 * SHA-256, for verifying weight files named torch's way (name-<hex prefix
 * of the sha256>.ext) and for the store's URL keys: a thin wrapper of
 * OpenSSL's libcrypto (EVP), which picks the CPU's fastest code (SHA-NI,
 * AVX2...) itself.  A context is owned by its caller; no shared state but
 * the digest method fetched once.
 */
#ifndef HUB_BASE_HASH_H
#define HUB_BASE_HASH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define HUB_SHA256_LEN 32
#define HUB_SHA256_HEX_LEN 64

struct evp_md_ctx_st;

struct hub_sha256 {
	struct evp_md_ctx_st *ctx; /* NULL when not started or finished */
	bool failed;               /* an update failed: final reports it */
};

/* Fetch the digest method now (OpenSSL's first fetch initializes the
 * library: ~1 ms, which a daemon pays at start rather than in the first
 * lookup it serves).  Optional: every other call fetches it if needed. */
void hub_sha256_prepare(void);

/* 0, or -ENOMEM (then c holds nothing to dispose of). */
int hub_sha256_init(struct hub_sha256 *c);
void hub_sha256_update(struct hub_sha256 *c, const void *data, size_t len);
/* Finish and release c: 0, or -EIO (a failed update or final, or c never
 * started).  c must be initialized again before reuse. */
int hub_sha256_final(uint8_t out[HUB_SHA256_LEN], struct hub_sha256 *c);
/* Release a context that will not be finished (abandoned); harmless on a
 * finished, failed or zeroed one. */
void hub_sha256_dispose(struct hub_sha256 *c);
/* Lower-case hex of a digest, NUL-terminated. */
void hub_sha256_hex(char out[HUB_SHA256_HEX_LEN + 1], const uint8_t digest[HUB_SHA256_LEN]);
/* The hex digest of [p, p + n) in one call: 0, -ENOMEM or -EIO. */
int hub_sha256_hex_of(char out[HUB_SHA256_HEX_LEN + 1], const void *p, size_t n);

#endif
