/* hostile descaddr: a console descriptor pointing beyond guest memory. */
#include "hostile.h"

int main(void)
{
	volatile struct denali_ring *ring =
	    (volatile struct denali_ring *)(uintptr_t)DENALI_CONSOLE_RING_GPA;

	hostile_about("descaddr", "post a console descriptor beyond guest memory and KICK");
	uint32_t prod = ring->avail_prod;
	volatile struct denali_desc *d = &ring->desc[prod % DENALI_RING_SIZE];
	d->addr = dn_mem_size() + 4096;
	d->len = 64;
	d->id = (uint16_t)(prod % DENALI_RING_SIZE);
	d->flags = 0;
	__atomic_store_n(&ring->avail_prod, prod + 1, __ATOMIC_RELEASE);
	dn_kick(DENALI_RING_CONSOLE);
	hostile_survived("descaddr");
}
