/* hostile mmio: read a byte beyond the end of guest memory. */
#include "hostile.h"

int main(void)
{
	volatile uint8_t *p = (volatile uint8_t *)(uintptr_t)(dn_mem_size() + 0x10000);

	hostile_about("mmio", "read a byte beyond guest memory");
	uint8_t v = *p;
	printf("hostile mmio: read 0x%02x\n", v);
	hostile_survived("mmio");
}
