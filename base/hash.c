/*
 * SHA-256 through OpenSSL's EVP interface (see hash.h).  The SHA256 method
 * is fetched once (pthread_once) rather than at every init, which matters
 * for the many short hashes of URL keys.  No lock: contexts are per caller.
 */
#include "base/hash.h"

#include <errno.h>
#include <openssl/evp.h>
#include <pthread.h>

static pthread_once_t md_once = PTHREAD_ONCE_INIT;
static EVP_MD *md_fetched;

static void md_fetch(void)
{
	md_fetched = EVP_MD_fetch(NULL, "SHA256", NULL);
}

static const EVP_MD *md(void)
{
	pthread_once(&md_once, md_fetch);
	return md_fetched ? md_fetched : EVP_sha256();
}

void hub_sha256_prepare(void)
{
	(void)md();
}

int hub_sha256_init(struct hub_sha256 *c)
{
	c->failed = false;
	c->ctx = EVP_MD_CTX_new();
	if (!c->ctx)
		return -ENOMEM;
	if (!EVP_DigestInit_ex(c->ctx, md(), NULL)) {
		EVP_MD_CTX_free(c->ctx);
		c->ctx = NULL;
		return -ENOMEM;
	}
	return 0;
}

void hub_sha256_update(struct hub_sha256 *c, const void *data, size_t len)
{
	if (!c->ctx || c->failed) {
		c->failed = true;
		return;
	}
	if (len && !EVP_DigestUpdate(c->ctx, data, len))
		c->failed = true;
}

int hub_sha256_final(uint8_t out[HUB_SHA256_LEN], struct hub_sha256 *c)
{
	unsigned int n = 0;
	int rc = -EIO;
	if (c->ctx && !c->failed && EVP_DigestFinal_ex(c->ctx, out, &n) && n == HUB_SHA256_LEN)
		rc = 0;
	hub_sha256_dispose(c);
	return rc;
}

void hub_sha256_dispose(struct hub_sha256 *c)
{
	EVP_MD_CTX_free(c->ctx);
	c->ctx = NULL;
	c->failed = false;
}

void hub_sha256_hex(char out[HUB_SHA256_HEX_LEN + 1], const uint8_t digest[HUB_SHA256_LEN])
{
	static const char hx[] = "0123456789abcdef";
	for (int i = 0; i < HUB_SHA256_LEN; i++) {
		out[2 * i] = hx[digest[i] >> 4];
		out[2 * i + 1] = hx[digest[i] & 15];
	}
	out[HUB_SHA256_HEX_LEN] = '\0';
}

int hub_sha256_hex_of(char out[HUB_SHA256_HEX_LEN + 1], const void *p, size_t n)
{
	struct hub_sha256 c;
	uint8_t dig[HUB_SHA256_LEN];
	int rc = hub_sha256_init(&c);
	if (rc)
		return rc;
	hub_sha256_update(&c, p, n);
	rc = hub_sha256_final(dig, &c);
	if (!rc)
		hub_sha256_hex(out, dig);
	return rc;
}
