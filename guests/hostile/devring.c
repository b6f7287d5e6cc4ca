/*
 * hostile devring MODE: one bad index, address or length in the net or blk
 * rings, then a KICK (or, for rx, an idle until a neighbour's frame makes the
 * monitor fill the ring).
 *   txaddr   net tx descriptor beyond guest memory
 *   txlen    net tx frame of 4000 bytes (over the 1514-byte frame limit)
 *   txindex  net tx avail_prod 1000 ahead
 *   rxaddr   net rx buffer beyond guest memory
 *   rxindex  net rx avail_prod 1000 ahead
 *   blkhdr   blk request header spanning the end of guest memory
 *   blkdata  blk request whose data runs past the end of guest memory
 *   blkindex blk avail_prod 1000 ahead
 *   blkpriv  blk READ whose header sits at the end of the blk ring page (0x6ff0) and whose
 *            data would land on the GDT (0x7000): the monitor must not write its own pages
 *   blkleak  blk WRITE of the same place: the GDT's bytes would reach the disk
 *   txpriv   net tx frame read from the page tables (0xb000): they would reach the wire
 *   rxvregs  net rx buffer on the read-only vregs page (0x1000)
 *   rxpriv   net rx buffer on the page tables (0xb000): a neighbour's frame must never
 *            become this guest's page-table entries
 *   rxlive   net rx buffer beyond guest memory, then a spin with no exit: a
 *            neighbour's frame is filled in by the neighbour's thread while
 *            this guest runs (devices/net.c), which finds the fault
 *   txlive   net tx descriptor beyond guest memory, then a spin: found by
 *            the tx drain a neighbour's frame brings along (valid rx
 *            buffers posted, so that every frame is filled live)
 */
#include "hostile.h"

#include <string.h>

static uint8_t frame[4096];

static void post(uintptr_t gpa, uint64_t addr, uint32_t len)
{
	volatile struct denali_ring *r = (volatile struct denali_ring *)gpa;
	uint32_t prod = r->avail_prod;
	volatile struct denali_desc *d = &r->desc[prod % DENALI_RING_SIZE];

	d->addr = addr;
	d->len = len;
	d->id = (uint16_t)(prod % DENALI_RING_SIZE);
	d->flags = 0;
	__atomic_store_n(&r->avail_prod, prod + 1, __ATOMIC_RELEASE);
}

static void bump(uintptr_t gpa)
{
	volatile struct denali_ring *r = (volatile struct denali_ring *)gpa;

	r->avail_prod = r->avail_cons + 1000;
}

int main(int argc, char **argv)
{
	const char *m = argc > 1 ? argv[1] : "";
	uint64_t end = dn_mem_size();

	if (!strcmp(m, "rxlive") || !strcmp(m, "txlive")) {
		/* rx: posted before the announcement's exit, so that a frame
		 * already queued is filled (and the fault found) at the latest
		 * at that exit; tx: after it, or that exit would drain it. */
		if (m[0] == 'r')
			post(DENALI_NET_RX_RING_GPA, end - 512, 1514);
		else
			for (int i = 0; i < 8; i++)
				post(DENALI_NET_RX_RING_GPA, (uintptr_t)frame, 1514);
		hostile_about("devring", m);
		if (m[0] == 't')
			post(DENALI_NET_TX_RING_GPA, end + 4096, 64);
		for (uint64_t until = dn_now_ns() + 3000000000ull; dn_now_ns() < until;)
			;
		hostile_survived("devring");
	}
	hostile_about("devring", m);
	memset(frame, 0xff, 12);
	if (!strcmp(m, "txaddr"))
		post(DENALI_NET_TX_RING_GPA, end + 4096, 64);
	else if (!strcmp(m, "txlen"))
		post(DENALI_NET_TX_RING_GPA, (uintptr_t)frame, sizeof(frame) - 96);
	else if (!strcmp(m, "txindex"))
		bump(DENALI_NET_TX_RING_GPA);
	else if (!strcmp(m, "rxaddr"))
		post(DENALI_NET_RX_RING_GPA, end - 512, 1514);
	else if (!strcmp(m, "rxindex"))
		bump(DENALI_NET_RX_RING_GPA);
	else if (!strcmp(m, "blkhdr"))
		post(DENALI_BLK_RING_GPA, end - 8, 16 + 512);
	else if (!strcmp(m, "blkdata"))
		post(DENALI_BLK_RING_GPA, (uintptr_t)frame, 16 + (1u << 30));
	else if (!strcmp(m, "blkindex"))
		bump(DENALI_BLK_RING_GPA);
	else if (!strcmp(m, "blkpriv") || !strcmp(m, "blkleak")) {
		volatile struct denali_blk_req *h =
		    (volatile struct denali_blk_req *)(uintptr_t)(DENALI_BLK_RING_GPA + 0xff0);

		h->op = !strcmp(m, "blkpriv") ? DENALI_BLK_READ : DENALI_BLK_WRITE;
		h->nsectors = 1;
		h->sector = 0;
		post(DENALI_BLK_RING_GPA, DENALI_BLK_RING_GPA + 0xff0, 16 + 512);
	} else if (!strcmp(m, "txpriv"))
		post(DENALI_NET_TX_RING_GPA, 0xb000, 64);
	else if (!strcmp(m, "rxvregs"))
		post(DENALI_NET_RX_RING_GPA, DENALI_VREGS_GPA, 1514);
	else if (!strcmp(m, "rxpriv"))
		post(DENALI_NET_RX_RING_GPA, 0xb000, 1514);
	else
		return 2;
	dn_kick(DENALI_RING_NET_TX | DENALI_RING_BLK);
	/* rx faults need a frame to arrive: wait for a neighbour's. */
	for (int i = 0; i < 200; i++)
		dn_idle(dn_now_ns() + 10000000);
	hostile_survived("devring");
}
