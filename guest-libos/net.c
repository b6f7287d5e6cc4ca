/*
 * Raw Ethernet over the net rings. Each tx slot and each rx slot owns a
 * static buffer of DENALI_NET_FRAME_MAX bytes: a frame to send is copied into
 * the buffer of the next tx slot and posted; every rx slot is posted empty
 * at start, and each received frame's buffer is posted again as soon as the
 * frame is copied out. The monitor fills rx before each entry and drains tx
 * at each exit, so nothing here exits except dn_net_flush().
 */
#include "libos_private.h"
#include "ring.h"
#include <denali/libos.h>
#include <denali/netdev.h>
#include <string.h>

#define NET_BUF 1536u /* a frame, rounded up */

static uint8_t tx_buf[DENALI_RING_SIZE][NET_BUF] __attribute__((aligned(64)));
static uint8_t rx_buf[DENALI_RING_SIZE][NET_BUF] __attribute__((aligned(64)));
static struct ring_side tx, rx;

int dn_net_present(void)
{
	const volatile uint8_t *m = VREGS->mac;

	return (m[0] | m[1] | m[2] | m[3] | m[4] | m[5]) != 0;
}

const uint8_t *dn_net_mac(void)
{
	return (const uint8_t *)VREGS->mac;
}

/* Posts every rx buffer once; afterwards each is reposted when consumed. */
static void start(void)
{
	if (tx.started)
		return;
	ring_start(&tx, DENALI_NET_TX_RING_GPA);
	ring_start(&rx, DENALI_NET_RX_RING_GPA);
	while (ring_space(&rx) > 0) {
		uint32_t slot = ring_next_slot(&rx);

		ring_post(&rx, (uintptr_t)rx_buf[slot], DENALI_NET_FRAME_MAX, (uint16_t)slot);
	}
}

int dn_net_send(const void *frame, size_t len)
{
	uint32_t slot;

	if (len == 0 || len > DENALI_NET_FRAME_MAX || !dn_net_present())
		return -RING_EINVAL;
	start();
	if (ring_space(&tx) == 0)
		return -RING_EAGAIN;
	slot = ring_next_slot(&tx);
	memcpy(tx_buf[slot], frame, len);
	ring_post(&tx, (uintptr_t)tx_buf[slot], (uint32_t)len, (uint16_t)slot);
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
	if (u.id >= DENALI_RING_SIZE)
		dn_panic("netdev: rx used entry with a bad id");
	len = u.len <= DENALI_NET_FRAME_MAX ? u.len : DENALI_NET_FRAME_MAX;
	memcpy(buf, rx_buf[u.id], len < cap ? len : cap);
	/* Used entries come back in posting order, so the next free slot is
	 * the one just emptied: post it again. */
	ring_post(&rx, (uintptr_t)rx_buf[u.id], DENALI_NET_FRAME_MAX, (uint16_t)u.id);
	return (int)len;
}

void dn_net_flush(void)
{
	dn_kick(DENALI_RING_NET_TX);
}
