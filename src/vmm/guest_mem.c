#include "guest_mem.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <sys/mman.h>

#define GUEST_MEM_CACHE 64

static struct {
	pthread_mutex_t lock;
	unsigned n;
	struct {
		uint8_t *mem;
		uint64_t size;
	} r[GUEST_MEM_CACHE];
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

int guest_mem_alloc(uint64_t size, uint8_t **out)
{
	void *p;

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
	/* Shared, not private: a read of a page never written (by the guest
	 * through KVM, or by the host) allocates a zeroed page instead of
	 * mapping the zero page, so the first write is not a copy-on-write
	 * break. On kvm_pvm every invalidation walks the MMU notifier of every
	 * live VM (~0.3 us each); a start made ~7 such breaks. But a shmem page
	 * the host kernel swaps out leaves no swap entry in the page table, so
	 * /proc/self/pagemap (and mincore) no longer see it, and a swap-out
	 * would lose it: with host swap on, guest memory stays private, whose
	 * host-swapped pages pagemap reports (PM_SWAPPED). */
	p = mmap(NULL, size, PROT_READ | PROT_WRITE,
		 (guest_mem_is_shared() ? MAP_SHARED : MAP_PRIVATE) | MAP_ANONYMOUS | MAP_NORESERVE,
		 -1, 0);
	if (p == MAP_FAILED)
		return -errno;
	*out = p;
	return 0;
}

void guest_mem_free(uint8_t *mem, uint64_t size)
{
	if (!mem)
		return;
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

void guest_mem_drain(void)
{
	pthread_mutex_lock(&cache.lock);
	while (cache.n) {
		cache.n--;
		munmap(cache.r[cache.n].mem, cache.r[cache.n].size);
	}
	pthread_mutex_unlock(&cache.lock);
}
