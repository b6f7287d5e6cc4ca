/*
 * Raw Ethernet over the net rings. There are DENALI_RING_SIZE tx and rx
 * buffers of DENALI_NET_FRAME_MAX bytes each, but they are not tied to ring
 * slots: a descriptor's id names its buffer, and free buffers sit on a stack
 * (lowest index on top, the one just freed back on top). Every buffer the
 * monitor fills or reads is a touched page of the VM's memory, so a VM moving
 * a few frames per entry keeps using the same few buffers (a few pages)
 * instead of rotating through all 192 KiB each way.
 *
 * rx: only rx_depth buffers are posted at a time, 8 at first; when the monitor
 * has filled every posted one (it may be holding more frames back), the depth
 * doubles, up to the ring size, so a busy VM gets its whole ring after its
 * first full burst. Each received frame's buffer is posted again as soon as
 * the frame is copied out.
 * tx: a frame is copied into a free buffer and posted; buffers come back once
 * the monitor's consumer index has passed them. The monitor fills rx before
 * each entry and drains tx at each exit, so nothing here exits except
 * dn_net_flush().
 */
#include "libos_private.h"
#include "ring.h"
#include <denali/libos.h>
#include <denali/netdev.h>
#include <string.h>

#define NET_BUF	     1536u /* a frame, rounded up */
#define RX_DEPTH_MIN 8u

_Static_assert(DENALI_RING_SIZE <= 256, "buffer ids are bytes");

struct buf_stack {
	uint8_t id[DENALI_RING_SIZE];
	uint32_t n;
};

static uint8_t tx_buf[DENALI_RING_SIZE][NET_BUF] __attribute__((aligned(64)));
static uint8_t rx_buf[DENALI_RING_SIZE][NET_BUF] __attribute__((aligned(64)));
static struct ring_side tx, rx;
static struct buf_stack tx_free, rx_free;
static uint8_t tx_at[DENALI_RING_SIZE]; /* the buffer posted at each tx position */
static uint32_t tx_done;		/* tx positions before this are reclaimed */
static uint32_t rx_depth = RX_DEPTH_MIN, rx_depth_cap = DENALI_RING_SIZE;

int dn_net_present(void)
{
	const volatile uint8_t *m = VREGS->mac;

	return (m[0] | m[1] | m[2] | m[3] | m[4] | m[5]) != 0;
}

const uint8_t *dn_net_mac(void)
{
	return (const uint8_t *)VREGS->mac;
}

static void stack_fill(struct buf_stack *s)
{
	for (uint32_t i = 0; i < DENALI_RING_SIZE; i++)
		s->id[i] = (uint8_t)(DENALI_RING_SIZE - 1 - i); /* 0 on top */
	s->n = DENALI_RING_SIZE;
}

/* Posts free rx buffers until rx_depth are in flight. */
static void rx_refill(void)
{
	while (ring_in_flight(&rx) < rx_depth && rx_free.n > 0) {
		uint8_t b = rx_free.id[--rx_free.n];

		ring_post(&rx, (uintptr_t)rx_buf[b], DENALI_NET_FRAME_MAX, b);
	}
}

static void start(void)
{
	if (tx.started)
		return;
	ring_start(&tx, DENALI_NET_TX_RING_GPA);
	ring_start(&rx, DENALI_NET_RX_RING_GPA);
	stack_fill(&tx_free);
	stack_fill(&rx_free);
	tx_done = tx.prod;
	rx_refill();
}

/* Buffers of the tx positions the monitor has consumed go back on the stack. */
static void tx_reclaim(void)
{
	uint32_t cons = __atomic_load_n(&tx.r->avail_cons, __ATOMIC_ACQUIRE);

	/* The monitor is trusted, but a consumer index past ours must not
	 * make us free buffers still posted. */
	if (cons - tx_done > tx.prod - tx_done)
		dn_panic("netdev: tx consumer index beyond the producer");
	for (; tx_done != cons; tx_done++)
		tx_free.id[tx_free.n++] = tx_at[tx_done % DENALI_RING_SIZE];
}

int dn_net_send(const void *frame, size_t len)
{
	uint32_t slot;
	uint8_t b;

	if (len == 0 || len > DENALI_NET_FRAME_MAX || !dn_net_present())
		return -RING_EINVAL;
	start();
	tx_reclaim();
	if (ring_space(&tx) == 0 || tx_free.n == 0)
		return -RING_EAGAIN;
	b = tx_free.id[--tx_free.n];
	slot = ring_next_slot(&tx);
	tx_at[slot] = b;
	memcpy(tx_buf[b], frame, len);
	ring_post(&tx, (uintptr_t)tx_buf[b], (uint32_t)len, b);
	return 0;
}

int dn_net_recv(void *buf, size_t cap)
{
	struct denali_used u;
	uint32_t len;

	if (!dn_net_present())
		return 0;
	start();
	if (!ring_take_used(&rx, &u))
		return 0;
	/* The monitor is trusted, but a bad id must not make us scribble. */
	if (u.id >= DENALI_RING_SIZE || rx_free.n >= DENALI_RING_SIZE)
		dn_panic("netdev: rx used entry with a bad id");
	len = u.len <= DENALI_NET_FRAME_MAX ? u.len : DENALI_NET_FRAME_MAX;
	memcpy(buf, rx_buf[u.id], len < cap ? len : cap);
	/* Every posted buffer was filled: the monitor may hold more frames. */
	if (ring_in_flight(&rx) == 0 && rx_depth < rx_depth_cap)
		rx_depth = rx_depth * 2 < rx_depth_cap ? rx_depth * 2 : rx_depth_cap;
	rx_free.id[rx_free.n++] = (uint8_t)u.id;
	rx_refill();
	return (int)len;
}

void dn_net_rx_depth_max(unsigned max)
{
	rx_depth_cap = max < 1 ? 1 : max > DENALI_RING_SIZE ? DENALI_RING_SIZE : max;
	if (rx_depth > rx_depth_cap)
		rx_depth = rx_depth_cap; /* posted ones drain; no new post past it */
}

void dn_net_flush(void)
{
	dn_kick(DENALI_RING_NET_TX);
}
