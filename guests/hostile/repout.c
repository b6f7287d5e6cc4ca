/* hostile repout [rep]: a hypercall by string I/O, `outsl` (or `rep outsl`
 * with a count of 3) to the KICK port, its data from memory rather than
 * eax. kvm_pvm splits rep outs into count-1 exits, so the count check alone
 * never saw it: the monitor must refuse it anyway. */
#include "hostile.h"

#include <string.h>

int main(int argc, char **argv)
{
	static const uint32_t data[3] = {DENALI_RING_CONSOLE, DENALI_RING_CONSOLE,
					 DENALI_RING_CONSOLE};

	if (argc > 1 && !strcmp(argv[1], "rep")) {
		hostile_about("repout", "rep outsl x3 to the KICK port");
		__asm__ volatile("rep outsl"
				 :
				 : "S"(data), "c"(3ul), "d"((uint16_t)DENALI_HC_KICK), "a"(0x1234)
				 : "memory");
	} else {
		hostile_about("repout", "outsl to the KICK port");
		__asm__ volatile("outsl"
				 :
				 : "S"(data), "d"((uint16_t)DENALI_HC_KICK), "a"(0x1234)
				 : "memory");
	}
	hostile_survived("repout");
}
