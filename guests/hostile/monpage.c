/*
 * hostile monpage MODE: asks the monitor to touch its own pages for it
 * (issue 7, hole 2). Each must kill the VM; before the fix each worked.
 *   vregs: IDLE with its block on the read-only vregs page, so that the OUT
 *          field (the event word, which the guest sets itself first) would
 *          land on vregs->vm_id;
 *   tsc:   the same with the OUT field on vregs->tsc_mult (CPU accounting);
 *   gdt:   IDLE with its block on the GDT (private page);
 *   panic: PANIC with its message on the page tables (would be logged);
 *   console: a console descriptor pointing at the page tables.
 */
#include "hostile.h"

#include <string.h>

#define PML4_GPA 0xb000u

int main(int argc, char **argv)
{
	const char *mode = argc > 1 ? argv[1] : "vregs";
	uint64_t id0 = dn_vregs()->vm_id, mult0 = dn_vregs()->tsc_mult;

	if (!strcmp(mode, "vregs") || !strcmp(mode, "tsc")) {
		uint32_t at = DENALI_VREGS_GPA + (!strcmp(mode, "tsc") ? 0x20u : 0u);

		hostile_about("monpage", "IDLE with its block on the vregs page");
		dn_shared()->events = 0x5ec2e70000ull; /* pending: IDLE answers at once */
		hostile_out(DENALI_HC_IDLE, at);
		printf("hostile monpage: vm_id 0x%lx -> 0x%lx, tsc_mult 0x%lx -> 0x%lx\n",
		       (unsigned long)id0, (unsigned long)dn_vregs()->vm_id, (unsigned long)mult0,
		       (unsigned long)dn_vregs()->tsc_mult);
	} else if (!strcmp(mode, "gdt")) {
		hostile_about("monpage", "IDLE with its block on the GDT");
		hostile_out(DENALI_HC_IDLE, 0x7000u);
	} else if (!strcmp(mode, "panic")) {
		static struct denali_hc_panic blk = {.msg_gpa = PML4_GPA, .len = 64};

		hostile_about("monpage", "PANIC with its message on the page tables");
		hostile_out(DENALI_HC_PANIC, (uint32_t)(uintptr_t)&blk);
	} else if (!strcmp(mode, "console")) {
		volatile struct denali_ring *r =
		    (volatile struct denali_ring *)(uintptr_t)DENALI_CONSOLE_RING_GPA;
		uint32_t prod;

		hostile_about("monpage", "post a console descriptor on the page tables");
		prod = r->avail_prod;
		r->desc[prod % DENALI_RING_SIZE].addr = PML4_GPA;
		r->desc[prod % DENALI_RING_SIZE].len = 64;
		__atomic_store_n(&r->avail_prod, prod + 1, __ATOMIC_RELEASE);
		dn_kick(DENALI_RING_CONSOLE);
	}
	hostile_survived("monpage");
}
