/*
 * Every limit of hubfs in one place, each with the reason for its value.
 * Options that a user may change (ref_ttl, neg_ttl) have their defaults here;
 * the rest are compile-time constants.  Those inside an #ifndef guard (name
 * lengths, option defaults, the analyser's, HTTP and weight limits) may be
 * overridden with -DNAME=VALUE, e.g. to try another value or to make a test
 * hit a bound sooner.  The others are fixed: they are behaviour stated in
 * docs/design.md (kernel TTLs, git timeouts, the remote retry period), bound
 * buffers and tables whose sizes other files assume (HUB_HOST_MAX,
 * HUB_URL_MAX, ...), or name files on disk (HUB_WEIGHTS_KEY_LEN); changing
 * one of them is a source edit, reviewed with its reason.
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
/* A cache repository with more packs than this is repacked into one
 * (fetch/repack.c, in the background after a fetch): each fetch adds a
 * pack, libgit2 keeps at most HUB_GIT_PACK_FILES_MAX of them open (it
 * closes and reopens the least recently used past that) and looks an object
 * up in every pack's index in turn.  A quarter of that cap keeps lookups
 * cheap; a shallow hub repository repacks in well under a second. */
#ifndef HUB_GIT_PACKS_MAX
#define HUB_GIT_PACKS_MAX 32
#endif
#if HUB_GIT_PACKS_MAX < 2 || HUB_GIT_PACKS_MAX > HUB_GIT_PACK_FILES_MAX
#error "HUB_GIT_PACKS_MAX must be 2..HUB_GIT_PACK_FILES_MAX"
#endif
/* Repositories waiting for the repack thread of one mount (cache/repack.c):
 * a fetch finding the queue full skips the check; the next fetch of that
 * repository queues it again. */
#define HUB_REPACK_QUEUE_MAX 64
/* The repack thread finding a repository's lock held (a fetch, a state.json
 * update: milliseconds, a fetch up to HUB_GIT_FETCH_MAX_SECONDS) tries again
 * every HUB_REPACK_RETRY_MS, HUB_REPACK_RETRIES times (10 s in all), then
 * leaves it to the next fetch's hand-over; waiting on the lock itself would
 * hold an unmount behind another daemon's fetch. */
#define HUB_REPACK_RETRY_MS 200
#define HUB_REPACK_RETRIES 50
/* Upper bound for one whole fetch, so a trickling server cannot hold a
 * lookup forever: a 1 GB pack at a slow 2 MB/s takes ~8 minutes. */
#define HUB_GIT_FETCH_MAX_SECONDS 900

/* Whether a commit is reachable from the upstream's branches and tags
 * (.hub/reachable, fetch/git_reach.c): one listing, one fetch of every
 * branch and tag's history (incremental after the first), one walk.  The
 * whole check is bounded by this; past it the verdict is "unknown timeout"
 * and the helper refuses the commit for code unless skip_validation. */
#ifndef HUB_REACH_MAX_SECONDS
#define HUB_REACH_MAX_SECONDS 300
#endif
#if HUB_REACH_MAX_SECONDS < 1 || HUB_REACH_MAX_SECONDS > HUB_GIT_FETCH_MAX_SECONDS
#error "HUB_REACH_MAX_SECONDS must be 1..HUB_GIT_FETCH_MAX_SECONDS"
#endif
/* Commits walked between two looks at the clock in that walk. */
#define HUB_REACH_WALK_CHECK 1024

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
/* Hash tables (base/htab.h) start with this many buckets and double as they
 * fill: enough for a few repositories' worth of nodes (or weight files)
 * without a resize;
 * the blob table stops doubling at HUB_BLOB_TABLE_MAX (the LRU bounds its
 * entries anyway: HUB_BLOB_CACHE_BYTES of blobs of at least one byte). */
#define HUB_NS_TABLE_INITIAL 1024
/* Listings of the root and owner directories kept so that the readdir
 * calls continuing one are served from the snapshot it started with
 * (fs/ns_list.c): this many listings in progress at once keep their
 * snapshot (finished ones give their slot first, then the least recently
 * continued); one that lost it goes on from the cache as it is, in
 * name-hash order (nothing present throughout is skipped or repeated).
 * Each holds one directory's names. */
