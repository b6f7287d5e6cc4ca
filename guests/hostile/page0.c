/* hostile page0: read through the unmapped null page. */
#include "hostile.h"

int main(void)
{
	/* Hide the address from the compiler, which rejects a constant one
	 * inside the null page (-Warray-bounds). */
	uintptr_t addr = 0x8;
	__asm__("" : "+r"(addr));
	volatile uint64_t *p = (volatile uint64_t *)addr;

	hostile_about("page0", "read a word at address 0x8");
	uint64_t v = *p;
	printf("hostile page0: read 0x%lx\n", (unsigned long)v);
	hostile_survived("page0");
}
