/*
 * Descriptor-ring index checks shared by every device. The guest writes
 * producer indices; the monitor reads each once into host memory and checks
 * it before use.
 */
#ifndef DENALI_DEVICES_RING_H
#define DENALI_DEVICES_RING_H

#include <denali/abi.h>
#include <stdint.h>

/*
 * Given a guest-written producer index prod and the monitor's own consumer
 * counter cons, returns the number of entries ready (0..DENALI_RING_SIZE),
 * or -1 when prod is more than a ring ahead of cons (or behind it, which in
 * free-running arithmetic is the same thing).
 */
static inline int ring_pending(uint32_t prod, uint32_t cons)
{
	uint32_t n = prod - cons;

	return n <= DENALI_RING_SIZE ? (int)n : -1;
}

/* Reads a guest-written 32-bit index exactly once. */
static inline uint32_t ring_read_index(const uint32_t *p)
{
	return __atomic_load_n(p, __ATOMIC_ACQUIRE);
}

/* Publishes a monitor-written index after the entries it covers. */
static inline void ring_write_index(uint32_t *p, uint32_t v)
{
	__atomic_store_n(p, v, __ATOMIC_RELEASE);
}

#endif
