/*
 * The one descriptor-ring producer/consumer of guest-libos, shared by the
 * console, net and block drivers. The guest produces descriptors
 * (avail_prod) and consumes used entries (used_cons); the monitor's indices
 * (avail_cons, used_prod) are read with acquire ordering, ours published
 * with release ordering after the entries they cover.
 */
#ifndef DENALI_LIBOS_RING_H
#define DENALI_LIBOS_RING_H

#include <denali/abi.h>
#include <stdint.h>

/* Linux's errno values, returned negated by the drivers. */
enum { RING_EIO = 5, RING_EAGAIN = 11, RING_EINVAL = 22, RING_EROFS = 30 };

#define RING_AT(gpa) ((volatile struct denali_ring *)(uintptr_t)(gpa))

/* Our side of one ring: the counters we own, started from the ring's. */
struct ring_side {
	volatile struct denali_ring *r;
	uint32_t prod;	    /* our avail_prod */
	uint32_t used_cons; /* our used_cons */
	int started;
};

static inline void ring_start(struct ring_side *s, uintptr_t gpa)
{
	if (s->started)
		return;
	s->r = RING_AT(gpa);
	s->prod = s->r->avail_prod;
	s->used_cons = s->r->used_cons;
	s->started = 1;
}

/* Descriptors posted and not yet consumed by the monitor. */
static inline uint32_t ring_in_flight(const struct ring_side *s)
{
	return s->prod - __atomic_load_n(&s->r->avail_cons, __ATOMIC_ACQUIRE);
}

/* Free descriptor slots. */
static inline uint32_t ring_space(const struct ring_side *s)
{
	return DENALI_RING_SIZE - ring_in_flight(s);
}

/* The slot the next post fills (its buffer may be prepared in place). */
static inline uint32_t ring_next_slot(const struct ring_side *s)
{
	return s->prod % DENALI_RING_SIZE;
}

/* Posts one descriptor; the caller checked ring_space() > 0. */
static inline void ring_post(struct ring_side *s, uintptr_t addr, uint32_t len, uint16_t id)
{
	volatile struct denali_desc *d = &s->r->desc[s->prod % DENALI_RING_SIZE];

	d->addr = addr;
	d->len = len;
	d->id = id;
	d->flags = 0;
	s->prod++;
	/* The descriptor and its buffer must be visible before the index. */
	__atomic_store_n(&s->r->avail_prod, s->prod, __ATOMIC_RELEASE);
}

/* Takes one used entry into *u: 1, or 0 when there is none. */
static inline int ring_take_used(struct ring_side *s, struct denali_used *u)
{
	if (s->used_cons == __atomic_load_n(&s->r->used_prod, __ATOMIC_ACQUIRE))
		return 0;
	u->id = s->r->used[s->used_cons % DENALI_RING_SIZE].id;
	u->len = s->r->used[s->used_cons % DENALI_RING_SIZE].len;
	s->used_cons++;
	__atomic_store_n(&s->r->used_cons, s->used_cons, __ATOMIC_RELEASE);
	return 1;
}

#endif /* DENALI_LIBOS_RING_H */
