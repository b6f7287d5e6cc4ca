/*
 * Records that live as long as their VM (struct vm, the swapper's and the
 * registry's per-VM records), kept out of malloc's heap.
 *
 * Why: a VM is made on the control thread beside allocations that go away
 * soon (its vCPU state, freed at swap-out; its definition's text, freed by
 * the store writer). In malloc's heap the small records that stay pin every
 * page between them, so 100,000 swapped VMs kept ~7 KiB of freed heap each
 * resident. Here each kind of record is packed densely in 1 MiB chunks of
 * its own; a freed one goes back to its slab's free list for the next VM.
 * Chunks are never unmapped (no munmap: every invalidation is heard by every
 * live VM's MMU notifier).
 */
#ifndef DENALI_VMM_SLAB_H
#define DENALI_VMM_SLAB_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

struct slab {
	pthread_mutex_t lock;
	size_t size;	/* object size, a multiple of 16 */
	void *free;	/* freed objects, linked through their first word */
	uint8_t *cur;	/* the rest of the newest chunk */
	size_t left;	/* bytes in it */
	uint64_t used;	/* objects handed out and not freed */
	uint64_t bytes; /* chunk bytes mapped */
};

#define SLAB_CHUNK (1u << 20)
#define SLAB_INIT(sz)                                                                              \
	{                                                                                          \
		.lock = PTHREAD_MUTEX_INITIALIZER, .size = ((sz) + 15) & ~(size_t)15               \
	}

/* A zeroed object of s->size bytes, or NULL (errno ENOMEM). Any thread. */
void *slab_zalloc(struct slab *s);

/* Gives back an object of s (NULL: nothing). Any thread. */
void slab_free(struct slab *s, void *p);

#endif
