/*
 * The complete architectural state of a VM's vCPU, as saved on suspend and
 * loaded on every bind.
 */
#ifndef DENALI_VMM_VCPU_STATE_H
#define DENALI_VMM_VCPU_STATE_H

#include <linux/kvm.h>
#include <stdint.h>

#define VCPU_STATE_NMSRS 4

struct vcpu_state {
	struct kvm_regs regs;
	struct kvm_sregs sregs;
	struct kvm_xsave xsave;
	struct {
		struct kvm_msrs hdr;
		struct kvm_msr_entry entries[VCPU_STATE_NMSRS];
	} msrs;
};

/* The MSRs a ring-3 guest's state includes (none of them writable from
 * ring 3, saved and reset anyway so a shell's history never shows). */
void vcpu_state_msr_list(struct vcpu_state *st);

/* Fresh entry state: ring 3 at entry, stack at the top of memory. */
void vcpu_state_init(struct vcpu_state *st, uint64_t entry, uint64_t mem_size);

#endif
