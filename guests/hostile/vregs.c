/* hostile vregs: write a monitor-owned field of the read-only vregs page. */
#include "hostile.h"

int main(void)
{
	volatile uint64_t *vm_id =
	    (volatile uint64_t *)(uintptr_t)(DENALI_VREGS_GPA +
					     __builtin_offsetof(struct denali_vregs, vm_id));

	hostile_about("vregs", "write vregs->vm_id");
	*vm_id = 0xdeadbeef;
	hostile_survived("vregs");
}
