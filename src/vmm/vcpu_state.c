#include "vcpu_state.h"

#include "x86.h"

#include <string.h>

static const uint32_t msr_list[VCPU_STATE_NMSRS] = {
    0xc0000102, /* KERNEL_GS_BASE */
    0xc0000103, /* TSC_AUX (rdtscp, rdpid) */
    0xc0000081, /* STAR */
    0xc0000082, /* LSTAR */
};

void vcpu_state_msr_list(struct vcpu_state *st)
{
	st->msrs.hdr.nmsrs = VCPU_STATE_NMSRS;
	st->msrs.hdr.pad = 0;
	for (unsigned i = 0; i < VCPU_STATE_NMSRS; i++) {
		st->msrs.entries[i].index = msr_list[i];
		st->msrs.entries[i].reserved = 0;
	}
}

void vcpu_state_init(struct vcpu_state *st, uint64_t entry, uint64_t mem_size)
{
	memset(st, 0, sizeof(*st));
	x86_entry_regs(&st->regs, entry, mem_size);
	x86_entry_sregs(&st->sregs);
	x86_init_xsave(&st->xsave);
	vcpu_state_msr_list(st);
}