#define HUB_NS_LIST_SNAPS 16
#define HUB_WEIGHTS_TABLE_INITIAL 64
#define HUB_BLOB_TABLE_INITIAL 256
#define HUB_BLOB_TABLE_MAX 65536
/* Blobs over a quarter of HUB_BLOB_CACHE_BYTES are inflated once into an
 * unlinked file under <root>/hubfs/tmp/ and mapped: reads of a 100 MiB file
 * are then served from that mapping (page cache, not the heap) instead of
 * inflating the whole blob again for every 128 KiB read (a 40 MiB file took
 * 15.7 s for its first 4 MiB).  At most this many are kept mapped; the
 * oldest is unmapped (its disk space freed) past it. */
#ifndef HUB_BLOB_STAGED_MAX
#define HUB_BLOB_STAGED_MAX 8
#endif
/* A readdir snapshot larger than this many entries is refused with EFBIG:
 * git trees of that size do not exist in practice. */
#define HUB_DIR_ENTRIES_MAX 1000000

/* Reads of the mount: the largest READ request (max_read) is the kernel's
 * max_pages (1 MiB) less 16 KiB, and never more than the system's largest
 * pipe (/proc/sys/fs/pipe-max-size, 1 MiB by default) less 16 KiB: a
 * reply is spliced through a pipe that libfuse 3.14 wants to hold the
 * reply plus three pages (its sizing heuristic), else it copies the reply
 * through a buffer (pread into malloc'd memory); and once a pipe could not
 * grow, every later large reply of that thread.  Measured with 1 MiB
 * requests: 7.5 s of CPU per GiB against 2.4 s at 768 KiB. The mount's readahead
 * (its bdi's read_ahead_kb, which INIT can only lower from the kernel's
 * 128 KiB; raised at the first request after INIT, as root) lets a
 * sequential reader have several such requests in flight: 128 KiB made
 * 8192 requests per GiB, each a hand-off between threads.  4 MiB stays
 * below HUB_WEIGHTS_FAR_BYTES, so the readahead of a reader at the
 * download's front never turns into far Range requests. */
#define HUB_FUSE_READ_MAX ((1u << 20) - (16u << 10))
#ifndef HUB_FUSE_READAHEAD_KB
#define HUB_FUSE_READAHEAD_KB 4096
#endif

/* FUSE worker threads: slow fetches park one thread each; this many can be
 * parked while other repos keep answering. */
#define HUB_FUSE_MAX_THREADS 64

/* Weight files whose discarded pages wait for the invalidation thread; a
 * verification failure is rare, and a name is queued once. */
#define HUB_INVAL_QUEUE_MAX 256
/* A mount checks this often whether the repositories it holds in memory
 * were forgotten or evicted under it (a stat of each directory), and tells
 * the kernel to drop the entries it handed out for them (fs/ops.c's
 * notifier): `ls` sees the change within about this long, not after the
 * day-long entry timeout of commit directories. */
#ifndef HUB_GONE_CHECK_S
#define HUB_GONE_CHECK_S 1
#endif
/* Repositories checked per pass and entries invalidated per pass: a pass
 * is one stat per repository (HUB_REPOS_MAX, plus pinned ones, at most)
 * and one walk of the node table when one changed; entries past the cap
 * wait for their kernel timeout. */
#ifndef HUB_GONE_REPOS_MAX
#define HUB_GONE_REPOS_MAX 512
#endif
#ifndef HUB_GONE_ENTRIES_MAX
#define HUB_GONE_ENTRIES_MAX 256
#endif

/* How long a FUSE request waits for the analysis of one commit (queue wait
 * included).  The analyser's own budget is HUB_PY_JOB_SECONDS (below);
 * this is larger so a job normally ends by itself with a partial answer. */
#define HUB_ANALYSIS_TIMEOUT_S 30.0

/* Config file and state files are small JSON; refuse anything huge. */
#define HUB_JSON_MAX (4u << 20)
/* Repositories kept in memory per mount (their odb handle, negative
 * entries) while nothing uses them; past it the least recently looked up
 * unused one is dropped (state.json and the objects stay on disk).  Made-up
 * repository names would otherwise add one each, for the mount's life. */
