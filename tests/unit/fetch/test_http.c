/*
 * Unit tests for fetch/http.c against tests/weights/httpd.py on 127.0.0.1:
 * HEAD (size, ETag, redirects, refused HEAD), ranged GETs, every fault mode
 * of the server (cut body, 503 then 200, 429 with Retry-After, stall, no
 * Content-Length, chunked, ignored Range, bad Content-Range), the errno of
 * each failure, ETag and size changes (-ESTALE), cancellation, connection
 * refused, and TLS verification (a self-signed server is refused); the
 * address policy (loopback refused by default, rewrite targets trusted for
 * their own host:port only, no https -> http redirect).
 * Every client but the policy tests' allows private addresses: the server is
 * on 127.0.0.1.
 * Timeouts are lowered with hub_http_set_tuning so every case ends in a
 * second or two.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <sys/socket.h>

#include <cmocka.h>

#include "fetch/http.h"
#include "base/log.h"
#include "fetch/rewrite.h"
#include "tests/weights/harness.h"

#define SIZE_A (3u << 20) /* a.bin: 3 MiB */

static struct {
	char dir[64];
	char files[128];
	struct srv srv;
	unsigned char *a; /* contents of a.bin */
	struct hub_http *h;
} fx;

/* An address policy, as hub_http_set_policy takes it. */
struct test_policy {
	bool allow_private;
	const struct hub_rewrites *rewrites;
};

static void set_policy(struct hub_http *h, const struct test_policy *p)
{
	hub_http_set_policy(h, p->allow_private, p->rewrites);
}

/* The policy of the clients of most tests: any address. */
static const struct test_policy allow_all = {.allow_private = true};

/* A sink collecting bytes at their offsets into a buffer of the file's size. */
struct col {
	unsigned char *buf;
	size_t cap;
	uint64_t first_off; /* first offset seen */
	bool seen;
	uint64_t delivered;
	bool out_of_place;
};

static int col_sink(void *ctx, uint64_t off, const char *data, size_t len)
{
	struct col *c = ctx;
	if (!c->seen) {
		c->seen = true;
		c->first_off = off;
	}
	if (off + len > c->cap) {
		c->out_of_place = true;
		return -EFBIG;
	}
	memcpy(c->buf + off, data, len);
	c->delivered += len;
	return 0;
}

static void col_init(struct col *c, size_t cap)
{
	memset(c, 0, sizeof(*c));
	c->buf = calloc(1, cap ? cap : 1);
	c->cap = cap;
}

static char *url(const char *path)
{
	static __thread char u[512];
	snprintf(u, sizeof(u), "%s%s", fx.srv.base, path);
	return u;
}

static int get_range(struct col *c, struct hub_http_meta *m, const char *path, uint64_t off,
		     uint64_t end, bool size_known, uint64_t size, const char *etag)
{
	struct hub_http_get g = {.url = url(path), .off = off, .end = end, .size_known = size_known,
				 .size = size, .etag = etag, .sink = col_sink, .ctx = c};
	return hub_http_get(m, fx.h, &g);
}

static int group_setup(void **state)
{
	(void)state;
	hub_log_init(true, getenv("HUB_TEST_DEBUG") != NULL);
	snprintf(fx.dir, sizeof(fx.dir), "/tmp/hubfs-http-XXXXXX");
	if (!mkdtemp(fx.dir))
		return -1;
	snprintf(fx.files, sizeof(fx.files), "%s/files", fx.dir);
	mkdir(fx.files, 0755);
	char p[256];
	snprintf(p, sizeof(p), "%s/a.bin", fx.files);
	if (h_make_file(p, SIZE_A, 1, &fx.a))
		return -1;
	snprintf(p, sizeof(p), "%s/empty.bin", fx.files);
	if (h_make_file(p, 0, 2, NULL))
		return -1;
	if (srv_start(&fx.srv, fx.files))
		return -1;
	struct hub_http_tuning t;
	hub_http_tuning_default(&t);
	t.connect_timeout_ms = 2000;
	t.stall_s = 1;
	t.retries = 3;
	t.backoff_base_ms = 50;
	t.backoff_max_ms = 200;
	t.retry_after_max_s = 2;
	hub_http_set_tuning(&t);
	return 0;
}

