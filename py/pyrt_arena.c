/*
 * pyrt_arena: the arenas of CPython's small-object allocator (pymalloc),
 * on transparent huge pages.
 *
 * DESIGN
 *   pymalloc takes its memory from the OS one arena at a time (1 MiB in
 *   CPython 3.11), by mmap, and gives an arena back by munmap once it is
 *   empty.  Nearly all of an analysis's memory is there: the AST nodes of
 *   the parsed sources and their attribute dicts, ~35x the source bytes
 *   (~200 MB for the largest corpus repository).  Each 4 KiB page of it
 *   costs a page fault at first touch; in this project's virtual machines
 *   that is ~7 us, measured: 62k faults, 0.4-0.45 s of system time of the
 *   ~2.2 s analysis of that repository.
 *
 *   This file replaces the arena allocator (PyObject_SetArenaAllocator,
 *   set by interp_start() right after Py_InitializeFromConfig): arenas are
 *   carved from chunks of HUB_PY_ARENA_CHUNK bytes of address space,
 *   aligned to 2 MiB and madvise(MADV_HUGEPAGE)d, so that with the
 *   kernel's transparent huge pages in "madvise" mode (the Debian default)
 *   one fault maps 2 MiB.  A freed arena goes on a free list and is handed
 *   out again before the chunk is carved further; beyond HUB_PY_ARENA_KEEP
 *   bytes of free arenas, the pages of further freed ones are given back
 *   (MADV_DONTNEED: the address space stays ours, the memory goes back to
 *   the OS), so the resident size still falls when pymalloc frees arenas.
 *   Without transparent huge pages (madvise fails, or the mode is "never")
 *   this is the default allocator with a free list.  An arena this file did
 *   not hand out (those CPython allocated while it started, before this
 *   allocator was set) is unmapped as the default allocator would.
 *
 *   Warming (py_arena_warm, py_arena_cool).  What makes that memory
 *   costly here is less the faults than the first touch itself: the
 *   kernel zeroes each fresh page, and in this project's virtual machines
 *   memory the guest has not used for a while costs far more to touch
 *   than memory in use (measured on the largest corpus repository through
 *   the mount: ast.parse of its sources 1.25 s on fresh memory, 0.73 s on
 *   memory made resident before).  So when an analysis is likely to come
 *   (fs/ asks, through hub_py_warm(), when it opens a commit whose
 *   analysis is not on disk) the idle interpreter thread, at the lowest
 *   priority (py/pyrt.c), makes HUB_PY_WARM_BYTES of arena memory
 *   resident ahead (a write per page; see populate()): the rest of the
 *   current chunk, then spare chunks that chunk_new() hands out before
 *   mapping new ones.  Free arenas kept
 *   resident count towards it.  What no job has used HUB_PY_WARM_HOLD_S
 *   after the last warm-up goes back to the OS (py_arena_cool).
 *
 *   Ahead of a running job (py_arena_ahead).  Warming needs a moment
 *   between the commit's opening and its analysis; a listing that comes
 *   at once finds nothing warmed.  So while a job runs, a helper thread
 *   (py/pyrt.c starts one per job) writes the pages the job is about to
 *   use on the other CPU, staying HUB_PY_AHEAD_BYTES ahead of the arenas
 *   handed out: the rest of the current chunk, then spare chunks, one
 *   huge page at a time.  The page being written is fenced off
 *   ([busy_lo, busy_hi)): arena_alloc waits on arena_cv rather than carve
 *   into it, so the helper never writes memory an arena was carved from.
 *   Page writes, not MADV_POPULATE_WRITE: an earlier trial of that (8 MiB
 *   ahead) had bimodal runs a second slower, and it holds the mmap lock.
 *
 * LOCKING
 *   pymalloc calls these with the GIL held, on the interpreter thread; a
 *   mutex of its own (arena_mu, a leaf) guards the chunk, the free list,
 *   the spares and the fence all the same, and arena_cv (with arena_mu)
 *   wakes the helper at each arena handed out and the allocator when a
 *   fenced page is done.  py_arena_warm and py_arena_cool run only while
 *   no job (so no helper) runs.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include "base/limits.h"
#include "py/pyrt_int.h"

/* A transparent huge page on x86-64 (a PMD).  Elsewhere only the alignment
 * is off: madvise still applies, and the kernel maps what it can. */