#ifndef HUB_REPOS_MAX
#define HUB_REPOS_MAX 256
#endif
/* Resolutions one repository's state.json keeps; past it the oldest are
 * dropped (a dropped one costs one ls-remote when asked again).  Anyone can
 * look up made-up refs and commit prefixes: without a cap the file grows
 * per distinct name until it passes HUB_JSON_MAX and the repository stops
 * resolving.  An entry is at most ~370 bytes (a 255-byte ref, the sha,
 * kind, time), so 4096 of them stay under 1.6 MiB. */
#ifndef HUB_STATE_REFS_MAX
#define HUB_STATE_REFS_MAX 4096
#endif
/* Names remembered as missing upstream per repository (each for neg_ttl);
 * past it the oldest are forgotten early (a forgotten one costs one
 * ls-remote when asked again). */
#ifndef HUB_NEG_MAX
#define HUB_NEG_MAX 1024
#endif
/* At most this many rewrite rules (command line plus config). */
#define HUB_REWRITE_MAX 64
/* At most this many token_host= hosts (command line plus config): a few
 * GitHub Enterprise or mirror hosts, not a list to manage. */
#define HUB_TOKEN_HOST_MAX 16
/* A host name (RFC 1035: 253 characters). */
#define HUB_HOST_MAX 253
/* URLs and paths built from templates.  The scanner lists no weight URL
 * this long or longer: cache/weights.c could not fetch it. */
#define HUB_URL_MAX 4096

/* ---- Entrypoint analysis (py/): the embedded interpreter and the scanner.
 * These are the only definition: py/pyrt.c hands every HUB_PY_* value the
 * scanner uses (and HUB_URL_MAX) to it once, at start (py/analysis/hubscan/
 * limits.py holds no value of its own); tests/analysis's in-process backend
 * reads them from this file. */

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
 * hub_py_analyze() (HUB_ANALYSIS_TIMEOUT_S) is separate and abandons the job
 * instead.  A backstop behind HUB_PY_STEPS_MAX: the largest real repository
 * measured (1511 entrypoints, 4.7 MB of source) takes ~6 s of CPU, and up
 * to 20 s of wall time on a 2-CPU machine under a load average of 10.
 * Below HUB_ANALYSIS_TIMEOUT_S, so that a slow job ends with its partial
 * result rather than being abandoned. */
#ifndef HUB_PY_JOB_SECONDS
#define HUB_PY_JOB_SECONDS 25.0
#endif

/* The analysis's step budget: statements, calls, decorators, imports,
 * parsed files and names evaluated (each a tick).  Unlike the time budget it
 * stops the same input at the same point on any machine, so a hostile
 * hubconf (recursion, loops of registrations) ends with the same partial
 * result everywhere.  The largest real repository measured needs ~253k. */
#ifndef HUB_PY_STEPS_MAX
#define HUB_PY_STEPS_MAX 2000000
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

/* Jobs the interpreter thread may run in a row without the cyclic
 * collection after each (py/pyrt.c, after_job): while others wait, the
 * collection (~1 s of CPU after the largest corpus repository) would
 * delay them; each job's garbage is bounded by HUB_PY_BYTES_MAX of source,
 * so this bounds what waits to be collected. */
#ifndef HUB_PY_GC_DEFER_JOBS
#define HUB_PY_GC_DEFER_JOBS 2
#endif

/* Address space the embedded interpreter's small-object arenas are carved
 * from at a time (py/pyrt_arena.c), aligned to 2 MiB and advised to use
 * transparent huge pages: one page fault maps 2 MiB instead of 4 KiB.  The
 * ~200 MB of ASTs of the largest corpus repository took 62k faults, 0.4 s
 * of system time in this project's VMs.  Reserved, not committed. */
#ifndef HUB_PY_ARENA_CHUNK
#define HUB_PY_ARENA_CHUNK (64u << 20)
#endif

/* Bytes of freed arenas kept resident for the next allocations (the next
 * job reuses them without faulting); the pages of arenas freed beyond this
 * go back to the OS (MADV_DONTNEED), so the daemon's resident size still
 * falls after a large job. */
#ifndef HUB_PY_ARENA_KEEP
#define HUB_PY_ARENA_KEEP (64u << 20)
#endif
/* Arena memory made resident ahead of an analysis when a commit whose
 * analysis is not on disk is opened (hub_py_warm, py/pyrt_arena.c): about
 * what the largest corpus repository's ASTs take (~200 MB for 5 MB of
 * source), whose parse it took from 1.25 to 0.73 s; a smaller repository
 * leaves the rest unused, given back HUB_PY_WARM_HOLD_S after the last
 * warm-up. */
