/* hostile inport: an `in` from a port, which KVM leaves half done when the
 * monitor kills the VM for it: the next tenant of the shell must not
 * complete it (issue 7, hole 1). "rep" does a string `ins` instead. */
#include "hostile.h"

#include <string.h>

int main(int argc, char **argv)
{
	static uint8_t buf[16];
	uint32_t v = 0;

	if (argc > 1 && !strcmp(argv[1], "rep")) {
		hostile_about("inport", "rep insb from port 0x600");
		__asm__ volatile("rep insb"
				 :
				 : "D"(buf), "c"(4ul), "d"((uint16_t)0x600)
				 : "memory");
	} else {
		hostile_about("inport", "in from port 0x600");
		__asm__ volatile("inl %1, %0" : "=a"(v) : "d"((uint16_t)0x600));
	}
	printf("hostile inport: read 0x%x\n", v);
	hostile_survived("inport");
}
