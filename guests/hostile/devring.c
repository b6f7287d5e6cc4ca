/*
 * hostile devring MODE: one bad index, address or length in the net or blk
 * rings, then a KICK (or, for rx, an idle until a neighbour's frame makes the
 * monitor fill the ring).
 *   txaddr   net tx descriptor beyond guest memory
 *   txlen    net tx frame of 4000 bytes (over the 1514-byte frame limit)
 *   txmtu    net tx frame of 1515 bytes: one past the limit (an MTU-sized frame and more)
 *   txzero   net tx frame of length 0 at an address beyond guest memory
 *   txrunt   net tx frames of 0 and 13 bytes (shorter than an Ethernet header) in
 *            guest memory: no fault, dropped and counted (drop_runt); exits 0
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
 * The blk poller (devices/blk_poll.c) takes requests while the guest runs; these
 * warm it up with valid reads it answers (no exit), then misbehave with no exit:
 *   blklive      a request header beyond guest memory, then a spin: the poller
 *                finds it, and the guest is interrupted and killed
 *   blkliveindex blk avail_prod 1000 ahead, then a spin: the same
 *   blklivedata  2000 reads whose header the guest rewrites while the poller
 *                reads it (nsectors 8 <-> 64, the sector inside <-> past the
 *                disk): each answered OK or IOERR, and nothing past the
 *                descriptor's 4 KiB is ever written (a canary); exits 0
 */
#include "hostile.h"

#include <denali/blkdev.h>
#include <string.h>

static uint8_t frame[4096];

#define BLK_RING   ((volatile struct denali_ring *)(uintptr_t)DENALI_BLK_RING_GPA)
#define BLK_CANARY 0xc5
/* A request: its header, 4 KiB of data, then 32 KiB nobody may write. */
static uint8_t bbuf[16 + 4096 + 8 * 4096] __attribute__((aligned(4096)));

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

/* Waits up to ns for the used ring to pass at: 1, or 0. No exit. */
static int blk_answered(uint32_t at, uint64_t ns)
{
	uint64_t until = dn_now_ns() + ns;

	do
		if (__atomic_load_n(&BLK_RING->used_prod, __ATOMIC_ACQUIRE) != at)
			return 1;
	while (dn_now_ns() < until);
	return 0;
}

/* One valid 4 KiB read of sector 0: 1 if the poller answered it while we ran,
 * 0 if it took an exit (a kick, which also wakes the poller). */
static int blk_read_raw(void)
{
	volatile struct denali_blk_req *h = (volatile struct denali_blk_req *)bbuf;
	uint32_t at = BLK_RING->used_prod;
	int polled;

	h->op = DENALI_BLK_READ;
	h->nsectors = 8;
	h->sector = 0;
	post(DENALI_BLK_RING_GPA, (uintptr_t)bbuf, 16 + 4096);
	polled = blk_answered(at, 1000000);
	if (!polled) {
		dn_kick(DENALI_RING_BLK);
		while (!blk_answered(at, 0))
			dn_idle(dn_now_ns() + 1000000);
	}
	BLK_RING->used_cons = BLK_RING->used_prod;
	return polled;
}

/* Until the poller has answered 20 reads in a row: it spins now. */
static void blk_warm(void)
{
	int streak = 0;

	for (int i = 0; i < 10000 && streak < 20; i++)
		streak = blk_read_raw() ? streak + 1 : 0;
	if (streak < 20) {
		printf("hostile devring: the blk ring is not polled\n");
		exit(3);
	}
}

static int blk_live(const char *m)
{
	unsigned ok = 0, ioerr = 0, n = 2000;
	uint64_t past = dn_blk_sectors();

	hostile_about("devring", m);
	blk_warm();
	if (!strcmp(m, "blklive"))
		post(DENALI_BLK_RING_GPA, dn_mem_size() - 8, 16 + 512);
	else if (!strcmp(m, "blkliveindex"))
		BLK_RING->avail_prod = BLK_RING->avail_cons + 1000;
	if (strcmp(m, "blklivedata")) {
		for (uint64_t until = dn_now_ns() + 3000000000ull; dn_now_ns() < until;)
			;
		hostile_survived("devring");
	}
	memset(bbuf + 16 + 4096, BLK_CANARY, 8 * 4096);
	for (unsigned k = 0; k < n; k++) {
		volatile struct denali_blk_req *h = (volatile struct denali_blk_req *)bbuf;
		uint32_t at = BLK_RING->used_prod, st;
		unsigned spin = 0;

		h->op = DENALI_BLK_READ;
		h->nsectors = 8;
		h->sector = 0;
		post(DENALI_BLK_RING_GPA, (uintptr_t)bbuf, 16 + 4096);
		while (__atomic_load_n(&BLK_RING->used_prod, __ATOMIC_ACQUIRE) == at) {
			h->nsectors = spin & 1 ? 64 : 8;
			h->sector = spin & 2 ? past : 0;
			/* The poller went to sleep (we were off the CPU a while): an exit
			 * takes it, and wakes the poller. */
			if ((++spin & 0xfff) == 0 &&
			    !(__atomic_load_n(&BLK_RING->mon_flags, __ATOMIC_ACQUIRE) &
			      DENALI_RING_F_POLLED))
				dn_kick(DENALI_RING_BLK);
		}
		st = BLK_RING->used[at % DENALI_RING_SIZE].len;
		BLK_RING->used_cons = BLK_RING->used_prod;
		if (st == DENALI_BLK_S_OK)
			ok++;
		else if (st == DENALI_BLK_S_IOERR)
			ioerr++;
		else
			printf("hostile devring: status %u\n", st);
	}
	for (unsigned i = 0; i < 8 * 4096; i++)
		if (bbuf[16 + 4096 + i] != BLK_CANARY) {
			printf("hostile devring: byte %u past the request was written\n", i);
			return 1;
		}
	printf("hostile devring: blklivedata %u requests, ok %u ioerr %u, canary intact\n",
	       ok + ioerr, ok, ioerr);
	return ok + ioerr == n ? 0 : 1;
}

int main(int argc, char **argv)
{
	const char *m = argc > 1 ? argv[1] : "";
	uint64_t end = dn_mem_size();

	if (!strncmp(m, "blklive", 7))
		return blk_live(m);
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
	else if (!strcmp(m, "txmtu"))
		post(DENALI_NET_TX_RING_GPA, (uintptr_t)frame, DENALI_NET_FRAME_MAX + 1);
	else if (!strcmp(m, "txzero"))
		post(DENALI_NET_TX_RING_GPA, end + 4096, 0);
	else if (!strcmp(m, "txrunt")) {
		post(DENALI_NET_TX_RING_GPA, (uintptr_t)frame, 0);
		post(DENALI_NET_TX_RING_GPA, (uintptr_t)frame, 13);
		dn_kick(DENALI_RING_NET_TX);
		printf("hostile devring: txrunt sent 2 runts\n");
		return 0;
	} else if (!strcmp(m, "txindex"))
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
