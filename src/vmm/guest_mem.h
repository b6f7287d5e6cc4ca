/*
 * Guest memory regions: shared anonymous (shmem) memory, so that no page is
 * ever the zero page and no first write breaks a copy-on-write (each break
 * is an MMU-notifier invalidation heard by every live VM on this host) —
 * unless the host has swap, whose swapped-out shmem pages swap.c's pagemap
 * walk cannot see: then private anonymous memory, as before.
 * Shared regions of up to 64 MiB are carved out of a few large shmem mappings
 * (guest_mem.c: the arena), so that a start maps nothing; larger ones and
 * private ones are mapped alone.
 * A released region is zeroed (MADV_REMOVE frees its pages) and kept
 * at its address for the next VM, so that a pooled shell whose memory slot
 * still maps that address can run the next VM without a memory-slot update
 * (two KVM_SET_USER_MEMORY_REGION calls, ~30-60 us here, per reuse).
 */
#ifndef DENALI_VMM_GUEST_MEM_H
#define DENALI_VMM_GUEST_MEM_H

#include <stddef.h>
#include <stdint.h>

/* Whether guest memory is shared (shmem) or private anonymous memory:
 * shared unless the host has swap (see guest_mem.c), decided at the first
 * allocation from /proc/meminfo. */
int guest_mem_is_shared(void);

/* What a meminfo file (that format) decides: 1 shared (SwapTotal is 0),
 * 0 private (host swap on, or no SwapTotal line, or unreadable). */
int guest_mem_shared_for(const char *meminfo);

/* Sets the backing for the regions allocated from now on (tests, and a
 * daemon that decides otherwise); drops the cached regions. */
void guest_mem_set_shared(int on);

/* Zero-filled, MAP_NORESERVE memory of size bytes. 0 or -errno. */
int guest_mem_alloc(uint64_t size, uint8_t **out);

/* Releases a region: kept for reuse (zeroed) or unmapped when the cache is
 * full. Its contents are gone either way. */
void guest_mem_free(uint8_t *mem, uint64_t size);

/*
 * Releases a region a little later, together with others: an arena region
 * waits (at most 64 of them) for guest_mem_flush(), which frees neighbours with
 * one madvise, one set of MMU-notifier walks for all (each walk costs ~0.3 us
 * per live VM); others are released at once (guest_mem_free()). Until the
 * flush the region keeps its pages and is handed out to no one. The 64th
 * flushes on its caller's thread; a caller that wants a time bound flushes
 * when guest_mem_later_age_ns() says so.
 */
void guest_mem_free_later(uint8_t *mem, uint64_t size);

/* Frees every deferred region; returns the madvise calls that took. */
unsigned guest_mem_flush(void);

/* How long the oldest deferred region has waited (ns, at least 1), or 0: none. */
uint64_t guest_mem_later_age_ns(void);

/*
 * Gives back the page tables of the arena's free regions: a region that was
 * handed out keeps its page-table page (4 KiB per 2 MiB region) after its
 * memory is freed (MADV_REMOVE does not free tables), so a daemon that once
 * had 20,000 VMs in memory kept 80 MiB of them. MADV_DONTNEED on free runs
 * lets a CONFIG_PT_RECLAIM kernel free them (others: a no-op). Off the hot
 * paths (one invalidation per run): the daemon's log thread, now and then.
 * Returns the regions trimmed.
 */
size_t guest_mem_trim(void);

/* Unmaps every cached region (deferred ones freed first). */
void guest_mem_drain(void);

/* A 4 KiB page of guest memory that reads as all zero (not worth saving). */
static inline int guest_page_is_zero(const uint8_t *p)
{
	const uint64_t *w = (const uint64_t *)p;

	for (unsigned i = 0; i < 4096 / 8; i += 4)
		if (w[i] | w[i + 1] | w[i + 2] | w[i + 3])
			return 0;
	return 1;
}

#endif