#ifndef HUB_PY_WARM_BYTES
#define HUB_PY_WARM_BYTES (256u << 20)
#endif
/* While a job runs, its helper thread keeps this much arena memory
 * resident ahead of the job's allocations (py/pyrt_arena.c,
 * py_arena_ahead): the job allocates ~130 MB/s at most (the largest
 * corpus repository's ~200 MB of ASTs in ~1.5 s) and the helper writes
 * fresh memory at ~1 GB/s, so 64 MiB is never caught up with; 128 MiB
 * measured the same.  At most this much (plus a huge page) is left
 * unused at the job's end, given back HUB_PY_WARM_HOLD_S later. */
#ifndef HUB_PY_AHEAD_BYTES
#define HUB_PY_AHEAD_BYTES (64u << 20)
#endif
#ifndef HUB_PY_WARM_HOLD_S
#define HUB_PY_WARM_HOLD_S 30
#endif
/* Nice value of the interpreter thread while it warms: the lowest, so
 * that warming takes only CPU time nothing else wants (py/pyrt.c). */
#ifndef HUB_PY_WARM_NICE
#define HUB_PY_WARM_NICE 19
#endif
/* Warming stops between slices of this size as soon as a job comes: the
 * job waits for at most one slice (~8 ms at the ~1 GB/s of fresh memory). */
#ifndef HUB_PY_WARM_SLICE
#define HUB_PY_WARM_SLICE (8u << 20)
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

/* Nice value of the interpreter thread while CPython starts (py/pyrt.c):
 * low enough that the first lookups and reads of a fresh mount take the
 * CPUs first (measured: a cold file's first 4 KiB right after the mount,
 * median 4.3 ms at nice 0 on 2 CPUs), yet not idle-only. */
#ifndef HUB_PY_START_NICE
#define HUB_PY_START_NICE 10
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

/* A parsed file is kept between jobs only when its source is at most this
 * big (a quarter of HUB_PY_AST_CACHE_BYTES), so that one big module does
 * not push out all the others. */
#ifndef HUB_PY_AST_CACHE_FILE_MAX
#define HUB_PY_AST_CACHE_FILE_MAX (1u << 20)
#endif

/* Nesting of one expression the scanner evaluates (operands, attribute
 * chains, subscripts, arguments); deeper, the value is unknown ("expression
 * too deep").  Real code nests a few levels; this keeps the Python
 * recursion far below HUB_PY_RECURSION_LIMIT. */
#ifndef HUB_PY_EXPR_DEPTH
#define HUB_PY_EXPR_DEPTH 200
#endif

/* Evaluation depth (expression nesting plus calls through partial objects,
 * decorators and instances) past which a call's result is unknown ("calls
 * nested too deep"): a backstop behind HUB_PY_CALL_DEPTH for chains that
 * do not go through a function's return statements. */
#ifndef HUB_PY_CALL_NEST
#define HUB_PY_CALL_NEST 400
#endif

/* Base classes, metaclasses and wrappers followed in a chain for a class's
 * MRO, a docstring or a signature; deeper counts as unknown. */
#ifndef HUB_PY_CLASS_DEPTH
#define HUB_PY_CLASS_DEPTH 50
#endif

/* Wrappers unwrapped to find the definition whose weight URLs an
 * entrypoint lists (.hub/entrypoints/<name>/weights). */
#ifndef HUB_PY_WEIGHT_DEF_DEPTH
#define HUB_PY_WEIGHT_DEF_DEPTH 8
#endif

/* The constant evaluator (if tests, __all__, sys.path entries, displays,
 * str methods) computes values with the host's own operations, so each
 * input and result is bounded before it is built: a hostile hubconf must
 * not make the one analyser thread allocate or loop without end.  Beyond a
 * bound the expression is simply not constant.  Real hubconf constants are
 * far smaller. */
