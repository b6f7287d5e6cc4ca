/* hostile ringindex: console avail_prod 1000 slots ahead, then KICK. */
#include "hostile.h"

int main(void)
{
	volatile struct denali_ring *ring =
	    (volatile struct denali_ring *)(uintptr_t)DENALI_CONSOLE_RING_GPA;

	hostile_about("ringindex", "set console avail_prod to avail_cons + 1000 and KICK");
	ring->avail_prod = ring->avail_cons + 1000;
	dn_kick(DENALI_RING_CONSOLE);
	/* Put the index back so that "survived" can still be printed. */
	ring->avail_prod = ring->avail_cons;
	hostile_survived("ringindex");
}