#define HUGE_PAGE (2u << 20)

struct free_arena {
	void *p;
	size_t size;
	bool resident; /* its pages were not given back */
};

static pthread_mutex_t arena_mu = PTHREAD_MUTEX_INITIALIZER;
/* all (arena_mu) */
static uintptr_t chunk_next, chunk_end;      /* the part of the current chunk not carved yet */
static struct free_arena *free_list;         /* freed arenas, reused last in first out */
static size_t free_n, free_cap, free_resident; /* free_resident: bytes of resident free arenas */
static uintptr_t *chunks;                     /* start of every chunk (to recognise our arenas) */
static size_t chunks_n, chunks_cap;
static uintptr_t warm_end;                    /* the current chunk is resident below this */
/* [busy_lo, busy_hi): the huge page the helper of a running job
 * (py_arena_ahead) is writing, in the current chunk or in a spare that
 * chunk_new may make current meanwhile; arena_alloc does not carve into
 * it until it is done (arena_cv). */
static uintptr_t busy_lo, busy_hi;
static pthread_cond_t arena_cv = PTHREAD_COND_INITIALIZER; /* busy range done; a carve */
struct spare {
	uintptr_t base;
	size_t resident; /* bytes from base made resident (less when cut short) */
};
static struct spare *spares;                  /* chunks made resident ahead, handed out first */
static size_t spares_n, spares_cap;

static bool ours(uintptr_t p)
{
	for (size_t i = 0; i < chunks_n; i++)
		if (p >= chunks[i] && p < chunks[i] + HUB_PY_ARENA_CHUNK)
			return true;
	return false;
}

/* Map a chunk, 2 MiB aligned, advised to use huge pages, and list it in
 * chunks.  0 or -ENOMEM.  arena_mu held. */
static int chunk_map(uintptr_t *out)
{
	if (chunks_n == chunks_cap) {
		size_t cap = chunks_cap ? 2 * chunks_cap : 16;
		uintptr_t *n = realloc(chunks, cap * sizeof(*n));
		if (!n)
			return -ENOMEM;
		chunks = n;
		chunks_cap = cap;
	}
	size_t len = (size_t)HUB_PY_ARENA_CHUNK + HUGE_PAGE;
	void *m = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (m == MAP_FAILED)
		return -ENOMEM;
	uintptr_t base = ((uintptr_t)m + HUGE_PAGE - 1) & ~(uintptr_t)(HUGE_PAGE - 1);
	if (base > (uintptr_t)m)
		munmap(m, base - (uintptr_t)m);
	uintptr_t end = base + HUB_PY_ARENA_CHUNK;
	if ((uintptr_t)m + len > end)
		munmap((void *)end, (uintptr_t)m + len - end);
	(void)madvise((void *)base, HUB_PY_ARENA_CHUNK, MADV_HUGEPAGE); /* EINVAL without THP: fine */
	chunks[chunks_n++] = base;
	*out = base;
	return 0;
}

/* The next chunk to carve: a spare made resident ahead, else a new one.
 * 0 or -ENOMEM.  arena_mu held. */
static int chunk_new(void)
{
	uintptr_t base;
	if (spares_n > 0) {
		spares_n--;
		base = spares[spares_n].base;
		warm_end = base + spares[spares_n].resident;
	} else if (chunk_map(&base)) {
		return -ENOMEM;
	} else {
		warm_end = 0; /* nothing of it is resident yet */
	}
	chunk_next = base;
	chunk_end = base + HUB_PY_ARENA_CHUNK;
	return 0;
}

static void *arena_alloc(void *ctx, size_t size)
{
	(void)ctx;
	void *p = NULL;
	if (size == 0 || size > HUB_PY_ARENA_CHUNK)
		return NULL;
	pthread_mutex_lock(&arena_mu);
	for (size_t i = free_n; i-- > 0;) {
		if (free_list[i].size != size)
			continue;
		p = free_list[i].p;
		if (free_list[i].resident)
			free_resident -= size;
		free_list[i] = free_list[--free_n];
		break;
	}
	if (!p && (chunk_end - chunk_next >= size || chunk_new() == 0)) {
		/* the helper is making this range resident: wait for its slice */
		while (busy_hi && chunk_next < busy_hi && chunk_next + size > busy_lo)
			pthread_cond_wait(&arena_cv, &arena_mu);
		p = (void *)chunk_next;
		chunk_next += size;
	}
	if (p)
		pthread_cond_broadcast(&arena_cv); /* a helper keeps its lead */
	pthread_mutex_unlock(&arena_mu);
	return p;
}

