/*
 * Every limit of hubfs in one place, each with the reason for its value.
 * Options that a user may change (ref_ttl, neg_ttl) have their defaults here;
 * the rest are compile-time and may be overridden with -DNAME=VALUE.
 */
#ifndef HUB_LIMITS_H
#define HUB_LIMITS_H

/* GitHub: owner names are at most 39 characters, repository names 100. */
#ifndef HUB_OWNER_MAX
#define HUB_OWNER_MAX 39
#endif
#ifndef HUB_REPO_MAX
#define HUB_REPO_MAX 100
#endif
/* git refuses refs longer than the path limit; 255 is a file name's limit and
 * each ref is one component of a mount path, so a longer ref could not be named. */
#ifndef HUB_REF_MAX
#define HUB_REF_MAX 255
#endif
/* An abbreviated commit id must have at least 7 hex digits (git's default). */
#ifndef HUB_SHA_MIN
#define HUB_SHA_MIN 7
#endif

/* Default seconds a branch resolution is trusted before the remote is asked
 * again: short enough that a push is seen within a minute, long enough that a
 * tight loop of `ls` does not hit the remote. */
#ifndef HUB_REF_TTL_DEFAULT
#define HUB_REF_TTL_DEFAULT 60
#endif
/* Default seconds a "does not exist upstream" answer is remembered: file
 * managers probe the same missing names repeatedly. */
#ifndef HUB_NEG_TTL_DEFAULT
#define HUB_NEG_TTL_DEFAULT 30
#endif

/* Kernel caching.  Commit trees are immutable: a day is as good as forever
 * and still lets a remount with other options refresh the kernel state. */
#define HUB_TTL_IMMUTABLE 86400.0
/* Ref symlinks may move: they are looked up again after a second, and the
 * daemon applies ref_ttl itself, so the kernel must not hold them long. */
#define HUB_TTL_REF 1.0
/* The root and owner directories change when repos enter the cache, from
 * this mount or another one on the same cache root: their attributes are
 * never cached, so `ls` right after a lookup shows it (the kernel checks
 * the directory's mtime before using its cached listing).  The mount has
 * no default_permissions, so path walks do not need these attributes. */
#define HUB_TTL_OWNER_ATTR 0.0
/* Negative lookups of names that cannot exist (bad owner/repo syntax). */
#define HUB_TTL_NEG_INVALID 3600.0

/* Network: libgit2's connect timeout and per-read timeout (ms).  A GitHub
 * clone that sends nothing for 30 s is dead; 10 s covers a slow TCP+TLS. */
#define HUB_GIT_CONNECT_TIMEOUT_MS 10000
#define HUB_GIT_IO_TIMEOUT_MS 30000
/* Pack files libgit2 keeps open at once (it has no limit by default): every
 * fetch adds a pack, and this machine caps open files at 20,000. */
#define HUB_GIT_PACK_FILES_MAX 128
/* Upper bound for one whole fetch, so a trickling server cannot hold a
 * lookup forever: a 1 GB pack at a slow 2 MB/s takes ~8 minutes. */
#define HUB_GIT_FETCH_MAX_SECONDS 900

/* After a transient failure (network down, 5xx, timeout) the remote is not
 * asked again for this long; cached resolutions are served meanwhile, so a
 * dead mirror costs one timeout per repo per period, not one per lookup. */
#define HUB_REMOTE_RETRY_SECONDS 10

/* Total bytes of blob contents kept in memory between reads (LRU): a file
 * is read in 128 KiB requests, and inflating it from the pack once per
 * request would be quadratic.  Blobs over a quarter of this are not kept
 * (each reader holds its own copy while it reads).  Once read, files are
 * served from the kernel's page cache. */
#define HUB_BLOB_CACHE_BYTES (128u << 20)
/* A readdir snapshot larger than this many entries is refused with EFBIG:
 * git trees of that size do not exist in practice. */
#define HUB_DIR_ENTRIES_MAX 1000000

/* FUSE worker threads: slow fetches park one thread each; this many can be
 * parked while other repos keep answering. */
#define HUB_FUSE_MAX_THREADS 64

/* How long a FUSE request waits for the analysis of one commit (queue wait
 * included).  The analyser's own budget is HUB_PY_JOB_SECONDS (below);
 * this is larger so a job normally ends by itself with a partial answer. */
#define HUB_ANALYSIS_TIMEOUT_S 30.0

