/*
 * Weights: the on-disk formats (see the DESIGN comment in
 * cache/weights_internal.h): N.ranges (the record of byte ranges present in
 * N.part, "hubfs-ranges 1" text), N.head (the sidecar, JSON), the shared
 * page of N.lock (a seqlock), inode identities and stamps, and leftover
 * temporary files of atomic writes.  Parsing and writing only: no lock of
 * its own; hw_sidecar_write is called with f->lock held.
 */
#include "cache/weights_internal.h"

#include <cjson/cJSON.h>
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/files.h"
#include "base/log.h"

void hw_stamp_of(struct stamp *s, const char *path)
{
	struct stat st;
	memset(s, 0, sizeof(*s));
	if (stat(path, &st) == 0) {
		s->exists = true;
		s->ino = st.st_ino;
		s->size = st.st_size;
		s->mtime = st.st_mtim;
	}
}

bool hw_stamp_eq(const struct stamp *a, const struct stamp *b)
{
	return a->exists == b->exists && a->ino == b->ino && a->size == b->size &&
	       a->mtime.tv_sec == b->mtime.tv_sec && a->mtime.tv_nsec == b->mtime.tv_nsec;
}

/* Identity of an inode instance: its number and, where the file system
 * keeps it, its birth time, so that a record naming an N.part that was
 * removed cannot match a later N.part that reuses the inode number. */
static uint64_t id_of(const struct statx *sx)
{
	uint64_t h = (uint64_t)sx->stx_ino * 0x9E3779B97F4A7C15ULL;
	if (sx->stx_mask & STATX_BTIME) {
		h ^= (uint64_t)sx->stx_btime.tv_sec * 1000000007ULL + sx->stx_btime.tv_nsec;
		h *= 0xff51afd7ed558ccdULL;
		h ^= h >> 33;
	}
	return h ? h : 1;
}

/* 0 when path does not exist. */
uint64_t hw_id_of_path(const char *path)
{
	struct statx sx;
	if (statx(AT_FDCWD, path, AT_SYMLINK_NOFOLLOW, STATX_INO | STATX_BTIME, &sx))
		return 0;
	return id_of(&sx);
}

uint64_t hw_id_of_fd(int fd)
{
	struct statx sx;
	if (statx(fd, "", AT_EMPTY_PATH, STATX_INO | STATX_BTIME, &sx))
		return 0;
	return id_of(&sx);
}

/* ---- the shared page in N.lock ---- */

/* A seqlock without fences (ThreadSanitizer models no fences): the data
 * stores are releases, so a reader that sees any of them also sees the odd
 * seq stored before; the data loads are acquires, so the second seq load
 * cannot move before them.  On x86 all of these are plain moves. */
static uint64_t boot_id;
static pthread_once_t boot_once = PTHREAD_ONCE_INIT;

