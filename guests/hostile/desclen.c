/* hostile desclen: a console descriptor longer than the device accepts,
 * pointing at memory the guest does own. */
#include "hostile.h"

static char big[8192];

int main(void)
{
	volatile struct denali_ring *ring =
	    (volatile struct denali_ring *)(uintptr_t)DENALI_CONSOLE_RING_GPA;

	hostile_about("desclen", "post an 8 KiB console descriptor and KICK");
	uint32_t prod = ring->avail_prod;
	volatile struct denali_desc *d = &ring->desc[prod % DENALI_RING_SIZE];
	d->addr = (uintptr_t)big;
	d->len = sizeof(big);
	d->id = (uint16_t)(prod % DENALI_RING_SIZE);
	d->flags = 0;
	__atomic_store_n(&ring->avail_prod, prod + 1, __ATOMIC_RELEASE);
	dn_kick(DENALI_RING_CONSOLE);
	hostile_survived("desclen");
}
