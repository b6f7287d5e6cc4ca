/*
 * hostile alias a|b: issue 7, hole 3. Tenant "a" is given (by tests/vmm/
 * test_shell_reuse, as hole 2 once allowed) a user-writable window on its
 * page directory at VA 0x1ff000; it first reads VA 0x400000 through the
 * identity mapping, then rewrites the directory entry so that VA 0x400000
 * maps GPA 0xa00000 (a guest write KVM sees) and reads through that alias,
 * so that KVM's MMU holds it. Tenant "b" gets the same shell and
 * the same recycled memory with the monitor's identity tables: it writes a
 * secret at VA 0xa00000 and reads VA 0x400000, which must be its own
 * untouched (zero) page, not the secret seen through a's translation.
 */
#include <denali/libos.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#define LO	   0x400000u
#define HI	   0xa00000u
#define MARK	   0xa11a5a11a5a11a5aull /* put at GPA HI by the test before "a" runs */
#define SECRET	   0x5ec2e75ec2e75ec2ull
#define NPAGES	   16
#define PD_WINDOW  0x1ff000u /* maps the page directory, for tenant a only */
#define PTE_PWU_PS 0x87ull

int main(int argc, char **argv)
{
	volatile uint64_t *lo = (volatile uint64_t *)(uintptr_t)LO;
	volatile uint64_t *hi = (volatile uint64_t *)(uintptr_t)HI;

	if (argc > 1 && !strcmp(argv[1], "a")) {
		volatile uint64_t *pd = (volatile uint64_t *)(uintptr_t)PD_WINDOW;
		uint64_t v = 0;

		for (unsigned i = 0; i < NPAGES; i++)
			v |= lo[i * 512]; /* identity translations first */
		pd[LO >> 21] = HI | PTE_PWU_PS;
		for (unsigned i = 0; i < NPAGES; i++)
			v |= lo[i * 512]; /* then one alias translation per page */
		(void)v;
		printf("alias: a %s (0x%lx)\n",
		       lo[0] == MARK ? "reads through the alias" : "no alias",
		       (unsigned long)lo[0]);
		return lo[0] == MARK ? 0 : 2;
	}
	for (unsigned i = 0; i < NPAGES; i++)
		hi[i * 512] = SECRET;
	for (unsigned i = 0; i < NPAGES; i++) {
		if (lo[i * 512] != 0) {
			printf(
			    "alias: b reads 0x%lx at 0x%x: a translation of the previous tenant\n",
			    (unsigned long)lo[i * 512], LO + i * 4096);
			return 1;
		}
	}
	printf("alias: b sees its own memory only\n");
	return 0;
}