static void arena_free(void *ctx, void *p, size_t size)
{
	(void)ctx;
	pthread_mutex_lock(&arena_mu);
	if (!ours((uintptr_t)p)) {
		pthread_mutex_unlock(&arena_mu);
		munmap(p, size);
		return;
	}
	if (free_n == free_cap) {
		size_t cap = free_cap ? 2 * free_cap : 64;
		struct free_arena *n = realloc(free_list, cap * sizeof(*n));
		if (!n) { /* cannot list it: its pages go back, its address space is lost */
			pthread_mutex_unlock(&arena_mu);
			(void)madvise(p, size, MADV_DONTNEED);
			return;
		}
		free_list = n;
		free_cap = cap;
	}
	bool keep = free_resident + size <= HUB_PY_ARENA_KEEP;
	if (keep)
		free_resident += size;
	else
		(void)madvise(p, size, MADV_DONTNEED);
	free_list[free_n++] = (struct free_arena){p, size, keep};
	pthread_mutex_unlock(&arena_mu);
}

/* Make [p, p + len) resident by writing a zero byte to each page (fresh
 * anonymous memory holds zeroes already; nobody else uses the range).
 * Not MADV_POPULATE_WRITE: it holds the process's mmap lock for the whole
 * range, and the daemon's other threads map and unmap (libgit2's pack
 * windows, large buffers) while a fetch runs: measured, a repository's
 * first `ls` went from 0.43-0.45 s to 0.58-0.78 s.  Page faults take only
 * the mapping's own lock (Linux 6.4 and later). */
__attribute__((no_sanitize("address"))) /* no shadow pages for memory nobody uses yet */
static void populate(uintptr_t p, size_t len)
{
	size_t page = (size_t)sysconf(_SC_PAGESIZE);
	for (uintptr_t q = p; q < p + len; q += page)
		*(volatile char *)q = 0;
}

/* Make a range resident a slice at a time, stopping early when stop(arg)
 * says so: the bytes made resident. */
static size_t populate_slices(uintptr_t p, size_t len, bool (*stop)(void *), void *arg)
{
	size_t done = 0;
	while (done < len && !stop(arg)) {
		size_t n = len - done < HUB_PY_WARM_SLICE ? len - done : HUB_PY_WARM_SLICE;
		populate(p + done, n);
		done += n;
	}
	return done;
}

size_t py_arena_warm(size_t want, bool (*stop)(void *), void *arg)
{
	pthread_mutex_lock(&arena_mu);
	size_t ahead = warm_end > chunk_next ? warm_end - chunk_next : 0;
	size_t have = free_resident + ahead;
	for (size_t i = 0; i < spares_n; i++)
		have += spares[i].resident;
	size_t made = 0;
	/* the rest of the current chunk first; only this thread carves (pymalloc
	 * runs on it), so the range stays free while the lock is dropped */
	if (have < want && chunk_end > chunk_next) {
		uintptr_t from = warm_end > chunk_next ? warm_end : chunk_next;
		size_t len = chunk_end - from;
		if (len > want - have)
			len = want - have;
		pthread_mutex_unlock(&arena_mu);
		size_t n = populate_slices(from, len, stop, arg);
		pthread_mutex_lock(&arena_mu);
		warm_end = from + n;
		have += n;
		made += n;
	}
	/* then spare chunks */
	while (have < want && !stop(arg)) {
		if (spares_n == spares_cap) {
			size_t cap = spares_cap ? 2 * spares_cap : 8;
			struct spare *n = realloc(spares, cap * sizeof(*n));
			if (!n)
				break;
			spares = n;
			spares_cap = cap;
		}
		uintptr_t base;
		if (chunk_map(&base))
			break;
		size_t len = want - have < HUB_PY_ARENA_CHUNK ? want - have : HUB_PY_ARENA_CHUNK;
		pthread_mutex_unlock(&arena_mu);
		size_t n = populate_slices(base, len, stop, arg);
		pthread_mutex_lock(&arena_mu);
		spares[spares_n++] = (struct spare){base, n};
		have += n;
		made += n;
	}
	pthread_mutex_unlock(&arena_mu);
	return made;
}

