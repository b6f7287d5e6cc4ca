#include "guest_mem.h"

#include <errno.h>
#include <pthread.h>
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
	 * live VM (~0.3 us each); a start made ~7 such breaks. */
	p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS | MAP_NORESERVE, -1,
		 0);
	if (p == MAP_FAILED)
		return -errno;
	*out = p;
	return 0;
}

void guest_mem_free(uint8_t *mem, uint64_t size)
{
	if (!mem)
		return;
	/* Frees the shmem pages (DONTNEED would only unmap them): the region
	 * reads as zero after this, like a new map. One invalidation. */
	if (madvise(mem, size, MADV_REMOVE) == 0) {
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
