/*
 * Weight files: lazily downloaded, streamed, verified, shared.
 *
 * One struct hub_weights per mount (per cache root).  A weight file is named
 * by its URL; its cache name is the URL path's basename, as
 * torch.hub.load_state_dict_from_url names checkpoints.  Complete files live
 * at <root>/checkpoints/<name> (torch.hub's own path: a file torch.hub put
 * there is used with no network, and torch.hub uses ours).  Everything else
 * (partial data, the record of which byte ranges are present, HEAD results)
 * lives under <root>/hubfs/weights/.
 *
 * Reads block until their own byte range is present, never for the whole
 * file; a read far beyond what the sequential download has reached fetches
 * its range with a Range request.  One download per file on a host: threads
 * of one mount share it, other processes (another mount on the same cache
 * root) wait for it through the files under <root>/hubfs/weights/.
 * Rewrite rules (opts->rewrite) apply to every URL before it is fetched;
 * with opts->offline nothing is ever fetched.  opts must outlive the store.
 * Design and file formats: the DESIGN comment of cache/weights.c.
 *
 * Errors of reads and sizes are the download's: -ENOENT (404/410, or offline
 * and unknown), -EACCES (401/403), -ETIMEDOUT, -ECONNREFUSED, -EHOSTUNREACH,
 * -ENETUNREACH, -EPROTO (TLS), -ELOOP (redirects), -ENETDOWN (offline with
 * bytes missing), -ENOSPC, -EIO (5xx/429 after the retries, a body that
 * never arrives whole, a failed verification).  A failed download is
 * remembered for HUB_WEIGHTS_RETRY_S (reads fail at once), then retried by
 * the next read; a failed verification for HUB_WEIGHTS_BAD_TTL_S, by every
 * process on the cache root.
 */
#ifndef HUB_CACHE_WEIGHTS_H
#define HUB_CACHE_WEIGHTS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "fs/options.h"

struct hub_weights;
struct hub_weight;

/* No I/O, no network: files and directories are created on first use. */
int hub_weights_new(struct hub_weights **out, const char *root, const struct hub_options *opts);
/* Cancels downloads in flight (their partial state is recorded for a
 * resume) and joins the module's threads.  No other call on this store or
 * its files may be running; handles not put are freed too. */
void hub_weights_free(struct hub_weights *w);

/* cb(arg, name) is called whenever the bytes of file name are discarded
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

/* The handle for url (no network).  Reference counted; every get needs a put;
 * the last put closes the file's descriptors (downloads go on).  Handles are
 * per name: a second URL with the same name gets the first URL's file (as
 * in torch.hub's checkpoints/ directory), with a warning. */
int hub_weights_get(struct hub_weight **out, struct hub_weights *w, const char *url);
void hub_weight_put(struct hub_weight *f);
const char *hub_weight_name(const struct hub_weight *f);

/* The file's true size: from the complete file, the HEAD results remembered
 * on disk, or an HTTP HEAD (then remembered; a refused HEAD falls back to a
 * 1-byte ranged GET).  When the server tells no size at all, the file is
 * downloaded to learn it.  May use the network (bounded by the timeouts);
 * offline and unknown: -ENOENT. */
int hub_weight_size(uint64_t *out, struct hub_weight *f);

/* Read up to size bytes at off into buf, starting or joining the download
 * and waiting only for this range (all of it, short only at EOF).  Returns
 * the number of bytes (0 at EOF) or -errno: the download's error (above),
 * -EIO when the file failed verification, -ETIMEDOUT when no byte of the
 * file arrived for HUB_WEIGHTS_READ_STALL_S.  With verify=strict, waits
 * until the file is complete and verified.  Thread-safe. */
ssize_t hub_weight_read(char *buf, size_t size, off_t off, struct hub_weight *f);

/* 1 when the file is complete and verified in checkpoints/ (reads are then
 * plain file reads), 0 otherwise. */
int hub_weight_complete(struct hub_weight *f);

/* Downloads in flight and recent failures, for /.hubfs/downloads: one line
 * per file, "name done total rate_bytes_per_s url" (total 0 if unknown; also
 * for a download another process holds, as this one sees it), then
 * "failed name reason url" lines, reason one word: not-found, forbidden,
 * timeout, connection-refused, unreachable, tls-error, too-many-redirects,
 * offline, disk-full, changed-upstream, io-error, sha256-mismatch,
 * size-mismatch.  A later success of the name removes its failed line.
 * malloc'd, "" when idle; NULL on ENOMEM. */
char *hub_weights_status(struct hub_weights *w);

/* Timeouts and thresholds; defaults from fs/limits.h (HUB_WEIGHTS_*).  Tests
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
};
void hub_weights_tuning_default(struct hub_weights_tuning *out);
void hub_weights_set_tuning(const struct hub_weights_tuning *t);

#endif
