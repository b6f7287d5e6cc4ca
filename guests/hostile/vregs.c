/* hostile vregs [exec]: write a monitor-owned field of the read-only vregs
 * page, or (exec) jump into it: it is not executable. */
#include "hostile.h"

#include <string.h>

int main(int argc, char **argv)
{
	volatile uint64_t *vm_id =
	    (volatile uint64_t *)(uintptr_t)(DENALI_VREGS_GPA +
					     __builtin_offsetof(struct denali_vregs, vm_id));

	if (argc > 1 && !strcmp(argv[1], "exec")) {
		hostile_about("vregs", "jump into the vregs page");
		((void (*)(void))(uintptr_t)(DENALI_VREGS_GPA + 0x10))();
		hostile_survived("vregs");
	}
	hostile_about("vregs", "write vregs->vm_id");
	*vm_id = 0xdeadbeef;
	hostile_survived("vregs");
}