/* Nesting of a constant expression folded. */
#ifndef HUB_PY_CONST_DEPTH
#define HUB_PY_CONST_DEPTH 100
#endif
/* Nesting of a data value kept as a constant (tuples of lists of ...). */
#ifndef HUB_PY_CONST_NEST
#define HUB_PY_CONST_NEST 20
#endif
/* Elements of a container folded or kept (a display, `[x] * n`). */
#ifndef HUB_PY_CONST_ITEMS
#define HUB_PY_CONST_ITEMS 4096
#endif
/* Length of a str/bytes constant kept, concatenated, %-formatted, or used
 * as the base of a str method. */
#ifndef HUB_PY_CONST_STR
#define HUB_PY_CONST_STR (1u << 16)
#endif
/* Output of str.format/join/replace, estimated from the inputs before the
 * call. */
#ifndef HUB_PY_CONST_STR_OP
#define HUB_PY_CONST_STR_OP (1u << 20)
#endif
/* Length of a `%` format string folded. */
#ifndef HUB_PY_CONST_FORMAT_MAX
#define HUB_PY_CONST_FORMAT_MAX 4096
#endif
/* A format string holding a number of this many digits (a field width or
 * precision of 10000 or more) is not folded: the string it asks for would
 * be built before its length could be checked. */
#ifndef HUB_PY_CONST_FIELD_DIGITS
#define HUB_PY_CONST_FIELD_DIGITS 5
#endif
/* Operands of a folded numeric multiplication are below 2^this. */
#ifndef HUB_PY_CONST_MUL_BITS
#define HUB_PY_CONST_MUL_BITS 64
#endif

/* --- weights (cache/weights.c, fetch/http.c) --- */

/* HTTP connect timeout (TCP + TLS handshake): a slow handshake fits in 10 s,
 * a dead mirror fails fast (as HUB_GIT_CONNECT_TIMEOUT_MS). */
#ifndef HUB_HTTP_CONNECT_TIMEOUT_MS
#define HUB_HTTP_CONNECT_TIMEOUT_MS 10000
#endif
/* A transfer that receives no byte for this long is broken: it is aborted
 * and resumed (by Range) like a cut connection.  CDNs send continuously;
 * 30 s of silence is a dead connection, not a slow one. */
#ifndef HUB_HTTP_STALL_S
#define HUB_HTTP_STALL_S 30
#endif
/* libcurl's receive buffer: 512 KiB instead of its 16 KiB default doubles
 * loopback throughput (3.3 instead of 1.5 GB/s to /dev/null; docs/design.md,
 * "Measured facts of the machine"), and each sink call writes a bigger piece. */
#ifndef HUB_HTTP_BUFFER_SIZE
#define HUB_HTTP_BUFFER_SIZE (512u << 10)
#endif
/* Attempts of one request that bring no new byte (5xx, 429, cut or stalled
 * connections) before it fails; an attempt that brings bytes resets the
 * count, so a connection cut every few MB still completes.  With the backoff
 * below, a server answering 503 fails in 4 to 8 s, one that stalls in about
 * 5 x HUB_HTTP_STALL_S. */
#ifndef HUB_HTTP_RETRIES
#define HUB_HTTP_RETRIES 5
#endif
/* Exponential backoff between attempts: base * 2^n with full jitter in
 * [1/2, 1], capped.  Jitter spreads the retries of many clients. */
#ifndef HUB_HTTP_BACKOFF_BASE_MS
#define HUB_HTTP_BACKOFF_BASE_MS 500
#endif
#ifndef HUB_HTTP_BACKOFF_MAX_MS
#define HUB_HTTP_BACKOFF_MAX_MS 8000
#endif
/* Retry-After (429, 503) is honoured up to this many seconds; a server
 * asking for longer is treated as failed (the reader would wait anyway). */
#ifndef HUB_HTTP_RETRY_AFTER_MAX_S
#define HUB_HTTP_RETRY_AFTER_MAX_S 60
#endif
/* Redirects followed (GitHub releases -> objects CDN, HF -> cdn-lfs take
 * one or two). */
#ifndef HUB_HTTP_MAX_REDIRS
#define HUB_HTTP_MAX_REDIRS 10
#endif
/* Response headers kept (ETag, Content-Range ...) are cut at this length;
 * real ETags are under 100 bytes. */
#ifndef HUB_HTTP_HEADER_MAX
#define HUB_HTTP_HEADER_MAX 256
#endif
/* Idle easy handles (each keeps its connections for reuse) one client keeps:
 * one sequential download plus a few ranged reads per file in flight. */
