/*
 * Weights: the end of a download (verify size and sha256 prefix, fsync,
 * rename N.part to <key>.data, publish as checkpoints/<name>), the discard
 * of a file that fails verification, and the adoption of a file already at
 * checkpoints/<name> whose name's hash prefix it verifies; the download's
 * sha256 state (started here, fed by the stream in weights_dl.c, brought up
 * to date here from N.part for bytes the stream did not write).  Locks:
 * called with f->lock held; it is dropped while hashing.  d->sha is the
 * downloader thread's alone.
 */
#include "cache/weights_internal.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/files.h"
#include "base/log.h"

/* ---- checkpoints/N as this URL's file ---- */

/* Feed bytes [*pos, to) of fd into c, advancing *pos (to UINT64_MAX: up
 * to the end of the file).  The one read-back hashing loop: adopting a
 * checkpoint hashes a whole file; a download, only the bytes its stream
 * did not write (hw_hash_catchup).  0, -ECANCELED (the store stops), -EIO
 * (the file ends before to), or -errno. */
static int hash_range(struct hub_sha256 *c, uint64_t *pos, int fd, uint64_t to,
		      const struct hub_weights *w)
{
	if (*pos >= to)
		return 0;
	char *buf = NULL;
	if (posix_memalign((void **)&buf, 4096, HUB_WEIGHTS_IO_BUFFER))
		return -ENOMEM;
	int rc = 0;
	while (*pos < to) {
		if (stopping(w)) {
			rc = -ECANCELED;
			break;
		}
		size_t want = to - *pos < HUB_WEIGHTS_IO_BUFFER ? (size_t)(to - *pos)
								 : HUB_WEIGHTS_IO_BUFFER;
		ssize_t got = pread_full(fd, buf, want, *pos);
		if (got < 0) {
			rc = (int)got;
			break;
		}
		if (got == 0) {
			if (to != UINT64_MAX)
				rc = -EIO;
			break;
		}
		hub_sha256_update(c, buf, (size_t)got);
		*pos += (uint64_t)got;
	}
	free(buf);
	return rc;
}

/* The hex digest of c (finished). */
static int hash_final(char hex[HUB_SHA256_HEX_LEN + 1], struct hub_sha256 *c)
{
	uint8_t dig[HUB_SHA256_LEN];
	int rc = hub_sha256_final(dig, c);
	if (!rc)
		hub_sha256_hex(hex, dig);
	return rc;
}

/* sha256 of the regular file open at fd (whole), as hex.  0 or -errno. */
static int hash_fd(char hex[HUB_SHA256_HEX_LEN + 1], int fd, const struct hub_weights *w)
{
	struct hub_sha256 c;
	int rc = hub_sha256_init(&c);
	if (rc)
		return rc;
	uint64_t pos = 0;
	rc = hash_range(&c, &pos, fd, UINT64_MAX, w);
	if (!rc)
		rc = hash_final(hex, &c);
	hub_sha256_dispose(&c);
	return rc;
}

/* f->lock held (dropped while hashing).  A file at checkpoints/N that hubfs
 * did not download for this URL (torch.hub's, or another URL's of the same
 * name) serves this URL only when N carries a hash prefix and the file's
 * sha256 starts with it: then it becomes <key>.data (a second link, no
 * copy).  Anything else there is never read for this URL.  Once per handle;
 * concurrent callers wait for the first. */
