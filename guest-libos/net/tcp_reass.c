/*
 * Byte rings and the out-of-order table of TCP.
 *
 * A ring is a fixed buffer with a head and a length; offsets are relative
 * to the head and may go beyond the length (out-of-order bytes are written
 * past it, at the place they will have once the hole before them fills).
 * The reassembly table keeps up to TCP_REASS_MAX filled ranges beyond
 * rcv_nxt, sorted and merged; a segment that would need one more range is
 * dropped (the sender retransmits it), so the table is bounded.
 */
#include "net_stack.h"
#include <string.h>

void ring_write_at(struct tcp_ring *r, uint32_t off, const uint8_t *p, uint32_t n)
{
	uint32_t pos = (uint32_t)(((uint64_t)r->head + off) % r->size);
	uint32_t first = r->size - pos < n ? r->size - pos : n;

	memcpy(r->buf + pos, p, first);
	memcpy(r->buf, p + first, n - first);
}

void ring_read_at(const struct tcp_ring *r, uint32_t off, uint8_t *p, uint32_t n)
{
	uint32_t pos = (uint32_t)(((uint64_t)r->head + off) % r->size);
	uint32_t first = r->size - pos < n ? r->size - pos : n;

	memcpy(p, r->buf + pos, first);
	memcpy(p + first, r->buf, n - first);
}

uint32_t ring_append(struct tcp_ring *r, const uint8_t *p, uint32_t n)
{
	uint32_t room = r->size - r->len;

	if (n > room)
		n = room;
	ring_write_at(r, r->len, p, n);
	r->len += n;
	return n;
}

void ring_consume(struct tcp_ring *r, uint32_t n)
{
	if (n > r->len)
		n = r->len;
	r->head = (uint32_t)(((uint64_t)r->head + n) % r->size);
	r->len -= n;
}

void ring_rewind(struct tcp_ring *r)
{
	if (r->len == 0)
		r->head = 0;
}

static void reass_remove(struct tcp_reass *q, int i)
{
	for (int j = i; j + 1 < q->n; j++) {
		q->start[j] = q->start[j + 1];
		q->end[j] = q->end[j + 1];
	}
	q->n--;
}

bool reass_add(struct tcp_reass *q, uint32_t seq, uint32_t len)
{
	uint32_t s = seq, e = seq + len;
	int i;

	if (len == 0)
		return true;
	/* Find the first range that ends at or after s. */
	for (i = 0; i < q->n && SEQ_LT(q->end[i], s); i++)
		;
	/* Merge every range that touches [s, e). */
	while (i < q->n && SEQ_LEQ(q->start[i], e)) {
		if (SEQ_LT(q->start[i], s))
			s = q->start[i];
		if (SEQ_GT(q->end[i], e))
			e = q->end[i];
		reass_remove(q, i);
	}
	if (q->n == TCP_REASS_MAX)
		return false;
	for (int j = q->n; j > i; j--) {
		q->start[j] = q->start[j - 1];
		q->end[j] = q->end[j - 1];
	}
	q->start[i] = s;
	q->end[i] = e;
	q->n++;
	return true;
}

uint32_t reass_take(struct tcp_reass *q, uint32_t rcv_nxt)
{
	uint32_t nxt = rcv_nxt;

	while (q->n > 0 && SEQ_LEQ(q->start[0], nxt)) {
		if (SEQ_GT(q->end[0], nxt))
			nxt = q->end[0];
		reass_remove(q, 0);
	}
	return nxt - rcv_nxt;
}