/* Proxies whose address the weight downloads' address policy trusts:
 * proxy= alone, else the environment's http_proxy, https_proxy,
 * HTTPS_PROXY, all_proxy and ALL_PROXY (fetch/http.h). */
/* `hubfs cache verify` reads a weight file in chunks of this size: large
 * enough for OpenSSL's sha256 to run at full speed, small for the stack of
 * a CLI (heap-allocated anyway). */
#ifndef HUB_VERIFY_CHUNK
#define HUB_VERIFY_CHUNK (1u << 20)
#endif

#ifndef HUB_HTTP_PROXY_MAX
#define HUB_HTTP_PROXY_MAX 5
#endif

#ifndef HUB_HTTP_POOL_MAX
#define HUB_HTTP_POOL_MAX 8
#endif

/* A read whose range starts more than this beyond where the sequential
 * download is fetches its own range instead of waiting: at 100 MB/s the
 * download reaches 8 MiB ahead in under 0.1 s, a new request costs a round
 * trip. */
#ifndef HUB_WEIGHTS_FAR_BYTES
#define HUB_WEIGHTS_FAR_BYTES (8u << 20)
#endif
/* The lookup of a weight file learns its size with a GET of its first
 * bytes (Range: bytes=0-(this - 1); Content-Range or, from a server that
 * answers 200, Content-Length give the size), not a HEAD: those bytes go
 * into N.part, so the first read of a cold file is served from disk without
 * a second round trip (a HEAD and then the download's GET cost the first
 * 4 KiB about 7 ms against curl's 1).  16 KiB: what the kernel's first
 * READ of a small read at offset 0 asks (its initial readahead window is
 * four pages), and no later first byte than a 4 KiB range (measured on
 * loopback nginx, cold: 4 KiB 1.06 ms, 16 KiB 1.1 ms, 64 KiB 1.45 ms: the
 * server sends the range at once); also all that `ls -l` of many files
 * costs (no download starts at a lookup).  0: a HEAD, as before. */
#ifndef HUB_WEIGHTS_HEAD_BYTES
#define HUB_WEIGHTS_HEAD_BYTES (16u << 10)
#endif
/* Size of a far read's Range request: the first is 1 MiB; a far read right
 * after the previous one's end (a sequential reader ahead of the download)
 * doubles it, up to the max, so it streams instead of paying a round trip
 * per MiB. */
#ifndef HUB_WEIGHTS_RANGE_MIN
#define HUB_WEIGHTS_RANGE_MIN (1u << 20)
#endif
#ifndef HUB_WEIGHTS_RANGE_MAX
#define HUB_WEIGHTS_RANGE_MAX (32u << 20)
#endif
/* A read waiting for its range fails with ETIMEDOUT when no byte of the
 * file arrived for this long: longer than a download stalling through all
 * its retries (5 x 30 s + backoff), so readers see the download's own error
 * rather than abandoning it while it retries. */
#ifndef HUB_WEIGHTS_READ_STALL_S
#define HUB_WEIGHTS_READ_STALL_S 180
#endif
/* Downloads running at once per mount (one thread each): reading many
 * weight files at once (a script, a user with /.hubfs/url/) queues the rest
 * instead of starting a thread and a connection per file; a queued read
 * waits (without timing out) until one ends or stops idle.  Far reads are
 * made by the reading FUSE thread itself, bounded by HUB_FUSE_MAX_THREADS. */
#ifndef HUB_WEIGHTS_DL_MAX
#define HUB_WEIGHTS_DL_MAX 8
#endif
/* A download no reader has asked anything of for this long stops (its
 * bytes recorded) and resumes at the next read, unless fewer than
 * HUB_WEIGHTS_IDLE_FINISH bytes are missing: then it finishes, so a file
 * read almost to its end is complete when the reader comes back. */
#ifndef HUB_WEIGHTS_IDLE_S
#define HUB_WEIGHTS_IDLE_S 30.0
#endif
#ifndef HUB_WEIGHTS_IDLE_FINISH
#define HUB_WEIGHTS_IDLE_FINISH (32u << 20)
#endif
/* The record of present ranges is rewritten (after fdatasync of the data)
 * at most this often while downloading: what a kill -9 or power loss costs
 * to download again, against 2 fsyncs per update. */
