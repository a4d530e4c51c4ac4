/*
 * Limits of the entrypoint analysis (py/), each with its reason.  Kept here
 * until they are moved into fs/limits.h; every one may be overridden with
 * -DNAME=VALUE.  The Python scanner receives them per job (see pyrt.c), so
 * this file is their only definition.
 */
#ifndef HUB_PY_LIMITS_H
#define HUB_PY_LIMITS_H

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
