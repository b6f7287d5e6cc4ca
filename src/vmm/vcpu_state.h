/*
 * The complete architectural state of a VM's vCPU, as saved on suspend and
 * loaded on every bind.
 */
#ifndef DENALI_VMM_VCPU_STATE_H
#define DENALI_VMM_VCPU_STATE_H

#include <linux/kvm.h>
#include <stddef.h>
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

/*
 * Checks a vCPU state that comes from outside this process (a snapshot, a
 * swap slot, an import) against what the monitor itself sets or a ring-3
 * guest can reach from it, for a VM of mem_size bytes: cs/ss the ring-3
 * selectors and descriptors (DPL 3, base 0), ds/es/fs/gs null or one of
 * them, base 0; tr, ldt, gdt, idt, cr0, cr3, cr4, cr8, efer and the APIC
 * base exactly the monitor's; no pending interrupt; rflags with IF set, IOPL
 * 0 and only the flags popf can change at CPL 3 otherwise; rip inside
 * memory; the MSR list exactly the monitor's (count, indices, values 0);
 * the XSAVE header in standard form with a valid MXCSR. Returns 0, or
 * -EINVAL with the first reason in err.
 */
int vcpu_state_check(const struct vcpu_state *st, uint64_t mem_size, char *err, size_t errlen);

#endif
