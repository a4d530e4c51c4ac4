/*
 * Weight files: lazily downloaded, streamed, verified, shared.
 *
 * One struct hub_weights per mount (per cache root).  A weight file is named
 * by its URL and stored by it: <root>/hubfs/weights/<key>.data, key being
 * the first hex digits of sha256(URL fetched, rewrite rules applied), so two
 * URLs never serve each other's bytes, whatever their base names.  Its name
 * (hub_weights_name) is the URL path's basename, as
 * torch.hub.load_state_dict_from_url names checkpoints: when complete, the
 * file is also linked as <root>/checkpoints/<name> if that name is free, so
 * torch.hub uses what hubfs downloaded.  A file already at checkpoints/<name>
 * (torch.hub's, or another URL's) serves a URL only when <name> carries a
 * sha256 prefix that the file's bytes verify; then it is linked into the
 * store.  Partial data, the record of which byte ranges are present and
 * HEAD results live beside it under <root>/hubfs/weights/.
 *
 * Reads block until their own byte range is present, never for the whole
 * file; a read far beyond what the sequential download has reached fetches
 * its range with a Range request.  One download per file on a host: threads
 * of one mount share it, other processes (another mount on the same cache
 * root) wait for it through the files under <root>/hubfs/weights/.
 * Rewrite rules (cfg->rewrites) apply to every URL before it is fetched;
 * with cfg->offline nothing is ever fetched.
 * Design and file formats: the DESIGN comment of cache/weights_internal.h.
 *
 * Errors of reads and sizes are the download's: -ENOENT (404/410, or offline
 * and unknown), -EACCES (401/403), -ETIMEDOUT, -ECONNREFUSED, -EHOSTUNREACH,
 * -ENETUNREACH, -EPROTO (TLS), -ELOOP (redirects), -EPERM (a non-public
 * address, see fetch/http.h), -EPROTONOSUPPORT (https redirected to http),
 * -ENETDOWN (offline with
 * bytes missing), -ENOSPC, -EIO (5xx/429 after the retries, a body that
 * never arrives whole, a failed verification).  A failed download is
 * remembered for HUB_WEIGHTS_RETRY_S (reads fail at once), then retried by
 * the next read; a failed verification for HUB_WEIGHTS_BAD_TTL_S, by every
 * process on the cache root.
 */
#ifndef HUB_CACHE_WEIGHTS_H
#define HUB_CACHE_WEIGHTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct hub_weights;
struct hub_weight;
struct hub_rewrites;

/* What a store needs of the mount's configuration (fs/options.h fills it
 * from the command line and config file); copied by hub_weights_new. */
struct hub_weights_config {
	bool offline;       /* never fetch: serve what is on disk (-ENOENT, -ENETDOWN) */
	bool strict;        /* verify=strict: reads wait until the file is complete and verified */
	bool allow_private; /* the address policy (fetch/http.h): private addresses allowed */
	/* applied to every URL before it is fetched, and trusted as the
	 * administrator's targets by the address policy (fetch/rewrite.h);
	 * NULL: none.  Must outlive the store. */
	const struct hub_rewrites *rewrites;
	/* proxy=: the HTTP(S) proxy of downloads; NULL: libcurl's environment
	 * (fetch/http.h).  Must outlive the store. */
	const char *proxy;
};

/* No I/O, no network: files and directories are created on first use.
 * cfg NULL: the defaults (online, streaming, public addresses only, no
 * rewrite rules). */
int hub_weights_new(struct hub_weights **out, const char *root,
		    const struct hub_weights_config *cfg);
/* Cancels downloads in flight (their partial state is recorded for a
 * resume) and joins the module's threads.  No other call on this store or
 * its files may be running; handles not put are freed too. */
void hub_weights_free(struct hub_weights *w);

/* cb(arg, key) is called whenever the bytes of the file whose store key is
 * key (hub_weight_key) are discarded
 * (verification failed here or in another process), so that whoever served
 * them can drop its copies (the FUSE layer invalidates the kernel's pages).
 * It runs with the file's lock held: it must only queue the work.  Set once,
 * before any other use of the store. */
void hub_weights_set_discard_hook(struct hub_weights *w, void (*cb)(void *arg, const char *name),
				  void *arg);

/* The cache name torch.hub would use for url (basename of the URL's path,
 * query and fragment removed; no percent-decoding, as torch.hub).  -EINVAL if
 * it has none or it is not a valid file name ("", ".", "..", control
 * characters, longer than NAME_MAX), -ENAMETOOLONG if outsz is too small.
 * A name matching torch's HASH_REGEX (-([a-f0-9]*)\.) is verified: the
 * file's sha256 must start with that group. */
int hub_weights_name(char *out, size_t outsz, const char *url);
/* The sha256 prefix that name carries by that rule, into out: "" when none,
 * "x" when the group is longer than a digest (nothing verifies it). */
void hub_weights_hash_prefix(char out[65], const char *name);

/* The handle for url (no network).  Reference counted; every get needs a put;
 * the last put closes the file's descriptors (downloads go on).  Handles are
 * per URL (per key): two URLs with one name are two files. */
int hub_weights_get(struct hub_weight **out, struct hub_weights *w, const char *url);
/* Files in memory now (those in use, plus at most HUB_WEIGHTS_FILES_MAX
 * unused ones: /.hubfs/counters). */
size_t hub_weights_count(struct hub_weights *w);
void hub_weight_put(struct hub_weight *f);
const char *hub_weight_name(const struct hub_weight *f);
/* The store's name of the file: hex digits of sha256(URL fetched); distinct
 * URLs have distinct keys. */
