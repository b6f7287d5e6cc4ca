/*
 * memsecret: checks that a VM never sees the memory of the VM that ran in
 * its shell before it. "write" fills every free page (from the end of the
 * image to below the stack) with a secret pattern and exits; "read" (the
 * default) scans the same pages and prints "memory: clean" if every byte
 * is zero, "memory: LEAKED at 0x..." otherwise.
 */
#include <denali/libos.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#define SECRET	    0x5ec2e75ec2e75ec2ull
#define STACK_SPARE (256u << 10)

extern char _end[];

int main(int argc, char **argv)
{
	const volatile struct denali_vregs *vr =
	    (const volatile struct denali_vregs *)DENALI_VREGS_GPA;
	uintptr_t lo = ((uintptr_t)_end + 4095) & ~(uintptr_t)4095;
	uintptr_t hi = (uintptr_t)vr->mem_size - STACK_SPARE;
	int write = argc > 1 && !strcmp(argv[1], "write");

	for (uintptr_t p = lo; p < hi; p += 8) {
		volatile uint64_t *w = (volatile uint64_t *)p;

		if (write) {
			*w = SECRET;
		} else if (*w) {
			printf("memory: LEAKED at 0x%lx: 0x%lx\n", (unsigned long)p,
			       (unsigned long)*w);
			return 1;
		}
	}
	printf("memory: %s [0x%lx, 0x%lx)\n", write ? "written" : "clean", (unsigned long)lo,
	       (unsigned long)hi);
	return 0;
}