static void read_boot_id(void)
{
	/* procfs reports size 0: read what comes, not st_size */
	char text[64];
	int fd = open("/proc/sys/kernel/random/boot_id", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	ssize_t len = read(fd, text, sizeof(text));
	close(fd);
	uint64_t v = 0;
	int digits = 0;
	for (ssize_t i = 0; i < len && digits < 16; i++) {
		char c = text[i];
		int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
		if (d < 0)
			continue;
		v = v << 4 | (uint64_t)d;
		digits++;
	}
	boot_id = digits == 16 ? v : 0;
}

uint64_t hw_boot_id(void)
{
	pthread_once(&boot_once, read_boot_id);
	return boot_id;
}

void hw_live_publish(struct live_page *p, uint64_t id, uint64_t a, uint64_t b)
{
	if (!p)
		return;
	uint64_t boot = hw_boot_id();
	uint64_t s = __atomic_load_n(&p->seq, __ATOMIC_RELAXED);
	__atomic_store_n(&p->seq, s | 1, __ATOMIC_RELAXED);
	__atomic_store_n(&p->boot, boot, __ATOMIC_RELEASE);
	__atomic_store_n(&p->id, id, __ATOMIC_RELEASE);
	__atomic_store_n(&p->a, a, __ATOMIC_RELEASE);
	__atomic_store_n(&p->b, b, __ATOMIC_RELEASE);
	__atomic_store_n(&p->magic, LIVE_MAGIC, __ATOMIC_RELEASE);
	__atomic_store_n(&p->seq, (s | 1) + 1, __ATOMIC_RELEASE);
}

bool hw_live_read(const struct live_page *p, uint64_t *id, uint64_t *a, uint64_t *b)
{
	if (!p)
		return false;
	for (int tries = 0; tries < 100; tries++) {
		uint64_t s1 = __atomic_load_n(&p->seq, __ATOMIC_ACQUIRE);
		if (s1 & 1)
			continue;
		uint64_t m = __atomic_load_n(&p->magic, __ATOMIC_ACQUIRE);
		*id = __atomic_load_n(&p->id, __ATOMIC_ACQUIRE);
		*a = __atomic_load_n(&p->a, __ATOMIC_ACQUIRE);
		*b = __atomic_load_n(&p->b, __ATOMIC_ACQUIRE);
		uint64_t boot = __atomic_load_n(&p->boot, __ATOMIC_ACQUIRE);
		if (__atomic_load_n(&p->seq, __ATOMIC_RELAXED) == s1)
			return m == LIVE_MAGIC && *a <= *b && boot && boot == hw_boot_id();
	}
	return false;
}
/* ---- sidecar (N.head) ---- */

void hw_sidecar_dispose(struct sidecar *s)
{
	free(s->url);
	memset(s, 0, sizeof(*s));
}

int hw_sidecar_read(struct sidecar *out, const char *path)
{
	memset(out, 0, sizeof(*out));
	char *txt;
	size_t len;
	int rc = hub_file_read(&txt, &len, path, HUB_WEIGHTS_META_MAX);
	if (rc)
		return rc;
	cJSON *j = cJSON_ParseWithLength(txt, len);
	free(txt);
	if (!j)
		return -EINVAL;
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, "url");
	if (cJSON_IsString(v))
		out->url = strdup(v->valuestring);
	v = cJSON_GetObjectItemCaseSensitive(j, "size");
	if (cJSON_IsNumber(v) && v->valuedouble >= 0) {
		out->size_known = true;
		out->size = (uint64_t)v->valuedouble;
	}
	v = cJSON_GetObjectItemCaseSensitive(j, "etag");
	if (cJSON_IsString(v))
		snprintf(out->etag, sizeof(out->etag), "%s", v->valuestring);
	v = cJSON_GetObjectItemCaseSensitive(j, "bad");
	if (cJSON_IsString(v))
		snprintf(out->bad, sizeof(out->bad), "%s", v->valuestring);
	v = cJSON_GetObjectItemCaseSensitive(j, "bad_time");
	if (cJSON_IsNumber(v))
		out->bad_time = v->valuedouble;
	cJSON_Delete(j);
	return 0;
}

/* f->lock held.  Small: the lock is kept across the atomic write. */
int hw_sidecar_write(struct hub_weight *f, const char *bad)
{
	f->head_dirty = false;
	cJSON *j = cJSON_CreateObject();
	if (!j)
		return -ENOMEM;
	char u[HUB_URL_MAX];
	/* for people and `hubfs cache ls`: the file is named by the URL's digest,
	 * and the query may hold a signed URL's credentials */
	cJSON_AddStringToObject(j, "url", hw_log_url(u, sizeof(u), f->url));
	cJSON_AddStringToObject(j, "name", f->name);
	if (f->size_known)
		cJSON_AddNumberToObject(j, "size", (double)f->size);
	cJSON_AddStringToObject(j, "etag", f->etag);
	if (bad) {
		cJSON_AddStringToObject(j, "bad", bad);
		cJSON_AddNumberToObject(j, "bad_time", real_now());
	}
	char *txt = cJSON_PrintUnformatted(j);
	cJSON_Delete(j);
	if (!txt)
		return -ENOMEM;
	int rc = hub_file_write_atomic(f->head_path, txt, strlen(txt));
	if (rc == -ENOENT && hub_mkdir_p(f->w->dir) == 0)
		rc = hub_file_write_atomic(f->head_path, txt, strlen(txt));
	free(txt);
	hw_stamp_of(&f->head_seen, f->head_path);
	if (rc)
		hub_warn("weights: %s: cannot write %s: %s", f->name, f->head_path, strerror(-rc));
	return rc;
}

/* ---- record (N.ranges) ---- */

void hw_record_init(struct record *rec)
{
	memset(rec, 0, sizeof(*rec));
	hub_rset_init(&rec->r, HUB_WEIGHTS_RANGES_MAX);
}

