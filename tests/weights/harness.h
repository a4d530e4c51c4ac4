/*
 * Test harness shared by tests/unit/fetch/test_http.c and
 * tests/unit/cache/test_weights.c: runs tests/weights/httpd.py on a free
 * loopback port (PR_SET_PDEATHSIG: it dies with the test even on a crash),
 * talks to its control endpoints, makes data files.  Header-only (static
 * functions), included by exactly one file per test executable.
 */
#ifndef HUB_TESTS_WEIGHTS_HARNESS_H
#define HUB_TESTS_WEIGHTS_HARNESS_H

#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define HARNESS_PYTHON "/usr/bin/python3"
#define HARNESS_HTTPD HUBFS_SOURCE_DIR "/tests/weights/httpd.py"

struct srv {
	pid_t pid;
	int port;
	char base[64]; /* http://127.0.0.1:PORT */
	char root[256];
};

static inline double h_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* 0 or -1; the server serves the files of root (over TLS when cert/key). */
static inline int srv_start_tls(struct srv *s, const char *root, const char *cert,
				const char *key)
{
	memset(s, 0, sizeof(*s));
	snprintf(s->root, sizeof(s->root), "%s", root);
	char portfile[300];
	snprintf(portfile, sizeof(portfile), "%s.port", root);
	unlink(portfile);
	pid_t parent = getpid();
	pid_t pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != parent)
			_exit(1);
		int nul = open("/dev/null", O_WRONLY);
		if (nul >= 0)
			dup2(nul, 1);
		if (cert)
			execl(HARNESS_PYTHON, HARNESS_PYTHON, HARNESS_HTTPD, "--root", root,
			      "--port-file", portfile, "--cert", cert, "--key", key, (char *)NULL);
		else
			execl(HARNESS_PYTHON, HARNESS_PYTHON, HARNESS_HTTPD, "--root", root,
			      "--port-file", portfile, (char *)NULL);
		_exit(127);
	}
	s->pid = pid;
	for (int i = 0; i < 1000; i++) {
		FILE *f = fopen(portfile, "r");
		if (f) {
			int ok = fscanf(f, "%d", &s->port) == 1;
			fclose(f);
			if (ok) {
				snprintf(s->base, sizeof(s->base), "%s://%s:%d", cert ? "https" : "http",
					 cert ? "localhost" : "127.0.0.1", s->port);
				unlink(portfile);
				return 0;
			}
		}
		int st;
		if (waitpid(pid, &st, WNOHANG) == pid) {
			s->pid = 0;
			return -1;
		}
		usleep(10000);
	}
	return -1;
}

static inline int srv_start(struct srv *s, const char *root)
{
	return srv_start_tls(s, root, NULL, NULL);
}

static inline void srv_stop(struct srv *s)
{
	if (s->pid > 0) {
		kill(s->pid, SIGKILL);
		waitpid(s->pid, NULL, 0);
	}
	s->pid = 0;
}

struct h_buf {
	char *p;
	size_t n;
};

static inline size_t h_buf_cb(char *d, size_t sz, size_t n, void *ud)
{
	struct h_buf *b = ud;
	char *np = realloc(b->p, b->n + sz * n + 1);
	if (!np)
		return 0;
	b->p = np;
	memcpy(b->p + b->n, d, sz * n);
	b->n += sz * n;
	b->p[b->n] = '\0';
	return sz * n;
}

/* GET base+path (a control endpoint); the body, malloc'd, or NULL. */
static inline char *srv_get(const struct srv *s, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static inline char *srv_get(const struct srv *s, const char *fmt, ...)
{
	char path[1024], url[1200];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(path, sizeof(path), fmt, ap);
	va_end(ap);
	snprintf(url, sizeof(url), "%s%s", s->base, path);
	CURL *c = curl_easy_init();
	struct h_buf b = {0};
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, h_buf_cb);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	CURLcode rc = curl_easy_perform(c);
	curl_easy_cleanup(c);
	if (rc != CURLE_OK) {
		free(b.p);
		return NULL;
	}
	if (!b.p)
		b.p = calloc(1, 1);
	return b.p;
}

static inline void srv_reset(const struct srv *s)
{
	free(srv_get(s, "/_reset"));
}

/* Add a fault: srv_fault(s, "/f.bin", "mode=cut&at=1000"). */
static inline void srv_fault(const struct srv *s, const char *path, const char *spec)
{
	free(srv_get(s, "/_fault?path=%s&%s", path, spec));
}

/* A counter of /_stats for path: "get", "head" or "bytes"; 0 if none. */
static inline long long srv_stat(const struct srv *s, const char *path, const char *what)
{
	char *txt = srv_get(s, "/_stats");
	long long v = -1;
	if (!txt)
		return v;
	cJSON *j = cJSON_Parse(txt);
	free(txt);
	if (!j)
		return v;
	const cJSON *p = cJSON_GetObjectItemCaseSensitive(j, path);
	const cJSON *x = p ? cJSON_GetObjectItemCaseSensitive(p, what) : NULL;
	v = cJSON_IsNumber(x) ? (long long)x->valuedouble : 0;
	cJSON_Delete(j);
	return v;
}

/* Deterministic pseudo-random bytes (xorshift64*). */
static inline void h_fill(unsigned char *p, size_t n, uint64_t seed)
{
	uint64_t x = seed * 0x9E3779B97F4A7C15ULL + 1;
	size_t i = 0;
	while (i < n) {
		x ^= x >> 12;
		x ^= x << 25;
		x ^= x >> 27;
		uint64_t v = x * 0x2545F4914F6CDD1DULL;
		for (int k = 0; k < 8 && i < n; k++, i++)
			p[i] = (unsigned char)(v >> (8 * k));
	}
}

/* Write a file of n pseudo-random bytes; its contents in *out (malloc'd) if out. */
static inline int h_make_file(const char *path, size_t n, uint64_t seed, unsigned char **out)
{
	unsigned char *p = malloc(n ? n : 1);
	if (!p)
		return -1;
	h_fill(p, n, seed);
	FILE *f = fopen(path, "wb");
	if (!f || fwrite(p, 1, n, f) != n) {
		if (f)
			fclose(f);
		free(p);
		return -1;
	}
	fclose(f);
	if (out)
		*out = p;
	else
		free(p);
	return 0;
}

/* Run a shell command built from fmt; its exit status. */
static inline int h_sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static inline int h_sh(const char *fmt, ...)
{
	char cmd[4096];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	int rc = system(cmd);
	return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

#endif
