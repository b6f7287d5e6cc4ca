#include "guest_mem.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

/* Private regions (and shared ones too big for the arena), each its own mapping. */
#define GUEST_MEM_CACHE 64

/*
 * The shared arena: regions carved out of a few large shmem mappings
 * (chunks), one size class per chunk, strides of 2 MiB << class. A start
 * then maps nothing: no VMA and no shmem object per VM. One mapping per VM
 * cost the start its mmap, and every new KVM VM's mmu_notifier_register
 * (mm_take_all_locks) walks every VMA of the process and locks every
 * shmem object's mapping once: two per live VM (guest memory, kvm_run)
 * before, one now. A released region's pages are freed (MADV_REMOVE) before
 * it goes back: it reads as zero for the next tenant.
 */
#define ARENA_MIN_SHIFT 21 /* class 0: 2 MiB */
#define ARENA_CLASSES	6  /* up to 64 MiB; larger regions are mapped alone */
#define ARENA_CHUNK	(256ull << 20)
#define ARENA_SLOTS	(ARENA_CHUNK >> ARENA_MIN_SHIFT) /* regions of class 0 per chunk */
#define ARENA_CHUNKS	2048				 /* 512 GiB of address space */
/* Released regions kept in order of release per class, so that the last one
 * released is the next one handed out: a pooled shell whose slot maps it
 * binds without a memory-slot update (guest_mem.h). */
#define ARENA_RECENT 64
/*
 * Arena regions whose release is deferred (guest_mem_free_later()), at most.
 * Every MADV_REMOVE walks the MMU notifier of every live VM of the process at
 * least three times (range start, end, the TLB flush: ~8 ms at 9,000 live
 * shells here), whatever the length of the range. VMs registered past the live
 * cap evict the oldest idle ones, in about the order they were registered:
 * regions next to each other, which one MADV_REMOVE frees together.
 */
#define GUEST_MEM_LATER 64

struct chunk {
	uint8_t *base;
	unsigned cls, nused;		 /* nused counts the recent ones too */
	uint64_t used[ARENA_SLOTS / 64]; /* one bit per region: taken */
	uint64_t
	    tables[ARENA_SLOTS / 64]; /* handed out since guest_mem_trim(): may have page tables */
};

static struct {
	pthread_mutex_t lock;
	unsigned n;
	struct {
		uint8_t *mem;
		uint64_t size;
	} r[GUEST_MEM_CACHE];
	struct chunk chunks[ARENA_CHUNKS];
	unsigned nchunks;
	struct {
		uint8_t *mem[ARENA_RECENT];
		unsigned n;
	} recent[ARENA_CLASSES];
	unsigned long poisoned; /* regions never reused: their pages could not be freed */
	struct {
		uint8_t *mem[GUEST_MEM_LATER];
		unsigned n;
		uint64_t first_ns; /* CLOCK_MONOTONIC when the oldest of them was deferred */
	} later;
} cache = {.lock = PTHREAD_MUTEX_INITIALIZER};

/* -1 until decided: 1 shared (shmem), 0 private. */
static int shared = -1;

int guest_mem_shared_for(const char *meminfo)
{
	char line[256];
	unsigned long long kb;
	int r = 0; /* unreadable: private, the backing whose every page swap can see */
	FILE *f = fopen(meminfo, "re");

	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "SwapTotal: %llu kB", &kb) == 1) {
			r = kb == 0;
			break;
		}
	fclose(f);
	return r;
}

void guest_mem_set_shared(int on)
{
	guest_mem_drain(); /* no cached region of the other kind is handed out */
	pthread_mutex_lock(&cache.lock);
	shared = on ? 1 : 0;
	pthread_mutex_unlock(&cache.lock);
}

int guest_mem_is_shared(void)
{
	int r;

	pthread_mutex_lock(&cache.lock);
	if (shared < 0)
		shared = guest_mem_shared_for("/proc/meminfo");
	r = shared;
	pthread_mutex_unlock(&cache.lock);
	return r;
}

/* The arena class of a region of size bytes, or -1 (mapped alone). */
static int arena_class(uint64_t size)
{
	for (int c = 0; c < ARENA_CLASSES; c++)
		if (size <= (1ull << (ARENA_MIN_SHIFT + c)))
			return c;
	return -1;
}

static unsigned chunk_slots(const struct chunk *ch)
{
	return (unsigned)(ARENA_CHUNK >> (ARENA_MIN_SHIFT + ch->cls));
}