/* Resident memory not yet carved: what the job will use before faulting.
 * arena_mu held. */
static size_t ahead_locked(void)
{
	size_t have = free_resident + (warm_end > chunk_next ? warm_end - chunk_next : 0);
	for (size_t i = 0; i < spares_n; i++)
		have += spares[i].resident;
	return have;
}

/* Where py_arena_ahead writes next: the rest of the current chunk, then
 * the unwritten part of the last spare.  0 when both are resident.
 * arena_mu held. */
static uintptr_t ahead_next(void)
{
	uintptr_t from = warm_end > chunk_next ? warm_end : chunk_next;
	if (from < chunk_end) /* not when the job carved past what was written */
		return from;
	if (spares_n > 0 && spares[spares_n - 1].resident < HUB_PY_ARENA_CHUNK)
		return spares[spares_n - 1].base + spares[spares_n - 1].resident;
	return 0;
}

/* The huge page at `from` was written: credit it to the current chunk or
 * to the spare it is in (chunk_new may have made that spare current
 * meanwhile).  arena_mu held. */
static void ahead_credit(uintptr_t from, size_t len)
{
	if (from >= chunk_end - HUB_PY_ARENA_CHUNK && from < chunk_end) {
		if (warm_end < from + len)
			warm_end = from + len;
		return;
	}
	for (size_t i = 0; i < spares_n; i++)
		if (from >= spares[i].base && from < spares[i].base + HUB_PY_ARENA_CHUNK)
			spares[i].resident = from + len - spares[i].base;
}

size_t py_arena_ahead(size_t lead, bool (*stop)(void *), void *arg)
{
	size_t made = 0;
	pthread_mutex_lock(&arena_mu);
	while (!stop(arg)) {
		if (ahead_locked() >= lead) {
			/* woken by each carve, and by py_arena_ahead_wake */
			pthread_cond_wait(&arena_cv, &arena_mu);
			continue;
		}
		uintptr_t from = ahead_next();
		if (!from) { /* list a new spare chunk, written from its start */
			if (spares_n == spares_cap) {
				size_t cap = spares_cap ? 2 * spares_cap : 8;
				struct spare *n = realloc(spares, cap * sizeof(*n));
				if (!n)
					break;
				spares = n;
				spares_cap = cap;
			}
			uintptr_t base;
			if (chunk_map(&base))
				break;
			spares[spares_n++] = (struct spare){base, 0};
			continue;
		}
		/* a huge page, fenced off from arena_alloc while it is written
		 * (chunks and the huge pages in them are 2 MiB aligned) */
		size_t len = HUGE_PAGE - (from & (HUGE_PAGE - 1));
		busy_lo = from;
		busy_hi = from + len;
		pthread_mutex_unlock(&arena_mu);
		populate(from, len);
		pthread_mutex_lock(&arena_mu);
		busy_lo = busy_hi = 0;
		ahead_credit(from, len);
		made += len;
		pthread_cond_broadcast(&arena_cv);
	}
	pthread_mutex_unlock(&arena_mu);
	return made;
}

void py_arena_ahead_wake(void)
{
	pthread_mutex_lock(&arena_mu);
	pthread_cond_broadcast(&arena_cv);
	pthread_mutex_unlock(&arena_mu);
}

size_t py_arena_cool(void)
{
	size_t given = 0;
	pthread_mutex_lock(&arena_mu);
	if (warm_end > chunk_next) {
		(void)madvise((void *)chunk_next, warm_end - chunk_next, MADV_DONTNEED);
		given += warm_end - chunk_next;
	}
	warm_end = 0;
	/* no arena was carved from a spare: unmapped, and no longer ours */
	for (size_t i = 0; i < spares_n; i++) {
		for (size_t k = 0; k < chunks_n; k++) {
			if (chunks[k] == spares[i].base) {
				chunks[k] = chunks[--chunks_n];
				break;
			}
		}
		munmap((void *)spares[i].base, HUB_PY_ARENA_CHUNK);
		given += spares[i].resident;
	}
	spares_n = 0;
	pthread_mutex_unlock(&arena_mu);
	return given;
}

void py_arena_install(void)
{
	PyObjectArenaAllocator a = {NULL, arena_alloc, arena_free};
	PyObject_SetArenaAllocator(&a);
}