static int group_teardown(void **state)
{
	(void)state;
	srv_stop(&fx.srv);
	free(fx.a);
	h_sh("rm -rf %s", fx.dir);
	return 0;
}

static int setup(void **state)
{
	(void)state;
	srv_reset(&fx.srv);
	int rc = hub_http_new(&fx.h);
	if (!rc)
		set_policy(fx.h, &allow_all);
	return rc;
}

static int teardown(void **state)
{
	(void)state;
	hub_http_free(fx.h);
	fx.h = NULL;
	return 0;
}

static void test_head(void **state)
{
	(void)state;
	struct hub_http_meta m;
	assert_int_equal(hub_http_head(&m, fx.h, url("/a.bin")), 0);
	assert_true(m.size_known);
	assert_int_equal(m.size, SIZE_A);
	assert_true(m.etag[0] == '"');
	assert_true(m.ranges);
	assert_string_equal(m.url, url("/a.bin"));
	assert_int_equal(srv_stat(&fx.srv, "/a.bin", "head"), 1);
	assert_int_equal(srv_stat(&fx.srv, "/a.bin", "get"), 0);

	/* redirect: the final URL */
	assert_int_equal(hub_http_head(&m, fx.h, url("/r/a.bin")), 0);
	assert_int_equal(m.size, SIZE_A);
	assert_string_equal(m.url, url("/a.bin"));

	/* missing */
	assert_int_equal(hub_http_head(&m, fx.h, url("/nope.bin")), -ENOENT);
	assert_int_equal(srv_stat(&fx.srv, "/nope.bin", "head"), 1); /* not retried */
}

static void test_head_refused(void **state)
{
	(void)state;
	/* HEAD answers 405: a 1-byte GET tells the size */
	srv_fault(&fx.srv, "/a.bin", "mode=nohead");
	struct hub_http_meta m;
	assert_int_equal(hub_http_head(&m, fx.h, url("/a.bin")), 0);
	assert_true(m.size_known);
	assert_int_equal(m.size, SIZE_A);
	assert_true(m.etag[0] != '\0');
	assert_int_equal(srv_stat(&fx.srv, "/a.bin", "get"), 1);
	assert_true(srv_stat(&fx.srv, "/a.bin", "bytes") <= 1);

	/* HEAD without a length (chunked): the probe again */
	srv_reset(&fx.srv);
	srv_fault(&fx.srv, "/a.bin", "mode=chunked&times=1");
	assert_int_equal(hub_http_head(&m, fx.h, url("/a.bin")), 0);
	assert_true(m.size_known);
	assert_int_equal(m.size, SIZE_A);
}

static void test_get_whole_and_range(void **state)
{
	(void)state;
	struct col c;
	struct hub_http_meta m;
	col_init(&c, SIZE_A);
	assert_int_equal(get_range(&c, &m, "/a.bin", 0, 0, false, 0, NULL), 0);
	assert_int_equal(c.delivered, SIZE_A);
	assert_memory_equal(c.buf, fx.a, SIZE_A);
	assert_true(m.size_known);
	assert_int_equal(m.size, SIZE_A);
	free(c.buf);

	col_init(&c, SIZE_A);
	assert_int_equal(get_range(&c, &m, "/a.bin", 1000, 5000, true, SIZE_A, m.etag), 0);
	assert_int_equal(c.first_off, 1000);
	assert_int_equal(c.delivered, 4000);
	assert_memory_equal(c.buf + 1000, fx.a + 1000, 4000);
	free(c.buf);

	/* to the end from an offset */
	col_init(&c, SIZE_A);
	assert_int_equal(get_range(&c, &m, "/a.bin", SIZE_A - 10, 0, true, SIZE_A, NULL), 0);
	assert_int_equal(c.delivered, 10);
	assert_memory_equal(c.buf + SIZE_A - 10, fx.a + SIZE_A - 10, 10);
	free(c.buf);

	/* the empty file */
	col_init(&c, 0);
	assert_int_equal(get_range(&c, &m, "/empty.bin", 0, 0, false, 0, NULL), 0);
	assert_int_equal(c.delivered, 0);
	assert_true(m.size_known);
	assert_int_equal(m.size, 0);
	free(c.buf);
}

