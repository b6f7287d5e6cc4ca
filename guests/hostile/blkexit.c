/*
 * hostile blkexit MODE: fills the block ring with large reads into its own
 * memory and ends before they complete, so that the monitor must wait for
 * them before the memory can go to the next tenant of the region.
 *   exit    exit(0) right after the kick
 *   fault   ud2 right after the kick (a triple fault)
 * The reads cover [BUF, BUF + 32 x 256 KiB); the disk should hold a non-zero
 * pattern: a memsecret reader started afterwards must still read zeros.
 */
#include "hostile.h"

#include <string.h>

#define BUF	 0x400000u
#define SECTORS	 512u /* 256 KiB per request */
#define REQUESTS 32u

static void post(uint64_t addr, uint32_t len, uint16_t id)
{
	volatile struct denali_ring *r = (volatile struct denali_ring *)DENALI_BLK_RING_GPA;
	uint32_t prod = r->avail_prod;
	volatile struct denali_desc *d = &r->desc[prod % DENALI_RING_SIZE];

	d->addr = addr;
	d->len = len;
	d->id = id;
	d->flags = 0;
	__atomic_store_n(&r->avail_prod, prod + 1, __ATOMIC_RELEASE);
}

int main(int argc, char **argv)
{
	const char *m = argc > 1 ? argv[1] : "";
	uint64_t stride = 16 + (uint64_t)SECTORS * DENALI_BLK_SECTOR + 4096 - 16;

	if (strcmp(m, "exit") && strcmp(m, "fault"))
		return 2;
	hostile_about("blkexit", m);
	for (uint32_t i = 0; i < REQUESTS; i++) {
		uint64_t at = BUF + i * stride;
		volatile struct denali_blk_req *h = (volatile struct denali_blk_req *)at;

		h->op = DENALI_BLK_READ;
		h->nsectors = SECTORS;
		h->sector = 0;
		post(at, 16 + SECTORS * DENALI_BLK_SECTOR, (uint16_t)i);
	}
	dn_kick(DENALI_RING_BLK);
	if (!strcmp(m, "fault"))
		__asm__ volatile("ud2");
	exit(0);
}