/* Config file and state files are small JSON; refuse anything huge. */
#define HUB_JSON_MAX (4u << 20)
/* At most this many rewrite rules (command line plus config). */
#define HUB_REWRITE_MAX 64
/* URLs and paths built from templates. */
#define HUB_URL_MAX 4096

/* ---- Entrypoint analysis (py/): the embedded interpreter and the scanner.
 * The scanner receives these per job, so this is their only definition. */

/* Bytes of one Python source file that is parsed (hubconf.py, a repository
 * module or an installed package's module).  Real hubconf.py files are under
 * 50 KB and the largest module torch ships is 875 KB.  ast.parse runs at
 * about 0.7 MB/s here and cannot be interrupted, so this also bounds the
 * longest step of a job that cancellation cannot cut short (~1.5 s). */
#ifndef HUB_PY_SOURCE_MAX
#define HUB_PY_SOURCE_MAX (1u << 20)
#endif

/* Bracket nesting checked by a regex scan before ast.parse.  CPython's
 * tokenizer refuses 200 levels itself; 100 is far beyond real code and
 * keeps the parser's recursion (C stack) small. */
#ifndef HUB_PY_DEPTH_MAX
#define HUB_PY_DEPTH_MAX 100
#endif

/* Entrypoints reported for one commit.  torchvision, the largest hub repo,
 * publishes ~150; each one becomes a directory, so a hostile hubconf.py must
 * not create millions of inodes. */
#ifndef HUB_PY_ENTRYPOINTS_MAX
#define HUB_PY_ENTRYPOINTS_MAX 10000
#endif

/* Source modules parsed in one analysis (repository plus installed ones
 * needed to resolve names).  Resolving torchvision's hubconf reads ~120. */
#ifndef HUB_PY_MODULES_MAX
#define HUB_PY_MODULES_MAX 1000
#endif

/* Source bytes parsed in one analysis: bounds a job's memory (an AST takes
 * ~27x its source, so ~220 MB at most).  Resolving torchvision's own hubconf
 * parses ~2.6 MB. */
#ifndef HUB_PY_BYTES_MAX
#define HUB_PY_BYTES_MAX (8u << 20)
#endif

/* Lines of .hub/errors: beyond this one summary line says how many more. */
#ifndef HUB_PY_ERRORS_MAX
#define HUB_PY_ERRORS_MAX 200
#endif

/* Nested decorator / call-return analysis (decorator factories wrap a few
 * levels deep; torchvision needs 4). */
#ifndef HUB_PY_CALL_DEPTH
#define HUB_PY_CALL_DEPTH 12
#endif

/* The analysis's own time budget (seconds): past it the job stops and
 * reports what it has, with an errors line.  The caller's timeout of
 * hub_py_analyze() is separate and abandons the job instead. */
#ifndef HUB_PY_JOB_SECONDS
#define HUB_PY_JOB_SECONDS 10.0
#endif

/* Source bytes whose parsed AST is kept between jobs (LRU).  An AST takes
 * ~27x its source in memory (measured on torchvision), so this is ~110 MB.
 * Resolving torchvision's hubconf touches ~2.6 MB of source (torch and
 * torchvision modules); keeping them makes a warm analysis ~10x faster.
 * Installed modules are keyed by path and stat, repository files by content
 * hash, so commits of one repository share their unchanged files. */
#ifndef HUB_PY_AST_CACHE_BYTES
#define HUB_PY_AST_CACHE_BYTES (4u << 20)
#endif

/* Jobs waiting for the interpreter thread; beyond that callers get EAGAIN
 * at once instead of piling up FUSE worker threads (HUB_FUSE_MAX_THREADS). */
#ifndef HUB_PY_QUEUE_MAX
#define HUB_PY_QUEUE_MAX 64
#endif

/* Stack of the interpreter thread.  ast.parse and AST construction recurse
 * in C; CPython's own recursion checks assume a main-thread-sized stack.
 * Only touched pages are committed. */
#ifndef HUB_PY_STACK_SIZE
#define HUB_PY_STACK_SIZE (64u << 20)
#endif

/* sys.setrecursionlimit on the interpreter thread: enough for long
 * re-export chains, safe with HUB_PY_STACK_SIZE. */
#ifndef HUB_PY_RECURSION_LIMIT
#define HUB_PY_RECURSION_LIMIT 10000
#endif

/* Names one list_dir callback may return to Python. */
#ifndef HUB_PY_DIR_NAMES_MAX
#define HUB_PY_DIR_NAMES_MAX 1000000
#endif

#endif
