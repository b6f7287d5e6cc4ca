/* hostile hcsize: a one-byte `out` to a hypercall port, and (if that
 * survived) an `in` from one. */
#include "hostile.h"

int main(void)
{
	uint8_t v;

	hostile_about("hcsize", "write one byte to the EXIT port, then read from IDLE");
	__asm__ volatile("outb %0, %1" : : "a"((uint8_t)7), "d"((uint16_t)DENALI_HC_EXIT));
	__asm__ volatile("inb %1, %0" : "=a"(v) : "d"((uint16_t)DENALI_HC_IDLE));
	(void)v;
	hostile_survived("hcsize");
}