static void test_cut_resumes(void **state)
{
	(void)state;
	srv_fault(&fx.srv, "/a.bin", "mode=cut&at=1000000&times=2");
	struct col c;
	col_init(&c, SIZE_A);
	assert_int_equal(get_range(&c, NULL, "/a.bin", 0, 0, true, SIZE_A, NULL), 0);
	assert_memory_equal(c.buf, fx.a, SIZE_A);
	assert_int_equal(srv_stat(&fx.srv, "/a.bin", "get"), 3);
	/* resumed by Range: about one file's worth of bytes served */
	assert_int_equal(srv_stat(&fx.srv, "/a.bin", "bytes"), SIZE_A);
	struct hub_http_stats st;
	hub_http_stats(&st, fx.h);
	assert_int_equal(st.retries, 2);
	free(c.buf);
}

static void test_503_then_200(void **state)
{
	(void)state;
	srv_fault(&fx.srv, "/a.bin", "mode=status&code=503&times=2");
	struct col c;
	col_init(&c, SIZE_A);
	assert_int_equal(get_range(&c, NULL, "/a.bin", 0, 0, false, 0, NULL), 0);
	assert_memory_equal(c.buf, fx.a, SIZE_A);
	assert_int_equal(srv_stat(&fx.srv, "/a.bin", "get"), 3);
	free(c.buf);

	/* 503 for ever: -EIO after the retries, quickly */
	srv_reset(&fx.srv);
	srv_fault(&fx.srv, "/a.bin", "mode=status&code=503&times=-1");
	col_init(&c, SIZE_A);
	double t0 = h_now();
	assert_int_equal(get_range(&c, NULL, "/a.bin", 0, 0, false, 0, NULL), -EIO);
	assert_true(h_now() - t0 < 3.0);
	assert_int_equal(srv_stat(&fx.srv, "/a.bin", "get"), 3);
	free(c.buf);
}

static void test_429_retry_after(void **state)
{
	(void)state;
	srv_fault(&fx.srv, "/a.bin", "mode=status&code=429&retry_after=1&times=1");
	struct col c;
	col_init(&c, SIZE_A);
	double t0 = h_now();
	assert_int_equal(get_range(&c, NULL, "/a.bin", 0, 0, false, 0, NULL), 0);
	double dt = h_now() - t0;
	assert_true(dt >= 0.95);
	assert_true(dt < 3.0);
	assert_memory_equal(c.buf, fx.a, SIZE_A);
	free(c.buf);

	/* Retry-After beyond the cap: fails at once */
	srv_reset(&fx.srv);
	srv_fault(&fx.srv, "/a.bin", "mode=status&code=429&retry_after=3600&times=-1");
	col_init(&c, SIZE_A);
	t0 = h_now();
	assert_int_equal(get_range(&c, NULL, "/a.bin", 0, 0, false, 0, NULL), -EIO);
	assert_true(h_now() - t0 < 1.0);
	assert_int_equal(srv_stat(&fx.srv, "/a.bin", "get"), 1);
	free(c.buf);
}

static void test_stall(void **state)
{
	(void)state;
	/* a 5 s stall once: detected after ~1 s, resumed */
	srv_fault(&fx.srv, "/a.bin", "mode=stall&at=500000&secs=5&times=1");
	struct col c;
	col_init(&c, SIZE_A);
	double t0 = h_now();
	assert_int_equal(get_range(&c, NULL, "/a.bin", 0, 0, true, SIZE_A, NULL), 0);
	double dt = h_now() - t0;
	assert_true(dt < 4.0);
	assert_memory_equal(c.buf, fx.a, SIZE_A);
	assert_int_equal(srv_stat(&fx.srv, "/a.bin", "get"), 2);
	free(c.buf);

	/* stalls for ever (before any byte): -ETIMEDOUT in bounded time */
	srv_reset(&fx.srv);
	srv_fault(&fx.srv, "/a.bin", "mode=stall&at=0&secs=30&times=-1");
	col_init(&c, SIZE_A);
	t0 = h_now();
	assert_int_equal(get_range(&c, NULL, "/a.bin", 0, 0, true, SIZE_A, NULL), -ETIMEDOUT);
	dt = h_now() - t0;
	assert_true(dt < 10.0);
	free(c.buf);
}

