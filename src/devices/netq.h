/*
 * A bounded frame queue with many producers and one consumer, for the
 * packet path between threads: no allocation, no lock, no system call per
 * frame. A cell holds one frame; each cell's sequence number says whose turn
 * it is (Vyukov's bounded queue). A full queue refuses the frame (the
 * caller drops and counts it): a sender never waits for a receiver.
 */
#ifndef DENALI_DEVICES_NETQ_H
#define DENALI_DEVICES_NETQ_H

#include <denali/abi.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

struct netq_cell {
	uint32_t seq;
	uint16_t len;
	uint16_t tag; /* the producer's (the switch: sending port + 1; 0 = none) */
	uint8_t data[DENALI_NET_FRAME_MAX];
};

struct netq {
	uint32_t mask;				   /* cells - 1, cells a power of two */
	uint32_t enq __attribute__((aligned(64))); /* producers' position */
	uint32_t deq __attribute__((aligned(64))); /* the consumer's position */
	struct netq_cell *cells;
};

/* cells: a power of two. 0 or -ENOMEM. */
static inline int netq_init(struct netq *q, uint32_t cells)
{
	q->cells = malloc((size_t)cells * sizeof(*q->cells));
	if (!q->cells)
		return -12;
	q->mask = cells - 1;
	q->enq = q->deq = 0;
	for (uint32_t i = 0; i < cells; i++)
		q->cells[i].seq = i;
	return 0;
}

static inline void netq_free(struct netq *q)
{
	free(q->cells);
	q->cells = NULL;
}

/* Any thread. 0, or -1 when the queue is full. len <= DENALI_NET_FRAME_MAX;
 * the cell carries tag to the consumer. */
static inline int netq_push_tag(struct netq *q, const void *frame, uint32_t len, uint16_t tag)
{
	uint32_t pos = __atomic_load_n(&q->enq, __ATOMIC_RELAXED);
	struct netq_cell *c;

	for (;;) {
		uint32_t seq;
		int32_t dif;

		c = &q->cells[pos & q->mask];
		seq = __atomic_load_n(&c->seq, __ATOMIC_ACQUIRE);
		dif = (int32_t)(seq - pos);
		if (dif == 0) {
			if (__atomic_compare_exchange_n(&q->enq, &pos, pos + 1, 1, __ATOMIC_RELAXED,
							__ATOMIC_RELAXED))
				break;
		} else if (dif < 0) {
			return -1;
		} else {
			pos = __atomic_load_n(&q->enq, __ATOMIC_RELAXED);
		}
	}
	memcpy(c->data, frame, len);
	c->len = (uint16_t)len;
	c->tag = tag;
	__atomic_store_n(&c->seq, pos + 1, __ATOMIC_RELEASE);
	return 0;
}

static inline int netq_push(struct netq *q, const void *frame, uint32_t len)
{
	return netq_push_tag(q, frame, len, 0);
}

/* The consumer only: the next frame, or NULL. Valid until netq_pop(). */
static inline const struct netq_cell *netq_peek(struct netq *q)
{
	struct netq_cell *c = &q->cells[q->deq & q->mask];

	if ((int32_t)(__atomic_load_n(&c->seq, __ATOMIC_ACQUIRE) - (q->deq + 1)) != 0)
		return NULL;
	return c;
}

/* The consumer only: releases the frame netq_peek() returned. */
static inline void netq_pop(struct netq *q)
{
	struct netq_cell *c = &q->cells[q->deq & q->mask];

	__atomic_store_n(&c->seq, q->deq + q->mask + 1, __ATOMIC_RELEASE);
	q->deq++;
}

#endif
