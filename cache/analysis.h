/*
 * Entrypoint analysis results, per commit: run the embedded analyser
 * (py/pyrt.h) over a commit's tree once, keep the JSON result on disk at
 * <root>/hubfs/analysis/<sha>.<version>.json (a commit never changes, so it
 * never expires; the version, hub_py_analysis_version(), changes with the
 * analyser and its limits).
 */
#ifndef HUB_CACHE_ANALYSIS_H
#define HUB_CACHE_ANALYSIS_H

#include <stdbool.h>

struct hub_cache;
struct hub_repo;
struct hub_oid;
struct hub_py;

/* The analysis JSON of commit sha (root tree `tree`), from disk or computed.
 * *out_persisted tells whether it is the lasting answer (false when the
 * analyser could not run: queue full, timeout; a later call tries again).
 * On failure to analyse at all, a JSON with an "errors" line is still
 * returned.  0 or -ENOMEM. */
int hub_analysis_get(char **out_json, bool *out_persisted, struct hub_cache *c, struct hub_py *py,
		     struct hub_repo *r, const char *sha, const struct hub_oid *tree);

/* Commit sha is being opened: unless its analysis is on disk, the
 * analyser is told one may follow (hub_py_warm), so that it gets ready
 * before it is asked.  Cheap (a stat); py may be NULL. */
void hub_analysis_prepare(struct hub_cache *c, struct hub_py *py, const char *sha);

/* Whether an analyser result is the commit's lasting answer: false when it
 * was cut by a wall-clock limit (its top-level "cut" is "time", or an
 * errors line says "(time budget)"): that depends on the machine's load at
 * that moment, so it is served but not stored, and a later analysis (the
 * next mount, or the next time the commit's view is built) tries again.  A
 * result cut by a step budget ("cut": "steps") is deterministic and final,
 * as is a complete one. */
bool hub_analysis_is_final(const char *json);

#endif