static void test_no_length(void **state)
{
	(void)state;
	const char *modes[] = {"mode=nolen", "mode=chunked"};
	for (int i = 0; i < 2; i++) {
		srv_reset(&fx.srv);
		srv_fault(&fx.srv, "/a.bin", modes[i]);
		struct col c;
		struct hub_http_meta m;
		col_init(&c, SIZE_A);
		assert_int_equal(get_range(&c, &m, "/a.bin", 0, 0, false, 0, NULL), 0);
		assert_int_equal(c.delivered, SIZE_A);
		assert_memory_equal(c.buf, fx.a, SIZE_A);
		assert_true(m.size_known);
		assert_int_equal(m.size, SIZE_A);
		free(c.buf);
	}
	/* chunked and cut: the truncation is seen (curl) and resumed */
	srv_reset(&fx.srv);
	srv_fault(&fx.srv, "/a.bin", "mode=chunked&times=1");
	srv_fault(&fx.srv, "/a.bin", "mode=cut&at=100000&times=1");
	struct col c;
	col_init(&c, SIZE_A);
	assert_int_equal(get_range(&c, NULL, "/a.bin", 0, 0, false, 0, NULL), 0);
	assert_memory_equal(c.buf, fx.a, SIZE_A);
	free(c.buf);
}

static void test_ignored_range(void **state)
{
	(void)state;
	srv_fault(&fx.srv, "/a.bin", "mode=norange");
	struct col c;
	col_init(&c, SIZE_A);
	/* asked for 2 MiB..2 MiB+100: the server sends from 0; offsets stay true */
	assert_int_equal(get_range(&c, NULL, "/a.bin", 2u << 20, (2u << 20) + 100, true, SIZE_A,
				   NULL),
			 0);
	assert_false(c.out_of_place);
	assert_int_equal(c.first_off, 0);
	assert_int_equal(c.delivered, (2u << 20) + 100);
	assert_memory_equal(c.buf, fx.a, (2u << 20) + 100);
	free(c.buf);

	/* ignored Range and a cut: resumes, still true bytes */
	srv_reset(&fx.srv);
	srv_fault(&fx.srv, "/a.bin", "mode=norange");
	srv_fault(&fx.srv, "/a.bin", "mode=cut&at=1500000&times=1");
	col_init(&c, SIZE_A);
	assert_int_equal(get_range(&c, NULL, "/a.bin", 0, 0, true, SIZE_A, NULL), 0);
	assert_memory_equal(c.buf, fx.a, SIZE_A);
	free(c.buf);
}

static void test_checks(void **state)
{
	(void)state;
	struct col c;
	/* ETag changed upstream */
	col_init(&c, SIZE_A);
	assert_int_equal(get_range(&c, NULL, "/a.bin", 100, 0, true, SIZE_A, "\"other\""), -ESTALE);
	/* size changed upstream (Content-Range total, Content-Length) */
	assert_int_equal(get_range(&c, NULL, "/a.bin", 100, 200, true, SIZE_A + 1, NULL), -ESTALE);
	assert_int_equal(get_range(&c, NULL, "/a.bin", 0, 0, true, SIZE_A + 1, NULL), -ESTALE);
	/* a Content-Range that does not start where asked */
	srv_fault(&fx.srv, "/a.bin", "mode=badrange&times=-1");
	assert_int_equal(get_range(&c, NULL, "/a.bin", 100, 200, true, SIZE_A, NULL), -EIO);
	assert_int_equal(c.delivered, 0);
	free(c.buf);
	/* a weak tag matches its strong form */
	srv_reset(&fx.srv);
	struct hub_http_meta m;
	assert_int_equal(hub_http_head(&m, fx.h, url("/a.bin")), 0);
	char weak[300];
	snprintf(weak, sizeof(weak), "W/%s", m.etag);
	col_init(&c, SIZE_A);
	assert_int_equal(get_range(&c, NULL, "/a.bin", 0, 10, true, SIZE_A, weak), 0);
	free(c.buf);
}