#ifndef HUB_WEIGHTS_RECORD_S
#define HUB_WEIGHTS_RECORD_S 2.0
#endif
/* Drop-behind of a file being downloaded (cache/weights.c): a reader's
 * bytes are in the kernel's page cache twice, in the cache file's pages
 * and in the mounted file's.  After each read served from a file still
 * downloading, the writeback of the cache file's pages
 * HUB_WEIGHTS_WRITEBACK_LAG behind it is started, and its clean pages
 * HUB_WEIGHTS_DROP_LAG behind it are dropped, so a cold read touches the
 * memory of one copy, not two: in this project's VMs fresh memory is
 * what a cold read costs most (docs/design.md), measured 1 GiB cold read
 * 3.35-4.18 s without, 1.92-2.15 s with (curl -o FILE 1.98-2.59 s in the
 * same rounds).  A drop lag of 64 MiB measured 2.30-2.44 s; 32 MiB is far
 * enough behind a sequential reader (the kernel's readahead is a few MiB)
 * that its next reads never find the pages gone. */
#ifndef HUB_WEIGHTS_WRITEBACK_LAG
#define HUB_WEIGHTS_WRITEBACK_LAG (8u << 20)
#endif
#ifndef HUB_WEIGHTS_DROP_LAG
#define HUB_WEIGHTS_DROP_LAG (32u << 20)
#endif
/* A process waiting for another process's download (flock held there)
 * re-reads the range record this often. */
#ifndef HUB_WEIGHTS_POLL_MS
#define HUB_WEIGHTS_POLL_MS 50
#endif
/* Ranges kept in one record; beyond it the smallest are forgotten (those
 * bytes are downloaded again).  Random reads of a 1 GB file at 1 MiB each
 * stay far below. */
#ifndef HUB_WEIGHTS_RANGES_MAX
#define HUB_WEIGHTS_RANGES_MAX 4096
#endif
/* After a transient failure (network, 5xx, timeout) reads of that file fail
 * at once for this long instead of each paying the timeouts again (as
 * HUB_REMOTE_RETRY_SECONDS). */
#ifndef HUB_WEIGHTS_RETRY_S
#define HUB_WEIGHTS_RETRY_S 10.0
#endif
/* A file that failed verification (sha256 or size) is not downloaded again
 * for this long, by this or any process on the cache root (remembered in its
 * sidecar): reads fail with EIO.  An hour, so a fixed upstream file is
 * picked up without deleting cache files by hand. */
#ifndef HUB_WEIGHTS_BAD_TTL_S
#define HUB_WEIGHTS_BAD_TTL_S 3600.0
#endif
/* Hex digits of sha256(URL) naming a weight file in the store (hubfs/weights/):
 * 128 bits, so distinct URLs never share a file by accident, and names stay
 * short enough for their sidecars' suffixes.  Not an override: it names files
 * on disk. */
#define HUB_WEIGHTS_KEY_LEN 32
/* Weight files (one per distinct URL looked up) kept in memory while
 * nothing uses them: no handle or node holds one, no download or record
 * write runs.  Past it the least recently looked up unused ones are dropped
 * (down to three quarters of it; what is on disk stays there and is read
 * again at the next lookup).  Made-up URLs under /.hubfs/url/ would
 * otherwise add one entry each, for the mount's life. */
#ifndef HUB_WEIGHTS_FILES_MAX
#define HUB_WEIGHTS_FILES_MAX 256
#endif
/* Failed downloads listed in /.hubfs/downloads. */
#ifndef HUB_WEIGHTS_FAILED_MAX
#define HUB_WEIGHTS_FAILED_MAX 32
#endif
/* Page-aligned buffer of the sha256 thread, which reads the file back
 * from the page cache behind the download. */
#ifndef HUB_WEIGHTS_IO_BUFFER
#define HUB_WEIGHTS_IO_BUFFER (1u << 20)
#endif
/* The download's sha256 runs on a second thread (cache/weights_hash.c),
 * fed from a ring of this many buffers of HUB_WEIGHTS_HASH_BUF bytes each:
 * the downloader copies what it writes into the ring, the hasher hashes a
 * full buffer while the downloader fills the next, and the downloader
 * waits for a free buffer when the hasher is behind (so memory stays at
 * 4 x 512 KiB = 2 MiB per download, 16 MiB at HUB_WEIGHTS_DL_MAX; a hash
 * serial with the writes cost a cold 1 GiB read 10-13 %). */
