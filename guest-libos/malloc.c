/*
 * Heap: [align(_end), mem_size - STACK_RESERVE). Untouched memory is handed
 * out by bumping `brk`, so pages are touched only when used; freed blocks go
 * to an address-ordered free list and coalesce with their neighbours; a free
 * block that ends at brk is given back to the bump region.
 *
 * Block layout: a 16-byte header {size including header, tag} then the
 * payload (16-byte aligned). In a used block tag == USED_TAG; in a free block
 * it is the next free block.
 */
#include "libos_private.h"
#include <denali/libos.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#define HDR	 16u
#define MIN_BLK	 32u
#define USED_TAG 0x75736564626c6b21ull /* "used blk!" */

struct blk {
	size_t size;
	union {
		struct blk *next;
		uint64_t tag;
	};
};

static uintptr_t heap_lo, heap_hi, brk_ptr;
static struct blk *free_list;
static bool heap_ready;

static void heap_init(void)
{
	uint64_t mem = dn_mem_size();

	heap_lo = ((uintptr_t)_end + 15) & ~(uintptr_t)15;
	heap_hi = mem > STACK_RESERVE ? (uintptr_t)(mem - STACK_RESERVE) : 0;
	if (heap_hi < heap_lo)
		heap_hi = heap_lo;
	brk_ptr = heap_lo;
	heap_ready = true;
}

static struct blk *take_free(size_t need)
{
	struct blk **link = &free_list;

	for (struct blk *b = free_list; b != NULL; link = &b->next, b = b->next) {
		if (b->size < need)
			continue;
		if (b->size - need >= MIN_BLK) {
			struct blk *rest = (struct blk *)((char *)b + need);
			rest->size = b->size - need;
			rest->next = b->next;
			*link = rest;
			b->size = need;
		} else {
			*link = b->next;
		}
		return b;
	}
	return NULL;
}

void *malloc(size_t size)
{
	if (!heap_ready)
		heap_init();
	if (size > heap_hi - heap_lo)
		return NULL;
	size_t need = ((size + 15) & ~(size_t)15) + HDR;
	if (need < MIN_BLK)
		need = MIN_BLK;

	struct blk *b = take_free(need);
	if (b == NULL) {
		if (heap_hi - brk_ptr < need)
			return NULL;
		b = (struct blk *)brk_ptr;
		b->size = need;
		brk_ptr += need;
	}
	b->tag = USED_TAG;
	return (char *)b + HDR;
}

static struct blk *block_of(void *p)
{
	uintptr_t a = (uintptr_t)p;

	if (!heap_ready || a < heap_lo + HDR || a >= brk_ptr || (a & 15) != 0)
		dn_panic("free/realloc: pointer not from malloc");
	struct blk *b = (struct blk *)(a - HDR);
	if (b->tag != USED_TAG)
		dn_panic("free/realloc: double free or corrupted heap");
	return b;
}

void free(void *p)
{
	if (p == NULL)
		return;
	struct blk *b = block_of(p);
	struct blk **link = &free_list, **prev_link = NULL;

	/* Find b's place in the address-ordered list; link points at b's slot. */
	while (*link != NULL && *link < b) {
		prev_link = link;
		link = &(*link)->next;
	}
	b->next = *link;
	*link = b;
	if (b->next != NULL && (char *)b + b->size == (char *)b->next) {
		b->size += b->next->size;
		b->next = b->next->next;
	}
	if (prev_link != NULL) {
		struct blk *prev = *prev_link;
		if ((char *)prev + prev->size == (char *)b) {
			prev->size += b->size;
			prev->next = b->next;
			b = prev;
			link = prev_link;
		}
	}
	/* A free block ending at brk (necessarily the last one) goes back to
	 * the bump region. */
	if ((uintptr_t)b + b->size == brk_ptr) {
		brk_ptr = (uintptr_t)b;
		*link = NULL;
	}
}

void *calloc(size_t n, size_t size)
{
	if (size != 0 && n > SIZE_MAX / size)
		return NULL;
	void *p = malloc(n * size);
	if (p != NULL)
		memset(p, 0, n * size);
	return p;
}

void *realloc(void *p, size_t size)
{
	if (p == NULL)
		return malloc(size);
	if (size == 0) {
		free(p);
		return NULL;
	}
	struct blk *b = block_of(p);
	size_t have = b->size - HDR;
	if (have >= size)
		return p;
	void *q = malloc(size);
	if (q == NULL)
		return NULL;
	memcpy(q, p, have);
	free(p);
	return q;
}