/* out: initialized (hw_record_init). */
int hw_record_read(struct record *out, const char *path)
{
	char *txt;
	size_t len;
	hub_rset_clear(&out->r);
	int rc = hub_file_read(&txt, &len, path, HUB_WEIGHTS_META_MAX);
	if (rc)
		return rc;
	rc = -EINVAL;
	char *save = NULL;
	char *line = strtok_r(txt, "\n", &save);
	if (!line || strcmp(line, "hubfs-ranges 1"))
		goto out;
	bool have_id = false, have_size = false;
	out->etag[0] = '\0';
	while ((line = strtok_r(NULL, "\n", &save))) {
		unsigned long long a, b;
		if (sscanf(line, "id %llu", &a) == 1) {
			out->id = a;
			have_id = true;
		} else if (!strcmp(line, "size -")) {
			out->size_known = false;
			have_size = true;
		} else if (sscanf(line, "size %llu", &a) == 1) {
			out->size_known = true;
			out->size = a;
			have_size = true;
		} else if (!strncmp(line, "etag ", 5)) {
			snprintf(out->etag, sizeof(out->etag), "%s", line + 5);
		} else if (!strcmp(line, "etag")) {
			out->etag[0] = '\0';
		} else if (sscanf(line, "r %llu %llu", &a, &b) == 2 && a < b) {
			if (hub_rset_add(&out->r, a, b))
				goto out;
		} else {
			goto out;
		}
	}
	if (have_id && have_size)
		rc = 0;
out:
	free(txt);
	if (rc)
		hub_rset_clear(&out->r);
	return rc;
}

int hw_record_write(const char *path, uint64_t id, bool size_known, uint64_t size,
			const char *etag, const struct hub_rset *r)
{
	size_t cap = 128 + strlen(etag) + r->n * 44;
	char *buf = malloc(cap);
	if (!buf)
		return -ENOMEM;
	size_t n = (size_t)snprintf(buf, cap, "hubfs-ranges 1\nid %llu\n", (unsigned long long)id);
	if (size_known)
		n += (size_t)snprintf(buf + n, cap - n, "size %llu\n", (unsigned long long)size);
	else
		n += (size_t)snprintf(buf + n, cap - n, "size -\n");
	n += (size_t)snprintf(buf + n, cap - n, "etag %s\n", etag);
	for (size_t i = 0; i < r->n; i++)
		n += (size_t)snprintf(buf + n, cap - n, "r %llu %llu\n", (unsigned long long)r->v[i].a,
				      (unsigned long long)r->v[i].b);
	int rc = hub_file_write_atomic(path, buf, n);
	free(buf);
	return rc;
}

/* Does a record describe the current N.part of this file? */
bool hw_record_matches(const struct hub_weight *f, const struct record *rec)
{
	return rec->id == f->part_id && rec->size_known == f->size_known &&
	       (!f->size_known || rec->size == f->size) && !strcmp(rec->etag, f->etag);
}

/* Remove the temporary files of atomic writes of N.ranges and N.head
 * ("N.ranges.tmp.XXXXXX") that a killed process left, older than max_age
 * seconds (0: all; only once the download is over, when no other process
 * writes them any more). */
void hw_remove_temps(struct hub_weight *f, double max_age)
{
	DIR *dir = opendir(f->w->dir);
	if (!dir)
		return;
	const char *kinds[] = {".ranges.tmp.", ".head.tmp."};
	size_t bl = strlen(f->base);
	double now = real_now();
	struct dirent *e;
	while ((e = readdir(dir))) {
		if (strncmp(e->d_name, f->base, bl))
			continue;
		for (int k = 0; k < 2; k++) {
			size_t kl = strlen(kinds[k]);
			const char *rest = e->d_name + bl + kl;
			/* mkostemp's six characters, nothing more (not another name's file) */
			if (strncmp(e->d_name + bl, kinds[k], kl) || strlen(rest) != 6 ||
			    strchr(rest, '.'))
				continue;
			struct stat st;
			if (max_age > 0 && (fstatat(dirfd(dir), e->d_name, &st, 0) ||
					    now - (double)st.st_mtime < max_age))
				continue;
			unlinkat(dirfd(dir), e->d_name, 0);
		}
	}
	closedir(dir);
}

