/*
 * Memory the daemon no longer uses, given back in batches by the log thread
 * (fleet_trim_tick), never on a worker or a hot path: each release is an
 * invalidation every live VM's MMU notifier hears (~0.3 us per live shell).
 *
 * - malloc's free heap: VMs made in a burst leave their vCPU states and
 *   definitions' texts freed behind them when they swap out; glibc gives
 *   back only the top of a heap by itself. malloc_trim(0) returns the free
 *   pages in the middle. Called when the arenas' free bytes grew by
 *   TRIM_FREE_STEP since the last call (a call on memory given back already
 *   costs the same invalidations for nothing).
 * - the page tables of the guest-memory arena's free regions
 *   (guest_mem_trim()).
 * - pooled shells nobody took for a whole period, beyond SHELL_POOL_MAX
 *   (shell_pool_trim()): under swap the pool keeps the shells of evicted VMs
 *   for the VMs admitted in their place (fleet_swap.c), up to the live cap.
 */
#include "fleet_impl.h"

#include "vmm/guest_mem.h"
#include "vmm/shell.h"

#include <malloc.h>
#include <time.h>

#define TRIM_EVERY_NS  10000000000ull /* at most this often */
#define TRIM_FREE_STEP (4ull << 20)

static uint64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

void fleet_trim_tick(struct fleet *f)
{
	static uint64_t last_ns, trimmed_free;
	uint64_t now = mono_ns();
	struct mallinfo2 mi;

	(void)f;
	if (last_ns && now - last_ns < TRIM_EVERY_NS)
		return;
	last_ns = now;
	guest_mem_trim();
	shell_pool_trim(SHELL_POOL_MAX);
	mi = mallinfo2();
	/* Free bytes fall as the heap is used again: then the next growth counts from there. */
	if (mi.fordblks < trimmed_free)
		trimmed_free = mi.fordblks;
	if (mi.fordblks >= trimmed_free + TRIM_FREE_STEP) {
		malloc_trim(0);
		trimmed_free = mi.fordblks;
	}
}