void hw_adopt_checkpoint(struct hub_weight *f)
{
	while (f->adopt == 1)
		pthread_cond_wait(&f->cond, &f->lock);
	if (f->adopt == 2 || f->complete)
		return;
	f->adopt = 2;
	if (!f->hash_prefix[0] || !strcmp(f->hash_prefix, "x") || f->bad)
		return;
	int fd = open(f->pub_path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
	if (fd < 0)
		return;
	struct stat st;
	if (fstat(fd, &st) || !S_ISREG(st.st_mode)) {
		close(fd);
		return;
	}
	f->adopt = 1;
	pthread_mutex_unlock(&f->lock);
	char hex[HUB_SHA256_HEX_LEN + 1] = "";
	int rc = hash_fd(hex, fd, f->w);
	bool ok = !rc && !strncmp(hex, f->hash_prefix, strlen(f->hash_prefix));
	int lrc = 0;
	if (ok) {
		/* link the inode we hashed, not whatever the name holds now */
		char proc[64];
		snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
		lrc = hub_mkdir_p(f->w->dir);
		if (!lrc && linkat(AT_FDCWD, proc, AT_FDCWD, f->ck_path, AT_SYMLINK_FOLLOW) &&
		    errno != EEXIST)
			lrc = -errno;
		if (!lrc)
			hub_fsync_dir(f->w->dir);
	}
	close(fd);
	pthread_mutex_lock(&f->lock);
	f->adopt = 2;
	if (ok && !lrc) {
		hub_info("weights: %s: checkpoints/%s verifies (sha256 %s): used for this URL", f->name,
			 f->name, hex);
		hw_check_complete(f);
	} else if (ok) {
		hub_warn("weights: %s: checkpoints/%s verifies but cannot be linked into the store: %s",
			 f->name, f->name, strerror(-lrc));
	} else if (!rc) {
		hub_warn("weights: %s: checkpoints/%s is not this URL's file (sha256 %.16s... does not "
			 "start with %s): not used", f->name, f->name, hex, f->hash_prefix);
	}
	hw_wake(f);
}
/* ---- the download's hash ---- */

int hw_hash_reset(struct dl *d)
{
	hw_hash_drain(d); /* the hasher is done with d->sha */
	if (d->sha_live)
		hub_sha256_dispose(&d->sha);
	d->sha_live = false;
	d->hashed = 0;
	int rc = hub_sha256_init(&d->sha);
	if (!rc)
		d->sha_live = true;
	return rc;
}

int hw_hash_catchup(struct dl *d, int fd, uint64_t to)
{
	hw_hash_drain(d); /* d->sha covers [0, d->hashed) */
	uint64_t from = d->hashed;
	int rc = hash_range(&d->sha, &d->hashed, fd, to, d->f->w);
	d->reread += d->hashed - from;
	if (d->hashed > from)
		hub_debug("weights: %s: sha256: read back [%llu, %llu) (not written by this stream)",
			  d->f->name, (unsigned long long)from, (unsigned long long)d->hashed);
	return rc;
}

/* ---- verification and completion ---- */

/* f->lock held: discard a file that failed verification. */
static void mark_bad(struct hub_weight *f, const char *reason)
{
	hw_part_remove(f);
	f->bad = true;
	snprintf(f->bad_reason, sizeof(f->bad_reason), "%s", reason);
	f->bad_until = real_now() + hw_tuning().bad_ttl_s;
	hw_sidecar_write(f, reason);
	hw_wake(f);
	if (f->w->on_discard)
		f->w->on_discard(f->w->on_discard_arg, f->key);
}

/* f->lock held.  torch.hub looks for checkpoints/N: when that name is free,
 * it becomes a second link to <key>.data (no copy), so that torch.hub uses
 * what hubfs downloaded.  A name already taken is left alone (it may be
 * another URL's file, or torch.hub's); hubfs never reads it for this URL
 * unless its hash prefix verifies (hw_adopt_checkpoint). */
void hw_publish(struct hub_weight *f)
{
	struct hub_weights *w = f->w;
	if (hub_mkdir_p(w->ckdir))
		return;
	if (link(f->ck_path, f->pub_path) == 0) {
		hub_fsync_dir(w->ckdir);
		return;
	}
	if (errno == EEXIST)
		hub_debug("weights: %s: checkpoints/%s is taken; the file stays in the store only",
			  f->name, f->name);
	else
		hub_info("weights: %s: cannot link checkpoints/%s: %s (torch.hub will not see it)",
			 f->name, f->name, strerror(errno));
}

/* f->lock held (dropped while hashing).  All bytes present: verify, sync,
 * move to <key>.data, publish as checkpoints/N. */
int hw_finalize(struct dl *d)
{
	struct hub_weight *f = d->f;
	struct hub_weights *w = f->w;
	uint64_t size = f->size;
	int fd = f->part_fd;
	char hex[HUB_SHA256_HEX_LEN + 1] = "";
	char why[200] = "";
	pthread_mutex_unlock(&f->lock);

	int rc = 0;
	struct stat st;
	if (fstat(fd, &st)) {
		rc = -errno;
	} else if ((uint64_t)st.st_size != size) {
		snprintf(why, sizeof(why), "size-mismatch: %llu bytes, expected %llu",
			 (unsigned long long)st.st_size, (unsigned long long)size);
	}
	if (!rc && !why[0] && d->hashing) {
		rc = d->sha_live ? 0 : -EINVAL;
		if (!rc)
			rc = hw_hash_catchup(d, fd, size);
		if (!rc) {
			rc = hash_final(hex, &d->sha);
			if (!rc && strncmp(hex, f->hash_prefix, strlen(f->hash_prefix)))
				snprintf(why, sizeof(why), "sha256-mismatch: %s does not start with %s", hex,
					 f->hash_prefix);
		}
	}
	if (!rc && !why[0] && d->hashing) {
		/* the verdict is in: readers waiting for the end (verify=stream)
		 * are served from N.part now, not after the fsync below (which
		 * writes the whole file back: most of a cold read's time) */
		pthread_mutex_lock(&f->lock);
		f->hash_ok = true;
		hw_wake(f);
		pthread_mutex_unlock(&f->lock);
	}
	if (!rc && !why[0] && fsync(fd))
		rc = -errno;

	pthread_mutex_lock(&f->lock);
	if (rc) {
		f->hash_ok = false;
		return rc;
	}
	char u[512];
	if (why[0]) {
		hub_err("weights: %s (%s): verification failed, %s; the bytes are discarded",
			f->name, hw_log_url(u, sizeof(u), f->url), why);
		*strchr(why, ':') = '\0';
		mark_bad(f, why);
		hw_fail_note(w, f, why);
		return -EIO;
	}
	/* the record goes first: a record must never outlive its N.part (nor
	 * name the inode that becomes <key>.data) */
	hw_record_remove(f);
	if (hw_check_complete(f)) {
		/* another mount on this cache finished it meanwhile */
		unlink(f->part_path);
	} else {
		if (rename(f->part_path, f->ck_path)) {
			rc = -errno;
			f->dirty = true;
			return rc;
		}
		hub_fsync_dir(w->dir);
		f->complete = true;
	}
	hw_publish(f);
	hw_pin_published(f); /* before N.lock goes: no round can take it between */
	/* N.head stays: it tells people (and `hubfs cache`) which URL <key>.data is */
	hw_sidecar_write(f, NULL);
	hw_remove_temps(f, 0);
	unlink(f->lock_path); /* we hold it: the next holder checks the path's inode */
	hw_fail_clear(w, f);
	hw_wake(f);
	if (d->hashing)
		hub_info("weights: %s complete (%llu bytes, sha256 %s; %llu of them read back to "
			 "hash)", f->name, (unsigned long long)size, hex,
			 (unsigned long long)d->reread);
	else
		hub_info("weights: %s complete (%llu bytes)", f->name, (unsigned long long)size);
	return 0;
}

/* f->lock held.  The holder's work. */