/* The chunk holding p, or NULL. Lock held. */
static struct chunk *chunk_of(const uint8_t *p)
{
	for (unsigned i = 0; i < cache.nchunks; i++) {
		struct chunk *ch = &cache.chunks[i];

		if (p >= ch->base && p < ch->base + ARENA_CHUNK)
			return ch;
	}
	return NULL;
}

/* A free region of class c from the arena, a new chunk mapped if need be;
 * NULL with errno. Lock held. */
static uint8_t *arena_take(int c)
{
	struct chunk *ch;
	void *p;

	if (cache.recent[c].n)
		return cache.recent[c].mem[--cache.recent[c].n];
	for (unsigned i = 0; i < cache.nchunks; i++) {
		ch = &cache.chunks[i];
		if ((int)ch->cls != c || ch->nused == chunk_slots(ch))
			continue;
		for (unsigned s = 0; s < chunk_slots(ch); s++) {
			if (!(ch->used[s / 64] >> (s % 64) & 1)) {
				ch->used[s / 64] |= 1ull << (s % 64);
				ch->tables[s / 64] |= 1ull << (s % 64);
				ch->nused++;
				return ch->base + ((uint64_t)s << (ARENA_MIN_SHIFT + c));
			}
		}
	}
	if (cache.nchunks == ARENA_CHUNKS) {
		errno = ENOMEM;
		return NULL;
	}
	/* Shared, not private: a read of a page never written (by the guest
	 * through KVM, or by the host) allocates a zeroed page instead of
	 * mapping the zero page, so the first write is not a copy-on-write
	 * break. On kvm_pvm every invalidation walks the MMU notifier of every
	 * live VM (~0.3 us each); a start made ~7 such breaks. */
	p = mmap(NULL, ARENA_CHUNK, PROT_READ | PROT_WRITE,
		 MAP_SHARED | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (p == MAP_FAILED)
		return NULL;
	ch = &cache.chunks[cache.nchunks++];
	memset(ch, 0, sizeof(*ch));
	ch->base = p;
	ch->cls = (unsigned)c;
	ch->used[0] = 1;
	ch->tables[0] = 1;
	ch->nused = 1;
	return ch->base;
}

int guest_mem_alloc(uint64_t size, uint8_t **out)
{
	int c = arena_class(size);
	void *p;

	if (!size)
		return -EINVAL;
	if (c >= 0 && guest_mem_is_shared()) {
		pthread_mutex_lock(&cache.lock);
		p = arena_take(c);
		if (!p)
			c = -errno;
		pthread_mutex_unlock(&cache.lock);
		if (!p)
			return c;
		*out = p;
		return 0;
	}
	pthread_mutex_lock(&cache.lock);
	for (unsigned i = cache.n; i-- > 0;) {
		if (cache.r[i].size == size) {
			*out = cache.r[i].mem;
			cache.r[i] = cache.r[--cache.n];
			pthread_mutex_unlock(&cache.lock);
			return 0;
		}
	}
	pthread_mutex_unlock(&cache.lock);
	/* Private when the host has swap: a shmem page the host kernel swaps
	 * out leaves no swap entry in the page table, so /proc/self/pagemap
	 * (and mincore) no longer see it, and a swap-out would lose it; the
	 * host-swapped pages of private memory pagemap reports (PM_SWAPPED).
	 * Shared when too big for the arena (see arena_take()). */
	p = mmap(NULL, size, PROT_READ | PROT_WRITE,
		 (guest_mem_is_shared() ? MAP_SHARED : MAP_PRIVATE) | MAP_ANONYMOUS | MAP_NORESERVE,
		 -1, 0);
	if (p == MAP_FAILED)
		return -errno;
	*out = p;
	return 0;
}

/* Gives an arena region back: first to the recent list, else to its chunk's
 * bitmap. Its pages are already freed. Lock held. */
static void arena_put(struct chunk *ch, uint8_t *mem)
{
	unsigned s = (unsigned)((uint64_t)(mem - ch->base) >> (ARENA_MIN_SHIFT + ch->cls));
	unsigned c = ch->cls;

	if (cache.recent[c].n < ARENA_RECENT) {
		cache.recent[c].mem[cache.recent[c].n++] = mem;
		return;
	}
	ch->used[s / 64] &= ~(1ull << (s % 64));
	ch->nused--;
}

/*
 * An arena region after its MADV_REMOVE (rc: its errno, or 0), under
 * cache.lock: back in the arena, or never handed out again with its data in
 * it. Looked up again: drain may have moved the descriptor (never this
 * chunk's mapping: it is in use).
 */
static void arena_released(uint8_t *mem, int rc)
{
	if (!rc)
		arena_put(chunk_of(mem), mem);
	else if (!cache.poisoned++)
		fprintf(stderr,
			"denali: madvise(MADV_REMOVE) of guest memory: %s; the region is not "
			"reused\n",
			strerror(rc));
}

void guest_mem_free(uint8_t *mem, uint64_t size)
{
	struct chunk *ch;
	uint64_t stride = 0;

	if (!mem)
		return;
	pthread_mutex_lock(&cache.lock);
	ch = chunk_of(mem);
	if (ch)
		stride = 1ull << (ARENA_MIN_SHIFT + ch->cls);
	pthread_mutex_unlock(&cache.lock);
	if (stride) {
		/* The whole stride, not only size: nothing of this tenant is
		 * left anywhere in its region. One invalidation. */
		int rc = madvise(mem, stride, MADV_REMOVE) ? errno : 0;

		pthread_mutex_lock(&cache.lock);
		arena_released(mem, rc);
		pthread_mutex_unlock(&cache.lock);
		return;
	}
	/* Frees the pages, whichever backing the region has: shmem takes
	 * REMOVE (DONTNEED would only unmap its pages), private memory refuses
	 * it (EINVAL, before touching anything) and takes DONTNEED. The region
	 * reads as zero after this, like a new map. One invalidation. */
	if (madvise(mem, size, MADV_REMOVE) == 0 || madvise(mem, size, MADV_DONTNEED) == 0) {
		pthread_mutex_lock(&cache.lock);
		if (cache.n < GUEST_MEM_CACHE) {
			cache.r[cache.n].mem = mem;
			cache.r[cache.n].size = size;
			cache.n++;
			mem = NULL;
		}
		pthread_mutex_unlock(&cache.lock);
	}
	if (mem)
		munmap(mem, size);
}

static uint64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

void guest_mem_free_later(uint8_t *mem, uint64_t size)
{
	int full;

	if (!mem)
		return;
	for (;;) {
		pthread_mutex_lock(&cache.lock);
		if (!chunk_of(mem)) { /* mapped alone: nothing to free together */
			pthread_mutex_unlock(&cache.lock);
			guest_mem_free(mem, size);
			return;
		}
		if (cache.later.n < GUEST_MEM_LATER)
			break;
		pthread_mutex_unlock(&cache.lock); /* another thread's 64th, not flushed yet */
		guest_mem_flush();
	}
	if (!cache.later.n)
		cache.later.first_ns = mono_ns();
	cache.later.mem[cache.later.n++] = mem;
	full = cache.later.n == GUEST_MEM_LATER;
	pthread_mutex_unlock(&cache.lock);
	if (full)
		guest_mem_flush();
}

uint64_t guest_mem_later_age_ns(void)
{
	uint64_t age = 0;

	pthread_mutex_lock(&cache.lock);
	if (cache.later.n)
		age = mono_ns() - cache.later.first_ns + 1;
	pthread_mutex_unlock(&cache.lock);
	return age;
}

static int cmp_ptr(const void *a, const void *b)
{
	uintptr_t x = (uintptr_t) * (uint8_t *const *)a, y = (uintptr_t) * (uint8_t *const *)b;

	return x < y ? -1 : x > y;
}

unsigned guest_mem_flush(void)
{
	uint8_t *v[GUEST_MEM_LATER], *base[GUEST_MEM_LATER];
	uint64_t stride[GUEST_MEM_LATER];
	unsigned n, calls = 0;

	pthread_mutex_lock(&cache.lock);
	n = cache.later.n;
	memcpy(v, cache.later.mem, n * sizeof(v[0]));
	cache.later.n = 0;
	pthread_mutex_unlock(&cache.lock);
	if (!n)
		return 0;
	qsort(v, n, sizeof(v[0]), cmp_ptr);
	pthread_mutex_lock(&cache.lock);
	for (unsigned i = 0; i < n; i++) {
		struct chunk *ch = chunk_of(v[i]); /* in use: never unmapped meanwhile */

		base[i] = ch->base;
		stride[i] = 1ull << (ARENA_MIN_SHIFT + ch->cls);
	}
	pthread_mutex_unlock(&cache.lock);
	for (unsigned i = 0, j; i < n; i = j) {
		uint64_t len = stride[i];
		int rc;

		/* Neighbours in the same chunk (one mapping): one call, one set of walks.
		 * The whole stride of each, as guest_mem_free(). */
		for (j = i + 1; j < n && base[j] == base[i] && v[j] == v[i] + len; j++)
			len += stride[j];
		rc = madvise(v[i], len, MADV_REMOVE) ? errno : 0;
		calls++;
		pthread_mutex_lock(&cache.lock);
		for (unsigned k = i; k < j; k++)
			arena_released(v[k], rc);
		pthread_mutex_unlock(&cache.lock);
	}
	return calls;
}

/* Regions trimmed per call at most (their runs are collected under the lock). */
#define TRIM_RUNS 256

size_t guest_mem_trim(void)
{
	struct {
		struct chunk *ch; /* looked up again after the lock was let go */
		uint8_t *base;
		unsigned s, n;
		uint64_t stride;
	} run[TRIM_RUNS];
	unsigned nrun = 0;
	size_t regions = 0;

	/* Taken for the trim (used bits set) so that no one is handed out meanwhile; the
	 * madvise() calls are made without the lock, one per run of free regions. */
	pthread_mutex_lock(&cache.lock);
	for (unsigned i = 0; i < cache.nchunks && nrun < TRIM_RUNS; i++) {
		struct chunk *ch = &cache.chunks[i];
		unsigned slots = chunk_slots(ch);

		for (unsigned s = 0; s < slots && nrun < TRIM_RUNS; s++) {
			uint64_t bit = 1ull << (s % 64);

			if (!(ch->tables[s / 64] & bit) || (ch->used[s / 64] & bit))
				continue;
			ch->tables[s / 64] &= ~bit;
			ch->used[s / 64] |= bit;
			ch->nused++;
			if (nrun && run[nrun - 1].ch == ch &&
			    run[nrun - 1].s + run[nrun - 1].n == s) {
				run[nrun - 1].n++;
			} else {
				run[nrun].ch = ch;
				run[nrun].base = ch->base;
				run[nrun].s = s;
				run[nrun].n = 1;
				run[nrun].stride = 1ull << (ARENA_MIN_SHIFT + ch->cls);
				nrun++;
			}
			regions++;
		}
	}
	pthread_mutex_unlock(&cache.lock);
	for (unsigned r = 0; r < nrun; r++) /* free of pages already: only the tables go */
		madvise(run[r].base + run[r].s * run[r].stride, run[r].n * run[r].stride,
			MADV_DONTNEED);
	pthread_mutex_lock(&cache.lock);
	for (unsigned r = 0; r < nrun; r++) {
		/* The chunk is in use (taken by us), so drain did not unmap it, but it may have
		 * moved its descriptor. */
		struct chunk *ch = chunk_of(run[r].base);

		for (unsigned s = run[r].s; s < run[r].s + run[r].n; s++)
			ch->used[s / 64] &= ~(1ull << (s % 64));
		ch->nused -= run[r].n;
	}
	pthread_mutex_unlock(&cache.lock);
	return regions;
}

void guest_mem_drain(void)
{
	guest_mem_flush();
	pthread_mutex_lock(&cache.lock);
	while (cache.n) {
		cache.n--;
		munmap(cache.r[cache.n].mem, cache.r[cache.n].size);
	}
	for (unsigned c = 0; c < ARENA_CLASSES; c++) {
		while (cache.recent[c].n) {
			uint8_t *mem = cache.recent[c].mem[--cache.recent[c].n];
			struct chunk *ch = chunk_of(mem);
			unsigned s =
			    (unsigned)((uint64_t)(mem - ch->base) >> (ARENA_MIN_SHIFT + ch->cls));

			ch->used[s / 64] &= ~(1ull << (s % 64));
			ch->nused--;
		}
	}
	/* Only chunks with no region in use: a live VM's memory stays. */
	for (unsigned i = cache.nchunks; i-- > 0;) {
		if (cache.chunks[i].nused)
			continue;
		munmap(cache.chunks[i].base, ARENA_CHUNK);
		cache.chunks[i] = cache.chunks[--cache.nchunks];
	}
	pthread_mutex_unlock(&cache.lock);
}