const char *hub_weight_key(const struct hub_weight *f);
/* The URL the handle was first asked for (rewrite rules not applied). */
const char *hub_weight_url(const struct hub_weight *f);
/* One word and a detail for the file's state, for the Python helper
 * (getxattr user.hubfs.state): "complete", "failed <reason>" (a failed
 * verification or a download failure still remembered), or "pending".
 * No network, no waiting. */
void hub_weight_state(char *out, size_t outsz, struct hub_weight *f);

/* The file's true size: from the complete file, the size and ETag
 * remembered on disk, or a GET of the file's first head_bytes (tuning; the
 * bytes are kept in N.part for the first read; then remembered), or, where
 * N.part cannot be written or head_bytes is 0, an HTTP HEAD (a refused HEAD
 * falls back to a 1-byte ranged GET).  When the server tells no size at all, the file is
 * downloaded to learn it.  May use the network (bounded by the timeouts);
 * offline and unknown: -ENOENT. */
int hub_weight_size(uint64_t *out, struct hub_weight *f);

/* Read up to size bytes at off into buf, starting or joining the download
 * and waiting only for this range (all of it, short only at EOF).  Returns
 * the number of bytes (0 at EOF) or -errno: the download's error (above),
 * -EIO when the file failed verification, -ETIMEDOUT when no byte of the
 * file arrived for HUB_WEIGHTS_READ_STALL_S.  With verify=strict, waits
 * until the file is complete and verified.  By default (verify=stream) a
 * read that reaches the end of a file whose name carries a hash prefix
 * waits for the verdict too (-EIO on a mismatch; the sha256 match, not the
 * fsync and rename that follow it), unless it starts more
 * than far_bytes ahead of the download (a loader reading the end first);
 * other reads return as soon as their bytes are there.  Thread-safe. */
ssize_t hub_weight_read(char *buf, size_t size, off_t off, struct hub_weight *f);

/* Where the bytes of a read are, for a caller that moves them itself (the
 * FUSE layer splices them to the kernel, no copy through user memory):
 * [off, off + len) of fd, all of them written to disk (never a byte not
 * yet downloaded), len short only at EOF (0: at or past the end).  The
 * same waits, verdicts and errors as hub_weight_read, which is a span, a
 * pread and a release.  fd stays open and the read counts as in progress
 * until hub_weight_span_release, which must follow every 0 return. */
struct hub_weight_span {
	int fd;
	uint64_t off;
	size_t len;
	/* verify=stream: the bytes reach the end of a file whose name carries
	 * a hash that is not verified yet (a read far ahead of the download,
	 * torch reading a zip's directory).  The caller must not let them stay
	 * in a cache that later reads are served from without asking again:
	 * the FUSE layer drops the kernel's pages of the file after the reply,
	 * so that a reader that then reads the file through to its end (cat,
	 * cp) reaches the final read, which waits for the verdict. */
	bool unverified_end;
	struct hub_weight *f; /* private */
	struct hub_weight *fast; /* private: a lock-free read of a complete file */
	bool busy;            /* private */
	bool start;           /* private: start the download at the release */
};
int hub_weight_span(struct hub_weight_span *out, size_t size, off_t off, struct hub_weight *f);
void hub_weight_span_release(struct hub_weight_span *s);

/* Bytes of the file on disk in this store (the whole size once complete,
 * *out_complete then true): what st_blocks counts.  No network. */
uint64_t hub_weight_present(bool *out_complete, struct hub_weight *f);

/* 1 when the file is complete and verified in the store (reads are then
 * plain file reads), 0 otherwise. */
int hub_weight_complete(struct hub_weight *f);

/* Downloads in flight and recent failures, for /.hubfs/downloads: one line
 * per file, "name done total rate_bytes_per_s url" (total 0 if unknown; also
 * for a download another process holds, as this one sees it), then
 * "failed name reason url" lines, reason one word: not-found, forbidden,
 * timeout, connection-refused, unreachable, tls-error, too-many-redirects,
 * offline, disk-full, changed-upstream, private-address (a URL that is
 * not the admin's rewrite target resolved to a non-public address: -EPERM),
 * insecure-redirect (https redirected to http: -EPROTONOSUPPORT), io-error,
 * sha256-mismatch, size-mismatch.  A later success of the name removes its failed line.
 * malloc'd, "" when idle; NULL on ENOMEM. */
char *hub_weights_status(struct hub_weights *w);

/* Timeouts and thresholds; defaults from base/limits.h (HUB_WEIGHTS_*).  Tests
 * lower them with hub_weights_set_tuning (process-wide; set before
 * creating a store).  The HTTP client's own are in fetch/http.h. */
struct hub_weights_tuning {
	uint64_t far_bytes;      /* a read further than this beyond the download fetches its own range */
	uint64_t range_min;      /* size of a far read's Range request, doubling up to range_max */
	uint64_t range_max;
	double read_stall_s;     /* a waiting read fails (ETIMEDOUT) after this long without a new byte */
	double record_s;         /* the range record is rewritten at most this often */
	double poll_s;           /* another process's download is watched this often */
	double retry_s;          /* after a failed download, reads fail at once for this long */
	double bad_ttl_s;        /* a file that failed verification is not fetched again for this long */
	unsigned dl_max;         /* downloads running at once per store; more wait */
	double idle_s;           /* a download no reader asked anything of for this long stops... */
	uint64_t idle_finish;    /* ...unless fewer bytes than this are missing */
	double pin_s;            /* a complete file stays pinned (not evictable) this long after a read */
	uint64_t head_bytes;     /* the size is learned with a GET of this many first bytes (0: HEAD) */
};
void hub_weights_tuning_default(struct hub_weights_tuning *out);
void hub_weights_set_tuning(const struct hub_weights_tuning *t);

#endif
