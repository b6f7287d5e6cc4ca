/* spin: burns CPU for argv[1] ms (default 100) by the vregs clock. */
#include <denali/libos.h>
#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv)
{
	long ms = argc > 1 ? atol(argv[1]) : 100;
	if (ms < 0)
		ms = 0;
	uint64_t start = dn_now_ns();
	uint64_t end = start + (uint64_t)ms * 1000000u;
	volatile uint64_t sink = 0;

	while (dn_now_ns() < end) {
		for (int i = 0; i < 1000; i++)
			sink += (uint64_t)i;
	}
	printf("spun %ld ms\n", ms);
	return 0;
}