static void test_redirect_get(void **state)
{
	(void)state;
	struct col c;
	struct hub_http_meta m;
	col_init(&c, SIZE_A);
	assert_int_equal(get_range(&c, &m, "/r/a.bin", 5, 0, true, SIZE_A, NULL), 0);
	assert_memory_equal(c.buf + 5, fx.a + 5, SIZE_A - 5);
	assert_string_equal(m.url, url("/a.bin"));
	free(c.buf);
	srv_fault(&fx.srv, "/loop.bin", "mode=redirect&to=/loop.bin&times=-1");
	col_init(&c, 10);
	assert_int_equal(get_range(&c, NULL, "/loop.bin", 0, 0, false, 0, NULL), -ELOOP);
	free(c.buf);
	col_init(&c, 10);
	assert_int_equal(get_range(&c, NULL, "/missing.bin", 0, 0, false, 0, NULL), -ENOENT);
	srv_fault(&fx.srv, "/a.bin", "mode=status&code=403&times=-1");
	assert_int_equal(get_range(&c, NULL, "/a.bin", 0, 0, false, 0, NULL), -EACCES);
	free(c.buf);
}

static void test_refused(void **state)
{
	(void)state;
	/* a port nobody listens on */
	int s = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof(a);
	assert_int_equal(bind(s, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(getsockname(s, (struct sockaddr *)&a, &len), 0);
	close(s);
	char u[128];
	snprintf(u, sizeof(u), "http://127.0.0.1:%d/a.bin", ntohs(a.sin_port));
	struct hub_http_meta m;
	double t0 = h_now();
	assert_int_equal(hub_http_head(&m, fx.h, u), -ECONNREFUSED);
	assert_true(h_now() - t0 < 1.0);
	assert_int_equal(hub_http_head(&m, fx.h, "ftp://127.0.0.1/x"), -EINVAL);
}

static void test_tls_verified(void **state)
{
	(void)state;
	/* a self-signed certificate: refused (TLS is verified), never downgraded */
	if (h_sh("cd %s && openssl req -x509 -newkey rsa:2048 -nodes -keyout key.pem -out cert.pem "
		 "-days 2 -subj /CN=localhost >/dev/null 2>&1",
		 fx.dir)) {
		skip();
	}
	char cert[128], key[128];
	snprintf(cert, sizeof(cert), "%s/cert.pem", fx.dir);
	snprintf(key, sizeof(key), "%s/key.pem", fx.dir);
	struct srv tls;
	assert_int_equal(srv_start_tls(&tls, fx.files, cert, key), 0);
	char u[160];
	snprintf(u, sizeof(u), "%s/a.bin", tls.base);
	struct hub_http_meta m;
	assert_int_equal(hub_http_head(&m, fx.h, u), -EPROTO);
	struct col c;
	col_init(&c, SIZE_A);
	struct hub_http_get g = {.url = u, .sink = col_sink, .ctx = &c};
	assert_int_equal(hub_http_get(NULL, fx.h, &g), -EPROTO);
	assert_int_equal(c.delivered, 0);
	free(c.buf);
	srv_stop(&tls);
}

static void test_tls_trusted_ca_from_the_environment(void **state)
{
	(void)state;
	/* the HTTPS success path: a private CA named by SSL_CERT_FILE (as curl,
	 * git and Python's ssl honour it) is trusted, the bytes arrive, and the
	 * name is still checked (CN/SAN localhost) */
	if (h_sh("cd %s && openssl req -x509 -newkey rsa:2048 -nodes -keyout key.pem -out cert.pem "
		 "-days 2 -subj /CN=localhost -addext subjectAltName=DNS:localhost >/dev/null 2>&1",
		 fx.dir)) {
		skip();
	}
	char cert[128], key[128];
	snprintf(cert, sizeof(cert), "%s/cert.pem", fx.dir);
	snprintf(key, sizeof(key), "%s/key.pem", fx.dir);
	struct srv tls;
	assert_int_equal(srv_start_tls(&tls, fx.files, cert, key), 0);
	/* CURL_CA_BUNDLE (which wins, as for curl) may be set by the machine */
	char *saved = getenv("CURL_CA_BUNDLE") ? strdup(getenv("CURL_CA_BUNDLE")) : NULL;
	unsetenv("CURL_CA_BUNDLE");
	setenv("SSL_CERT_FILE", cert, 1);
	struct hub_http *h;
	assert_int_equal(hub_http_new(&h), 0);
	set_policy(h, &allow_all);
	unsetenv("SSL_CERT_FILE");
	if (saved)
		setenv("CURL_CA_BUNDLE", saved, 1);
	free(saved);
	char u[160];
	snprintf(u, sizeof(u), "%s/a.bin", tls.base);
	struct hub_http_meta m;
	assert_int_equal(hub_http_head(&m, h, u), 0);
	assert_int_equal(m.size, SIZE_A);
	struct col c;
	col_init(&c, SIZE_A);
	struct hub_http_get g = {.url = u, .sink = col_sink, .ctx = &c};
	assert_int_equal(hub_http_get(NULL, h, &g), 0);
	assert_int_equal(c.delivered, SIZE_A);
	assert_memory_equal(c.buf, fx.a, SIZE_A);
	free(c.buf);
	/* the same server under another name (127.0.0.1 is not in the
	 * certificate): refused, trust anchors do not turn off name checks */
	char u2[160];
	snprintf(u2, sizeof(u2), "https://127.0.0.1:%d/a.bin", tls.port);
	assert_int_equal(hub_http_head(&m, h, u2), -EPROTO);
	hub_http_free(h);
	srv_stop(&tls);
}

/* ---- the address policy ---- */

static struct hub_http *policy_client(const struct test_policy *o)
{
	struct hub_http *h;
	assert_int_equal(hub_http_new(&h), 0);
	if (o)
		set_policy(h, o);
	return h;
}

static void test_private_refused_by_default(void **state)
{
	(void)state;
	/* no options: 127.0.0.1 is loopback, refused before connecting */
	struct hub_http *h = policy_client(NULL);
	struct hub_http_meta m;
	assert_int_equal(hub_http_head(&m, h, url("/a.bin")), -EPERM);
	struct col c;
	col_init(&c, SIZE_A);
	struct hub_http_get g = {.url = url("/a.bin"), .sink = col_sink, .ctx = &c};
	assert_int_equal(hub_http_get(NULL, h, &g), -EPERM);
	assert_int_equal(c.delivered, 0);
	/* every address "localhost" resolves to (127.0.0.1, ::1) */
	char u[160];
	snprintf(u, sizeof(u), "http://localhost:%d/a.bin", fx.srv.port);
	assert_int_equal(hub_http_head(&m, h, u), -EPERM);
	/* options without allow_private and without rules: the same */
	struct test_policy none = {0};
	set_policy(h, &none);
	assert_int_equal(hub_http_head(&m, h, url("/a.bin")), -EPERM);
	/* not one request reached the server, and nothing was retried */
	assert_int_equal(srv_stat(&fx.srv, "/a.bin", "head"), 0);
	assert_int_equal(srv_stat(&fx.srv, "/a.bin", "get"), 0);
	struct hub_http_stats st;
	hub_http_stats(&st, h);
	assert_int_equal(st.retries, 0);
	free(c.buf);
	hub_http_free(h);
}

static void test_rewrite_target_trusted(void **state)
{
	(void)state;
	/* rewrite=https://weights.example/w/=http://127.0.0.1:PORT/: what the
	 * rule produces may be private, redirects to the same host:port too */
	char from[] = "https://weights.example/w/", to[128];
	snprintf(to, sizeof(to), "%s/", fx.srv.base);
	struct hub_rewrites rules = {.n = 1};
	rules.rule[0].from = from;
	rules.rule[0].to = to;
	struct test_policy o = {.rewrites = &rules};
	struct hub_http *h = policy_client(&o);
	struct hub_http_meta m;
	assert_int_equal(hub_http_head(&m, h, url("/a.bin")), 0);
	assert_int_equal(m.size, SIZE_A);
	assert_int_equal(hub_http_head(&m, h, url("/r/a.bin")), 0);
	assert_string_equal(m.url, url("/a.bin"));
	struct col c;
	col_init(&c, SIZE_A);
	struct hub_http_get g = {.url = url("/r/a.bin"), .sink = col_sink, .ctx = &c};
	assert_int_equal(hub_http_get(NULL, h, &g), 0);
	assert_memory_equal(c.buf, fx.a, SIZE_A);
	free(c.buf);

	/* a redirect to another host:port ("localhost": the very same server
	 * under another name) is refused before it connects */
	srv_reset(&fx.srv);
	char q[200];
	snprintf(q, sizeof(q), "/a.bin?fault=redirect&to=http://localhost:%d/b.bin", fx.srv.port);
	assert_int_equal(hub_http_head(&m, h, url(q)), -EPERM);
	col_init(&c, SIZE_A);
	g.url = url(q);
	g.ctx = &c;
	assert_int_equal(hub_http_get(NULL, h, &g), -EPERM);
	assert_int_equal(c.delivered, 0);
	free(c.buf);
	assert_int_equal(srv_stat(&fx.srv, "/a.bin", "head"), 1); /* the first hops only */
	assert_int_equal(srv_stat(&fx.srv, "/a.bin", "get"), 1);
	assert_int_equal(srv_stat(&fx.srv, "/b.bin", "head"), 0);
	assert_int_equal(srv_stat(&fx.srv, "/b.bin", "get"), 0);

	/* a URL no rule produces (another host name for the same server) is
	 * not trusted */
	char u[160];
	snprintf(u, sizeof(u), "http://localhost:%d/a.bin", fx.srv.port);
	assert_int_equal(hub_http_head(&m, h, u), -EPERM);
	hub_http_free(h);
}

/* cert.pem/key.pem for CN/SAN localhost in fx.dir; false when openssl fails. */
static bool make_cert(char *cert, char *key, size_t sz)
{
	if (h_sh("cd %s && openssl req -x509 -newkey rsa:2048 -nodes -keyout key.pem -out cert.pem "
		 "-days 2 -subj /CN=localhost -addext subjectAltName=DNS:localhost >/dev/null 2>&1",
		 fx.dir))
		return false;
	snprintf(cert, sz, "%s/cert.pem", fx.dir);
	snprintf(key, sz, "%s/key.pem", fx.dir);
	return true;
}

/* A client trusting cert (SSL_CERT_FILE, as in the test above). */
static struct hub_http *client_trusting(const char *cert, const struct test_policy *o)
{
	char *saved = getenv("CURL_CA_BUNDLE") ? strdup(getenv("CURL_CA_BUNDLE")) : NULL;
	unsetenv("CURL_CA_BUNDLE");
	setenv("SSL_CERT_FILE", cert, 1);
	struct hub_http *h = policy_client(o);
	unsetenv("SSL_CERT_FILE");
	if (saved)
		setenv("CURL_CA_BUNDLE", saved, 1);
	free(saved);
	return h;
}

static void test_no_https_downgrade(void **state)
{
	(void)state;
	char cert[128], key[128];
	if (!make_cert(cert, key, sizeof(cert)))
		skip();
	struct srv tls;
	assert_int_equal(srv_start_tls(&tls, fx.files, cert, key), 0);
	/* private addresses allowed: only the downgrade rule is tested */
	struct hub_http *h = client_trusting(cert, &allow_all);
	struct hub_http_meta m;
	char u[400];
	snprintf(u, sizeof(u), "%s/a.bin", tls.base);
	assert_int_equal(hub_http_head(&m, h, u), 0); /* the server itself is fine */

	/* https -> http */
	snprintf(u, sizeof(u), "%s/a.bin?fault=redirect&to=%s/a.bin", tls.base, fx.srv.base);
	assert_int_equal(hub_http_head(&m, h, u), -EPROTONOSUPPORT);
	struct col c;
	col_init(&c, SIZE_A);
	struct hub_http_get g = {.url = u, .sink = col_sink, .ctx = &c};
	assert_int_equal(hub_http_get(NULL, h, &g), -EPROTONOSUPPORT);
	assert_int_equal(c.delivered, 0);
	free(c.buf);
	assert_int_equal(srv_stat(&fx.srv, "/a.bin", "head"), 0);
	assert_int_equal(srv_stat(&fx.srv, "/a.bin", "get"), 0);

	/* http -> https -> http: the third hop */
	snprintf(u, sizeof(u),
		 "%s/a.bin?fault=redirect&to=%s/a.bin%%3Ffault%%3Dredirect%%26to%%3D%s/c.bin",
		 fx.srv.base, tls.base, fx.srv.base);
	assert_int_equal(hub_http_head(&m, h, u), -EPROTONOSUPPORT);
	assert_int_equal(srv_stat(&fx.srv, "/a.bin", "head"), 1);
	assert_int_equal(srv_stat(&fx.srv, "/c.bin", "head"), 0);
	/* http -> https is fine */
	snprintf(u, sizeof(u), "%s/a.bin?fault=redirect&to=%s/a.bin", fx.srv.base, tls.base);
	assert_int_equal(hub_http_head(&m, h, u), 0);
	assert_int_equal(m.size, SIZE_A);
	hub_http_free(h);
	srv_stop(&tls);
}

struct bg {
	const char *path;
	struct col c;
	int rc;
	double t;
};

static void *bg_get(void *arg)
{
	struct bg *b = arg;
	b->rc = get_range(&b->c, NULL, b->path, 0, 0, true, SIZE_A, NULL);
	b->t = h_now();
	return NULL;
}

static void test_cancel(void **state)
{
	(void)state;
	/* a slow transfer (100 kB/s) and one stuck in a stall: cancel ends both at once */
	struct bg b1 = {.path = "/a.bin?fault=throttle&rate=100000"};
	struct bg b2 = {.path = "/a.bin?fault=stall&at=0&secs=20"};
	col_init(&b1.c, SIZE_A);
	col_init(&b2.c, SIZE_A);
	pthread_t t1, t2;
	pthread_create(&t1, NULL, bg_get, &b1);
	pthread_create(&t2, NULL, bg_get, &b2);
	usleep(400000);
	double t0 = h_now();
	hub_http_cancel(fx.h);
	pthread_join(t1, NULL);
	pthread_join(t2, NULL);
	assert_int_equal(b1.rc, -ECANCELED);
	assert_int_equal(b2.rc, -ECANCELED);
	assert_true(b1.t - t0 < 0.5);
	assert_true(b2.t - t0 < 0.5);
	/* later requests fail at once */
	struct hub_http_meta m;
	assert_int_equal(hub_http_head(&m, fx.h, url("/a.bin")), -ECANCELED);
	free(b1.c.buf);
	free(b2.c.buf);
}

/* Many threads on one client: the pool and the socket list under load. */
static void *bg_range(void *arg)
{
	struct bg *b = arg;
	b->rc = 0;
	for (int i = 0; i < 20 && !b->rc; i++) {
		uint64_t off = (uint64_t)(rand() % (SIZE_A - 70000));
		b->rc = get_range(&b->c, NULL, "/a.bin", off, off + 65536, true, SIZE_A, NULL);
		if (!b->rc && memcmp(b->c.buf + off, fx.a + off, 65536))
			b->rc = -EBADMSG;
	}
	return NULL;
}

static void test_parallel(void **state)
{
	(void)state;
	struct bg b[8];
	pthread_t t[8];
	for (int i = 0; i < 8; i++) {
		memset(&b[i], 0, sizeof(b[i]));
		col_init(&b[i].c, SIZE_A);
		pthread_create(&t[i], NULL, bg_range, &b[i]);
	}
	for (int i = 0; i < 8; i++) {
		pthread_join(t[i], NULL);
		assert_int_equal(b[i].rc, 0);
		free(b[i].c.buf);
	}
	/* one request per range: no retries needed on a healthy server */
	struct hub_http_stats st;
	hub_http_stats(&st, fx.h);
	assert_int_equal(st.requests, 160);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_head, setup, teardown),
		cmocka_unit_test_setup_teardown(test_head_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_get_whole_and_range, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cut_resumes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_503_then_200, setup, teardown),
		cmocka_unit_test_setup_teardown(test_429_retry_after, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stall, setup, teardown),
		cmocka_unit_test_setup_teardown(test_no_length, setup, teardown),
		cmocka_unit_test_setup_teardown(test_ignored_range, setup, teardown),
		cmocka_unit_test_setup_teardown(test_checks, setup, teardown),
		cmocka_unit_test_setup_teardown(test_redirect_get, setup, teardown),
		cmocka_unit_test_setup_teardown(test_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tls_verified, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tls_trusted_ca_from_the_environment, setup, teardown),
		cmocka_unit_test_setup_teardown(test_private_refused_by_default, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rewrite_target_trusted, setup, teardown),
		cmocka_unit_test_setup_teardown(test_no_https_downgrade, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cancel, setup, teardown),
		cmocka_unit_test_setup_teardown(test_parallel, setup, teardown),
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