#ifndef HUB_WEIGHTS_HASH_BUFS
#define HUB_WEIGHTS_HASH_BUFS 4
#endif
#ifndef HUB_WEIGHTS_HASH_BUF
#define HUB_WEIGHTS_HASH_BUF (512u << 10)
#endif
/* Sidecar files (HEAD results) and range records are small text. */
#ifndef HUB_WEIGHTS_META_MAX
#define HUB_WEIGHTS_META_MAX (1u << 20)
#endif

/* --- end weights --- */

/* --- the cache quota (cache/quota.c, issue 16) --- */

/* cache_max: an eviction round that finds the root over the quota removes
 * weight files down to this percentage of it (the low-water mark), so the
 * next few downloads do not start a round each. */
#ifndef HUB_QUOTA_LOW_PCT
#define HUB_QUOTA_LOW_PCT 90
#endif
/* A mounted daemon checks the root against cache_max this often (a scan of
 * the store's directory and the repositories' sizes: milliseconds for
 * hundreds of files). */
#ifndef HUB_QUOTA_CHECK_S
#define HUB_QUOTA_CHECK_S 5.0
#endif
/* A partial download (<key>.part) whose lock no downloader holds and whose
 * files nobody touched for this long is abandoned (a killed daemon's, a
 * reader that went away): the quota's round removes it first.  Far above
 * HUB_WEIGHTS_IDLE_S (30 s, when an unread download pauses): a paused
 * download a loader comes back to within the hour resumes. */
#ifndef HUB_QUOTA_PART_IDLE_S
#define HUB_QUOTA_PART_IDLE_S 3600.0
#endif
/* A complete weight file is pinned (a shared flock on its .data held by the
 * daemon that serves it) while it is read and this long after its last
 * read: OPEN answers ENOSYS, so the daemon never sees opens and closes, and
 * a loader pausing between tensors must not lose its file. */
#ifndef HUB_WEIGHTS_PIN_S
#define HUB_WEIGHTS_PIN_S 30.0
#endif
/* Last use of a weight file is recorded as its .data's access time
 * (futimens), at most this often per file and process: a read of a hot
 * file costs no system call, and LRU order needs no finer clock. */
/* Pins kept past their weight file's table entry (dropped at the table's
 * cap or at the last reference: cache/weights_record.c, hw_pin_keep) until
 * pin_s after the last read: one descriptor each.  More than this were read
 * within one pin_s only by a scan of many files; the pin expiring first
 * goes then. */
#ifndef HUB_WEIGHTS_PINS_MAX
#define HUB_WEIGHTS_PINS_MAX 1024
#endif
#ifndef HUB_WEIGHTS_USE_RECORD_S
#define HUB_WEIGHTS_USE_RECORD_S 60
#endif
/* A repository is pinned (a shared flock on <repo>/use held by each daemon
 * that uses it: cache/repo.h, hub_repo_touch) while a mounted path under
 * one of its commits is looked up, listed or read, and this long after:
 * the kernel caches a commit's entries and pages, so a long job may not
 * ask the daemon for minutes; longer than the weights' pin because a
 * repository is cheap to keep and a re-fetch costs a round trip upstream. */
#ifndef HUB_REPO_PIN_S
#define HUB_REPO_PIN_S 300.0
#endif
/* Last use of a repository is the use file's modification time, written
 * (futimens) at most this often per repository and process. */
#ifndef HUB_REPO_USE_RECORD_S
#define HUB_REPO_USE_RECORD_S 10
#endif
/* hub_repo_touch checks at most this often that the pinned use file is
 * still the one under the repository's path (a forget or an eviction
 * renames the directory away). */
#ifndef HUB_REPO_PIN_CHECK_S
#define HUB_REPO_PIN_CHECK_S 1.0
#endif
/* Tries at pinning a repository whose directory is being replaced
 * (evicted and re-created by another process) before giving up: the pin
 * is advisory, a failure only logs. */
#ifndef HUB_REPO_PIN_TRIES
#define HUB_REPO_PIN_TRIES 4
#endif

#endif
